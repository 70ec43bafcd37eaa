//! Webhooks and the Configuration API: registering (with its permissions and validation),
//! which changes fire which webhooks through their filters, the delivered envelope, and that
//! registrations survive snapshots and replay.

mod common;

use chatio::model::NewWebhook;
use chatio::wire::{self, Api, configuration};
use chatio::{Engine, EngineConfig, NewEvent, Permission, WebhookCall};
use common::{Fixture, at, uid};
use serde_json::{Value, json};

fn hook(value: Value) -> NewWebhook {
    serde_json::from_value(value).unwrap()
}

fn config_call(engine: &mut Engine, agent: &str, path: &str, body: Value) -> (bool, Value) {
    let reply = configuration::handle(engine, &uid(agent), at(1), path, &body.to_string());
    (reply.success, serde_json::from_str(&reply.body).unwrap())
}

fn actions(calls: &[WebhookCall]) -> Vec<&'static str> {
    calls.iter().map(|c| c.action.as_str()).collect()
}

#[test]
fn administrators_register_and_normal_agents_may_not() {
    let mut f = Fixture::new();
    let carl = uid("carl@example.com");
    f.engine
        .add_agent(chatio::Agent::new(carl.clone(), "Carl").with_permission(Permission::Normal))
        .unwrap();
    let spec = hook(
        json!({ "url": "https://hooks.example.com/in", "action": "incoming_event", "secret_key": "s3cret" }),
    );
    let err = f
        .engine
        .as_agent(&carl, at(1))
        .unwrap()
        .register_webhook(spec.clone())
        .unwrap_err();
    assert_eq!(err.kind(), chatio::ErrorKind::Authorization, "{err}");
    assert!(err.to_string().contains("webhooks--my:write"), "{err}");

    let anna = f.anna.clone();
    let registered = f
        .engine
        .as_agent(&anna, at(1))
        .unwrap()
        .register_webhook(spec)
        .unwrap();
    let last = registered
        .journal
        .last()
        .expect("journaled like any command");
    assert!(
        matches!(
            &last.command,
            chatio::Command::Agent {
                command: chatio::AgentCommand::RegisterWebhook { .. },
                ..
            }
        ),
        "{last:?}"
    );
    let id = registered.response.webhook_id.clone();
    // Bob sees only his own; all of them with `all`.
    let bob = f.bob.clone();
    assert!(
        f.engine
            .as_agent(&bob, at(1))
            .unwrap()
            .get_webhooks_config(false)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        f.engine
            .as_agent(&bob, at(1))
            .unwrap()
            .get_webhooks_config(true)
            .unwrap()
            .len(),
        1
    );
    // Unregistering an unknown id changes nothing; Bob may remove Anna's (webhooks--all:write).
    let before = f.engine.clone();
    assert!(
        f.engine
            .as_agent(&bob, at(1))
            .unwrap()
            .unregister_webhook("nope")
            .is_err()
    );
    assert_eq!(f.engine, before);
    let _ = f
        .engine
        .as_agent(&bob, at(1))
        .unwrap()
        .unregister_webhook(&id)
        .unwrap();
    assert!(f.engine.webhooks().is_empty());
}

