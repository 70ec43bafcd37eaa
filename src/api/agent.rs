//! The Agent API.

use crate::engine::{
    AgentCommand, AutoChatScopes, AutoScopeRules, Engine, FromResponse, Output, Requester,
    Response, SentEvent, TransferTarget,
};
use crate::error::Error;
use crate::model::{Agent, BotAgent, BotAgentUpdate, NewBotAgent};
use crate::model::{ChatId, EventId, NewEvent, Recipients, ThreadId, Timestamp, UserId};
use crate::model::{NewWebhook, Properties, PropertyConfig, Scopes, Webhook};
use crate::push::{ChatThread, Postback};
use crate::query::View;
use crate::query::{AgentLogin, ChatThreads, ThreadsSummary};
use crate::query::{ArchiveFilters, Archives, ArchivesPagination, ChatFilters};
use crate::query::{ChatsPagination, FilteredChats};
use crate::routing::RoutingStatus;

use crate::model::{MulticastScopes, Pagination, StartChat};

/// The Agent API, acting as one agent at one moment. Made by [`Engine::as_agent`].
///
/// Each method is one protocol action, named as the protocol names it. Commands return an
/// [`Output`] (response and pushes); queries return their response alone and change nothing.
///
/// ```
/// use chatio::{Agent, Engine, NewEvent, StartChat, Timestamp, UserId};
/// let mut engine = Engine::default();
/// let anna = UserId::new("anna@example.com")?;
/// engine.add_agent(Agent::new(anna.clone(), "Anna"))?;
/// let now = Timestamp::from_unix_seconds(1_700_000_000);
/// let started = engine.as_agent(&anna, now)?.start_chat(None, StartChat::default())?;
/// let sent = engine
///     .as_agent(&anna, now)?
///     .send_event(started.response.id, NewEvent::message("Hello!"))?;
/// assert_eq!(sent.response.thread_id, started.response.thread.id);
/// # Ok::<(), chatio::Error>(())
/// ```
#[derive(Debug)]
pub struct AgentApi<'e> {
    engine: &'e mut Engine,
    me: Requester<'e>,
}

impl<'e> AgentApi<'e> {
    /// The engine, read-only: what filling archived threads reads.
    pub(crate) fn engine(&self) -> &Engine {
        self.engine
    }

    pub(crate) fn new(engine: &'e mut Engine, me: Requester<'e>) -> Self {
        Self { engine, me }
    }

    super::shared_methods!(AgentCommand);

    /// The agent this facade acts as.
    pub fn agent_id(&self) -> &UserId {
        self.me.id
    }

    /// `login`: the agent's profile and a summary of the newest active chats it may see, at most
    /// [`Limits::login_chats`](crate::Limits::login_chats) of them; `total_chats` counts them
    /// all, and [`get_filtered_chats`](Self::get_filtered_chats) pages through the rest.
    pub fn login(&self) -> Result<AgentLogin, Error> {
        View(self.engine).agent_login(&self.me)
    }

    /// `get_chat_threads`: the given threads of a chat with their events, and a summary of all
    /// its threads.
    pub fn get_chat_threads(
        &self,
        chat_id: ChatId,
        thread_ids: &[ThreadId],
    ) -> Result<ChatThreads, Error> {
        View(self.engine).get_chat_threads(&self.me, chat_id, thread_ids)
    }

    /// `start_chat`: a new chat, with the agent in it, optionally with a customer.
    pub fn start_chat(
        &mut self,
        customer_id: Option<UserId>,
        chat: StartChat,
    ) -> Result<Output<ChatThread>, Error> {
        self.run(AgentCommand::StartChat { customer_id, chat })
    }

    /// `join_chat`: adds agents to a chat.
    pub fn join_chat(
        &mut self,
        chat_id: ChatId,
        agent_ids: &[UserId],
    ) -> Result<Output<()>, Error> {
        self.run(AgentCommand::JoinChat {
            chat_id,
            agent_ids: agent_ids.to_vec(),
        })
    }

    /// `remove_from_chat`: removes agents from a chat (this agent when `agent_ids` is empty).
    /// Naming any customer is refused: a customer can never be removed.
    pub fn remove_from_chat(
        &mut self,
        chat_id: ChatId,
        agent_ids: &[UserId],
        customer_ids: &[UserId],
    ) -> Result<Output<()>, Error> {
        self.run(AgentCommand::RemoveFromChat {
            chat_id,
            agent_ids: agent_ids.to_vec(),
            customer_ids: customer_ids.to_vec(),
        })
    }

