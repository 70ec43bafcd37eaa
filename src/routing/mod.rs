//! Routing: which agent gets which chat.
//!
//! ```sh
//! cargo run --release --example routing   # a chat routed, timed out to another agent, archived
//! ```
//!
//! Routing is off until the host sets a router ([`Engine::with_router`](crate::Engine::with_router)
//! or [`Engine::set_router`](crate::Engine::set_router)). From then on any call may return
//! routing pushes, and the host wakes the engine for its timers:
//!
//! ```
//! use chatio::routing::AutomaticRouter;
//! use chatio::{Agent, Engine, EngineConfig, NewEvent, StartChat, Timestamp, UserId};
//!
//! let mut engine = Engine::new(EngineConfig::with_seed(1)).with_router(AutomaticRouter::default());
//! let anna = UserId::new("anna@example.com")?;
//! let now = Timestamp::from_unix_seconds(1_700_000_000);
//! engine.add_agent(Agent::new(anna.clone(), "Anna").with_max_chats(3))?; // 3 slots
//! let _ = engine.set_agent_presence(&anna, true, now)?;                  // the host's word
//!
//! // A customer's new chat goes to Anna at once.
//! let jan = engine.create_customer();
//! let hi = StartChat::default().with_event(NewEvent::message("Hi"));
//! let out = engine.as_customer(&jan, now)?.start_chat(hi)?;
//! assert!(out.pushes.iter().any(|p| p.action() == "incoming_chat_thread" && p.to.contains(&anna)));
//!
//! // Anna does not look for 5 minutes: when now reaches the deadline, the host ticks.
//! let deadline = engine.next_deadline().expect("the unseen timer");
//! assert_eq!(deadline, now + 300);
//! let out = engine.tick(deadline);                                       // timers, in order
//! assert!(out.pushes.iter().any(|p| p.action() == "chat_users_updated")); // Anna is out
//! # Ok::<(), chatio::Error>(())
//! ```
//!
//! # Who may be given a chat
//!
//! An agent gets chats only while it is **online** ([`Engine::set_agent_presence`](crate::Engine::set_agent_presence), which a
//! server drives from the agent's connections), **accepting chats** (`update_agent` with
//! `routing_status`, pushed to every agent as `agent_updated`) and **below its `max_chats`**
//! (6 unless set, [`Agent::with_max_chats`](crate::Agent::with_max_chats)), and only chats it may
//! see (scopes).
//!
//! # The built-in routers
//!
//! | Router | Does |
//! | --- | --- |
//! | [`AutomaticRouter`] | chat.io's automatic diagram: a customer's new thread goes to an available agent (best group priority, then most free slots; ties to the agent registered first), else waits unassigned; agents who reply, or get a free slot, take waiting chats |
//! | [`ManualRouter`] | chat.io's manual diagram: new threads wait unassigned until an agent replies |
//! | [`LeastLoadedRouter`] | the automatic flow, choosing the agent with the fewest current chats (ties: registered first) |
//! | [`RoundRobinRouter`] | the automatic flow, choosing the agent who has waited longest since its last assignment |
//!
//! # Group priorities
//!
//! An agent has a priority in each of its groups, `first`, `normal` (unless set) or `last`
//! ([`Agent::with_group_priority`](crate::Agent::with_group_priority), or the Configuration
//! API's `groups[].priority` for bots). The three automatic routers choose among the agents who
//! can take a chat by priority first, and by their selection (free slots, load, wait) within a
//! priority:
//!
//! * An agent's priority **for a chat** is its best priority among the chat's groups (its
//!   scopes' groups) that it belongs to. A chat scoped to no group is in group 0, where v0.5
//!   puts every agent, so there an agent's priority is the one it has in group 0. An agent who
//!   sees the chat only because the scopes name it is `normal`.
//! * A new thread (and any chat being moved) goes to a `first` agent who can take it if there
//!   is one, else to a `normal` one, else to a `last` one: a `last` agent gets chats only while
//!   no `first` or `normal` agent can take them (offline, not accepting, full, or not allowed
//!   to see the chat). "Can take" is the engine's rule above, so priorities never override
//!   presence, routing status, slots or scopes.
//! * When an agent gets a free slot it takes the oldest waiting chat it may serve, unless an
//!   agent with a better priority for that chat can take it now, who gets it instead.
//! * An agent who replies to a waiting chat takes it whatever its priority: the agent acted.
//! * Priorities are not a queue order: waiting chats are still offered oldest first. The
//!   manual router ignores them (nobody is given chats there).
//!
//! A bot agent is an agent like any other here: with status `accepting chats` it is online and
//! accepting, and takes chats by the same rules, so a `first` bot in group 0 greets every
//! customer while it has free slots, and human agents get chats when it is full.
//!
//! Both diagrams' timers run on an assigned chat. If the assignee has not seen (or answered) a
//! customer's message 5 minutes after the oldest such message came (or after the assignment, if
//! that is later), the router moves the chat: the automatic routers to another agent if one can take it, else to the queue; the manual
//! router to the queue. The system message says so: "Chat assigned to Bob because Anna hasn't
//! replied in 5 minutes", or "Chat is unassigned because ...". Once the message is seen, 5 quiet
//! minutes mark the chat idle ("Chat is idle due to 5 minutes of inactivity") and 25 more
//! archive it ("Chat archived due to long inactivity": the thread closes, and `thread_closed`
//! carries no `user_id`). Both durations are
//! [`EngineConfig::routing_timeouts`](crate::EngineConfig::routing_timeouts). A customer who
//! writes to an archived chat opens a new thread, which is routed again; an agent who writes to
//! it takes it.
//!
//! Assigning a chat puts the agent in it (`chat_users_updated`), writes the system message
//! `routing.assigned` and sends the agent `incoming_chat_thread`; unassigning takes the agent out
//! and writes `routing.unassigned`. An agent who closes a thread writes `manual_archived` ("Anna
//! archived the chat"). Unassigned chats wait in a queue in the order they arrived
//! ([`Engine::queue`](crate::Engine::queue)); when an agent has room, it is offered the oldest
//! waiting chat it may serve. A customer may ask `get_queue_position`.
//!
//! **Timers are sans-IO.** [`Engine::next_deadline`](crate::Engine::next_deadline) says when the
//! engine next needs waking, and [`Engine::tick`](crate::Engine::tick) does everything due, in
//! deadline order. A chat has at most one entry in the timer set, and events move its deadline
//! lazily: a busy chat costs nothing there, and a tick costs in proportion to what is due, not to
//! the number of chats.
//!
//! **Transfer** (from LiveChat v3.x): `transfer_chat` to
//! [`TransferTarget::Agent`](crate::TransferTarget::Agent) or
//! [`TransferTarget::Group`](crate::TransferTarget::Group) hands the chat to an agent who can
//! take it now (system message `chat_transferred`; the previous assignee leaves).
//!
//! **Bans**: `ban_customer(customer, days)`, by an agent who may see one of the customer's
//! chats, archives the active threads of the chats it may see ("Chat
//! archived because customer was banned by Anna for 3 days"), tells agents `customer_banned`
//! and the customer `customer_disconnected`, and every call as that customer fails with
//! `customer_banned` until the ban ends.
//!
//! # Writing a router
//!
//! The engine asks a [`Router`] at every [`RoutingMoment`] (a thread started, an agent replied,
//! an agent has room, the assignee left or timed out, a waiting chat's scopes changed) and
//! applies its [`Decision`]. A router is a name and a decision: it sees a read-only
//! [`RoutingView`] and cannot change the engine. The engine checks every decision: assigning a
//! chat to an agent who is unknown, offline, not accepting chats, full, unable to see the chat,
//! or the one the chat is being taken from leaves the chat unassigned instead, so no router,
//! however written, can break an invariant.
//!
//! ```
//! use chatio::routing::{Decision, Router, RoutingMoment, RoutingView};
//!
//! /// Agents of group 1 first; agents who reply take the chat.
//! #[derive(Debug)]
//! struct VipFirst;
//!
//! impl Router for VipFirst {
//!     fn name(&self) -> &str {
//!         "vip_first"
//!     }
//!
//!     fn route(&self, view: &RoutingView<'_>) -> Decision {
//!         match view.moment() {
//!             RoutingMoment::AgentReplied { agent_id } => Decision::Assign(agent_id.clone()),
//!             _ => view
//!                 .available_by_load() // only agents who can take this chat
//!                 .find(|a| a.agent.groups.contains(&chatio::GroupId(1)))
//!                 .map_or(Decision::Unassign, |a| Decision::Assign(a.agent.id.clone())),
//!         }
//!     }
//! }
//!
//! /// The first agent who can take the chat, by registration.
//! #[derive(Debug)]
//! struct FirstAvailable;
//!
//! impl Router for FirstAvailable {
//!     fn name(&self) -> &str {
//!         "first_available"
//!     }
//!
//!     fn route(&self, view: &RoutingView<'_>) -> Decision {
//!         view.agents()
//!             .find(|a| view.can_take(&a.agent.id))
//!             .map_or(Decision::Unassign, |a| Decision::Assign(a.agent.id.clone()))
//!     }
//! }
//! ```
//!
//! The `available_by_*` iterators of [`RoutingView`] walk indices of the available agents, so a
//! router that uses them costs the same with 10 agents as with 10 000; [`RoutingView::agents`]
//! walks every agent. Records and snapshots name the router; see [`crate::journal`] for how a
//! host's own router is found again on replay.
//!
//! # Decisions where the diagrams are silent
//!
//! * Without a router the engine never assigns chats and runs no timers; `join_chat` is the
//!   host's tool.
//! * An agent who goes offline keeps its chats; the 5-minute timer moves any it does not answer.
//! * An agent who gave a chat up (let the customer's message go unanswered for 5 minutes, or
//!   left it) is not offered that chat again, which would bounce it straight back, until another
//!   agent takes it, the thread closes, or the agent replies. Agents removed from the chat along
//!   with its assignee (one `remove_from_chat` naming several) gave it up too.
//! * An agent's system message that reopens a closed chat opens a thread that is routed like any
//!   new thread (otherwise system messages are not activity).
//! * The rule that an offline, not-accepting or full agent is never assigned a chat wins over
//!   the diagrams' "agent replies": such an agent's reply is delivered and the chat keeps
//!   waiting (with the automatic routers, it goes to an agent who can take it, if any).
//! * `update_agent` changes the requester's own status or, with `agents--all:write` (owners and
//!   administrators), another agent's.
//! * [`Engine::update_agent_profile`](crate::Engine::update_agent_profile) is the host's edit of
//!   a registered agent (name, e-mail, avatar, kind, groups, `max_chats`, permission, owner),
//!   found by its id; its routing state stays. It applies from then on: events keep the name
//!   they were written with, an agent who leaves a group keeps the chats it is in, and fewer
//!   slots than its load take no chat away but stop new assignments until it is below them.
//!   More slots or new groups let it take waiting chats at once, so the call returns an
//!   [`Output`](crate::Output) with those pushes.
//! * A closed or archived thread frees the assignee's slot; the agent stays among the chat's
//!   users.
//! * System messages written by timers carry the tick's time.

mod automatic;
mod manual;
mod view;

use std::fmt;
use std::sync::Arc;

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

/// The built-in router of this name (`automatic`, `least_loaded`, `round_robin`, `manual`):
/// what journal records and snapshots name a router by, and how replay finds it unless the
/// host passes its own resolver ([`Options::routers`](crate::journal::Options)).
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
