//! Routing benchmarks.
//!
//! * `assign`: a customer writes to a chat whose thread was closed, which starts a thread, routes
//!   it and assigns it (the `send_event` call, pushes included), with 10 and 10 000 agents online.
//!   The target: the 10 000-agent median at most twice the 10-agent one.
//! * `tick`: `Engine::tick` with 1 000 000 scheduled timers, none due. Target: at most 100 ns.
//!
//! Keeping `assign` in a steady state: the engine holds `CHATS` closed chats, one per customer.
//! Each measured call starts a thread in the next chat, in a fixed order; once every chat has
//! one, all threads are closed again outside the timing, which gives every agent its slots back.
//! With all agents equal and the same order every round, each chat goes to the same agent every
//! round (checked in setup), so the agent is already in the chat and every call does the same
//! work. Every few rounds the engine is replaced by a clone of the prepared one so that the
//! closed threads piling up in each chat stay few. Outputs are kept and dropped outside the
//! timing.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chatio::routing::{AutomaticRouter, LeastLoadedRouter, RoundRobinRouter, Router};
use chatio::{
    Agent, ChatId, Engine, EngineConfig, NewEvent, Output, PushAudience, SentEvent, StartChat,
    Timestamp, UserId,
};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

/// Seconds since the epoch at which everything happens.
const T0: i64 = 1_700_000_000;
/// Chats in the `assign` engine; a multiple of every agent count, so rounds repeat exactly.
const CHATS: usize = 10_000;
/// Rounds over all chats before the engine is reset to the prepared one.
const ROUNDS_PER_RESET: usize = 8;
/// Calls timed together (their outputs are dropped after the clock stops).
const SEGMENT: usize = 100;
/// Big enough that no agent fills up (an agent holds at most `CHATS / 10` chats at once), small
/// enough that `load + 1` cannot overflow.
const MAX_CHATS: u32 = u32::MAX / 2;

fn agent_id(i: usize) -> UserId {
    UserId::new(&format!("agent{i}@example.com")).expect("valid agent id")
}

/// The engine of one `assign` benchmark, with its chats and where the run is.
struct AssignState {
    template: Engine,
    engine: Engine,
    chats: Vec<(UserId, ChatId)>,
    now: Timestamp,
    cursor: usize,
    rounds: usize,
}

impl AssignState {
    fn new(agents: usize, router: Arc<dyn Router>, audience: PushAudience) -> Self {
        assert_eq!(
            CHATS % agents,
            0,
            "rounds repeat only if agents divide CHATS"
        );
        let now = Timestamp::from_unix_seconds(T0);
        let config = EngineConfig::with_seed(7).push_audience(audience);
        let mut engine = Engine::new(config);
        engine.set_router(router);
        for i in 0..agents {
            let id = agent_id(i);
            engine
                .add_agent(Agent::new(id.clone(), format!("Agent {i}")).with_max_chats(MAX_CHATS))
                .expect("add agent");
            let out = engine.set_agent_presence(&id, true, now).expect("online");
            assert!(out.pushes.is_empty(), "nothing waits yet");
        }
        // Start every chat before closing any, in the order the rounds use, so that each chat
        // meets its round's agent here already.
        let mut chats = Vec::with_capacity(CHATS);
        for _ in 0..CHATS {
            let customer = engine.create_customer();
            let out = engine
                .as_customer(&customer, now)
                .expect("customer")
                .start_chat(StartChat::default().with_event(NewEvent::message("Hello")))
                .expect("start chat");
            chats.push((customer, out.response.id));
        }
        let mut state = Self {
            template: Engine::default(),
            engine,
            chats,
            now,
            cursor: CHATS,
            rounds: 0,
        };
        let first = state.assignees();
        state.close_all();
        // One measured-style round, checked: every chat assigned to the agent it had before, and
        // that agent the only one in it.
        state.cursor = 0;
        let mut outputs = Vec::with_capacity(SEGMENT);
        while state.cursor < CHATS {
            state.run_segment(SEGMENT, &mut outputs);
            outputs.clear();
        }
        let second = state.assignees();
        assert!(second.iter().all(Option::is_some), "every chat assigned");
        assert_eq!(
            first, second,
            "each chat goes to the same agent every round"
        );
        for (_, chat) in &state.chats {
            assert_eq!(state.engine.chat(chat).expect("chat").agent_ids.len(), 1);
        }
        state.close_all();
        for i in 0..agents {
            let status = state.engine.agent_status(&agent_id(i)).expect("agent");
            assert!(status.is_available() && status.load == 0);
        }
        state.template = state.engine.clone();
        state.cursor = 0;
        state.rounds = 0;
        state
    }

    fn assignees(&self) -> Vec<Option<UserId>> {
        self.chats
            .iter()
            .map(|(_, chat)| {
                self.engine
                    .chat(chat)
                    .expect("chat")
                    .routing
                    .assignee
                    .clone()
            })
            .collect()
    }

    /// Closes every chat's thread (untimed), and now and then resets the engine.
    fn close_all(&mut self) {
        for (customer, chat) in &self.chats {
            let out = self
                .engine
                .as_customer(customer, self.now)
                .expect("customer")
                .close_thread(*chat)
                .expect("close thread");
            drop(out);
        }
        self.cursor = 0;
        self.rounds += 1;
        if self.rounds == ROUNDS_PER_RESET {
            self.engine = self.template.clone();
            self.rounds = 0;
        }
    }

