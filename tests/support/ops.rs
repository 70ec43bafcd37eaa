//! The operations `tests/state_machine.rs` generates: plain data that names users, chats,
//! threads and events by index, resolved against the engine only when a step runs. Indexes
//! (rather than ids) keep a sequence meaningful while proptest shrinks it, and make it replay
//! identically under any id seed.

use proptest::collection::vec;
use proptest::prelude::*;

/// Agents in the license: 0 is in group 1, 1 in group 2, 2 in no group.
pub const AGENTS: usize = 3;
/// Customers in the license.
pub const CUSTOMERS: usize = 3;

/// Who makes a request.
#[derive(Clone, Copy, Debug)]
pub enum Actor {
    Agent(usize),
    Customer(usize),
    /// A user id the license does not know (the facade must refuse it).
    Stranger,
}

/// A chat, resolved when the step runs.
#[derive(Clone, Copy, Debug)]
pub enum ChatRef {
    /// The `n`-th (modulo) of the chats the requester may see; `Known(n)` if there is none.
    Own(usize),
    /// The `n`-th chat of the engine (modulo how many there are), whoever's it is.
    Known(usize),
    /// An id no chat has.
    Unknown(usize),
}

/// A thread of the chat a step is about.
#[derive(Clone, Copy, Debug)]
pub enum ThreadRef {
    /// The `n`-th thread (modulo).
    Index(usize),
    /// The last thread.
    Last,
    /// A thread of (probably) another chat.
    OtherChat(usize),
    /// An id no thread has.
    Unknown,
}

/// What a rich message postback points at.
#[derive(Clone, Copy, Debug)]
pub enum PostbackTarget {
    /// The `n`-th rich message of the chat (modulo), wherever it is; falls back to `Ref`.
    Rich(usize),
    /// Any thread and any event (`None`: an unknown event id).
    Ref(ThreadRef, Option<usize>),
}

/// How the host clock moves before a step.
#[derive(Clone, Copy, Debug)]
pub enum Time {
    /// The clock moves forward by this many seconds and the request is made at the new time.
    Forward(i64),
    /// The clock stays; the request is made this many seconds before it (which may be before
    /// the latest time the engine has seen).
    Earlier(i64),
}

/// The kind of a generated event; the ones whose name says so are invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvKind {
    Message,
    EmptyText,
    BlankText,
    Annotation,
    AnnotationWithoutType,
    Form,
    BadForm,
    SystemMessage,
    EmptySystemMessage,
    FileViaSendEvent,
    Custom,
    Rich,
    RichWithoutElements,
}

impl EvKind {
    /// True for kinds whose own fields are invalid, whoever sends them and however.
    pub fn is_malformed(self) -> bool {
        matches!(
            self,
            EvKind::EmptyText
                | EvKind::BlankText
                | EvKind::AnnotationWithoutType
                | EvKind::BadForm
                | EvKind::EmptySystemMessage
                | EvKind::RichWithoutElements
        )
    }
}

/// A `custom_id`: one of a tiny pool (so they repeat), or an invalid one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CustomId {
    Pool(u8),
    Empty,
    TooLong,
}

impl CustomId {
    pub fn is_valid(self) -> bool {
        matches!(self, CustomId::Pool(_))
    }
}

/// A generated event.
#[derive(Clone, Copy, Debug)]
pub struct EvSpec {
    pub kind: EvKind,
    pub agents_only: bool,
    pub custom_id: Option<CustomId>,
}

/// The scopes of a new chat.
#[derive(Clone, Copy, Debug)]
pub enum ScopeSpec {
    Everyone,
    /// Group 1, 2 or 3 (no agent is in group 3).
    Group(u32),
    /// One agent by index.
    Agent(usize),
    /// Group 2 and agent 2.
    GroupAndAgent,
}

/// A file for `send_file`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileSpec {
    Png,
    Pdf,
    TooBig,
    PdfWithWidth,
    EmptyName,
}

/// The timestamp of `update_last_seen_timestamp`.
#[derive(Clone, Copy, Debug)]
pub enum LastSeen {
    /// `None`: the request's time.
    Now,
    /// Exactly the time the request is made at (which may be before the engine's time).
    Requested,
    /// This many seconds before the host clock.
    Past(i64),
    /// This many seconds after the host clock (always in the future for the engine).
    Future(i64),
}

/// A read-only request.
#[derive(Clone, Debug)]
pub enum Query {
    Login,
    ChatThreads {
        chat: ChatRef,
        threads: Vec<ThreadRef>,
    },
    ThreadsSummary {
        chat: ChatRef,
        offset: Option<u32>,
        limit: Option<u32>,
    },
    /// Customers only; an agent asking it does `login` instead.
    ChatsSummary {
        offset: Option<u32>,
        limit: Option<u32>,
    },
}

