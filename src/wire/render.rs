//! The v0.5 JSON shapes of the model's objects, per API.
//!
//! Properties are wrapped as `{"value": v}`, timestamps are Unix seconds, and optional fields
//! are left out rather than `null`. Objects print with sorted keys, as `serde_json::Value` does.
//! Events, the hot path, are written straight to text by [`write_event`]; [`WireEvent`] is the
//! same object for `Value`s. The rest goes through `serde_json::Value`.

use std::collections::BTreeMap;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value, json};

use super::Api;
use crate::engine::AutoChatScopes;
use crate::model::{
    Agent, Customer, Event, EventKind, License, Properties, Recipients, Scopes, Thread, Timestamp,
    User, UserId,
};
use crate::push::{ChatThread, PushKind};
use crate::query::{Archives, ChatSummary, ChatThreads, ThreadsSummary};
use crate::routing::RoutingStatus;

/// Properties as the protocol shows them: `{ns: {name: {"value": v}}}`.
pub(crate) struct WireProperties<'a>(pub(crate) &'a Properties);

impl Serialize for WireProperties<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Values<'a>(&'a std::collections::BTreeMap<String, crate::model::PropertyValue>);
        impl Serialize for Values<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(Some(self.0.len()))?;
                for (name, value) in self.0 {
                    map.serialize_entry(name, &Wrapped(value))?;
                }
                map.end()
            }
        }
        struct Wrapped<'a>(&'a crate::model::PropertyValue);
        impl Serialize for Wrapped<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("value", self.0)?;
                map.end()
            }
        }
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (namespace, values) in self.0 {
            map.serialize_entry(namespace, &Values(values))?;
        }
        map.end()
    }
}

/// An event object.
///
/// The keys are written in sorted order, the order in which `serde_json::Value` (a `BTreeMap`
/// without the `preserve_order` feature) prints an object, and nested structs go through
/// [`Sorted`], so serializing this straight to text gives exactly the bytes of printing
/// [`event`]'s `Value`. The `wire` tests compare the two for every kind.
pub(crate) struct WireEvent<'a>(pub(crate) &'a Event);

impl Serialize for WireEvent<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let kind = &e.kind;
        let mut map = s.serialize_map(None)?;
        // Every key an event can have, in sorted order: annotation_type, author_id, content,
        // content_type, custom_id, elements, fields, height, id, name, order, properties,
        // recipients, size, system_message_type, template_id, text, timestamp, type, url, width.
        if let EventKind::Annotation {
            annotation_type, ..
        } = kind
        {
            map.serialize_entry("annotation_type", annotation_type)?;
        }
        if let Some(author) = &e.author_id {
            map.serialize_entry("author_id", author)?;
        }
        match kind {
            EventKind::Custom { content } => map.serialize_entry("content", content)?,
            EventKind::File(file) => map.serialize_entry("content_type", &file.content_type)?,
            _ => {}
        }
        if let Some(custom_id) = &e.custom_id {
            map.serialize_entry("custom_id", custom_id)?;
        }
        match kind {
            EventKind::RichMessage(rich) => {
                map.serialize_entry("elements", &Sorted(&rich.elements))?;
            }
            EventKind::FilledForm { fields } => map.serialize_entry("fields", &Sorted(fields))?,
            EventKind::File(file) => {
                if let Some(h) = file.height {
                    map.serialize_entry("height", &h)?;
                }
            }
            _ => {}
        }
        map.serialize_entry("id", &e.id)?;
        if let EventKind::File(file) = kind {
            map.serialize_entry("name", &file.name)?;
        }
        map.serialize_entry("order", &e.order)?;
        if !e.properties.is_empty() {
            map.serialize_entry("properties", &WireProperties(&e.properties))?;
        }
        map.serialize_entry("recipients", &e.recipients)?;
        match kind {
            EventKind::File(file) => map.serialize_entry("size", &file.size)?,
            EventKind::SystemMessage {
                system_message_type: Some(t),
                ..
            } => map.serialize_entry("system_message_type", t)?,
            EventKind::RichMessage(rich) => {
                map.serialize_entry("template_id", &rich.template_id)?;
            }
            _ => {}
        }
        match kind {
            EventKind::Message { text }
            | EventKind::Annotation { text, .. }
            | EventKind::SystemMessage { text, .. } => map.serialize_entry("text", text)?,
            _ => {}
        }
        map.serialize_entry("timestamp", &e.timestamp)?;
        map.serialize_entry("type", kind.type_name())?;
        if let EventKind::File(file) = kind {
            map.serialize_entry("url", &file.url)?;
            if let Some(w) = file.width {
                map.serialize_entry("width", &w)?;
            }
        }
        map.end()
    }
}

