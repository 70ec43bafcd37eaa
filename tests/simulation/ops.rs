//! The simulator's operations: every host call and every request of both facades, as plain
//! data (so a failing step can be printed), and how they are drawn. Ids are drawn from the
//! engine as it is when the step runs: mostly chats, threads and events the requester may see,
//! sometimes someone else's, a forged id with a real chat's slot, or a random one.

use chatio::journal::JournalMode;
use chatio::model::{
    Button, Domain, FormField, FormFieldKind, Location, Page, PropertyConfig, PropertyFilter,
    PropertyFilters, PropertyType, RichElement, RichMessage, UrlFilter, UrlMatch,
};
use chatio::query::{ChatFilters, ChatsPagination};
use chatio::routing::RoutingStatus;
use chatio::{
    Agent, AutoScopeRules, ChatId, Customer, CustomerUpdate, EventId, EventKind, File, GroupId,
    MulticastScopes, NewEvent, Pagination, Permission, Postback, Properties, PropertyValue,
    Recipients, Role, Scopes, StartChat, ThreadId, Timestamp, TransferTarget, UserId,
};

use crate::checks::may_see;
use crate::rng::Rng;
use crate::world::Sim;

/// The built-in routers, by the names the journal uses.
pub const ROUTERS: [&str; 4] = ["automatic", "manual", "least_loaded", "round_robin"];

/// Groups named in agents and scopes; nobody is in group 4.
pub const GROUPS: u32 = 4;

/// The most agents and customers a run registers.
pub const MAX_AGENTS: usize = 8;
pub const MAX_CUSTOMERS: usize = 14;

/// One step's operation.
#[derive(Clone, Debug)]
pub enum Op {
    CreateCustomer,
    AddCustomer(Customer),
    AddAgent(Agent),
    ConfigureProperty(PropertyConfig),
    SetRouter(&'static str),
    /// Switches between handing records out in each `Output` and holding them.
    SetJournalMode(JournalMode),
    SetPresence {
        agent: UserId,
        online: bool,
        at: Timestamp,
    },
    /// A new profile for an agent (or for an id that is not one).
    UpdateAgentProfile {
        agent: Agent,
        at: Timestamp,
    },
    /// A host tick at a time of its choosing (something may or may not be due).
    Tick {
        at: Timestamp,
    },
    Customer {
        who: UserId,
        at: Timestamp,
        req: CustomerReq,
    },
    Agent {
        who: UserId,
        at: Timestamp,
        req: AgentReq,
    },
}

#[derive(Clone, Debug)]
pub enum CustomerReq {
    StartChat(StartChat),
    SendEvent(ChatId, NewEvent),
    SendFile(ChatId, Option<String>, File),
    Postback(ChatId, ThreadId, EventId, Postback),
    SneakPeek(ChatId, String),
    Typing(ChatId, bool),
    CloseThread(ChatId),
    UpdateCustomer(CustomerUpdate),
    ChatProperties(ChatId, Properties),
    ThreadProperties(ChatId, ThreadId, Properties),
    Scopes(ChatId, Scopes, Scopes),
    LastSeen(ChatId, Option<Timestamp>),
    Login,
    ChatsSummary(Pagination),
    ChatThreads(ChatId, Vec<ThreadId>),
    ThreadsSummary(ChatId, Pagination),
    QueuePosition(ChatId),
}

#[derive(Clone, Debug)]
pub enum AgentReq {
    StartChat(Option<UserId>, StartChat),
    JoinChat(ChatId, Vec<UserId>),
    RemoveFromChat(ChatId, Vec<UserId>, Vec<UserId>),
    SendEvent(ChatId, NewEvent),
    Postback(ChatId, ThreadId, EventId, Postback),
    Multicast(MulticastScopes, serde_json::Value),
    Typing(ChatId, Recipients, bool),
    CloseThread(ChatId),
    UpdateAgent(Option<UserId>, Option<RoutingStatus>),
    Ban(UserId, u32),
    Transfer(ChatId, TransferTarget),
    ChatProperties(ChatId, Properties),
    ThreadProperties(ChatId, ThreadId, Properties),
    Scopes(ChatId, Scopes, Scopes),
    AddAutoScopes(Option<String>, Scopes, AutoScopeRules),
    RemoveAutoScopes(String),
    LastSeen(ChatId, Option<Timestamp>),
    Login,
    ChatThreads(ChatId, Vec<ThreadId>),
    ThreadsSummary(ChatId, Pagination),
    FilteredChats(ChatFilters, ChatsPagination),
    AutoScopesConfig,
}

impl Op {
    /// A short name, for the counts.
    pub fn name(&self) -> &'static str {
        match self {
            Op::CreateCustomer => "host create_customer",
            Op::AddCustomer(_) => "host add_customer",
            Op::AddAgent(_) => "host add_agent",
            Op::ConfigureProperty(_) => "host configure_property",
            Op::SetRouter(_) => "host set_router",
            Op::SetJournalMode(_) => "host set_journal_mode",
            Op::SetPresence { .. } => "host set_agent_presence",
            Op::UpdateAgentProfile { .. } => "host update_agent_profile",
            Op::Tick { .. } => "host tick (any time)",
            Op::Customer { req, .. } => req.name(),
            Op::Agent { req, .. } => req.name(),
        }
    }
}

