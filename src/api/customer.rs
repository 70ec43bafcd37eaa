//! The Customer API.

use crate::engine::{
    CustomerCommand, Engine, FromResponse, Output, QueuePosition, Requester, Response, SentEvent,
};
use crate::error::Error;
use crate::model::{ChatId, Customer, EventId, File, NewEvent, ThreadId, Timestamp, UserId};
use crate::model::{Properties, Scopes};
use crate::push::{ChatThread, Postback};
use crate::query::View;
use crate::query::{ChatThreads, ChatsSummary, CustomerLogin, ThreadsSummary};

use crate::model::{CustomerUpdate, Pagination, StartChat};

/// The Customer API, acting as one customer at one moment. Made by [`Engine::as_customer`].
///
/// A customer sees only its own chats, and never an agents-only event.
///
/// ```
/// use chatio::{Engine, NewEvent, StartChat, Timestamp};
/// let mut engine = Engine::default();
/// let jan = engine.create_customer();
/// let now = Timestamp::from_unix_seconds(1_700_000_000);
/// let chat = engine
///     .as_customer(&jan, now)?
///     .start_chat(StartChat::default().with_event(NewEvent::message("Hi!")))?;
/// assert_eq!(chat.response.thread.events.len(), 1);
/// # Ok::<(), chatio::Error>(())
/// ```
#[derive(Debug)]
pub struct CustomerApi<'e> {
    engine: &'e mut Engine,
    me: Requester<'e>,
}

impl<'e> CustomerApi<'e> {
    pub(crate) fn new(engine: &'e mut Engine, me: Requester<'e>) -> Self {
        Self { engine, me }
    }

    /// Executes a command of this API as this requester: what every method that changes
    /// something does, for any command (the wire layer decodes requests into commands and runs
    /// them here). Its [`Output::journal`] carries the command's record.
    pub fn execute(&mut self, command: CustomerCommand) -> Result<Output<Response>, Error> {
        self.engine.run_customer(&self.me, command)
    }

    /// [`execute`](Self::execute), with the response as the method's type.
    fn run<T: FromResponse>(&mut self, command: CustomerCommand) -> Result<Output<T>, Error> {
        self.execute(command)?.typed()
    }

    /// The customer this facade acts as.
    pub fn customer_id(&self) -> &UserId {
        self.me.id
    }

    /// The moment this facade acts at.
    pub fn now(&self) -> Timestamp {
        self.me.now
    }

    /// `login`: who the customer is.
    pub fn login(&self) -> Result<CustomerLogin, Error> {
        View(self.engine).customer_login(&self.me)
    }

    /// `get_chats_summary`: a page of the customer's chats (offset at most 100; limit 10 by
    /// default, at most 25).
    pub fn get_chats_summary(&self, page: Pagination) -> Result<ChatsSummary, Error> {
        View(self.engine).get_chats_summary(&self.me, page)
    }

    /// `get_chat_threads`: the given threads of one of the customer's chats.
    pub fn get_chat_threads(
        &self,
        chat_id: ChatId,
        thread_ids: &[ThreadId],
    ) -> Result<ChatThreads, Error> {
        View(self.engine).get_chat_threads(&self.me, chat_id, thread_ids)
    }

    /// `get_chat_threads_summary`: a page of a chat's threads (limit 25 by default, at most 100).
    pub fn get_chat_threads_summary(
        &self,
        chat_id: ChatId,
        page: Pagination,
    ) -> Result<ThreadsSummary, Error> {
        View(self.engine).get_chat_threads_summary(&self.me, chat_id, page)
    }

    /// `start_chat`: a new chat for this customer, with its first thread.
    pub fn start_chat(&mut self, chat: StartChat) -> Result<Output<ChatThread>, Error> {
        self.run(CustomerCommand::StartChat { chat })
    }

    /// `send_event`: adds an event to the chat's active thread, or starts a new thread.
    pub fn send_event(
        &mut self,
        chat_id: ChatId,
        event: NewEvent,
    ) -> Result<Output<SentEvent>, Error> {
        self.run(CustomerCommand::SendEvent {
            chat_id,
            event: event.into(),
        })
    }

