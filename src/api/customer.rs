//! The Customer API.

use crate::engine::{Engine, Output, QueuePosition, Requester, SentEvent};
use crate::error::Error;
use crate::journal::{CustomerAction, Entry, RecordedEvent};
use crate::model::{
    ChatId, Customer, EventId, File, NewEvent, Recipients, ThreadId, Timestamp, UserId,
};
use crate::model::{Properties, Scopes};
use crate::push::{ChatThread, Postback};
use crate::query::{ChatThreads, ChatsSummary, CustomerLogin, ThreadsSummary};

use super::journal_entry::{self, Action as _};
use super::{CustomerUpdate, Pagination, StartChat};

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

    /// The command's journal entry (see [`journal_entry::now`]).
    fn journal(&self, action: impl FnOnce() -> CustomerAction) -> Option<Entry> {
        journal_entry::now(self.engine, &self.me, action)
    }

    /// Runs a command and, if it was accepted and changed anything, journals it.
    fn run<T>(
        &mut self,
        entry: Option<Entry>,
        command: impl FnOnce(&mut Engine, &Requester) -> Result<Output<T>, Error>,
    ) -> Result<Output<T>, Error> {
        self.engine.run_command(&self.me, entry, command)
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
        self.engine.customer_login(&self.me)
    }

    /// `get_chats_summary`: a page of the customer's chats (offset at most 100; limit 10 by
    /// default, at most 25).
    pub fn get_chats_summary(&self, page: Pagination) -> Result<ChatsSummary, Error> {
        self.engine.get_chats_summary(&self.me, page)
    }

    /// `get_chat_threads`: the given threads of one of the customer's chats.
    pub fn get_chat_threads(
        &self,
        chat_id: ChatId,
        thread_ids: &[ThreadId],
    ) -> Result<ChatThreads, Error> {
        self.engine.get_chat_threads(&self.me, chat_id, thread_ids)
    }

    /// `get_chat_threads_summary`: a page of a chat's threads (limit 25 by default, at most 100).
    pub fn get_chat_threads_summary(
        &self,
        chat_id: ChatId,
        page: Pagination,
    ) -> Result<ThreadsSummary, Error> {
        self.engine
            .get_chat_threads_summary(&self.me, chat_id, page)
    }

    /// `start_chat`: a new chat for this customer, with its first thread.
    pub fn start_chat(&mut self, chat: StartChat) -> Result<Output<ChatThread>, Error> {
        let action = self.journal(|| CustomerAction::StartChat { chat: chat.clone() });
        self.run(action, |e, me| e.start_chat(me, Some(me.id.clone()), chat))
    }

    /// `send_event`: adds an event to the chat's active thread, or starts a new thread.
    pub fn send_event(
        &mut self,
        chat_id: ChatId,
        event: NewEvent,
    ) -> Result<Output<SentEvent>, Error> {
        self.engine.run_recorded(
            &self.me,
            |e, me| e.send_event(me, chat_id, event),
            // The engine returns the stored event only when it journals the call.
            |stored, me| {
                stored.map(|stored| {
                    let event = RecordedEvent::stored(stored);
                    CustomerAction::SendEvent { chat_id, event }.entry(me.id.clone(), me.now)
                })
            },
        )
    }

    /// `send_file`: a file the host has stored becomes a `file` event; the host passes its
    /// metadata.
    pub fn send_file(
        &mut self,
        chat_id: ChatId,
        custom_id: Option<String>,
        file: File,
    ) -> Result<Output<SentEvent>, Error> {
        let action = self.journal(|| CustomerAction::SendFile {
            chat_id,
            custom_id: custom_id.clone(),
            file: file.clone(),
        });
        self.run(action, |e, me| e.send_file(me, chat_id, custom_id, file))
    }

    /// `send_rich_message_postback`: toggles this customer on a rich message's buttons.
    pub fn send_rich_message_postback(
        &mut self,
        chat_id: ChatId,
        thread_id: ThreadId,
        event_id: EventId,
        postback: Postback,
    ) -> Result<Output<()>, Error> {
        let action = self.journal(|| CustomerAction::SendRichMessagePostback {
            chat_id,
            thread_id,
            event_id,
            postback: postback.clone(),
        });
        self.run(action, |e, me| {
            e.send_rich_message_postback(me, chat_id, thread_id, event_id, postback)
        })
    }

    /// `send_sneak_peek`: what the customer is typing, for agents only. Nothing is stored.
    pub fn send_sneak_peek(
        &mut self,
        chat_id: ChatId,
        text: impl Into<String>,
    ) -> Result<Output<()>, Error> {
        let text = text.into();
        let action = self.journal(|| CustomerAction::SendSneakPeek {
            chat_id,
            text: text.clone(),
        });
        self.run(action, |e, me| e.send_sneak_peek(me, chat_id, text))
    }

    /// `send_typing_indicator`: tells the chat's agents the customer is (not) typing.
    pub fn send_typing_indicator(
        &mut self,
        chat_id: ChatId,
        is_typing: bool,
    ) -> Result<Output<()>, Error> {
        let action = self.journal(|| CustomerAction::SendTypingIndicator { chat_id, is_typing });
        self.run(action, |e, me| {
            e.send_typing_indicator(me, chat_id, Recipients::All, is_typing)
        })
    }

    /// Where the chat waits in the queue for an agent, and for how long; `None` when it is not
    /// waiting (assigned, or no active thread).
    pub fn get_queue_position(&self, chat_id: ChatId) -> Result<Option<QueuePosition>, Error> {
        self.engine.get_queue_position(&self.me, chat_id)
    }

    /// `close_thread`: deactivates the chat's active thread.
    pub fn close_thread(&mut self, chat_id: ChatId) -> Result<Output<()>, Error> {
        let action = self.journal(|| CustomerAction::CloseThread { chat_id });
        self.run(action, |e, me| e.close_thread(me, chat_id))
    }

    /// `update_customer`: changes the customer's details; each active chat is told.
    pub fn update_customer(&mut self, update: CustomerUpdate) -> Result<Output<Customer>, Error> {
        let action = self.journal(|| CustomerAction::UpdateCustomer {
            update: update.clone(),
        });
        self.run(action, |e, me| e.update_customer(me, update))
    }

    /// `update_chat_properties`: sets chat properties; configured, typed, writable by customers.
    pub fn update_chat_properties(
        &mut self,
        chat_id: ChatId,
        properties: Properties,
    ) -> Result<Output<()>, Error> {
        let action = self.journal(|| CustomerAction::UpdateChatProperties {
            chat_id,
            properties: properties.clone(),
        });
        self.run(action, |e, me| {
            e.update_chat_properties(me, chat_id, properties)
        })
    }

    /// `update_chat_thread_properties`: sets properties of one thread of the chat.
    pub fn update_chat_thread_properties(
        &mut self,
        chat_id: ChatId,
        thread_id: ThreadId,
        properties: Properties,
    ) -> Result<Output<()>, Error> {
        let action = self.journal(|| CustomerAction::UpdateChatThreadProperties {
            chat_id,
            thread_id,
            properties: properties.clone(),
        });
        self.run(action, |e, me| {
            e.update_chat_thread_properties(me, chat_id, thread_id, properties)
        })
    }

    /// `update_chat_scopes`: adds and removes groups that may see the chat.
    pub fn update_chat_scopes(
        &mut self,
        chat_id: ChatId,
        add_scopes: Scopes,
        remove_scopes: Scopes,
    ) -> Result<Output<()>, Error> {
        let action = self.journal(|| CustomerAction::UpdateChatScopes {
            chat_id,
            add_scopes: add_scopes.clone(),
            remove_scopes: remove_scopes.clone(),
        });
        self.run(action, |e, me| {
            e.update_chat_scopes(me, chat_id, add_scopes, remove_scopes)
        })
    }

    /// `update_last_seen_timestamp`: moves the customer's last-seen time in a chat forward.
    pub fn update_last_seen_timestamp(
        &mut self,
        chat_id: ChatId,
        timestamp: Option<Timestamp>,
    ) -> Result<Output<Timestamp>, Error> {
        let action =
            self.journal(|| CustomerAction::UpdateLastSeenTimestamp { chat_id, timestamp });
        self.run(action, |e, me| {
            e.update_last_seen_timestamp(me, chat_id, timestamp)
        })
    }
}
