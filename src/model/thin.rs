//! `Thin<T>`: a field that is empty in most chats, kept behind a pointer.

use std::fmt;
use std::ops::{Deref, DerefMut};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{LastSeen, Properties, Scopes, UserId};

/// A value that is usually empty (most chats have no properties, no scopes, nobody who
/// declined them), kept behind a pointer that is null while it is empty: a pointer's width in
/// each chat instead of the value's, and no allocation until something is put in.
///
/// It dereferences to the value, so reading it reads like the value itself, and it compares,
/// prints and serializes as the value.
///
/// ```
/// use chatio::model::{Properties, Thin};
/// let mut properties: Thin<Properties> = Thin::default();
/// assert!(properties.is_empty());
/// properties.entry("routing".into()).or_default();
/// assert_eq!(properties.len(), 1);
/// ```
#[derive(Clone, Default)]
pub struct Thin<T>(Option<Box<T>>);

/// What [`Thin`] can hold: a type with an empty value it can point to while it holds none.
pub trait Emptiable: Default + PartialEq + 'static {
    /// The empty value.
    fn empty() -> &'static Self;
}

impl<T: Emptiable> Thin<T> {
    /// The value, or `None` while it is empty.
    pub fn as_option(&self) -> Option<&T> {
        self.0.as_deref().filter(|v| **v != T::default())
    }

    /// Empties it, giving back its memory.
    pub fn clear(&mut self) {
        self.0 = None;
    }

    /// Takes the value out, leaving it empty.
    pub fn take(&mut self) -> T {
        self.0.take().map(|b| *b).unwrap_or_default()
    }
}

impl<T: Emptiable> Deref for Thin<T> {
    type Target = T;

    fn deref(&self) -> &T {
        match &self.0 {
            Some(value) => value,
            None => T::empty(),
        }
    }
}

/// Mutable access makes room for the value (an allocation, once).
impl<T: Emptiable> DerefMut for Thin<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.get_or_insert_with(Box::default)
    }
}

impl<T: Emptiable> From<T> for Thin<T> {
    fn from(value: T) -> Self {
        if value == T::default() {
            Thin(None)
        } else {
            Thin(Some(Box::new(value)))
        }
    }
}

/// Equal when the values are: an empty value is the same whether or not it was ever set.
impl<T: Emptiable> PartialEq for Thin<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Emptiable> PartialEq<T> for Thin<T> {
    fn eq(&self, other: &T) -> bool {
        **self == *other
    }
}

impl<T: Emptiable + Eq> Eq for Thin<T> {}

impl<T: Emptiable + fmt::Debug> fmt::Debug for Thin<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: Emptiable + Serialize> Serialize for Thin<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(s)
    }
}

impl<'de, T: Emptiable + Deserialize<'de>> Deserialize<'de> for Thin<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Thin::from)
    }
}

static NO_PROPERTIES: Properties = Properties::new();
static NO_SCOPES: Scopes = Scopes::new();
static NO_LAST_SEEN: LastSeen = LastSeen::new();
static NO_USERS: Vec<UserId> = Vec::new();

impl Emptiable for Properties {
    fn empty() -> &'static Self {
        &NO_PROPERTIES
    }
}

impl Emptiable for Scopes {
    fn empty() -> &'static Self {
        &NO_SCOPES
    }
}

impl Emptiable for LastSeen {
    fn empty() -> &'static Self {
        &NO_LAST_SEEN
    }
}

impl Emptiable for Vec<UserId> {
    fn empty() -> &'static Self {
        &NO_USERS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::GroupId;

    #[test]
    fn empty_until_written_and_equal_to_the_value() {
        let mut scopes: Thin<Scopes> = Thin::default();
        assert!(scopes.is_empty());
        assert_eq!(scopes, Scopes::default());
        assert_eq!(std::mem::size_of::<Thin<Scopes>>(), 8);
        scopes.groups.insert(GroupId(1));
        assert_eq!(scopes.as_option().map(|s| s.groups.len()), Some(1));
        let json = serde_json::to_string(&scopes).expect("serializes");
        assert_eq!(json, serde_json::to_string(&*scopes).expect("serializes"));
        let back: Thin<Scopes> = serde_json::from_str(&json).expect("reads");
        assert_eq!(back, scopes);
        assert_eq!(scopes.take().groups.len(), 1);
        assert_eq!(scopes, Thin::default());
        assert_eq!(Thin::from(Scopes::default()).as_option(), None);
    }
}
