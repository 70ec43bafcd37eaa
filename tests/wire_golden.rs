//! Golden and round-trip tests of the v0.5 JSON wire codec ([`chatio::wire::handle`]).
//!
//! # Fixtures
//!
//! `tests/fixtures/wire/agent/*.json` and `tests/fixtures/wire/customer/*.json` hold one request
//! per sample of the Agent and Customer API v0.5 references (each event kind of `send_event`
//! separately), written in our own words and values, plus the bad inputs the rules name. Each
//! file is an object:
//!
//! * `about`: what the request is about.
//! * `expect`: `"ok"`, or the `error.type` the rules call for (`validation`, `authorization`...).
//! * `as` (optional): who sends it; by default `$AGENT` for `agent/`, `$CUSTOMER` for `customer/`.
//! * `pushes` (optional): the set of push actions the request must cause, exactly.
//! * `payload_keys` (optional): keys the response payload must have, per the references.
//! * `request`: the request object, or `raw`: the request text as is (for malformed input).
//!
//! Ids are placeholders substituted from the world [`world`] builds: `$CHAT`, `$THREAD`,
//! `$EVENT` (the rich message), `$AGENT` (Anna), `$AGENT2` (Bob), `$BOT` (a bot Anna owns),
//! `$CUSTOMER` (Jan, in `$CHAT`), `$CUSTOMER2` (Eva, no chat yet) and `$AUTO_SCOPES`. Every
//! fixture runs on a fresh copy of that world, at the same moment.
//!
//! # Golden files
//!
//! `tests/fixtures/wire/golden/*.json` hold a few representative responses and pushes,
//! pretty-printed, compared exactly. After an intended change of the wire format, rewrite them
//! with
//!
//! ```sh
//! CHATIO_BLESS=1 cargo test --test wire_golden
//! ```
//!
//! and review the diff before committing it.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chatio::model::{
    Access, Button, Domain, Location, LocationAccess, NewWebhook, PropertyConfig, PropertyType,
    RichElement, RichImage, RichMessage, WebhookAction, WebhookFilters,
};
use chatio::wire::configuration::render_call;
use chatio::wire::{Api, Offered, Reply, TRANSPORTS, WirePush, encode_push, handle};
use chatio::{
    Agent, ChatId, CustomerUpdate, Engine, EngineConfig, Event, EventId, EventKind, GroupId,
    License, NewEvent, Properties, PropertyValue, Scopes, StartChat, ThreadId, Timestamp, UserId,
};
use common::{LicenseBuilder, uid};
use serde_json::{Value, json};

/// When the world is set up (2023-11-14T22:13:20Z).
const T0: i64 = 1_700_000_000;
/// When every fixture is sent.
const NOW: i64 = T0 + 60;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_unix_seconds(secs)
}

// ----- the world -----

/// A license with agents, a bot, customers, configured properties and one open chat holding a
/// rich message.
#[derive(Clone)]
struct World {
    engine: Engine,
    /// Administrator in group 1, in the chat, owns the bot.
    anna: UserId,
    /// Administrator in group 2, not in the chat.
    bob: UserId,
    /// A bot agent owned by Anna.
    bot: UserId,
    /// The chat's customer.
    jan: UserId,
    /// A customer without a chat.
    eva: UserId,
    chat: ChatId,
    thread: ThreadId,
    /// Anna's rich message in the chat, with postbacks `want_refund` and `keep_waiting`.
    rich: EventId,
    auto_scopes: String,
}

fn both(access: Access) -> LocationAccess {
    LocationAccess {
        agent: access,
        customer: access,
    }
}

fn props(entries: &[(&str, &str, PropertyValue)]) -> Properties {
    let mut p = Properties::new();
    for (namespace, name, value) in entries {
        p.entry((*namespace).to_string())
            .or_default()
            .insert((*name).to_string(), value.clone());
    }
    p
}

fn world() -> World {
    world_with(EngineConfig::with_seed(7))
}

/// The world, under another configuration (the ids depend only on the seed).
fn world_with(config: EngineConfig) -> World {
    let rw = both(Access::READ_WRITE);
    let everywhere = [Location::Chat, Location::Thread, Location::Event];
    let mut score = PropertyConfig::new("rating", "score", PropertyType::Int)
        .with_domain(Domain::Range { min: 1, max: 5 });
    let mut comment = PropertyConfig::new("rating", "comment", PropertyType::String);
    for location in everywhere {
        score = score.at(location, rw);
        comment = comment.at(location, rw);
    }
    let source = PropertyConfig::new("source", "type", PropertyType::String)
        .at(Location::Chat, rw)
        .at(Location::Thread, rw);
    let priority = PropertyConfig::new("internal", "priority", PropertyType::Int).at(
        Location::Chat,
        LocationAccess {
            agent: Access::READ_WRITE,
            customer: Access::NONE,
        },
    );

    let anna = uid("anna@example.com");
    let bob = uid("bob@example.com");
    let bot = uid("parcel-bot@example.com");
    let mut engine = LicenseBuilder::new(config)
        .property(score)
        .property(comment)
        .property(source)
        .property(priority)
        .agent(
            Agent::new(anna.clone(), "Anna")
                .with_email("anna@example.com")
                .with_avatar("https://cdn.example.org/anna.png")
                .with_groups([GroupId(1)]),
        )
        .agent(
            Agent::new(bob.clone(), "Bob")
                .with_email("bob@example.com")
                .with_groups([GroupId(2)]),
        )
        .agent(Agent::new(bot.clone(), "Parcel Bot").bot_owned_by(anna.clone()))
        .build();
    let jan = engine.create_customer();
    let eva = engine.create_customer();

    let update = CustomerUpdate {
        name: Some("Jan".into()),
        ..CustomerUpdate::default()
    };
    let _ = engine
        .as_customer(&jan, at(T0))
        .unwrap()
        .update_customer(update)
        .unwrap();
    let started = engine
        .as_customer(&jan, at(T0))
        .unwrap()
        .start_chat(
            StartChat::default()
                .with_properties(props(&[(
                    "source",
                    "type",
                    PropertyValue::String("widget".into()),
                )]))
                .with_event(NewEvent::message("Hi, my parcel has not arrived")),
        )
        .unwrap();
    let chat = started.response.id;
    let thread = started.response.thread.id;
    let _ = engine
        .as_agent(&anna, at(T0 + 1))
        .unwrap()
        .join_chat(chat, std::slice::from_ref(&anna))
        .unwrap();
    let _ = engine
        .as_agent(&anna, at(T0 + 2))
        .unwrap()
        .update_chat_properties(
            chat,
            props(&[("internal", "priority", PropertyValue::Int(2))]),
        )
        .unwrap();
    let button = |text: &str, postback: &str| Button {
        text: text.into(),
        postback_id: postback.into(),
        user_ids: Vec::new(),
    };
    let rich = RichMessage {
        template_id: "cards".into(),
        elements: vec![RichElement {
            title: Some("Your parcel is late".into()),
            subtitle: Some("What would you like to do?".into()),
            image: Some(RichImage {
                url: "https://img.example.org/parcel.png".into(),
                ..RichImage::default()
            }),
            buttons: vec![
                button("Refund me", "want_refund"),
                button("I will wait", "keep_waiting"),
            ],
        }],
    };
    let sent = engine
        .as_agent(&anna, at(T0 + 3))
        .unwrap()
        .send_event(chat, NewEvent::new(EventKind::RichMessage(rich)))
        .unwrap();
    assert_eq!(sent.response.thread_id, thread);
    let rich = sent.response.event.id;
    let auto_scopes = engine
        .as_agent(&anna, at(T0 + 4))
        .unwrap()
        .add_auto_chat_scopes(
            Some("Phone chats go to group 2".into()),
            Scopes {
                groups: [GroupId(2)].into(),
                agents: BTreeSet::new(),
            },
            serde_json::from_value(
                json!({ "chat_properties": { "source": { "type": { "values": ["phone"] } } } }),
            )
            .unwrap(),
        )
        .unwrap()
        .response;
    World {
        engine,
        anna,
        bob,
        bot,
        jan,
        eva,
        chat,
        thread,
        rich,
        auto_scopes,
    }
}

impl World {
    /// Placeholder to value, longest placeholder first so `$AGENT2` is not read as `$AGENT`.
    fn placeholders(&self) -> Vec<(&'static str, String)> {
        let mut p = vec![
            ("$CUSTOMER2", self.eva.to_string()),
            ("$CUSTOMER", self.jan.to_string()),
            ("$AGENT2", self.bob.to_string()),
            ("$AGENT", self.anna.to_string()),
            ("$BOT", self.bot.to_string()),
            ("$CHAT", self.chat.to_string()),
            ("$THREAD", self.thread.to_string()),
            ("$EVENT", self.rich.to_string()),
            ("$AUTO_SCOPES", self.auto_scopes.clone()),
        ];
        p.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
        p
    }

    fn substitute(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (placeholder, value) in self.placeholders() {
            out = out.replace(placeholder, &value);
        }
        out
    }

    fn is_customer(&self, id: &UserId) -> bool {
        self.engine.customer(id).is_some()
    }

    /// Sends `request` (a JSON value or text) as `user` on `api` at [`NOW`].
    fn send(&mut self, api: Api, user: &UserId, request: &str) -> Reply {
        handle(&mut self.engine, api, user, at(NOW), request)
    }

    fn agent(&mut self, request: Value) -> Reply {
        let anna = self.anna.clone();
        self.send(Api::Agent, &anna, &request.to_string())
    }

    fn customer(&mut self, request: Value) -> Reply {
        let jan = self.jan.clone();
        self.send(Api::Customer, &jan, &request.to_string())
    }
}

// ----- JSON helpers -----

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

/// The successful response's payload.
fn ok_payload(reply: &Reply) -> Value {
    let response = parse(&reply.response);
    assert!(reply.success, "request failed: {}", reply.response);
    assert_eq!(response["type"], "response");
    assert_eq!(response["success"], true);
    response["payload"].clone()
}

/// The payload of the one push with `action` whose recipients are customers (`true`) or agents.
fn push_payload(world: &World, reply: &Reply, action: &str, to_customers: bool) -> Value {
    let found: Vec<&WirePush> = reply
        .pushes
        .iter()
        .filter(|p| p.action == action && p.to.iter().any(|u| world.is_customer(u)) == to_customers)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {action} push to {}: {:#?}",
        if to_customers { "customers" } else { "agents" },
        reply.pushes
    );
    let push = parse(&found[0].text);
    assert_eq!(push["type"], "push", "{push}");
    assert_eq!(push["action"], action, "{push}");
    push["payload"].clone()
}

