//! Bad input to the wire codec: property tests that [`chatio::wire::handle`] never panics and
//! always answers.
//!
//! Inputs, for both APIs and for agents, customers and an unknown user:
//!
//! * arbitrary bytes, read as lossy UTF-8;
//! * arbitrary JSON values: nested objects and arrays whose keys come from the protocol's field
//!   names or are random, and whose leaves are real ids, action and event names, numbers at
//!   the edges of their types, and random strings;
//! * request-shaped objects: a `request_id` (string, number or anything), a real or random
//!   action, a payload built from that action's fields with random values, and sometimes an
//!   `author_id`;
//! * sequences of request-shaped objects sent one after another to the same engine.
//!
//! Every answer must be a JSON object with `type: "response"` and a boolean `success` equal to
//! [`Reply::success`], echo the `request_id` whenever the input is a JSON object whose
//! `request_id` is a string, and name the action when the input names one as a string. A
//! failed request carries `{"error": {"type", "message"}}` with a documented type, causes no
//! pushes and leaves the engine `==` to a clone taken before it. Every push parses with
//! `type: "push"` and its [`WirePush::action`].
//!
//! Cases per property: 2 000 (the sequences 500), or `CHATIO_PROPTEST_CASES`. Failures are not
//! persisted; proptest prints the shrunk input.

mod common;

use std::collections::BTreeMap;

use chatio::model::{Button, Location, PropertyConfig, PropertyType, RichElement, RichMessage};
use chatio::testing::{Choices, Pool, alphabet, requests};
use chatio::wire::{Api, Reply, TRANSPORTS, handle};
use chatio::{
    Agent, Engine, EngineConfig, EventKind, GroupId, NewEvent, StartChat, Timestamp, UserId,
};
use common::{LicenseBuilder, uid};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_json::{Map, Number, Value, json};

const T0: i64 = 1_700_000_000;
const DEFAULT_CASES: u32 = 2_000;

fn cases() -> u32 {
    common::proptest_cases(DEFAULT_CASES).max(1)
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    })
}

// ----- the engine every case starts from -----

struct Base {
    engine: Engine,
    /// Agents, customers and one user the engine does not know.
    users: Vec<(Api, UserId)>,
    /// Strings worth putting in requests: real ids, postbacks, property names.
    words: Vec<String>,
    /// Valid requests, one or more per action, for [`mutated`] to damage.
    templates: Vec<Value>,
}

fn base() -> Base {
    let anna = uid("anna@example.com");
    let bob = uid("bob@example.com");
    let bot = uid("bot@example.com");
    let mut engine = LicenseBuilder::new(EngineConfig::with_seed(11))
        .shared_property(
            PropertyConfig::new("rating", "score", PropertyType::Int),
            &[Location::Chat, Location::Thread, Location::Event],
        )
        .shared_property(
            PropertyConfig::new("source", "type", PropertyType::String),
            &[Location::Chat],
        )
        .agent(Agent::new(anna.clone(), "Anna").with_groups([GroupId(1)]))
        .agent(Agent::new(bob.clone(), "Bob").with_groups([GroupId(2)]))
        .agent(Agent::new(bot.clone(), "Bot").bot_owned_by(anna.clone()))
        .build();
    let jan = engine.create_customer();
    let eva = engine.create_customer();
    let t = Timestamp::from_unix_seconds(T0);
    let started = engine
        .as_customer(&jan, t)
        .unwrap()
        .start_chat(StartChat::default().with_event(NewEvent::message("Hello")))
        .unwrap();
    let chat = started.response.id;
    let thread = started.response.thread.id;
    let _ = engine
        .as_agent(&anna, t)
        .unwrap()
        .join_chat(chat, std::slice::from_ref(&anna))
        .unwrap();
    let rich = RichMessage {
        template_id: "cards".into(),
        elements: vec![RichElement {
            buttons: vec![Button {
                text: "Yes".into(),
                postback_id: "yes".into(),
                user_ids: Vec::new(),
            }],
            ..RichElement::default()
        }],
    };
    let rich = engine
        .as_agent(&anna, t)
        .unwrap()
        .send_event(chat, NewEvent::new(EventKind::RichMessage(rich)))
        .unwrap()
        .response
        .event
        .id;
    let templates = templates(
        &chat.to_string(),
        &thread.to_string(),
        &rich.to_string(),
        &bob.to_string(),
        &jan.to_string(),
    );
    let words = [
        chat.to_string(),
        thread.to_string(),
        rich.to_string(),
        anna.to_string(),
        bob.to_string(),
        bot.to_string(),
        jan.to_string(),
        eva.to_string(),
        "yes".into(),
        "rating".into(),
        "score".into(),
        "source".into(),
        "type".into(),
    ]
    .into_iter()
    .collect();
    Base {
        engine,
        users: vec![
            (Api::Agent, anna),
            (Api::Agent, bob),
            (Api::Agent, bot),
            (Api::Customer, jan),
            (Api::Customer, eva),
            (Api::Agent, uid("ghost@example.com")),
            (Api::Customer, uid("ghost-customer")),
        ],
        words,
        templates,
    }
}