    /// `send_file`: a file the host has stored becomes a `file` event; the host passes its
    /// metadata.
    pub fn send_file(
        &mut self,
        chat_id: ChatId,
        custom_id: Option<String>,
        file: File,
    ) -> Result<Output<SentEvent>, Error> {
        self.run(CustomerCommand::SendFile {
            chat_id,
            custom_id,
            file,
        })
    }

    /// `send_rich_message_postback`: toggles this customer on a rich message's buttons.
    pub fn send_rich_message_postback(
        &mut self,
        chat_id: ChatId,
        thread_id: ThreadId,
        event_id: EventId,
        postback: Postback,
    ) -> Result<Output<()>, Error> {
        self.run(CustomerCommand::SendRichMessagePostback {
            chat_id,
            thread_id,
            event_id,
            postback,
        })
    }

    /// `send_sneak_peek`: what the customer is typing, for agents only. Nothing is stored.
    pub fn send_sneak_peek(
        &mut self,
        chat_id: ChatId,
        text: impl Into<String>,
    ) -> Result<Output<()>, Error> {
        let text = text.into();
        self.run(CustomerCommand::SendSneakPeek { chat_id, text })
    }

    /// `send_typing_indicator`: tells the chat's agents the customer is (not) typing.
    pub fn send_typing_indicator(
        &mut self,
        chat_id: ChatId,
        is_typing: bool,
    ) -> Result<Output<()>, Error> {
        self.run(CustomerCommand::SendTypingIndicator { chat_id, is_typing })
    }

    /// Where the chat waits in the queue for an agent, and for how long; `None` when it is not
    /// waiting (assigned, or no active thread).
    pub fn get_queue_position(&self, chat_id: ChatId) -> Result<Option<QueuePosition>, Error> {
        self.engine.get_queue_position(&self.me, chat_id)
    }

    /// `close_thread`: deactivates the chat's active thread.
    pub fn close_thread(&mut self, chat_id: ChatId) -> Result<Output<()>, Error> {
        self.run(CustomerCommand::CloseThread { chat_id })
    }

    /// `update_customer`: changes the customer's details; each active chat is told.
    pub fn update_customer(&mut self, update: CustomerUpdate) -> Result<Output<Customer>, Error> {
        self.run(CustomerCommand::UpdateCustomer { update })
    }

    /// `update_chat_properties`: sets chat properties; configured, typed, writable by customers.
    pub fn update_chat_properties(
        &mut self,
        chat_id: ChatId,
        properties: Properties,
    ) -> Result<Output<()>, Error> {
        self.run(CustomerCommand::UpdateChatProperties {
            chat_id,
            properties,
        })
    }

    /// `update_chat_thread_properties`: sets properties of one thread of the chat.
    pub fn update_chat_thread_properties(
        &mut self,
        chat_id: ChatId,
        thread_id: ThreadId,
        properties: Properties,
    ) -> Result<Output<()>, Error> {
        self.run(CustomerCommand::UpdateChatThreadProperties {
            chat_id,
            thread_id,
            properties,
        })
    }

    /// `update_chat_scopes`: adds and removes groups that may see the chat.
    pub fn update_chat_scopes(
        &mut self,
        chat_id: ChatId,
        add_scopes: Scopes,
        remove_scopes: Scopes,
    ) -> Result<Output<()>, Error> {
        self.run(CustomerCommand::UpdateChatScopes {
            chat_id,
            add_scopes,
            remove_scopes,
        })
    }

    /// `update_last_seen_timestamp`: moves the customer's last-seen time in a chat forward.
    pub fn update_last_seen_timestamp(
        &mut self,
        chat_id: ChatId,
        timestamp: Option<Timestamp>,
    ) -> Result<Output<Timestamp>, Error> {
        self.run(CustomerCommand::UpdateLastSeenTimestamp { chat_id, timestamp })
    }
}
