//! What must hold after every step: the engine's invariants, and what each push may carry and
//! to whom. The model here is the test's own (scope rule, membership); only the property
//! registry the simulator configured is read back from the engine.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chatio::model::Location;
use chatio::query::{ChatSummary, ChatThreads};
use chatio::{
    Agent, Chat, ChatId, Engine, Event, EventId, Properties, Push, PushKind, Recipients, Role,
    Thread, ThreadId, Timestamp, UserId,
};

/// What the invariants carry from one step to the next.
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    /// The engine's time after the previous step: it never goes backwards.
    pub last_now: Timestamp,
    /// The largest order in the engine after the previous step, and how many ordered items
    /// (threads and events) there were: whatever a step adds has a larger order.
    pub max_order: u64,
    pub items: usize,
    /// Every event and thread id seen, and how many times `invariants` ran.
    pub event_ids: HashSet<EventId>,
    pub thread_ids: HashSet<ThreadId>,
    pub calls: u64,
    /// Chats assigned to each agent after the previous step: an agent at or over its
    /// `max_chats` (which a profile update can lower below its load) never gains one.
    pub assigned: BTreeMap<UserId, u32>,
}

/// An agent may see a chat it is in, or whose scopes name it or one of its groups; empty
/// scopes name every agent.
pub fn agent_may_see(agent: &Agent, chat: &Chat) -> bool {
    chat.agent_ids.contains(&agent.id) || scope_sees(agent, chat)
}

/// The scope rule alone, without membership.
pub fn scope_sees(agent: &Agent, chat: &Chat) -> bool {
    let s = &chat.scopes;
    s.is_empty()
        || s.agents.contains(&agent.id)
        || agent.groups.iter().any(|g| s.groups.contains(g))
}

/// Whether a user of `role` may see `chat`.
pub fn may_see(e: &Engine, user: &UserId, role: Role, chat: &Chat) -> bool {
    match role {
        Role::Customer => chat.customer_id.as_ref() == Some(user),
        Role::Agent => e.agent(user).is_some_and(|a| agent_may_see(a, chat)),
    }
}

// ----- engine invariants -----

/// What routing must guarantee in a run, given its history of routers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Guarantees {
    /// A router was set before the first chat: every active unassigned chat waits in the queue.
    pub queue_exact: bool,
    /// Moreover every router so far gives chats away by itself (automatic, least loaded, round
    /// robin): no chat waits while an agent who could take it is available.
    pub work_conserving: bool,
}

