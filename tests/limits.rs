//! The license's limits (`chatio::Limits`, issue 20): each one refuses the request that would
//! pass it with `LimitExceeded` naming it, as a `validation` error, and changes nothing; a
//! request at the limit passes. The table in `docs/limits.md` states the defaults.

mod common;

use std::collections::BTreeMap;

use chatio::model::{Access, Location, LocationAccess, PropertyConfig, PropertyType};
use chatio::routing::{ManualRouter, RoutingStatus};
use chatio::{
    Agent, AutoScopeRules, Customer, CustomerUpdate, Engine, EngineConfig, Error, ErrorKind,
    EventKind, GroupId, Limits, MulticastScopes, NewEvent, Properties, PropertyValue, Scopes,
    StartChat, TransferTarget,
};
use common::*;
use serde_json::json;

/// The refusal `limit` owes a request that would make it `requested`.
fn over(limit: &'static str, max: u32, requested: u64) -> Error {
    Error::LimitExceeded {
        limit,
        max: u64::from(max),
        requested,
    }
}

/// Runs `request`, which must be refused with exactly `expected` and change nothing.
fn refused<T: std::fmt::Debug>(
    engine: &mut Engine,
    expected: Error,
    request: impl FnOnce(&mut Engine) -> Result<T, Error>,
) {
    let err = assert_rejected(engine, ErrorKind::Validation, request);
    assert_eq!(err, expected);
}

fn fixture(limits: Limits) -> Fixture {
    Fixture::with_config(
        EngineConfig::with_seed(42)
            .limits(limits)
            .max_chats_per_customer(None),
    )
}

fn limits(set: impl FnOnce(&mut Limits)) -> Limits {
    let mut limits = Limits::default();
    set(&mut limits);
    limits
}

fn open() -> LocationAccess {
    LocationAccess {
        agent: Access::READ_WRITE,
        customer: Access::READ_WRITE,
    }
}

fn note(value: &str) -> Properties {
    let mut p = Properties::new();
    p.entry("crm".into())
        .or_default()
        .insert("note".into(), PropertyValue::String(value.into()));
    p
}

fn fields(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn the_defaults_are_sized_for_real_use() {
    let d = Limits::default();
    assert_eq!(d.event_bytes, 64 * 1024);
    assert_eq!(d.events_per_thread, 10_000);
    assert_eq!(d.customer_fields, 100);
    assert_eq!(d.customer_fields_bytes, 32 * 1024);
    assert_eq!(d.property_value_bytes, 8 * 1024);
    assert_eq!(d.chats_per_license, 10_000_000);
    assert_eq!(d.agents_per_chat, 100);
    assert_eq!(d.chat_scopes, 100);
    assert_eq!(d.auto_chat_scopes, 100);
    assert_eq!(d.login_chats, 100);
    assert_eq!(EngineConfig::default().limits, d);
}

#[test]
fn docs_limits_table_states_the_defaults() {
    let table = std::fs::read_to_string("docs/limits.md").expect("docs/limits.md");
    let d = serde_json::to_value(Limits::default()).expect("limits as JSON");
    let d = d.as_object().expect("an object");
    for (name, value) in d {
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| panic!("docs/limits.md has no row for `{name}`"));
        let default = row.split('|').nth(2).expect("a default column").trim();
        let digits: String = default.chars().filter(char::is_ascii_digit).collect();
        let n: u64 = digits.parse().expect("a number");
        let stated = if default.contains("KiB") { n * 1024 } else { n };
        assert_eq!(Some(stated), value.as_u64(), "the row of `{name}`: {row}");
    }
}