    /// `send_event`: adds an event to the chat's active thread, or starts a new thread.
    pub fn send_event(
        &mut self,
        chat_id: ChatId,
        event: NewEvent,
    ) -> Result<Output<SentEvent>, Error> {
        self.engine
            .run_send_event::<AgentCommand>(&self.me, chat_id, event)
    }

    /// `multicast`: sends any JSON to agents and customers. Nothing is stored.
    pub fn multicast(
        &mut self,
        scopes: &MulticastScopes,
        content: serde_json::Value,
    ) -> Result<Output<()>, Error> {
        self.run(AgentCommand::Multicast {
            scopes: scopes.clone(),
            content,
        })
    }

    /// `send_typing_indicator`: tells the chat this agent is (not) typing. Nothing is stored.
    pub fn send_typing_indicator(
        &mut self,
        chat_id: ChatId,
        recipients: Recipients,
        is_typing: bool,
    ) -> Result<Output<()>, Error> {
        self.run(AgentCommand::SendTypingIndicator {
            chat_id,
            recipients,
            is_typing,
        })
    }

    /// `update_agent`: sets an agent's routing status (`accepting_chats` or
    /// `not_accepting_chats`); every agent is told. `agent_id` defaults to this agent; another
    /// agent's status needs `agents--all:write` (owners and administrators).
    pub fn update_agent(
        &mut self,
        agent_id: Option<&UserId>,
        routing_status: Option<RoutingStatus>,
    ) -> Result<Output<()>, Error> {
        self.run(AgentCommand::UpdateAgent {
            agent_id: agent_id.cloned(),
            routing_status,
        })
    }

    /// `ban_customer`: bans a customer for 1 to 3650 days; its active threads are archived.
    pub fn ban_customer(&mut self, customer_id: &UserId, days: u32) -> Result<Output<()>, Error> {
        self.run(AgentCommand::BanCustomer {
            customer_id: customer_id.clone(),
            days,
        })
    }

    /// `transfer_chat` (LiveChat v3.x): hands the chat to an agent, or to an agent of a group,
    /// who must be able to take it now.
    pub fn transfer_chat(
        &mut self,
        chat_id: ChatId,
        target: &TransferTarget,
    ) -> Result<Output<()>, Error> {
        self.run(AgentCommand::TransferChat {
            chat_id,
            target: target.clone(),
        })
    }

    /// `get_filtered_chats`: a page of summaries of the chats this agent may see that pass the
    /// filters, newest first (`limit` 25 by default, at most 100). When there are more,
    /// `next_before_order` is the [`ChatsPagination::before_order`] that asks for the next
    /// page (the `order` of this page's last summary).
    ///
    /// ```
    /// use chatio::query::{ChatFilters, ChatsPagination};
    /// use chatio::{Agent, Engine, EngineConfig, NewEvent, StartChat, Timestamp, UserId};
    /// let mut engine = Engine::new(EngineConfig::with_seed(3));
    /// let anna = UserId::new("anna@example.com")?;
    /// engine.add_agent(Agent::new(anna.clone(), "Anna"))?;
    /// let t = Timestamp::from_unix_seconds(1_700_000_000);
    /// for i in 0..5 {
    ///     let jan = engine.create_customer();
    ///     let hi = StartChat::default().with_event(NewEvent::message(format!("chat {i}")));
    ///     let _ = engine.as_customer(&jan, t + i)?.start_chat(hi)?;
    /// }
    /// let api = engine.as_agent(&anna, t + 10)?;
    /// let mut page = ChatsPagination { limit: Some(2), before_order: None };
    /// let mut seen = Vec::new();
    /// loop {
    ///     let got = api.get_filtered_chats(&ChatFilters::default(), page)?;
    ///     assert_eq!(got.total_chats, 5);
    ///     seen.extend(got.chats_summary.iter().map(|s| s.order));
    ///     match got.next_before_order {
    ///         Some(order) => page.before_order = Some(order),
    ///         None => break,
    ///     }
    /// }
    /// assert_eq!(seen.len(), 5);
    /// assert!(seen.windows(2).all(|w| w[0] > w[1]), "newest first, each once");
    /// # Ok::<(), chatio::Error>(())
    /// ```
    pub fn get_filtered_chats(
        &self,
        filters: &ChatFilters,
        pagination: ChatsPagination,
    ) -> Result<FilteredChats, Error> {
        View(self.engine).get_filtered_chats(&self.me, filters, pagination)
    }

