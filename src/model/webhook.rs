//! Webhooks: what a license's registered webhooks ask to hear of, and which changes pass their
//! filters (the Configuration API's `register_webhook`).
//!
//! The model only says what a webhook is and whether a change passes its filters; the engine
//! decides which changes fire which webhooks, and the host delivers them.

use serde::{Deserialize, Serialize};

use super::{Properties, PropertyFilters, Role, UserId, check_label, check_text, properties_match};
use crate::error::Error;

/// The longest webhook URL, in bytes.
pub const MAX_WEBHOOK_URL_LEN: usize = 2_048;

/// The longest secret key, in bytes.
pub const MAX_SECRET_KEY_LEN: usize = 256;

/// The longest description, in bytes.
pub const MAX_WEBHOOK_DESCRIPTION_LEN: usize = 512;

/// What a webhook fires on: the agent pushes v0.5 marks as webhooks, and two changes of agents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookAction {
    /// A thread started (push `incoming_chat_thread`).
    IncomingChatThread,
    /// Users joined or left a chat (push `chat_users_updated`).
    ChatUsersUpdated,
    /// An event was added (push `incoming_event`).
    IncomingEvent,
    /// A rich message button was toggled (push `incoming_rich_message_postback`). v0.5's
    /// `register_webhook` names it `rich_message_postback`; the push's name is taken too.
    #[serde(alias = "incoming_rich_message_postback")]
    RichMessagePostback,
    /// A user's last seen time moved (push `last_seen_timestamp_updated`).
    LastSeenTimestampUpdated,
    /// A thread closed (push `thread_closed`).
    ThreadClosed,
    /// A chat's scopes changed (push `chat_scopes_updated`).
    ChatScopesUpdated,
    /// A chat's properties changed (push `chat_properties_updated`).
    ChatPropertiesUpdated,
    /// A thread's properties changed (push `chat_thread_properties_updated`).
    ChatThreadPropertiesUpdated,
    /// An agent's routing status changed.
    AgentStatusChanged,
    /// An agent was removed from the license.
    AgentDeleted,
}

impl WebhookAction {
    /// Every action, in the order v0.5 lists them.
    pub const ALL: [WebhookAction; 11] = [
        WebhookAction::IncomingChatThread,
        WebhookAction::ChatUsersUpdated,
        WebhookAction::IncomingEvent,
        WebhookAction::RichMessagePostback,
        WebhookAction::LastSeenTimestampUpdated,
        WebhookAction::ThreadClosed,
        WebhookAction::ChatScopesUpdated,
        WebhookAction::ChatPropertiesUpdated,
        WebhookAction::ChatThreadPropertiesUpdated,
        WebhookAction::AgentStatusChanged,
        WebhookAction::AgentDeleted,
    ];

    /// The name `register_webhook` takes and the webhook's envelope carries.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookAction::IncomingChatThread => "incoming_chat_thread",
            WebhookAction::ChatUsersUpdated => "chat_users_updated",
            WebhookAction::IncomingEvent => "incoming_event",
            WebhookAction::RichMessagePostback => "rich_message_postback",
            WebhookAction::LastSeenTimestampUpdated => "last_seen_timestamp_updated",
            WebhookAction::ThreadClosed => "thread_closed",
            WebhookAction::ChatScopesUpdated => "chat_scopes_updated",
            WebhookAction::ChatPropertiesUpdated => "chat_properties_updated",
            WebhookAction::ChatThreadPropertiesUpdated => "chat_thread_properties_updated",
            WebhookAction::AgentStatusChanged => "agent_status_changed",
            WebhookAction::AgentDeleted => "agent_deleted",
        }
    }

    /// The webhook action of an agent push, if that push is one.
    pub fn of_push(action: &str) -> Option<WebhookAction> {
        Some(match action {
            "incoming_chat_thread" => WebhookAction::IncomingChatThread,
            "chat_users_updated" => WebhookAction::ChatUsersUpdated,
            "incoming_event" => WebhookAction::IncomingEvent,
            "incoming_rich_message_postback" => WebhookAction::RichMessagePostback,
            "last_seen_timestamp_updated" => WebhookAction::LastSeenTimestampUpdated,
            "thread_closed" => WebhookAction::ThreadClosed,
            "chat_scopes_updated" => WebhookAction::ChatScopesUpdated,
            "chat_properties_updated" => WebhookAction::ChatPropertiesUpdated,
            "chat_thread_properties_updated" => WebhookAction::ChatThreadPropertiesUpdated,
            _ => return None,
        })
    }

    /// Whether the action is about a chat (the agent ones are not).
    pub fn is_about_a_chat(self) -> bool {
        !matches!(
            self,
            WebhookAction::AgentStatusChanged | WebhookAction::AgentDeleted
        )
    }

    /// The filters v0.5 lists for the action, by name. `chat_member_ids` goes with every
    /// chat action; `author_type` (v3.x's) with the two that carry an event's author.
    fn admits(self, filter: &str) -> bool {
        use WebhookAction as A;
        match filter {
            "chat_properties" | "chat_member_ids" => self.is_about_a_chat(),
            "thread_properties" => matches!(
                self,
                A::IncomingChatThread | A::ThreadClosed | A::ChatThreadPropertiesUpdated
            ),
            "event_properties" | "author_type" => {
                matches!(self, A::IncomingEvent | A::RichMessagePostback)
            }
            _ => false,
        }
    }
}

