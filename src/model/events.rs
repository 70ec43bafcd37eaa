//! `Events`: the events of a thread, packed into one buffer.
//!
//! A license keeps every event it ever accepted, so the bytes per event decide how much history
//! fits in memory. An `Arc<Event>` per event cost about 300 bytes for a 50-byte message (the
//! struct, its text and `custom_id` in allocations of their own, a pointer in the thread's
//! list); packed, the same message takes its text, its `custom_id`, its 16-byte id and a few
//! bytes of varints, back to back in the thread's buffer, with no allocation of its own.
//!
//! The kinds nearly every event has (messages, annotations, system messages) without
//! properties are packed field by field; any other event (files, forms, custom and rich
//! messages, or any event with properties) is kept whole, behind its packed head. Reading
//! unpacks: [`Events::get`] and [`Events::iter`] give owned [`Event`]s.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Event, EventId, EventKind, Properties, Recipients, Role, Timestamp, UserId};
use crate::varint::{self, Reader};

/// The bits of a record's first byte.
mod bits {
    /// Two bits: one of the four kinds below.
    pub(super) const KIND: u8 = 0b11;
    pub(super) const MESSAGE: u8 = 0;
    pub(super) const ANNOTATION: u8 = 1;
    pub(super) const SYSTEM_MESSAGE: u8 = 2;
    /// Kept whole in `Events::whole`; its number follows the head.
    pub(super) const WHOLE: u8 = 3;
    pub(super) const AGENTS_ONLY: u8 = 1 << 2;
    /// A sender number follows.
    pub(super) const SENDER: u8 = 1 << 3;
    /// A `custom_id` follows.
    pub(super) const CUSTOM_ID: u8 = 1 << 4;
    /// A system message's `system_message_type` follows its text.
    pub(super) const SYSTEM_MESSAGE_TYPE: u8 = 1 << 5;
}

/// The events of a thread, in order, packed (see the module docs).
///
/// ```
/// use chatio::model::Events;
/// use chatio::{Engine, EngineConfig, NewEvent, StartChat, Timestamp};
/// let mut engine = Engine::new(EngineConfig::with_seed(1));
/// let jan = engine.create_customer();
/// let start = StartChat::default().with_event(NewEvent::message("Hi!"));
/// let chat = engine.as_customer(&jan, Timestamp::from_unix_seconds(1))?.start_chat(start)?;
/// let events: &Events = &engine.chat(&chat.response.id).unwrap().threads[0].events;
/// assert_eq!(events.len(), 1);
/// assert_eq!(events.get(0).unwrap().author_id, Some(jan));
/// # Ok::<(), chatio::Error>(())
/// ```
// Laid out in the order a send reads it (see `Chat`).
#[derive(Default)]
#[repr(C)]
pub struct Events {
    /// One packed record per event, each in an allocation of its own (see [`Events::push`]).
    records: Records,
    /// The thread's people: its users (who were in the chat while it was active) and whoever
    /// else sent one of its events, numbered in order of first appearance; records name their
    /// sender by this number. The first two (a customer and an agent, in most threads) inline,
    /// so that a send finds its number without reading memory of its own, and the thread's
    /// users are not kept a second time.
    people: [Option<UserId>; 2],
    /// The first event's order and time: records store theirs as differences from these.
    base_order: u64,
    base_time: i64,
    /// For each of `people`: 0 if not a user of the thread, else its place among the users,
    /// from 1 (the order `Thread::user_ids` gives).
    ranks: [u32; 2],
    /// How many users the thread has.
    users: u32,
    /// Rarer parts: people after the first two, and events kept whole. Boxed, as most threads
    /// have neither.
    extras: Option<Box<Extras>>,
}

/// The records of a thread: the newest in the thread itself, the others in a list.
///
/// In a large license the chat a send writes to was last touched long ago, and so was the end
/// of its thread's list: writing there is a cache miss of its own, on top of the chat's, and
/// the atomic reference counts of the send's pushes wait for it. The newest records are kept
/// inline, next to the rest of the chat, and move to the list together when there is no more
/// room, which makes that miss one send's in [`RECENT`] instead of every send's. A thread of
/// one or two events needs no list at all.
#[derive(Default)]
#[repr(C)]
struct Records {
    /// The newest records, oldest first; the ones in use come first.
    recent: [Option<Box<[u8]>>; RECENT],
    /// Every record but the newest few, oldest first.
    settled: Vec<Box<[u8]>>,
}