impl CustomerReq {
    pub fn name(&self) -> &'static str {
        match self {
            CustomerReq::StartChat(_) => "customer start_chat",
            CustomerReq::SendEvent(..) => "customer send_event",
            CustomerReq::SendFile(..) => "customer send_file",
            CustomerReq::Postback(..) => "customer send_rich_message_postback",
            CustomerReq::SneakPeek(..) => "customer send_sneak_peek",
            CustomerReq::Typing(..) => "customer send_typing_indicator",
            CustomerReq::CloseThread(_) => "customer close_thread",
            CustomerReq::UpdateCustomer(_) => "customer update_customer",
            CustomerReq::ChatProperties(..) => "customer update_chat_properties",
            CustomerReq::ThreadProperties(..) => "customer update_chat_thread_properties",
            CustomerReq::Scopes(..) => "customer update_chat_scopes",
            CustomerReq::LastSeen(..) => "customer update_last_seen_timestamp",
            CustomerReq::Login => "customer login",
            CustomerReq::ChatsSummary(_) => "customer get_chats_summary",
            CustomerReq::ChatThreads(..) => "customer get_chat_threads",
            CustomerReq::ThreadsSummary(..) => "customer get_chat_threads_summary",
            CustomerReq::QueuePosition(_) => "customer get_queue_position",
        }
    }
}

impl AgentReq {
    pub fn name(&self) -> &'static str {
        match self {
            AgentReq::StartChat(..) => "agent start_chat",
            AgentReq::JoinChat(..) => "agent join_chat",
            AgentReq::RemoveFromChat(..) => "agent remove_from_chat",
            AgentReq::SendEvent(..) => "agent send_event",
            AgentReq::Postback(..) => "agent send_rich_message_postback",
            AgentReq::Multicast(..) => "agent multicast",
            AgentReq::Typing(..) => "agent send_typing_indicator",
            AgentReq::CloseThread(_) => "agent close_thread",
            AgentReq::UpdateAgent(..) => "agent update_agent",
            AgentReq::Ban(..) => "agent ban_customer",
            AgentReq::Transfer(..) => "agent transfer_chat",
            AgentReq::ChatProperties(..) => "agent update_chat_properties",
            AgentReq::ThreadProperties(..) => "agent update_chat_thread_properties",
            AgentReq::Scopes(..) => "agent update_chat_scopes",
            AgentReq::AddAutoScopes(..) => "agent add_auto_chat_scopes",
            AgentReq::RemoveAutoScopes(_) => "agent remove_auto_chat_scopes",
            AgentReq::LastSeen(..) => "agent update_last_seen_timestamp",
            AgentReq::Login => "agent login",
            AgentReq::ChatThreads(..) => "agent get_chat_threads",
            AgentReq::ThreadsSummary(..) => "agent get_chat_threads_summary",
            AgentReq::FilteredChats(..) => "agent get_filtered_chats",
            AgentReq::AutoScopesConfig => "agent get_auto_chat_scopes_config",
        }
    }
}

// ----- the license's properties -----

/// A property the simulator writes: namespace, name, type and domain. Where each is configured,
/// and for whom, is `Sim::registry`'s choice; `ghost.prop` never is.
pub struct PropSpec {
    pub namespace: &'static str,
    pub name: &'static str,
    pub ty: PropertyType,
    pub domain: Option<Domain>,
}

pub fn prop_specs() -> Vec<PropSpec> {
    let spec = |namespace, name, ty| PropSpec {
        namespace,
        name,
        ty,
        domain: None,
    };
    vec![
        spec("crm", "note", PropertyType::String),
        PropSpec {
            domain: Some(Domain::Range { min: 1, max: 5 }),
            ..spec("survey", "rating", PropertyType::Int)
        },
        spec("survey", "comment", PropertyType::String),
        spec("topic", "name", PropertyType::TokenizedString),
        spec("secret", "flag", PropertyType::Bool),
        PropSpec {
            domain: Some(Domain::Values(
                [
                    PropertyValue::String("a".into()),
                    PropertyValue::String("b".into()),
                ]
                .into(),
            )),
            ..spec("tag", "label", PropertyType::String)
        },
        spec("multi", "flag", PropertyType::Bool),
        spec("ghost", "prop", PropertyType::Int),
    ]
}

// ----- drawing values -----

/// A user id the license does not know.
pub fn ghost_agent() -> UserId {
    UserId::new("ghost-agent@example.com").expect("valid")
}

pub fn ghost_customer() -> UserId {
    UserId::new("customer-ghost").expect("valid")
}

fn random_uuid(rng: &mut Rng) -> uuid::Uuid {
    uuid::Uuid::from_u64_pair(rng.next_u64(), rng.next_u64())
}

