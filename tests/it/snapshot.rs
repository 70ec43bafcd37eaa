//! Snapshots, format version 2: a JSON body for the engine and a binary section for the events
//! of every thread, cut into segments. Round trips over every event kind, the version 1 golden
//! file, determinism, a license large enough for several segments, and damage that reaches the
//! decoder itself (the header is resealed with a fresh checksum, so the checksum is not what
//! catches it), segment table included.

use crate::common::{LicenseBuilder, at, uid};
use crate::snapshot_support;

use std::collections::BTreeSet;

use chatio::journal::{JournalError, Options, SNAPSHOT_VERSION};
use chatio::model::{Access, Location, LocationAccess, PropertyConfig, PropertyType};
use chatio::routing::AutomaticRouter;
use chatio::{
    Agent, ChatIdScheme, Customer, Engine, EngineConfig, EventKind, File, NewEvent, Postback,
    Properties, PropertyValue, Recipients, StartChat,
};
use snapshot_support::{HEADER_LEN, assemble, body, parts, reseal, section, segments};

fn props(namespace: &str, name: &str, value: PropertyValue) -> Properties {
    let mut p = Properties::new();
    p.entry(namespace.into())
        .or_default()
        .insert(name.into(), value);
    p
}

fn event(json: &str) -> NewEvent {
    serde_json::from_str(json).unwrap()
}

/// A small license with a bit of everything a thread can hold: all seven event kinds, event,
/// thread and chat properties, custom ids, agents-only events, a rich message with postbacks,
/// system messages with and without a type, closed threads with annotations after them, and
/// multi-byte text. Built only through the public API, so it is the same engine every time.
///
/// `tests/fixtures/snapshot_v1.snap` is this license's snapshot as version 1 wrote it (at
/// 82c04ce, before version 2): if this builder changes, that file no longer matches it.
fn sample_license() -> Engine {
    sample_license_under(ChatIdScheme::KeyedPermutation)
}

