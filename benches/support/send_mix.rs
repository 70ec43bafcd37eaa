//! The licenses and the timed loop of the `send_event` benches, shared by
//! `benches/send_event_real.rs` and `examples/send_event_loop.rs` (which includes this file with
//! `#[path]`, so that a quick A/B driver measures exactly what the bench measures).
//!
//! Two mixes:
//!
//! * [`Mix::Narrow`], the case `benches/send_event.rs` has always measured: no router, one
//!   agent, plain agent messages without a `custom_id`, unscoped chats.
//! * [`Mix::Real`], a license as hosts run it: the automatic router; 100 agents online and
//!   accepting, with slots for twice the chats; every event carries a `custom_id` of its own;
//!   customer and agent messages alternate (the agent is the chat's assignee); one chat in ten
//!   is scoped to a group that half the agents belong to.
//!
//! Both run with the journal as the caller sets it (on, `JournalMode::Output`, by default).

#![allow(dead_code)] // Each includer uses its own part.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chatio::journal::JournalMode;
use chatio::model::{GroupId, Scopes};
use chatio::routing::AutomaticRouter;
use chatio::{
    Agent, ChatId, Engine, EngineConfig, NewEvent, Output, PushKind, Role, SentEvent, StartChat,
    Timestamp, UserId,
};

/// The moment the license is set up (2023-11-14T22:13:20Z); the clock moves one second per
/// 1 000 sends from here.
pub const T0: i64 = 1_700_000_000;
/// How many random picks are precomputed; the list is cycled.
pub const PICKS: usize = 1 << 20;
/// How many sends one timed stretch holds: their events are built before the timer starts.
pub const BATCH: usize = 1_024;
/// The agent's message (50 bytes).
pub const AGENT_TEXT: &str = "Thanks for waiting, I am checking your order now..";
/// The customer's message (50 bytes).
pub const CUSTOMER_TEXT: &str = "My parcel has not arrived yet, can you check it??";
/// Agents of the realistic license.
pub const AGENTS: usize = 100;
/// The group half the agents belong to, and one chat in ten is scoped to.
pub const GROUP: GroupId = GroupId(1);

/// Which license and which calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mix {
    /// No router, one agent, plain agent messages, unscoped chats.
    Narrow,
    /// The automatic router, 100 agents, customer and agent messages alternating, a
    /// `custom_id` on every event, one chat in ten scoped.
    Real,
}

/// xorshift64 (Marsaglia 2003): tiny, seeded, good enough to pick chats.
pub struct XorShift64(pub u64);

