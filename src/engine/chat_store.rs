//! Where the engine keeps its chats: the chats, one cache line per chat with what a plain
//! message needs, and the license's log of messages not yet moved into their thread.
//!
//! In a license of a million chats, every memory access a request makes to its chat is a cache
//! miss, and on the machines we measure one miss costs more than a whole `send_event` in a small
//! license. A plain message used to make two dependent ones: the chat's slot (544 bytes, in an
//! array that spans half a gigabyte, so the page walk missed too) and then the tail of its
//! thread's event list. Here it makes one: it reads the chat's [`Hot`] record (64 bytes, in an
//! array of its own) and appends the event to the log, whose end is always in the cache. The
//! logged events of a chat reach its thread when something else touches the chat
//! ([`ChatStore::at_mut`]); until then, readers see them through [`ChatStore::view`].
//!
//! Which events are logged never shows: the logical content of a chat is its thread's events
//! followed by its logged ones, and equality, snapshots and every public accessor go by that.

use std::borrow::Cow;
use std::sync::Arc;

use crate::model::{Chat, ChatId, Event, Thread, ThreadId, UserId};

/// No logged event.
const NONE: u32 = u32::MAX;

/// The chats of a license, by slot.
#[derive(Clone, Debug)]
pub(crate) struct ChatStore {
    chats: Vec<Chat>,
    /// One per chat, same slot.
    hot: Vec<Hot>,
    /// Logged events, oldest first, each chained to its chat's previous one. An event moved
    /// into its thread leaves an empty entry behind until the log is compacted.
    log: Vec<Logged>,
    /// The entries of `log` still holding an event.
    live: usize,
    /// Whether messages may be logged at all; off for good once a router is set, and then the
    /// hot records are neither read nor kept, so a license with a router pays nothing for them.
    logging: bool,
    /// Turns the short path off, so tests can compare the two.
    #[cfg(test)]
    pub(crate) short_path_off: bool,
}

/// What a plain message reads and writes of its chat.
#[derive(Clone, Debug)]
#[repr(align(64))]
pub(crate) struct Hot {
    /// The chat's id: a request's id must match it.
    pub(crate) id: ChatId,
    /// The active thread, when `loggable`.
    pub(crate) thread_id: ThreadId,
    /// The chat's customer.
    pub(crate) customer: Option<UserId>,
    /// The chat's newest logged event, or [`NONE`].
    tail: u32,
    /// Whether a plain message may be logged: the chat's last thread is active and its scopes
    /// are empty (everyone may see it). Set from the chat by [`ChatStore::refresh`], cleared by
    /// every [`ChatStore::at_mut`], so a change to the chat can never leave it stale.
    pub(crate) loggable: bool,
}

/// The hot record's thread while the chat has no active thread.
const NO_THREAD: ThreadId = ThreadId::from_uuid(uuid::Uuid::nil());

impl Hot {
    fn of(chat: &Chat) -> Self {
        let (thread_id, loggable) = Hot::changing(chat);
        Hot {
            id: chat.id,
            thread_id,
            customer: chat.customer_id.clone(),
            tail: NONE,
            loggable,
        }
    }

    /// What of the record a change to the chat can alter: its active thread, and whether it
    /// takes plain messages.
    fn changing(chat: &Chat) -> (ThreadId, bool) {
        let active = chat.active_thread();
        let thread_id = active.map_or(NO_THREAD, |t| t.id);
        (thread_id, active.is_some() && chat.scopes.is_empty())
    }
}

#[derive(Clone, Debug)]
struct Logged {
    event: Option<Arc<Event>>,
    /// The chat's previous logged event, or [`NONE`].
    prev: u32,
    slot: u32,
}

impl Default for ChatStore {
    fn default() -> Self {
        Vec::new().into()
    }
}

impl From<Vec<Chat>> for ChatStore {
    fn from(chats: Vec<Chat>) -> Self {
        ChatStore {
            hot: chats.iter().map(Hot::of).collect(),
            chats,
            log: Vec::new(),
            live: 0,
            logging: true,
            #[cfg(test)]
            short_path_off: false,
        }
    }
}

