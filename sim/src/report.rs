//! What a run measured: the figures a contact centre is judged by, as plain data (JSON).

use serde::{Deserialize, Serialize};

use crate::Estimate;
use crate::scenario::Scenario;
use crate::sim::Level;
use crate::stats::{mean_and_cv, percentile};

const US: f64 = 1_000_000.0;

/// The width of the wait histogram's bins, in seconds.
pub const HISTOGRAM_BIN_SECONDS: f64 = 1.0;

/// Everything one run measured. Chats are counted when they arrived after the warm-up and
/// before arrivals stopped; time-based figures cover the same window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The router's name.
    pub router: String,
    /// The scenario that was run.
    pub scenario: Scenario,
    /// How many chats, and what became of them.
    pub chats: ChatCounts,
    /// The threshold of [`service_level`](Self::service_level), in seconds.
    #[serde(with = "crate::report::nan")]
    pub service_level_seconds: f64,
    /// The share of offered chats answered within the threshold. Chats whose customer gave
    /// up, and chats never answered, count as missed.
    #[serde(with = "crate::report::nan")]
    pub service_level: f64,
    /// Average speed of answer: the mean wait of answered chats, in seconds.
    #[serde(with = "crate::report::nan")]
    pub asa_seconds: f64,
    /// The mean time customers spent waiting, answered or not, in seconds.
    #[serde(with = "crate::report::nan")]
    pub mean_time_in_queue_seconds: f64,
    /// Percentiles of the wait of answered chats, in seconds.
    pub waits: Percentiles,
    /// The share of offered chats that waited at all (not answered at once).
    #[serde(with = "crate::report::nan")]
    pub p_wait: f64,
    /// The share of offered chats whose customer gave up.
    #[serde(with = "crate::report::nan")]
    pub abandonment_rate: f64,
    /// Agent occupancy: chats in progress over the chats agents could have had (their slots
    /// while online and accepting chats).
    #[serde(with = "crate::report::nan")]
    pub occupancy: f64,
    /// The main figures with their 95 % confidence intervals (batch means, in arrival
    /// order).
    pub estimates: Estimates,
    /// Figures per hour of the run (by arrival for chats, by the clock for the rest).
    pub hours: Vec<Hour>,
    /// Chats waiting unassigned over time.
    pub queue: QueueSeries,
    /// The distribution of the waits of answered chats.
    pub wait_histogram: Histogram,
    /// How the load was spread over the agents.
    pub agents: AgentSummary,
    /// What the engine did.
    pub engine: EngineFigures,
    /// Simulated hours, from time zero to the end of the run (drain included).
    #[serde(with = "crate::report::nan")]
    pub simulated_hours: f64,
}

/// How many chats, and what became of them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatCounts {
    /// Chats that arrived in the measured window.
    pub offered: u64,
    /// Answered by an agent.
    pub answered: u64,
    /// Answered within the service level's threshold.
    pub answered_within_threshold: u64,
    /// Whose customer gave up first.
    pub abandoned: u64,
    /// Still waiting when the run ended.
    pub unresolved: u64,
}

/// Percentiles of waits, in seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    #[serde(with = "crate::report::nan")]
    pub p50: f64,
    /// 80th percentile.
    #[serde(with = "crate::report::nan")]
    pub p80: f64,
    /// 90th percentile.
    #[serde(with = "crate::report::nan")]
    pub p90: f64,
    /// 95th percentile.
    #[serde(with = "crate::report::nan")]
    pub p95: f64,
    /// 99th percentile.
    #[serde(with = "crate::report::nan")]
    pub p99: f64,
    /// The longest.
    #[serde(with = "crate::report::nan")]
    pub max: f64,
}

/// The main figures with confidence intervals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimates {
    /// The share of chats that waited.
    pub p_wait: Estimate,
    /// The mean time in the queue, answered or not, in seconds.
    pub mean_time_in_queue: Estimate,
    /// The share of chats whose customer gave up.
    pub abandonment: Estimate,
    /// The service level.
    pub service_level: Estimate,
}

