//! `get_chat_threads` and `get_chat_threads_summary`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::View;
use super::paginate;
use crate::engine::{Engine, Requester};
use crate::error::Error;
use crate::model::Pagination;
use crate::model::{
    ArchivedThread, ChatId, Location, Properties, Role, Scopes, Thread, ThreadId, Timestamp, User,
    UserId,
};

/// A thread in a summary: id, order and how many events the requester may see in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadSummary {
    /// The thread.
    pub id: ThreadId,
    /// Its order.
    pub order: u64,
    /// Events in it that the requester may see.
    pub total_events: usize,
}

/// The response of `get_chat_threads`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatThreads {
    /// The chat.
    pub id: ChatId,
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
    /// The threads asked for, in the order asked, with the events the requester may see.
    pub threads: Vec<Thread>,
    /// The chat's threads, newest first: all of them, or the newest
    /// [`THREAD_IDS_LIMIT`] when there are more (`get_chat_threads_summary` pages through
    /// every one).
    pub threads_summary: Vec<ThreadSummary>,
    /// How many threads the chat has.
    pub total_threads: usize,
    /// The threads of `threads` that are archived
    /// ([`Engine::archive_threads`](crate::Engine::archive_threads)) and still without their
    /// events: the host loads them from its store and calls [`fill`](Self::fill). Empty for an
    /// answer that is whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub archived: Vec<ThreadId>,
    /// Whose view this is, for [`fill`](Self::fill)'s filtering. Not serialized; an answer read
    /// back from JSON is filled as a customer's, the narrowest view.
    #[serde(skip, default = "narrowest")]
    role: Role,
}

fn narrowest() -> Role {
    Role::Customer
}

impl ChatThreads {
    /// The archived threads this answer needs, as `(chat, thread)` keys of the host's store.
    pub fn to_load(&self) -> Vec<(ChatId, ThreadId)> {
        self.archived.iter().map(|t| (self.id, *t)).collect()
    }

    /// Fills the archived threads of `threads` with their events from `loaded` (what the host
    /// keeps, as [`Engine::archive_threads`](crate::Engine::archive_threads) handed it out),
    /// filtered for the requester exactly as a thread in memory is: events for agents only,
    /// and event and thread properties the requester may not read, are left out of a
    /// customer's view. The thread's properties and times come from the engine, which keeps
    /// them current. Fails, changing nothing, if a thread is missing from `loaded` or does
    /// not match what the engine kept of it.
    pub fn fill(&mut self, engine: &Engine, loaded: &[ArchivedThread]) -> Result<(), Error> {
        let view = View(engine);
        let mut filled = Vec::with_capacity(self.archived.len());
        for id in &self.archived {
            filled.push(view.filled_thread(self.id, *id, loaded, self.role)?);
        }
        for thread in filled {
            if let Some(slot) = self.threads.iter_mut().find(|t| t.id == thread.id) {
                *slot = thread;
            }
        }
        self.archived.clear();
        Ok(())
    }
}

/// The most thread ids one `get_chat_threads` may ask for, and the most threads its
/// `threads_summary` lists. v0.5 sets no bound; without one, a request could ask for a chat's
/// every thread at once.
pub const THREAD_IDS_LIMIT: usize = 100;

/// The response of `get_chat_threads_summary`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadsSummary {
    /// One page of the chat's threads, newest first.
    pub threads_summary: Vec<ThreadSummary>,
    /// How many threads the chat has.
    pub total_threads: usize,
}

/// `get_chat_threads_summary` limits: limit 25 by default, at most 100.
const THREADS_LIMIT: (u32, u32) = (25, 100);

fn summarize(thread: &Thread, role: Role) -> ThreadSummary {
    ThreadSummary {
        id: thread.id,
        order: thread.order,
        total_events: thread.event_count_for(role),
    }
}