impl ChatStore {
    /// The number of chats.
    pub(crate) fn len(&self) -> usize {
        self.chats.len()
    }

    /// The chat in `slot` as stored: its active thread may lack its logged events (and the
    /// `last_activity` they brought). For what a request checks; anything that reads events
    /// takes [`view`](Self::view).
    pub(crate) fn get(&self, slot: usize) -> Option<&Chat> {
        self.chats.get(slot)
    }

    /// [`get`](Self::get) of a slot known to exist.
    pub(crate) fn at(&self, slot: usize) -> &Chat {
        &self.chats[slot]
    }

    /// The chats as stored, for walks that read no events (see [`get`](Self::get)).
    pub(crate) fn stored(&self) -> &[Chat] {
        &self.chats
    }

    /// The chat in `slot`, to change: its logged events move into its thread first, and its
    /// hot record stops taking messages until [`refresh`](Self::refresh).
    #[inline]
    pub(crate) fn at_mut(&mut self, slot: usize) -> &mut Chat {
        if self.logging {
            self.settle(slot);
            self.hot[slot].loggable = false;
        }
        &mut self.chats[slot]
    }

    /// Adds a chat in the next slot.
    pub(crate) fn push(&mut self, chat: Chat) -> usize {
        let slot = self.chats.len();
        self.hot.push(Hot::of(&chat));
        self.chats.push(chat);
        slot
    }

    /// Sets the hot record of `slot` from its chat, after a change. A chat's id and customer
    /// never change, so only what can is read again (and the customer's id, which may be
    /// shared, is not copied on every ordinary send).
    pub(crate) fn refresh(&mut self, slot: usize) {
        if !self.logging {
            return;
        }
        let hot = &mut self.hot[slot];
        (hot.thread_id, hot.loggable) = Hot::changing(&self.chats[slot]);
    }

    /// The hot record of `slot`.
    pub(crate) fn hot(&self, slot: usize) -> &Hot {
        &self.hot[slot]
    }

    /// The hot record of `slot`, if a plain message may be logged there.
    pub(crate) fn loggable(&self, slot: usize) -> Option<&Hot> {
        // The log's indices are `u32`; a license that fills them takes the ordinary path.
        let room = self.logging && self.log.len() < NONE as usize;
        #[cfg(test)]
        let room = room && !self.short_path_off;
        self.hot.get(slot).filter(|h| h.loggable && room)
    }

    /// Logs `event` as the newest event of the active thread of `slot`, which
    /// [`loggable`](Self::loggable) allowed.
    pub(crate) fn log(&mut self, slot: usize, event: Arc<Event>) {
        let index = self.log.len() as u32;
        let hot = &mut self.hot[slot];
        self.log.push(Logged {
            event: Some(event),
            prev: hot.tail,
            slot: slot as u32,
        });
        hot.tail = index;
        self.live += 1;
    }

    /// The logged events of `slot`, oldest first.
    fn logged(&self, slot: usize) -> Vec<u32> {
        let mut chain = Vec::new();
        let mut at = self.hot[slot].tail;
        while at != NONE {
            chain.push(at);
            at = self.log[at as usize].prev;
        }
        chain.reverse();
        chain
    }