/// Requests that succeed on the base engine (as Anna or Jan, depending on the action).
fn templates(chat: &str, thread: &str, rich: &str, bob: &str, jan: &str) -> Vec<Value> {
    let payloads = [
        (
            "send_event",
            json!({"chat_id": chat, "event": {"type": "message", "text": "hi", "custom_id": "c1"}}),
        ),
        (
            "send_event",
            json!({"chat_id": chat, "event": {"type": "annotation", "annotation_type": "rating", "properties": {"rating": {"score": {"value": 2}}}}}),
        ),
        (
            "send_event",
            json!({"chat_id": chat, "event": {"type": "custom", "content": {"a": {"b": [1]}}, "recipients": "agents"}}),
        ),
        (
            "send_event",
            json!({"chat_id": chat, "event": {"type": "system_message", "text": "sys", "system_message_type": "x"}}),
        ),
        (
            "send_event",
            json!({"chat_id": chat, "event": {"type": "rich_message", "template_id": "cards", "elements": [{"title": "t", "buttons": [{"text": "b", "postback_id": "p"}]}]}}),
        ),
        (
            "send_event",
            json!({"chat_id": chat, "event": {"type": "filled_form", "fields": [{"type": "email", "name": "e", "label": "E", "required": true, "value": "a@b.c"}, {"type": "radio", "name": "r", "options": [{"label": "l", "value": "v", "checked": true}]}]}}),
        ),
        (
            "send_file",
            json!({"chat_id": chat, "custom_id": "f", "file": {"name": "a.png", "url": "https://x/a.png", "content_type": "image/png", "size": 10, "width": 1, "height": 2}}),
        ),
        (
            "send_rich_message_postback",
            json!({"chat_id": chat, "thread_id": thread, "event_id": rich, "postback": {"id": "yes", "toggled": true}}),
        ),
        (
            "send_typing_indicator",
            json!({"chat_id": chat, "recipients": "all", "is_typing": true}),
        ),
        (
            "send_sneak_peek",
            json!({"chat_id": chat, "sneak_peek_text": "typing"}),
        ),
        ("close_thread", json!({"chat_id": chat})),
        ("join_chat", json!({"chat_id": chat, "agent_ids": [bob]})),
        (
            "remove_from_chat",
            json!({"chat_id": chat, "agent_ids": []}),
        ),
        (
            "update_chat_properties",
            json!({"chat_id": chat, "properties": {"rating": {"score": 3}, "source": {"type": {"value": "web"}}}}),
        ),
        (
            "update_chat_thread_properties",
            json!({"chat_id": chat, "thread_id": thread, "properties": {"rating": {"score": {"value": 4}}}}),
        ),
        (
            "update_chat_scopes",
            json!({"chat_id": chat, "add_scopes": {"groups": [1, 2], "agents": [bob]}, "remove_scopes": {"groups": [3]}}),
        ),
        (
            "ban_customer",
            json!({"customer_id": jan, "ban": {"days": 1}}),
        ),
        (
            "multicast",
            json!({"scopes": {"agents": {"all": true, "groups": [2]}, "customers": {"ids": [jan]}}, "content": {"k": 1}}),
        ),
        (
            "get_chat_threads",
            json!({"chat_id": chat, "thread_ids": [thread]}),
        ),
        (
            "get_chat_threads_summary",
            json!({"chat_id": chat, "offset": 0, "limit": 5}),
        ),
        ("get_chats_summary", json!({"offset": 0, "limit": 10})),
        (
            "get_archives",
            json!({"filters": {"query": "parcel", "date_from": "2023-11-01", "date_to": "2023-11-30", "agent_ids": ["anna@example.com"]}, "pagination": {"page": 1, "limit": 5}}),
        ),
        (
            "get_filtered_chats",
            json!({"filters": {"include_active": true, "properties": {"rating": {"score": {"exists": false}}}}}),
        ),
        (
            "update_last_seen_timestamp",
            json!({"chat_id": chat, "timestamp": T0 + 5}),
        ),
        (
            "add_auto_chat_scopes",
            json!({"scopes": {"groups": [2]}, "rules": {"chat_properties": {"source": {"type": {"values": ["web"]}}}, "customer_url": {"values": [{"value": "x", "exact_match": true}]}}}),
        ),
        (
            "transfer_chat",
            json!({"chat_id": chat, "target": {"type": "agent", "ids": [bob]}}),
        ),
        ("get_queue_position", json!({"chat_id": chat})),
        (
            "update_customer",
            json!({"customer": {"name": "J", "email": "j@x.y", "fields": {"k": "v"}, "monitoring": {"page": {"url": "https://x/", "title": "X"}}}}),
        ),
        (
            "start_chat",
            json!({"chat": {"scopes": {"groups": [1]}, "properties": {"source": {"type": "web"}}, "thread": {"events": [{"type": "message", "text": "hello"}]}}}),
        ),
        (
            "update_agent",
            json!({"routing_status": "not_accepting_chats"}),
        ),
    ];
    payloads
        .into_iter()
        .enumerate()
        .map(|(i, (action, payload))| json!({"request_id": format!("t{i}"), "action": action, "payload": payload}))
        .collect()
}

