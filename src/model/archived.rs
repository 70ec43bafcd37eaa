//! Archived threads: closed threads whose events the engine handed to the host.
//!
//! A license that runs for months keeps every closed thread, and the events are nearly all of
//! its bytes. [`Engine::archive_threads`](crate::Engine::archive_threads) moves the events of
//! old closed threads out of the engine, to the host's store; the engine keeps the thread
//! itself without its events (a stub: id, order, times, users, properties) and the few counts
//! its answers need without them ([`Archived`]). Queries that would show those events say which
//! threads the host must load, and the engine fills them in with the same per-requester
//! filtering as threads it holds (`Engine::fill_chat_threads`, `Engine::fill_archives`).

use serde::{Deserialize, Serialize};

use super::{ChatId, Thread, Timestamp};

/// What the engine keeps of an archived thread, besides the thread without its events: what
/// `get_chat_threads` and `get_chat_threads_summary` show of it without loading it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Archived {
    /// How many of its events agents see (all of them).
    pub agent_events: usize,
    /// How many of its events its customer sees (those not for agents only).
    pub customer_events: usize,
    /// The thread's last activity as its customer saw it: a later note for agents only does
    /// not show through (see `get_chat_threads`).
    pub customer_last_activity: Timestamp,
}

/// A thread handed to the host by [`Engine::archive_threads`](crate::Engine::archive_threads):
/// whole, every event included (no requester's filtering applied), with its chat. The host
/// keeps it, keyed by chat and thread id, and gives it back when a query asks for it.
///
/// It serializes as JSON (`{"chat_id":..,"thread":{..}}`), the form a host stores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ArchivedThread {
    /// The chat the thread belongs to.
    pub chat_id: ChatId,
    /// The thread with all its events, as it was when archived.
    pub thread: Thread,
}

impl ArchivedThread {
    /// An archived thread, as a host reads it back from its store.
    pub fn new(chat_id: ChatId, thread: Thread) -> Self {
        Self { chat_id, thread }
    }
}