/// A value whose derived `Serialize` writes its keys in declaration order, written with sorted
/// keys instead (through a `Value`, as the rest of the codec does), for the rare nested structs
/// of [`WireEvent`].
struct Sorted<'a, T>(&'a T);

impl<T: Serialize> Serialize for Sorted<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        to_value(self.0).serialize(s)
    }
}

/// Appends an event object as JSON text: the bytes of printing [`event`]'s `Value`, written
/// without building it. Keys, UUIDs and the other fixed words are copied as they are (none needs
/// escaping); strings and numbers go through `serde_json`.
pub(crate) fn write_event(out: &mut Vec<u8>, e: &Event) {
    let kind = &e.kind;
    // The first key has no comma before it; the keys below are in sorted order (see
    // `WireEvent`), and `id`, which every event has, is the first one some events have.
    let mut sep = b'{';
    let mut key = |out: &mut Vec<u8>, name: &[u8]| {
        out.push(sep);
        sep = b',';
        out.push(b'"');
        out.extend_from_slice(name);
        out.extend_from_slice(b"\":");
    };
    if let EventKind::Annotation {
        annotation_type, ..
    } = kind
    {
        key(out, b"annotation_type");
        write_json(out, annotation_type);
    }
    if let Some(author) = &e.author_id {
        key(out, b"author_id");
        write_json(out, author);
    }
    match kind {
        EventKind::Custom { content } => {
            key(out, b"content");
            write_json(out, content);
        }
        EventKind::File(file) => {
            key(out, b"content_type");
            write_json(out, &file.content_type);
        }
        _ => {}
    }
    if let Some(custom_id) = &e.custom_id {
        key(out, b"custom_id");
        write_json(out, custom_id);
    }
    match kind {
        EventKind::RichMessage(rich) => {
            key(out, b"elements");
            write_json(out, &Sorted(&rich.elements));
        }
        EventKind::FilledForm { fields } => {
            key(out, b"fields");
            write_json(out, &Sorted(fields));
        }
        EventKind::File(file) => {
            if let Some(h) = file.height {
                key(out, b"height");
                write_json(out, &h);
            }
        }
        _ => {}
    }
    key(out, b"id");
    write_uuid_bytes(out, e.id.as_uuid());
    if let EventKind::File(file) = kind {
        key(out, b"name");
        write_json(out, &file.name);
    }
    key(out, b"order");
    write_json(out, &e.order);
    if !e.properties.is_empty() {
        key(out, b"properties");
        write_json(out, &WireProperties(&e.properties));
    }
    key(out, b"recipients");
    out.extend_from_slice(match e.recipients {
        Recipients::All => b"\"all\"",
        Recipients::Agents => b"\"agents\"",
    });
    match kind {
        EventKind::File(file) => {
            key(out, b"size");
            write_json(out, &file.size);
        }
        EventKind::SystemMessage {
            system_message_type: Some(t),
            ..
        } => {
            key(out, b"system_message_type");
            write_json(out, t);
        }
        EventKind::RichMessage(rich) => {
            key(out, b"template_id");
            write_json(out, &rich.template_id);
        }
        _ => {}
    }
    match kind {
        EventKind::Message { text }
        | EventKind::Annotation { text, .. }
        | EventKind::SystemMessage { text, .. } => {
            key(out, b"text");
            write_json(out, text);
        }
        _ => {}
    }
    key(out, b"timestamp");
    write_json(out, &e.timestamp);
    key(out, b"type");
    out.push(b'"');
    out.extend_from_slice(kind.type_name().as_bytes());
    out.push(b'"');
    if let EventKind::File(file) = kind {
        key(out, b"url");
        write_json(out, &file.url);
        if let Some(w) = file.width {
            key(out, b"width");
            write_json(out, &w);
        }
    }
    out.push(b'}');
}