/// Records kept inline.
const RECENT: usize = 2;

impl Records {
    fn recent_len(&self) -> usize {
        self.recent.iter().take_while(|r| r.is_some()).count()
    }

    fn len(&self) -> usize {
        self.settled.len() + self.recent_len()
    }

    fn is_empty(&self) -> bool {
        self.settled.is_empty() && self.recent[0].is_none()
    }

    fn get(&self, index: usize) -> Option<&[u8]> {
        match self.settled.get(index) {
            Some(record) => Some(record),
            None => self.recent.get(index - self.settled.len())?.as_deref(),
        }
    }

    fn last(&self) -> Option<&[u8]> {
        self.len().checked_sub(1).and_then(|i| self.get(i))
    }

    fn push(&mut self, record: Box<[u8]>) {
        if self.recent_len() == RECENT {
            if self.settled.capacity() - self.settled.len() < RECENT {
                // Doubling, from the first move: a reallocation frees the old list, and in a
                // license of a million chats those frees and the allocator's sorting of them
                // cost more than the send itself when they came every few events.
                self.settled.reserve_exact(self.settled.len().max(RECENT));
            }
            self.settled
                .extend(self.recent.iter_mut().filter_map(Option::take));
        }
        let free = self.recent.iter_mut().find(|r| r.is_none());
        if let Some(free) = free {
            *free = Some(record);
        }
    }

    #[cfg(test)]
    fn spare(&self) -> usize {
        self.settled.capacity() - self.settled.len() + RECENT - self.recent_len()
    }

    fn shrink_to_fit(&mut self) {
        self.settled.shrink_to_fit();
    }
}

/// A clone keeps the list's spare room (see `Events`' `Clone`).
impl Clone for Records {
    fn clone(&self) -> Self {
        let mut settled = Vec::with_capacity(self.settled.capacity());
        settled.extend(self.settled.iter().cloned());
        Records {
            settled,
            recent: self.recent.clone(),
        }
    }
}

/// See [`Events::extras`].
#[derive(Clone, Debug, Default)]
struct Extras {
    /// People after the first two, with their rank as in `Events::ranks`.
    people: Vec<(UserId, u32)>,
    whole: Vec<Arc<Event>>,
}

/// A packed event, borrowed: what the engine reads of stored events without unpacking them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EventRef<'a> {
    pub(crate) id: EventId,
    pub(crate) order: u64,
    pub(crate) timestamp: Timestamp,
    pub(crate) recipients: Recipients,
    /// Who sent it: the author, except that a system message has no author but may have had
    /// a sender (an agent), kept when it came with a `custom_id`, for idempotent retries.
    pub(crate) sender: Option<&'a UserId>,
    pub(crate) custom_id: Option<&'a str>,
    pub(crate) kind: KindRef<'a>,
}

