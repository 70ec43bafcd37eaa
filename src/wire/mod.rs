//! The chat.io v0.5 JSON protocol: text in, text out, no sockets.
//!
//! A host that serves real clients reads a frame (RTM) or a body (Web API), knows who sent it
//! (it did the login) and when, and calls [`handle`]. It gets back the response text for the
//! sender and the pushes, each with its recipients and its text in the shape of their API.
//!
//! ```
//! use chatio::wire::{Api, handle};
//! use chatio::{Agent, Engine, Timestamp, UserId};
//!
//! let mut engine = Engine::default();
//! let anna = UserId::new("anna@example.com")?;
//! engine.add_agent(Agent::new(anna.clone(), "Anna"))?;
//! let jan = engine.create_customer();
//! let now = Timestamp::from_unix_seconds(1_700_000_000);
//!
//! let reply = handle(&mut engine, Api::Customer, &jan, now,
//!     r#"{"request_id":"1","action":"start_chat","payload":{"chat":{"thread":{"events":[{"type":"message","text":"Hi!"}]}}}}"#);
//! assert!(reply.response.contains(r#""success":true"#));
//! assert_eq!(reply.pushes[0].action, "incoming_chat_thread");
//! assert_eq!(reply.pushes[0].to, vec![anna]);
//!
//! let bad = handle(&mut engine, Api::Customer, &jan, now, r#"{"request_id":"2","action":"fly"}"#);
//! assert!(bad.response.contains(r#""type":"validation""#));
//! # Ok::<(), chatio::Error>(())
//! ```
//!
//! `examples/rtm_script.rs` plays a JSON-lines script of requests through this codec and prints
//! every message a server would send; `tests/scenarios/README.md` shows it at work. The
//! `chatio-server` crate serves this codec over WebSocket and HTTP.
//!
//! Decisions where the references leave room (the engine's own are in [`crate::rules`]):
//! * Unknown fields are ignored; an unknown action, malformed JSON or a field of the wrong type
//!   is a `validation` error response, echoing the `request_id` whenever one could be read.
//! * Property values are accepted wrapped (`{"value": v}`) or bare, and always sent wrapped.
//! * Pushes carry no `request_id`.
//! * `present` on a user object says whether the user is in the chat (the meaning v3.x gives
//!   it). The engine lists only users who are, so it is always `true`; whether a user is
//!   connected is the host's knowledge, not the engine's.
//! * `author_id` acts on behalf of a bot agent owned by the requester ([`Agent::owner_id`](crate::Agent)).
//! * The customer's `update_last_seen_timestamp` takes an optional `chat_id`, defaulting to the
//!   customer's latest chat; `send_file` takes the stored file's metadata in its payload.
//! * The customer's `login` applies the optional `customer` details (name, e-mail, fields,
//!   page, referrer, time zone) exactly as `update_customer` does; without any it changes
//!   nothing. It answers `static_config_path` only when the host set one
//!   ([`Engine::set_static_config_path`](crate::Engine::set_static_config_path)).
//! * A customer's `monitoring`, shown to agents only, differs from the Agent API's sample
//!   where the engine does not know what the sample shows: `current_visit.pages` holds the
//!   current page alone (no history is kept); the visit's `start` is when the customer's first
//!   page was reported and a page's `start` when it was reported (the engine has no notion of
//!   visits ending); `referrer` is the one the customer gave
//!   (`customer.monitoring.page.referrer`); the time zone the customer gave
//!   (`customer.monitoring.timezone`, v0.5's sample: `"-2"`) is shown as
//!   `geolocation.timezone`, the only `geolocation` key, since no address is looked up; `ip`,
//!   `host`, `user_agent` and `stats` are left out: they are the transport's knowledge.
//! * The agent's `login` carries a `license` object only when the engine has one
//!   ([`EngineConfig::license`](crate::EngineConfig)); `expiration_timestamp` is left out for a
//!   license that never expires.
//! * Answers are bounded (`docs/limits.md`). The agent's `login` lists at most
//!   [`Limits::login_chats`](crate::Limits::login_chats) chats and adds `total_chats`, and
//!   `next_before_order` when some were left out. `get_filtered_chats` takes
//!   `filters.include_inactive` and `pagination` (`limit`, `before_order`), and adds
//!   `total_chats` and, when more chats pass the filters, `next_before_order`: v0.5 has
//!   neither, and without them one answer could hold every chat of the license.
//! * Archived threads ([`Engine::archive_threads`](crate::Engine::archive_threads)) are loaded
//!   from the host's store by [`handle_with`] and shown exactly as before archiving; [`handle`]
//!   has no store and answers `internal` for a request that shows one. `get_archives`' text
//!   `query` does not search them.
//! * `ping` is answered even after the license has expired: it keeps the connection alive and
//!   reaches no chat. Every other action is then refused with `license_expired`.
//! * Where one API's sample leaves out a field the other API's shows, both get it: the Agent
//!   API's `incoming_event` carries `thread_id`; its `start_chat`, `incoming_chat_thread` and
//!   `get_archives` chats carry `properties` and `scopes`; the Customer API's thread carries
//!   the Agent API's `timestamp`. Leaving them out would only cost clients a lookup.
//! * An event object is rendered once and the same text goes to both APIs, so the Customer
//!   API's events carry `recipients` (always `all` there: customers never get the others),
//!   which its samples leave out.
//! * A `system_message` carries `system_message_type` (when the engine set one) in both APIs:
//!   v0.5 shows it only in the Customer API's sample, whose fields differ from the Agent API's.
//! * The Agent API's typing indicator carries `is_typing`, as the Customer API's does; without
//!   it an agent could not tell that someone stopped typing.
//! * `get_chat_threads`: the Agent API's `threads_summary` entries add `total_events` (as the
//!   Customer API's `get_chat_threads_summary` has); the Customer API's answer adds the
//!   `threads_summary` its sample lacks, keyed `id` as in that API; `threads` is always present,
//!   empty when none was asked for; `properties` is spelled right (the Agent sample misspells it).
//! * A chat summary's `last_thread_summary` also has the thread's `active`: it is the thread
//!   object without its events, and says whether the chat is live without another request.
//! * User objects: no agent shows `last_seen_timestamp` outside a chat's user list (`my_profile`
//!   included), since the engine keeps an agent's last-seen time per chat only. Agents added in
//!   `chat_users_updated` carry no `routing_status`: the push is about membership, and
//!   `agent_updated` carries status. A customer never shows `properties` (the engine keeps
//!   none) and always shows `fields`, `{}` when empty.
//! * The customer's `send_file` answers `event` and `thread_id` as `send_event` does, besides
//!   the `url` v0.5's sample shows alone, so the client learns the event's id and order at once.
//! * Errors never carry the Customer API's optional `data`: its one use (a region) has no
//!   counterpart here. A response to a request whose `action` could not be read has
//!   `"action": ""`, so that every response has the key.
//! * Properties are always `{ns: {name: {"value": v}}}`: the Agent API's
//!   `chat_thread_properties_updated` sample nests a `value` key twice, against the format and
//!   every other sample. Chat, thread and event ids are always UUIDs, although a few samples
//!   show short ids (`"E2WDHA8A"`, `"123-123-123-123"`), against the objects' own samples.

