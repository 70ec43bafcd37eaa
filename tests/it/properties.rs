//! Properties: the registry, every refused write, successful updates and their pushes, and read
//! filtering wherever properties are shown.

use crate::common;

use std::collections::BTreeSet;

use chatio::model::{Access, Domain, Location, LocationAccess, PropertyConfig, PropertyType};
use chatio::query::{ChatFilters, ChatsPagination};
use chatio::{
    ChatId, ChatThread, Engine, EngineConfig, Error, ErrorKind, NewEvent, Pagination, Properties,
    PropertyValue, Push, PushKind, Role, StartChat, ThreadId, UserId,
};
use common::*;

// ----- helpers -----

fn int(i: i32) -> PropertyValue {
    PropertyValue::Int(i)
}

fn string(s: &str) -> PropertyValue {
    PropertyValue::String(s.into())
}

fn boolean(b: bool) -> PropertyValue {
    PropertyValue::Bool(b)
}

/// Properties from `(namespace, name, value)` triples.
fn props<const N: usize>(entries: [(&str, &str, PropertyValue); N]) -> Properties {
    let mut p = Properties::new();
    for (namespace, name, value) in entries {
        p.entry(namespace.into())
            .or_default()
            .insert(name.into(), value);
    }
    p
}

fn access(agent: Access, customer: Access) -> LocationAccess {
    LocationAccess { agent, customer }
}

fn string_values(values: &[&str]) -> Domain {
    Domain::Values(values.iter().map(|v| string(v)).collect::<BTreeSet<_>>())
}

/// The license's properties in these tests:
///
/// | property        | type             | domain                     | chat           | thread         | event          |
/// |-----------------|------------------|----------------------------|----------------|----------------|----------------|
/// | `rating.score`  | int              | 1..=5                      | a: R, c: RW    |                |                |
/// | `crm.tier`      | string           | gold, silver               | a: RW, c: -    | a: RW, c: -    |                |
/// | `crm.vip`       | bool             |                            | a: RW, c: R    |                |                |
/// | `survey.topic`  | tokenized_string | billing issue, late parcel |                | a: R, c: RW    | a: R, c: RW    |
/// | `bot.intent`    | string           |                            |                |                | a: RW, c: -    |
/// | `private.note`  | string           |                            | a: -, c: RW    | a: -, c: RW    | a: -, c: RW    |
fn configure(engine: &mut Engine) {
    let configs = [
        PropertyConfig::new("rating", "score", PropertyType::Int)
            .at(Location::Chat, access(Access::READ, Access::READ_WRITE))
            .with_domain(Domain::Range { min: 1, max: 5 }),
        PropertyConfig::new("crm", "tier", PropertyType::String)
            .at(Location::Chat, access(Access::READ_WRITE, Access::NONE))
            .at(Location::Thread, access(Access::READ_WRITE, Access::NONE))
            .with_domain(string_values(&["gold", "silver"])),
        PropertyConfig::new("crm", "vip", PropertyType::Bool)
            .at(Location::Chat, access(Access::READ_WRITE, Access::READ)),
        PropertyConfig::new("survey", "topic", PropertyType::TokenizedString)
            .at(Location::Thread, access(Access::READ, Access::READ_WRITE))
            .at(Location::Event, access(Access::READ, Access::READ_WRITE))
            .with_domain(string_values(&["billing issue", "late parcel"])),
        PropertyConfig::new("bot", "intent", PropertyType::String)
            .at(Location::Event, access(Access::READ_WRITE, Access::NONE)),
        PropertyConfig::new("private", "note", PropertyType::String)
            .at(Location::Chat, access(Access::NONE, Access::READ_WRITE))
            .at(Location::Thread, access(Access::NONE, Access::READ_WRITE))
            .at(Location::Event, access(Access::NONE, Access::READ_WRITE)),
    ];
    for config in configs {
        engine.configure_property(config).unwrap();
    }
}

/// The fixture, with the properties above and no limit on chats per customer.
fn fixture() -> Fixture {
    let mut f = Fixture::with_config(EngineConfig::with_seed(42).max_chats_per_customer(None));
    configure(&mut f.engine);
    f
}

fn chat_thread(push: &Push) -> &ChatThread {
    match &push.kind {
        PushKind::IncomingChatThread { chat } => chat,
        other => panic!("expected incoming_chat_thread, got {other:?}"),
    }
}

fn event_properties(push: &Push) -> &Properties {
    match &push.kind {
        PushKind::IncomingEvent { event, .. } => &event.properties,
        other => panic!("expected incoming_event, got {other:?}"),
    }
}

fn chat_properties_update(push: &Push) -> (ChatId, &Properties) {
    match &push.kind {
        PushKind::ChatPropertiesUpdated {
            chat_id,
            properties,
        } => (*chat_id, properties),
        other => panic!("expected chat_properties_updated, got {other:?}"),
    }
}

fn thread_properties_update(push: &Push) -> (ChatId, ThreadId, &Properties) {
    match &push.kind {
        PushKind::ChatThreadPropertiesUpdated {
            chat_id,
            thread_id,
            properties,
        } => (*chat_id, *thread_id, properties),
        other => panic!("expected chat_thread_properties_updated, got {other:?}"),
    }
}

fn invalid(reason: &str) -> Error {
    Error::InvalidProperty {
        reason: reason.into(),
    }
}

fn not_writable(user: &UserId, property: &str) -> Error {
    Error::PropertyNotWritable {
        user_id: user.clone(),
        property: property.into(),
    }
}

// ----- the registry -----

