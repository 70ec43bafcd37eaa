//! Every action of both APIs: parse the payload, call the facade, render the response.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, Visitor};
use serde_json::{Value, json};

use super::{Api, render};
use crate::engine::{
    AgentCommand, AutoScopeRules, CustomerCommand, Engine, Output, Response, TransferTarget,
};
use crate::error::Error;
use crate::model::{
    AgentKind, ChatId, Event, EventId, EventKind, File, GroupId, NewEvent, Page, Properties,
    PropertyValue, Recipients, Scopes, ThreadId, Timestamp, UserId,
};
use crate::model::{CustomerUpdate, MulticastScopes, Pagination, StartChat};
use crate::push::{Postback, Push};
use crate::query::{
    self, ArchiveFilters, ArchivesPagination, ChatFilters, ChatThreads, ChatsPagination,
};
use crate::routing::RoutingStatus;

/// A response payload, as an action leaves it for [`super::handle`] to write.
pub(super) enum Payload {
    /// `{}`.
    Empty,
    /// Any other payload.
    Json(Value),
    /// `send_event` and `send_file`: `{"event", "thread_id"}`, and `url` for a file. Kept
    /// apart so that the event is rendered once, for the response and the pushes alike.
    Event {
        thread_id: ThreadId,
        event: Arc<Event>,
        url: Option<String>,
    },
}

type Handled = Result<(Payload, Vec<Push>), Error>;

fn parse<T: DeserializeOwned>(payload: &str) -> Result<T, Error> {
    serde_json::from_str(payload).map_err(|e| Error::InvalidField {
        field: "payload",
        reason: e.to_string(),
    })
}

fn empty() -> Payload {
    Payload::Empty
}

/// The author a request with `author_id` acts as: a bot agent the requester owns.
pub(super) fn bot_author(
    engine: &Engine,
    api: Api,
    requester: &UserId,
    author: &str,
) -> Result<UserId, Error> {
    let author = UserId::new(author)?;
    let owned_bot = engine
        .agent(&author)
        .is_some_and(|a| a.kind == AgentKind::Bot && a.owner_id.as_ref() == Some(requester));
    if api == Api::Agent && owned_bot {
        Ok(author)
    } else {
        Err(Error::NotAllowed {
            user_id: requester.clone(),
            action: "act as another author",
            reason: format!("{author} is not a bot agent owned by the requester"),
        })
    }
}

/// Property values as requests carry them: bare or wrapped in `{"value": v}`.
fn properties(raw: Option<BTreeMap<String, BTreeMap<String, Value>>>) -> Result<Properties, Error> {
    let mut out = Properties::new();
    for (namespace, values) in raw.unwrap_or_default() {
        for (name, value) in values {
            let value = match value {
                Value::Object(mut m) if m.len() == 1 && m.contains_key("value") => {
                    m.remove("value").unwrap_or(Value::Null)
                }
                other => other,
            };
            let value = match value {
                Value::Bool(b) => PropertyValue::Bool(b),
                Value::String(s) => PropertyValue::String(s),
                Value::Number(n) => n
                    .as_i64()
                    .and_then(|i| i32::try_from(i).ok())
                    .map(PropertyValue::Int)
                    .ok_or_else(|| Error::InvalidProperty {
                        reason: format!("{namespace}.{name}: {n} is not a 32-bit integer"),
                    })?,
                other => {
                    return Err(Error::InvalidProperty {
                        reason: format!(
                            "{namespace}.{name}: {other} is not an int, bool or string"
                        ),
                    });
                }
            };
            out.entry(namespace.clone())
                .or_default()
                .insert(name, value);
        }
    }
    Ok(out)
}

type RawProperties = Option<BTreeMap<String, BTreeMap<String, Value>>>;

/// An event object from a request.
fn new_event(value: Value) -> Result<NewEvent, Error> {
    #[derive(Deserialize)]
    struct Common {
        #[serde(default)]
        custom_id: Option<String>,
        #[serde(default)]
        recipients: Option<Recipients>,
        #[serde(default)]
        properties: RawProperties,
    }
    let common: Common =
        serde_json::from_value(value.clone()).map_err(|e| Error::InvalidField {
            field: "event",
            reason: e.to_string(),
        })?;
    let kind: EventKind = serde_json::from_value(value).map_err(|e| Error::InvalidField {
        field: "event",
        reason: e.to_string(),
    })?;
    Ok(NewEvent {
        custom_id: common.custom_id,
        recipients: common.recipients.unwrap_or_default(),
        properties: properties(common.properties)?,
        kind,
    })
}

