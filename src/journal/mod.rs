//! Durability: the journal, replay and snapshots.
//!
//! The engine is deterministic, so what went into it is enough to rebuild it. This module turns
//! that into three tools.
//!
//! * **Journal records.** Every call that changes the engine yields one [`JournalRecord`]: its
//!   [`Command`](crate::Command) (the call with its arguments and who made it) and the time it
//!   was made at, numbered from 1 without gaps ([`JournalRecord::seq`]). Refused calls, reads,
//!   and commands that change nothing (typing indicators, sneak peeks, multicasts, a `tick` with
//!   nothing due) yield none. [`JournalRecord::encode`] writes one line of JSON that carries the
//!   format version ([`JOURNAL_VERSION`]); [`JournalRecord::decode`] reads it and every earlier
//!   format, and refuses a later version, and garbled input, with a [`JournalError`].
//! * **Replay.** [`Engine::apply`] runs a recorded call again: it is
//!   [`Engine::execute`](crate::Engine::execute) of the record's command at the record's time. Records must come in order, each
//!   once ([`JournalError::OutOfOrder`] otherwise), and a record that does not replay the same
//!   way (another seed, an edited journal) is refused as [`JournalError::Diverged`]; a refused
//!   record changes nothing. A fresh `Engine::new(config)` with every record applied equals the
//!   live engine field for field: id generator, clock, counters, queue, timers and routing state
//!   included.
//! * **Snapshots.** [`Engine::snapshot`] writes the whole engine: a header line with the format
//!   version ([`SNAPSHOT_VERSION`]), the body's length and checksum; then the state as JSON
//!   except the events; then the events in a compact binary section (about 70 bytes for a short
//!   message, against about 215 as JSON). Snapshots of format 1 (all JSON) still restore.
//!   [`Engine::restore`] reads one back. It refuses a future version, a truncated or damaged
//!   file, or contents that do not hang together, with a [`JournalError`], never a panic. A
//!   snapshot records [`Engine::journal_seq`], so a snapshot plus the records numbered after it
//!   equals the live engine.
//!
//! ```
//! use chatio::journal::JournalRecord;
//! use chatio::{Agent, Engine, EngineConfig, NewEvent, StartChat, Timestamp, UserId};
//!
//! let config = EngineConfig::with_seed(7);
//! let mut live = Engine::new(config.clone());
//! let mut persisted: Vec<Vec<u8>> = Vec::new();
//!
//! let anna = UserId::new("anna@example.com")?;
//! live.add_agent(Agent::new(anna.clone(), "Anna"))?;
//! let t = Timestamp::from_unix_seconds(1_700_000_000);
//! let out = live.as_agent(&anna, t)?.start_chat(None, StartChat::default())?;
//! // The add_agent record rides along with the first Output.
//! persisted.extend(out.journal.iter().map(JournalRecord::encode));
//! let out = live
//!     .as_agent(&anna, t + 1)?
//!     .send_event(out.response.id, NewEvent::message("Hello"))?;
//! persisted.extend(out.journal.iter().map(JournalRecord::encode));
//!
//! // After a crash: the same configuration, then every record in order.
//! let mut recovered = Engine::new(config);
//! for bytes in &persisted {
//!     recovered.apply(JournalRecord::decode(bytes)?)?;
//! }
//! assert_eq!(recovered, live);
//!
//! // Or from a snapshot, plus the records numbered after it (none here).
//! let snapshot = live.snapshot();
//! assert_eq!(Engine::restore(&snapshot)?, live);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Snapshots on several threads
//!
//! The events of a large snapshot (over 8 Ki events) are cut into independent segments, so a
//! host that wants to can spread the work over threads: [`Engine::snapshot_with`] and
//! [`Engine::restore_with`] with [`Options::threads`] `n` use the calling thread and up to
//! `n - 1` scoped threads,
//! joined before they return (a thread that cannot be spawned leaves its share to the calling
//! thread). The host picks `n`, for example from `std::thread::available_parallelism()`, as
//! `chatio-server` does; the engine never asks the machine, and [`Engine::snapshot`] and
//! [`Engine::restore`] start no threads. Neither the bytes nor the restored engine depend on
//! `n`.
//!
//! # Routers and where records go
//!
//! Routers are code, not data: records and snapshots carry the router's name, and replay
//! resolves it. [`builtin_router`](crate::routing::builtin_router) knows the four built-in
//! ones; a host with its own router passes a resolver in [`Options::routers`] to
//! [`Engine::apply_with`] and [`Engine::restore_with`].
//!
//! Records reach the host in one of two ways, one for each kind of host:
//!
//! * **In each [`Output::journal`]** (the default [`JournalMode::Output`]): for hosts that call
//!   the typed API. An output carries its call's record after any that waited in the engine:
//!   the host methods that return no `Output` ([`Engine::add_agent`], `add_customer`,
//!   `create_customer`, `configure_property`, `set_router`) leave theirs waiting for the next
//!   one. [`Engine::execute`](crate::Engine::execute) of a [`HostCommand`](crate::HostCommand)
//!   hands them out at once.
//! * **Held in the engine until [`Engine::take_journal`]**: for hosts whose calls go through a
//!   layer that returns something else than an `Output`, as [`wire::handle`](crate::wire::handle)
//!   returns text, or that commit the records of many calls at once. [`JournalMode::Hold`]
//!   holds every record; `wire::handle` holds those of its request whatever the mode.
//!
//! [`JournalMode::Off`] makes no records at all, for simulations and benchmarks that never
//! persist (changes are still counted).
//!
//! # What a host must persist, and when to answer
//!
//! 1. Make the call. If it was refused, answer with the error: nothing changed, and nothing
//!    needs saving.
//! 2. Write the call's records (and any that were waiting) to durable storage, in order, and wait
//!    until the write is durable.
//! 3. Only then send the response and deliver the pushes. A client that got an answer can count
//!    on the change surviving a crash; one that got none may retry (`custom_id` makes event
//!    retries idempotent).
//! 4. Now and then write a snapshot; the records numbered at or below its `journal_seq` may then
//!    be deleted.
//! 5. On start: restore the newest snapshot that reads (or `Engine::new` with the same
//!    configuration), then apply every record after it, in order.
//!
//! Time is an input too: a host that ticks timers journals the tick like any call
//! ([`Engine::tick`] returns an `Output` with its record), so a replayed engine fires the same
//! timers at the same moments.
//!
//! `chatio-server --data DIR` is a worked example: it keeps its engine in SQLite and follows
//! these steps, committing the records of many requests in one transaction (group commit) before
//! it answers any of them. Its crash test kills it with SIGKILL under load and finds every
//! acknowledged event. Its guide, `server/README.md` ("Durability: `--data DIR` and group
//! commit"), has the details.
//!
//! [`Output::journal`]: crate::Output::journal
//! [`Engine::add_agent`]: crate::Engine::add_agent
//! [`Engine::take_journal`]: crate::Engine::take_journal
//! [`Engine::journal_seq`]: crate::Engine::journal_seq
//! [`Engine::snapshot`]: crate::Engine::snapshot
//! [`Engine::snapshot_with`]: crate::Engine::snapshot_with
//! [`Engine::restore`]: crate::Engine::restore
//! [`Engine::apply`]: crate::Engine::apply
//! [`Engine::apply_with`]: crate::Engine::apply_with
//! [`Engine::restore_with`]: crate::Engine::restore_with
//! [`Engine::tick`]: crate::Engine::tick

