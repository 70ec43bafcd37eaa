//! The engine: one license's state machine.
//!
//! Every command follows the same shape: check everything that can fail against the current
//! state without touching it, then apply. That is how a refused request changes nothing, not even
//! the id generator or the order counter.

mod archiving;
pub use archiving::ARCHIVE_BATCH_LIMIT;
mod audiences;
mod availability;
mod bans;
mod bots;
mod chat_ids;
pub(crate) use chat_ids::ChatIdKey;
pub use chat_ids::ChatIdScheme;
mod chat_store;
pub use chat_store::{Chats, ChatsIter};
mod command;
mod config;
mod configuration;
mod directory;
mod disconnects;
pub use disconnects::{REASON_AGENT_DELETED, REASON_LICENSE_EXPIRED};
mod events;
mod ids;
pub(crate) use command::FromResponse;
pub use command::{AgentCommand, Command, CustomerCommand, HostCommand, Response};
mod journaling;
pub(crate) use journaling::Entry;
pub use journaling::{JournalMode, JournalRecord};
mod replay;
pub use replay::Options;
mod limits;
pub use limits::Limits;
mod membership;
mod permissions;
mod presence;
mod profiles;
mod properties;
mod queue;
mod removal;
mod routing;
mod scopes;
mod signals;
mod snapshot;
mod snapshot_format;
pub use snapshot_format::SNAPSHOT_VERSION;
mod timers;
mod transfer;
mod updates;
mod visibility;
mod webhooks;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub(crate) use availability::{AgentRuntime, Availability};
pub use config::{EngineConfig, PushAudience};
pub use events::SentEvent;
pub(crate) use ids::IdGenerator;
pub(crate) use permissions::ChatRight;
pub use queue::QueuePosition;
pub(crate) use routing::{Excluding, RouterHandle};
pub use scopes::{AutoChatScopes, AutoScopeRules};
pub(crate) use snapshot::{EngineState, RestoreError};
pub use transfer::TransferTarget;
pub use webhooks::{AgentChange, RegisteredWebhook, WebhookCall, WebhookData};

use crate::UserIds;
use crate::error::Error;
use crate::model::custom_ids::CustomIdKey;
use crate::model::{
    Agent, Chat, ChatId, Customer, PropertyConfig, PropertyRegistry, Role, Timestamp, User, UserId,
};
use crate::push::{Push, PushKind};
use crate::routing::{AgentStatus, Router, RoutingStatus};

/// What a successful call returns: its response and the pushes it caused.
#[derive(Clone, Debug, PartialEq)]
#[must_use = "pushes must be delivered to their recipients"]
pub struct Output<T> {
    /// The response for the requester.
    pub response: T,
    /// Pushes for other users (and the requester's other connections), in the order they
    /// happened, each addressed to concrete user ids.
    pub pushes: Vec<Push>,
    /// The journal records to persist before answering: this call's, after any that host
    /// calls left waiting (see [`crate::journal`]). Empty for a call that changed nothing.
    pub journal: Vec<JournalRecord>,
    /// Changes of agents that no push tells of (an agent connecting or disconnecting, an agent
    /// removed), in the order they happened: the `agent_status_changed` and `agent_deleted`
    /// webhooks come from them (see [`Engine::output_webhook_calls`]).
    pub agent_changes: Vec<AgentChange>,
}

impl<T> Output<T> {
    pub(crate) fn new(response: T, pushes: Vec<Push>) -> Self {
        Self {
            response,
            pushes,
            journal: Vec::new(),
            agent_changes: Vec::new(),
        }
    }

    /// The output with `change` added to its agent changes.
    pub(crate) fn with_agent_change(mut self, change: Option<AgentChange>) -> Self {
        self.agent_changes.extend(change);
        self
    }

    /// A response that caused no pushes.
    pub(crate) fn quiet(response: T) -> Self {
        Self::new(response, Vec::new())
    }
}

/// Who is asking, and when: fixed when a facade is made.
///
/// It borrows the id the host passed to `as_agent` or `as_customer` rather than copying it:
/// copying an agent's id is an atomic reference-count update, twice per call (copy and drop).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Requester<'i> {
    pub(crate) id: &'i UserId,
    pub(crate) role: Role,
    pub(crate) now: Timestamp,
    /// The agent's slot, for agents: saves looking the id up again on every check.
    pub(crate) agent: Option<usize>,
}

