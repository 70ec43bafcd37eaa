//! Golden tests of the Configuration API v0.5 codec ([`chatio::wire::configuration::handle`]),
//! from the samples of its reference.
//!
//! # Fixtures
//!
//! `tests/fixtures/wire/configuration/*.json` hold one request per sample of the reference's
//! bot agent, webhook and property sections (and the bad inputs the rules name). Each file is
//! an object:
//!
//! * `about`: what the request is about.
//! * `path`: the action's path, `<section>/<action>`.
//! * `request`: the payload, as the docs' request sample has it (fixed where the sample is not
//!   JSON: a missing comma, comments).
//! * `setup` (optional): requests `{path, request}` made first, by `$AGENT`, each of which must
//!   succeed: what the docs' response sample assumes exists.
//! * `as` (optional): who sends it; `$AGENT` (Anna, owner) by default, `$AGENT2` is Bob (a
//!   normal agent), `$AGENT3` Zoe (an administrator).
//! * `expect`: `"ok"`, or the error type the rules call for.
//! * `response` (with `ok`): the docs' response sample: the answer must equal it, ids aside.
//!
//! Ids are placeholders: `$AGENT`, `$AGENT2`, `$AGENT3`, `$BOT` (the `bot_agent_id` a setup
//! request answered), `$WEBHOOK` (its `webhook_id`); in `response`, `$ANY` stands for any
//! string (an id the request itself draws).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chatio::wire::configuration::handle;
use chatio::{Agent, Engine, EngineConfig, Permission, UserId};
use common::*;
use serde_json::Value;

struct World {
    engine: Engine,
    placeholders: Vec<(String, String)>,
}

fn world() -> World {
    let mut engine = Engine::new(EngineConfig::with_seed(7));
    for (id, name, permission) in [
        ("anna@example.com", "Anna", Permission::Owner),
        ("bob@example.com", "Bob", Permission::Normal),
        ("zoe@example.com", "Zoe", Permission::Administrator),
    ] {
        engine
            .add_agent(Agent::new(uid(id), name).with_permission(permission))
            .unwrap();
    }
    World {
        engine,
        placeholders: vec![
            ("$AGENT3".into(), "zoe@example.com".into()),
            ("$AGENT2".into(), "bob@example.com".into()),
            ("$AGENT".into(), "anna@example.com".into()),
        ],
    }
}

impl World {
    fn substitute(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (placeholder, value) in &self.placeholders {
            out = out.replace(placeholder, value);
        }
        out
    }

    /// Sends `request` to `path` as `user`, substituting placeholders first.
    fn send(
        &mut self,
        user: &UserId,
        path: &str,
        request: &Value,
    ) -> chatio::wire::configuration::ConfigurationReply {
        let body = self.substitute(&request.to_string());
        handle(&mut self.engine, user, at(60), path, &body)
    }

    /// Remembers the ids an answer gives, for the placeholders of later requests.
    fn learn(&mut self, answer: &Value) {
        for (key, placeholder) in [("bot_agent_id", "$BOT"), ("webhook_id", "$WEBHOOK")] {
            if let Some(id) = answer[key].as_str() {
                self.placeholders.insert(0, (placeholder.into(), id.into()));
            }
        }
    }
}

/// Whether `actual` is `expected`, where an expected `"$ANY"` matches any string.
fn matches(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::String(e), Value::String(_)) if e == "$ANY" => true,
        (Value::Object(e), Value::Object(a)) => {
            e.len() == a.len()
                && e.iter()
                    .all(|(k, v)| a.get(k).is_some_and(|x| matches(v, x)))
        }
        (Value::Array(e), Value::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(x, y)| matches(x, y))
        }
        _ => expected == actual,
    }
}

fn fixtures() -> Vec<(String, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wire/configuration");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixture directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("fixture file");
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, value)
        })
        .collect()
}

/// Runs one fixture on a fresh world; returns what is wrong.
fn run(name: &str, f: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut w = world();
    let anna = uid("anna@example.com");
    for step in f["setup"].as_array().into_iter().flatten() {
        let path = step["path"].as_str().expect("setup path");
        let reply = w.send(&anna, path, &step["request"]);
        assert!(reply.success, "{name}: setup {path} failed: {}", reply.body);
        let answer: Value = serde_json::from_str(&reply.body).unwrap();
        w.learn(&answer);
    }
    let user = uid(&w.substitute(f["as"].as_str().unwrap_or("$AGENT")));
    let path = f["path"].as_str().expect("path");
    let expect = f["expect"].as_str().expect("expect");
    let before = w.engine.clone();
    let reply = w.send(&user, path, &f["request"]);
    let answer: Value = match serde_json::from_str(&reply.body) {
        Ok(v) => v,
        Err(e) => {
            return vec![format!(
                "{name}: the body is not JSON ({e}): {}",
                reply.body
            )];
        }
    };
    if expect == "ok" {
        if !reply.success {
            problems.push(format!("{name}: refused: {}", reply.body));
        }
        let expected: Value =
            serde_json::from_str(&w.substitute(&f["response"].to_string())).unwrap();
        if !matches(&expected, &answer) {
            problems.push(format!(
                "{name}: the answer is not the docs' sample\n  expected {expected}\n  got      {answer}"
            ));
        }
    } else {
        if reply.success {
            problems.push(format!("{name}: accepted, expected {expect}: {answer}"));
        }
        if reply.error_kind.map(|k| k.as_str()) != Some(expect) || answer["error"]["type"] != expect
        {
            problems.push(format!("{name}: expected a {expect} error, got {answer}"));
        }
        if w.engine != before {
            problems.push(format!("{name}: the refusal changed the engine"));
        }
    }
    problems
}