/// [`sample_license`] with chat ids made under `scheme`. The version 1 fixture was written before
/// the keyed scheme existed: its configuration, which has no `chat_id_scheme`, reads as
/// `MaskedSlot`, the scheme its chat ids were made with.
fn sample_license_under(scheme: ChatIdScheme) -> Engine {
    let config = EngineConfig::with_seed(2024)
        .routing_timeouts(60, 300)
        .max_chats_per_customer(None)
        .chat_id_scheme(scheme);
    let mut license = LicenseBuilder::new(config).router(AutomaticRouter::default());
    let rw = Access::READ_WRITE;
    for property in [
        PropertyConfig::new("bot", "intent", PropertyType::String).at(
            Location::Event,
            LocationAccess {
                agent: rw,
                customer: rw,
            },
        ),
        PropertyConfig::new("crm", "tier", PropertyType::String)
            .at(
                Location::Chat,
                LocationAccess {
                    agent: rw,
                    customer: rw,
                },
            )
            .at(
                Location::Thread,
                LocationAccess {
                    agent: rw,
                    customer: rw,
                },
            ),
        PropertyConfig::new("rating", "score", PropertyType::Int).at(
            Location::Event,
            LocationAccess {
                agent: rw,
                customer: rw,
            },
        ),
    ] {
        license = license.property(property);
    }
    let (anna, bob) = (uid("anna@example.com"), uid("bob@example.com"));
    let mut engine = license
        .agent(Agent::new(anna.clone(), "Anna"))
        .agent(Agent::new(bob.clone(), "Bob"))
        .build();
    let _ = engine.set_agent_presence(&anna, true, at(0)).unwrap();
    let _ = engine.set_agent_presence(&bob, true, at(0)).unwrap();
    let jan = engine.create_customer();
    let eva = engine.create_customer();

    // Jan's chat: a form, messages with and without custom ids, a file, a rich message and its
    // postbacks, an agents-only note, properties everywhere; then closed and annotated twice.
    let form = event(
        r#"{"type":"filled_form","custom_id":"form-1","fields":[
            {"name":"name","label":"Your name","type":"text","value":"Jan"},
            {"name":"topic","label":"Topic","type":"radio","options":[
                {"label":"Billing","value":"billing","checked":true},
                {"label":"Parcel","value":"parcel"}]}]}"#,
    );
    let out = engine
        .as_customer(&jan, at(1))
        .unwrap()
        .start_chat(
            StartChat {
                thread_properties: props("crm", "tier", PropertyValue::String("gold".into())),
                ..StartChat::default()
            }
            .with_properties(props("crm", "tier", PropertyValue::String("silver".into())))
            .with_event(form)
            .with_event(NewEvent::message("Hello, my parcel is late").with_custom_id("m-1")),
        )
        .unwrap();
    let jan_chat = out.response.id;
    let mut api = engine.as_customer(&jan, at(2)).unwrap();
    let _ = api
        .send_event(
            jan_chat,
            NewEvent::message("Zażółć gęślą jaźń — ✓ 🚚").with_properties(props(
                "bot",
                "intent",
                PropertyValue::String("parcel".into()),
            )),
        )
        .unwrap();
    let _ = api
        .send_file(
            jan_chat,
            Some("file-1".into()),
            File {
                name: "receipt.png".into(),
                url: "https://files.example.com/receipt.png".into(),
                content_type: "image/png".into(),
                size: 34_567,
                width: Some(640),
                height: Some(480),
            },
        )
        .unwrap();
    let mut api = engine.as_agent(&anna, at(3)).unwrap();
    let rich = api
        .send_event(
            jan_chat,
            event(
                r#"{"type":"rich_message","custom_id":"rich-1","template_id":"cards","elements":[
                    {"title":"Where is it?","subtitle":"Pick one","image":{"url":"https://x/map.png"},
                     "buttons":[{"text":"Track","postback_id":"track"},{"text":"Refund","postback_id":"refund"}]},
                    {"title":"No buttons"}]}"#,
            ),
        )
        .unwrap();
    let _ = api
        .send_event(
            jan_chat,
            NewEvent::message("VIP, be quick")
                .to(Recipients::Agents)
                .with_custom_id("note-1"),
        )
        .unwrap();
    let _ = api
        .send_event(
            jan_chat,
            event(r#"{"type":"system_message","text":"Checking the courier"}"#),
        )
        .unwrap();
    let _ = api
        .send_event(
            jan_chat,
            NewEvent::system_message("Order found", "order.found").to(Recipients::Agents),
        )
        .unwrap();
    let thread = engine.chat(&jan_chat).unwrap().threads[0].id;
    let event_id = rich.response.event.id;
    let _ = engine
        .as_customer(&jan, at(4))
        .unwrap()
        .send_rich_message_postback(
            jan_chat,
            thread,
            event_id,
            Postback {
                id: "track".into(),
                toggled: true,
            },
        )
        .unwrap();
    let mut api = engine.as_agent(&anna, at(5)).unwrap();
    let _ = api
        .send_rich_message_postback(
            jan_chat,
            thread,
            event_id,
            Postback {
                id: "track".into(),
                toggled: true,
            },
        )
        .unwrap();
    let mut content = serde_json::Map::new();
    content.insert(
        "courier".into(),
        serde_json::json!({"eta": [1, 2.5, null], "ok": true}),
    );
    let _ = api
        .send_event(
            jan_chat,
            NewEvent::custom(content).with_custom_id("custom-1"),
        )
        .unwrap();
    let _ = api.close_thread(jan_chat).unwrap();
    let _ = api
        .send_event(
            jan_chat,
            NewEvent::annotation("", "rating").with_properties(props(
                "rating",
                "score",
                PropertyValue::Int(5),
            )),
        )
        .unwrap();
    let _ = api
        .send_event(
            jan_chat,
            NewEvent::annotation("Solved quickly", "summary")
                .to(Recipients::Agents)
                .with_custom_id("ann-1"),
        )
        .unwrap();

    // Jan comes back: a second thread, closed by Jan, then a third one left open.
    let mut api = engine.as_customer(&jan, at(100)).unwrap();
    // A retry of the first message's custom_id: it answers with that message and adds nothing.
    let _ = api
        .send_event(
            jan_chat,
            NewEvent::message("One more thing").with_custom_id("m-1"),
        )
        .unwrap();
    let _ = api
        .send_event(jan_chat, NewEvent::message("Never mind"))
        .unwrap();
    let _ = api.close_thread(jan_chat).unwrap();
    let _ = engine
        .as_agent(&bob, at(101))
        .unwrap()
        .send_event(jan_chat, NewEvent::annotation("follow up", "todo"))
        .unwrap();
    let _ = engine
        .as_customer(&jan, at(200))
        .unwrap()
        .send_event(jan_chat, NewEvent::message("Hi again"))
        .unwrap();

    // Eva's chat stays in its first thread; an agent's chat without a customer.
    let _ = engine
        .as_customer(&eva, at(300))
        .unwrap()
        .start_chat(StartChat::default().with_event(NewEvent::message("Anyone there?")))
        .unwrap();
    let out = engine
        .as_agent(&bob, at(301))
        .unwrap()
        .start_chat(
            None,
            StartChat::default()
                .with_event(NewEvent::message("Internal chat").to(Recipients::Agents)),
        )
        .unwrap();
    let _ = engine
        .as_agent(&bob, at(302))
        .unwrap()
        .close_thread(out.response.id)
        .unwrap();
    engine
}