#[test]
fn event_bytes_bounds_every_kind_of_event_as_compact_json() {
    let mut f = fixture(limits(|l| l.event_bytes = 300));
    let (anna, _, jan, _) = f.ids();
    let (chat, _) = f.customer_chat(&jan, "hello", at(0));

    // A message exactly at the limit passes; one byte more is refused.
    let sized = |text_len: usize| NewEvent::message("x".repeat(text_len));
    let overhead = serde_json::to_vec(&sized(0)).unwrap().len();
    let exact = sized(300 - overhead);
    assert_eq!(serde_json::to_vec(&exact).unwrap().len(), 300);
    let _ = f
        .engine
        .as_customer(&jan, at(1))
        .unwrap()
        .send_event(chat, exact)
        .unwrap();
    refused(&mut f.engine, over("event_bytes", 300, 301), |e| {
        e.as_customer(&jan, at(2))?
            .send_event(chat, sized(301 - overhead))
    });

    // Escaping counts: 140 quotes take 280 bytes as JSON.
    let quotes = NewEvent::message("\"".repeat(140));
    let len = serde_json::to_vec(&quotes).unwrap().len() as u64;
    assert!(len > 300);
    refused(&mut f.engine, over("event_bytes", 300, len), |e| {
        e.as_customer(&jan, at(2))?.send_event(chat, quotes)
    });

    // Every other kind, and the properties and custom_id an event carries.
    let big = "y".repeat(400);
    let mut form = prechat_form(Some("Jan"));
    if let EventKind::FilledForm { fields } = &mut form.kind {
        fields[0].label = big.clone();
    }
    let mut rich = rich_event(1, 1);
    if let EventKind::RichMessage(r) = &mut rich.kind {
        r.elements[0].title = Some(big.clone());
    }
    let cases: Vec<(&str, NewEvent)> = vec![
        ("custom", custom_event("k", json!(big))),
        ("rich message", rich),
        ("filled form", form),
        ("annotation", NewEvent::annotation(big.clone(), "note")),
        ("system message", NewEvent::system_message(big.clone(), "x")),
        (
            "custom_id",
            NewEvent::message("hi").with_custom_id("c".repeat(250)),
        ),
    ];
    for (what, event) in cases {
        let before = f.engine.clone();
        let err = f
            .engine
            .as_agent(&anna, at(3))
            .unwrap()
            .send_event(chat, event)
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::LimitExceeded {
                    limit: "event_bytes",
                    max: 300,
                    ..
                }
            ),
            "{what}: {err}"
        );
        assert_eq!(err.kind(), ErrorKind::Validation);
        assert!(f.engine == before, "{what}: a refusal changed the engine");
    }

    // start_chat's initial events, and a file's metadata.
    refused(&mut f.engine, over("event_bytes", 300, 301), |e| {
        e.as_customer(&jan, at(4))?
            .start_chat(StartChat::default().with_event(sized(301 - overhead)))
    });
    let mut file = png(10);
    file.url = format!("https://files.example.com/{big}");
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_customer(&jan, at(5))?.send_file(chat, None, file)
    });
    assert!(matches!(
        err,
        Error::LimitExceeded {
            limit: "event_bytes",
            ..
        }
    ));
}

#[test]
fn event_bytes_bounds_sneak_peeks_and_multicasts() {
    let mut f = fixture(limits(|l| l.event_bytes = 100));
    let (anna, _, jan, _) = f.ids();
    let (chat, _) = f.customer_chat(&jan, "hello", at(0));
    let peek = "p".repeat(99);
    refused(&mut f.engine, over("event_bytes", 100, 101), |e| {
        e.as_customer(&jan, at(1))?.send_sneak_peek(chat, peek)
    });
    let ok = "p".repeat(98);
    assert!(
        f.engine
            .as_customer(&jan, at(1))
            .unwrap()
            .send_sneak_peek(chat, ok)
            .is_ok()
    );
    let everyone = MulticastScopes {
        all_agents: true,
        ..MulticastScopes::default()
    };
    let content = json!({ "k": "m".repeat(100) });
    let len = serde_json::to_vec(&content).unwrap().len() as u64;
    refused(&mut f.engine, over("event_bytes", 100, len), |e| {
        e.as_agent(&anna, at(2))?.multicast(&everyone, content)
    });
}