/// Every invariant of the engine as a whole, and what routing guarantees.
///
/// Uniqueness of ids is checked for the items a step added, against every id seen so far;
/// every `FULL_EVERY` calls (and when `full`) all ids are checked from scratch.
pub fn invariants(e: &Engine, t: &mut Tracker, g: Guarantees, full: bool) {
    let now = e.now();
    assert!(
        now >= t.last_now,
        "engine time went backwards: {:?} after {:?}",
        now,
        t.last_now
    );
    t.calls += 1;
    let full = full || t.calls.is_multiple_of(FULL_EVERY);
    let mut scan = Scan {
        orders: Vec::with_capacity(t.items + 16),
        events: Vec::new(),
        threads: Vec::new(),
        all: full,
        since: t.max_order,
    };
    // The license's limits hold of what it keeps.
    let limits = &e.config().limits;
    assert!(
        e.chats().len() <= limits.chats_per_license as usize,
        "{} chats, over chats_per_license {}",
        e.chats().len(),
        limits.chats_per_license
    );
    let mut chat_ids: BTreeSet<ChatId> = BTreeSet::new();
    for chat in e.chats() {
        assert!(
            chat.agent_ids.len() <= limits.agents_per_chat as usize,
            "chat {} has {} agents, over agents_per_chat {}",
            chat.id,
            chat.agent_ids.len(),
            limits.agents_per_chat
        );
        if full {
            // What cannot change once a chat exists, checked now and then.
            assert!(chat_ids.insert(chat.id), "chat {} listed twice", chat.id);
            assert!(
                e.chat(&chat.id).is_some_and(|c| *c == *chat),
                "chat {} cannot be looked up by its id",
                chat.id
            );
            if let Some(c) = &chat.customer_id {
                assert!(
                    e.customer_chats(c).contains(&chat.id),
                    "chat {} is missing from its customer's list",
                    chat.id
                );
            }
            for a in &chat.agent_ids {
                assert!(
                    e.agent(a).is_some(),
                    "chat {} has unknown agent {a}",
                    chat.id
                );
            }
        }
        chat_invariants(chat, now, &mut scan);
    }

    // Orders are unique across the license, and a step's new items come after everything older.
    let orders = &scan.orders;
    let max = orders.iter().copied().max().unwrap_or(0);
    let mut seen = vec![0u64; (max / 64 + 1) as usize];
    for &o in orders {
        let (word, bit) = ((o / 64) as usize, 1u64 << (o % 64));
        assert!(seen[word] & bit == 0, "order {o} used twice");
        seen[word] |= bit;
    }
    assert!(
        orders.len() >= t.items,
        "threads or events disappeared: {} before, {} now",
        t.items,
        orders.len()
    );
    let newer = orders.iter().filter(|&&o| o > t.max_order).count();
    assert_eq!(
        newer,
        orders.len() - t.items,
        "a new thread or event got an order below an older one (previous max {})",
        t.max_order
    );
    if full {
        t.event_ids.clear();
        t.thread_ids.clear();
    }
    for id in &scan.events {
        assert!(t.event_ids.insert(*id), "event id {id} used twice");
    }
    for id in &scan.threads {
        assert!(t.thread_ids.insert(*id), "thread id {id} used twice");
    }
    assert_eq!(
        t.event_ids.len() + t.thread_ids.len(),
        orders.len(),
        "ids and ordered items do not match"
    );
    t.last_now = now;
    t.max_order = max;
    t.items = orders.len();

    routing_invariants(e, g, t);
}

/// How often `invariants` checks every id from scratch.
const FULL_EVERY: u64 = 16;

/// What a scan of the chats collects.
struct Scan {
    orders: Vec<u64>,
    /// Ids of the items to check: all of them, or those with an order above `since`.
    events: Vec<EventId>,
    threads: Vec<ThreadId>,
    all: bool,
    since: u64,
}

fn chat_invariants(chat: &Chat, now: Timestamp, scan: &mut Scan) {
    let id = chat.id;
    // R1 and R2: at least one thread; at most one active, and only the last.
    assert!(!chat.threads.is_empty(), "chat {id} has no thread");
    let last = chat.threads.len() - 1;
    for (i, thread) in chat.threads.iter().enumerate() {
        assert!(
            !thread.active || i == last,
            "R1: chat {id} has active thread #{i} of {}",
            chat.threads.len()
        );
        assert_eq!(
            thread.active,
            thread.closed_at.is_none(),
            "chat {id} thread #{i}: active {} but closed_at {:?}",
            thread.active,
            thread.closed_at
        );
        // R3/R4: a thread after the first is started by an event, never by an annotation.
        if i > 0 {
            let first = thread.events.first();
            assert!(
                first.as_ref().is_some_and(|ev| !ev.kind.is_annotation()),
                "chat {id} thread #{i} was not started by an event: {:?}",
                first.map(|ev| ev.kind)
            );
        }
    }
    assert!(chat.created_at <= now, "chat {id} created in the future");
    let mut last_order = 0;
    let mut last_time = chat.created_at;
    for thread in &chat.threads {
        thread_order_and_time(chat, thread, now, &mut last_order, &mut last_time);
        scan.orders.push(thread.order);
        if scan.all || thread.order > scan.since {
            scan.threads.push(thread.id);
        }
        for ev in &thread.events {
            assert!(
                ev.order > last_order,
                "chat {id}: event order {} after {last_order}",
                ev.order
            );
            last_order = ev.order;
            scan.orders.push(ev.order);
            if scan.all || ev.order > scan.since {
                scan.events.push(ev.id);
            }
            assert!(
                ev.timestamp >= last_time && ev.timestamp <= now,
                "chat {id}: event at {:?} (previous {:?}, now {:?})",
                ev.timestamp,
                last_time,
                now
            );
            last_time = ev.timestamp;
        }
    }
    for (user, ts) in chat.last_seen.iter() {
        assert!(
            *ts <= now,
            "chat {id}: {user}'s last-seen time is in the future"
        );
    }
}