/// A customer and the chats that belong to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CustomerRecord {
    pub(crate) customer: Customer,
    pub(crate) chats: Vec<ChatId>,
}

/// The state machine of one license. See the crate docs for the loop.
///
/// `Engine` is plain data: `Clone` copies a license, `PartialEq` compares two (the determinism
/// and atomicity tests rely on both).
#[derive(Clone, Debug)]
pub struct Engine {
    config: EngineConfig,
    ids: IdGenerator,
    now: Timestamp,
    next_order: u64,
    /// Who is who: the agents and customers (see `directory`).
    directory: directory::Directory,
    /// The chats, by slot, with the send path's records and log (see `chat_store`).
    chats: chat_store::ChatStore,
    /// Chat ids carry their slot in `chats` in their last 32 bits, hidden by this key (see
    /// `chat_ids`), so a lookup is one array access instead of a hash-table probe.
    chat_ids: ChatIdKey,
    /// The key of the `custom_id` index's hash, derived from the seed (see `CustomIds`).
    custom_id_key: CustomIdKey,
    /// Per scopes in use, the agents a scoped chat is pushed to (see `audiences`).
    audiences: audiences::Audiences,
    /// The router consulted at routing moments; none means chats are never assigned by the
    /// engine (hosts use `join_chat`).
    router: Option<RouterHandle>,
    /// Per agent slot, its routing state.
    agent_runtime: Vec<AgentRuntime>,
    availability: Availability,
    assignment_seq: u64,
    /// `(deadline, chat slot)`: at most one entry per chat.
    timers: BTreeSet<(Timestamp, usize)>,
    /// `(waiting since, arrival number, chat slot)`: unassigned active chats, oldest first.
    queue: BTreeSet<(Timestamp, u64, usize)>,
    queue_seq: u64,
    /// Which properties exist and who may read and write them.
    properties: PropertyRegistry,
    /// Rules that give starting chats scopes, oldest first.
    auto_chat_scopes: Vec<AutoChatScopes>,
    /// Registered webhooks, oldest first.
    webhooks: Vec<webhooks::RegisteredWebhook>,
    /// The webhooks sent to bots, by bot (`create_bot_agent`'s `webhooks`).
    bot_webhooks: BTreeMap<UserId, crate::model::BotWebhooks>,
    /// The count of changes, and the records not yet handed to the host.
    journal: journaling::Journal,
    /// What the customer's `login` answers as `static_config_path` (see
    /// [`Engine::set_static_config_path`]).
    static_config_path: Option<String>,
}

impl PartialEq for Engine {
    /// Every field; the journal compares by its count of changes only, leaving out the records
    /// in transit to the host (see `Journal`'s `PartialEq`).
    fn eq(&self, other: &Self) -> bool {
        // Destructured, so that a new field cannot be left out of the comparison unnoticed.
        let Engine {
            config,
            ids,
            now,
            next_order,
            directory,
            chats,
            chat_ids,
            custom_id_key,
            audiences,
            router,
            agent_runtime,
            availability,
            assignment_seq,
            timers,
            queue,
            queue_seq,
            properties,
            auto_chat_scopes,
            webhooks,
            bot_webhooks,
            journal,
            // A setting of the host's process, like the router's object: not the license's
            // state, not journaled, not in snapshots, so not compared either.
            static_config_path: _,
        } = self;
        *config == other.config
            && *ids == other.ids
            && *now == other.now
            && *next_order == other.next_order
            && *directory == other.directory
            && *chats == other.chats
            && *chat_ids == other.chat_ids
            && *custom_id_key == other.custom_id_key
            && *audiences == other.audiences
            && *router == other.router
            && *agent_runtime == other.agent_runtime
            && *availability == other.availability
            && *assignment_seq == other.assignment_seq
            && *timers == other.timers
            && *queue == other.queue
            && *queue_seq == other.queue_seq
            && *properties == other.properties
            && *auto_chat_scopes == other.auto_chat_scopes
            && *webhooks == other.webhooks
            && *bot_webhooks == other.bot_webhooks
            && *journal == other.journal
    }
}

impl Default for Engine {
    fn default() -> Self {
        Self::new(EngineConfig::default())
    }
}