#[test]
fn events_per_thread_refuses_users_events_past_it_until_the_thread_closes() {
    let mut f = fixture(limits(|l| l.events_per_thread = 3));
    let (anna, _, jan, _) = f.ids();
    let (chat, _) = f.customer_chat(&jan, "one", at(0));
    for (i, text) in ["two", "three"].into_iter().enumerate() {
        let _ = f
            .engine
            .as_customer(&jan, at(1 + i as i64))
            .unwrap()
            .send_event(chat, NewEvent::message(text))
            .unwrap();
    }
    refused(&mut f.engine, over("events_per_thread", 3, 4), |e| {
        e.as_agent(&anna, at(5))?
            .send_event(chat, NewEvent::message("four"))
    });
    // An annotation goes to the same, full, thread.
    refused(&mut f.engine, over("events_per_thread", 3, 4), |e| {
        e.as_agent(&anna, at(5))?
            .send_event(chat, NewEvent::annotation("5 stars", "rating"))
    });
    // The engine's own system messages still describe what happens.
    let joined = f
        .engine
        .as_agent(&anna, at(6))
        .unwrap()
        .join_chat(chat, std::slice::from_ref(&anna))
        .unwrap();
    assert!(actions(&joined.pushes).contains(&"incoming_event"));
    assert_eq!(f.engine.chat(&chat).unwrap().threads[0].events.len(), 4);
    // Once closed, the chat goes on in a new thread.
    f.close(chat, at(7));
    let sent = f
        .engine
        .as_customer(&jan, at(8))
        .unwrap()
        .send_event(chat, NewEvent::message("again"))
        .unwrap();
    assert_eq!(f.engine.chat(&chat).unwrap().threads.len(), 2);
    assert_eq!(
        sent.response.thread_id,
        f.engine.chat(&chat).unwrap().threads[1].id
    );
    // start_chat takes at most that many initial events.
    let four = (0..4).fold(StartChat::default(), |s, i| {
        s.with_event(NewEvent::message(format!("m{i}")))
    });
    refused(&mut f.engine, over("events_per_thread", 3, 4), |e| {
        e.as_customer(&jan, at(9))?.start_chat(four)
    });
}

#[test]
fn a_retry_to_a_full_thread_returns_the_original_event() {
    let mut f = fixture(limits(|l| l.events_per_thread = 2));
    let (_, _, jan, _) = f.ids();
    let (chat, _) = f.customer_chat(&jan, "one", at(0));
    let event = NewEvent::message("two").with_custom_id("c-2");
    let first = f
        .engine
        .as_customer(&jan, at(1))
        .unwrap()
        .send_event(chat, event.clone())
        .unwrap();
    let retry = f
        .engine
        .as_customer(&jan, at(2))
        .unwrap()
        .send_event(chat, event)
        .unwrap();
    assert_eq!(retry.response.event.id, first.response.event.id);
}

#[test]
fn customer_fields_count_and_bytes_are_checked_after_the_merge() {
    let mut f = fixture(limits(|l| {
        l.customer_fields = 3;
        l.customer_fields_bytes = 40;
    }));
    let (_, _, jan, _) = f.ids();
    let update = |entries: &[(&str, &str)]| CustomerUpdate {
        fields: fields(entries),
        ..CustomerUpdate::default()
    };
    let _ = f
        .engine
        .as_customer(&jan, at(0))
        .unwrap()
        .update_customer(update(&[("a", "1"), ("b", "2"), ("c", "3")]))
        .unwrap();
    // A fourth key is one too many, even sent alone: fields are merged, never dropped.
    refused(&mut f.engine, over("customer_fields", 3, 4), |e| {
        e.as_customer(&jan, at(1))?
            .update_customer(update(&[("d", "4")]))
    });
    // Replacing keys adds none; the bytes are those of the merged fields (6 now).
    let _ = f
        .engine
        .as_customer(&jan, at(2))
        .unwrap()
        .update_customer(update(&[("a", "0123456789")]))
        .unwrap();
    refused(&mut f.engine, over("customer_fields_bytes", 40, 45), |e| {
        e.as_customer(&jan, at(3))?
            .update_customer(update(&[("b", "0123456789012345678901234567890")]))
    });
    // The host's add_customer is held to the same limits.
    let mut many = Customer::new(uid("customer-many")).with_name("Many");
    many.fields = fields(&[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]);
    refused(&mut f.engine, over("customer_fields", 3, 4), |e| {
        e.add_customer(many)
    });
}

