//! Threads: the stretches of a chat between gaps.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Event, Properties, Role, ThreadId, Timestamp, UserId};

/// A thread of a chat. At most one thread of a chat is active, and only the last one (R1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Thread {
    /// Assigned by the engine.
    pub id: ThreadId,
    /// Assigned by the engine; strictly increasing across the license.
    pub order: u64,
    /// Whether events sent to the chat land here.
    pub active: bool,
    /// The users who were in the chat while the thread was active.
    pub user_ids: Vec<UserId>,
    /// The events, in order. Shared with pushes and responses, so handing them out is cheap.
    pub events: Vec<Arc<Event>>,
    /// When the thread started.
    pub timestamp: Timestamp,
    /// When the thread was closed, if it was.
    pub closed_at: Option<Timestamp>,
    /// When the last event that counts as activity arrived. Annotations do not count (R4).
    pub last_activity: Timestamp,
    /// The thread's properties.
    pub properties: Properties,
}

impl Thread {
    /// The events a user of `role` may see.
    pub fn events_for(&self, role: Role) -> impl Iterator<Item = &Arc<Event>> {
        self.events.iter().filter(move |e| e.visible_to(role))
    }

    /// The same thread without its events, as summaries show it.
    pub(crate) fn without_events(&self) -> Thread {
        Thread {
            events: Vec::new(),
            user_ids: self.user_ids.clone(),
            properties: self.properties.clone(),
            ..*self
        }
    }
}
