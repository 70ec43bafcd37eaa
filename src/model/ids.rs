//! Typed identifiers.
//!
//! Chat, thread and event ids are UUIDs the engine draws from its seeded generator, so they are
//! `Copy` and hash cheaply. User ids are whatever the host says they are: agents are usually
//! e-mail-like strings, customers usually UUIDs. [`UserId`] keeps a canonical UUID inline (no
//! allocation, no pointer to chase) and any other string behind an `Arc`, which keeps cloning a
//! recipient list cheap on the hot path.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::error::Error;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl std::hash::Hash for $name {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                state.write_u128(self.0.as_u128());
            }
        }

        impl $name {
            /// Wraps a UUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID inside.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self, Error> {
                Uuid::try_parse(s).map(Self).map_err(|_| Error::InvalidField {
                    field: $what,
                    reason: format!("{s:?} is not a UUID"),
                })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                self.0.serialize(serializer)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Uuid::deserialize(deserializer).map(Self)
            }
        }
    };
}

uuid_id!(
    /// Identifies a chat within a license.
    ChatId,
    "chat_id"
);
uuid_id!(
    /// Identifies a thread within a chat.
    ThreadId,
    "thread_id"
);
uuid_id!(
    /// Identifies an event within a thread.
    EventId,
    "event_id"
);

/// Identifies a user: an agent (often an e-mail address) or a customer (often a UUID).
///
/// Two `UserId`s are equal exactly when their strings are equal.
///
/// ```
/// use chatio::UserId;
/// let agent = UserId::new("anna@example.com").unwrap();
/// assert_eq!(agent.to_string(), "anna@example.com");
/// assert!(UserId::new("").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(Repr);

// A string that is exactly the canonical (lowercase, hyphenated) form of a UUID is always stored
// as `Uuid`, anything else as `Text`, so equality of the enum is equality of the strings.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Repr {
    Uuid(Uuid),
    Text(Arc<str>),
}

/// The longest user id accepted, in bytes.
pub const MAX_USER_ID_LEN: usize = 256;

impl UserId {
    /// Makes a user id from a string; empty, over-long or control-character ids are rejected.
    pub fn new(id: &str) -> Result<Self, Error> {
        if id.is_empty() || id.len() > MAX_USER_ID_LEN || id.chars().any(char::is_control) {
            return Err(Error::InvalidField {
                field: "user_id",
                reason: format!(
                    "must be 1 to {MAX_USER_ID_LEN} bytes without control characters, got {id:?}"
                ),
            });
        }
        if id.len() == 36 {
            if let Ok(uuid) = Uuid::try_parse(id) {
                if uuid.hyphenated().to_string() == id {
                    return Ok(Self(Repr::Uuid(uuid)));
                }
            }
        }
        Ok(Self(Repr::Text(Arc::from(id))))
    }

    /// A user id made of a UUID (how the engine names customers it creates).
    pub const fn from_uuid(uuid: Uuid) -> Self {
        Self(Repr::Uuid(uuid))
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Uuid(u) => fmt::Display::fmt(&u.hyphenated(), f),
            Repr::Text(s) => f.write_str(s),
        }
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({self})")
    }
}

impl FromStr for UserId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

impl TryFrom<&str> for UserId {
    type Error = Error;

    fn try_from(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

impl Serialize for UserId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for UserId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::new(&s).map_err(serde::de::Error::custom)
    }
}

/// Identifies a group of agents (chat.io numbers them).
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct GroupId(pub u32);

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_id_equality_is_string_equality() {
        let s = "0affb00a-82d6-4e07-ae61-56ba5c36f743";
        let a = UserId::new(s).unwrap();
        let b = UserId::from_uuid(Uuid::try_parse(s).unwrap());
        assert_eq!(a, b);
        assert_eq!(a.to_string(), s);
        // An upper-case UUID is a different string, so a different id.
        let upper = UserId::new(&s.to_uppercase()).unwrap();
        assert_ne!(upper, a);
        assert_eq!(upper.to_string(), s.to_uppercase());
    }

    #[test]
    fn user_id_rejects_empty_and_control_characters() {
        assert!(UserId::new("").is_err());
        assert!(UserId::new("a\nb").is_err());
        assert!(UserId::new(&"x".repeat(MAX_USER_ID_LEN + 1)).is_err());
        assert!(UserId::new(&"x".repeat(MAX_USER_ID_LEN)).is_ok());
    }

    #[test]
    fn ids_parse_and_reject() {
        assert!("nope".parse::<ChatId>().is_err());
        let id: ChatId = "0affb00a-82d6-4e07-ae61-56ba5c36f743".parse().unwrap();
        assert_eq!(id.to_string(), "0affb00a-82d6-4e07-ae61-56ba5c36f743");
    }
}
