//! Commands: every call that changes the engine, as one serializable value, and the one entry
//! point that applies them ([`Engine::execute`]).
//!
//! The facades ([`AgentApi`](crate::AgentApi), [`CustomerApi`](crate::CustomerApi)) build a
//! command and run it here; the wire layer decodes JSON into one; a journal record is one with
//! its number and time, and replaying the record executes it again. Adding an action to either
//! API means a variant here, its arm in [`Engine::run_agent`] or [`Engine::run_customer`] with
//! its handler in this module's siblings, a facade method, and its wire name in
//! `src/wire/actions.rs`.

use serde::{Deserialize, Serialize};

use super::{AutoScopeRules, Engine, Output, Requester, SentEvent, TransferTarget};
use crate::error::Error;
use crate::model::{
    Agent, ArchivedThread, BotAgentUpdate, ChatId, Customer, CustomerUpdate, EventId, File,
    MulticastScopes, NewBotAgent, NewEvent, NewWebhook, Properties, PropertyConfig, Recipients,
    RecordedEvent, Scopes, StartChat, ThreadId, Timestamp, UserId, Webhook,
};
use crate::push::{ChatThread, Postback};
use crate::routing::RoutingStatus;

/// A call that changes the engine, with who makes it: the unit of [`Engine::execute`], of a
/// journal record and of replay.
///
/// ```
/// use chatio::{Agent, AgentCommand, Command, Engine, NewEvent, Response, StartChat, Timestamp, UserId};
/// let mut engine = Engine::default();
/// let anna = UserId::new("anna@example.com")?;
/// engine.add_agent(Agent::new(anna.clone(), "Anna"))?;
/// let now = Timestamp::from_unix_seconds(1_700_000_000);
/// let start = Command::Agent {
///     agent_id: anna.clone(),
///     command: AgentCommand::StartChat { customer_id: None, chat: StartChat::default() },
/// };
/// let Response::ChatThread(chat) = engine.execute(now, start)?.response else { panic!() };
/// let send = Command::Agent {
///     agent_id: anna,
///     command: AgentCommand::SendEvent { chat_id: chat.id, event: NewEvent::message("Hi").into() },
/// };
/// assert!(matches!(engine.execute(now, send)?.response, Response::SentEvent(_)));
/// # Ok::<(), chatio::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Command {
    /// A call of the Agent API, made by `agent_id`.
    Agent {
        /// Who makes it.
        agent_id: UserId,
        /// What it does.
        command: AgentCommand,
    },
    /// A call of the Customer API, made by `customer_id`.
    Customer {
        /// Who makes it.
        customer_id: UserId,
        /// What it does.
        command: CustomerCommand,
    },
    /// A call of the host (configuration, presence, time).
    Host(HostCommand),
}