impl Engine {
    /// An empty license.
    pub fn new(config: EngineConfig) -> Self {
        let chat_ids = ChatIdKey::new(config.seed, config.chat_id_scheme);
        let custom_id_key = CustomIdKey::from_seed(config.seed);
        Self {
            ids: IdGenerator::new(config.seed),
            config,
            now: Timestamp::EPOCH,
            next_order: 1,
            directory: directory::Directory::default(),
            chats: chat_store::ChatStore::default(),
            chat_ids,
            custom_id_key,
            audiences: audiences::Audiences::default(),
            router: None,
            agent_runtime: Vec::new(),
            availability: Availability::default(),
            assignment_seq: 0,
            timers: BTreeSet::new(),
            queue: BTreeSet::new(),
            queue_seq: 0,
            properties: PropertyRegistry::default(),
            auto_chat_scopes: Vec::new(),
            webhooks: Vec::new(),
            bot_webhooks: BTreeMap::new(),
            journal: journaling::Journal::default(),
            static_config_path: None,
        }
    }

    /// Sets what the customer's `login` answers as `static_config_path`: where the host
    /// publishes the license's static configuration for customer applications (chat.io put
    /// a JSON file on a CDN). `None` (the default) leaves the field out.
    ///
    /// A setting of the host, not of the license: it is neither journaled nor in snapshots,
    /// so a host sets it again after [`Engine::restore`] or a replay, as it sets the router.
    ///
    /// ```
    /// use chatio::{Engine, EngineConfig};
    /// let mut engine = Engine::new(EngineConfig::with_seed(1));
    /// engine.set_static_config_path(Some("cdn.example.com/license/1/config.json".into()));
    /// assert_eq!(engine.static_config_path(), Some("cdn.example.com/license/1/config.json"));
    /// ```
    pub fn set_static_config_path(&mut self, path: Option<String>) {
        self.static_config_path = path;
    }

    /// What the customer's `login` answers as `static_config_path`, if set.
    pub fn static_config_path(&self) -> Option<&str> {
        self.static_config_path.as_deref()
    }

    /// Configures a property (what chat.io's Configuration API does). Properties that are not
    /// configured are refused wherever they are written.
    pub fn configure_property(&mut self, config: PropertyConfig) -> Result<(), Error> {
        self.properties.insert(config.clone())?;
        self.record(Entry::host(
            self.now,
            HostCommand::ConfigureProperty(config),
        ));
        Ok(())
    }

    /// The property configuration.
    pub fn property_registry(&self) -> &PropertyRegistry {
        &self.properties
    }

    /// Sets the router the engine consults at routing moments (see [`crate::routing`]). Without
    /// one, the engine never assigns chats and runs no timers.
    pub fn with_router(mut self, router: impl Router + 'static) -> Self {
        self.set_router(Arc::new(router));
        self
    }

    /// Sets (or replaces) the router.
    pub fn set_router(&mut self, router: Arc<dyn Router>) {
        let name = router.name().to_owned();
        self.router = Some(RouterHandle(router));
        self.record(Entry::host(self.now, HostCommand::SetRouter { name }));
    }

    /// The router, if one is set.
    pub fn router(&self) -> Option<&dyn Router> {
        self.router.as_ref().map(|r| r.0.as_ref())
    }