/// Every JSON pointer in a value, the root included.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                pointers(
                    x,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// A valid request with a few of its parts replaced, removed or added to.
fn mutated(base: &Base) -> BoxedStrategy<Value> {
    let templates = base.templates.clone();
    let edits = prop::collection::vec(
        (
            any::<usize>(),
            0..3u8,
            key(&base.words),
            json_value(&base.words),
        ),
        0..4,
    );
    (prop::sample::select(templates), edits)
        .prop_map(|(mut request, edits)| {
            for (pick, op, key, value) in edits {
                let mut all = Vec::new();
                pointers(&request, String::new(), &mut all);
                let pointer = &all[pick % all.len()];
                match (op, request.pointer_mut(pointer)) {
                    (0, Some(slot)) => *slot = value,
                    (1, Some(Value::Object(m))) => {
                        m.insert(key, value);
                    }
                    (1, Some(Value::Array(a))) => a.push(value),
                    (_, _) => {
                        if let Some((parent, last)) = pointer.rsplit_once('/') {
                            match request.pointer_mut(parent) {
                                Some(Value::Object(m)) => {
                                    m.remove(&last.replace("~1", "/").replace("~0", "~"));
                                }
                                Some(Value::Array(a)) => {
                                    if let Ok(i) = last.parse::<usize>() {
                                        if i < a.len() {
                                            a.remove(i);
                                        }
                                    }
                                }
                                _ => {}
                            }
                        }
                    }
                }
            }
            request
        })
        .boxed()
}

// ----- strategies -----

