//! The strongest check of the engine's routing: fed the same arrival times, handling times and
//! patience, the simulated centre (the real engine, its automatic router, agents who greet,
//! message and close) gives exactly the waits of a textbook first-come-first-served queue with
//! `n` servers, computed here in a few lines. Not close: equal, to the microsecond.
//!
//! The reference uses the simulator's own random streams (`Rng::stream(seed, 1)` for arrivals,
//! `2` for handling, `3` for patience), drawn in the same order.

use chatio_sim::{Distribution, Report, Rng, Scenario, Simulation};

struct Reference {
    offered: u64,
    answered: u64,
    abandoned: u64,
    waited: u64,
    time_in_queue: f64,
}

/// FCFS with `servers` servers: a customer is served by the first server to come free, after
/// everyone ahead; one whose wait would exceed its patience leaves and takes no server.
fn reference(s: &Scenario, servers: usize) -> Reference {
    let us = |secs: f64| (secs * 1e6).round().max(0.0) as u64;
    let mut arrivals = Rng::stream(s.seed, 1);
    let mut handling = Rng::stream(s.seed, 2);
    let mut patience = Rng::stream(s.seed, 3);
    let lambda = s.arrivals.rate_per_hour / 3600.0;
    let (end, warmup) = (s.hours * 3600.0, s.warmup_hours * 3600.0);
    let mut free = vec![0u64; servers];
    let mut r = Reference {
        offered: 0,
        answered: 0,
        abandoned: 0,
        waited: 0,
        time_in_queue: 0.0,
    };
    let mut t = 0.0;
    loop {
        t += arrivals.exponential(1.0) / lambda;
        if t >= end {
            break;
        }
        let at = us(t);
        let handle = us(s.handling.duration.sample(&mut handling)).max(1);
        let limit = s.patience.map(|p| us(p.sample(&mut patience)));
        let (k, &first_free) = free.iter().enumerate().min_by_key(|(_, f)| **f).unwrap();
        let start = first_free.max(at);
        let gives_up = limit.is_some_and(|p| start - at > p);
        if !gives_up {
            free[k] = start + handle;
        }
        if t < warmup {
            continue;
        }
        r.offered += 1;
        if gives_up {
            r.abandoned += 1;
            r.waited += 1;
            r.time_in_queue += limit.unwrap_or(0) as f64 / 1e6;
        } else {
            r.answered += 1;
            r.waited += u64::from(start > at);
            r.time_in_queue += (start - at) as f64 / 1e6;
        }
    }
    r
}

fn compare(s: Scenario, servers: usize) -> Report {
    let expected = reference(&s, servers);
    let report = Simulation::builtin(s, "automatic").unwrap().run().unwrap();
    assert_eq!(report.chats.offered, expected.offered);
    assert_eq!(report.chats.answered, expected.answered);
    assert_eq!(report.chats.abandoned, expected.abandoned);
    let n = expected.offered as f64;
    assert!((report.p_wait - expected.waited as f64 / n).abs() < 1e-12);
    let mean = expected.time_in_queue / n;
    assert!(
        (report.mean_time_in_queue_seconds - mean).abs() < 1e-6 * mean.max(1.0),
        "{} vs {mean}",
        report.mean_time_in_queue_seconds
    );
    report
}

#[test]
fn the_engine_is_a_first_come_first_served_queue_with_n_servers() {
    let mut s = Scenario::erlang(50, 540.0, 300.0).with_seed(4);
    s.hours = 24.0;
    s.handling.message_gap_seconds = chatio_sim::MAX_MESSAGE_GAP_SECONDS;
    let r = compare(s, 50);
    assert!(r.p_wait > 0.2);
}

#[test]
fn with_impatient_customers_and_several_slots_too() {
    // Three slots per agent are three servers: a chat takes as long however many its agent has.
    let mut s = Scenario::erlang(4, 160.0, 240.0)
        .with_patience(Distribution::Exponential { mean: 60.0 })
        .with_seed(9);
    s.teams[0].max_chats = 3;
    s.hours = 24.0;
    s.handling.message_gap_seconds = chatio_sim::MAX_MESSAGE_GAP_SECONDS;
    let r = compare(s, 12);
    assert!(r.chats.abandoned > 50);
}
