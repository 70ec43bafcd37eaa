//! The event a `send_event` command carries.

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Event, EventKind, NewEvent, Properties, Recipients};

/// The event of a `send_event` command and its journal record: what its sender sent (custom id, recipients,
/// properties and content), which is all a replay needs.
///
/// A record the engine makes shares the event it stored instead of holding a copy of the
/// request: copying every message's text into the journal was a good part of what journaling
/// cost a send. A record read back from bytes holds the request. Both are written as a
/// [`NewEvent`], and compare equal when those four fields are equal.
///
/// ```
/// use chatio::NewEvent;
/// use chatio::model::RecordedEvent;
/// let recorded = RecordedEvent::from(NewEvent::message("Hello"));
/// assert_eq!(recorded.to_new_event(), NewEvent::message("Hello"));
/// ```
#[derive(Clone, Debug)]
pub struct RecordedEvent(Repr);

#[derive(Clone, Debug)]
enum Repr {
    Request(NewEvent),
    Stored(Arc<Event>),
}

impl RecordedEvent {
    /// The event as the engine stored it (its assigned fields are not part of the record).
    pub(crate) fn stored(event: Arc<Event>) -> Self {
        Self(Repr::Stored(event))
    }

    /// The sender's `custom_id`.
    pub fn custom_id(&self) -> Option<&str> {
        match &self.0 {
            Repr::Request(e) => e.custom_id.as_deref(),
            Repr::Stored(e) => e.custom_id.as_deref(),
        }
    }

    /// Who may see the event.
    pub fn recipients(&self) -> Recipients {
        match &self.0 {
            Repr::Request(e) => e.recipients,
            Repr::Stored(e) => e.recipients,
        }
    }

    /// The event's properties.
    pub fn properties(&self) -> &Properties {
        match &self.0 {
            Repr::Request(e) => &e.properties,
            Repr::Stored(e) => &e.properties,
        }
    }

    /// The content.
    pub fn kind(&self) -> &EventKind {
        match &self.0 {
            Repr::Request(e) => &e.kind,
            Repr::Stored(e) => &e.kind,
        }
    }

    /// The event as a request, to send again.
    pub fn to_new_event(&self) -> NewEvent {
        self.clone().into_new_event()
    }

    /// The event as a request, without a copy when nothing else holds it.
    pub fn into_new_event(self) -> NewEvent {
        match self.0 {
            Repr::Request(e) => e,
            Repr::Stored(e) => {
                let Event {
                    custom_id,
                    recipients,
                    properties,
                    kind,
                    ..
                } = Arc::unwrap_or_clone(e);
                NewEvent {
                    custom_id,
                    recipients,
                    properties,
                    kind,
                }
            }
        }
    }
}

impl From<NewEvent> for RecordedEvent {
    fn from(event: NewEvent) -> Self {
        Self(Repr::Request(event))
    }
}

impl PartialEq for RecordedEvent {
    fn eq(&self, other: &Self) -> bool {
        self.custom_id() == other.custom_id()
            && self.recipients() == other.recipients()
            && self.properties() == other.properties()
            && self.kind() == other.kind()
    }
}

/// A [`NewEvent`]'s fields, borrowed: written exactly as `NewEvent` writes itself.
#[derive(Serialize)]
struct NewEventRef<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    custom_id: Option<&'a str>,
    recipients: Recipients,
    #[serde(skip_serializing_if = "Properties::is_empty")]
    properties: &'a Properties,
    #[serde(flatten)]
    kind: &'a EventKind,
}

impl Serialize for RecordedEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Repr::Request(e) => e.serialize(s),
            Repr::Stored(_) => NewEventRef {
                custom_id: self.custom_id(),
                recipients: self.recipients(),
                properties: self.properties(),
                kind: self.kind(),
            }
            .serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for RecordedEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        NewEvent::deserialize(d).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventId, Timestamp, UserId};

    fn stored(new: &NewEvent) -> RecordedEvent {
        RecordedEvent::stored(Arc::new(Event {
            id: EventId::from_uuid(uuid::Uuid::from_u128(7)),
            custom_id: new.custom_id.clone(),
            order: 3,
            author_id: UserId::new("anna@example.com").ok(),
            timestamp: Timestamp::from_unix_seconds(1_700_000_000),
            recipients: new.recipients,
            properties: new.properties.clone(),
            kind: new.kind.clone(),
        }))
    }

    #[test]
    fn a_stored_event_is_written_and_read_as_the_request() {
        let mut properties = Properties::new();
        properties.insert(
            "routing".into(),
            [(
                "pinned".to_string(),
                crate::model::PropertyValue::Bool(true),
            )]
            .into(),
        );
        let requests = [
            NewEvent::message("Hello"),
            NewEvent::annotation("5 stars", "rating")
                .with_custom_id("r-1")
                .to(Recipients::Agents)
                .with_properties(properties),
            NewEvent::system_message("Closed", "manual"),
        ];
        for request in requests {
            let recorded = stored(&request);
            let bytes = serde_json::to_vec(&recorded).expect("writes");
            assert_eq!(bytes, serde_json::to_vec(&request).expect("writes"));
            let read: RecordedEvent = serde_json::from_slice(&bytes).expect("reads");
            assert_eq!(read, recorded);
            assert_eq!(read.into_new_event(), request);
            assert_eq!(recorded.to_new_event(), request);
        }
    }

    #[test]
    fn records_differing_in_any_sent_field_differ() {
        let base = NewEvent::message("Hello");
        let recorded = stored(&base);
        assert_ne!(recorded, RecordedEvent::from(NewEvent::message("Hi")));
        assert_ne!(
            recorded,
            RecordedEvent::from(base.clone().with_custom_id("c"))
        );
        assert_ne!(
            recorded,
            RecordedEvent::from(base.clone().to(Recipients::Agents))
        );
        assert_eq!(recorded, RecordedEvent::from(base));
    }
}