#[test]
fn the_registry_refuses_malformed_configurations_and_changes_nothing() {
    let mut engine = Engine::default();
    let chat_rw = access(Access::READ_WRITE, Access::READ_WRITE);
    let cases = [
        (
            "no location",
            PropertyConfig::new("a", "b", PropertyType::Int),
            "property.locations",
            "a.b has no location",
        ),
        (
            "blank namespace",
            PropertyConfig::new(" ", "b", PropertyType::Int).at(Location::Chat, chat_rw),
            "property.namespace",
            "must not be empty",
        ),
        (
            "empty name",
            PropertyConfig::new("a", "", PropertyType::Int).at(Location::Chat, chat_rw),
            "property.name",
            "must not be empty",
        ),
        (
            "range on a string",
            PropertyConfig::new("a", "b", PropertyType::String)
                .at(Location::Chat, chat_rw)
                .with_domain(Domain::Range { min: 1, max: 2 }),
            "property.domain",
            "a.b: a range needs an int and min <= max",
        ),
        (
            "range with min > max",
            PropertyConfig::new("a", "b", PropertyType::Int)
                .at(Location::Chat, chat_rw)
                .with_domain(Domain::Range { min: 5, max: 1 }),
            "property.domain",
            "a.b: a range needs an int and min <= max",
        ),
        (
            "an int in the values of a string",
            PropertyConfig::new("a", "b", PropertyType::String)
                .at(Location::Chat, chat_rw)
                .with_domain(Domain::Values([string("x"), int(1)].into())),
            "property.domain",
            "a.b: every value must be a string",
        ),
        (
            "a string in the values of a bool",
            PropertyConfig::new("a", "b", PropertyType::Bool)
                .at(Location::Chat, chat_rw)
                .with_domain(Domain::Values([string("true")].into())),
            "property.domain",
            "a.b: every value must be a bool",
        ),
        (
            "a string in the values of a tokenized_string is fine, a bool is not",
            PropertyConfig::new("a", "b", PropertyType::TokenizedString)
                .at(Location::Chat, chat_rw)
                .with_domain(Domain::Values([string("x"), boolean(true)].into())),
            "property.domain",
            "a.b: every value must be a tokenized_string",
        ),
    ];
    for (label, config, field, reason) in cases {
        let err = assert_rejected(&mut engine, ErrorKind::Validation, |e| {
            e.configure_property(config)
        });
        assert_eq!(
            err,
            Error::InvalidField {
                field,
                reason: reason.into()
            },
            "{label}"
        );
    }
    assert_eq!(engine.property_registry().iter().count(), 0);
}

#[test]
fn the_registry_stores_replaces_and_answers_read_access() -> Result<(), Error> {
    let mut f = fixture();
    let registry = f.engine.property_registry();
    let names: Vec<String> = registry
        .iter()
        .map(|c| format!("{}.{}", c.namespace, c.name))
        .collect();
    assert_eq!(
        names,
        vec![
            "bot.intent",
            "crm.tier",
            "crm.vip",
            "private.note",
            "rating.score",
            "survey.topic"
        ]
    );
    let score = registry.get("rating", "score").unwrap();
    assert_eq!(score.property_type, PropertyType::Int);
    assert_eq!(score.domain, Some(Domain::Range { min: 1, max: 5 }));
    assert_eq!(
        score.locations.keys().copied().collect::<Vec<_>>(),
        vec![Location::Chat]
    );
    assert_eq!(registry.get("rating", "nope"), None);
    assert_eq!(registry.get("nope", "score"), None);

    // Read access per role and location; nothing is readable where it is not configured.
    let readable = |ns: &str, name: &str, location: Location| {
        (
            registry.readable(ns, name, location, Role::Agent),
            registry.readable(ns, name, location, Role::Customer),
        )
    };
    assert_eq!(readable("rating", "score", Location::Chat), (true, true));
    assert_eq!(
        readable("rating", "score", Location::Thread),
        (false, false)
    );
    assert_eq!(readable("crm", "tier", Location::Chat), (true, false));
    assert_eq!(readable("crm", "vip", Location::Chat), (true, true));
    assert_eq!(readable("survey", "topic", Location::Event), (true, true));
    assert_eq!(readable("bot", "intent", Location::Event), (true, false));
    assert_eq!(readable("private", "note", Location::Thread), (false, true));
    assert_eq!(readable("nope", "note", Location::Chat), (false, false));

    // Configuring a property again replaces it: 7 is refused, then accepted.
    let jan = f.jan.clone();
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_customer(&jan, at(0))?
            .start_chat(StartChat::default().with_properties(props([("rating", "score", int(7))])))
            .map(|_| ())
    });
    assert_eq!(
        err,
        invalid("value Int(7) is outside the domain of property rating.score")
    );
    f.engine.configure_property(
        PropertyConfig::new("rating", "score", PropertyType::Int)
            .at(Location::Chat, access(Access::READ, Access::READ_WRITE))
            .with_domain(Domain::Range { min: 1, max: 10 }),
    )?;
    assert_eq!(
        f.engine
            .property_registry()
            .get("rating", "score")
            .unwrap()
            .domain,
        Some(Domain::Range { min: 1, max: 10 })
    );
    assert_eq!(f.engine.property_registry().iter().count(), 6);
    let out = f
        .engine
        .as_customer(&jan, at(1))?
        .start_chat(StartChat::default().with_properties(props([("rating", "score", int(7))])))?;
    assert_eq!(
        out.response.properties,
        props([("rating", "score", int(7))])
    );
    Ok(())
}

#[test]
fn an_engine_without_configuration_refuses_every_property() {
    let mut f = Fixture::new();
    let (anna, _, jan, _) = f.ids();
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_customer(&jan, at(0))?
            .start_chat(StartChat::default().with_properties(props([("rating", "score", int(3))])))
            .map(|_| ())
    });
    assert_eq!(err, invalid("unknown property rating.score"));
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(0))?
            .start_chat(
                None,
                StartChat::default().with_event(
                    NewEvent::message("hi").with_properties(props([(
                        "bot",
                        "intent",
                        string("x"),
                    )])),
                ),
            )
            .map(|_| ())
    });
    assert_eq!(err, invalid("unknown property bot.intent"));
}

// ----- refused writes -----

/// How a write reaches the engine: through `start_chat` or through the action that changes an
/// existing object (`update_chat_properties`, `update_chat_thread_properties`, `send_event`).
#[derive(Clone, Copy, Debug)]
enum Via {
    StartChat,
    Existing,
}

