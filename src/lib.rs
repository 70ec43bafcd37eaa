//! `chatio`: the chat.io v0.5 conversation model as a deterministic, I/O-free engine.
//!
//! A license's chats, threads and events live in an [`Engine`]. The host (a web server, a test
//! suite, a simulator) feeds it requests made "as agent X" or "as customer Y" at a time it
//! chooses, and the passing of time; it gets back a response, the pushes the request caused
//! (each already addressed to concrete user ids and filtered to what those users may see) and
//! the journal records to persist. The engine never reads a clock, draws randomness, touches the
//! network or files, or spawns a thread of its own: time and the id seed are inputs, so the same
//! seed and the same calls always give the same outputs.
//!
//! # The loop
//!
//! ```text
//!             requests (as agent X / as customer Y, at time t)
//!  host ─────────────────────────────────────────────▶  Engine  ──▶ response + pushes + journal
//!  host ── tick(now) when now ≥ engine.next_deadline() ▶  Engine  ──▶ pushes (routing timers) + journal
//! ```
//!
//! 1. For each request, make a facade for the requester and the moment ([`Engine::as_agent`],
//!    [`Engine::as_customer`]) and call the method named after the protocol action.
//! 2. Persist the call's [`Output::journal`] (see [`journal`]) before answering.
//! 3. Send the response to the requester and deliver each [`Push`] to every user in
//!    [`Push::to`]. The engine has already left out whoever may not see it.
//! 4. Sleep until the next request or [`Engine::next_deadline`], whichever comes first; at the
//!    deadline call [`Engine::tick`], and persist and deliver its output the same way.
//!
//! Here is the whole loop, with the network and the disk stubbed out: a customer writes twice,
//! the automatic router gives the chat to Anna, Anna never looks, and five minutes later the
//! unseen timer takes the chat from her.
//!
//! ```
//! use std::collections::VecDeque;
//!
//! use chatio::journal::JournalRecord;
//! use chatio::routing::AutomaticRouter;
//! use chatio::{Agent, ChatId, Engine, EngineConfig, NewEvent, Output, StartChat, Timestamp, UserId};
//!
//! /// Steps 2 and 3 for any call: persist its records, then answer and deliver.
//! fn settle<T>(out: Output<T>, disk: &mut Vec<Vec<u8>>, sent: &mut Vec<String>) -> T {
//!     disk.extend(out.journal.iter().map(JournalRecord::encode)); // durable first
//!     for push in &out.pushes {
//!         for user in push.to.iter() {
//!             sent.push(format!("{} to {user}", push.action())); // the host's sockets
//!         }
//!     }
//!     out.response // for the requester
//! }
//!
//! let config = EngineConfig::with_seed(42);
//! let mut engine = Engine::new(config.clone()).with_router(AutomaticRouter::default());
//! let (mut disk, mut sent) = (Vec::new(), Vec::new());
//!
//! let anna = UserId::new("anna@example.com")?;
//! engine.add_agent(Agent::new(anna.clone(), "Anna"))?; // host calls are journaled too
//! let jan = engine.create_customer();
//! let t0 = Timestamp::from_unix_seconds(1_700_000_000);
//! settle(engine.set_agent_presence(&anna, true, t0)?, &mut disk, &mut sent); // Anna connects
//!
//! // What the network will bring: when, and Jan's text.
//! let mut network = VecDeque::from([(t0 + 10, "Hi, my order is late"), (t0 + 40, "Hello?")]);
//! let mut chat: Option<ChatId> = None;
//! loop {
//!     // Sleep until the next request or the engine's deadline, whichever comes first.
//!     let deadline = engine.next_deadline();
//!     let request_at = network.front().map(|&(at, _)| at);
//!     if let Some(now) = request_at.filter(|&at| deadline.is_none_or(|d| at < d)) {
//!         // A request: step 1, then steps 2 and 3.
//!         let (_, text) = network.pop_front().expect("peeked");
//!         let mut api = engine.as_customer(&jan, now)?; // who asks, and when
//!         let event = NewEvent::message(text);
//!         match chat {
//!             None => {
//!                 let out = api.start_chat(StartChat::default().with_event(event))?;
//!                 chat = Some(settle(out, &mut disk, &mut sent).id);
//!             }
//!             Some(id) => {
//!                 settle(api.send_event(id, event)?, &mut disk, &mut sent);
//!             }
//!         }
//!     } else if let Some(deadline) = deadline {
//!         // Step 4: the deadline came first.
//!         settle(engine.tick(deadline), &mut disk, &mut sent);
//!     } else {
//!         break; // a server would wait for the network here
//!     }
//! }
//!
//! assert!(sent.contains(&"incoming_chat_thread to anna@example.com".to_string()));
//! assert_eq!(engine.queue().collect::<Vec<_>>(), [chat.unwrap()]); // waiting for an agent
//! assert_eq!(engine.now(), t0 + 10 + 300); // 5 minutes after the first message Anna did not see
//!
//! // What was persisted is enough to rebuild the engine, field for field.
//! let mut rebuilt = Engine::new(config);
//! for line in &disk {
//!     rebuilt.apply(JournalRecord::decode(line)?)?;
//! }
//! assert_eq!(rebuilt, engine);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every call that changes the engine is also a value: a [`Command`] ([`AgentCommand`],
//! [`CustomerCommand`] or [`HostCommand`], with who makes it), which [`Engine::execute`] applies
//! and which is what a journal record holds. The facade methods are typed shorthands for
//! commands, and replaying a record executes its command again.
//!
//! A host that serves JSON clients calls [`wire::handle`] instead of the facades: text in, text
//! out. `chatio-server` (the `server/` crate of this workspace) is such a host, over WebSocket
//! and HTTP.
//!
//! # What the engine guarantees
//!
//! * **Time is an input.** Every call is made at a `now` the host gives. Time never goes
//!   backwards inside the engine: a call with an earlier `now` acts at the latest time seen.
//! * **Ids come from a seeded generator.** The same seed and the same calls give byte-identical
//!   outputs and state (tested).
//! * **All or nothing.** A call either succeeds completely or returns an [`Error`], whose
//!   [`ErrorKind`] is the protocol's error type, and changes nothing: not the state, not the id
//!   generator, not the order counter (tested after every step of random runs).
//! * **Pushes leave addressed.** Each [`Push`] names its recipients ([`Push::to`]) and their
//!   role, and carries only what they may see: an event for `agents` only and every sneak peek
//!   never reach a customer, and a customer is never told about another customer's chat.
//! * **The rules hold.** The thread rules R1 to R15, and what the engine decides where the
//!   protocol is silent, are listed in [`rules`].
//!
//! A short example of the rules at work:
//!
//! ```
//! use chatio::{Agent, Engine, EngineConfig, NewEvent, PushKind, Recipients, StartChat, Timestamp, UserId};
//!
//! let mut engine = Engine::new(EngineConfig::with_seed(42));
//! let anna = UserId::new("anna@example.com")?;
//! engine.add_agent(Agent::new(anna.clone(), "Anna"))?;
//! let jan = engine.create_customer();
//! let t = Timestamp::from_unix_seconds(1_700_000_000);
//!
//! // A new chat starts with a thread, and every agent hears of it.
//! let started = engine
//!     .as_customer(&jan, t)?
//!     .start_chat(StartChat::default().with_event(NewEvent::message("Hi, my order is late")))?;
//! let chat_id = started.response.id;
//! assert_eq!(started.pushes[0].action(), "incoming_chat_thread");
//! assert_eq!(started.pushes[0].to, vec![anna.clone()]);
//!
//! // An agents-only note never reaches the customer.
//! let note = engine
//!     .as_agent(&anna, t + 5)?
//!     .send_event(chat_id, NewEvent::message("VIP, be quick").to(Recipients::Agents))?;
//! assert!(note.pushes.iter().all(|p| !p.to.contains(&jan)));
//!
//! // Closing the thread, then writing again, starts a new thread.
//! engine.as_agent(&anna, t + 60)?.close_thread(chat_id)?;
//! let again = engine.as_customer(&jan, t + 3600)?.send_event(chat_id, NewEvent::message("Me again"))?;
//! assert!(matches!(again.pushes[0].kind, PushKind::IncomingChatThread { .. }));
//! assert_eq!(engine.chat(&chat_id).unwrap().threads.len(), 2);
//! # Ok::<(), chatio::Error>(())
//! ```
//!
//! # Map
//!
//! ```text
//!                    wire                      v0.5 JSON: decodes requests into commands,
//!        ┌────────────┼────────────┐           renders responses and pushes
//!       api        journal       query         facades · record format · read-only views
//!        └────────────┼────────────┘
//!                   engine ───────▶ routing    Command, execute, replay, snapshots · Router
//!                     │
//!                   model                      plain data and its validation
//! ```
//!
//! Each layer uses only the ones below it (`src/engine` names nothing of `api`, `query` or
//! `wire`, and every `impl Engine` is in `src/engine`): a facade builds a command and hands it
//! to the engine, the engine validates and applies it, the model holds the data, routing is
//! consulted through a trait and never changes the engine, and the result flows back up as a
//! response, pushes and journal records. Adding an action of either API touches a
//! [`AgentCommand`] or [`CustomerCommand`] variant and its arm in the engine's dispatcher
//! (`src/engine/command.rs`), its handler (a file of `src/engine`), the facade method
//! (`src/api`), and its wire name (`src/wire/actions.rs`).
//!
//! * [`model`] (`src/model/`): typed ids ([`ChatId`], [`ThreadId`] and [`EventId`] are UUIDs;
//!   [`UserId`] holds e-mail-like agent ids and UUID customer ids), users (customer, agent,
//!   bot), chats, threads, and the seven event kinds (`message`, `annotation`, `filled_form`,
//!   `system_message`, `file`, `custom`, `rich_message`), validated on input; properties,
//!   scopes and the [`License`].
//! * [`Engine`], [`EngineConfig`] and [`Output`] (`src/engine/`): the state machine and its
//!   settings, including the license it serves (shown at the agent's `login`; once it expires,
//!   both APIs refuse every call); presence, the queue, timers, permissions
//!   (the table is [`model::PERMISSION_TABLE`]) and scopes.
//! * [`AgentApi`] and [`CustomerApi`] (`src/api/`): one method per protocol action.
//! * [`Push`] and [`PushKind`] (`src/push.rs`): what users are told.
//! * [`query`] (`src/query/`): the read-only views: `get_chat_threads`, summaries, `login` with
//!   its `chats_summary`, filtered chats, archives.
//! * [`routing`] (`src/routing/`): the [`Router`](routing::Router) trait and the four built-in
//!   routers; timers run through [`Engine::next_deadline`] and [`Engine::tick`].
//! * [`journal`] (`src/journal/`): journal records, replay and snapshots, and what a host must
//!   persist before it answers.
//! * [`wire`] (`src/wire/`): the v0.5 JSON protocol.
//! * [`Error`] and [`ErrorKind`] (`src/error.rs`): why a request was refused.
//! * [`rules`]: the thread rules and the decisions where the protocol is silent (docs only).
//!
//! Properties, scopes and permissions are explained in `docs/properties.md` of the repository,
//! the tests in `tests/README.md`, the benchmarks in `benches/README.md`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod api;
mod engine;
mod error;
mod hash;
pub mod journal;
mod journal_error;
pub mod model;
mod push;
pub mod query;
pub mod routing;
pub mod rules;
#[cfg(feature = "testing")]
pub mod testing;
mod user_ids;
mod varint;
pub mod wire;

