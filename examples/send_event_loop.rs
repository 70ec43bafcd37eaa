//! The `send_event` benches' loop without criterion around it: for A/B comparisons of two
//! builds that need more runs, or more build configurations, than criterion makes practical.
//!
//! ```sh
//! cargo run --release --example send_event_loop -- 1000 100000 on real
//! #                                               chats sends  journal mix
//! ```
//!
//! `journal` is `on`, `off` or `hold`; `mix` is `narrow` (the case of `benches/send_event.rs`:
//! no router, one agent, plain agent messages) or `real` (the case of
//! `benches/send_event_real.rs`: the automatic router, 100 agents, customer and agent messages
//! alternating, a `custom_id` on each, one chat in ten scoped). The license and the loop are the
//! benches' own (`benches/support/send_mix.rs`). It runs two passes from the license as built
//! and prints the second pass's mean time per send, so the first one warms the allocator the way
//! the benches' untimed cycle does.
//!
//! One run's figure moves with the machine; `benches/README.md` (round four) describes the
//! method used there: alternate the two binaries several times and compare medians.

#[path = "../benches/support/send_mix.rs"]
mod send_mix;

use chatio::journal::JournalMode;
use send_mix::{License, Mix, Run};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let chats: usize = args.first().map_or(Ok(1_000), |s| s.parse())?;
    let sends: u64 = args.get(1).map_or(Ok(2_000_000), |s| s.parse())?;
    let journal = match args.get(2).map_or("on", String::as_str) {
        "on" => JournalMode::Output,
        "off" => JournalMode::Off,
        "hold" => JournalMode::Hold,
        other => return Err(format!("journal mode {other:?}: expected on, off or hold").into()),
    };
    let mix = match args.get(3).map_or("narrow", String::as_str) {
        "narrow" => Mix::Narrow,
        "real" => Mix::Real,
        other => return Err(format!("mix {other:?}: expected narrow or real").into()),
    };
    if chats == 0 {
        return Err("at least one chat is needed".into());
    }
    let license = License::new(mix, chats, journal);
    // Each pass starts from the license as built; the run resets only between passes.
    let mut run = Run::new(license, u64::MAX);
    run.check();
    let mut last = std::time::Duration::ZERO;
    for _pass in 0..2 {
        run.reset();
        last = run.run(sends);
        if journal == JournalMode::Hold {
            drop(run.engine.take_journal());
        }
    }
    println!(
        "{:.1} ns/send ({chats} chats, journal {journal:?}, {mix:?})",
        last.as_nanos() as f64 / sends.max(1) as f64
    );
    // Under a profiler, the engine's drop at the end would take a good share of the samples.
    if std::env::var_os("CHATIO_NO_DROP").is_some() {
        std::process::exit(0);
    }
    Ok(())
}
