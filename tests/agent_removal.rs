//! Removing an agent (`Engine::remove_agent`, `HostCommand::RemoveAgent`, and the bots'
//! `remove_bot_agent`, which shares it) and the webhooks of agents no push tells of:
//! `agent_deleted`, and `agent_status_changed` when an agent connects or disconnects.

mod common;

use chatio::journal::{JournalMode, JournalRecord};
use chatio::model::{BotStatus, NewBotAgent, NewWebhook, WebhookAction};
use chatio::routing::{AutomaticRouter, RoutingStatus};
use chatio::wire::configuration;
use chatio::{
    Agent, AgentChange, Command, Engine, EngineConfig, ErrorKind, HostCommand, NewEvent,
    Permission, PushKind, REASON_AGENT_DELETED, Role, StartChat, UserId, WebhookCall,
};
use common::*;
use serde_json::{Value, json};

/// Anna (owner), Bob and Nora, all online, with the automatic router; every change is held in
/// the journal.
fn license() -> Engine {
    let mut engine = LicenseBuilder::new(EngineConfig::with_seed(7))
        .router(AutomaticRouter::default())
        .online_agent(
            Agent::new(uid("anna@example.com"), "Anna").with_permission(Permission::Owner),
        )
        .online_agent(Agent::new(uid("bob@example.com"), "Bob"))
        .online_agent(Agent::new(uid("nora@example.com"), "Nora"))
        .build();
    engine.set_journal_mode(JournalMode::Hold);
    engine
}

/// A new customer's chat with one message at `t`, and who it was assigned to.
fn chat(engine: &mut Engine, t: i64) -> (chatio::ChatId, UserId) {
    let jan = engine.create_customer();
    let id = engine
        .as_customer(&jan, at(t))
        .unwrap()
        .start_chat(StartChat::default().with_event(NewEvent::message("Hello?")))
        .unwrap()
        .response
        .id;
    let assignee = engine.chat(&id).unwrap().routing.assignee.clone();
    (id, assignee.expect("routed to an online agent"))
}

/// Registers a webhook of `action` as Anna; returns its id.
fn register(engine: &mut Engine, action: &str) -> String {
    let spec: NewWebhook = serde_json::from_value(
        json!({ "url": "https://hooks.example.com/in", "action": action, "secret_key": "k" }),
    )
    .unwrap();
    engine
        .as_agent(&uid("anna@example.com"), at(1))
        .unwrap()
        .register_webhook(spec)
        .unwrap()
        .response
        .webhook_id
}

/// The delivered body of a call.
fn body(call: &WebhookCall) -> Value {
    serde_json::from_str(&configuration::render_call(call).body).unwrap()
}

#[test]
fn a_removed_agent_leaves_its_chats_and_its_assigned_chats_are_routed_again() {
    let mut engine = license();
    let (chat, assignee) = chat(&mut engine, 10);

    let out = engine.remove_agent(&assignee, at(11)).unwrap();
    let now = engine.chat(&chat).unwrap();
    assert!(!now.agent_ids.contains(&assignee), "it left the chat");
    let next = now.routing.assignee.clone().expect("routed again");
    assert_ne!(next, assignee);
    assert!(now.agent_ids.contains(&next));
    let told = actions(&out.pushes);
    assert!(told.contains(&"chat_users_updated"), "{told:?}");
    assert!(told.contains(&"incoming_chat_thread"), "{told:?}");

    // Last, and to it alone: agent_disconnected, reason agent_deleted.
    let last = out.pushes.last().unwrap();
    assert_eq!(last.to.as_slice(), std::slice::from_ref(&assignee));
    assert_eq!(last.role, Role::Agent);
    assert_eq!(
        last.kind,
        PushKind::AgentDisconnected {
            reason: REASON_AGENT_DELETED.into()
        }
    );
    assert_eq!(
        out.agent_changes,
        [AgentChange::Deleted {
            agent_id: assignee.clone()
        }]
    );
    let status = engine.agent_status(&assignee).unwrap();
    assert!(!status.online);
    assert_eq!(status.load, 0);
}