#[test]
fn property_value_bytes_bounds_string_values_at_every_location() {
    let mut f = fixture(limits(|l| l.property_value_bytes = 8));
    let (anna, _, jan, _) = f.ids();
    f.engine
        .configure_property(
            PropertyConfig::new("crm", "note", PropertyType::String)
                .at(Location::Chat, open())
                .at(Location::Thread, open())
                .at(Location::Event, open()),
        )
        .unwrap();
    let started = f
        .engine
        .as_customer(&jan, at(0))
        .unwrap()
        .start_chat(StartChat::default().with_properties(note("12345678")))
        .unwrap();
    let chat = started.response.id;
    let thread = started.response.thread.id;
    refused(&mut f.engine, over("property_value_bytes", 8, 9), |e| {
        e.as_agent(&anna, at(1))?
            .update_chat_properties(chat, note("123456789"))
    });
    refused(&mut f.engine, over("property_value_bytes", 8, 9), |e| {
        e.as_agent(&anna, at(1))?
            .update_chat_thread_properties(chat, thread, note("123456789"))
    });
    refused(&mut f.engine, over("property_value_bytes", 8, 9), |e| {
        e.as_customer(&jan, at(1))?.send_event(
            chat,
            NewEvent::message("hi").with_properties(note("123456789")),
        )
    });
    let thread_props = StartChat {
        thread_properties: note("123456789"),
        ..StartChat::default()
    };
    refused(&mut f.engine, over("property_value_bytes", 8, 9), |e| {
        e.as_customer(&jan, at(1))?.start_chat(thread_props)
    });
}

#[test]
fn chats_per_license_refuses_start_chat_once_reached() {
    let mut f = fixture(limits(|l| l.chats_per_license = 2));
    let (anna, _, jan, eva) = f.ids();
    f.customer_chat(&jan, "one", at(0));
    f.customer_chat(&eva, "two", at(1));
    refused(&mut f.engine, over("chats_per_license", 2, 3), |e| {
        e.as_customer(&jan, at(2))?.start_chat(StartChat::default())
    });
    refused(&mut f.engine, over("chats_per_license", 2, 3), |e| {
        e.as_agent(&anna, at(2))?
            .start_chat(None, StartChat::default())
    });
    assert_eq!(f.engine.chat_count(), 2);
}

#[test]
fn agents_per_chat_bounds_joins_transfers_and_routing() {
    let mut f = fixture(limits(|l| l.agents_per_chat = 2));
    let (anna, bob, jan, _) = f.ids();
    let cleo = uid("cleo@example.com");
    f.engine
        .add_agent(Agent::new(cleo.clone(), "Cleo"))
        .unwrap();
    let (chat, _) = f.customer_chat(&jan, "hello", at(0));
    refused(&mut f.engine, over("agents_per_chat", 2, 3), |e| {
        e.as_agent(&anna, at(1))?
            .join_chat(chat, &[anna.clone(), bob.clone(), cleo.clone()])
    });
    let _ = f
        .engine
        .as_agent(&anna, at(1))
        .unwrap()
        .join_chat(chat, &[anna.clone(), bob.clone()])
        .unwrap();
    refused(&mut f.engine, over("agents_per_chat", 2, 3), |e| {
        e.as_agent(&cleo, at(2))?
            .join_chat(chat, std::slice::from_ref(&cleo))
    });
    // A transfer to an agent outside the full chat is refused: nobody assigned leaves.
    for agent in [&anna, &bob, &cleo] {
        let _ = f.engine.set_agent_presence(agent, true, at(2)).unwrap();
    }
    refused(&mut f.engine, over("agents_per_chat", 2, 3), |e| {
        e.as_agent(&anna, at(3))?
            .transfer_chat(chat, &TransferTarget::Agent(cleo.clone()))
    });
    // To an agent in the chat it passes; Bob is now assigned, so a transfer from him to
    // Cleo keeps two agents in the chat and passes too.
    let _ = f
        .engine
        .as_agent(&anna, at(4))
        .unwrap()
        .transfer_chat(chat, &TransferTarget::Agent(bob.clone()))
        .unwrap();
    let _ = f
        .engine
        .as_agent(&anna, at(5))
        .unwrap()
        .transfer_chat(chat, &TransferTarget::Agent(cleo.clone()))
        .unwrap();
    let agents = &f.engine.chat(&chat).unwrap().agent_ids;
    assert_eq!(agents, &vec![anna.clone(), cleo.clone()]);
}

