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
    /// The engine, read-only: what filling archived threads reads.
    pub(crate) fn engine(&self) -> &Engine {
        self.engine
    }

    pub(crate) fn new(engine: &'e mut Engine, me: Requester<'e>) -> Self {
        Self { engine, me }
    }

    super::shared_methods!(CustomerCommand);

    /// The customer this facade acts as.
    pub fn customer_id(&self) -> &UserId {
        self.me.id
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
        self.engine
            .run_send_event::<CustomerCommand>(&self.me, chat_id, event)
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

    /// `update_customer`: changes the customer's details; each active chat is told.
    pub fn update_customer(&mut self, update: CustomerUpdate) -> Result<Output<Customer>, Error> {
        self.run(CustomerCommand::UpdateCustomer { update })
    }
}
