//! Typed identifiers.
//!
//! Chat, thread and event ids are UUIDs the engine draws from its seeded generator, so they are
//! `Copy` and hash cheaply. User ids are whatever the host says they are: agents are usually
//! e-mail-like strings, customers usually UUIDs. [`UserId`] keeps a canonical UUID, and any
//! other id of up to 22 bytes, inline (no allocation, no pointer to chase, and copying one is
//! not an atomic operation); a longer id sits behind an `Arc`, so copying it stays cheap too.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
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
#[derive(Clone, PartialEq, Eq)]
pub struct UserId(Repr);

// Every string has exactly one form: the canonical (lowercase, hyphenated) form of a UUID is
// `Uuid`, any other string of at most `SHORT` bytes is `Short`, anything longer is `Long`. So
// two ids are equal exactly when their forms and contents are (what the derived equality
// compares; a short id's unused bytes are always zero).
//
// `Short` exists because agents' ids are copied on every request (into the event's author, the
// journal record's requester): an `Arc` copy is an atomic increment and, later, a decrement, and
// each of those locked instructions waits for every store before it. Most e-mail-like ids fit.
#[derive(Clone, PartialEq, Eq)]
enum Repr {
    Uuid(Uuid),
    Short { len: u8, bytes: [u8; SHORT] },
    Long(Arc<str>),
}

/// The longest id kept inline: what fits beside the tag and the length in the 24 bytes the
/// other forms take.
const SHORT: usize = 22;

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
        if let Ok(len) = u8::try_from(id.len()) {
            if usize::from(len) <= SHORT {
                let mut bytes = [0; SHORT];
                bytes[..id.len()].copy_from_slice(id.as_bytes());
                return Ok(Self(Repr::Short { len, bytes }));
            }
        }
        Ok(Self(Repr::Long(Arc::from(id))))
    }

    /// The id's text, unless it is a UUID.
    fn text(&self) -> Option<&str> {
        match &self.0 {
            Repr::Uuid(_) => None,
            // The bytes were copied from a `str` whole, so they are always UTF-8; the empty
            // fallback only keeps this free of a panic path.
            Repr::Short { len, bytes } => {
                Some(std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default())
            }
            Repr::Long(s) => Some(s),
        }
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
            _ => f.write_str(self.text().unwrap_or_default()),
        }
    }
}

/// The same hash as the two-form id had before short ids were kept inline (a tag, then the
/// UUID or the string), so the engine's maps keep their iteration order. A hasher that
/// overrides `Hasher::write_str` (unstable) may hash a short id differently from its string,
/// which is harmless: hashes only have to agree for equal ids, and equal ids share a form.
impl Hash for UserId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match &self.0 {
            Repr::Uuid(u) => {
                0isize.hash(state);
                u.hash(state);
            }
            // What hashing the `str` does, without checking again that the bytes are UTF-8:
            // every agent request hashes its agent's id.
            Repr::Short { len, bytes } => {
                1isize.hash(state);
                state.write(&bytes[..usize::from(*len)]);
                state.write_u8(0xff);
            }
            Repr::Long(s) => {
                1isize.hash(state);
                s.hash(state);
            }
        }
    }
}

/// UUID ids first, then the others by their text: the order the two-form id had.
impl Ord for UserId {
    fn cmp(&self, other: &Self) -> Ordering {
        match (&self.0, &other.0) {
            (Repr::Uuid(a), Repr::Uuid(b)) => a.cmp(b),
            (Repr::Uuid(_), _) => Ordering::Less,
            (_, Repr::Uuid(_)) => Ordering::Greater,
            _ => self.text().cmp(&other.text()),
        }
    }
}

impl PartialOrd for UserId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
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

    /// The two-form id as it was before short ids were kept inline, with derived traits.
    #[derive(PartialEq, Eq, Hash, PartialOrd, Ord)]
    enum TwoForms {
        Uuid(Uuid),
        Text(Arc<str>),
    }

    fn two_forms(s: &str) -> TwoForms {
        match UserId::new(s).unwrap().0 {
            Repr::Uuid(u) => TwoForms::Uuid(u),
            _ => TwoForms::Text(Arc::from(s)),
        }
    }

    fn fast_hash(value: &impl Hash) -> u64 {
        use std::hash::BuildHasher;
        std::hash::BuildHasherDefault::<crate::hash::FastHasher>::default().hash_one(value)
    }

    const SAMPLES: [&str; 8] = [
        "0affb00a-82d6-4e07-ae61-56ba5c36f743",
        "a",
        "agent@example.com",
        "exactly22bytes@mail.io",
        "twenty-three@bytes.mail",
        "a much longer agent id, far past the inline limit@example.com",
        "0AFFB00A-82D6-4E07-AE61-56BA5C36F743",
        "zoë@exämple.com",
    ];

    #[test]
    fn short_ids_stay_inline_and_keep_the_hash_and_order_of_two_forms() {
        assert_eq!(std::mem::size_of::<UserId>(), 24);
        assert_eq!("exactly22bytes@mail.io".len(), SHORT);
        assert!(matches!(
            UserId::new("exactly22bytes@mail.io").unwrap().0,
            Repr::Short { .. }
        ));
        assert!(matches!(
            UserId::new("twenty-three@bytes.mail").unwrap().0,
            Repr::Long(_)
        ));
        for a in SAMPLES {
            let id = UserId::new(a).unwrap();
            assert_eq!(id.to_string(), a);
            assert_eq!(fast_hash(&id), fast_hash(&two_forms(a)), "{a}");
            for b in SAMPLES {
                let other = UserId::new(b).unwrap();
                assert_eq!(id == other, a == b, "{a} == {b}");
                assert_eq!(
                    id.cmp(&other),
                    two_forms(a).cmp(&two_forms(b)),
                    "{a} <=> {b}"
                );
            }
        }
    }

    #[test]
    fn ids_parse_and_reject() {
        assert!("nope".parse::<ChatId>().is_err());
        let id: ChatId = "0affb00a-82d6-4e07-ae61-56ba5c36f743".parse().unwrap();
        assert_eq!(id.to_string(), "0affb00a-82d6-4e07-ae61-56ba5c36f743");
    }
}
