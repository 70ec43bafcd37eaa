//! Shared by the theory tests: run sizes, seeds, and the measured-vs-theory table.

#![allow(dead_code)]

use chatio_sim::Estimate;

/// Whether the long runs were asked for (`CHATIO_SIM_LONG=1`).
pub fn long() -> bool {
    std::env::var("CHATIO_SIM_LONG").is_ok_and(|v| v.trim() == "1")
}

/// The runs of one point, as (seed, customers): by default one run of 30 000 customers (a few
/// seconds in a debug build); with `CHATIO_SIM_LONG=1`, ten independent runs of 40 000. The
/// seeds are fixed by the point's number, chosen before any run.
pub fn runs(point: usize) -> Vec<(u64, u32)> {
    if long() {
        (0..10)
            .map(|r| (1000 * (point as u64 + 1) + r, 40_000))
            .collect()
    } else {
        vec![(point as u64 + 1, 30_000)]
    }
}

/// The confidence of each interval so that a family of `checks` holds at 95 % together
/// (Bonferroni): with many checks, some 95 % intervals miss by chance alone.
pub fn family_confidence(checks: usize) -> f64 {
    1.0 - 0.05 / checks as f64
}

pub fn header(confidence: f64) {
    println!(
        "| point | figure | simulated (95 % CI) | theory | in 95 % CI | in {:.2} % CI |",
        confidence * 100.0
    );
    println!("| --- | --- | --- | --- | :-: | :-: |");
}

/// Checks one figure of one point and prints its line of the table.
///
/// With one run, the theory must lie in the run's batch-means interval at `confidence`. With
/// several independent runs, two things: the theory lies in the interval of the runs' mean
/// (Student's t over the runs, which are independent), and each run's own 95 % batch-means
/// interval covers it in at least 7 runs out of 10 (a calibrated interval covers it in 9.5 on
/// average; 6 or fewer happens by chance about once in a thousand).
///
/// The interval that decides must also be narrow: its 95 % half-width at most `precision`,
/// or the check would pass for lack of evidence.
pub fn check(
    point: &str,
    figure: &str,
    runs: &[Estimate],
    theory: f64,
    confidence: f64,
    precision: f64,
) -> bool {
    let (e, coverage) = match runs {
        [one] => (*one, None),
        _ => {
            let means: Vec<f64> = runs.iter().map(|e| e.mean).collect();
            let covered = runs.iter().filter(|e| e.contains(theory, 0.95)).count();
            (
                Estimate::batch_means(&means, means.len() as u32),
                Some(covered),
            )
        }
    };
    assert!(
        e.half_width_95 <= precision,
        "{point}, {figure}: the interval ±{} is wider than ±{precision}",
        e.half_width_95
    );
    let ok_interval = e.contains(theory, confidence);
    let ok_coverage = coverage.is_none_or(|c| 10 * c >= 7 * runs.len());
    let coverage_note = coverage.map_or(String::new(), |c| {
        format!(" ({c}/{} runs cover it)", runs.len())
    });
    println!(
        "| {point} | {figure} | {:.4} ± {:.4} | {theory:.4} | {}{coverage_note} | {} |",
        e.mean,
        e.half_width_95,
        if e.contains(theory, 0.95) {
            "yes"
        } else {
            "no"
        },
        if ok_interval { "yes" } else { "NO" },
    );
    ok_interval && ok_coverage
}
