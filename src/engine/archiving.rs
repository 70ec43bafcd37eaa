//! Archiving: closed threads leave the engine's memory for the host's store.
//!
//! A license keeps every thread it ever had, so without this its memory grows with its whole
//! history. [`Engine::archive_threads`] hands the events of old closed threads to the host and
//! keeps a stub of each (the thread without its events, plus [`Archived`]'s counts), so memory
//! is proportional to the active chats and the recent history.
//!
//! Decisions:
//! * Archiving is a host command ([`HostCommand::ArchiveThreads`]) naming its cut-off time,
//!   journaled like any other: replaying the record archives the same threads, so a restored
//!   engine holds the same stubs (the host already has their events from the first run). It is
//!   not done by [`tick`](Engine::tick) from a configured age: the host owns the store the
//!   events go to, so the host decides when (`chatio-server --archive-after`).
//! * Only closed threads go, and never the last thread of a chat: annotations land on the last
//!   thread even when it is closed, and chat summaries (`last_event_per_type`, the chat's order
//!   for a customer) read it. A chat therefore keeps its newest thread whole.
//! * The stub keeps the thread's id, order, times, users and properties (which
//!   `update_chat_thread_properties` may still change), so the thread rules (R1, R3),
//!   `threads_summary`, `total_threads`, pagination and `get_archives`' filters on dates, agents
//!   and chat properties stay exact without loading anything.
//! * What needs the events asks the host for them: `get_chat_threads` and `get_archives` list
//!   the archived threads of their answer, and the host fills them in
//!   ([`ChatThreads::fill`](crate::query::ChatThreads::fill),
//!   [`Archives::fill`](crate::query::Archives::fill)) with the same per-requester filtering
//!   as threads in memory. `get_archives`' text `query` looks only at threads in memory: an
//!   archived thread never matches one. `last_event_per_type` in chat summaries looks only at
//!   threads in memory; a rich message postback to an event of an archived thread is refused
//!   with `event not found`; a `custom_id` retry of an archived event is a new event.

use super::{Engine, Entry, HostCommand, Output};
use crate::error::Error;
use crate::model::{Archived, ArchivedThread, Role, Timestamp};

/// The most threads one [`Engine::archive_threads`] hands out: the host stores them in the
/// same commit as the record, so a long history is archived over several calls rather than in
/// one commit the size of the license.
pub const ARCHIVE_BATCH_LIMIT: usize = 10_000;

impl Engine {
    /// Archives up to `limit` closed threads that closed before `closed_before`, oldest chats
    /// first, and returns them whole for the host to keep (see the module docs of `archiving`,
    /// in `src/engine/archiving.rs`, for what stays). Threads already archived, active threads
    /// and the last thread of each chat are never taken. A call that finds nothing changes
    /// nothing and makes no journal record.
    ///
    /// Refused with `validation`, changing nothing, for `limit` 0 or over
    /// [`ARCHIVE_BATCH_LIMIT`].
    ///
    /// ```
    /// use chatio::{Engine, EngineConfig, NewEvent, StartChat, Timestamp};
    /// let mut engine = Engine::new(EngineConfig::with_seed(1));
    /// let jan = engine.create_customer();
    /// let t = Timestamp::from_unix_seconds(1_700_000_000);
    /// let start = StartChat::default().with_event(NewEvent::message("hello"));
    /// let chat = engine.as_customer(&jan, t)?.start_chat(start)?.response.id;
    /// engine.as_customer(&jan, t)?.close_thread(chat)?;
    /// engine.as_customer(&jan, t + 60)?.send_event(chat, NewEvent::message("again"))?;
    /// let out = engine.archive_threads(t + 3600, t + 120, 100)?;
    /// assert_eq!(out.response.len(), 1);
    /// assert_eq!(out.response[0].thread.events.len(), 1);
    /// let stub = &engine.chat(&chat).unwrap().threads[0];
    /// assert!(stub.is_archived() && stub.events.is_empty());
    /// # Ok::<(), chatio::Error>(())
    /// ```
    pub fn archive_threads(
        &mut self,
        now: Timestamp,
        closed_before: Timestamp,
        limit: usize,
    ) -> Result<Output<Vec<ArchivedThread>>, Error> {
        if limit == 0 || limit > ARCHIVE_BATCH_LIMIT {
            return Err(Error::InvalidField {
                field: "limit",
                reason: format!("{limit} is not between 1 and {ARCHIVE_BATCH_LIMIT}"),
            });
        }
        let mut due: Vec<(usize, usize)> = Vec::new();
        'chats: for (slot, chat) in self.all_chats().enumerate() {
            let before_last = chat.threads.len().saturating_sub(1);
            for (t, thread) in chat.threads[..before_last].iter().enumerate() {
                let old = thread.closed_at.is_some_and(|c| c < closed_before);
                if !thread.active && old && thread.archived.is_none() {
                    due.push((slot, t));
                    if due.len() == limit {
                        break 'chats;
                    }
                }
            }
        }
        if due.is_empty() {
            return Ok(Output::quiet(Vec::new()));
        }
        self.now = self.now.max(now);
        let key = self.custom_id_key.clone();
        let mut archived = Vec::with_capacity(due.len());
        let mut last_slot = None;
        for (slot, t) in due {
            let chat = self.chat_at_mut(slot);
            let chat_id = chat.id;
            let thread = &mut chat.threads[t];
            let stub = Archived {
                agent_events: thread.event_count_for(Role::Agent),
                customer_events: thread.event_count_for(Role::Customer),
                customer_last_activity: thread
                    .event_refs_for(Role::Customer)
                    .rev()
                    .find(|e| e.counts_as_activity())
                    .map_or(thread.timestamp, |e| e.timestamp),
            };
            let hollow = thread.events.without_records();
            let events = std::mem::replace(&mut thread.events, hollow);
            let mut whole = thread.clone();
            whole.events = events;
            thread.archived = Some(Box::new(stub));
            archived.push(ArchivedThread::new(chat_id, whole));
            if last_slot.is_some_and(|s| s != slot) {
                self.reindex(last_slot, &key);
            }
            last_slot = Some(slot);
        }
        self.reindex(last_slot, &key);
        let entry = Entry::host(
            now,
            HostCommand::ArchiveThreads {
                closed_before,
                limit,
            },
        );
        Ok(self.journaled(Output::quiet(archived), entry))
    }

    /// After a chat's threads lost their events: counts them again and rebuilds its
    /// `custom_id` index, whose event numbers count every event of the chat in order.
    fn reindex(&mut self, slot: Option<usize>, key: &crate::model::custom_ids::CustomIdKey) {
        if let Some(slot) = slot {
            let chat = self.chat_at_mut(slot);
            chat.recount();
            chat.reindex_custom_ids(key);
            chat.threads.shrink_to_fit();
        }
    }
}
