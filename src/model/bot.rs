//! Bot agents as the Configuration API configures them (`create_bot_agent`,
//! `update_bot_agent`): their status, their priority in each group, and the webhooks sent to
//! them.
//!
//! A bot is an [`Agent`](super::Agent) of kind [`Bot`](super::AgentKind::Bot) owned by the
//! agent who created it; this file holds what the Configuration API says about bots beyond an
//! agent's profile.

use serde::{Deserialize, Serialize};

use super::{GroupId, NewWebhook, WebhookAction, WebhookFilters, check_label};
use crate::error::Error;
use crate::routing::RoutingStatus;

/// The most groups one bot may be put in.
pub const MAX_BOT_GROUPS: usize = 100;

/// The most webhook actions one bot may ask for (one per [`WebhookAction`] is all there is).
pub const MAX_BOT_WEBHOOK_ACTIONS: usize = WebhookAction::ALL.len();

/// How soon routing offers an agent the chats of a group (`groups[].priority`).
///
/// The order of the variants is the order of preference: `first` before `normal` before
/// `last`. See the routing module docs for exactly how the automatic routers use it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum GroupPriority {
    /// Offered the group's chats before anyone else (e.g. a bot that greets every customer).
    First,
    /// Offered them when no `first` agent of the group can take the chat. An agent's priority
    /// in a group it was given none for.
    #[default]
    Normal,
    /// Offered them only when no `first` or `normal` agent can take the chat.
    Last,
}

impl GroupPriority {
    /// The protocol's name.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupPriority::First => "first",
            GroupPriority::Normal => "normal",
            GroupPriority::Last => "last",
        }
    }
}

/// A bot's status as the Configuration API spells it (with spaces): whether it is connected
/// and takes chats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BotStatus {
    /// Online and routed chats.
    #[default]
    #[serde(rename = "accepting chats")]
    AcceptingChats,
    /// Online, but routed no new chats.
    #[serde(rename = "not accepting chats")]
    NotAcceptingChats,
    /// Not connected: routed nothing.
    #[serde(rename = "offline")]
    Offline,
}

impl BotStatus {
    /// The protocol's name.
    pub fn as_str(self) -> &'static str {
        match self {
            BotStatus::AcceptingChats => "accepting chats",
            BotStatus::NotAcceptingChats => "not accepting chats",
            BotStatus::Offline => "offline",
        }
    }

    /// The status of an agent with this presence and routing status.
    pub fn of(online: bool, routing_status: RoutingStatus) -> Self {
        match (online, routing_status) {
            (false, _) => BotStatus::Offline,
            (true, RoutingStatus::AcceptingChats) => BotStatus::AcceptingChats,
            (true, RoutingStatus::NotAcceptingChats) => BotStatus::NotAcceptingChats,
        }
    }

    /// The presence and routing status this status sets. `offline` keeps the routing status
    /// the bot had: it only disconnects it.
    pub fn presence(self, before: RoutingStatus) -> (bool, RoutingStatus) {
        match self {
            BotStatus::AcceptingChats => (true, RoutingStatus::AcceptingChats),
            BotStatus::NotAcceptingChats => (true, RoutingStatus::NotAcceptingChats),
            BotStatus::Offline => (false, before),
        }
    }
}

/// A group a bot belongs to, with its priority there (`groups[]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotGroup {
    /// The group.
    pub id: GroupId,
    /// The bot's priority in it.
    pub priority: GroupPriority,
}

/// One action a bot's webhooks fire on, with its filters (`webhooks.actions[]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotWebhookAction {
    /// The action, by the names `register_webhook` takes.
    pub name: WebhookAction,
    /// When it fires.
    #[serde(default, skip_serializing_if = "is_default")]
    pub filters: WebhookFilters,
}

fn is_default(filters: &WebhookFilters) -> bool {
    *filters == WebhookFilters::default()
}