/// Every action `chatio::wire` lists (both references, and the few the engine adds), then names
/// that are nearly actions.
fn actions() -> Vec<&'static str> {
    let mut names: Vec<&str> = TRANSPORTS.iter().map(|&(_, name, _)| name).collect();
    names.sort_unstable();
    names.dedup();
    names.extend(["", "PING", "send_event ", "__proto__"]);
    names
}

/// Field names of requests, payloads and the objects inside them.
const FIELDS: [&str; 67] = [
    "request_id",
    "action",
    "payload",
    "author_id",
    "chat_id",
    "thread_id",
    "thread_ids",
    "event_id",
    "event",
    "type",
    "text",
    "recipients",
    "custom_id",
    "properties",
    "value",
    "postback",
    "id",
    "toggled",
    "agent_ids",
    "customer_ids",
    "customer_id",
    "ban",
    "days",
    "scopes",
    "agents",
    "customers",
    "groups",
    "all",
    "ids",
    "content",
    "is_typing",
    "add_scopes",
    "remove_scopes",
    "routing_status",
    "agent_id",
    "timestamp",
    "offset",
    "limit",
    "chat",
    "thread",
    "events",
    "customer",
    "name",
    "email",
    "fields",
    "monitoring",
    "page",
    "url",
    "file",
    "content_type",
    "size",
    "sneak_peek_text",
    "filters",
    "include_active",
    "query",
    "date_from",
    "date_to",
    "team_ids",
    "pagination",
    "rules",
    "customer_url",
    "auto_chat_scopes_id",
    "template_id",
    "elements",
    "buttons",
    "annotation_type",
    "target",
];

/// Strings the protocol gives meaning to.
const MEANINGFUL: [&str; 22] = [
    "message",
    "system_message",
    "annotation",
    "filled_form",
    "file",
    "custom",
    "rich_message",
    "all",
    "agents",
    "accepting_chats",
    "not_accepting_chats",
    "agent",
    "group",
    "text",
    "email",
    "radio",
    "checkbox",
    "select",
    "cards",
    "image/png",
    "https://example.org/a.png",
    "null",
];

fn key(words: &[String]) -> BoxedStrategy<String> {
    let words = words.to_vec();
    prop_oneof![
        6 => prop::sample::select(&FIELDS[..]).prop_map(str::to_string),
        1 => prop::sample::select(words),
        1 => "[a-z_]{0,10}",
        1 => ".{0,6}",
    ]
    .boxed()
}

fn leaf(words: &[String]) -> BoxedStrategy<Value> {
    let words = words.to_vec();
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..300).prop_map(|n| json!(n)),
        prop::sample::select(vec![
            json!(0),
            json!(-1),
            json!(i32::MAX),
            json!(i64::from(i32::MAX) + 1),
            json!(u32::MAX),
            json!(u64::from(u32::MAX) + 1),
            json!(i64::MIN),
            json!(i64::MAX),
            json!(u64::MAX),
            json!(T0),
            json!(T0 + 10_000_000),
            json!(1.5),
            json!(-0.0),
            json!(1e300),
        ]),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(&MEANINGFUL[..]).prop_map(|s| json!(s)),
        prop::sample::select(actions()).prop_map(|s| json!(s)),
        prop::sample::select(words).prop_map(Value::String),
        ".{0,16}".prop_map(Value::String),
    ]
    .boxed()
}

fn json_value(words: &[String]) -> BoxedStrategy<Value> {
    let key = key(words);
    leaf(words)
        .prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(key.clone(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
            ]
        })
        .boxed()
}

