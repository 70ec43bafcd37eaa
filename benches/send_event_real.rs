//! `send_event` as licenses really run it, beside the narrow case of `benches/send_event.rs`, in
//! one process so that their ratio comes from one run.
//!
//! * `real/N`: the automatic router; 100 agents online and accepting, with slots for twice the
//!   chats; every event carries a `custom_id` of its own (20 bytes); customer and agent
//!   messages (50 bytes) alternate on chats picked uniformly at random, the agent being the
//!   chat's assignee; one chat in ten is scoped to a group that half the agents belong to;
//!   journal on (the default mode). N = 1 000 and 1 000 000 open chats.
//! * `narrow/N`: the existing bench's case: no router, one agent, plain agent messages, no
//!   `custom_id`, unscoped chats, journal on.
//! * `adversarial_custom_id/N`: a customer sends events whose `custom_id`s share a 240-byte
//!   prefix into one chat that already holds N such events (N = 1 000, 10 000 and 100 000): the cost
//!   of a send must not grow with N.
//!
//! What the timer covers and what it does not is as in `benches/send_event.rs`: the calls and
//! the drop of their `Output`, not the picks, the building of the `NewEvent`s (custom ids
//! included) nor the resets. Resets come after 100 sends per chat (at most 2 000 000 sends), so
//! threads have the length of real ones, 50 events on average at 1 000 chats, where
//! `benches/send_event.rs` lets them reach 2 000. The licenses and the loop are in
//! `benches/support/send_mix.rs`; results and profiles are in `benches/README.md`.
//!
//! ```sh
//! cargo bench --bench send_event_real                 # everything, a few minutes
//! cargo bench --bench send_event_real -- '/1000$'     # the 1 000-chat cases only
//! ```

#[path = "support/send_mix.rs"]
mod send_mix;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chatio::journal::JournalMode;
use chatio::routing::AutomaticRouter;
use chatio::{Agent, ChatId, Engine, EngineConfig, Limits, NewEvent, StartChat, Timestamp, UserId};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

use send_mix::{License, Mix, Run};

/// Sends per chat after which a run's engine is put back to the license as built (see
/// `Run::new`), so that threads keep the length of real ones: 100 events at most, about 50 on
/// average (a chat of a live-chat license has tens of messages, not thousands).
const RESET_PER_CHAT: u64 = 100;
/// And at most this many sends, which bounds memory: 2 000 000 sends at a million chats, two
/// per chat, as `benches/send_event.rs` does.
const RESET_AT_MOST: u64 = 2_000_000;

fn run_for(mix: Mix, chats: usize) -> Run {
    let built = Instant::now();
    let license = License::new(mix, chats, JournalMode::Output);
    let built = built.elapsed();
    let reset_after = (RESET_PER_CHAT * chats as u64).min(RESET_AT_MOST);
    let mut run = Run::new(license, reset_after);
    run.check();
    // One untimed cycle, so that measured sends reuse memory already touched once (see
    // `benches/README.md`, first-touch page faults).
    let primed = Instant::now();
    run.run(reset_after);
    run.reset();
    eprintln!(
        "{mix:?}/{chats}: license built in {built:.1?}, allocator primed in {:.1?}",
        primed.elapsed()
    );
    run
}

fn mixes(c: &mut Criterion) {
    let mut group = c.benchmark_group("send_event_real");
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(10));
    for chats in [1_000, 1_000_000] {
        for (name, mix) in [("narrow", Mix::Narrow), ("real", Mix::Real)] {
            // Built on first use, so a filter that skips this case skips its setup too.
            let mut run: Option<Run> = None;
            group.bench_function(BenchmarkId::new(name, chats), |b| {
                let run = run.get_or_insert_with(|| run_for(mix, chats));
                b.iter_custom(|iters| run.run(iters));
            });
        }
    }
    group.finish();
}

/// One chat of a license with the automatic router, and its customer.
struct Crowded {
    engine: Engine,
    customer: UserId,
    chat: ChatId,
    /// Custom ids used so far.
    sent: u64,
}

/// A custom id that shares its first 240 bytes with every other one: what an ordered index of
/// strings compares in full at every level, and what an unkeyed hash of the first bytes would
/// send to one bucket.
fn adversarial(n: u64) -> String {
    format!("{}{n:016}", "x".repeat(240))
}

impl Crowded {
    fn new(prefilled: u64) -> Self {
        // One chat holds up to 120 000 events here, past the default `events_per_thread`: the
        // case is an attack on the index, which a license's limits would otherwise cut short.
        let mut limits = Limits::default();
        limits.events_per_thread = u32::MAX;
        let mut engine = Engine::new(EngineConfig::with_seed(0xad).limits(limits));
        engine.set_router(Arc::new(AutomaticRouter::default()));
        let agent = UserId::new("agent@example.com").expect("valid user id");
        let t0 = Timestamp::from_unix_seconds(send_mix::T0);
        engine
            .add_agent(Agent::new(agent.clone(), "Agent"))
            .expect("agent added");
        drop(
            engine
                .set_agent_presence(&agent, true, t0)
                .expect("agent online"),
        );
        let customer = engine.create_customer();
        let chat = engine
            .as_customer(&customer, t0)
            .expect("customer exists")
            .start_chat(StartChat::default().with_event(NewEvent::message("hi")))
            .expect("chat started")
            .response
            .id;
        engine.set_journal_mode(JournalMode::Output);
        let mut crowded = Crowded {
            engine,
            customer,
            chat,
            sent: 0,
        };
        let events = |e: &Engine| e.chat(&chat).expect("chat exists").threads[0].events.len();
        let before = events(&crowded.engine);
        crowded.send(prefilled);
        assert_eq!(events(&crowded.engine) - before, prefilled as usize);
        crowded
    }

    /// `n` sends, each with a new adversarial custom id; returns the time they took.
    fn send(&mut self, n: u64) -> Duration {
        let events: Vec<NewEvent> = (self.sent..self.sent + n)
            .map(|i| NewEvent::message(send_mix::CUSTOMER_TEXT).with_custom_id(adversarial(i)))
            .collect();
        self.sent += n;
        let now = Timestamp::from_unix_seconds(send_mix::T0);
        let start = Instant::now();
        for event in events {
            let out = self
                .engine
                .as_customer(&self.customer, now)
                .expect("customer exists")
                .send_event(self.chat, event)
                .expect("event sent");
            drop(black_box(out));
        }
        start.elapsed()
    }
}

fn adversarial_custom_ids(c: &mut Criterion) {
    let mut group = c.benchmark_group("adversarial_custom_id");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(5));
    for prefilled in [1_000u64, 10_000, 100_000] {
        let mut crowded: Option<(Crowded, Engine)> = None;
        group.bench_function(BenchmarkId::from_parameter(prefilled), |b| {
            let (crowded, pristine) = crowded.get_or_insert_with(|| {
                let c = Crowded::new(prefilled);
                let pristine = c.engine.clone();
                (c, pristine)
            });
            b.iter_custom(|iters| {
                // Back to N events now and then, so that the chat stays at its size.
                let mut timed = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(1_000);
                    if crowded.sent >= prefilled + 20_000 {
                        crowded.engine = pristine.clone();
                        crowded.sent = prefilled;
                    }
                    timed += crowded.send(n);
                    left -= n;
                }
                timed
            });
        });
    }
    group.finish();
}

criterion_group!(benches, mixes, adversarial_custom_ids);
criterion_main!(benches);
