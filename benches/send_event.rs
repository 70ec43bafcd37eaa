//! `send_event`: an agent sends a message into the active thread of a chat picked uniformly at
//! random, in a license with one agent and one customer per chat, at 1 000 and 1 000 000 open
//! chats.
//!
//! What the timer covers, per iteration: `Engine::as_agent`, `AgentApi::send_event` (lookup,
//! access check, the stored event, both pushes) and dropping the returned `Output` after
//! `black_box`. What it does not cover: drawing the random chat (a precomputed list, read in
//! order), building the `NewEvent` (made in batches between timed stretches, like a host that has
//! already parsed the request) and restoring the engine from its pristine copy, which keeps
//! memory bounded (see `RESET_AFTER`).
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

use std::hint::black_box;
use std::time::{Duration, Instant};

use chatio::journal::JournalMode;
use chatio::{
    Agent, ChatId, Engine, EngineConfig, NewEvent, PushKind, Role, StartChat, Timestamp, UserId,
};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

/// The open chats of each benchmark.
const SIZES: [usize; 2] = [1_000, 1_000_000];
/// The moment the license is set up (2023-11-14T22:13:20Z); the clock moves one second per
/// 1 000 sends from here.
const T0: i64 = 1_700_000_000;
/// How many random chat picks are precomputed; the list is cycled (16 MiB of ids).
const PICKS: usize = 1 << 20;
/// How many sends one timed stretch holds: their events are built before the timer starts.
const BATCH: usize = 1_024;
/// Sends after which the engine is put back to its pristine copy, outside the timer. Every send
/// keeps about 300 bytes (the shared event, its text, its slot in the thread), and criterion runs
/// tens of millions of iterations at 1 000 chats, so without this the threads would grow by
/// gigabytes; with it a cycle holds about 600 MB. Between resets a thread of the 1 000-chat
/// license reaches about 2 000 events, one of the 1 000 000-chat license about 3.
const RESET_AFTER: u64 = 2_000_000;
/// The agent's message.
const TEXT: &str = "Thanks for waiting, I am checking your order now.";

/// xorshift64 (Marsaglia 2003): tiny, seeded, good enough to pick chats.
struct XorShift64(u64);