pub use api::{AgentApi, CustomerApi};
pub use engine::{
    ARCHIVE_BATCH_LIMIT, AgentChange, AgentCommand, AutoChatScopes, AutoScopeRules, ChatIdScheme,
    Chats, ChatsIter, Command, CustomerCommand, Engine, EngineConfig, HostCommand, Limits, Output,
    PushAudience, QueuePosition, REASON_AGENT_DELETED, REASON_LICENSE_EXPIRED, RegisteredWebhook,
    Response, SentEvent, TransferTarget, WebhookCall, WebhookData,
};
pub use error::{Error, ErrorKind};
pub use model::{
    Agent, AgentKind, ArchivedThread, Chat, ChatId, Customer, CustomerUpdate, Event, EventId,
    EventKind, File, GroupId, License, MulticastScopes, NewEvent, Pagination, Permission,
    Properties, PropertyValue, Recipients, Role, Scopes, StartChat, Thread, ThreadId, Threads,
    Timestamp, User, UserId,
};
pub use push::{ChatThread, Postback, Push, PushKind, SneakPeek, TypingIndicator};
pub use user_ids::UserIds;

/// The README's Rust code, compiled and run by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The Rust code of `docs/properties.md`, compiled and run by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../docs/properties.md")]
pub struct PropertiesGuideDoctests;

/// The number of cases a property test in `src/` runs: `CHATIO_PROPTEST_CASES` when set (for
/// long runs, as the integration tests take it), else `default`.
#[cfg(test)]
pub(crate) fn proptest_cases(default: u32) -> u32 {
    std::env::var("CHATIO_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
        .max(1)
}
