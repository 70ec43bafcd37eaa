//! Webhooks: the license's registrations (`register_webhook`, `unregister_webhook`,
//! `get_webhooks_config`) and which of them a call's changes fire.
//!
//! Firing is worked out from a call's output, after the call: a change that agents are told of
//! is a change a webhook may be registered for, and the agent's view of it is the webhook's
//! `data`. Two changes of agents have no push to derive them from: an agent connecting or
//! disconnecting (its presence, which v0.5's `agent_updated` does not carry) and an agent
//! removed. The command that makes them says so in its output's
//! [`agent_changes`](crate::Output::agent_changes), and they fire `agent_status_changed` and
//! `agent_deleted` ([`Engine::output_webhook_calls`] takes both). So firing needs no journal
//! record of its own: a host that replays records gets the same webhooks again by asking for
//! them, or (as `chatio-server` does) asks only for live calls and persists the deliveries it
//! owes.

use serde::{Deserialize, Serialize};

use super::{Engine, Output, Requester};
use crate::error::Error;
use crate::model::Grant;
use crate::model::{
    BotStatus, ChatId, NewWebhook, Properties, Role, UserId, Webhook, WebhookAction, WebhookSubject,
};
use crate::push::{Push, PushKind};

/// A registration with the agent who made it (its "my" webhooks).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredWebhook {
    /// Who registered it.
    pub owner_id: UserId,
    /// The webhook.
    pub webhook: Webhook,
}

/// One webhook to deliver: which registration, what happened, and the agent's view of it.
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookCall {
    /// The registration.
    pub webhook: Webhook,
    /// What happened.
    pub action: WebhookAction,
    /// The chat it is about, if any: deliveries of one chat keep their order.
    pub chat_id: Option<ChatId>,
    /// The change (`data`).
    pub data: WebhookData,
    /// The chat's properties after the call, for `additional_data`.
    pub chat_properties: Option<Properties>,
}

/// What a webhook tells of: a change as agents were told of it, or a change of an agent no
/// push tells of.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum WebhookData {
    /// The agents' push.
    Push(PushKind),
    /// The change of an agent.
    Agent(AgentChange),
}

/// A change of an agent that no push tells of, for the `agent_status_changed` and
/// `agent_deleted` webhooks: a call lists them in [`Output::agent_changes`], and
/// [`Engine::agent_webhook_calls`] says which webhooks they fire.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AgentChange {
    /// The agent's status (its presence with its routing status, as v0.5's webhook spells it)
    /// is now `status`: it connected or disconnected, or a bot's status moved between
    /// `offline` and online without a new routing status.
    StatusChanged {
        /// The agent.
        agent_id: UserId,
        /// Its status now.
        status: BotStatus,
    },
    /// The agent was removed ([`Engine::remove_agent`], `remove_bot_agent`).
    Deleted {
        /// The agent.
        agent_id: UserId,
    },
}

impl AgentChange {
    /// The webhook action it fires.
    pub fn action(&self) -> WebhookAction {
        match self {
            AgentChange::StatusChanged { .. } => WebhookAction::AgentStatusChanged,
            AgentChange::Deleted { .. } => WebhookAction::AgentDeleted,
        }
    }
}

impl Engine {
    /// `register_webhook`: returns the webhook with its new id.
    pub(crate) fn register_webhook(
        &mut self,
        req: &Requester,
        spec: NewWebhook,
    ) -> Result<Output<Webhook>, Error> {
        self.authorize(req, Grant::WebhooksMyWrite)?;
        spec.validate()?;
        self.check_webhooks_room(self.webhooks.len())?;
        self.commit(req);
        let webhook = Webhook {
            webhook_id: self.ids().next_uuid().simple().to_string(),
            spec,
        };
        self.webhooks.push(RegisteredWebhook {
            owner_id: req.id.clone(),
            webhook: webhook.clone(),
        });
        Ok(Output::quiet(webhook))
    }

    /// `unregister_webhook`: one's own with `webhooks--my:write`, anyone's with
    /// `webhooks--all:write`.
    pub(crate) fn unregister_webhook(
        &mut self,
        req: &Requester,
        webhook_id: &str,
    ) -> Result<Output<()>, Error> {
        self.authorize(req, Grant::WebhooksMyWrite)?;
        let position = self
            .webhooks
            .iter()
            .position(|w| w.webhook.webhook_id == webhook_id)
            .ok_or_else(|| Error::InvalidField {
                field: "webhook_id",
                reason: format!("no webhook {webhook_id:?}"),
            })?;
        if self.webhooks[position].owner_id != *req.id {
            self.authorize(req, Grant::WebhooksAllWrite)?;
        }
        self.commit(req);
        self.webhooks.remove(position);
        Ok(Output::quiet(()))
    }

    /// `get_webhooks_config`: one's own webhooks, or with `webhooks--all:read` and `all` every
    /// webhook of the license, oldest first.
    pub(crate) fn webhooks_config(
        &self,
        req: &Requester,
        all: bool,
    ) -> Result<Vec<Webhook>, Error> {
        self.authorize(req, Grant::WebhooksMyRead)?;
        if all {
            self.authorize(req, Grant::WebhooksAllRead)?;
        }
        Ok(self
            .webhooks
            .iter()
            .filter(|w| all || w.owner_id == *req.id)
            .map(|w| w.webhook.clone())
            .collect())
    }

    /// Every registered webhook, oldest first.
    pub fn webhooks(&self) -> &[RegisteredWebhook] {
        &self.webhooks
    }

