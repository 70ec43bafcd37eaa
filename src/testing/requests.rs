//! Commands rendered as the JSON requests of [`crate::wire`], so that the wire fuzz test can
//! send what the alphabet draws and compare the codec with [`Engine::execute`](crate::Engine::execute).
//!
//! The matches here name every command variant, without a wildcard: a command added to the
//! engine stops this module compiling until it says what request carries it, if any.

use serde_json::{Value, json};

use super::alphabet::action;
use crate::engine::{AgentCommand, Command, CustomerCommand, HostCommand, TransferTarget};
use crate::model::{ChatId, Properties, StartChat, UserId};
use crate::wire::Api;

/// A request of one of the chat APIs: who sends it, on which API, and its text.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// The API the connection speaks.
    pub api: Api,
    /// The authenticated user who sends it.
    pub user_id: UserId,
    /// The request message, `{"request_id", "action", "payload"}`.
    pub text: String,
}

/// The request that [`crate::wire::handle`] decodes back into `command`; `None` for the
/// host's commands and the Configuration API's (`create_properties`, `register_webhook`,
/// `unregister_webhook`, the bot agent actions), which no chat API carries.
pub fn request(command: &Command, request_id: &str) -> Option<Request> {
    use HostCommand as H;
    let (api, user_id, action, payload) = match command {
        Command::Agent { agent_id, command } => (
            Api::Agent,
            agent_id,
            action(command),
            agent_payload(command)?,
        ),
        Command::Customer {
            customer_id,
            command,
        } => (
            Api::Customer,
            customer_id,
            action(command),
            customer_payload(command),
        ),
        Command::Host(
            H::AddAgent(_)
            | H::AddCustomer(_)
            | H::CreateCustomer { .. }
            | H::ConfigureProperty(_)
            | H::SetRouter { .. }
            | H::SetAgentPresence { .. }
            | H::UpdateAgentProfile { .. }
            | H::RemoveAgent { .. }
            | H::Tick
            | H::ArchiveThreads { .. },
        ) => return None,
    };
    let text = json!({ "request_id": request_id, "action": action, "payload": payload });
    Some(Request {
        api,
        user_id: user_id.clone(),
        text: text.to_string(),
    })
}

/// Any serializable value as JSON; the model's types all serialize.
fn value<T: serde::Serialize>(x: &T) -> Value {
    serde_json::to_value(x).unwrap_or(Value::Null)
}

/// A `match` on `$command`, of type `$Command`, with the arms of the commands both APIs have
/// (whose payloads are the same) and then `$arms`, those of the API's own commands.
macro_rules! payload {
    ($Command:ident, $command:expr, { $($arms:tt)* }) => {
        match $command {
            $Command::SendEvent { chat_id, event } => {
                json!({ "chat_id": chat_id, "event": value(&event.clone().into_new_event()) })
            }
            $Command::SendRichMessagePostback {
                chat_id,
                thread_id,
                event_id,
                postback,
            } => json!({
                "chat_id": chat_id,
                "thread_id": thread_id,
                "event_id": event_id,
                "postback": { "id": postback.id, "toggled": postback.toggled },
            }),
            $Command::CloseThread { chat_id } => json!({ "chat_id": chat_id }),
            $Command::UpdateChatProperties {
                chat_id,
                properties,
            } => chat_properties(chat_id, properties),
            $Command::UpdateChatThreadProperties {
                chat_id,
                thread_id,
                properties,
            } => {
                let mut payload = chat_properties(chat_id, properties);
                payload["thread_id"] = value(thread_id);
                payload
            }
            $Command::UpdateChatScopes {
                chat_id,
                add_scopes,
                remove_scopes,
            } => json!({
                "chat_id": chat_id,
                "add_scopes": add_scopes,
                "remove_scopes": remove_scopes,
            }),
            $Command::UpdateLastSeenTimestamp { chat_id, timestamp } => {
                json!({ "chat_id": chat_id, "timestamp": timestamp })
            }
            $($arms)*
        }
    };
}