/// One hour of the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hour {
    /// Hours since time zero (hour of day = `hour % 24`).
    pub hour: u32,
    /// Chats that arrived in this hour.
    pub offered: u64,
    /// Of those, answered.
    pub answered: u64,
    /// Of those, answered within the threshold.
    pub answered_within_threshold: u64,
    /// Of those, given up.
    pub abandoned: u64,
    /// `answered_within_threshold / offered` (`NaN` with no chats).
    #[serde(with = "crate::report::nan")]
    pub service_level: f64,
    /// Mean wait of the answered ones, in seconds.
    #[serde(with = "crate::report::nan")]
    pub asa_seconds: f64,
    /// Mean number of chats waiting.
    #[serde(with = "crate::report::nan")]
    pub mean_queue: f64,
    /// Most chats waiting at once.
    pub max_queue: u32,
    /// Mean number of agents online and accepting chats.
    #[serde(with = "crate::report::nan")]
    pub available_agents: f64,
    /// Chats in progress over available slots.
    #[serde(with = "crate::report::nan")]
    pub occupancy: f64,
}

/// Chats waiting unassigned, per bin of time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueSeries {
    /// The width of a bin.
    #[serde(with = "crate::report::nan")]
    pub bin_minutes: f64,
    /// Mean queue length per bin.
    pub mean: Vec<f64>,
    /// Longest queue per bin.
    pub max: Vec<u32>,
}

/// Waits of answered chats.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// The width of a bin, in seconds.
    #[serde(with = "crate::report::nan")]
    pub bin_seconds: f64,
    /// Chats answered at once (no wait at all).
    pub at_once: u64,
    /// Chats that waited, by bin: `counts[i]` waited more than 0 and up to
    /// `(i + 1) * bin_seconds` seconds, more than `i * bin_seconds`.
    pub counts: Vec<u64>,
}

/// How the load was spread over the agents.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentSummary {
    /// Coefficient of variation (sd / mean) of the chats each agent was given.
    #[serde(with = "crate::report::nan")]
    pub handled_cv: f64,
    /// Coefficient of variation of each agent's mean number of chats in progress.
    #[serde(with = "crate::report::nan")]
    pub mean_load_cv: f64,
    /// Every agent.
    pub per_agent: Vec<AgentFigures>,
}

/// One agent's figures over the measured window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentFigures {
    /// The agent's id.
    pub id: String,
    /// Its team.
    pub team: String,
    /// Its slots.
    pub max_chats: u32,
    /// Chats it was given.
    pub handled: u32,
    /// Mean number of chats in progress.
    #[serde(with = "crate::report::nan")]
    pub mean_load: f64,
    /// Chats in progress over its slots while it was available (`NaN` if it never was).
    #[serde(with = "crate::report::nan")]
    pub occupancy: f64,
}

/// What the engine did over the whole run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineFigures {
    /// Calls made through the facades and host calls (presence), ticks not included.
    pub calls: u64,
    /// `tick` calls.
    pub ticks: u64,
    /// Pushes returned.
    pub pushes: u64,
    /// Chats in the engine at the end.
    pub chats: u64,
    /// Events stored in all threads at the end (messages and system messages).
    pub events: u64,
    /// Chats routing moved from one agent to another (its 5-minute timer).
    pub reassigned: u64,
    /// Chats routing took back from an agent into the queue.
    pub unassigned: u64,
    /// Chats the engine archived for inactivity.
    pub archived_by_engine: u64,
}

pub(crate) struct ChatOutcome {
    pub(crate) arrival: u64,
    pub(crate) answered: Option<u64>,
    pub(crate) abandoned: Option<u64>,
    pub(crate) waited_until_end: u64,
}

impl ChatOutcome {
    fn time_in_queue(&self) -> f64 {
        self.answered
            .or(self.abandoned)
            .unwrap_or(self.waited_until_end) as f64
            / US
    }

    fn within(&self, threshold: f64) -> bool {
        self.answered.is_some_and(|w| w as f64 / US <= threshold)
    }
}

