//! The engine's state as data, for snapshots (the file format is in `snapshot_format.rs`).
//!
//! Only what cannot be worked out again is kept: the agent index, the list of agent ids and the
//! availability indices are rebuilt on restore, and the router is kept by name. Restoring checks
//! every index the engine would later follow without a check, so a snapshot that decodes but
//! does not hang together is refused instead of panicking later.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{
    AgentRuntime, AutoChatScopes, Availability, CustomerRecord, Engine, EngineConfig, IdGenerator,
    RouterHandle, journaling::Journal,
};
use crate::model::custom_ids::CustomIdKey;
use crate::model::{
    Agent, Archived, Assignment, BotWebhooks, Chat, ChatId, Properties, PropertyRegistry, Scopes,
    Thread, ThreadId, Timestamp, UserId,
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
    /// Left out when there are none: such snapshots are as they were before webhooks.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    webhooks: &'a [super::RegisteredWebhook],
    /// Left out when there are none: such snapshots are as they were before bot agents.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    bot_webhooks: &'a BTreeMap<UserId, BotWebhooks>,
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
    chats: RestoredChats,
    router: Option<String>,
    assignment_seq: u64,
    timers: BTreeSet<(Timestamp, usize)>,
    queue: BTreeSet<(Timestamp, u64, usize)>,
    queue_seq: u64,
    properties: PropertyRegistry,
    auto_chat_scopes: Vec<AutoChatScopes>,
    /// Snapshots from before webhooks have none.
    #[serde(default)]
    webhooks: Vec<super::RegisteredWebhook>,
    /// Snapshots from before bot agents have none.
    #[serde(default)]
    bot_webhooks: BTreeMap<UserId, BotWebhooks>,
}

