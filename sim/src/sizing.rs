//! Sizing a team: the smallest number of agents that meets a service-level target.
//!
//! The size of the scenario's first team varies (other teams stay as they are); every size is
//! simulated with the same seed, so the sizes see the same customers and the service level
//! rises with the team without noise between neighbours. A binary search finds the smallest
//! size whose simulated service level reaches the target, then the sizes around it are run
//! too, for the plot. When the scenario is one queueing theory covers (one team on duty all
//! day, constant rate, exponential handling, no patience or exponential patience), each point
//! also gets Erlang C's or Erlang A's service level, with agents times slots as servers.
//!
//! ```
//! use chatio_sim::sizing::{Goal, size};
//! use chatio_sim::Scenario;
//! let mut s = Scenario::erlang(1, 60.0, 240.0); // 60 chats an hour of 4 minutes: 4 Erlangs
//! s.hours = 12.0;
//! let goal = Goal { service_level: 0.8, within_seconds: 20.0, max_abandonment: None };
//! let router = chatio::routing::builtin_router("automatic").unwrap();
//! let sizing = size(&s, router, &goal, 1..=20, &mut |_, _| {})?;
//! let n = sizing.agents.expect("20 agents are plenty");
//! assert!(n >= 5 && n <= 9, "{n}");
//! assert_eq!(sizing.theory_agents, Some(7)); // Erlang C
//! # Ok::<(), chatio_sim::SimError>(())
//! ```

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::sync::Arc;

use chatio::routing::Router;
use serde::{Deserialize, Serialize};

use crate::erlang::{ErlangA, ErlangC};
use crate::{Distribution, Estimate, Progress, Report, Scenario, SimError, Simulation};

/// What the team must achieve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Goal {
    /// The share of chats to answer within [`within_seconds`](Self::within_seconds), 0 to 1.
    pub service_level: f64,
    /// The threshold, in seconds.
    pub within_seconds: f64,
    /// Optionally, the most customers who may give up, as a share (0 to 1).
    pub max_abandonment: Option<f64>,
}

/// One team size, simulated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SizingPoint {
    /// Agents in the varied team.
    pub agents: u32,
    /// The simulated service level, with its interval.
    pub service_level: Estimate,
    /// The share of customers who gave up.
    #[serde(with = "crate::report::nan")]
    pub abandonment_rate: f64,
    /// Average speed of answer, in seconds.
    #[serde(with = "crate::report::nan")]
    pub asa_seconds: f64,
    /// Agent occupancy.
    #[serde(with = "crate::report::nan")]
    pub occupancy: f64,
    /// Whether this size meets the goal.
    pub meets: bool,
    /// The theory's service level for this size, when it covers the scenario.
    pub theory: Option<f64>,
}

/// The answer, and every size that was simulated on the way.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sizing {
    /// The goal.
    pub goal: Goal,
    /// The router.
    pub router: String,
    /// The smallest size of the first team that meets the goal; `None` if none in the range
    /// did.
    pub agents: Option<u32>,
    /// What the theory says, when it covers the scenario.
    pub theory_agents: Option<u32>,
    /// Which theory: `Erlang C` or `Erlang A`.
    pub theory_name: Option<String>,
    /// The simulated sizes, smallest first.
    pub points: Vec<SizingPoint>,
    /// The scenario, as given (its first team's size is the one varied).
    pub scenario: Scenario,
}

