//! Erlang C: with one chat per agent, Poisson arrivals, exponential handling and customers who
//! never give up, the simulated centre (the real engine and its automatic router) is an M/M/n
//! queue. The measured chance of waiting and mean wait must agree with the formulas.

mod common;

use chatio_sim::erlang::ErlangC;
use chatio_sim::{Scenario, Simulation};

const MEAN_HANDLE: f64 = 300.0;

/// (agents, occupancy): from a single agent to a large team, light to heavy traffic.
const POINTS: [(u32, f64); 4] = [(1, 0.6), (5, 0.8), (20, 0.9), (50, 0.9)];

#[test]
fn waiting_probability_and_mean_wait_agree_with_erlang_c() {
    let confidence = common::family_confidence(POINTS.len() * 2);
    println!(
        "Erlang C, mean handling {MEAN_HANDLE} s, runs per point: {:?}",
        common::runs(0)
    );
    common::header(confidence);
    let mut failures = Vec::new();
    for (i, (agents, rho)) in POINTS.into_iter().enumerate() {
        let rate_per_hour = rho * f64::from(agents) * 3600.0 / MEAN_HANDLE;
        let theory = ErlangC::new(agents, rate_per_hour / 3600.0, MEAN_HANDLE).unwrap();
        let point = format!("n={agents}, ρ={rho}");
        let (mut p_wait, mut mean_wait) = (Vec::new(), Vec::new());
        for (seed, customers) in common::runs(i) {
            let mut scenario = Scenario::erlang(agents, rate_per_hour, MEAN_HANDLE).with_seed(seed);
            scenario.warmup_hours = (2000.0 / rate_per_hour).max(2.0);
            scenario.hours = scenario.warmup_hours + f64::from(customers) / rate_per_hour;
            scenario.drain_hours = 48.0;
            // Messages do not move a chat's end; fewer of them make the test quicker.
            scenario.handling.message_gap_seconds = chatio_sim::MAX_MESSAGE_GAP_SECONDS;
            let report = Simulation::builtin(scenario, "automatic")
                .unwrap()
                .run()
                .unwrap();
            let e = &report.estimates;

            // Nobody gives up, so every chat is answered and the engine never moved one.
            assert_eq!(report.chats.abandoned, 0);
            assert_eq!(report.chats.unresolved, 0);
            assert_eq!(report.engine.reassigned + report.engine.unassigned, 0);
            let n = report.chats.offered as f64;
            assert!(
                (n - f64::from(customers)).abs() < 5.0 * n.sqrt(),
                "{n} customers"
            );
            // Occupancy is the offered load per agent.
            assert!(
                (report.occupancy - rho).abs() < 0.03,
                "{point}: {}",
                report.occupancy
            );
            p_wait.push(e.p_wait);
            mean_wait.push(e.mean_time_in_queue);
        }
        if !common::check(&point, "P(wait)", &p_wait, theory.p_wait, confidence, 0.08) {
            failures.push(format!("{point}: P(wait)"));
        }
        if !common::check(
            &point,
            "mean wait (s)",
            &mean_wait,
            theory.mean_wait,
            confidence,
            0.35 * theory.mean_wait,
        ) {
            failures.push(format!("{point}: mean wait"));
        }
    }
    assert!(failures.is_empty(), "outside the interval: {failures:?}");
}
