//! Shared fixture and builders for the integration tests.
//!
//! Not every test file uses every helper.
#![allow(dead_code)]

use std::fmt::Debug;
use std::sync::Arc;

use chatio::model::{
    Access, Button, FormField, FormFieldKind, FormOption, GroupId, Location, LocationAccess,
    PropertyConfig, RichElement, RichMessage,
};
use chatio::routing::Router;
use chatio::{
    Agent, ChatId, Customer, Engine, EngineConfig, Error, ErrorKind, EventId, EventKind, File,
    NewEvent, Push, PushKind, Role, StartChat, ThreadId, Timestamp, UserId,
};

/// The fixed start of every scenario (2023-11-14T22:13:20Z).
pub const T0: i64 = 1_700_000_000;

/// `T0 + secs`.
pub fn at(secs: i64) -> Timestamp {
    Timestamp::from_unix_seconds(T0 + secs)
}

/// How many cases a property test runs: `CHATIO_PROPTEST_CASES` if set, else `default`.
pub fn proptest_cases(default: u32) -> u32 {
    std::env::var("CHATIO_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

pub fn uid(s: &str) -> UserId {
    UserId::new(s).expect("valid user id")
}

/// Builds the license a test starts from: its configuration, properties, router, agents
/// (optionally online) and customers, each added as a host would and expected to succeed.
///
/// ```ignore
/// let engine = LicenseBuilder::new(EngineConfig::with_seed(5))
///     .router(AutomaticRouter::default())
///     .online_agent(Agent::new(uid("anna@example.com"), "Anna"))
///     .build();
/// ```
pub struct LicenseBuilder {
    engine: Engine,
}

impl LicenseBuilder {
    pub fn new(config: EngineConfig) -> Self {
        Self {
            engine: Engine::new(config),
        }
    }

    pub fn router(mut self, router: impl Router + 'static) -> Self {
        self.engine = self.engine.with_router(router);
        self
    }

    /// A router shared with the caller, set as a host sets one on a running engine.
    pub fn set_router(mut self, router: Arc<dyn Router>) -> Self {
        self.engine.set_router(router);
        self
    }

    pub fn property(mut self, config: PropertyConfig) -> Self {
        self.engine
            .configure_property(config)
            .expect("property configured");
        self
    }

    /// A property that agents and customers may both read and write where it lives.
    pub fn shared_property(self, config: PropertyConfig, at: &[Location]) -> Self {
        let config = at.iter().fold(config, |config, &location| {
            config.at(location, read_write())
        });
        self.property(config)
    }

    pub fn agent(mut self, agent: Agent) -> Self {
        self.engine.add_agent(agent).expect("agent added");
        self
    }

    /// An agent, connected at [`T0`]: connecting it gives it no chat, since there is none yet.
    pub fn online_agent(self, agent: Agent) -> Self {
        self.online_agent_at(agent, at(0))
    }

    /// An agent, connected at `t`, with no chat to take.
    pub fn online_agent_at(mut self, agent: Agent, t: Timestamp) -> Self {
        let id = agent.id.clone();
        self = self.agent(agent);
        let online = self.engine.set_agent_presence(&id, true, t);
        assert!(online.expect("agent connected").pushes.is_empty());
        self
    }

    pub fn customer(mut self, customer: Customer) -> Self {
        self.engine.add_customer(customer).expect("customer added");
        self
    }

    pub fn build(self) -> Engine {
        self.engine
    }
}

/// Read and write access for agents and customers alike.
pub fn read_write() -> LocationAccess {
    LocationAccess {
        agent: Access::READ_WRITE,
        customer: Access::READ_WRITE,
    }
}

/// Agents `(id, name, max_chats, group)` for [`LicenseBuilder::online_agent`], in that order, with
/// their ids.
pub fn staff(agents: &[(&str, &str, u32, u32)]) -> Vec<Agent> {
    agents
        .iter()
        .map(|&(id, name, max, group)| {
            Agent::new(uid(id), name)
                .with_max_chats(max)
                .with_groups([GroupId(group)])
        })
        .collect()
}

/// An engine with two agents and two customers.
///
/// * Anna (`anna@example.com`) is in group 1, Bob (`bob@example.com`) in group 2.
/// * Jan (`customer-jan`, name "Jan") and Eva (`customer-eva`, name "Eva").
pub struct Fixture {
    pub engine: Engine,
    pub anna: UserId,
    pub bob: UserId,
    pub jan: UserId,
    pub eva: UserId,
}

impl Fixture {
    pub fn new() -> Self {
        Self::with_config(EngineConfig::with_seed(42))
    }

    pub fn with_config(config: EngineConfig) -> Self {
        let anna = uid("anna@example.com");
        let bob = uid("bob@example.com");
        let jan = uid("customer-jan");
        let eva = uid("customer-eva");
        let engine = LicenseBuilder::new(config)
            .agent(Agent::new(anna.clone(), "Anna").with_groups([GroupId(1)]))
            .agent(Agent::new(bob.clone(), "Bob").with_groups([GroupId(2)]))
            .customer(Customer::new(jan.clone()).with_name("Jan"))
            .customer(Customer::new(eva.clone()).with_name("Eva"))
            .build();
        Self {
            engine,
            anna,
            bob,
            jan,
            eva,
        }
    }

    /// `(anna, bob, jan, eva)`, cloned, so closures can borrow them while the engine is
    /// borrowed mutably.
    pub fn ids(&self) -> (UserId, UserId, UserId, UserId) {
        (
            self.anna.clone(),
            self.bob.clone(),
            self.jan.clone(),
            self.eva.clone(),
        )
    }

    /// Both agents, in registration order (the default agent audience of a chat).
    pub fn agents(&self) -> Vec<UserId> {
        vec![self.anna.clone(), self.bob.clone()]
    }

    /// `customer` starts a chat with one message at `t`; returns the chat and its first thread.
    pub fn customer_chat(
        &mut self,
        customer: &UserId,
        text: &str,
        t: Timestamp,
    ) -> (ChatId, ThreadId) {
        let out = self
            .engine
            .as_customer(customer, t)
            .unwrap()
            .start_chat(StartChat::default().with_event(NewEvent::message(text)))
            .unwrap();
        (out.response.id, out.response.thread.id)
    }

    /// Closes the chat's active thread as Anna at `t`.
    /// Closes the chat's active thread as its customer (so no `manual_archived` message is
    /// written), or as Anna for a chat without one.
    pub fn close(&mut self, chat: ChatId, t: Timestamp) {
        let customer = self.engine.chat(&chat).and_then(|c| c.customer_id.clone());
        let _ = match customer {
            Some(c) => self.engine.as_customer(&c, t).unwrap().close_thread(chat),
            None => {
                let anna = self.anna.clone();
                self.engine.as_agent(&anna, t).unwrap().close_thread(chat)
            }
        }
        .unwrap();
    }
}

/// Runs a request that must be refused: checks the error kind and that the engine is exactly as
/// it was before the call. Returns the error for further checks.
pub fn assert_rejected<T: Debug>(
    engine: &mut Engine,
    kind: ErrorKind,
    request: impl FnOnce(&mut Engine) -> Result<T, Error>,
) -> Error {
    let before = engine.clone();
    let err = match request(engine) {
        Ok(v) => panic!("expected a {kind:?} error, got Ok({v:?})"),
        Err(e) => e,
    };
    assert_eq!(err.kind(), kind, "unexpected error kind for {err}");
    assert!(
        *engine == before,
        "a refused request changed the engine: {err}"
    );
    err
}

/// The actions of a list of pushes, in order.
pub fn actions(pushes: &[Push]) -> Vec<&'static str> {
    pushes.iter().map(Push::action).collect()
}

/// The recipients and role of each push, in order.
pub fn audiences(pushes: &[Push]) -> Vec<(Vec<UserId>, Role)> {
    pushes.iter().map(|p| (p.to.to_vec(), p.role)).collect()
}

/// Every user who receives at least one of the pushes.
pub fn everyone_told(pushes: &[Push]) -> Vec<UserId> {
    let mut all: Vec<UserId> = pushes.iter().flat_map(|p| p.to.iter().cloned()).collect();
    all.sort();
    all.dedup();
    all
}

/// The single push addressed to users of `role`.
pub fn push_for(pushes: &[Push], role: Role) -> &Push {
    let mut matching = pushes.iter().filter(|p| p.role == role);
    let push = matching.next().expect("a push for the role");
    assert!(matching.next().is_none(), "more than one push for {role:?}");
    push
}

/// The text of a message or system message.
pub fn text_of(kind: &EventKind) -> &str {
    match kind {
        EventKind::Message { text }
        | EventKind::SystemMessage { text, .. }
        | EventKind::Annotation { text, .. } => text,
        other => panic!("no text in {other:?}"),
    }
}

/// The chat and thread a push is about, for pushes that name both.
pub fn chat_and_thread(push: &Push) -> (ChatId, ThreadId) {
    match &push.kind {
        PushKind::IncomingChatThread { chat } => (chat.id, chat.thread.id),
        PushKind::IncomingEvent {
            chat_id, thread_id, ..
        }
        | PushKind::ThreadClosed {
            chat_id, thread_id, ..
        }
        | PushKind::IncomingRichMessagePostback {
            chat_id, thread_id, ..
        } => (*chat_id, *thread_id),
        other => panic!("no thread in {other:?}"),
    }
}

pub fn button(text: &str, postback_id: &str) -> Button {
    Button {
        text: text.into(),
        postback_id: postback_id.into(),
        user_ids: Vec::new(),
    }
}

/// A rich message with `elements` cards of `buttons` buttons each (postbacks `b0`, `b1`, ...,
/// shared across cards).
pub fn rich(elements: usize, buttons: usize) -> RichMessage {
    RichMessage {
        template_id: "cards".into(),
        elements: (0..elements)
            .map(|e| RichElement {
                title: Some(format!("card {e}")),
                buttons: (0..buttons)
                    .map(|b| button(&format!("button {b}"), &format!("b{b}")))
                    .collect(),
                ..RichElement::default()
            })
            .collect(),
    }
}

pub fn rich_event(elements: usize, buttons: usize) -> NewEvent {
    NewEvent::new(EventKind::RichMessage(rich(elements, buttons)))
}

pub fn png(size: u64) -> File {
    File {
        name: "photo.png".into(),
        url: "https://files.example.com/photo.png".into(),
        content_type: "image/png".into(),
        size,
        width: Some(640),
        height: Some(480),
    }
}

pub fn pdf(size: u64) -> File {
    File {
        name: "invoice.pdf".into(),
        url: "https://files.example.com/invoice.pdf".into(),
        content_type: "application/pdf".into(),
        size,
        width: None,
        height: None,
    }
}

pub fn text_field(name: &str, required: bool, value: Option<&str>) -> FormField {
    FormField {
        name: name.into(),
        label: name.into(),
        required,
        kind: FormFieldKind::Text {
            value: value.map(Into::into),
        },
    }
}

/// A pre-chat form: a required name, an optional e-mail, a required radio.
pub fn prechat_form(name: Option<&str>) -> NewEvent {
    NewEvent::new(EventKind::FilledForm {
        fields: vec![
            text_field("name", true, name),
            FormField {
                name: "email".into(),
                label: "Your e-mail".into(),
                required: false,
                kind: FormFieldKind::Email { value: None },
            },
            FormField {
                name: "purpose".into(),
                label: "Chat purpose".into(),
                required: true,
                kind: FormFieldKind::Radio {
                    options: vec![
                        FormOption {
                            label: "Support".into(),
                            value: "support".into(),
                            checked: true,
                        },
                        FormOption {
                            label: "Sale".into(),
                            value: "sale".into(),
                            checked: false,
                        },
                    ],
                },
            },
        ],
    })
}

/// A custom event with `{"key": value}`.
pub fn custom_event(key: &str, value: serde_json::Value) -> NewEvent {
    let mut content = serde_json::Map::new();
    content.insert(key.into(), value);
    NewEvent::custom(content)
}

/// Events that every `send_event` and `start_chat` refuses, with the field each error names.
pub fn invalid_events() -> Vec<(&'static str, NewEvent, &'static str)> {
    let mut no_template = rich(1, 1);
    no_template.template_id = " ".into();
    let mut no_postback = rich(1, 1);
    no_postback.elements[0].buttons[0].postback_id = String::new();
    let duplicate_names = NewEvent::new(EventKind::FilledForm {
        fields: vec![
            text_field("name", false, None),
            text_field("name", false, None),
        ],
    });
    let bad_email = NewEvent::new(EventKind::FilledForm {
        fields: vec![FormField {
            name: "email".into(),
            label: "Your e-mail".into(),
            required: true,
            kind: FormFieldKind::Email {
                value: Some("not an address".into()),
            },
        }],
    });
    let unchecked_radio = NewEvent::new(EventKind::FilledForm {
        fields: vec![FormField {
            name: "purpose".into(),
            label: "Purpose".into(),
            required: true,
            kind: FormFieldKind::Radio {
                options: vec![FormOption {
                    label: "Support".into(),
                    value: "support".into(),
                    checked: false,
                }],
            },
        }],
    });
    vec![
        ("empty message text", NewEvent::message(""), "event.text"),
        (
            "blank message text",
            NewEvent::message("  \n"),
            "event.text",
        ),
        (
            "annotation without annotation_type",
            NewEvent::annotation("5 stars", ""),
            "event.annotation_type",
        ),
        (
            "filled form with a required field without value",
            prechat_form(None),
            "event.fields.value",
        ),
        (
            "filled form with a required field with a blank value",
            prechat_form(Some(" ")),
            "event.fields.value",
        ),
        (
            "filled form without fields",
            NewEvent::new(EventKind::FilledForm { fields: vec![] }),
            "event.fields",
        ),
        (
            "filled form with a field twice",
            duplicate_names,
            "event.fields.name",
        ),
        (
            "filled form with a malformed e-mail",
            bad_email,
            "event.fields.value",
        ),
        (
            "filled form with a required radio unchecked",
            unchecked_radio,
            "event.fields.options",
        ),
        (
            "rich message with 0 elements",
            rich_event(0, 1),
            "event.elements",
        ),
        (
            "rich message with 11 elements",
            rich_event(11, 1),
            "event.elements",
        ),
        (
            "rich message with 11 buttons",
            rich_event(1, 11),
            "event.elements.buttons",
        ),
        (
            "rich message without template_id",
            NewEvent::new(EventKind::RichMessage(no_template)),
            "event.template_id",
        ),
        (
            "rich message button without postback_id",
            NewEvent::new(EventKind::RichMessage(no_postback)),
            "event.elements.buttons.postback_id",
        ),
        (
            "system message without text",
            NewEvent::system_message("", "info"),
            "event.text",
        ),
        (
            "empty custom_id",
            NewEvent::message("hi").with_custom_id(""),
            "event.custom_id",
        ),
        (
            "custom_id over 256 bytes",
            NewEvent::message("hi").with_custom_id("x".repeat(257)),
            "event.custom_id",
        ),
        (
            "file over 10 MB",
            NewEvent::new(EventKind::File(Box::new(png(10 * 1024 * 1024 + 1)))),
            "file.size",
        ),
        (
            "file with width on a non-image",
            NewEvent::new(EventKind::File(Box::new(File {
                width: Some(100),
                ..pdf(1000)
            }))),
            "file.width",
        ),
    ]
}

/// Checks that `err` is an `InvalidField` naming `field`.
pub fn assert_invalid_field(err: &Error, field: &str, label: &str) {
    match err {
        Error::InvalidField { field: f, .. } => assert_eq!(*f, field, "{label}: {err}"),
        other => panic!("{label}: expected InvalidField({field}), got {other:?}"),
    }
}

/// An id no chat has.
pub fn unknown_chat() -> ChatId {
    "0affb00a-82d6-4e07-ae61-56ba5c36f743".parse().unwrap()
}

/// An id no thread has.
pub fn unknown_thread() -> ThreadId {
    "22222222-2222-4333-8444-555555555555".parse().unwrap()
}

/// An id no event has.
pub fn unknown_event() -> EventId {
    "33333333-2222-4333-8444-555555555555".parse().unwrap()
}

/// A license of `agents` ([`staff`]) online and accepting chats, in registration order, with
/// their ids.
pub fn staffed(
    license: LicenseBuilder,
    agents: &[(&str, &str, u32, u32)],
) -> (Engine, Vec<UserId>) {
    let staff = staff(agents);
    let ids = staff.iter().map(|a| a.id.clone()).collect();
    let engine = staff
        .into_iter()
        .fold(license, LicenseBuilder::online_agent)
        .build();
    (engine, ids)
}