    /// Starts a thread in each of the next `n` chats (at most up to the end of the round), and
    /// returns how long that took and how many calls it made.
    fn run_segment(&mut self, n: usize, outputs: &mut Vec<Output<SentEvent>>) -> (Duration, usize) {
        let end = (self.cursor + n).min(CHATS);
        let events: Vec<NewEvent> = (self.cursor..end)
            .map(|_| NewEvent::message("Me again"))
            .collect();
        let chats = &self.chats[self.cursor..end];
        let engine = &mut self.engine;
        let now = self.now;
        let start = Instant::now();
        for ((customer, chat), event) in chats.iter().zip(events) {
            let out = engine
                .as_customer(black_box(customer), now)
                .expect("customer")
                .send_event(black_box(*chat), event)
                .expect("send event");
            outputs.push(black_box(out));
        }
        let elapsed = start.elapsed();
        let done = end - self.cursor;
        self.cursor = end;
        (elapsed, done)
    }

    fn measure(&mut self, iters: u64) -> Duration {
        let mut outputs = Vec::with_capacity(SEGMENT);
        let mut total = Duration::ZERO;
        let mut left = usize::try_from(iters).expect("iteration count fits usize");
        while left > 0 {
            if self.cursor == CHATS {
                self.close_all();
            }
            let (elapsed, done) = self.run_segment(left.min(SEGMENT), &mut outputs);
            total += elapsed;
            left -= done;
            outputs.clear();
        }
        total
    }
}

fn bench_assign(c: &mut Criterion) {
    let mut group = c.benchmark_group("assign");
    group.sample_size(30);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));

    type MakeRouter = fn() -> Arc<dyn Router>;
    let variants: [(&str, MakeRouter, PushAudience); 4] = [
        // The benchmark: the default router and configuration.
        (
            "",
            || Arc::new(AutomaticRouter::default()),
            PushAudience::AllAgents,
        ),
        (
            "least_loaded",
            || Arc::new(LeastLoadedRouter),
            PushAudience::AllAgents,
        ),
        (
            "round_robin",
            || Arc::new(RoundRobinRouter),
            PushAudience::AllAgents,
        ),
        // The default router with pushes only to the chat's agents: routing without the
        // broadcast of `incoming_chat_thread` and the system message to every agent.
        (
            "chat_agents_only",
            || Arc::new(AutomaticRouter::default()),
            PushAudience::ChatAgentsOnly,
        ),
    ];
    for (name, router, audience) in variants {
        for agents in [10, 10_000] {
            let parameter = format!("agents/{agents}");
            let id = if name.is_empty() {
                BenchmarkId::from_parameter(parameter)
            } else {
                BenchmarkId::new(name, parameter)
            };
            let mut state = AssignState::new(agents, router(), audience);
            group.bench_function(id, |b| b.iter_custom(|iters| state.measure(iters)));
        }
    }
    group.finish();
}

/// One agent online with 1 000 000 assigned chats, each with an unseen customer message and so
/// a scheduled timer; returns the engine and a time before the first deadline.
fn tick_engine() -> (Engine, Timestamp) {
    const TIMERS: usize = 1_000_000;
    let config = EngineConfig::with_seed(11).max_chats_per_customer(None);
    let mut engine = Engine::new(config);
    engine.set_router(Arc::new(AutomaticRouter::default()));
    let anna = agent_id(0);
    engine
        .add_agent(Agent::new(anna.clone(), "Anna").with_max_chats(MAX_CHATS))
        .expect("add agent");
    let t0 = Timestamp::from_unix_seconds(T0);
    let out = engine.set_agent_presence(&anna, true, t0).expect("online");
    assert!(out.pushes.is_empty());
    let customer = engine.create_customer();
    // Spread over 250 s, so the deadlines (5 minutes after each message) differ.
    for i in 0..TIMERS {
        let at = t0 + (i / 4_000) as i64;
        let out = engine
            .as_customer(&customer, at)
            .expect("customer")
            .start_chat(StartChat::default().with_event(NewEvent::message("Hello")))
            .expect("start chat");
        drop(out);
    }
    let status = engine.agent_status(&anna).expect("agent");
    assert_eq!(status.load as usize, TIMERS, "every chat assigned");
    let now = t0 + 290;
    let next = engine.next_deadline().expect("timers scheduled");
    assert!(next > now, "no timer due at {now}: next is {next}");
    assert!(engine.now() <= now);
    (engine, now)
}

fn bench_tick(c: &mut Criterion) {
    let (mut engine, now) = tick_engine();
    let before = engine.next_deadline();
    let mut group = c.benchmark_group("tick");
    group.sample_size(50);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("timers/1000000", |b| {
        b.iter(|| black_box(engine.tick(black_box(now))));
    });
    group.finish();
    assert_eq!(engine.next_deadline(), before, "nothing fired");
    assert!(engine.tick(now).pushes.is_empty());
}

criterion_group!(benches, bench_assign, bench_tick);
criterion_main!(benches);