#[test]
fn a_removed_agent_can_no_longer_act_but_stays_known() {
    let mut engine = license();
    let bob = uid("bob@example.com");
    let _ = engine.remove_agent(&bob, at(5)).unwrap();

    let err = engine.as_agent(&bob, at(6)).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Authentication);
    assert!(err.to_string().contains("bob@example.com"), "{err}");
    for err in [
        assert_rejected(&mut engine, ErrorKind::Validation, |e| {
            e.remove_agent(&bob, at(6))
        }),
        assert_rejected(&mut engine, ErrorKind::Validation, |e| {
            e.set_agent_presence(&bob, true, at(6))
        }),
        assert_rejected(&mut engine, ErrorKind::Validation, |e| {
            e.update_agent_profile(Agent::new(bob.clone(), "Bob again"), at(6))
        }),
        assert_rejected(&mut engine, ErrorKind::Validation, |e| {
            e.add_agent(Agent::new(bob.clone(), "Bob again"))
        }),
    ] {
        assert!(err.to_string().contains("bob@example.com"), "{err}");
    }
    // Known for history: the profile, and a removed flag.
    assert_eq!(engine.agent(&bob).unwrap().name, "Bob");
    assert!(engine.is_agent_removed(&bob));
    assert!(!engine.is_agent_removed(&uid("anna@example.com")));

    // Nobody is routed to it: every new chat goes to the others.
    for t in 0..4 {
        let (_, assignee) = chat(&mut engine, 20 + t);
        assert_ne!(assignee, bob);
    }
    // Another agent may not add it to a chat, transfer a chat to it or write to it.
    let (chat, _) = chat(&mut engine, 30);
    let anna = uid("anna@example.com");
    let refusals = [
        assert_rejected(&mut engine, ErrorKind::Validation, |e| {
            e.as_agent(&anna, at(31))?
                .join_chat(chat, std::slice::from_ref(&bob))
        }),
        assert_rejected(&mut engine, ErrorKind::Validation, |e| {
            e.as_agent(&anna, at(31))?
                .transfer_chat(chat, &chatio::TransferTarget::Agent(bob.clone()))
        }),
        assert_rejected(&mut engine, ErrorKind::Validation, |e| {
            e.as_agent(&anna, at(31))?.multicast(
                &chatio::MulticastScopes {
                    agent_ids: vec![bob.clone()],
                    ..Default::default()
                },
                json!({ "hello": "Bob" }),
            )
        }),
    ];
    for err in refusals {
        assert!(err.to_string().contains("bob@example.com"), "{err}");
    }
}

#[test]
fn an_unknown_agent_is_refused_and_nothing_changes() {
    let mut engine = license();
    let err = assert_rejected(&mut engine, ErrorKind::Validation, |e| {
        e.remove_agent(&uid("nobody@example.com"), at(5))
    });
    assert!(err.to_string().contains("nobody@example.com"), "{err}");
    assert!(engine.take_journal().is_empty());
}

#[test]
fn an_offline_agent_is_removed_without_a_disconnect() {
    let mut engine = license();
    let nora = uid("nora@example.com");
    let _ = engine.set_agent_presence(&nora, false, at(3)).unwrap();
    let out = engine.remove_agent(&nora, at(4)).unwrap();
    assert!(out.pushes.is_empty(), "{:?}", actions(&out.pushes));
    assert_eq!(out.agent_changes.len(), 1);
}

#[test]
fn removal_replays_and_snapshots_to_the_same_engine() {
    let mut engine = license();
    let start = engine.clone();
    let (_, assignee) = chat(&mut engine, 10);
    let _ = chat(&mut engine, 11);
    // Through the command, as a host that executes records would.
    let out = engine
        .execute(
            at(12),
            Command::Host(HostCommand::RemoveAgent {
                agent_id: assignee.clone(),
            }),
        )
        .unwrap();
    assert_eq!(out.agent_changes.len(), 1);
    let _ = chat(&mut engine, 13);

    let records = engine.take_journal();
    assert!(records.iter().any(|r| matches!(
        &r.command,
        Command::Host(HostCommand::RemoveAgent { agent_id }) if *agent_id == assignee
    )));
    let mut replayed = start;
    let _ = replayed.take_journal();
    for record in records {
        let record = JournalRecord::decode(&record.encode()).unwrap();
        replayed.apply(record).unwrap();
    }
    let _ = replayed.take_journal();
    assert!(replayed == engine, "replay differs");

    let mut restored = Engine::restore(&engine.snapshot()).unwrap();
    assert!(restored == engine, "snapshot differs");
    assert!(
        restored.as_agent(&assignee, at(20)).is_err(),
        "still removed"
    );
    assert!(restored.is_agent_removed(&assignee));
}