/// A command of the Agent API; each variant is the [`AgentApi`](crate::AgentApi) method and
/// the protocol action of the same name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[allow(missing_docs)] // each variant is the facade method of the same name, documented there
pub enum AgentCommand {
    StartChat {
        customer_id: Option<UserId>,
        chat: StartChat,
    },
    JoinChat {
        chat_id: ChatId,
        agent_ids: Vec<UserId>,
    },
    RemoveFromChat {
        chat_id: ChatId,
        agent_ids: Vec<UserId>,
        customer_ids: Vec<UserId>,
    },
    SendEvent {
        chat_id: ChatId,
        event: RecordedEvent,
    },
    SendRichMessagePostback {
        chat_id: ChatId,
        thread_id: ThreadId,
        event_id: EventId,
        postback: Postback,
    },
    Multicast {
        scopes: MulticastScopes,
        content: serde_json::Value,
    },
    SendTypingIndicator {
        chat_id: ChatId,
        recipients: Recipients,
        is_typing: bool,
    },
    CloseThread {
        chat_id: ChatId,
    },
    UpdateAgent {
        agent_id: Option<UserId>,
        routing_status: Option<RoutingStatus>,
    },
    BanCustomer {
        customer_id: UserId,
        days: u32,
    },
    TransferChat {
        chat_id: ChatId,
        target: TransferTarget,
    },
    UpdateChatProperties {
        chat_id: ChatId,
        properties: Properties,
    },
    UpdateChatThreadProperties {
        chat_id: ChatId,
        thread_id: ThreadId,
        properties: Properties,
    },
    UpdateChatScopes {
        chat_id: ChatId,
        add_scopes: Scopes,
        remove_scopes: Scopes,
    },
    AddAutoChatScopes {
        description: Option<String>,
        scopes: Scopes,
        rules: AutoScopeRules,
    },
    RemoveAutoChatScopes {
        id: String,
    },
    UpdateLastSeenTimestamp {
        chat_id: ChatId,
        timestamp: Option<Timestamp>,
    },
    // The Configuration API's, made by agents too.
    CreateProperties {
        properties: Vec<PropertyConfig>,
    },
    RegisterWebhook {
        webhook: NewWebhook,
    },
    UnregisterWebhook {
        webhook_id: String,
    },
    CreateBotAgent {
        bot: NewBotAgent,
    },
    UpdateBotAgent {
        update: BotAgentUpdate,
    },
    RemoveBotAgent {
        bot_agent_id: UserId,
    },
}

/// A command of the Customer API; each variant is the [`CustomerApi`](crate::CustomerApi)
/// method and the protocol action of the same name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[allow(missing_docs)] // each variant is the facade method of the same name, documented there
pub enum CustomerCommand {
    StartChat {
        chat: StartChat,
    },
    SendEvent {
        chat_id: ChatId,
        event: RecordedEvent,
    },
    SendFile {
        chat_id: ChatId,
        custom_id: Option<String>,
        file: File,
    },
    SendRichMessagePostback {
        chat_id: ChatId,
        thread_id: ThreadId,
        event_id: EventId,
        postback: Postback,
    },
    SendSneakPeek {
        chat_id: ChatId,
        text: String,
    },
    SendTypingIndicator {
        chat_id: ChatId,
        is_typing: bool,
    },
    CloseThread {
        chat_id: ChatId,
    },
    UpdateCustomer {
        update: CustomerUpdate,
    },
    UpdateChatProperties {
        chat_id: ChatId,
        properties: Properties,
    },
    UpdateChatThreadProperties {
        chat_id: ChatId,
        thread_id: ThreadId,
        properties: Properties,
    },
    UpdateChatScopes {
        chat_id: ChatId,
        add_scopes: Scopes,
        remove_scopes: Scopes,
    },
    UpdateLastSeenTimestamp {
        chat_id: ChatId,
        timestamp: Option<Timestamp>,
    },
}

/// A call only the host makes: configuration (what chat.io's Configuration API does), the
/// agents' connections, and the passing of time. Each variant is the [`Engine`] method of the
/// same name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HostCommand {
    /// [`Engine::add_agent`].
    AddAgent(Agent),
    /// [`Engine::add_customer`].
    AddCustomer(Customer),
    /// [`Engine::create_customer`]: registers a customer with the next id of the engine's
    /// generator.
    CreateCustomer {
        /// The id the generator must draw, if given: a journal record carries the id it drew,
        /// and replay checks that it draws the same (a record from an engine with another seed
        /// is refused rather than replayed into different ids).
        customer_id: Option<UserId>,
    },
    /// [`Engine::configure_property`].
    ConfigureProperty(PropertyConfig),
    /// [`Engine::set_router`], by the router's [`name`](crate::routing::Router::name). Routers
    /// are code, not data: [`Engine::execute`] knows the built-in ones
    /// ([`builtin_router`](crate::routing::builtin_router)); a host with its own passes a
    /// resolver to [`Engine::apply_with`].
    SetRouter {
        /// The router's name.
        name: String,
    },
    /// [`Engine::set_agent_presence`].
    SetAgentPresence {
        /// The agent.
        agent_id: UserId,
        /// Connected or not.
        online: bool,
    },
    /// [`Engine::update_agent_profile`]: the new profile, whose id names the agent.
    UpdateAgentProfile {
        /// The new profile.
        agent: Agent,
    },
    /// [`Engine::remove_agent`].
    RemoveAgent {
        /// The agent.
        agent_id: UserId,
    },
    /// [`Engine::tick`].
    Tick,
    /// [`Engine::archive_threads`]: hands the events of closed threads that closed before
    /// `closed_before` to the host, at most `limit` threads.
    ArchiveThreads {
        /// Threads closed at or after this time stay.
        closed_before: Timestamp,
        /// The most threads to archive in this call.
        limit: usize,
    },
}