/// The webhooks sent to a bot (`webhooks`): one URL and secret for the actions it lists.
///
/// They fire on what the bot itself is told: a push the bot receives whose action is listed
/// (and passes that action's filters) is delivered to the URL, in the envelope of
/// `register_webhook`'s webhooks, with the bot's id as `webhook_id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotWebhooks {
    /// Where to POST them.
    pub url: String,
    /// Sent in every delivery.
    pub secret_key: String,
    /// What they fire on.
    pub actions: Vec<BotWebhookAction>,
}

impl BotWebhooks {
    /// Each action as a webhook registration, which is how they are checked and delivered.
    pub fn as_webhooks(&self) -> impl Iterator<Item = NewWebhook> + '_ {
        self.actions.iter().map(|action| NewWebhook {
            url: self.url.clone(),
            description: None,
            action: action.name,
            secret_key: self.secret_key.clone(),
            filters: action.filters.clone(),
        })
    }

    /// Checks the URL, the secret and each action's filters as `register_webhook` does, and
    /// that at least one action is listed, none twice.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |reason: String| Error::InvalidField {
            field: "webhooks.actions",
            reason,
        };
        if self.actions.is_empty() {
            return Err(invalid("lists no action".to_string()));
        }
        if self.actions.len() > MAX_BOT_WEBHOOK_ACTIONS {
            return Err(invalid(format!(
                "lists {} actions, over the {MAX_BOT_WEBHOOK_ACTIONS} there are",
                self.actions.len()
            )));
        }
        for (i, action) in self.actions.iter().enumerate() {
            if self.actions[..i].iter().any(|a| a.name == action.name) {
                return Err(invalid(format!("{} is listed twice", action.name.as_str())));
            }
        }
        self.as_webhooks().try_for_each(|w| w.validate())
    }
}

/// A new bot, as `create_bot_agent` asks for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBotAgent {
    /// Display name.
    pub name: String,
    /// Avatar URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    /// Its status from the start.
    pub status: BotStatus,
    /// How many chats routing may give it at once; 6 unless given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_chats_count: Option<u32>,
    /// Its groups, with its priority in each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<BotGroup>,
    /// The webhooks sent to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<BotWebhooks>,
}

/// Changes to a bot, as `update_bot_agent` asks for them: what is given replaces what the bot
/// had (`groups` and `webhooks` whole), what is left out stays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotAgentUpdate {
    /// The bot.
    pub id: super::UserId,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Avatar URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    /// Status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<BotStatus>,
    /// Slots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_chats_count: Option<u32>,
    /// Groups, with priorities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<BotGroup>>,
    /// Webhooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<BotWebhooks>,
}

/// Checks a bot's groups: at most [`MAX_BOT_GROUPS`], none twice.
pub(crate) fn check_bot_groups(groups: &[BotGroup]) -> Result<(), Error> {
    let invalid = |reason: String| Error::InvalidField {
        field: "groups",
        reason,
    };
    if groups.len() > MAX_BOT_GROUPS {
        return Err(invalid(format!(
            "{} groups, over the limit of {MAX_BOT_GROUPS}",
            groups.len()
        )));
    }
    for (i, group) in groups.iter().enumerate() {
        if groups[..i].iter().any(|g| g.id == group.id) {
            return Err(invalid(format!("group {} is listed twice", group.id)));
        }
    }
    Ok(())
}

/// Checks an avatar URL: a label (nothing that could show as something else).
pub(crate) fn check_avatar(avatar: &str) -> Result<(), Error> {
    check_label("avatar", avatar)
}

/// A bot as `get_bot_agents` lists it and `get_bot_agent_details` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BotAgent {
    /// The bot's profile.
    pub agent: super::Agent,
    /// Its status now.
    pub status: BotStatus,
    /// The webhooks sent to it.
    pub webhooks: Option<BotWebhooks>,
}

impl BotAgent {
    /// Its groups with its priority in each, as `get_bot_agent_details` shows them.
    pub fn groups(&self) -> Vec<BotGroup> {
        self.agent
            .groups
            .iter()
            .map(|&id| BotGroup {
                id,
                priority: self.agent.priority_in(id),
            })
            .collect()
    }
}