fn kinds(engine: &Engine) -> BTreeSet<&'static str> {
    all_events(engine).map(|e| e.kind.type_name()).collect()
}

#[test]
fn the_sample_license_has_everything_a_thread_can_hold() {
    let engine = sample_license();
    assert_eq!(kinds(&engine).len(), 7, "{:?}", kinds(&engine));
    let events: Vec<_> = all_events(&engine).collect();
    assert!(events.iter().any(|e| e.recipients == Recipients::Agents));
    assert!(events.iter().any(|e| !e.properties.is_empty()));
    assert!(events.iter().any(|e| e.custom_id.is_some()));
    assert!(events.iter().any(|e| e.author_id.is_none()));
    assert!(events.iter().any(|e| matches!(&e.kind,
        EventKind::RichMessage(r) if r.elements[0].buttons[0].user_ids.len() == 2)));
    let closed_with_annotation = engine.chats().iter().any(|c| {
        c.threads
            .iter()
            .any(|t| !t.active && t.events.last().is_some_and(|e| e.kind.is_annotation()))
    });
    assert!(closed_with_annotation);
    assert!(engine.chats().iter().any(|c| c.threads.len() >= 3));
}

#[test]
fn a_version_1_snapshot_still_restores() {
    let golden = std::fs::read("tests/fixtures/snapshot_v1.snap").unwrap();
    assert!(golden.starts_with(b"CHATIO-SNAPSHOT 00000001 "));
    let restored = Engine::restore(&golden).unwrap();
    assert_eq!(restored.config().chat_id_scheme, ChatIdScheme::MaskedSlot);
    assert_eq!(restored, sample_license_under(ChatIdScheme::MaskedSlot));
}

