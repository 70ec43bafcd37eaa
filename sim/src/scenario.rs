//! What to simulate: arrivals, handling, patience, teams of agents with shifts and breaks.
//!
//! A [`Scenario`] is plain data (it reads from and writes to JSON), so a run is described by
//! its scenario, its router's name and nothing else.

use serde::{Deserialize, Serialize};

use crate::dist::Distribution;

/// Why a scenario cannot be run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// A value is out of range or inconsistent with another; the text says which.
    #[error("invalid scenario: {0}")]
    Invalid(String),
    /// A scenario file is not valid JSON for a scenario.
    #[error("cannot read the scenario: {0}")]
    Json(#[from] serde_json::Error),
}

fn invalid(text: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid(text.into())
}

/// The longest gap the simulator allows between a customer's message and the agent's reply.
///
/// The engine's routing moves a chat whose customer message the assignee has not answered
/// within five minutes (chat.io's default timer). A simulated agent answers within one
/// message gap, so gaps of at most half that keep the simulated agents attentive.
pub const MAX_MESSAGE_GAP_SECONDS: f64 = 150.0;

/// A simulation: who arrives, how long chats take, who serves them, for how long.
///
/// ```
/// use chatio_sim::{Distribution, Scenario};
/// // Erlang C's model: 10 agents, one chat each, 100 chats an hour of 5 minutes on average.
/// let s = Scenario::erlang(10, 100.0, 300.0).with_patience(Distribution::Exponential { mean: 120.0 });
/// assert_eq!(s.agent_count(), 10);
/// assert!((s.offered_load() - 100.0 * 300.0 / 3600.0).abs() < 1e-9);
/// s.validate()?;
/// # Ok::<(), chatio_sim::ScenarioError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Seeds every random draw: the same scenario and seed give the same report.
    #[serde(default)]
    pub seed: u64,
    /// How long customers keep arriving, in hours. The run goes on after that until every
    /// chat is answered or abandoned, or for [`drain_hours`](Self::drain_hours) more.
    pub hours: f64,
    /// Chats arriving before this many hours are served but left out of the figures (the
    /// centre starts empty, which is not its usual state).
    #[serde(default)]
    pub warmup_hours: f64,
    /// How long the run may go on after arrivals stop, for the last chats to end.
    #[serde(default = "default_drain_hours")]
    pub drain_hours: f64,
    /// Who arrives, and when.
    pub arrivals: Arrivals,
    /// How long a chat takes once answered, and how its messages are spread.
    pub handling: Handling,
    /// How long a customer waits before giving up; `None`: customers never give up.
    #[serde(default)]
    pub patience: Option<Distribution>,
    /// The agents, in teams.
    pub teams: Vec<Team>,
    /// The service level's threshold: the share of chats answered within this many seconds.
    #[serde(default = "default_service_level_seconds")]
    pub service_level_seconds: f64,
    /// The width of a bin of the queue-length series, in minutes.
    #[serde(default = "default_bin_minutes")]
    pub bin_minutes: f64,
    /// How many batches the confidence intervals are computed from (batch means).
    #[serde(default = "default_batches")]
    pub batches: u32,
    /// Which agents the engine tells about each chat.
    #[serde(default)]
    pub push_audience: Audience,
    /// How long an agent with a free slot takes to pick a waiting chat it may see, by
    /// replying to it (mean of an exponential, in seconds). This is how chats are answered
    /// under the manual router; the automatic routers leave no chat waiting while an agent
    /// who may take it has room, so there it rarely matters.
    #[serde(default = "default_pickup_seconds")]
    pub pickup_seconds: f64,
}

fn default_drain_hours() -> f64 {
    6.0
}
fn default_service_level_seconds() -> f64 {
    20.0
}
fn default_bin_minutes() -> f64 {
    15.0
}
fn default_batches() -> u32 {
    20
}
fn default_message_gap() -> f64 {
    20.0
}
fn default_pickup_seconds() -> f64 {
    15.0
}
fn default_max_chats() -> u32 {
    1
}

/// Which agents the engine tells about each chat ([`chatio::PushAudience`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Every agent who may see the chat (the engine's default, chat.io's behaviour).
    #[default]
    AllAgents,
    /// Only the agents in the chat.
    ChatAgentsOnly,
}

