//! Events: the content of threads, in seven kinds.

use serde::{Deserialize, Serialize};

use super::{
    EventId, File, FormField, Properties, RichMessage, Role, Timestamp, UserId, check_label,
    check_text, form::validate_form, rich_message::validate_rich_message,
};
use crate::error::Error;

/// Who an event, typing indicator or sneak peek is meant for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recipients {
    /// Everyone in the chat (the default).
    #[default]
    All,
    /// Agents only: never shown or pushed to a customer.
    Agents,
}

impl Recipients {
    /// True if a user of `role` may see something sent to these recipients.
    pub fn reaches(self, role: Role) -> bool {
        match self {
            Recipients::All => true,
            Recipients::Agents => role == Role::Agent,
        }
    }
}

/// What an event says: one variant per protocol event `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A chat message.
    Message {
        /// The message; never empty.
        text: String,
    },
    /// A note attached to the last thread; it never starts a thread.
    Annotation {
        /// The note.
        #[serde(default)]
        text: String,
        /// What kind of note, e.g. `rating`; never empty.
        annotation_type: String,
    },
    /// A form the customer filled in (pre-chat or post-chat survey).
    FilledForm {
        /// The form's fields, in order.
        fields: Vec<FormField>,
    },
    /// A message from the system; it has no author.
    SystemMessage {
        /// The text shown.
        text: String,
        /// What happened, e.g. `agent_joined`, `routing.assigned`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        system_message_type: Option<String>,
    },
    /// A file the customer uploaded; made only by `send_file`. Boxed because it is rare and
    /// large: inline, it made every event, of every kind, 40 bytes bigger to store and move.
    File(Box<File>),
    /// Any JSON object, for integrations.
    Custom {
        /// The integration's content.
        content: serde_json::Map<String, serde_json::Value>,
    },
    /// A structured message with cards and buttons.
    RichMessage(RichMessage),
}

impl EventKind {
    /// The protocol's name for this kind (`message`, `annotation`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::Message { .. } => "message",
            EventKind::Annotation { .. } => "annotation",
            EventKind::FilledForm { .. } => "filled_form",
            EventKind::SystemMessage { .. } => "system_message",
            EventKind::File(_) => "file",
            EventKind::Custom { .. } => "custom",
            EventKind::RichMessage(_) => "rich_message",
        }
    }

    /// True for annotations, which follow their own thread rule (R4).
    pub fn is_annotation(&self) -> bool {
        matches!(self, EventKind::Annotation { .. })
    }

    /// Whether an event of this kind extends its thread's life (`Thread::last_activity`).
    /// Annotations do not (R4), and neither do system messages, which routing itself writes
    /// when a chat goes quiet.
    pub fn counts_as_activity(&self) -> bool {
        !self.is_annotation() && !matches!(self, EventKind::SystemMessage { .. })
    }

    /// Checks the kind's own fields.
    pub(crate) fn validate(&mut self) -> Result<(), Error> {
        match self {
            EventKind::Message { text } => {
                non_empty("event.text", text)?;
                check_text("event.text", text)
            }
            EventKind::Annotation {
                text,
                annotation_type,
            } => {
                non_empty("event.annotation_type", annotation_type)?;
                check_label("event.annotation_type", annotation_type)?;
                check_text("event.text", text)
            }
            EventKind::FilledForm { fields } => validate_form(fields),
            EventKind::SystemMessage {
                text,
                system_message_type,
            } => {
                non_empty("event.text", text)?;
                check_text("event.text", text)?;
                match system_message_type {
                    Some(t) => {
                        non_empty("event.system_message_type", t)?;
                        check_label("event.system_message_type", t)
                    }
                    None => Ok(()),
                }
            }
            EventKind::File(file) => file.validate(),
            EventKind::Custom { content } => super::check_json_map_depth("event.content", content),
            EventKind::RichMessage(rich) => validate_rich_message(rich),
        }
    }
}

pub(crate) fn non_empty(field: &'static str, value: &str) -> Result<(), Error> {
    // Stops at the first visible character; `trim` would scan from both ends first.
    if value.chars().all(char::is_whitespace) {
        return Err(Error::InvalidField {
            field,
            reason: "must not be empty".into(),
        });
    }
    Ok(())
}

