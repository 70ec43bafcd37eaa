//! `send_event`: an agent sends a message into the active thread of a chat picked uniformly at
//! random, in a license with one agent and one customer per chat, at 1 000 and 1 000 000 open
//! chats.
//!
//! What the timer covers, per iteration: `Engine::as_agent`, `AgentApi::send_event` (lookup,
//! access check, the stored event, both pushes) and dropping the returned `Output` after
//! `black_box`. What it does not cover: drawing the random chat (a precomputed list, read in
//! order), building the `NewEvent` (made in batches between timed stretches, like a host that has
//! already parsed the request) and restoring the engine from its pristine copy, which keeps
//! memory bounded (see `RESET_AFTER`). The license and the loop are `Mix::Narrow` of
//! `benches/support/send_mix.rs`, shared with `benches/send_event_real.rs`.
//!
//! Each size runs twice: `chats/N` with the journal as it is by default (each `Output` carries
//! the call's journal record, a copy of the request), and `chats_journal_off/N` with
//! `JournalMode::Off`, as a host that never persists would run it.
//!
//! Setup, once per size and only if the size is selected: the license (a few seconds at
//! 1 000 000 chats), a check that the measured call does what is described above, and one untimed
//! cycle of sends that warms the allocator. See `benches/README.md` for results and profiles.
//!
//! ```sh
//! cargo bench --bench send_event                      # both sizes, about two minutes
//! cargo bench --bench send_event -- 'chats/1000$'     # the small one only
//! cargo bench --bench send_event -- '/1000$'          # the small one, journal on and off
//! ```

#[path = "support/send_mix.rs"]
mod send_mix;

use std::time::{Duration, Instant};

use chatio::journal::JournalMode;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

use send_mix::{License, Mix, Run};

/// The open chats of each benchmark.
const SIZES: [usize; 2] = [1_000, 1_000_000];
/// Sends after which the engine is put back to its pristine copy, outside the timer. Every send
/// keeps about 150 bytes (its packed record and its place in the thread), and criterion runs
/// tens of millions of iterations at 1 000 chats, so without this the threads would grow by
/// gigabytes. Between resets a thread of the 1 000-chat license reaches about 2 000 events, one
/// of the 1 000 000-chat license about 3.
const RESET_AFTER: u64 = 2_000_000;

/// One size's license, its sends set up and checked, and one untimed cycle run so that measured
/// sends reuse memory already touched once (see `benches/README.md`, first-touch page faults).
fn bench(chats: usize, journal: JournalMode) -> Run {
    let built = Instant::now();
    let mut run = Run::new(License::new(Mix::Narrow, chats, journal), RESET_AFTER);
    let built = built.elapsed();
    run.check();
    let primed = Instant::now();
    run.run(RESET_AFTER);
    run.reset();
    eprintln!(
        "send_event/{chats} chats ({journal:?} journal): license built in {built:.1?}, allocator primed in {:.1?}",
        primed.elapsed()
    );
    run
}

fn send_event(c: &mut Criterion) {
    let mut group = c.benchmark_group("send_event");
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(10));
    for chats in SIZES {
        for (name, journal) in [
            ("chats", JournalMode::Output),
            ("chats_journal_off", JournalMode::Off),
        ] {
            // Built on first use, so a filter that skips this case skips its setup too.
            let mut run: Option<Run> = None;
            group.bench_function(BenchmarkId::new(name, chats), |b| {
                let run = run.get_or_insert_with(|| bench(chats, journal));
                b.iter_custom(|iters| run.run(iters));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, send_event);
criterion_main!(benches);
