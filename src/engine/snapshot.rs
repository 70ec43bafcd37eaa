//! The engine's state as data, for snapshots (the format is described in `journal/snapshot.rs`).
//!
//! Only what cannot be worked out again is kept: the agent index, the list of agent ids and the
//! availability indices are rebuilt on restore, and the router is kept by name. Restoring checks
//! every index the engine would later follow without a check, so a snapshot that decodes but
//! does not hang together is refused instead of panicking later.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use std::borrow::Borrow;

use serde::{Deserialize, Serialize, Serializer};

use super::chat_store::ChatView;

use super::{
    AgentRuntime, AutoChatScopes, Availability, CustomerRecord, Engine, EngineConfig, IdGenerator,
    RouterHandle, journaling::Outbox,
};
use crate::hash::FastMap;
use crate::model::{
    Agent, Assignment, Chat, ChatId, Properties, PropertyRegistry, Scopes, Thread, ThreadId,
    Timestamp, UserId,
};
use crate::routing::Router;

/// Everything an engine is, as plain data, borrowed for writing.
#[derive(Serialize)]
pub(crate) struct StateRef<'a> {
    config: &'a EngineConfig,
    ids: &'a IdGenerator,
    now: Timestamp,
    next_order: u64,
    journal_seq: u64,
    agents: &'a [Agent],
    agent_runtime: &'a [AgentRuntime],
    /// Sorted by customer id, so the same engine always makes the same snapshot.
    customers: Vec<&'a CustomerRecord>,
    /// Without the threads' events: a snapshot writes those apart, in binary.
    chats: ChatsRef<'a>,
    router: Option<&'a str>,
    assignment_seq: u64,
    timers: &'a BTreeSet<(Timestamp, usize)>,
    queue: &'a BTreeSet<(Timestamp, u64, usize)>,
    queue_seq: u64,
    properties: &'a PropertyRegistry,
    auto_chat_scopes: &'a [AutoChatScopes],
}

/// The same, owned, as read back.
#[derive(Deserialize)]
pub(crate) struct EngineState {
    config: EngineConfig,
    ids: IdGenerator,
    now: Timestamp,
    next_order: u64,
    journal_seq: u64,
    agents: Vec<Agent>,
    agent_runtime: Vec<AgentRuntime>,
    customers: Vec<CustomerRecord>,
    chats: Vec<Chat>,
    router: Option<String>,
    assignment_seq: u64,
    timers: BTreeSet<(Timestamp, usize)>,
    queue: BTreeSet<(Timestamp, u64, usize)>,
    queue_seq: u64,
    properties: PropertyRegistry,
    auto_chat_scopes: Vec<AutoChatScopes>,
}

