//! Privacy property test: random sequences of operations by four agents and four customers
//! over a license with a property registry of varied access, checked after every step for
//! leaks and for writes that should have been refused.
//!
//! The license:
//! * agents Anna (group 1), Ben (group 1), Cleo (group 2) and Dan (group 3), each `Normal`,
//!   `Administrator` or `Owner` at random per case (group 4 exists only in scopes: nobody is in
//!   it); four customers;
//! * a property registry configured at the start (`registry`): a chat property agents read and
//!   write and customers cannot see (`crm.note`), one customers write and agents read
//!   (`survey.rating`, 1 to 5), one both read and nobody writes (`meta.tier`), one customers
//!   write but cannot read back (`survey.comment`), two thread properties (`thread.topic`,
//!   read by customers; `thread.secret`, agents only), two event properties (`event.internal`,
//!   agents only; `event.tag`, both), `multi.flag` at all three locations with random access per
//!   location and role (none, read, write-only, read-write), `multi.level` at a random set of
//!   locations with random access, and `ghost.prop`, never configured;
//! * at random: no router, `AutomaticRouter` or `ManualRouter` (with presence flips and
//!   `tick` whenever `next_deadline() <= now`), `PushAudience::AllAgents` or `ChatAgentsOnly`,
//!   and 1, 3 or unlimited chats per customer.
//!
//! The operations (`Op`), valid and invalid, cover every action: `start_chat` by customers and
//! agents (random scopes: none, a group, an agent, both; chat, thread and event properties;
//! events to everyone or agents only, which customers may not send), `send_event`, `send_file`,
//! `update_chat_properties` and `update_chat_thread_properties` by both roles,
//! `update_chat_scopes`, `join_chat`, `remove_from_chat`, `close_thread`, typing indicators,
//! sneak peeks, rich message postbacks, `multicast`, `transfer_chat`, `update_agent`,
//! `ban_customer`, `update_last_seen_timestamp`, `update_customer`, auto chat scopes, and the
//! queries `get_chat_threads`, `get_chat_threads_summary`, `get_chats_summary`, `login` (both
//! APIs), `get_filtered_chats` (with filters on readable and unreadable properties),
//! `get_archives` (the same property filters, maybe agents to filter by, a team filter now and
//! then, pages and limits in and out of range) and `get_queue_position`; plus host presence
//! changes and waits.
//!
//! After every step (operation or tick), for every push and every response:
//! * no customer is addressed by a push of role `Agent`, and a push of role `Customer` goes only
//!   to customers; no customer gets or is returned an agents-only event, a sneak peek, an
//!   agents-only typing indicator, a postback on an agents-only event, an agent or ban notice,
//!   anything about a chat that is not theirs, a multicast not addressed to them, or a property
//!   its role may not read at that location (chat, thread and event properties inside
//!   `incoming_chat_thread`, `incoming_event`, `chat_properties_updated`,
//!   `chat_thread_properties_updated`, `start_chat` and `send_event` responses, summaries and
//!   `get_chat_threads`);
//! * no agent is addressed about, or returned, a chat outside its scopes (empty scopes, one of
//!   its groups, itself), unless it is in the chat's `agent_ids` at that moment (members are
//!   tracked through the step's `chat_users_updated` pushes, in order; an agent told it was
//!   removed is allowed that notice); `chat_scopes_updated` goes only to agents who see the chat
//!   after the change; nor a property an agent may not read;
//! * queries return exactly what the requester may see: `login` every active chat the agent
//!   sees, `get_filtered_chats` every chat it sees that passes the filters applied to the
//!   properties it may read, `get_archives` the page asked for of the closed threads (never an
//!   active one) of those chats, newest first and each once, counting them all in its total;
//!   views whose properties equal the readable part of the stored ones and whose events are the
//!   stored events meant for the role;
//! * a write without access (a property write by a role without write access, a customer's
//!   agents-only event or system message, an agent action its permission level does not hold
//!   per `PERMISSION_TABLE`, an action on a chat the requester may not see) returns `Err`, and
//!   every refused call of any kind leaves the engine `==` to a clone taken before it;
//!   `update_chat_properties`, `update_chat_thread_properties` and the queries succeed exactly
//!   when the model says so; `ban_customer` is refused unless the agent may see one of the
//!   customer's chats;
//! * no action reaches a chat outside its requester's scopes (`check_reach`): every chat a call
//!   creates or changes is one the requester may see, before or after the call, except for
//!   routing's own moves (a waiting chat given to an agent the call freed), which change nothing
//!   but the assignment and add only routing's system messages.
//!
//! On top of that, after every step a sweep asks every agent for `login`, `get_filtered_chats`
//! and all pages of `get_archives` (which must hold exactly the closed threads of the chats it
//! sees, or be refused as `authorization` if its level does not hold `chats--all:read`), every
//! customer for all pages of `get_chats_summary`, and every user for `get_chat_threads` and
//! `get_chat_threads_summary` of each chat the step touched.
//!
//! The model is the test's own: its copy of the registry decides what each role may read and
//! write where, its scope rule decides who sees a chat, and only the grants come from the crate
//! (`PERMISSION_TABLE`, read directly). An agent's own chats are those it is in; a chat waiting
//! in the routing queue counts as its own for reading and conversation, not for meta actions.
//!
//! **How much runs.** By default the property runs `DEFAULT_CASES` (100) cases of `MIN_OPS` to
//! `MAX_OPS` (100 to 140) operations each, so at least 10,000 random operations (about 12,000,
//! of which about 11,500 API calls and the rest host presence changes and waits; plus the ticks
//! and the sweeps), in about 6 seconds in a debug build. The test asserts that at least 10,000
//! operations ran and that every kind of operation succeeded at least once; `--nocapture`
//! prints the counts per operation and the refusals the model required. Set
//! `CHATIO_PROPTEST_CASES=N` to run N cases instead (N × 100 to N × 140 operations), e.g.
//!
//! ```text
//! CHATIO_PROPTEST_CASES=5000 cargo test --release --test privacy -- --nocapture
//! ```
//!
//! (about 600,000 operations, some 30 seconds in release.)
//!
//! Failures are not persisted. The panic message names the failing step by index; proptest
//! then prints the shrunk scenario, showing only the steps still on (shrinking turns steps off
//! rather than removing them; steps after the failing one may remain). Agents 0..4 are Anna,
//! Ben, Cleo and Dan; customers by index; chats by index among those the actor may see (or all
//! chats), modulo their number, 250 and above meaning an unknown chat id.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::Mutex;

use chatio::model::{
    Access, Button, Domain, Location, LocationAccess, PropertyConfig, PropertyFilter,
    PropertyFilters, PropertyType, RichElement, RichMessage,
};
use chatio::model::{Grant, PERMISSION_TABLE};
use chatio::query::{
    AgentLogin, ChatFilters, ChatSummary, ChatThreads, ChatsPagination, ChatsSummary,
};
use chatio::query::{ArchiveFilters, Archives, ArchivesPagination, CustomerLogin, ThreadsSummary};
use chatio::routing::{AutomaticRouter, ManualRouter, RoutingStatus};
use chatio::testing::{Choices, Pool, alphabet};
use chatio::{
    Agent, AutoChatScopes, AutoScopeRules, Chat, ChatId, ChatThread, Customer, CustomerUpdate,
    Engine, EngineConfig, Error, ErrorKind, EventId, EventKind, File, GroupId, MulticastScopes,
    NewEvent, Output, Pagination, Permission, Postback, Properties, PropertyValue, Push,
    PushAudience, PushKind, QueuePosition, Recipients, Role, Scopes, SentEvent, StartChat, Thread,
    ThreadId, Timestamp, TransferTarget, UserId,
};
use chatio::{AgentCommand, Command, HostCommand, Response};
use common::{LicenseBuilder, uid, unknown_chat, unknown_event, unknown_thread};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};

/// Cases when `CHATIO_PROPTEST_CASES` is not set.
const DEFAULT_CASES: u32 = 100;

/// Operations per case.
const MIN_OPS: usize = 100;
const MAX_OPS: usize = 140;

/// The host clock's start (2023-11-14T22:13:20Z).
const T0: i64 = 1_700_000_000;

/// Agents: id, name, group. Cleo's id is longer than the 22 bytes `UserId` keeps inline, so
/// both forms of id are in play.
const AGENTS: [(&str, &str, u32); 4] = [
    ("anna@example.com", "Anna", 1),
    ("ben@example.com", "Ben", 1),
    ("cleo.from.the.night-shift@example.com", "Cleo", 2),
    ("dan@example.com", "Dan", 3),
];

const CUSTOMERS: usize = 4;

/// Groups named in scopes: 1 to 3 have agents, 4 has none.
const GROUPS: u32 = 4;

/// Properties in the model (`registry`), the last one never configured.
const PROPS: usize = 11;

// ----- scenarios -----

/// A property value, resolved against the property's type and domain.
#[derive(Clone, Copy, Debug)]
enum ValSpec {
    /// A value of the right type inside the domain, picked by the number.
    Good(u8),
    WrongType,
    /// Outside the domain (a valid value for properties without one).
    OutOfDomain,
}

/// A property: the `n`-th of those the writer's role may write where it is written
/// (`Writable`, by the model; `Here` when there is none), of those configured there (`Here`),
/// or of all `PROPS` of the model, configured there or not (`Any`).
#[derive(Clone, Copy, Debug)]
enum PropPick {
    Writable(u8),
    Here(u8),
    Any(u8),
}

/// Properties to write.
type PropSpec = Vec<(PropPick, ValSpec)>;

#[derive(Clone, Copy, Debug)]
enum EvKind {
    Message,
    Annotation,
    System,
    Rich,
    Custom,
}

#[derive(Clone, Debug)]
struct EvSpec {
    kind: EvKind,
    agents_only: bool,
    props: PropSpec,
    custom_id: Option<u8>,
}

#[derive(Clone, Copy, Debug)]
enum ScopeSpec {
    Empty,
    Group(u32),
    Agent(usize),
    Both(u32, usize),
}

#[derive(Clone, Copy, Debug)]
enum Actor {
    Agent(usize),
    Customer(usize),
}

/// A chat: the `idx`-th (modulo their number) of the chats the actor may see when `visible`
/// and there are some, else of all chats; an unknown chat id when there is no chat or
/// `idx >= 250`.
#[derive(Clone, Copy, Debug)]
struct ChatPick {
    visible: bool,
    idx: u8,
}

#[derive(Clone, Copy, Debug)]
enum JoinSpec {
    Me,
    Other(usize),
    MeAnd(usize),
}

#[derive(Clone, Copy, Debug)]
enum RemoveSpec {
    /// No agent named: the requester.
    Default,
    Me,
    Other(usize),
}

#[derive(Clone, Copy, Debug)]
enum TransferSpec {
    Agent(usize),
    Group(u32),
}

#[derive(Clone, Copy, Debug)]
enum FilterSpec {
    Exists(bool),
    Values(ValSpec),
    Exclude(ValSpec),
}

#[derive(Clone, Debug)]
enum Op {
    CustomerStartChat {
        c: usize,
        scopes: ScopeSpec,
        props: PropSpec,
        thread_props: PropSpec,
        events: Vec<EvSpec>,
    },
    AgentStartChat {
        a: usize,
        customer: Option<usize>,
        scopes: ScopeSpec,
        props: PropSpec,
        thread_props: PropSpec,
        events: Vec<EvSpec>,
    },
    SendEvent {
        who: Actor,
        chat: ChatPick,
        event: EvSpec,
    },
    SendFile {
        c: usize,
        chat: ChatPick,
    },
    UpdateChatProps {
        who: Actor,
        chat: ChatPick,
        props: PropSpec,
    },
    UpdateThreadProps {
        who: Actor,
        chat: ChatPick,
        /// 0: the last thread; 1: an unknown thread id; else an index.
        thread: u8,
        props: PropSpec,
    },
    UpdateScopes {
        who: Actor,
        chat: ChatPick,
        add: ScopeSpec,
        remove: ScopeSpec,
    },
    Join {
        a: usize,
        chat: ChatPick,
        whom: JoinSpec,
    },
    Remove {
        a: usize,
        chat: ChatPick,
        whom: RemoveSpec,
        customer: bool,
    },
    Close {
        who: Actor,
        chat: ChatPick,
    },
    Typing {
        who: Actor,
        chat: ChatPick,
        agents_only: bool,
        typing: bool,
    },
    SneakPeek {
        c: usize,
        chat: ChatPick,
    },
    Postback {
        who: Actor,
        chat: ChatPick,
        event: u8,
        /// 0, 1: buttons of the rich messages; 2: no such postback.
        postback: u8,
        toggled: bool,
    },
    Multicast {
        a: usize,
        all: bool,
        agents: u8,
        groups: u8,
        customers: u8,
    },
    Transfer {
        a: usize,
        chat: ChatPick,
        to: TransferSpec,
    },
    UpdateAgent {
        a: usize,
        target: Option<usize>,
        accepting: Option<bool>,
    },
    Ban {
        a: usize,
        c: usize,
        days: u32,
    },
    LastSeen {
        who: Actor,
        chat: ChatPick,
    },
    UpdateCustomer {
        c: usize,
        n: u8,
    },
    AddAutoScopes {
        a: usize,
        scopes: ScopeSpec,
        prop: PropPick,
        filter: FilterSpec,
    },
    RemoveAutoScopes {
        a: usize,
        idx: u8,
    },
    GetAutoScopes {
        a: usize,
    },
    GetChatThreads {
        who: Actor,
        chat: ChatPick,
        /// 0: every thread; 1: the last; 2: an unknown id; 3: none; else an index.
        threads: u8,
    },
    GetThreadsSummary {
        who: Actor,
        chat: ChatPick,
        offset: Option<u32>,
        limit: Option<u32>,
    },
    GetChatsSummary {
        c: usize,
        offset: Option<u32>,
        limit: Option<u32>,
    },
    Login {
        who: Actor,
    },
    Filtered {
        a: usize,
        include_active: Option<bool>,
        include_inactive: Option<bool>,
        /// The page size asked for; every page is fetched.
        limit: Option<u32>,
        filters: Vec<(PropPick, FilterSpec)>,
    },
    Archives {
        a: usize,
        filters: Vec<(PropPick, FilterSpec)>,
        /// Agents to filter by, one bit per agent (none when 0).
        agents: u8,
        /// A `team_ids` filter, which the engine always refuses.
        teams: bool,
        page: Option<u32>,
        limit: Option<u32>,
    },
    QueuePosition {
        c: usize,
        chat: ChatPick,
    },
    Presence {
        a: usize,
        online: bool,
    },
    Wait {
        secs: i64,
    },
}

/// How many names `Op::name` gives.
const OP_NAMES: usize = 35;