/// A request-shaped object: mostly real actions with payloads made of real field names.
fn request(words: &[String]) -> BoxedStrategy<Value> {
    let value = json_value(words);
    let id = prop_oneof![
        4 => "[a-z0-9-]{0,8}".prop_map(Value::String),
        1 => leaf(words),
    ];
    let action = prop_oneof![
        6 => prop::sample::select(actions()).prop_map(|s| json!(s)),
        1 => leaf(words),
    ];
    let payload = prop_oneof![
        6 => prop::collection::btree_map(
            prop::sample::select(&FIELDS[..]).prop_map(str::to_string),
            value.clone(),
            0..5,
        )
        .prop_map(|m| Value::Object(m.into_iter().collect())),
        1 => value.clone(),
    ];
    let author = prop_oneof![
        leaf(words),
        prop::sample::select(words.to_vec()).prop_map(Value::String)
    ];
    (
        prop::option::weighted(0.8, id),
        prop::option::weighted(0.95, action),
        prop::option::weighted(0.9, payload),
        prop::option::weighted(0.1, author),
        prop::option::weighted(0.1, (key(words), value)),
    )
        .prop_map(|(id, action, payload, author, extra)| {
            let mut m = Map::new();
            let fields = [
                ("request_id", id),
                ("action", action),
                ("payload", payload),
                ("author_id", author),
            ];
            for (k, v) in fields {
                if let Some(v) = v {
                    m.insert(k.to_string(), v);
                }
            }
            if let Some((k, v)) = extra {
                m.insert(k, v);
            }
            Value::Object(m)
        })
        .boxed()
}

// ----- the property -----

const ERROR_TYPES: [&str; 8] = [
    "internal",
    "validation",
    "authorization",
    "authentication",
    "customer_banned",
    "request_timeout",
    "license_expired",
    "unsupported_version",
];

/// Sends `text` and checks the answer; `engine` is left as the request left it.
fn check(engine: &mut Engine, api: Api, user: &UserId, text: &str) -> Result<(), TestCaseError> {
    let before = engine.clone();
    let reply: Reply = handle(
        engine,
        api,
        user,
        Timestamp::from_unix_seconds(T0 + 60),
        text,
    );
    let response: Value = serde_json::from_str(&reply.response).map_err(|e| {
        TestCaseError::fail(format!("response is not JSON ({e}): {}", reply.response))
    })?;
    prop_assert!(response.is_object(), "{}", reply.response);
    prop_assert_eq!(&response["type"], "response");
    prop_assert_eq!(&response["success"], &Value::Bool(reply.success));
    prop_assert_eq!(&response["action"], &Value::String(reply.action.clone()));
    prop_assert!(response["payload"].is_object(), "{}", reply.response);

    let input: Option<Value> = serde_json::from_str(text).ok();
    if let Some(Value::Object(m)) = &input {
        if let Some(Value::String(id)) = m.get("request_id") {
            prop_assert_eq!(&response["request_id"], id, "request_id not echoed");
        }
        if let Some(Value::String(action)) = m.get("action") {
            prop_assert_eq!(&reply.action, action, "action not echoed");
        }
    }
    if reply.success {
        prop_assert!(response["payload"].get("error").is_none());
        for push in &reply.pushes {
            let v: Value = serde_json::from_str(&push.text).map_err(|e| {
                TestCaseError::fail(format!("push is not JSON ({e}): {}", push.text))
            })?;
            prop_assert_eq!(&v["type"], "push");
            prop_assert_eq!(&v["action"], push.action);
            prop_assert!(v["payload"].is_object());
            prop_assert!(!push.to.is_empty());
        }
    } else {
        let error = &response["payload"]["error"];
        let kind = error["type"].as_str().unwrap_or_default();
        prop_assert!(ERROR_TYPES.contains(&kind), "error type {:?}", error);
        prop_assert!(error["message"].is_string());
        prop_assert!(reply.pushes.is_empty(), "a failed request caused pushes");
        prop_assert!(
            *engine == before,
            "a failed request changed the engine: {}",
            reply.response
        );
    }
    Ok(())
}

fn user(base: &Base, pick: usize) -> (Api, UserId) {
    base.users[pick % base.users.len()].clone()
}

/// Actions only the Customer API has.
const CUSTOMER_ONLY: [&str; 5] = [
    "send_file",
    "send_sneak_peek",
    "get_chats_summary",
    "update_customer",
    "get_queue_position",
];