    /// An agent's routing state (presence, status, load).
    pub fn agent_status(&self, id: &UserId) -> Option<AgentStatus<'_>> {
        self.agent_slot(id).map(|s| self.agent_status_at(s))
    }

    /// The configuration the engine was made with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The latest time the engine has seen. Time never goes backwards: a call made with an
    /// earlier `now` acts at this time instead.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    // ----- host: configuration -----

    /// Registers an agent (what chat.io's Configuration API does).
    pub fn add_agent(&mut self, agent: Agent) -> Result<(), Error> {
        agent.validate()?;
        agent.check_labels()?;
        if self.is_user(&agent.id) {
            return Err(Error::UserExists(agent.id));
        }
        self.directory.add_agent(agent.clone());
        self.audiences.refresh(&self.directory);
        self.agent_runtime.push(AgentRuntime::default());
        self.record(Entry::host(self.now, HostCommand::AddAgent(agent)));
        Ok(())
    }

    /// Registers a customer with an id the host chose (for example one derived from a login
    /// token).
    pub fn add_customer(&mut self, customer: Customer) -> Result<(), Error> {
        customer.check_details()?;
        self.check_customer_fields(&std::collections::BTreeMap::new(), &customer.fields)?;
        if self.is_user(&customer.id) {
            return Err(Error::UserExists(customer.id));
        }
        self.directory.add_customer(CustomerRecord {
            customer: customer.clone(),
            chats: Vec::new(),
        });
        self.record(Entry::host(self.now, HostCommand::AddCustomer(customer)));
        Ok(())
    }

    /// Registers a new customer with an id drawn from the engine's generator, and returns it.
    pub fn create_customer(&mut self) -> UserId {
        let id = self.next_customer_id();
        // Draw the same ids `next_customer_id` looked at, so the generator moves on past them.
        while UserId::from_uuid(self.ids.next_uuid()) != id {}
        self.directory.add_customer(CustomerRecord {
            customer: Customer::new(id.clone()),
            chats: Vec::new(),
        });
        let command = HostCommand::CreateCustomer {
            customer_id: Some(id.clone()),
        };
        self.record(Entry::host(self.now, command));
        id
    }

    /// The id [`create_customer`](Self::create_customer) would draw next: the generator's
    /// next id that nobody has.
    pub(crate) fn next_customer_id(&self) -> UserId {
        let mut ids = self.ids.clone();
        loop {
            let id = UserId::from_uuid(ids.next_uuid());
            if !self.is_user(&id) {
                return id;
            }
        }
    }

    fn is_user(&self, id: &UserId) -> bool {
        self.directory.is_user(id)
    }

    // ----- host: reads (unfiltered; the host sees everything) -----

    /// An agent by id. An agent removed by [`remove_agent`](Self::remove_agent) or
    /// `remove_bot_agent` is still found (agents keep their slots), offline and unable to act;
    /// see `docs/bot-agents.md`.
    pub fn agent(&self, id: &UserId) -> Option<&Agent> {
        self.directory.agent(id)
    }

    /// Whether agent `id` was removed ([`remove_agent`](Self::remove_agent),
    /// `remove_bot_agent`): it is still found, but acts no more.
    pub fn is_agent_removed(&self, id: &UserId) -> bool {
        self.agent_slot(id).is_some_and(|s| self.is_removed(s))
    }

    /// Every agent, in registration order, removed ones included.
    pub fn agents(&self) -> &[Agent] {
        self.directory.agents()
    }

    /// A customer by id.
    pub fn customer(&self, id: &UserId) -> Option<&Customer> {
        self.directory.customer(id).map(|r| &r.customer)
    }

    /// How many customers the license has.
    pub fn customer_count(&self) -> usize {
        self.directory.customer_count()
    }

    /// The chats of a customer, oldest first.
    pub fn customer_chats(&self, id: &UserId) -> &[ChatId] {
        self.directory.customer(id).map_or(&[], |r| &r.chats)
    }

    /// A chat by id, with all the events the engine holds: an archived thread
    /// ([`archive_threads`](Self::archive_threads)) is there without its events, which the host
    /// keeps.
    pub fn chat(&self, id: &ChatId) -> Option<&Chat> {
        self.chat_slot(*id).ok().map(|slot| &self.chats[slot])
    }

    /// Every chat, oldest first.
    pub fn chats(&self) -> Chats<'_> {
        Chats::new(&self.chats)
    }

    /// The number of chats.
    pub fn chat_count(&self) -> usize {
        self.chats.len()
    }

    // ----- facades -----

    /// Acts as agent `id` at time `now`. Fails with `license_expired` once the license has
    /// expired (see [`license_check`](Self::license_check)), and with `authentication` if no such
    /// agent exists.
    pub fn as_agent<'e>(
        &'e mut self,
        id: &'e UserId,
        now: Timestamp,
    ) -> Result<crate::AgentApi<'e>, Error> {
        let now = now.max(self.now);
        self.license_check(now)?;
        // A removed agent keeps its slot but is nobody's to act as.
        let Some(slot) = self
            .directory
            .agent_slot(id)
            .filter(|&s| !self.agent_runtime[s].removed)
        else {
            return Err(Error::UnknownRequester(id.clone()));
        };
        let requester = Requester {
            id,
            role: Role::Agent,
            now,
            agent: Some(slot),
        };
        Ok(crate::AgentApi::new(self, requester))
    }

    /// Acts as customer `id` at time `now`. Fails with `license_expired` once the license has
    /// expired (see [`license_check`](Self::license_check)), with `authentication` if no such
    /// customer exists, and with `customer_banned` while the customer is banned.
    pub fn as_customer<'e>(
        &'e mut self,
        id: &'e UserId,
        now: Timestamp,
    ) -> Result<crate::CustomerApi<'e>, Error> {
        let now = now.max(self.now);
        self.license_check(now)?;
        let record = self
            .directory
            .customer(id)
            .ok_or_else(|| Error::UnknownRequester(id.clone()))?;
        if let Some(until) = record.customer.banned_until.filter(|&u| now < u) {
            return Err(Error::CustomerBanned {
                customer_id: id.clone(),
                until,
            });
        }
        let requester = Requester {
            id,
            role: Role::Customer,
            now,
            agent: None,
        };
        Ok(crate::CustomerApi::new(self, requester))
    }

    /// Whether the license serves a call made at `now`: `Err(LicenseExpired)` if the configured
    /// license has an expiration time and `now`, or the latest time the engine has seen if that
    /// is later, is at or after it. Without a license, or with one that never expires, always
    /// `Ok`.
    ///
    /// [`as_agent`](Self::as_agent) and [`as_customer`](Self::as_customer) check this before
    /// anything else, so every call of both APIs, queries included, is refused once the license
    /// has expired, whoever makes it; such a refusal changes nothing. Host calls
    /// ([`add_agent`](Self::add_agent), [`tick`](Self::tick),
    /// [`set_agent_presence`](Self::set_agent_presence), snapshots, ...) are not checked, and
    /// replaying a journal record made before the expiry passes, since the record carries the
    /// time it was made at.
    ///
    /// ```
    /// use chatio::{Agent, Engine, EngineConfig, ErrorKind, License, Timestamp, UserId};
    /// let t = Timestamp::from_unix_seconds(1_700_000_000);
    /// let license = License::new("1", "team", t).expiration_timestamp(Some(t + 3600));
    /// let mut engine = Engine::new(EngineConfig::with_seed(1).license(license));
    /// let anna = UserId::new("anna@example.com")?;
    /// engine.add_agent(Agent::new(anna.clone(), "Anna"))?;
    /// assert!(engine.as_agent(&anna, t + 3599)?.login().is_ok());
    /// let refused = engine.as_agent(&anna, t + 3600).unwrap_err();
    /// assert_eq!(refused.kind(), ErrorKind::LicenseExpired);
    /// assert_eq!(refused.to_string(), "license 1 expired at 1700003600");
    /// # Ok::<(), chatio::Error>(())
    /// ```
    pub fn license_check(&self, now: Timestamp) -> Result<(), Error> {
        let Some(license) = &self.config.license else {
            return Ok(());
        };
        match license.expiration_timestamp {
            Some(end) if license.is_expired_at(now.max(self.now)) => Err(Error::LicenseExpired {
                license_id: license.id.clone(),
                expired_at: end,
            }),
            _ => Ok(()),
        }
    }

    // ----- shared helpers for commands and queries -----

    /// Called once a command is known to succeed, before it changes anything else: moves the
    /// clock forward and, for a customer, its `last_seen_timestamp`.
    pub(crate) fn commit(&mut self, req: &Requester) {
        self.mark_committed();
        self.now = self.now.max(req.now);
        if req.role == Role::Customer {
            if let Some(record) = self.directory.customer_mut(req.id) {
                record.customer.last_seen_timestamp = Some(req.now);
            }
        }
    }

    pub(crate) fn next_order(&mut self) -> u64 {
        let order = self.next_order;
        self.next_order += 1;
        order
    }

    pub(crate) fn chat_slot(&self, id: ChatId) -> Result<usize, Error> {
        let slot = self.chat_ids.slot_of(id);
        match self.chats.get(slot) {
            Some(chat) if chat.id == id => Ok(slot),
            _ => Err(Error::ChatNotFound(id)),
        }
    }

    /// A fresh chat id for the next slot.
    pub(crate) fn next_chat_id(&mut self) -> ChatId {
        let slot = self.chats.len() as u32;
        let random = self.ids.next_uuid();
        self.chat_ids.id(random, slot)
    }

    /// The chat, if the requester may see it.
    pub(crate) fn accessible_chat(&self, req: &Requester, id: ChatId) -> Result<usize, Error> {
        let slot = self.chat_slot(id)?;
        let chat = &self.chats[slot];
        let visible = match req.agent {
            Some(agent) => agent_may_see(&self.directory.agents()[agent], chat),
            None => self.may_see(req.id, req.role, chat),
        };
        if visible {
            Ok(slot)
        } else {
            Err(Error::ChatAccessDenied {
                user_id: req.id.clone(),
                chat_id: id,
            })
        }
    }

    /// The chat, if the requester may see it and holds the right for the action.
    pub(crate) fn chat_for(
        &self,
        req: &Requester,
        id: ChatId,
        right: ChatRight,
    ) -> Result<usize, Error> {
        let slot = self.accessible_chat(req, id)?;
        self.authorize_chat(req, slot, right)?;
        Ok(slot)
    }

    /// Whether a user may see a chat: a customer only its own, an agent any chat it is in or
    /// whose scopes include it (empty scopes include every agent).
    pub(crate) fn may_see(&self, user: &UserId, role: Role, chat: &Chat) -> bool {
        match role {
            Role::Customer => chat.customer_id.as_ref() == Some(user),
            Role::Agent => self.agent(user).is_some_and(|a| agent_may_see(a, chat)),
        }
    }

    pub(crate) fn agent_by_slot(&self, slot: usize) -> &Agent {
        &self.directory.agents()[slot]
    }

    pub(crate) fn agent_slot(&self, id: &UserId) -> Option<usize> {
        self.directory.agent_slot(id)
    }

    pub(crate) fn customer_record(&self, id: &UserId) -> Option<&CustomerRecord> {
        self.directory.customer(id)
    }

    pub(crate) fn customer_record_mut(&mut self, id: &UserId) -> Option<&mut CustomerRecord> {
        self.directory.customer_mut(id)
    }

    /// Every chat, oldest first.
    pub(crate) fn all_chats(&self) -> impl DoubleEndedIterator<Item = &Chat> + ExactSizeIterator {
        self.chats.iter()
    }

    /// The chat in `slot`, which exists.
    pub(crate) fn chat_at(&self, slot: usize) -> &Chat {
        &self.chats[slot]
    }

    pub(crate) fn chat_at_mut(&mut self, slot: usize) -> &mut Chat {
        &mut self.chats[slot]
    }

    pub(crate) fn insert_chat(&mut self, chat: Chat) -> usize {
        self.chats.push(chat)
    }

    pub(crate) fn ids(&mut self) -> &mut IdGenerator {
        &mut self.ids
    }

    /// The users of a chat as objects: the customer first, then the agents.
    pub(crate) fn chat_users(&self, chat: &Chat) -> Vec<User> {
        let customer = chat
            .customer_id
            .as_ref()
            .and_then(|id| self.customer(id))
            .map(|c| User::Customer(c.clone()));
        let agents = chat
            .agent_ids
            .iter()
            .filter_map(|id| self.agent(id))
            .map(|a| User::Agent(a.clone()));
        customer.into_iter().chain(agents).collect()
    }

    /// The last-seen times in a chat of the users [`chat_users`](Self::chat_users) lists; an
    /// agent who left keeps its time in the chat, but it is not shown with the users.
    pub(crate) fn chat_users_last_seen(&self, chat: &Chat) -> BTreeMap<UserId, Timestamp> {
        chat.last_seen
            .iter()
            .filter(|(id, _)| chat.customer_id.as_ref() == Some(*id) || chat.agent_ids.contains(id))
            .map(|(id, t)| (id.clone(), *t))
            .collect()
    }

    /// The routing status of each agent of the chat who is online (the host has it connected),
    /// for a view of the chat seen by `role`. The Agent API's agent object carries
    /// `routing_status` only while the agent is logged in, so offline agents are left out; the
    /// Customer API's agent object has no such field, so a customer's view carries none.
    pub(crate) fn chat_agents_routing_statuses(
        &self,
        chat: &Chat,
        role: Role,
    ) -> BTreeMap<UserId, RoutingStatus> {
        if role != Role::Agent {
            return BTreeMap::new();
        }
        chat.agent_ids
            .iter()
            .filter_map(|id| self.agent_status(id))
            .filter(|status| status.online)
            .map(|status| (status.agent.id.clone(), status.routing_status))
            .collect()
    }

    /// Every agent of the license, in registration order.
    pub(crate) fn all_agents(&self) -> UserIds {
        UserIds::shared(Arc::clone(self.directory.all_agent_ids()))
    }

    /// The agents told about a chat: every agent who may see it, or only the chat's agents when
    /// the host configured [`PushAudience::ChatAgentsOnly`].
    pub(crate) fn agent_audience(&self, chat: &Chat) -> UserIds {
        match self.config.push_audience {
            // A removed agent may still be listed in a chat it could not leave (one it no longer
            // sees, or one without an active thread): it hears nothing all the same.
            PushAudience::ChatAgentsOnly if self.directory.any_retired() => chat
                .agent_ids
                .iter()
                .filter(|a| {
                    self.agent_slot(a)
                        .is_none_or(|s| !self.directory.is_retired(s))
                })
                .cloned()
                .collect::<Vec<_>>()
                .into(),
            PushAudience::ChatAgentsOnly => chat.agent_ids.clone().into(),
            PushAudience::AllAgents if chat.scopes.is_empty() => self.all_agents(),
            PushAudience::AllAgents => {
                // The scopes' list is the whole audience unless the chat has an agent the
                // scopes leave out (who may see it all the same).
                if let Some(audience) = self.audiences.get(&chat.scopes) {
                    let covered = chat
                        .agent_ids
                        .iter()
                        .all(|a| self.agent_slot(a).is_some_and(|s| audience.has(s)));
                    if covered {
                        return UserIds::shared(Arc::clone(&audience.ids));
                    }
                }
                self.directory
                    .agents()
                    .iter()
                    .enumerate()
                    .filter(|&(slot, a)| !self.directory.is_retired(slot) && agent_may_see(a, chat))
                    .map(|(_, a)| a.id.clone())
                    .collect::<Vec<_>>()
                    .into()
            }
        }
    }

    /// Whether `agent` is in [`agent_audience`](Self::agent_audience) of `chat`, without
    /// building the list.
    pub(crate) fn hears_about(&self, agent: &Agent, chat: &Chat) -> bool {
        if self
            .agent_slot(&agent.id)
            .is_some_and(|s| self.directory.is_retired(s))
        {
            return false;
        }
        match self.config.push_audience {
            PushAudience::ChatAgentsOnly => chat.agent_ids.contains(&agent.id),
            PushAudience::AllAgents => agent_may_see(agent, chat),
        }
    }

    /// Appends the pushes about `chat` for its audience: one for the agents and, when
    /// `customer_may_see`, one for the customer. `except` leaves one user out (the author of
    /// something ephemeral). `make` builds the push each role sees.
    pub(crate) fn push_to_chat(
        &self,
        pushes: &mut Vec<Push>,
        chat: &Chat,
        customer_may_see: bool,
        except: Option<&UserId>,
        make: impl FnMut(Role) -> PushKind,
    ) {
        let agents = self.agent_audience(chat);
        let customer = chat.customer_id.as_ref();
        push_to_audience(pushes, agents, customer, customer_may_see, except, make);
    }
}

/// [`Engine::push_to_chat`], given the chat's audience: its agents and its customer.
#[inline(always)]
pub(crate) fn push_to_audience(
    pushes: &mut Vec<Push>,
    mut agents: UserIds,
    customer: Option<&UserId>,
    customer_may_see: bool,
    except: Option<&UserId>,
    mut make: impl FnMut(Role) -> PushKind,
) {
    if let Some(except) = except.filter(|e| agents.contains(e)) {
        agents = agents
            .iter()
            .filter(|a| *a != except)
            .cloned()
            .collect::<Vec<_>>()
            .into();
    }
    if !agents.is_empty() {
        pushes.push(Push {
            to: agents,
            role: Role::Agent,
            kind: make(Role::Agent),
        });
    }
    if customer_may_see {
        if let Some(customer) = customer.filter(|c| Some(*c) != except) {
            pushes.push(Push {
                to: UserIds::one(customer.clone()),
                role: Role::Customer,
                kind: make(Role::Customer),
            });
        }
    }
}

pub(crate) fn agent_may_see(agent: &Agent, chat: &Chat) -> bool {
    let scopes = &chat.scopes;
    scopes.is_empty() || audiences::scoped_in(agent, scopes) || chat.agent_ids.contains(&agent.id)
}
