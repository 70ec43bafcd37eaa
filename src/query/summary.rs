//! Chat summaries: the customer's `get_chats_summary` and the agent's `login`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::View;
use super::paginate;
use crate::engine::Requester;
use crate::error::Error;
use crate::model::Pagination;
use crate::model::{
    Agent, Chat, ChatId, Customer, Event, License, Location, Properties, Role, Scopes, Thread,
    ThreadId, Timestamp, User, UserId,
};

/// The latest event of one type in a chat, and where it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LastEvent {
    /// Its thread.
    pub thread_id: ThreadId,
    /// Its thread's order.
    pub thread_order: u64,
    /// The event.
    pub event: Arc<Event>,
}

/// One chat in a summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatSummary {
    /// The chat.
    pub id: ChatId,
    /// The order of the latest thing in the chat that the requester may see; summaries are
    /// sorted by it, newest first.
    pub order: u64,
    /// The chat's users.
    pub users: Vec<User>,
    /// Per user of the chat, the time it has seen the chat up to (`update_last_seen_timestamp`);
    /// users who never said are left out.
    #[serde(default)]
    pub last_seen: BTreeMap<UserId, Timestamp>,
    /// The routing status of each of the chat's agents who is online, as the Agent API shows it
    /// on the agent objects of `users`; offline agents are left out, and a customer's view has
    /// none (the Customer API does not show it).
    #[serde(default)]
    pub routing_statuses: BTreeMap<UserId, crate::routing::RoutingStatus>,
    /// The chat's properties.
    pub properties: Properties,
    /// The chat's scopes, as the requester may see them (see [`Scopes::visible_to`]).
    pub scopes: Scopes,
    /// Per event type (`message`, `system_message`, ...), the latest one the requester may see.
    pub last_event_per_type: BTreeMap<String, LastEvent>,
    /// The last thread without its events.
    pub last_thread_summary: Option<Thread>,
}

/// The response of the customer's `get_chats_summary`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatsSummary {
    /// One page of the customer's chats, newest first.
    pub chats_summary: Vec<ChatSummary>,
    /// How many chats the customer has.
    pub total_chats: usize,
}

/// The response of the agent's `login`: the license, the agent's profile and the newest active
/// chats it may see.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentLogin {
    /// The license the engine serves, as configured ([`EngineConfig::license`]); `None` when
    /// the host configured none.
    ///
    /// [`EngineConfig::license`]: crate::EngineConfig::license
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<License>,
    /// The agent.
    pub my_profile: Agent,
    /// The chats with an active thread that the agent may see, newest first: all of them, or
    /// the newest [`Limits::login_chats`](crate::Limits::login_chats) when there are more.
    pub chats_summary: Vec<ChatSummary>,
    /// How many chats with an active thread the agent may see.
    pub total_chats: usize,
    /// When `chats_summary` could not hold them all: the `before_order` with which
    /// `get_filtered_chats` (filter `include_inactive: Some(false)`) lists the next ones. `None`
    /// when every one is listed.
    pub next_before_order: Option<u64>,
}

/// The response of the customer's `login`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerLogin {
    /// The customer's id.
    pub customer_id: crate::model::UserId,
    /// The customer as the engine knows it.
    pub customer: Customer,
    /// Where the host publishes the license's static configuration
    /// ([`Engine::set_static_config_path`](crate::Engine::set_static_config_path)), if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub static_config_path: Option<String>,
}

/// `get_chats_summary` limits: offset at most 100; limit 10 by default, at most 25.
const CHATS_LIMIT: (u32, u32, u32) = (10, 25, 100);

impl View<'_> {
    pub(crate) fn chat_summary(&self, chat: &Chat, role: Role) -> ChatSummary {
        let mut last_event_per_type = BTreeMap::new();
        'threads: for thread in chat.threads.iter().rev() {
            for event in thread.event_refs_for(role).rev() {
                last_event_per_type
                    .entry(event.type_name().to_string())
                    .or_insert_with(|| LastEvent {
                        thread_id: thread.id,
                        thread_order: thread.order,
                        event: self.event_ref_view(event, role),
                    });
                if last_event_per_type.len() == EVENT_TYPES {
                    break 'threads;
                }
            }
        }
        ChatSummary {
            id: chat.id,
            order: chat.order_for(role),
            users: self.chat_users(chat),
            last_seen: self.chat_users_last_seen(chat),
            routing_statuses: self.chat_agents_routing_statuses(chat, role),
            properties: self.properties_view(&chat.properties, Location::Chat, role),
            scopes: chat.scopes.visible_to(role),
            last_event_per_type,
            last_thread_summary: chat
                .last_thread()
                .map(|t| self.thread_summary_view(t, role)),
        }
    }

    /// The customer's `get_chats_summary`.
    pub(crate) fn get_chats_summary(
        &self,
        req: &Requester,
        page: Pagination,
    ) -> Result<ChatsSummary, Error> {
        let (offset, limit) = paginate(page, CHATS_LIMIT.0, CHATS_LIMIT.1, Some(CHATS_LIMIT.2))?;
        let chat_ids = self.customer_chats(req.id);
        let mut chats: Vec<&Chat> = chat_ids.iter().filter_map(|id| self.chat(id)).collect();
        chats.sort_by_key(|c| std::cmp::Reverse(c.order_for(Role::Customer)));
        Ok(ChatsSummary {
            chats_summary: chats
                .iter()
                .skip(offset)
                .take(limit)
                .map(|c| self.chat_summary(c, Role::Customer))
                .collect(),
            total_chats: chat_ids.len(),
        })
    }

    /// The agent's `login`.
    pub(crate) fn agent_login(&self, req: &Requester) -> Result<AgentLogin, Error> {
        let my_profile = self
            .agent(req.id)
            .cloned()
            .ok_or_else(|| Error::UnknownRequester(req.id.clone()))?;
        let limit = self.config().limits.login_chats as usize;
        let chats = self
            .all_chats()
            .filter(|c| c.is_active() && self.may_see(req.id, Role::Agent, c));
        let (newest, total_chats, more) = super::newest_chats(chats, None, limit);
        Ok(AgentLogin {
            next_before_order: newest.last().filter(|_| more).map(|c| c.order()),
            license: self.config().license.clone(),
            my_profile,
            chats_summary: newest
                .iter()
                .map(|c| self.chat_summary(c, Role::Agent))
                .collect(),
            total_chats,
        })
    }

    /// The customer's `login`.
    pub(crate) fn customer_login(&self, req: &Requester) -> Result<CustomerLogin, Error> {
        let customer = self
            .customer(req.id)
            .cloned()
            .ok_or_else(|| Error::UnknownRequester(req.id.clone()))?;
        Ok(CustomerLogin {
            customer_id: req.id.clone(),
            customer,
            static_config_path: self.static_config_path().map(str::to_owned),
        })
    }
}

/// How many event types exist; a summary stops looking once it has one of each.
const EVENT_TYPES: usize = 7;