mod actions;
pub mod configuration;
mod render;
mod transport;

pub use transport::{Offered, TRANSPORTS, offered};
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::engine::Engine;
use crate::error::{Error, ErrorKind};
use crate::journal::JournalMode;
use crate::model::{ArchivedThread, ChatId, Event, Role, ThreadId, Timestamp, UserId};
use crate::push::{Push, PushKind};
use crate::user_ids::UserIds;

use self::actions::Payload;
use self::render::{write_event, write_json, write_uuid, write_uuid_bytes};

/// Which API a connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Api {
    /// The Agent API.
    Agent,
    /// The Customer API.
    Customer,
}

impl Api {
    /// The API whose users have this role.
    pub fn of(role: Role) -> Self {
        match role {
            Role::Agent => Api::Agent,
            Role::Customer => Api::Customer,
        }
    }
}

/// One push, rendered for its recipients' API.
#[derive(Clone, Debug, PartialEq)]
pub struct WirePush {
    /// Who gets it.
    pub to: UserIds,
    /// The push action, e.g. `incoming_event`.
    pub action: &'static str,
    /// The whole push message as JSON text.
    pub text: String,
}

/// What [`handle`] returns.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// The response message for the sender, as JSON text.
    pub response: String,
    /// The action the response answers (`""` when none could be read).
    pub action: String,
    /// Whether the request succeeded.
    pub success: bool,
    /// The pushes the request caused.
    pub pushes: Vec<WirePush>,
    /// The webhooks the request fired (see [`Engine::webhook_calls`]), ready to POST.
    pub webhooks: Vec<configuration::WireWebhook>,
}