    /// The chat in `slot` with its logged events in its thread: the chat as every reader
    /// outside the send path sees it. Borrowed unless the chat has logged events.
    pub(crate) fn view(&self, slot: usize) -> Cow<'_, Chat> {
        if self.hot[slot].tail == NONE {
            return Cow::Borrowed(&self.chats[slot]);
        }
        let mut chat = self.chats[slot].clone();
        if let Some(thread) = chat.threads.last_mut() {
            for at in self.logged(slot) {
                if let Some(event) = &self.log[at as usize].event {
                    land(thread, Arc::clone(event));
                }
            }
        }
        Cow::Owned(chat)
    }

    /// Moves the logged events of `slot` into its thread, so that the chat as stored is the
    /// whole chat; it may still take messages.
    #[inline]
    pub(crate) fn settle(&mut self, slot: usize) {
        // Checked inline: every change to a chat comes through here, and most chats have
        // nothing logged.
        if self.logging && self.hot[slot].tail != NONE {
            self.flush(slot);
        }
    }

    /// Moves the logged events of `slot`, which has some, into its thread.
    #[inline(never)]
    fn flush(&mut self, slot: usize) {
        let chain = self.logged(slot);
        self.hot[slot].tail = NONE;
        let moved = chain.len();
        if let Some(thread) = self.chats[slot].threads.last_mut() {
            thread.events.reserve(chain.len());
            for at in chain {
                if let Some(event) = self.log[at as usize].event.take() {
                    land(thread, event);
                }
            }
        }
        self.live -= moved;
        self.reclaim();
    }

    /// Moves every logged event into its thread and logs no more: for a license with a
    /// router, which reads chats as stored.
    pub(crate) fn stop_logging(&mut self) {
        self.flush_all();
        self.logging = false;
    }

    /// Moves every logged event into its thread.
    fn flush_all(&mut self) {
        for entry in std::mem::take(&mut self.log) {
            let slot = entry.slot as usize;
            self.hot[slot].tail = NONE;
            if let (Some(event), Some(thread)) = (entry.event, self.chats[slot].threads.last_mut())
            {
                land(thread, event);
            }
        }
        self.live = 0;
    }

    /// Drops the log's empty entries once they outnumber the full ones, so a long-running
    /// license keeps about two entries per logged event at most. Each compaction walks the
    /// log once, and it takes as many moves as entries it drops to need another: constant work
    /// per event.
    fn reclaim(&mut self) {
        let empty = self.log.len() - self.live;
        if self.live == 0 {
            self.log.clear();
            return;
        }
        if empty < self.live.max(1 << 12) {
            return;
        }
        let mut moved_to = vec![NONE; self.log.len()];
        let mut kept = Vec::with_capacity(self.live * 2);
        for (at, mut entry) in std::mem::take(&mut self.log).into_iter().enumerate() {
            if entry.event.is_none() {
                continue;
            }
            let index = kept.len() as u32;
            moved_to[at] = index;
            if entry.prev != NONE {
                entry.prev = moved_to[entry.prev as usize];
            }
            // Entries are in order, so the last one of each chat becomes its tail.
            self.hot[entry.slot as usize].tail = index;
            kept.push(entry);
        }
        self.log = kept;
    }
}

/// Puts a logged event at the end of its thread, as the ordinary path would have: logged events
/// are messages, which count as activity (R4).
fn land(thread: &mut Thread, event: Arc<Event>) {
    thread.last_activity = event.timestamp;
    thread.events.push(event);
}

/// A chat as [`ChatStore::view`] shows it, small enough to collect for every chat of a large
/// license (a snapshot does): the stored chat, or a boxed copy with its logged events.
pub(crate) enum ChatView<'a> {
    Stored(&'a Chat),
    Merged(Box<Chat>),
}

impl std::borrow::Borrow<Chat> for ChatView<'_> {
    fn borrow(&self) -> &Chat {
        match self {
            ChatView::Stored(chat) => chat,
            ChatView::Merged(chat) => chat,
        }
    }
}

impl ChatStore {
    /// Every chat as [`view`](Self::view) shows it, collected.
    pub(crate) fn collect_views(&self) -> Vec<ChatView<'_>> {
        Chats::new(self)
            .iter()
            .map(|view| match view {
                Cow::Borrowed(chat) => ChatView::Stored(chat),
                Cow::Owned(chat) => ChatView::Merged(Box::new(chat)),
            })
            .collect()
    }
}

/// Every chat of a license, oldest first, as [`Engine::chats`](crate::Engine::chats) gives
/// them: each chat comes whole, like [`Engine::chat`](crate::Engine::chat) gives it.
///
/// ```
/// use chatio::{Engine, EngineConfig, NewEvent, StartChat, Timestamp};
/// let mut engine = Engine::new(EngineConfig::with_seed(1));
/// let customer = engine.create_customer();
/// let start = StartChat::default().with_event(NewEvent::message("hi"));
/// engine.as_customer(&customer, Timestamp::from_unix_seconds(1))?.start_chat(start)?;
/// let chats = engine.chats();
/// assert_eq!(chats.len(), 1);
/// assert_eq!(chats.get(0).map(|c| c.threads[0].events.len()), Some(1));
/// assert!(chats.iter().all(|c| c.is_active()));
/// # Ok::<(), chatio::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct Chats<'a>(&'a ChatStore);