/// What a command returns to whoever made it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Response {
    /// The command has no response beyond succeeding.
    Done,
    /// `start_chat`: the new chat with its first thread (boxed: it is by far the largest).
    ChatThread(Box<ChatThread>),
    /// `send_event`, `send_file`: the stored event and its thread.
    SentEvent(SentEvent),
    /// `update_last_seen_timestamp`: the requester's last-seen time in the chat now.
    Timestamp(Timestamp),
    /// `add_auto_chat_scopes`: the new configuration's id.
    AutoChatScopesId(String),
    /// `update_customer`: the customer as it is now.
    Customer(Customer),
    /// `create_customer`: the new customer's id.
    CustomerId(UserId),
    /// `register_webhook`: the webhook as registered, with its id.
    Webhook(Webhook),
    /// `create_bot_agent`: the new bot's profile, with its id (boxed: a profile is large).
    Agent(Box<Agent>),
    /// [`HostCommand::ArchiveThreads`]: the threads archived, whole, for the host to keep.
    ArchivedThreads(Vec<ArchivedThread>),
}

/// The typed responses a facade method gives, taken back out of a [`Response`].
pub(crate) trait FromResponse: Sized {
    fn from_response(response: Response) -> Option<Self>;
}

macro_rules! from_response {
    ($($variant:ident($ty:ty)),* $(,)?) => {$(
        impl FromResponse for $ty {
            fn from_response(response: Response) -> Option<Self> {
                match response {
                    Response::$variant(value) => Some(value),
                    _ => None,
                }
            }
        }
        impl From<$ty> for Response {
            fn from(value: $ty) -> Self {
                Response::$variant(value)
            }
        }
    )*};
}

from_response!(
    SentEvent(SentEvent),
    Timestamp(Timestamp),
    AutoChatScopesId(String),
    Customer(Customer),
    CustomerId(UserId),
    Webhook(Webhook),
    Agent(Box<Agent>),
);

impl FromResponse for ChatThread {
    fn from_response(response: Response) -> Option<Self> {
        match response {
            Response::ChatThread(chat) => Some(*chat),
            _ => None,
        }
    }
}

impl From<ChatThread> for Response {
    fn from(chat: ChatThread) -> Self {
        Response::ChatThread(Box::new(chat))
    }
}

impl FromResponse for () {
    fn from_response(response: Response) -> Option<Self> {
        matches!(response, Response::Done).then_some(())
    }
}

impl From<()> for Response {
    fn from((): ()) -> Self {
        Response::Done
    }
}

impl<T> Output<T> {
    /// The output with its response changed by `f`.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Output<U> {
        Output {
            response: f(self.response),
            pushes: self.pushes,
            journal: self.journal,
            agent_changes: self.agent_changes,
        }
    }
}

impl Output<Response> {
    /// The response as the type a facade method returns. A command whose handler gave another
    /// kind of response would be a bug in the engine, never a property of the input.
    pub(crate) fn typed<T: FromResponse>(self) -> Result<Output<T>, Error> {
        let Output {
            response,
            pushes,
            journal,
            agent_changes,
        } = self;
        match T::from_response(response) {
            Some(response) => Ok(Output {
                response,
                pushes,
                journal,
                agent_changes,
            }),
            None => Err(Error::Internal(
                "a command answered with another kind of response",
            )),
        }
    }
}