impl Engine {
    /// The engine's state, for a snapshot.
    pub(crate) fn state<'a>(&'a self, chats: &'a [ChatView<'a>]) -> StateRef<'a> {
        let mut customers: Vec<&CustomerRecord> = self.customers.values().collect();
        customers.sort_unstable_by(|a, b| a.customer.id.cmp(&b.customer.id));
        StateRef {
            config: &self.config,
            ids: &self.ids,
            now: self.now,
            next_order: self.next_order,
            journal_seq: self.journal_seq,
            agents: &self.agents,
            agent_runtime: &self.agent_runtime,
            customers,
            chats: ChatsRef(chats),
            router: self.router.as_ref().map(|r| r.0.name()),
            assignment_seq: self.assignment_seq,
            timers: &self.timers,
            queue: &self.queue,
            queue_seq: self.queue_seq,
            properties: &self.properties,
            auto_chat_scopes: &self.auto_chat_scopes,
        }
    }

    /// An engine from a state, if it hangs together; otherwise what is wrong.
    ///
    /// Checks what the state says about itself, not where it came from: a version 2 snapshot
    /// must put each thread's events in place (see [`EngineState::chats_mut`]) before this.
    pub(crate) fn from_state(
        state: EngineState,
        routers: &dyn Fn(&str) -> Option<Arc<dyn Router>>,
    ) -> Result<Self, RestoreError> {
        let router = match state.router {
            Some(name) => match routers(&name) {
                Some(router) => Some(RouterHandle(router)),
                None => return Err(RestoreError::UnknownRouter(name)),
            },
            None => None,
        };
        let corrupt = |reason: String| Err(RestoreError::Inconsistent(reason));

        // Counters only ever count up by one, so a license could not reach these values in
        // centuries of work; a snapshot that claims them would make the next change overflow.
        for (name, value) in [
            ("next_order", state.next_order),
            ("journal_seq", state.journal_seq),
            ("assignment_seq", state.assignment_seq),
            ("queue_seq", state.queue_seq),
        ] {
            if value >= COUNTER_LIMIT {
                return corrupt(format!(
                    "{name} is {value}, past any count a license reaches"
                ));
            }
        }

        if state.agent_runtime.len() != state.agents.len() {
            return corrupt(format!(
                "{} agents but {} routing states",
                state.agents.len(),
                state.agent_runtime.len()
            ));
        }
        let mut agent_index = FastMap::default();
        for (slot, agent) in state.agents.iter().enumerate() {
            if let Err(e) = agent.validate() {
                return corrupt(format!("agent {}: {e}", agent.id));
            }
            if agent_index.insert(agent.id.clone(), slot).is_some() {
                return corrupt(format!("agent {} appears twice", agent.id));
            }
        }
        let mut customers = FastMap::default();
        for record in state.customers {
            let id = record.customer.id.clone();
            if agent_index.contains_key(&id) || customers.insert(id.clone(), record).is_some() {
                return corrupt(format!("user {id} appears twice"));
            }
        }

        let slot_mask = slot_mask(state.config.seed);
        for (slot, chat) in state.chats.iter().enumerate() {
            if slot_of(chat.id, slot_mask) != slot {
                return corrupt(format!("chat {} is out of place", chat.id));
            }
            if chat.threads.is_empty() {
                return corrupt(format!("chat {} has no thread", chat.id));
            }
            if let Some(customer) = &chat.customer_id {
                let owned = customers
                    .get(customer)
                    .is_some_and(|r: &CustomerRecord| r.chats.contains(&chat.id));
                if !owned {
                    return corrupt(format!("chat {} has an unknown customer", chat.id));
                }
            }
            let in_bounds = chat
                .custom_ids
                .values()
                .flat_map(|m| m.values())
                .all(|&(t, e)| {
                    chat.threads
                        .get(t as usize)
                        .is_some_and(|thread| (e as usize) < thread.events.len())
                });
            if !in_bounds {
                return corrupt(format!("chat {} has a dangling custom_id", chat.id));
            }
        }
        for record in customers.values() {
            for id in &record.chats {
                let owned = state.chats.get(slot_of(*id, slot_mask)).is_some_and(|c| {
                    c.id == *id && c.customer_id.as_ref() == Some(&record.customer.id)
                });
                if !owned {
                    return corrupt(format!(
                        "customer {} lists unknown chat {id}",
                        record.customer.id
                    ));
                }
            }
        }
        let chats = state.chats.len();
        if let Some(&(_, slot)) = state.timers.iter().find(|(_, s)| *s >= chats) {
            return corrupt(format!("a timer points at chat slot {slot}"));
        }
        if let Some(&(_, _, slot)) = state.queue.iter().find(|(_, _, s)| *s >= chats) {
            return corrupt(format!("the queue points at chat slot {slot}"));
        }

        let availability = Availability::rebuild(&state.agents, &state.agent_runtime);
        let all_agent_ids: Arc<[_]> = state.agents.iter().map(|a| a.id.clone()).collect();
        let mut chats = super::chat_store::ChatStore::from(state.chats);
        if router.is_some() {
            chats.stop_logging();
        }
        Ok(Engine {
            config: state.config,
            ids: state.ids,
            now: state.now,
            next_order: state.next_order,
            agents: state.agents,
            agent_index,
            all_agent_ids,
            customers,
            chats,
            slot_mask,
            router,
            agent_runtime: state.agent_runtime,
            availability,
            assignment_seq: state.assignment_seq,
            timers: state.timers,
            queue: state.queue,
            queue_seq: state.queue_seq,
            properties: state.properties,
            auto_chat_scopes: state.auto_chat_scopes,
            journal_seq: state.journal_seq,
            outbox: Outbox::default(),
        })
    }
}