fn thread_order_and_time(
    chat: &Chat,
    thread: &Thread,
    now: Timestamp,
    last_order: &mut u64,
    last_time: &mut Timestamp,
) {
    assert!(
        thread.order > *last_order,
        "chat {}: thread order {} after {}",
        chat.id,
        thread.order,
        last_order
    );
    *last_order = thread.order;
    assert!(
        thread.timestamp >= *last_time && thread.timestamp <= now,
        "chat {}: thread {} starts at {:?} (previous {:?}, now {:?})",
        chat.id,
        thread.id,
        thread.timestamp,
        last_time,
        now
    );
    *last_time = thread.timestamp;
    if let Some(closed) = thread.closed_at {
        assert!(
            closed >= thread.timestamp && closed <= now,
            "chat {}: thread {} closed at {closed:?}",
            chat.id,
            thread.id
        );
    }
    assert!(
        thread.last_activity <= now,
        "chat {}: activity in the future",
        chat.id
    );
}

/// Capacity, assignees and the queue.
fn routing_invariants(e: &Engine, g: Guarantees, t: &mut Tracker) {
    let mut assigned: BTreeMap<UserId, u32> = BTreeMap::new();
    for chat in e.chats() {
        let r = &chat.routing;
        match &r.assignee {
            Some(a) => {
                assert!(
                    chat.agent_ids.contains(a),
                    "chat {} is assigned to {a}, who is not in it ({:?})",
                    chat.id,
                    chat.agent_ids
                );
                assert!(
                    chat.is_active(),
                    "chat {} is assigned to {a} without an active thread",
                    chat.id
                );
                assert!(
                    r.assigned_at.is_some() && r.waiting_since.is_none(),
                    "chat {} is assigned but has {r:?}",
                    chat.id
                );
                *assigned.entry(a.clone()).or_default() += 1;
            }
            None => assert!(
                r.assigned_at.is_none(),
                "chat {} is unassigned but has assigned_at",
                chat.id
            ),
        }
    }
    let mut counted = 0;
    for agent in e.agents() {
        let s = e
            .agent_status(&agent.id)
            .expect("a registered agent has a status");
        assert_eq!(
            s.max_chats, agent.max_chats,
            "{}: routing reports max_chats {} for an agent configured with {}",
            agent.id, s.max_chats, agent.max_chats
        );
        let n = assigned.get(&agent.id).copied().unwrap_or(0);
        let before = t.assigned.get(&agent.id).copied().unwrap_or(0);
        assert!(
            n <= s.max_chats || n <= before,
            "{} went from {before} to {n} assigned chats, over its max_chats {}",
            agent.id,
            s.max_chats
        );
        assert_eq!(
            s.load, n,
            "{}: routing reports load {} but {n} active chats are assigned to it",
            agent.id, s.load
        );
        counted += n;
    }
    assert_eq!(
        counted,
        assigned.values().sum::<u32>(),
        "chats assigned to unknown agents: {assigned:?}"
    );
    t.assigned = assigned.iter().map(|(id, n)| ((*id).clone(), *n)).collect();

    let queue: Vec<ChatId> = e.queue().collect();
    let queued: BTreeSet<ChatId> = queue.iter().copied().collect();
    assert_eq!(
        queued.len(),
        queue.len(),
        "a chat is queued twice: {queue:?}"
    );
    let mut previous = None;
    for id in &queue {
        let chat = e.chat(id).expect("a queued chat exists");
        assert!(
            chat.is_active() && chat.routing.assignee.is_none(),
            "queued chat {id} is {}",
            if chat.is_active() {
                "assigned"
            } else {
                "inactive"
            }
        );
        let since = chat.routing.waiting_since;
        assert!(
            since.is_some() && previous <= since,
            "queue out of order at {id}: {previous:?} then {since:?}"
        );
        previous = since;
    }
    for chat in e.chats() {
        if !queued.contains(&chat.id) {
            assert!(
                chat.routing.waiting_since.is_none(),
                "chat {} is not queued but has waiting_since",
                chat.id
            );
            // (Found by this simulator: a thread reopened by an agent's system message was
            // never routed.)
            assert!(
                !(g.queue_exact && chat.is_active() && chat.routing.assignee.is_none()),
                "chat {} has an active thread and no assignee but does not wait in the queue \
                 (a router was set before the first chat)",
                chat.id
            );
        }
    }
    // Work conservation: with the automatic routers, no chat waits while an agent who is
    // online, accepting, below its limit and allowed to see it exists, except the agent that
    // gave the chat up (`routing.declined_by`: the assignee who let a message go unanswered, or
    // left, with whoever left with it), and an agent outside a chat that holds as many agents
    // as the license allows (`Limits::agents_per_chat`).
    if g.work_conserving {
        let room = e.config().limits.agents_per_chat as usize;
        for id in &queue {
            let chat = e.chat(id).expect("a queued chat exists");
            for a in e.agents() {
                let s = e.agent_status(&a.id).expect("status");
                let full = chat.agent_ids.len() >= room && !chat.agent_ids.contains(&a.id);
                assert!(
                    chat.routing.declined_by.contains(&a.id)
                        || full
                        || !(s.is_available() && agent_may_see(a, chat)),
                    "chat {id} waits in the queue while {} could take it ({s:?}); scopes {:?}, \
                     agents {:?}",
                    a.id,
                    chat.scopes,
                    chat.agent_ids
                );
            }
        }
    }
}

