//! Chats: a customer's conversation with the license, made of threads.

use serde::{Deserialize, Serialize};

use super::custom_ids::CustomIds;
use super::events::EventRef;
use super::{
    Assignment, ChatId, LastSeen, Properties, Role, Scopes, Thin, Thread, Threads, Timestamp,
    UserId,
};

/// A chat: its users, its threads and what is known about it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
// Laid out in the order a send reads it: in a large license every send's first touch of its
// chat is a cache miss, and the fields a send needs are then in the lines that miss brought in
// (and the next ones, which the processor fetches with them) rather than spread over the
// whole chat.
#[repr(C)]
pub struct Chat {
    /// Assigned by the engine.
    pub id: ChatId,
    /// The customer the chat belongs to; `None` for a chat an agent started without one.
    pub customer_id: Option<UserId>,
    /// Which agents may see the chat.
    pub scopes: Thin<Scopes>,
    /// Threads in order; never empty (a chat starts with a thread, R2).
    pub threads: Threads,
    /// Sender and `custom_id` to the event, for idempotent retries (R6). Derived from the
    /// events, so it is neither serialized nor shown; snapshots write it as a list.
    #[serde(skip)]
    pub(crate) custom_ids: CustomIds,
    /// Routing state: assignee, queue, timers.
    pub routing: Assignment,
    /// Agents in the chat, in the order they joined.
    pub agent_ids: Vec<UserId>,
    /// Per user, the latest time the user has seen the chat up to.
    pub last_seen: Thin<LastSeen>,
    /// How many events the threads before the last one hold: events only ever go to the last
    /// thread, so this changes only when a thread opens ([`Chat::open`]).
    #[serde(skip)]
    events_before_last: usize,
    /// The chat's properties.
    pub properties: Thin<Properties>,
    /// When the chat started.
    pub created_at: Timestamp,
}

impl Chat {
    pub(crate) fn new(id: ChatId, customer_id: Option<UserId>, created_at: Timestamp) -> Self {
        Self {
            id,
            customer_id,
            agent_ids: Vec::new(),
            threads: Threads::default(),
            properties: Thin::default(),
            scopes: Thin::default(),
            created_at,
            last_seen: Thin::default(),
            routing: Assignment::default(),
            custom_ids: CustomIds::default(),
            events_before_last: 0,
        }
    }

    /// Adds a thread at the end.
    pub(crate) fn open(&mut self, thread: Thread) {
        self.events_before_last += self.threads.last().map_or(0, |t| t.events.len());
        self.threads.push(thread);
    }

    /// Counts the events before the last thread again, after the threads were filled in by
    /// hand (a snapshot being read).
    pub(crate) fn recount(&mut self) {
        let before = self.threads.len().saturating_sub(1);
        self.events_before_last = self.threads[..before].iter().map(|t| t.events.len()).sum();
    }

    /// How many events the chat holds.
    pub(crate) fn event_count(&self) -> usize {
        self.events_before_last + self.threads.last().map_or(0, |t| t.events.len())
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

    /// Where the event `sender` sent with `custom_id` is, as `(thread index, event index)`, if
    /// there is one; `hash` is the license's hash of the two.
    #[inline]
    pub(crate) fn find_custom_id(
        &self,
        hash: u64,
        sender: &UserId,
        custom_id: &str,
    ) -> Option<(usize, usize)> {
        let number = self.custom_ids.find(hash, |n| {
            self.event_by_number(n)
                .is_some_and(|(_, _, e)| e.custom_id == Some(custom_id) && e.sender == Some(sender))
        })?;
        self.event_by_number(number).map(|(t, i, _)| (t, i))
    }

    /// Indexes the event at `(thread, index)`, sent with the `custom_id` whose hash is `hash`.
    /// Returns false, indexing nothing, for a chat past 2^32 events, which the index cannot
    /// number (the engine refuses such events before it gets here).
    pub(crate) fn index_custom_id(&mut self, hash: u64, thread: usize, index: usize) -> bool {
        match self.event_number(thread, index) {
            Some(number) => {
                self.custom_ids.insert(hash, number);
                true
            }
            None => false,
        }
    }

    /// The number of the event at `(thread, index)`, counting every event of the chat in
    /// order, if it fits the index's 32 bits.
    pub(crate) fn event_number(&self, thread: usize, index: usize) -> Option<u32> {
        let before: usize = if thread + 1 == self.threads.len() {
            self.events_before_last
        } else {
            self.threads
                .get(..thread)?
                .iter()
                .map(|t| t.events.len())
                .sum()
        };
        u32::try_from(before.checked_add(index)?).ok()
    }

    /// The event numbered `number` (see [`event_number`](Self::event_number)): its thread,
    /// its index there and the event. Most lookups are of the last thread, so it counts back
    /// from the end.
    fn event_by_number(&self, number: u32) -> Option<(usize, usize, EventRef<'_>)> {
        let number = number as usize;
        let last = self.threads.len().checked_sub(1)?;
        if number >= self.events_before_last {
            let index = number - self.events_before_last;
            return self.threads[last]
                .events
                .at(index)
                .map(|e| (last, index, e));
        }
        let mut end = self.events_before_last;
        for (t, thread) in self.threads[..last].iter().enumerate().rev() {
            let start = end - thread.events.len();
            if number >= start {
                let index = number - start;
                return thread.events.at(index).map(|e| (t, index, e));
            }
            end = start;
        }
        None
    }

    /// Rebuilds the `custom_id` index from the events the chat holds, after some of its
    /// threads lost theirs (archived): the index numbers every event of the chat in order, so
    /// the numbers of the events that stay have changed.
    pub(crate) fn reindex_custom_ids(&mut self, key: &super::custom_ids::CustomIdKey) {
        let entries: Vec<(u64, (u32, u32))> = self
            .custom_id_entries()
            .map(|(sender, custom_id, at)| (key.hash(sender, custom_id), at))
            .collect();
        self.custom_ids = CustomIds::default();
        for (hash, (t, e)) in entries {
            // Fewer events than before, so every number still fits.
            self.index_custom_id(hash, t as usize, e as usize);
        }
    }

    /// Every indexed event: `(sender, custom_id, (thread index, event index))`.
    pub(crate) fn custom_id_entries(&self) -> impl Iterator<Item = (&UserId, &str, (u32, u32))> {
        self.threads.iter().enumerate().flat_map(|(t, thread)| {
            thread.events.refs().enumerate().filter_map(move |(i, e)| {
                let (sender, custom_id) = (e.sender?, e.custom_id?);
                Some((sender, custom_id, (t as u32, i as u32)))
            })
        })
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
                t.event_refs_for(role)
                    .next_back()
                    .map_or(t.order, |e| e.order.max(t.order))
            })
            .unwrap_or(0)
    }
}