// ----- reading a request -----

/// A request message, borrowing from its text: the payload stays raw text until the action
/// reads it.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(default, borrow)]
    request_id: Option<Str<'a>>,
    #[serde(borrow)]
    action: Str<'a>,
    #[serde(default, borrow)]
    payload: Option<&'a RawValue>,
    #[serde(default, borrow)]
    author_id: Option<Str<'a>>,
}

/// A JSON string, borrowed from the request text unless it has escapes. It accepts exactly
/// what `String` does, with the same error messages ("expected a string").
struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;

        impl<'de> Visitor<'de> for StrVisitor {
            type Value = Str<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }

        deserializer.deserialize_string(StrVisitor)
    }
}

/// A `send_event` request with a plain message, the hot path, read in one pass; any other
/// request fails to read as this and takes the general way ([`Envelope`], then the action's
/// payload).
///
/// It takes an object with `action` equal to `send_event` before `payload`, an optional
/// `request_id` and no `author_id`, and skips other keys as [`Envelope`] does; keys must be
/// unescaped and appear at most once. The payload is read as [`Envelope`] and then `send_event`
/// would read it, except that it may be refused where they would not (a repeated or escaped key,
/// nesting deeper by the envelope's one level); so whatever this accepts, the general way reads
/// the same. The `wire` tests check that on random requests.
struct PlainSendEvent<'a> {
    request_id: Option<Str<'a>>,
    payload: actions::SendMessage,
}

impl<'de: 'a, 'a> Deserialize<'de> for PlainSendEvent<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PlainVisitor;

        impl<'de> Visitor<'de> for PlainVisitor {
            type Value = PlainSendEvent<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a send_event request")
            }

            fn visit_map<A: de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<PlainSendEvent<'de>, A::Error> {
                let other = || de::Error::custom("not a plain send_event request");
                let mut request_id = None;
                let mut is_send_event = false;
                let mut payload = None;
                while let Some(key) = map.next_key::<&'de str>()? {
                    match key {
                        "request_id" if request_id.is_none() => {
                            request_id = Some(map.next_value::<Option<Str<'de>>>()?);
                        }
                        "action" if !is_send_event => {
                            if map.next_value::<Str<'de>>()?.0 != "send_event" {
                                return Err(other());
                            }
                            is_send_event = true;
                        }
                        "payload" if is_send_event && payload.is_none() => {
                            payload = Some(map.next_value()?);
                        }
                        "request_id" | "action" | "payload" | "author_id" => return Err(other()),
                        _ => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                }
                match payload {
                    Some(payload) => Ok(PlainSendEvent {
                        request_id: request_id.flatten(),
                        payload,
                    }),
                    None => Err(other()),
                }
            }
        }

        deserializer.deserialize_map(PlainVisitor)
    }
}

/// Handles one request message from `user` (already authenticated by the host) on `api`.
///
/// The reply is text, so the request's journal records stay in the engine: a host that
/// persists takes them with [`Engine::take_journal`] before it sends the reply (see
/// [`crate::journal`]). Whatever the engine's [`JournalMode`], records are held for the call
/// (none are made when it is `Off`).
pub fn handle(engine: &mut Engine, api: Api, user: &UserId, now: Timestamp, text: &str) -> Reply {
    handle_with(engine, api, user, now, text, &mut NoArchive)
}

/// [`handle`] for a host that archives threads
/// ([`Engine::archive_threads`](crate::Engine::archive_threads)): `get_chat_threads` and
/// `get_archives` load the archived threads their answer shows from `archive`, and fill them in
/// with the requester's view before rendering. An answer that shows none never calls it.
pub fn handle_with(
    engine: &mut Engine,
    api: Api,
    user: &UserId,
    now: Timestamp,
    text: &str,
    archive: &mut dyn ArchiveStore,
) -> Reply {
    let mode = engine.journal_mode();
    if mode != JournalMode::Output {
        return handle_request(engine, api, user, now, text, archive);
    }
    engine.set_journal_mode(JournalMode::Hold);
    let reply = handle_request(engine, api, user, now, text, archive);
    engine.set_journal_mode(mode);
    reply
}