/// Finds the smallest size of `base`'s first team, within `range`, that meets `goal`.
/// `progress` hears of each run: the size being simulated, and where the run stands.
pub fn size(
    base: &Scenario,
    router: Arc<dyn Router>,
    goal: &Goal,
    range: RangeInclusive<u32>,
    progress: &mut dyn FnMut(u32, Progress),
) -> Result<Sizing, SimError> {
    base.validate()?;
    let valid = |x: f64| x.is_finite() && (0.0..=1.0).contains(&x);
    let threshold_ok = goal.within_seconds.is_finite() && goal.within_seconds >= 0.0;
    if !valid(goal.service_level)
        || !threshold_ok
        || goal.max_abandonment.is_some_and(|a| !valid(a))
    {
        return Err(crate::ScenarioError::Invalid(
            "the goal's shares are between 0 and 1, its threshold at least 0 seconds".into(),
        )
        .into());
    }
    let (min, max) = (*range.start().max(&1), *range.end());
    if min > max {
        return Err(crate::ScenarioError::Invalid(format!(
            "the range of team sizes is empty ({min} to {max})"
        ))
        .into());
    }
    let mut scenario = base.clone();
    scenario.service_level_seconds = goal.within_seconds;
    let theory = Theory::of(&scenario);
    let mut runs: BTreeMap<u32, Report> = BTreeMap::new();
    let mut simulate = |n: u32| -> Result<bool, SimError> {
        if let Some(r) = runs.get(&n) {
            return Ok(meets(r, goal));
        }
        let mut s = scenario.clone();
        s.teams[0].agents = n;
        let report =
            Simulation::new(s, Arc::clone(&router))?.run_with_progress(&mut |p| progress(n, p))?;
        let ok = meets(&report, goal);
        runs.insert(n, report);
        Ok(ok)
    };
    let answer = if simulate(max)? {
        let (mut lo, mut hi) = (min, max);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if simulate(mid)? {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Some(lo)
    } else {
        None
    };
    // The neighbourhood of the answer (or of the top of the range), for the plot.
    let centre = answer.unwrap_or(max);
    for n in centre.saturating_sub(3).max(min)..=(centre + 3).min(max) {
        simulate(n)?;
    }
    let router_name = runs
        .values()
        .next()
        .map(|r| r.router.clone())
        .unwrap_or_default();
    let points = runs
        .iter()
        .map(|(&n, r)| SizingPoint {
            agents: n,
            service_level: r.estimates.service_level,
            abandonment_rate: r.abandonment_rate,
            asa_seconds: r.asa_seconds,
            occupancy: r.occupancy,
            meets: meets(r, goal),
            theory: theory
                .as_ref()
                .and_then(|t| t.service_level(n, goal.within_seconds)),
        })
        .collect();
    let theory_agents = theory.as_ref().and_then(|t| {
        (min..=max).find(|&n| {
            t.service_level(n, goal.within_seconds)
                .is_some_and(|sl| sl >= goal.service_level)
                && goal
                    .max_abandonment
                    .is_none_or(|limit| t.abandonment(n).is_some_and(|a| a <= limit))
        })
    });
    Ok(Sizing {
        goal: goal.clone(),
        router: router_name,
        agents: answer,
        theory_agents,
        theory_name: theory.map(|t| t.name().to_owned()),
        points,
        scenario: base.clone(),
    })
}

fn meets(r: &Report, goal: &Goal) -> bool {
    r.service_level >= goal.service_level
        && goal
            .max_abandonment
            .is_none_or(|limit| r.abandonment_rate <= limit)
}

/// The queueing model that matches a scenario, if one does.
enum Theory {
    C {
        lambda: f64,
        handle: f64,
        slots: u32,
    },
    A {
        lambda: f64,
        handle: f64,
        slots: u32,
        patience: f64,
    },
}

impl Theory {
    fn of(s: &Scenario) -> Option<Self> {
        let [team] = s.teams.as_slice() else {
            return None;
        };
        let plain = team.shift.is_none()
            && team.breaks.is_empty()
            && s.arrivals.profile.is_none()
            && s.arrivals.groups.is_empty();
        let Distribution::Exponential { mean: handle } = s.handling.duration else {
            return None;
        };
        if !plain {
            return None;
        }
        let (lambda, slots) = (s.arrivals.rate_per_hour / 3600.0, team.max_chats);
        match s.patience {
            None => Some(Theory::C {
                lambda,
                handle,
                slots,
            }),
            Some(Distribution::Exponential { mean }) => Some(Theory::A {
                lambda,
                handle,
                slots,
                patience: mean,
            }),
            Some(_) => None,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Theory::C { .. } => "Erlang C",
            Theory::A { .. } => "Erlang A",
        }
    }

    fn service_level(&self, agents: u32, t: f64) -> Option<f64> {
        match *self {
            // An unstable queue answers almost nobody in time in the long run.
            Theory::C {
                lambda,
                handle,
                slots,
            } => Some(
                ErlangC::new(agents * slots, lambda, handle).map_or(0.0, |c| c.service_level(t)),
            ),
            Theory::A {
                lambda,
                handle,
                slots,
                patience,
            } => ErlangA::new(agents * slots, lambda, handle, patience).map(|a| a.service_level(t)),
        }
    }

    fn abandonment(&self, agents: u32) -> Option<f64> {
        match *self {
            Theory::C { .. } => Some(0.0),
            Theory::A {
                lambda,
                handle,
                slots,
                patience,
            } => ErlangA::new(agents * slots, lambda, handle, patience).map(|a| a.p_abandon),
        }
    }
}
