//! Pushes: what the engine tells users about, already addressed and filtered.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::UserIds;
use crate::model::{
    ChatId, Event, EventId, Properties, Recipients, Role, Scopes, Thread, ThreadId, Timestamp,
    User, UserId,
};

/// A message for a set of users, all of one role, all allowed to see all of it.
///
/// The engine has already applied visibility: a customer is never among the recipients of an
/// agents-only event or a sneak peek, and a push for customers carries the customer's view.
#[derive(Clone, Debug, PartialEq)]
pub struct Push {
    /// Who gets it, in a deterministic order.
    pub to: UserIds,
    /// The role of every recipient; the wire format of a push depends on the API.
    pub role: Role,
    /// What happened.
    pub kind: PushKind,
}

impl Push {
    /// The protocol action of the push, e.g. `incoming_event`.
    pub fn action(&self) -> &'static str {
        self.kind.action()
    }
}

/// A chat with one thread, as `start_chat` answers and `incoming_chat_thread` pushes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatThread {
    /// The chat.
    pub id: ChatId,
    /// The chat's users.
    pub users: Vec<User>,
    /// Per user of the chat, the time it has seen the chat up to (`update_last_seen_timestamp`);
    /// users who never said are left out.
    #[serde(default)]
    pub last_seen: BTreeMap<UserId, Timestamp>,
    /// The routing status of each of the chat's agents who is online, as the Agent API shows it
    /// on the agent objects of `users`; offline agents are left out, and a customer's view has
    /// none (the Customer API does not show it).
    #[serde(default)]
    pub routing_statuses: BTreeMap<UserId, crate::routing::RoutingStatus>,
    /// The chat's properties.
    pub properties: Properties,
    /// The chat's scopes, as the recipient may see them (see [`Scopes::visible_to`]).
    pub scopes: Scopes,
    /// The thread, as the recipient may see it.
    pub thread: Thread,
}

/// A typing indicator, pushed and never stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypingIndicator {
    /// Who is typing.
    pub author_id: UserId,
    /// Who is told.
    pub recipients: Recipients,
    /// When.
    pub timestamp: Timestamp,
    /// Whether the author is typing or stopped.
    pub is_typing: bool,
}

/// What a customer is typing, shown to agents only; pushed and never stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SneakPeek {
    /// The customer.
    pub author_id: UserId,
    /// When.
    pub timestamp: Timestamp,
    /// The text so far.
    pub text: String,
}

/// A rich message postback: a user pressed (or un-pressed) a button.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Postback {
    /// The button's `postback_id`.
    pub id: String,
    /// Pressed (`true`) or un-pressed.
    pub toggled: bool,
}

/// Every kind of push, named after the protocol's push actions.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum PushKind {
    /// A chat got a new thread (a new chat, or an event to a chat with no active thread).
    IncomingChatThread {
        /// The chat and the new thread.
        chat: Box<ChatThread>,
    },
    /// An event was added to an existing thread.
    IncomingEvent {
        /// The chat.
        chat_id: ChatId,
        /// The thread.
        thread_id: ThreadId,
        /// The event.
        event: Arc<Event>,
    },
    /// Users joined or left a chat.
    ChatUsersUpdated {
        /// The chat.
        chat_id: ChatId,
        /// Users who joined.
        added: Vec<User>,
        /// Users who left.
        removed_ids: Vec<UserId>,
    },
    /// A thread was closed.
    ThreadClosed {
        /// The chat.
        chat_id: ChatId,
        /// The thread.
        thread_id: ThreadId,
        /// Who closed it; `None` when the engine did (routing).
        user_id: Option<UserId>,
    },
    /// Someone started or stopped typing.
    IncomingTypingIndicator {
        /// The chat.
        chat_id: ChatId,
        /// The indicator.
        typing_indicator: TypingIndicator,
    },
    /// What a customer is typing (agents only).
    IncomingSneakPeek {
        /// The chat.
        chat_id: ChatId,
        /// The sneak peek.
        sneak_peek: SneakPeek,
    },
    /// A user toggled a rich message button.
    IncomingRichMessagePostback {
        /// Who toggled.
        user_id: UserId,
        /// The chat.
        chat_id: ChatId,
        /// The thread.
        thread_id: ThreadId,
        /// The rich message.
        event_id: EventId,
        /// The postback.
        postback: Box<Postback>,
    },
    /// A user's last-seen time in a chat moved forward.
    LastSeenTimestampUpdated {
        /// The user.
        user_id: UserId,
        /// The chat.
        chat_id: ChatId,
        /// The new last-seen time.
        timestamp: Timestamp,
    },
    /// An agent sent a multicast.
    IncomingMulticast {
        /// The agent.
        author_id: UserId,
        /// Whatever JSON the agent sent.
        content: serde_json::Value,
    },
    /// Chat properties changed; only the changed ones, as the recipient may read them.
    ChatPropertiesUpdated {
        /// The chat.
        chat_id: ChatId,
        /// What changed.
        properties: Properties,
    },
    /// Thread properties changed; only the changed ones, as the recipient may read them.
    ChatThreadPropertiesUpdated {
        /// The chat.
        chat_id: ChatId,
        /// The thread.
        thread_id: ThreadId,
        /// What changed.
        properties: Properties,
    },
    /// A chat's scopes changed.
    ChatScopesUpdated {
        /// The chat.
        chat_id: ChatId,
        /// Scopes added.
        scopes_added: Box<Scopes>,
        /// Scopes removed.
        scopes_removed: Box<Scopes>,
    },
    /// An agent's routing status changed.
    AgentUpdated {
        /// The agent.
        agent_id: UserId,
        /// Its new status.
        routing_status: crate::routing::RoutingStatus,
    },
    /// A customer was banned (to agents).
    CustomerBanned {
        /// The customer.
        customer_id: UserId,
        /// For how many days.
        days: u32,
    },
    /// The customer's connections are being closed (to the customer), e.g. `customer_banned`.
    CustomerDisconnected {
        /// Why.
        reason: String,
    },
    /// The agent's connections are being closed (to agents), e.g. `license_expired`.
    AgentDisconnected {
        /// Why.
        reason: String,
    },
    /// A customer's details changed; sent once per active chat of the customer.
    CustomerUpdated {
        /// The chat.
        chat_id: ChatId,
        /// The customer as it is now.
        customer: Box<crate::model::Customer>,
    },
}