/// Actions both APIs have.
const SHARED: [&str; 13] = [
    "login",
    "ping",
    "start_chat",
    "send_event",
    "send_rich_message_postback",
    "send_typing_indicator",
    "close_thread",
    "update_chat_scopes",
    "update_chat_properties",
    "update_chat_thread_properties",
    "update_last_seen_timestamp",
    "get_chat_threads",
    "get_chat_threads_summary",
];

/// Mostly a user whose API has the request's action (Anna, Jan, or Eva, who has no chat yet);
/// one time in four anyone at all.
fn fitting_user(base: &Base, request: &Value, pick: usize) -> (Api, UserId) {
    if pick.is_multiple_of(4) {
        return user(base, pick / 4);
    }
    let action = request["action"].as_str().unwrap_or_default();
    let [anna, _, _, jan, eva, ..] = &base.users[..] else {
        unreachable!("the base has seven users")
    };
    let customer = if CUSTOMER_ONLY.contains(&action) {
        true
    } else if SHARED.contains(&action) {
        pick.is_multiple_of(2)
    } else {
        false
    };
    match (customer, action) {
        (true, "start_chat") => eva.clone(),
        (true, _) => jan.clone(),
        (false, _) => anna.clone(),
    }
}

/// Each API, for its own users and the other API's.
fn api(pick: bool, own: Api) -> Api {
    match (pick, own) {
        (false, own) => own,
        (true, Api::Agent) => Api::Customer,
        (true, Api::Customer) => Api::Agent,
    }
}

#[test]
fn arbitrary_bytes_never_panic_and_always_answer() {
    let base = base();
    let strategy = (
        prop::collection::vec(any::<u8>(), 0..400),
        any::<usize>(),
        prop::bool::weighted(0.2),
    );
    runner(cases())
        .run(&strategy, |(bytes, pick, other)| {
            let text = String::from_utf8_lossy(&bytes);
            let (own, user) = user(&base, pick);
            check(&mut base.engine.clone(), api(other, own), &user, &text)
        })
        .unwrap();
}

#[test]
fn arbitrary_json_never_panics_and_always_answers() {
    let base = base();
    let strategy = (
        prop_oneof![
            json_value(&base.words),
            request(&base.words),
            mutated(&base)
        ],
        any::<usize>(),
        prop::bool::weighted(0.2),
    );
    runner(cases())
        .run(&strategy, |(value, pick, other)| {
            let (own, user) = fitting_user(&base, &value, pick);
            check(
                &mut base.engine.clone(),
                api(other, own),
                &user,
                &value.to_string(),
            )
        })
        .unwrap();
}

/// Almost-valid text: a request-shaped object, cut short or with one byte changed.
#[test]
fn damaged_requests_never_panic_and_always_answer() {
    let base = base();
    let strategy = (
        prop_oneof![request(&base.words), mutated(&base)],
        any::<usize>(),
        any::<usize>(),
        any::<u8>(),
        0..3u8,
    );
    runner(cases())
        .run(&strategy, |(value, pick, at, byte, how)| {
            let mut bytes = value.to_string().into_bytes();
            let at = at % (bytes.len() + 1);
            match how {
                0 => bytes.truncate(at),
                1 if at < bytes.len() => bytes[at] = byte,
                _ => bytes.insert(at, byte),
            }
            let (own, user) = fitting_user(&base, &value, pick);
            let text = String::from_utf8_lossy(&bytes);
            check(&mut base.engine.clone(), own, &user, &text)
        })
        .unwrap();
}