/// Which agents must (or must not) be in the chat; v0.5 allows one of the three at a time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatMemberIds {
    /// Every one of these agents is in the chat.
    Agents(Vec<UserId>),
    /// At least one of these agents is in the chat.
    AgentsAny(Vec<UserId>),
    /// None of these agents is in the chat.
    AgentsExclude(Vec<UserId>),
}

impl ChatMemberIds {
    fn matches(&self, in_chat: &dyn Fn(&UserId) -> bool) -> bool {
        match self {
            ChatMemberIds::Agents(ids) => ids.iter().all(in_chat),
            ChatMemberIds::AgentsAny(ids) => ids.iter().any(in_chat),
            ChatMemberIds::AgentsExclude(ids) => !ids.iter().any(in_chat),
        }
    }

    fn ids(&self) -> &[UserId] {
        match self {
            ChatMemberIds::Agents(ids)
            | ChatMemberIds::AgentsAny(ids)
            | ChatMemberIds::AgentsExclude(ids) => ids,
        }
    }
}

/// A webhook's filters; all that are set must pass.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookFilters {
    /// On the chat's properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_properties: Option<PropertyFilters>,
    /// On the thread's properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_properties: Option<PropertyFilters>,
    /// On the event's properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_properties: Option<PropertyFilters>,
    /// On the agents in the chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_member_ids: Option<ChatMemberIds>,
    /// On the role of the event's author (`agent` or `customer`; v3.x's filter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_type: Option<Role>,
}

/// What a change is about, as far as filters look: the engine fills in what the change has.
#[derive(Clone, Copy)]
pub struct WebhookSubject<'a> {
    /// The chat's properties.
    pub chat_properties: Option<&'a Properties>,
    /// The thread's properties.
    pub thread_properties: Option<&'a Properties>,
    /// The event's properties.
    pub event_properties: Option<&'a Properties>,
    /// Whether an agent is in the chat.
    pub in_chat: &'a dyn Fn(&UserId) -> bool,
    /// The role of the event's author.
    pub author: Option<Role>,
}

impl WebhookFilters {
    /// Whether a change passes every filter set. A filter on something the change does not
    /// have (thread properties of a change with no thread) fails, except `exists: false`
    /// and `exclude_values`, which an absent value passes, as for chats.
    pub fn matches(&self, subject: &WebhookSubject<'_>) -> bool {
        let empty = Properties::new();
        let props = |filters: &Option<PropertyFilters>, of: Option<&Properties>| {
            filters
                .as_ref()
                .is_none_or(|f| properties_match(f, of.unwrap_or(&empty)))
        };
        props(&self.chat_properties, subject.chat_properties)
            && props(&self.thread_properties, subject.thread_properties)
            && props(&self.event_properties, subject.event_properties)
            && self
                .chat_member_ids
                .as_ref()
                .is_none_or(|m| m.matches(subject.in_chat))
            && self.author_type.is_none_or(|r| subject.author == Some(r))
    }

