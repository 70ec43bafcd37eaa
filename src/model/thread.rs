//! Threads: the stretches of a chat between gaps.

use serde::{Deserialize, Serialize};

use super::events::EventRef;
use super::{Archived, Event, Events, Properties, Role, Thin, ThreadId, Timestamp, UserId};

/// A thread of a chat. At most one thread of a chat is active, and only the last one (R1).
///
/// It serializes with its users under `user_ids`, as it always did: they are kept with the
/// events (see [`Events`]), which number senders among them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "ThreadRepr", into = "ThreadRepr")]
#[non_exhaustive]
// Laid out in the order a send reads it (see `Chat`).
#[repr(C)]
pub struct Thread {
    /// The events, in order, packed (see [`Events`]); with them, the thread's users.
    pub events: Events,
    /// Assigned by the engine.
    pub id: ThreadId,
    /// When the last event that counts as activity arrived. Annotations do not count (R4).
    pub last_activity: Timestamp,
    /// Whether events sent to the chat land here.
    pub active: bool,
    /// Assigned by the engine; strictly increasing across the license.
    pub order: u64,
    /// When the thread started.
    pub timestamp: Timestamp,
    /// When the thread was closed, if it was.
    pub closed_at: Option<Timestamp>,
    /// The thread's properties.
    pub properties: Thin<Properties>,
    /// Set once the engine has handed the thread's events to the host
    /// ([`Engine::archive_threads`](crate::Engine::archive_threads)): `events` is then empty
    /// (its users kept), and this holds what answers need without them. Boxed: most threads
    /// are never archived, and a pointer is all they pay.
    pub archived: Option<Box<Archived>>,
}

impl Thread {
    /// The users who were in the chat while the thread was active, in the order they came.
    pub fn user_ids(&self) -> Vec<UserId> {
        self.events.users()
    }

    /// How many events a user of `role` may see in the thread, archived or not.
    pub fn event_count_for(&self, role: Role) -> usize {
        match (&self.archived, role) {
            (Some(a), Role::Agent) => a.agent_events,
            (Some(a), Role::Customer) => a.customer_events,
            (None, _) => self.event_refs_for(role).count(),
        }
    }

    /// Whether the engine handed the thread's events to the host.
    pub fn is_archived(&self) -> bool {
        self.archived.is_some()
    }

    /// The events a user of `role` may see, unpacked.
    pub fn events_for(&self, role: Role) -> impl DoubleEndedIterator<Item = Event> + '_ {
        self.event_refs_for(role).map(EventRef::to_event)
    }

    /// The events a user of `role` may see, borrowed.
    pub(crate) fn event_refs_for(
        &self,
        role: Role,
    ) -> impl DoubleEndedIterator<Item = EventRef<'_>> + '_ {
        self.events.refs().filter(move |e| e.visible_to(role))
    }

    /// The same thread without its events (its users kept), as summaries show it.
    pub(crate) fn without_events(&self) -> Thread {
        Thread {
            events: self.events.without_records(),
            properties: self.properties.clone(),
            archived: self.archived.clone(),
            ..*self
        }
    }
}

/// How a thread reads and writes: the fields it has always had.
#[derive(Serialize, Deserialize)]
struct ThreadRepr {
    id: ThreadId,
    order: u64,
    active: bool,
    user_ids: Vec<UserId>,
    events: Events,
    timestamp: Timestamp,
    closed_at: Option<Timestamp>,
    last_activity: Timestamp,
    properties: Thin<Properties>,
    /// Left out unless set, so a thread that was never archived reads and writes as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    archived: Option<Box<Archived>>,
}

impl From<ThreadRepr> for Thread {
    fn from(r: ThreadRepr) -> Self {
        let mut events = r.events;
        for user in &r.user_ids {
            events.add_user(user);
        }
        Thread {
            id: r.id,
            order: r.order,
            active: r.active,
            events,
            timestamp: r.timestamp,
            closed_at: r.closed_at,
            last_activity: r.last_activity,
            properties: r.properties,
            archived: r.archived,
        }
    }
}

impl From<Thread> for ThreadRepr {
    fn from(t: Thread) -> Self {
        ThreadRepr {
            id: t.id,
            order: t.order,
            active: t.active,
            user_ids: t.user_ids(),
            events: t.events,
            timestamp: t.timestamp,
            closed_at: t.closed_at,
            last_activity: t.last_activity,
            properties: t.properties,
            archived: t.archived,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Engine, EngineConfig, NewEvent, StartChat, Timestamp};

    #[test]
    fn a_clone_keeps_the_event_lists_spare_room() {
        let mut engine = Engine::new(EngineConfig::with_seed(7));
        let customer = engine.create_customer();
        let chat = engine
            .as_customer(&customer, Timestamp::from_unix_seconds(1))
            .expect("customer exists")
            .start_chat(StartChat::default().with_event(NewEvent::message("hello")))
            .expect("chat started")
            .response
            .id;
        // Five events: the newest inline (one of two places taken), the four before in a list
        // that doubled from two to four (no place spare).
        for n in 0..4 {
            let message = NewEvent::message(format!("more {n}"));
            drop(
                engine
                    .as_customer(&customer, Timestamp::from_unix_seconds(2))
                    .expect("customer exists")
                    .send_event(chat, message)
                    .expect("sent"),
            );
        }
        let original = &engine.chat(&chat).expect("chat exists").threads[0];
        assert_eq!(original.events.spare(), 1);

        let copy = engine.clone();
        let cloned = &copy.chat(&chat).expect("chat exists").threads[0];
        assert_eq!(cloned, original);
        assert_eq!(cloned.events.spare(), original.events.spare());
    }
}