/// Timers fired on time: the host has ticked through `at`, so no assigned chat is overdue. It
/// must have been moved on 5 minutes (the unseen timeout) after a customer message its assignee
/// neither saw nor answered, marked idle after 5 quiet minutes, and archived 25 (the inactivity
/// timeout) after that.
pub fn timers_on_time(e: &Engine, at: Timestamp) {
    let config = e.config();
    for chat in e.chats() {
        let (Some(t), Some(x), Some(assigned_at)) = (
            chat.active_thread(),
            chat.routing.assignee.as_ref(),
            chat.routing.assigned_at,
        ) else {
            continue;
        };
        let quiet = t.last_activity.max(assigned_at);
        let (limit, what) = if chat.routing.idle {
            (
                config.unseen_timeout + config.inactivity_timeout,
                "archived",
            )
        } else {
            (config.unseen_timeout, "marked idle or moved on")
        };
        assert!(
            at - quiet < limit,
            "chat {} was not {what} by {at:?}: quiet since {quiet:?} (assigned {assigned_at:?})",
            chat.id
        );
        let looked = chat.last_seen.get(x).copied();
        for m in t.events.iter().filter(|ev| {
            ev.author_id.is_some() && ev.author_id == chat.customer_id && !ev.kind.is_annotation()
        }) {
            let answered = t.events.iter().any(|ev| {
                ev.order > m.order && ev.author_id.as_ref() == Some(x) && !ev.kind.is_annotation()
            });
            assert!(
                at - m.timestamp.max(assigned_at) < config.unseen_timeout
                    || looked.is_some_and(|l| l >= m.timestamp)
                    || answered,
                "chat {}: the customer's message at {:?} is neither seen ({looked:?}) nor \
                 answered by {x} (assigned {assigned_at:?}) and the chat was not moved on by \
                 {at:?}",
                chat.id,
                m.timestamp
            );
        }
    }
}