    /// The webhooks a call's `pushes` fire, in the order of the changes: a bot's (see
    /// [`BotWebhooks`](crate::model::BotWebhooks)) for each push that reaches the bot, the
    /// license's each once per change: the agents' pushes of the actions v0.5 marks as webhooks (and an agent's
    /// routing status, `agent_status_changed`), through each webhook's filters, which see the
    /// chat as it is after the call.
    pub fn webhook_calls(&self, pushes: &[Push]) -> Vec<WebhookCall> {
        let mut calls = Vec::new();
        if self.webhooks.is_empty() && self.bot_webhooks.is_empty() {
            return calls;
        }
        let mut seen: Vec<&PushKind> = Vec::new();
        let mut seen_by_bots: Vec<(&UserId, &PushKind)> = Vec::new();
        for push in pushes.iter().filter(|p| p.role == Role::Agent) {
            let action = match &push.kind {
                PushKind::AgentUpdated { .. } => WebhookAction::AgentStatusChanged,
                kind => match WebhookAction::of_push(kind.action()) {
                    Some(action) => action,
                    None => continue,
                },
            };
            // One change may reach agents in several pushes (one per audience): once is enough
            // for the license's webhooks, while a bot's fire on the push that reaches it.
            let first_time = !seen.contains(&&push.kind);
            if first_time {
                seen.push(&push.kind);
            }
            let chat_id = push.kind.chat_id();
            let chat = chat_id.and_then(|id| self.chat(&id));
            let (thread_properties, event_properties, author) = match &push.kind {
                PushKind::IncomingChatThread { chat } => {
                    (Some(&*chat.thread.properties), None, None)
                }
                PushKind::IncomingEvent { event, .. } => (
                    None,
                    Some(&event.properties),
                    self.author_role(event.author_id.as_ref()),
                ),
                PushKind::ThreadClosed {
                    chat_id, thread_id, ..
                }
                | PushKind::ChatThreadPropertiesUpdated {
                    chat_id, thread_id, ..
                } => (
                    self.chat(chat_id)
                        .and_then(|c| c.thread(thread_id))
                        .map(|t| &*t.properties),
                    None,
                    None,
                ),
                PushKind::IncomingRichMessagePostback { user_id, .. } => {
                    (None, None, self.author_role(Some(user_id)))
                }
                _ => (None, None, None),
            };
            let in_chat = |agent: &UserId| chat.is_some_and(|c| c.agent_ids.contains(agent));
            let subject = WebhookSubject {
                chat_properties: chat.map(|c| &*c.properties),
                thread_properties,
                event_properties,
                in_chat: &in_chat,
                author,
            };
            let call = |webhook: &Webhook| WebhookCall {
                webhook: webhook.clone(),
                action,
                chat_id,
                data: WebhookData::Push(push.kind.clone()),
                chat_properties: chat.map(|c| Properties::clone(&c.properties)),
            };
            for (bot, hooks) in &self.bot_webhooks {
                // Once per push kind for a bot too, should one change reach it in two pushes.
                if !push.to.as_slice().contains(bot) || seen_by_bots.contains(&(bot, &push.kind)) {
                    continue;
                }
                seen_by_bots.push((bot, &push.kind));
                for spec in hooks.as_webhooks() {
                    if spec.action == action && spec.filters.matches(&subject) {
                        // A bot's webhooks are known by the bot's id.
                        calls.push(call(&Webhook {
                            webhook_id: bot.to_string(),
                            spec,
                        }));
                    }
                }
            }
            if !first_time {
                continue;
            }
            for registered in &self.webhooks {
                let webhook = &registered.webhook;
                if webhook.spec.action == action && webhook.spec.filters.matches(&subject) {
                    calls.push(call(webhook));
                }
            }
        }
        calls
    }

    /// The webhooks a call's changes of agents fire ([`Output::agent_changes`]), in order.
    /// No agent is told of them, so a bot's own webhooks that list the action fire for every
    /// bot of the license, as an `agent_updated` push reaches every agent; then the license's.
    /// Neither action admits a filter, so every webhook of the action fires.
    pub fn agent_webhook_calls(&self, changes: &[AgentChange]) -> Vec<WebhookCall> {
        let mut calls = Vec::new();
        let no_chat = |_: &UserId| false;
        let subject = WebhookSubject {
            chat_properties: None,
            thread_properties: None,
            event_properties: None,
            in_chat: &no_chat,
            author: None,
        };
        for change in changes {
            let action = change.action();
            let call = |webhook: Webhook| WebhookCall {
                webhook,
                action,
                chat_id: None,
                data: WebhookData::Agent(change.clone()),
                chat_properties: None,
            };
            for (bot, hooks) in &self.bot_webhooks {
                for spec in hooks.as_webhooks() {
                    if spec.action == action && spec.filters.matches(&subject) {
                        calls.push(call(Webhook {
                            webhook_id: bot.to_string(),
                            spec,
                        }));
                    }
                }
            }
            for registered in &self.webhooks {
                let webhook = &registered.webhook;
                if webhook.spec.action == action && webhook.spec.filters.matches(&subject) {
                    calls.push(call(webhook.clone()));
                }
            }
        }
        calls
    }

    /// Every webhook a call's output fires: its pushes' ([`webhook_calls`](Self::webhook_calls)),
    /// then its changes of agents' ([`agent_webhook_calls`](Self::agent_webhook_calls)).
    pub fn output_webhook_calls<T>(&self, out: &Output<T>) -> Vec<WebhookCall> {
        let mut calls = self.webhook_calls(&out.pushes);
        calls.extend(self.agent_webhook_calls(&out.agent_changes));
        calls
    }

    /// The role of an event's author: an agent of the license, else a customer (system
    /// messages have none).
    fn author_role(&self, author: Option<&UserId>) -> Option<Role> {
        let author = author?;
        Some(if self.agent_slot(author).is_some() {
            Role::Agent
        } else {
            Role::Customer
        })
    }
}
