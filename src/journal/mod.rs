//! Durability: the journal, replay and snapshots.
//!
//! The engine is deterministic, so its inputs are enough to rebuild it. Every call that changes
//! the engine yields one [`JournalRecord`]: the call itself (who, when, what, with which
//! arguments), numbered. The records of a call come back in its [`Output::journal`]; records of
//! host calls that return no `Output` (such as [`Engine::add_agent`]) wait in the engine until
//! the next `Output` carries them, or until [`Engine::take_journal`] takes them. Refused calls
//! and reads yield none. [`JournalMode`] lets a host keep records in the engine until it takes
//! them, or switch them off.
//!
//! A host persists the records, in order, before it answers the request that caused them. To
//! recover, it restores the latest snapshot ([`Engine::snapshot`], [`Engine::restore`]) (or starts from `Engine::new` with the same
//! configuration) and [`apply`](crate::Engine::apply)s every record after it. The result equals the
//! engine that was lost, field for field, including the id generator, counters, queue and
//! timers.
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
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Routers are code, not data: records and snapshots name the router, and replay resolves the
//! name. [`builtin_router`] knows the built-in ones; a host with its own router passes a
//! resolver to [`Engine::apply_with`] and [`Engine::restore_with`].
//!
//! [`Output::journal`]: crate::Output::journal
//! [`Engine::add_agent`]: crate::Engine::add_agent
//! [`Engine::take_journal`]: crate::Engine::take_journal
//! [`Engine::snapshot`]: crate::Engine::snapshot
//! [`Engine::restore`]: crate::Engine::restore
//! [`Engine::apply`]: crate::Engine::apply
//! [`Engine::apply_with`]: crate::Engine::apply_with
//! [`Engine::restore_with`]: crate::Engine::restore_with

mod action;
mod apply;
mod error;
mod recorded_event;
mod snapshot;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use crate::engine::JournalMode;
pub use action::{AgentAction, CustomerAction};
pub use error::JournalError;
pub use recorded_event::RecordedEvent;
pub use snapshot::SNAPSHOT_VERSION;

use crate::model::{Agent, Customer, PropertyConfig, Timestamp, UserId};
use crate::routing::{AutomaticRouter, ManualRouter, Router, Selection};

/// The journal record format this build writes and reads. A record of any other version is
/// refused with [`JournalError::UnsupportedVersion`].
pub const JOURNAL_VERSION: u32 = 1;

/// One accepted change: its place in the journal and what was done.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JournalRecord {
    /// The record's number: 1 for the engine's first change, then one more for each.
    pub seq: u64,
    /// The call.
    pub entry: Entry,
}

/// A call that changed the engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Entry {
    /// [`Engine::add_agent`](crate::Engine::add_agent).
    AddAgent(Agent),
    /// [`Engine::add_customer`](crate::Engine::add_customer).
    AddCustomer(Customer),
    /// [`Engine::create_customer`](crate::Engine::create_customer), with the id it drew (replay
    /// checks that it draws the same).
    CreateCustomer {
        /// The new customer's id.
        customer_id: UserId,
    },
    /// [`Engine::configure_property`](crate::Engine::configure_property).
    ConfigureProperty(PropertyConfig),
    /// [`Engine::set_router`](crate::Engine::set_router), by the router's name.
    SetRouter {
        /// [`Router::name`].
        name: String,
    },
    /// [`Engine::set_agent_presence`](crate::Engine::set_agent_presence).
    SetAgentPresence {
        /// The agent.
        agent_id: UserId,
        /// Connected or not.
        online: bool,
        /// When.
        at: Timestamp,
    },
    /// [`Engine::update_agent_profile`](crate::Engine::update_agent_profile).
    UpdateAgentProfile {
        /// The new profile; its id names the agent.
        agent: Agent,
        /// The `now` given.
        at: Timestamp,
    },
    /// [`Engine::tick`](crate::Engine::tick) that had something due.
    Tick {
        /// The `now` given.
        at: Timestamp,
    },
    /// A command of the Agent API.
    Agent {
        /// Who acted.
        agent_id: UserId,
        /// When (the facade's moment, never earlier than the engine's clock).
        at: Timestamp,
        /// What it did.
        action: AgentAction,
    },
    /// A command of the Customer API.
    Customer {
        /// Who acted.
        customer_id: UserId,
        /// When.
        at: Timestamp,
        /// What it did.
        action: CustomerAction,
    },
}

/// The versioned form a record is written in.
#[derive(Serialize)]
struct Versioned<'a> {
    v: u32,
    #[serde(flatten)]
    record: &'a JournalRecord,
}

#[derive(Deserialize)]
struct VersionedOwned {
    v: u32,
    seq: u64,
    entry: Entry,
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

    /// Reads a record written by [`encode`](Self::encode). A record of another version, or
    /// anything else, is refused with a [`JournalError`]; nothing panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, JournalError> {
        match serde_json::from_slice::<VersionedOwned>(bytes) {
            Ok(r) if r.v == JOURNAL_VERSION => Ok(JournalRecord {
                seq: r.seq,
                entry: r.entry,
            }),
            Ok(r) => Err(unsupported(r.v)),
            Err(e) => match serde_json::from_slice::<VersionOnly>(bytes) {
                Ok(head) if head.v != JOURNAL_VERSION => Err(unsupported(head.v)),
                _ => Err(JournalError::Corrupt {
                    what: RECORD,
                    reason: e.to_string(),
                }),
            },
        }
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

/// The built-in router of this name (`automatic`, `least_loaded`, `round_robin`, `manual`).
pub fn builtin_router(name: &str) -> Option<Arc<dyn Router>> {
    let router: Arc<dyn Router> = match name {
        "automatic" => Arc::new(AutomaticRouter::default()),
        "least_loaded" => Arc::new(AutomaticRouter::new(Selection::LeastLoaded)),
        "round_robin" => Arc::new(AutomaticRouter::new(Selection::RoundRobin)),
        "manual" => Arc::new(ManualRouter),
        _ => return None,
    };
    Some(router)
}