/// Where a host keeps the threads [`Engine::archive_threads`](crate::Engine::archive_threads)
/// handed it, for [`handle_with`]. The call is synchronous, made while the host holds the
/// engine: a store on the same machine (SQLite) or a database a short hop away answers in
/// well under the time a request takes anyway, and only queries that show archived threads
/// make it.
pub trait ArchiveStore {
    /// The threads named `(chat, thread)`, as they were handed out; an error says why they
    /// could not be read (it reaches the requester as an `internal` error).
    fn load(&mut self, threads: &[(ChatId, ThreadId)]) -> Result<Vec<ArchivedThread>, String>;
}

/// The store of a host that keeps no archived threads: [`handle`]'s. An engine whose threads
/// were never archived never asks it.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoArchive;

impl ArchiveStore for NoArchive {
    fn load(&mut self, _: &[(ChatId, ThreadId)]) -> Result<Vec<ArchivedThread>, String> {
        Err("this host keeps no archived threads".into())
    }
}

/// Loads what an answer lists as archived from `archive` and fills it in.
pub(crate) fn load_archived(
    archive: &mut dyn ArchiveStore,
    keys: &[(ChatId, ThreadId)],
    fill: impl FnOnce(&[ArchivedThread]) -> Result<(), Error>,
) -> Result<(), Error> {
    if keys.is_empty() {
        return Ok(());
    }
    let loaded = archive
        .load(keys)
        .map_err(|_| Error::Internal("the host could not load archived threads"))?;
    fill(&loaded)
}

fn handle_request(
    engine: &mut Engine,
    api: Api,
    user: &UserId,
    now: Timestamp,
    text: &str,
    archive: &mut dyn ArchiveStore,
) -> Reply {
    if let Ok(request) = serde_json::from_str::<PlainSendEvent<'_>>(text) {
        if let Some((chat_id, event)) = request.payload.into_parts() {
            let result = actions::send_event(engine, api, user, now, chat_id, event);
            let request_id = request.request_id.as_ref().map(|s| &*s.0);
            let webhooks = configuration::fired(engine, &result);
            return Reply {
                webhooks,
                ..reply(request_id, "send_event", result)
            };
        }
    }
    let envelope = match read_envelope(text) {
        Ok(e) => e,
        Err(e) => {
            let (request_id, action) = salvage(text);
            let err = Error::InvalidField {
                field: "request",
                reason: e,
            };
            return error_reply(request_id.as_deref(), &action, &err);
        }
    };
    let request_id = envelope.request_id.as_ref().map(|s| &*s.0);
    let action = &*envelope.action.0;
    let payload = envelope.payload_text();
    let author = match &envelope.author_id {
        None => Ok(Cow::Borrowed(user)),
        Some(author) => actions::bot_author(engine, api, user, &author.0).map(Cow::Owned),
    };
    let result = author
        .and_then(|author| actions::dispatch(engine, api, &author, now, action, payload, archive));
    let webhooks = configuration::fired(engine, &result);
    Reply {
        webhooks,
        ..reply(request_id, action, result)
    }
}

/// The reply to a request that was read: its response, and its pushes rendered.
fn reply(
    request_id: Option<&str>,
    action: &str,
    result: Result<(Payload, Vec<Push>), Error>,
) -> Reply {
    match result {
        Ok((payload, pushes)) => {
            let (response, event_text) =
                response_text(request_id, action, true, |out| write_payload(out, &payload));
            // The event as the response shows it, for the pushes that carry the same event.
            let shared = match (&payload, event_text) {
                (Payload::Event { event, .. }, Some(range)) => Some((event, &response[range])),
                _ => None,
            };
            let pushes = encode_pushes(&pushes, shared);
            Reply {
                response,
                action: action.to_owned(),
                success: true,
                pushes,
                webhooks: Vec::new(),
            }
        }
        Err(err) => error_reply(request_id, action, &err),
    }
}

