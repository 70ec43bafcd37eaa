//! The binary section of a version 2 snapshot: the events of every thread.
//!
//! Nearly all of a license's bytes are events, and nearly all events are plain messages. As
//! JSON each one cost two UUIDs to parse, a dozen keys to match and a number or two to convert;
//! here it is a fixed 33-byte head, a few varints and its text, read with bounds checks and one
//! UTF-8 check. The layout is described in the parent module's docs.

use std::borrow::Borrow;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use uuid::Uuid;

use super::cursor::{Cursor, Malformed, put_bytes, put_varint};
use crate::hash::FastMap;
use crate::model::events::{EventRef, KindRef};
use crate::model::{
    Chat, ChatId, Event, EventId, EventKind, Properties, Recipients, Thread, Timestamp, UserId,
};

/// Bits of an event's shape byte: which optional parts follow and how its kind is stored.
mod shape {
    pub(super) const AGENTS_ONLY: u8 = 1;
    pub(super) const AUTHOR: u8 = 1 << 1;
    pub(super) const CUSTOM_ID: u8 = 1 << 2;
    pub(super) const PROPERTIES: u8 = 1 << 3;
    /// Two bits: one of the three `KIND_*` values below.
    pub(super) const KIND: u8 = 0b11 << 4;
    pub(super) const KIND_MESSAGE: u8 = 0;
    pub(super) const KIND_SYSTEM_MESSAGE: u8 = 1 << 4;
    pub(super) const KIND_JSON: u8 = 2 << 4;
    /// Only with `KIND_SYSTEM_MESSAGE`: its `system_message_type` follows the text.
    pub(super) const SYSTEM_MESSAGE_TYPE: u8 = 1 << 6;
    /// Set by no writer: a reader that sees it is reading damage or a format it does not know.
    pub(super) const RESERVED: u8 = 1 << 7;
}

/// Id, order, timestamp and shape byte.
const HEAD_LEN: usize = 16 + 8 + 8 + 1;
/// The shortest event: its head and the length of an empty text.
const MIN_EVENT_LEN: usize = HEAD_LEN + 1;

/// Appends one segment: the events of every thread of `chats`, in chat, thread and event order,
/// with authors numbered from 0. Fails only if a property value or an event kind written as
/// JSON fails to serialize, which plain data with string keys never does.
pub(super) fn write<C: Borrow<Chat>>(
    out: &mut Vec<u8>,
    chats: &[C],
) -> Result<(), serde_json::Error> {
    let mut writer = Writer {
        authors: FastMap::default(),
        recent: [None; 2],
        json: Vec::new(),
    };
    for chat in chats {
        for thread in &chat.borrow().threads {
            put_varint(out, thread.events.len() as u64);
            for event in thread.events.refs() {
                writer.event(out, event)?;
            }
        }
    }
    Ok(())
}

