//! The codec writes its messages straight to text and reads `send_event` in one pass. These
//! tests hold both to the general way, which is the definition of the wire format: a message's
//! text is what printing its `serde_json::Value` gives (keys sorted), and the one-pass reader
//! accepts only requests that the general reader reads the same.

use std::cell::Cell;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, TestRunner};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::actions::{self, Payload};
use super::render::{self, WireEvent, write_event};
use super::*;
use crate::model::{
    Button, ChatId, Customer, Event, EventId, EventKind, File, FormField, FormFieldKind,
    FormOption, NewEvent, Properties, PropertyValue, Recipients, RichElement, RichImage,
    RichMessage, Role, ThreadId, Timestamp, UserId,
};
use crate::push::{Push, PushKind};
use crate::routing::RoutingStatus;

const CHAT: &str = "9cebe8a6-d050-4d01-92a7-64fbdaa66d2c";

/// Strings that need escaping, or look as if they might.
const AWKWARD: [&str; 6] = [
    "plain",
    "quote \" backslash \\ slash /",
    "controls \u{0}\u{1}\u{8}\u{c}\n\r\t\u{1f}\u{7f}",
    "unicode é 中文 🎉 \u{2028}\u{2029}",
    "",
    "<script>&amp;</script>",
];

fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(0x0123_4567_89ab_4def_8123_4567_89ab_cdef ^ n)
}

