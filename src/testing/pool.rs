//! The ids the alphabet picks from.

use crate::engine::Engine;
use crate::model::{ChatId, EventId, GroupId, PropertyType, PropertyValue, ThreadId, UserId};

/// The ids and names a generated command may use: the license's users, and what the engine
/// holds now (chats, threads, events, properties, webhooks), each with one id that names
/// nothing, so that refusals are drawn too.
///
/// Call [`refresh`](Self::refresh) before drawing a step: a sequence then names the chats its
/// earlier steps started.
#[derive(Clone, Debug)]
pub struct Pool {
    /// Agents of the license, then one it does not know.
    pub(crate) agents: Vec<UserId>,
    /// Customers of the license, then one it does not know.
    pub(crate) customers: Vec<UserId>,
    /// Groups of the license's agents, then one no agent is in.
    pub(crate) groups: Vec<GroupId>,
    /// The engine's chats, then an unknown id.
    pub(crate) chats: Vec<ChatId>,
    /// The threads of the engine's chats, then an unknown id.
    pub(crate) threads: Vec<ThreadId>,
    /// The events of those threads, then an unknown id.
    pub(crate) events: Vec<EventId>,
    /// `(namespace, name, a value of its type)` of every configured property, then one that is
    /// not configured.
    pub(crate) properties: Vec<(String, String, PropertyValue)>,
    /// The ids of the registered webhooks, then an unknown one.
    pub(crate) webhooks: Vec<String>,
    /// Ids of auto chat scopes configurations, then an unknown one. The engine lists them
    /// only to an agent, so [`refresh`](Self::refresh) does not: a test that wants them
    /// removed adds the ids `add_auto_chat_scopes` answered ([`Self::add_auto_chat_scopes`]).
    pub(crate) auto_chat_scopes: Vec<String>,
    /// The engine's chats, with who is in each.
    held: Vec<HeldChat>,
}

/// A chat of the engine as the pool keeps it.
#[derive(Clone, Debug)]
struct HeldChat {
    id: ChatId,
    /// Its customer and agents.
    users: Vec<UserId>,
    threads: Vec<ThreadId>,
    events: Vec<EventId>,
}

/// The unknown ids every pool ends with.
const UNKNOWN_AGENT: &str = "stranger@example.com";
const UNKNOWN_UUID: u128 = 0x0aff_b00a_82d6_4e07_ae61_56ba_5c36_f743;

impl Pool {
    /// A pool of these users (each list followed by a user the license does not know) and,
    /// until [`refresh`](Self::refresh), no chat.
    pub fn new(agents: Vec<UserId>, customers: Vec<UserId>) -> Self {
        let mut pool = Self {
            agents,
            customers,
            groups: Vec::new(),
            chats: Vec::new(),
            threads: Vec::new(),
            events: Vec::new(),
            properties: Vec::new(),
            webhooks: Vec::new(),
            auto_chat_scopes: vec!["unknown-auto-chat-scopes".into()],
            held: Vec::new(),
        };
        let unknown = UserId::from_uuid(uuid::Uuid::from_u128(UNKNOWN_UUID));
        pool.agents
            .push(UserId::new(UNKNOWN_AGENT).unwrap_or_else(|_| unknown.clone()));
        pool.customers.push(unknown);
        pool.list_chats(|_| true);
        pool.finish_lists();
        pool
    }

    /// Lets `remove_auto_chat_scopes` name this configuration too.
    pub fn add_auto_chat_scopes(&mut self, id: String) {
        self.auto_chat_scopes.insert(0, id);
    }

    /// Takes the groups, chats, threads, events, properties and webhooks from `engine`.
    pub fn refresh(&mut self, engine: &Engine) {
        self.groups = engine
            .agents()
            .iter()
            .flat_map(|a| a.groups.iter().copied())
            .collect();
        self.groups.sort();
        self.groups.dedup();
        self.held = engine
            .chats()
            .iter()
            .map(|chat| HeldChat {
                id: chat.id,
                users: chat
                    .customer_id
                    .iter()
                    .chain(&chat.agent_ids)
                    .cloned()
                    .collect(),
                threads: chat.threads.iter().map(|t| t.id).collect(),
                events: chat
                    .threads
                    .iter()
                    .flat_map(|t| t.events.iter().map(|e| e.id))
                    .collect(),
            })
            .collect();
        self.list_chats(|_| true);
        self.properties = engine
            .property_registry()
            .iter()
            .map(|p| {
                let value = match p.property_type {
                    PropertyType::Int => PropertyValue::Int(1),
                    PropertyType::Bool => PropertyValue::Bool(true),
                    _ => PropertyValue::String("web".into()),
                };
                (p.namespace.clone(), p.name.clone(), value)
            })
            .collect();
        self.webhooks = engine
            .webhooks()
            .iter()
            .map(|w| w.webhook.webhook_id.clone())
            .collect();
        self.finish_lists();
    }

    /// The pool as `user` sees it: its chats only (those it is the customer or an agent of)
    /// with their threads and events, when it is in any.
    pub(crate) fn around(&self, user: &UserId) -> Pool {
        let mut pool = self.clone();
        if self.held.iter().any(|c| c.users.contains(user)) {
            pool.list_chats(|c| c.users.contains(user));
        }
        pool
    }

    /// Lists the held chats that pass `keep`, their threads and events, each list followed
    /// by an unknown id.
    fn list_chats(&mut self, keep: impl Fn(&HeldChat) -> bool) {
        let kept = self.held.iter().filter(|c| keep(c));
        self.chats = kept.clone().map(|c| c.id).collect();
        self.threads = kept.clone().flat_map(|c| c.threads.clone()).collect();
        self.events = kept.flat_map(|c| c.events.clone()).collect();
        let unknown = uuid::Uuid::from_u128(UNKNOWN_UUID);
        self.chats.push(ChatId::from_uuid(unknown));
        self.threads.push(ThreadId::from_uuid(unknown));
        self.events.push(EventId::from_uuid(unknown));
    }

    /// Ends the lists of groups, properties and webhooks with their unknown member.
    fn finish_lists(&mut self) {
        self.groups.push(GroupId(
            self.groups.iter().map(|g| g.0).max().unwrap_or(0) + 1,
        ));
        self.properties
            .push(("unknown".into(), "property".into(), PropertyValue::Int(1)));
        self.webhooks.push("unknown-webhook".into());
    }
}
