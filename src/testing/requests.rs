//! Commands rendered as the JSON requests of [`crate::wire`], so that the wire fuzz test can
//! send what the alphabet draws and compare the codec with [`Engine::execute`](crate::Engine::execute).

use serde_json::{Map, Value, json};

use super::alphabet::{agent_action, customer_action};
use crate::engine::{AgentCommand, Command, CustomerCommand, TransferTarget};
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
/// `unregister_webhook`), which no chat API carries.
pub fn request(command: &Command, request_id: &str) -> Option<Request> {
    let (api, user_id, action, payload) = match command {
        Command::Agent { agent_id, command } => (
            Api::Agent,
            agent_id,
            agent_action(command),
            agent_payload(command)?,
        ),
        Command::Customer {
            customer_id,
            command,
        } => (
            Api::Customer,
            customer_id,
            customer_action(command),
            customer_payload(command),
        ),
        Command::Host(_) => return None,
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

fn agent_payload(command: &AgentCommand) -> Option<Value> {
    use AgentCommand as A;
    let payload = match command {
        A::StartChat { customer_id, chat } => {
            let mut payload = json!({ "chat": start_chat(chat) });
            if let Some(customer_id) = customer_id {
                payload["customer_id"] = value(customer_id);
            }
            payload
        }
        A::JoinChat { chat_id, agent_ids } => json!({ "chat_id": chat_id, "agent_ids": agent_ids }),
        A::RemoveFromChat {
            chat_id,
            agent_ids,
            customer_ids,
        } => json!({ "chat_id": chat_id, "agent_ids": agent_ids, "customer_ids": customer_ids }),
        A::SendEvent { chat_id, event } => {
            json!({ "chat_id": chat_id, "event": value(&event.clone().into_new_event()) })
        }
        A::SendRichMessagePostback {
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
        A::CloseThread { chat_id } => json!({ "chat_id": chat_id }),
        A::UpdateAgent {
            agent_id,
            routing_status,
        } => {
            let mut payload = Map::new();
            if let Some(agent_id) = agent_id {
                payload.insert("agent_id".into(), value(agent_id));
            }
            if let Some(status) = routing_status {
                payload.insert("routing_status".into(), value(status));
            }
            Value::Object(payload)
        }
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
        A::UpdateChatProperties {
            chat_id,
            properties,
        } => chat_properties(chat_id, properties),
        A::UpdateChatThreadProperties {
            chat_id,
            thread_id,
            properties,
        } => {
            let mut payload = chat_properties(chat_id, properties);
            payload["thread_id"] = value(thread_id);
            payload
        }
        A::UpdateChatScopes {
            chat_id,
            add_scopes,
            remove_scopes,
        } => json!({ "chat_id": chat_id, "add_scopes": add_scopes, "remove_scopes": remove_scopes }),
        A::AddAutoChatScopes {
            description,
            scopes,
            rules,
        } => {
            let mut payload = json!({ "scopes": scopes, "rules": rules });
            if let Some(description) = description {
                payload["description"] = value(description);
            }
            payload
        }
        A::RemoveAutoChatScopes { id } => json!({ "auto_chat_scopes_id": id }),
        A::UpdateLastSeenTimestamp { chat_id, timestamp } => {
            json!({ "chat_id": chat_id, "timestamp": timestamp })
        }
        A::CreateProperties { .. } | A::RegisterWebhook { .. } | A::UnregisterWebhook { .. } => {
            return None;
        }
    };
    Some(payload)
}

fn customer_payload(command: &CustomerCommand) -> Value {
    use CustomerCommand as C;
    match command {
        C::StartChat { chat } => json!({ "chat": start_chat(chat) }),
        C::SendEvent { chat_id, event } => {
            json!({ "chat_id": chat_id, "event": value(&event.clone().into_new_event()) })
        }
        C::SendFile {
            chat_id,
            custom_id,
            file,
        } => {
            let mut payload = json!({ "chat_id": chat_id, "file": file });
            if let Some(custom_id) = custom_id {
                payload["custom_id"] = value(custom_id);
            }
            payload
        }
        C::SendRichMessagePostback {
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
        C::SendSneakPeek { chat_id, text } => {
            json!({ "chat_id": chat_id, "sneak_peek_text": text })
        }
        C::SendTypingIndicator { chat_id, is_typing } => {
            json!({ "chat_id": chat_id, "is_typing": is_typing })
        }
        C::CloseThread { chat_id } => json!({ "chat_id": chat_id }),
        C::UpdateCustomer { update } => {
            let mut customer = Map::new();
            if let Some(name) = &update.name {
                customer.insert("name".into(), value(name));
            }
            if let Some(email) = &update.email {
                customer.insert("email".into(), value(email));
            }
            customer.insert("fields".into(), value(&update.fields));
            if let Some(page) = &update.current_page {
                customer.insert("monitoring".into(), json!({ "page": page }));
            }
            json!({ "customer": customer })
        }
        C::UpdateChatProperties {
            chat_id,
            properties,
        } => chat_properties(chat_id, properties),
        C::UpdateChatThreadProperties {
            chat_id,
            thread_id,
            properties,
        } => {
            let mut payload = chat_properties(chat_id, properties);
            payload["thread_id"] = value(thread_id);
            payload
        }
        C::UpdateChatScopes {
            chat_id,
            add_scopes,
            remove_scopes,
        } => json!({ "chat_id": chat_id, "add_scopes": add_scopes, "remove_scopes": remove_scopes }),
        C::UpdateLastSeenTimestamp { chat_id, timestamp } => {
            json!({ "chat_id": chat_id, "timestamp": timestamp })
        }
    }
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

fn chat_properties(chat_id: &ChatId, properties: &Properties) -> Value {
    json!({ "chat_id": chat_id, "properties": properties })
}