impl<'a> Chats<'a> {
    pub(crate) fn new(store: &'a ChatStore) -> Self {
        Chats(store)
    }

    /// The number of chats.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the license has no chat.
    pub fn is_empty(&self) -> bool {
        self.0.len() == 0
    }

    /// The chat at `index`, counting from the oldest.
    pub fn get(&self, index: usize) -> Option<Cow<'a, Chat>> {
        (index < self.0.len()).then(|| self.0.view(index))
    }

    /// The chats, oldest first.
    pub fn iter(&self) -> ChatsIter<'a> {
        ChatsIter {
            store: self.0,
            slots: 0..self.0.len(),
        }
    }
}

impl<'a> IntoIterator for Chats<'a> {
    type Item = Cow<'a, Chat>;
    type IntoIter = ChatsIter<'a>;

    fn into_iter(self) -> ChatsIter<'a> {
        self.iter()
    }
}

/// The iterator of [`Chats::iter`].
#[derive(Clone)]
pub struct ChatsIter<'a> {
    store: &'a ChatStore,
    slots: std::ops::Range<usize>,
}

impl<'a> Iterator for ChatsIter<'a> {
    type Item = Cow<'a, Chat>;

    fn next(&mut self) -> Option<Cow<'a, Chat>> {
        self.slots.next().map(|slot| self.store.view(slot))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.slots.size_hint()
    }
}

impl DoubleEndedIterator for ChatsIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.slots.next_back().map(|slot| self.store.view(slot))
    }
}

impl ExactSizeIterator for ChatsIter<'_> {}

impl std::fmt::Debug for ChatsIter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatsIter")
            .field("remaining", &self.slots.len())
            .finish()
    }
}

impl std::fmt::Debug for Chats<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// `store[slot]` is [`ChatStore::at`]: the chat as stored.
impl std::ops::Index<usize> for ChatStore {
    type Output = Chat;

    fn index(&self, slot: usize) -> &Chat {
        self.at(slot)
    }
}

/// `&mut store[slot]` is [`ChatStore::at_mut`]: the logged events move in first.
impl std::ops::IndexMut<usize> for ChatStore {
    fn index_mut(&mut self, slot: usize) -> &mut Chat {
        self.at_mut(slot)
    }
}

/// Two stores are equal when their chats are, logged events included: where an event waits
/// is not part of the license.
impl PartialEq for ChatStore {
    fn eq(&self, other: &Self) -> bool {
        self.chats.len() == other.chats.len()
            && (0..self.chats.len()).all(|slot| self.view(slot) == other.view(slot))
    }
}

#[cfg(test)]
mod tests {
    //! The short path against the ordinary one: the same calls on two engines, one with the
    //! short path off, must give the same outputs, the same chats and the same snapshots.

    use std::sync::Arc;

    use proptest::prelude::*;

    use crate::model::{GroupId, Permission, Recipients, Scopes};
    use crate::routing::ManualRouter;
    use crate::{Agent, Engine, EngineConfig, NewEvent, StartChat, Timestamp, UserId};

    #[derive(Clone, Copy, Debug)]
    enum Who {
        Agent(usize),
        Customer(usize),
    }

    #[derive(Clone, Debug)]
    enum Op {
        StartChat(usize),
        AgentStartsChat(usize, usize),
        /// Who, which chat, which kind of event.
        Send(Who, usize, u8),
        Close(Who, usize),
        Join(usize, usize),
        Remove(usize, usize),
        Scope(usize, usize, bool),
        LastSeen(Who, usize),
        Threads(Who, usize),
        Summaries(usize, usize),
        Snapshot,
        Router,
    }