/// Appends `value` as JSON text. `serde_json` fails only for non-string map keys, which none of
/// the codec's types have; should it ever fail, the partial text is replaced by `null`, as
/// [`to_value`] would have made it.
pub(crate) fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let start = out.len();
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.truncate(start);
        out.extend_from_slice(b"null");
    }
}

/// Appends a UUID in its canonical (lowercase, hyphenated) form, quoted, as `Uuid` serializes.
pub(crate) fn write_uuid(out: &mut String, id: &uuid::Uuid) {
    let mut buf = uuid::Uuid::encode_buffer();
    out.push('"');
    out.push_str(id.hyphenated().encode_lower(&mut buf));
    out.push('"');
}

/// [`write_uuid`] for a byte buffer.
pub(crate) fn write_uuid_bytes(out: &mut Vec<u8>, id: &uuid::Uuid) {
    let mut buf = uuid::Uuid::encode_buffer();
    out.push(b'"');
    out.extend_from_slice(id.hyphenated().encode_lower(&mut buf).as_bytes());
    out.push(b'"');
}

fn to_value(v: impl Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

pub(crate) fn event(e: &Event) -> Value {
    to_value(WireEvent(e))
}

pub(crate) fn properties(p: &Properties) -> Value {
    to_value(WireProperties(p))
}

pub(crate) fn scopes(s: &Scopes) -> Value {
    to_value(s)
}

/// `present` of a user object: whether the user is in the chat. The engine lists only the users
/// in a chat (an agent who leaves is dropped from the list, a customer never leaves its chats),
/// and the other user objects are of the requester itself or of a chat's customer, so every user
/// object the codec shows is of a present user. Being connected is another matter, which the
/// host knows.
const PRESENT: bool = true;

/// The agent `login`'s `license` object: `id`, `plan`, `creation_timestamp`,
/// `expiration_timestamp` (left out for a license that never expires) and `in_trial`.
pub(crate) fn license(l: &License) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(l.id));
    m.insert("plan".into(), json!(l.plan));
    m.insert("creation_timestamp".into(), to_value(l.creation_timestamp));
    if let Some(t) = l.expiration_timestamp {
        m.insert("expiration_timestamp".into(), to_value(t));
    }
    m.insert("in_trial".into(), json!(l.in_trial));
    Value::Object(m)
}

/// Which `last_seen_timestamp` a user object shows.
#[derive(Clone, Copy, Debug)]
pub(crate) enum LastSeen {
    /// Outside a chat's user list: a customer's latest activity in the license; none for an
    /// agent, which has no such time.
    License,
    /// In a chat's user list: the time the user has seen that chat up to, if it ever said.
    InChat(Option<Timestamp>),
}

pub(crate) fn customer(c: &Customer, api: Api, seen: LastSeen) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), to_value(&c.id));
    m.insert("type".into(), json!("customer"));
    m.insert("present".into(), json!(PRESENT));
    if let Some(name) = &c.name {
        m.insert("name".into(), json!(name));
    }
    if let Some(email) = &c.email {
        m.insert("email".into(), json!(email));
    }
    let last_seen = match seen {
        LastSeen::License => c.last_seen_timestamp,
        LastSeen::InChat(t) => t,
    };
    if let Some(t) = last_seen {
        m.insert("last_seen_timestamp".into(), to_value(t));
    }
    m.insert("fields".into(), to_value(&c.fields));
    // Monitoring and the ban are for agents; the Customer API's customer object has neither.
    if api == Api::Agent {
        if let Some(monitoring) = monitoring(c) {
            m.insert("monitoring".into(), monitoring);
        }
        m.insert("banned".into(), json!(c.banned_until.is_some()));
    }
    Value::Object(m)
}