impl Engine {
    /// The engine's state, for a snapshot.
    pub(crate) fn state<'a>(&'a self, chats: &'a [&'a Chat]) -> StateRef<'a> {
        let mut customers: Vec<&CustomerRecord> = self.directory.customers().collect();
        customers.sort_unstable_by(|a, b| a.customer.id.cmp(&b.customer.id));
        StateRef {
            config: &self.config,
            ids: &self.ids,
            now: self.now,
            next_order: self.next_order,
            journal_seq: self.journal.seq(),
            agents: self.directory.agents(),
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
            webhooks: &self.webhooks,
            bot_webhooks: &self.bot_webhooks,
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
        let mut directory =
            match super::directory::Directory::from_parts(state.agents, state.customers) {
                Ok(directory) => directory,
                Err(reason) => return corrupt(reason),
            };
        let chat_ids = super::ChatIdKey::new(state.config.seed, state.config.chat_id_scheme);
        let custom_id_key = CustomIdKey::from_seed(state.config.seed);
        let RestoredChats {
            chats: mut state_chats,
            custom_ids,
        } = state.chats;
        for (chat, entries) in state_chats.iter_mut().zip(custom_ids) {
            chat.recount();
            if let Err(reason) = index_custom_ids(chat, entries, &custom_id_key) {
                return corrupt(format!("chat {}: {reason}", chat.id));
            }
        }
        for (slot, chat) in state_chats.iter().enumerate() {
            if chat_ids.slot_of(chat.id) != slot {
                return corrupt(format!("chat {} is out of place", chat.id));
            }
            if chat.threads.is_empty() {
                return corrupt(format!("chat {} has no thread", chat.id));
            }
            // What `archive_threads` leaves: closed threads without events, never the last.
            let last = chat.threads.len() - 1;
            for (t, thread) in chat.threads.iter().enumerate() {
                let stub = thread.archived.is_some();
                if stub && (thread.active || t == last || !thread.events.is_empty()) {
                    return corrupt(format!(
                        "chat {}: thread {} is archived but active, last or with events",
                        chat.id, thread.id
                    ));
                }
            }
            if let Some(customer) = &chat.customer_id {
                let owned = directory
                    .customer(customer)
                    .is_some_and(|r: &CustomerRecord| r.chats.contains(&chat.id));
                if !owned {
                    return corrupt(format!("chat {} has an unknown customer", chat.id));
                }
            }
        }
        for record in directory.customers() {
            for id in &record.chats {
                let owned = state_chats.get(chat_ids.slot_of(*id)).is_some_and(|c| {
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
        let chats = state_chats.len();
        if let Some(&(_, slot)) = state.timers.iter().find(|(_, s)| *s >= chats) {
            return corrupt(format!("a timer points at chat slot {slot}"));
        }
        if let Some(&(_, _, slot)) = state.queue.iter().find(|(_, _, s)| *s >= chats) {
            return corrupt(format!("the queue points at chat slot {slot}"));
        }

        // Removed agents keep their slots but hear of nothing (see `removal`).
        for (slot, runtime) in state.agent_runtime.iter().enumerate() {
            if runtime.removed {
                directory.retire(slot);
            }
        }
        let availability = Availability::rebuild(directory.agents(), &state.agent_runtime);
        let mut audiences = super::audiences::Audiences::default();
        for chat in &state_chats {
            audiences.ensure(&chat.scopes, &directory);
        }
        let chats = super::chat_store::ChatStore::from(state_chats);
        Ok(Engine {
            config: state.config,
            ids: state.ids,
            now: state.now,
            next_order: state.next_order,
            directory,
            chats,
            chat_ids,
            custom_id_key,
            audiences,
            router,
            agent_runtime: state.agent_runtime,
            availability,
            assignment_seq: state.assignment_seq,
            timers: state.timers,
            queue: state.queue,
            queue_seq: state.queue_seq,
            properties: state.properties,
            auto_chat_scopes: state.auto_chat_scopes,
            webhooks: state.webhooks,
            bot_webhooks: state.bot_webhooks,
            journal: Journal::restored(state.journal_seq),
            static_config_path: None,
        })
    }
}

impl EngineState {
    /// The chats as read, for a reader that keeps the threads' events apart and puts them in
    /// place before [`Engine::from_state`] checks the whole.
    pub(crate) fn chats_mut(&mut self) -> &mut [Chat] {
        &mut self.chats.chats
    }

    /// Whether any thread is archived: what only version 3 snapshots may hold.
    pub(crate) fn has_archived_threads(&self) -> bool {
        (self.chats.chats.iter()).any(|c| c.threads.iter().any(|t| t.archived.is_some()))
    }
}

/// The chats, serialized as `Chat` is, except that every thread's `events` is an empty list.
struct ChatsRef<'a>(&'a [&'a Chat]);

impl Serialize for ChatsRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|c| ChatRef::new(c)))
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
    last_seen: &'a crate::model::LastSeen,
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
            custom_ids: _,
            ..
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
            custom_ids: CustomIdsRef(chat),
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
    user_ids: Vec<UserId>,
    events: [(); 0],
    timestamp: Timestamp,
    closed_at: Option<Timestamp>,
    last_activity: Timestamp,
    properties: &'a Properties,
    #[serde(skip_serializing_if = "Option::is_none")]
    archived: Option<&'a Archived>,
}

impl<'a> ThreadRef<'a> {
    fn new(thread: &'a Thread) -> Self {
        // No `..`, as in `ChatRef::new`. `events` is the one field left out on purpose.
        let Thread {
            id,
            order,
            active,
            events,
            timestamp,
            closed_at,
            last_activity,
            properties,
            archived,
        } = thread;
        Self {
            id: *id,
            order: *order,
            active: *active,
            user_ids: events.users(),
            events: [],
            timestamp: *timestamp,
            closed_at: *closed_at,
            last_activity: *last_activity,
            properties,
            archived: archived.as_deref(),
        }
    }
}

/// The custom id index as snapshots write it: a list of `[sender, custom_id, [thread,
/// event]]`, sorted, so the same chat always gives the same bytes. The index itself keeps only
/// hashes, so the list is made from the events.
struct CustomIdsRef<'a>(&'a Chat);

