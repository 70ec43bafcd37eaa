//! Journal records of format 1, as builds before the command type wrote them: read, never
//! written. Each becomes the record of format 2 that replays the same way.

use serde::Deserialize;

use crate::engine::{AgentCommand, Command, CustomerCommand, HostCommand, JournalRecord};
use crate::model::{Agent, Customer, PropertyConfig, Timestamp, UserId};

/// A record of format 1: `{"v": 1, "seq": n, "entry": {...}}`.
#[derive(Deserialize)]
pub(super) struct Record {
    seq: u64,
    entry: Entry,
}

/// What format 1 called a record's entry: host calls by name, and the two APIs' commands,
/// which it wrote exactly as format 2 writes [`AgentCommand`] and [`CustomerCommand`].
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Entry {
    AddAgent(Agent),
    AddCustomer(Customer),
    CreateCustomer {
        customer_id: UserId,
    },
    ConfigureProperty(PropertyConfig),
    SetRouter {
        name: String,
    },
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
}

impl From<Record> for JournalRecord {
    fn from(Record { seq, entry }: Record) -> Self {
        // Format 1 kept no time for the configuration calls: they do not depend on it.
        let untimed = |command| (Timestamp::EPOCH, Command::Host(command));
        let (at, command) = match entry {
            Entry::AddAgent(agent) => untimed(HostCommand::AddAgent(agent)),
            Entry::AddCustomer(customer) => untimed(HostCommand::AddCustomer(customer)),
            Entry::CreateCustomer { customer_id } => untimed(HostCommand::CreateCustomer {
                customer_id: Some(customer_id),
            }),
            Entry::ConfigureProperty(config) => untimed(HostCommand::ConfigureProperty(config)),
            Entry::SetRouter { name } => untimed(HostCommand::SetRouter { name }),
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