fn uid(s: &str) -> UserId {
    UserId::new(s).unwrap()
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

fn event(n: u128, kind: EventKind) -> Event {
    Event {
        id: EventId::from_uuid(uuid(n)),
        custom_id: None,
        order: 1_000_000_000_000 + n as u64,
        author_id: Some(uid("anna@example.com")),
        timestamp: Timestamp::from_unix_seconds(1_700_000_000 + n as i64),
        recipients: Recipients::All,
        properties: Properties::new(),
        kind,
    }
}

/// Events of every kind, with and without each optional field.
fn events() -> Vec<Event> {
    let mut kinds = Vec::new();
    for text in AWKWARD {
        kinds.push(EventKind::Message { text: text.into() });
        kinds.push(EventKind::Annotation {
            text: text.into(),
            annotation_type: format!("rating {text}"),
        });
        kinds.push(EventKind::SystemMessage {
            text: text.into(),
            system_message_type: Some(format!("routing.{text}")),
        });
    }
    kinds.push(EventKind::SystemMessage {
        text: "joined".into(),
        system_message_type: None,
    });
    kinds.push(EventKind::FilledForm {
        fields: vec![
            FormField {
                name: "name".into(),
                label: "Your \"name\"".into(),
                required: true,
                kind: FormFieldKind::Text {
                    value: Some("Jan".into()),
                },
            },
            FormField {
                name: "topic".into(),
                label: String::new(),
                required: false,
                kind: FormFieldKind::Radio {
                    options: vec![FormOption {
                        label: "Orders".into(),
                        value: "orders".into(),
                        checked: true,
                    }],
                },
            },
            FormField {
                name: "title".into(),
                label: "Hello".into(),
                required: false,
                kind: FormFieldKind::Title,
            },
        ],
    });
    let file = File {
        name: "a \"b\".png".into(),
        url: "https://files.example.org/a?b=\"c\"".into(),
        content_type: "image/png".into(),
        size: 10 * 1024 * 1024,
        width: Some(640),
        height: Some(480),
    };
    kinds.push(EventKind::File(Box::new(file.clone())));
    kinds.push(EventKind::File(Box::new(File {
        width: None,
        height: None,
        content_type: "text/plain".into(),
        ..file.clone()
    })));
    kinds.push(EventKind::File(Box::new(File {
        width: Some(1),
        height: None,
        ..file
    })));
    let content = json!({"z": 1, "a": [1.5, -0.0, 1e300, -7, "s\""], "m": {"y": null, "b": false}});
    let Value::Object(content) = content else {
        unreachable!()
    };
    kinds.push(EventKind::Custom { content });
    kinds.push(EventKind::Custom {
        content: Map::new(),
    });
    kinds.push(EventKind::RichMessage(RichMessage {
        template_id: "cards".into(),
        elements: vec![RichElement {
            title: Some("Late \"parcel\"".into()),
            subtitle: None,
            image: Some(RichImage {
                url: "https://img.example.org/p.png".into(),
                width: Some(10),
                ..RichImage::default()
            }),
            buttons: vec![Button {
                text: "Refund".into(),
                postback_id: "want_refund".into(),
                user_ids: vec![uid("anna@example.com")],
            }],
        }],
    }));

    let properties = props(&[
        ("rating", "score", PropertyValue::Int(-3)),
        (
            "rating",
            "comment",
            PropertyValue::String("a \"b\"\n".into()),
        ),
        ("internal", "flag", PropertyValue::Bool(true)),
    ]);
    let mut out = Vec::new();
    for (n, kind) in kinds.into_iter().enumerate() {
        let n = n as u128;
        let plain = event(n, kind);
        out.push(Event {
            custom_id: Some(format!("c-{n} \"x\"\u{1}")),
            recipients: Recipients::Agents,
            properties: properties.clone(),
            ..plain.clone()
        });
        out.push(Event {
            author_id: None,
            timestamp: Timestamp::from_unix_seconds(-5),
            ..plain.clone()
        });
        out.push(Event {
            author_id: Some(UserId::from_uuid(uuid(77))),
            ..plain.clone()
        });
        out.push(Event {
            author_id: Some(uid("bob \"the\" <agent> é")),
            ..plain.clone()
        });
        out.push(plain);
    }
    out
}

fn event_text(e: &Event) -> String {
    let mut out = Vec::new();
    write_event(&mut out, e);
    String::from_utf8(out).unwrap()
}

#[test]
fn events_are_written_as_their_value_prints() {
    for e in events() {
        let expected = render::event(&e).to_string();
        assert_eq!(event_text(&e), expected, "{e:?}");
        assert_eq!(
            serde_json::to_string(&WireEvent(&e)).unwrap(),
            expected,
            "{e:?}"
        );
    }
}

/// The response as the codec used to build it: a `Value` object, printed.
fn value_response(request_id: Option<&str>, action: &str, success: bool, payload: Value) -> String {
    let mut m = Map::new();
    if let Some(id) = request_id {
        m.insert("request_id".into(), json!(id));
    }
    m.insert("action".into(), json!(action));
    m.insert("type".into(), json!("response"));
    m.insert("success".into(), json!(success));
    m.insert("payload".into(), payload);
    Value::Object(m).to_string()
}

fn value_push(kind: &PushKind, api: Api) -> String {
    json!({
        "action": kind.action(),
        "type": "push",
        "payload": render::push_payload(kind, api),
    })
    .to_string()
}

#[test]
fn responses_are_written_as_their_value_prints() {
    let thread_id = ThreadId::from_uuid(uuid(9));
    let requests = [None, Some("7"), Some("r \"1\"\n é")];
    let actions_ = ["send_event", "a \"b\"\u{1}", ""];
    for e in events().into_iter().take(40) {
        let event = Arc::new(e);
        for url in [None, Some("https://x.example.org/\"f\"".to_string())] {
            let mut expected = json!({"thread_id": thread_id, "event": render::event(&event)});
            if let Some(url) = &url {
                expected["url"] = json!(url);
            }
            for request_id in requests {
                let payload = Payload::Event {
                    thread_id,
                    event: Arc::clone(&event),
                    url: url.clone(),
                };
                let got = reply(request_id, "send_event", Ok((payload, Vec::new())));
                let want = value_response(request_id, "send_event", true, expected.clone());
                assert_eq!(got.response, want);
                assert!(got.success && got.pushes.is_empty());
            }
        }
    }
    for request_id in requests {
        for action in actions_ {
            let value = json!({"b": [1, {"z": null, "a": "x"}], "a": "\"q\""});
            let got = reply(
                request_id,
                action,
                Ok((Payload::Json(value.clone()), Vec::new())),
            );
            assert_eq!(
                got.response,
                value_response(request_id, action, true, value)
            );
            assert_eq!(got.action, action);
            let got = reply(request_id, action, Ok((Payload::Empty, Vec::new())));
            assert_eq!(
                got.response,
                value_response(request_id, action, true, json!({}))
            );

            let err = Error::InvalidField {
                field: "request",
                reason: "bad \"thing\"\n".into(),
            };
            let got = reply(request_id, action, Err(err.clone()));
            assert!(!got.success);
            let want = value_response(request_id, action, false, error_payload(&err));
            assert_eq!(got.response, want);
            assert_eq!(error_reply(request_id, action, &err).response, want);
            assert_eq!(
                error_text(
                    request_id,
                    action,
                    ErrorKind::Authentication,
                    "who \"are\" you"
                ),
                value_response(
                    request_id,
                    action,
                    false,
                    json!({"error": {"type": "authentication", "message": "who \"are\" you"}})
                )
            );
        }
    }
}

/// A sample of push kinds: `incoming_event` (written by hand) and some of the others (their
/// payload is a `Value`, the message around it is written by hand).
fn push_kinds() -> Vec<PushKind> {
    let chat_id = ChatId::from_uuid(uuid(1));
    let thread_id = ThreadId::from_uuid(uuid(2));
    let mut kinds: Vec<PushKind> = events()
        .into_iter()
        .map(|e| PushKind::IncomingEvent {
            chat_id,
            thread_id,
            event: Arc::new(e),
        })
        .collect();
    kinds.extend([
        PushKind::ThreadClosed {
            chat_id,
            thread_id,
            user_id: None,
        },
        PushKind::ThreadClosed {
            chat_id,
            thread_id,
            user_id: Some(uid("anna@example.com")),
        },
        PushKind::CustomerDisconnected {
            reason: "customer_banned \"x\"".into(),
        },
        PushKind::AgentUpdated {
            agent_id: uid("anna@example.com"),
            routing_status: RoutingStatus::NotAcceptingChats,
        },
        PushKind::IncomingMulticast {
            author_id: uid("anna@example.com"),
            content: json!({"z": [1, 2.5], "a": "b"}),
        },
        PushKind::CustomerUpdated {
            chat_id,
            customer: Box::new(
                Customer::new(UserId::from_uuid(uuid(3)))
                    .with_name("Jan \"J\"")
                    .with_email("jan@example.com"),
            ),
        },
        PushKind::ChatPropertiesUpdated {
            chat_id,
            properties: props(&[("source", "type", PropertyValue::String("widget".into()))]),
        },
    ]);
    kinds
}

#[test]
fn pushes_are_written_as_their_value_prints() {
    for kind in push_kinds() {
        for (api, role) in [(Api::Agent, Role::Agent), (Api::Customer, Role::Customer)] {
            let want = value_push(&kind, api);
            assert_eq!(push_text(&kind, api), want, "{kind:?}");
            let push = Push {
                to: UserIds::one(uid("anna@example.com")),
                role,
                kind: kind.clone(),
            };
            let wire = encode_push(&push);
            assert_eq!(wire.text, want);
            assert_eq!(wire.action, kind.action());
            assert_eq!(wire.to, push.to);
        }
    }
}

/// `incoming_event` texts are shared only between pushes of the same event allocation, and each
/// is what rendering its own push gives; a customer's view that leaves something out gets its
/// own text, without it.
#[test]
fn pushes_share_text_only_for_the_same_event() {
    let chat_id = ChatId::from_uuid(uuid(1));
    let thread_id = ThreadId::from_uuid(uuid(2));
    let stored = Arc::new(Event {
        properties: props(&[
            ("internal", "flag", PropertyValue::Bool(true)),
            ("rating", "score", PropertyValue::Int(4)),
        ]),
        ..event(1, EventKind::Message { text: "hi".into() })
    });
    let customer_view = Arc::new(Event {
        properties: props(&[("rating", "score", PropertyValue::Int(4))]),
        ..Event::clone(&stored)
    });
    let equal_copy = Arc::new(Event::clone(&stored));
    let push = |role: Role, event: &Arc<Event>| Push {
        to: UserIds::one(uid(match role {
            Role::Agent => "anna@example.com",
            Role::Customer => "jan",
        })),
        role,
        kind: PushKind::IncomingEvent {
            chat_id,
            thread_id,
            event: Arc::clone(event),
        },
    };
    let cases = [
        vec![push(Role::Agent, &stored), push(Role::Customer, &stored)],
        vec![
            push(Role::Agent, &stored),
            push(Role::Customer, &customer_view),
        ],
        vec![
            push(Role::Customer, &customer_view),
            push(Role::Agent, &stored),
        ],
        vec![
            push(Role::Agent, &stored),
            push(Role::Customer, &equal_copy),
        ],
        vec![
            push(Role::Agent, &stored),
            Push {
                to: UserIds::one(uid("jan")),
                role: Role::Customer,
                kind: PushKind::ThreadClosed {
                    chat_id,
                    thread_id,
                    user_id: None,
                },
            },
            push(Role::Customer, &stored),
        ],
    ];
    let response_text = event_text(&stored);
    for pushes in cases {
        for shared in [
            None,
            Some((&stored, response_text.as_str())),
            Some((&customer_view, "{\"unused\":0}")),
        ] {
            // The response's text is only used for its own event.
            let shared = shared.filter(|(e, text)| event_text(e) == *text);
            let wire = encode_pushes(&pushes, shared);
            assert_eq!(wire.len(), pushes.len());
            for (w, p) in wire.iter().zip(&pushes) {
                assert_eq!(w.text, value_push(&p.kind, Api::of(p.role)));
                assert_eq!(w.to, p.to);
                if let PushKind::IncomingEvent { event, .. } = &p.kind {
                    if Arc::ptr_eq(event, &customer_view) {
                        assert!(!w.text.contains("internal"), "{}", w.text);
                    }
                }
            }
        }
    }
}

// ----- reading send_event in one pass -----

/// A `send_event` request as the general way reads it: request id, chat and event.
fn general(text: &str) -> Option<(Option<String>, ChatId, NewEvent)> {
    let envelope = read_envelope(text).ok()?;
    if &*envelope.action.0 != "send_event" || envelope.author_id.is_some() {
        return None;
    }
    let (chat, event) = actions::general_send_event_payload(envelope.payload_text()).ok()?;
    Some((envelope.request_id.map(|s| s.0.into_owned()), chat, event))
}

/// The same request read in one pass, if that pass takes it.
fn plain(text: &str) -> Option<(Option<String>, ChatId, NewEvent)> {
    let request = serde_json::from_str::<PlainSendEvent<'_>>(text).ok()?;
    let (chat, event) = request.payload.into_parts()?;
    Some((request.request_id.map(|s| s.0.into_owned()), chat, event))
}

/// What the one-pass readers take, the general way reads the same; returns whether they took
/// it. The payload alone is checked too (as `dispatch` reads it).
fn check(text: &str) -> Result<bool, String> {
    if let Ok(envelope) = read_envelope(text) {
        let payload = envelope.payload_text();
        if let Some(fast) = actions::plain_send_event_payload(payload) {
            let slow = actions::general_send_event_payload(payload)
                .map_err(|e| format!("payload {payload}: the general way fails: {e}"))?;
            if fast != slow {
                return Err(format!("payload {payload}: {fast:?} != {slow:?}"));
            }
        }
    }
    let Some(fast) = plain(text) else {
        return Ok(false);
    };
    match general(text) {
        Some(slow) if slow == fast => Ok(true),
        other => Err(format!("{text}: one pass {fast:?}, general {other:?}")),
    }
}

#[test]
fn one_pass_reading_agrees_with_the_general_way() {
    let taken = [
        format!(
            r#"{{"request_id":"7","action":"send_event","payload":{{"chat_id":"{CHAT}","event":{{"type":"message","text":"hi"}}}}}}"#
        ),
        format!(
            r#" {{ "action" : "send_event" , "x":[1e999,{{}}], "payload" : {{ "event" : {{ "text" : "a\"b\u00e9" , "type" : "message", "custom_id": null, "recipients": "agents", "properties": {{"rating": {{"score": {{"value": 3}}, "comment": "c"}}}} }} , "chat_id" : "{CHAT}", "y": 1 }}, "request_id": null }} "#
        ),
        format!(
            r#"{{"action":"send_event","payload":{{"chat_id":"{}","event":{{"type":"message","text":"x","custom_id":"c\u0001","recipients":null,"properties":null}}}},"request_id":"\ud83c\udf89"}}"#,
            CHAT.to_uppercase()
        ),
    ];
    for text in &taken {
        assert_eq!(check(text), Ok(true), "{text}");
    }
    // The general way reads these (or refuses them with its own message).
    let declined = [
        format!(
            r#"{{"request_id":"7","payload":{{"chat_id":"{CHAT}","event":{{"type":"message","text":"x"}}}},"action":"send_event"}}"#
        ),
        format!(
            r#"{{"action":"send_event","payload":{{"chat_id":"{CHAT}","event":{{"type":"message","text":"a","text":"b"}}}}}}"#
        ),
        format!(
            r#"{{"action":"send_event","payload":{{"chat_id":"{CHAT}","event":{{"type":0,"text":"x"}}}}}}"#
        ),
        format!(
            r#"{{"action":"send_event","payload":{{"chat_id":"{CHAT}","event":{{"type":"message","text":"x","extra":1}}}}}}"#
        ),
        format!(
            r#"{{"action":"send_event","payload":{{"chat_id":"{CHAT}","event":{{"type":"message","text":"x","recipients":{{"agents":null}}}}}}}}"#
        ),
        format!(
            r#"{{"action":"send_event","payload":{{"chat_id":"{CHAT}","event":{{"type":"message","t\u0065xt":"x"}}}}}}"#
        ),
        format!(
            r#"{{"action":"send_event","payload":{{"chat_id":"{CHAT}","event":{{"type":"message","text":"x","properties":{{"rating":{{"score":1.5}}}}}}}}}}"#
        ),
        format!(
            r#"{{"action":"send_event","author_id":null,"payload":{{"chat_id":"{CHAT}","event":{{"type":"message","text":"x"}}}}}}"#
        ),
        format!(
            r#"{{"action":"send_event","payload":{{"chat_id":"{CHAT}","chat_id":"{CHAT}","event":{{"type":"message","text":"x"}}}}}}"#
        ),
        format!(
            r#"{{"action":"send_event","payload":[{{"chat_id":"{CHAT}","event":{{"type":"message","text":"x"}}}}]}}"#
        ),
        format!(
            r#"{{"action":"send_event","payload":["{CHAT}",{{"type":"message","text":"x"}}]}}"#
        ),
        format!(
            r#"[{{"action":"send_event","payload":{{"chat_id":"{CHAT}","event":{{"type":"message","text":"x"}}}}}}]"#
        ),
        r#"{"action":"send_event","payload":null}"#.to_string(),
        r#"{"action":"ping","payload":{}}"#.to_string(),
        format!(
            r#"{{"request_id":7,"action":"send_event","payload":{{"chat_id":"{CHAT}","event":{{"type":"message","text":"x"}}}}}}"#
        ),
    ];
    for text in &declined {
        assert_eq!(check(text), Ok(false), "{text}");
    }
}

/// Pools of keys and values from which requests are put together at random: each key with
/// its chance of being there, and its values, the first (the usual one) the likeliest. Keys come
/// in any order and sometimes twice. The one-pass readers must never take a request that the
/// general way reads differently.
type Pool = &'static [(&'static str, f64, &'static [&'static str])];