    fn set(&self) -> impl Iterator<Item = &'static str> {
        [
            self.chat_properties.as_ref().map(|_| "chat_properties"),
            self.thread_properties.as_ref().map(|_| "thread_properties"),
            self.event_properties.as_ref().map(|_| "event_properties"),
            self.chat_member_ids.as_ref().map(|_| "chat_member_ids"),
            self.author_type.map(|_| "author_type"),
        ]
        .into_iter()
        .flatten()
    }
}

/// A webhook as `register_webhook` asks for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where to POST it: an `http` or `https` URL.
    pub url: String,
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What it fires on.
    pub action: WebhookAction,
    /// Sent in every delivery, so the receiver can tell it came from this license.
    pub secret_key: String,
    /// When it fires.
    #[serde(default, skip_serializing_if = "is_default")]
    pub filters: WebhookFilters,
}

fn is_default(filters: &WebhookFilters) -> bool {
    *filters == WebhookFilters::default()
}

/// A registered webhook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// Its id, given by the engine.
    pub webhook_id: String,
    /// The rest, as registered.
    #[serde(flatten)]
    pub spec: NewWebhook,
}

impl NewWebhook {
    /// Checks the URL, the secret, the description and that every filter set is one v0.5
    /// lists for the action; the error names the field.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |field: &'static str, reason: String| Error::InvalidField { field, reason };
        check_label("url", &self.url)?;
        let scheme_ok = ["http://", "https://"].iter().any(|scheme| {
            self.url.len() > scheme.len() && self.url[..scheme.len()].eq_ignore_ascii_case(scheme)
        });
        if !scheme_ok {
            return Err(invalid(
                "url",
                "must be an http:// or https:// URL".to_string(),
            ));
        }
        if self.url.len() > MAX_WEBHOOK_URL_LEN {
            return Err(invalid(
                "url",
                format!("longer than {MAX_WEBHOOK_URL_LEN} bytes"),
            ));
        }
        check_label("secret_key", &self.secret_key)?;
        if self.secret_key.is_empty() || self.secret_key.len() > MAX_SECRET_KEY_LEN {
            return Err(invalid(
                "secret_key",
                format!("must be 1 to {MAX_SECRET_KEY_LEN} bytes"),
            ));
        }
        if let Some(description) = &self.description {
            check_text("description", description)?;
            if description.len() > MAX_WEBHOOK_DESCRIPTION_LEN {
                return Err(invalid(
                    "description",
                    format!("longer than {MAX_WEBHOOK_DESCRIPTION_LEN} bytes"),
                ));
            }
        }
        if let Some(filter) = self.filters.set().find(|f| !self.action.admits(f)) {
            return Err(invalid(
                "filters",
                format!(
                    "{filter} does not apply to the action {}",
                    self.action.as_str()
                ),
            ));
        }
        if let Some(members) = &self.filters.chat_member_ids
            && members.ids().is_empty()
        {
            return Err(invalid(
                "filters.chat_member_ids",
                "names no agent".to_string(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::PropertyValue;

    fn hook(value: serde_json::Value) -> Result<NewWebhook, String> {
        let hook: NewWebhook = serde_json::from_value(value).map_err(|e| e.to_string())?;
        hook.validate().map_err(|e| e.to_string())?;
        Ok(hook)
    }

    fn anna() -> UserId {
        UserId::new("anna@example.com").unwrap()
    }

    #[test]
    fn the_docs_sample_registers() {
        let hook = hook(json!({
            "url": "http://myservice.com/webhooks",
            "description": "Test webhook",
            "action": "thread_closed",
            "secret_key": "laudla991lamda0pnoaa0",
            "filters": {
                "chat_properties": {
                    "source": { "type": { "values": ["facebook", "twitter"] } },
                    "rating": { "comment": { "exists": true } }
                },
                "chat_member_ids": { "agents": ["johndoe@mail.com"] }
            }
        }))
        .unwrap();
        assert_eq!(hook.action, WebhookAction::ThreadClosed);
        assert!(matches!(
            hook.filters.chat_member_ids,
            Some(ChatMemberIds::Agents(ref ids)) if ids.len() == 1
        ));
    }

    #[test]
    fn refusals_name_the_field() {
        let base =
            json!({ "url": "https://x.example/h", "action": "incoming_event", "secret_key": "s" });
        let with = |key: &str, value: serde_json::Value| {
            let mut v = base.clone();
            v[key] = value;
            hook(v)
        };
        assert!(with("url", json!("ftp://x")).unwrap_err().contains("url"));
        assert!(with("url", json!("https://")).unwrap_err().contains("url"));
        assert!(
            with("secret_key", json!(""))
                .unwrap_err()
                .contains("secret_key")
        );
        assert!(with("action", json!("nothing")).is_err());
        let thread_filter = json!({ "thread_properties": { "a": { "b": { "exists": true } } } });
        let err = with("filters", thread_filter).unwrap_err();
        assert!(
            err.contains("thread_properties") && err.contains("incoming_event"),
            "{err}"
        );
        let two_kinds =
            json!({ "chat_member_ids": { "agents": ["a@b.c"], "agents_any": ["a@b.c"] } });
        assert!(
            with("filters", two_kinds).is_err(),
            "one kind of chat_member_ids at a time"
        );
        assert!(with("filters", json!({ "chat_member_ids": { "agents": [] } })).is_err());
        assert!(with("filters", json!({ "unknown": {} })).is_err());
        let agent_hook = json!({ "url": "https://x.example/h", "action": "agent_deleted", "secret_key": "s",
            "filters": { "chat_properties": { "a": { "b": { "exists": true } } } } });
        assert!(
            hook(agent_hook).is_err(),
            "an agent's deletion is about no chat"
        );
        assert!(hook(base.clone()).is_ok());
    }

    #[test]
    fn filters_pass_or_stop_a_change() {
        let mut chat = Properties::new();
        chat.entry("source".to_string()).or_default().insert(
            "type".to_string(),
            PropertyValue::String("facebook".to_string()),
        );
        let anna_in = |id: &UserId| *id == anna();
        let subject = WebhookSubject {
            chat_properties: Some(&chat),
            thread_properties: None,
            event_properties: None,
            in_chat: &anna_in,
            author: Some(Role::Customer),
        };
        let filters =
            |value: serde_json::Value| -> WebhookFilters { serde_json::from_value(value).unwrap() };
        assert!(WebhookFilters::default().matches(&subject));
        assert!(
            filters(
                json!({ "chat_properties": { "source": { "type": { "values": ["facebook"] } } } })
            )
            .matches(&subject)
        );
        assert!(
            !filters(
                json!({ "chat_properties": { "source": { "type": { "values": ["twitter"] } } } })
            )
            .matches(&subject)
        );
        assert!(
            filters(json!({ "chat_member_ids": { "agents": ["anna@example.com"] } }))
                .matches(&subject)
        );
        assert!(
            !filters(
                json!({ "chat_member_ids": { "agents": ["anna@example.com", "bob@example.com"] } })
            )
            .matches(&subject)
        );
        assert!(filters(json!({ "chat_member_ids": { "agents_any": ["anna@example.com", "bob@example.com"] } })).matches(&subject));
        assert!(
            !filters(json!({ "chat_member_ids": { "agents_exclude": ["anna@example.com"] } }))
                .matches(&subject)
        );
        assert!(filters(json!({ "author_type": "customer" })).matches(&subject));
        assert!(!filters(json!({ "author_type": "agent" })).matches(&subject));
        // A thread filter on a change without a thread: only absence-tolerant filters pass.
        assert!(
            !filters(json!({ "thread_properties": { "a": { "b": { "exists": true } } } }))
                .matches(&subject)
        );
        assert!(
            filters(json!({ "thread_properties": { "a": { "b": { "exists": false } } } }))
                .matches(&subject)
        );
    }

    #[test]
    fn names_round_trip_and_pushes_map_to_actions() {
        for action in WebhookAction::ALL {
            let json = serde_json::to_value(action).unwrap();
            assert_eq!(json, action.as_str());
            assert_eq!(
                serde_json::from_value::<WebhookAction>(json).unwrap(),
                action
            );
        }
        assert_eq!(
            WebhookAction::of_push("incoming_rich_message_postback"),
            Some(WebhookAction::RichMessagePostback)
        );
        assert_eq!(
            serde_json::from_value::<WebhookAction>(json!("incoming_rich_message_postback"))
                .unwrap(),
            WebhookAction::RichMessagePostback
        );
        assert_eq!(WebhookAction::of_push("incoming_typing_indicator"), None);
    }
}
