//! The index that makes `send_event` idempotent: a sender's `custom_id` in a chat, to the event
//! it was first sent with (R6).
//!
//! Clients choose `custom_id`s, so the index must stay fast whatever they choose: ids with long
//! shared prefixes (which an ordered index compares in full at every level) or ids crafted to
//! collide in a known hash function (which pile into one bucket). It therefore keeps 32 bits of
//! a *keyed* hash of sender and `custom_id`, with a key derived from the license's seed, and
//! the event's number in the chat; a lookup checks the event it finds against the request, so
//! two ids whose 32 bits agree are told apart, and the rare second one waits in a short list.
//! Nothing is stored twice: the `custom_id` itself lives only in the event.

use std::collections::HashMap;
use std::collections::hash_map::{DefaultHasher, Entry};
use std::hash::{BuildHasherDefault, Hash, Hasher};

use super::UserId;
use crate::hash::FastHasher;

/// The key of the hash: two words derived from the license's seed.
///
/// Keyed SipHash is what defeats crafted collisions. The standard library's `DefaultHasher` is
/// SipHash-1-3 with a zero key and offers no keyed constructor that is not deprecated, so the
/// key words are hashed first: whoever does not know them cannot predict the state the id's
/// bytes are mixed into. The hashes are never stored, written out or shown, so a change of the
/// standard library's algorithm changes nothing but which ids share a bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CustomIdKey([u64; 2]);

impl CustomIdKey {
    /// The key of a license made with `seed`.
    pub(crate) fn from_seed(seed: u64) -> Self {
        Self([
            splitmix64(seed ^ 0x6375_7374_6f6d_5f69),
            splitmix64(seed ^ 0x645f_6b65_795f_7631),
        ])
    }

    /// The hash of a sender's `custom_id`.
    #[inline]
    pub(crate) fn hash(&self, sender: &UserId, custom_id: &str) -> u64 {
        let mut h = DefaultHasher::new();
        h.write_u64(self.0[0]);
        h.write_u64(self.0[1]);
        sender.hash(&mut h);
        h.write(custom_id.as_bytes());
        h.finish()
    }
}

/// SplitMix64's output function: spreads a seed into a well-mixed word.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A chat's index: 32 bits of [`CustomIdKey::hash`] to the event's number in the chat
/// (counting every event of every thread, in order).
#[derive(Clone, Debug, Default)]
pub(crate) struct CustomIds {
    table: HashMap<u32, u32, BuildHasherDefault<FastHasher>>,
    /// `(hash bits, event number)` of events whose bits were already in `table`: rare, so
    /// boxed, which keeps an empty one to a pointer.
    overflow: Option<Box<Vec<(u32, u32)>>>,
}

impl CustomIds {
    /// The number of the event sent with the `custom_id` whose hash is `hash`, if `is_it` says
    /// the event found is the one (its sender and `custom_id` are the request's).
    #[inline]
    pub(crate) fn find(&self, hash: u64, is_it: impl Fn(u32) -> bool) -> Option<u32> {
        let bits = (hash >> 32) as u32;
        let &first = self.table.get(&bits)?;
        if is_it(first) {
            return Some(first);
        }
        self.overflow
            .iter()
            .flat_map(|o| o.iter())
            .filter(|&&(b, _)| b == bits)
            .map(|&(_, n)| n)
            .find(|&n| is_it(n))
    }

    /// Records that event number `event` was sent with the `custom_id` whose hash is `hash`;
    /// the caller has made sure it is not there yet.
    #[inline]
    pub(crate) fn insert(&mut self, hash: u64, event: u32) {
        let bits = (hash >> 32) as u32;
        match self.table.entry(bits) {
            Entry::Vacant(slot) => {
                slot.insert(event);
            }
            Entry::Occupied(_) => self.overflow.get_or_insert_default().push((bits, event)),
        }
    }

    /// The number of ids indexed.
    pub(crate) fn len(&self) -> usize {
        self.table.len() + self.overflow.as_ref().map_or(0, |o| o.len())
    }
}

/// Two indexes are equal when they map the same ids to the same events, whatever order they
/// were built in (only the overflow's order may differ).
impl PartialEq for CustomIds {
    fn eq(&self, other: &Self) -> bool {
        let sorted = |o: &Option<Box<Vec<(u32, u32)>>>| {
            let mut o = o.as_deref().cloned().unwrap_or_default();
            o.sort_unstable();
            o
        };
        self.table == other.table && sorted(&self.overflow) == sorted(&other.overflow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_whose_bits_collide_are_told_apart() {
        let mut index = CustomIds::default();
        // Three events whose hashes share their 32 bits; the check tells which is which.
        let hash = 0xdead_beef_0000_0000;
        for event in [3, 7, 9] {
            index.insert(hash, event);
        }
        for event in [3, 7, 9] {
            assert_eq!(index.find(hash, |n| n == event), Some(event));
        }
        assert_eq!(index.find(hash, |n| n == 4), None);
        assert_eq!(index.find(0x1234_0000_0000_0000, |_| true), None);
        assert_eq!(index.len(), 3);
    }

    #[test]
    fn the_key_follows_the_seed_and_separates_senders() {
        let anna = UserId::new("anna@example.com").expect("valid id");
        let bob = UserId::new("bob@example.com").expect("valid id");
        let a = CustomIdKey::from_seed(1);
        assert_eq!(a, CustomIdKey::from_seed(1));
        assert_ne!(
            a.hash(&anna, "x"),
            CustomIdKey::from_seed(2).hash(&anna, "x")
        );
        assert_ne!(a.hash(&anna, "x"), a.hash(&bob, "x"));
        assert_ne!(a.hash(&anna, "x"), a.hash(&anna, "y"));
        assert_eq!(a.hash(&anna, "x"), a.hash(&anna, "x"));
    }
}