struct Writer<'a> {
    /// Every author met so far, numbered in order of first appearance.
    authors: FastMap<&'a UserId, u64>,
    /// The last two authors and their numbers, newest first: in a chat the customer and an
    /// agent usually take turns, and comparing with these is cheaper than hashing (about
    /// 15 ms of the benchmark's 135 without it).
    recent: [Option<(&'a UserId, u64)>; 2],
    /// Reused for the JSON parts, which need their length written before them.
    json: Vec<u8>,
}

impl<'a> Writer<'a> {
    fn event(&mut self, out: &mut Vec<u8>, event: EventRef<'a>) -> Result<(), serde_json::Error> {
        let author_id = event.author();
        let properties = event.properties();
        let mut bits = match event.recipients {
            Recipients::All => 0,
            Recipients::Agents => shape::AGENTS_ONLY,
        };
        if author_id.is_some() {
            bits |= shape::AUTHOR;
        }
        if event.custom_id.is_some() {
            bits |= shape::CUSTOM_ID;
        }
        if !properties.is_empty() {
            bits |= shape::PROPERTIES;
        }
        // A whole event's kind may still be a message (one with properties).
        let kind = match event.kind {
            KindRef::Whole(whole) => match &whole.kind {
                EventKind::Message { text } => KindRef::Message(text),
                EventKind::SystemMessage {
                    text,
                    system_message_type,
                } => KindRef::SystemMessage {
                    text,
                    system_message_type: system_message_type.as_deref(),
                },
                _ => KindRef::Whole(whole),
            },
            other => other,
        };
        bits |= match kind {
            KindRef::Message(_) => shape::KIND_MESSAGE,
            KindRef::SystemMessage {
                system_message_type: Some(_),
                ..
            } => shape::KIND_SYSTEM_MESSAGE | shape::SYSTEM_MESSAGE_TYPE,
            KindRef::SystemMessage { .. } => shape::KIND_SYSTEM_MESSAGE,
            _ => shape::KIND_JSON,
        };

        out.extend_from_slice(event.id.as_uuid().as_bytes());
        out.extend_from_slice(&event.order.to_le_bytes());
        out.extend_from_slice(&event.timestamp.unix_seconds().to_le_bytes());
        out.push(bits);
        if let Some(author) = author_id {
            let (number, new) = self.author(author);
            put_varint(out, number);
            if new {
                put_bytes(out, author.to_string().as_bytes());
            }
        }
        if let Some(custom_id) = event.custom_id {
            put_bytes(out, custom_id.as_bytes());
        }
        if !properties.is_empty() {
            self.put_json(out, properties)?;
        }
        match kind {
            KindRef::Message(text) => put_bytes(out, text.as_bytes()),
            KindRef::SystemMessage {
                text,
                system_message_type,
            } => {
                put_bytes(out, text.as_bytes());
                if let Some(t) = system_message_type {
                    put_bytes(out, t.as_bytes());
                }
            }
            KindRef::Annotation {
                text,
                annotation_type,
            } => {
                let kind = EventKind::Annotation {
                    text: text.into(),
                    annotation_type: annotation_type.into(),
                };
                self.put_json(out, &kind)?;
            }
            KindRef::Whole(whole) => self.put_json(out, &whole.kind)?,
        }
        Ok(())
    }

    /// The author's number, and whether this is its first appearance.
    fn author(&mut self, author: &'a UserId) -> (u64, bool) {
        for (known, number) in self.recent.into_iter().flatten() {
            if known == author {
                return (number, false);
            }
        }
        let next = self.authors.len() as u64;
        let (number, new) = match self.authors.entry(author) {
            Entry::Occupied(known) => (*known.get(), false),
            Entry::Vacant(slot) => (*slot.insert(next), true),
        };
        self.recent = [Some((author, number)), self.recent[0]];
        (number, new)
    }

    fn put_json(
        &mut self,
        out: &mut Vec<u8>,
        value: &impl serde::Serialize,
    ) -> Result<(), serde_json::Error> {
        self.json.clear();
        serde_json::to_writer(&mut self.json, value)?;
        put_bytes(out, &self.json);
        Ok(())
    }
}

/// Reads a segment written by [`write()`] into the threads of `chats`, which must have come
/// from the same snapshot's JSON and so hold no events yet. Every thread takes exactly the
/// events the segment gives it, and nothing may follow the last one. The error says what was
/// wrong and where.
pub(super) fn read(section: &[u8], chats: &mut [Chat]) -> Result<(), String> {
    let mut reader = Reader {
        cursor: Cursor::new(section),
        authors: Vec::new(),
        defined: FastMap::default(),
    };
    for chat in chats {
        let chat_id = chat.id;
        for (t, thread) in chat.threads.iter_mut().enumerate() {
            reader
                .thread(thread)
                .map_err(|(event, e)| locate(chat_id, t, event, e))?;
        }
    }
    match reader.cursor.remaining() {
        0 => Ok(()),
        n => Err(format!("{n} bytes follow the last thread's events")),
    }
}

fn locate(chat: ChatId, thread: usize, event: Option<usize>, e: Malformed) -> String {
    match event {
        Some(i) => format!("chat {chat}, thread {thread}, event {i}: {}", e.0),
        None => format!("chat {chat}, thread {thread}: {}", e.0),
    }
}

struct Reader<'a> {
    cursor: Cursor<'a>,
    /// The authors defined so far, by number. Events by the same author clone one `UserId`, so
    /// a text id's string is shared rather than copied per event.
    authors: Vec<UserId>,
    /// The same authors as a set: a writer defines each once, so a second definition is
    /// damage (and would give one engine two encodings).
    defined: FastMap<UserId, ()>,
}