// ----- pushes -----

/// What a step's pushes are checked against besides the engines.
#[derive(Clone, Debug, Default)]
pub struct PushCtx {
    /// Who made the request, if a user did.
    pub requester: Option<(UserId, Role)>,
    /// For a multicast: the agents and customers it was addressed to.
    pub multicast: Option<BTreeSet<UserId>>,
    /// For a ban: the banned customer.
    pub banned: Option<UserId>,
}

/// The agents in each chat before a step: the engine from before the step, or just its
/// members (cheaper to take than a clone).
pub enum Before<'a> {
    Engine(&'a Engine),
    Members(&'a HashMap<ChatId, Vec<UserId>>),
}

/// The agents in each chat.
pub fn members(e: &Engine) -> HashMap<ChatId, Vec<UserId>> {
    e.chats()
        .iter()
        .map(|c| (c.id, c.agent_ids.clone()))
        .collect()
}

/// Addressing and privacy of every push of one step.
pub fn pushes(before: &Before<'_>, after: &Engine, pushes: &[Push], ctx: &PushCtx) {
    // Who is in each chat at the moment of each push: before the step, then as the step's
    // `chat_users_updated` pushes say.
    let mut present: BTreeMap<ChatId, BTreeSet<UserId>> = BTreeMap::new();
    for push in pushes {
        assert!(!push.to.is_empty(), "a push to nobody: {push:?}");
        let distinct: BTreeSet<&UserId> = push.to.iter().collect();
        assert_eq!(
            distinct.len(),
            push.to.len(),
            "a user twice in a push: {push:?}"
        );
        for (props, loc) in push_properties(&push.kind) {
            readable(after, &props, loc, push.role, push);
        }
        refers_to_real_things(after, push);
        match push.role {
            Role::Customer => customer_push(after, push, ctx),
            Role::Agent => {
                for u in &push.to {
                    assert!(
                        after.agent(u).is_some(),
                        "agents' push to non-agent {u}: {push:?}"
                    );
                }
                if let Some(chat_id) = push.kind.chat_id() {
                    let members = present
                        .entry(chat_id)
                        .or_insert_with(|| initial_members(before, chat_id, ctx));
                    agent_push(after, push, chat_id, members);
                }
                if let PushKind::IncomingMulticast { .. } = &push.kind {
                    let told = ctx
                        .multicast
                        .as_ref()
                        .expect("a multicast comes from a multicast");
                    for u in &push.to {
                        assert!(
                            told.contains(u),
                            "multicast to {u}, not addressed: {push:?}"
                        );
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
                .or_insert_with(|| initial_members(before, *chat_id, ctx));
            for u in added {
                members.insert(u.id().clone());
            }
            for u in removed_ids {
                members.remove(u);
            }
        }
    }
}

/// What a push names exists, as the push says.
fn refers_to_real_things(after: &Engine, push: &Push) {
    let chat = push.kind.chat_id().map(|id| {
        after
            .chat(&id)
            .unwrap_or_else(|| panic!("a push about unknown chat {id}: {push:?}"))
    });
    let thread = |id: &ThreadId| {
        chat.and_then(|c| c.thread(id))
            .unwrap_or_else(|| panic!("a push about unknown thread {id}: {push:?}"))
    };
    match &push.kind {
        PushKind::IncomingChatThread { chat: view } => {
            let t = thread(&view.thread.id);
            assert_eq!(
                t.order, view.thread.order,
                "a pushed thread's order: {push:?}"
            );
            for ev in &view.thread.events {
                let stored = t.events.iter().find(|e| e.id == ev.id);
                assert!(
                    stored.is_some_and(|s| s.order == ev.order && s.timestamp == ev.timestamp),
                    "a pushed event that is not stored as pushed: {push:?}"
                );
            }
        }
        PushKind::IncomingEvent {
            thread_id, event, ..
        } => {
            let stored = thread(thread_id).events.iter().find(|e| e.id == event.id);
            assert!(
                stored.is_some_and(|s| s.order == event.order && s.author_id == event.author_id),
                "a pushed event that is not stored as pushed: {push:?}"
            );
        }
        PushKind::ThreadClosed { thread_id, .. } => {
            // Closed by this step; a later event of the same step may have started another.
            assert!(
                !thread(thread_id).active,
                "thread_closed about an active thread: {push:?}"
            );
        }
        PushKind::ChatThreadPropertiesUpdated { thread_id, .. }
        | PushKind::IncomingRichMessagePostback { thread_id, .. } => {
            thread(thread_id);
        }
        PushKind::AgentUpdated { agent_id, .. } => {
            assert!(
                after.agent(agent_id).is_some(),
                "agent_updated about nobody: {push:?}"
            );
        }
        PushKind::CustomerBanned { customer_id, .. } => {
            assert!(
                after.customer(customer_id).is_some(),
                "customer_banned about nobody: {push:?}"
            );
        }
        _ => {}
    }
}

fn initial_members(before: &Before<'_>, chat_id: ChatId, ctx: &PushCtx) -> BTreeSet<UserId> {
    let chat = match before {
        Before::Engine(e) => e.chat(&chat_id),
        Before::Members(_) => None,
    };
    let agents = match before {
        Before::Engine(_) => chat.map(|c| c.agent_ids.as_slice()),
        Before::Members(m) => m.get(&chat_id).map(Vec::as_slice),
    };
    match agents {
        Some(agents) => agents.iter().cloned().collect(),
        // A chat the step started: an agent who starts a chat is in it.
        None => ctx
            .requester
            .iter()
            .filter(|(_, role)| *role == Role::Agent)
            .map(|(id, _)| id.clone())
            .collect(),
    }
}

fn agent_push(after: &Engine, push: &Push, chat_id: ChatId, members: &BTreeSet<UserId>) {
    let chat = after.chat(&chat_id).expect("a push about a real chat");
    for u in &push.to {
        let agent = after.agent(u).expect("an agent");
        let told_of_removal = matches!(
            &push.kind,
            PushKind::ChatUsersUpdated { removed_ids, .. } if removed_ids.contains(u)
        );
        if let PushKind::ChatScopesUpdated { .. } = &push.kind {
            assert!(
                agent_may_see(agent, chat),
                "agent {u} told of a scope change to chat {chat_id} it no longer sees: {push:?}"
            );
        }
        assert!(
            scope_sees(agent, chat) || members.contains(u) || told_of_removal,
            "agent {u} told about chat {chat_id}, outside its scopes and not in it: {push:?}"
        );
    }
}

fn customer_push(after: &Engine, push: &Push, ctx: &PushCtx) {
    for u in &push.to {
        assert!(
            after.customer(u).is_some() && after.agent(u).is_none(),
            "customers' push to non-customer {u}: {push:?}"
        );
    }
    match &push.kind {
        PushKind::IncomingSneakPeek { .. } => panic!("a sneak peek pushed to a customer: {push:?}"),
        PushKind::AgentUpdated { .. } | PushKind::CustomerBanned { .. } => {
            panic!("an agents' notice pushed to a customer: {push:?}")
        }
        PushKind::IncomingTypingIndicator {
            typing_indicator, ..
        } => assert_eq!(
            typing_indicator.recipients,
            Recipients::All,
            "an agents-only typing indicator pushed to a customer: {push:?}"
        ),
        PushKind::IncomingMulticast { .. } => {
            let told = ctx
                .multicast
                .as_ref()
                .expect("a multicast comes from a multicast");
            for u in &push.to {
                assert!(
                    told.contains(u),
                    "multicast to {u}, not addressed: {push:?}"
                );
            }
        }
        PushKind::CustomerDisconnected { .. } => {
            for u in &push.to {
                assert_eq!(
                    ctx.banned.as_ref(),
                    Some(u),
                    "customer_disconnected to a customer not banned: {push:?}"
                );
            }
        }
        PushKind::IncomingRichMessagePostback {
            chat_id,
            thread_id,
            event_id,
            ..
        } => {
            let chat = after.chat(chat_id);
            let event = chat
                .and_then(|c| c.thread(thread_id))
                .and_then(|t| t.events.iter().find(|e| e.id == *event_id))
                .expect("a postback on a real event");
            assert!(
                event.visible_to(Role::Customer),
                "a postback on an agents-only event pushed to a customer: {push:?}"
            );
        }
        _ => {}
    }
    for event in push.kind.events() {
        assert!(
            event.visible_to(Role::Customer),
            "an agents-only event pushed to a customer: {push:?}"
        );
    }
    if let Some(chat_id) = push.kind.chat_id() {
        let chat = after.chat(&chat_id).expect("a push about a real chat");
        for u in &push.to {
            assert_eq!(
                chat.customer_id.as_ref(),
                Some(u),
                "customer {u} told about chat {chat_id}, which is not theirs: {push:?}"
            );
        }
    }
}

/// The properties a push carries, with where each set lives.
fn push_properties(kind: &PushKind) -> Vec<(Properties, Location)> {
    match kind {
        PushKind::IncomingChatThread { chat } => {
            let mut v = vec![
                (chat.properties.clone(), Location::Chat),
                ((*chat.thread.properties).clone(), Location::Thread),
            ];
            v.extend(
                chat.thread
                    .events
                    .iter()
                    .map(|e| (e.properties, Location::Event)),
            );
            v
        }
        PushKind::IncomingEvent { event, .. } => vec![(event.properties.clone(), Location::Event)],
        PushKind::ChatPropertiesUpdated { properties, .. } => {
            assert!(
                !properties.is_empty(),
                "an empty chat_properties_updated: {kind:?}"
            );
            vec![(properties.clone(), Location::Chat)]
        }
        PushKind::ChatThreadPropertiesUpdated { properties, .. } => {
            assert!(
                !properties.is_empty(),
                "an empty chat_thread_properties_updated: {kind:?}"
            );
            vec![(properties.clone(), Location::Thread)]
        }
        _ => Vec::new(),
    }
}

/// Every property in `props` is one `role` may read at `loc`.
pub fn readable(
    e: &Engine,
    props: &Properties,
    loc: Location,
    role: Role,
    ctx: &dyn std::fmt::Debug,
) {
    let registry = e.property_registry();
    for (namespace, values) in props {
        for name in values.keys() {
            assert!(
                registry.readable(namespace, name, loc, role),
                "{role:?} shown {namespace}.{name} at {loc:?}, which it may not read: {ctx:?}"
            );
        }
    }
}

// ----- what queries and responses show -----

/// A thread as `role` is shown it: only events meant for the role, only readable properties.
/// What `get_chat_threads` showed: only properties and events the role may read.
pub fn shown_chat_threads(e: &Engine, role: Role, threads: &ChatThreads, chat: &ChatId) {
    readable(e, &threads.properties, Location::Chat, role, chat);
    for th in &threads.threads {
        shown_thread(e, role, th, chat);
    }
}

pub fn shown_thread(e: &Engine, role: Role, thread: &Thread, ctx: &dyn std::fmt::Debug) {
    readable(e, &thread.properties, Location::Thread, role, ctx);
    for ev in &thread.events {
        shown_event(e, role, &ev, ctx);
    }
}

pub fn shown_event(e: &Engine, role: Role, ev: &Event, ctx: &dyn std::fmt::Debug) {
    assert!(
        ev.visible_to(role),
        "{role:?} shown an event not meant for it: {ctx:?}"
    );
    readable(e, &ev.properties, Location::Event, role, ctx);
}

/// A chat summary shown to `me`: about a chat it may see, with what its role may see.
pub fn shown_summary(e: &Engine, me: &UserId, role: Role, s: &ChatSummary) {
    let chat = e.chat(&s.id).expect("a summary of a real chat");
    assert!(
        may_see(e, me, role, chat),
        "{me} shown a summary of chat {}, which it may not see",
        s.id
    );
    readable(e, &s.properties, Location::Chat, role, &s.id);
    for last in s.last_event_per_type.values() {
        shown_event(e, role, &last.event, &s.id);
    }
    if let Some(t) = &s.last_thread_summary {
        readable(e, &t.properties, Location::Thread, role, &s.id);
    }
}

// ----- explaining a difference between two engines -----

/// A readable account of where two engines differ, as far as the public API shows it.
pub fn explain(a: &Engine, b: &Engine) -> String {
    let mut out = Vec::new();
    let mut field = |name: &str, x: String, y: String| {
        if x != y {
            out.push(format!("{name}: {} vs {}", cut(&x), cut(&y)));
        }
    };
    // The license lives there: a restore that lost it is told apart from the rest.
    field(
        "config",
        format!("{:?}", a.config()),
        format!("{:?}", b.config()),
    );
    field("now", format!("{:?}", a.now()), format!("{:?}", b.now()));
    field(
        "journal_seq",
        a.journal_seq().to_string(),
        b.journal_seq().to_string(),
    );
    field(
        "next_deadline",
        format!("{:?}", a.next_deadline()),
        format!("{:?}", b.next_deadline()),
    );
    field(
        "router",
        format!("{:?}", a.router().map(|r| r.name().to_owned())),
        format!("{:?}", b.router().map(|r| r.name().to_owned())),
    );
    field(
        "agents",
        format!("{:?}", a.agents()),
        format!("{:?}", b.agents()),
    );
    for agent in a.agents() {
        field(
            &format!("status of {}", agent.id),
            format!("{:?}", a.agent_status(&agent.id)),
            format!("{:?}", b.agent_status(&agent.id)),
        );
    }
    field(
        "queue",
        format!("{:?}", a.queue().collect::<Vec<_>>()),
        format!("{:?}", b.queue().collect::<Vec<_>>()),
    );
    field(
        "chat count",
        a.chats().len().to_string(),
        b.chats().len().to_string(),
    );
    for (i, (x, y)) in a.chats().iter().zip(b.chats()).enumerate() {
        if x != y {
            field(&format!("chat #{i}"), format!("{x:?}"), format!("{y:?}"));
            break;
        }
    }
    for chat in a.chats() {
        if let Some(c) = &chat.customer_id {
            field(
                &format!("customer {c}"),
                format!("{:?}", a.customer(c)),
                format!("{:?}", b.customer(c)),
            );
        }
    }
    field(
        "properties",
        format!("{:?}", a.property_registry()),
        format!("{:?}", b.property_registry()),
    );
    if out.is_empty() {
        "they differ only in what the public API does not show (id generator, counters, \
         timers, customers without chats, auto chat scopes, ...)"
            .into()
    } else {
        out.join("\n  ")
    }
}

fn cut(s: &str) -> String {
    const MAX: usize = 4000;
    if s.len() <= MAX {
        s.to_owned()
    } else {
        let mut end = MAX;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}… ({} bytes)", &s[..end], s.len())
    }
}

/// Panics with `what` and an account of the difference unless the engines are equal.
#[track_caller]
pub fn same(actual: &Engine, expected: &Engine, what: &str) {
    if actual != expected {
        panic!("{what}:\n  {}", explain(actual, expected));
    }
}
