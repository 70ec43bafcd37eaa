//! Reading events back ([`Event`] in snapshots, [`NewEvent`] in journal records), without
//! serde's buffering.
//!
//! The derived reader of a struct with a flattened, internally tagged enum first copies every
//! field of the object into an intermediate tree, then reads the struct from that tree. A
//! snapshot or a journal holds millions of events, nearly all of them plain messages and system
//! messages, so this reader takes the common fields as they come and builds `message` and
//! `system_message` kinds directly; any other kind is read the derived way, from the fields that
//! were left. It accepts exactly what the derived readers accepted.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::{Event, EventId, EventKind, NewEvent, Properties, Recipients, Timestamp, UserId};

/// The stored event's fields; `Other` are the kind's own, except the two read directly.
enum Field {
    Id,
    CustomId,
    Order,
    AuthorId,
    Timestamp,
    Recipients,
    Properties,
    Type,
    Text,
    SystemMessageType,
    Other(String),
}

/// Reads a field name; `stored` says whether the engine's own fields (`id`, `order`,
/// `author_id`, `timestamp`) are fields here or, as in a [`NewEvent`], just other keys.
struct FieldSeed {
    stored: bool,
}

impl<'de> de::DeserializeSeed<'de> for FieldSeed {
    type Value = Field;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Field, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl Visitor<'_> for FieldSeed {
    type Value = Field;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Field, E> {
        Ok(match key {
            "id" if self.stored => Field::Id,
            "order" if self.stored => Field::Order,
            "author_id" if self.stored => Field::AuthorId,
            "timestamp" if self.stored => Field::Timestamp,
            "custom_id" => Field::CustomId,
            "recipients" => Field::Recipients,
            "properties" => Field::Properties,
            "type" => Field::Type,
            "text" => Field::Text,
            "system_message_type" => Field::SystemMessageType,
            other => Field::Other(other.to_owned()),
        })
    }
}

/// Sets a field once; a second value for it is an error, as in the derived reader.
fn once<T, E: de::Error>(slot: &mut Option<T>, value: T, name: &'static str) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::duplicate_field(name));
    }
    *slot = Some(value);
    Ok(())
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let f = d.deserialize_map(FieldsVisitor { stored: true })?;
        Ok(Event {
            id: f.id.ok_or_else(|| de::Error::missing_field("id"))?,
            custom_id: f.custom_id,
            order: f.order.ok_or_else(|| de::Error::missing_field("order"))?,
            author_id: f.author_id,
            timestamp: f
                .timestamp
                .ok_or_else(|| de::Error::missing_field("timestamp"))?,
            recipients: f
                .recipients
                .ok_or_else(|| de::Error::missing_field("recipients"))?,
            properties: f.properties,
            kind: f.kind,
        })
    }
}

impl<'de> Deserialize<'de> for NewEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let f = d.deserialize_map(FieldsVisitor { stored: false })?;
        Ok(NewEvent {
            custom_id: f.custom_id,
            recipients: f.recipients.unwrap_or_default(),
            properties: f.properties,
            kind: f.kind,
        })
    }
}

/// Every field either kind of event may have, as read.
struct Fields {
    id: Option<EventId>,
    custom_id: Option<String>,
    order: Option<u64>,
    author_id: Option<UserId>,
    timestamp: Option<Timestamp>,
    recipients: Option<Recipients>,
    properties: Properties,
    kind: EventKind,
}