const EVENT_PARTS: Pool = &[
    (
        "type",
        0.95,
        &[
            r#""message""#,
            r#""m\u0065ssage""#,
            "0",
            r#""annotation""#,
            "null",
        ],
    ),
    (
        "text",
        0.95,
        &[r#""hi""#, r#""a\nb\u00e9 \"q\"""#, r#""""#, "5", "null"],
    ),
    ("custom_id", 0.3, &[r#""c""#, "null", "3", r#""\u0001""#]),
    (
        "recipients",
        0.3,
        &[
            r#""agents""#,
            r#""all""#,
            "null",
            r#"{"agents":null}"#,
            r#""nobody""#,
            r#""\u0061ll""#,
        ],
    ),
    (
        "properties",
        0.4,
        &[
            r#"{"rating":{"score":3}}"#,
            r#"{"rating":{"score":{"value":99},"comment":{"value":"x"}}}"#,
            "{}",
            "null",
            r#"{"rating":null}"#,
            r#"{"r":{"a":1.5}}"#,
            r#"{"r":{"a":{"value":"x","other":1}}}"#,
            r#"{"r":{"a":true,"a":"b"}}"#,
            r#"{"r":{"a":1e999}}"#,
            "[]",
        ],
    ),
    ("annotation_type", 0.05, &[r#""rating""#]),
    ("t\\u0065xt", 0.05, &[r#""esc""#]),
    ("zzz", 0.05, &["1", "1e999", "[{}]"]),
];

/// An empty value list stands for the nested object (the event, the payload).
const PAYLOAD_PARTS: Pool = &[
    (
        "chat_id",
        0.95,
        &[
            r#""9cebe8a6-d050-4d01-92a7-64fbdaa66d2c""#,
            r#""9CEBE8A6-D050-4D01-92A7-64FBDAA66D2C""#,
            r#""nope""#,
            "null",
            "5",
        ],
    ),
    ("event", 0.95, &[]),
    (
        "chat\\u005fid",
        0.05,
        &[r#""9cebe8a6-d050-4d01-92a7-64fbdaa66d2c""#],
    ),
    ("x", 0.2, &["1e999", "{}", "null"]),
];

const REQUEST_PARTS: Pool = &[
    (
        "request_id",
        0.8,
        &[r#""r1""#, "null", "7", r#""e\u0073c""#, "{}"],
    ),
    (
        "action",
        0.95,
        &[
            r#""send_event""#,
            r#""send\u005fevent""#,
            r#""ping""#,
            "null",
        ],
    ),
    ("payload", 0.95, &[]),
    ("author_id", 0.05, &["null", r#""anna@example.com""#]),
    ("act\\u0069on", 0.05, &[r#""send_event""#]),
    ("extra", 0.2, &["1", "1e999", r#"[1,{"a":2}]"#]),
];

/// An object made from `pool`, with `nested` for the values of keys without a value list.
fn object(pool: Pool, nested: BoxedStrategy<String>) -> BoxedStrategy<String> {
    let parts: Vec<BoxedStrategy<Vec<(u32, String)>>> = pool
        .iter()
        .map(|&(key, chance, values)| {
            let value = if values.is_empty() {
                nested.clone()
            } else {
                prop_oneof![6 => Just(0usize), 1 => 0..values.len()]
                    .prop_map(move |v| values[v].to_string())
                    .boxed()
            };
            // Each entry gets a random sort key: sorting by it shuffles the object's keys.
            let entry = (any::<u32>(), value)
                .prop_map(move |(at, value)| (at, format!("\"{key}\":{value}")));
            let count = prop_oneof![
                ((1.0 - chance) * 100.0) as u32 + 1 => Just(0usize),
                (chance * 100.0) as u32 + 1 => Just(1usize),
                3 => Just(2usize),
            ];
            (count, prop::collection::vec(entry, 2))
                .prop_map(|(count, mut entries)| {
                    entries.truncate(count);
                    entries
                })
                .boxed()
        })
        .collect();
    parts
        .prop_map(|parts| {
            let mut entries = parts.concat();
            entries.sort();
            let entries: Vec<String> = entries.into_iter().map(|(_, e)| e).collect();
            format!("{{{}}}", entries.join(","))
        })
        .boxed()
}

/// Requests whose parts are mostly right, so that many are taken in one pass.
fn requests() -> BoxedStrategy<String> {
    let event = prop_oneof![
        8 => object(EVENT_PARTS, Just(String::new()).boxed()),
        1 => Just("null".to_string()),
    ]
    .boxed();
    let payload = prop_oneof![8 => object(PAYLOAD_PARTS, event), 1 => Just("null".to_string())];
    object(REQUEST_PARTS, payload.boxed())
}

#[test]
fn one_pass_reading_agrees_with_the_general_way_on_random_requests() {
    let cases = crate::proptest_cases(2_000);
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        // ChaCha, the default, is slow unoptimized; this test draws many numbers per case.
        rng_algorithm: RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    });
    let taken = Cell::new(0u32);
    runner
        .run(&requests(), |text| {
            if check(&text).map_err(TestCaseError::fail)? {
                taken.set(taken.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    // The pools make a plain send_event often enough for the check to mean something.
    eprintln!("taken {} of {cases}", taken.get());
    assert!(
        taken.get() >= cases / 20,
        "only {} of {cases} taken",
        taken.get()
    );
}