/// Wraps a handler's typed output as a command's.
fn respond<T: Into<Response>>(out: Result<Output<T>, Error>) -> Result<Output<Response>, Error> {
    out.map(|out| out.map(Into::into))
}

impl Engine {
    /// Executes one command at `now`, as [`as_agent`](Self::as_agent) or
    /// [`as_customer`](Self::as_customer) and the facade method of the same name would, or as
    /// the host method of a [`HostCommand`]. The output carries the command's journal record,
    /// after any that waited in the engine.
    ///
    /// Host commands are not refused once the license has expired (see
    /// [`license_check`](Self::license_check)); both APIs' commands are.
    pub fn execute(&mut self, now: Timestamp, command: Command) -> Result<Output<Response>, Error> {
        match command {
            Command::Agent { agent_id, command } => self.as_agent(&agent_id, now)?.execute(command),
            Command::Customer {
                customer_id,
                command,
            } => self.as_customer(&customer_id, now)?.execute(command),
            Command::Host(command) => {
                let out = self.run_host(now, command)?;
                Ok(self.hand_out(out))
            }
        }
    }

    /// Runs a command of either API as `me`, journaling it if it changed anything: what
    /// every facade method that changes something comes down to.
    pub(crate) fn run_api<C: ApiCommand>(
        &mut self,
        me: &Requester,
        command: C,
    ) -> Result<Output<Response>, Error> {
        match command.into_send_event() {
            Ok((chat_id, event)) => {
                respond(self.run_send_event::<C>(me, chat_id, event.into_new_event()))
            }
            Err(command) => {
                let entry = self.journaling().then(|| me.record(command.clone()));
                self.run_command(me, entry, |e, me| command.handle(e, me))
            }
        }
    }

    /// A `send_event` command of API `C` as `me`, journaled from the event as stored rather
    /// than a copy of the request (see `RecordedEvent`). The hot path: the facades' `send_event`
    /// comes here directly, without building the command and taking its `Response` apart.
    pub(crate) fn run_send_event<C: ApiCommand>(
        &mut self,
        me: &Requester,
        chat_id: ChatId,
        event: NewEvent,
    ) -> Result<Output<SentEvent>, Error> {
        self.run_recorded(
            me,
            |e, me| e.send_event(me, chat_id, event),
            |stored, me| {
                let event = RecordedEvent::stored(stored?);
                Some(me.record(C::send_event(chat_id, event)))
            },
        )
    }