/// Reads a request message the general way, or says why it is not one.
fn read_envelope(text: &str) -> Result<Envelope<'_>, String> {
    // serde would also read a struct from a JSON array; the protocol's messages are objects.
    let is_object = |t: &str| t.trim_start().starts_with('{');
    if !is_object(text) {
        return Err("a request must be a JSON object".to_string());
    }
    let envelope = serde_json::from_str::<Envelope<'_>>(text).map_err(|e| e.to_string())?;
    match envelope.payload {
        Some(p) if !is_object(p.get()) && p.get().trim() != "null" => {
            Err("payload must be an object".to_string())
        }
        _ => Ok(envelope),
    }
}

impl Envelope<'_> {
    /// The payload's text; `{}` when it is missing or `null`.
    fn payload_text(&self) -> &str {
        let payload = self.payload.map_or("{}", RawValue::get);
        if payload.trim() == "null" {
            "{}"
        } else {
            payload
        }
    }
}

/// What can be read of a request that did not parse: its `request_id` and `action`, if the text
/// is a JSON object at all.
fn salvage(text: &str) -> (Option<String>, String) {
    let Ok(Value::Object(m)) = serde_json::from_str::<Value>(text) else {
        return (None, String::new());
    };
    let request_id = match m.get("request_id") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let action = m
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    (request_id, action)
}

// ----- writing messages -----
//
// Every message is written straight to text. Objects keep their keys in sorted order, the
// order in which `serde_json::Value` prints them (this crate does not enable `preserve_order`),
// so the text is byte for byte what printing the equivalent `Value` gives; the tests in
// `render` and `tests/wire_golden.rs` hold both to that.

/// Renders a push for its recipients' API.
pub fn encode_push(push: &Push) -> WirePush {
    WirePush {
        to: push.to.clone(),
        action: push.action(),
        text: push_text(&push.kind, Api::of(push.role)),
    }
}

/// Renders the pushes of one request. `shared` is the event of the response and its text:
/// an `incoming_event` push of that very event (the same allocation) reuses the text, and so
/// does a push of the same event as the push before it (the agents' and the customer's views
/// of an event are one allocation unless the customer's view leaves something out).
fn encode_pushes(pushes: &[Push], shared: Option<(&Arc<Event>, &str)>) -> Vec<WirePush> {
    let mut out: Vec<WirePush> = Vec::with_capacity(pushes.len());
    for (i, push) in pushes.iter().enumerate() {
        let text = match &push.kind {
            PushKind::IncomingEvent {
                chat_id,
                thread_id,
                event,
            } => {
                // An `incoming_event` payload is the same for both APIs.
                let previous = i.checked_sub(1).map(|j| (&pushes[j].kind, &out[j].text));
                match previous {
                    Some((
                        PushKind::IncomingEvent {
                            chat_id: c,
                            thread_id: t,
                            event: e,
                        },
                        text,
                    )) if c == chat_id && t == thread_id && Arc::ptr_eq(e, event) => text.clone(),
                    _ => match shared.filter(|(e, _)| Arc::ptr_eq(e, event)) {
                        Some((_, json)) => incoming_event_text(chat_id, thread_id, json),
                        None => incoming_event_text(chat_id, thread_id, &event_text(event)),
                    },
                }
            }
            kind => push_text(kind, Api::of(push.role)),
        };
        out.push(WirePush {
            to: push.to.clone(),
            action: push.action(),
            text,
        });
    }
    out
}