impl Serialize for CustomIdsRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<(&UserId, &str, (u32, u32))> = self.0.custom_id_entries().collect();
        entries.sort_unstable();
        entries.serialize(s)
    }
}

/// One entry of that list, as read.
type CustomIdEntry = (UserId, String, (u32, u32));

/// The chats of a snapshot's JSON, each with its custom id list, which the chat itself does not
/// keep (it rebuilds its index from the list once the events are in place).
pub(crate) struct RestoredChats {
    chats: Vec<Chat>,
    custom_ids: Vec<Vec<CustomIdEntry>>,
}

impl<'de> Deserialize<'de> for RestoredChats {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// A chat as `ChatRef` writes it.
        #[derive(Deserialize)]
        struct ChatState {
            id: ChatId,
            customer_id: Option<UserId>,
            agent_ids: Vec<UserId>,
            threads: crate::model::Threads,
            properties: Properties,
            scopes: Scopes,
            created_at: Timestamp,
            last_seen: crate::model::LastSeen,
            routing: Assignment,
            #[serde(default)]
            custom_ids: Vec<CustomIdEntry>,
        }
        let states = Vec::<ChatState>::deserialize(d)?;
        let mut chats = Vec::with_capacity(states.len());
        let mut custom_ids = Vec::with_capacity(states.len());
        for state in states {
            let mut chat = Chat::new(state.id, state.customer_id, state.created_at);
            chat.agent_ids = state.agent_ids;
            chat.threads = state.threads;
            chat.properties = state.properties.into();
            chat.scopes = state.scopes.into();
            chat.last_seen = state.last_seen.into();
            chat.routing = state.routing;
            chats.push(chat);
            custom_ids.push(state.custom_ids);
        }
        Ok(RestoredChats { chats, custom_ids })
    }
}

/// Rebuilds a restored chat's custom id index from its list, checking every entry against the
/// event it names. A system message names no author, so the list is where its sender comes
/// from.
fn index_custom_ids(
    chat: &mut Chat,
    entries: Vec<CustomIdEntry>,
    key: &CustomIdKey,
) -> Result<(), String> {
    for (sender, custom_id, (t, e)) in entries {
        let (t, e) = (t as usize, e as usize);
        let matches = chat
            .threads
            .get(t)
            .and_then(|thread| thread.events.at(e))
            .is_some_and(|event| {
                event.custom_id == Some(custom_id.as_str())
                    && (event.sender == Some(&sender)
                        || (event.sender.is_none() && event.is_system_message()))
            });
        if !matches {
            return Err(format!(
                "custom_id {custom_id:?} of {sender} names no such event at thread {t}, event {e}"
            ));
        }
        let hash = key.hash(&sender, &custom_id);
        if chat.find_custom_id(hash, &sender, &custom_id).is_some() {
            return Err(format!("custom_id {custom_id:?} of {sender} appears twice"));
        }
        if let Some(thread) = chat.threads.get_mut(t) {
            thread.events.set_sender(e, &sender);
        }
        if !chat.index_custom_id(hash, t, e) {
            return Err("more events than the custom_id index can number".into());
        }
    }
    // Every event with a custom_id and a sender must be in the list, or a retry would add it
    // again.
    if chat.custom_id_entries().count() != chat.custom_ids.len() {
        return Err("an event's custom_id is missing from the index".into());
    }
    Ok(())
}

/// Why a decoded state was refused.
pub(crate) enum RestoreError {
    UnknownRouter(String),
    Inconsistent(String),
}

/// The highest a counter of a restored state may be: 2^62, which a license making a billion
/// changes a second reaches after about 146 years.
const COUNTER_LIMIT: u64 = 1 << 62;