fn value_for(rng: &mut Rng, spec: &PropSpec) -> PropertyValue {
    // Mostly valid for the type and domain; sometimes out of the domain or of the wrong type.
    match rng.weighted(&[14, 2, 2]) {
        0 => match (spec.ty, &spec.domain) {
            (PropertyType::Int, Some(Domain::Range { min, max })) => {
                PropertyValue::Int(rng.range(i64::from(*min), i64::from(*max)) as i32)
            }
            (_, Some(Domain::Values(values))) => {
                let v: Vec<_> = values.iter().cloned().collect();
                rng.pick(&v).cloned().expect("a domain has values")
            }
            (PropertyType::Int, None) => PropertyValue::Int(rng.range(-3, 3) as i32),
            (PropertyType::Bool, _) => PropertyValue::Bool(rng.coin()),
            (PropertyType::String | PropertyType::TokenizedString, _) => {
                if rng.percent(90) {
                    PropertyValue::String(format!("v{}", rng.below(3)))
                } else {
                    PropertyValue::String("w".repeat(rng.range(4, 40) as usize))
                }
            }
        },
        1 => match spec.ty {
            PropertyType::Int => PropertyValue::Int(if rng.coin() { 0 } else { i32::MAX }),
            _ => PropertyValue::String("c".into()),
        },
        _ => match spec.ty {
            PropertyType::Int => PropertyValue::String("7".into()),
            _ => PropertyValue::Int(1),
        },
    }
}

impl Sim {
    /// Chat ids for a requester: mostly chats it may see, sometimes any chat, a forged id with
    /// a real chat's slot, or a random id.
    pub fn pick_chat(&mut self, me: &UserId, role: Role) -> ChatId {
        let e = &self.engine;
        let n = e.chats().len();
        // Agents mostly work on the chats routing gave them, as people do.
        if role == Role::Agent && self.rng.percent(45) {
            let assigned: Vec<ChatId> = e
                .chats()
                .iter()
                .filter(|c| c.routing.assignee.as_ref() == Some(me))
                .map(|c| c.id)
                .collect();
            if let Some(id) = self.rng.pick(&assigned) {
                return *id;
            }
        }
        let odds = match role {
            Role::Customer => [80, 10, 6, 4],
            Role::Agent => [70, 18, 6, 4],
        };
        match self.rng.weighted(&odds) {
            0 if n > 0 => {
                let mine: Vec<ChatId> = match role {
                    Role::Customer => e.customer_chats(me).to_vec(),
                    Role::Agent => e
                        .chats()
                        .iter()
                        .filter(|c| may_see(e, me, role, c))
                        .map(|c| c.id)
                        .collect(),
                };
                match self.rng.pick(&mine) {
                    Some(id) => *id,
                    None => e.chats().get(self.rng.index(n)).expect("chat exists").id,
                }
            }
            0 | 1 if n > 0 => e.chats().get(self.rng.index(n)).expect("chat exists").id,
            2 if n > 0 => {
                // Same slot bits, different id: must be "not found", never another chat.
                let real = e.chats().get(self.rng.index(n)).expect("chat exists").id;
                let mut bytes = *real.as_uuid().as_bytes();
                bytes[self.rng.index(12)] ^= 1 << self.rng.below(8);
                ChatId::from_uuid(uuid::Uuid::from_bytes(bytes))
            }
            _ => ChatId::from_uuid(random_uuid(&mut self.rng)),
        }
    }

    /// A thread id for a chat: one of its threads (mostly the last), another chat's, or random.
    pub fn pick_thread(&mut self, chat: ChatId) -> ThreadId {
        let e = &self.engine;
        match (self.rng.weighted(&[6, 3, 1, 1]), e.chat(&chat)) {
            (0, Some(c)) => c.threads.last().expect("a chat has a thread").id,
            (1, Some(c)) => c.threads[self.rng.index(c.threads.len())].id,
            (2, _) if !e.chats().is_empty() => {
                let other = &e
                    .chats()
                    .get(self.rng.index(e.chats().len()))
                    .expect("chat exists");
                other.threads[self.rng.index(other.threads.len())].id
            }
            _ => ThreadId::from_uuid(random_uuid(&mut self.rng)),
        }
    }

    /// A postback target in a chat: mostly a rich message's button, sometimes anything.
    fn pick_postback(&mut self, chat: ChatId) -> (ThreadId, EventId, Postback) {
        let whole = self.engine.chat(&chat);
        let rich: Vec<(ThreadId, EventId)> = whole
            .iter()
            .flat_map(|c| c.threads.iter())
            .flat_map(|t| t.events.iter().map(move |e| (t.id, e)))
            .filter(|(_, e)| matches!(e.kind, EventKind::RichMessage(_)))
            .map(|(t, e)| (t, e.id))
            .collect();
        let postback = Postback {
            id: ["b0", "b1", "nope"][self.rng.weighted(&[5, 4, 1])].into(),
            toggled: self.rng.percent(70),
        };
        if let (true, Some(&(t, e))) = (self.rng.percent(85), self.rng.pick(&rich)) {
            return (t, e, postback);
        }
        let thread = self.pick_thread(chat);
        let event = self
            .engine
            .chat(&chat)
            .and_then(|c| c.thread(&thread))
            .and_then(|t| self.rng.pick(&t.events.to_vec()).map(|e| e.id))
            .unwrap_or_else(|| EventId::from_uuid(random_uuid(&mut self.rng)));
        (thread, event, postback)
    }