pub(crate) struct AgentLine {
    pub(crate) id: String,
    pub(crate) team: String,
    pub(crate) max_chats: u32,
    pub(crate) handled: u32,
    pub(crate) load_secs: f64,
    pub(crate) available_secs: f64,
}

pub(crate) struct Collected<'s> {
    pub(crate) scenario: &'s Scenario,
    pub(crate) router: String,
    pub(crate) outcomes: Vec<ChatOutcome>,
    pub(crate) agents: Vec<AgentLine>,
    pub(crate) queue: Level,
    pub(crate) available_agents: Level,
    pub(crate) available_slots: Level,
    pub(crate) busy_slots: Level,
    pub(crate) engine: EngineFigures,
    pub(crate) window: (u64, u64),
    pub(crate) end: u64,
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

pub(crate) fn build(c: Collected<'_>) -> Report {
    let sc = c.scenario;
    let t = sc.service_level_seconds;
    let o = &c.outcomes;
    let mut counts = ChatCounts {
        offered: o.len() as u64,
        ..ChatCounts::default()
    };
    let mut waits: Vec<f64> = Vec::new();
    for x in o {
        match (x.answered, x.abandoned) {
            (Some(w), _) => {
                counts.answered += 1;
                waits.push(w as f64 / US);
                if x.within(t) {
                    counts.answered_within_threshold += 1;
                }
            }
            (None, Some(_)) => counts.abandoned += 1,
            (None, None) => counts.unresolved += 1,
        }
    }
    let offered = counts.offered as f64;
    let waited: Vec<f64> = o
        .iter()
        .map(|x| f64::from(u8::from(x.answered != Some(0))))
        .collect();
    let in_queue: Vec<f64> = o.iter().map(ChatOutcome::time_in_queue).collect();
    let abandoned: Vec<f64> = o
        .iter()
        .map(|x| f64::from(u8::from(x.answered.is_none() && x.abandoned.is_some())))
        .collect();
    let within: Vec<f64> = o.iter().map(|x| f64::from(u8::from(x.within(t)))).collect();
    let estimates = Estimates {
        p_wait: Estimate::batch_means(&waited, sc.batches),
        mean_time_in_queue: Estimate::batch_means(&in_queue, sc.batches),
        abandonment: Estimate::batch_means(&abandoned, sc.batches),
        service_level: Estimate::batch_means(&within, sc.batches),
    };
    let asa = ratio(waits.iter().sum(), waits.len() as f64);
    let mut histogram = Histogram {
        bin_seconds: HISTOGRAM_BIN_SECONDS,
        at_once: 0,
        counts: Vec::new(),
    };
    for &w in &waits {
        if w == 0.0 {
            histogram.at_once += 1;
        } else {
            let bin = ((w / HISTOGRAM_BIN_SECONDS).ceil() as usize).saturating_sub(1);
            if histogram.counts.len() <= bin {
                histogram.counts.resize(bin + 1, 0);
            }
            histogram.counts[bin] += 1;
        }
    }
    waits.sort_by(f64::total_cmp);
    let p = |q| percentile(&waits, q);
    let percentiles = Percentiles {
        p50: p(0.5),
        p80: p(0.8),
        p90: p(0.9),
        p95: p(0.95),
        p99: p(0.99),
        max: waits.last().copied().unwrap_or(f64::NAN),
    };

    // Per hour of the run.
    let hour_us = 3_600_000_000u64;
    let hours_n = c.end.div_ceil(hour_us).max(1) as usize;
    let mut hours: Vec<Hour> = (0..hours_n)
        .map(|h| {
            let get = |l: &Level| l.sums.get(h).copied().unwrap_or(0.0);
            Hour {
                hour: h as u32,
                offered: 0,
                answered: 0,
                answered_within_threshold: 0,
                abandoned: 0,
                service_level: f64::NAN,
                asa_seconds: f64::NAN,
                mean_queue: f64::NAN,
                max_queue: 0,
                available_agents: get(&c.available_agents) / 3600.0,
                occupancy: ratio(get(&c.busy_slots), get(&c.available_slots)),
            }
        })
        .collect();
    let mut hour_waits = vec![0.0; hours_n];
    for x in o {
        let h = &mut hours[(x.arrival / hour_us) as usize];
        h.offered += 1;
        if let Some(w) = x.answered {
            h.answered += 1;
            hour_waits[(x.arrival / hour_us) as usize] += w as f64 / US;
        } else if x.abandoned.is_some() {
            h.abandoned += 1;
        }
        if x.within(t) {
            h.answered_within_threshold += 1;
        }
    }
    // The queue series' bins may be finer than an hour: fold them.
    let bin_secs = sc.bin_minutes * 60.0;
    let queue_mean: Vec<f64> = c.queue.sums.iter().map(|s| s / bin_secs).collect();
    for (i, h) in hours.iter_mut().enumerate() {
        h.service_level = ratio(h.answered_within_threshold as f64, h.offered as f64);
        h.asa_seconds = ratio(hour_waits[i], h.answered as f64);
        let (from, to) = (i as f64 * 3600.0, (i + 1) as f64 * 3600.0);
        let mut sum = 0.0;
        let mut covered = 0.0;
        for (b, s) in c.queue.sums.iter().enumerate() {
            let (b0, b1) = (b as f64 * bin_secs, (b + 1) as f64 * bin_secs);
            let overlap = (b1.min(to) - b0.max(from)).max(0.0);
            if overlap > 0.0 {
                sum += s * overlap / bin_secs;
                covered += overlap;
                h.max_queue = h.max_queue.max(c.queue.maxima[b]);
            }
        }
        h.mean_queue = ratio(sum, covered.max(f64::MIN_POSITIVE));
    }

    // Agents.
    let window_secs = (c.window.1 - c.window.0) as f64 / US;
    let per_agent: Vec<AgentFigures> = c
        .agents
        .iter()
        .map(|a| AgentFigures {
            id: a.id.clone(),
            team: a.team.clone(),
            max_chats: a.max_chats,
            handled: a.handled,
            mean_load: ratio(a.load_secs, window_secs),
            occupancy: ratio(a.load_secs, f64::from(a.max_chats) * a.available_secs),
        })
        .collect();
    let handled: Vec<f64> = per_agent.iter().map(|a| f64::from(a.handled)).collect();
    let loads: Vec<f64> = per_agent.iter().map(|a| a.mean_load).collect();
    let busy: f64 = c.agents.iter().map(|a| a.load_secs).sum();
    let capacity: f64 = c
        .agents
        .iter()
        .map(|a| f64::from(a.max_chats) * a.available_secs)
        .sum();

    Report {
        router: c.router,
        scenario: sc.clone(),
        service_level_seconds: t,
        service_level: ratio(counts.answered_within_threshold as f64, offered),
        asa_seconds: asa,
        mean_time_in_queue_seconds: ratio(in_queue.iter().sum(), offered),
        waits: percentiles,
        p_wait: ratio(waited.iter().sum(), offered),
        abandonment_rate: ratio(counts.abandoned as f64, offered),
        occupancy: ratio(busy, capacity),
        chats: counts,
        estimates,
        hours,
        queue: QueueSeries {
            bin_minutes: sc.bin_minutes,
            mean: queue_mean,
            max: c.queue.maxima,
        },
        wait_histogram: histogram,
        agents: AgentSummary {
            handled_cv: mean_and_cv(&handled).1,
            mean_load_cv: mean_and_cv(&loads).1,
            per_agent,
        },
        engine: c.engine,
        simulated_hours: c.end as f64 / US / 3600.0,
    }
}

/// JSON has no NaN nor infinity: a figure that is not defined (a mean of nothing, an interval
/// from too few values) is written as `null` and read back as NaN.
pub(crate) mod nan {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        if x.is_finite() {
            s.serialize_f64(*x)
        } else {
            s.serialize_none()
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}
