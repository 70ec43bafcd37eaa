//! A chat's routing state: who has it, since when it waits, what the customer last said.

use serde::{Deserialize, Serialize};

use super::{Timestamp, UserId};

/// Where an event stands: its order and time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMark {
    /// The event's order.
    pub order: u64,
    /// The event's time.
    pub timestamp: Timestamp,
}

/// Routing state of a chat. The engine keeps it; routers read it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
// The fields a customer's or an agent's message reads and writes first (see `Chat`).
#[repr(C)]
pub struct Assignment {
    /// The agent the chat is assigned to, if any. That agent is in the chat.
    pub assignee: Option<UserId>,
    /// When the current assignee got the chat.
    pub assigned_at: Option<Timestamp>,
    /// Since when the chat waits unassigned (queued), if it does.
    pub waiting_since: Option<Timestamp>,
    /// The customer's last message (any event but an annotation) in the active thread.
    pub last_customer_message: Option<EventMark>,
    /// When the oldest customer message the assignee has not seen came; the 5-minute check
    /// counts from it (or from the assignment, if later).
    pub unseen_since: Option<Timestamp>,
    /// The assignee's last event in the active thread.
    pub last_assignee_event: Option<EventMark>,
    /// The order counter when the assignee last moved its last-seen time: events with a lower
    /// order were there when it looked. Settles messages in the same second as the look.
    pub assignee_seen_order: Option<u64>,
    /// The agents who last gave the chat up: the assignee who let the customer's message go
    /// unanswered, or who left (with every agent removed by the same `remove_from_chat`).
    /// Routing does not offer them this chat again until someone else takes it, one of them
    /// replies (and takes it back), or the thread closes.
    pub declined_by: super::Thin<Vec<UserId>>,
    /// True once the chat was marked idle (`routing.idle`); any new message clears it.
    pub idle: bool,
    /// The queue position key while queued: `(waiting_since, arrival number)`.
    pub(crate) queue_key: Option<(Timestamp, u64)>,
    /// The deadline the chat has in the timer queue, if any.
    pub(crate) timer_at: Option<Timestamp>,
}