#[test]
fn routing_does_not_offer_a_full_chat_to_an_agent_outside_it() {
    let config = EngineConfig::with_seed(7).limits(limits(|l| l.agents_per_chat = 1));
    let (anna, bob) = (uid("anna@example.com"), uid("bob@example.com"));
    let mut engine = LicenseBuilder::new(config)
        .router(ManualRouter)
        .agent(Agent::new(anna.clone(), "Anna"))
        .agent(Agent::new(bob.clone(), "Bob"))
        .build();
    let jan = engine.create_customer();
    let chat = engine
        .as_customer(&jan, at(0))
        .unwrap()
        .start_chat(StartChat::default().with_event(NewEvent::message("hi")))
        .unwrap()
        .response
        .id;
    // Anna joins without being assigned: the chat is full and still waits.
    let _ = engine
        .as_agent(&anna, at(1))
        .unwrap()
        .join_chat(chat, std::slice::from_ref(&anna))
        .unwrap();
    for agent in [&anna, &bob] {
        let _ = engine.set_agent_presence(agent, true, at(1)).unwrap();
        let _ = engine
            .as_agent(agent, at(1))
            .unwrap()
            .update_agent(None, Some(RoutingStatus::AcceptingChats))
            .unwrap();
    }
    // Bob's reply would take the chat under the manual diagram; it is delivered, and the chat
    // stays unassigned rather than hold two agents.
    let reply = engine
        .as_agent(&bob, at(2))
        .unwrap()
        .send_event(chat, NewEvent::message("Bob here"));
    assert!(reply.is_ok());
    let c = engine.chat(&chat).unwrap();
    assert_eq!(c.routing.assignee, None);
    assert_eq!(c.agent_ids, vec![anna.clone()]);
    // Anna, in the chat, can take it.
    let _ = engine
        .as_agent(&anna, at(3))
        .unwrap()
        .send_event(chat, NewEvent::message("Anna here"))
        .unwrap();
    assert_eq!(engine.chat(&chat).unwrap().routing.assignee, Some(anna));
}

#[test]
fn chat_scopes_bounds_start_chat_and_update_chat_scopes_but_never_removal() {
    let mut f = fixture(limits(|l| l.chat_scopes = 2));
    let (anna, _, jan, _) = f.ids();
    let groups = |ids: &[u32]| Scopes {
        groups: ids.iter().copied().map(GroupId).collect(),
        ..Scopes::default()
    };
    refused(&mut f.engine, over("chat_scopes", 2, 3), |e| {
        e.as_customer(&jan, at(0))?
            .start_chat(StartChat::default().with_scopes(groups(&[1, 2, 3])))
    });
    let chat = f
        .engine
        .as_customer(&jan, at(0))
        .unwrap()
        .start_chat(StartChat::default().with_scopes(groups(&[1, 2])))
        .unwrap()
        .response
        .id;
    refused(&mut f.engine, over("chat_scopes", 2, 3), |e| {
        e.as_agent(&anna, at(1))?
            .update_chat_scopes(chat, groups(&[3]), Scopes::default())
    });
    // Swapping one group for another stays at two.
    let _ = f
        .engine
        .as_agent(&anna, at(2))
        .unwrap()
        .update_chat_scopes(chat, groups(&[3]), groups(&[2]))
        .unwrap();
    let _ = f
        .engine
        .as_agent(&anna, at(3))
        .unwrap()
        .update_chat_scopes(chat, Scopes::default(), groups(&[3]))
        .unwrap();
    assert_eq!(f.engine.chat(&chat).unwrap().scopes, groups(&[1]));
}

#[test]
fn auto_chat_scopes_bounds_the_configurations_kept() {
    let mut f = fixture(limits(|l| {
        l.auto_chat_scopes = 1;
        l.chat_scopes = 1;
    }));
    let anna = f.anna.clone();
    let rules = || AutoScopeRules {
        customer_url: Some(chatio::model::UrlFilter::Values(vec![
            chatio::model::UrlMatch {
                value: "pricing".into(),
                exact_match: false,
            },
        ])),
        ..AutoScopeRules::default()
    };
    let one = Scopes {
        groups: [GroupId(1)].into(),
        ..Scopes::default()
    };
    let two = Scopes {
        groups: [GroupId(1), GroupId(2)].into(),
        ..Scopes::default()
    };
    refused(&mut f.engine, over("chat_scopes", 1, 2), |e| {
        e.as_agent(&anna, at(0))?
            .add_auto_chat_scopes(None, two, rules())
    });
    let _ = f
        .engine
        .as_agent(&anna, at(0))
        .unwrap()
        .add_auto_chat_scopes(None, one.clone(), rules())
        .unwrap();
    refused(&mut f.engine, over("auto_chat_scopes", 1, 2), |e| {
        e.as_agent(&anna, at(1))?
            .add_auto_chat_scopes(None, one, rules())
    });
}