/// A license whose events are all plain messages and system messages, without properties: every
/// byte of its binary section is structure or text, with no JSON inside it. Authors include a
/// customer whose id is not a UUID, and one chat has a thread with no events.
fn plain_license() -> Engine {
    // No router: routing's system messages would fill every new thread.
    let anna = uid("anna@example.com");
    let visitor = uid("visitor-7");
    let mut engine = LicenseBuilder::new(EngineConfig::with_seed(7).max_chats_per_customer(None))
        .online_agent(Agent::new(anna.clone(), "Anna"))
        .customer(Customer::new(visitor.clone()))
        .build();
    let jan = engine.create_customer();
    let out = engine
        .as_customer(&visitor, at(1))
        .unwrap()
        .start_chat(
            StartChat::default().with_event(NewEvent::message("Hello").with_custom_id("v-1")),
        )
        .unwrap();
    let chat = out.response.id;
    let mut api = engine.as_agent(&anna, at(2)).unwrap();
    let _ = api
        .send_event(chat, NewEvent::message("Hi, how can I help?"))
        .unwrap();
    let _ = api
        .send_event(chat, NewEvent::message("Regular").to(Recipients::Agents))
        .unwrap();
    let _ = api
        .send_event(chat, event(r#"{"type":"system_message","text":"Untyped"}"#))
        .unwrap();
    let _ = api
        .send_event(
            chat,
            NewEvent::system_message("Typed", "note").to(Recipients::Agents),
        )
        .unwrap();
    let _ = api.close_thread(chat).unwrap();
    let _ = engine
        .as_customer(&visitor, at(3))
        .unwrap()
        .send_event(chat, NewEvent::message("Back — ✓").with_custom_id("v-2"))
        .unwrap();
    let _ = engine
        .as_customer(&jan, at(4))
        .unwrap()
        .start_chat(StartChat::default().with_event(NewEvent::message("Anyone?")))
        .unwrap();
    let _ = engine
        .as_customer(&jan, at(6))
        .unwrap()
        .start_chat(StartChat::default())
        .unwrap();
    engine
}

/// Every event of the license, chat by chat and thread by thread.
fn all_events(engine: &Engine) -> impl Iterator<Item = chatio::Event> {
    let events: Vec<_> = engine
        .chats()
        .iter()
        .flat_map(|c| {
            c.threads
                .iter()
                .flat_map(|t| t.events.iter())
                .collect::<Vec<_>>()
        })
        .collect();
    events.into_iter()
}

#[test]
fn the_plain_license_has_no_json_in_its_events() {
    let engine = plain_license();
    assert!(all_events(&engine).all(|e| e.properties.is_empty()
        && matches!(
            e.kind,
            EventKind::Message { .. } | EventKind::SystemMessage { .. }
        )));
    assert!(all_events(&engine).any(|e| e.author_id == Some(uid("visitor-7"))));
    assert!(all_events(&engine).any(|e| e.author_id.is_none()));
    assert!(
        engine
            .chats()
            .iter()
            .any(|c| c.threads.iter().any(|t| t.events.is_empty()))
    );
}

#[test]
fn every_kind_round_trips_through_version_2() {
    for engine in [sample_license(), plain_license(), Engine::default()] {
        let snapshot = engine.snapshot();
        // Without archived threads, version 2 (see `archiving.rs` for version 3).
        assert!(snapshot.starts_with(b"CHATIO-SNAPSHOT 00000002 "));
        assert_eq!(SNAPSHOT_VERSION, 3);
        let restored = Engine::restore(&snapshot).unwrap();
        assert_eq!(restored, engine);
        assert_eq!(restored.snapshot(), snapshot, "same engine, same bytes");
    }
    // Built twice from scratch: nothing in the bytes depends on hashing or addresses.
    assert_eq!(sample_license().snapshot(), sample_license().snapshot());
}

#[test]
fn a_restored_engine_carries_on_like_the_original() {
    let mut live = sample_license();
    let mut restored = Engine::restore(&live.snapshot()).unwrap();
    let jan = live
        .chats()
        .get(0)
        .expect("chat exists")
        .customer_id
        .clone()
        .unwrap();
    let chat = live.chats().get(0).expect("chat exists").id;
    // A retry of an old custom_id finds the original event through the restored index, and a
    // new event continues the order counter.
    for engine in [&mut live, &mut restored] {
        let out = engine
            .as_customer(&jan, at(1_000))
            .unwrap()
            .send_event(chat, NewEvent::message("a retry").with_custom_id("m-1"))
            .unwrap();
        assert!(
            matches!(&out.response.event.kind, EventKind::Message { text } if text == "Hello, my parcel is late")
        );
        let _ = engine
            .as_customer(&jan, at(1_001))
            .unwrap()
            .send_event(chat, NewEvent::message("new"))
            .unwrap();
    }
    assert_eq!(restored, live);
}

#[test]
fn events_leave_the_json_for_the_binary_section() {
    let engine = sample_license();
    let snapshot = engine.snapshot();
    let (json, section) = parts(&snapshot);
    let state: serde_json::Value = serde_json::from_slice(&snapshot[json.clone()]).unwrap();
    let threads: Vec<&serde_json::Value> = state["chats"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["threads"].as_array().unwrap())
        .collect();
    assert_eq!(threads.len(), 5);
    assert!(threads.iter().all(|t| t["events"] == serde_json::json!([])));
    // Every event's text is in the section, in order, and nowhere in the JSON.
    let section = &snapshot[section];
    let text = "Zażółć gęślą jaźń — ✓ 🚚";
    let find = |hay: &[u8], needle: &str| {
        hay.windows(needle.len())
            .position(|w| w == needle.as_bytes())
    };
    assert!(find(section, text).is_some());
    assert!(find(&snapshot[json], "Hello, my parcel").is_none());
    let golden = std::fs::read("tests/fixtures/snapshot_v1.snap").unwrap();
    assert!(
        snapshot.len() < golden.len(),
        "{} vs {}",
        snapshot.len(),
        golden.len()
    );
}

#[test]
fn a_version_1_snapshot_reads_back_as_version_2_would_write_it() {
    let golden = std::fs::read("tests/fixtures/snapshot_v1.snap").unwrap();
    let restored = Engine::restore(&golden).unwrap();
    assert_eq!(
        restored.snapshot(),
        sample_license_under(ChatIdScheme::MaskedSlot).snapshot()
    );
    // The same JSON with its events stripped is not a version 1 snapshot any more: its
    // threads lose their events, which the custom id index still points at.
    let stripped = String::from_utf8(body(&golden).to_vec()).unwrap();
    let mut state: serde_json::Value = serde_json::from_str(&stripped).unwrap();
    for chat in state["chats"].as_array_mut().unwrap() {
        for thread in chat["threads"].as_array_mut().unwrap() {
            thread["events"] = serde_json::json!([]);
        }
    }
    let without = reseal(1, &serde_json::to_vec(&state).unwrap());
    assert!(matches!(
        Engine::restore(&without),
        Err(JournalError::Corrupt { reason, .. }) if reason.contains("custom_id")
    ));
}

#[test]
fn resealing_an_undamaged_snapshot_changes_nothing() {
    // The tests below rely on their own copy of the checksum agreeing with the library's.
    for engine in [sample_license(), plain_license(), Engine::default()] {
        let snapshot = engine.snapshot();
        assert_eq!(reseal(2, body(&snapshot)), snapshot);
    }
}

/// The reason a damaged snapshot was refused; it must be refused as corrupt.
fn refusal(snapshot: &[u8]) -> String {
    match Engine::restore(snapshot) {
        Err(JournalError::Corrupt { what, reason }) => {
            assert_eq!(what, "snapshot");
            reason
        }
        // Not the engine itself: a large one would bury the message.
        Ok(_) => panic!("expected a corrupt snapshot, got an engine"),
        Err(other) => panic!("expected a corrupt snapshot, got {other:?}"),
    }
}

#[test]
fn truncation_at_every_offset_is_refused() {
    let snapshot = sample_license().snapshot();
    for cut in 0..snapshot.len() {
        // As it is: the header's length gives it away.
        refusal(&snapshot[..cut]);
        // Resealed, so the decoder has to notice on its own.
        if cut >= HEADER_LEN {
            refusal(&reseal(2, &snapshot[HEADER_LEN..cut]));
        }
    }
}

#[test]
fn damage_under_the_old_header_is_a_checksum_mismatch() {
    // Whether the decoder trips over the damage (a shape bit) or reads straight through it
    // (a letter of a text), the header's checksum is what the refusal names.
    let snapshot = sample_license().snapshot();
    let (_, events) = parts(&snapshot);
    let (_, first) = one_segment(&snapshot);
    // The first event's shape byte: after the thread's count and the event's 32-byte head.
    let shape = events.start + first.start + 1 + 32;
    let text = "Zażółć";
    let at = snapshot
        .windows(text.len())
        .position(|w| w == text.as_bytes())
        .unwrap();
    for (i, flip) in [(shape, 0x80), (at, 0x01)] {
        let mut damaged = snapshot.clone();
        damaged[i] ^= flip;
        assert_eq!(refusal(&damaged), "checksum mismatch");
    }
    let mut damaged = snapshot.clone();
    damaged[at] ^= 0x01;
    let resealed = reseal(2, body(&damaged));
    let restored = Engine::restore(&resealed).unwrap();
    assert!(
        all_events(&restored)
            .any(|e| matches!(&e.kind, EventKind::Message { text } if text.starts_with("[ażółć")))
    );
}

#[test]
fn hand_made_damage_is_refused_with_a_reason() {
    let snapshot = sample_license().snapshot();
    let (json, _) = parts(&snapshot);
    let json = &snapshot[json];
    let (chats, range) = one_segment(&snapshot);
    let segment = &snapshot[parts(&snapshot).1][range];
    let assemble = |json: &[u8], segment: &[u8]| assemble(json, &section(&[(chats, segment)]));
    let section = segment;
    // The section has one segment, and the table is remade to fit each damaged one below, so
    // that the events' decoder is what notices. The first thread holds 13 events; its first one starts right after that count, with its
    // 33-byte head (id, order, timestamp, shape), then its author, defined there as number 0.
    assert_eq!(section[0], 13);
    let shape = 1 + 32;
    let author = shape + 1;
    assert_eq!(section[author], 0);
    let damaged = |at: usize, byte: u8| {
        let mut s = section.to_vec();
        s[at] = byte;
        refusal(&assemble(json, &s))
    };
    let expect = |reason: String, part: &str| {
        assert!(reason.contains(part), "{reason:?} should mention {part:?}");
        assert!(reason.contains("thread 0"), "{reason:?} should say where");
    };
    expect(damaged(shape, section[shape] | 0x80), "unknown shape bits");
    expect(damaged(shape, section[shape] | 0x30), "unknown kind bits");
    expect(
        damaged(shape, section[shape] | 0x40),
        "system_message_type on another kind",
    );
    expect(
        damaged(author, 1),
        "author number 1, but only 0 are defined",
    );
    expect(damaged(0, 0x7f), "does not fit");

    let mut longer = section.to_vec();
    longer.push(0);
    let reason = refusal(&assemble(json, &longer));
    assert!(
        reason.contains("segment 0: 1 bytes follow the last thread"),
        "{reason}"
    );
    // The last event's last string now claims one byte more than is left.
    let reason = refusal(&assemble(json, &section[..section.len() - 1]));
    assert!(reason.contains("does not fit"), "{reason}");

    // A count that claims more events than could ever fit is refused before it is allocated.
    let mut huge = vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    huge.extend_from_slice(&section[1..]);
    expect(refusal(&assemble(json, &huge)), "event count");

    // A JSON length past the end of the body.
    let mut body = u64::MAX.to_le_bytes().to_vec();
    body.extend_from_slice(json);
    assert!(refusal(&reseal(2, &body)).contains("past the end"));
    assert!(refusal(&reseal(2, &[1, 2, 3])).contains("too short"));

    // Events written into the JSON part as well are refused.
    let mut state: serde_json::Value = serde_json::from_slice(json).unwrap();
    let v1: serde_json::Value = serde_json::from_slice(body_of_golden().as_slice()).unwrap();
    state["chats"][0]["threads"][0]["events"] = v1["chats"][0]["threads"][0]["events"].clone();
    let reason = refusal(&assemble(&serde_json::to_vec(&state).unwrap(), section));
    expect(reason, "events in the JSON part");
}

/// The one segment of a small license's snapshot: its chat count and where its bytes are in
/// the events section.
fn one_segment(snapshot: &[u8]) -> (u64, std::ops::Range<usize>) {
    let (_, events) = parts(snapshot);
    let mut segments = segments(&snapshot[events]);
    assert_eq!(segments.len(), 1, "a small license has one segment");
    segments.remove(0)
}

fn body_of_golden() -> Vec<u8> {
    body(&std::fs::read("tests/fixtures/snapshot_v1.snap").unwrap()).to_vec()
}

#[test]
fn a_second_definition_of_an_author_is_refused() {
    // Two events by the same customer: the first defines it as author 0, the second refers to
    // it. Rewriting the reference as a new definition of the same id must be refused, or one
    // engine would have two encodings.
    let mut engine = Engine::new(EngineConfig::with_seed(3));
    let jan = engine.create_customer();
    let out = engine
        .as_customer(&jan, at(1))
        .unwrap()
        .start_chat(
            StartChat::default()
                .with_event(NewEvent::message("a"))
                .with_event(NewEvent::message("b")),
        )
        .unwrap();
    assert_eq!(out.response.thread.events.len(), 2);
    let snapshot = engine.snapshot();
    let (json, events) = parts(&snapshot);
    let (chats, range) = one_segment(&snapshot);
    let (json, section) = (&snapshot[json], &snapshot[events][range]);
    let assemble = |json: &[u8], segment: &[u8]| {
        snapshot_support::assemble(json, &snapshot_support::section(&[(chats, segment)]))
    };
    let id = jan.to_string();
    // count, then event 1: head, author 0 + its id, text "a"; event 2: head, author 0, text "b".
    let first = 1 + 33 + 1 + 1 + id.len() + 2;
    assert_eq!(section.len(), first + 33 + 1 + 2);
    assert_eq!(&section[first + 33..], &[0, 1, b'b']);
    let mut twice = section[..first + 33].to_vec();
    twice.push(1);
    twice.push(id.len() as u8);
    twice.extend_from_slice(id.as_bytes());
    twice.extend_from_slice(&[1, b'b']);
    let reason = refusal(&assemble(json, &twice));
    assert!(reason.contains("defined twice"), "{reason}");
    // Referring to it is what the writer does, and reads back.
    assert_eq!(Engine::restore(&assemble(json, section)), Ok(engine));
}

/// Flips bits of the binary section one at a time, under a fresh checksum: every bit of every
/// byte, or with `one_per_byte` bit `i % 8` of byte `i`. Returns how many flips were refused
/// and how many read back.
fn flip_bits(
    engine: &Engine,
    one_per_byte: bool,
    mut check: impl FnMut(&[u8], Engine),
) -> (usize, usize) {
    let snapshot = engine.snapshot();
    let (json, section) = parts(&snapshot);
    let (json, section) = (&snapshot[json], &snapshot[section]);
    let (mut refused, mut read) = (0, 0);
    for i in 0..section.len() {
        let bits = if one_per_byte { i % 8..i % 8 + 1 } else { 0..8 };
        for bit in bits {
            let mut damaged = section.to_vec();
            damaged[i] ^= 1 << bit;
            let damaged = assemble(json, &damaged);
            match Engine::restore(&damaged) {
                Ok(restored) => {
                    read += 1;
                    check(&damaged, restored);
                }
                Err(JournalError::Corrupt { reason, .. }) => {
                    refused += 1;
                    assert!(!reason.contains("checksum"), "{reason}");
                }
                Err(other) => panic!("byte {i} bit {bit}: {other:?}"),
            }
        }
    }
    (refused, read)
}

#[test]
fn flipped_bits_in_plain_events_are_refused_or_read_exactly() {
    // With no JSON inside the section, every part has exactly one encoding, so whatever the
    // decoder accepts is what the writer would have written for the engine it read: no damage
    // is misread, skipped or half-read.
    let engine = plain_license();
    let (refused, read) = flip_bits(&engine, false, |damaged, restored| {
        assert!(restored != engine);
        assert_eq!(restored.snapshot(), damaged);
    });
    // Both outcomes happen: structure bits are refused, bits of ids, orders and text read as
    // other values.
    assert!(
        refused > 100 && read > 100,
        "{refused} refused, {read} read"
    );
}

#[test]
fn flipped_bits_anywhere_in_the_events_never_panic() {
    // With JSON inside (properties, the rarer kinds) a flip may land in a JSON key that the
    // derived readers skip or default; what restores must still be a whole engine that
    // round-trips again.
    let engine = sample_license();
    // One bit per byte (which bit moves along): every bit of this section takes a while.
    let (refused, read) = flip_bits(&engine, true, |_, restored| {
        let again = restored.snapshot();
        assert_eq!(Engine::restore(&again).as_ref(), Ok(&restored));
    });
    assert!(
        refused > 200 && read > 200,
        "{refused} refused, {read} read"
    );
}

/// A license large enough that its snapshot's events are cut into several segments (one per
/// 8 Ki events or so): 60 chats, some with a second thread, about 20 000 messages, customers
/// and agents taking turns. Built once and shared by the tests below.
fn large_license() -> &'static Engine {
    static LICENSE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    LICENSE.get_or_init(|| {
        let agents = [uid("anna@example.com"), uid("bob@example.com")];
        let mut engine = agents
            .iter()
            .fold(
                LicenseBuilder::new(EngineConfig::with_seed(11).max_chats_per_customer(None)),
                |license, agent| license.online_agent(Agent::new(agent.clone(), "Agent")),
            )
            .build();
        let mut chats = Vec::new();
        for i in 0..60 {
            let customer = engine.create_customer();
            let out = engine
                .as_customer(&customer, at(1))
                .unwrap()
                .start_chat(StartChat::default().with_event(NewEvent::message("Hello")))
                .unwrap();
            chats.push((customer, out.response.id, &agents[i % 2]));
        }
        for round in 0..333 {
            for (i, (customer, chat, agent)) in chats.iter().enumerate() {
                let now = at(2 + round);
                if round == 100 && i % 3 == 0 {
                    let _ = engine.as_agent(agent, now).unwrap().close_thread(*chat);
                }
                let _ = if round % 2 == 0 {
                    engine
                        .as_customer(customer, now)
                        .unwrap()
                        .send_event(*chat, NewEvent::message(format!("question {round}")))
                } else {
                    engine
                        .as_agent(agent, now)
                        .unwrap()
                        .send_event(*chat, NewEvent::message("An answer — ✓"))
                }
                .unwrap();
            }
        }
        engine
    })
}

#[test]
fn several_segments_round_trip_and_give_the_same_bytes() {
    let engine = large_license();
    let events = all_events(engine).count();
    assert!(events > 2 * 8 * 1024, "{events} events");
    assert!(engine.chats().iter().any(|c| c.threads.len() == 2));
    let snapshot = engine.snapshot();
    let (_, events) = parts(&snapshot);
    let segments = segments(&snapshot[events.clone()]);
    assert!(segments.len() >= 3, "{} segments", segments.len());
    assert!(
        segments
            .iter()
            .all(|(chats, bytes)| *chats > 0 && !bytes.is_empty())
    );
    let chats: u64 = segments.iter().map(|(chats, _)| chats).sum();
    assert_eq!(chats, engine.chats().len() as u64);
    assert_eq!(segments.last().unwrap().1.end, events.len());
    // Each segment numbers its authors afresh: both agents are defined in every segment.
    for (_, bytes) in &segments {
        let segment = &snapshot[events.clone()][bytes.clone()];
        let anna = b"anna@example.com";
        assert!(segment.windows(anna.len()).any(|w| w == anna));
    }

    let restored = Engine::restore(&snapshot).unwrap();
    assert!(restored == *engine, "restored engine differs");
    assert!(restored.snapshot() == snapshot, "same engine, same bytes");
    assert!(engine.snapshot() == snapshot, "same bytes twice");
    assert_eq!(reseal(2, body(&snapshot)), snapshot);
}

#[test]
fn the_threads_a_host_allows_change_nothing_in_the_bytes_or_the_engine() {
    let engine = large_license();
    let snapshot = engine.snapshot();
    for threads in [0, 1, 2, 3, 16] {
        let written = engine.snapshot_with(&Options::default().threads(threads));
        assert!(written == snapshot, "{threads} threads wrote other bytes");
        let restored =
            Engine::restore_with(&snapshot, &Options::default().threads(threads)).unwrap();
        assert!(
            restored == *engine,
            "{threads} threads restored another engine"
        );
    }
    // A refusal is the same whatever the threads: cut the last segment short.
    let cut = reseal(2, &body(&snapshot)[..body(&snapshot).len() - 3]);
    let one = Engine::restore_with(&cut, &Options::default().threads(1)).unwrap_err();
    let four = Engine::restore_with(&cut, &Options::default().threads(4)).unwrap_err();
    assert_eq!(one, four);
    assert!(matches!(one, JournalError::Corrupt { .. }), "{one}");
}

/// A segment table's entries: chat count and length.
type Entries = Vec<(u64, u64)>;

#[test]
fn a_damaged_segment_table_is_refused() {
    let snapshot = large_license().snapshot();
    let (json, events) = parts(&snapshot);
    let (json, events) = (&snapshot[json], &snapshot[events]);
    let segments = segments(events);
    let n = segments.len();
    let table_end = 4 + 16 * n;
    // The section with its table rewritten by `edit` (entries as chat count and length), the
    // segments' bytes left as they are, under a fresh checksum.
    let with_table = |edit: &dyn Fn(&mut Entries)| {
        let mut entries: Vec<(u64, u64)> = segments
            .iter()
            .map(|(chats, bytes)| (*chats, bytes.len() as u64))
            .collect();
        edit(&mut entries);
        let mut section = (entries.len() as u32).to_le_bytes().to_vec();
        for (chats, len) in &entries {
            section.extend_from_slice(&chats.to_le_bytes());
            section.extend_from_slice(&len.to_le_bytes());
        }
        section.extend_from_slice(&events[table_end..]);
        refusal(&assemble(json, &section))
    };
    let expect = |reason: String, part: &str| {
        assert!(reason.contains(part), "{reason:?} should mention {part:?}");
    };
    // Chat counts that do not add up to the chats of the JSON, one way or the other.
    expect(with_table(&|t| t[0].0 += 1), "past the");
    expect(with_table(&|t| t[n - 1].0 -= 1), "chats, the JSON has");
    expect(with_table(&|t| t[1].0 = u64::MAX), "past the");
    // Lengths past the end of the section, or short of it.
    expect(with_table(&|t| t[n - 1].1 += 1), "run past the end");
    expect(with_table(&|t| t[0].1 = u64::MAX), "run past the end");
    expect(
        with_table(&|t| t[n - 1].1 -= 1),
        "1 bytes follow the last segment",
    );
    // Lengths that add up but cut the first segment's last event short: the first segment's
    // error is the one reported, whichever thread read it.
    expect(
        with_table(&|t| {
            t[0].1 -= 5;
            t[1].1 += 5;
        }),
        "segment 0: ",
    );
    // A chat moved from one segment to the next, bytes unchanged: its threads' events are
    // read into the wrong chats, and the counts no longer match.
    expect(
        with_table(&|t| {
            t[0].0 -= 1;
            t[1].0 += 1;
        }),
        "segment ",
    );
    // No segments, or more than any writer makes; a table cut short.
    expect(with_table(&|t| t.clear()), "segment count 0");
    let mut many = events.to_vec();
    many[..4].copy_from_slice(&17u32.to_le_bytes());
    expect(refusal(&assemble(json, &many)), "segment count 17");
    expect(
        refusal(&assemble(json, &events[..table_end - 3])),
        "segment table",
    );
    // Segments swapped, table entries and all: every count and length holds, and each chat
    // has one thread here or two there, so the events may well fit other chats. Then the
    // bytes are those of another engine, caught by the checksum alone (resealed here); what
    // the reader must not do is misread them: it gives back exactly the engine they encode.
    let mut order: Vec<&(u64, std::ops::Range<usize>)> = segments.iter().collect();
    order.swap(0, 1);
    let swapped: Vec<(u64, &[u8])> = order
        .into_iter()
        .map(|(chats, bytes)| (*chats, &events[bytes.clone()]))
        .collect();
    let swapped = assemble(json, &section(&swapped));
    match Engine::restore(&swapped) {
        Ok(restored) => {
            assert!(restored != *large_license());
            assert!(restored.snapshot() == swapped, "misread");
        }
        Err(e) => assert!(matches!(e, JournalError::Corrupt { .. }), "{e}"),
    }

    // Damage in the last segment under the old header is a checksum mismatch.
    let mut damaged = snapshot.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 0x01;
    assert_eq!(refusal(&damaged), "checksum mismatch");
}

#[test]
fn counters_no_license_could_reach_are_refused() {
    let engine = sample_license();
    let snapshot = engine.snapshot();
    let (json, events) = parts(&snapshot);
    let state: serde_json::Value = serde_json::from_slice(&snapshot[json]).unwrap();
    for counter in ["next_order", "journal_seq", "assignment_seq", "queue_seq"] {
        let mut edited = state.clone();
        edited[counter] = serde_json::json!(u64::MAX);
        let reason = refusal(&assemble(
            &serde_json::to_vec(&edited).unwrap(),
            &snapshot[events.clone()],
        ));
        assert!(reason.contains(counter), "{reason}");
    }
    // The same snapshot, untouched, restores: the refusals above are the counters'.
    assert_eq!(Engine::restore(&snapshot).unwrap(), engine);
}