/// The content of an [`EventRef`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum KindRef<'a> {
    Message(&'a str),
    Annotation {
        text: &'a str,
        annotation_type: &'a str,
    },
    SystemMessage {
        text: &'a str,
        system_message_type: Option<&'a str>,
    },
    Whole(&'a Arc<Event>),
}

/// Properties of every packed event.
static NO_PROPERTIES: Properties = Properties::new();

impl<'a> EventRef<'a> {
    /// The author: the sender, except for system messages, which have none.
    pub(crate) fn author(&self) -> Option<&'a UserId> {
        match self.kind {
            KindRef::SystemMessage { .. } => None,
            KindRef::Whole(event) => event.author_id.as_ref(),
            _ => self.sender,
        }
    }

    /// The protocol's name for the event's kind (`message`, `annotation`, ...).
    pub(crate) fn type_name(&self) -> &'static str {
        match self.kind {
            KindRef::Message(_) => "message",
            KindRef::Annotation { .. } => "annotation",
            KindRef::SystemMessage { .. } => "system_message",
            KindRef::Whole(event) => event.kind.type_name(),
        }
    }

    /// The text of a message, annotation or system message.
    pub(crate) fn text(&self) -> Option<&'a str> {
        match self.kind {
            KindRef::Message(text)
            | KindRef::Annotation { text, .. }
            | KindRef::SystemMessage { text, .. } => Some(text),
            KindRef::Whole(event) => match &event.kind {
                EventKind::Message { text }
                | EventKind::Annotation { text, .. }
                | EventKind::SystemMessage { text, .. } => Some(text),
                _ => None,
            },
        }
    }

    /// True if a user of `role` may see the event.
    pub(crate) fn visible_to(&self, role: Role) -> bool {
        self.recipients.reaches(role)
    }

    pub(crate) fn is_annotation(&self) -> bool {
        match self.kind {
            KindRef::Annotation { .. } => true,
            KindRef::Whole(event) => event.kind.is_annotation(),
            _ => false,
        }
    }

    pub(crate) fn is_system_message(&self) -> bool {
        match self.kind {
            KindRef::SystemMessage { .. } => true,
            KindRef::Whole(event) => matches!(event.kind, EventKind::SystemMessage { .. }),
            _ => false,
        }
    }

    /// See [`EventKind::counts_as_activity`].
    pub(crate) fn counts_as_activity(&self) -> bool {
        !self.is_annotation() && !self.is_system_message()
    }

    pub(crate) fn properties(&self) -> &'a Properties {
        match self.kind {
            KindRef::Whole(event) => &event.properties,
            _ => &NO_PROPERTIES,
        }
    }

    /// The event, unpacked.
    pub(crate) fn to_event(self) -> Event {
        let kind = match self.kind {
            KindRef::Whole(event) => return Event::clone(event),
            KindRef::Message(text) => EventKind::Message { text: text.into() },
            KindRef::Annotation {
                text,
                annotation_type,
            } => EventKind::Annotation {
                text: text.into(),
                annotation_type: annotation_type.into(),
            },
            KindRef::SystemMessage {
                text,
                system_message_type,
            } => EventKind::SystemMessage {
                text: text.into(),
                system_message_type: system_message_type.map(Into::into),
            },
        };
        Event {
            id: self.id,
            custom_id: self.custom_id.map(Into::into),
            order: self.order,
            author_id: self.author().cloned(),
            timestamp: self.timestamp,
            recipients: self.recipients,
            properties: Properties::new(),
            kind,
        }
    }

    /// Whether two stored events are the same event (the sender of a system message, which
    /// no reader sees, aside).
    fn same(&self, other: &EventRef<'_>) -> bool {
        match (self.kind, other.kind) {
            (KindRef::Whole(a), KindRef::Whole(b)) => a == b,
            (KindRef::Whole(_), _) | (_, KindRef::Whole(_)) => false,
            (a, b) => {
                self.id == other.id
                    && self.order == other.order
                    && self.timestamp == other.timestamp
                    && self.recipients == other.recipients
                    && self.author() == other.author()
                    && self.custom_id == other.custom_id
                    && kinds_equal(a, b)
            }
        }
    }
}

fn kinds_equal(a: KindRef<'_>, b: KindRef<'_>) -> bool {
    match (a, b) {
        (KindRef::Message(a), KindRef::Message(b)) => a == b,
        (
            KindRef::Annotation {
                text: a,
                annotation_type: at,
            },
            KindRef::Annotation {
                text: b,
                annotation_type: bt,
            },
        ) => a == b && at == bt,
        (
            KindRef::SystemMessage {
                text: a,
                system_message_type: at,
            },
            KindRef::SystemMessage {
                text: b,
                system_message_type: bt,
            },
        ) => a == b && at == bt,
        _ => false,
    }
}

impl Events {
    /// No events.
    pub const fn new() -> Self {
        Events {
            records: Records {
                settled: Vec::new(),
                recent: [None, None],
            },
            people: [None, None],
            ranks: [0, 0],
            users: 0,
            extras: None,
            base_order: 0,
            base_time: 0,
        }
    }

    /// The number of events.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The event at `index`, unpacked.
    pub fn get(&self, index: usize) -> Option<Event> {
        self.at(index).map(EventRef::to_event)
    }

    /// The first event.
    pub fn first(&self) -> Option<Event> {
        self.get(0)
    }

    /// The last event.
    pub fn last(&self) -> Option<Event> {
        self.len().checked_sub(1).and_then(|i| self.get(i))
    }