/// Poisson arrivals, optionally varying by hour of day.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arrivals {
    /// Mean chats per hour, over a whole day.
    pub rate_per_hour: f64,
    /// 24 weights, one per hour of the day (hour 0 first): the rate in hour `h` is
    /// `rate_per_hour * profile[h] / mean(profile)`. `None`: the same rate all day.
    #[serde(default)]
    pub profile: Option<Vec<f64>>,
    /// Chats ask for a group: each arrival picks one by weight and is scoped to it, so only
    /// that group's agents see and take it. Empty: every chat is for every agent.
    #[serde(default)]
    pub groups: Vec<GroupShare>,
}

/// A share of arrivals that ask for a group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupShare {
    /// The group's number ([`chatio::GroupId`]).
    pub group: u32,
    /// The share's weight.
    pub weight: f64,
}

/// How a chat is handled once an agent has it.
///
/// The agent greets the customer at once; then customer and agent take turns, evenly spaced,
/// and the agent closes the thread when the handling time is up. The number of turns is the
/// handling time divided by [`message_gap_seconds`](Self::message_gap_seconds), at least one
/// each way. The handling time does not depend on how many chats the agent has at once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handling {
    /// From the assignment to the agent's `close_thread`.
    pub duration: Distribution,
    /// The mean time between two messages of a chat, in seconds (at most
    /// [`MAX_MESSAGE_GAP_SECONDS`]).
    #[serde(default = "default_message_gap")]
    pub message_gap_seconds: f64,
}

/// Agents who share a profile and a timetable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Team {
    /// A name for the report.
    pub name: String,
    /// How many agents.
    pub agents: u32,
    /// Chats an agent may have at once.
    #[serde(default = "default_max_chats")]
    pub max_chats: u32,
    /// Groups the agents belong to.
    #[serde(default)]
    pub groups: Vec<u32>,
    /// When the team works, every day; `None`: all the time.
    #[serde(default)]
    pub shift: Option<Shift>,
    /// Breaks during each shift.
    #[serde(default)]
    pub breaks: Vec<Break>,
}

/// A daily shift. The agents log in at the start; at the end they stop accepting chats, finish
/// the ones they have, and log out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shift {
    /// Hour of the day the shift starts (0 to 24, fractions allowed).
    pub start_hour: f64,
    /// Hour of the day it ends; earlier than the start for a shift across midnight.
    pub end_hour: f64,
}

/// A break: the agent stops accepting chats (it finishes the ones it has), then accepts again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Break {
    /// Hours after the shift's start (or after the day's start, for a team without shift).
    pub after_hours: f64,
    /// How long, in minutes.
    pub minutes: f64,
    /// The team's agents start their breaks spread evenly over this many minutes, so the team
    /// never leaves all at once.
    #[serde(default)]
    pub spread_minutes: f64,
}

impl Scenario {
    /// Erlang's model: `agents` agents with one chat each, all day, Poisson arrivals at
    /// `rate_per_hour`, exponential handling with mean `mean_handle_seconds`, no abandonment.
    /// 48 hours of arrivals after a 2-hour warm-up; adjust [`hours`](Self::hours) for
    /// precision.
    pub fn erlang(agents: u32, rate_per_hour: f64, mean_handle_seconds: f64) -> Self {
        Self {
            seed: 1,
            hours: 50.0,
            warmup_hours: 2.0,
            drain_hours: default_drain_hours(),
            arrivals: Arrivals {
                rate_per_hour,
                profile: None,
                groups: Vec::new(),
            },
            handling: Handling {
                duration: Distribution::Exponential {
                    mean: mean_handle_seconds,
                },
                message_gap_seconds: default_message_gap(),
            },
            patience: None,
            teams: vec![Team {
                name: "agents".into(),
                agents,
                max_chats: 1,
                groups: Vec::new(),
                shift: None,
                breaks: Vec::new(),
            }],
            service_level_seconds: default_service_level_seconds(),
            bin_minutes: default_bin_minutes(),
            batches: default_batches(),
            push_audience: Audience::AllAgents,
            pickup_seconds: default_pickup_seconds(),
        }
    }

    /// The same scenario with customers who give up after a patience time.
    pub fn with_patience(mut self, patience: Distribution) -> Self {
        self.patience = Some(patience);
        self
    }