/// `send_event`'s payload: the chat and the event.
///
/// A plain `message` event is read in one pass ([`PlainMessage`]); anything that pass does not
/// take (another kind, another key, a repeated key, any error) is read again the general way,
/// through a `Value`, which also gives the error message. For every input the first pass
/// accepts, the general way accepts it too and gives the same `NewEvent`.
fn send_event_payload(payload: &str) -> Result<(ChatId, NewEvent), Error> {
    match plain_send_event_payload(payload) {
        Some(parts) => Ok(parts),
        None => general_send_event_payload(payload),
    }
}

/// `send_event`'s payload if it holds a plain message, read in one pass.
pub(super) fn plain_send_event_payload(payload: &str) -> Option<(ChatId, NewEvent)> {
    serde_json::from_str::<SendMessage>(payload)
        .ok()?
        .into_parts()
}

/// `send_event`'s payload read the general way, with the error messages.
pub(super) fn general_send_event_payload(payload: &str) -> Result<(ChatId, NewEvent), Error> {
    let p: SendEvent = parse(payload)?;
    Ok((p.chat_id, new_event(p.event)?))
}

/// [`SendEvent`] with a [`PlainMessage`] for the event. Like the derived `Deserialize` of
/// `SendEvent` it skips unknown keys; unlike it, it takes only an object (not an array), refuses
/// repeated and escaped keys, and gives no useful error message: its caller falls back to
/// `SendEvent` on any error.
pub(super) struct SendMessage {
    chat_id: ChatId,
    event: PlainMessage,
}

impl SendMessage {
    /// The chat and the event, or `None` if the event's properties are not valid (the general
    /// way says why).
    pub(super) fn into_parts(self) -> Option<(ChatId, NewEvent)> {
        Some((self.chat_id, self.event.into_new_event().ok()?))
    }
}

impl<'de> Deserialize<'de> for SendMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SendVisitor;

        impl<'de> Visitor<'de> for SendVisitor {
            type Value = SendMessage;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a send_event payload")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SendMessage, A::Error> {
                let other = || de::Error::custom("not a plain send_event payload");
                let mut chat_id = None;
                let mut event = None;
                while let Some(key) = map.next_key::<&'de str>()? {
                    match key {
                        "chat_id" if chat_id.is_none() => chat_id = Some(map.next_value()?),
                        "event" if event.is_none() => event = Some(map.next_value()?),
                        "chat_id" | "event" => return Err(other()),
                        _ => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                }
                match (chat_id, event) {
                    (Some(chat_id), Some(event)) => Ok(SendMessage { chat_id, event }),
                    _ => Err(other()),
                }
            }
        }

        deserializer.deserialize_map(SendVisitor)
    }
}

/// A `message` event whose keys are only `type`, `text`, `custom_id`, `recipients` and
/// `properties`, each at most once, with `type`, `recipients` and keys unescaped strings.
/// Each value is read as [`new_event`] reads it (`properties` values as `Value`s, so no
/// nesting or number is accepted that reading the event into a `Value` would refuse).
struct PlainMessage {
    text: String,
    custom_id: Option<String>,
    recipients: Option<Recipients>,
    properties: RawProperties,
}

impl PlainMessage {
    fn into_new_event(self) -> Result<NewEvent, Error> {
        Ok(NewEvent {
            custom_id: self.custom_id,
            recipients: self.recipients.unwrap_or_default(),
            properties: properties(self.properties)?,
            kind: EventKind::Message { text: self.text },
        })
    }
}