impl EngineState {
    /// The chats as read, for a reader that keeps the threads' events apart and puts them in
    /// place before [`Engine::from_state`] checks the whole.
    pub(crate) fn chats_mut(&mut self) -> &mut [Chat] {
        &mut self.chats
    }
}

/// The chats, serialized as `Chat` is, except that every thread's `events` is an empty list.
struct ChatsRef<'a>(&'a [ChatView<'a>]);

impl Serialize for ChatsRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|c| ChatRef::new(c.borrow())))
    }
}

/// A chat, borrowed, with the same fields and names as `Chat`'s own serialization.
#[derive(Serialize)]
struct ChatRef<'a> {
    id: ChatId,
    customer_id: &'a Option<UserId>,
    agent_ids: &'a [UserId],
    threads: ThreadsRef<'a>,
    properties: &'a Properties,
    scopes: &'a Scopes,
    created_at: Timestamp,
    last_seen: &'a BTreeMap<UserId, Timestamp>,
    routing: &'a Assignment,
    custom_ids: CustomIdsRef<'a>,
}

impl<'a> ChatRef<'a> {
    fn new(chat: &'a Chat) -> Self {
        // No `..`: a field added to `Chat` must be given its place in snapshots before this
        // compiles again.
        let Chat {
            id,
            customer_id,
            agent_ids,
            threads,
            properties,
            scopes,
            created_at,
            last_seen,
            routing,
            custom_ids,
        } = chat;
        Self {
            id: *id,
            customer_id,
            agent_ids,
            threads: ThreadsRef(threads),
            properties,
            scopes,
            created_at: *created_at,
            last_seen,
            routing,
            custom_ids: CustomIdsRef(custom_ids),
        }
    }
}

struct ThreadsRef<'a>(&'a [Thread]);

impl Serialize for ThreadsRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(ThreadRef::new))
    }
}

/// A thread, borrowed, as `Thread` serializes, with `events` always `[]`: the derived reader
/// of `Thread` needs the key, and the events themselves follow in the binary section.
#[derive(Serialize)]
struct ThreadRef<'a> {
    id: ThreadId,
    order: u64,
    active: bool,
    user_ids: &'a [UserId],
    events: [(); 0],
    timestamp: Timestamp,
    closed_at: Option<Timestamp>,
    last_activity: Timestamp,
    properties: &'a Properties,
}

impl<'a> ThreadRef<'a> {
    fn new(thread: &'a Thread) -> Self {
        // No `..`, as in `ChatRef::new`. `events` is the one field left out on purpose.
        let Thread {
            id,
            order,
            active,
            user_ids,
            events: _,
            timestamp,
            closed_at,
            last_activity,
            properties,
        } = thread;
        Self {
            id: *id,
            order: *order,
            active: *active,
            user_ids,
            events: [],
            timestamp: *timestamp,
            closed_at: *closed_at,
            last_activity: *last_activity,
            properties,
        }
    }
}

/// The custom id index as `Chat` writes it: a list of `[sender, custom_id, [thread, event]]`,
/// sorted, so the same chat always gives the same bytes.
struct CustomIdsRef<'a>(&'a crate::model::chat::CustomIdIndex);

impl Serialize for CustomIdsRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<(&UserId, &str, (u32, u32))> = self
            .0
            .iter()
            .flat_map(|(user, ids)| ids.iter().map(move |(c, at)| (user, c.as_str(), *at)))
            .collect();
        entries.sort_unstable();
        entries.serialize(s)
    }
}

/// Why a decoded state was refused.
pub(crate) enum RestoreError {
    UnknownRouter(String),
    Inconsistent(String),
}

/// The highest a counter of a restored state may be: 2^62, which a license making a billion
/// changes a second reaches after about 146 years.
const COUNTER_LIMIT: u64 = 1 << 62;

/// The mask that hides chat slots in chat ids, from the seed.
pub(crate) fn slot_mask(seed: u64) -> u32 {
    (seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32
}

/// The slot a chat id names.
pub(crate) fn slot_of(id: ChatId, mask: u32) -> usize {
    let bytes = id.as_uuid().as_bytes();
    let tail = u32::from_be_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    (tail ^ mask) as usize
}