mod v1;

pub use crate::engine::SNAPSHOT_VERSION;
pub use crate::engine::{JournalMode, JournalRecord, Options};
pub use crate::journal_error::JournalError;
pub use crate::model::RecordedEvent;

use serde::{Deserialize, Serialize};

/// The journal record format this build writes. It reads this one and every earlier one
/// (format 1 wrote a record's call as an `entry` with the host calls by name; it is read as
/// the command that replays the same way). A record of a later version is refused with
/// [`JournalError::UnsupportedVersion`].
pub const JOURNAL_VERSION: u32 = 2;

/// The versioned form a record is written in.
#[derive(Serialize)]
struct Versioned<'a> {
    v: u32,
    #[serde(flatten)]
    record: &'a JournalRecord,
}

#[derive(Deserialize)]
struct VersionOnly {
    v: u32,
}

const RECORD: &str = "journal record";

impl JournalRecord {
    /// The record as one line of JSON (no newline), carrying [`JOURNAL_VERSION`].
    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain data into a Vec cannot fail: every map key is a string.
        serde_json::to_vec(&Versioned {
            v: JOURNAL_VERSION,
            record: self,
        })
        .unwrap_or_default()
    }

    /// Reads a record written by [`encode`](Self::encode), of this format or an earlier one.
    /// A record of a later version, or anything else, is refused with a [`JournalError`];
    /// nothing panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, JournalError> {
        let version = serde_json::from_slice::<VersionOnly>(bytes).map(|head| head.v);
        let read = match version {
            Ok(1) => serde_json::from_slice::<v1::Record>(bytes).map(JournalRecord::from),
            Ok(JOURNAL_VERSION) => serde_json::from_slice::<JournalRecord>(bytes),
            Ok(other) => return Err(unsupported(other)),
            Err(e) => Err(e),
        };
        read.map_err(|e| JournalError::Corrupt {
            what: RECORD,
            reason: e.to_string(),
        })
    }
}

/// A version other than this build's: a later one is a format this build does not know; 0 was
/// never written by any, so it is damage, not a future format.
fn unsupported(found: u32) -> JournalError {
    if found == 0 {
        return JournalError::Corrupt {
            what: RECORD,
            reason: "version 0 does not exist (versions start at 1)".into(),
        };
    }
    JournalError::UnsupportedVersion {
        what: RECORD,
        found,
        supported: JOURNAL_VERSION,
    }
}