impl View<'_> {
    /// `get_chat_threads`: the requested threads with their events, in the order asked and each
    /// once, and a summary of all.
    pub(crate) fn get_chat_threads(
        &self,
        req: &Requester,
        chat_id: ChatId,
        thread_ids: &[ThreadId],
    ) -> Result<ChatThreads, Error> {
        let slot = self.chat_for(req, chat_id, crate::engine::ChatRight::Read)?;
        if thread_ids.len() > THREAD_IDS_LIMIT {
            return Err(Error::InvalidField {
                field: "thread_ids",
                reason: format!(
                    "{} thread ids, over the {THREAD_IDS_LIMIT} one request may ask for",
                    thread_ids.len()
                ),
            });
        }
        let chat = self.chat_at(slot);
        // A thread asked for twice is returned once: otherwise a small request naming one long
        // thread many times would make a response as large as it liked.
        let mut seen = std::collections::BTreeSet::new();
        let threads = thread_ids
            .iter()
            .filter(|id| seen.insert(**id))
            .map(|id| {
                chat.thread(id)
                    .map(|t| self.thread_view(t, req.role))
                    .ok_or(Error::ThreadNotFound {
                        chat_id,
                        thread_id: *id,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let archived = threads
            .iter()
            .filter(|t| t.is_archived())
            .map(|t| t.id)
            .collect();
        Ok(ChatThreads {
            id: chat_id,
            users: self.chat_users(chat),
            last_seen: self.chat_users_last_seen(chat),
            routing_statuses: self.chat_agents_routing_statuses(chat, req.role),
            properties: self.properties_view(&chat.properties, Location::Chat, req.role),
            scopes: chat.scopes.visible_to(req.role),
            threads,
            threads_summary: chat
                .threads
                .iter()
                .rev()
                .take(THREAD_IDS_LIMIT)
                .map(|t| summarize(t, req.role))
                .collect(),
            total_threads: chat.threads.len(),
            archived,
            role: req.role,
        })
    }

    /// An archived thread of `chat_id` whole again, from `loaded`, as `role` may see it: the
    /// engine's stub for everything but the events, which must match its counts.
    pub(crate) fn filled_thread(
        &self,
        chat_id: ChatId,
        thread_id: ThreadId,
        loaded: &[ArchivedThread],
        role: Role,
    ) -> Result<Thread, Error> {
        let not_found = Error::ThreadNotFound { chat_id, thread_id };
        let stub = self
            .chat(&chat_id)
            .and_then(|c| c.thread(&thread_id))
            .ok_or(not_found)?;
        let Some(counts) = &stub.archived else {
            // Not archived (any more): the engine's own thread is the answer.
            return Ok(self.thread_view(stub, role));
        };
        let mismatch = |reason: String| Error::InvalidField {
            field: "archived_threads",
            reason: format!("thread {thread_id} of chat {chat_id}: {reason}"),
        };
        let whole = loaded
            .iter()
            .find(|a| a.chat_id == chat_id && a.thread.id == thread_id)
            .ok_or_else(|| mismatch("not among the loaded threads".into()))?;
        let events = &whole.thread.events;
        let customer_events = events
            .refs()
            .filter(|e| e.visible_to(Role::Customer))
            .count();
        if whole.thread.order != stub.order
            || events.len() != counts.agent_events
            || customer_events != counts.customer_events
        {
            return Err(mismatch(format!(
                "the loaded copy (order {}, {} events) is not the one archived (order {}, {} events)",
                whole.thread.order,
                events.len(),
                stub.order,
                counts.agent_events
            )));
        }
        let mut thread = stub.clone();
        thread.events = events.clone();
        thread.archived = None;
        Ok(self.thread_view(&thread, role))
    }

    /// `get_chat_threads_summary`: a page of the chat's threads, newest first.
    pub(crate) fn get_chat_threads_summary(
        &self,
        req: &Requester,
        chat_id: ChatId,
        page: Pagination,
    ) -> Result<ThreadsSummary, Error> {
        let (offset, limit) = paginate(page, THREADS_LIMIT.0, THREADS_LIMIT.1, None)?;
        let slot = self.chat_for(req, chat_id, crate::engine::ChatRight::Read)?;
        let chat = self.chat_at(slot);
        Ok(ThreadsSummary {
            threads_summary: chat
                .threads
                .iter()
                .rev()
                .skip(offset)
                .take(limit)
                .map(|t| summarize(t, req.role))
                .collect(),
            total_threads: chat.threads.len(),
        })
    }
}