/// Every `(path, value)` of a JSON tree.
fn walk<'v>(v: &'v Value, path: String, out: &mut Vec<(String, &'v Value)>) {
    out.push((path.clone(), v));
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                walk(x, format!("{path}.{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                walk(x, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn nodes(v: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    walk(v, String::new(), &mut out);
    out
}

/// Problems with a rendered message, whatever its kind: timestamps that are not Unix seconds of
/// this test's clock, and property values that are not wrapped as `{"value": v}`.
fn rendering_problems(v: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (path, node) in nodes(v) {
        let Some(m) = node.as_object() else { continue };
        for (key, value) in m {
            let is_time =
                key == "timestamp" || key.ends_with("_timestamp") || key == "waiting_since";
            if is_time {
                match value.as_i64() {
                    Some(t) if (T0..=NOW).contains(&t) => {}
                    _ => problems.push(format!("{path}.{key} = {value} is not Unix seconds")),
                }
            }
            if key == "properties" {
                let Some(namespaces) = value.as_object() else {
                    problems.push(format!("{path}.properties is not an object"));
                    continue;
                };
                for (namespace, names) in namespaces {
                    let Some(names) = names.as_object() else {
                        problems.push(format!("{path}.properties.{namespace} is not an object"));
                        continue;
                    };
                    for (name, wrapped) in names {
                        let ok = wrapped.as_object().is_some_and(|w| {
                            w.len() == 1
                                && w.get("value")
                                    .is_some_and(|x| x.is_boolean() || x.is_string() || x.is_i64())
                        });
                        if !ok {
                            problems.push(format!(
                                "{path}.properties.{namespace}.{name} = {wrapped} is not {{\"value\": v}}"
                            ));
                        }
                    }
                }
            }
        }
    }
    problems
}

/// Problems with what a customer receives: agents-only events or sneak peeks, and properties
/// customers may not read.
fn customer_view_problems(v: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (path, node) in nodes(v) {
        if node.get("recipients") == Some(&json!("agents")) {
            problems.push(format!("{path} is for agents only: {node}"));
        }
        if node
            .get("properties")
            .is_some_and(|p| p.get("internal").is_some())
        {
            problems.push(format!("{path} shows an agents-only property: {node}"));
        }
    }
    problems
}

/// JSON text parses, and re-serializes to an equal value.
fn round_trips(text: &str) -> Result<Value, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON ({e}): {text}"))?;
    let again: Value = serde_json::from_str(&serde_json::to_string(&v).unwrap())
        .map_err(|e| format!("re-serialized text is not JSON ({e})"))?;
    if again != v {
        return Err(format!("round trip changed the value: {text}"));
    }
    Ok(v)
}

/// Problems with a push message's envelope.
fn push_envelope_problems(push: &WirePush) -> Vec<String> {
    let mut problems = Vec::new();
    let v = match round_trips(&push.text) {
        Ok(v) => v,
        Err(e) => return vec![e],
    };
    let allowed = set(&["request_id", "action", "type", "payload"]);
    if !keys(&v).is_subset(&allowed) || !v.is_object() {
        problems.push(format!("push envelope has other keys: {v}"));
    }
    if v["type"] != "push" {
        problems.push(format!("push type is not \"push\": {v}"));
    }
    if v["action"] != push.action {
        problems.push(format!("push action differs from WirePush.action: {v}"));
    }
    if !v["payload"].is_object() {
        problems.push(format!("push payload is not an object: {v}"));
    }
    if push.to.is_empty() {
        problems.push(format!("push to nobody: {v}"));
    }
    problems
}

// ----- fixtures -----

struct Fixture {
    name: String,
    api: Api,
    about: String,
    expect: String,
    user: Option<String>,
    pushes: Option<BTreeSet<String>>,
    payload_keys: Option<BTreeSet<String>>,
    /// The request text with placeholders in.
    text: String,
}

fn fixture_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/wire")
        .join(sub)
}

fn strings(v: &Value) -> Option<BTreeSet<String>> {
    v.as_array().map(|a| {
        a.iter()
            .map(|s| s.as_str().expect("a list of strings").to_string())
            .collect()
    })
}

fn load(api: Api) -> Vec<Fixture> {
    let sub = match api {
        Api::Agent => "agent",
        Api::Customer => "customer",
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixture_dir(sub))
        .expect("fixture directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let v = parse(&std::fs::read_to_string(&path).expect("fixture file"));
            let name = format!("{sub}/{}", path.file_stem().unwrap().to_string_lossy());
            let text = match (&v["request"], &v["raw"]) {
                (Value::Null, Value::String(raw)) => raw.clone(),
                (request, Value::Null) if !request.is_null() => request.to_string(),
                _ => panic!("{name}: give exactly one of request and raw"),
            };
            Fixture {
                api,
                about: v["about"].as_str().expect("about").to_string(),
                expect: v["expect"].as_str().expect("expect").to_string(),
                user: v["as"].as_str().map(str::to_string),
                pushes: strings(&v["pushes"]),
                payload_keys: strings(&v["payload_keys"]),
                text,
                name,
            }
        })
        .collect()
}

/// Runs one fixture on a fresh copy of the world; returns the reply and what is wrong.
fn run_fixture(base: &World, f: &Fixture) -> (Reply, Vec<String>) {
    let mut world = base.clone();
    let text = world.substitute(&f.text);
    let user = match (&f.user, f.api) {
        (Some(u), _) => uid(&world.substitute(u)),
        (None, Api::Agent) => world.anna.clone(),
        (None, Api::Customer) => world.jan.clone(),
    };
    let before = world.engine.clone();
    let reply = world.send(f.api, &user, &text);
    let mut problems = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            problems.push(what);
        }
    };

    let response = match round_trips(&reply.response) {
        Ok(v) => v,
        Err(e) => return (reply, vec![e]),
    };
    let request: Option<Value> = serde_json::from_str(&text).ok();
    let expect_ok = f.expect == "ok";
    check(response.is_object(), "response is not an object".into());
    check(
        keys(&response).is_subset(&set(&[
            "request_id",
            "action",
            "type",
            "success",
            "payload",
        ])),
        format!("response envelope has other keys: {response}"),
    );
    check(
        response["type"] == "response",
        "type is not \"response\"".into(),
    );
    check(
        response["success"] == expect_ok && reply.success == expect_ok,
        format!("expected {}, got {}", f.expect, reply.response),
    );
    match request.as_ref().map(|r| &r["request_id"]) {
        Some(Value::String(id)) => check(
            response["request_id"] == *id,
            format!("request_id {id:?} not echoed"),
        ),
        Some(Value::Null) | None => check(
            response.get("request_id").is_none(),
            "request_id in a response to a request without one".into(),
        ),
        Some(_) => {}
    }
    if let Some(Value::String(action)) = request.as_ref().map(|r| &r["action"]) {
        check(
            response["action"] == *action && reply.action == *action,
            format!("action {action:?} not echoed"),
        );
    }
    let payload = &response["payload"];
    check(payload.is_object(), "payload is not an object".into());
    if expect_ok {
        if let Some(wanted) = &f.payload_keys {
            check(
                wanted.is_subset(&keys(payload)),
                format!("payload lacks documented keys {wanted:?}: {payload}"),
            );
        }
    } else {
        let error = &payload["error"];
        check(
            keys(payload) == set(&["error"]),
            format!("error payload has other keys: {payload}"),
        );
        check(
            keys(error).is_subset(&set(&["type", "message", "data"])),
            format!("error has other keys: {error}"),
        );
        check(
            error["type"] == f.expect.as_str(),
            format!("expected error type {}, got {error}", f.expect),
        );
        check(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "error without a message".into(),
        );
        check(
            reply.pushes.is_empty(),
            "a failed request caused pushes".into(),
        );
        check(
            world.engine == before,
            "a failed request changed the engine".into(),
        );
    }
    if let Some(wanted) = &f.pushes {
        let got: BTreeSet<String> = reply.pushes.iter().map(|p| p.action.to_string()).collect();
        check(
            got == *wanted,
            format!("expected pushes {wanted:?}, got {got:?}"),
        );
    }
    problems.extend(rendering_problems(&response));
    if f.api == Api::Customer {
        problems.extend(customer_view_problems(&response));
    }
    for push in &reply.pushes {
        problems.extend(push_envelope_problems(push));
        if let Ok(v) = round_trips(&push.text) {
            problems.extend(rendering_problems(&v));
            if push.to.iter().any(|u| world.is_customer(u)) {
                problems.extend(customer_view_problems(&v));
            }
        }
    }
    (reply, problems)
}