/// Who a multicast reaches; index `AGENTS` / `CUSTOMERS` is an unknown user.
#[derive(Clone, Debug)]
pub struct MulticastSpec {
    pub all_agents: bool,
    pub agents: Vec<usize>,
    pub groups: Vec<u32>,
    pub customers: Vec<usize>,
}

/// `update_customer`'s body.
#[derive(Clone, Debug)]
pub struct UpdateSpec {
    pub name: Option<u8>,
    /// `Some(true)`: a valid e-mail; `Some(false)`: an invalid one.
    pub email: Option<bool>,
    pub field: Option<(u8, u8)>,
    /// `Some(true)`: a page with a URL; `Some(false)`: a page with an empty URL.
    pub page: Option<bool>,
}

/// One facade call. Agent and customer indexes equal to `AGENTS` / `CUSTOMERS` mean "unknown".
#[derive(Clone, Debug)]
pub enum Op {
    CustomerStartChat {
        customer: usize,
        events: Vec<EvSpec>,
        scopes: ScopeSpec,
        properties: bool,
    },
    AgentStartChat {
        agent: usize,
        customer: Option<usize>,
        events: Vec<EvSpec>,
        scopes: ScopeSpec,
    },
    SendEvent {
        actor: Actor,
        chat: ChatRef,
        event: EvSpec,
    },
    SendFile {
        customer: usize,
        chat: ChatRef,
        custom_id: Option<CustomId>,
        file: FileSpec,
    },
    CloseThread {
        actor: Actor,
        chat: ChatRef,
    },
    JoinChat {
        agent: usize,
        chat: ChatRef,
        agents: Vec<usize>,
    },
    RemoveFromChat {
        agent: usize,
        chat: ChatRef,
        agents: Vec<usize>,
        customers: Vec<usize>,
    },
    AgentTyping {
        agent: usize,
        chat: ChatRef,
        agents_only: bool,
        is_typing: bool,
    },
    CustomerTyping {
        customer: usize,
        chat: ChatRef,
        is_typing: bool,
    },
    SneakPeek {
        customer: usize,
        chat: ChatRef,
        text: u8,
    },
    Postback {
        actor: Actor,
        chat: ChatRef,
        target: PostbackTarget,
        /// 0 and 1 are the postbacks of generated rich messages; 2 is on none.
        postback: u8,
        toggled: bool,
    },
    UpdateLastSeen {
        actor: Actor,
        chat: ChatRef,
        at: LastSeen,
    },
    Multicast {
        agent: usize,
        scopes: MulticastSpec,
        content: u8,
    },
    UpdateCustomer {
        customer: usize,
        update: UpdateSpec,
    },
    Query {
        actor: Actor,
        query: Query,
    },
}

/// A step: the clock moves, then the operation runs.
#[derive(Clone, Debug)]
pub struct Step {
    pub time: Time,
    pub op: Op,
}

/// A whole generated run.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub seed: u64,
    /// `EngineConfig::max_chats_per_customer(None)` instead of the default `Some(1)`.
    pub unlimited_chats: bool,
    /// `PushAudience::ChatAgentsOnly` instead of `AllAgents`.
    pub chat_agents_only: bool,
    pub steps: Vec<Step>,
}

// ----- strategies -----

fn agent() -> impl Strategy<Value = usize> {
    0..AGENTS
}

fn customer() -> impl Strategy<Value = usize> {
    0..CUSTOMERS
}

fn actor() -> BoxedStrategy<Actor> {
    prop_oneof![
        10 => agent().prop_map(Actor::Agent),
        10 => customer().prop_map(Actor::Customer),
        1 => Just(Actor::Stranger),
    ]
    .boxed()
}

fn chat_ref() -> BoxedStrategy<ChatRef> {
    prop_oneof![
        10 => (0..16usize).prop_map(ChatRef::Own),
        4 => (0..16usize).prop_map(ChatRef::Known),
        1 => (0..2usize).prop_map(ChatRef::Unknown),
    ]
    .boxed()
}

fn thread_ref() -> BoxedStrategy<ThreadRef> {
    prop_oneof![
        4 => (0..8usize).prop_map(ThreadRef::Index),
        4 => Just(ThreadRef::Last),
        1 => (0..16usize).prop_map(ThreadRef::OtherChat),
        1 => Just(ThreadRef::Unknown),
    ]
    .boxed()
}

