//! Journal records of format 1, as builds before the command type wrote them: read, never
//! written. Each becomes the record of format 2 that replays the same way.

use serde::Deserialize;

use crate::engine::{AgentCommand, Command, CustomerCommand, HostCommand, JournalRecord};
use crate::model::{Agent, Timestamp, UserId};

/// A record of format 1: `{"v": 1, "seq": n, "entry": {...}}`.
#[derive(Deserialize)]
pub(super) struct Record {
    seq: u64,
    entry: Entry,
}

/// What format 1 called a record's entry. It wrote the two APIs' commands exactly as format 2
/// writes [`AgentCommand`] and [`CustomerCommand`], and the host calls that take no time as
/// format 2 writes their [`HostCommand`]; the others carried their time inside.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Entry {
    SetAgentPresence {
        agent_id: UserId,
        online: bool,
        at: Timestamp,
    },
    UpdateAgentProfile {
        agent: Agent,
        at: Timestamp,
    },
    Tick {
        at: Timestamp,
    },
    Agent {
        agent_id: UserId,
        at: Timestamp,
        action: AgentCommand,
    },
    Customer {
        customer_id: UserId,
        at: Timestamp,
        action: CustomerCommand,
    },
    /// `add_agent`, `add_customer`, `create_customer` (whose id reads as the `Some` format 2
    /// writes), `configure_property`, `set_router`.
    #[serde(untagged)]
    Untimed(HostCommand),
}

impl From<Record> for JournalRecord {
    fn from(Record { seq, entry }: Record) -> Self {
        let (at, command) = match entry {
            // Format 1 kept no time for the configuration calls: they do not depend on it.
            Entry::Untimed(command) => (Timestamp::EPOCH, Command::Host(command)),
            Entry::SetAgentPresence {
                agent_id,
                online,
                at,
            } => (
                at,
                Command::Host(HostCommand::SetAgentPresence { agent_id, online }),
            ),
            Entry::UpdateAgentProfile { agent, at } => {
                (at, Command::Host(HostCommand::UpdateAgentProfile { agent }))
            }
            Entry::Tick { at } => (at, Command::Host(HostCommand::Tick)),
            Entry::Agent {
                agent_id,
                at,
                action,
            } => (
                at,
                Command::Agent {
                    agent_id,
                    command: action,
                },
            ),
            Entry::Customer {
                customer_id,
                at,
                action,
            } => (
                at,
                Command::Customer {
                    customer_id,
                    command: action,
                },
            ),
        };
        JournalRecord { seq, at, command }
    }
}