#[test]
fn every_configuration_sample_is_answered_as_the_docs_show() {
    let problems: Vec<String> = fixtures()
        .iter()
        .flat_map(|(name, f)| run(name, f))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn fixtures_cover_every_configuration_action() {
    let covered: BTreeSet<String> = fixtures()
        .iter()
        .filter(|(_, f)| f["expect"] == "ok")
        .map(|(_, f)| f["path"].as_str().unwrap().to_string())
        .collect();
    let actions: BTreeSet<String> = [
        "agents/create_bot_agent",
        "agents/update_bot_agent",
        "agents/remove_bot_agent",
        "agents/get_bot_agents",
        "agents/get_bot_agent_details",
        "webhooks/register_webhook",
        "webhooks/get_webhooks_config",
        "webhooks/unregister_webhook",
        "properties/create_properties",
        "properties/get_property_configs",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(covered, actions);
}

#[test]
fn the_matcher_catches_differences() {
    let sample: Value = serde_json::json!({ "bot_agent_id": "$ANY", "n": [1, 2] });
    assert!(matches(
        &sample,
        &serde_json::json!({ "bot_agent_id": "ab12", "n": [1, 2] })
    ));
    assert!(!matches(
        &sample,
        &serde_json::json!({ "bot_agent_id": 3, "n": [1, 2] })
    ));
    assert!(!matches(
        &sample,
        &serde_json::json!({ "bot_agent_id": "ab12", "n": [2, 1] })
    ));
    assert!(!matches(
        &sample,
        &serde_json::json!({ "bot_agent_id": "ab12", "n": [1, 2], "extra": true })
    ));
}

#[test]
fn a_created_bot_is_journaled_and_a_read_is_not() {
    let mut w = world();
    w.engine
        .set_journal_mode(chatio::journal::JournalMode::Hold);
    let _ = w.engine.take_journal();
    let anna = uid("anna@example.com");
    let created = w.send(
        &anna,
        "agents/create_bot_agent",
        &serde_json::json!({ "name": "Greeter", "status": "offline" }),
    );
    assert!(created.success, "{}", created.body);
    let listed = w.send(&anna, "agents/get_bot_agents", &serde_json::json!({}));
    assert!(listed.success, "{}", listed.body);
    let records = w.engine.take_journal();
    assert_eq!(records.len(), 1, "{records:?}");
    let record = serde_json::to_value(&records[0].command).unwrap();
    assert!(record.to_string().contains("create_bot_agent"), "{record}");
}

#[test]
fn hostile_payloads_are_refused_and_change_nothing() {
    let paths = [
        "agents/create_bot_agent",
        "agents/update_bot_agent",
        "agents/remove_bot_agent",
        "agents/get_bot_agents",
        "agents/get_bot_agent_details",
        "webhooks/register_webhook",
        "webhooks/unregister_webhook",
        "properties/create_properties",
        "properties/get_property_configs",
        "agents/no_such_action",
    ];
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let long = "x".repeat(100_000);
    let bodies = [
        "[]".to_string(),
        "null".to_string(),
        "\"text\"".to_string(),
        "{".to_string(),
        deep,
        r#"{"all": "yes"}"#.to_string(),
        r#"{"bot_agent_id": ""}"#.to_string(),
        r#"{"bot_agent_id": 7}"#.to_string(),
        r#"{"id": "ghost", "status": "sleeping"}"#.to_string(),
        r#"{"name": "B", "status": "offline", "max_chats_count": -1}"#.to_string(),
        r#"{"name": "B", "status": "offline", "max_chats_count": 1e99}"#.to_string(),
        r#"{"name": "B", "status": "offline", "groups": [{"id": -1, "priority": "first"}]}"#
            .to_string(),
        r#"{"name": "B", "status": "offline", "groups": {"id": 1}}"#.to_string(),
        r#"{"name": "B", "status": "offline", "webhooks": {"url": "http://a.example", "secret_key": "k", "actions": [{"name": "thread_closed", "filters": {"chat_member_ids": {"agents": []}}}]}}"#.to_string(),
        format!(r#"{{"name": "{long}", "status": "offline"}}"#),
        format!(r#"{{"bot_agent_id": "{long}"}}"#),
    ];
    let mut w = world();
    let anna = uid("anna@example.com");
    for path in paths {
        for body in &bodies {
            let before = w.engine.clone();
            let reply = handle(&mut w.engine, &anna, at(60), path, body);
            let answer: Value = serde_json::from_str(&reply.body)
                .unwrap_or_else(|e| panic!("{path} {body:.80}: not JSON ({e})"));
            if reply.success {
                // Only a read answers any of these: the reads' `{"all"}` payload ignores keys
                // it does not take, as it did before bots. A read changes nothing.
                assert!(
                    path.contains("get_"),
                    "{path} {body:.80} accepted: {answer}"
                );
                assert!(
                    w.engine == before,
                    "{path} {body:.80}: a read changed the engine"
                );
            } else {
                assert_eq!(answer["error"]["type"], "validation", "{path} {body:.80}");
                assert!(
                    w.engine == before,
                    "{path} {body:.80}: a refusal changed the engine"
                );
                assert!(reply.pushes.is_empty() && reply.webhooks.is_empty());
            }
        }
    }
}