/// An event as stored in a thread, with the fields the engine assigns.
///
/// Its `Deserialize` is written by hand (in `event_de.rs`) for speed; it reads what `Serialize`
/// writes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// Assigned by the engine.
    pub id: EventId,
    /// The sender's own id for the event, kept as given; it makes `send_event` idempotent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_id: Option<String>,
    /// Assigned by the engine; strictly increasing across the license. Sort by this, not time.
    pub order: u64,
    /// The author; `None` for system messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_id: Option<UserId>,
    /// When the engine accepted the event.
    pub timestamp: Timestamp,
    /// Who may see the event.
    pub recipients: Recipients,
    /// The event's properties.
    #[serde(default, skip_serializing_if = "Properties::is_empty")]
    pub properties: Properties,
    /// The content.
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// True if a user of `role` may see this event.
    pub fn visible_to(&self, role: Role) -> bool {
        self.recipients.reaches(role)
    }
}

/// The longest `custom_id` accepted, in bytes.
pub const MAX_CUSTOM_ID_LEN: usize = 256;

/// An event as a user sends it: the engine adds id, order, author and timestamp.
///
/// ```
/// use chatio::{NewEvent, Recipients};
/// let note = NewEvent::message("internal: VIP customer").to(Recipients::Agents);
/// assert_eq!(note.recipients, Recipients::Agents);
/// ```
///
/// Its `Deserialize` is written by hand (in `event_de.rs`) for speed; it reads what `Serialize`
/// writes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NewEvent {
    /// The sender's own id, for idempotent retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_id: Option<String>,
    /// Who may see it; `all` unless said otherwise.
    #[serde(default)]
    pub recipients: Recipients,
    /// The event's properties.
    #[serde(default, skip_serializing_if = "Properties::is_empty")]
    pub properties: Properties,
    /// The content.
    #[serde(flatten)]
    pub kind: EventKind,
}

impl NewEvent {
    /// An event of any kind, to everyone.
    pub fn new(kind: EventKind) -> Self {
        Self {
            custom_id: None,
            recipients: Recipients::All,
            properties: Properties::new(),
            kind,
        }
    }

    /// A chat message.
    pub fn message(text: impl Into<String>) -> Self {
        Self::new(EventKind::Message { text: text.into() })
    }

    /// An annotation of the given type.
    pub fn annotation(text: impl Into<String>, annotation_type: impl Into<String>) -> Self {
        Self::new(EventKind::Annotation {
            text: text.into(),
            annotation_type: annotation_type.into(),
        })
    }

    /// A system message (agents only may send these).
    pub fn system_message(text: impl Into<String>, system_message_type: impl Into<String>) -> Self {
        Self::new(EventKind::SystemMessage {
            text: text.into(),
            system_message_type: Some(system_message_type.into()),
        })
    }

    /// A custom event carrying a JSON object.
    pub fn custom(content: serde_json::Map<String, serde_json::Value>) -> Self {
        Self::new(EventKind::Custom { content })
    }

    /// Sets the `custom_id`.
    pub fn with_custom_id(mut self, custom_id: impl Into<String>) -> Self {
        self.custom_id = Some(custom_id.into());
        self
    }

    /// Sets the recipients.
    pub fn to(mut self, recipients: Recipients) -> Self {
        self.recipients = recipients;
        self
    }

    /// Sets the properties.
    pub fn with_properties(mut self, properties: Properties) -> Self {
        self.properties = properties;
        self
    }

    /// Checks everything that does not depend on the engine's state.
    pub(crate) fn validate(&mut self) -> Result<(), Error> {
        if let Some(custom_id) = &self.custom_id {
            if custom_id.is_empty() || custom_id.len() > MAX_CUSTOM_ID_LEN {
                return Err(Error::InvalidField {
                    field: "event.custom_id",
                    reason: format!("must be 1 to {MAX_CUSTOM_ID_LEN} bytes"),
                });
            }
        }
        self.kind.validate()
    }
}
