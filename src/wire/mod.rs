//! The chat.io v0.5 JSON protocol: text in, text out, no sockets.
//!
//! A host that serves real clients reads a frame (RTM) or a body (Web API), knows who sent it
//! (it did the login) and when, and calls [`handle`]. It gets back the response text for the
//! sender and the pushes, each with its recipients and its text in the shape of their API.
//!
//! ```
//! use chatio::wire::{Api, handle};
//! use chatio::{Agent, Engine, Timestamp, UserId};
//!
//! let mut engine = Engine::default();
//! let anna = UserId::new("anna@example.com")?;
//! engine.add_agent(Agent::new(anna.clone(), "Anna"))?;
//! let jan = engine.create_customer();
//! let now = Timestamp::from_unix_seconds(1_700_000_000);
//!
//! let reply = handle(&mut engine, Api::Customer, &jan, now,
//!     r#"{"request_id":"1","action":"start_chat","payload":{"chat":{"thread":{"events":[{"type":"message","text":"Hi!"}]}}}}"#);
//! assert!(reply.response.contains(r#""success":true"#));
//! assert_eq!(reply.pushes[0].action, "incoming_chat_thread");
//! assert_eq!(reply.pushes[0].to, vec![anna]);
//!
//! let bad = handle(&mut engine, Api::Customer, &jan, now, r#"{"request_id":"2","action":"fly"}"#);
//! assert!(bad.response.contains(r#""type":"validation""#));
//! # Ok::<(), chatio::Error>(())
//! ```
//!
//! Decisions where the references leave room:
//! * Unknown fields are ignored; an unknown action, malformed JSON or a field of the wrong type
//!   is a `validation` error response, echoing the `request_id` whenever one could be read.
//! * Property values are accepted wrapped (`{"value": v}`) or bare, and always sent wrapped.
//! * Pushes carry no `request_id`.
//! * `author_id` acts on behalf of a bot agent owned by the requester ([`Agent::owner_id`](crate::Agent)).
//! * The customer's `update_last_seen_timestamp` takes an optional `chat_id`, defaulting to the
//!   customer's latest chat; `send_file` takes the stored file's metadata in its payload.

mod actions;
mod render;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::engine::Engine;
use crate::error::{Error, ErrorKind};
use crate::model::{Role, Timestamp, UserId};
use crate::push::Push;
use crate::user_ids::UserIds;

/// Which API a connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Api {
    /// The Agent API.
    Agent,
    /// The Customer API.
    Customer,
}

impl Api {
    /// The API whose users have this role.
    pub fn of(role: Role) -> Self {
        match role {
            Role::Agent => Api::Agent,
            Role::Customer => Api::Customer,
        }
    }
}

/// One push, rendered for its recipients' API.
#[derive(Clone, Debug, PartialEq)]
pub struct WirePush {
    /// Who gets it.
    pub to: UserIds,
    /// The push action, e.g. `incoming_event`.
    pub action: &'static str,
    /// The whole push message as JSON text.
    pub text: String,
}

/// What [`handle`] returns.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// The response message for the sender, as JSON text.
    pub response: String,
    /// The action the response answers (`""` when none could be read).
    pub action: String,
    /// Whether the request succeeded.
    pub success: bool,
    /// The pushes the request caused.
    pub pushes: Vec<WirePush>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default)]
    request_id: Option<String>,
    action: String,
    #[serde(default, borrow)]
    payload: Option<&'a RawValue>,
    #[serde(default)]
    author_id: Option<String>,
}

/// Handles one request message from `user` (already authenticated by the host) on `api`.
pub fn handle(engine: &mut Engine, api: Api, user: &UserId, now: Timestamp, text: &str) -> Reply {
    // serde would also read a struct from a JSON array; the protocol's messages are objects.
    let is_object = |t: &str| t.trim_start().starts_with('{');
    let parsed = if is_object(text) {
        serde_json::from_str::<Envelope<'_>>(text)
            .map_err(|e| e.to_string())
            .and_then(|e| match e.payload {
                Some(p) if !is_object(p.get()) && p.get().trim() != "null" => {
                    Err("payload must be an object".to_string())
                }
                _ => Ok(e),
            })
    } else {
        Err("a request must be a JSON object".to_string())
    };
    let envelope: Envelope<'_> = match parsed {
        Ok(e) => e,
        Err(e) => {
            let (request_id, action) = salvage(text);
            let err = Error::InvalidField {
                field: "request",
                reason: e,
            };
            return error_reply(request_id.as_deref(), &action, &err);
        }
    };
    let payload = envelope.payload.map_or("{}", RawValue::get);
    let payload = if payload.trim() == "null" {
        "{}"
    } else {
        payload
    };
    let author = match envelope.author_id.as_deref() {
        None => Ok(user.clone()),
        Some(author) => actions::bot_author(engine, api, user, author),
    };
    let result = author
        .and_then(|author| actions::dispatch(engine, api, &author, now, &envelope.action, payload));
    match result {
        Ok((payload, pushes)) => Reply {
            response: response_text(
                envelope.request_id.as_deref(),
                &envelope.action,
                true,
                payload,
            ),
            action: envelope.action,
            success: true,
            pushes: pushes.iter().map(encode_push).collect(),
        },
        Err(err) => error_reply(envelope.request_id.as_deref(), &envelope.action, &err),
    }
}

/// Renders a push for its recipients' API.
pub fn encode_push(push: &Push) -> WirePush {
    let api = Api::of(push.role);
    let action = push.action();
    let text = json!({
        "action": action,
        "type": "push",
        "payload": render::push_payload(&push.kind, api),
    })
    .to_string();
    WirePush {
        to: push.to.clone(),
        action,
        text,
    }
}

/// The error response for a request that failed before or during handling.
pub fn error_reply(request_id: Option<&str>, action: &str, err: &Error) -> Reply {
    Reply {
        response: response_text(request_id, action, false, error_payload(err)),
        action: action.to_string(),
        success: false,
        pushes: Vec::new(),
    }
}

/// The error payload `{"error": {"type", "message"}}`.
pub fn error_payload(err: &Error) -> Value {
    json!({ "error": { "type": err.kind().as_str(), "message": err.to_string() } })
}

/// An error response of a given type, for errors the host detects itself (authentication,
/// unsupported version).
pub fn error_text(
    request_id: Option<&str>,
    action: &str,
    kind: ErrorKind,
    message: &str,
) -> String {
    let payload = json!({ "error": { "type": kind.as_str(), "message": message } });
    response_text(request_id, action, false, payload)
}

fn response_text(request_id: Option<&str>, action: &str, success: bool, payload: Value) -> String {
    let mut m = serde_json::Map::new();
    if let Some(id) = request_id {
        m.insert("request_id".into(), json!(id));
    }
    m.insert("action".into(), json!(action));
    m.insert("type".into(), json!("response"));
    m.insert("success".into(), json!(success));
    m.insert("payload".into(), payload);
    Value::Object(m).to_string()
}

/// What can be read of a request that did not parse: its `request_id` and `action`, if the text
/// is a JSON object at all.
fn salvage(text: &str) -> (Option<String>, String) {
    let Ok(Value::Object(m)) = serde_json::from_str::<Value>(text) else {
        return (None, String::new());
    };
    let request_id = match m.get("request_id") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let action = m
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    (request_id, action)
}