#[test]
fn limits_travel_in_snapshots_and_old_configurations_read_as_defaults() {
    let tight = limits(|l| {
        l.event_bytes = 512;
        l.login_chats = 3;
    });
    let mut f = fixture(tight.clone());
    let (_, _, jan, _) = f.ids();
    f.customer_chat(&jan, "hello", at(0));
    let restored = Engine::restore(&f.engine.snapshot()).unwrap();
    assert_eq!(restored.config().limits, tight);
    assert_eq!(restored, f.engine);

    // A configuration written before limits existed, and one naming only some of them.
    let old = r#"{"seed":7,"max_chats_per_customer":1,"push_audience":"all_agents",
        "unseen_timeout":300,"inactivity_timeout":1500}"#;
    let config: EngineConfig = serde_json::from_str(old).unwrap();
    assert_eq!(config.limits, Limits::default());
    let partial = r#"{"seed":7,"max_chats_per_customer":1,"push_audience":"all_agents",
        "unseen_timeout":300,"inactivity_timeout":1500,"limits":{"login_chats":5}}"#;
    let config: EngineConfig = serde_json::from_str(partial).unwrap();
    assert_eq!(config.limits, limits(|l| l.login_chats = 5));

    // The format 1 fixture, written before limits existed, restores with the defaults.
    let v1 = std::fs::read("tests/fixtures/snapshot_v1.snap").unwrap();
    let restored = Engine::restore(&v1).unwrap();
    assert_eq!(restored.config().limits, Limits::default());
}

#[test]
fn unlimited_limits_are_never_reached() {
    let u = Limits::unlimited();
    let values = serde_json::to_value(&u).unwrap();
    for (name, value) in values.as_object().unwrap() {
        assert_eq!(value.as_u64(), Some(u64::from(u32::MAX)), "{name}");
    }
}

#[test]
fn a_limit_refusal_is_answered_on_the_wire_as_validation_naming_the_limit() {
    let mut f = fixture(limits(|l| l.event_bytes = 64));
    let (_, _, jan, _) = f.ids();
    let (chat, _) = f.customer_chat(&jan, "hello", at(0));
    let text = "z".repeat(100);
    let request = format!(
        r#"{{"request_id":"7","action":"send_event","payload":{{"chat_id":"{chat}","event":{{"type":"message","text":"{text}"}}}}}}"#
    );
    let reply = chatio::wire::handle(
        &mut f.engine,
        chatio::wire::Api::Customer,
        &jan,
        at(1),
        &request,
    );
    let v: serde_json::Value = serde_json::from_str(&reply.response).unwrap();
    assert_eq!(v["payload"]["error"]["type"], "validation");
    let message = v["payload"]["error"]["message"].as_str().unwrap();
    assert!(message.contains("limit event_bytes exceeded"), "{message}");
    assert!(reply.pushes.is_empty());
}

#[test]
fn a_full_waiting_chat_is_routed_again_once_agents_leave_it() {
    let config = EngineConfig::with_seed(7).limits(limits(|l| l.agents_per_chat = 1));
    let (anna, bob) = (uid("anna@example.com"), uid("bob@example.com"));
    let mut engine = LicenseBuilder::new(config)
        .router(chatio::routing::AutomaticRouter::default())
        .agent(Agent::new(anna.clone(), "Anna"))
        .agent(Agent::new(bob.clone(), "Bob"))
        .build();
    let jan = engine.create_customer();
    // Nobody is online: the chat waits, and Anna joins it by hand, which fills it.
    let chat = engine
        .as_customer(&jan, at(0))
        .unwrap()
        .start_chat(StartChat::default().with_event(NewEvent::message("hi")))
        .unwrap()
        .response
        .id;
    let _ = engine
        .as_agent(&anna, at(1))
        .unwrap()
        .join_chat(chat, std::slice::from_ref(&anna))
        .unwrap();
    let _ = engine.set_agent_presence(&bob, true, at(2)).unwrap();
    assert_eq!(
        engine.chat(&chat).unwrap().routing.assignee,
        None,
        "full: Bob may not"
    );
    // Anna leaves: there is room, and Bob, available all along, gets the chat at once.
    let out = engine
        .as_agent(&anna, at(3))
        .unwrap()
        .remove_from_chat(chat, &[], &[])
        .unwrap();
    assert_eq!(
        engine.chat(&chat).unwrap().routing.assignee,
        Some(bob.clone())
    );
    assert!(
        out.pushes
            .iter()
            .any(|p| p.to.contains(&bob) && p.action() == "incoming_chat_thread")
    );
}