    fn who() -> impl Strategy<Value = Who> {
        prop_oneof![
            (0..3usize).prop_map(Who::Agent),
            (0..3usize).prop_map(Who::Customer)
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        let chat = 0..8usize;
        prop_oneof![
            4 => (0..3usize).prop_map(Op::StartChat),
            1 => (0..3usize, 0..3usize).prop_map(|(a, c)| Op::AgentStartsChat(a, c)),
            30 => (who(), chat.clone(), 0..6u8).prop_map(|(w, c, k)| Op::Send(w, c, k)),
            3 => (who(), chat.clone()).prop_map(|(w, c)| Op::Close(w, c)),
            2 => (0..3usize, chat.clone()).prop_map(|(a, c)| Op::Join(a, c)),
            2 => (0..3usize, chat.clone()).prop_map(|(a, c)| Op::Remove(a, c)),
            2 => (0..3usize, chat.clone(), any::<bool>()).prop_map(|(a, c, b)| Op::Scope(a, c, b)),
            2 => (who(), chat.clone()).prop_map(|(w, c)| Op::LastSeen(w, c)),
            4 => (who(), chat).prop_map(|(w, c)| Op::Threads(w, c)),
            2 => (0..3usize, 0..3usize).prop_map(|(a, c)| Op::Summaries(a, c)),
            1 => Just(Op::Snapshot),
            1 => Just(Op::Router),
        ]
    }

    struct Pair {
        engines: [Engine; 2],
        agents: Vec<UserId>,
        customers: Vec<UserId>,
        now: Timestamp,
    }

    fn pair() -> Pair {
        let mut engine = Engine::new(EngineConfig::with_seed(11).max_chats_per_customer(None));
        let levels = [
            Permission::Owner,
            Permission::Administrator,
            Permission::Normal,
        ];
        let mut agents = Vec::new();
        for (i, level) in levels.into_iter().enumerate() {
            let id = UserId::new(&format!("agent{i}@example.com")).expect("a valid id");
            let agent = Agent::new(id.clone(), format!("Agent {i}"))
                .with_permission(level)
                .with_groups([GroupId(i as u32 % 2)]);
            engine.add_agent(agent).expect("a new agent");
            agents.push(id);
        }
        let customers = (0..3).map(|_| engine.create_customer()).collect();
        let mut slow = engine.clone();
        slow.chats.short_path_off = true;
        Pair {
            engines: [engine, slow],
            agents,
            customers,
            now: Timestamp::from_unix_seconds(1_700_000_000),
        }
    }

    fn event(kind: u8, n: usize) -> NewEvent {
        match kind {
            0..=2 => NewEvent::message(format!("message {n}")),
            3 => NewEvent {
                recipients: Recipients::Agents,
                ..NewEvent::message(format!("note {n}"))
            },
            4 => NewEvent::annotation(format!("annotation {n}"), "rating"),
            _ => {
                NewEvent::message(format!("retry {}", n % 3)).with_custom_id(format!("c{}", n % 3))
            }
        }
    }

    impl Pair {
        /// Runs `op` on both engines and returns what each gave, as text.
        fn run(&mut self, op: &Op, n: usize) -> [String; 2] {
            self.now = self.now + 7;
            let mut shown = [String::new(), String::new()];
            for (engine, shown) in self.engines.iter_mut().zip(&mut shown) {
                *shown = step(engine, &self.agents, &self.customers, self.now, op, n);
            }
            shown
        }
    }

    fn step(
        e: &mut Engine,
        agents: &[UserId],
        customers: &[UserId],
        now: Timestamp,
        op: &Op,
        n: usize,
    ) -> String {
        let chat_id = |e: &Engine, i: usize| {
            let chats = e.chats();
            chats.get(i % chats.len().max(1)).map(|c| c.id)
        };
        macro_rules! as_who {
            ($who:expr, |$api:ident| $call:expr) => {
                match $who {
                    Who::Agent(a) => match e.as_agent(&agents[*a], now) {
                        #[allow(unused_mut)]
                        Ok(mut $api) => format!("{:?}", $call),
                        Err(err) => format!("{err:?}"),
                    },
                    Who::Customer(c) => match e.as_customer(&customers[*c], now) {
                        #[allow(unused_mut)]
                        Ok(mut $api) => format!("{:?}", $call),
                        Err(err) => format!("{err:?}"),
                    },
                }
            };
        }
        match op {
            Op::StartChat(c) => {
                let start = StartChat::default().with_event(NewEvent::message(format!("hi {n}")));
                match e.as_customer(&customers[*c], now) {
                    Ok(mut api) => format!("{:?}", api.start_chat(start)),
                    Err(err) => format!("{err:?}"),
                }
            }
            Op::AgentStartsChat(a, c) => {
                let start = StartChat::default().with_event(NewEvent::message(format!("hey {n}")));
                let customer = customers[*c].clone();
                match e.as_agent(&agents[*a], now) {
                    Ok(mut api) => format!("{:?}", api.start_chat(Some(customer), start)),
                    Err(err) => format!("{err:?}"),
                }
            }
            Op::Send(who, chat, kind) => {
                let Some(id) = chat_id(e, *chat) else {
                    return "no chat".into();
                };
                as_who!(who, |api| api.send_event(id, event(*kind, n)))
            }
            Op::Close(who, chat) => {
                let Some(id) = chat_id(e, *chat) else {
                    return "no chat".into();
                };
                as_who!(who, |api| api.close_thread(id))
            }
            Op::Join(a, chat) | Op::Remove(a, chat) => {
                let Some(id) = chat_id(e, *chat) else {
                    return "no chat".into();
                };
                let me = &agents[0];
                let them = std::slice::from_ref(&agents[*a]);
                match e.as_agent(me, now) {
                    Ok(mut api) if matches!(op, Op::Join(..)) => {
                        format!("{:?}", api.join_chat(id, them))
                    }
                    Ok(mut api) => format!("{:?}", api.remove_from_chat(id, them, &[])),
                    Err(err) => format!("{err:?}"),
                }
            }
            Op::Scope(a, chat, add) => {
                let Some(id) = chat_id(e, *chat) else {
                    return "no chat".into();
                };
                let scopes = Scopes {
                    groups: [GroupId(*a as u32 % 2)].into(),
                    ..Scopes::default()
                };
                let (add, remove) = if *add {
                    (scopes, Scopes::default())
                } else {
                    (Scopes::default(), scopes)
                };
                match e.as_agent(&agents[0], now) {
                    Ok(mut api) => format!("{:?}", api.update_chat_scopes(id, add, remove)),
                    Err(err) => format!("{err:?}"),
                }
            }
            Op::LastSeen(who, chat) => {
                let Some(id) = chat_id(e, *chat) else {
                    return "no chat".into();
                };
                as_who!(who, |api| api.update_last_seen_timestamp(id, None))
            }
            Op::Threads(who, chat) => {
                let Some(chat) = chat_id(e, *chat)
                    .and_then(|id| e.chat(&id))
                    .map(|c| c.into_owned())
                else {
                    return "no chat".into();
                };
                let threads: Vec<_> = chat.threads.iter().map(|t| t.id).collect();
                as_who!(who, |api| (
                    api.get_chat_threads(chat.id, &threads),
                    api.get_chat_threads_summary(chat.id, Default::default())
                ))
            }
            Op::Summaries(a, c) => {
                let agent = match e.as_agent(&agents[*a], now) {
                    Ok(api) => format!(
                        "{:?}",
                        (api.login(), api.get_filtered_chats(&Default::default()))
                    ),
                    Err(err) => format!("{err:?}"),
                };
                let customer = match e.as_customer(&customers[*c], now) {
                    Ok(api) => format!("{:?}", api.get_chats_summary(Default::default())),
                    Err(err) => format!("{err:?}"),
                };
                agent + &customer
            }
            Op::Snapshot => {
                let bytes = e.snapshot();
                let restored = Engine::restore(&bytes).expect("a snapshot restores");
                assert!(restored == *e, "a restored engine equals the live one");
                format!("{bytes:?}")
            }
            Op::Router => {
                e.set_router(Arc::new(ManualRouter));
                String::new()
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: crate::proptest_cases(256),
            ..ProptestConfig::default()
        })]

        #[test]
        fn the_short_path_gives_what_the_ordinary_path_gives(ops in prop::collection::vec(op(), 1..120)) {
            let mut pair = pair();
            for (n, op) in ops.iter().enumerate() {
                let [short, ordinary] = pair.run(op, n);
                prop_assert_eq!(short, ordinary, "step {} {:?}", n, op);
                let [a, b] = &pair.engines;
                prop_assert!(a == b, "the engines differ after step {} {:?}", n, op);
                prop_assert_eq!(format!("{:?}", a.chats()), format!("{:?}", b.chats()));
            }
        }
    }