    /// `get_archives`: a page of the closed threads this agent may see that pass the filters,
    /// each with its chat, newest first. An archive is one closed thread, so a chat appears
    /// once per closed thread and never for its active one. Filters: `query` (text of
    /// messages, system messages and annotations, case-insensitive), `date_from` / `date_to`
    /// (`YYYY-MM-DD`, inclusive, on the thread's start in UTC), `agent_ids` (an agent who was
    /// in the chat during the thread) and `properties` (the chat's, as readable by agents).
    /// `team_ids` is refused: the engine has no teams (and the reference lists no `thread_ids`).
    /// Pages count from 1; `limit` is 25 by default, at most 100. Needs `chats--all:read`.
    pub fn get_archives(
        &self,
        filters: &ArchiveFilters,
        pagination: ArchivesPagination,
    ) -> Result<Archives, Error> {
        View(self.engine).get_archives(&self.me, filters, pagination)
    }

    /// `add_auto_chat_scopes`: chats that start matching `rules` get `scopes`; returns the id.
    pub fn add_auto_chat_scopes(
        &mut self,
        description: Option<String>,
        scopes: Scopes,
        rules: AutoScopeRules,
    ) -> Result<Output<String>, Error> {
        self.run(AgentCommand::AddAutoChatScopes {
            description,
            scopes,
            rules,
        })
    }

    /// `remove_auto_chat_scopes`.
    pub fn remove_auto_chat_scopes(&mut self, id: &str) -> Result<Output<()>, Error> {
        self.run(AgentCommand::RemoveAutoChatScopes { id: id.to_owned() })
    }

    /// `get_auto_chat_scopes_config`.
    pub fn get_auto_chat_scopes_config(&self) -> Result<Vec<AutoChatScopes>, Error> {
        self.engine.get_auto_chat_scopes_config(&self.me)
    }

    /// The Configuration API's `create_properties`: properties in this agent's namespace (its
    /// id; see `docs/properties.md`), all or none.
    pub fn create_properties(
        &mut self,
        properties: Vec<PropertyConfig>,
    ) -> Result<Output<()>, Error> {
        self.run(AgentCommand::CreateProperties { properties })
    }

    /// The Configuration API's `get_property_configs`: the properties of this agent's
    /// namespace, or with `all` (and `properties--all:read`) every property of the license.
    pub fn get_property_configs(&self, all: bool) -> Result<Vec<PropertyConfig>, Error> {
        self.engine.property_configs(&self.me, all)
    }

    /// The Configuration API's `register_webhook`: the webhook with its new id.
    pub fn register_webhook(&mut self, webhook: NewWebhook) -> Result<Output<Webhook>, Error> {
        self.run(AgentCommand::RegisterWebhook { webhook })
    }

    /// The Configuration API's `unregister_webhook`.
    pub fn unregister_webhook(&mut self, webhook_id: &str) -> Result<Output<()>, Error> {
        self.run(AgentCommand::UnregisterWebhook {
            webhook_id: webhook_id.to_owned(),
        })
    }

    /// The Configuration API's `get_webhooks_config`: this agent's webhooks, or with `all`
    /// (and `webhooks--all:read`) every webhook of the license.
    pub fn get_webhooks_config(&self, all: bool) -> Result<Vec<Webhook>, Error> {
        self.engine.webhooks_config(&self.me, all)
    }

    /// The Configuration API's `create_bot_agent`: a bot owned by this agent, with the new
    /// bot's profile (and id) as the response. See `docs/bot-agents.md`.
    pub fn create_bot_agent(&mut self, bot: NewBotAgent) -> Result<Output<Box<Agent>>, Error> {
        self.run(AgentCommand::CreateBotAgent { bot })
    }

    /// The Configuration API's `update_bot_agent`: changes one of this agent's bots.
    pub fn update_bot_agent(&mut self, update: BotAgentUpdate) -> Result<Output<()>, Error> {
        self.run(AgentCommand::UpdateBotAgent { update })
    }

    /// The Configuration API's `remove_bot_agent`: one of this agent's bots, or with
    /// `agents-bot--all:write` anyone's.
    pub fn remove_bot_agent(&mut self, bot_agent_id: &UserId) -> Result<Output<()>, Error> {
        self.run(AgentCommand::RemoveBotAgent {
            bot_agent_id: bot_agent_id.clone(),
        })
    }

    /// The Configuration API's `get_bot_agents`: this agent's bots, or with `all` (and
    /// `agents-bot--all:read`) every bot of the license.
    pub fn get_bot_agents(&self, all: bool) -> Result<Vec<BotAgent>, Error> {
        self.engine.bot_agents(&self.me, all)
    }

    /// The Configuration API's `get_bot_agent_details`: one of this agent's bots, or with
    /// `agents-bot--all:read` anyone's.
    pub fn get_bot_agent_details(&self, bot_agent_id: &UserId) -> Result<BotAgent, Error> {
        self.engine.bot_agent_details(&self.me, bot_agent_id)
    }
}