    /// An agent id to name in a request: mostly a registered agent, sometimes nobody or a
    /// customer.
    /// The agent a host call names: almost always a registered one, now and then anything
    /// [`pick_agent_arg`](Self::pick_agent_arg) might give.
    fn host_agent_arg(&mut self) -> UserId {
        if self.rng.percent(95) {
            self.rng
                .pick(&self.agents)
                .cloned()
                .unwrap_or_else(ghost_agent)
        } else {
            self.pick_agent_arg()
        }
    }

    fn pick_agent_arg(&mut self) -> UserId {
        match self.rng.weighted(&[12, 1, 1]) {
            0 => self
                .rng
                .pick(&self.agents)
                .cloned()
                .unwrap_or_else(ghost_agent),
            1 => ghost_agent(),
            _ => self
                .rng
                .pick(&self.customers)
                .cloned()
                .unwrap_or_else(ghost_agent),
        }
    }

    fn pick_customer_arg(&mut self) -> UserId {
        match self.rng.weighted(&[12, 1, 1]) {
            0 => self
                .rng
                .pick(&self.customers)
                .cloned()
                .unwrap_or_else(ghost_customer),
            1 => ghost_customer(),
            _ => self
                .rng
                .pick(&self.agents)
                .cloned()
                .unwrap_or_else(ghost_customer),
        }
    }

    fn properties(&mut self, loc: Location) -> Properties {
        let mut props = Properties::new();
        for _ in 0..=self.rng.below(2) {
            let spec = &self.props[self.rng.index(self.props.len())];
            let value = value_for(&mut self.rng, spec);
            // Writers mostly pick properties configured where they write.
            let configured = self
                .engine
                .property_registry()
                .get(spec.namespace, spec.name)
                .is_some_and(|c| c.locations.contains_key(&loc));
            if configured || self.rng.percent(25) {
                props
                    .entry(spec.namespace.to_owned())
                    .or_default()
                    .insert(spec.name.to_owned(), value);
            }
        }
        props
    }

    fn scopes(&mut self) -> Scopes {
        let mut s = Scopes::default();
        match self.rng.weighted(&[10, 5, 2, 1]) {
            0 => {}
            1 => {
                s.groups
                    .insert(GroupId(self.rng.range(1, i64::from(GROUPS)) as u32));
            }
            2 => {
                s.agents.insert(self.pick_agent_arg());
            }
            _ => {
                s.groups
                    .insert(GroupId(self.rng.range(1, i64::from(GROUPS)) as u32));
                s.agents.insert(self.pick_agent_arg());
            }
        }
        s
    }

    fn file(&mut self) -> File {
        let png = File {
            name: "photo.png".into(),
            url: "https://files.example.com/photo.png".into(),
            content_type: "image/png".into(),
            size: 2048,
            width: Some(640),
            height: Some(480),
        };
        match self.rng.weighted(&[8, 1, 1, 1, 1]) {
            0 => png,
            1 => File {
                size: chatio::model::MAX_FILE_SIZE + 1,
                ..png
            },
            2 => File {
                name: " ".into(),
                ..png
            },
            3 => File {
                content_type: "application/pdf".into(),
                ..png
            },
            _ => File {
                url: String::new(),
                ..png
            },
        }
    }

    fn custom_id(&mut self) -> Option<String> {
        match self.rng.weighted(&[30, 10, 1, 1]) {
            0 => None,
            1 => Some(format!("c{}", self.rng.below(4))),
            2 => Some(String::new()),
            _ => Some("x".repeat(chatio::model::MAX_CUSTOM_ID_LEN + 1)),
        }
    }