impl Op {
    fn name(&self) -> &'static str {
        match self {
            Op::CustomerStartChat { .. } => "customer start_chat",
            Op::AgentStartChat { .. } => "agent start_chat",
            Op::SendEvent {
                who: Actor::Agent(_),
                ..
            } => "agent send_event",
            Op::SendEvent { .. } => "customer send_event",
            Op::SendFile { .. } => "send_file",
            Op::UpdateChatProps {
                who: Actor::Agent(_),
                ..
            } => "agent update_chat_properties",
            Op::UpdateChatProps { .. } => "customer update_chat_properties",
            Op::UpdateThreadProps {
                who: Actor::Agent(_),
                ..
            } => "agent update_chat_thread_properties",
            Op::UpdateThreadProps { .. } => "customer update_chat_thread_properties",
            Op::UpdateScopes { .. } => "update_chat_scopes",
            Op::Join { .. } => "join_chat",
            Op::Remove { .. } => "remove_from_chat",
            Op::Close { .. } => "close_thread",
            Op::Typing { .. } => "send_typing_indicator",
            Op::SneakPeek { .. } => "send_sneak_peek",
            Op::Postback { .. } => "send_rich_message_postback",
            Op::Multicast { .. } => "multicast",
            Op::Transfer { .. } => "transfer_chat",
            Op::UpdateAgent { .. } => "update_agent",
            Op::Ban { .. } => "ban_customer",
            Op::LastSeen { .. } => "update_last_seen_timestamp",
            Op::UpdateCustomer { .. } => "update_customer",
            Op::AddAutoScopes { .. } => "add_auto_chat_scopes",
            Op::RemoveAutoScopes { .. } => "remove_auto_chat_scopes",
            Op::GetAutoScopes { .. } => "get_auto_chat_scopes_config",
            Op::GetChatThreads { .. } => "get_chat_threads",
            Op::GetThreadsSummary { .. } => "get_chat_threads_summary",
            Op::GetChatsSummary { .. } => "get_chats_summary",
            Op::Login {
                who: Actor::Agent(_),
            } => "agent login",
            Op::Login { .. } => "customer login",
            Op::Filtered { .. } => "get_filtered_chats",
            Op::Archives { .. } => "get_archives",
            Op::QueuePosition { .. } => "get_queue_position",
            Op::Presence { .. } => "host set_agent_presence",
            Op::Wait { .. } => "host wait",
        }
    }
}

#[derive(Clone, Debug)]
struct Step {
    /// Always `true` when generated. A case never has fewer than `MIN_OPS` steps, so shrinking
    /// cannot remove steps; it turns them off instead (one shrink of this flag, which comes
    /// first), and an off step does nothing, not even move the clock.
    on: bool,
    /// Seconds the host clock moves before the step.
    dt: i64,
    op: Op,
}

#[derive(Clone)]
struct Scenario {
    seed: u64,
    /// Per agent: 0 normal, 1 administrator, 2 owner.
    levels: [u8; 4],
    /// 0: no router; 1: automatic; 2: manual.
    router: u8,
    chat_agents_only: bool,
    /// 0: one chat per customer; 1: three; 2: unlimited.
    max_chats: u8,
    /// `multi.flag` access codes (0 none, 1 read, 2 write-only, 3 read-write): chat agent,
    /// chat customer, thread agent, thread customer, event agent, event customer.
    multi: [u8; 6],
    /// `multi.level` locations (bit 0 chat, 1 thread, 2 event; never 0) and access codes.
    level_locs: u8,
    level: [u8; 6],
    steps: Vec<Step>,
}

/// Shows only the steps that are on, by index, so that a shrunk failure reads short.
impl Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let steps: Vec<(usize, &Step)> = self
            .steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.on)
            .collect();
        f.debug_struct("Scenario")
            .field("seed", &self.seed)
            .field("levels", &self.levels)
            .field("router", &self.router)
            .field("chat_agents_only", &self.chat_agents_only)
            .field("max_chats", &self.max_chats)
            .field("multi", &self.multi)
            .field("level_locs", &self.level_locs)
            .field("level", &self.level)
            .field("off", &(self.steps.len() - steps.len()))
            .field("steps", &steps)
            .finish()
    }
}

fn val_spec() -> impl Strategy<Value = ValSpec> {
    prop_oneof![
        8 => any::<u8>().prop_map(ValSpec::Good),
        1 => Just(ValSpec::WrongType),
        1 => Just(ValSpec::OutOfDomain),
    ]
}

fn prop_pick() -> impl Strategy<Value = PropPick> {
    prop_oneof![
        4 => any::<u8>().prop_map(PropPick::Writable),
        3 => any::<u8>().prop_map(PropPick::Here),
        1 => (0..PROPS as u8).prop_map(PropPick::Any),
    ]
}

fn prop_spec() -> impl Strategy<Value = PropSpec> {
    let item = || (prop_pick(), val_spec());
    prop_oneof![
        3 => Just(Vec::new()),
        6 => vec(item(), 1..=1),
        2 => vec(item(), 2..=3),
    ]
}

/// Properties for `start_chat`, which writes three sets at once: mostly none.
fn start_props() -> impl Strategy<Value = PropSpec> {
    let item = || (prop_pick(), val_spec());
    prop_oneof![
        6 => Just(Vec::new()),
        3 => vec(item(), 1..=1),
        1 => vec(item(), 2..=3),
    ]
}

fn ev_spec() -> impl Strategy<Value = EvSpec> {
    let kind = prop_oneof![
        5 => Just(EvKind::Message),
        1 => Just(EvKind::Annotation),
        1 => Just(EvKind::System),
        3 => Just(EvKind::Rich),
        1 => Just(EvKind::Custom),
    ];
    (
        kind,
        prop::bool::weighted(0.2),
        prop_spec(),
        prop::option::weighted(0.2, 0..3u8),
    )
        .prop_map(|(kind, agents_only, props, custom_id)| EvSpec {
            kind,
            agents_only,
            props,
            custom_id,
        })
}

fn scope_spec() -> impl Strategy<Value = ScopeSpec> {
    prop_oneof![
        3 => Just(ScopeSpec::Empty),
        3 => (1..=GROUPS).prop_map(ScopeSpec::Group),
        2 => (0..4usize).prop_map(ScopeSpec::Agent),
        1 => (1..=GROUPS, 0..4usize).prop_map(|(g, a)| ScopeSpec::Both(g, a)),
    ]
}

fn actor() -> impl Strategy<Value = Actor> {
    prop_oneof![
        3 => (0..4usize).prop_map(Actor::Agent),
        2 => (0..CUSTOMERS).prop_map(Actor::Customer),
    ]
}

fn chat_pick() -> impl Strategy<Value = ChatPick> {
    (prop::bool::weighted(0.8), any::<u8>()).prop_map(|(visible, idx)| ChatPick { visible, idx })
}

fn filter_spec() -> impl Strategy<Value = FilterSpec> {
    prop_oneof![
        any::<bool>().prop_map(FilterSpec::Exists),
        val_spec().prop_map(FilterSpec::Values),
        val_spec().prop_map(FilterSpec::Exclude),
    ]
}

fn page() -> impl Strategy<Value = (Option<u32>, Option<u32>)> {
    (
        prop_oneof![4 => Just(None), 1 => Just(Some(1)), 1 => Just(Some(101))],
        prop_oneof![
            4 => Just(None),
            1 => Just(Some(0)),
            2 => Just(Some(1)),
            1 => Just(Some(25)),
            1 => Just(Some(101)),
        ],
    )
}

/// `get_archives` pagination: pages count from 1 and hold 1 to 100 threads. Small limits and a
/// second page make paging matter with the few archives a case has; the rest are refused or
/// far past the end.
fn archives_page() -> impl Strategy<Value = (Option<u32>, Option<u32>)> {
    (
        prop_oneof![
            4 => Just(None),
            1 => Just(Some(0)),
            2 => Just(Some(1)),
            2 => Just(Some(2)),
            1 => Just(Some(u32::MAX)),
        ],
        prop_oneof![
            3 => Just(None),
            1 => Just(Some(0)),
            2 => Just(Some(1)),
            1 => Just(Some(2)),
            1 => Just(Some(100)),
            1 => Just(Some(101)),
        ],
    )
}