/// Writes `properties` at `location` as `who` (of `role`), to `chat` and `thread` when `via` is
/// `Existing`.
#[allow(clippy::too_many_arguments)]
fn write(
    engine: &mut Engine,
    who: &UserId,
    role: Role,
    location: Location,
    via: Via,
    properties: Properties,
    chat: ChatId,
    thread: ThreadId,
) -> Result<(), Error> {
    let t = at(100);
    let start = || match location {
        Location::Chat => StartChat::default()
            .with_properties(properties.clone())
            .with_event(NewEvent::message("hi")),
        Location::Thread => StartChat {
            thread_properties: properties.clone(),
            ..StartChat::default()
        }
        .with_event(NewEvent::message("hi")),
        Location::Event => StartChat::default()
            .with_event(NewEvent::message("hi").with_properties(properties.clone())),
    };
    let event = || NewEvent::message("hi").with_properties(properties.clone());
    match (role, via, location) {
        (Role::Customer, Via::StartChat, _) => {
            engine.as_customer(who, t)?.start_chat(start()).map(|_| ())
        }
        (Role::Agent, Via::StartChat, _) => engine
            .as_agent(who, t)?
            .start_chat(None, start())
            .map(|_| ()),
        (Role::Customer, Via::Existing, Location::Chat) => engine
            .as_customer(who, t)?
            .update_chat_properties(chat, properties.clone())
            .map(|_| ()),
        (Role::Agent, Via::Existing, Location::Chat) => engine
            .as_agent(who, t)?
            .update_chat_properties(chat, properties.clone())
            .map(|_| ()),
        (Role::Customer, Via::Existing, Location::Thread) => engine
            .as_customer(who, t)?
            .update_chat_thread_properties(chat, thread, properties.clone())
            .map(|_| ()),
        (Role::Agent, Via::Existing, Location::Thread) => engine
            .as_agent(who, t)?
            .update_chat_thread_properties(chat, thread, properties.clone())
            .map(|_| ()),
        (Role::Customer, Via::Existing, Location::Event) => engine
            .as_customer(who, t)?
            .send_event(chat, event())
            .map(|_| ()),
        (Role::Agent, Via::Existing, Location::Event) => engine
            .as_agent(who, t)?
            .send_event(chat, event())
            .map(|_| ()),
    }
}