/// The Agent API's `monitoring` of a customer, as v0.5's sample shows it, with what the engine
/// keeps: `current_visit` (its `start` and the current page, with the page's `start`; the
/// engine keeps no history of pages, so the list has that page alone), `referrer`, and
/// `geolocation.timezone` (the time zone the customer gave: the engine looks up no address,
/// so the other `geolocation` keys, `ip`, `host`, `user_agent` and `stats` are left out).
/// `None` when the customer reported none of it.
fn monitoring(c: &Customer) -> Option<Value> {
    let mut m = Map::new();
    if let Some(page) = &c.current_page {
        let mut shown = Map::new();
        if let Some(start) = c.page_start {
            shown.insert("start".into(), to_value(start));
        }
        if let Some(url) = &page.url {
            shown.insert("url".into(), json!(url));
        }
        if let Some(title) = &page.title {
            shown.insert("title".into(), json!(title));
        }
        let mut visit = Map::new();
        if let Some(start) = c.visit_start {
            visit.insert("start".into(), to_value(start));
        }
        visit.insert("pages".into(), json!([shown]));
        m.insert("current_visit".into(), Value::Object(visit));
    }
    if let Some(referrer) = &c.referrer {
        m.insert("referrer".into(), json!(referrer));
    }
    if let Some(timezone) = &c.timezone {
        m.insert("geolocation".into(), json!({ "timezone": timezone }));
    }
    (!m.is_empty()).then_some(Value::Object(m))
}

pub(crate) fn agent(
    a: &Agent,
    routing_status: Option<RoutingStatus>,
    api: Api,
    seen: LastSeen,
) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), to_value(&a.id));
    m.insert("type".into(), json!("agent"));
    m.insert("name".into(), json!(a.name));
    m.insert("present".into(), json!(PRESENT));
    // Customers are not shown agents' e-mail addresses.
    if let Some(email) = a.email.as_ref().filter(|_| api == Api::Agent) {
        m.insert("email".into(), json!(email));
    }
    if let Some(avatar) = &a.avatar {
        m.insert("avatar".into(), json!(avatar));
    }
    if let Some(status) = routing_status {
        m.insert("routing_status".into(), json!(status.as_str()));
    }
    if let LastSeen::InChat(Some(t)) = seen {
        m.insert("last_seen_timestamp".into(), to_value(t));
    }
    Value::Object(m)
}

/// A user object; an agent's `routing_status` is given only where the caller knows it.
pub(crate) fn user(
    u: &User,
    routing_status: Option<RoutingStatus>,
    api: Api,
    seen: LastSeen,
) -> Value {
    match u {
        User::Customer(c) => customer(c, api, seen),
        User::Agent(a) => agent(a, routing_status, api, seen),
    }
}

/// A chat's user list, each user with its last-seen time in that chat and, for the Agent API,
/// each online agent with its routing status (the Agent API's agent object carries it only while
/// the agent is logged in; the Customer API's has no such field).
fn users(
    list: &[User],
    last_seen: &BTreeMap<UserId, Timestamp>,
    routing_statuses: &BTreeMap<UserId, RoutingStatus>,
    api: Api,
) -> Value {
    Value::Array(
        list.iter()
            .map(|u| {
                let status = match api {
                    Api::Agent => routing_statuses.get(u.id()).copied(),
                    Api::Customer => None,
                };
                user(
                    u,
                    status,
                    api,
                    LastSeen::InChat(last_seen.get(u.id()).copied()),
                )
            })
            .collect(),
    )
}

/// One auto chat scopes configuration. Its derived `Serialize` (the snapshot's and the journal's
/// format) writes unset fields as `null`; the wire leaves them out, and leaves out rules not
/// given.
pub(crate) fn auto_chat_scopes(config: &AutoChatScopes) -> Value {
    let mut rules = Map::new();
    if !config.rules.chat_properties.is_empty() {
        rules.insert(
            "chat_properties".into(),
            to_value(&config.rules.chat_properties),
        );
    }
    if let Some(filter) = &config.rules.customer_url {
        rules.insert("customer_url".into(), to_value(filter));
    }
    let mut m = Map::new();
    m.insert("id".into(), json!(config.id));
    if let Some(description) = &config.description {
        m.insert("description".into(), json!(description));
    }
    m.insert("scopes".into(), scopes(&config.scopes));
    m.insert("rules".into(), Value::Object(rules));
    Value::Object(m)
}