struct FieldsVisitor {
    stored: bool,
}

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let mut id: Option<EventId> = None;
        let mut custom_id: Option<Option<String>> = None;
        let mut order: Option<u64> = None;
        let mut author_id: Option<Option<UserId>> = None;
        let mut timestamp: Option<Timestamp> = None;
        let mut recipients: Option<Recipients> = None;
        let mut properties: Option<Properties> = None;
        let mut kind_type: Option<String> = None;
        let mut text: Option<Value> = None;
        let mut system_message_type: Option<Value> = None;
        let mut rest = Map::new();
        let seed = || FieldSeed {
            stored: self.stored,
        };
        while let Some(field) = map.next_key_seed(seed())? {
            match field {
                Field::Id => once(&mut id, map.next_value()?, "id")?,
                Field::CustomId => once(&mut custom_id, map.next_value()?, "custom_id")?,
                Field::Order => once(&mut order, map.next_value()?, "order")?,
                Field::AuthorId => once(&mut author_id, map.next_value()?, "author_id")?,
                Field::Timestamp => once(&mut timestamp, map.next_value()?, "timestamp")?,
                Field::Recipients => once(&mut recipients, map.next_value()?, "recipients")?,
                Field::Properties => once(&mut properties, map.next_value()?, "properties")?,
                Field::Type => once(&mut kind_type, map.next_value()?, "type")?,
                Field::Text => once(&mut text, map.next_value()?, "text")?,
                Field::SystemMessageType => once(
                    &mut system_message_type,
                    map.next_value()?,
                    "system_message_type",
                )?,
                Field::Other(key) => {
                    let value: Value = map.next_value()?;
                    rest.insert(key, value);
                }
            }
        }
        let kind_type = kind_type.ok_or_else(|| de::Error::missing_field("type"))?;
        let kind = match (kind_type.as_str(), text, system_message_type) {
            ("message", Some(Value::String(text)), None) if rest.is_empty() => {
                EventKind::Message { text }
            }
            ("system_message", Some(Value::String(text)), smt) if rest.is_empty() => {
                let system_message_type = match smt {
                    None | Some(Value::Null) => None,
                    Some(Value::String(t)) => Some(t),
                    Some(other) => {
                        return Err(de::Error::custom(format!(
                            "system_message_type must be a string, got {other}"
                        )));
                    }
                };
                EventKind::SystemMessage {
                    text,
                    system_message_type,
                }
            }
            (_, text, smt) => {
                // Anything else is read as the derived reader would: from its own fields.
                rest.insert("type".into(), Value::String(kind_type));
                if let Some(text) = text {
                    rest.insert("text".into(), text);
                }
                if let Some(smt) = smt {
                    rest.insert("system_message_type".into(), smt);
                }
                EventKind::deserialize(Value::Object(rest)).map_err(de::Error::custom)?
            }
        };
        Ok(Fields {
            id,
            custom_id: custom_id.flatten(),
            order,
            author_id: author_id.flatten(),
            timestamp,
            recipients,
            properties: properties.unwrap_or_default(),
            kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(event: &Event) -> Event {
        let text = serde_json::to_string(event).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn event(kind: EventKind) -> Event {
        Event {
            id: EventId::from_uuid(uuid::Uuid::from_u128(7)),
            custom_id: Some("c-1".into()),
            order: 3,
            author_id: Some(UserId::new("anna@example.com").unwrap()),
            timestamp: Timestamp::from_unix_seconds(1_700_000_000),
            recipients: Recipients::Agents,
            properties: Properties::new(),
            kind,
        }
    }

    #[test]
    fn every_kind_reads_back_as_written() {
        let kinds = [
            EventKind::Message { text: "hi".into() },
            EventKind::SystemMessage {
                text: "Anna joined".into(),
                system_message_type: Some("agent_joined".into()),
            },
            EventKind::SystemMessage {
                text: "Anna joined".into(),
                system_message_type: None,
            },
            EventKind::Annotation {
                text: "5 stars".into(),
                annotation_type: "rating".into(),
            },
            EventKind::Custom {
                content: serde_json::from_str(r#"{"a":[1,2]}"#).unwrap(),
            },
        ];
        for kind in kinds {
            let e = event(kind);
            assert_eq!(round_trip(&e), e);
        }
        let mut bare = event(EventKind::Message { text: "x".into() });
        bare.custom_id = None;
        bare.author_id = None;
        assert_eq!(round_trip(&bare), bare);
    }

    #[test]
    fn new_events_read_back_as_written() {
        for mut event in [
            NewEvent::message("hi"),
            NewEvent::system_message("Anna joined", "agent_joined"),
            NewEvent::new(EventKind::Annotation {
                text: String::new(),
                annotation_type: "rating".into(),
            }),
        ] {
            event.custom_id = Some("c-2".into());
            let text = serde_json::to_string(&event).unwrap();
            assert_eq!(serde_json::from_str::<NewEvent>(&text).unwrap(), event);
        }
        // Recipients default to everyone; the engine's own fields are not a new event's.
        let bare: NewEvent =
            serde_json::from_str(r#"{"type":"message","text":"x","order":"ignored"}"#).unwrap();
        assert_eq!(bare, NewEvent::message("x"));
    }

    #[test]
    fn malformed_events_are_refused() {
        let ok = serde_json::to_value(event(EventKind::Message { text: "hi".into() })).unwrap();
        for (key, value) in [
            ("type", Value::from("nonsense")),
            ("text", Value::from(5)),
            ("order", Value::from("x")),
        ] {
            let mut bad = ok.clone();
            bad[key] = value;
            assert!(serde_json::from_value::<Event>(bad).is_err(), "{key}");
        }
        for key in ["id", "order", "timestamp", "recipients", "type", "text"] {
            let mut bad = ok.clone();
            bad.as_object_mut().unwrap().remove(key);
            assert!(serde_json::from_value::<Event>(bad).is_err(), "{key}");
        }
        let duplicated = r#"{"id":"00000000-0000-0000-0000-000000000007","id":"00000000-0000-0000-0000-000000000007","order":1,"timestamp":1,"recipients":"all","type":"message","text":"a"}"#;
        assert!(serde_json::from_str::<Event>(duplicated).is_err());
    }
}