#[test]
fn every_refused_write_names_the_property_and_changes_nothing() {
    let mut f = fixture();
    let (anna, _, jan, _) = f.ids();
    // The chat the `Existing` writes go to: Jan's, with rating 3 and a topic already set.
    let out = f
        .engine
        .as_customer(&jan, at(0))
        .unwrap()
        .start_chat(
            StartChat {
                thread_properties: props([("survey", "topic", string("late parcel"))]),
                ..StartChat::default()
            }
            .with_properties(props([("rating", "score", int(3))]))
            .with_event(NewEvent::message("Hi")),
        )
        .unwrap();
    let (chat, thread) = (out.response.id, out.response.thread.id);

    use Location::{Chat, Event, Thread};
    use Role::{Agent, Customer};
    type Expect = fn(&UserId) -> Error;
    let cases: Vec<(&str, Role, Location, Properties, Expect)> = vec![
        // Unknown namespace or name.
        (
            "unknown namespace",
            Customer,
            Chat,
            props([("nope", "score", int(3))]),
            |_| invalid("unknown property nope.score"),
        ),
        (
            "unknown name",
            Agent,
            Chat,
            props([("rating", "nope", int(3))]),
            |_| invalid("unknown property rating.nope"),
        ),
        (
            "unknown namespace",
            Agent,
            Thread,
            props([("nope", "tier", string("gold"))]),
            |_| invalid("unknown property nope.tier"),
        ),
        (
            "unknown name",
            Customer,
            Thread,
            props([("survey", "mood", string("ok"))]),
            |_| invalid("unknown property survey.mood"),
        ),
        (
            "unknown namespace",
            Agent,
            Event,
            props([("nope", "intent", string("x"))]),
            |_| invalid("unknown property nope.intent"),
        ),
        (
            "unknown name",
            Customer,
            Event,
            props([("survey", "mood", string("ok"))]),
            |_| invalid("unknown property survey.mood"),
        ),
        (
            "a valid property next to an unknown one",
            Customer,
            Chat,
            props([("rating", "score", int(4)), ("rating", "stars", int(4))]),
            |_| invalid("unknown property rating.stars"),
        ),
        // Configured, but not at this location.
        (
            "a thread property on a chat",
            Customer,
            Chat,
            props([("survey", "topic", string("late parcel"))]),
            |_| invalid("property survey.topic is not allowed on chats"),
        ),
        (
            "a chat property on a thread",
            Customer,
            Thread,
            props([("rating", "score", int(3))]),
            |_| invalid("property rating.score is not allowed on threads"),
        ),
        (
            "a chat property on an event",
            Agent,
            Event,
            props([("crm", "vip", boolean(true))]),
            |_| invalid("property crm.vip is not allowed on events"),
        ),
        // Wrong type.
        (
            "a string for an int",
            Customer,
            Chat,
            props([("rating", "score", string("5"))]),
            |_| invalid("property rating.score is a int"),
        ),
        (
            "an int for a bool",
            Agent,
            Chat,
            props([("crm", "vip", int(1))]),
            |_| invalid("property crm.vip is a bool"),
        ),
        (
            "a bool for a tokenized_string",
            Customer,
            Thread,
            props([("survey", "topic", boolean(true))]),
            |_| invalid("property survey.topic is a tokenized_string"),
        ),
        (
            "an int for a string",
            Agent,
            Event,
            props([("bot", "intent", int(1))]),
            |_| invalid("property bot.intent is a string"),
        ),
        // Outside the range.
        (
            "above the range",
            Customer,
            Chat,
            props([("rating", "score", int(6))]),
            |_| invalid("value Int(6) is outside the domain of property rating.score"),
        ),
        (
            "below the range",
            Customer,
            Chat,
            props([("rating", "score", int(0))]),
            |_| invalid("value Int(0) is outside the domain of property rating.score"),
        ),
        (
            "far below the range",
            Customer,
            Chat,
            props([("rating", "score", int(i32::MIN))]),
            |_| invalid("value Int(-2147483648) is outside the domain of property rating.score"),
        ),
        // Not in the set of values.
        (
            "not a tier",
            Agent,
            Chat,
            props([("crm", "tier", string("bronze"))]),
            |_| invalid("value String(\"bronze\") is outside the domain of property crm.tier"),
        ),
        (
            "not a tier",
            Agent,
            Thread,
            props([("crm", "tier", string("Gold"))]),
            |_| invalid("value String(\"Gold\") is outside the domain of property crm.tier"),
        ),
        (
            "not a topic",
            Customer,
            Thread,
            props([("survey", "topic", string("refund"))]),
            |_| invalid("value String(\"refund\") is outside the domain of property survey.topic"),
        ),
        (
            "not a topic",
            Customer,
            Event,
            props([("survey", "topic", string("late"))]),
            |_| invalid("value String(\"late\") is outside the domain of property survey.topic"),
        ),
        // No write access, per role and location.
        (
            "customer, agent-only chat property",
            Customer,
            Chat,
            props([("crm", "tier", string("gold"))]),
            |u| not_writable(u, "crm.tier"),
        ),
        (
            "customer, read-only chat property",
            Customer,
            Chat,
            props([("crm", "vip", boolean(true))]),
            |u| not_writable(u, "crm.vip"),
        ),
        (
            "agent, read-only chat property",
            Agent,
            Chat,
            props([("rating", "score", int(4))]),
            |u| not_writable(u, "rating.score"),
        ),
        (
            "agent, hidden chat property",
            Agent,
            Chat,
            props([("private", "note", string("x"))]),
            |u| not_writable(u, "private.note"),
        ),
        (
            "customer, agent-only thread property",
            Customer,
            Thread,
            props([("crm", "tier", string("gold"))]),
            |u| not_writable(u, "crm.tier"),
        ),
        (
            "agent, read-only thread property",
            Agent,
            Thread,
            props([("survey", "topic", string("late parcel"))]),
            |u| not_writable(u, "survey.topic"),
        ),
        (
            "agent, hidden thread property",
            Agent,
            Thread,
            props([("private", "note", string("x"))]),
            |u| not_writable(u, "private.note"),
        ),
        (
            "customer, agent-only event property",
            Customer,
            Event,
            props([("bot", "intent", string("refund"))]),
            |u| not_writable(u, "bot.intent"),
        ),
        (
            "agent, read-only event property",
            Agent,
            Event,
            props([("survey", "topic", string("billing issue"))]),
            |u| not_writable(u, "survey.topic"),
        ),
        (
            "agent, hidden event property",
            Agent,
            Event,
            props([("private", "note", string("x"))]),
            |u| not_writable(u, "private.note"),
        ),
    ];

    let mut checked = 0;
    for (label, role, location, properties, expected) in cases {
        let who = match role {
            Agent => &anna,
            Customer => &jan,
        };
        let expected = expected(who);
        let property = match &expected {
            Error::PropertyNotWritable { property, .. } => property.clone(),
            Error::InvalidProperty { reason } => reason
                .split_whitespace()
                .find(|w| w.contains('.') && !w.starts_with("Int") && !w.starts_with("String"))
                .unwrap()
                .to_string(),
            other => panic!("{other:?}"),
        };
        for via in [Via::StartChat, Via::Existing] {
            let err = assert_rejected(&mut f.engine, expected.kind(), |e| {
                write(
                    e,
                    who,
                    role,
                    location,
                    via,
                    properties.clone(),
                    chat,
                    thread,
                )
            });
            assert_eq!(err, expected, "{label} ({role:?}, {location:?}, {via:?})");
            assert!(
                err.to_string().contains(&property),
                "{label}: {err} names {property}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 62);
    // Nothing of it was stored.
    let stored = f.engine.chat(&chat).unwrap();
    assert_eq!(stored.properties, props([("rating", "score", int(3))]));
    assert_eq!(
        stored.threads[0].properties,
        props([("survey", "topic", string("late parcel"))])
    );
    assert_eq!(stored.threads[0].events.len(), 1);
    assert_eq!(f.engine.chats().len(), 1);
}

#[test]
fn no_access_refusals_are_authorization_and_the_rest_validation() {
    let mut f = fixture();
    let (anna, _, jan, _) = f.ids();
    let err = assert_rejected(&mut f.engine, ErrorKind::Authorization, |e| {
        e.as_agent(&anna, at(0))?
            .start_chat(
                Some(jan.clone()),
                StartChat::default().with_properties(props([("rating", "score", int(5))])),
            )
            .map(|_| ())
    });
    assert_eq!(err, not_writable(&anna, "rating.score"));
    assert_eq!(
        err.to_string(),
        "user anna@example.com may not write property rating.score"
    );
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_customer(&jan, at(0))?
            .start_chat(StartChat::default().with_properties(props([("rating", "score", int(9))])))
            .map(|_| ())
    });
    assert_eq!(
        err.to_string(),
        "invalid property: value Int(9) is outside the domain of property rating.score"
    );
    // A validation problem is reported before a missing write access on the same property.
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(0))?
            .start_chat(
                None,
                StartChat::default().with_properties(props([("rating", "score", int(9))])),
            )
            .map(|_| ())
    });
    assert_eq!(
        err,
        invalid("value Int(9) is outside the domain of property rating.score")
    );
}

#[test]
fn refused_thread_updates_of_unknown_threads_change_nothing() {
    let mut f = fixture();
    let (anna, _, jan, eva) = f.ids();
    let (chat, _) = f.customer_chat(&jan, "Hi", at(0));
    let (_, evas_thread) = f.customer_chat(&eva, "Hello", at(1));
    let topic = props([("survey", "topic", string("late parcel"))]);
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_customer(&jan, at(2))?
            .update_chat_thread_properties(chat, evas_thread, topic.clone())
    });
    assert_eq!(
        err,
        Error::ThreadNotFound {
            chat_id: chat,
            thread_id: evas_thread
        }
    );
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(2))?
            .update_chat_properties(unknown_chat(), props([("crm", "vip", boolean(true))]))
    });
    assert_eq!(err, Error::ChatNotFound(unknown_chat()));
}