    /// An event of any kind, valid or not; `role` only shapes the odds (customers send fewer
    /// events they may not send).
    pub fn event(&mut self, role: Role) -> NewEvent {
        let customer = role == Role::Customer;
        let rich = |elements| {
            NewEvent::new(EventKind::RichMessage(RichMessage {
                template_id: "cards".into(),
                elements,
            }))
        };
        let button = |id: &str| Button {
            text: format!("press {id}"),
            postback_id: id.into(),
            user_ids: Vec::new(),
        };
        let form = |value: Option<&str>| {
            NewEvent::new(EventKind::FilledForm {
                fields: vec![FormField {
                    name: "email".into(),
                    label: "Your e-mail".into(),
                    required: true,
                    kind: FormFieldKind::Email {
                        value: value.map(Into::into),
                    },
                }],
            })
        };
        let system = if customer { 1 } else { 3 };
        let mut ev = match self
            .rng
            .weighted(&[40, 1, 1, 8, 1, 2, 1, system, 1, 1, 2, 5, 1, 2, 1])
        {
            0 => NewEvent::message(format!("hello {}", self.rng.below(100))),
            // Long enough to pass a license's tight `event_bytes` now and then.
            13 => NewEvent::message("long ".repeat(self.rng.range(20, 400) as usize)),
            // Text hygiene: a message may hold line breaks, not an escape sequence.
            14 => NewEvent::message(["two\nlines", "esc \u{1b}[2J"][self.rng.index(2)]),
            1 => NewEvent::message(""),
            2 => NewEvent::message(" \n\t"),
            3 => NewEvent::annotation("5 stars", "rating"),
            4 => NewEvent::annotation("5 stars", " "),
            5 => form(Some("jan@example.com")),
            6 => form(Some("not an e-mail")),
            7 => NewEvent::system_message("back at noon", "info"),
            8 => NewEvent::system_message("", "info"),
            9 => NewEvent::new(EventKind::File(Box::new(self.file()))),
            10 => {
                let mut content = serde_json::Map::new();
                content.insert(
                    "cart".into(),
                    serde_json::json!({"items": self.rng.below(5)}),
                );
                NewEvent::custom(content)
            }
            11 => rich(vec![
                RichElement {
                    title: Some("Pick one".into()),
                    // A sender's `user_ids` must be dropped by the engine.
                    buttons: vec![
                        Button {
                            user_ids: vec![ghost_customer()],
                            ..button("b0")
                        },
                        button("b1"),
                    ],
                    ..RichElement::default()
                },
                RichElement {
                    buttons: vec![button("b1")],
                    ..RichElement::default()
                },
            ]),
            _ => rich(Vec::new()),
        };
        if self.rng.percent(if customer { 4 } else { 15 }) {
            ev = ev.to(Recipients::Agents);
        }
        ev.custom_id = self.custom_id();
        if self.rng.percent(10) {
            ev.properties = self.properties(Location::Event);
        }
        ev
    }

    fn start_chat_body(&mut self, role: Role) -> StartChat {
        let mut body = StartChat::default();
        if self.rng.percent(30) {
            body.scopes = self.scopes();
        }
        for _ in 0..self.rng.weighted(&[3, 6, 2, 1]) {
            body.events.push(self.event(role));
        }
        if self.rng.percent(15) {
            body.properties = self.properties(Location::Chat);
        }
        if self.rng.percent(10) {
            body.thread_properties = self.properties(Location::Thread);
        }
        body
    }

    /// A page of `get_filtered_chats`: a limit in and out of range, from the newest or from
    /// below `chat`'s order (or below an order no chat has).
    fn chats_page(&mut self, chat: ChatId) -> ChatsPagination {
        let limit = [None, Some(1), Some(3), Some(0), Some(100), Some(101)]
            [self.rng.weighted(&[6, 2, 2, 1, 1, 1])];
        let before_order = match self.rng.weighted(&[5, 3, 1]) {
            0 => None,
            1 => self.engine.chat(&chat).map(|c| c.order()),
            _ => Some(self.rng.below(1_000)),
        };
        ChatsPagination {
            limit,
            before_order,
        }
    }

    fn page(&mut self) -> Pagination {
        let offset =
            [None, Some(0), Some(1), Some(3), Some(101)][self.rng.weighted(&[6, 2, 2, 1, 1])];
        let limit = [None, Some(1), Some(3), Some(0), Some(26), Some(101)]
            [self.rng.weighted(&[6, 2, 2, 1, 1, 1])];
        Pagination { offset, limit }
    }

    /// A `last_seen` time: the default (now), one in the past, exactly now, or the future.
    fn last_seen_at(&mut self, at: Timestamp) -> Option<Timestamp> {
        let eff = at.max(self.engine.now());
        match self.rng.weighted(&[4, 3, 1, 1, 1]) {
            0 => None,
            1 => Some(eff + -self.rng.range(0, 3_600)),
            2 => Some(eff),
            3 => Some(at),
            _ => Some(eff + self.rng.range(1, 3_600)),
        }
    }

    fn thread_ids(&mut self, chat: ChatId) -> Vec<ThreadId> {
        (0..self.rng.below(3))
            .map(|_| self.pick_thread(chat))
            .collect()
    }

    // ----- operations -----