fn op() -> impl Strategy<Value = Op> {
    let agent = || 0..4usize;
    let customer = || 0..CUSTOMERS;
    let events = || vec(ev_spec(), 0..=2);
    prop_oneof![
        10 => (customer(), scope_spec(), start_props(), start_props(), events()).prop_map(
            |(c, scopes, props, thread_props, events)| Op::CustomerStartChat {
                c,
                scopes,
                props,
                thread_props,
                events,
            }
        ),
        3 => (
            agent(),
            prop::option::of(customer()),
            scope_spec(),
            start_props(),
            start_props(),
            events(),
        )
            .prop_map(|(a, customer, scopes, props, thread_props, events)| {
                Op::AgentStartChat {
                    a,
                    customer,
                    scopes,
                    props,
                    thread_props,
                    events,
                }
            }),
        14 => (actor(), chat_pick(), ev_spec())
            .prop_map(|(who, chat, event)| Op::SendEvent { who, chat, event }),
        1 => (customer(), chat_pick()).prop_map(|(c, chat)| Op::SendFile { c, chat }),
        6 => (actor(), chat_pick(), prop_spec())
            .prop_map(|(who, chat, props)| Op::UpdateChatProps { who, chat, props }),
        5 => (actor(), chat_pick(), 0..6u8, prop_spec()).prop_map(|(who, chat, thread, props)| {
            Op::UpdateThreadProps {
                who,
                chat,
                thread,
                props,
            }
        }),
        4 => (actor(), chat_pick(), scope_spec(), scope_spec()).prop_map(
            |(who, chat, add, remove)| Op::UpdateScopes {
                who,
                chat,
                add,
                remove,
            }
        ),
        4 => (
            agent(),
            chat_pick(),
            prop_oneof![
                3 => Just(JoinSpec::Me),
                2 => agent().prop_map(JoinSpec::Other),
                1 => agent().prop_map(JoinSpec::MeAnd),
            ],
        )
            .prop_map(|(a, chat, whom)| Op::Join { a, chat, whom }),
        3 => (
            agent(),
            chat_pick(),
            prop_oneof![
                Just(RemoveSpec::Default),
                Just(RemoveSpec::Me),
                agent().prop_map(RemoveSpec::Other),
            ],
            prop::bool::weighted(0.1),
        )
            .prop_map(|(a, chat, whom, customer)| Op::Remove {
                a,
                chat,
                whom,
                customer,
            }),
        3 => (actor(), chat_pick()).prop_map(|(who, chat)| Op::Close { who, chat }),
        3 => (actor(), chat_pick(), any::<bool>(), any::<bool>()).prop_map(
            |(who, chat, agents_only, typing)| Op::Typing {
                who,
                chat,
                agents_only,
                typing,
            }
        ),
        2 => (customer(), chat_pick()).prop_map(|(c, chat)| Op::SneakPeek { c, chat }),
        5 => (actor(), chat_pick(), any::<u8>(), 0..3u8, any::<bool>()).prop_map(
            |(who, chat, event, postback, toggled)| Op::Postback {
                who,
                chat,
                event,
                postback,
                toggled,
            }
        ),
        2 => (agent(), prop::bool::weighted(0.3), 0..16u8, 0..16u8, 0..16u8).prop_map(
            |(a, all, agents, groups, customers)| Op::Multicast {
                a,
                all,
                agents,
                groups,
                customers,
            }
        ),
        2 => (
            agent(),
            chat_pick(),
            prop_oneof![
                agent().prop_map(TransferSpec::Agent),
                (1..=GROUPS).prop_map(TransferSpec::Group),
            ],
        )
            .prop_map(|(a, chat, to)| Op::Transfer { a, chat, to }),
        2 => (
            agent(),
            prop::option::of(agent()),
            prop::option::of(any::<bool>()),
        )
            .prop_map(|(a, target, accepting)| Op::UpdateAgent {
                a,
                target,
                accepting,
            }),
        1 => (agent(), customer(), 0..3u32).prop_map(|(a, c, days)| Op::Ban { a, c, days }),
        2 => (actor(), chat_pick()).prop_map(|(who, chat)| Op::LastSeen { who, chat }),
        1 => (customer(), any::<u8>()).prop_map(|(c, n)| Op::UpdateCustomer { c, n }),
        1 => (agent(), scope_spec(), prop_pick(), filter_spec()).prop_map(
            |(a, scopes, prop, filter)| Op::AddAutoScopes {
                a,
                scopes,
                prop,
                filter,
            }
        ),
        1 => (agent(), any::<u8>()).prop_map(|(a, idx)| Op::RemoveAutoScopes { a, idx }),
        1 => agent().prop_map(|a| Op::GetAutoScopes { a }),
        4 => (actor(), chat_pick(), 0..6u8)
            .prop_map(|(who, chat, threads)| Op::GetChatThreads { who, chat, threads }),
        2 => (actor(), chat_pick(), page()).prop_map(|(who, chat, (offset, limit))| {
            Op::GetThreadsSummary {
                who,
                chat,
                offset,
                limit,
            }
        }),
        2 => (customer(), page())
            .prop_map(|(c, (offset, limit))| Op::GetChatsSummary { c, offset, limit }),
        2 => actor().prop_map(|who| Op::Login { who }),
        3 => (
            agent(),
            prop::option::of(any::<bool>()),
            prop::option::of(prop::bool::weighted(0.7)),
            prop::option::of(1..=4u32),
            vec((prop_pick(), filter_spec()), 0..=2),
        )
            .prop_map(
                |(a, include_active, include_inactive, limit, filters)| Op::Filtered {
                    a,
                    include_active,
                    include_inactive,
                    limit,
                    filters,
                }
            ),
        2 => (
            agent(),
            vec((prop_pick(), filter_spec()), 0..=2),
            prop_oneof![3 => Just(0u8), 1 => 1..16u8],
            prop::bool::weighted(0.05),
            archives_page(),
        )
            .prop_map(|(a, filters, agents, teams, (page, limit))| Op::Archives {
                a,
                filters,
                agents,
                teams,
                page,
                limit,
            }),
        1 => (customer(), chat_pick()).prop_map(|(c, chat)| Op::QueuePosition { c, chat }),
        3 => (agent(), prop::bool::weighted(0.7))
            .prop_map(|(a, online)| Op::Presence { a, online }),
        1 => prop_oneof![Just(600i64), Just(3_600), Just(90_000)]
            .prop_map(|secs| Op::Wait { secs }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    (
        prop::bool::weighted(1.0),
        prop_oneof![3 => 0..5i64, 6 => 5..90i64, 1 => 90..400i64],
        op(),
    )
        .prop_map(|(on, dt, op)| Step { on, dt, op })
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        any::<u64>(),
        [0..3u8, 0..3u8, 0..3u8, 0..3u8],
        0..3u8,
        prop::bool::weighted(0.25),
        0..3u8,
        [0..4u8, 0..4u8, 0..4u8, 0..4u8, 0..4u8, 0..4u8],
        1..8u8,
        [0..4u8, 0..4u8, 0..4u8, 0..4u8, 0..4u8, 0..4u8],
        vec(step(), MIN_OPS..=MAX_OPS),
    )
        .prop_map(
            |(
                seed,
                levels,
                router,
                chat_agents_only,
                max_chats,
                multi,
                level_locs,
                level,
                steps,
            )| {
                Scenario {
                    seed,
                    levels,
                    router,
                    chat_agents_only,
                    max_chats,
                    multi,
                    level_locs,
                    level,
                    steps,
                }
            },
        )
}

// ----- the property model: who may read and write what, where -----

#[derive(Clone, Debug)]
struct PropModel {
    namespace: &'static str,
    name: &'static str,
    ty: PropertyType,
    domain: Option<Domain>,
    /// Where it lives and with which access; empty for the property never configured.
    at: BTreeMap<Location, LocationAccess>,
}

fn access(code: u8) -> Access {
    Access {
        read: code & 1 != 0,
        write: code & 2 != 0,
    }
}

fn la(agent: u8, customer: u8) -> LocationAccess {
    LocationAccess {
        agent: access(agent),
        customer: access(customer),
    }
}

fn of_role(a: &LocationAccess, role: Role) -> Access {
    match role {
        Role::Agent => a.agent,
        Role::Customer => a.customer,
    }
}

/// The property registry of a scenario (see the module docs). Access codes: 0 none, 1 read,
/// 2 write-only, 3 read-write; agent first, then customer.
fn registry(s: &Scenario) -> Vec<PropModel> {
    use Location::{Chat as C, Event as E, Thread as T};
    let p = |namespace, name, ty, domain, at: Vec<(Location, LocationAccess)>| PropModel {
        namespace,
        name,
        ty,
        domain,
        at: at.into_iter().collect(),
    };
    let strings = |vs: &[&str]| {
        Some(Domain::Values(
            vs.iter()
                .map(|v| PropertyValue::String((*v).to_string()))
                .collect(),
        ))
    };
    let level_at = [C, T, E]
        .into_iter()
        .enumerate()
        .filter(|(i, _)| s.level_locs & (1 << i) != 0)
        .map(|(i, loc)| (loc, la(s.level[2 * i], s.level[2 * i + 1])))
        .collect();
    let multi = &s.multi;
    vec![
        p(
            "crm",
            "note",
            PropertyType::String,
            None,
            vec![(C, la(3, 0))],
        ),
        p(
            "survey",
            "rating",
            PropertyType::Int,
            Some(Domain::Range { min: 1, max: 5 }),
            vec![(C, la(1, 3))],
        ),
        p(
            "meta",
            "tier",
            PropertyType::String,
            strings(&["gold", "silver"]),
            vec![(C, la(1, 1))],
        ),
        p(
            "survey",
            "comment",
            PropertyType::TokenizedString,
            None,
            vec![(C, la(1, 2))],
        ),
        p(
            "thread",
            "topic",
            PropertyType::String,
            None,
            vec![(T, la(3, 1))],
        ),
        p(
            "thread",
            "secret",
            PropertyType::Bool,
            None,
            vec![(T, la(3, 0))],
        ),
        p(
            "event",
            "internal",
            PropertyType::Bool,
            None,
            vec![(E, la(3, 0))],
        ),
        p(
            "event",
            "tag",
            PropertyType::String,
            strings(&["bug", "sale", "other"]),
            vec![(E, la(3, 3))],
        ),
        p(
            "multi",
            "flag",
            PropertyType::Bool,
            None,
            vec![
                (C, la(multi[0], multi[1])),
                (T, la(multi[2], multi[3])),
                (E, la(multi[4], multi[5])),
            ],
        ),
        p(
            "multi",
            "level",
            PropertyType::Int,
            Some(Domain::Range { min: 0, max: 10 }),
            level_at,
        ),
        p("ghost", "prop", PropertyType::Int, None, Vec::new()),
    ]
}

impl PropModel {
    fn value(&self, v: ValSpec) -> PropertyValue {
        match (self.ty, v) {
            (PropertyType::Int, ValSpec::WrongType) => PropertyValue::String("x".into()),
            (PropertyType::Bool, ValSpec::WrongType) => PropertyValue::Int(1),
            (_, ValSpec::WrongType) => PropertyValue::Bool(true),
            (PropertyType::Int, ValSpec::Good(k)) => match self.domain {
                Some(Domain::Range { min, max }) => {
                    PropertyValue::Int(min + i32::from(k) % (max - min + 1))
                }
                _ => PropertyValue::Int(i32::from(k)),
            },
            (PropertyType::Int, ValSpec::OutOfDomain) => match self.domain {
                Some(Domain::Range { max, .. }) => PropertyValue::Int(max + 1),
                _ => PropertyValue::Int(-7),
            },
            (PropertyType::Bool, ValSpec::Good(k)) => PropertyValue::Bool(k % 2 == 0),
            (PropertyType::Bool, ValSpec::OutOfDomain) => PropertyValue::Bool(false),
            (_, ValSpec::Good(k)) => match &self.domain {
                Some(Domain::Values(values)) => values
                    .iter()
                    .nth(usize::from(k) % values.len())
                    .cloned()
                    .expect("a value"),
                _ => PropertyValue::String(format!("s{}", k % 4)),
            },
            (_, ValSpec::OutOfDomain) => PropertyValue::String("bronze".into()),
        }
    }

    fn accepts(&self, v: &PropertyValue) -> bool {
        let typed = matches!(
            (self.ty, v),
            (PropertyType::Int, PropertyValue::Int(_))
                | (PropertyType::Bool, PropertyValue::Bool(_))
                | (
                    PropertyType::String | PropertyType::TokenizedString,
                    PropertyValue::String(_)
                )
        );
        let in_domain = match (&self.domain, v) {
            (None, _) => true,
            (Some(Domain::Values(values)), v) => values.contains(v),
            (Some(Domain::Range { min, max }), PropertyValue::Int(i)) => min <= i && i <= max,
            (Some(Domain::Range { .. }), _) => false,
        };
        typed && in_domain
    }

    fn config(&self) -> Option<PropertyConfig> {
        if self.at.is_empty() {
            return None;
        }
        let mut config = PropertyConfig::new(self.namespace, self.name, self.ty);
        for (loc, access) in &self.at {
            config = config.at(*loc, *access);
        }
        if let Some(domain) = &self.domain {
            config = config.with_domain(domain.clone());
        }
        Some(config)
    }
}

// ----- the world -----

struct World {
    engine: Engine,
    agents: Vec<UserId>,
    levels: Vec<Permission>,
    customers: Vec<UserId>,
    props: Vec<PropModel>,
    clock: Timestamp,
    /// Auto chat scopes ids the engine handed out.
    auto_ids: Vec<String>,
}

impl World {
    fn new(s: &Scenario) -> Self {
        let mut config =
            EngineConfig::with_seed(s.seed).max_chats_per_customer(match s.max_chats {
                0 => Some(1),
                1 => Some(3),
                _ => None,
            });
        if s.chat_agents_only {
            config = config.push_audience(PushAudience::ChatAgentsOnly);
        }
        // Half the cases list at most three chats at login, so that its bound is met.
        if s.seed % 2 == 1 {
            let mut limits = chatio::Limits::default();
            limits.login_chats = 3;
            config = config.limits(limits);
        }
        let mut license = match s.router {
            1 => LicenseBuilder::new(config).router(AutomaticRouter::default()),
            2 => LicenseBuilder::new(config).router(ManualRouter),
            _ => LicenseBuilder::new(config),
        };
        let props = registry(s);
        for config in props.iter().filter_map(|p| p.config()) {
            license = license.property(config);
        }
        let levels: Vec<Permission> = s
            .levels
            .iter()
            .map(|l| match l {
                0 => Permission::Normal,
                1 => Permission::Administrator,
                _ => Permission::Owner,
            })
            .collect();
        let mut agents = Vec::new();
        for ((id, name, group), level) in AGENTS.iter().zip(&levels) {
            let id = uid(id);
            license = license.agent(
                Agent::new(id.clone(), *name)
                    .with_groups([GroupId(*group)])
                    .with_permission(*level)
                    .with_max_chats(2),
            );
            agents.push(id);
        }
        let customers: Vec<UserId> = (0..CUSTOMERS)
            .map(|i| uid(&format!("customer-{i}")))
            .collect();
        for c in &customers {
            license = license.customer(Customer::new(c.clone()));
        }
        let engine = license.build();
        Self {
            engine,
            agents,
            levels,
            customers,
            props,
            clock: Timestamp::from_unix_seconds(T0),
            auto_ids: Vec::new(),
        }
    }

    fn agent_index(&self, id: &UserId) -> Option<usize> {
        self.agents.iter().position(|a| a == id)
    }

    fn is_customer(&self, id: &UserId) -> bool {
        self.customers.contains(id)
    }

    fn who(&self, actor: Actor) -> (UserId, Role) {
        match actor {
            Actor::Agent(a) => (self.agents[a].clone(), Role::Agent),
            Actor::Customer(c) => (self.customers[c].clone(), Role::Customer),
        }
    }

    fn banned(&self, c: usize) -> bool {
        self.engine
            .customer(&self.customers[c])
            .expect("a customer")
            .is_banned(self.clock.max(self.engine.now()))
    }

    fn banned_actor(&self, actor: Actor) -> bool {
        matches!(actor, Actor::Customer(c) if self.banned(c))
    }

    fn prop(&self, namespace: &str, name: &str) -> Option<&PropModel> {
        self.props
            .iter()
            .find(|p| p.namespace == namespace && p.name == name && !p.at.is_empty())
    }

    fn readable(&self, namespace: &str, name: &str, loc: Location, role: Role) -> bool {
        self.prop(namespace, name)
            .and_then(|p| p.at.get(&loc))
            .is_some_and(|a| of_role(a, role).read)
    }

    /// Whether `role` may write all of `props` at `loc`: configured there, well typed, in the
    /// domain, and writable by the role.
    fn write_ok(&self, props: &Properties, loc: Location, role: Role) -> bool {
        props.iter().all(|(namespace, values)| {
            values.iter().all(|(name, value)| {
                self.prop(namespace, name).is_some_and(|p| {
                    p.accepts(value) && p.at.get(&loc).is_some_and(|a| of_role(a, role).write)
                })
            })
        })
    }

    /// Whether every property of `props` would be writable by the role if it were valid: the
    /// refusals that are about access rather than validation.
    fn no_access(&self, props: &Properties, loc: Location, role: Role) -> bool {
        props.iter().any(|(namespace, values)| {
            values.keys().any(|name| {
                self.prop(namespace, name)
                    .and_then(|p| p.at.get(&loc))
                    .is_some_and(|a| !of_role(a, role).write)
            })
        })
    }

    /// The part of `props` that `role` may read at `loc`.
    fn filter(&self, props: &Properties, loc: Location, role: Role) -> Properties {
        let mut out = Properties::new();
        for (namespace, values) in props {
            for (name, value) in values {
                if self.readable(namespace, name, loc, role) {
                    out.entry(namespace.clone())
                        .or_default()
                        .insert(name.clone(), value.clone());
                }
            }
        }
        out
    }

    fn pick_prop(&self, pick: PropPick, loc: Location, role: Role) -> &PropModel {
        let nth = |i: u8, f: &dyn Fn(&PropModel) -> bool| {
            let found: Vec<&PropModel> = self.props.iter().filter(|p| f(p)).collect();
            (!found.is_empty()).then(|| found[usize::from(i) % found.len()])
        };
        let here = |p: &PropModel| p.at.contains_key(&loc);
        let writable = |p: &PropModel| p.at.get(&loc).is_some_and(|a| of_role(a, role).write);
        match pick {
            PropPick::Any(i) => &self.props[usize::from(i) % self.props.len()],
            PropPick::Here(i) => nth(i, &here).expect("a property at every location"),
            PropPick::Writable(i) => nth(i, &writable)
                .or_else(|| nth(i, &here))
                .expect("a property at every location"),
        }
    }

    fn build_props(&self, spec: &PropSpec, loc: Location, role: Role) -> Properties {
        let mut out = Properties::new();
        for &(pick, v) in spec {
            let p = self.pick_prop(pick, loc, role);
            out.entry(p.namespace.to_string())
                .or_default()
                .insert(p.name.to_string(), p.value(v));
        }
        out
    }

    fn new_event(&self, spec: &EvSpec, role: Role) -> NewEvent {
        let mut event = match spec.kind {
            EvKind::Message => NewEvent::message("hello"),
            EvKind::Annotation => NewEvent::annotation("note", "rating"),
            EvKind::System => NewEvent::system_message("system says", "custom"),
            EvKind::Rich => NewEvent::new(EventKind::RichMessage(RichMessage {
                template_id: "cards".into(),
                elements: vec![RichElement {
                    title: Some("Pick one".into()),
                    buttons: vec![button("p0"), button("p1")],
                    ..RichElement::default()
                }],
            })),
            EvKind::Custom => {
                let mut content = serde_json::Map::new();
                content.insert("k".into(), serde_json::Value::from(1));
                NewEvent::custom(content)
            }
        };
        if spec.agents_only {
            event = event.to(Recipients::Agents);
        }
        if let Some(k) = spec.custom_id {
            event = event.with_custom_id(format!("cid-{k}"));
        }
        event.with_properties(self.build_props(&spec.props, Location::Event, role))
    }

    fn scopes(&self, s: ScopeSpec) -> Scopes {
        let mut scopes = Scopes::default();
        match s {
            ScopeSpec::Empty => {}
            ScopeSpec::Group(g) => {
                scopes.groups.insert(GroupId(g));
            }
            ScopeSpec::Agent(a) => {
                scopes.agents.insert(self.agents[a].clone());
            }
            ScopeSpec::Both(g, a) => {
                scopes.groups.insert(GroupId(g));
                scopes.agents.insert(self.agents[a].clone());
            }
        }
        scopes
    }

    /// Whether agent `a` may see `chat` through its scopes alone.
    fn scope_sees(&self, a: usize, chat: &Chat) -> bool {
        let s = &chat.scopes;
        s.is_empty()
            || s.agents.contains(&self.agents[a])
            || s.groups.contains(&GroupId(AGENTS[a].2))
    }

    /// Whether agent `a` may see `chat`: through its scopes, or by being in it.
    fn agent_sees(&self, a: usize, chat: &Chat) -> bool {
        self.scope_sees(a, chat) || chat.agent_ids.contains(&self.agents[a])
    }

    fn sees(&self, id: &UserId, role: Role, chat: &Chat) -> bool {
        match role {
            Role::Customer => chat.customer_id.as_ref() == Some(id),
            Role::Agent => self
                .agent_index(id)
                .is_some_and(|a| self.agent_sees(a, chat)),
        }
    }

    fn pick_chat(&self, who: Actor, pick: ChatPick) -> ChatId {
        let (me, role) = self.who(who);
        let all = self.engine.chats();
        let mut chats: Vec<ChatId> = all
            .iter()
            .filter(|c| !pick.visible || self.sees(&me, role, c))
            .map(|c| c.id)
            .collect();
        if chats.is_empty() {
            chats = all.iter().map(|c| c.id).collect();
        }
        if chats.is_empty() || pick.idx >= 250 {
            return unknown_chat();
        }
        chats[usize::from(pick.idx) % chats.len()]
    }
}

fn button(postback_id: &str) -> Button {
    Button {
        text: format!("press {postback_id}"),
        postback_id: postback_id.into(),
        user_ids: Vec::new(),
    }
}

/// A chat right: the "my chats" and "all chats" grants of `PERMISSION_TABLE`.
#[derive(Clone, Copy, Debug)]
enum Right {
    Read,
    Conversation,
    Meta,
}

impl Right {
    fn grants(self) -> (Grant, Grant) {
        match self {
            Right::Read => (Grant::ChatsMyRead, Grant::ChatsAllRead),
            Right::Conversation => (Grant::ConversationMyWrite, Grant::ConversationAllWrite),
            Right::Meta => (Grant::MetaMyWrite, Grant::MetaAllWrite),
        }
    }
}

/// Whether a level holds a grant, read straight from `PERMISSION_TABLE`.
fn table_holds(level: Permission, grant: Grant) -> bool {
    let column = match level {
        Permission::Owner => 0,
        Permission::Administrator => 1,
        Permission::Normal => 2,
    };
    PERMISSION_TABLE
        .iter()
        .find(|(g, _)| *g == grant)
        .is_some_and(|(_, levels)| levels[column])
}

// ----- one step: expectations, the call, and its results -----

/// What the model says about a call before it is made.
#[derive(Default)]
struct Expect {
    /// Reasons the call must be refused (any one is enough).
    must_fail: Vec<&'static str>,
    /// The call must succeed exactly when this is true.
    exact: Option<bool>,
}

impl Expect {
    fn fail_if(&mut self, cond: bool, why: &'static str) {
        if cond {
            self.must_fail.push(why);
        }
    }

    /// The refusals an action on a chat must meet: unknown chat, another customer's chat, a
    /// chat outside the agent's scopes, or a grant its level does not hold.
    fn chat_access(&mut self, w: &World, who: Actor, chat_id: ChatId, right: Right) {
        self.fail_if(w.banned_actor(who), "banned customer");
        let Some(chat) = w.engine.chat(&chat_id) else {
            self.must_fail.push("unknown chat");
            return;
        };
        match who {
            Actor::Customer(c) => self.fail_if(
                chat.customer_id.as_ref() != Some(&w.customers[c]),
                "a customer acting on a chat that is not theirs",
            ),
            Actor::Agent(a) => {
                if !w.agent_sees(a, chat) {
                    self.must_fail
                        .push("an agent acting on a chat outside its scopes");
                    return;
                }
                let level = w.levels[a];
                // An agent's own chats are those it is in; a chat waiting in the queue is
                // everyone's to read and pick up (conversation), not to manage (meta).
                let waiting = chat.routing.waiting_since.is_some();
                let mine = chat.agent_ids.contains(&w.agents[a])
                    || (waiting && matches!(right, Right::Read | Right::Conversation));
                let (my, all) = right.grants();
                let held = table_holds(level, all) || (mine && table_holds(level, my));
                self.fail_if(!held, "an agent action its permission level does not hold");
            }
        }
    }

    fn props(&mut self, w: &World, props: &Properties, loc: Location, role: Role) {
        if !w.write_ok(props, loc, role) {
            self.must_fail.push(if w.no_access(props, loc, role) {
                "a property write without write access"
            } else {
                "an invalid property write"
            });
        }
    }

    fn grant(&mut self, w: &World, a: usize, grant: Grant) {
        self.fail_if(
            !table_holds(w.levels[a], grant),
            "an agent action its permission level does not hold",
        );
    }

    fn customer_event(&mut self, role: Role, event: &NewEvent) {
        if role == Role::Customer {
            self.fail_if(
                event.recipients == Recipients::Agents,
                "a customer's agents-only event",
            );
            self.fail_if(
                matches!(event.kind, EventKind::SystemMessage { .. }),
                "a customer's system message",
            );
        }
    }

    fn ok(&self) -> bool {
        self.must_fail.is_empty()
    }
}

enum Resp {
    Unit,
    ChatThread(Box<ChatThread>),
    Sent(SentEvent),
    Threads(Box<ChatThreads>),
    ThreadsSummary(ThreadsSummary),
    ChatsSummary(ChatsSummary),
    AgentLogin(Box<AgentLogin>),
    CustomerLogin(Box<CustomerLogin>),
    Summaries(Vec<ChatSummary>),
    Archives(Box<Archives>),
    Queue(Option<QueuePosition>),
    AutoScopes(Vec<AutoChatScopes>),
    Customer(Box<Customer>),
    Time(Timestamp),
    Id(String),
}

type Called = (Result<Resp, Error>, Vec<Push>);

fn command<T>(r: Result<Output<T>, Error>, f: impl FnOnce(T) -> Resp) -> Called {
    match r {
        Ok(out) => (Ok(f(out.response)), out.pushes),
        Err(e) => (Err(e), Vec::new()),
    }
}

fn query<T>(r: Result<T, Error>, f: impl FnOnce(T) -> Resp) -> Called {
    (r.map(f), Vec::new())
}

fn unit(_: ()) -> Resp {
    Resp::Unit
}

/// Everything a step produced, and what the checks need to know about it.
struct Outcome {
    requester: Option<(UserId, Role)>,
    result: Result<Resp, Error>,
    pushes: Vec<Push>,
    expect: Expect,
    read_only: bool,
    /// The chat the call was about.
    chat: Option<ChatId>,
    /// For `multicast`: who may be told.
    multicast: Option<BTreeSet<UserId>>,
    /// For `ban_customer`: the customer.
    banned: Option<UserId>,
    /// For `get_filtered_chats`: the chats expected.
    filtered: Option<BTreeSet<ChatId>>,
    /// For `get_archives`: the archives expected and the page asked for.
    archives: Option<ExpectedArchives>,
}

/// Every archive (chat, thread) `get_archives` must count, newest first, and the page of them
/// it must return.
struct ExpectedArchives {
    all: Vec<(ChatId, ThreadId)>,
    agent_ids: Vec<UserId>,
    page: u32,
    limit: u32,
}

impl Outcome {
    fn host(pushes: Vec<Push>) -> Self {
        Self {
            requester: None,
            result: Ok(Resp::Unit),
            pushes,
            expect: Expect::default(),
            read_only: false,
            chat: None,
            multicast: None,
            banned: None,
            filtered: None,
            archives: None,
        }
    }
}

fn as_agent(
    w: &mut World,
    a: usize,
    f: impl FnOnce(&mut chatio::AgentApi<'_>) -> Called,
) -> Called {
    let id = w.agents[a].clone();
    match w.engine.as_agent(&id, w.clock) {
        Ok(mut api) => f(&mut api),
        Err(e) => (Err(e), Vec::new()),
    }
}

fn as_customer(
    w: &mut World,
    c: usize,
    f: impl FnOnce(&mut chatio::CustomerApi<'_>) -> Called,
) -> Called {
    let id = w.customers[c].clone();
    match w.engine.as_customer(&id, w.clock) {
        Ok(mut api) => f(&mut api),
        Err(e) => (Err(e), Vec::new()),
    }
}

/// Makes the call of `op` as its actor at the host's clock, with the model's expectations
/// worked out on the state before it.
fn run_op(w: &mut World, op: &Op) -> Outcome {
    let mut x = Expect::default();
    let mut read_only = false;
    let mut chat = None;
    let mut multicast = None;
    let mut banned = None;
    let mut filtered = None;
    let mut archives = None;
    let mut requester = None;
    let (result, pushes) = match op {
        Op::CustomerStartChat {
            c,
            scopes,
            props,
            thread_props,
            events,
        } => {
            requester = Some((w.customers[*c].clone(), Role::Customer));
            let properties = w.build_props(props, Location::Chat, Role::Customer);
            let thread_properties = w.build_props(thread_props, Location::Thread, Role::Customer);
            let events: Vec<NewEvent> = events
                .iter()
                .map(|e| w.new_event(e, Role::Customer))
                .collect();
            x.fail_if(w.banned(*c), "banned customer");
            x.props(w, &properties, Location::Chat, Role::Customer);
            x.props(w, &thread_properties, Location::Thread, Role::Customer);
            for e in &events {
                x.customer_event(Role::Customer, e);
                x.props(w, &e.properties, Location::Event, Role::Customer);
            }
            let request = StartChat {
                scopes: w.scopes(*scopes),
                properties,
                thread_properties,
                events,
            };
            as_customer(w, *c, |api| {
                command(api.start_chat(request), |r| Resp::ChatThread(Box::new(r)))
            })
        }
        Op::AgentStartChat {
            a,
            customer,
            scopes,
            props,
            thread_props,
            events,
        } => {
            requester = Some((w.agents[*a].clone(), Role::Agent));
            let properties = w.build_props(props, Location::Chat, Role::Agent);
            let thread_properties = w.build_props(thread_props, Location::Thread, Role::Agent);
            let events: Vec<NewEvent> =
                events.iter().map(|e| w.new_event(e, Role::Agent)).collect();
            x.props(w, &properties, Location::Chat, Role::Agent);
            x.props(w, &thread_properties, Location::Thread, Role::Agent);
            for e in &events {
                x.props(w, &e.properties, Location::Event, Role::Agent);
            }
            let request = StartChat {
                scopes: w.scopes(*scopes),
                properties,
                thread_properties,
                events,
            };
            let customer = customer.map(|c| w.customers[c].clone());
            as_agent(w, *a, |api| {
                command(api.start_chat(customer, request), |r| {
                    Resp::ChatThread(Box::new(r))
                })
            })
        }
        Op::SendEvent {
            who,
            chat: pick,
            event,
        } => {
            let (me, role) = w.who(*who);
            requester = Some((me, role));
            let chat_id = w.pick_chat(*who, *pick);
            chat = Some(chat_id);
            let event = w.new_event(event, role);
            x.chat_access(w, *who, chat_id, Right::Conversation);
            x.customer_event(role, &event);
            x.props(w, &event.properties, Location::Event, role);
            let sent = |r: SentEvent| Resp::Sent(r);
            match *who {
                Actor::Agent(a) => {
                    as_agent(w, a, |api| command(api.send_event(chat_id, event), sent))
                }
                Actor::Customer(c) => {
                    as_customer(w, c, |api| command(api.send_event(chat_id, event), sent))
                }
            }
        }
        Op::SendFile { c, chat: pick } => {
            let who = Actor::Customer(*c);
            requester = Some(w.who(who));
            let chat_id = w.pick_chat(who, *pick);
            chat = Some(chat_id);
            x.chat_access(w, who, chat_id, Right::Conversation);
            let file = File {
                name: "photo.png".into(),
                url: "https://files.example.com/photo.png".into(),
                content_type: "image/png".into(),
                size: 2048,
                width: Some(640),
                height: Some(480),
            };
            as_customer(w, *c, |api| {
                command(api.send_file(chat_id, None, file), Resp::Sent)
            })
        }
        Op::UpdateChatProps {
            who,
            chat: pick,
            props,
        } => {
            let (me, role) = w.who(*who);
            requester = Some((me, role));
            let chat_id = w.pick_chat(*who, *pick);
            chat = Some(chat_id);
            let properties = w.build_props(props, Location::Chat, role);
            x.chat_access(w, *who, chat_id, Right::Conversation);
            x.props(w, &properties, Location::Chat, role);
            x.exact = Some(x.ok());
            match *who {
                Actor::Agent(a) => as_agent(w, a, |api| {
                    command(api.update_chat_properties(chat_id, properties), unit)
                }),
                Actor::Customer(c) => as_customer(w, c, |api| {
                    command(api.update_chat_properties(chat_id, properties), unit)
                }),
            }
        }
        Op::UpdateThreadProps {
            who,
            chat: pick,
            thread,
            props,
        } => {
            let (me, role) = w.who(*who);
            requester = Some((me, role));
            let chat_id = w.pick_chat(*who, *pick);
            chat = Some(chat_id);
            let thread_id = pick_thread(w, chat_id, *thread);
            let properties = w.build_props(props, Location::Thread, role);
            x.chat_access(w, *who, chat_id, Right::Conversation);
            x.fail_if(
                w.engine
                    .chat(&chat_id)
                    .is_none_or(|c| c.thread(&thread_id).is_none()),
                "unknown thread",
            );
            x.props(w, &properties, Location::Thread, role);
            x.exact = Some(x.ok());
            match *who {
                Actor::Agent(a) => as_agent(w, a, |api| {
                    command(
                        api.update_chat_thread_properties(chat_id, thread_id, properties),
                        unit,
                    )
                }),
                Actor::Customer(c) => as_customer(w, c, |api| {
                    command(
                        api.update_chat_thread_properties(chat_id, thread_id, properties),
                        unit,
                    )
                }),
            }
        }
        Op::UpdateScopes {
            who,
            chat: pick,
            add,
            remove,
        } => {
            requester = Some(w.who(*who));
            let chat_id = w.pick_chat(*who, *pick);
            chat = Some(chat_id);
            x.chat_access(w, *who, chat_id, Right::Meta);
            let (add, remove) = (w.scopes(*add), w.scopes(*remove));
            match *who {
                Actor::Agent(a) => as_agent(w, a, |api| {
                    command(api.update_chat_scopes(chat_id, add, remove), unit)
                }),
                Actor::Customer(c) => as_customer(w, c, |api| {
                    command(api.update_chat_scopes(chat_id, add, remove), unit)
                }),
            }
        }
        Op::Join {
            a,
            chat: pick,
            whom,
        } => {
            let who = Actor::Agent(*a);
            requester = Some(w.who(who));
            let chat_id = w.pick_chat(who, *pick);
            chat = Some(chat_id);
            let list: Vec<usize> = match *whom {
                JoinSpec::Me => vec![*a],
                JoinSpec::Other(o) => vec![o],
                JoinSpec::MeAnd(o) => vec![*a, o],
            };
            let right = if list == [*a] {
                Right::Conversation
            } else {
                Right::Meta
            };
            x.chat_access(w, who, chat_id, right);
            if let Some(c) = w.engine.chat(&chat_id) {
                let outside = list.iter().any(|&o| !w.agent_sees(o, c));
                x.fail_if(outside, "joining an agent to a chat outside its scopes");
            }
            let ids: Vec<UserId> = list.iter().map(|&o| w.agents[o].clone()).collect();
            as_agent(w, *a, |api| command(api.join_chat(chat_id, &ids), unit))
        }
        Op::Remove {
            a,
            chat: pick,
            whom,
            customer,
        } => {
            let who = Actor::Agent(*a);
            requester = Some(w.who(who));
            let chat_id = w.pick_chat(who, *pick);
            chat = Some(chat_id);
            let ids: Vec<UserId> = match *whom {
                RemoveSpec::Default => Vec::new(),
                RemoveSpec::Me => vec![w.agents[*a].clone()],
                RemoveSpec::Other(o) => vec![w.agents[o].clone()],
            };
            let only_me = ids.is_empty() || ids == [w.agents[*a].clone()];
            let right = if only_me {
                Right::Conversation
            } else {
                Right::Meta
            };
            x.chat_access(w, who, chat_id, right);
            let customers: Vec<UserId> = w
                .engine
                .chat(&chat_id)
                .and_then(|c| c.customer_id.clone())
                .filter(|_| *customer)
                .into_iter()
                .collect();
            x.fail_if(!customers.is_empty(), "removing a customer");
            as_agent(w, *a, |api| {
                command(api.remove_from_chat(chat_id, &ids, &customers), unit)
            })
        }
        Op::Close { who, chat: pick } => {
            requester = Some(w.who(*who));
            let chat_id = w.pick_chat(*who, *pick);
            chat = Some(chat_id);
            x.chat_access(w, *who, chat_id, Right::Meta);
            match *who {
                Actor::Agent(a) => as_agent(w, a, |api| command(api.close_thread(chat_id), unit)),
                Actor::Customer(c) => {
                    as_customer(w, c, |api| command(api.close_thread(chat_id), unit))
                }
            }
        }
        Op::Typing {
            who,
            chat: pick,
            agents_only,
            typing,
        } => {
            requester = Some(w.who(*who));
            read_only = true;
            let chat_id = w.pick_chat(*who, *pick);
            chat = Some(chat_id);
            x.chat_access(w, *who, chat_id, Right::Conversation);
            let recipients = if *agents_only {
                Recipients::Agents
            } else {
                Recipients::All
            };
            match *who {
                Actor::Agent(a) => as_agent(w, a, |api| {
                    command(
                        api.send_typing_indicator(chat_id, recipients, *typing),
                        unit,
                    )
                }),
                Actor::Customer(c) => as_customer(w, c, |api| {
                    command(api.send_typing_indicator(chat_id, *typing), unit)
                }),
            }
        }
        Op::SneakPeek { c, chat: pick } => {
            let who = Actor::Customer(*c);
            requester = Some(w.who(who));
            read_only = true;
            let chat_id = w.pick_chat(who, *pick);
            chat = Some(chat_id);
            x.chat_access(w, who, chat_id, Right::Conversation);
            as_customer(w, *c, |api| {
                command(api.send_sneak_peek(chat_id, "I am typ"), unit)
            })
        }
        Op::Postback {
            who,
            chat: pick,
            event,
            postback,
            toggled,
        } => {
            let (me, role) = w.who(*who);
            requester = Some((me, role));
            let chat_id = w.pick_chat(*who, *pick);
            chat = Some(chat_id);
            x.chat_access(w, *who, chat_id, Right::Conversation);
            let (thread_id, event_id, visible) = pick_event(w, chat_id, *event, role);
            x.fail_if(!visible, "a postback on an event the requester may not see");
            let postback = Postback {
                id: ["p0", "p1", "nope"][usize::from(*postback) % 3].into(),
                toggled: *toggled,
            };
            match *who {
                Actor::Agent(a) => as_agent(w, a, |api| {
                    command(
                        api.send_rich_message_postback(chat_id, thread_id, event_id, postback),
                        unit,
                    )
                }),
                Actor::Customer(c) => as_customer(w, c, |api| {
                    command(
                        api.send_rich_message_postback(chat_id, thread_id, event_id, postback),
                        unit,
                    )
                }),
            }
        }
        Op::Multicast {
            a,
            all,
            agents,
            groups,
            customers,
        } => {
            requester = Some(w.who(Actor::Agent(*a)));
            read_only = true;
            x.grant(w, *a, Grant::MulticastWrite);
            let scopes = MulticastScopes {
                all_agents: *all,
                agent_ids: (0..4)
                    .filter(|i| agents & (1 << i) != 0)
                    .map(|i| w.agents[i].clone())
                    .collect(),
                groups: (0..4u32)
                    .filter(|i| groups & (1 << i) != 0)
                    .map(|i| GroupId(i + 1))
                    .collect(),
                customer_ids: (0..CUSTOMERS)
                    .filter(|i| customers & (1 << i) != 0)
                    .map(|i| w.customers[i].clone())
                    .collect(),
            };
            let mut told: BTreeSet<UserId> = scopes.customer_ids.iter().cloned().collect();
            for (i, id) in w.agents.iter().enumerate() {
                if scopes.all_agents
                    || scopes.agent_ids.contains(id)
                    || scopes.groups.contains(&GroupId(AGENTS[i].2))
                {
                    told.insert(id.clone());
                }
            }
            multicast = Some(told);
            let content = serde_json::json!({ "hello": "everyone" });
            as_agent(w, *a, |api| command(api.multicast(&scopes, content), unit))
        }
        Op::Transfer { a, chat: pick, to } => {
            let who = Actor::Agent(*a);
            requester = Some(w.who(who));
            let chat_id = w.pick_chat(who, *pick);
            chat = Some(chat_id);
            x.chat_access(w, who, chat_id, Right::Meta);
            if let Some(c) = w.engine.chat(&chat_id) {
                let nobody = match *to {
                    TransferSpec::Agent(o) => !w.agent_sees(o, c),
                    TransferSpec::Group(g) => {
                        !(0..4).any(|o| AGENTS[o].2 == g && w.agent_sees(o, c))
                    }
                };
                x.fail_if(nobody, "a transfer to agents outside the chat's scopes");
            }
            let target = match *to {
                TransferSpec::Agent(o) => TransferTarget::Agent(w.agents[o].clone()),
                TransferSpec::Group(g) => TransferTarget::Group(GroupId(g)),
            };
            as_agent(w, *a, |api| {
                command(api.transfer_chat(chat_id, &target), unit)
            })
        }
        Op::UpdateAgent {
            a,
            target,
            accepting,
        } => {
            requester = Some(w.who(Actor::Agent(*a)));
            let target = target.map(|t| w.agents[t].clone());
            let grant = if target.as_ref().is_none_or(|t| *t == w.agents[*a]) {
                Grant::AgentsMyWrite
            } else {
                Grant::AgentsAllWrite
            };
            x.grant(w, *a, grant);
            let status = accepting.map(|yes| {
                if yes {
                    RoutingStatus::AcceptingChats
                } else {
                    RoutingStatus::NotAcceptingChats
                }
            });
            as_agent(w, *a, |api| {
                command(api.update_agent(target.as_ref(), status), unit)
            })
        }
        Op::Ban { a, c, days } => {
            requester = Some(w.who(Actor::Agent(*a)));
            x.grant(w, *a, Grant::CustomersBanWrite);
            let customer = w.customers[*c].clone();
            let sees_one = w
                .engine
                .customer_chats(&customer)
                .iter()
                .any(|id| w.engine.chat(id).is_some_and(|chat| w.agent_sees(*a, chat)));
            x.fail_if(
                !sees_one,
                "ban without a chat of the customer the agent may see",
            );
            banned = Some(customer.clone());
            as_agent(w, *a, |api| {
                command(api.ban_customer(&customer, *days), unit)
            })
        }
        Op::LastSeen { who, chat: pick } => {
            requester = Some(w.who(*who));
            let chat_id = w.pick_chat(*who, *pick);
            chat = Some(chat_id);
            x.chat_access(w, *who, chat_id, Right::Read);
            match *who {
                Actor::Agent(a) => as_agent(w, a, |api| {
                    command(api.update_last_seen_timestamp(chat_id, None), Resp::Time)
                }),
                Actor::Customer(c) => as_customer(w, c, |api| {
                    command(api.update_last_seen_timestamp(chat_id, None), Resp::Time)
                }),
            }
        }
        Op::UpdateCustomer { c, n } => {
            requester = Some(w.who(Actor::Customer(*c)));
            x.fail_if(w.banned(*c), "banned customer");
            let update = CustomerUpdate {
                name: Some(format!("Name {n}")),
                email: (n % 5 == 0).then(|| "not an address".to_string()),
                ..CustomerUpdate::default()
            };
            as_customer(w, *c, |api| {
                command(api.update_customer(update), |r| Resp::Customer(Box::new(r)))
            })
        }
        Op::AddAutoScopes {
            a,
            scopes,
            prop,
            filter,
        } => {
            requester = Some(w.who(Actor::Agent(*a)));
            x.grant(w, *a, Grant::AutoChatScopesWrite);
            let scopes = w.scopes(*scopes);
            let rules = AutoScopeRules {
                chat_properties: w.build_filters(&[(*prop, *filter)]),
                customer_url: None,
            };
            let called = as_agent(w, *a, |api| {
                command(
                    api.add_auto_chat_scopes(Some("rule".into()), scopes, rules),
                    Resp::Id,
                )
            });
            if let Ok(Resp::Id(id)) = &called.0 {
                w.auto_ids.push(id.clone());
            }
            called
        }
        Op::RemoveAutoScopes { a, idx } => {
            requester = Some(w.who(Actor::Agent(*a)));
            x.grant(w, *a, Grant::AutoChatScopesWrite);
            let id = match w.auto_ids.len() {
                n if n > 0 && *idx < 200 => w.auto_ids[usize::from(*idx) % n].clone(),
                _ => "no-such-rule".into(),
            };
            let called = as_agent(w, *a, |api| command(api.remove_auto_chat_scopes(&id), unit));
            if called.0.is_ok() {
                w.auto_ids.retain(|i| *i != id);
            }
            called
        }
        Op::GetAutoScopes { a } => {
            requester = Some(w.who(Actor::Agent(*a)));
            read_only = true;
            x.grant(w, *a, Grant::AutoChatScopesRead);
            x.exact = Some(x.ok());
            as_agent(w, *a, |api| {
                query(api.get_auto_chat_scopes_config(), Resp::AutoScopes)
            })
        }
        Op::GetChatThreads {
            who,
            chat: pick,
            threads,
        } => {
            requester = Some(w.who(*who));
            read_only = true;
            let chat_id = w.pick_chat(*who, *pick);
            chat = Some(chat_id);
            x.chat_access(w, *who, chat_id, Right::Read);
            let ids: Vec<ThreadId> = match (*threads, w.engine.chat(&chat_id)) {
                (0, Some(c)) => c.threads.iter().map(|t| t.id).collect(),
                (1, Some(c)) => c.last_thread().map(|t| t.id).into_iter().collect(),
                (3, _) => Vec::new(),
                (i, Some(c)) if i > 3 => vec![c.threads[usize::from(i) % c.threads.len()].id],
                _ => vec![unknown_thread()],
            };
            x.fail_if(
                w.engine
                    .chat(&chat_id)
                    .is_none_or(|c| ids.iter().any(|t| c.thread(t).is_none())),
                "unknown thread",
            );
            x.exact = Some(x.ok());
            let threads = |r| Resp::Threads(Box::new(r));
            match *who {
                Actor::Agent(a) => as_agent(w, a, |api| {
                    query(api.get_chat_threads(chat_id, &ids), threads)
                }),
                Actor::Customer(c) => as_customer(w, c, |api| {
                    query(api.get_chat_threads(chat_id, &ids), threads)
                }),
            }
        }
        Op::GetThreadsSummary {
            who,
            chat: pick,
            offset,
            limit,
        } => {
            requester = Some(w.who(*who));
            read_only = true;
            let chat_id = w.pick_chat(*who, *pick);
            chat = Some(chat_id);
            x.chat_access(w, *who, chat_id, Right::Read);
            x.fail_if(
                limit.is_some_and(|l| l == 0 || l > 100),
                "limit out of range",
            );
            x.exact = Some(x.ok());
            let page = Pagination {
                offset: *offset,
                limit: *limit,
            };
            match *who {
                Actor::Agent(a) => as_agent(w, a, |api| {
                    query(
                        api.get_chat_threads_summary(chat_id, page),
                        Resp::ThreadsSummary,
                    )
                }),
                Actor::Customer(c) => as_customer(w, c, |api| {
                    query(
                        api.get_chat_threads_summary(chat_id, page),
                        Resp::ThreadsSummary,
                    )
                }),
            }
        }
        Op::GetChatsSummary { c, offset, limit } => {
            requester = Some(w.who(Actor::Customer(*c)));
            read_only = true;
            x.fail_if(w.banned(*c), "banned customer");
            x.fail_if(offset.is_some_and(|o| o > 100), "offset out of range");
            x.fail_if(
                limit.is_some_and(|l| l == 0 || l > 25),
                "limit out of range",
            );
            x.exact = Some(x.ok());
            let page = Pagination {
                offset: *offset,
                limit: *limit,
            };
            as_customer(w, *c, |api| {
                query(api.get_chats_summary(page), Resp::ChatsSummary)
            })
        }
        Op::Login { who } => {
            requester = Some(w.who(*who));
            read_only = true;
            x.fail_if(w.banned_actor(*who), "banned customer");
            x.exact = Some(x.ok());
            match *who {
                Actor::Agent(a) => as_agent(w, a, |api| {
                    query(api.login(), |r| Resp::AgentLogin(Box::new(r)))
                }),
                Actor::Customer(c) => as_customer(w, c, |api| {
                    query(api.login(), |r| Resp::CustomerLogin(Box::new(r)))
                }),
            }
        }
        Op::Filtered {
            a,
            include_active,
            include_inactive,
            limit,
            filters,
        } => {
            requester = Some(w.who(Actor::Agent(*a)));
            read_only = true;
            let nothing = *include_active == Some(false) && *include_inactive == Some(false);
            x.fail_if(nothing, "include_active and include_inactive both false");
            x.exact = Some(!nothing);
            let filters = ChatFilters {
                include_active: *include_active,
                include_inactive: *include_inactive,
                properties: w.build_filters(filters),
            };
            filtered = Some(w.expected_filtered(*a, &filters));
            as_agent(w, *a, |api| {
                query(filtered_pages(api, &filters, *limit), Resp::Summaries)
            })
        }
        Op::Archives {
            a,
            filters,
            agents,
            teams,
            page,
            limit,
        } => {
            requester = Some(w.who(Actor::Agent(*a)));
            read_only = true;
            x.grant(w, *a, Grant::ChatsAllRead);
            x.fail_if(*page == Some(0), "page out of range");
            x.fail_if(
                limit.is_some_and(|l| l == 0 || l > 100),
                "limit out of range",
            );
            x.fail_if(*teams, "a team filter");
            x.exact = Some(x.ok());
            let filters = ArchiveFilters {
                agent_ids: (0..4)
                    .filter(|i| agents & (1 << i) != 0)
                    .map(|i| w.agents[i].clone())
                    .collect(),
                team_ids: if *teams {
                    vec![serde_json::json!(1)]
                } else {
                    Vec::new()
                },
                properties: w.build_filters(filters),
                ..ArchiveFilters::default()
            };
            archives = Some(ExpectedArchives {
                all: w.expected_archives(*a, &filters),
                agent_ids: filters.agent_ids.clone(),
                page: page.unwrap_or(1),
                limit: limit.unwrap_or(25),
            });
            let pagination = ArchivesPagination {
                page: *page,
                limit: *limit,
            };
            as_agent(w, *a, |api| {
                query(api.get_archives(&filters, pagination), |r| {
                    Resp::Archives(Box::new(r))
                })
            })
        }
        Op::QueuePosition { c, chat: pick } => {
            let who = Actor::Customer(*c);
            requester = Some(w.who(who));
            read_only = true;
            let chat_id = w.pick_chat(who, *pick);
            chat = Some(chat_id);
            x.chat_access(w, who, chat_id, Right::Read);
            x.exact = Some(x.ok());
            as_customer(w, *c, |api| {
                query(api.get_queue_position(chat_id), Resp::Queue)
            })
        }
        Op::Presence { a, online } => {
            let id = w.agents[*a].clone();
            command(w.engine.set_agent_presence(&id, *online, w.clock), unit)
        }
        Op::Wait { .. } => (Ok(Resp::Unit), Vec::new()),
    };
    Outcome {
        requester,
        result,
        pushes,
        expect: x,
        read_only,
        chat,
        multicast,
        banned,
        filtered,
        archives,
    }
}

/// A thread of a chat: 0 the last, 1 an unknown id, else by index.
fn pick_thread(w: &World, chat_id: ChatId, pick: u8) -> ThreadId {
    let Some(chat) = w.engine.chat(&chat_id) else {
        return unknown_thread();
    };
    match pick {
        0 => chat.last_thread().map_or_else(unknown_thread, |t| t.id),
        1 => unknown_thread(),
        i => chat.threads[usize::from(i) % chat.threads.len()].id,
    }
}

/// An event of a chat to answer with a postback, preferring rich messages: its thread, its id,
/// and whether `role` may see it. `pick` below 64 takes the latest agents-only rich message (if
/// any), below 128 the latest rich message (the latest are the likeliest to be in the active
/// thread, where postbacks are pushed), above that any, or an unknown event id.
fn pick_event(w: &World, chat_id: ChatId, pick: u8, role: Role) -> (ThreadId, EventId, bool) {
    let Some(chat) = w.engine.chat(&chat_id) else {
        return (unknown_thread(), unknown_event(), true);
    };
    let all: Vec<(ThreadId, chatio::Event)> = chat
        .threads
        .iter()
        .flat_map(|t| t.events.iter().map(move |e| (t.id, e)))
        .collect();
    let rich: Vec<&(ThreadId, chatio::Event)> = all
        .iter()
        .filter(|(_, e)| matches!(e.kind, EventKind::RichMessage(_)))
        .collect();
    let agents_only = rich
        .iter()
        .rfind(|(_, e)| e.recipients == Recipients::Agents);
    let candidates: Vec<&(ThreadId, chatio::Event)> = if rich.is_empty() {
        all.iter().collect()
    } else {
        rich.clone()
    };
    let chosen = match pick {
        0..64 if agents_only.is_some() => agents_only.copied(),
        0..128 => candidates.last().copied(),
        _ => candidates
            .get(usize::from(pick) % (candidates.len() + 1))
            .copied(),
    };
    match chosen {
        Some((t, e)) => (*t, e.id, e.visible_to(role)),
        None => (
            chat.last_thread().map_or_else(unknown_thread, |t| t.id),
            unknown_event(),
            true,
        ),
    }
}

impl World {
    fn build_filters(&self, spec: &[(PropPick, FilterSpec)]) -> PropertyFilters {
        let mut out = PropertyFilters::new();
        for &(pick, f) in spec {
            let p = self.pick_prop(pick, Location::Chat, Role::Agent);
            let filter = match f {
                FilterSpec::Exists(b) => PropertyFilter::Exists(b),
                FilterSpec::Values(v) => PropertyFilter::Values(vec![p.value(v)]),
                FilterSpec::Exclude(v) => PropertyFilter::ExcludeValues(vec![p.value(v)]),
            };
            out.entry(p.namespace.to_string())
                .or_default()
                .insert(p.name.to_string(), filter);
        }
        out
    }

    /// Whether the chat properties an agent may read pass `filters`: one it may not read
    /// counts as not set.
    fn passes(&self, chat: &Chat, filters: &PropertyFilters) -> bool {
        let readable = self.filter(&chat.properties, Location::Chat, Role::Agent);
        filters.iter().all(|(namespace, names)| {
            names.iter().all(|(name, filter)| {
                let value = readable.get(namespace).and_then(|v| v.get(name));
                match filter {
                    PropertyFilter::Exists(wanted) => value.is_some() == *wanted,
                    PropertyFilter::Values(vs) => value.is_some_and(|v| vs.contains(v)),
                    PropertyFilter::ExcludeValues(vs) => value.is_none_or(|v| !vs.contains(v)),
                }
            })
        })
    }

    /// The chats `get_filtered_chats` must return to agent `a`: those it sees, active or not
    /// as asked, whose properties the agent may read pass the filters.
    fn expected_filtered(&self, a: usize, filters: &ChatFilters) -> BTreeSet<ChatId> {
        let include_active = filters.include_active.unwrap_or(true);
        let include_inactive = filters.include_inactive.unwrap_or(true);
        self.engine
            .chats()
            .iter()
            .filter(|c| self.agent_sees(a, c))
            .filter(|c| {
                if c.is_active() {
                    include_active
                } else {
                    include_inactive
                }
            })
            .filter(|c| self.passes(c, &filters.properties))
            .map(|c| c.id)
            .collect()
    }

    /// The archives `get_archives` must count for agent `a`, newest thread first: every closed
    /// thread of the chats it sees whose readable properties pass the filters, and, when
    /// agents are named, that one of them was in.
    fn expected_archives(&self, a: usize, filters: &ArchiveFilters) -> Vec<(ChatId, ThreadId)> {
        let mut found: Vec<(u64, ChatId, ThreadId)> = self
            .engine
            .chats()
            .iter()
            .filter(|c| self.agent_sees(a, c) && self.passes(c, &filters.properties))
            .flat_map(|c| {
                c.threads
                    .iter()
                    .filter(|t| !t.active && agents_were_in(&filters.agent_ids, t))
                    .map(|t| (t.order, c.id, t.id))
                    .collect::<Vec<_>>()
            })
            .collect();
        found.sort_by_key(|&(order, ..)| std::cmp::Reverse(order));
        found.into_iter().map(|(_, c, t)| (c, t)).collect()
    }
}

/// The `agent_ids` filter of `get_archives`: one of the agents was in the chat during the
/// thread (any thread passes when none are named).
fn agents_were_in(agent_ids: &[UserId], thread: &Thread) -> bool {
    agent_ids.is_empty() || thread.user_ids().iter().any(|u| agent_ids.contains(u))
}

// ----- the checks -----

/// Properties carried by a push, with where they live.
fn push_properties(kind: &PushKind) -> Vec<(Properties, Location)> {
    let mut out = Vec::new();
    match kind {
        PushKind::IncomingChatThread { chat } => {
            out.push((chat.properties.clone(), Location::Chat));
            out.push(((*chat.thread.properties).clone(), Location::Thread));
            for e in &chat.thread.events {
                out.push((e.properties, Location::Event));
            }
        }
        PushKind::IncomingEvent { event, .. } => {
            out.push((event.properties.clone(), Location::Event))
        }
        PushKind::ChatPropertiesUpdated { properties, .. } => {
            out.push((properties.clone(), Location::Chat));
        }
        PushKind::ChatThreadPropertiesUpdated { properties, .. } => {
            out.push((properties.clone(), Location::Thread));
        }
        _ => {}
    }
    out
}

fn assert_readable(w: &World, props: &Properties, loc: Location, role: Role, ctx: &dyn Debug) {
    for (namespace, values) in props {
        for name in values.keys() {
            assert!(
                w.readable(namespace, name, loc, role),
                "{role:?} given {namespace}.{name} at {loc:?}, which it may not read: {ctx:?}"
            );
        }
    }
}

/// No action reaches a chat outside its requester's scopes: every chat a call created or changed
/// is one the requester could see before the call or can see after it (a customer: its own).
/// Routing alone may change others, and only as routing does, on its own account: a chat that
/// waited is given to an agent (or taken back from one) whose slot the call freed or filled.
/// Such a chat keeps its customer, properties, scopes, last-seen times and threads (ids,
/// activity, properties); its new events are routing's system messages; and the agents it
/// gained are its assignee.
fn check_reach(w: &World, before: &Engine, out: &Outcome, ctx: &dyn Debug) {
    let Some((me, role)) = &out.requester else {
        return;
    };
    for chat in w.engine.chats().iter() {
        let then = before.chat(&chat.id);
        if then == Some(chat) {
            continue;
        }
        let seen = |c: &Chat| w.sees(me, *role, c);
        if then.is_some_and(seen) || seen(chat) {
            continue;
        }
        let Some(then) = then else {
            panic!("{me} made chat {} that it may not see: {ctx:?}", chat.id);
        };
        let routing_only = then.customer_id == chat.customer_id
            && then.properties == chat.properties
            && then.scopes == chat.scopes
            && then.last_seen == chat.last_seen
            && then.threads.len() == chat.threads.len()
            && then.threads.iter().zip(chat.threads.iter()).all(|(a, b)| {
                a.id == b.id
                    && a.active == b.active
                    && a.properties == b.properties
                    && a.events.len() <= b.events.len()
                    && b.events.iter().skip(a.events.len()).all(|e| {
                        matches!(
                            &e.kind,
                            EventKind::SystemMessage {
                                system_message_type: Some(t),
                                ..
                            } if t.starts_with("routing.")
                        )
                    })
            })
            && chat
                .agent_ids
                .iter()
                .filter(|id| !then.agent_ids.contains(id))
                .all(|id| chat.routing.assignee.as_ref() == Some(id));
        assert!(
            routing_only,
            "{me}'s call reached chat {}, outside its scopes, beyond routing: {ctx:?}",
            chat.id
        );
    }
}

fn check_pushes(w: &World, before: &Engine, out: &Outcome, ctx: &dyn Debug) {
    // Who is in each chat at the moment of each push: before the step, then as the step's
    // `chat_users_updated` pushes say.
    let mut present: BTreeMap<ChatId, BTreeSet<UserId>> = BTreeMap::new();
    for push in &out.pushes {
        let ctx = &(ctx, "push", push);
        assert!(!push.to.is_empty(), "a push to nobody: {ctx:?}");
        for u in &push.to {
            match push.role {
                Role::Customer => assert!(
                    w.is_customer(u),
                    "a customers' push addressed to {u}: {ctx:?}"
                ),
                Role::Agent => {
                    assert!(
                        !w.is_customer(u),
                        "customer {u} addressed by an agents' push: {ctx:?}"
                    );
                    assert!(w.agent_index(u).is_some(), "{u} is not an agent: {ctx:?}");
                    // An agent removed (the alphabet's `remove_agent`) hears of nothing once
                    // it is gone; in the step that removes it, only that it left its chats
                    // and that it is disconnected.
                    let removed_now = !before.is_agent_removed(u) && w.engine.is_agent_removed(u);
                    assert!(
                        !before.is_agent_removed(u)
                            && (!removed_now
                                || matches!(
                                    &push.kind,
                                    PushKind::AgentDisconnected { .. }
                                        | PushKind::ChatUsersUpdated { .. }
                                )),
                        "removed agent {u} told: {ctx:?}"
                    );
                }
            }
        }
        for (props, loc) in push_properties(&push.kind) {
            assert_readable(w, &props, loc, push.role, ctx);
        }
        if let PushKind::ChatPropertiesUpdated { properties, .. }
        | PushKind::ChatThreadPropertiesUpdated { properties, .. } = &push.kind
        {
            assert!(!properties.is_empty(), "an empty properties push: {ctx:?}");
        }
        match push.role {
            Role::Customer => check_customer_push(w, out, push, ctx),
            Role::Agent => {
                if let Some(chat_id) = push.kind.chat_id() {
                    let members = present.entry(chat_id).or_insert_with(|| {
                        initial_members(before, chat_id, out.requester.as_ref())
                    });
                    check_agent_push(w, push, chat_id, members, ctx);
                }
                if let PushKind::IncomingMulticast { .. } = &push.kind {
                    let told = out.multicast.as_ref().expect("a multicast step");
                    for u in &push.to {
                        assert!(told.contains(u), "multicast to {u}, not addressed: {ctx:?}");
                    }
                }
            }
        }
        if let PushKind::ChatUsersUpdated {
            chat_id,
            added,
            removed_ids,
        } = &push.kind
        {
            let members = present
                .entry(*chat_id)
                .or_insert_with(|| initial_members(before, *chat_id, out.requester.as_ref()));
            for u in added {
                members.insert(u.id().clone());
            }
            for u in removed_ids {
                members.remove(u);
            }
        }
    }
}

fn initial_members(
    before: &Engine,
    chat_id: ChatId,
    requester: Option<&(UserId, Role)>,
) -> BTreeSet<UserId> {
    match before.chat(&chat_id) {
        Some(chat) => chat.agent_ids.iter().cloned().collect(),
        // A chat the step started: an agent who starts a chat is in it.
        None => requester
            .filter(|(_, role)| *role == Role::Agent)
            .map(|(id, _)| id.clone())
            .into_iter()
            .collect(),
    }
}

fn check_agent_push(
    w: &World,
    push: &Push,
    chat_id: ChatId,
    members: &BTreeSet<UserId>,
    ctx: &dyn Debug,
) {
    let chat = w.engine.chat(&chat_id).expect("a push about a real chat");
    for u in &push.to {
        let a = w.agent_index(u).expect("an agent");
        let told_of_removal = matches!(
            &push.kind,
            PushKind::ChatUsersUpdated { removed_ids, .. } if removed_ids.contains(u)
        );
        if let PushKind::ChatScopesUpdated { .. } = &push.kind {
            assert!(
                w.agent_sees(a, chat),
                "agent {u} told of a scope change to chat {chat_id} it no longer sees: {ctx:?}"
            );
        }
        assert!(
            w.scope_sees(a, chat) || members.contains(u) || told_of_removal,
            "agent {u} told about chat {chat_id} outside its scopes and not in it: {ctx:?}"
        );
    }
}

fn check_customer_push(w: &World, out: &Outcome, push: &Push, ctx: &dyn Debug) {
    match &push.kind {
        PushKind::IncomingSneakPeek { .. } => panic!("a sneak peek pushed to a customer: {ctx:?}"),
        PushKind::AgentUpdated { .. } | PushKind::CustomerBanned { .. } => {
            panic!("an agents' notice pushed to a customer: {ctx:?}")
        }
        PushKind::IncomingTypingIndicator {
            typing_indicator, ..
        } => assert_eq!(
            typing_indicator.recipients,
            Recipients::All,
            "an agents-only typing indicator pushed to a customer: {ctx:?}"
        ),
        PushKind::IncomingMulticast { .. } => {
            let told = out.multicast.as_ref().expect("a multicast step");
            for u in &push.to {
                assert!(told.contains(u), "multicast to {u}, not addressed: {ctx:?}");
            }
        }
        PushKind::CustomerDisconnected { .. } => {
            for u in &push.to {
                assert_eq!(
                    out.banned.as_ref(),
                    Some(u),
                    "customer_disconnected to a customer not banned: {ctx:?}"
                );
            }
        }
        PushKind::IncomingRichMessagePostback {
            chat_id,
            thread_id,
            event_id,
            ..
        } => {
            let chat = w.engine.chat(chat_id);
            let event = chat
                .and_then(|c| c.thread(thread_id))
                .and_then(|t| t.events.iter().find(|e| e.id == *event_id))
                .expect("a postback on a real event");
            assert!(
                event.visible_to(Role::Customer),
                "a postback on an agents-only event pushed to a customer: {ctx:?}"
            );
        }
        PushKind::ChatScopesUpdated {
            scopes_added,
            scopes_removed,
            ..
        } => {
            assert!(
                scopes_added.agents.is_empty() && scopes_removed.agents.is_empty(),
                "agent scopes pushed to a customer: {ctx:?}"
            );
            assert!(
                !(scopes_added.groups.is_empty() && scopes_removed.groups.is_empty()),
                "a customer told about a scope change it cannot see: {ctx:?}"
            );
        }
        PushKind::IncomingChatThread { chat } => assert!(
            chat.scopes.agents.is_empty(),
            "agent scopes in a chat pushed to a customer: {ctx:?}"
        ),
        _ => {}
    }
    for event in push.kind.events() {
        assert!(
            event.visible_to(Role::Customer),
            "an agents-only event pushed to a customer: {ctx:?}"
        );
    }
    if let Some(chat_id) = push.kind.chat_id() {
        let chat = w.engine.chat(&chat_id).expect("a push about a real chat");
        for u in &push.to {
            assert_eq!(
                chat.customer_id.as_ref(),
                Some(u),
                "customer {u} told about chat {chat_id}, which is not theirs: {ctx:?}"
            );
        }
    }
}

/// A thread as `role` must see it: the stored events meant for the role, each with the
/// properties the role may read, and the thread's readable properties.
/// The `last_activity` a thread shows `role`: a customer's is that of the last event it may see
/// that counts as activity, so that a later note for agents does not show through.
fn expected_last_activity(role: Role, stored: &Thread) -> chatio::Timestamp {
    match role {
        Role::Agent => stored.last_activity,
        Role::Customer => stored
            .events_for(role)
            .rev()
            .find(|e| e.kind.counts_as_activity())
            .map_or(stored.timestamp, |e| e.timestamp),
    }
}

fn check_thread(w: &World, role: Role, stored: &Thread, shown: &Thread, ctx: &dyn Debug) {
    assert_eq!(
        shown.last_activity,
        expected_last_activity(role, stored),
        "last_activity as {role:?} sees it: {ctx:?}"
    );
    assert_readable(w, &shown.properties, Location::Thread, role, ctx);
    assert_eq!(
        shown.properties,
        w.filter(&stored.properties, Location::Thread, role),
        "thread properties as {role:?} sees them: {ctx:?}"
    );
    let expected: Vec<_> = stored
        .events
        .iter()
        .filter(|e| e.visible_to(role))
        .collect();
    assert_eq!(
        shown.events.iter().map(|e| e.id).collect::<Vec<_>>(),
        expected.iter().map(|e| e.id).collect::<Vec<_>>(),
        "the events {role:?} sees in thread {}: {ctx:?}",
        stored.id
    );
    for (shown, stored) in shown.events.iter().zip(expected) {
        assert!(shown.visible_to(role), "{ctx:?}");
        assert_readable(w, &shown.properties, Location::Event, role, ctx);
        assert_eq!(
            shown.properties,
            w.filter(&stored.properties, Location::Event, role),
            "event properties as {role:?} sees them: {ctx:?}"
        );
    }
}

fn visible_chat<'w>(
    w: &'w World,
    me: &UserId,
    role: Role,
    id: ChatId,
    ctx: &dyn Debug,
) -> &'w Chat {
    let chat = w.engine.chat(&id).expect("a real chat");
    assert!(
        w.sees(me, role, chat),
        "{role:?} {me} returned chat {id}, which it may not see: {ctx:?}"
    );
    chat
}

fn check_chat_properties(w: &World, role: Role, chat: &Chat, shown: &Properties, ctx: &dyn Debug) {
    assert_readable(w, shown, Location::Chat, role, ctx);
    assert_eq!(
        *shown,
        w.filter(&chat.properties, Location::Chat, role),
        "chat properties as {role:?} sees them: {ctx:?}"
    );
}

fn check_summary(w: &World, me: &UserId, role: Role, s: &ChatSummary, ctx: &dyn Debug) {
    let ctx = &(ctx, s.id);
    let chat = visible_chat(w, me, role, s.id, ctx);
    check_chat_properties(w, role, chat, &s.properties, ctx);
    check_scopes_shown(role, chat, &s.scopes, ctx);
    // The order counts only what the role may see: an agents-only note does not move a
    // customer's chat.
    let last = chat.last_thread().expect("a chat has a thread");
    let expected_order = last
        .events_for(role)
        .next_back()
        .map_or(last.order, |e| e.order.max(last.order));
    assert_eq!(
        s.order, expected_order,
        "summary order for {role:?}: {ctx:?}"
    );
    // The latest event of each type the role may see.
    let mut expected = BTreeMap::new();
    for thread in chat.threads.iter().rev() {
        for e in thread.events.iter().rev().filter(|e| e.visible_to(role)) {
            expected.entry(e.kind.type_name()).or_insert((thread.id, e));
        }
    }
    assert_eq!(
        s.last_event_per_type.len(),
        expected.len(),
        "last_event_per_type: {ctx:?}"
    );
    for (ty, last) in &s.last_event_per_type {
        let (thread_id, stored) = expected
            .get(ty.as_str())
            .unwrap_or_else(|| panic!("a last {ty} the role may not see: {ctx:?}"));
        assert_eq!(
            (last.thread_id, last.event.id),
            (*thread_id, stored.id),
            "{ctx:?}"
        );
        assert!(last.event.visible_to(role), "{ctx:?}");
        assert_readable(w, &last.event.properties, Location::Event, role, ctx);
        assert_eq!(
            last.event.properties,
            w.filter(&stored.properties, Location::Event, role),
            "{ctx:?}"
        );
    }
    let last = chat.last_thread().expect("a chat has a thread");
    let shown = s.last_thread_summary.as_ref().expect("a last thread");
    assert_eq!(shown.id, last.id, "{ctx:?}");
    assert!(
        shown.events.is_empty(),
        "a thread summary with events: {ctx:?}"
    );
    assert_eq!(
        shown.last_activity,
        expected_last_activity(role, last),
        "last_activity as {role:?} sees it: {ctx:?}"
    );
    assert_readable(w, &shown.properties, Location::Thread, role, ctx);
    assert_eq!(
        shown.properties,
        w.filter(&last.properties, Location::Thread, role),
        "{ctx:?}"
    );
}

/// Agents see a chat's scopes whole; customers see its groups only.
fn check_scopes_shown(role: Role, chat: &Chat, shown: &Scopes, ctx: &dyn Debug) {
    let expected = match role {
        Role::Agent => (*chat.scopes).clone(),
        Role::Customer => Scopes {
            groups: chat.scopes.groups.clone(),
            ..Scopes::default()
        },
    };
    assert_eq!(shown, &expected, "scopes shown to {role:?}: {ctx:?}");
}

fn check_chat_threads(w: &World, me: &UserId, role: Role, r: &ChatThreads, ctx: &dyn Debug) {
    let chat = visible_chat(w, me, role, r.id, ctx);
    check_chat_properties(w, role, chat, &r.properties, ctx);
    check_scopes_shown(role, chat, &r.scopes, ctx);
    for shown in &r.threads {
        let stored = chat.thread(&shown.id).expect("a real thread");
        check_thread(w, role, stored, shown, ctx);
    }
    assert_eq!(r.threads_summary.len(), chat.threads.len(), "{ctx:?}");
    for t in &r.threads_summary {
        let stored = chat.thread(&t.id).expect("a real thread");
        assert_eq!(
            t.total_events,
            stored.events_for(role).count(),
            "events counted for {role:?}: {ctx:?}"
        );
    }
}

fn check_threads_summary(
    w: &World,
    role: Role,
    chat_id: ChatId,
    r: &ThreadsSummary,
    ctx: &dyn Debug,
) {
    let chat = w.engine.chat(&chat_id).expect("a real chat");
    assert_eq!(r.total_threads, chat.threads.len(), "{ctx:?}");
    for t in &r.threads_summary {
        let stored = chat.thread(&t.id).expect("a thread of the chat");
        assert_eq!(
            t.total_events,
            stored.events_for(role).count(),
            "events counted for {role:?}: {ctx:?}"
        );
    }
}

fn check_response(w: &World, out: &Outcome, ctx: &dyn Debug) {
    let (Some((me, role)), Ok(resp)) = (&out.requester, &out.result) else {
        return;
    };
    let ctx = &(ctx, "response");
    let role = *role;
    match resp {
        Resp::ChatThread(ct) => {
            let chat = visible_chat(w, me, role, ct.id, ctx);
            check_chat_properties(w, role, chat, &ct.properties, ctx);
            let stored = chat.thread(&ct.thread.id).expect("a real thread");
            check_thread(w, role, stored, &ct.thread, ctx);
        }
        Resp::Sent(sent) => {
            let chat_id = out.chat.expect("send_event names a chat");
            let chat = visible_chat(w, me, role, chat_id, ctx);
            let stored = chat
                .thread(&sent.thread_id)
                .and_then(|t| t.events.iter().find(|e| e.id == sent.event.id))
                .expect("the event sent is stored in the chat");
            assert!(sent.event.visible_to(role), "{ctx:?}");
            assert_readable(w, &sent.event.properties, Location::Event, role, ctx);
            assert_eq!(
                sent.event.properties,
                w.filter(&stored.properties, Location::Event, role),
                "{ctx:?}"
            );
        }
        Resp::Threads(r) => check_chat_threads(w, me, role, r, ctx),
        Resp::ThreadsSummary(r) => {
            let chat_id = out.chat.expect("a chat");
            visible_chat(w, me, role, chat_id, ctx);
            check_threads_summary(w, role, chat_id, r, ctx);
        }
        Resp::ChatsSummary(r) => {
            assert_eq!(r.total_chats, w.engine.customer_chats(me).len(), "{ctx:?}");
            for s in &r.chats_summary {
                check_summary(w, me, role, s, ctx);
            }
        }
        Resp::AgentLogin(r) => check_login(w, me, r, ctx),
        Resp::CustomerLogin(r) => {
            assert_eq!(&r.customer_id, me, "{ctx:?}");
            assert_eq!(&r.customer.id, me, "{ctx:?}");
        }
        Resp::Summaries(r) => {
            let ids: BTreeSet<ChatId> = r.iter().map(|s| s.id).collect();
            assert_eq!(ids.len(), r.len(), "a chat twice: {ctx:?}");
            assert_eq!(
                Some(&ids),
                out.filtered.as_ref(),
                "get_filtered_chats: {ctx:?}"
            );
            for s in r {
                check_summary(w, me, role, s, ctx);
            }
        }
        Resp::Archives(r) => {
            let expected = out.archives.as_ref().expect("a get_archives step");
            let mut seen = BTreeSet::new();
            let mut shown = Vec::new();
            for ct in &r.chats {
                let (chat_id, stored) = check_archive(w, me, ct, ctx);
                assert!(
                    seen.insert((chat_id, stored.id)),
                    "an archive twice: {ctx:?}"
                );
                assert!(
                    agents_were_in(&expected.agent_ids, &stored),
                    "an archive without any of the agents asked for: {ctx:?}"
                );
                shown.push((chat_id, stored.id));
            }
            *ARCHIVES.lock().unwrap_or_else(|e| e.into_inner()) += shown.len();
            assert_eq!(r.pagination.page, expected.page, "{ctx:?}");
            assert_eq!(
                r.pagination.total,
                expected.all.len(),
                "archives counted for {me}: {ctx:?}"
            );
            assert!(r.chats.len() <= r.pagination.total, "{ctx:?}");
            let skip = u64::from(expected.page.saturating_sub(1)) * u64::from(expected.limit);
            let page: Vec<(ChatId, ThreadId)> = expected
                .all
                .iter()
                .skip(usize::try_from(skip).unwrap_or(usize::MAX))
                .take(expected.limit as usize)
                .copied()
                .collect();
            assert_eq!(shown, page, "the page of archives: {ctx:?}");
        }
        Resp::Customer(c) => assert_eq!(&c.id, me, "{ctx:?}"),
        Resp::Queue(position) => {
            let chat_id = out.chat.expect("a chat");
            let chat = visible_chat(w, me, role, chat_id, ctx);
            assert_eq!(
                position.is_some(),
                chat.routing.waiting_since.is_some(),
                "queue position: {ctx:?}"
            );
        }
        Resp::AutoScopes(configs) => {
            let ids: Vec<&String> = configs.iter().map(|c| &c.id).collect();
            assert_eq!(ids, w.auto_ids.iter().collect::<Vec<_>>(), "{ctx:?}");
        }
        Resp::Time(t) => assert!(*t <= w.clock, "a last-seen time from the future: {ctx:?}"),
        Resp::Unit | Resp::Id(_) => {}
    }
}

/// One archive as agent `me` must see it: a chat it may see, with one of that chat's closed
/// threads, both shown as the other read paths show them. Returns the chat and the stored
/// thread.
fn check_archive(w: &World, me: &UserId, ct: &ChatThread, ctx: &dyn Debug) -> (ChatId, Thread) {
    let ctx = &(ctx, "archive", ct.id, ct.thread.id);
    let chat = visible_chat(w, me, Role::Agent, ct.id, ctx);
    check_chat_properties(w, Role::Agent, chat, &ct.properties, ctx);
    check_scopes_shown(Role::Agent, chat, &ct.scopes, ctx);
    let stored = chat
        .thread(&ct.thread.id)
        .unwrap_or_else(|| panic!("an archive of a thread not in its chat: {ctx:?}"));
    assert!(
        !stored.active && !ct.thread.active,
        "an active thread listed as an archive: {ctx:?}"
    );
    check_thread(w, Role::Agent, stored, &ct.thread, ctx);
    (chat.id, stored.clone())
}

/// Every page of an agent's archives with no filters, 100 to a page. A short page ends the
/// paging whatever the total says, so a wrong total cannot make it loop.
/// Every page of `get_filtered_chats` with pages of `limit`, in turn, each asked for with the
/// `next_before_order` of the one before; checks that pages are newest first, no longer than
/// asked, agree on the total, and point to the next page exactly when there is one.
fn filtered_pages(
    api: &chatio::AgentApi<'_>,
    filters: &ChatFilters,
    limit: Option<u32>,
) -> Result<Vec<ChatSummary>, Error> {
    let mut page = ChatsPagination {
        limit,
        before_order: None,
    };
    let mut all: Vec<ChatSummary> = Vec::new();
    loop {
        let got = api.get_filtered_chats(filters, page)?;
        let size = limit.unwrap_or(25) as usize;
        assert!(got.chats_summary.len() <= size, "a page over its limit");
        assert!(
            got.chats_summary
                .windows(2)
                .all(|w| w[0].order > w[1].order),
            "a page not newest first"
        );
        if let (Some(prev), Some(first)) = (all.last(), got.chats_summary.first()) {
            assert!(prev.order > first.order, "pages overlap or go back");
        }
        let last = got.chats_summary.last().map(|s| s.order);
        all.extend(got.chats_summary);
        assert!(got.total_chats >= all.len(), "a total below what was shown");
        match got.next_before_order {
            Some(next) => {
                assert_eq!(
                    Some(next),
                    last,
                    "the next page does not start after this one"
                );
                page.before_order = Some(next);
            }
            None => {
                assert_eq!(got.total_chats, all.len(), "the last page left chats out");
                return Ok(all);
            }
        }
    }
}

fn archive_pages(api: &chatio::AgentApi<'_>) -> Result<Vec<Archives>, Error> {
    let mut pages = Vec::new();
    loop {
        let page = u32::try_from(pages.len() + 1).expect("a page number");
        let pagination = ArchivesPagination {
            page: Some(page),
            limit: Some(100),
        };
        let r = api.get_archives(&ArchiveFilters::default(), pagination)?;
        let done = r.chats.len() < 100 || page as usize * 100 >= r.pagination.total;
        pages.push(r);
        if done {
            return Ok(pages);
        }
    }
}

/// All of agent `a`'s archives, page by page: exactly the closed threads of every chat it
/// sees, each once, newest first across the pages.
fn check_archive_pages(w: &World, a: usize, pages: &[Archives], ctx: &dyn Debug) {
    let me = &w.agents[a];
    let expected: BTreeSet<(ChatId, ThreadId)> = w
        .engine
        .chats()
        .iter()
        .filter(|c| w.agent_sees(a, c))
        .flat_map(|c| {
            c.threads
                .iter()
                .filter(|t| !t.active)
                .map(|t| (c.id, t.id))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut seen = BTreeSet::new();
    let mut last_order = u64::MAX;
    for (i, page) in pages.iter().enumerate() {
        // What is shown first: a leak is named as one rather than as a wrong count.
        for ct in &page.chats {
            let (chat_id, stored) = check_archive(w, me, ct, ctx);
            assert!(
                seen.insert((chat_id, stored.id)),
                "an archive on two pages: {ctx:?}"
            );
            assert!(
                stored.order < last_order,
                "archives not newest first: {ctx:?}"
            );
            last_order = stored.order;
        }
        assert_eq!(page.pagination.page as usize, i + 1, "{ctx:?}");
        assert_eq!(
            page.pagination.total,
            expected.len(),
            "archives counted for {me}: {ctx:?}"
        );
    }
    assert_eq!(seen, expected, "the archives of {me}: {ctx:?}");
    *ARCHIVES.lock().unwrap_or_else(|e| e.into_inner()) += seen.len();
}

fn check_login(w: &World, me: &UserId, r: &AgentLogin, ctx: &dyn Debug) {
    let a = w.agent_index(me).expect("an agent");
    assert_eq!(&r.my_profile.id, me, "{ctx:?}");
    let ids: Vec<ChatId> = r.chats_summary.iter().map(|s| s.id).collect();
    let mut expected: Vec<&Chat> = w
        .engine
        .chats()
        .iter()
        .filter(|c| c.is_active() && w.agent_sees(a, c))
        .collect();
    expected.sort_by_key(|c| std::cmp::Reverse(c.order()));
    assert_eq!(r.total_chats, expected.len(), "{me}'s login total: {ctx:?}");
    // The newest of them, as many as the license lets a login list.
    let limit = w.engine.config().limits.login_chats as usize;
    let newest: Vec<ChatId> = expected.iter().take(limit).map(|c| c.id).collect();
    assert_eq!(ids, newest, "the chats in {me}'s login: {ctx:?}");
    let next = (expected.len() > limit).then(|| expected[limit - 1].order());
    assert_eq!(
        r.next_before_order, next,
        "{me}'s login next_before_order: {ctx:?}"
    );
    for s in &r.chats_summary {
        check_summary(w, me, Role::Agent, s, ctx);
    }
}

/// Asks every user what it may see: `login` and `get_filtered_chats` for agents, every page of
/// `get_chats_summary` for customers, and `get_chat_threads` (every thread) and
/// `get_chat_threads_summary` of each chat in `touched` for everyone.
fn sweep(w: &mut World, touched: &BTreeSet<ChatId>, ctx: &dyn Debug) {
    let clock = w.clock;
    let touched: Vec<(ChatId, Vec<ThreadId>)> = touched
        .iter()
        .filter_map(|id| w.engine.chat(id))
        .map(|c| (c.id, c.threads.iter().map(|t| t.id).collect()))
        .collect();
    let engine = &mut w.engine;
    let mut answers = Vec::new();
    for a in 0..AGENTS.len() {
        let id = w.agents[a].clone();
        let api = engine.as_agent(&id, clock).expect("a known agent");
        let login = api.login().expect("login");
        let filtered =
            filtered_pages(&api, &ChatFilters::default(), None).expect("get_filtered_chats");
        let archives = archive_pages(&api);
        let mut threads = Vec::new();
        for (chat_id, ids) in &touched {
            let chat_id = *chat_id;
            threads.push((
                chat_id,
                api.get_chat_threads(chat_id, ids),
                api.get_chat_threads_summary(chat_id, Pagination::default()),
            ));
        }
        answers.push((a, login, filtered, archives, threads));
    }
    let mut customer_answers = Vec::new();
    for c in 0..CUSTOMERS {
        let id = w.customers[c].clone();
        let Ok(api) = engine.as_customer(&id, clock) else {
            continue;
        };
        let mut pages = Vec::new();
        for offset in (0..=100).step_by(25) {
            let page = Pagination {
                offset: Some(offset),
                limit: Some(25),
            };
            let summary = api.get_chats_summary(page).expect("get_chats_summary");
            let done = summary.chats_summary.len() < 25;
            pages.push(summary);
            if done {
                break;
            }
        }
        let mut threads = Vec::new();
        for (chat_id, ids) in &touched {
            let chat_id = *chat_id;
            threads.push((
                chat_id,
                api.get_chat_threads(chat_id, ids),
                api.get_chat_threads_summary(chat_id, Pagination::default()),
            ));
        }
        customer_answers.push((c, pages, threads));
    }
    let w: &World = w;
    for (a, login, filtered, archives, threads) in answers {
        let me = &w.agents[a];
        let ctx = &(ctx, "sweep", me);
        check_login(w, me, &login, ctx);
        let ids: BTreeSet<ChatId> = filtered.iter().map(|s| s.id).collect();
        let expected = w.expected_filtered(a, &ChatFilters::default());
        assert_eq!(ids, expected, "get_filtered_chats for {me}: {ctx:?}");
        for s in &filtered {
            check_summary(w, me, Role::Agent, s, ctx);
        }
        let allowed = table_holds(w.levels[a], Grant::ChatsAllRead);
        match archives {
            Ok(pages) => {
                assert!(
                    allowed,
                    "get_archives for {me}, whose level does not hold chats--all:read: {ctx:?}"
                );
                check_archive_pages(w, a, &pages, ctx);
            }
            Err(e) => {
                assert!(!allowed, "get_archives for {me} refused: {e}: {ctx:?}");
                assert_eq!(e.kind(), ErrorKind::Authorization, "{e}: {ctx:?}");
            }
        }
        check_threads(w, me, Role::Agent, Some(w.levels[a]), threads, ctx);
    }
    for (c, pages, threads) in customer_answers {
        let me = &w.customers[c];
        let ctx = &(ctx, "sweep", me);
        let mut seen = BTreeSet::new();
        for page in &pages {
            assert_eq!(
                page.total_chats,
                w.engine.customer_chats(me).len(),
                "{ctx:?}"
            );
            for s in &page.chats_summary {
                assert!(seen.insert(s.id), "a chat on two pages: {ctx:?}");
                check_summary(w, me, Role::Customer, s, ctx);
            }
        }
        let own: BTreeSet<ChatId> = w.engine.customer_chats(me).iter().copied().collect();
        if own.len() <= 100 {
            assert_eq!(seen, own, "the chats in {me}'s summary: {ctx:?}");
        }
        check_threads(w, me, Role::Customer, None, threads, ctx);
    }
}

type ThreadAnswers = Vec<(
    ChatId,
    Result<ChatThreads, Error>,
    Result<ThreadsSummary, Error>,
)>;

/// `level`: an agent's permission. Reading a chat's threads takes seeing it and, for an agent,
/// `chats--all:read` or being in it (a waiting chat counts, to pick it up).
fn check_threads(
    w: &World,
    me: &UserId,
    role: Role,
    level: Option<Permission>,
    answers: ThreadAnswers,
    ctx: &dyn Debug,
) {
    for (chat_id, threads, summary) in answers {
        let chat = w.engine.chat(&chat_id).expect("a touched chat exists");
        let reads = level.is_none_or(|level| {
            table_holds(level, Grant::ChatsAllRead)
                || chat.agent_ids.contains(me)
                || chat.routing.waiting_since.is_some()
        });
        let sees = w.sees(me, role, chat) && reads;
        let ctx = &(ctx, chat_id);
        assert_eq!(
            threads.is_ok(),
            sees,
            "get_chat_threads by {role:?} {me} (may see: {sees}): {threads:?} {ctx:?}"
        );
        assert_eq!(
            summary.is_ok(),
            sees,
            "get_chat_threads_summary by {role:?} {me} (may see: {sees}): {ctx:?}"
        );
        if let Ok(r) = &threads {
            assert_eq!(r.threads.len(), chat.threads.len(), "{ctx:?}");
            check_chat_threads(w, me, role, r, ctx);
        }
        if let Ok(r) = &summary {
            check_threads_summary(w, role, chat_id, r, ctx);
        }
    }
}

// ----- running a scenario -----

/// What the property ran, printed with `--nocapture`: per operation, calls and successes.
static STATS: Mutex<BTreeMap<&'static str, [usize; 2]>> = Mutex::new(BTreeMap::new());
/// Refusals the model required, by reason.
static REFUSALS: Mutex<BTreeMap<&'static str, usize>> = Mutex::new(BTreeMap::new());
static PUSHES: Mutex<usize> = Mutex::new(0);
/// Archives checked, in `get_archives` responses and sweeps: the check is only as good as the
/// closed threads the cases reach.
static ARCHIVES: Mutex<usize> = Mutex::new(0);

fn count(name: &'static str, ok: bool) {
    let mut stats = STATS.lock().unwrap_or_else(|e| e.into_inner());
    let entry = stats.entry(name).or_default();
    entry[0] += 1;
    if ok {
        entry[1] += 1;
    }
}

fn run(s: &Scenario) {
    let mut w = World::new(s);
    let routed = s.router != 0;
    for (i, step) in s.steps.iter().enumerate().filter(|(_, s)| s.on) {
        w.clock = w.clock + step.dt;
        if let Op::Wait { secs } = step.op {
            w.clock = w.clock + secs;
        }
        // The host ticks whenever a deadline has come.
        if routed && w.engine.next_deadline().is_some_and(|d| d <= w.clock) {
            let before = w.engine.clone();
            let out = Outcome::host(w.engine.tick(w.clock).pushes);
            let ctx = &(i, "tick");
            check_pushes(&w, &before, &out, ctx);
            let touched = out.pushes.iter().filter_map(|p| p.kind.chat_id()).collect();
            sweep(&mut w, &touched, ctx);
            count("host tick", true);
        }
        let before = w.engine.clone();
        let out = run_op(&mut w, &step.op);
        let ctx = &(i, &step.op, &out.result.as_ref().err());
        count(step.op.name(), out.result.is_ok());
        *PUSHES.lock().unwrap_or_else(|e| e.into_inner()) += out.pushes.len();
        if !out.expect.must_fail.is_empty() {
            let mut refusals = REFUSALS.lock().unwrap_or_else(|e| e.into_inner());
            for why in &out.expect.must_fail {
                *refusals.entry(why).or_default() += 1;
            }
            drop(refusals);
            assert!(
                out.result.is_err(),
                "succeeded, but must be refused ({:?}): {ctx:?}",
                out.expect.must_fail
            );
        }
        if let Some(ok) = out.expect.exact {
            assert_eq!(
                out.result.is_ok(),
                ok,
                "the model says the call {} succeed: {ctx:?}",
                if ok { "should" } else { "should not" }
            );
        }
        if out.result.is_err() {
            assert!(out.pushes.is_empty(), "a refused call pushed: {ctx:?}");
            assert!(
                w.engine == before,
                "a refused call changed the engine: {ctx:?}"
            );
        }
        if out.read_only {
            assert!(
                w.engine == before,
                "a read-only call changed the engine: {ctx:?}"
            );
        }
        check_pushes(&w, &before, &out, ctx);
        check_reach(&w, &before, &out, ctx);
        check_response(&w, &out, ctx);
        let mut touched: BTreeSet<ChatId> =
            out.pushes.iter().filter_map(|p| p.kind.chat_id()).collect();
        touched.extend(out.chat.filter(|c| w.engine.chat(c).is_some()));
        if let Ok(Resp::ChatThread(ct)) = &out.result {
            touched.insert(ct.id);
        }
        sweep(&mut w, &touched, ctx);
    }
}

#[test]
fn nobody_sees_or_writes_what_it_may_not() {
    let cases = common::proptest_cases(DEFAULT_CASES).max(1);
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        // A case never drops below `MIN_OPS` steps, so shrinking turns steps off one by one
        // (`Step::on`): it needs more iterations than proptest's default.
        max_shrink_iters: 20_000,
        max_shrink_time: 300_000,
        ..ProptestConfig::default()
    });
    let result = runner.run(&scenario(), |s| {
        run(&s);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let stats = STATS.lock().unwrap_or_else(|e| e.into_inner());
    let ops: usize = stats
        .iter()
        .filter(|(name, _)| **name != "host tick")
        .map(|(_, [n, _])| n)
        .sum();
    // Host operations: presence changes and waits (ticks are not counted as operations).
    let host: usize = stats
        .iter()
        .filter(|(name, _)| name.starts_with("host") && **name != "host tick")
        .map(|(_, [n, _])| n)
        .sum();
    let pushes = *PUSHES.lock().unwrap_or_else(|e| e.into_inner());
    let archives = *ARCHIVES.lock().unwrap_or_else(|e| e.into_inner());
    println!(
        "{cases} cases, {ops} operations ({} API calls), {pushes} pushes and {archives} \
         archives checked",
        ops - host
    );
    for (name, [n, ok]) in stats.iter() {
        println!("  {name:40} {n:6} calls {ok:6} ok");
    }
    println!("refusals the model required:");
    for (why, n) in REFUSALS.lock().unwrap().iter() {
        println!("  {why:60} {n:6}");
    }
    if cases >= DEFAULT_CASES {
        assert!(ops >= 10_000, "only {ops} operations");
        // Every name `Op::name` gives, plus the host's ticks.
        assert_eq!(
            stats.len(),
            OP_NAMES + 1,
            "an operation never ran: {stats:?}"
        );
        for (name, [_, ok]) in stats.iter() {
            assert!(*ok > 0, "{name} never succeeded");
        }
    }
}

/// Whether a command changes what the model assumes fixed: the license's users, their groups
/// and permissions, and the property registry.
fn changes_the_model(command: &Command) -> bool {
    matches!(
        command,
        Command::Host(
            HostCommand::AddAgent(_)
                | HostCommand::AddCustomer(_)
                | HostCommand::CreateCustomer { .. }
                | HostCommand::UpdateAgentProfile { .. }
                | HostCommand::ConfigureProperty(_)
        ) | Command::Agent {
            command: AgentCommand::CreateProperties { .. } | AgentCommand::CreateBotAgent { .. },
            ..
        }
    )
}

/// What the checks of pushes and reach need to know of a command drawn from the alphabet:
/// who made it, who a multicast names, who a ban is for.
fn alphabet_outcome(command: &Command, result: Result<Output<Response>, Error>) -> Outcome {
    let (result, pushes) = match result {
        Ok(out) => (Ok(Resp::Unit), out.pushes),
        Err(err) => (Err(err), Vec::new()),
    };
    let mut out = Outcome {
        result,
        ..Outcome::host(pushes)
    };
    match command {
        Command::Agent { agent_id, command } => {
            out.requester = Some((agent_id.clone(), Role::Agent));
            match command {
                AgentCommand::Multicast { scopes, .. } => {
                    let mut told: BTreeSet<UserId> = AGENTS
                        .iter()
                        .filter(|(_, _, g)| {
                            scopes.all_agents || scopes.groups.contains(&GroupId(*g))
                        })
                        .map(|(id, _, _)| uid(id))
                        .collect();
                    told.extend(scopes.agent_ids.iter().cloned());
                    told.extend(scopes.customer_ids.iter().cloned());
                    out.multicast = Some(told);
                }
                AgentCommand::BanCustomer { customer_id, .. } => {
                    out.banned = Some(customer_id.clone());
                }
                _ => {}
            }
        }
        Command::Customer { customer_id, .. } => {
            out.requester = Some((customer_id.clone(), Role::Customer));
        }
        _ => {}
    }
    out
}

/// The shared operation alphabet (`chatio::testing::alphabet`) on the model's licenses: every
/// command either changes nothing or reaches only those the model says may see what it did,
/// and no push tells anyone what its role may not read.
#[test]
fn alphabet_commands_tell_nobody_what_they_may_not_see() {
    let cases = (common::proptest_cases(DEFAULT_CASES) / 2).max(1);
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = (scenario(), vec(vec(any::<u32>(), 16), 1..80));
    let result = runner.run(&strategy, |(s, steps)| {
        let mut w = World::new(&s);
        let mut pool = Pool::new(w.agents.clone(), w.customers.clone());
        for (i, choices) in steps.iter().enumerate() {
            pool.refresh(&w.engine);
            let command = alphabet::command(&pool, &mut Choices::new(&choices[1..]));
            if changes_the_model(&command) {
                continue;
            }
            w.clock = w.clock + i64::from(choices[0] % 600);
            let before = w.engine.clone();
            let result = w.engine.execute(w.clock, command.clone());
            let out = alphabet_outcome(&command, result);
            let ctx = &(i, &command, &out.result.as_ref().err());
            if out.result.is_err() {
                assert!(
                    w.engine == before,
                    "a refused command changed the engine: {ctx:?}"
                );
            }
            check_pushes(&w, &before, &out, ctx);
            check_reach(&w, &before, &out, ctx);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