// ----- successful writes and their pushes -----

#[test]
fn accepted_properties_are_stored_where_they_were_written() -> Result<(), Error> {
    let mut f = fixture();
    let (anna, _, jan, _) = f.ids();
    let out = f.engine.as_customer(&jan, at(0))?.start_chat(
        StartChat {
            thread_properties: props([("survey", "topic", string("late parcel"))]),
            ..StartChat::default()
        }
        .with_properties(props([("rating", "score", int(5))]))
        .with_event(NewEvent::message("Hi").with_properties(props([(
            "survey",
            "topic",
            string("billing issue"),
        )]))),
    )?;
    let chat = out.response.id;
    let sent = f.engine.as_agent(&anna, at(10))?.send_event(
        chat,
        NewEvent::message("Looking").with_properties(props([("bot", "intent", string("refund"))])),
    )?;
    assert_eq!(
        sent.response.event.properties,
        props([("bot", "intent", string("refund"))])
    );
    // Both ends of the range are in it.
    let _ = f
        .engine
        .as_customer(&jan, at(20))?
        .update_chat_properties(chat, props([("rating", "score", int(1))]))?;

    let stored = f.engine.chat(&chat).unwrap();
    assert_eq!(stored.properties, props([("rating", "score", int(1))]));
    let thread = &stored.threads[0];
    assert_eq!(
        thread.properties,
        props([("survey", "topic", string("late parcel"))])
    );
    assert_eq!(
        thread.events.get(0).unwrap().properties,
        props([("survey", "topic", string("billing issue"))])
    );
    assert_eq!(
        thread.events.get(1).unwrap().properties,
        props([("bot", "intent", string("refund"))])
    );
    Ok(())
}