    /// The operation of the next step, requested at `at`.
    pub fn next_op(&mut self, at: Timestamp) -> Op {
        match self.rng.weighted(&[1, 1, 1, 1, 2, 12, 3, 70, 100, 1, 2]) {
            0 if self.customers.len() < MAX_CUSTOMERS => Op::CreateCustomer,
            1 if self.customers.len() < MAX_CUSTOMERS => Op::AddCustomer(self.new_customer()),
            2 if self.rng.percent(30) => Op::AddAgent(self.new_agent()),
            3 if self.rng.percent(20) => Op::ConfigureProperty(self.new_property()),
            4 if self.rng.percent(40) => Op::SetRouter(ROUTERS[self.rng.index(ROUTERS.len())]),
            5 => Op::SetPresence {
                agent: self.host_agent_arg(),
                online: self.rng.percent(60),
                at,
            },
            6 => Op::Tick { at },
            10 => Op::UpdateAgentProfile {
                agent: self.updated_agent(),
                at,
            },
            9 if self.mode != JournalMode::Off => {
                Op::SetJournalMode(if self.mode == JournalMode::Hold {
                    JournalMode::Output
                } else {
                    JournalMode::Hold
                })
            }
            7 => {
                let who = match self.rng.weighted(&[40, 1, 1]) {
                    0 => self
                        .rng
                        .pick(&self.customers)
                        .cloned()
                        .unwrap_or_else(ghost_customer),
                    1 => ghost_customer(),
                    _ => self
                        .rng
                        .pick(&self.agents)
                        .cloned()
                        .unwrap_or_else(ghost_customer),
                };
                let req = self.customer_req(&who, at);
                Op::Customer { who, at, req }
            }
            _ => {
                let who = match self.rng.weighted(&[40, 1, 1]) {
                    0 => self
                        .rng
                        .pick(&self.agents)
                        .cloned()
                        .unwrap_or_else(ghost_agent),
                    1 => ghost_agent(),
                    _ => self
                        .rng
                        .pick(&self.customers)
                        .cloned()
                        .unwrap_or_else(ghost_agent),
                };
                let req = self.agent_req(&who, at);
                Op::Agent { who, at, req }
            }
        }
    }

    fn new_customer(&mut self) -> Customer {
        // Mostly a new id; sometimes one that is taken (a customer's or an agent's).
        let id = match self.rng.weighted(&[10, 1, 1]) {
            0 => {
                self.next_customer += 1;
                customer_id(self.next_customer)
            }
            1 => self
                .rng
                .pick(&self.customers)
                .cloned()
                .unwrap_or_else(ghost_customer),
            _ => self
                .rng
                .pick(&self.agents)
                .cloned()
                .unwrap_or_else(ghost_customer),
        };
        let mut c = Customer::new(id);
        if self.rng.coin() {
            c = c.with_name(format!("Customer {}", self.rng.below(100)));
        }
        if self.rng.percent(10) {
            // Registered already banned for a while.
            c.banned_until = Some(self.clock + self.rng.range(60, 7_200));
        }
        c
    }

    pub fn new_agent(&mut self) -> Agent {
        let id = if self.agents.len() < MAX_AGENTS && self.rng.percent(85) {
            self.next_agent += 1;
            agent_id(self.next_agent)
        } else {
            self.pick_agent_arg()
        };
        self.agent_profile(id)
    }

    /// A new profile for a registered agent: usually one of the license's, sometimes an id
    /// that is not an agent.
    pub fn updated_agent(&mut self) -> Agent {
        let id = self.host_agent_arg();
        self.agent_profile(id)
    }

    /// A random profile for `id`: groups, slots, permission, bot or not, and now and then a
    /// name the engine refuses.
    fn agent_profile(&mut self, id: UserId) -> Agent {
        let name = match self.rng.weighted(&[93, 5, 2]) {
            0 => format!("Agent {}", self.next_agent),
            1 => " ".into(),
            // A name that would show reversed in agents' lists.
            _ => format!("\u{202E}Agent {}", self.next_agent),
        };
        let mut agent = Agent::new(id, name)
            .with_max_chats([0, 1, 2, 3, 6][self.rng.weighted(&[1, 4, 4, 3, 2])]);
        let groups: Vec<GroupId> = (1..GROUPS)
            .filter(|_| self.rng.percent(40))
            .map(GroupId)
            .collect();
        agent = agent.with_groups(groups);
        agent = agent.with_permission(
            [
                Permission::Administrator,
                Permission::Normal,
                Permission::Owner,
            ][self.rng.weighted(&[4, 3, 1])],
        );
        if self.rng.percent(15) {
            agent = agent.bot();
        }
        agent
    }

    fn new_property(&mut self) -> PropertyConfig {
        use chatio::model::{Access, LocationAccess};
        let open = LocationAccess {
            agent: Access::READ_WRITE,
            customer: Access::READ,
        };
        match self.rng.weighted(&[3, 1, 1]) {
            // A property nobody writes yet (the simulator only writes its own list).
            0 => {
                self.next_property += 1;
                PropertyConfig::new(
                    "extra",
                    format!("p{}", self.next_property),
                    PropertyType::Bool,
                )
                .at(Location::Chat, open)
            }
            // Already configured.
            1 => PropertyConfig::new("crm", "note", PropertyType::String).at(Location::Chat, open),
            // No location.
            _ => PropertyConfig::new("extra", "nowhere", PropertyType::Int),
        }
    }