fn time() -> BoxedStrategy<Time> {
    prop_oneof![
        12 => (0..120i64).prop_map(Time::Forward),
        3 => (120..7_200i64).prop_map(Time::Forward),
        1 => (7_200..200_000i64).prop_map(Time::Forward),
        3 => (1..5_000i64).prop_map(Time::Earlier),
    ]
    .boxed()
}

fn ev_kind() -> BoxedStrategy<EvKind> {
    prop_oneof![
        16 => Just(EvKind::Message),
        1 => Just(EvKind::EmptyText),
        1 => Just(EvKind::BlankText),
        5 => Just(EvKind::Annotation),
        1 => Just(EvKind::AnnotationWithoutType),
        2 => Just(EvKind::Form),
        1 => Just(EvKind::BadForm),
        2 => Just(EvKind::SystemMessage),
        1 => Just(EvKind::EmptySystemMessage),
        1 => Just(EvKind::FileViaSendEvent),
        2 => Just(EvKind::Custom),
        5 => Just(EvKind::Rich),
        1 => Just(EvKind::RichWithoutElements),
    ]
    .boxed()
}

fn custom_id() -> BoxedStrategy<Option<CustomId>> {
    prop_oneof![
        12 => Just(None),
        8 => (0..3u8).prop_map(|n| Some(CustomId::Pool(n))),
        1 => Just(Some(CustomId::Empty)),
        1 => Just(Some(CustomId::TooLong)),
    ]
    .boxed()
}

fn ev_spec() -> BoxedStrategy<EvSpec> {
    (ev_kind(), prop::bool::weighted(0.2), custom_id())
        .prop_map(|(kind, agents_only, custom_id)| EvSpec {
            kind,
            agents_only,
            custom_id,
        })
        .boxed()
}

fn scope_spec() -> BoxedStrategy<ScopeSpec> {
    prop_oneof![
        8 => Just(ScopeSpec::Everyone),
        2 => (1..=3u32).prop_map(ScopeSpec::Group),
        1 => agent().prop_map(ScopeSpec::Agent),
        1 => Just(ScopeSpec::GroupAndAgent),
    ]
    .boxed()
}

fn file_spec() -> BoxedStrategy<FileSpec> {
    prop_oneof![
        4 => Just(FileSpec::Png),
        4 => Just(FileSpec::Pdf),
        1 => Just(FileSpec::TooBig),
        1 => Just(FileSpec::PdfWithWidth),
        1 => Just(FileSpec::EmptyName),
    ]
    .boxed()
}

fn last_seen() -> BoxedStrategy<LastSeen> {
    prop_oneof![
        3 => Just(LastSeen::Now),
        2 => Just(LastSeen::Requested),
        3 => (0..10_000i64).prop_map(LastSeen::Past),
        2 => (1..10_000i64).prop_map(LastSeen::Future),
    ]
    .boxed()
}

fn page() -> BoxedStrategy<(Option<u32>, Option<u32>)> {
    let offset = prop_oneof![4 => Just(None), 3 => (0..3u32).prop_map(Some), 1 => Just(Some(101))];
    let limit = prop_oneof![
        6 => Just(None),
        4 => (1..4u32).prop_map(Some),
        1 => Just(Some(0)),
        1 => Just(Some(26)),
        1 => Just(Some(101)),
    ];
    (offset, limit).boxed()
}

fn query() -> BoxedStrategy<Query> {
    prop_oneof![
        1 => Just(Query::Login),
        3 => (chat_ref(), vec(thread_ref(), 0..3))
            .prop_map(|(chat, threads)| Query::ChatThreads { chat, threads }),
        2 => (chat_ref(), page()).prop_map(|(chat, (offset, limit))| Query::ThreadsSummary {
            chat,
            offset,
            limit
        }),
        2 => page().prop_map(|(offset, limit)| Query::ChatsSummary { offset, limit }),
    ]
    .boxed()
}

fn postback_target() -> BoxedStrategy<PostbackTarget> {
    prop_oneof![
        4 => (0..8usize).prop_map(PostbackTarget::Rich),
        1 => (thread_ref(), prop::option::weighted(0.8, 0..8usize))
            .prop_map(|(t, e)| PostbackTarget::Ref(t, e)),
    ]
    .boxed()
}

fn postback_id() -> BoxedStrategy<u8> {
    prop_oneof![4 => Just(0u8), 4 => Just(1u8), 1 => Just(2u8)].boxed()
}