#[test]
fn removal_fires_agent_deleted_with_the_agent_id() {
    let mut engine = license();
    let deleted = register(&mut engine, "agent_deleted");
    let _statuses = register(&mut engine, "agent_status_changed");
    let bob = uid("bob@example.com");
    let out = engine.remove_agent(&bob, at(5)).unwrap();
    let calls = engine.output_webhook_calls(&out);
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(calls[0].action, WebhookAction::AgentDeleted);
    assert_eq!(calls[0].chat_id, None);
    assert_eq!(
        body(&calls[0]),
        json!({ "webhook_id": deleted, "secret_key": "k", "action": "agent_deleted",
                "data": { "agent_id": "bob@example.com" }, "additional_data": {} })
    );
}

#[test]
fn connecting_and_disconnecting_fire_agent_status_changed() {
    let mut engine = license();
    let statuses = register(&mut engine, "agent_status_changed");
    let bob = uid("bob@example.com");

    let out = engine.set_agent_presence(&bob, false, at(5)).unwrap();
    let calls = engine.output_webhook_calls(&out);
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(
        body(&calls[0]),
        json!({ "webhook_id": statuses, "secret_key": "k", "action": "agent_status_changed",
                "data": { "agent_id": "bob@example.com", "status": "offline" },
                "additional_data": {} })
    );
    // Saying again what the engine knows changes no status.
    let out = engine.set_agent_presence(&bob, false, at(6)).unwrap();
    assert!(out.agent_changes.is_empty());

    // Back, with the routing status it had: not accepting chats.
    let _ = engine
        .as_agent(&bob, at(7))
        .unwrap()
        .update_agent(None, Some(RoutingStatus::NotAcceptingChats))
        .unwrap();
    let _ = engine.set_agent_presence(&bob, true, at(8)).unwrap();
    let _ = engine.set_agent_presence(&bob, false, at(9)).unwrap();
    let _ = engine
        .as_agent(&uid("anna@example.com"), at(9))
        .unwrap()
        .update_agent(Some(&bob), Some(RoutingStatus::AcceptingChats))
        .unwrap();
    let out = engine.set_agent_presence(&bob, true, at(10)).unwrap();
    let calls = engine.output_webhook_calls(&out);
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(body(&calls[0])["data"]["status"], "accepting chats");
    assert_eq!(
        out.agent_changes,
        [AgentChange::StatusChanged {
            agent_id: bob,
            status: BotStatus::AcceptingChats
        }]
    );
}

#[test]
fn agent_webhooks_admit_no_filters() {
    let mut engine = license();
    for action in ["agent_deleted", "agent_status_changed"] {
        let spec = json!({ "url": "https://hooks.example.com/in", "action": action,
                           "secret_key": "k",
                           "filters": { "chat_member_ids": { "agents": ["anna@example.com"] } } });
        let refused = serde_json::from_value::<NewWebhook>(spec)
            .map_err(|e| e.to_string())
            .and_then(|spec| {
                engine
                    .as_agent(&uid("anna@example.com"), at(1))
                    .unwrap()
                    .register_webhook(spec)
                    .map_err(|e| e.to_string())
            });
        assert!(refused.is_err(), "{action} took a chat filter");
    }
}

#[test]
fn removing_a_bot_fires_agent_deleted_for_the_license_and_the_other_bots() {
    let mut engine = license();
    let deleted = register(&mut engine, "agent_deleted");
    let anna = uid("anna@example.com");
    let bot = |name: &str, hooks: Option<Value>| NewBotAgent {
        name: name.into(),
        avatar: None,
        status: BotStatus::AcceptingChats,
        max_chats_count: None,
        groups: Vec::new(),
        webhooks: hooks.map(|h| serde_json::from_value(h).unwrap()),
    };
    let listener = engine
        .as_agent(&anna, at(2))
        .unwrap()
        .create_bot_agent(bot(
            "Listener",
            Some(json!({ "url": "https://bots.example.com/in", "secret_key": "b",
                         "actions": [{ "name": "agent_deleted" }, { "name": "agent_status_changed" }] })),
        ))
        .unwrap()
        .response
        .id;
    let greeter = engine
        .as_agent(&anna, at(2))
        .unwrap()
        .create_bot_agent(bot("Greeter", None))
        .unwrap()
        .response
        .id;

    // Through the Configuration API, as chatio-server serves it.
    let reply = configuration::handle(
        &mut engine,
        &anna,
        at(3),
        "agents/remove_bot_agent",
        &json!({ "bot_agent_id": greeter }).to_string(),
    );
    assert!(reply.success, "{}", reply.body);
    let mut ids: Vec<(String, Value)> = reply
        .webhooks
        .iter()
        .map(|w| {
            let body: Value = serde_json::from_str(&w.body).unwrap();
            (w.webhook_id.clone(), body["data"].clone())
        })
        .collect();
    ids.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected = vec![
        (deleted, json!({ "agent_id": greeter.to_string() })),
        (
            listener.to_string(),
            json!({ "agent_id": greeter.to_string() }),
        ),
    ];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(ids, expected);

    // A bot set offline and back moves only its presence: agent_status_changed from its change.
    let mut update: chatio::model::BotAgentUpdate =
        serde_json::from_value(json!({ "id": listener.to_string(), "status": "offline" })).unwrap();
    let out = engine
        .as_agent(&anna, at(4))
        .unwrap()
        .update_bot_agent(update.clone())
        .unwrap();
    assert!(out.pushes.is_empty(), "{:?}", actions(&out.pushes));
    let calls = engine.output_webhook_calls(&out);
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(
        body(&calls[0])["data"],
        json!({ "agent_id": listener.to_string(), "status": "offline" })
    );
    update.status = Some(BotStatus::AcceptingChats);
    let out = engine
        .as_agent(&anna, at(5))
        .unwrap()
        .update_bot_agent(update)
        .unwrap();
    assert_eq!(
        out.agent_changes,
        [AgentChange::StatusChanged {
            agent_id: listener,
            status: BotStatus::AcceptingChats
        }]
    );
}

