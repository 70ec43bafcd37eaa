//! `Engine::update_agent_profile`: the host edits an agent after registering it.

use crate::common;
use crate::office;

use std::sync::Arc;

use chatio::journal::{JournalMode, JournalRecord};
use chatio::routing::{AutomaticRouter, RoutingStatus};
use chatio::{
    Agent, ChatId, Command, Engine, EngineConfig, ErrorKind, EventKind, GroupId, HostCommand,
    NewEvent, Scopes, StartChat,
};
use common::{LicenseBuilder, assert_rejected, at, uid};
use office::*;

/// Anna's profile as the office registered it, with changes applied by `edit`.
fn anna(o: &Office, edit: impl FnOnce(Agent) -> Agent) -> Agent {
    edit(o.engine.agent(&o.anna).expect("Anna is registered").clone())
}

#[test]
fn a_new_name_is_used_from_then_on_and_old_events_keep_theirs() {
    let mut o = Office::new(Arc::new(chatio::routing::ManualRouter), 2, 2);
    let (_, chat, _) = o.customer_starts("Hello", at(0));
    let anna_id = o.anna.clone();
    let _ = o
        .engine
        .as_agent(&anna_id, at(1))
        .unwrap()
        .join_chat(chat, std::slice::from_ref(&anna_id))
        .unwrap();

    let renamed = anna(&o, |a| Agent {
        name: "Anna Smith".into(),
        ..a
    });
    let out = o.engine.update_agent_profile(renamed, at(2)).unwrap();
    assert!(out.pushes.is_empty(), "a rename alone routes nothing");
    assert_eq!(o.engine.agent(&anna_id).unwrap().name, "Anna Smith");

    let _ = o
        .engine
        .as_agent(&anna_id, at(3))
        .unwrap()
        .remove_from_chat(chat, std::slice::from_ref(&anna_id), &[])
        .unwrap();
    let texts: Vec<String> = o.engine.chat(&chat).unwrap().threads[0]
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::SystemMessage { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert!(
        texts.contains(&"Anna joined the chat".to_string()),
        "{texts:?}"
    );
    assert!(
        texts.contains(&"Anna Smith left the chat".to_string()),
        "{texts:?}"
    );
}

#[test]
fn more_slots_take_a_waiting_chat_at_once() {
    let mut o = Office::new(Arc::new(AutomaticRouter::default()), 1, 0);
    let anna_id = o.anna.clone();
    o.presence(&anna_id, true, at(0));
    let (_, first, _) = o.customer_starts("First", at(1));
    let (_, second, _) = o.customer_starts("Second", at(2));
    assert_eq!(o.assignee(first), Some(anna_id.clone()));
    assert_eq!(o.queue(), [second], "Anna is full");

    let out = o
        .engine
        .update_agent_profile(anna(&o, |a| a.with_max_chats(2)), at(3))
        .unwrap();
    assert_eq!(o.assignee(second), Some(anna_id.clone()));
    assert!(o.queue().is_empty());
    assert_eq!(o.load(&anna_id), 2);
    // Anna joins the chat the way routing assigns any chat: the users update, the
    // `routing.assigned` note, and the thread offered to her.
    assert_eq!(
        users_updated(&out.pushes)[0],
        (second, vec![anna_id.clone()], vec![])
    );
    assert!(threads_offered_to(&out.pushes, &anna_id).contains(&second));
}

#[test]
fn fewer_slots_take_no_chat_away_and_stop_new_ones() {
    let mut o = Office::new(Arc::new(AutomaticRouter::default()), 2, 0);
    let anna_id = o.anna.clone();
    o.presence(&anna_id, true, at(0));
    let (_, first, _) = o.customer_starts("First", at(1));
    let (_, second, _) = o.customer_starts("Second", at(2));
    assert_eq!(o.load(&anna_id), 2);

    let out = o
        .engine
        .update_agent_profile(anna(&o, |a| a.with_max_chats(1)), at(3))
        .unwrap();
    assert!(
        out.pushes.is_empty(),
        "nothing is taken away, so nothing is pushed"
    );
    assert_eq!(o.assignee(first), Some(anna_id.clone()));
    assert_eq!(o.assignee(second), Some(anna_id.clone()));
    assert_eq!(o.load(&anna_id), 2);

    let (_, third, _) = o.customer_starts("Third", at(4));
    assert_eq!(o.assignee(third), None, "Anna is over her new limit");
    assert_eq!(o.queue(), [third]);
    let status = o.engine.agent_status(&anna_id).unwrap();
    assert_eq!(status.max_chats, 1);
    assert_eq!(status.routing_status, RoutingStatus::AcceptingChats);
}

#[test]
fn a_new_group_opens_the_chats_scoped_to_it() {
    let sam = uid("sam@example.com");
    let mut engine = LicenseBuilder::new(EngineConfig::with_seed(3))
        .agent(Agent::new(sam.clone(), "Sam").with_groups([GroupId(1)]))
        .build();
    let customer = engine.create_customer();
    let scoped = StartChat {
        scopes: Scopes {
            groups: [GroupId(2)].into(),
            ..Scopes::default()
        },
        ..StartChat::default()
    };
    let chat: ChatId = engine
        .as_customer(&customer, at(0))
        .unwrap()
        .start_chat(scoped)
        .unwrap()
        .response
        .id;
    let sees = |engine: &mut Engine| {
        engine
            .as_agent(&sam, at(1))
            .unwrap()
            .get_chat_threads(chat, &[])
            .is_ok()
    };
    assert!(!sees(&mut engine), "group 2 only");

    let moved = Agent::new(sam.clone(), "Sam").with_groups([GroupId(2)]);
    let _ = engine.update_agent_profile(moved, at(1)).unwrap();
    assert!(sees(&mut engine));
}

#[test]
fn unknown_agents_and_bad_profiles_are_refused_and_change_nothing() {
    let mut o = Office::new(Arc::new(AutomaticRouter::default()), 1, 1);
    let ghost = uid("ghost@example.com");
    let err = assert_rejected(&mut o.engine, ErrorKind::Validation, |e| {
        e.update_agent_profile(Agent::new(ghost.clone(), "Ghost"), at(1))
    });
    assert!(err.to_string().contains("ghost@example.com"), "{err}");

    let customer = o.engine.create_customer();
    assert_rejected(&mut o.engine, ErrorKind::Validation, |e| {
        e.update_agent_profile(Agent::new(customer.clone(), "Not an agent"), at(1))
    });

    let nameless = anna(&o, |a| Agent {
        name: "  ".into(),
        ..a
    });
    let err = assert_rejected(&mut o.engine, ErrorKind::Validation, |e| {
        e.update_agent_profile(nameless, at(1))
    });
    assert!(err.to_string().contains("anna@example.com"), "{err}");
}

#[test]
fn the_journal_replays_a_profile_update() {
    let config = EngineConfig::with_seed(11);
    let mut engine = Engine::new(config.clone());
    engine.set_journal_mode(JournalMode::Hold);
    engine.set_router(Arc::new(AutomaticRouter::default()));
    let anna = uid("anna@example.com");
    engine
        .add_agent(Agent::new(anna.clone(), "Anna").with_max_chats(1))
        .unwrap();
    let _ = engine.set_agent_presence(&anna, true, at(0)).unwrap();
    let mut waiting = None;
    for t in 1..=2 {
        let customer = engine.create_customer();
        waiting = Some(
            engine
                .as_customer(&customer, at(t))
                .unwrap()
                .start_chat(StartChat::default().with_event(NewEvent::message("Hi")))
                .unwrap()
                .response
                .id,
        );
    }
    let waiting = waiting.unwrap();
    assert_eq!(engine.queue().collect::<Vec<_>>(), [waiting]);
    let more = Agent::new(anna.clone(), "Anna").with_max_chats(3);
    let _ = engine.update_agent_profile(more, at(3)).unwrap();
    assert_eq!(engine.chat(&waiting).unwrap().routing.assignee, Some(anna));

    let records: Vec<JournalRecord> = engine.take_journal();
    assert!(
        records.iter().any(|r| matches!(
            r.command,
            Command::Host(HostCommand::UpdateAgentProfile { .. })
        )),
        "the update is journaled"
    );
    let mut replica = Engine::new(config);
    replica.set_journal_mode(JournalMode::Hold);
    for record in records {
        let bytes = record.encode();
        replica
            .apply(JournalRecord::decode(&bytes).unwrap())
            .unwrap();
    }
    replica.take_journal();
    assert_eq!(replica, engine);
}