fn multicast_spec() -> BoxedStrategy<MulticastSpec> {
    (
        prop::bool::weighted(0.3),
        vec(0..=AGENTS, 0..3),
        vec(1..=3u32, 0..2),
        vec(0..=CUSTOMERS, 0..3),
    )
        .prop_map(|(all_agents, agents, groups, customers)| MulticastSpec {
            all_agents,
            agents,
            groups,
            customers,
        })
        .boxed()
}

fn update_spec() -> BoxedStrategy<UpdateSpec> {
    (
        prop::option::of(0..3u8),
        prop::option::weighted(0.4, prop::bool::weighted(0.75)),
        prop::option::of((0..2u8, 0..3u8)),
        prop::option::weighted(0.3, prop::bool::weighted(0.75)),
    )
        .prop_map(|(name, email, field, page)| UpdateSpec {
            name,
            email,
            field,
            page,
        })
        .boxed()
}

fn op() -> BoxedStrategy<Op> {
    prop_oneof![
        8 => (customer(), vec(ev_spec(), 0..=3), scope_spec(), any::<bool>()).prop_map(
            |(customer, events, scopes, properties)| Op::CustomerStartChat {
                customer,
                events,
                scopes,
                properties
            }
        ),
        4 => (
            agent(),
            prop::option::weighted(0.6, 0..=CUSTOMERS),
            vec(ev_spec(), 0..=3),
            scope_spec()
        )
            .prop_map(|(agent, customer, events, scopes)| Op::AgentStartChat {
                agent,
                customer,
                events,
                scopes
            }),
        30 => (actor(), chat_ref(), ev_spec())
            .prop_map(|(actor, chat, event)| Op::SendEvent { actor, chat, event }),
        3 => (customer(), chat_ref(), custom_id(), file_spec()).prop_map(
            |(customer, chat, custom_id, file)| Op::SendFile {
                customer,
                chat,
                custom_id,
                file
            }
        ),
        6 => (actor(), chat_ref()).prop_map(|(actor, chat)| Op::CloseThread { actor, chat }),
        4 => (agent(), chat_ref(), vec(0..=AGENTS, 1..3)).prop_map(|(agent, chat, agents)| {
            Op::JoinChat {
                agent,
                chat,
                agents,
            }
        }),
        3 => (
            agent(),
            chat_ref(),
            vec(0..=AGENTS, 0..3),
            prop_oneof![4 => Just(vec![]), 1 => vec(0..=CUSTOMERS, 1..2)]
        )
            .prop_map(|(agent, chat, agents, customers)| Op::RemoveFromChat {
                agent,
                chat,
                agents,
                customers
            }),
        3 => (agent(), chat_ref(), any::<bool>(), any::<bool>()).prop_map(
            |(agent, chat, agents_only, is_typing)| Op::AgentTyping {
                agent,
                chat,
                agents_only,
                is_typing
            }
        ),
        2 => (customer(), chat_ref(), any::<bool>()).prop_map(|(customer, chat, is_typing)| {
            Op::CustomerTyping {
                customer,
                chat,
                is_typing,
            }
        }),
        2 => (customer(), chat_ref(), 0..3u8)
            .prop_map(|(customer, chat, text)| Op::SneakPeek { customer, chat, text }),
        5 => (actor(), chat_ref(), postback_target(), postback_id(), prop::bool::weighted(0.7))
            .prop_map(|(actor, chat, target, postback, toggled)| Op::Postback {
                actor,
                chat,
                target,
                postback,
                toggled
            }),
        4 => (actor(), chat_ref(), last_seen())
            .prop_map(|(actor, chat, at)| Op::UpdateLastSeen { actor, chat, at }),
        2 => (agent(), multicast_spec(), 0..3u8).prop_map(|(agent, scopes, content)| {
            Op::Multicast {
                agent,
                scopes,
                content,
            }
        }),
        2 => (customer(), update_spec())
            .prop_map(|(customer, update)| Op::UpdateCustomer { customer, update }),
        10 => (actor(), query()).prop_map(|(actor, query)| Op::Query { actor, query }),
    ]
    .boxed()
}

fn step() -> BoxedStrategy<Step> {
    (time(), op())
        .prop_map(|(time, op)| Step { time, op })
        .boxed()
}

/// A run of `ops` steps (a range) under a random seed and configuration.
pub fn scenario(ops: std::ops::Range<usize>) -> BoxedStrategy<Scenario> {
    (
        any::<u64>(),
        prop::bool::weighted(0.35),
        prop::bool::weighted(0.2),
        vec(step(), ops),
    )
        .prop_map(
            |(seed, unlimited_chats, chat_agents_only, steps)| Scenario {
                seed,
                unlimited_chats,
                chat_agents_only,
                steps,
            },
        )
        .boxed()
}
