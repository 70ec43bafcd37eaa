//! `chatio`: the chat.io conversation model as a deterministic, I/O-free engine.
//!
//! A license's chats, threads and events live in an [`Engine`]. The host (a web server, a test
//! suite, a simulator) feeds it requests made "as agent X" or "as customer Y" at a time it
//! chooses, and gets back a response plus the pushes the request caused, each already addressed
//! to concrete user ids and filtered to what those users may see. The engine never reads a
//! clock, draws randomness, touches the network or files, or spawns a thread: time and the id
//! seed are inputs, so the same seed and the same calls always give the same outputs.
//!
//! # The loop
//!
//! ```text
//!             requests (as agent X / as customer Y, at time t)
//!  host ─────────────────────────────────────────────▶  Engine  ──▶ response + pushes (addressed)
//!  host ── tick(now) when now ≥ engine.next_deadline() ▶  Engine  ──▶ pushes (routing, timers)
//! ```
//!
//! 1. Register agents and customers ([`Engine::add_agent`], [`Engine::create_customer`]).
//! 2. For each request, make a facade for the requester and the moment, [`Engine::as_agent`] or
//!    [`Engine::as_customer`], and call the method named after the protocol action.
//! 3. Send the response to the requester and deliver each [`Push`] to every user in
//!    [`Push::to`]. The engine has already left out whoever may not see it.
//!
//! A refused request returns an [`Error`] whose [`ErrorKind`] is the protocol's error type, and
//! changes nothing: not the state, not the id generator, not the order counter.
//!
//! # Example
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
//! * [`model`]: ids, users, chats, threads, the seven event kinds and their validation.
//! * [`Engine`] and [`EngineConfig`]: the state machine and its settings, including the
//!   [`License`] it serves (shown at the agent's `login`; once it expires, both APIs refuse
//!   every call).
//! * [`AgentApi`] and [`CustomerApi`]: one method per protocol action.
//! * [`Push`] and [`PushKind`]: what users are told.
//! * [`query`]: the read-only views (`get_chat_threads`, summaries, login, filtered chats,
//!   archives).
//! * [`routing`]: the [`Router`](routing::Router) trait and the built-in routers; timers run
//!   through [`Engine::next_deadline`] and [`Engine::tick`].
//! * Properties ([`model::PropertyConfig`], [`Engine::configure_property`]), scopes and the
//!   permission table ([`PERMISSION_TABLE`]).
//! * [`wire`]: the v0.5 JSON protocol, text in and text out.
//! * [`journal`]: journal records, replay and snapshots, for hosts that must not lose state.
//! * [`Error`] and [`ErrorKind`]: why a request was refused.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod api;
mod engine;
mod error;
mod hash;
pub mod journal;
pub mod model;
mod push;
pub mod query;
pub mod routing;
mod user_ids;
mod varint;
pub mod wire;

pub use api::{AgentApi, CustomerApi, CustomerUpdate, MulticastScopes, Pagination, StartChat};
pub use engine::{
    AutoChatScopes, AutoScopeRules, ChatIdScheme, Chats, ChatsIter, Engine, EngineConfig, Grant,
    Limits, MAX_BAN_DAYS, Output, PERMISSION_TABLE, PushAudience, QueuePosition, SentEvent,
    TransferTarget, holds,
};
pub use error::{Error, ErrorKind};
pub use model::{
    Agent, AgentKind, Chat, ChatId, Customer, Event, EventId, EventKind, File, GroupId, License,
    MAX_JSON_DEPTH, NewEvent, Permission, Properties, PropertyValue, Recipients, Role, Scopes,
    Thread, ThreadId, Threads, Timestamp, User, UserId,
};
pub use push::{ChatThread, Postback, Push, PushKind, SneakPeek, TypingIndicator};
pub use user_ids::UserIds;

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
