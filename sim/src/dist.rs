//! Distributions of durations (handling times, patience), in seconds.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// A distribution of durations in seconds.
///
/// Written on the command line as `exp:MEAN`, `lognormal:MEAN:CV` or `fixed:VALUE`, and in a
/// scenario file as `{"kind": "exponential", "mean": 300}` and so on.
///
/// ```
/// use chatio_sim::Distribution;
/// let d: Distribution = "lognormal:300:0.8".parse()?;
/// assert_eq!(d, Distribution::LogNormal { mean: 300.0, cv: 0.8 });
/// assert_eq!(d.mean(), 300.0);
/// assert_eq!(d.to_string(), "lognormal:300:0.8");
/// # Ok::<(), chatio_sim::ScenarioError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Distribution {
    /// Exponential with this mean: the memoryless case queueing formulas assume.
    Exponential {
        /// Mean, in seconds.
        mean: f64,
    },
    /// Log-normal with this mean and coefficient of variation (standard deviation / mean):
    /// measured chat durations usually look like this, with a long right tail.
    #[serde(rename = "lognormal")]
    LogNormal {
        /// Mean, in seconds.
        mean: f64,
        /// Standard deviation divided by the mean.
        cv: f64,
    },
    /// Always this value.
    Fixed {
        /// The value, in seconds.
        value: f64,
    },
}

impl Distribution {
    /// The mean, in seconds.
    pub fn mean(&self) -> f64 {
        match *self {
            Distribution::Exponential { mean } | Distribution::LogNormal { mean, .. } => mean,
            Distribution::Fixed { value } => value,
        }
    }

    /// One draw, in seconds.
    pub fn sample(&self, rng: &mut Rng) -> f64 {
        match *self {
            Distribution::Exponential { mean } => rng.exponential(mean),
            Distribution::LogNormal { mean, cv } => {
                // Parameters of the underlying normal that give this mean and spread.
                let sigma2 = (1.0 + cv * cv).ln();
                let mu = mean.ln() - sigma2 / 2.0;
                (mu + sigma2.sqrt() * rng.normal()).exp()
            }
            Distribution::Fixed { value } => value,
        }
    }

    /// Checks the parameters: means and values positive and finite, `cv` non-negative.
    pub fn validate(&self, what: &str) -> Result<(), crate::ScenarioError> {
        let ok = match *self {
            Distribution::Exponential { mean } => mean.is_finite() && mean > 0.0,
            Distribution::LogNormal { mean, cv } => {
                mean.is_finite() && mean > 0.0 && cv.is_finite() && cv >= 0.0
            }
            Distribution::Fixed { value } => value.is_finite() && value > 0.0,
        };
        if ok {
            Ok(())
        } else {
            Err(crate::ScenarioError::Invalid(format!(
                "{what}: {self} needs a positive, finite mean (and a cv of 0 or more)"
            )))
        }
    }
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Distribution::Exponential { mean } => write!(f, "exp:{mean}"),
            Distribution::LogNormal { mean, cv } => write!(f, "lognormal:{mean}:{cv}"),
            Distribution::Fixed { value } => write!(f, "fixed:{value}"),
        }
    }
}

impl FromStr for Distribution {
    type Err = crate::ScenarioError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            crate::ScenarioError::Invalid(format!(
                "`{s}` is not a distribution: write exp:MEAN, lognormal:MEAN:CV or fixed:VALUE \
                 (seconds)"
            ))
        };
        let mut parts = s.trim().split(':');
        let kind = parts.next().ok_or_else(bad)?;
        let numbers: Vec<f64> = parts
            .map(|p| p.trim().parse::<f64>().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        let d = match (kind, numbers.as_slice()) {
            ("exp" | "exponential", &[mean]) => Distribution::Exponential { mean },
            ("lognormal" | "lognorm", &[mean, cv]) => Distribution::LogNormal { mean, cv },
            ("fixed", &[value]) => Distribution::Fixed { value },
            _ => return Err(bad()),
        };
        d.validate("distribution")?;
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lognormal_has_the_asked_mean_and_cv() {
        let d = Distribution::LogNormal {
            mean: 300.0,
            cv: 0.8,
        };
        let mut rng = Rng::new(5);
        let n = 400_000;
        let xs: Vec<f64> = (0..n).map(|_| d.sample(&mut rng)).collect();
        let m = xs.iter().sum::<f64>() / n as f64;
        let sd = (xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n as f64).sqrt();
        assert!((m - 300.0).abs() < 3.0, "mean {m}");
        assert!((sd / m - 0.8).abs() < 0.03, "cv {}", sd / m);
    }

    #[test]
    fn parse_rejects_nonsense() {
        for bad in [
            "",
            "exp",
            "exp:-1",
            "exp:0",
            "lognormal:10",
            "fixed:x",
            "gamma:1:2",
        ] {
            assert!(bad.parse::<Distribution>().is_err(), "{bad}");
        }
        assert_eq!(
            "exp:120".parse::<Distribution>().ok(),
            Some(Distribution::Exponential { mean: 120.0 })
        );
    }
}