#[test]
fn changes_fire_the_webhooks_whose_filters_they_pass() {
    let mut f = Fixture::new();
    let (anna, _bob, jan, _eva) = f.ids();
    let register = |f: &mut Fixture, value: Value| {
        f.engine
            .as_agent(&anna, at(1))
            .unwrap()
            .register_webhook(hook(value))
            .unwrap()
            .response
            .webhook_id
    };
    let base = |action: &str| json!({ "url": "https://hooks.example.com/in", "action": action, "secret_key": "k" });
    let every_event = register(&mut f, base("incoming_event"));
    let mut from_customers = base("incoming_event");
    from_customers["filters"] = json!({ "author_type": "customer" });
    let from_customers = register(&mut f, from_customers);
    let mut with_anna = base("incoming_event");
    with_anna["filters"] = json!({ "chat_member_ids": { "agents_any": ["anna@example.com"] } });
    let with_anna = register(&mut f, with_anna);
    let threads = register(&mut f, base("incoming_chat_thread"));
    let closed = register(&mut f, base("thread_closed"));
    let statuses = register(&mut f, base("agent_status_changed"));

    // A new chat: incoming_chat_thread only (its first message rides in the thread).
    let out = f
        .engine
        .as_customer(&jan, at(2))
        .unwrap()
        .start_chat(chatio::StartChat::default().with_event(NewEvent::message("Hi")))
        .unwrap();
    let chat = out.response.id;
    let calls = f.engine.webhook_calls(&out.pushes);
    assert_eq!(actions(&calls), ["incoming_chat_thread"]);
    assert_eq!(calls[0].webhook.webhook_id, threads);
    assert_eq!(calls[0].chat_id, Some(chat));

    // Jan writes: every_event and from_customers fire; Anna is not in the chat yet.
    let out = f
        .engine
        .as_customer(&jan, at(3))
        .unwrap()
        .send_event(chat, NewEvent::message("Anyone?"))
        .unwrap();
    let ids: Vec<_> = f
        .engine
        .webhook_calls(&out.pushes)
        .into_iter()
        .map(|c| c.webhook.webhook_id)
        .collect();
    assert_eq!(ids, [every_event.clone(), from_customers.clone()]);

    // Anna joins and answers: with_anna fires now, from_customers does not.
    let _ = f
        .engine
        .as_agent(&anna, at(4))
        .unwrap()
        .join_chat(chat, std::slice::from_ref(&anna))
        .unwrap();
    let out = f
        .engine
        .as_agent(&anna, at(5))
        .unwrap()
        .send_event(chat, NewEvent::message("Here"))
        .unwrap();
    let ids: Vec<_> = f
        .engine
        .webhook_calls(&out.pushes)
        .into_iter()
        .map(|c| c.webhook.webhook_id)
        .collect();
    assert_eq!(ids, [every_event.clone(), with_anna.clone()]);

    // Closing: the system message Anna's close writes, then thread_closed.
    let out = f
        .engine
        .as_agent(&anna, at(6))
        .unwrap()
        .close_thread(chat)
        .unwrap();
    let calls = f.engine.webhook_calls(&out.pushes);
    assert!(
        calls.iter().any(|c| c.webhook.webhook_id == closed),
        "{:?}",
        actions(&calls)
    );
    // Anna's routing status.
    let out = f
        .engine
        .as_agent(&anna, at(7))
        .unwrap()
        .update_agent(
            None,
            Some(chatio::routing::RoutingStatus::NotAcceptingChats),
        )
        .unwrap();
    let calls = f.engine.webhook_calls(&out.pushes);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].webhook.webhook_id, statuses);
    let delivered: Value =
        serde_json::from_str(&configuration::render_call(&calls[0]).body).unwrap();
    assert_eq!(
        delivered,
        json!({ "webhook_id": statuses, "secret_key": "k", "action": "agent_status_changed",
                "data": { "agent_id": "anna@example.com", "status": "not accepting chats" },
                "additional_data": {} })
    );
}

#[test]
fn the_wire_renders_fired_webhooks_with_the_agents_view() {
    let mut f = Fixture::new();
    let (anna, _bob, jan, _eva) = f.ids();
    let _ = f
        .engine
        .as_agent(&anna, at(1))
        .unwrap()
        .register_webhook(hook(json!({ "url": "https://hooks.example.com/in", "action": "incoming_event", "secret_key": "k" })))
        .unwrap();
    let (chat, _) = f.customer_chat(&jan, "Hi", at(2));
    let request = json!({ "action": "send_event", "payload": { "chat_id": chat, "event": {
        "type": "message", "text": "for agents", "recipients": "agents" } } });
    let reply = wire::handle(
        &mut f.engine,
        Api::Agent,
        &anna,
        at(3),
        &request.to_string(),
    );
    assert!(reply.success, "{}", reply.response);
    assert_eq!(reply.webhooks.len(), 1);
    let webhook = &reply.webhooks[0];
    assert_eq!(webhook.url, "https://hooks.example.com/in");
    assert_eq!(webhook.chat_id, Some(chat));
    let body: Value = serde_json::from_str(&webhook.body).unwrap();
    assert_eq!(body["action"], "incoming_event");
    assert_eq!(
        body["data"]["event"]["text"], "for agents",
        "agents-only events reach webhooks"
    );
    assert_eq!(body["data"]["chat_id"], chat.to_string());
    assert_eq!(body["additional_data"]["chat_properties"], json!({}));
    // A refused request fires nothing.
    let bad = json!({ "action": "send_event", "payload": { "chat_id": chat, "event": { "type": "message", "text": "" } } });
    let reply = wire::handle(&mut f.engine, Api::Agent, &anna, at(4), &bad.to_string());
    assert!(!reply.success);
    assert!(reply.webhooks.is_empty());
}