    /// The events in order, unpacked one at a time.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            events: self,
            range: 0..self.len(),
        }
    }

    /// Every event, unpacked.
    pub fn to_vec(&self) -> Vec<Event> {
        self.iter().collect()
    }

    /// The event at `index`, borrowed.
    #[inline]
    pub(crate) fn at(&self, index: usize) -> Option<EventRef<'_>> {
        self.records.get(index).map(|record| self.read(record))
    }

    /// The events, borrowed, in order.
    pub(crate) fn refs(&self) -> impl DoubleEndedIterator<Item = EventRef<'_>> + ExactSizeIterator {
        (0..self.len()).map(move |i| self.read(self.records.get(i).unwrap_or_default()))
    }

    /// Appends an event. `sender` is who sent it (for a system message, which has no author,
    /// the agent who sent it, if any).
    ///
    /// Each record gets an allocation of its own, the size of the record. One buffer per
    /// thread would save the allocation, but the sends of a license go to chats in no order,
    /// so each would write to its own thread's end of buffer, a line no other send has touched
    /// lately: a cache miss per send, and the atomic reference counts of the send's pushes
    /// then wait for it (it doubled the send's time in a license of 1 000 chats). Allocations
    /// made one after the other come from one place in the allocator, so the records of
    /// successive sends, whatever their chats, are written side by side.
    pub(crate) fn push(&mut self, event: &Arc<Event>, sender: Option<&UserId>) {
        if self.records.is_empty() {
            self.base_order = event.order;
            self.base_time = event.timestamp.unix_seconds();
        }
        self.push_record(event, sender);
    }

    /// [`push`](Self::push) on bases already set.
    fn push_record(&mut self, event: &Arc<Event>, sender: Option<&UserId>) {
        let packed = match &event.kind {
            EventKind::Message { .. }
            | EventKind::Annotation { .. }
            | EventKind::SystemMessage { .. } => event.properties.is_empty(),
            _ => false,
        };
        // System messages name no author; their sender is kept only when a retry needs it.
        let sender = match &event.kind {
            EventKind::SystemMessage { .. } if event.custom_id.is_none() => None,
            EventKind::SystemMessage { .. } => sender,
            _ => event.author_id.as_ref(),
        };
        let sender_number = sender.map(|sender| self.person_number(sender));
        let mut head = match event.recipients {
            Recipients::All => 0,
            Recipients::Agents => bits::AGENTS_ONLY,
        };
        if sender.is_some() {
            head |= bits::SENDER;
        }
        if event.custom_id.is_some() {
            head |= bits::CUSTOM_ID;
        }
        head |= match &event.kind {
            _ if !packed => bits::WHOLE,
            EventKind::Message { .. } => bits::MESSAGE,
            EventKind::Annotation { .. } => bits::ANNOTATION,
            EventKind::SystemMessage {
                system_message_type: Some(_),
                ..
            } => bits::SYSTEM_MESSAGE | bits::SYSTEM_MESSAGE_TYPE,
            _ => bits::SYSTEM_MESSAGE,
        };
        let order = event.order.wrapping_sub(self.base_order);
        let time = varint::zigzag(event.timestamp.unix_seconds().wrapping_sub(self.base_time));
        let whole = self.extras.as_ref().map_or(0, |x| x.whole.len()) as u64;

        // The strings that follow the head, in order: the custom id, then the content's one or
        // two texts.
        let (text, second): (Option<&str>, Option<&str>) = match &event.kind {
            _ if !packed => (None, None),
            EventKind::Message { text } => (Some(text), None),
            EventKind::Annotation {
                text,
                annotation_type,
            } => (Some(text), Some(annotation_type)),
            EventKind::SystemMessage {
                text,
                system_message_type,
            } => (Some(text), system_message_type.as_deref()),
            _ => (None, None),
        };
        let custom_id = event.custom_id.as_deref();
        let string_len = |s: Option<&str>| s.map_or(0, |s| varint::len(s.len() as u64) + s.len());

        // Sized first, so that the record is written once into an allocation of its size.
        let mut len = 1 + 16 + varint::len(order) + varint::len(time);
        len += sender_number.map_or(0, |n| varint::len(n as u64));
        len += string_len(custom_id) + string_len(text) + string_len(second);
        if !packed {
            len += varint::len(whole);
        }
        let mut out = Vec::with_capacity(len);
        out.push(head);
        out.extend_from_slice(event.id.as_uuid().as_bytes());
        varint::put(&mut out, order);
        varint::put(&mut out, time);
        if let Some(n) = sender_number {
            varint::put(&mut out, n as u64);
        }
        for s in [custom_id, text, second].into_iter().flatten() {
            varint::put_bytes(&mut out, s.as_bytes());
        }
        if !packed {
            varint::put(&mut out, whole);
            let extras = self.extras.get_or_insert_default();
            extras.whole.push(Arc::clone(event));
        }
        self.records.push(out.into_boxed_slice());
    }

    /// Reads the list's last entry, and so brings into the cache the line the next record's
    /// entry will most likely be written to. A send calls it as soon as it has the chat, so
    /// that in a large license the cache miss overlaps the send's checks instead of stalling
    /// the atomic reference counts that follow the write.
    #[inline]
    pub(crate) fn touch_end(&self) -> usize {
        self.records.last().map_or(0, |r| r.len())
    }

    /// The spare room in the list of records.
    #[cfg(test)]
    pub(crate) fn spare(&self) -> usize {
        self.records.spare()
    }

    /// Gives back the spare room: for a thread that was closed, which takes few events more.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.records.shrink_to_fit();
        if let Some(extras) = &mut self.extras {
            extras.people.shrink_to_fit();
            extras.whole.shrink_to_fit();
        }
    }

    /// Gives the event at `index` the sender `sender` (a restored system message's, which its
    /// snapshot keeps beside it). Rare, so it simply packs the events again.
    pub(crate) fn set_sender(&mut self, index: usize, sender: &UserId) {
        if self.at(index).is_none_or(|e| e.sender == Some(sender)) {
            return;
        }
        // The same people (and users), then every event again.
        let mut out = self.without_records();
        for (i, event) in self.refs().enumerate() {
            let whole = match event.kind {
                KindRef::Whole(whole) => Arc::clone(whole),
                _ => Arc::new(event.to_event()),
            };
            let sender = if i == index {
                Some(sender)
            } else {
                event.sender
            };
            out.push(&whole, sender);
        }
        *self = out;
    }

    /// The event at `index` for changing in place (a rich message's buttons), if it is kept
    /// whole.
    pub(crate) fn whole_mut(&mut self, index: usize) -> Option<&mut Event> {
        let record = self.records.get(index)?;
        let head = *record.first()?;
        if head & bits::KIND != bits::WHOLE {
            return None;
        }
        let number = self.read_whole_number(record);
        self.extras
            .as_mut()?
            .whole
            .get_mut(number)
            .map(Arc::make_mut)
    }

    /// The events a user of `role` may see, each as `view` makes it: a thread as a response or
    /// a push shows it. Packed records are copied as they are.
    pub(crate) fn view_for(&self, role: Role, view: impl Fn(&Arc<Event>) -> Arc<Event>) -> Events {
        // The same bases and people, so that packed records read the same there.
        let mut out = Events {
            base_order: self.base_order,
            base_time: self.base_time,
            ..self.without_records()
        };
        for i in 0..self.len() {
            let Some(record) = self.records.get(i) else {
                continue;
            };
            let event = self.read(record);
            if !event.visible_to(role) {
                continue;
            }
            match event.kind {
                KindRef::Whole(whole) => out.push_record(&view(whole), event.sender),
                _ => out.records.push(record.into()),
            }
        }
        out
    }

    fn read_whole_number(&self, record: &[u8]) -> usize {
        let mut r = Reader::new(record);
        let head = r.byte();
        r.array::<16>();
        r.varint();
        r.varint();
        if head & bits::SENDER != 0 {
            r.varint();
        }
        if head & bits::CUSTOM_ID != 0 {
            r.bytes();
        }
        usize::try_from(r.varint()).unwrap_or(usize::MAX)
    }

    /// The number of `person`, given it if it is new.
    #[inline]
    fn person_number(&mut self, person: &UserId) -> usize {
        for (n, known) in self.people.iter_mut().enumerate() {
            match known {
                Some(known) if known == person => return n,
                Some(_) => {}
                None => {
                    *known = Some(person.clone());
                    return n;
                }
            }
        }
        let more = &mut self.extras.get_or_insert_default().people;
        match more.iter().position(|(p, _)| p == person) {
            Some(i) => i + 2,
            None => {
                super::push_tight(more, (person.clone(), 0));
                more.len() + 1
            }
        }
    }

    /// The person numbered `n`.
    #[inline]
    fn sender(&self, n: usize) -> Option<&UserId> {
        match n {
            0 | 1 => self.people[n].as_ref(),
            _ => self.extras.as_ref()?.people.get(n - 2).map(|(p, _)| p),
        }
    }

    /// Makes `user` one of the thread's users, after the others; nothing if it is one.
    pub(crate) fn add_user(&mut self, user: &UserId) {
        if self.has_user(user) {
            return;
        }
        let n = self.person_number(user);
        self.users += 1;
        let rank = self.users;
        match n {
            0 | 1 => self.ranks[n] = rank,
            _ => {
                if let Some(entry) = (self.extras.as_mut()).and_then(|x| x.people.get_mut(n - 2)) {
                    entry.1 = rank;
                }
            }
        }
    }

    /// Whether `user` is one of the thread's users.
    pub(crate) fn has_user(&self, user: &UserId) -> bool {
        self.people_with_ranks()
            .any(|(p, rank)| rank > 0 && p == user)
    }

    /// The thread's users, in the order they became users.
    pub(crate) fn users(&self) -> Vec<UserId> {
        let mut users: Vec<(u32, &UserId)> = self
            .people_with_ranks()
            .filter(|&(_, rank)| rank > 0)
            .map(|(p, rank)| (rank, p))
            .collect();
        users.sort_unstable_by_key(|&(rank, _)| rank);
        users.into_iter().map(|(_, p)| p.clone()).collect()
    }

    /// Every person with its rank (0 for one who is not a user).
    fn people_with_ranks(&self) -> impl Iterator<Item = (&UserId, u32)> {
        let first = (self.people.iter().zip(self.ranks))
            .filter_map(|(p, rank)| p.as_ref().map(|p| (p, rank)));
        let more = (self.extras.iter()).flat_map(|x| x.people.iter().map(|(p, rank)| (p, *rank)));
        first.chain(more)
    }

    /// The same people, without events: a thread as summaries show it.
    pub(crate) fn without_records(&self) -> Events {
        Events {
            people: self.people.clone(),
            ranks: self.ranks,
            users: self.users,
            extras: self.extras.as_ref().map(|x| {
                Box::new(Extras {
                    people: x.people.clone(),
                    whole: Vec::new(),
                })
            }),
            ..Events::new()
        }
    }

    /// Unpacks the head and fields of the record at the start of `record`.
    #[inline]
    fn read<'a>(&'a self, record: &'a [u8]) -> EventRef<'a> {
        let mut r = Reader::new(record);
        let head = r.byte();
        let id = EventId::from_uuid(uuid::Uuid::from_bytes(r.array::<16>()));
        let order = self.base_order.wrapping_add(r.varint());
        let time = self.base_time.wrapping_add(varint::unzigzag(r.varint()));
        let sender = if head & bits::SENDER != 0 {
            usize::try_from(r.varint())
                .ok()
                .and_then(|n| self.sender(n))
        } else {
            None
        };
        let custom_id = (head & bits::CUSTOM_ID != 0).then(|| r.str());
        let kind = match head & bits::KIND {
            bits::MESSAGE => KindRef::Message(r.str()),
            bits::ANNOTATION => KindRef::Annotation {
                text: r.str(),
                annotation_type: r.str(),
            },
            bits::SYSTEM_MESSAGE => KindRef::SystemMessage {
                text: r.str(),
                system_message_type: (head & bits::SYSTEM_MESSAGE_TYPE != 0).then(|| r.str()),
            },
            _ => {
                let number = usize::try_from(r.varint()).unwrap_or(usize::MAX);
                match self.extras.as_ref().and_then(|x| x.whole.get(number)) {
                    Some(event) => KindRef::Whole(event),
                    // Never written so; an empty message keeps this free of a panic path.
                    None => KindRef::Message(""),
                }
            }
        };
        EventRef {
            id,
            order,
            timestamp: Timestamp::from_unix_seconds(time),
            recipients: if head & bits::AGENTS_ONLY != 0 {
                Recipients::Agents
            } else {
                Recipients::All
            },
            sender,
            custom_id,
            kind,
        }
    }
}

