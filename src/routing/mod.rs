//! Routing: which agent gets which chat.
//!
//! The engine asks a [`Router`] at every routing moment and applies its [`Decision`]. A router
//! sees a read-only [`RoutingView`] and decides; it cannot change the engine. The engine checks
//! every decision: assigning a chat to an agent who is offline, not accepting chats, full, unable
//! to see the chat, or unknown leaves the chat unassigned instead, so no router, however written,
//! can break an invariant.
//!
//! Four routers are built in: [`AutomaticRouter`] and [`ManualRouter`] follow chat.io's two
//! documented diagrams; [`LeastLoadedRouter`] and [`RoundRobinRouter`] are the automatic flow
//! with the selection strategies contact centres use.
//!
//! Writing one takes a name and a decision:
//!
//! ```
//! use chatio::routing::{Decision, Router, RoutingMoment, RoutingView};
//!
//! /// Gives every new chat to the first agent who can take it; agents who reply take the chat.
//! #[derive(Debug)]
//! struct FirstAvailable;
//!
//! impl Router for FirstAvailable {
//!     fn name(&self) -> &str {
//!         "first_available"
//!     }
//!
//!     fn route(&self, view: &RoutingView<'_>) -> Decision {
//!         match view.moment() {
//!             RoutingMoment::AgentReplied { agent_id } => Decision::Assign(agent_id.clone()),
//!             _ => view
//!                 .agents()
//!                 .find(|a| view.can_take(&a.agent.id))
//!                 .map_or(Decision::Unassign, |a| Decision::Assign(a.agent.id.clone())),
//!         }
//!     }
//! }
//! ```

mod automatic;
mod manual;
mod view;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use automatic::{AutomaticRouter, LeastLoadedRouter, RoundRobinRouter, Selection};
pub use manual::ManualRouter;
pub use view::{AgentStatus, ChatStatus, RoutingView};

use crate::model::UserId;

/// Whether an agent takes new chats (`update_agent`'s `routing_status`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingStatus {
    /// The agent takes chats while online and below its limit.
    #[default]
    AcceptingChats,
    /// The agent takes no new chats.
    NotAcceptingChats,
}

impl RoutingStatus {
    /// The protocol's name.
    pub fn as_str(self) -> &'static str {
        match self {
            RoutingStatus::AcceptingChats => "accepting_chats",
            RoutingStatus::NotAcceptingChats => "not_accepting_chats",
        }
    }
}

/// Why the engine is asking.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoutingMoment {
    /// A customer's event started a thread: a new chat, or a chat coming back from the archive.
    ThreadStarted,
    /// An agent wrote to a chat nobody is assigned to (or started one).
    AgentReplied {
        /// The agent who wrote.
        agent_id: UserId,
    },
    /// An agent can take a chat now (a slot freed, it came online or started accepting); the
    /// chat is the oldest waiting one it may serve.
    CapacityFreed {
        /// The agent with room.
        agent_id: UserId,
    },
    /// The assigned agent left the chat. It cannot be chosen again.
    AssigneeLeft {
        /// The agent who left.
        agent_id: UserId,
    },
    /// A waiting chat's scopes changed: other agents may be able to take it now.
    ScopesChanged,
    /// Agents left a waiting chat that held as many agents as the license allows
    /// ([`Limits::agents_per_chat`](crate::Limits::agents_per_chat)): agents outside it may be
    /// able to take it now.
    RoomFreed,
    /// The assigned agent did not see the customer's last message in time. It cannot be chosen
    /// again.
    AssigneeTimedOut {
        /// The agent who did not reply.
        agent_id: UserId,
        /// How long it had, in minutes.
        minutes: i64,
    },
}

impl RoutingMoment {
    /// The agent a decision may not choose: the one the chat is being taken from.
    pub fn excluded_agent(&self) -> Option<&UserId> {
        match self {
            RoutingMoment::AssigneeLeft { agent_id }
            | RoutingMoment::AssigneeTimedOut { agent_id, .. } => Some(agent_id),
            _ => None,
        }
    }
}

/// What a router decides for a chat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Give the chat to this agent. The engine refuses the decision (and leaves the chat
    /// unassigned) if the agent cannot take it.
    Assign(UserId),
    /// Leave the chat unassigned: it waits in the queue.
    Unassign,
}

/// Decides which agent gets a chat. See the module docs.
pub trait Router: fmt::Debug + Send + Sync {
    /// A short, stable name, e.g. `automatic`; it identifies the router in snapshots and logs.
    fn name(&self) -> &str;

    /// Decides for the chat in `view` at the moment `view.moment()`.
    fn route(&self, view: &RoutingView<'_>) -> Decision;
}