#[test]
fn every_fixture_is_accepted_or_rejected_as_the_rules_say() {
    let base = world();
    let mut failures = Vec::new();
    let mut counts = BTreeMap::new();
    for api in [Api::Agent, Api::Customer] {
        for f in load(api) {
            *counts
                .entry((format!("{api:?}"), f.expect.clone()))
                .or_insert(0) += 1;
            let (reply, problems) = run_fixture(&base, &f);
            if !problems.is_empty() {
                failures.push(format!(
                    "{} ({}):\n    {}\n    response: {}",
                    f.name,
                    f.about,
                    problems.join("\n    "),
                    reply.response
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixture(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(counts.values().sum::<usize>() >= 90, "{counts:?}");
}

/// The actions each reference documents (all but those `chatio::wire` adds), which must each
/// have a sample request; `upload_image`, a multipart upload rather than a request, is checked
/// by its fixture's name below.
fn documented_actions(api: Api) -> Vec<&'static str> {
    TRANSPORTS
        .iter()
        .filter(|&&(a, name, offered)| {
            a == api && offered != Offered::Unlisted && name != "upload_image"
        })
        .map(|&(_, name, _)| name)
        .collect()
}

const EVENT_TYPES: [&str; 7] = [
    "message",
    "system_message",
    "annotation",
    "filled_form",
    "file",
    "custom",
    "rich_message",
];

#[test]
fn fixtures_cover_every_documented_sample() {
    let base = world();
    for api in [Api::Agent, Api::Customer] {
        let actions = documented_actions(api);
        let fixtures = load(api);
        let requests: Vec<Value> = fixtures
            .iter()
            .filter_map(|f| serde_json::from_str(&base.substitute(&f.text)).ok())
            .collect();
        let covered: BTreeSet<&str> = requests
            .iter()
            .filter_map(|r| r["action"].as_str())
            .collect();
        for action in actions {
            assert!(covered.contains(action), "{api:?}: no fixture for {action}");
        }
        let event_types: BTreeSet<&str> = requests
            .iter()
            .filter(|r| r["action"] == "send_event")
            .filter_map(|r| r["payload"]["event"]["type"].as_str())
            .collect();
        for t in EVENT_TYPES {
            assert!(
                event_types.contains(t),
                "{api:?}: no send_event fixture for {t}"
            );
        }
    }
    assert!(
        load(Api::Agent)
            .iter()
            .any(|f| f.name == "agent/upload_image")
    );
}

// ----- push shapes, per API -----

#[test]
fn chat_users_updated_has_the_shape_of_each_api() {
    let mut w = world();
    let chat = w.chat.to_string();
    let bob = w.bob.to_string();
    let reply = w.agent(json!({"request_id": "j", "action": "join_chat",
        "payload": {"chat_id": chat, "agent_ids": [bob]}}));
    assert_eq!(ok_payload(&reply), json!({}));

    // Agent API: customers and agents apart, each with added and removed_ids.
    let agents = push_payload(&w, &reply, "chat_users_updated", false);
    assert_eq!(keys(&agents), set(&["chat_id", "updated_users"]));
    assert_eq!(agents["chat_id"], chat);
    let updated = &agents["updated_users"];
    assert_eq!(keys(updated), set(&["customers", "agents"]));
    assert_eq!(
        updated["customers"],
        json!({"added": [], "removed_ids": []})
    );
    assert_eq!(
        keys(&updated["agents"]),
        set(&["added", "removed_ids"]),
        "{updated}"
    );
    assert_eq!(updated["agents"]["removed_ids"], json!([]));
    let added = &updated["agents"]["added"];
    assert_eq!(added.as_array().map(Vec::len), Some(1), "{added}");
    assert_eq!(added[0]["id"], bob);
    assert_eq!(added[0]["type"], "agent");
    assert_eq!(added[0]["name"], "Bob");

    // Customer API: one list of added users and one of removed ids.
    let customers = push_payload(&w, &reply, "chat_users_updated", true);
    assert_eq!(keys(&customers), set(&["chat_id", "updated_users"]));
    let updated = &customers["updated_users"];
    assert_eq!(keys(updated), set(&["added", "removed_ids"]), "{updated}");
    assert_eq!(updated["added"][0]["id"], bob);
    assert_eq!(updated["added"][0]["type"], "agent");
    assert_eq!(updated["removed_ids"], json!([]));

    // Leaving: the id lands in the removed list of each shape.
    let reply = w.agent(json!({"action": "remove_from_chat",
        "payload": {"chat_id": chat, "agent_ids": [bob]}}));
    let agents = push_payload(&w, &reply, "chat_users_updated", false);
    assert_eq!(
        agents["updated_users"],
        json!({"customers": {"added": [], "removed_ids": []},
               "agents": {"added": [], "removed_ids": [bob]}})
    );
    let customers = push_payload(&w, &reply, "chat_users_updated", true);
    assert_eq!(
        customers["updated_users"],
        json!({"added": [], "removed_ids": [bob]})
    );
}

#[test]
fn incoming_event_carries_chat_thread_and_event() {
    let mut w = world();
    let chat = w.chat.to_string();
    let reply = w.agent(json!({"request_id": "m1", "action": "send_event",
        "payload": {"chat_id": chat, "event": {"type": "message", "text": "On it!", "custom_id": "k-1"}}}));
    let response = ok_payload(&reply);
    assert_eq!(keys(&response), set(&["thread_id", "event"]));
    assert_eq!(response["thread_id"], w.thread.to_string());
    let event = &response["event"];
    assert_eq!(
        keys(event),
        set(&[
            "id",
            "custom_id",
            "order",
            "type",
            "author_id",
            "timestamp",
            "recipients",
            "text"
        ])
    );
    assert_eq!(event["type"], "message");
    assert_eq!(event["text"], "On it!");
    assert_eq!(event["author_id"], w.anna.to_string());
    assert_eq!(event["recipients"], "all");
    assert_eq!(event["timestamp"], json!(NOW), "Unix seconds");
    assert!(event["order"].is_u64());

    for to_customers in [false, true] {
        let push = push_payload(&w, &reply, "incoming_event", to_customers);
        // The Customer API documents chat_id, thread_id and event; the Agent API chat_id and
        // event (thread_id is extra there).
        assert_eq!(keys(&push), set(&["chat_id", "thread_id", "event"]));
        assert_eq!(push["chat_id"], chat);
        assert_eq!(push["thread_id"], w.thread.to_string());
        assert_eq!(push["event"], *event, "the pushed event is the stored one");
    }
    assert_eq!(reply.pushes.len(), 2);
    assert_eq!(
        reply.pushes[0].to,
        vec![w.anna.clone(), w.bob.clone(), w.bot.clone()]
    );
    assert_eq!(reply.pushes[1].to, vec![w.jan.clone()]);
}

#[test]
fn agents_only_events_never_reach_customers() {
    let mut w = world();
    let chat = w.chat.to_string();
    let reply = w.agent(json!({"action": "send_event",
        "payload": {"chat_id": chat, "event": {"type": "message", "text": "VIP", "recipients": "agents"}}}));
    assert!(reply.success, "{}", reply.response);
    assert_eq!(reply.pushes.len(), 1);
    assert!(reply.pushes[0].to.iter().all(|u| !w.is_customer(u)));
    let threads = w.customer(json!({"action": "get_chat_threads",
        "payload": {"chat_id": chat, "thread_ids": [w.thread.to_string()]}}));
    let payload = ok_payload(&threads);
    assert_eq!(customer_view_problems(&payload), Vec::<String>::new());
    assert!(!threads.response.contains("VIP"));
}

#[test]
fn property_values_are_wrapped_wherever_they_are_shown() {
    let mut w = world();
    let chat = w.chat.to_string();
    let thread = w.thread.to_string();
    // Written bare, as the reference's request samples do...
    let reply = w.agent(json!({"action": "update_chat_properties",
        "payload": {"chat_id": chat, "properties": {"rating": {"score": 4, "comment": "fast"}}}}));
    for to_customers in [false, true] {
        let push = push_payload(&w, &reply, "chat_properties_updated", to_customers);
        assert_eq!(
            push,
            json!({"chat_id": chat, "properties": {"rating": {
                "score": {"value": 4}, "comment": {"value": "fast"}}}})
        );
    }
    // ...or wrapped, as the Properties object does.
    let reply = w.customer(json!({"action": "update_chat_thread_properties",
        "payload": {"chat_id": chat, "thread_id": thread,
                    "properties": {"rating": {"score": {"value": 1}}}}}));
    for to_customers in [false, true] {
        let push = push_payload(&w, &reply, "chat_thread_properties_updated", to_customers);
        assert_eq!(
            push,
            json!({"chat_id": chat, "thread_id": thread,
                   "properties": {"rating": {"score": {"value": 1}}}})
        );
    }
    // Read back: chat, thread and event properties are wrapped in both APIs, and the
    // agents-only property is shown to agents only.
    let reply = w.agent(json!({"action": "send_event", "payload": {"chat_id": chat,
        "event": {"type": "message", "text": "tagged", "properties": {"rating": {"comment": "x"}}}}}));
    assert!(reply.success, "{}", reply.response);
    let agent_view = ok_payload(&w.agent(json!({"action": "get_chat_threads",
        "payload": {"chat_id": chat, "thread_ids": [thread]}})));
    let customer_view = ok_payload(&w.customer(json!({"action": "get_chat_threads",
        "payload": {"chat_id": chat, "thread_ids": [thread]}})));
    for view in [&agent_view, &customer_view] {
        assert_eq!(rendering_problems(view), Vec::<String>::new());
        assert_eq!(
            view["chat"]["properties"]["rating"]["score"],
            json!({"value": 4})
        );
        assert_eq!(
            view["chat"]["properties"]["source"]["type"],
            json!({"value": "widget"})
        );
        let t = &view["chat"]["threads"][0];
        assert_eq!(t["properties"]["rating"]["score"], json!({"value": 1}));
        let last = t["events"].as_array().unwrap().last().unwrap();
        assert_eq!(
            last["properties"],
            json!({"rating": {"comment": {"value": "x"}}})
        );
    }
    assert_eq!(
        agent_view["chat"]["properties"]["internal"]["priority"],
        json!({"value": 2})
    );
    assert!(
        customer_view["chat"]["properties"]
            .get("internal")
            .is_none()
    );
}

#[test]
fn incoming_chat_thread_and_start_chat_per_api() {
    let mut w = world();
    let eva = w.eva.clone();
    let reply = w.send(
        Api::Customer,
        &eva,
        &json!({"request_id": "s", "action": "start_chat", "payload": {"chat": {
            "properties": {"source": {"type": "widget"}},
            "thread": {"events": [{"type": "message", "text": "Hello?"}],
                       "properties": {"source": {"type": "widget"}}}}}})
        .to_string(),
    );
    let response = ok_payload(&reply);
    let chat = &response["chat"];
    // Customer API: id, users, properties, scopes, thread.
    assert_eq!(
        keys(chat),
        set(&["id", "users", "properties", "scopes", "thread"])
    );
    assert_eq!(
        chat["properties"],
        json!({"source": {"type": {"value": "widget"}}})
    );
    assert_eq!(chat["scopes"], json!({}), "no scopes: every agent");
    assert_eq!(chat["users"][0]["id"], eva.to_string());
    assert_eq!(chat["users"][0]["type"], "customer");
    let thread = &chat["thread"];
    for key in ["id", "active", "order", "user_ids", "events", "properties"] {
        assert!(thread.get(key).is_some(), "thread lacks {key}: {thread}");
    }
    assert_eq!(thread["active"], true);
    assert_eq!(
        thread["properties"],
        json!({"source": {"type": {"value": "widget"}}})
    );
    assert_eq!(thread["events"][0]["text"], "Hello?");
    assert_eq!(thread["events"][0]["author_id"], eva.to_string());

    // The customer's push is its response; the agents' push shows the customer with what only
    // agents are shown (the ban flag).
    let push = push_payload(&w, &reply, "incoming_chat_thread", true);
    assert_eq!(keys(&push), set(&["chat"]));
    assert_eq!(push["chat"], *chat);
    let agents = push_payload(&w, &reply, "incoming_chat_thread", false);
    assert_eq!(agents["chat"]["users"][0]["banned"], false);
    assert_eq!(agents["chat"]["thread"], chat["thread"]);
    assert_eq!(thread["timestamp"], json!(NOW));
}

#[test]
fn typing_indicators_and_sneak_peeks() {
    let mut w = world();
    let chat = w.chat.to_string();
    let reply = w.agent(json!({"action": "send_typing_indicator",
        "payload": {"chat_id": chat, "recipients": "all", "is_typing": true}}));
    // Agent API's Typing indicator: author_id, recipients, timestamp.
    let agents = push_payload(&w, &reply, "incoming_typing_indicator", false);
    assert_eq!(keys(&agents), set(&["chat_id", "typing_indicator"]));
    let ti = &agents["typing_indicator"];
    assert_eq!(ti["author_id"], w.anna.to_string());
    assert_eq!(ti["recipients"], "all");
    assert_eq!(ti["timestamp"], json!(NOW));
    // Customer API's Typing indicator: author_id, timestamp, is_typing.
    let customers = push_payload(&w, &reply, "incoming_typing_indicator", true);
    let ti = &customers["typing_indicator"];
    assert_eq!(ti["author_id"], w.anna.to_string());
    assert_eq!(ti["timestamp"], json!(NOW));
    assert_eq!(ti["is_typing"], true);
    assert!(
        reply.pushes.iter().all(|p| !p.to.contains(&w.anna)),
        "the author is not told"
    );

    // Agents only: the customer is not told.
    let reply = w.agent(json!({"action": "send_typing_indicator",
        "payload": {"chat_id": chat, "recipients": "agents", "is_typing": false}}));
    assert!(
        reply
            .pushes
            .iter()
            .all(|p| p.to.iter().all(|u| !w.is_customer(u)))
    );

    let reply = w.customer(json!({"action": "send_sneak_peek",
        "payload": {"chat_id": chat, "sneak_peek_text": "where is my"}}));
    assert_eq!(ok_payload(&reply), json!({}));
    let push = push_payload(&w, &reply, "incoming_sneak_peek", false);
    assert_eq!(
        push,
        json!({"chat_id": chat, "sneak_peek": {"author_id": w.jan.to_string(),
            "recipients": "agents", "timestamp": NOW, "text": "where is my"}})
    );
    assert_eq!(reply.pushes.len(), 1, "sneak peeks go to agents only");
}

#[test]
fn the_other_pushes_have_their_documented_payloads() {
    let base = world();
    let chat = base.chat.to_string();
    let thread = base.thread.to_string();
    let jan = base.jan.to_string();
    let anna = base.anna.to_string();

    // incoming_rich_message_postback
    let mut w = base.clone();
    let reply = w.customer(json!({"action": "send_rich_message_postback", "payload": {
        "chat_id": chat, "thread_id": thread, "event_id": base.rich.to_string(),
        "postback": {"id": "want_refund", "toggled": true}}}));
    for to_customers in [false, true] {
        assert_eq!(
            push_payload(&w, &reply, "incoming_rich_message_postback", to_customers),
            json!({"user_id": jan, "chat_id": chat, "thread_id": thread,
                   "event_id": base.rich.to_string(),
                   "postback": {"id": "want_refund", "toggled": true}})
        );
    }

    // last_seen_timestamp_updated
    let mut w = base.clone();
    let reply = w.agent(json!({"action": "update_last_seen_timestamp",
        "payload": {"chat_id": chat, "timestamp": T0 + 30}}));
    assert_eq!(ok_payload(&reply), json!({"timestamp": T0 + 30}));
    assert_eq!(
        push_payload(&w, &reply, "last_seen_timestamp_updated", true),
        json!({"user_id": anna, "chat_id": chat, "timestamp": T0 + 30})
    );

    // thread_closed, with the user who closed it
    let mut w = base.clone();
    let reply = w.customer(json!({"action": "close_thread", "payload": {"chat_id": chat}}));
    for to_customers in [false, true] {
        assert_eq!(
            push_payload(&w, &reply, "thread_closed", to_customers),
            json!({"chat_id": chat, "thread_id": thread, "user_id": jan})
        );
    }

    // chat_scopes_updated
    let mut w = base.clone();
    let reply = w.agent(
        json!({"action": "update_chat_scopes", "payload": {"chat_id": chat,
        "add_scopes": {"groups": [1], "agents": [base.bob.to_string()]}, "remove_scopes": {}}}),
    );
    assert_eq!(
        push_payload(&w, &reply, "chat_scopes_updated", false),
        json!({"chat_id": chat,
               "scopes_added": {"groups": [1], "agents": [base.bob.to_string()]},
               "scopes_removed": {}})
    );

    // incoming_multicast
    let mut w = base.clone();
    let reply = w.agent(json!({"action": "multicast", "payload": {
        "scopes": {"customers": {"ids": [jan]}}, "content": {"promo": {"code": "X1"}}}}));
    assert_eq!(
        push_payload(&w, &reply, "incoming_multicast", true),
        json!({"author_id": anna, "content": {"promo": {"code": "X1"}}})
    );

    // agent_updated
    let mut w = base.clone();
    let reply = w.agent(json!({"action": "update_agent",
        "payload": {"routing_status": "not_accepting_chats"}}));
    assert_eq!(
        push_payload(&w, &reply, "agent_updated", false),
        json!({"agent_id": anna, "routing_status": "not_accepting_chats"})
    );

    // customer_banned (agents) and customer_disconnected (the customer)
    let mut w = base.clone();
    let reply = w.agent(json!({"action": "ban_customer",
        "payload": {"customer_id": jan, "ban": {"days": 2}}}));
    assert_eq!(
        push_payload(&w, &reply, "customer_banned", false),
        json!({"customer_id": jan, "ban": {"days": 2}})
    );
    assert_eq!(
        push_payload(&w, &reply, "customer_disconnected", true),
        json!({"reason": "customer_banned"})
    );
    let banned = w.customer(json!({"request_id": "b", "action": "get_chats_summary"}));
    assert_eq!(
        parse(&banned.response)["payload"]["error"]["type"],
        "customer_banned"
    );

    // customer_updated
    let mut w = base.clone();
    let reply = w.customer(json!({"action": "update_customer",
        "payload": {"customer": {"email": "jan@example.net", "fields": {"tier": "gold"}}}}));
    let response = ok_payload(&reply);
    for to_customers in [false, true] {
        let push = push_payload(&w, &reply, "customer_updated", to_customers);
        assert_eq!(keys(&push), set(&["chat_id", "customer"]));
        assert_eq!(push["chat_id"], chat);
        let mut expected = response["customer"].clone();
        if !to_customers {
            // Agents also see whether the customer is banned.
            expected["banned"] = json!(false);
        }
        assert_eq!(push["customer"], expected);
    }
    let customer = &response["customer"];
    assert_eq!(customer["id"], jan);
    assert_eq!(customer["type"], "customer");
    assert_eq!(customer["name"], "Jan");
    assert_eq!(customer["email"], "jan@example.net");
    assert_eq!(customer["fields"], json!({"tier": "gold"}));
    assert_eq!(customer["last_seen_timestamp"], json!(NOW));
}

// ----- customer login -----

/// The details a customer gives at `login` are applied as `update_customer` applies them: the
/// same state afterwards, the same pushes, the same journal record.
#[test]
fn customer_login_applies_its_details_as_update_customer_does() {
    let base = world();
    let details = json!({"name": "Jan Nowak", "email": "jan.nowak@example.net",
        "fields": {"loyalty": "gold"},
        "monitoring": {"page": {"url": "https://shop.example.org/cart", "title": "Cart"}}});

    let mut by_login = base.clone();
    by_login
        .engine
        .set_journal_mode(chatio::journal::JournalMode::Output);
    let login = by_login.customer(json!({"request_id": "l", "action": "login",
        "payload": {"token": "Bearer t", "customer": details}}));
    assert_eq!(
        ok_payload(&login),
        json!({"customer_id": base.jan.to_string()})
    );

    let mut by_update = base.clone();
    by_update
        .engine
        .set_journal_mode(chatio::journal::JournalMode::Output);
    let update = by_update.customer(json!({"action": "update_customer",
        "payload": {"customer": details}}));
    assert!(update.success, "{}", update.response);

    assert!(by_login.engine == by_update.engine, "the same state");
    assert_eq!(login.pushes, update.pushes, "the same pushes");
    let (login_journal, update_journal) = (
        by_login.engine.take_journal(),
        by_update.engine.take_journal(),
    );
    assert_eq!(login_journal, update_journal, "the same journal record");
    assert!(!login_journal.is_empty());
    assert!(!login.pushes.is_empty());
    assert!(login.pushes.iter().all(|p| p.action == "customer_updated"));
    let jan = by_login.engine.customer(&base.jan).unwrap();
    assert_eq!(jan.name.as_deref(), Some("Jan Nowak"));
    assert_eq!(jan.email.as_deref(), Some("jan.nowak@example.net"));
}

/// Without details, or with an empty `customer`, a login changes nothing and pushes nothing;
/// with invalid details it is a `validation` error that changes nothing either.
#[test]
fn customer_login_without_or_with_bad_details_changes_nothing() {
    let base = world();
    for payload in [
        json!({"token": "Bearer t"}),
        json!({"token": "Bearer t", "customer": {}}),
        json!({"token": "Bearer t", "customer": {"fields": {}, "monitoring": {}}}),
    ] {
        let mut w = base.clone();
        let reply = w.customer(json!({"action": "login", "payload": payload}));
        assert_eq!(
            ok_payload(&reply),
            json!({"customer_id": base.jan.to_string()})
        );
        assert!(reply.pushes.is_empty(), "{payload}: {:?}", reply.pushes);
        assert!(w.engine == base.engine, "{payload}: the engine changed");
    }
    for customer in [
        json!({"name": "Jan", "email": "not an address"}),
        json!({"monitoring": {"page": {"url": ""}}}),
        json!({"fields": {"tier": 3}}),
        json!("Jan"),
    ] {
        let mut w = base.clone();
        let reply = w.customer(json!({"request_id": "l", "action": "login",
            "payload": {"token": "Bearer t", "customer": customer}}));
        let v = parse(&reply.response);
        assert_eq!(
            v["payload"]["error"]["type"], "validation",
            "{customer}: {v}"
        );
        assert_eq!(v["request_id"], "l");
        assert!(reply.pushes.is_empty());
        assert!(w.engine == base.engine, "{customer}: the engine changed");
    }
}

// ----- last-seen times in a chat's user list -----

/// The `last_seen_timestamp` of a user in `users`, by id.
fn last_seen_of(users: &Value, id: &UserId) -> Value {
    let user = users
        .as_array()
        .and_then(|list| list.iter().find(|u| u["id"] == id.to_string()))
        .unwrap_or_else(|| panic!("{id} not in {users}"));
    user.get("last_seen_timestamp")
        .cloned()
        .unwrap_or(Value::Null)
}

/// In a chat's user list each user shows the time it has seen that chat up to
/// (`update_last_seen_timestamp`), agents included; a user who never said shows none, even a
/// customer active elsewhere in the license. Outside a chat's list the customer shows its
/// latest activity, as before.
#[test]
fn chat_user_lists_show_each_users_last_seen_time_in_that_chat() {
    let mut w = world();
    let chat = w.chat.to_string();
    let thread = w.thread.to_string();
    let (anna, jan) = (w.anna.clone(), w.jan.clone());

    // Nobody has said yet: no last-seen time in the chat, though Jan was active at T0.
    let threads = ok_payload(&w.customer(json!({"action": "get_chat_threads",
        "payload": {"chat_id": chat, "thread_ids": [thread]}})));
    assert_eq!(last_seen_of(&threads["chat"]["users"], &jan), Value::Null);
    assert_eq!(last_seen_of(&threads["chat"]["users"], &anna), Value::Null);

    let seen = w.agent(json!({"action": "update_last_seen_timestamp",
        "payload": {"chat_id": chat, "timestamp": T0 + 30}}));
    assert!(seen.success, "{}", seen.response);
    let seen = w.customer(json!({"action": "update_last_seen_timestamp",
        "payload": {"chat_id": chat, "timestamp": T0 + 40}}));
    assert!(seen.success, "{}", seen.response);

    let mut lists = Vec::new();
    for (api, user) in [(Api::Agent, anna.clone()), (Api::Customer, jan.clone())] {
        let request = json!({"action": "get_chat_threads",
            "payload": {"chat_id": chat, "thread_ids": [thread]}});
        let reply = w.send(api, &user, &request.to_string());
        lists.push((
            format!("{api:?} get_chat_threads"),
            ok_payload(&reply)["chat"]["users"].clone(),
        ));
    }
    let login = ok_payload(&w.agent(json!({"action": "login", "payload": {"token": "t"}})));
    lists.push((
        "agent login".into(),
        login["chats_summary"][0]["users"].clone(),
    ));
    let summary = ok_payload(&w.customer(json!({"action": "get_chats_summary", "payload": {}})));
    lists.push((
        "customer get_chats_summary".into(),
        summary["chats_summary"][0]["users"].clone(),
    ));
    // A new thread: incoming_chat_thread to both sides.
    let closed = w.customer(json!({"action": "close_thread", "payload": {"chat_id": chat}}));
    assert!(closed.success, "{}", closed.response);
    let reopened = w.customer(json!({"action": "send_event",
        "payload": {"chat_id": chat, "event": {"type": "message", "text": "Me again"}}}));
    for to_customers in [false, true] {
        let push = push_payload(&w, &reopened, "incoming_chat_thread", to_customers);
        lists.push((
            format!("incoming_chat_thread to customers: {to_customers}"),
            push["chat"]["users"].clone(),
        ));
    }
    for (what, users) in &lists {
        assert_eq!(
            last_seen_of(users, &anna),
            json!(T0 + 30),
            "{what}: {users}"
        );
        assert_eq!(last_seen_of(users, &jan), json!(T0 + 40), "{what}: {users}");
    }

    // Outside a chat's user list, the customer object keeps the customer's latest activity.
    let updated = ok_payload(&w.customer(json!({"action": "update_customer",
        "payload": {"customer": {"name": "Jan"}}})));
    assert_eq!(updated["customer"]["last_seen_timestamp"], json!(NOW));
}

fn routing_status_of(users: &Value, id: &UserId) -> Value {
    let user = users
        .as_array()
        .and_then(|list| list.iter().find(|u| u["id"] == id.to_string()))
        .unwrap_or_else(|| panic!("{id} not in {users}"));
    user.get("routing_status").cloned().unwrap_or(Value::Null)
}

/// The Agent API's agent object carries `routing_status` only while the agent is logged in: in
/// a chat's user list an online agent shows its status and an offline one shows none, in
/// responses and in pushes alike. The Customer API's agent object has no such field.
#[test]
fn chat_user_lists_show_the_routing_status_of_online_agents_only() {
    let mut w = world();
    let chat = w.chat.to_string();
    let thread = w.thread.to_string();
    let (anna, bob) = (w.anna.clone(), w.bob.clone());
    // Bob joins too but never connects; Anna connects and stops accepting chats.
    let _ = w
        .engine
        .as_agent(&anna, at(T0 + 10))
        .unwrap()
        .join_chat(w.chat, std::slice::from_ref(&bob))
        .unwrap();
    let _ = w
        .engine
        .set_agent_presence(&anna, true, at(T0 + 11))
        .unwrap();
    let updated = w.agent(json!({"action": "update_agent",
        "payload": {"routing_status": "not_accepting_chats"}}));
    assert!(updated.success, "{}", updated.response);

    let request = json!({"action": "get_chat_threads",
        "payload": {"chat_id": chat, "thread_ids": [thread]}});
    let mut lists = Vec::new();
    for (api, user) in [(Api::Agent, anna.clone()), (Api::Customer, w.jan.clone())] {
        let reply = w.send(api, &user, &request.to_string());
        lists.push((
            format!("{api:?} get_chat_threads"),
            api,
            ok_payload(&reply)["chat"]["users"].clone(),
        ));
    }
    // A new thread: incoming_chat_thread to both sides.
    let closed = w.customer(json!({"action": "close_thread", "payload": {"chat_id": chat}}));
    assert!(closed.success, "{}", closed.response);
    let reopened = w.customer(json!({"action": "send_event",
        "payload": {"chat_id": chat, "event": {"type": "message", "text": "Me again"}}}));
    for (to_customers, api) in [(false, Api::Agent), (true, Api::Customer)] {
        let push = push_payload(&w, &reopened, "incoming_chat_thread", to_customers);
        lists.push((
            format!("incoming_chat_thread to customers: {to_customers}"),
            api,
            push["chat"]["users"].clone(),
        ));
    }
    for (what, api, users) in &lists {
        let anna_status = match api {
            Api::Agent => json!("not_accepting_chats"),
            Api::Customer => Value::Null,
        };
        assert_eq!(
            routing_status_of(users, &anna),
            anna_status,
            "{what}: {users}"
        );
        assert_eq!(
            routing_status_of(users, &bob),
            Value::Null,
            "{what}: {users}"
        );
    }

    // Once Anna disconnects her status is no longer shown.
    let _ = w
        .engine
        .set_agent_presence(&anna, false, at(T0 + 50))
        .unwrap();
    let threads = ok_payload(&w.agent(request));
    assert_eq!(
        routing_status_of(&threads["chat"]["users"], &anna),
        Value::Null
    );
}

// ----- the customer's page -----

/// Agents see the customer's page as the Agent API's `monitoring.current_visit.pages`;
/// customers are not shown monitoring. A page may come with only a title, as the Customer API
/// allows, but not empty.
#[test]
fn the_customers_page_is_monitoring_current_visit_for_agents() {
    let base = world();
    let chat = base.chat.to_string();
    for (page, shown) in [
        (
            json!({"url": "https://shop.example.org/cart", "title": "Cart"}),
            json!({"url": "https://shop.example.org/cart", "title": "Cart"}),
        ),
        (json!({"title": "Cart"}), json!({"title": "Cart"})),
        (
            json!({"url": "https://shop.example.org/cart"}),
            json!({"url": "https://shop.example.org/cart"}),
        ),
    ] {
        let mut w = base.clone();
        let reply = w.customer(json!({"action": "update_customer",
            "payload": {"customer": {"monitoring": {"page": page}}}}));
        let response = ok_payload(&reply);
        assert!(
            response["customer"].get("monitoring").is_none(),
            "{response}"
        );
        // The visit and the page began when the page was first reported.
        let mut shown = shown;
        shown["start"] = json!(NOW);
        let push = push_payload(&w, &reply, "customer_updated", false);
        assert_eq!(
            push["customer"]["monitoring"],
            json!({"current_visit": {"start": NOW, "pages": [shown]}}),
            "{page}"
        );
        let threads = ok_payload(&w.agent(json!({"action": "get_chat_threads",
            "payload": {"chat_id": chat}})));
        let customer = &threads["chat"]["users"][0];
        assert_eq!(customer["type"], "customer");
        assert_eq!(
            customer["monitoring"],
            json!({"current_visit": {"start": NOW, "pages": [shown]}})
        );
        let threads = ok_payload(&w.customer(json!({"action": "get_chat_threads",
            "payload": {"chat_id": chat}})));
        assert!(threads["chat"]["users"][0].get("monitoring").is_none());
    }
    for page in [
        json!({}),
        json!({"url": ""}),
        json!({"url": " ", "title": "Cart"}),
    ] {
        let mut w = base.clone();
        let reply = w.customer(json!({"action": "update_customer",
            "payload": {"customer": {"monitoring": {"page": page}}}}));
        let v = parse(&reply.response);
        assert_eq!(v["payload"]["error"]["type"], "validation", "{page}: {v}");
        assert!(w.engine == base.engine, "{page}: the engine changed");
    }
}

/// The docs' login sample with the rest of `customer.monitoring`: the referrer and the time zone
/// are kept, and agents see them where the Agent API's customer sample has them, with the
/// visit's and the page's `start`. A later page starts anew; the visit does not. Customers see
/// none of it.
#[test]
fn the_customers_referrer_timezone_and_visit_are_kept_and_shown_to_agents() {
    let mut w = world();
    let chat = w.chat.to_string();
    let login = w.customer(json!({"request_id": "l", "action": "login", "payload": {
        "token": "Bearer t",
        "customer": {"monitoring": {
            "page": {"url": "https://shop.example.org/", "title": "Shop",
                     "referrer": "https://www.example.com/search?q=shop"},
            "timezone": "-2"}}}}));
    assert!(login.success, "{}", login.response);
    let jan = w.engine.customer(&w.jan).unwrap();
    assert_eq!(
        jan.referrer.as_deref(),
        Some("https://www.example.com/search?q=shop")
    );
    assert_eq!(jan.timezone.as_deref(), Some("-2"));
    assert_eq!(jan.visit_start, Some(at(NOW)));
    golden_push(
        &w,
        "agent_customer_updated_monitoring_push",
        &login,
        "customer_updated",
        false,
    );

    // A later page: its own start, the same visit; the referrer and time zone stay.
    let jan = w.jan.clone();
    let later = handle(
        &mut w.engine,
        Api::Customer,
        &jan,
        at(NOW + 30),
        &json!({"action": "update_customer", "payload": {"customer": {"monitoring": {
            "page": {"url": "https://shop.example.org/cart"}}}}})
        .to_string(),
    );
    assert!(later.success, "{}", later.response);
    let threads = ok_payload(&w.agent(json!({"action": "get_chat_threads",
        "payload": {"chat_id": chat}})));
    assert_eq!(
        threads["chat"]["users"][0]["monitoring"],
        json!({
            "current_visit": {"start": NOW,
                "pages": [{"start": NOW + 30, "url": "https://shop.example.org/cart"}]},
            "referrer": "https://www.example.com/search?q=shop",
            "geolocation": {"timezone": "-2"}
        })
    );
    let mine = ok_payload(&w.customer(json!({"action": "get_chat_threads",
        "payload": {"chat_id": chat}})));
    assert!(
        mine["chat"]["users"][0].get("monitoring").is_none(),
        "{mine}"
    );

    // Empty or oversized values are refused and change nothing.
    let base = w.clone();
    for monitoring in [
        json!({"timezone": ""}),
        json!({"timezone": "x".repeat(65)}),
        json!({"page": {"referrer": ""}}),
        json!({"page": {"url": "https://shop.example.org/", "referrer": "\u{0}"}}),
    ] {
        let reply = w.customer(json!({"action": "update_customer",
            "payload": {"customer": {"monitoring": monitoring}}}));
        let v = parse(&reply.response);
        assert_eq!(
            v["payload"]["error"]["type"], "validation",
            "{monitoring}: {v}"
        );
        assert!(w.engine == base.engine, "{monitoring}: the engine changed");
    }
}

// ----- change_push_notifications -----

/// `change_push_notifications` checks its three required fields and names the one that is
/// wrong; a valid request is acknowledged and changes nothing.
#[test]
fn change_push_notifications_checks_its_fields() {
    let base = world();
    for enabled in [true, false] {
        for platform in ["ios", "android"] {
            let mut w = base.clone();
            let reply = w.agent(json!({"action": "change_push_notifications", "payload": {
                "firebase_token": "fcm-1", "platform": platform, "enabled": enabled}}));
            assert_eq!(ok_payload(&reply), json!({}));
            assert!(reply.pushes.is_empty());
            assert!(w.engine == base.engine, "nothing is kept");
        }
    }
    let good = json!({"firebase_token": "fcm-1", "platform": "ios", "enabled": true});
    let cases = [
        ("firebase_token", None),
        ("firebase_token", Some(json!(""))),
        ("firebase_token", Some(json!("  "))),
        ("firebase_token", Some(json!(42))),
        ("platform", None),
        ("platform", Some(json!("windows"))),
        ("platform", Some(json!("IOS"))),
        ("platform", Some(json!(true))),
        ("enabled", None),
        ("enabled", Some(json!("true"))),
        ("enabled", Some(json!(1))),
    ];
    for (field, value) in cases {
        let mut payload = good.clone();
        match &value {
            Some(v) => payload[field] = v.clone(),
            None => {
                payload.as_object_mut().unwrap().remove(field);
            }
        }
        let mut w = base.clone();
        let reply = w.agent(
            json!({"request_id": "pn", "action": "change_push_notifications",
            "payload": payload}),
        );
        let v = parse(&reply.response);
        let error = &v["payload"]["error"];
        assert_eq!(error["type"], "validation", "{payload}: {v}");
        assert!(
            error["message"].as_str().is_some_and(|m| m.contains(field)),
            "{payload}: the message does not name {field}: {error}"
        );
        assert_eq!(v["request_id"], "pn");
        assert!(w.engine == base.engine);
    }
}

// ----- responses, per API -----

#[test]
fn login_and_summaries_have_the_documented_keys() {
    let mut w = world();
    let login = ok_payload(&w.agent(json!({"action": "login", "payload": {"token": "t"}})));
    // No license configured, none shown (see `agent_login_with_license_response`).
    assert!(login.get("license").is_none());
    let me = &login["my_profile"];
    assert_eq!(me["id"], w.anna.to_string());
    assert_eq!(me["type"], "agent");
    assert_eq!(me["name"], "Anna");
    assert_eq!(me["email"], "anna@example.com");
    assert_eq!(me["avatar"], "https://cdn.example.org/anna.png");
    assert_eq!(me["routing_status"], "accepting_chats");
    assert_eq!(me["permission"], "administrator");
    let summary = &login["chats_summary"][0];
    for key in [
        "id",
        "users",
        "last_event_per_type",
        "last_thread_summary",
        "properties",
        "scopes",
    ] {
        assert!(summary.get(key).is_some(), "chats_summary lacks {key}");
    }
    let last = &summary["last_event_per_type"]["rich_message"];
    assert_eq!(keys(last), set(&["thread_id", "thread_order", "event"]));
    assert_eq!(last["event"]["id"], w.rich.to_string());
    let lts = &summary["last_thread_summary"];
    assert_eq!(lts["id"], w.thread.to_string());
    assert!(lts.get("events").is_none(), "a summary has no events");

    let login = ok_payload(&w.customer(json!({"action": "login", "payload": {"token": "t"}})));
    assert_eq!(login["customer_id"], w.jan.to_string());

    let summary = ok_payload(&w.customer(json!({"action": "get_chats_summary", "payload": {}})));
    assert_eq!(summary["total_chats"], 1);
    let chat = &summary["chats_summary"][0];
    for key in [
        "id",
        "order",
        "users",
        "properties",
        "scopes",
        "last_event_per_type",
    ] {
        assert!(
            chat.get(key).is_some(),
            "customer chats_summary lacks {key}"
        );
    }
    assert!(chat["order"].is_u64());

    let chat_id = w.chat.to_string();
    let ts = ok_payload(&w.customer(json!({"action": "get_chat_threads_summary",
        "payload": {"chat_id": chat_id}})));
    assert_eq!(ts["total_threads"], 1);
    assert_eq!(
        keys(&ts["threads_summary"][0]),
        set(&["id", "order", "total_events"])
    );

    // Agent API's get_chat_threads: threads_summary items name the thread `thread_id`.
    let threads = ok_payload(&w.agent(json!({"action": "get_chat_threads",
        "payload": {"chat_id": chat_id}})));
    let chat = &threads["chat"];
    for key in [
        "id",
        "users",
        "threads",
        "threads_summary",
        "properties",
        "scopes",
    ] {
        assert!(
            chat.get(key).is_some(),
            "agent get_chat_threads lacks {key}"
        );
    }
    let item = &chat["threads_summary"][0];
    assert_eq!(item["thread_id"], w.thread.to_string());
    assert!(item["order"].is_u64());
}

#[test]
fn auto_chat_scopes_round_trip_through_the_wire() {
    let mut w = world();
    let added = ok_payload(&w.agent(json!({"action": "add_auto_chat_scopes", "payload": {
        "description": "Shop chats",
        "scopes": {"agents": [w.bob.to_string()]},
        "rules": {"customer_url": {"exclude_values": [{"value": "/careers", "exact_match": false}]}}}})));
    let id = added["auto_chat_scopes_id"].as_str().unwrap().to_string();
    let config = ok_payload(&w.agent(json!({"action": "get_auto_chat_scopes_config"})));
    let list = config["auto_chat_scopes_config"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], w.auto_scopes);
    let mine = &list[1];
    assert_eq!(mine["id"], id);
    assert_eq!(mine["description"], "Shop chats");
    assert_eq!(mine["scopes"], json!({"agents": [w.bob.to_string()]}));
    assert_eq!(
        mine["rules"]["customer_url"],
        json!({"exclude_values": [{"value": "/careers", "exact_match": false}]})
    );
    let removed = w.agent(json!({"action": "remove_auto_chat_scopes",
        "payload": {"auto_chat_scopes_id": id}}));
    assert_eq!(ok_payload(&removed), json!({}));
}

/// Optional fields of an auto chat scopes configuration that were not given are left out, not
/// `null`: no description, no URL rule, no property rules.
#[test]
fn auto_chat_scopes_config_leaves_out_what_was_not_given() {
    let mut w = world();
    let added = ok_payload(
        &w.agent(json!({"action": "add_auto_chat_scopes", "payload": {
        "scopes": {"groups": [1]},
        "rules": {"customer_url": {"values": [{"value": "/pricing", "exact_match": false}]}}}})),
    );
    let id = added["auto_chat_scopes_id"].clone();
    let config = ok_payload(&w.agent(json!({"action": "get_auto_chat_scopes_config"})));
    let nulls: Vec<String> = nodes(&config)
        .into_iter()
        .filter(|(_, v)| v.is_null())
        .map(|(path, _)| path)
        .collect();
    assert!(nulls.is_empty(), "null at {nulls:?}: {config}");
    assert_eq!(
        config["auto_chat_scopes_config"],
        json!([
            {"id": w.auto_scopes, "description": "Phone chats go to group 2",
             "scopes": {"groups": [2]},
             "rules": {"chat_properties": {"source": {"type": {"values": ["phone"]}}}}},
            {"id": id, "scopes": {"groups": [1]},
             "rules": {"customer_url": {"values": [{"value": "/pricing", "exact_match": false}]}}},
        ])
    );
}

#[test]
fn author_id_acts_as_a_bot_the_requester_owns() {
    let mut w = world();
    let chat = w.chat.to_string();
    let bot = w.bot.to_string();
    let reply = w.agent(
        json!({"request_id": "b1", "action": "send_event", "author_id": bot,
        "payload": {"chat_id": chat, "event": {"type": "message", "text": "Beep"}}}),
    );
    let payload = ok_payload(&reply);
    assert_eq!(payload["event"]["author_id"], bot);
    let stored = w.engine.chat(&w.chat).unwrap().threads[0]
        .events
        .last()
        .unwrap()
        .clone();
    assert_eq!(stored.author_id.as_ref(), Some(&w.bot));

    // Bob does not own the bot; customers have no bots.
    let bob = w.bob.clone();
    let jan = w.jan.clone();
    for (api, user) in [(Api::Agent, bob), (Api::Customer, jan)] {
        let before = w.engine.clone();
        let reply = w.send(
            api,
            &user,
            &json!({"request_id": "b2", "action": "ping", "author_id": bot}).to_string(),
        );
        let v = parse(&reply.response);
        assert_eq!(v["request_id"], "b2");
        assert_eq!(v["payload"]["error"]["type"], "authorization", "{v}");
        assert!(w.engine == before);
    }
}

#[test]
fn ping_answers_on_both_apis() {
    let mut w = world();
    for api in [Api::Agent, Api::Customer] {
        let user = match api {
            Api::Agent => w.anna.clone(),
            Api::Customer => w.jan.clone(),
        };
        let before = w.engine.clone();
        let reply = w.send(api, &user, r#"{"request_id":"p","action":"ping"}"#);
        assert_eq!(
            parse(&reply.response),
            json!({"request_id": "p", "action": "ping", "type": "response",
                   "success": true, "payload": {}})
        );
        assert!(reply.pushes.is_empty());
        assert!(w.engine == before, "ping changes nothing");
    }
}

/// A rendered event, with its property values unwrapped, is the stored event: nothing is lost
/// or invented on the way out.
#[test]
fn rendered_events_parse_back_to_the_stored_events() {
    let mut w = world();
    let chat = w.chat.to_string();
    let events = [
        json!({"type": "message", "text": "plain", "custom_id": "r-1",
               "properties": {"rating": {"score": {"value": 3}}}}),
        json!({"type": "annotation", "text": "note", "annotation_type": "rating", "recipients": "agents"}),
        json!({"type": "system_message", "text": "sys", "system_message_type": "info"}),
        json!({"type": "custom", "content": {"a": [1, {"b": null}]}}),
        json!({"type": "filled_form", "fields": [
            {"type": "text", "name": "n", "label": "Name", "required": true, "value": "Jo"},
            {"type": "title", "name": "t", "label": "Hello"},
            {"type": "select", "name": "s", "label": "Pick", "options": [
                {"label": "A", "value": "a", "checked": true}]}]}),
        json!({"type": "rich_message", "template_id": "quick_replies", "elements": [
            {"buttons": [{"text": "Yes", "postback_id": "y"}]}]}),
    ];
    for event in events {
        let reply =
            w.agent(json!({"action": "send_event", "payload": {"chat_id": chat, "event": event}}));
        let mut rendered = ok_payload(&reply)["event"].clone();
        if let Some(Value::Object(namespaces)) = rendered.get_mut("properties") {
            for names in namespaces.values_mut() {
                for value in names.as_object_mut().unwrap().values_mut() {
                    *value = value["value"].clone();
                }
            }
        }
        let parsed: Event =
            serde_json::from_value(rendered.clone()).unwrap_or_else(|e| panic!("{e}: {rendered}"));
        let stored = w.engine.chat(&w.chat).unwrap().threads[0]
            .events
            .last()
            .unwrap();
        assert_eq!(parsed, stored);
    }
    // And a file, through send_file.
    let reply = w.customer(json!({"action": "send_file", "payload": {"chat_id": chat,
        "custom_id": "f-1", "file": {"name": "a.pdf", "url": "https://files.example.org/a.pdf",
        "content_type": "application/pdf", "size": 1234}}}));
    let payload = ok_payload(&reply);
    assert_eq!(payload["url"], "https://files.example.org/a.pdf");
    let parsed: Event = serde_json::from_value(payload["event"].clone()).unwrap();
    let stored = w.engine.chat(&w.chat).unwrap().threads[0]
        .events
        .last()
        .unwrap();
    assert_eq!(parsed, stored);
}

// ----- bad input -----

/// Whether an error response must echo a request id.
enum Echo {
    /// This one.
    Yes(&'static str),
    /// None: nothing could be read.
    No,
    /// Either: the id sits in text that a strict reader may give up on before reaching it.
    Maybe,
}

#[test]
fn bad_input_is_a_validation_error_that_echoes_what_it_can() {
    let base = world();
    let chat = base.chat.to_string();
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_payload = format!(
        r#"{{"request_id":"deep","action":"send_event","payload":{}{}}}"#,
        "{\"a\":".repeat(5_000),
        "}".repeat(5_000)
    );
    let cases: Vec<(String, Echo)> = vec![
        (String::new(), Echo::No),
        ("   ".into(), Echo::No),
        ("null".into(), Echo::No),
        ("42".into(), Echo::No),
        ("\"ping\"".into(), Echo::No),
        ("[]".into(), Echo::No),
        ("{}".into(), Echo::No),
        (deep, Echo::No),
        (deep_payload, Echo::Maybe),
        (r#"{"request_id":"r1"}"#.into(), Echo::Yes("r1")),
        (r#"{"request_id":"r2","action":5}"#.into(), Echo::Yes("r2")),
        (r#"{"request_id":"r3","action":null}"#.into(), Echo::Yes("r3")),
        (
            r#"{"request_id":"r4","action":"send_event","payload":null}"#.into(),
            Echo::Yes("r4"),
        ),
        (
            r#"{"request_id":"r5","action":"send_event","payload":[1,2]}"#.into(),
            Echo::Yes("r5"),
        ),
        (
            format!(
                r#"{{"request_id":"r6","action":"send_event","payload":{{"chat_id":"{chat}","event":"hi"}}}}"#
            ),
            Echo::Yes("r6"),
        ),
        (
            format!(
                r#"{{"request_id":"r7","action":"send_event","payload":{{"chat_id":"{chat}","event":{{"type":"message","text":"\ud800"}}}}}}"#
            ),
            Echo::Maybe,
        ),
        (
            r#"{"request_id":"r8","action":"ban_customer","payload":{"customer_id":"x","ban":{"days":1e400}}}"#
                .into(),
            Echo::Maybe,
        ),
        (
            r#"{"request_id":"r9","action":"ban_customer","payload":{"customer_id":"x","ban":{"days":4294967296}}}"#
                .into(),
            Echo::Yes("r9"),
        ),
        (
            format!(
                r#"{{"request_id":"r10","action":"update_last_seen_timestamp","payload":{{"chat_id":"{chat}","timestamp":9223372036854775807}}}}"#
            ),
            Echo::Yes("r10"),
        ),
        (
            format!(
                r#"{{"request_id":"r11","action":"update_chat_properties","payload":{{"chat_id":"{chat}","properties":{{"rating":{{"score":2147483648}}}}}}}}"#
            ),
            Echo::Yes("r11"),
        ),
        (
            r#"{"request_id":"r12","action":"send_event","author_id":"","payload":{}}"#.into(),
            Echo::Yes("r12"),
        ),
        (
            r#"{"request_id":"r13","action":"ping","request_id":"r14"}"#.into(),
            Echo::Yes("r14"),
        ),
        (r#"{"request_id":"r15","action":"ping"} trailing"#.into(), Echo::No),
        (r#"["r17", "teleport"]"#.into(), Echo::Maybe),
    ];
    for api in [Api::Agent, Api::Customer] {
        for (text, echoed) in &cases {
            let mut w = base.clone();
            let user = match api {
                Api::Agent => w.anna.clone(),
                Api::Customer => w.jan.clone(),
            };
            let reply = w.send(api, &user, text);
            let short: String = text.chars().take(120).collect();
            let v = round_trips(&reply.response).unwrap();
            assert_eq!(v["type"], "response", "{short}");
            assert_eq!(v["success"], false, "{short}: {v}");
            assert!(!reply.success);
            let error = &v["payload"]["error"];
            // A malformed upper-case chat id is not found or not valid: validation either way.
            assert_eq!(error["type"], "validation", "{api:?} {short}: {v}");
            assert!(error["message"].is_string());
            match echoed {
                Echo::Yes(id) => assert_eq!(v["request_id"], *id, "{short}: {v}"),
                Echo::No => assert!(v.get("request_id").is_none(), "{short}: {v}"),
                Echo::Maybe => {}
            }
            assert!(reply.pushes.is_empty());
            assert!(w.engine == base.engine, "{short}: the engine changed");
        }
    }
}

/// A request is a JSON object, and so is every payload: an array in their place is a wrong type,
/// even one whose items happen to line up with the fields.
#[test]
fn arrays_are_neither_requests_nor_payloads() {
    let base = world();
    let chat = base.chat.to_string();
    let cases = [
        (Api::Agent, r#"["a-1", "ping"]"#.to_string()),
        (
            Api::Customer,
            r#"["c-1", "get_chats_summary", {}]"#.to_string(),
        ),
        (
            Api::Agent,
            format!(r#"{{"request_id":"a-2","action":"close_thread","payload":["{chat}"]}}"#),
        ),
        (
            Api::Customer,
            format!(
                r#"{{"request_id":"c-2","action":"send_sneak_peek","payload":["{chat}","typing..."]}}"#
            ),
        ),
    ];
    let mut accepted = Vec::new();
    for (api, text) in cases {
        let mut w = base.clone();
        let user = match api {
            Api::Agent => w.anna.clone(),
            Api::Customer => w.jan.clone(),
        };
        let reply = w.send(api, &user, &text);
        if reply.success || w.engine != base.engine {
            accepted.push(format!("{api:?} {text} -> {}", reply.response));
        }
    }
    assert!(accepted.is_empty(), "accepted: {accepted:#?}");
}

// ----- documented shapes that are only partly met (see the ignore reasons) -----

/// The Customer API's `User > Agent` is `{id, type, name, avatar, present,
/// last_seen_timestamp}`, its `User > Customer` is `{id, type, name, email, present, fields,
/// last_seen_timestamp}` and its `Typing indicator` is `{author_id, timestamp, is_typing}`.
/// What the Customer API sends should stay within those keys; in particular an agent's e-mail
/// address is not part of what customers are shown.
#[test]
fn customer_api_objects_have_only_documented_keys() {
    let mut w = world();
    let chat = w.chat.to_string();
    let mut texts = Vec::new();
    texts.push(
        w.customer(json!({"action": "get_chat_threads", "payload": {"chat_id": chat}}))
            .response,
    );
    texts.push(
        w.customer(json!({"action": "get_chats_summary", "payload": {}}))
            .response,
    );
    let reply = w.customer(json!({"action": "update_customer",
        "payload": {"customer": {"monitoring": {"page": {"url": "https://shop.example.org/"}}}}}));
    texts.push(reply.response.clone());
    let typing = w.agent(json!({"action": "send_typing_indicator",
        "payload": {"chat_id": chat, "is_typing": true}}));
    let customer_pushes = |reply: &Reply, w: &World| -> Vec<String> {
        reply
            .pushes
            .iter()
            .filter(|p| p.to.iter().any(|u| w.is_customer(u)))
            .map(|p| p.text.clone())
            .collect()
    };
    texts.extend(customer_pushes(&typing, &w));
    let join = w.agent(json!({"action": "join_chat",
        "payload": {"chat_id": chat, "agent_ids": [w.bob.to_string()]}}));
    texts.extend(customer_pushes(&join, &w));

    let agent_keys = set(&[
        "id",
        "type",
        "name",
        "avatar",
        "present",
        "last_seen_timestamp",
    ]);
    let customer_keys = set(&[
        "id",
        "type",
        "name",
        "email",
        "present",
        "fields",
        "last_seen_timestamp",
    ]);
    let typing_keys = set(&["author_id", "timestamp", "is_typing"]);
    let mut problems = BTreeSet::new();
    for text in &texts {
        let v = parse(text);
        for (path, node) in nodes(&v) {
            let extra = |allowed: &BTreeSet<String>| -> Vec<String> {
                keys(node).difference(allowed).cloned().collect()
            };
            let (what, extra) = match node.get("type").and_then(Value::as_str) {
                Some("agent") if node.get("id").is_some() => ("agent", extra(&agent_keys)),
                Some("customer") if node.get("id").is_some() => ("customer", extra(&customer_keys)),
                _ if path.ends_with(".typing_indicator") => {
                    ("typing indicator", extra(&typing_keys))
                }
                _ => continue,
            };
            if !extra.is_empty() {
                problems.insert(format!("{what} object with {extra:?}"));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Every user object says whether the user is `present` in the chat; the engine lists only
/// users who are, and the other user objects are of the requester or of a chat's customer.
#[test]
fn every_user_object_is_present() {
    let base = world();
    let mut users = 0;
    for api in [Api::Agent, Api::Customer] {
        for f in load(api) {
            let (reply, _) = run_fixture(&base, &f);
            for text in std::iter::once(&reply.response).chain(reply.pushes.iter().map(|p| &p.text))
            {
                let v = parse(text);
                for (path, node) in nodes(&v) {
                    let is_user = matches!(
                        node.get("type").and_then(Value::as_str),
                        Some("agent" | "customer")
                    ) && node.get("id").is_some();
                    if is_user {
                        assert_eq!(node["present"], true, "{}: {path}: {node}", f.name);
                        users += 1;
                    }
                }
            }
        }
    }
    assert!(users >= 20, "only {users} user objects");
}

/// The checks above catch what they are meant to catch.
#[test]
fn the_checks_themselves_catch_problems() {
    let bare = json!({"properties": {"rating": {"score": 4}}});
    assert_eq!(rendering_problems(&bare).len(), 1);
    let nested = json!({"properties": {"rating": {"score": {"value": {"x": 1}}}}});
    assert_eq!(rendering_problems(&nested).len(), 1);
    let millis = json!({"event": {"timestamp": NOW * 1000}});
    assert_eq!(rendering_problems(&millis).len(), 1);
    let text = json!({"last_seen_timestamp": "1700000000"});
    assert_eq!(rendering_problems(&text).len(), 1);
    let fine = json!({"properties": {"a": {"b": {"value": true}}}, "timestamp": NOW});
    assert!(rendering_problems(&fine).is_empty());
    let leak = json!({"events": [{"type": "message", "recipients": "agents"}]});
    assert_eq!(customer_view_problems(&leak).len(), 1);
    let hidden = json!({"chat": {"properties": {"internal": {"priority": {"value": 1}}}}});
    assert_eq!(customer_view_problems(&hidden).len(), 1);
    assert!(round_trips("{\"a\":1}").is_ok());
    assert!(round_trips("{\"a\":").is_err());
}

// ----- round trip and golden files -----

/// Every response and push of every fixture parses as JSON and re-serializes to an equal value.
#[test]
fn every_rendered_message_round_trips() {
    let base = world();
    let mut texts = 0;
    for api in [Api::Agent, Api::Customer] {
        for f in load(api) {
            let (reply, _) = run_fixture(&base, &f);
            for text in std::iter::once(&reply.response).chain(reply.pushes.iter().map(|p| &p.text))
            {
                round_trips(text).unwrap_or_else(|e| panic!("{}: {e}", f.name));
                texts += 1;
            }
        }
    }
    assert!(texts > 100, "only {texts} messages");
}

fn golden(name: &str, text: &str) {
    let path = fixture_dir("golden").join(format!("{name}.json"));
    let value = round_trips(text).unwrap();
    let pretty = format!("{}\n", serde_json::to_string_pretty(&value).unwrap());
    if std::env::var_os("CHATIO_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &pretty).unwrap();
        return;
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with CHATIO_BLESS=1 to create it",
            path.display()
        )
    });
    assert_eq!(
        parse(&stored),
        value,
        "{name} differs from its golden file (CHATIO_BLESS=1 rewrites it)"
    );
    assert_eq!(
        stored, pretty,
        "{name}: golden file is not in canonical form"
    );
}

fn golden_push(world: &World, name: &str, reply: &Reply, action: &str, to_customers: bool) {
    let push = reply
        .pushes
        .iter()
        .find(|p| p.action == action && p.to.iter().any(|u| world.is_customer(u)) == to_customers)
        .unwrap_or_else(|| panic!("no {action} push: {:#?}", reply.pushes));
    golden(name, &push.text);
}

#[test]
fn golden_responses_and_pushes() {
    let base = world();
    let chat = base.chat.to_string();

    let mut w = base.clone();
    let reply = w.agent(
        json!({"request_id": "g-1", "action": "send_event", "payload": {
        "chat_id": chat, "event": {"type": "message", "text": "Your refund is on its way.",
        "custom_id": "g-msg", "properties": {"rating": {"comment": "resolved"}}}}}),
    );
    golden("agent_send_event_response", &reply.response);
    golden_push(
        &w,
        "agent_incoming_event_push",
        &reply,
        "incoming_event",
        false,
    );
    golden_push(
        &w,
        "customer_incoming_event_push",
        &reply,
        "incoming_event",
        true,
    );

    let mut w = base.clone();
    let reply = w.agent(json!({"request_id": "g-2", "action": "join_chat",
        "payload": {"chat_id": chat, "agent_ids": [base.bob.to_string()]}}));
    golden("agent_join_chat_response", &reply.response);
    golden_push(
        &w,
        "agent_chat_users_updated_push",
        &reply,
        "chat_users_updated",
        false,
    );
    golden_push(
        &w,
        "customer_chat_users_updated_push",
        &reply,
        "chat_users_updated",
        true,
    );

    let mut w = base.clone();
    let eva = w.eva.clone();
    let reply = w.send(
        Api::Customer,
        &eva,
        &json!({"request_id": "g-3", "action": "start_chat", "payload": {"chat": {
            "properties": {"source": {"type": "widget"}},
            "thread": {"events": [{"type": "message", "text": "Do you ship to Norway?"}]}}}})
        .to_string(),
    );
    golden("customer_start_chat_response", &reply.response);
    golden_push(
        &w,
        "agent_incoming_chat_thread_push",
        &reply,
        "incoming_chat_thread",
        false,
    );

    let mut w = base.clone();
    let reply = w.customer(
        json!({"request_id": "g-4", "action": "update_chat_properties",
        "payload": {"chat_id": chat, "properties": {"rating": {"score": 5, "comment": "Great"}}}}),
    );
    golden_push(
        &w,
        "customer_chat_properties_updated_push",
        &reply,
        "chat_properties_updated",
        true,
    );

    let mut w = base.clone();
    golden(
        "agent_login_response",
        &w.agent(json!({"request_id": "g-5", "action": "login", "payload": {"token": "t"}}))
            .response,
    );
    let mut licensed = world_with(
        EngineConfig::with_seed(7).license(
            License::new("104130623", "enterprise", at(T0 - 30 * 86_400))
                .expiration_timestamp(Some(at(T0 + 335 * 86_400)))
                .in_trial(true),
        ),
    );
    golden(
        "agent_login_with_license_response",
        &licensed
            .agent(json!({"request_id": "g-5l", "action": "login", "payload": {"token": "t"}}))
            .response,
    );
    // The docs' sample: the customer's id and where the license's static configuration is.
    let mut configured = base.clone();
    configured
        .engine
        .set_static_config_path(Some("cdn.example.com/license/104130623/config.json".into()));
    golden(
        "customer_login_response",
        &configured
            .customer(json!({"request_id": "g-5c", "action": "login",
                "payload": {"token": "Bearer t"}}))
            .response,
    );
    golden(
        "customer_get_chat_threads_response",
        &w.customer(json!({"request_id": "g-6", "action": "get_chat_threads",
            "payload": {"chat_id": chat}}))
            .response,
    );
    golden(
        "agent_get_chat_threads_response",
        &w.agent(json!({"request_id": "g-7", "action": "get_chat_threads",
            "payload": {"chat_id": chat}}))
            .response,
    );
    let reply = w.customer(json!({"request_id": "g-8", "action": "send_sneak_peek",
        "payload": {"chat_id": chat, "sneak_peek_text": "Is it"}}));
    golden_push(
        &w,
        "agent_incoming_sneak_peek_push",
        &reply,
        "incoming_sneak_peek",
        false,
    );
    golden(
        "error_unknown_action_response",
        &w.agent(json!({"request_id": "g-9", "action": "teleport_chat", "payload": {}}))
            .response,
    );
    golden(
        "error_malformed_response",
        &w.customer_raw("{\"request_id\": \"g-10\", \"action\": "),
    );

    let mut w = base.clone();
    let closed = w.agent(json!({"request_id": "g-11", "action": "close_thread",
        "payload": {"chat_id": chat}}));
    assert!(
        closed.response.contains("\"success\":true"),
        "{}",
        closed.response
    );
    golden(
        "agent_get_archives_response",
        &w.agent(
            json!({"request_id": "g-12", "action": "get_archives", "payload": {
            "filters": {"query": "PARCEL", "agent_ids": [base.anna.to_string()]},
            "pagination": {"page": 1, "limit": 10}}}),
        )
        .response,
    );
}

impl World {
    fn customer_raw(&mut self, text: &str) -> String {
        let jan = self.jan.clone();
        self.send(Api::Customer, &jan, text).response
    }
}

/// The pushes that end a connection and the webhooks' envelope, as the references' samples
/// show them: `agent_disconnected` and `customer_disconnected` carry only `reason`; a webhook is
/// `webhook_id`, `secret_key`, `action`, `data` (the push's payload) and `additional_data`.
#[test]
fn disconnect_pushes_and_webhook_envelopes() {
    let mut w = world();
    let now = at(NOW);
    // Anna registers webhooks for incoming events and deleted agents.
    for action in [WebhookAction::IncomingEvent, WebhookAction::AgentDeleted] {
        let hook = NewWebhook {
            url: "https://hooks.example.com/chatio".into(),
            description: None,
            action,
            secret_key: "laudator temporis acti".into(),
            filters: WebhookFilters::default(),
        };
        let registered = w
            .engine
            .as_agent(&w.anna, now)
            .and_then(|mut a| a.register_webhook(hook))
            .expect("an administrator registers a webhook");
        assert!(registered.pushes.is_empty(), "registering tells no one");
    }
    let chat = w.chat.to_string();
    let send = json!({ "request_id": "w1", "action": "send_event", "payload": {
        "chat_id": chat, "event": { "type": "message", "text": "Your parcel left today." } } });
    let reply = handle(&mut w.engine, Api::Agent, &w.anna, now, &send.to_string());
    let webhook = reply
        .webhooks
        .iter()
        .find(|h| h.body.contains("\"incoming_event\""))
        .unwrap_or_else(|| panic!("no incoming_event webhook: {:#?}", reply.webhooks));
    golden("webhook_incoming_event", &webhook.body);

    // Bob is connected when the host removes him: told why, and the webhook fires.
    let _online = w.engine.set_agent_presence(&w.bob, true, now).expect("Bob");
    let out = w.engine.remove_agent(&w.bob, now).expect("Bob is removed");
    let push = out
        .pushes
        .iter()
        .find(|p| p.to.contains(&w.bob))
        .expect("Bob hears why he is cut off");
    golden("agent_disconnected_push", &encode_push(push).text);
    let calls = w.engine.output_webhook_calls(&out);
    let deleted = calls.first().expect("agent_deleted fires");
    golden("webhook_agent_deleted", &render_call(deleted).body);

    // A ban cuts the customer off.
    let ban = json!({ "request_id": "b1", "action": "ban_customer",
        "payload": { "customer_id": w.jan, "ban": { "days": 1 } } });
    let reply = handle(&mut w.engine, Api::Agent, &w.anna, now, &ban.to_string());
    golden_push(
        &w,
        "customer_disconnected_push",
        &reply,
        "customer_disconnected",
        true,
    );
}