    fn customer_req(&mut self, me: &UserId, at: Timestamp) -> CustomerReq {
        let chat = self.pick_chat(me, Role::Customer);
        if self.engine.customer_chats(me).is_empty() && self.rng.coin() {
            return CustomerReq::StartChat(self.start_chat_body(Role::Customer));
        }
        match self
            .rng
            .weighted(&[8, 30, 3, 3, 2, 2, 4, 3, 3, 2, 1, 3, 1, 2, 3, 2, 2])
        {
            0 => CustomerReq::StartChat(self.start_chat_body(Role::Customer)),
            1 => CustomerReq::SendEvent(chat, self.event(Role::Customer)),
            2 => {
                let custom_id = self.custom_id();
                CustomerReq::SendFile(chat, custom_id, self.file())
            }
            3 => {
                let (t, e, p) = self.pick_postback(chat);
                CustomerReq::Postback(chat, t, e, p)
            }
            4 => CustomerReq::SneakPeek(chat, ["I am typ", ""][self.rng.weighted(&[9, 1])].into()),
            5 => CustomerReq::Typing(chat, self.rng.coin()),
            6 => CustomerReq::CloseThread(chat),
            7 => CustomerReq::UpdateCustomer(self.customer_update()),
            8 => CustomerReq::ChatProperties(chat, self.properties(Location::Chat)),
            9 => {
                let thread = self.pick_thread(chat);
                CustomerReq::ThreadProperties(chat, thread, self.properties(Location::Thread))
            }
            10 => {
                let (add, remove) = (self.scopes(), self.scopes());
                CustomerReq::Scopes(chat, add, remove)
            }
            11 => CustomerReq::LastSeen(chat, self.last_seen_at(at)),
            12 => CustomerReq::Login,
            13 => CustomerReq::ChatsSummary(self.page()),
            14 => CustomerReq::ChatThreads(chat, self.thread_ids(chat)),
            15 => CustomerReq::ThreadsSummary(chat, self.page()),
            _ => CustomerReq::QueuePosition(chat),
        }
    }

    fn customer_update(&mut self) -> CustomerUpdate {
        let mut u = CustomerUpdate::default();
        if self.rng.percent(40) {
            u.name = Some(if self.rng.percent(90) {
                format!("Name {}", self.rng.below(10))
            } else {
                format!("Name\u{202E}{}", self.rng.below(10))
            });
        }
        if self.rng.percent(30) {
            u.email = Some(if self.rng.percent(80) {
                "jan@example.com".into()
            } else {
                "jan at example".into()
            });
        }
        if self.rng.percent(30) {
            // Mostly one of two keys; sometimes up to six more, or a long value, to meet a
            // license's tight `customer_fields` and `customer_fields_bytes`.
            let keys = if self.rng.percent(80) {
                1
            } else {
                self.rng.range(2, 6)
            };
            for _ in 0..keys {
                let value = if self.rng.percent(85) {
                    "x".to_owned()
                } else {
                    "y".repeat(self.rng.range(10, 200) as usize)
                };
                u.fields.insert(format!("f{}", self.rng.below(8)), value);
            }
        }
        if self.rng.percent(40) {
            let url = [
                "https://shop.example.com/pricing",
                "https://shop.example.com/",
                "",
            ][self.rng.weighted(&[4, 4, 1])];
            u.current_page = Some(Page {
                url: Some(url.into()),
                title: None,
            });
        }
        u
    }