/// Requests one after another on the same engine: each failure leaves it as it was just
/// before, whatever the requests before it did.
#[test]
fn request_sequences_never_panic_and_failures_change_nothing() {
    let base = base();
    let strategy = prop::collection::vec(
        (
            prop_oneof![1 => request(&base.words), 3 => mutated(&base)],
            any::<usize>(),
            prop::bool::weighted(0.1),
        ),
        1..8,
    );
    let mut outcomes: BTreeMap<bool, usize> = BTreeMap::new();
    let mut runner = runner((cases() / 4).max(1));
    runner
        .run(&strategy, |requests| {
            let mut engine = base.engine.clone();
            for (value, pick, other) in requests {
                let (own, user) = fitting_user(&base, &value, pick);
                check(&mut engine, api(other, own), &user, &value.to_string())?;
            }
            Ok(())
        })
        .unwrap();
    // Some of the generated requests must get through, or the property says little.
    let mut engine = base.engine.clone();
    let mut runner2 = TestRunner::deterministic();
    let strategy = (
        prop_oneof![1 => request(&base.words), 3 => mutated(&base)],
        any::<usize>(),
    );
    for _ in 0..2_000 {
        let (value, pick) = strategy.new_tree(&mut runner2).expect("a value").current();
        let (own, user) = fitting_user(&base, &value, pick);
        let reply = handle(
            &mut engine,
            own,
            &user,
            Timestamp::from_unix_seconds(T0 + 60),
            &value.to_string(),
        );
        *outcomes.entry(reply.success).or_default() += 1;
    }
    let ok = outcomes.get(&true).copied().unwrap_or_default();
    assert!(ok >= 300, "only {ok} of 2000 generated requests succeeded");
}

/// The shared operation alphabet (`chatio::testing::alphabet`) rendered as requests
/// (`chatio::testing::requests`): through [`handle`] each does exactly what
/// [`Engine::execute`] does with the command itself (the same success, the same engine after),
/// and every answer has the shape the other properties check. Host and Configuration API
/// commands, which no chat API request carries, go to both engines through `execute`.
#[test]
fn alphabet_requests_do_what_execute_does() {
    let base = base();
    let of = |api| {
        base.users
            .iter()
            .filter(|(a, _)| *a == api)
            .map(|(_, u)| u.clone())
            .collect::<Vec<_>>()
    };
    let pool = Pool::new(of(Api::Agent), of(Api::Customer));
    let strategy = prop::collection::vec(prop::collection::vec(any::<u32>(), 16), 1..12);
    let outcomes = std::cell::RefCell::new(BTreeMap::<bool, usize>::new());
    runner((cases() / 4).max(1))
        .run(&strategy, |steps| {
            let mut by_wire = base.engine.clone();
            let mut direct = base.engine.clone();
            let mut pool = pool.clone();
            for (i, choices) in steps.iter().enumerate() {
                pool.refresh(&direct);
                let command = alphabet::command(&pool, &mut Choices::new(choices));
                let now = Timestamp::from_unix_seconds(T0 + 10 * i as i64);
                let executed = direct.execute(now, command.clone());
                match requests::request(&command, &format!("r{i}")) {
                    Some(request) => {
                        let reply = handle(
                            &mut by_wire,
                            request.api,
                            &request.user_id,
                            now,
                            &request.text,
                        );
                        prop_assert_eq!(
                            reply.success,
                            executed.is_ok(),
                            "{} answered {:?}, execute {:?}",
                            request.text,
                            reply,
                            executed.as_ref().err()
                        );
                        *outcomes.borrow_mut().entry(reply.success).or_default() += 1;
                    }
                    None => {
                        let again = by_wire.execute(now, command.clone());
                        prop_assert_eq!(again.is_ok(), executed.is_ok());
                    }
                }
                // The codec holds the records `execute` hands out; neither is compared here.
                by_wire.take_journal();
                direct.take_journal();
                prop_assert!(by_wire == direct, "{:?} left different engines", command);
            }
            Ok(())
        })
        .unwrap();
    let outcomes = outcomes.into_inner();
    let ok = outcomes.get(&true).copied().unwrap_or_default();
    let refused = outcomes.get(&false).copied().unwrap_or_default();
    assert!(
        ok > 0 && refused > 0,
        "{ok} requests succeeded, {refused} were refused"
    );
}