impl XorShift64 {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n`, by multiply-shift (bias below 2^-40 for these sizes).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

/// One size's license and everything the timed loop needs.
struct Bench {
    /// The license as set up, never sent to: what `engine` is reset to.
    pristine: Engine,
    engine: Engine,
    agent: UserId,
    /// Chat ids in a uniformly random order, with repeats.
    picks: Vec<ChatId>,
    /// The next pick to use.
    next_pick: usize,
    /// Sends since the start; the clock is `T0 + sent / 1000`.
    sent: u64,
    /// Sends since `engine` was last reset.
    since_reset: u64,
    /// The events of the next timed stretch.
    events: Vec<NewEvent>,
}

impl Bench {
    /// One agent; `chats` customers, each of whom starts one chat with a message.
    fn new(chats: usize, journal: JournalMode) -> Self {
        let built = Instant::now();
        let mut engine = Engine::new(EngineConfig::with_seed(0x5eed));
        engine.set_journal_mode(journal);
        let agent = UserId::new("agent@example.com").expect("valid user id");
        engine
            .add_agent(Agent::new(agent.clone(), "Agent"))
            .expect("agent added");
        let t0 = Timestamp::from_unix_seconds(T0);
        let mut chat_ids = Vec::with_capacity(chats);
        for _ in 0..chats {
            let customer = engine.create_customer();
            let started = engine
                .as_customer(&customer, t0)
                .expect("customer exists")
                .start_chat(StartChat::default().with_event(NewEvent::message("Hi, I need help")))
                .expect("chat started");
            chat_ids.push(started.response.id);
        }
        assert_eq!(engine.chats().len(), chats);

        let mut rng = XorShift64(0x9e37_79b9_7f4a_7c15);
        let picks = (0..PICKS).map(|_| chat_ids[rng.below(chats)]).collect();
        let mut bench = Self {
            engine: engine.clone(),
            pristine: engine,
            agent,
            picks,
            next_pick: 0,
            sent: 0,
            since_reset: 0,
            events: Vec::with_capacity(BATCH),
        };
        let built = built.elapsed();
        bench.check();

        // One untimed cycle, so that the memory a cycle needs has been touched once and freed
        // back to the allocator: measured sends then reuse it, as they do after every reset,
        // instead of paying first-touch page faults (several microseconds each in a VM) in
        // whichever samples happen to come first.
        let primed = Instant::now();
        bench.run(RESET_AFTER);
        bench.reset();
        eprintln!(
            "send_event/{chats} chats ({journal:?} journal): license built in {built:.1?}, allocator primed in {:.1?}",
            primed.elapsed()
        );
        bench
    }

    /// The measured call does what the benchmark says: it lands in the chat's active thread and
    /// pushes `incoming_event` to the agent and to the customer. Runs on the working copy.
    fn check(&mut self) {
        let chat_id = self.picks[0];
        let engine = &mut self.engine;
        let threads = engine.chat(&chat_id).expect("chat exists").threads.len();
        let out = engine
            .as_agent(&self.agent, Timestamp::from_unix_seconds(T0))
            .expect("agent exists")
            .send_event(chat_id, NewEvent::message(TEXT))
            .expect("event sent");
        let chat = engine.chat(&chat_id).expect("chat exists");
        assert_eq!(chat.threads.len(), threads, "no new thread");
        assert_eq!(out.response.thread_id, chat.threads[threads - 1].id);
        assert_eq!(out.pushes.len(), 2, "one push per role");
        assert_eq!(out.pushes[0].role, Role::Agent);
        assert_eq!(out.pushes[1].role, Role::Customer);
        assert!(
            out.pushes
                .iter()
                .all(|p| matches!(p.kind, PushKind::IncomingEvent { .. }))
        );
        self.since_reset += 1;
    }

    /// Puts the engine back to the license as set up, freeing the events sent since.
    fn reset(&mut self) {
        self.engine = self.pristine.clone();
        self.since_reset = 0;
        // Dropping the old engine freed millions of small blocks. glibc's allocator parks them
        // in its fast bins and sorts them out (`malloc_consolidate`) at the next allocation of a
        // large block, which would otherwise be some send's, and stall one sample for up to a
        // second. A 64 KiB allocation makes it happen here, untimed; elsewhere it is harmless.
        drop(black_box(Vec::<u8>::with_capacity(64 * 1024)));
    }

    /// `iters` sends, in timed stretches of at most `BATCH`; returns the time inside them.
    fn run(&mut self, iters: u64) -> Duration {
        let mut timed = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            if self.since_reset >= RESET_AFTER {
                self.reset();
            }
            let n = left.min(BATCH as u64) as usize;
            let n = n.min(self.picks.len() - self.next_pick);
            let picks = &self.picks[self.next_pick..self.next_pick + n];
            self.events.extend((0..n).map(|_| NewEvent::message(TEXT)));

            let engine = &mut self.engine;
            let agent = &self.agent;
            let mut sent = self.sent;
            let start = Instant::now();
            for (&chat_id, event) in picks.iter().zip(self.events.drain(..)) {
                let now = Timestamp::from_unix_seconds(T0 + (sent / 1_000) as i64);
                sent += 1;
                let out = engine
                    .as_agent(agent, now)
                    .expect("agent exists")
                    .send_event(chat_id, event)
                    .expect("event sent");
                drop(black_box(out));
            }
            timed += start.elapsed();

            self.sent = sent;
            self.since_reset += n as u64;
            self.next_pick = (self.next_pick + n) % self.picks.len();
            left -= n as u64;
        }
        timed
    }
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
            let mut bench: Option<Bench> = None;
            group.bench_function(BenchmarkId::new(name, chats), |b| {
                let bench = bench.get_or_insert_with(|| Bench::new(chats, journal));
                b.iter_custom(|iters| bench.run(iters));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, send_event);
criterion_main!(benches);