#[test]
fn chat_property_updates_push_only_what_changed_to_whoever_may_read_it() -> Result<(), Error> {
    let mut f = fixture();
    let (anna, bob, jan, _) = f.ids();
    let out = f.engine.as_customer(&jan, at(0))?.start_chat(
        StartChat::default()
            .with_properties(props([("rating", "score", int(3))]))
            .with_event(NewEvent::message("Hi")),
    )?;
    let chat = out.response.id;
    let agents = vec![anna.clone(), bob.clone()];

    // The score is unchanged, the note is new: only the note changed, and agents may not read
    // it, so only the customer is told.
    let out = f.engine.as_customer(&jan, at(1))?.update_chat_properties(
        chat,
        props([
            ("rating", "score", int(3)),
            ("private", "note", string("call me")),
        ]),
    )?;
    assert_eq!(actions(&out.pushes), vec!["chat_properties_updated"]);
    assert_eq!(
        audiences(&out.pushes),
        vec![(vec![jan.clone()], Role::Customer)]
    );
    assert_eq!(
        chat_properties_update(&out.pushes[0]),
        (chat, &props([("private", "note", string("call me"))]))
    );

    // A change both roles may read goes to both.
    let out = f
        .engine
        .as_customer(&jan, at(2))?
        .update_chat_properties(chat, props([("rating", "score", int(4))]))?;
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (agents.clone(), Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    for push in &out.pushes {
        assert_eq!(
            chat_properties_update(push),
            (chat, &props([("rating", "score", int(4))]))
        );
    }

    // Setting the same values again pushes nothing and changes no property.
    let out = f.engine.as_customer(&jan, at(3))?.update_chat_properties(
        chat,
        props([
            ("rating", "score", int(4)),
            ("private", "note", string("call me")),
        ]),
    )?;
    assert_eq!(out.pushes, vec![]);

    // An agent's change: agents see all of it, the customer only what it may read.
    let out = f.engine.as_agent(&anna, at(4))?.update_chat_properties(
        chat,
        props([
            ("crm", "tier", string("gold")),
            ("crm", "vip", boolean(true)),
        ]),
    )?;
    let to_agents = push_for(&out.pushes, Role::Agent);
    assert_eq!(to_agents.to, agents);
    assert_eq!(
        chat_properties_update(to_agents).1,
        &props([
            ("crm", "tier", string("gold")),
            ("crm", "vip", boolean(true))
        ])
    );
    let to_jan = push_for(&out.pushes, Role::Customer);
    assert_eq!(to_jan.to, vec![jan.clone()]);
    assert_eq!(
        chat_properties_update(to_jan).1,
        &props([("crm", "vip", boolean(true))])
    );

    // Only vip changes: both are told, of vip alone.
    let out = f.engine.as_agent(&bob, at(5))?.update_chat_properties(
        chat,
        props([
            ("crm", "tier", string("gold")),
            ("crm", "vip", boolean(false)),
        ]),
    )?;
    assert_eq!(out.pushes.len(), 2);
    for push in &out.pushes {
        assert_eq!(
            chat_properties_update(push).1,
            &props([("crm", "vip", boolean(false))])
        );
    }

    // Only the tier changes: the customer may not read it and is not told.
    let out = f
        .engine
        .as_agent(&anna, at(6))?
        .update_chat_properties(chat, props([("crm", "tier", string("silver"))]))?;
    assert_eq!(audiences(&out.pushes), vec![(agents, Role::Agent)]);
    assert_eq!(
        chat_properties_update(&out.pushes[0]).1,
        &props([("crm", "tier", string("silver"))])
    );

    assert_eq!(
        f.engine.chat(&chat).unwrap().properties,
        props([
            ("crm", "tier", string("silver")),
            ("crm", "vip", boolean(false)),
            ("private", "note", string("call me")),
            ("rating", "score", int(4)),
        ])
    );
    Ok(())
}

#[test]
fn thread_property_updates_push_only_what_changed_to_whoever_may_read_it() -> Result<(), Error> {
    let mut f = fixture();
    let (anna, bob, jan, _) = f.ids();
    let (chat, first) = f.customer_chat(&jan, "Hi", at(0));
    let agents = vec![anna.clone(), bob.clone()];

    let out = f
        .engine
        .as_customer(&jan, at(1))?
        .update_chat_thread_properties(
            chat,
            first,
            props([("survey", "topic", string("late parcel"))]),
        )?;
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (agents.clone(), Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    for push in &out.pushes {
        assert_eq!(
            thread_properties_update(push),
            (
                chat,
                first,
                &props([("survey", "topic", string("late parcel"))])
            )
        );
    }

    // Same topic, new note: agents may read none of the change and are not told.
    let out = f
        .engine
        .as_customer(&jan, at(2))?
        .update_chat_thread_properties(
            chat,
            first,
            props([
                ("survey", "topic", string("late parcel")),
                ("private", "note", string("angry")),
            ]),
        )?;
    assert_eq!(
        audiences(&out.pushes),
        vec![(vec![jan.clone()], Role::Customer)]
    );
    assert_eq!(
        thread_properties_update(&out.pushes[0]).2,
        &props([("private", "note", string("angry"))])
    );

    // The agent's tier is for agents only.
    let out = f
        .engine
        .as_agent(&anna, at(3))?
        .update_chat_thread_properties(chat, first, props([("crm", "tier", string("gold"))]))?;
    assert_eq!(audiences(&out.pushes), vec![(agents.clone(), Role::Agent)]);
    assert_eq!(
        thread_properties_update(&out.pushes[0]),
        (chat, first, &props([("crm", "tier", string("gold"))]))
    );

    // Nothing new: nothing pushed.
    let out = f
        .engine
        .as_agent(&bob, at(4))?
        .update_chat_thread_properties(chat, first, props([("crm", "tier", string("gold"))]))?;
    assert_eq!(out.pushes, vec![]);

    // A closed thread's properties can still change; the second thread's are its own.
    f.close(chat, at(5));
    let second = f
        .engine
        .as_customer(&jan, at(6))?
        .send_event(chat, NewEvent::message("Back"))?
        .response
        .thread_id;
    let out = f
        .engine
        .as_agent(&anna, at(7))?
        .update_chat_thread_properties(chat, first, props([("crm", "tier", string("silver"))]))?;
    assert_eq!(
        thread_properties_update(&out.pushes[0]),
        (chat, first, &props([("crm", "tier", string("silver"))]))
    );
    let stored = f.engine.chat(&chat).unwrap();
    assert_eq!(
        stored.thread(&first).unwrap().properties,
        props([
            ("crm", "tier", string("silver")),
            ("private", "note", string("angry")),
            ("survey", "topic", string("late parcel")),
        ])
    );
    assert_eq!(
        stored.thread(&second).unwrap().properties,
        Properties::new()
    );
    Ok(())
}

// ----- read filtering -----

#[test]
fn start_chat_response_and_incoming_chat_thread_show_each_role_what_it_may_read()
-> Result<(), Error> {
    let mut f = fixture();
    let (anna, bob, jan, eva) = f.ids();
    let agents = vec![anna.clone(), bob.clone()];

    // A customer's chat, with properties agents may not read at every location.
    let chat_props = props([
        ("private", "note", string("chat note")),
        ("rating", "score", int(5)),
    ]);
    let thread_props = props([
        ("private", "note", string("thread note")),
        ("survey", "topic", string("late parcel")),
    ]);
    let event_props = props([
        ("private", "note", string("event note")),
        ("survey", "topic", string("billing issue")),
    ]);
    let out = f.engine.as_customer(&jan, at(0))?.start_chat(
        StartChat {
            thread_properties: thread_props.clone(),
            ..StartChat::default()
        }
        .with_properties(chat_props.clone())
        .with_event(NewEvent::message("Hi").with_properties(event_props.clone())),
    )?;
    let r = &out.response;
    assert_eq!(r.properties, chat_props);
    assert_eq!(r.thread.properties, thread_props);
    assert_eq!(r.thread.events.get(0).unwrap().properties, event_props);
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (agents.clone(), Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    let to_agents = chat_thread(push_for(&out.pushes, Role::Agent));
    assert_eq!(to_agents.properties, props([("rating", "score", int(5))]));
    assert_eq!(
        to_agents.thread.properties,
        props([("survey", "topic", string("late parcel"))])
    );
    assert_eq!(
        to_agents.thread.events.get(0).unwrap().properties,
        props([("survey", "topic", string("billing issue"))])
    );
    assert_eq!(chat_thread(push_for(&out.pushes, Role::Customer)), r);

    // An agent's chat for Eva, with properties the customer may not read.
    let chat_props = props([
        ("crm", "tier", string("gold")),
        ("crm", "vip", boolean(true)),
    ]);
    let thread_props = props([("crm", "tier", string("silver"))]);
    let event_props = props([("bot", "intent", string("refund"))]);
    let out = f.engine.as_agent(&anna, at(10))?.start_chat(
        Some(eva.clone()),
        StartChat {
            thread_properties: thread_props.clone(),
            ..StartChat::default()
        }
        .with_properties(chat_props.clone())
        .with_event(NewEvent::message("Hello Eva").with_properties(event_props.clone())),
    )?;
    let r = &out.response;
    assert_eq!(r.properties, chat_props);
    assert_eq!(r.thread.properties, thread_props);
    assert_eq!(r.thread.events.get(0).unwrap().properties, event_props);
    assert_eq!(chat_thread(push_for(&out.pushes, Role::Agent)), r);
    let to_eva = push_for(&out.pushes, Role::Customer);
    assert_eq!(to_eva.to, vec![eva.clone()]);
    let to_eva = chat_thread(to_eva);
    assert_eq!(to_eva.properties, props([("crm", "vip", boolean(true))]));
    assert_eq!(to_eva.thread.properties, Properties::new());
    assert_eq!(
        to_eva.thread.events.get(0).unwrap().properties,
        Properties::new()
    );
    assert_eq!(
        text_of(&to_eva.thread.events.get(0).unwrap().kind),
        "Hello Eva"
    );
    Ok(())
}

#[test]
fn incoming_events_show_each_role_what_it_may_read() -> Result<(), Error> {
    let mut f = fixture();
    let (anna, bob, jan, _) = f.ids();
    let (chat, thread) = f.customer_chat(&jan, "Hi", at(0));
    let agents = vec![anna.clone(), bob.clone()];

    let both = props([
        ("private", "note", string("event note")),
        ("survey", "topic", string("late parcel")),
    ]);
    let out = f.engine.as_customer(&jan, at(1))?.send_event(
        chat,
        NewEvent::message("Where is it?").with_properties(both.clone()),
    )?;
    assert_eq!(out.response.event.properties, both);
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (agents.clone(), Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    assert_eq!(
        event_properties(push_for(&out.pushes, Role::Agent)),
        &props([("survey", "topic", string("late parcel"))])
    );
    assert_eq!(
        event_properties(push_for(&out.pushes, Role::Customer)),
        &both
    );
    assert_eq!(chat_and_thread(&out.pushes[0]), (chat, thread));

    let intent = props([("bot", "intent", string("refund"))]);
    let out = f.engine.as_agent(&anna, at(2))?.send_event(
        chat,
        NewEvent::message("On it").with_properties(intent.clone()),
    )?;
    assert_eq!(out.response.event.properties, intent);
    assert_eq!(
        event_properties(push_for(&out.pushes, Role::Agent)),
        &intent
    );
    assert_eq!(
        event_properties(push_for(&out.pushes, Role::Customer)),
        &Properties::new()
    );

    // An event that starts a new thread is pushed as incoming_chat_thread, filtered the same way.
    f.close(chat, at(3));
    let out = f.engine.as_agent(&anna, at(4))?.send_event(
        chat,
        NewEvent::message("Follow-up").with_properties(intent.clone()),
    )?;
    assert_eq!(
        actions(&out.pushes),
        vec!["incoming_chat_thread", "incoming_chat_thread"]
    );
    let to_agents = chat_thread(push_for(&out.pushes, Role::Agent));
    assert_eq!(to_agents.thread.events.get(0).unwrap().properties, intent);
    let to_jan = chat_thread(push_for(&out.pushes, Role::Customer));
    assert_eq!(
        to_jan.thread.events.get(0).unwrap().properties,
        Properties::new()
    );
    Ok(())
}

/// Jan's chat with readable and unreadable properties for both roles at every location, plus an
/// agent's event. Returns the chat and its thread.
fn chat_with_every_kind_of_property(f: &mut Fixture) -> (ChatId, ThreadId) {
    let (anna, _, jan, _) = f.ids();
    let out = f
        .engine
        .as_customer(&jan, at(0))
        .unwrap()
        .start_chat(
            StartChat {
                thread_properties: props([
                    ("private", "note", string("thread note")),
                    ("survey", "topic", string("late parcel")),
                ]),
                ..StartChat::default()
            }
            .with_properties(props([
                ("private", "note", string("chat note")),
                ("rating", "score", int(2)),
            ]))
            .with_event(NewEvent::message("Hi").with_properties(props([
                ("private", "note", string("event note")),
                ("survey", "topic", string("billing issue")),
            ]))),
        )
        .unwrap();
    let (chat, thread) = (out.response.id, out.response.thread.id);
    let mut agent = f.engine.as_agent(&anna, at(5)).unwrap();
    let _ = agent
        .update_chat_properties(
            chat,
            props([
                ("crm", "tier", string("gold")),
                ("crm", "vip", boolean(true)),
            ]),
        )
        .unwrap();
    let _ = agent
        .update_chat_thread_properties(chat, thread, props([("crm", "tier", string("silver"))]))
        .unwrap();
    let _ = agent
        .send_event(
            chat,
            NewEvent::annotation("internal", "triage").with_properties(props([(
                "bot",
                "intent",
                string("refund"),
            )])),
        )
        .unwrap();
    (chat, thread)
}

/// What agents may read of `chat_with_every_kind_of_property`.
fn agent_view() -> (Properties, Properties, Properties, Properties) {
    (
        props([
            ("crm", "tier", string("gold")),
            ("crm", "vip", boolean(true)),
            ("rating", "score", int(2)),
        ]),
        props([
            ("crm", "tier", string("silver")),
            ("survey", "topic", string("late parcel")),
        ]),
        props([("survey", "topic", string("billing issue"))]),
        props([("bot", "intent", string("refund"))]),
    )
}

/// What the customer may read of `chat_with_every_kind_of_property`.
fn customer_view() -> (Properties, Properties, Properties, Properties) {
    (
        props([
            ("crm", "vip", boolean(true)),
            ("private", "note", string("chat note")),
            ("rating", "score", int(2)),
        ]),
        props([
            ("private", "note", string("thread note")),
            ("survey", "topic", string("late parcel")),
        ]),
        props([
            ("private", "note", string("event note")),
            ("survey", "topic", string("billing issue")),
        ]),
        Properties::new(),
    )
}

#[test]
fn get_chat_threads_shows_each_role_what_it_may_read() -> Result<(), Error> {
    let mut f = fixture();
    let (anna, _, jan, _) = f.ids();
    let (chat, thread) = chat_with_every_kind_of_property(&mut f);
    for (role, (chat_p, thread_p, message_p, annotation_p)) in [
        (Role::Agent, agent_view()),
        (Role::Customer, customer_view()),
    ] {
        let got = match role {
            Role::Agent => f
                .engine
                .as_agent(&anna, at(10))?
                .get_chat_threads(chat, &[thread])?,
            Role::Customer => f
                .engine
                .as_customer(&jan, at(10))?
                .get_chat_threads(chat, &[thread])?,
        };
        assert_eq!(got.properties, chat_p, "{role:?}");
        assert_eq!(got.threads[0].properties, thread_p, "{role:?}");
        assert_eq!(
            got.threads[0].events.get(0).unwrap().properties,
            message_p,
            "{role:?}"
        );
        assert_eq!(
            got.threads[0].events.get(1).unwrap().properties,
            annotation_p,
            "{role:?}"
        );
        assert_eq!(got.threads[0].events.len(), 2);
    }
    // The stored chat still has everything.
    let stored = f.engine.chat(&chat).unwrap();
    assert_eq!(
        stored.properties.values().map(|v| v.len()).sum::<usize>(),
        4
    );
    assert_eq!(stored.threads[0].properties.len(), 3);
    Ok(())
}

#[test]
fn summaries_show_each_role_what_it_may_read() -> Result<(), Error> {
    let mut f = fixture();
    let (anna, _, jan, _) = f.ids();
    let (chat, thread) = chat_with_every_kind_of_property(&mut f);

    // The customer's get_chats_summary.
    let (chat_p, thread_p, message_p, _) = customer_view();
    let summary = f
        .engine
        .as_customer(&jan, at(10))?
        .get_chats_summary(Pagination::default())?;
    assert_eq!(summary.total_chats, 1);
    let s = &summary.chats_summary[0];
    assert_eq!(s.id, chat);
    assert_eq!(s.properties, chat_p);
    let last = s.last_thread_summary.as_ref().unwrap();
    assert_eq!(last.id, thread);
    assert_eq!(last.properties, thread_p);
    assert_eq!(s.last_event_per_type["message"].event.properties, message_p);
    // The annotation carries only an agents-only property: the customer sees it without it.
    assert_eq!(
        s.last_event_per_type["annotation"].event.properties,
        Properties::new()
    );

    // The agent's login, and get_filtered_chats, which shares the summary.
    let (chat_p, thread_p, message_p, annotation_p) = agent_view();
    let login = f.engine.as_agent(&anna, at(10))?.login()?;
    let filtered = f
        .engine
        .as_agent(&anna, at(10))?
        .get_filtered_chats(&ChatFilters::default(), ChatsPagination::default())?
        .chats_summary;
    for s in [&login.chats_summary[0], &filtered[0]] {
        assert_eq!(s.id, chat);
        assert_eq!(s.properties, chat_p);
        assert_eq!(s.last_thread_summary.as_ref().unwrap().properties, thread_p);
        assert_eq!(s.last_event_per_type["message"].event.properties, message_p);
        assert_eq!(
            s.last_event_per_type["annotation"].event.properties,
            annotation_p
        );
    }
    Ok(())
}

#[test]
fn a_property_nobody_may_read_is_never_shown_or_pushed() -> Result<(), Error> {
    let mut f = fixture();
    let (anna, _, jan, _) = f.ids();
    let write_only = Access {
        read: false,
        write: true,
    };
    f.engine.configure_property(
        PropertyConfig::new("secret", "token", PropertyType::String)
            .at(Location::Chat, access(Access::NONE, write_only))
            .at(Location::Thread, access(Access::NONE, write_only))
            .at(Location::Event, access(Access::NONE, write_only)),
    )?;
    let token = props([("secret", "token", string("s3cr3t"))]);
    let out = f.engine.as_customer(&jan, at(0))?.start_chat(
        StartChat {
            thread_properties: token.clone(),
            ..StartChat::default()
        }
        .with_properties(token.clone())
        .with_event(NewEvent::message("Hi").with_properties(token.clone())),
    )?;
    let (chat, thread) = (out.response.id, out.response.thread.id);
    for view in [
        &out.response,
        chat_thread(&out.pushes[0]),
        chat_thread(&out.pushes[1]),
    ] {
        assert_eq!(view.properties, Properties::new());
        assert_eq!(view.thread.properties, Properties::new());
        assert_eq!(
            view.thread.events.get(0).unwrap().properties,
            Properties::new()
        );
    }
    // Stored all the same.
    let stored = f.engine.chat(&chat).unwrap();
    assert_eq!(stored.properties, token);
    assert_eq!(stored.threads[0].properties, token);
    assert_eq!(stored.threads[0].events.get(0).unwrap().properties, token);

    // Changes nobody may read are pushed to nobody.
    let other = props([("secret", "token", string("rotated"))]);
    let out = f
        .engine
        .as_customer(&jan, at(1))?
        .update_chat_properties(chat, other.clone())?;
    assert_eq!(out.pushes, vec![]);
    let out = f
        .engine
        .as_customer(&jan, at(2))?
        .update_chat_thread_properties(chat, thread, other.clone())?;
    assert_eq!(out.pushes, vec![]);
    assert_eq!(f.engine.chat(&chat).unwrap().properties, other);

    // Queries hide it too.
    let threads = f
        .engine
        .as_customer(&jan, at(3))?
        .get_chat_threads(chat, &[thread])?;
    assert_eq!(threads.properties, Properties::new());
    assert_eq!(threads.threads[0].properties, Properties::new());
    assert_eq!(
        threads.threads[0].events.get(0).unwrap().properties,
        Properties::new()
    );
    let login = f.engine.as_agent(&anna, at(3))?.login()?;
    assert_eq!(login.chats_summary[0].properties, Properties::new());
    Ok(())
}

#[test]
fn send_event_response_shows_only_what_the_sender_may_read() -> Result<(), Error> {
    let mut f = fixture();
    let (_, _, jan, _) = f.ids();
    f.engine.configure_property(
        PropertyConfig::new("secret", "token", PropertyType::String).at(
            Location::Event,
            access(
                Access::NONE,
                Access {
                    read: false,
                    write: true,
                },
            ),
        ),
    )?;
    let (chat, _) = f.customer_chat(&jan, "Hi", at(0));
    let out = f.engine.as_customer(&jan, at(1))?.send_event(
        chat,
        NewEvent::message("token inside")
            .with_custom_id("t-1")
            .with_properties(props([("secret", "token", string("s3cr3t"))])),
    )?;
    // The push to the customer hides it...
    assert_eq!(
        event_properties(push_for(&out.pushes, Role::Customer)),
        &Properties::new()
    );
    // ...and so must the response, and a retry's response.
    assert_eq!(out.response.event.properties, Properties::new());
    let retry = f.engine.as_customer(&jan, at(2))?.send_event(
        chat,
        NewEvent::message("token inside")
            .with_custom_id("t-1")
            .with_properties(props([("secret", "token", string("s3cr3t"))])),
    )?;
    assert_eq!(retry.response.event.properties, Properties::new());
    Ok(())
}
