//! `LastSeen`: per user of a chat, the latest time the user has seen the chat up to.

use std::fmt;

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Timestamp, UserId};

/// A chat's last-seen times, by user, in the order of their ids (as a `BTreeMap` would keep
/// them, and as they serialize: a JSON object of Unix seconds).
///
/// A chat has a handful of users, so the times are a short sorted list: a `BTreeMap` would
/// allocate a node for eleven entries on the first insert, about 400 bytes for each chat a
/// user looked at.
///
/// ```
/// use chatio::model::LastSeen;
/// use chatio::{Timestamp, UserId};
/// let mut seen = LastSeen::default();
/// let anna = UserId::new("anna@example.com")?;
/// seen.insert(anna.clone(), Timestamp::from_unix_seconds(10));
/// assert_eq!(seen.get(&anna), Some(&Timestamp::from_unix_seconds(10)));
/// assert_eq!(seen.len(), 1);
/// # Ok::<(), chatio::Error>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LastSeen(Vec<(UserId, Timestamp)>);

impl LastSeen {
    /// No times.
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// The time `user` has seen the chat up to, if any.
    pub fn get(&self, user: &UserId) -> Option<&Timestamp> {
        self.position(user).ok().map(|i| &self.0[i].1)
    }

    /// Sets `user`'s time and returns the time it replaces.
    pub fn insert(&mut self, user: UserId, time: Timestamp) -> Option<Timestamp> {
        match self.position(&user) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, time)),
            Err(i) => {
                if self.0.len() == self.0.capacity() {
                    self.0.reserve_exact((self.0.len() / 2).max(1));
                }
                self.0.insert(i, (user, time));
                None
            }
        }
    }

    /// The number of users with a time.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if no user has a time.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The users and their times, in the order of their ids.
    pub fn iter(
        &self,
    ) -> impl DoubleEndedIterator<Item = (&UserId, &Timestamp)> + ExactSizeIterator {
        self.0.iter().map(|(u, t)| (u, t))
    }

    /// The times, in the order of the users' ids.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Timestamp> + ExactSizeIterator {
        self.0.iter().map(|(_, t)| t)
    }

    fn position(&self, user: &UserId) -> Result<usize, usize> {
        self.0.binary_search_by(|(u, _)| u.cmp(user))
    }
}

impl<'a> IntoIterator for &'a LastSeen {
    type Item = (&'a UserId, &'a Timestamp);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (UserId, Timestamp)>,
        fn(&'a (UserId, Timestamp)) -> (&'a UserId, &'a Timestamp),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(u, t)| (u, t))
    }
}

impl FromIterator<(UserId, Timestamp)> for LastSeen {
    fn from_iter<I: IntoIterator<Item = (UserId, Timestamp)>>(iter: I) -> Self {
        let mut seen = LastSeen::new();
        for (user, time) in iter {
            seen.insert(user, time);
        }
        seen
    }
}

impl fmt::Debug for LastSeen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for LastSeen {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (user, time) in self.iter() {
            map.serialize_entry(user, time)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for LastSeen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = std::collections::BTreeMap::<UserId, Timestamp>::deserialize(d)?;
        let mut list = Vec::with_capacity(map.len());
        list.extend(map);
        Ok(LastSeen(list))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_users_in_id_order_and_serializes_like_a_map() {
        let user = |s: &str| UserId::new(s).expect("valid id");
        let t = Timestamp::from_unix_seconds;
        let mut seen = LastSeen::new();
        assert_eq!(seen.insert(user("zed"), t(3)), None);
        assert_eq!(seen.insert(user("anna"), t(1)), None);
        assert_eq!(seen.insert(user("mia"), t(2)), None);
        assert_eq!(seen.insert(user("anna"), t(5)), Some(t(1)));
        let order: Vec<_> = seen.iter().map(|(u, _)| u.to_string()).collect();
        assert_eq!(order, ["anna", "mia", "zed"]);
        let json = serde_json::to_string(&seen).expect("serializes");
        assert_eq!(json, r#"{"anna":5,"mia":2,"zed":3}"#);
        let back: LastSeen = serde_json::from_str(&json).expect("reads");
        assert_eq!(back, seen);
        assert_eq!(seen.get(&user("bob")), None);
    }
}
