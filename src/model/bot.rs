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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{Agent, UserId};

    #[test]
    fn statuses_and_priorities_have_the_protocols_names() {
        for status in [
            BotStatus::AcceptingChats,
            BotStatus::NotAcceptingChats,
            BotStatus::Offline,
        ] {
            let text = serde_json::to_value(status).unwrap();
            assert_eq!(text, json!(status.as_str()));
            assert_eq!(serde_json::from_value::<BotStatus>(text).unwrap(), status);
        }
        assert_eq!(BotStatus::NotAcceptingChats.as_str(), "not accepting chats");
        for priority in [
            GroupPriority::First,
            GroupPriority::Normal,
            GroupPriority::Last,
        ] {
            assert_eq!(
                serde_json::to_value(priority).unwrap(),
                json!(priority.as_str())
            );
        }
        assert!(GroupPriority::First < GroupPriority::Normal);
        assert!(GroupPriority::Normal < GroupPriority::Last);
        assert!(serde_json::from_value::<BotStatus>(json!("accepting_chats")).is_err());
    }

    #[test]
    fn a_status_sets_presence_and_routing_status() {
        use RoutingStatus::*;
        assert_eq!(
            BotStatus::AcceptingChats.presence(NotAcceptingChats),
            (true, AcceptingChats)
        );
        assert_eq!(
            BotStatus::NotAcceptingChats.presence(AcceptingChats),
            (true, NotAcceptingChats)
        );
        // Offline disconnects, keeping the routing status for when it comes back.
        assert_eq!(
            BotStatus::Offline.presence(NotAcceptingChats),
            (false, NotAcceptingChats)
        );
        for online in [true, false] {
            for rs in [AcceptingChats, NotAcceptingChats] {
                let status = BotStatus::of(online, rs);
                assert_eq!(status.presence(rs), (online, rs), "{status:?}");
            }
        }
    }

    #[test]
    fn the_docs_create_sample_decodes_and_its_webhooks_validate() {
        let bot: NewBotAgent = serde_json::from_value(json!({
            "name": "Helper", "avatar": "cdn.example.com/helper.png",
            "status": "accepting chats", "max_chats_count": 4,
            "groups": [{ "id": 0, "priority": "normal" }, { "id": 3, "priority": "first" }],
            "webhooks": { "url": "http://hooks.example.com/in", "secret_key": "k",
                "actions": [{ "name": "incoming_chat_thread",
                    "filters": { "chat_properties": { "source": { "type": { "values": ["a"] } } } } },
                    { "name": "incoming_event" }] }
        }))
        .unwrap();
        assert_eq!(
            bot.groups[1],
            BotGroup {
                id: GroupId(3),
                priority: GroupPriority::First
            }
        );
        let hooks = bot.webhooks.unwrap();
        hooks.validate().unwrap();
        let as_webhooks: Vec<NewWebhook> = hooks.as_webhooks().collect();
        assert_eq!(as_webhooks.len(), 2);
        assert_eq!(as_webhooks[0].action, WebhookAction::IncomingChatThread);
        assert_eq!(as_webhooks[1].secret_key, "k");
        check_bot_groups(&bot.groups).unwrap();
    }

    #[test]
    fn webhooks_refuse_what_register_webhook_refuses() {
        let with = |actions: serde_json::Value| -> Result<(), String> {
            let hooks: BotWebhooks = serde_json::from_value(json!({
                "url": "http://hooks.example.com/in", "secret_key": "k", "actions": actions
            }))
            .map_err(|e| e.to_string())?;
            hooks.validate().map_err(|e| e.to_string())
        };
        assert!(with(json!([{ "name": "thread_closed" }])).is_ok());
        assert!(with(json!([])).unwrap_err().contains("no action"));
        assert!(with(json!([{ "name": "thread_closed" }, { "name": "thread_closed" }])).is_err());
        // event_properties do not apply to thread_closed.
        let filtered = json!([{ "name": "thread_closed",
            "filters": { "event_properties": { "a": { "b": { "exists": true } } } } }]);
        assert!(with(filtered).unwrap_err().contains("event_properties"));
        assert!(with(json!([{ "name": "no_such_action" }])).is_err());
    }

    #[test]
    fn groups_are_checked_and_priorities_count_where_the_agent_is() {
        let twice = [
            BotGroup {
                id: GroupId(1),
                priority: GroupPriority::First,
            },
            BotGroup {
                id: GroupId(1),
                priority: GroupPriority::Normal,
            },
        ];
        assert!(check_bot_groups(&twice).is_err());
        let many: Vec<BotGroup> = (0..=MAX_BOT_GROUPS as u32)
            .map(|id| BotGroup {
                id: GroupId(id),
                priority: GroupPriority::Normal,
            })
            .collect();
        assert!(check_bot_groups(&many).is_err());

        let agent = Agent::new(UserId::new("a").unwrap(), "A")
            .with_group_priority(GroupId(0), GroupPriority::Last)
            .with_group_priority(GroupId(1), GroupPriority::First);
        let groups = |ids: &[u32]| ids.iter().map(|&g| GroupId(g)).collect();
        assert_eq!(
            agent.priority_for(&groups(&[])),
            GroupPriority::Last,
            "group 0"
        );
        assert_eq!(agent.priority_for(&groups(&[1, 2])), GroupPriority::First);
        assert_eq!(
            agent.priority_for(&groups(&[2])),
            GroupPriority::Normal,
            "not in 2"
        );
        // Setting `normal` again keeps no entry: a profile without priorities stays as it was.
        let plain = agent
            .with_group_priority(GroupId(0), GroupPriority::Normal)
            .with_group_priority(GroupId(1), GroupPriority::Normal);
        assert!(plain.group_priorities.is_empty());
    }
}