impl<'de> Deserialize<'de> for PlainMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PlainVisitor;

        impl<'de> Visitor<'de> for PlainVisitor {
            type Value = PlainMessage;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a plain message event")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PlainMessage, A::Error> {
                let other = || de::Error::custom("not a plain message event");
                let mut is_message = false;
                let mut text = None;
                let mut custom_id = None;
                let mut recipients = None;
                let mut properties = None;
                while let Some(key) = map.next_key::<&'de str>()? {
                    match key {
                        "type" if !is_message => {
                            if map.next_value::<&'de str>()? != "message" {
                                return Err(other());
                            }
                            is_message = true;
                        }
                        "text" if text.is_none() => text = Some(map.next_value::<String>()?),
                        "custom_id" if custom_id.is_none() => {
                            custom_id = Some(map.next_value::<Option<String>>()?);
                        }
                        "recipients" if recipients.is_none() => {
                            recipients = Some(match map.next_value::<Option<&'de str>>()? {
                                None => None,
                                Some("all") => Some(Recipients::All),
                                Some("agents") => Some(Recipients::Agents),
                                Some(_) => return Err(other()),
                            });
                        }
                        "properties" if properties.is_none() => {
                            properties = Some(map.next_value::<RawProperties>()?);
                        }
                        _ => return Err(other()),
                    }
                }
                match (is_message, text) {
                    (true, Some(text)) => Ok(PlainMessage {
                        text,
                        custom_id: custom_id.flatten(),
                        recipients: recipients.flatten(),
                        properties: properties.flatten(),
                    }),
                    _ => Err(other()),
                }
            }
        }

        deserializer.deserialize_map(PlainVisitor)
    }
}

#[derive(Deserialize)]
struct ChatIdOnly {
    chat_id: ChatId,
}

#[derive(Deserialize)]
struct SendEvent {
    chat_id: ChatId,
    event: Value,
}

#[derive(Deserialize)]
struct GetThreads {
    chat_id: ChatId,
    #[serde(default)]
    thread_ids: Vec<ThreadId>,
}

#[derive(Deserialize)]
struct ThreadsSummary {
    chat_id: ChatId,
    #[serde(default)]
    offset: Option<u32>,
    #[serde(default)]
    limit: Option<u32>,
}

#[derive(Deserialize, Default)]
struct StartThread {
    #[serde(default)]
    events: Vec<Value>,
    #[serde(default)]
    properties: RawProperties,
}

#[derive(Deserialize, Default)]
struct StartChatBody {
    #[serde(default)]
    scopes: Option<Scopes>,
    #[serde(default)]
    properties: RawProperties,
    #[serde(default)]
    thread: Option<StartThread>,
}

#[derive(Deserialize)]
struct StartChatPayload {
    #[serde(default)]
    chat: Option<StartChatBody>,
    #[serde(default)]
    customer_id: Option<UserId>,
}

fn start_chat(body: Option<StartChatBody>) -> Result<StartChat, Error> {
    let body = body.unwrap_or_default();
    let thread = body.thread.unwrap_or_default();
    Ok(StartChat {
        scopes: body.scopes.unwrap_or_default(),
        properties: properties(body.properties)?,
        thread_properties: properties(thread.properties)?,
        events: thread
            .events
            .into_iter()
            .map(new_event)
            .collect::<Result<_, _>>()?,
    })
}

#[derive(Deserialize)]
struct Members {
    chat_id: ChatId,
    #[serde(default)]
    agent_ids: Vec<UserId>,
    #[serde(default)]
    customer_ids: Vec<UserId>,
}

#[derive(Deserialize)]
struct PostbackPayload {
    chat_id: ChatId,
    thread_id: ThreadId,
    event_id: EventId,
    postback: Postback,
}

#[derive(Deserialize)]
struct Typing {
    chat_id: ChatId,
    #[serde(default)]
    recipients: Option<Recipients>,
    is_typing: bool,
}

#[derive(Deserialize)]
struct Ban {
    customer_id: UserId,
    ban: BanDays,
}

#[derive(Deserialize)]
struct BanDays {
    days: u32,
}

#[derive(Deserialize)]
struct ScopesUpdate {
    chat_id: ChatId,
    #[serde(default)]
    add_scopes: Scopes,
    #[serde(default)]
    remove_scopes: Scopes,
}

#[derive(Deserialize)]
struct UpdateAgent {
    #[serde(default)]
    agent_id: Option<UserId>,
    #[serde(default)]
    routing_status: Option<RoutingStatus>,
}

#[derive(Deserialize)]
struct ChatProperties {
    chat_id: ChatId,
    properties: RawProperties,
}

#[derive(Deserialize)]
struct ThreadProperties {
    chat_id: ChatId,
    thread_id: ThreadId,
    properties: RawProperties,
}

#[derive(Deserialize)]
struct LastSeen {
    #[serde(default)]
    chat_id: Option<ChatId>,
    #[serde(default)]
    timestamp: Option<Timestamp>,
}