/// A clone keeps the spare room of the original: a cloned license (a simulation's fork, a
/// benchmark's reset) then grows like the original instead of reallocating every thread's
/// list on its next event.
impl Clone for Events {
    fn clone(&self) -> Self {
        Events {
            records: self.records.clone(),
            people: self.people.clone(),
            ranks: self.ranks,
            users: self.users,
            extras: self.extras.clone(),
            base_order: self.base_order,
            base_time: self.base_time,
        }
    }
}

/// Equal when they hold the same events and users, however they are packed.
impl PartialEq for Events {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self.refs().zip(other.refs()).all(|(a, b)| a.same(&b))
            && self.users() == other.users()
    }
}

/// The events as a list, then the thread's users, when it has any.
impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()?;
        if self.users > 0 {
            write!(f, " users {:?}", self.users())?;
        }
        Ok(())
    }
}

impl FromIterator<Event> for Events {
    fn from_iter<I: IntoIterator<Item = Event>>(iter: I) -> Self {
        let mut events = Events::new();
        events.extend(iter);
        events
    }
}

impl Extend<Event> for Events {
    fn extend<I: IntoIterator<Item = Event>>(&mut self, iter: I) {
        for event in iter {
            let sender = event.author_id.clone();
            self.push(&Arc::new(event), sender.as_ref());
        }
    }
}

