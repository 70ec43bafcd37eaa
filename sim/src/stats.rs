//! Estimates with confidence intervals (batch means), percentiles, and the quantiles they need.

use serde::{Deserialize, Serialize};

/// A mean with its uncertainty, from batch means.
///
/// The customers of a run are not independent (one who waits long makes the next wait too),
/// so the plain standard error would be far too small. Batch means cuts the run, in arrival
/// order, into `batches` consecutive batches of equal size; with batches much longer than the
/// correlation, their means are nearly independent and normal, and Student's t on them gives
/// the interval.
///
/// ```
/// use chatio_sim::Estimate;
/// let xs: Vec<f64> = (0..1000).map(|i| f64::from(i % 10)).collect();
/// let e = Estimate::batch_means(&xs, 10);
/// assert_eq!(e.mean, 4.5);
/// assert_eq!(e.std_error, 0.0); // every batch has the same mean
/// assert!(e.contains(4.5, 0.95));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The mean over the batches (the values that fill whole batches).
    #[serde(with = "crate::report::nan")]
    pub mean: f64,
    /// The standard error of `mean`: the batch means' standard deviation over `√batches`.
    #[serde(with = "crate::report::nan")]
    pub std_error: f64,
    /// The 95 % interval's half-width: Student's t with `batches - 1` degrees of freedom
    /// times `std_error`.
    #[serde(with = "crate::report::nan")]
    pub half_width_95: f64,
    /// How many batches.
    pub batches: u32,
}

impl Estimate {
    /// The estimate from `values` in the order they came, in `batches` batches. Values that do
    /// not fill a whole batch at the end are left out. Fewer values than batches give a mean
    /// with an infinite error.
    pub fn batch_means(values: &[f64], batches: u32) -> Self {
        let b = batches.max(2) as usize;
        let size = values.len() / b;
        if size == 0 {
            let mean = if values.is_empty() {
                f64::NAN
            } else {
                values.iter().sum::<f64>() / values.len() as f64
            };
            return Self {
                mean,
                std_error: f64::INFINITY,
                half_width_95: f64::INFINITY,
                batches: b as u32,
            };
        }
        let means: Vec<f64> = values
            .chunks_exact(size)
            .take(b)
            .map(|c| c.iter().sum::<f64>() / size as f64)
            .collect();
        let mean = means.iter().sum::<f64>() / b as f64;
        let var = means.iter().map(|m| (m - mean) * (m - mean)).sum::<f64>() / (b - 1) as f64;
        let std_error = (var / b as f64).sqrt();
        Self {
            mean,
            std_error,
            half_width_95: student_t_quantile(0.975, (b - 1) as f64) * std_error,
            batches: b as u32,
        }
    }

    /// The two-sided interval at `confidence` (for example 0.95).
    pub fn interval(&self, confidence: f64) -> (f64, f64) {
        let t = student_t_quantile(1.0 - (1.0 - confidence) / 2.0, f64::from(self.batches - 1));
        let h = t * self.std_error;
        (self.mean - h, self.mean + h)
    }

    /// Whether `x` lies in the interval at `confidence`.
    pub fn contains(&self, x: f64, confidence: f64) -> bool {
        let (lo, hi) = self.interval(confidence);
        lo <= x && x <= hi
    }
}

/// The standard normal quantile (Acklam's rational approximation, relative error below
/// 1.2e-9). `p` must be in (0, 1).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Student's t quantile with `df` degrees of freedom, from the normal one by the
/// Cornish–Fisher expansion (within 0.2 % of the tables for `df >= 5` at the levels used
/// here).
pub fn student_t_quantile(p: f64, df: f64) -> f64 {
    let z = normal_quantile(p);
    let (z2, v) = (z * z, df);
    let g1 = (z2 + 1.0) * z / 4.0;
    let g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0;
    let g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0;
    let g4 = ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) * z / 92160.0;
    z + g1 / v + g2 / (v * v) + g3 / (v * v * v) + g4 / (v * v * v * v)
}

/// The `q`-quantile (0 to 1) of sorted values, by nearest rank; `NaN` for none.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Mean and coefficient of variation (standard deviation over mean) of some values.
pub fn mean_and_cv(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    let cv = if mean > 0.0 { var.sqrt() / mean } else { 0.0 };
    (mean, cv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_match_tables() {
        assert!((normal_quantile(0.975) - 1.959_964).abs() < 1e-6);
        assert!((normal_quantile(0.001) + 3.090_232).abs() < 1e-6);
        for (p, df, table) in [
            (0.975, 19.0, 2.0930),
            (0.995, 19.0, 2.8609),
            (0.975, 9.0, 2.2622),
            (0.999, 29.0, 3.3962),
            (0.9975, 19.0, 3.1737),
        ] {
            let t = student_t_quantile(p, df);
            assert!(
                (t - table).abs() / table < 2e-3,
                "t({p}, {df}) = {t}, table {table}"
            );
        }
    }

    #[test]
    fn batch_means_interval_covers_iid_means_about_95_percent() {
        // 400 replications of 2 000 uniform draws: the 95 % interval should cover 0.5 in
        // about 380 of them (binomial sd about 4.4).
        let mut rng = crate::rng::Rng::new(9);
        let covered = (0..400)
            .filter(|_| {
                let xs: Vec<f64> = (0..2000).map(|_| rng.uniform()).collect();
                Estimate::batch_means(&xs, 20).contains(0.5, 0.95)
            })
            .count();
        assert!((362..=396).contains(&covered), "{covered}");
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let xs = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(percentile(&xs, 0.5), 5.0);
        assert_eq!(percentile(&xs, 0.9), 9.0);
        assert_eq!(percentile(&xs, 1.0), 10.0);
        assert_eq!(percentile(&xs, 0.0), 1.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}