impl Reader<'_> {
    /// Fills one thread; on error, which event (if any) was being read.
    fn thread(&mut self, thread: &mut Thread) -> Result<(), (Option<usize>, Malformed)> {
        if !thread.events.is_empty() {
            return Err((None, Malformed::new("events in the JSON part")));
        }
        let n = self
            .cursor
            .count(MIN_EVENT_LEN, "event count")
            .map_err(|e| (None, e))?;
        // Into the thread's own `Events`, which already holds its users from the JSON part.
        for i in 0..n {
            let event = Arc::new(self.event().map_err(|e| (Some(i), e))?);
            thread.events.push(&event, event.author_id.as_ref());
        }
        Ok(())
    }

    fn event(&mut self) -> Result<Event, Malformed> {
        let c = &mut self.cursor;
        let id = EventId::from_uuid(Uuid::from_bytes(*c.array::<16>("event id")?));
        let order = u64::from_le_bytes(*c.array::<8>("order")?);
        let timestamp = match i64::from_le_bytes(*c.array("timestamp")?) {
            // Outside `Timestamp`'s range; no writer makes it.
            i64::MIN => return Err(Malformed::new("timestamp i64::MIN")),
            secs => Timestamp::from_unix_seconds(secs),
        };
        let bits = c.byte("shape")?;
        if bits & shape::RESERVED != 0 {
            return Err(Malformed::new(format!("unknown shape bits {bits:#04x}")));
        }
        let kind_bits = bits & shape::KIND;
        if bits & shape::SYSTEM_MESSAGE_TYPE != 0 && kind_bits != shape::KIND_SYSTEM_MESSAGE {
            return Err(Malformed::new("a system_message_type on another kind"));
        }
        let recipients = if bits & shape::AGENTS_ONLY != 0 {
            Recipients::Agents
        } else {
            Recipients::All
        };
        let author_id = if bits & shape::AUTHOR != 0 {
            if kind_bits == shape::KIND_SYSTEM_MESSAGE {
                // The engine never gives a system message an author, and keeps none.
                return Err(Malformed::new("a system message with an author"));
            }
            Some(self.author()?)
        } else {
            None
        };
        let c = &mut self.cursor;
        let custom_id = if bits & shape::CUSTOM_ID != 0 {
            Some(c.str("custom_id")?.to_owned())
        } else {
            None
        };
        let properties = if bits & shape::PROPERTIES != 0 {
            let properties = json::<Properties>(c.bytes("properties")?, "properties")?;
            if properties.is_empty() {
                // The writer leaves empty properties out; keeping one encoding per event.
                return Err(Malformed::new("empty properties written out"));
            }
            properties
        } else {
            Properties::new()
        };
        let kind = match kind_bits {
            shape::KIND_MESSAGE => EventKind::Message {
                text: c.str("message text")?.to_owned(),
            },
            shape::KIND_SYSTEM_MESSAGE => EventKind::SystemMessage {
                text: c.str("system message text")?.to_owned(),
                system_message_type: if bits & shape::SYSTEM_MESSAGE_TYPE != 0 {
                    Some(c.str("system_message_type")?.to_owned())
                } else {
                    None
                },
            },
            shape::KIND_JSON => match json::<EventKind>(c.bytes("event kind")?, "event kind")? {
                EventKind::Message { .. } | EventKind::SystemMessage { .. } => {
                    return Err(Malformed::new("a message kind written as JSON"));
                }
                other => other,
            },
            _ => return Err(Malformed::new(format!("unknown kind bits {bits:#04x}"))),
        };
        Ok(Event {
            id,
            custom_id,
            order,
            author_id,
            timestamp,
            recipients,
            properties,
            kind,
        })
    }

    /// An author's number: one already defined, or the next one, whose id follows.
    fn author(&mut self) -> Result<UserId, Malformed> {
        let n = self.cursor.varint("author")?;
        let defined = self.authors.len();
        match usize::try_from(n) {
            Ok(i) if i < defined => Ok(self.authors[i].clone()),
            Ok(i) if i == defined => {
                let text = self.cursor.str("author id")?;
                let id = UserId::new(text)
                    .map_err(|e| Malformed::new(format!("author {text:?}: {e}")))?;
                if self.defined.insert(id.clone(), ()).is_some() {
                    return Err(Malformed::new(format!("author {text:?} defined twice")));
                }
                self.authors.push(id.clone());
                Ok(id)
            }
            _ => Err(Malformed::new(format!(
                "author number {n}, but only {defined} are defined"
            ))),
        }
    }
}

