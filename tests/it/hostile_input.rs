//! Requests and host inputs chosen to hurt: each must be answered within bounded work, refused
//! with a typed error that changes nothing, or accepted in a form the engine can read back from
//! its own journal.

use crate::common;

use chatio::journal::JournalRecord;
use chatio::model::MAX_JSON_DEPTH;
use chatio::routing::AutomaticRouter;
use chatio::{Agent, Engine, EngineConfig, Error, MulticastScopes, NewEvent, StartChat, Timestamp};
use common::{LicenseBuilder, uid};
use serde_json::{Map, Value, json};

/// Two online agents under the automatic router, so an unanswered chat goes back and forth.
fn two_agents(config: EngineConfig) -> Engine {
    let license = LicenseBuilder::new(config).router(AutomaticRouter::default());
    ["anna@example.com", "bob@example.com"]
        .into_iter()
        .fold(license, |license, id| {
            license.online_agent_at(Agent::new(uid(id), id), Timestamp::EPOCH)
        })
        .build()
}

/// A customer starts a chat with a message at `t`, and nobody answers.
fn unanswered_chat(engine: &mut Engine, t: Timestamp) {
    let jan = engine.create_customer();
    let _ = engine
        .as_customer(&jan, t)
        .unwrap()
        .start_chat(StartChat::default().with_event(NewEvent::message("hello?")))
        .unwrap();
}

#[test]
fn a_tick_at_the_end_of_time_fires_each_chat_once_and_returns() {
    let mut engine = two_agents(EngineConfig::with_seed(1));
    unanswered_chat(&mut engine, Timestamp::from_unix_seconds(i64::MAX - 10));
    // Every deadline saturates at the largest timestamp, so firing one cannot move it on.
    for _ in 0..3 {
        let due = engine.next_deadline().expect("the assignee has a deadline");
        assert_eq!(due, Timestamp::from_unix_seconds(i64::MAX));
        let out = engine.tick(due);
        // One reassignment: the chat goes to the other agent, and the host may tick again.
        assert!(!out.pushes.is_empty());
        assert!(out.pushes.len() < 10, "{} pushes", out.pushes.len());
    }
}

#[test]
fn timeouts_of_zero_set_directly_still_wait_a_second() {
    let mut config = EngineConfig::with_seed(1);
    config.unseen_timeout = 0;
    config.inactivity_timeout = -5;
    let mut engine = two_agents(config);
    let t = Timestamp::from_unix_seconds(1_700_000_000);
    unanswered_chat(&mut engine, t);
    let due = engine.next_deadline().expect("the assignee has a deadline");
    assert_eq!(due, Timestamp::from_unix_seconds(1_700_000_001));
    let out = engine.tick(due);
    assert!(!out.pushes.is_empty());
    assert!(engine.next_deadline() > Some(due));
}

/// `depth` arrays, one inside the other, around a number.
fn nested(depth: usize) -> Value {
    (0..depth).fold(json!(1), |inner, _| Value::Array(vec![inner]))
}

fn custom(depth_inside: usize) -> NewEvent {
    let mut content = Map::new();
    content.insert("payload".into(), nested(depth_inside));
    NewEvent::custom(content)
}

#[test]
fn custom_content_as_deep_as_accepted_makes_a_record_that_reads_back() {
    let mut engine = Engine::new(EngineConfig::with_seed(3));
    let jan = engine.create_customer();
    let t = Timestamp::from_unix_seconds(1_700_000_000);
    let chat = engine
        .as_customer(&jan, t)
        .unwrap()
        .start_chat(StartChat::default())
        .unwrap()
        .response
        .id;

    // The content map is one level, the value inside it the rest.
    let out = engine
        .as_customer(&jan, t)
        .unwrap()
        .send_event(chat, custom(MAX_JSON_DEPTH - 1))
        .unwrap();
    for record in &out.journal {
        assert_eq!(&JournalRecord::decode(&record.encode()).unwrap(), record);
    }

    let before = engine.clone();
    let err = engine
        .as_customer(&jan, t)
        .unwrap()
        .send_event(chat, custom(MAX_JSON_DEPTH))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidField {
                field: "event.content",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(engine, before);
}

#[test]
fn multicast_content_deeper_than_accepted_is_refused() {
    let anna = uid("anna@example.com");
    let mut engine = LicenseBuilder::new(EngineConfig::with_seed(3))
        .agent(Agent::new(anna.clone(), "Anna"))
        .build();
    let scopes = MulticastScopes {
        all_agents: true,
        ..MulticastScopes::default()
    };
    let t = Timestamp::from_unix_seconds(1_700_000_000);
    let ok = engine
        .as_agent(&anna, t)
        .unwrap()
        .multicast(&scopes, nested(MAX_JSON_DEPTH - 1))
        .unwrap();
    for record in &ok.journal {
        assert_eq!(&JournalRecord::decode(&record.encode()).unwrap(), record);
    }
    let before = engine.clone();
    let err = engine
        .as_agent(&anna, t)
        .unwrap()
        .multicast(&scopes, nested(MAX_JSON_DEPTH + 1))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidField {
                field: "content",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(engine, before);
}

#[test]
fn a_thread_named_many_times_is_returned_once() {
    let mut engine = Engine::new(EngineConfig::with_seed(5));
    let jan = engine.create_customer();
    let t = Timestamp::from_unix_seconds(1_700_000_000);
    let started = engine
        .as_customer(&jan, t)
        .unwrap()
        .start_chat(StartChat::default().with_event(NewEvent::message("hi")))
        .unwrap()
        .response;
    let thread = started.thread.id;
    let asked = vec![thread; chatio::query::THREAD_IDS_LIMIT];
    let threads = engine
        .as_customer(&jan, t)
        .unwrap()
        .get_chat_threads(started.id, &asked)
        .unwrap();
    assert_eq!(threads.threads.len(), 1);
    assert_eq!(threads.threads[0].id, thread);
    // Past the bound on thread ids, the request is refused before anything is looked at.
    let asked = vec![thread; 1_000];
    let err = engine
        .as_customer(&jan, t)
        .unwrap()
        .get_chat_threads(started.id, &asked)
        .unwrap_err();
    assert_eq!(err.kind().as_str(), "validation");
}