    /// The same scenario with another seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// One simulated day of a 500-agent centre: about 100 000 chats, busiest late in the
    /// morning, seven shifts of 9 hours with staggered breaks, three chats per agent, log-normal handling
    /// (mean 6 minutes), customers who give up after 3 minutes on average. The scenario of the
    /// speed figure in the guide.
    pub fn centre_500() -> Self {
        let team = |name: &str, agents, start, end| Team {
            name: name.into(),
            agents,
            max_chats: 3,
            groups: Vec::new(),
            shift: Some(Shift {
                start_hour: start,
                end_hour: end,
            }),
            breaks: vec![Break {
                after_hours: 3.5,
                minutes: 30.0,
                spread_minutes: 90.0,
            }],
        };
        Self {
            seed: 1,
            hours: 24.0,
            warmup_hours: 0.0,
            drain_hours: default_drain_hours(),
            arrivals: Arrivals {
                rate_per_hour: 100_000.0 / 24.0,
                profile: Some(office_day_profile()),
                groups: Vec::new(),
            },
            handling: Handling {
                duration: Distribution::LogNormal {
                    mean: 360.0,
                    cv: 1.0,
                },
                message_gap_seconds: default_message_gap(),
            },
            patience: Some(Distribution::Exponential { mean: 180.0 }),
            teams: vec![
                team("night", 35, 22.0, 7.0),
                team("early", 115, 6.0, 15.0),
                team("mid", 75, 8.0, 17.0),
                team("morning", 65, 9.0, 18.0),
                team("day", 55, 11.0, 20.0),
                team("late", 95, 15.0, 24.0),
                team("evening", 60, 18.0, 3.0),
            ],
            service_level_seconds: default_service_level_seconds(),
            bin_minutes: default_bin_minutes(),
            batches: default_batches(),
            push_audience: Audience::AllAgents,
            pickup_seconds: default_pickup_seconds(),
        }
    }

    /// Reads a scenario from JSON (as [`to_json`](Self::to_json) writes it) and checks it.
    pub fn from_json(text: &str) -> Result<Self, ScenarioError> {
        let s: Scenario = serde_json::from_str(text)?;
        s.validate()?;
        Ok(s)
    }