#[derive(Deserialize)]
struct AutoScopesAdd {
    scopes: Scopes,
    #[serde(default)]
    rules: AutoScopeRules,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
struct AutoScopesRemove {
    auto_chat_scopes_id: String,
}

#[derive(Deserialize)]
struct GetArchives {
    #[serde(default)]
    filters: ArchiveFilters,
    #[serde(default)]
    pagination: ArchivesPagination,
}

#[derive(Deserialize)]
struct Filtered {
    #[serde(default)]
    filters: ChatFilters,
    #[serde(default)]
    pagination: ChatsPagination,
}

#[derive(Deserialize)]
struct Transfer {
    chat_id: ChatId,
    target: TransferTo,
}

#[derive(Deserialize)]
struct TransferTo {
    #[serde(rename = "type")]
    kind: String,
    ids: Vec<Value>,
}

#[derive(Deserialize, Default)]
struct MulticastAgents {
    #[serde(default)]
    all: bool,
    #[serde(default)]
    ids: Vec<UserId>,
    #[serde(default)]
    groups: Vec<GroupId>,
}

#[derive(Deserialize, Default)]
struct MulticastCustomers {
    #[serde(default)]
    ids: Vec<UserId>,
}

#[derive(Deserialize, Default)]
struct MulticastTargets {
    #[serde(default)]
    agents: MulticastAgents,
    #[serde(default)]
    customers: MulticastCustomers,
}

#[derive(Deserialize)]
struct Multicast {
    scopes: MulticastTargets,
    content: Value,
}

#[derive(Deserialize)]
struct ChatsSummary {
    #[serde(default)]
    offset: Option<u32>,
    #[serde(default)]
    limit: Option<u32>,
}

#[derive(Deserialize)]
struct SendFile {
    chat_id: ChatId,
    #[serde(default)]
    custom_id: Option<String>,
    file: File,
}

#[derive(Deserialize)]
struct SneakPeek {
    chat_id: ChatId,
    sneak_peek_text: String,
}

#[derive(Deserialize)]
struct CustomerTyping {
    chat_id: ChatId,
    is_typing: bool,
}

#[derive(Deserialize, Default)]
struct Monitoring {
    #[serde(default)]
    page: Option<MonitoredPage>,
    #[serde(default)]
    timezone: Option<String>,
}

/// `customer.monitoring.page`: the page, and where the visit came from.
#[derive(Deserialize)]
struct MonitoredPage {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    referrer: Option<String>,
}

#[derive(Deserialize, Default)]
struct CustomerFields {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    fields: BTreeMap<String, String>,
    #[serde(default)]
    monitoring: Monitoring,
}

impl CustomerFields {
    /// Whether no detail is given: nothing for a login to apply.
    fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.email.is_none()
            && self.fields.is_empty()
            && self.monitoring.page.is_none()
            && self.monitoring.timezone.is_none()
    }

    /// The details as the facade's `update_customer` takes them.
    fn into_update(self) -> CustomerUpdate {
        let (current_page, referrer) = match self.monitoring.page {
            // A page object with only a referrer reports where the visit came from, not a page.
            Some(MonitoredPage {
                url: None,
                title: None,
                referrer: Some(referrer),
            }) => (None, Some(referrer)),
            Some(MonitoredPage {
                url,
                title,
                referrer,
            }) => (Some(Page { url, title }), referrer),
            None => (None, None),
        };
        CustomerUpdate {
            name: self.name,
            email: self.email,
            fields: self.fields,
            current_page,
            referrer,
            timezone: self.monitoring.timezone,
        }
    }
}

#[derive(Deserialize)]
struct UpdateCustomer {
    #[serde(default)]
    customer: CustomerFields,
}

/// The customer's `login` payload. The token is the host's business (it authenticated the
/// connection); the optional details are those `update_customer` takes.
#[derive(Deserialize)]
struct CustomerLogin {
    #[serde(default)]
    customer: Option<CustomerFields>,
}

/// `change_push_notifications`' payload, read loosely so that each check can name its field.
#[derive(Deserialize)]
struct PushNotifications {
    #[serde(default)]
    firebase_token: Option<Value>,
    #[serde(default)]
    platform: Option<Value>,
    #[serde(default)]
    enabled: Option<Value>,
}