    fn agent_req(&mut self, me: &UserId, at: Timestamp) -> AgentReq {
        let chat = self.pick_chat(me, Role::Agent);
        let w = [
            5, 4, 3, 35, 3, 2, 3, 5, 5, 1, 3, 3, 2, 3, 1, 1, 3, 2, 3, 2, 2, 1,
        ];
        match self.rng.weighted(&w) {
            0 => {
                let customer = if self.rng.percent(55) {
                    Some(self.pick_customer_arg())
                } else {
                    None
                };
                AgentReq::StartChat(customer, self.start_chat_body(Role::Agent))
            }
            1 => {
                let agents = (0..self.rng.range(1, 2))
                    .map(|_| self.pick_agent_arg())
                    .collect();
                AgentReq::JoinChat(chat, agents)
            }
            2 => {
                let agents = (0..self.rng.below(3))
                    .map(|_| self.pick_agent_arg())
                    .collect();
                let customers = if self.rng.percent(10) {
                    vec![self.pick_customer_arg()]
                } else {
                    Vec::new()
                };
                AgentReq::RemoveFromChat(chat, agents, customers)
            }
            3 => AgentReq::SendEvent(chat, self.event(Role::Agent)),
            4 => {
                let (t, e, p) = self.pick_postback(chat);
                AgentReq::Postback(chat, t, e, p)
            }
            5 => {
                let mut s = MulticastScopes {
                    all_agents: self.rng.percent(25),
                    ..MulticastScopes::default()
                };
                for _ in 0..self.rng.below(3) {
                    match self.rng.weighted(&[2, 1, 2]) {
                        0 => s.agent_ids.push(self.pick_agent_arg()),
                        1 => s
                            .groups
                            .push(GroupId(self.rng.range(1, i64::from(GROUPS)) as u32)),
                        _ => s.customer_ids.push(self.pick_customer_arg()),
                    }
                }
                AgentReq::Multicast(s, serde_json::json!({"note": self.rng.below(5)}))
            }
            6 => {
                let recipients = if self.rng.coin() {
                    Recipients::All
                } else {
                    Recipients::Agents
                };
                AgentReq::Typing(chat, recipients, self.rng.coin())
            }
            7 => AgentReq::CloseThread(chat),
            8 => {
                let target = match self.rng.weighted(&[6, 2, 1, 1]) {
                    0 => None,
                    1 => Some(me.clone()),
                    2 => Some(self.pick_agent_arg()),
                    _ => Some(ghost_agent()),
                };
                let status = match self.rng.weighted(&[5, 4, 1]) {
                    0 => Some(RoutingStatus::AcceptingChats),
                    1 => Some(RoutingStatus::NotAcceptingChats),
                    _ => None,
                };
                AgentReq::UpdateAgent(target, status)
            }
            9 => {
                let days = [
                    1,
                    2,
                    30,
                    0,
                    chatio::model::MAX_BAN_DAYS,
                    chatio::model::MAX_BAN_DAYS + 1,
                ][self.rng.weighted(&[12, 3, 1, 1, 1, 1])];
                AgentReq::Ban(self.pick_customer_arg(), days)
            }
            10 => {
                let target = match self.rng.weighted(&[5, 3]) {
                    0 => TransferTarget::Agent(self.pick_agent_arg()),
                    _ => {
                        TransferTarget::Group(GroupId(self.rng.range(1, i64::from(GROUPS)) as u32))
                    }
                };
                AgentReq::Transfer(chat, target)
            }
            11 => AgentReq::ChatProperties(chat, self.properties(Location::Chat)),
            12 => {
                let thread = self.pick_thread(chat);
                AgentReq::ThreadProperties(chat, thread, self.properties(Location::Thread))
            }
            13 => {
                let (add, remove) = (self.scopes(), self.scopes());
                AgentReq::Scopes(chat, add, remove)
            }
            14 => {
                let rules = self.auto_rules();
                let scopes = self.scopes();
                AgentReq::AddAutoScopes(Some("sim".into()), scopes, rules)
            }
            15 => {
                let id = match self.rng.pick(&self.auto_ids) {
                    Some(id) if self.rng.percent(85) => id.clone(),
                    _ => "nope".to_owned(),
                };
                AgentReq::RemoveAutoScopes(id)
            }
            16 => AgentReq::LastSeen(chat, self.last_seen_at(at)),
            17 => AgentReq::Login,
            18 => AgentReq::ChatThreads(chat, self.thread_ids(chat)),
            19 => AgentReq::ThreadsSummary(chat, self.page()),
            20 => {
                let filters = self.filters();
                AgentReq::FilteredChats(filters, self.chats_page(chat))
            }
            _ => AgentReq::AutoScopesConfig,
        }
    }

    fn property_filters(&mut self) -> PropertyFilters {
        let mut f = PropertyFilters::new();
        if self.rng.coin() {
            f.entry("topic".into())
                .or_default()
                .insert("name".into(), PropertyFilter::Exists(self.rng.coin()));
        }
        if self.rng.coin() {
            let values = vec![PropertyValue::Int(self.rng.range(1, 5) as i32)];
            let filter = if self.rng.coin() {
                PropertyFilter::Values(values)
            } else {
                PropertyFilter::ExcludeValues(values)
            };
            f.entry("survey".into())
                .or_default()
                .insert("rating".into(), filter);
        }
        f
    }

    fn auto_rules(&mut self) -> AutoScopeRules {
        let customer_url = if self.rng.coin() {
            let m = vec![UrlMatch {
                value: "pricing".into(),
                exact_match: self.rng.percent(20),
            }];
            Some(if self.rng.coin() {
                UrlFilter::Values(m)
            } else {
                UrlFilter::ExcludeValues(m)
            })
        } else {
            None
        };
        AutoScopeRules {
            chat_properties: self.property_filters(),
            customer_url,
        }
    }

    fn filters(&mut self) -> ChatFilters {
        ChatFilters {
            include_active: [None, Some(true), Some(false)][self.rng.index(3)],
            include_inactive: [None, None, Some(true), Some(false)][self.rng.index(4)],
            properties: self.property_filters(),
        }
    }
}

/// The `n`th agent's id. Every third one is longer than the 22 bytes `UserId` keeps inline, so
/// both of its forms meet in the same maps, lists and orders.
pub fn agent_id(n: usize) -> UserId {
    numbered_id(
        n,
        3,
        &format!("agent{n}"),
        "@example.com",
        "@support.a-much-longer-domain.example",
    )
}

/// The `n`th host-registered customer's id; every fourth one is long (see [`agent_id`]).
pub fn customer_id(n: usize) -> UserId {
    numbered_id(
        n,
        4,
        &format!("customer-{n}"),
        "",
        "-with-an-external-crm-reference",
    )
}

/// `stem` with the `long` suffix for every `every`th `n`, the `short` one otherwise.
fn numbered_id(n: usize, every: usize, stem: &str, short: &str, long: &str) -> UserId {
    let suffix = if n.is_multiple_of(every) { long } else { short };
    UserId::new(&format!("{stem}{suffix}")).expect("valid")
}