impl From<Vec<Event>> for Events {
    fn from(events: Vec<Event>) -> Self {
        events.into_iter().collect()
    }
}

impl<'a> IntoIterator for &'a Events {
    type Item = Event;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// The iterator of [`Events::iter`].
#[derive(Clone)]
pub struct Iter<'a> {
    events: &'a Events,
    range: std::ops::Range<usize>,
}

impl Iterator for Iter<'_> {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        self.range.next().and_then(|i| self.events.get(i))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.range.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Event> {
        self.range.next_back().and_then(|i| self.events.get(i))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl fmt::Debug for Iter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter")
            .field("remaining", &self.range.len())
            .finish()
    }
}

/// As a list of events, like a `Vec<Event>`.
impl Serialize for Events {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Events {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<Event>::deserialize(d).map(Events::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PropertyValue, RichMessage};

    fn event(n: u8, kind: EventKind) -> Event {
        Event {
            id: EventId::from_uuid(uuid::Uuid::from_bytes([n; 16])),
            custom_id: None,
            order: 1_000 + u64::from(n),
            author_id: Some(UserId::new("anna@example.com").expect("valid id")),
            timestamp: Timestamp::from_unix_seconds(1_700_000_000 + i64::from(n)),
            recipients: Recipients::All,
            properties: Properties::new(),
            kind,
        }
    }

