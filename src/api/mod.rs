//! The two facades, one per protocol API, each bound to one identity and one moment.

/// The methods both facades have: running any command of their API, and the actions both
/// APIs share, which differ only in the command type they build.
macro_rules! shared_methods {
    ($Command:ident) => {
        /// Executes a command of this API as this requester: what every method that changes
        /// something does, for any command (the wire layer decodes requests into commands and
        /// runs them here). Its [`Output::journal`] carries the command's record.
        pub fn execute(&mut self, command: $Command) -> Result<Output<Response>, Error> {
            self.engine.run_api(&self.me, command)
        }

        /// [`execute`](Self::execute), with the response as the method's type.
        fn run<T: FromResponse>(&mut self, command: $Command) -> Result<Output<T>, Error> {
            self.execute(command)?.typed()
        }

        /// The moment this facade acts at.
        pub fn now(&self) -> Timestamp {
            self.me.now
        }

        /// `get_chat_threads_summary`: a page of a chat's threads (limit 25 by default, at
        /// most 100).
        pub fn get_chat_threads_summary(
            &self,
            chat_id: ChatId,
            page: Pagination,
        ) -> Result<ThreadsSummary, Error> {
            View(self.engine).get_chat_threads_summary(&self.me, chat_id, page)
        }

        /// `send_rich_message_postback`: toggles the requester on a rich message's buttons.
        pub fn send_rich_message_postback(
            &mut self,
            chat_id: ChatId,
            thread_id: ThreadId,
            event_id: EventId,
            postback: Postback,
        ) -> Result<Output<()>, Error> {
            self.run($Command::SendRichMessagePostback {
                chat_id,
                thread_id,
                event_id,
                postback,
            })
        }

        /// `close_thread`: deactivates the chat's active thread.
        pub fn close_thread(&mut self, chat_id: ChatId) -> Result<Output<()>, Error> {
            self.run($Command::CloseThread { chat_id })
        }

        /// `update_chat_properties`: sets chat properties; configured, typed, writable by the
        /// requester's role.
        pub fn update_chat_properties(
            &mut self,
            chat_id: ChatId,
            properties: Properties,
        ) -> Result<Output<()>, Error> {
            self.run($Command::UpdateChatProperties {
                chat_id,
                properties,
            })
        }

        /// `update_chat_thread_properties`: sets properties of one thread of a chat.
        pub fn update_chat_thread_properties(
            &mut self,
            chat_id: ChatId,
            thread_id: ThreadId,
            properties: Properties,
        ) -> Result<Output<()>, Error> {
            self.run($Command::UpdateChatThreadProperties {
                chat_id,
                thread_id,
                properties,
            })
        }

        /// `update_chat_scopes`: adds and removes the groups (and, for agents, the agents)
        /// that may see the chat.
        pub fn update_chat_scopes(
            &mut self,
            chat_id: ChatId,
            add_scopes: Scopes,
            remove_scopes: Scopes,
        ) -> Result<Output<()>, Error> {
            self.run($Command::UpdateChatScopes {
                chat_id,
                add_scopes,
                remove_scopes,
            })
        }

        /// `update_last_seen_timestamp`: moves the requester's last-seen time in a chat
        /// forward.
        pub fn update_last_seen_timestamp(
            &mut self,
            chat_id: ChatId,
            timestamp: Option<Timestamp>,
        ) -> Result<Output<Timestamp>, Error> {
            self.run($Command::UpdateLastSeenTimestamp { chat_id, timestamp })
        }
    };
}
use shared_methods;

mod agent;
mod customer;

pub use agent::AgentApi;
pub use customer::CustomerApi;
