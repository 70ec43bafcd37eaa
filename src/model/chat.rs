//! Chats: a customer's conversation with the license, made of threads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Assignment, ChatId, Properties, Role, Scopes, Thread, Threads, Timestamp, UserId};
use crate::hash::FastMap;

/// Per sender, `custom_id` to `(thread index, event index)`. The inner map is ordered, not
/// hashed: its keys are chosen by whoever sends the request, and the engine's hasher is fast but
/// not keyed, so crafted ids could all land in one bucket and make every send with a custom id
/// cost time in proportion to the ids before it. Senders are registered users, so the outer map
/// may hash.
pub(crate) type CustomIdIndex = FastMap<UserId, BTreeMap<String, (u32, u32)>>;

/// A chat: its users, its threads and what is known about it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Chat {
    /// Assigned by the engine.
    pub id: ChatId,
    /// The customer the chat belongs to; `None` for a chat an agent started without one.
    pub customer_id: Option<UserId>,
    /// Agents in the chat, in the order they joined.
    pub agent_ids: Vec<UserId>,
    /// Threads in order; never empty (a chat starts with a thread, R2).
    pub threads: Threads,
    /// The chat's properties.
    pub properties: Properties,
    /// Which agents may see the chat.
    pub scopes: Scopes,
    /// When the chat started.
    pub created_at: Timestamp,
    /// Per user, the latest time the user has seen the chat up to.
    pub last_seen: BTreeMap<UserId, Timestamp>,
    /// Routing state: assignee, queue, timers.
    pub routing: Assignment,
    /// Sender, then `custom_id`, to `(thread index, event index)`, for idempotent retries.
    #[serde(with = "custom_id_index")]
    pub(crate) custom_ids: CustomIdIndex,
}

impl Chat {
    pub(crate) fn new(id: ChatId, customer_id: Option<UserId>, created_at: Timestamp) -> Self {
        Self {
            id,
            customer_id,
            agent_ids: Vec::new(),
            threads: Threads::default(),
            properties: Properties::new(),
            scopes: Scopes::default(),
            created_at,
            last_seen: BTreeMap::new(),
            routing: Assignment::default(),
            custom_ids: FastMap::default(),
        }
    }

    /// The last thread. Every chat has one.
    pub fn last_thread(&self) -> Option<&Thread> {
        self.threads.last()
    }

    /// The active thread, if any: it can only be the last one.
    pub fn active_thread(&self) -> Option<&Thread> {
        self.threads.last().filter(|t| t.active)
    }

    /// True if the chat has an active thread.
    pub fn is_active(&self) -> bool {
        self.active_thread().is_some()
    }

    /// A thread by id.
    pub fn thread(&self, id: &super::ThreadId) -> Option<&Thread> {
        self.threads.iter().find(|t| t.id == *id)
    }

    /// True if `user` is the chat's customer or one of its agents.
    pub fn has_user(&self, user: &UserId) -> bool {
        self.customer_id.as_ref() == Some(user) || self.agent_ids.contains(user)
    }

    /// The chat's users: the customer first, then the agents.
    pub fn user_ids(&self) -> Vec<UserId> {
        self.customer_id
            .iter()
            .chain(self.agent_ids.iter())
            .cloned()
            .collect()
    }

    /// Where the event a sender sent with `custom_id` is, if there is one.
    pub(crate) fn find_custom_id(&self, sender: &UserId, custom_id: &str) -> Option<(u32, u32)> {
        self.custom_ids.get(sender)?.get(custom_id).copied()
    }

    /// The order of the latest thing in the chat (a thread start or an event), for sorting.
    pub fn order(&self) -> u64 {
        // Agents see every event, so theirs is the whole chat's order.
        self.order_for(Role::Agent)
    }

    /// [`order`](Self::order) counting only what a user of `role` may see: an event for agents
    /// only does not move a customer's chat up its list, nor tell the customer that something
    /// was written there.
    pub fn order_for(&self, role: Role) -> u64 {
        self.threads
            .last()
            .map(|t| {
                t.events_for(role)
                    .next_back()
                    .map_or(t.order, |e| e.order.max(t.order))
            })
            .unwrap_or(0)
    }
}

// The index is derived from the threads, but rebuilding it on restore would cost a scan of every
// event, so snapshots keep it, as a list (JSON maps need string keys).
mod custom_id_index {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::CustomIdIndex;
    use crate::model::UserId;

    type Entry = (UserId, String, (u32, u32));

    pub(super) fn serialize<S: Serializer>(index: &CustomIdIndex, s: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<Entry> = index
            .iter()
            .flat_map(|(user, ids)| {
                ids.iter()
                    .map(move |(c, at)| (user.clone(), c.clone(), *at))
            })
            .collect();
        entries.sort();
        entries.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<CustomIdIndex, D::Error> {
        let mut index = CustomIdIndex::default();
        for (user, custom_id, at) in Vec::<Entry>::deserialize(d)? {
            index.entry(user).or_default().insert(custom_id, at);
        }
        Ok(index)
    }
}