    #[test]
    fn the_log_drops_moved_entries_and_keeps_the_rest_in_order() {
        let mut pair = pair();
        pair.run(&Op::StartChat(0), 0);
        pair.run(&Op::StartChat(1), 1);
        let send = |pair: &mut Pair, chat: usize, count: usize| {
            for n in 0..count {
                pair.run(&Op::Send(Who::Agent(0), chat, 0), n);
            }
        };
        send(&mut pair, 1, 3);
        send(&mut pair, 0, 5000);
        send(&mut pair, 1, 7);
        assert_eq!(pair.engines[0].chats.live, 5010);
        // The annotation moves the first chat's 5 000 messages: enough empty entries to
        // compact, which keeps the second chat's 10, linked as before.
        pair.run(&Op::Send(Who::Agent(0), 0, 4), 0);
        let store = &pair.engines[0].chats;
        assert_eq!((store.live, store.log.len()), (10, 10));
        let [short, ordinary] = &pair.engines;
        assert!(short == ordinary);
        let events = &short.chats().get(1).expect("a chat").threads[0].events;
        assert_eq!(events.len(), 11);
        assert!(events.windows(2).all(|w| w[0].order < w[1].order));
        send(&mut pair, 1, 2);
        let [short, ordinary] = &pair.engines;
        assert!(short == ordinary);
        assert_eq!(short.chats.live, 12);
    }