    fn agent_command(
        &mut self,
        me: &Requester,
        command: AgentCommand,
    ) -> Result<Output<Response>, Error> {
        use AgentCommand as A;
        match command {
            A::StartChat { customer_id, chat } => respond(self.start_chat(me, customer_id, chat)),
            A::JoinChat { chat_id, agent_ids } => respond(self.join_chat(me, chat_id, &agent_ids)),
            A::RemoveFromChat {
                chat_id,
                agent_ids,
                customer_ids,
            } => respond(self.remove_from_chat(me, chat_id, &agent_ids, &customer_ids)),
            A::SendEvent { chat_id, event } => respond(
                self.send_event(me, chat_id, event.into_new_event())
                    .map(|(out, _)| out),
            ),
            A::SendRichMessagePostback {
                chat_id,
                thread_id,
                event_id,
                postback,
            } => {
                respond(self.send_rich_message_postback(me, chat_id, thread_id, event_id, postback))
            }
            A::Multicast { scopes, content } => respond(self.multicast(me, &scopes, content)),
            A::SendTypingIndicator {
                chat_id,
                recipients,
                is_typing,
            } => respond(self.send_typing_indicator(me, chat_id, recipients, is_typing)),
            A::CloseThread { chat_id } => respond(self.close_thread(me, chat_id)),
            A::UpdateAgent {
                agent_id,
                routing_status,
            } => respond(self.update_agent(me, agent_id.as_ref(), routing_status)),
            A::BanCustomer { customer_id, days } => {
                respond(self.ban_customer(me, &customer_id, days))
            }
            A::TransferChat { chat_id, target } => {
                respond(self.transfer_chat(me, chat_id, &target))
            }
            A::UpdateChatProperties {
                chat_id,
                properties,
            } => respond(self.update_chat_properties(me, chat_id, properties)),
            A::UpdateChatThreadProperties {
                chat_id,
                thread_id,
                properties,
            } => respond(self.update_chat_thread_properties(me, chat_id, thread_id, properties)),
            A::UpdateChatScopes {
                chat_id,
                add_scopes,
                remove_scopes,
            } => respond(self.update_chat_scopes(me, chat_id, add_scopes, remove_scopes)),
            A::AddAutoChatScopes {
                description,
                scopes,
                rules,
            } => respond(self.add_auto_chat_scopes(me, description, scopes, rules)),
            A::RemoveAutoChatScopes { id } => respond(self.remove_auto_chat_scopes(me, &id)),
            A::UpdateLastSeenTimestamp { chat_id, timestamp } => {
                respond(self.update_last_seen_timestamp(me, chat_id, timestamp))
            }
            A::CreateProperties { properties } => respond(self.create_properties(me, properties)),
            A::RegisterWebhook { webhook } => respond(self.register_webhook(me, webhook)),
            A::UnregisterWebhook { webhook_id } => {
                respond(self.unregister_webhook(me, &webhook_id))
            }
            A::CreateBotAgent { bot } => respond(self.create_bot_agent(me, bot)),
            A::UpdateBotAgent { update } => respond(self.update_bot_agent(me, update)),
            A::RemoveBotAgent { bot_agent_id } => respond(self.remove_bot_agent(me, &bot_agent_id)),
        }
    }

    fn customer_command(
        &mut self,
        me: &Requester,
        command: CustomerCommand,
    ) -> Result<Output<Response>, Error> {
        use CustomerCommand as C;
        match command {
            C::StartChat { chat } => respond(self.start_chat(me, Some(me.id.clone()), chat)),
            C::SendEvent { chat_id, event } => respond(
                self.send_event(me, chat_id, event.into_new_event())
                    .map(|(out, _)| out),
            ),
            C::SendFile {
                chat_id,
                custom_id,
                file,
            } => respond(self.send_file(me, chat_id, custom_id, file)),
            C::SendRichMessagePostback {
                chat_id,
                thread_id,
                event_id,
                postback,
            } => {
                respond(self.send_rich_message_postback(me, chat_id, thread_id, event_id, postback))
            }
            C::SendSneakPeek { chat_id, text } => respond(self.send_sneak_peek(me, chat_id, text)),
            C::SendTypingIndicator { chat_id, is_typing } => {
                respond(self.send_typing_indicator(me, chat_id, Recipients::All, is_typing))
            }
            C::CloseThread { chat_id } => respond(self.close_thread(me, chat_id)),
            C::UpdateCustomer { update } => respond(self.update_customer(me, update)),
            C::UpdateChatProperties {
                chat_id,
                properties,
            } => respond(self.update_chat_properties(me, chat_id, properties)),
            C::UpdateChatThreadProperties {
                chat_id,
                thread_id,
                properties,
            } => respond(self.update_chat_thread_properties(me, chat_id, thread_id, properties)),
            C::UpdateChatScopes {
                chat_id,
                add_scopes,
                remove_scopes,
            } => respond(self.update_chat_scopes(me, chat_id, add_scopes, remove_scopes)),
            C::UpdateLastSeenTimestamp { chat_id, timestamp } => {
                respond(self.update_last_seen_timestamp(me, chat_id, timestamp))
            }
        }
    }