    fn every_kind() -> Vec<Event> {
        let mut with_properties = event(5, EventKind::Message { text: "p".into() });
        with_properties.properties.insert(
            "rating".into(),
            [("score".to_owned(), PropertyValue::Int(5))].into(),
        );
        let mut agents_only = event(6, EventKind::Message { text: "n".into() });
        agents_only.recipients = Recipients::Agents;
        agents_only.custom_id = Some("c-6".into());
        let mut system = event(
            3,
            EventKind::SystemMessage {
                text: "Anna joined".into(),
                system_message_type: Some("agent_joined".into()),
            },
        );
        system.author_id = None;
        let mut untyped = event(
            4,
            EventKind::SystemMessage {
                text: "hello".into(),
                system_message_type: None,
            },
        );
        untyped.author_id = None;
        let mut early = event(9, EventKind::Message { text: "é".into() });
        early.order = 3;
        early.timestamp = Timestamp::from_unix_seconds(-5);
        early.author_id = Some(UserId::new("jan").expect("valid id"));
        vec![
            event(1, EventKind::Message { text: "hi".into() }),
            event(
                2,
                EventKind::Annotation {
                    text: String::new(),
                    annotation_type: "rating".into(),
                },
            ),
            system,
            untyped,
            with_properties,
            agents_only,
            event(
                7,
                EventKind::RichMessage(RichMessage {
                    template_id: "cards".into(),
                    elements: Vec::new(),
                }),
            ),
            early,
        ]
    }

    #[test]
    fn every_kind_unpacks_as_it_was_packed() {
        let all = every_kind();
        let events: Events = all.iter().cloned().collect();
        assert_eq!(events.len(), all.len());
        assert_eq!(events.to_vec(), all);
        assert_eq!(events.iter().rev().collect::<Vec<_>>(), {
            let mut r = all.clone();
            r.reverse();
            r
        });
        assert_eq!(events.last(), all.last().cloned());
        assert_eq!(events.get(all.len()), None);
        // Kept whole: the rich message and the event with properties.
        assert_eq!(events.extras.as_ref().map(|x| x.whole.len()), Some(2));
    }