    #[test]
    fn a_router_ends_logging_for_good_and_a_restore_keeps_it_ended() {
        let mut pair = pair();
        pair.run(&Op::StartChat(0), 0);
        pair.run(&Op::Send(Who::Agent(0), 0, 0), 1);
        assert_eq!(pair.engines[0].chats.live, 1);
        pair.run(&Op::Router, 2);
        let short = &pair.engines[0];
        assert_eq!((short.chats.live, short.chats.logging), (0, false));
        assert_eq!(short.chats.at(0).threads[0].events.len(), 2);
        pair.run(&Op::Send(Who::Agent(0), 0, 0), 3);
        assert!(pair.engines[0].chats.log.is_empty());
        let restored = Engine::restore(&pair.engines[0].snapshot()).expect("restores");
        assert!(!restored.chats.logging);
        assert!(restored == pair.engines[0]);
    }

    #[test]
    fn a_hot_record_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<super::Hot>(), 64);
    }

    #[test]
    fn plain_messages_take_the_short_path_and_land_in_their_thread() {
        let mut pair = pair();
        let [short, _] = pair.run(&Op::StartChat(0), 0);
        assert!(short.contains("Ok"), "{short}");
        for n in 1..=5 {
            pair.run(&Op::Send(Who::Agent(0), 0, 0), n);
            pair.run(&Op::Send(Who::Customer(0), 0, 1), n);
        }
        let short = &pair.engines[0];
        assert_eq!(short.chats.live, 10, "ten messages wait in the log");
        let chat = short.chats().get(0).expect("a chat");
        assert_eq!(chat.threads[0].events.len(), 11);
        assert_eq!(
            chat.threads[0].last_activity,
            chat.threads[0].events[10].timestamp
        );
        // A command on the chat moves them into the thread, in order.
        pair.run(&Op::Send(Who::Agent(0), 0, 4), 6);
        let short = &pair.engines[0];
        assert_eq!(short.chats.live, 0);
        assert!(short.chats.log.is_empty());
        let thread = &short.chats.at(0).threads[0];
        assert_eq!(thread.events.len(), 12);
        assert!(thread.events.windows(2).all(|w| w[0].order < w[1].order));
    }
}
