//! What each role may read: events by recipients, properties by the registry's read access.
//!
//! Every response, push and query goes through these views, so a property a role may not read,
//! or an event meant for agents only, never reaches it. The common case (no properties, or all
//! readable) hands out the stored `Arc` without copying.

use std::sync::Arc;

use super::Engine;
use crate::model::events::{EventRef, KindRef};
use crate::model::{Event, Location, Properties, PropertyRefusal, Role, Thread};

impl Engine {
    /// Checks that the requester may write these properties at `location`.
    pub(crate) fn check_properties(
        &self,
        req: &super::Requester,
        properties: &Properties,
        location: Location,
    ) -> Result<(), crate::Error> {
        if properties.is_empty() {
            return Ok(());
        }
        self.properties
            .check_write(properties, location, req.role)
            .map_err(|refusal| match refusal {
                PropertyRefusal::Invalid(reason) => crate::Error::InvalidProperty { reason },
                PropertyRefusal::NoAccess(property) => crate::Error::PropertyNotWritable {
                    user_id: req.id.clone(),
                    property,
                },
            })
    }

    /// Properties at `location` as `role` may see them.
    pub(crate) fn properties_view(
        &self,
        properties: &Properties,
        location: Location,
        role: Role,
    ) -> Properties {
        self.properties
            .filter(properties, location, role)
            .into_owned()
    }

    /// An event as `role` may see it (the caller has checked its recipients).
    pub(crate) fn event_view(&self, event: &Arc<Event>, role: Role) -> Arc<Event> {
        match self.narrowed_properties(event, role) {
            None => Arc::clone(event),
            Some(properties) => Arc::new(Event {
                properties,
                ..Event::clone(event)
            }),
        }
    }

    /// [`event_view`](Self::event_view) that hands on the caller's `Arc` when the view is the
    /// event itself, saving a reference-count update and its undoing.
    pub(crate) fn event_view_owned(&self, event: Arc<Event>, role: Role) -> Arc<Event> {
        match self.narrowed_properties(&event, role) {
            None => event,
            Some(properties) => Arc::new(Event {
                properties,
                ..Event::clone(&event)
            }),
        }
    }

    /// The properties `role` may read, when they are fewer than the event has; `None` when
    /// the role sees them all (the common case, which shares the stored event).
    fn narrowed_properties(&self, event: &Event, role: Role) -> Option<Properties> {
        if event.properties.is_empty() {
            return None;
        }
        match self
            .properties
            .filter(&event.properties, Location::Event, role)
        {
            std::borrow::Cow::Borrowed(_) => None,
            std::borrow::Cow::Owned(properties) => Some(properties),
        }
    }

    /// A stored event as `role` may see it (the caller has checked its recipients).
    pub(crate) fn event_ref_view(&self, event: EventRef<'_>, role: Role) -> Arc<Event> {
        match event.kind {
            KindRef::Whole(whole) => self.event_view(whole, role),
            _ => Arc::new(event.to_event()),
        }
    }

    /// A thread as `role` may see it: only events meant for it, and readable properties.
    pub(crate) fn thread_view(&self, thread: &Thread, role: Role) -> Thread {
        let mut view = self.thread_summary_view(thread, role);
        view.events = thread.events.view_for(role, |e| self.event_view(e, role));
        view
    }

    /// A thread without its events, as summaries show it.
    pub(crate) fn thread_summary_view(&self, thread: &Thread, role: Role) -> Thread {
        let mut view = thread.without_events();
        view.properties = self
            .properties_view(&thread.properties, Location::Thread, role)
            .into();
        if let (Role::Customer, Some(archived)) = (role, &thread.archived) {
            view.last_activity = archived.customer_last_activity;
        } else if role == Role::Customer {
            // The last activity the customer could have seen: a later note for agents would
            // otherwise show through as a fresher timestamp.
            view.last_activity = thread
                .event_refs_for(role)
                .rev()
                .find(|e| e.counts_as_activity())
                .map_or(thread.timestamp, |e| e.timestamp);
        }
        view
    }
}