pub(crate) fn thread(t: &Thread, with_events: bool) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), to_value(t.id));
    m.insert("timestamp".into(), to_value(t.timestamp));
    m.insert("active".into(), json!(t.active));
    m.insert("user_ids".into(), to_value(t.user_ids()));
    if with_events {
        m.insert(
            "events".into(),
            Value::Array(t.events.iter().map(|e| event(&e)).collect()),
        );
    }
    m.insert("order".into(), json!(t.order));
    if !t.properties.is_empty() {
        m.insert("properties".into(), properties(&t.properties));
    }
    Value::Object(m)
}

pub(crate) fn chat_thread(c: &ChatThread, api: Api) -> Value {
    json!({
        "id": c.id,
        "users": users(&c.users, &c.last_seen, &c.routing_statuses, api),
        "properties": properties(&c.properties),
        "scopes": scopes(&c.scopes),
        "thread": thread(&c.thread, true),
    })
}

/// `get_archives`: each archive wrapped as `{"chat": ...}`, as the reference shows it.
pub(crate) fn archives(a: &Archives, api: Api) -> Value {
    json!({
        "chats": a.chats.iter()
            .map(|c| json!({ "chat": chat_thread(c, api) }))
            .collect::<Vec<_>>(),
        "pagination": { "page": a.pagination.page, "total": a.pagination.total },
    })
}

pub(crate) fn chat_threads(c: &ChatThreads, api: Api) -> Value {
    let summary_key = match api {
        Api::Agent => "thread_id",
        Api::Customer => "id",
    };
    let summary: Vec<Value> = c
        .threads_summary
        .iter()
        .map(|t| json!({ summary_key: t.id, "order": t.order, "total_events": t.total_events }))
        .collect();
    json!({
        "chat": {
            "id": c.id,
            "users": users(&c.users, &c.last_seen, &c.routing_statuses, api),
            "properties": properties(&c.properties),
            "scopes": scopes(&c.scopes),
            "threads": c.threads.iter().map(|t| thread(t, true)).collect::<Vec<_>>(),
            "threads_summary": summary,
        }
    })
}

pub(crate) fn threads_summary(s: &ThreadsSummary) -> Value {
    json!({
        "threads_summary": s.threads_summary.iter()
            .map(|t| json!({"id": t.id, "order": t.order, "total_events": t.total_events}))
            .collect::<Vec<_>>(),
        "total_threads": s.total_threads,
    })
}

pub(crate) fn chat_summary(c: &ChatSummary, api: Api) -> Value {
    let last: Map<String, Value> = c
        .last_event_per_type
        .iter()
        .map(|(kind, last)| {
            (
                kind.clone(),
                json!({
                    "thread_id": last.thread_id,
                    "thread_order": last.thread_order,
                    "event": event(&last.event),
                }),
            )
        })
        .collect();
    let mut m = Map::new();
    m.insert("id".into(), to_value(c.id));
    if api == Api::Customer {
        m.insert("order".into(), json!(c.order));
    }
    m.insert(
        "users".into(),
        users(&c.users, &c.last_seen, &c.routing_statuses, api),
    );
    m.insert("last_event_per_type".into(), Value::Object(last));
    if api == Api::Agent {
        if let Some(t) = &c.last_thread_summary {
            m.insert("last_thread_summary".into(), thread(t, false));
        }
    }
    m.insert("properties".into(), properties(&c.properties));
    m.insert("scopes".into(), scopes(&c.scopes));
    Value::Object(m)
}