    #[test]
    fn equality_and_serde_go_by_the_events() {
        let all = every_kind();
        let events: Events = all.iter().cloned().collect();
        assert_eq!(events, events.clone());
        assert_ne!(events, all[..3].iter().cloned().collect::<Events>());
        let json = serde_json::to_string(&events).expect("serializes");
        assert_eq!(json, serde_json::to_string(&all).expect("serializes"));
        let back: Events = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, events);
    }

    #[test]
    fn a_system_message_keeps_its_sender_only_for_its_custom_id() {
        let anna = UserId::new("anna@example.com").expect("valid id");
        let mut system = event(
            1,
            EventKind::SystemMessage {
                text: "note".into(),
                system_message_type: None,
            },
        );
        system.author_id = None;
        let mut events = Events::new();
        events.push(&Arc::new(system.clone()), Some(&anna));
        system.custom_id = Some("x".into());
        events.push(&Arc::new(system), Some(&anna));
        let first = events.at(0).expect("stored");
        let second = events.at(1).expect("stored");
        assert_eq!((first.sender, first.author()), (None, None));
        assert_eq!((second.sender, second.author()), (Some(&anna), None));
        assert_eq!(events.get(1).expect("stored").author_id, None);
    }

    #[test]
    fn a_sender_given_after_the_fact_keeps_the_threads_users_and_events() {
        let jan = UserId::new("jan").expect("valid id");
        let anna = UserId::new("anna@example.com").expect("valid id");
        let mut all = every_kind();
        // A system message an agent sent with a custom_id: a snapshot keeps its sender beside
        // it, so it is read back without one.
        all[2].custom_id = Some("s-1".into());
        let mut events: Events = all.into_iter().collect();
        events.add_user(&jan);
        events.add_user(&anna);
        let before = events.to_vec();
        assert_eq!(events.at(2).and_then(|e| e.sender), None);
        events.set_sender(2, &anna);
        assert_eq!(events.at(2).and_then(|e| e.sender), Some(&anna));
        assert_eq!(events.users(), vec![jan, anna]);
        assert_eq!(events.to_vec(), before);
    }

    #[test]
    fn users_keep_the_order_they_came_in_whoever_wrote_first() {
        let jan = UserId::new("jan").expect("valid id");
        let (a, b) = (
            UserId::new("a@example.com").expect("valid id"),
            UserId::new("b@example.com").expect("valid id"),
        );
        let mut events = Events::new();
        events.add_user(&jan);
        let mut note = event(1, EventKind::Message { text: "hi".into() });
        note.author_id = Some(b.clone());
        events.push(&Arc::new(note), Some(&b));
        events.add_user(&a);
        events.add_user(&b);
        events.add_user(&a);
        assert_eq!(events.users(), vec![jan.clone(), a.clone(), b.clone()]);
        assert!(events.has_user(&b));
        assert!(!events.has_user(&UserId::new("c@example.com").expect("valid id")));
        assert_eq!(events.get(0).and_then(|e| e.author_id), Some(b));
    }

    #[test]
    fn views_leave_out_what_a_role_may_not_see() {
        let events: Events = every_kind().into_iter().collect();
        let customer = events.view_for(Role::Customer, Arc::clone);
        assert_eq!(customer.len(), events.len() - 1);
        assert!(customer.iter().all(|e| e.recipients == Recipients::All));
        assert_eq!(events.view_for(Role::Agent, Arc::clone), events);
    }

    #[test]
    fn a_message_takes_its_texts_and_a_few_bytes_more() {
        let mut events = Events::new();
        for n in 0..100u8 {
            let mut e = event(
                n,
                EventKind::Message {
                    text: "x".repeat(50),
                },
            );
            e.custom_id = Some(format!("{n:020}"));
            events.push(&Arc::new(e), Some(&UserId::new("jan").expect("valid id")));
        }
        let bytes: usize = (0..events.len())
            .filter_map(|i| events.records.get(i))
            .map(<[u8]>::len)
            .sum();
        let per_event = bytes / 100;
        assert!(per_event <= 16 + 50 + 20 + 8, "{per_event} bytes per event");
    }
}