    /// Runs a host command at `now`. The records of the configuration calls wait in the
    /// engine: [`execute`](Self::execute) hands them out in its output, while the host methods
    /// ([`add_agent`](Self::add_agent), ...) leave them for the next output.
    pub(crate) fn run_host(
        &mut self,
        now: Timestamp,
        command: HostCommand,
    ) -> Result<Output<Response>, Error> {
        let done = |()| Output::quiet(Response::Done);
        match command {
            HostCommand::AddAgent(agent) => self.add_agent(agent).map(done),
            HostCommand::AddCustomer(customer) => self.add_customer(customer).map(done),
            HostCommand::CreateCustomer { customer_id } => {
                let drawn = self.next_customer_id();
                if let Some(expected) = customer_id.filter(|id| *id != drawn) {
                    return Err(Error::InvalidField {
                        field: "customer_id",
                        reason: format!("the generator draws {drawn} next, not {expected}"),
                    });
                }
                Ok(Output::quiet(Response::CustomerId(self.create_customer())))
            }
            HostCommand::ConfigureProperty(config) => self.configure_property(config).map(done),
            HostCommand::SetRouter { name } => {
                let router = crate::routing::builtin_router(&name).ok_or(Error::InvalidField {
                    field: "router",
                    reason: format!("unknown router `{name}`"),
                })?;
                self.set_router(router);
                Ok(Output::quiet(Response::Done))
            }
            HostCommand::SetAgentPresence { agent_id, online } => {
                respond(self.set_agent_presence(&agent_id, online, now))
            }
            HostCommand::UpdateAgentProfile { agent } => {
                respond(self.update_agent_profile(agent, now))
            }
            HostCommand::RemoveAgent { agent_id } => respond(self.remove_agent(&agent_id, now)),
            HostCommand::Tick => Ok(self.tick(now).map(Into::into)),
            HostCommand::ArchiveThreads {
                closed_before,
                limit,
            } => Ok(self
                .archive_threads(now, closed_before, limit)?
                .map(Response::ArchivedThreads)),
        }
    }
}

impl Requester<'_> {
    /// The journal entry of `command` made by this requester now.
    pub(crate) fn record(&self, command: impl ApiCommand) -> super::Entry {
        super::Entry {
            at: self.now,
            command: command.into_command(self.id.clone()),
        }
    }
}

/// What the commands of the two APIs share, so that one runner serves both.
pub(crate) trait ApiCommand: Clone {
    /// The command made whole with its requester's id, for its journal record.
    fn into_command(self, requester: UserId) -> Command;
    /// `send_event`'s chat and event, or the command as it was.
    fn into_send_event(self) -> Result<(ChatId, RecordedEvent), Self>;
    /// The `send_event` command of this API.
    fn send_event(chat_id: ChatId, event: RecordedEvent) -> Self;
    /// Runs the command's handler as `me`.
    fn handle(self, engine: &mut Engine, me: &Requester) -> Result<Output<Response>, Error>;
}

/// `ApiCommand` for an API's command type: its variant of [`Command`], the field that names its
/// requester, and its handler.
macro_rules! api_command {
    ($Command:ident, $Variant:ident, $requester:ident, $handler:ident) => {
        impl ApiCommand for $Command {
            fn into_command(self, $requester: UserId) -> Command {
                Command::$Variant {
                    $requester,
                    command: self,
                }
            }

            #[inline(always)]
            fn into_send_event(self) -> Result<(ChatId, RecordedEvent), Self> {
                match self {
                    $Command::SendEvent { chat_id, event } => Ok((chat_id, event)),
                    other => Err(other),
                }
            }

            fn send_event(chat_id: ChatId, event: RecordedEvent) -> Self {
                $Command::SendEvent { chat_id, event }
            }

            fn handle(
                self,
                engine: &mut Engine,
                me: &Requester,
            ) -> Result<Output<Response>, Error> {
                engine.$handler(me, self)
            }
        }
    };
}

api_command!(AgentCommand, Agent, agent_id, agent_command);
api_command!(CustomerCommand, Customer, customer_id, customer_command);