impl XorShift64 {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n`, by multiply-shift (bias below 2^-40 for these sizes).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

/// One send: who writes to which chat.
#[derive(Clone)]
pub struct Pick {
    pub chat: ChatId,
    pub sender: UserId,
    pub role: Role,
}

/// A client's own id for its `n`th event: 20 bytes, a counter and a random part, the shape
/// of ids that browser clients make up so that they can retry.
pub fn custom_id(n: u64) -> String {
    let mut x = XorShift64(n.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    format!("{n:08x}-{:011x}", x.next() & 0xfff_ffff_ffff)
}

/// The event of the `n`th send of `pick` in `mix`.
pub fn event(mix: Mix, pick: &Pick, n: u64) -> NewEvent {
    let text = match pick.role {
        Role::Agent => AGENT_TEXT,
        Role::Customer => CUSTOMER_TEXT,
    };
    let event = NewEvent::message(text);
    match mix {
        Mix::Narrow => event,
        Mix::Real => event.with_custom_id(custom_id(n)),
    }
}

/// A license of `chats` open chats in `mix`, and its sends.
pub struct License {
    pub mix: Mix,
    pub engine: Engine,
    /// The sends, in order: chats uniformly at random, with repeats.
    pub picks: Vec<Pick>,
}

/// The agent of the narrow license.
pub fn narrow_agent() -> UserId {
    UserId::new("agent@example.com").expect("valid user id")
}

fn agent_id(i: usize) -> UserId {
    UserId::new(&format!("agent{i:03}@example.com")).expect("valid user id")
}

/// The license of `mix` with its agents (and router) but no customer yet; for `Mix::Real` the
/// agents have slots for twice `chats`.
pub fn license_without_chats(mix: Mix, chats: usize) -> (Engine, Vec<UserId>) {
    let mut engine = Engine::new(EngineConfig::with_seed(0x5eed));
    let t0 = Timestamp::from_unix_seconds(T0);
    let agents = match mix {
        Mix::Narrow => {
            let agent = narrow_agent();
            engine
                .add_agent(Agent::new(agent.clone(), "Agent"))
                .expect("agent added");
            vec![agent]
        }
        Mix::Real => {
            engine.set_router(std::sync::Arc::new(AutomaticRouter::default()));
            let slots = (2 * chats).div_ceil(AGENTS) as u32;
            let ids: Vec<UserId> = (0..AGENTS).map(agent_id).collect();
            for (i, id) in ids.iter().enumerate() {
                let mut agent = Agent::new(id.clone(), format!("Agent {i}")).with_max_chats(slots);
                if i % 2 == 0 {
                    agent = agent.with_groups([GROUP]);
                }
                engine.add_agent(agent).expect("agent added");
                drop(
                    engine
                        .set_agent_presence(id, true, t0)
                        .expect("agent online"),
                );
            }
            ids
        }
    };
    (engine, agents)
}

/// `n` new customers.
pub fn add_customers(engine: &mut Engine, n: usize) -> Vec<UserId> {
    (0..n).map(|_| engine.create_customer()).collect()
}

/// Each customer starts one chat with a message: in `Mix::Real` with a `custom_id`, and one
/// chat in ten scoped to `GROUP`.
pub fn start_chats(engine: &mut Engine, mix: Mix, customers: &[UserId]) -> Vec<ChatId> {
    let t0 = Timestamp::from_unix_seconds(T0);
    let mut chat_ids = Vec::with_capacity(customers.len());
    for (i, customer) in customers.iter().enumerate() {
        let mut first = NewEvent::message("Hi, I need help");
        let mut start = StartChat::default();
        if mix == Mix::Real {
            first = first.with_custom_id(format!("first-{i}"));
            if i % 10 == 9 {
                start = start.with_scopes(Scopes {
                    groups: [GROUP].into(),
                    ..Scopes::default()
                });
            }
        }
        let started = engine
            .as_customer(customer, t0)
            .expect("customer exists")
            .start_chat(start.with_event(first))
            .expect("chat started");
        chat_ids.push(started.response.id);
    }
    chat_ids
}

impl License {
    /// Builds the license: `chats` customers, each of whom starts one chat with a message.
    pub fn new(mix: Mix, chats: usize, journal: JournalMode) -> Self {
        assert!(chats > 0, "at least one chat");
        let (mut engine, agents) = license_without_chats(mix, chats);
        let customers = add_customers(&mut engine, chats);
        let chat_ids = start_chats(&mut engine, mix, &customers);
        drop(engine.take_journal());
        engine.set_journal_mode(journal);
        assert_eq!(engine.chats().len(), chats);

        // The agent of each chat: the narrow license's one agent, or the chat's assignee.
        let assignees: Vec<UserId> = match mix {
            Mix::Narrow => vec![agents[0].clone(); chats],
            Mix::Real => chat_ids
                .iter()
                .map(|id| {
                    let chat = engine.chat(id).expect("chat exists");
                    chat.routing
                        .assignee
                        .clone()
                        .expect("every chat is assigned")
                })
                .collect(),
        };
        let mut rng = XorShift64(0x9e37_79b9_7f4a_7c15);
        let picks = (0..PICKS)
            .map(|n| {
                let c = rng.below(chats);
                let customer_turn = mix == Mix::Real && n % 2 == 0;
                let (sender, role) = if customer_turn {
                    (customers[c].clone(), Role::Customer)
                } else {
                    (assignees[c].clone(), Role::Agent)
                };
                Pick {
                    chat: chat_ids[c],
                    sender,
                    role,
                }
            })
            .collect();
        License { mix, engine, picks }
    }
}

/// The measured call: `pick`'s sender sends `event` to its chat.
#[inline(always)]
pub fn send(
    engine: &mut Engine,
    pick: &Pick,
    now: Timestamp,
    event: NewEvent,
) -> Output<SentEvent> {
    match pick.role {
        Role::Agent => engine
            .as_agent(&pick.sender, now)
            .expect("agent exists")
            .send_event(pick.chat, event),
        Role::Customer => engine
            .as_customer(&pick.sender, now)
            .expect("customer exists")
            .send_event(pick.chat, event),
    }
    .expect("event sent")
}

/// A license being sent to, with a pristine copy to go back to.
pub struct Run {
    pub mix: Mix,
    pristine: Engine,
    pub engine: Engine,
    picks: Vec<Pick>,
    next_pick: usize,
    /// Sends since the start; the clock is `T0 + sent / 1000`, and custom ids count with it.
    sent: u64,
    since_reset: u64,
    reset_after: u64,
    events: Vec<NewEvent>,
}

impl Run {
    /// Starts sending to `license`; every `reset_after` sends the engine goes back to the
    /// license as built (outside the timer), which keeps memory bounded.
    pub fn new(license: License, reset_after: u64) -> Self {
        Run {
            mix: license.mix,
            engine: license.engine.clone(),
            pristine: license.engine,
            picks: license.picks,
            next_pick: 0,
            sent: 0,
            since_reset: 0,
            reset_after,
            events: Vec::with_capacity(BATCH),
        }
    }

    /// The measured call does what the bench says: it lands in the chat's active thread and
    /// pushes `incoming_event` to the agents and to the customer. Runs on the working copy.
    pub fn check(&mut self) {
        let pick = self.picks[0].clone();
        let engine = &mut self.engine;
        let threads = engine.chat(&pick.chat).expect("chat exists").threads.len();
        let now = Timestamp::from_unix_seconds(T0);
        let event = event(self.mix, &pick, u64::MAX);
        let out = send(engine, &pick, now, event);
        let chat = engine.chat(&pick.chat).expect("chat exists");
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
        assert_eq!(
            out.journal.len(),
            usize::from(engine.journal_mode() == JournalMode::Output)
        );
        self.since_reset += 1;
    }

    /// Puts the engine back to the license as built, freeing the events sent since.
    pub fn reset(&mut self) {
        self.engine = self.pristine.clone();
        self.since_reset = 0;
        // Dropping the old engine freed millions of small blocks. glibc's allocator parks them
        // in its fast bins and sorts them out (`malloc_consolidate`) at the next allocation of a
        // large block, which would otherwise be some send's, and stall one sample for up to a
        // second. A 64 KiB allocation makes it happen here, untimed.
        drop(black_box(Vec::<u8>::with_capacity(64 * 1024)));
    }

    /// `iters` sends, in timed stretches of at most `BATCH`; returns the time inside them.
    pub fn run(&mut self, iters: u64) -> Duration {
        let mut timed = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            if self.since_reset >= self.reset_after {
                self.reset();
            }
            let n = left.min(BATCH as u64) as usize;
            let n = n.min(self.picks.len() - self.next_pick);
            let picks = &self.picks[self.next_pick..self.next_pick + n];
            let mix = self.mix;
            let first = self.sent;
            self.events.extend(
                picks
                    .iter()
                    .enumerate()
                    .map(|(i, pick)| event(mix, pick, first + i as u64)),
            );

            let engine = &mut self.engine;
            let mut sent = self.sent;
            let start = Instant::now();
            for (pick, event) in picks.iter().zip(self.events.drain(..)) {
                let now = Timestamp::from_unix_seconds(T0 + (sent / 1_000) as i64);
                sent += 1;
                drop(black_box(send(engine, pick, now, event)));
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
