//! Text hygiene (issue 20): names, e-mail addresses and other labels refuse control characters,
//! line breaks and bidirectional controls, with a `validation` error naming the field; free
//! text (messages and the like) keeps tabs, line breaks and bidirectional controls and refuses
//! the other control characters. A refusal changes nothing.

use crate::common;

use chatio::model::{Location, PropertyConfig, PropertyType};
use chatio::wire::{self, Api};
use chatio::{Agent, Customer, CustomerUpdate, ErrorKind, EventKind, NewEvent, StartChat};
use common::*;

/// Strings a label must refuse: a control character, a line break, each bidirectional control.
const BAD_LABELS: [&str; 8] = [
    "Anna\u{0}",
    "Anna\nSmith",
    "Anna\u{1b}[31m",
    "\u{202E}annA",
    "Anna\u{202A}",
    "Anna\u{2066}x\u{2069}",
    "Anna\u{2028}",
    "Anna\u{85}",
];

fn field_of(err: &chatio::Error) -> &'static str {
    match err {
        chatio::Error::InvalidField { field, .. } => field,
        other => panic!("not an invalid field: {other}"),
    }
}

#[test]
fn agent_names_emails_and_avatars_refuse_controls_and_bidi_overrides() {
    let mut f = Fixture::new();
    for bad in BAD_LABELS {
        let id = uid("zed@example.com");
        let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
            e.add_agent(Agent::new(id.clone(), bad))
        });
        assert_eq!(field_of(&err), "agent.name", "{bad:?}");
        let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
            e.add_agent(Agent::new(id.clone(), "Zed").with_email(format!("zed{bad}@example.com")))
        });
        assert_eq!(field_of(&err), "agent.email");
        let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
            e.add_agent(Agent::new(id.clone(), "Zed").with_avatar(format!("https://x/{bad}")))
        });
        assert_eq!(field_of(&err), "agent.avatar");
        let anna = f.anna.clone();
        let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
            e.update_agent_profile(Agent::new(anna, bad), at(0))
        });
        assert_eq!(field_of(&err), "agent.name");
    }
    // Every script, right-to-left marks and emoji joiners are names.
    for (i, good) in ["Zoë Ångström", "מרים\u{200F}", "李小龍", "👩\u{200D}💻 Kim"]
        .into_iter()
        .enumerate()
    {
        let id = uid(&format!("agent{i}@example.com"));
        f.engine.add_agent(Agent::new(id, good)).unwrap();
    }
}

#[test]
fn customer_names_emails_field_keys_and_pages_refuse_controls_and_bidi_overrides() {
    let mut f = Fixture::new();
    let jan = f.jan.clone();
    for bad in BAD_LABELS {
        let updates = [
            (
                CustomerUpdate {
                    name: Some(bad.into()),
                    ..CustomerUpdate::default()
                },
                "customer.name",
            ),
            (
                CustomerUpdate {
                    email: Some(format!("jan{bad}@example.com")),
                    ..CustomerUpdate::default()
                },
                "customer.email",
            ),
            (
                CustomerUpdate {
                    fields: [(bad.to_owned(), "1".to_owned())].into(),
                    ..CustomerUpdate::default()
                },
                "customer.fields",
            ),
            (
                CustomerUpdate {
                    current_page: Some(chatio::model::Page {
                        url: None,
                        title: Some(bad.into()),
                    }),
                    ..CustomerUpdate::default()
                },
                "customer.monitoring.page.title",
            ),
        ];
        for (update, field) in updates {
            let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
                e.as_customer(&jan, at(0))?.update_customer(update)
            });
            assert_eq!(field_of(&err), field, "{bad:?}");
            assert!(err.to_string().contains("U+"), "{err}");
        }
        let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
            e.add_customer(Customer::new(uid("customer-zed")).with_name(bad))
        });
        assert_eq!(field_of(&err), "customer.name");
    }
    // Over-long names and addresses are refused too.
    let long = "n".repeat(chatio::model::MAX_NAME_LEN + 1);
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_customer(&jan, at(0))?.update_customer(CustomerUpdate {
            name: Some(long),
            ..CustomerUpdate::default()
        })
    });
    assert_eq!(field_of(&err), "customer.name");
    // A field's value is free text: line breaks pass, an escape does not.
    let ok = f
        .engine
        .as_customer(&jan, at(1))
        .unwrap()
        .update_customer(CustomerUpdate {
            name: Some("Jan Kowalski".into()),
            fields: [("note".to_owned(), "line one\nline two".to_owned())].into(),
            ..CustomerUpdate::default()
        });
    assert!(ok.is_ok());
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_customer(&jan, at(2))?.update_customer(CustomerUpdate {
            fields: [("note".to_owned(), "\u{1b}[2J".to_owned())].into(),
            ..CustomerUpdate::default()
        })
    });
    assert_eq!(field_of(&err), "customer.fields");
}