impl PushKind {
    /// The protocol action of the push.
    pub fn action(&self) -> &'static str {
        match self {
            PushKind::IncomingChatThread { .. } => "incoming_chat_thread",
            PushKind::IncomingEvent { .. } => "incoming_event",
            PushKind::ChatUsersUpdated { .. } => "chat_users_updated",
            PushKind::ThreadClosed { .. } => "thread_closed",
            PushKind::IncomingTypingIndicator { .. } => "incoming_typing_indicator",
            PushKind::IncomingSneakPeek { .. } => "incoming_sneak_peek",
            PushKind::IncomingRichMessagePostback { .. } => "incoming_rich_message_postback",
            PushKind::LastSeenTimestampUpdated { .. } => "last_seen_timestamp_updated",
            PushKind::IncomingMulticast { .. } => "incoming_multicast",
            PushKind::CustomerUpdated { .. } => "customer_updated",
            PushKind::AgentUpdated { .. } => "agent_updated",
            PushKind::ChatPropertiesUpdated { .. } => "chat_properties_updated",
            PushKind::ChatThreadPropertiesUpdated { .. } => "chat_thread_properties_updated",
            PushKind::ChatScopesUpdated { .. } => "chat_scopes_updated",
            PushKind::CustomerBanned { .. } => "customer_banned",
            PushKind::CustomerDisconnected { .. } => "customer_disconnected",
            PushKind::AgentDisconnected { .. } => "agent_disconnected",
        }
    }

    /// The chat the push is about, if it is about one.
    pub fn chat_id(&self) -> Option<ChatId> {
        match self {
            PushKind::IncomingChatThread { chat } => Some(chat.id),
            PushKind::IncomingEvent { chat_id, .. }
            | PushKind::ChatUsersUpdated { chat_id, .. }
            | PushKind::ThreadClosed { chat_id, .. }
            | PushKind::IncomingTypingIndicator { chat_id, .. }
            | PushKind::IncomingSneakPeek { chat_id, .. }
            | PushKind::IncomingRichMessagePostback { chat_id, .. }
            | PushKind::LastSeenTimestampUpdated { chat_id, .. }
            | PushKind::CustomerUpdated { chat_id, .. }
            | PushKind::ChatPropertiesUpdated { chat_id, .. }
            | PushKind::ChatThreadPropertiesUpdated { chat_id, .. }
            | PushKind::ChatScopesUpdated { chat_id, .. } => Some(*chat_id),
            PushKind::IncomingMulticast { .. }
            | PushKind::AgentUpdated { .. }
            | PushKind::CustomerBanned { .. }
            | PushKind::CustomerDisconnected { .. }
            | PushKind::AgentDisconnected { .. } => None,
        }
    }

    /// Every stored event the push carries (one for `incoming_event`, the thread's for
    /// `incoming_chat_thread`), unpacked. Privacy checks walk these.
    pub fn events(&self) -> Vec<Event> {
        match self {
            PushKind::IncomingChatThread { chat } => chat.thread.events.to_vec(),
            PushKind::IncomingEvent { event, .. } => vec![Event::clone(event)],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `send_event` moves its pushes into the response's list; up to 128 bytes the
    /// compiler copies a push inline, above that each move is a `memcpy` call. A new variant
    /// with a large payload should box it.
    #[test]
    fn a_push_is_small_enough_to_move_inline() {
        assert!(std::mem::size_of::<Push>() <= 128);
    }
}
