//! Shared by the theory tests: run sizes, and the table they print.

#![allow(dead_code)]

/// Whether the long runs were asked for (`CHATIO_SIM_LONG=1`).
pub fn long() -> bool {
    std::env::var("CHATIO_SIM_LONG").is_ok_and(|v| v.trim() == "1")
}

/// Customers per point: `short` by default (a few seconds in a debug build), `long` with
/// `CHATIO_SIM_LONG=1`. The reduced run asserts the same things; only the intervals are wider.
pub fn customers(short: u32, long_run: u32) -> u32 {
    if long() { long_run } else { short }
}

/// The confidence of each interval so that a family of `checks` holds at 95 % together
/// (Bonferroni): with many checks, some 95 % intervals miss by chance alone.
pub fn family_confidence(checks: usize) -> f64 {
    1.0 - 0.05 / checks as f64
}

/// One line of the measured-vs-theory table.
pub fn line(
    point: &str,
    figure: &str,
    e: &chatio_sim::Estimate,
    theory: f64,
    confidence: f64,
) -> bool {
    let (lo, hi) = e.interval(confidence);
    let in95 = e.contains(theory, 0.95);
    let ok = lo <= theory && theory <= hi;
    println!(
        "| {point} | {figure} | {:.4} ± {:.4} | {theory:.4} | {} | {} |",
        e.mean,
        e.half_width_95,
        if in95 { "yes" } else { "no" },
        if ok { "yes" } else { "NO" },
    );
    ok
}

pub fn header(confidence: f64) {
    println!(
        "| point | figure | simulated (95 % CI) | theory | in 95 % CI | in {:.2} % CI |",
        confidence * 100.0
    );
    println!("| --- | --- | --- | --- | :-: | :-: |");
}