#[test]
fn registrations_survive_snapshots_and_replay() {
    let mut f = Fixture::new();
    let anna = f.anna.clone();
    let mut journal = Vec::new();
    let out = f
        .engine
        .as_agent(&anna, at(1))
        .unwrap()
        .register_webhook(hook(json!({ "url": "https://hooks.example.com/in", "action": "thread_closed", "secret_key": "k",
            "filters": { "chat_properties": { "source": { "type": { "values": ["facebook"] } } } } })))
        .unwrap();
    journal.extend(out.journal);
    let restored = Engine::restore(&f.engine.snapshot()).unwrap();
    assert_eq!(restored.webhooks(), f.engine.webhooks());

    // Replay the whole journal (the fixture's set-up, then the registration) into a new engine.
    let mut again = Engine::new(EngineConfig::with_seed(42));
    for record in journal {
        again.apply(record).unwrap();
    }
    assert_eq!(again.webhooks(), f.engine.webhooks());
}

#[test]
fn the_configuration_api_serves_properties_and_webhooks() {
    let mut engine = Fixture::with_config(EngineConfig::with_seed(3)).engine;
    // The docs' create_properties sample, in Anna's namespace (her id).
    let (ok, body) = config_call(
        &mut engine,
        "anna@example.com",
        "properties/create_properties",
        json!({
            "greeting": { "type": "string", "locations": { "chat": { "access": {
                "agent": { "read": true, "write": false }, "customer": { "read": true, "write": true } } } },
                "domain": ["hello", "hi"] },
            "scoring": { "type": "int", "locations": { "event": { "access": { "agent": { "read": true, "write": true } } } },
                "range": { "from": 0, "to": 10 } }
        }),
    );
    assert!(ok, "{body}");
    assert_eq!(body, json!({}));
    let (ok, configs) = config_call(
        &mut engine,
        "anna@example.com",
        "properties/get_property_configs",
        json!({}),
    );
    assert!(ok);
    assert_eq!(
        configs["anna@example.com"]["scoring"]["range"],
        json!({ "from": 0, "to": 10 })
    );
    assert_eq!(
        configs["anna@example.com"]["greeting"]["domain"],
        json!(["hello", "hi"])
    );
    // Bob's own namespace is empty; all of them with `all`.
    let (_, mine) = config_call(
        &mut engine,
        "bob@example.com",
        "properties/get_property_configs",
        json!({}),
    );
    assert_eq!(mine, json!({}));
    let (_, all) = config_call(
        &mut engine,
        "bob@example.com",
        "properties/get_property_configs",
        json!({ "all": true }),
    );
    assert!(all.get("anna@example.com").is_some());

    let (ok, registered) = config_call(
        &mut engine,
        "anna@example.com",
        "webhooks/register_webhook",
        json!({
            "url": "http://myservice.com/webhooks", "description": "Test webhook", "action": "thread_closed",
            "secret_key": "laudla991lamda0pnoaa0",
            "filters": { "chat_properties": { "source": { "type": { "values": ["facebook", "twitter"] } } } }
        }),
    );
    assert!(ok, "{registered}");
    let id = registered["webhook_id"].as_str().unwrap().to_string();
    let (_, listed) = config_call(
        &mut engine,
        "anna@example.com",
        "webhooks/get_webhooks_config",
        json!({}),
    );
    assert_eq!(listed["webhooks_config"][0]["webhook_id"], id);
    assert_eq!(listed["webhooks_config"][0]["action"], "thread_closed");
    let (ok, _) = config_call(
        &mut engine,
        "anna@example.com",
        "webhooks/unregister_webhook",
        json!({ "webhook_id": id }),
    );
    assert!(ok);
    let (ok, err) = config_call(
        &mut engine,
        "anna@example.com",
        "webhooks/unregister_webhook",
        json!({ "webhook_id": id }),
    );
    assert!(!ok);
    assert_eq!(err["error"]["type"], "validation");
    // Bot agents are served (tests/bot_agents.rs); one needs a name and a status.
    let (ok, err) = config_call(
        &mut engine,
        "anna@example.com",
        "agents/create_bot_agent",
        json!({}),
    );
    assert!(!ok);
    let message = err["error"]["message"].as_str().unwrap();
    assert!(message.contains("name"), "{message}");
    let (ok, err) = config_call(
        &mut engine,
        "anna@example.com",
        "webhooks/register_webhook",
        json!({ "url": "gopher://x" }),
    );
    assert!(!ok, "{err}");
}