/// Checks a `change_push_notifications` payload: `firebase_token` a non-empty string,
/// `platform` `ios` or `android`, `enabled` a boolean, all required. A valid request changes
/// nothing: the library sends no push notifications and keeps no devices (sending them is the
/// host's business), so it only acknowledges.
fn push_notifications(payload: &str) -> Result<(), Error> {
    let p: PushNotifications = parse(payload)?;
    match p.firebase_token {
        Some(Value::String(token)) if !token.trim().is_empty() => {}
        _ => {
            return Err(Error::InvalidField {
                field: "firebase_token",
                reason: "required: a non-empty string".into(),
            });
        }
    }
    match p.platform {
        Some(Value::String(platform)) if matches!(platform.as_str(), "ios" | "android") => {}
        _ => {
            return Err(Error::InvalidField {
                field: "platform",
                reason: "required: \"ios\" or \"android\"".into(),
            });
        }
    }
    match p.enabled {
        Some(Value::Bool(_)) => Ok(()),
        _ => Err(Error::InvalidField {
            field: "enabled",
            reason: "required: a boolean".into(),
        }),
    }
}

fn unknown(action: &str) -> Error {
    Error::InvalidField {
        field: "action",
        reason: format!("unknown action {action:?}"),
    }
}

/// `send_event` as `author`, for a request read in one pass (see `super::PlainSendEvent`):
/// what [`dispatch`] does for `send_event` once its payload is read.
pub(super) fn send_event(
    engine: &mut Engine,
    api: Api,
    author: &UserId,
    now: Timestamp,
    chat_id: ChatId,
    event: NewEvent,
) -> Handled {
    // The typed facade method, not `execute`: the hot path skips the command and `Response`.
    let out = match api {
        Api::Agent => engine.as_agent(author, now)?.send_event(chat_id, event)?,
        Api::Customer => engine
            .as_customer(author, now)?
            .send_event(chat_id, event)?,
    };
    let payload = Payload::Event {
        thread_id: out.response.thread_id,
        event: out.response.event,
        url: None,
    };
    Ok((payload, out.pushes))
}

/// Runs one action as `author`.
pub(super) fn dispatch(
    engine: &mut Engine,
    api: Api,
    author: &UserId,
    now: Timestamp,
    action: &str,
    payload: &str,
    archive: &mut dyn super::ArchiveStore,
) -> Handled {
    if action == "ping" {
        return Ok((empty(), Vec::new()));
    }
    match api {
        Api::Agent => agent(engine, author, now, action, payload, archive),
        Api::Customer => customer(engine, author, now, action, payload, archive),
    }
}

/// A command's response as the protocol writes it, with its pushes. `url` is the stored
/// file's, for `send_file`.
fn respond(out: Output<Response>, api: Api, url: Option<String>) -> (Payload, Vec<Push>) {
    let payload = match out.response {
        Response::ChatThread(chat) => {
            Payload::Json(json!({ "chat": render::chat_thread(&chat, api) }))
        }
        Response::SentEvent(sent) => Payload::Event {
            thread_id: sent.thread_id,
            event: sent.event,
            url,
        },
        Response::Timestamp(timestamp) => Payload::Json(json!({ "timestamp": timestamp })),
        Response::AutoChatScopesId(id) => Payload::Json(json!({ "auto_chat_scopes_id": id })),
        Response::Customer(customer) => Payload::Json(json!({
            "customer": render::customer(&customer, api, render::LastSeen::License)
        })),
        Response::CustomerId(id) => Payload::Json(json!({ "customer_id": id })),
        _ => empty(),
    };
    (payload, out.pushes)
}

/// Decodes the commands both APIs have into `$Command`'s variant of the same name; `None`
/// for another action.
macro_rules! shared_command {
    ($Command:ident, $action:expr, $payload:expr) => {
        'shared: {
            Some(match $action {
                "send_event" => {
                    let (chat_id, event) = send_event_payload($payload)?;
                    $Command::SendEvent {
                        chat_id,
                        event: event.into(),
                    }
                }
                "send_rich_message_postback" => {
                    let p: PostbackPayload = parse($payload)?;
                    $Command::SendRichMessagePostback {
                        chat_id: p.chat_id,
                        thread_id: p.thread_id,
                        event_id: p.event_id,
                        postback: p.postback,
                    }
                }
                "close_thread" => {
                    let p: ChatIdOnly = parse($payload)?;
                    $Command::CloseThread { chat_id: p.chat_id }
                }
                "update_chat_scopes" => {
                    let p: ScopesUpdate = parse($payload)?;
                    $Command::UpdateChatScopes {
                        chat_id: p.chat_id,
                        add_scopes: p.add_scopes,
                        remove_scopes: p.remove_scopes,
                    }
                }
                "update_chat_properties" => {
                    let p: ChatProperties = parse($payload)?;
                    $Command::UpdateChatProperties {
                        chat_id: p.chat_id,
                        properties: properties(p.properties)?,
                    }
                }
                "update_chat_thread_properties" => {
                    let p: ThreadProperties = parse($payload)?;
                    $Command::UpdateChatThreadProperties {
                        chat_id: p.chat_id,
                        thread_id: p.thread_id,
                        properties: properties(p.properties)?,
                    }
                }
                _ => break 'shared None,
            })
        }
    };
}