/// A push message, `{"action", "payload", "type": "push"}`.
fn push_text(kind: &PushKind, api: Api) -> String {
    if let PushKind::IncomingEvent {
        chat_id,
        thread_id,
        event,
    } = kind
    {
        return incoming_event_text(chat_id, thread_id, &event_text(event));
    }
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(br#"{"action":"#);
    write_json(&mut out, kind.action());
    out.extend_from_slice(br#","payload":"#);
    write_json(&mut out, &render::push_payload(kind, api));
    out.extend_from_slice(br#","type":"push"}"#);
    into_string(out)
}

/// An event object as text.
fn event_text(event: &Event) -> String {
    let mut out = Vec::with_capacity(256);
    write_event(&mut out, event);
    into_string(out)
}

/// An `incoming_event` push around an event already rendered.
fn incoming_event_text(chat_id: &ChatId, thread_id: &ThreadId, event_json: &str) -> String {
    const HEAD: &str = r#"{"action":"incoming_event","payload":{"chat_id":"#;
    const EVENT: &str = r#","event":"#;
    const THREAD: &str = r#","thread_id":"#;
    const TAIL: &str = r#"},"type":"push"}"#;
    const UUID: usize = 38; // quoted
    let len = HEAD.len() + EVENT.len() + THREAD.len() + TAIL.len() + 2 * UUID;
    let mut out = String::with_capacity(len + event_json.len());
    out.push_str(HEAD);
    write_uuid(&mut out, chat_id.as_uuid());
    out.push_str(EVENT);
    out.push_str(event_json);
    out.push_str(THREAD);
    write_uuid(&mut out, thread_id.as_uuid());
    out.push_str(TAIL);
    out
}

/// Writes a response payload; for an event, returns where the event object is in `out`.
fn write_payload(out: &mut Vec<u8>, payload: &Payload) -> Option<Range<usize>> {
    match payload {
        Payload::Empty => {
            out.extend_from_slice(b"{}");
            None
        }
        Payload::Json(value) => {
            write_json(out, value);
            None
        }
        Payload::Event {
            thread_id,
            event,
            url,
        } => {
            out.extend_from_slice(br#"{"event":"#);
            let start = out.len();
            write_event(out, event);
            let end = out.len();
            out.extend_from_slice(br#","thread_id":"#);
            write_uuid_bytes(out, thread_id.as_uuid());
            if let Some(url) = url {
                out.extend_from_slice(br#","url":"#);
                write_json(out, url);
            }
            out.push(b'}');
            Some(start..end)
        }
    }
}

/// A response message: `{"action", "payload", "request_id" (when given), "success",
/// "type": "response"}`. `payload` writes the payload; what it returns is passed on.
fn response_text<R>(
    request_id: Option<&str>,
    action: &str,
    success: bool,
    payload: impl FnOnce(&mut Vec<u8>) -> R,
) -> (String, R) {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(br#"{"action":"#);
    write_json(&mut out, action);
    out.extend_from_slice(br#","payload":"#);
    let r = payload(&mut out);
    if let Some(id) = request_id {
        out.extend_from_slice(br#","request_id":"#);
        write_json(&mut out, id);
    }
    out.extend_from_slice(if success {
        br#","success":true,"type":"response"}"#
    } else {
        br#","success":false,"type":"response"}"#
    });
    (into_string(out), r)
}

/// The text `serde_json` wrote. It writes only whole UTF-8 sequences, as does every literal
/// here, so the check cannot fail; should it ever, the text is repaired rather than lost.
fn into_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Writes `{"error": {"message", "type"}}`.
fn write_error(out: &mut Vec<u8>, kind: ErrorKind, message: &dyn fmt::Display) {
    /// Serializes a `Display` as a JSON string without an intermediate `String`.
    struct Message<'a>(&'a dyn fmt::Display);

    impl serde::Serialize for Message<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str(self.0)
        }
    }

    out.extend_from_slice(br#"{"error":{"message":"#);
    write_json(out, &Message(message));
    out.extend_from_slice(br#","type":"#);
    write_json(out, kind.as_str());
    out.extend_from_slice(b"}}");
}

/// The error response for a request that failed before or during handling.
pub fn error_reply(request_id: Option<&str>, action: &str, err: &Error) -> Reply {
    let (response, ()) = response_text(request_id, action, false, |out| {
        write_error(out, err.kind(), err);
    });
    Reply {
        response,
        action: action.to_string(),
        success: false,
        pushes: Vec::new(),
        webhooks: Vec::new(),
    }
}

/// The error payload `{"error": {"type", "message"}}`.
pub fn error_payload(err: &Error) -> Value {
    json!({ "error": { "type": err.kind().as_str(), "message": err.to_string() } })
}

/// An error response of a given type, for errors the host detects itself (authentication,
/// unsupported version).
pub fn error_text(
    request_id: Option<&str>,
    action: &str,
    kind: ErrorKind,
    message: &str,
) -> String {
    response_text(request_id, action, false, |out| {
        write_error(out, kind, &message);
    })
    .0
}