fn json<'de, T: serde::Deserialize<'de>>(
    bytes: &'de [u8],
    what: &'static str,
) -> Result<T, Malformed> {
    serde_json::from_slice(bytes).map_err(|e| Malformed::new(format!("{what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u8, author: Option<&UserId>, kind: EventKind) -> Arc<Event> {
        Arc::new(Event {
            id: EventId::from_uuid(Uuid::from_bytes([n; 16])),
            custom_id: None,
            order: u64::from(n),
            author_id: author.cloned(),
            timestamp: Timestamp::from_unix_seconds(1_700_000_000 + i64::from(n)),
            recipients: Recipients::All,
            properties: Properties::new(),
            kind,
        })
    }

    fn chat(threads: Vec<Vec<Arc<Event>>>) -> Chat {
        let mut chat = Chat::new(
            ChatId::from_uuid(Uuid::from_u128(1)),
            None,
            Timestamp::EPOCH,
        );
        for (i, events) in threads.into_iter().enumerate() {
            chat.threads.push(Thread {
                id: crate::model::ThreadId::from_uuid(Uuid::from_u128(i as u128)),
                order: 0,
                active: false,
                events: events.iter().map(|e| Event::clone(e)).collect(),
                timestamp: Timestamp::EPOCH,
                closed_at: None,
                last_activity: Timestamp::EPOCH,
                properties: Default::default(),
                archived: None,
            });
        }
        chat
    }

    /// The chat with every thread emptied, as the JSON part gives it to the reader.
    fn hollow(chat: &Chat) -> Chat {
        let mut hollow = chat.clone();
        for thread in &mut hollow.threads {
            thread.events = crate::model::Events::new();
        }
        hollow
    }

    fn head(out: &mut Vec<u8>, n: u8, shape: u8) {
        out.extend_from_slice(&[n; 16]);
        out.extend_from_slice(&u64::from(n).to_le_bytes());
        out.extend_from_slice(&(1_700_000_000 + i64::from(n)).to_le_bytes());
        out.push(shape);
    }

    #[test]
    fn the_layout_is_as_documented() {
        let anna = UserId::new("anna").unwrap();
        let mut first = event(1, Some(&anna), EventKind::Message { text: "hi".into() });
        let e = Arc::make_mut(&mut first);
        e.custom_id = Some("c".into());
        e.recipients = Recipients::Agents;
        let second = event(
            2,
            None,
            EventKind::SystemMessage {
                text: "x".into(),
                system_message_type: Some("t".into()),
            },
        );
        let mut third = event(
            3,
            Some(&anna),
            EventKind::Annotation {
                text: String::new(),
                annotation_type: "r".into(),
            },
        );
        Arc::make_mut(&mut third)
            .properties
            .entry("a".into())
            .or_default()
            .insert("b".into(), crate::model::PropertyValue::Int(5));
        let chats = [chat(vec![vec![first, second], vec![], vec![third]])];

        let mut written = Vec::new();
        write(&mut written, &chats).unwrap();

        let mut expected = vec![2];
        head(
            &mut expected,
            1,
            shape::AGENTS_ONLY | shape::AUTHOR | shape::CUSTOM_ID,
        );
        expected.extend_from_slice(b"\x00\x04anna\x01c\x02hi");
        head(
            &mut expected,
            2,
            shape::KIND_SYSTEM_MESSAGE | shape::SYSTEM_MESSAGE_TYPE,
        );
        expected.extend_from_slice(b"\x01x\x01t");
        expected.push(0);
        expected.push(1);
        head(
            &mut expected,
            3,
            shape::AUTHOR | shape::PROPERTIES | shape::KIND_JSON,
        );
        expected.push(0);
        let properties = br#"{"a":{"b":5}}"#;
        expected.push(properties.len() as u8);
        expected.extend_from_slice(properties);
        let kind = br#"{"type":"annotation","text":"","annotation_type":"r"}"#;
        expected.push(kind.len() as u8);
        expected.extend_from_slice(kind);
        assert_eq!(written, expected);

        let mut read_back = [hollow(&chats[0])];
        read(&written, &mut read_back).unwrap();
        assert_eq!(read_back, chats);
    }

    #[test]
    fn authors_are_numbered_by_first_appearance_across_the_segments_chats() {
        let (a, b) = (UserId::new("a").unwrap(), UserId::new("b").unwrap());
        let message = |n, who| event(n, Some(who), EventKind::Message { text: "m".into() });
        let chats = [
            chat(vec![vec![message(1, &b), message(2, &a), message(3, &b)]]),
            chat(vec![vec![message(4, &a), message(5, &a), message(6, &b)]]),
        ];
        let mut written = Vec::new();
        write(&mut written, &chats).unwrap();
        let at = |i: usize| {
            // Every event here is 33 head bytes, an author number (plus a 2-byte definition
            // the first time) and a 2-byte text; each thread starts with a 1-byte count.
            let defined_before = i.min(2);
            let thread_counts = 1 + usize::from(i >= 3);
            thread_counts + i * (33 + 1 + 2) + defined_before * 2 + 33
        };
        let numbers: Vec<u8> = (0..6).map(|i| written[at(i)]).collect();
        assert_eq!(numbers, [0, 1, 0, 1, 1, 0]);
        let mut read_back = [hollow(&chats[0]), hollow(&chats[1])];
        read(&written, &mut read_back).unwrap();
        assert_eq!(read_back, chats);
    }

    #[test]
    fn threads_must_take_exactly_their_events() {
        let message = |n| event(n, None, EventKind::Message { text: "m".into() });
        let original = chat(vec![vec![message(1)], vec![message(2), message(3)]]);
        let mut written = Vec::new();
        write(&mut written, std::slice::from_ref(&original)).unwrap();

        // One thread fewer in the JSON than in the section: bytes are left over.
        let mut fewer = hollow(&original);
        let first = fewer.threads[0].clone();
        fewer.threads = vec![first].into();
        let err = read(&written, std::slice::from_mut(&mut fewer)).unwrap_err();
        assert!(err.contains("follow the last thread"), "{err}");

        // One more: the section runs out.
        let mut more = hollow(&original);
        more.threads.push(more.threads[0].clone());
        let err = read(&written, std::slice::from_mut(&mut more)).unwrap_err();
        assert!(
            err.contains("thread 2") && err.contains("ends early"),
            "{err}"
        );

        // A thread that already holds events.
        let mut full = hollow(&original);
        let nine = message(9);
        full.threads[1].events.push(&nine, nine.author_id.as_ref());
        let err = read(&written, std::slice::from_mut(&mut full)).unwrap_err();
        assert!(err.contains("thread 1: events in the JSON part"), "{err}");
    }

    #[test]
    fn non_canonical_parts_are_refused() {
        let mut section = vec![1];
        head(&mut section, 1, shape::PROPERTIES);
        section.extend_from_slice(b"\x02{}\x01m");
        let mut chats = [hollow(&chat(vec![vec![]]))];
        let err = read(&section, &mut chats).unwrap_err();
        assert!(err.contains("empty properties"), "{err}");

        let mut section = vec![1];
        head(&mut section, 1, shape::KIND_JSON);
        let kind = br#"{"type":"message","text":"m"}"#;
        section.push(kind.len() as u8);
        section.extend_from_slice(kind);
        let err = read(&section, &mut chats).unwrap_err();
        assert!(err.contains("message kind written as JSON"), "{err}");

        let mut section = vec![1];
        head(&mut section, 1, shape::KIND_MESSAGE);
        section.extend_from_slice(b"\x02\xc3\x28");
        let err = read(&section, &mut chats).unwrap_err();
        assert!(err.contains("message text is not UTF-8"), "{err}");

        let mut section = vec![1];
        head(&mut section, 1, shape::AUTHOR);
        section.extend_from_slice(b"\x00\x03a\nb\x01m");
        let err = read(&section, &mut chats).unwrap_err();
        assert!(err.contains("author \"a\\nb\""), "{err}");
    }
}