fn agent_payload(command: &AgentCommand) -> Option<Value> {
    use AgentCommand as A;
    let payload = payload!(A, command, {
        A::StartChat { customer_id, chat } => optional(
            json!({ "chat": start_chat(chat) }),
            "customer_id",
            customer_id.as_ref(),
        ),
        A::JoinChat { chat_id, agent_ids } => json!({ "chat_id": chat_id, "agent_ids": agent_ids }),
        A::RemoveFromChat {
            chat_id,
            agent_ids,
            customer_ids,
        } => json!({ "chat_id": chat_id, "agent_ids": agent_ids, "customer_ids": customer_ids }),
        A::Multicast { scopes, content } => json!({
            "scopes": {
                "agents": { "all": scopes.all_agents, "ids": scopes.agent_ids, "groups": scopes.groups },
                "customers": { "ids": scopes.customer_ids },
            },
            "content": content,
        }),
        A::SendTypingIndicator {
            chat_id,
            recipients,
            is_typing,
        } => json!({ "chat_id": chat_id, "recipients": recipients, "is_typing": is_typing }),
        A::UpdateAgent {
            agent_id,
            routing_status,
        } => optional(
            optional(json!({}), "agent_id", agent_id.as_ref()),
            "routing_status",
            routing_status.as_ref(),
        ),
        A::BanCustomer { customer_id, days } => {
            json!({ "customer_id": customer_id, "ban": { "days": days } })
        }
        A::TransferChat { chat_id, target } => {
            let target = match target {
                TransferTarget::Agent(id) => json!({ "type": "agent", "ids": [id] }),
                TransferTarget::Group(group) => json!({ "type": "group", "ids": [group] }),
            };
            json!({ "chat_id": chat_id, "target": target })
        }
        A::AddAutoChatScopes {
            description,
            scopes,
            rules,
        } => optional(
            json!({ "scopes": scopes, "rules": rules }),
            "description",
            description.as_ref(),
        ),
        A::RemoveAutoChatScopes { id } => json!({ "auto_chat_scopes_id": id }),
        A::CreateProperties { .. }
        | A::RegisterWebhook { .. }
        | A::UnregisterWebhook { .. }
        | A::CreateBotAgent { .. }
        | A::UpdateBotAgent { .. }
        | A::RemoveBotAgent { .. } => {
            return None;
        }
    });
    Some(payload)
}

fn customer_payload(command: &CustomerCommand) -> Value {
    use CustomerCommand as C;
    payload!(C, command, {
        C::StartChat { chat } => json!({ "chat": start_chat(chat) }),
        C::SendFile {
            chat_id,
            custom_id,
            file,
        } => optional(
            json!({ "chat_id": chat_id, "file": file }),
            "custom_id",
            custom_id.as_ref(),
        ),
        C::SendSneakPeek { chat_id, text } => {
            json!({ "chat_id": chat_id, "sneak_peek_text": text })
        }
        C::SendTypingIndicator { chat_id, is_typing } => {
            json!({ "chat_id": chat_id, "is_typing": is_typing })
        }
        C::UpdateCustomer { update } => {
            let customer = json!({ "fields": update.fields });
            let customer = optional(customer, "name", update.name.as_ref());
            let customer = optional(customer, "email", update.email.as_ref());
            // The referrer travels in the page object; alone, it is a page of its own.
            let page = match (&update.current_page, &update.referrer) {
                (None, None) => None,
                (page, referrer) => Some(optional(
                    page.as_ref().map_or_else(|| json!({}), value),
                    "referrer",
                    referrer.as_ref(),
                )),
            };
            let monitoring = optional(json!({}), "page", page.as_ref());
            let monitoring = optional(monitoring, "timezone", update.timezone.as_ref());
            let monitoring = (monitoring != json!({})).then_some(monitoring);
            json!({ "customer": optional(customer, "monitoring", monitoring.as_ref()) })
        }
    })
}

/// `start_chat`'s `chat` object: scopes and properties of the chat, events and properties of
/// its first thread.
fn start_chat(chat: &StartChat) -> Value {
    let events: Vec<Value> = chat.events.iter().map(value).collect();
    json!({
        "scopes": chat.scopes,
        "properties": chat.properties,
        "thread": { "events": events, "properties": chat.thread_properties },
    })
}

/// `object` with `key` set to `value`, if there is one: the requests leave out what a command
/// does not give.
fn optional<T: serde::Serialize>(mut object: Value, key: &str, value: Option<&T>) -> Value {
    if let (Some(value), Value::Object(map)) = (value, &mut object) {
        map.insert(key.into(), self::value(value));
    }
    object
}

fn chat_properties(chat_id: &ChatId, properties: &Properties) -> Value {
    json!({ "chat_id": chat_id, "properties": properties })
}