#[test]
fn a_removed_agent_hears_that_it_left_and_then_nothing() {
    let mut engine = license();
    let (chat, assignee) = chat(&mut engine, 10);
    let out = engine.remove_agent(&assignee, at(11)).unwrap();
    // It hears that it left its chat, then that it is disconnected.
    let heard: Vec<&str> = out
        .pushes
        .iter()
        .filter(|p| p.to.as_slice().contains(&assignee))
        .map(|p| p.action())
        .collect();
    assert_eq!(heard, ["chat_users_updated", "agent_disconnected"]);
    let left = out
        .pushes
        .iter()
        .find(|p| p.to.as_slice().contains(&assignee))
        .unwrap();
    assert!(matches!(
        &left.kind,
        PushKind::ChatUsersUpdated { chat_id, removed_ids, .. }
            if *chat_id == chat && removed_ids.contains(&assignee)
    ));

    // Then nothing: new chats (unscoped, and scoped to its group), messages, statuses, as
    // another agent acts.
    let anna = ["anna@example.com", "bob@example.com"]
        .map(uid)
        .into_iter()
        .find(|a| *a != assignee)
        .unwrap();
    let mut pushes = Vec::new();
    let (other, _) = chat_keeping_pushes(&mut engine, 12, &mut pushes);
    pushes.extend(
        engine
            .as_agent(&anna, at(13))
            .unwrap()
            .start_chat(
                None,
                StartChat::default().with_scopes(chatio::Scopes {
                    groups: [chatio::GroupId(0)].into(),
                    ..Default::default()
                }),
            )
            .unwrap()
            .pushes,
    );
    let jan = engine.chat(&other).unwrap().customer_id.clone().unwrap();
    pushes.extend(
        engine
            .as_customer(&jan, at(14))
            .unwrap()
            .send_event(other, NewEvent::message("Still there?"))
            .unwrap()
            .pushes,
    );
    pushes.extend(
        engine
            .as_agent(&anna, at(15))
            .unwrap()
            .update_agent(None, Some(RoutingStatus::NotAcceptingChats))
            .unwrap()
            .pushes,
    );
    assert!(!pushes.is_empty());
    for push in &pushes {
        assert!(
            !push.to.as_slice().contains(&assignee),
            "{} reached removed agent {assignee}",
            push.action()
        );
    }
    // A snapshot keeps it deaf.
    let mut restored = Engine::restore(&engine.snapshot()).unwrap();
    let out = restored
        .as_agent(&anna, at(16))
        .unwrap()
        .update_agent(None, Some(RoutingStatus::AcceptingChats))
        .unwrap();
    assert!(
        out.pushes
            .iter()
            .all(|p| !p.to.as_slice().contains(&assignee))
    );
}

/// [`chat`], keeping its pushes.
fn chat_keeping_pushes(
    engine: &mut Engine,
    t: i64,
    pushes: &mut Vec<chatio::Push>,
) -> (chatio::ChatId, UserId) {
    let jan = engine.create_customer();
    let out = engine
        .as_customer(&jan, at(t))
        .unwrap()
        .start_chat(StartChat::default().with_event(NewEvent::message("Hello?")))
        .unwrap();
    let id = out.response.id;
    pushes.extend(out.pushes);
    let assignee = engine.chat(&id).unwrap().routing.assignee.clone();
    (id, assignee.expect("routed"))
}
