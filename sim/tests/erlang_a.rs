//! Erlang A: Erlang C's model with customers who give up after an exponential patience time
//! (M/M/n+M). The simulated centre's chance of waiting, abandonment, mean time in the queue
//! and service level must agree with the formulas, including where the centre is overloaded
//! and only impatience keeps the queue finite.

mod common;

use chatio_sim::erlang::ErlangA;
use chatio_sim::{Distribution, Scenario, Simulation};

const MEAN_HANDLE: f64 = 300.0;

/// (agents, offered load per agent, mean patience in seconds).
const POINTS: [(u32, f64, f64); 3] = [(3, 1.2, 60.0), (10, 1.0, 120.0), (20, 0.95, 300.0)];

#[test]
fn abandonment_wait_and_service_level_agree_with_erlang_a() {
    let confidence = common::family_confidence(POINTS.len() * 4);
    println!(
        "Erlang A, mean handling {MEAN_HANDLE} s, runs per point: {:?}",
        common::runs(0)
    );
    common::header(confidence);
    let mut failures = Vec::new();
    for (i, (agents, rho, patience)) in POINTS.into_iter().enumerate() {
        let rate_per_hour = rho * f64::from(agents) * 3600.0 / MEAN_HANDLE;
        let theory = ErlangA::new(agents, rate_per_hour / 3600.0, MEAN_HANDLE, patience).unwrap();
        let point = format!("n={agents}, ρ={rho}, patience {patience} s");
        let mut estimates: [Vec<_>; 4] = Default::default();
        let mut threshold = 0.0;
        for (seed, customers) in common::runs(i) {
            let mut scenario = Scenario::erlang(agents, rate_per_hour, MEAN_HANDLE)
                .with_patience(Distribution::Exponential { mean: patience })
                .with_seed(seed);
            scenario.warmup_hours = (2000.0 / rate_per_hour).max(2.0);
            scenario.hours = scenario.warmup_hours + f64::from(customers) / rate_per_hour;
            scenario.handling.message_gap_seconds = chatio_sim::MAX_MESSAGE_GAP_SECONDS;
            let report = Simulation::builtin(scenario, "automatic")
                .unwrap()
                .run()
                .unwrap();
            let e = &report.estimates;
            assert_eq!(report.chats.unresolved, 0);
            assert_eq!(report.engine.reassigned + report.engine.unassigned, 0);
            assert!(report.chats.abandoned > 0);
            assert!(
                e.abandonment.half_width_95 < 0.03,
                "{point}: {:?}",
                e.abandonment
            );
            assert!(e.p_wait.half_width_95 < 0.05, "{point}: {:?}", e.p_wait);
            threshold = report.service_level_seconds;
            for (list, e) in estimates.iter_mut().zip([
                e.p_wait,
                e.abandonment,
                e.mean_time_in_queue,
                e.service_level,
            ]) {
                list.push(e);
            }
        }
        let [p_wait, abandonment, in_queue, service_level] = &estimates;
        let checks = [
            ("P(wait)", p_wait, theory.p_wait, 0.05),
            ("P(abandon)", abandonment, theory.p_abandon, 0.03),
            (
                "mean time in queue (s)",
                in_queue,
                theory.mean_wait,
                0.35 * theory.mean_wait,
            ),
            (
                "service level (20 s)",
                service_level,
                theory.service_level(threshold),
                0.05,
            ),
        ];
        for (figure, runs, value, precision) in checks {
            if !common::check(&point, figure, runs, value, confidence, precision) {
                failures.push(format!("{point}: {figure}"));
            }
        }
    }
    assert!(failures.is_empty(), "outside the interval: {failures:?}");
}