/// A push's payload, in the shape of `api`.
pub(crate) fn push_payload(kind: &PushKind, api: Api) -> Value {
    match kind {
        PushKind::IncomingChatThread { chat } => json!({ "chat": chat_thread(chat, api) }),
        PushKind::IncomingEvent {
            chat_id,
            thread_id,
            event: e,
        } => json!({ "chat_id": chat_id, "thread_id": thread_id, "event": event(e) }),
        PushKind::ChatUsersUpdated {
            chat_id,
            added,
            removed_ids,
        } => match api {
            Api::Customer => json!({
                "chat_id": chat_id,
                "updated_users": {
                    "added": users(added, &BTreeMap::new(), &BTreeMap::new(), api),
                    "removed_ids": removed_ids,
                },
            }),
            Api::Agent => {
                let (agents, customers): (Vec<&User>, Vec<&User>) =
                    added.iter().partition(|u| matches!(u, User::Agent(_)));
                // Users who just joined have no last-seen time in the chat to show, and the push
                // carries no routing status for them either.
                let user = |u: &User| user(u, None, api, LastSeen::InChat(None));
                json!({
                    "chat_id": chat_id,
                    "updated_users": {
                        "customers": {
                            "added": customers.into_iter().map(user).collect::<Vec<_>>(),
                            "removed_ids": [],
                        },
                        "agents": {
                            "added": agents.into_iter().map(user).collect::<Vec<_>>(),
                            "removed_ids": removed_ids,
                        },
                    },
                })
            }
        },
        PushKind::ThreadClosed {
            chat_id,
            thread_id,
            user_id,
        } => {
            let mut v = json!({ "chat_id": chat_id, "thread_id": thread_id });
            if let (Some(u), Value::Object(m)) = (user_id, &mut v) {
                m.insert("user_id".into(), to_value(u));
            }
            v
        }
        PushKind::IncomingTypingIndicator {
            chat_id,
            typing_indicator,
        } => match api {
            Api::Agent => json!({ "chat_id": chat_id, "typing_indicator": typing_indicator }),
            Api::Customer => json!({
                "chat_id": chat_id,
                "typing_indicator": {
                    "author_id": typing_indicator.author_id,
                    "timestamp": typing_indicator.timestamp,
                    "is_typing": typing_indicator.is_typing,
                },
            }),
        },
        PushKind::IncomingSneakPeek {
            chat_id,
            sneak_peek,
        } => json!({
            "chat_id": chat_id,
            "sneak_peek": {
                "author_id": sneak_peek.author_id,
                "recipients": "agents",
                "timestamp": sneak_peek.timestamp,
                "text": sneak_peek.text,
            },
        }),
        PushKind::IncomingRichMessagePostback {
            user_id,
            chat_id,
            thread_id,
            event_id,
            postback,
        } => json!({
            "user_id": user_id, "chat_id": chat_id, "thread_id": thread_id,
            "event_id": event_id, "postback": postback,
        }),
        PushKind::LastSeenTimestampUpdated {
            user_id,
            chat_id,
            timestamp,
        } => json!({ "user_id": user_id, "chat_id": chat_id, "timestamp": timestamp }),
        PushKind::IncomingMulticast { author_id, content } => {
            json!({ "author_id": author_id, "content": content })
        }
        PushKind::CustomerUpdated {
            chat_id,
            customer: c,
        } => json!({ "chat_id": chat_id, "customer": customer(c, api, LastSeen::License) }),
        PushKind::AgentUpdated {
            agent_id,
            routing_status,
        } => json!({ "agent_id": agent_id, "routing_status": routing_status.as_str() }),
        PushKind::CustomerBanned { customer_id, days } => {
            json!({ "customer_id": customer_id, "ban": { "days": days } })
        }
        PushKind::CustomerDisconnected { reason } | PushKind::AgentDisconnected { reason } => {
            json!({ "reason": reason })
        }
        PushKind::ChatPropertiesUpdated {
            chat_id,
            properties: p,
        } => json!({ "chat_id": chat_id, "properties": properties(p) }),
        PushKind::ChatThreadPropertiesUpdated {
            chat_id,
            thread_id,
            properties: p,
        } => json!({ "chat_id": chat_id, "thread_id": thread_id, "properties": properties(p) }),
        PushKind::ChatScopesUpdated {
            chat_id,
            scopes_added,
            scopes_removed,
        } => json!({
            "chat_id": chat_id,
            "scopes_added": scopes(scopes_added),
            "scopes_removed": scopes(scopes_removed),
        }),
    }
}
