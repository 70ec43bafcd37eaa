//! `chatio-sim`: a contact-centre simulator on the real `chatio` engine, checked against
//! queueing theory.
//!
//! A [`Scenario`] says who arrives (Poisson, optionally varying by hour of day), how long chats
//! take, how patient customers are, and which agents work when (teams with slots, groups,
//! shifts and breaks). A [`Simulation`] runs it on simulated time against a
//! [`chatio::Engine`] with any router, built in or your own, driving it only through its
//! facades and host calls, exactly as a server would: customers `start_chat` and
//! `send_event`, agents answer and `close_thread`, agents log in and out and change their
//! routing status, and routing timers run through `next_deadline` and `tick`. The [`Report`]
//! has the figures a team lead asks for: service level, average speed of answer, wait
//! percentiles, abandonment, occupancy, the queue over the day, with confidence intervals.
//!
//! ```
//! use chatio_sim::{Distribution, Scenario, Simulation, erlang::ErlangC};
//!
//! // 8 agents, one chat each, 80 chats an hour of 5 minutes: Erlang C's model.
//! let mut scenario = Scenario::erlang(8, 80.0, 300.0);
//! scenario.hours = 24.0;
//! let report = Simulation::builtin(scenario, "automatic")?.run()?;
//!
//! let theory = ErlangC::new(8, 80.0 / 3600.0, 300.0).expect("a stable queue");
//! println!(
//!     "P(wait): simulated {:.3} ± {:.3}, Erlang C {:.3}",
//!     report.estimates.p_wait.mean, report.estimates.p_wait.half_width_95, theory.p_wait
//! );
//! assert!((report.p_wait - theory.p_wait).abs() < 0.15);
//! # Ok::<(), chatio_sim::SimError>(())
//! ```
//!
//! The figures hold in theory's own terms: with one slot per agent, exponential handling and
//! no abandonment, the measured chance of waiting and the mean wait agree with Erlang C
//! ([`erlang::ErlangC`]); with exponential patience, abandonment and waiting agree with
//! Erlang A ([`erlang::ErlangA`]). The crate's tests check both at several points.
//!
//! * [`plot`] draws the report as SVG (queue and service level over the day, waits).
//! * [`sizing`] finds the smallest team that meets a service-level target.
//! * The `contact_center` binary does all of it from the command line (`run`, `compare`,
//!   `size`); see `docs/simulator.md`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod dist;
pub mod erlang;
pub mod plot;
mod report;
mod rng;
mod scenario;
mod sim;
pub mod sizing;
mod stats;

pub use dist::Distribution;
pub use report::{
    AgentFigures, AgentSummary, ChatCounts, EngineFigures, Estimates, HISTOGRAM_BIN_SECONDS,
    Histogram, Hour, Percentiles, QueueSeries, Report,
};
pub use rng::Rng;
pub use scenario::{
    Arrivals, Audience, Break, GroupShare, Handling, MAX_MESSAGE_GAP_SECONDS, Scenario,
    ScenarioError, Shift, Team, office_day_profile,
};
pub use sim::{Progress, START, Simulation};
pub use stats::{Estimate, mean_and_cv, normal_quantile, percentile, student_t_quantile};

/// The guide, `docs/simulator.md`: its Rust examples run as doctests, so they keep compiling.
#[cfg(doctest)]
#[doc = include_str!("../../docs/simulator.md")]
pub struct SimulatorGuide;

/// Why a simulation could not run, or its output could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The scenario is not valid.
    #[error(transparent)]
    Scenario(ScenarioError),
    /// No built-in router has this name.
    #[error(
        "unknown router `{0}`: the built-in ones are automatic, manual, least_loaded, round_robin"
    )]
    UnknownRouter(String),
    /// The engine refused a call the simulator made: a bug in the simulator or the engine,
    /// since simulated users only make valid calls.
    #[error("the engine refused a call: {0}")]
    Engine(#[from] chatio::Error),
    /// A plot could not be drawn or written.
    #[error("cannot draw {path}: {reason}")]
    Plot {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}