    /// The scenario as pretty JSON.
    pub fn to_json(&self) -> String {
        // Plain data with string keys: serializing cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Every agent of every team.
    pub fn agent_count(&self) -> u32 {
        self.teams.iter().map(|t| t.agents).sum()
    }

    /// The mean offered load in Erlangs (arrival rate times mean handling time), over the day.
    pub fn offered_load(&self) -> f64 {
        self.arrivals.rate_per_hour * self.handling.duration.mean() / 3600.0
    }

    /// The arrival rate (per hour) in hour-of-day `hour`.
    pub fn rate_in_hour(&self, hour: usize) -> f64 {
        match &self.arrivals.profile {
            Some(p) if p.len() == 24 => {
                let mean = p.iter().sum::<f64>() / 24.0;
                self.arrivals.rate_per_hour * p[hour % 24] / mean
            }
            _ => self.arrivals.rate_per_hour,
        }
    }

    /// Checks every value and what the values imply together.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let finite_pos = |x: f64| x.is_finite() && x > 0.0;
        let finite_nonneg = |x: f64| x.is_finite() && x >= 0.0;
        if !finite_pos(self.hours) {
            return Err(invalid("hours must be positive"));
        }
        if !finite_nonneg(self.warmup_hours) || self.warmup_hours >= self.hours {
            return Err(invalid(
                "warmup_hours must be at least 0 and less than hours",
            ));
        }
        if !finite_nonneg(self.drain_hours) {
            return Err(invalid("drain_hours must be at least 0"));
        }
        // Long enough for a theory check at a handful of chats an hour; far from where
        // microsecond counters could overflow.
        if self.hours + self.drain_hours > 24.0 * 366.0 * 20.0 {
            return Err(invalid("a run may last at most 20 years of simulated time"));
        }
        if !finite_pos(self.arrivals.rate_per_hour) {
            return Err(invalid("arrivals.rate_per_hour must be positive"));
        }
        if let Some(p) = &self.arrivals.profile {
            if p.len() != 24 || !p.iter().all(|w| finite_nonneg(*w)) || p.iter().sum::<f64>() <= 0.0
            {
                return Err(invalid(
                    "arrivals.profile needs 24 weights, none negative, not all zero",
                ));
            }
        }
        if !self.arrivals.groups.is_empty()
            && (!self.arrivals.groups.iter().all(|g| finite_nonneg(g.weight))
                || self.arrivals.groups.iter().map(|g| g.weight).sum::<f64>() <= 0.0)
        {
            return Err(invalid(
                "arrivals.groups weights must be at least 0, not all zero",
            ));
        }
        self.handling.duration.validate("handling.duration")?;
        let gap = self.handling.message_gap_seconds;
        if !(finite_pos(gap) && gap <= MAX_MESSAGE_GAP_SECONDS) {
            return Err(invalid(format!(
                "handling.message_gap_seconds must be in (0, {MAX_MESSAGE_GAP_SECONDS}]: the \
                 engine moves a chat whose customer waits 5 minutes for an answer"
            )));
        }
        if let Some(p) = &self.patience {
            p.validate("patience")?;
        }
        if self.teams.is_empty() || self.agent_count() == 0 {
            return Err(invalid("at least one team with at least one agent"));
        }
        if self.agent_count() > 1_000_000 {
            return Err(invalid("at most 1 000 000 agents"));
        }
        for t in &self.teams {
            if t.max_chats == 0 {
                return Err(invalid(format!(
                    "team {}: max_chats must be at least 1",
                    t.name
                )));
            }
            if let Some(s) = &t.shift {
                let hour = |h: f64| (0.0..=24.0).contains(&h);
                if !hour(s.start_hour) || !hour(s.end_hour) || s.start_hour == s.end_hour {
                    return Err(invalid(format!(
                        "team {}: a shift's hours are in 0..=24 and differ",
                        t.name
                    )));
                }
            }
            for b in &t.breaks {
                if !finite_nonneg(b.after_hours)
                    || !finite_pos(b.minutes)
                    || !finite_nonneg(b.spread_minutes)
                {
                    return Err(invalid(format!(
                        "team {}: a break needs after_hours >= 0, minutes > 0, spread_minutes >= 0",
                        t.name
                    )));
                }
            }
        }
        if !finite_nonneg(self.service_level_seconds) {
            return Err(invalid("service_level_seconds must be at least 0"));
        }
        if !finite_pos(self.bin_minutes) || self.bin_minutes < 1.0 {
            return Err(invalid("bin_minutes must be at least 1"));
        }
        if !finite_pos(self.pickup_seconds) {
            return Err(invalid("pickup_seconds must be positive"));
        }
        if self.batches < 2 {
            return Err(invalid("batches must be at least 2"));
        }
        Ok(())
    }
}

/// A weekday of a web shop's chat: quiet at night, busiest late in the morning and early in
/// the afternoon. 24 weights, hour 0 first.
pub fn office_day_profile() -> Vec<f64> {
    vec![
        0.30, 0.20, 0.15, 0.12, 0.12, 0.18, 0.35, 0.65, 1.05, 1.45, 1.70, 1.75, 1.55, 1.50, 1.60,
        1.60, 1.50, 1.35, 1.20, 1.10, 1.00, 0.85, 0.65, 0.45,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_round_trip_through_json() {
        for s in [Scenario::erlang(3, 10.0, 300.0), Scenario::centre_500()] {
            s.validate().unwrap();
            assert_eq!(Scenario::from_json(&s.to_json()).unwrap(), s);
        }
    }

    #[test]
    fn centre_500_is_about_100_000_chats_a_day() {
        let s = Scenario::centre_500();
        let per_day: f64 = (0..24).map(|h| s.rate_in_hour(h)).sum();
        assert!((per_day - 100_000.0).abs() < 1e-6, "{per_day}");
        assert_eq!(s.agent_count(), 500);
    }

    #[test]
    fn validation_names_what_is_wrong() {
        let mut s = Scenario::erlang(3, 10.0, 300.0);
        s.handling.message_gap_seconds = 400.0;
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("message_gap_seconds"), "{e}");
        let mut s = Scenario::erlang(3, 10.0, 300.0);
        s.teams[0].max_chats = 0;
        assert!(s.validate().unwrap_err().to_string().contains("max_chats"));
        let e = Scenario::from_json("{\"hours\": 1}").unwrap_err();
        assert!(matches!(e, ScenarioError::Json(_)));
    }
}