/// The Agent API command an action names, read from its payload; `None` for an action that
/// is not a command (a query, or an unknown action).
fn agent_command(action: &str, payload: &str) -> Result<Option<AgentCommand>, Error> {
    if let Some(command) = shared_command!(AgentCommand, action, payload) {
        return Ok(Some(command));
    }
    let command = match action {
        "start_chat" => {
            let p: StartChatPayload = parse(payload)?;
            AgentCommand::StartChat {
                customer_id: p.customer_id,
                chat: start_chat(p.chat)?,
            }
        }
        "join_chat" => {
            let p: Members = parse(payload)?;
            AgentCommand::JoinChat {
                chat_id: p.chat_id,
                agent_ids: p.agent_ids,
            }
        }
        "remove_from_chat" => {
            let p: Members = parse(payload)?;
            AgentCommand::RemoveFromChat {
                chat_id: p.chat_id,
                agent_ids: p.agent_ids,
                customer_ids: p.customer_ids,
            }
        }
        "multicast" => {
            let p: Multicast = parse(payload)?;
            let scopes = MulticastScopes {
                all_agents: p.scopes.agents.all,
                agent_ids: p.scopes.agents.ids,
                groups: p.scopes.agents.groups,
                customer_ids: p.scopes.customers.ids,
            };
            AgentCommand::Multicast {
                scopes,
                content: p.content,
            }
        }
        "send_typing_indicator" => {
            let p: Typing = parse(payload)?;
            AgentCommand::SendTypingIndicator {
                chat_id: p.chat_id,
                recipients: p.recipients.unwrap_or_default(),
                is_typing: p.is_typing,
            }
        }
        "ban_customer" => {
            let p: Ban = parse(payload)?;
            AgentCommand::BanCustomer {
                customer_id: p.customer_id,
                days: p.ban.days,
            }
        }
        "update_agent" => {
            let p: UpdateAgent = parse(payload)?;
            AgentCommand::UpdateAgent {
                agent_id: p.agent_id,
                routing_status: p.routing_status,
            }
        }
        "update_last_seen_timestamp" => {
            let p: LastSeen = parse(payload)?;
            let chat_id = p.chat_id.ok_or(Error::InvalidField {
                field: "chat_id",
                reason: "required".into(),
            })?;
            AgentCommand::UpdateLastSeenTimestamp {
                chat_id,
                timestamp: p.timestamp,
            }
        }
        "add_auto_chat_scopes" => {
            let p: AutoScopesAdd = parse(payload)?;
            AgentCommand::AddAutoChatScopes {
                description: p.description,
                scopes: p.scopes,
                rules: p.rules,
            }
        }
        "remove_auto_chat_scopes" => {
            let p: AutoScopesRemove = parse(payload)?;
            AgentCommand::RemoveAutoChatScopes {
                id: p.auto_chat_scopes_id,
            }
        }
        "transfer_chat" => {
            let p: Transfer = parse(payload)?;
            AgentCommand::TransferChat {
                chat_id: p.chat_id,
                target: transfer_target(p.target)?,
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(command))
}

fn transfer_target(target: TransferTo) -> Result<TransferTarget, Error> {
    let first = target.ids.into_iter().next().ok_or(Error::InvalidField {
        field: "target.ids",
        reason: "name one agent or group".into(),
    })?;
    match (target.kind.as_str(), first) {
        ("agent", Value::String(id)) => Ok(TransferTarget::Agent(UserId::new(&id)?)),
        ("group", Value::Number(n)) => Ok(TransferTarget::Group(GroupId(
            n.as_u64()
                .and_then(|g| u32::try_from(g).ok())
                .ok_or(Error::InvalidField {
                    field: "target.ids",
                    reason: format!("{n} is not a group id"),
                })?,
        ))),
        (kind, _) => Err(Error::InvalidField {
            field: "target",
            reason: format!("type {kind:?} with these ids is not an agent or group"),
        }),
    }
}

/// The two queries both APIs answer alike, `get_chat_threads` and
/// `get_chat_threads_summary`, through the requester's facade; `None` for another action.
fn threads_query(
    action: &str,
    payload: &str,
    api: Api,
    threads: impl FnOnce(ChatId, &[ThreadId]) -> Result<ChatThreads, Error>,
    summary: impl FnOnce(ChatId, Pagination) -> Result<query::ThreadsSummary, Error>,
) -> Option<Handled> {
    let answer = |value: Value| (Payload::Json(value), Vec::new());
    match action {
        "get_chat_threads" => Some((|| {
            let p: GetThreads = parse(payload)?;
            let threads = threads(p.chat_id, &p.thread_ids)?;
            Ok(answer(render::chat_threads(&threads, api)))
        })()),
        "get_chat_threads_summary" => Some((|| {
            let p: ThreadsSummary = parse(payload)?;
            let page = Pagination {
                offset: p.offset,
                limit: p.limit,
            };
            Ok(answer(render::threads_summary(&summary(p.chat_id, page)?)))
        })()),
        _ => None,
    }
}

fn agent(
    engine: &mut Engine,
    me: &UserId,
    now: Timestamp,
    action: &str,
    payload: &str,
    archive: &mut dyn super::ArchiveStore,
) -> Handled {
    let routing_status = if action == "login" {
        engine.agent_status(me).map(|s| s.routing_status)
    } else {
        None
    };
    let mut a = engine.as_agent(me, now)?;
    if let Some(command) = agent_command(action, payload)? {
        return Ok(respond(a.execute(command)?, Api::Agent, None));
    }
    let threads = |id: ChatId, ids: &[ThreadId]| {
        let mut threads = a.get_chat_threads(id, ids)?;
        let keys = threads.to_load();
        super::load_archived(archive, &keys, |l| threads.fill(a.engine(), l))?;
        Ok(threads)
    };
    let summary = |id: ChatId, page: Pagination| a.get_chat_threads_summary(id, page);
    if let Some(handled) = threads_query(action, payload, Api::Agent, threads, summary) {
        return handled;
    }
    let quiet = |v: Value| Ok((Payload::Json(v), Vec::new()));
    match action {
        "login" => {
            let login = a.login()?;
            let mut profile = render::agent(
                &login.my_profile,
                routing_status,
                Api::Agent,
                render::LastSeen::License,
            );
            if let Value::Object(m) = &mut profile {
                m.insert("permission".into(), json!(login.my_profile.permission));
            }
            let mut response = json!({
                "my_profile": profile,
                "chats_summary": login.chats_summary.iter()
                    .map(|c| render::chat_summary(c, Api::Agent)).collect::<Vec<_>>(),
                "total_chats": login.total_chats,
            });
            if let (Some(next), Value::Object(m)) = (login.next_before_order, &mut response) {
                m.insert("next_before_order".into(), json!(next));
            }
            if let (Some(license), Value::Object(m)) = (&login.license, &mut response) {
                m.insert("license".into(), render::license(license));
            }
            quiet(response)
        }
        "get_archives" => {
            let p: GetArchives = parse(payload)?;
            let mut archives = a.get_archives(&p.filters, p.pagination)?;
            let keys = archives.archived.clone();
            super::load_archived(archive, &keys, |l| archives.fill(a.engine(), l))?;
            quiet(render::archives(&archives, Api::Agent))
        }
        "get_filtered_chats" => {
            let p: Filtered = parse(payload)?;
            let chats = a.get_filtered_chats(&p.filters, p.pagination)?;
            let mut response = json!({
                "chats_summary": chats.chats_summary.iter()
                    .map(|c| render::chat_summary(c, Api::Agent)).collect::<Vec<_>>(),
                "total_chats": chats.total_chats,
            });
            if let (Some(next), Value::Object(m)) = (chats.next_before_order, &mut response) {
                m.insert("next_before_order".into(), json!(next));
            }
            quiet(response)
        }
        "change_push_notifications" => {
            push_notifications(payload)?;
            Ok((empty(), Vec::new()))
        }
        "get_auto_chat_scopes_config" => {
            let config = a.get_auto_chat_scopes_config()?;
            let config: Vec<Value> = config.iter().map(render::auto_chat_scopes).collect();
            quiet(json!({ "auto_chat_scopes_config": config }))
        }
        other => Err(unknown(other)),
    }
}

/// The Customer API command an action names, read from its payload; `None` for an action
/// that is not a command (a query, `login`, or an unknown action). `latest_chat` is the
/// customer's newest chat, which `update_last_seen_timestamp` defaults to.
fn customer_command(
    action: &str,
    payload: &str,
    latest_chat: Option<ChatId>,
) -> Result<Option<CustomerCommand>, Error> {
    if let Some(command) = shared_command!(CustomerCommand, action, payload) {
        return Ok(Some(command));
    }
    let command = match action {
        "start_chat" => {
            let p: StartChatPayload = parse(payload)?;
            CustomerCommand::StartChat {
                chat: start_chat(p.chat)?,
            }
        }
        "send_file" => {
            let p: SendFile = parse(payload)?;
            CustomerCommand::SendFile {
                chat_id: p.chat_id,
                custom_id: p.custom_id,
                file: p.file,
            }
        }
        "send_sneak_peek" => {
            let p: SneakPeek = parse(payload)?;
            CustomerCommand::SendSneakPeek {
                chat_id: p.chat_id,
                text: p.sneak_peek_text,
            }
        }
        "send_typing_indicator" => {
            let p: CustomerTyping = parse(payload)?;
            CustomerCommand::SendTypingIndicator {
                chat_id: p.chat_id,
                is_typing: p.is_typing,
            }
        }
        "update_customer" => {
            let p: UpdateCustomer = parse(payload)?;
            CustomerCommand::UpdateCustomer {
                update: p.customer.into_update(),
            }
        }
        "update_last_seen_timestamp" => {
            let p: LastSeen = parse(payload)?;
            let chat_id = p.chat_id.or(latest_chat).ok_or(Error::InvalidField {
                field: "chat_id",
                reason: "the customer has no chat".into(),
            })?;
            CustomerCommand::UpdateLastSeenTimestamp {
                chat_id,
                timestamp: p.timestamp,
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(command))
}

fn customer(
    engine: &mut Engine,
    me: &UserId,
    now: Timestamp,
    action: &str,
    payload: &str,
    archive: &mut dyn super::ArchiveStore,
) -> Handled {
    let latest_chat = if action == "update_last_seen_timestamp" {
        engine.customer_chats(me).last().copied()
    } else {
        None
    };
    let mut c = engine.as_customer(me, now)?;
    if let Some(command) = customer_command(action, payload, latest_chat)? {
        let url = match &command {
            CustomerCommand::SendFile { file, .. } => Some(file.url.clone()),
            _ => None,
        };
        return Ok(respond(c.execute(command)?, Api::Customer, url));
    }
    let threads = |id: ChatId, ids: &[ThreadId]| {
        let mut threads = c.get_chat_threads(id, ids)?;
        let keys = threads.to_load();
        super::load_archived(archive, &keys, |l| threads.fill(c.engine(), l))?;
        Ok(threads)
    };
    let summary = |id: ChatId, page: Pagination| c.get_chat_threads_summary(id, page);
    if let Some(handled) = threads_query(action, payload, Api::Customer, threads, summary) {
        return handled;
    }
    let quiet = |v: Value| Ok((Payload::Json(v), Vec::new()));
    match action {
        "login" => {
            let p: CustomerLogin = parse(payload)?;
            let login = c.login()?;
            // Details given at login are applied as `update_customer` applies them: the same
            // validation, journal record and `customer_updated` pushes.
            let pushes = match p.customer.filter(|d| !d.is_empty()) {
                Some(details) => c.update_customer(details.into_update())?.pushes,
                None => Vec::new(),
            };
            let mut answer = json!({ "customer_id": login.customer_id });
            if let Some(path) = login.static_config_path {
                answer["static_config_path"] = json!(path);
            }
            Ok((Payload::Json(answer), pushes))
        }
        "get_chats_summary" => {
            let p: ChatsSummary = parse(payload)?;
            let page = Pagination {
                offset: p.offset,
                limit: p.limit,
            };
            let s = c.get_chats_summary(page)?;
            quiet(json!({
                "chats_summary": s.chats_summary.iter()
                    .map(|c| render::chat_summary(c, Api::Customer)).collect::<Vec<_>>(),
                "total_chats": s.total_chats,
            }))
        }
        "get_queue_position" => {
            let p: ChatIdOnly = parse(payload)?;
            let queue = c.get_queue_position(p.chat_id)?.map(|q| {
                json!({ "position": q.position, "waiting_since": q.waiting_since, "wait_time": q.wait_time })
            });
            quiet(json!({ "queue": queue }))
        }
        other => Err(unknown(other)),
    }
}