#[test]
fn customer_login_details_are_checked_on_the_wire_too() {
    let mut f = Fixture::new();
    let jan = f.jan.clone();
    let before = f.engine.clone();
    let reply = wire::handle(
        &mut f.engine,
        Api::Customer,
        &jan,
        at(0),
        r#"{"request_id":"1","action":"login","payload":{"customer":{"name":"\u202Enaj"}}}"#,
    );
    assert!(
        reply.response.contains(r#""type":"validation""#),
        "{}",
        reply.response
    );
    assert!(
        reply.response.contains("customer.name"),
        "{}",
        reply.response
    );
    assert!(f.engine == before);
}

#[test]
fn messages_keep_line_breaks_tabs_and_bidi_text_but_not_other_controls() {
    let mut f = Fixture::new();
    let (anna, _, jan, _) = f.ids();
    let (chat, _) = f.customer_chat(&jan, "hello", at(0));
    for good in [
        "line one\nline two\r\n\tindented",
        "\u{202B}שלום\u{202C} and \u{2067}مرحبا\u{2069}",
        "£5 ½ ©",
    ] {
        let sent = f
            .engine
            .as_customer(&jan, at(1))
            .unwrap()
            .send_event(chat, NewEvent::message(good))
            .unwrap();
        assert!(matches!(&sent.response.event.kind, EventKind::Message { text } if text == good));
    }
    for bad in ["nul\u{0}", "esc\u{1b}[2J", "c1\u{9b}m", "del\u{7f}"] {
        let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
            e.as_customer(&jan, at(2))?
                .send_event(chat, NewEvent::message(bad))
        });
        assert_eq!(field_of(&err), "event.text", "{bad:?}");
        let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
            e.as_agent(&anna, at(2))?
                .send_event(chat, NewEvent::annotation(bad, "note"))
        });
        assert_eq!(field_of(&err), "event.text", "{bad:?}");
    }
}

#[test]
fn event_labels_refuse_controls_and_bidi_overrides() {
    let mut f = Fixture::new();
    let (anna, _, jan, _) = f.ids();
    let (chat, _) = f.customer_chat(&jan, "hello", at(0));
    let mut form = prechat_form(Some("Jan"));
    if let EventKind::FilledForm { fields } = &mut form.kind {
        fields[0].label = "Your \u{202E}eman".into();
    }
    let mut rich = rich_event(1, 1);
    if let EventKind::RichMessage(r) = &mut rich.kind {
        r.elements[0].buttons[0].postback_id = "yes\u{0}".into();
    }
    let cases = [
        (
            NewEvent::annotation("5", "rating\u{202E}"),
            "event.annotation_type",
        ),
        (
            NewEvent::system_message("hi", "x\ny"),
            "event.system_message_type",
        ),
        (form, "event.fields.label"),
        (rich, "event.elements.buttons.postback_id"),
    ];
    for (event, field) in cases {
        let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
            e.as_agent(&anna, at(1))?.send_event(chat, event)
        });
        assert_eq!(field_of(&err), field);
    }
    let mut file = png(10);
    file.name = "photo\u{202E}gnp.exe".into();
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_customer(&jan, at(1))?.send_file(chat, None, file)
    });
    assert_eq!(field_of(&err), "file.name");
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_customer(&jan, at(1))?
            .start_chat(StartChat::default().with_event(NewEvent::message("a\u{0}")))
    });
    assert_eq!(field_of(&err), "event.text");
}

#[test]
fn property_names_refuse_controls_and_bidi_overrides() {
    let mut f = Fixture::new();
    let config = PropertyConfig::new("crm", "no\u{202E}te", PropertyType::String).at(
        Location::Chat,
        chatio::model::LocationAccess {
            agent: chatio::model::Access::READ_WRITE,
            customer: chatio::model::Access::NONE,
        },
    );
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.configure_property(config)
    });
    assert_eq!(field_of(&err), "property.name");
}
