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
#[derive(Clone, Debug)]
pub(crate) struct CustomIdKey {
    words: [u64; 2],
    /// The hasher with the key words already hashed: every lookup starts from a copy of it,
    /// which saves hashing the key each time.
    primed: DefaultHasher,
}

impl PartialEq for CustomIdKey {
    fn eq(&self, other: &Self) -> bool {
        self.words == other.words
    }
}

impl Eq for CustomIdKey {}

impl CustomIdKey {
    /// The key of a license made with `seed`.
    pub(crate) fn from_seed(seed: u64) -> Self {
        let words = [
            splitmix64(seed ^ 0x6375_7374_6f6d_5f69),
            splitmix64(seed ^ 0x645f_6b65_795f_7631),
        ];
        let mut primed = DefaultHasher::new();
        primed.write_u64(words[0]);
        primed.write_u64(words[1]);
        Self { words, primed }
    }

    /// The hash of a sender's `custom_id`.
    ///
    /// Only the `custom_id` goes through the keyed hash: the sender is mixed in with the
    /// engine's fast hash, which costs a tenth as much. A client chooses its `custom_id`s but
    /// not its id, and without the key it cannot tell which of its ids share bits with anyone
    /// else's, so the collisions it could aim for are still out of reach.
    #[inline]
    pub(crate) fn hash(&self, sender: &UserId, custom_id: &str) -> u64 {
        let mut h = self.primed.clone();
        h.write(custom_id.as_bytes());
        let mut fast = FastHasher::default();
        sender.hash(&mut fast);
        h.finish() ^ fast.finish().rotate_left(32)
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
/// (counting every event of every thread, in order). A chat's first ids are kept inline,
/// which spares short chats a table of their own.
///
/// Two ids whose 32 bits agree are told apart by checking the event found against the request;
/// the second is filed under the bits mixed once more ([`next_key`]), and so on, so a lookup
/// follows the same chain an insert did and stops at the first key that is not there. Nothing
/// is ever removed, so chains never break; and since the bits come from a keyed hash, chains
/// longer than one are rare and cannot be forced.
#[derive(Clone, Debug)]
pub(crate) struct CustomIds(Repr);

/// Ids kept inline.
const SMALL: usize = 2;

#[derive(Clone, Debug)]
enum Repr {
    /// `(hash bits, event number)`, the first `len` in use.
    Small {
        len: u8,
        entries: [(u32, u32); SMALL],
    },
    /// Kept inline rather than boxed: a lookup is then one memory access fewer, which in a
    /// large license is a cache miss fewer per send.
    Large(HashMap<u32, u32, BuildHasherDefault<FastHasher>>),
}

/// The key after `key` in a chain of ids whose bits collided (an odd multiplier and a
/// rotation: a permutation of the 32-bit keys with no short cycles through the first key).
fn next_key(key: u32) -> u32 {
    key.wrapping_mul(0x9e37_79b1).rotate_left(13) ^ 0x5bd1_e995
}

impl Default for CustomIds {
    fn default() -> Self {
        CustomIds(Repr::Small {
            len: 0,
            entries: [(0, 0); SMALL],
        })
    }
}

impl CustomIds {
    /// The number of the event sent with the `custom_id` whose hash is `hash`, if `is_it` says
    /// the event found is the one (its sender and `custom_id` are the request's).
    #[inline]
    pub(crate) fn find(&self, hash: u64, is_it: impl Fn(u32) -> bool) -> Option<u32> {
        let bits = (hash >> 32) as u32;
        match &self.0 {
            Repr::Small { len, entries } => entries[..usize::from(*len)]
                .iter()
                .filter(|&&(b, _)| b == bits)
                .map(|&(_, n)| n)
                .find(|&n| is_it(n)),
            Repr::Large(table) => {
                let mut key = bits;
                loop {
                    let &n = table.get(&key)?;
                    if is_it(n) {
                        return Some(n);
                    }
                    key = next_key(key);
                }
            }
        }
    }

    /// Records that event number `event` was sent with the `custom_id` whose hash is `hash`;
    /// the caller has made sure it is not there yet.
    #[inline]
    pub(crate) fn insert(&mut self, hash: u64, event: u32) {
        let bits = (hash >> 32) as u32;
        match &mut self.0 {
            Repr::Small { len, entries } if usize::from(*len) < SMALL => {
                entries[usize::from(*len)] = (bits, event);
                *len += 1;
            }
            Repr::Small { entries, .. } => {
                let mut table = HashMap::default();
                for &(b, n) in entries.iter() {
                    insert_chained(&mut table, b, n);
                }
                insert_chained(&mut table, bits, event);
                self.0 = Repr::Large(table);
            }
            Repr::Large(table) => insert_chained(table, bits, event),
        }
    }

    /// The numbers of the events indexed, sorted: what two equal indexes share however they
    /// were built.
    fn entries(&self) -> Vec<u32> {
        let mut all: Vec<u32> = match &self.0 {
            Repr::Small { len, entries } => entries[..usize::from(*len)]
                .iter()
                .map(|&(_, n)| n)
                .collect(),
            Repr::Large(table) => table.values().copied().collect(),
        };
        all.sort_unstable();
        all
    }

    /// The number of ids indexed.
    pub(crate) fn len(&self) -> usize {
        match &self.0 {
            Repr::Small { len, .. } => usize::from(*len),
            Repr::Large(table) => table.len(),
        }
    }
}

/// Files `event` under `bits`, or the first free key of its chain.
fn insert_chained(
    table: &mut HashMap<u32, u32, BuildHasherDefault<FastHasher>>,
    bits: u32,
    event: u32,
) {
    let mut key = bits;
    loop {
        match table.entry(key) {
            Entry::Vacant(slot) => {
                slot.insert(event);
                return;
            }
            Entry::Occupied(_) => key = next_key(key),
        }
    }
}

/// Two indexes are equal when they index the same events. (Which keys a chain used depends
/// on the order of inserts; the events do not.)
impl PartialEq for CustomIds {
    fn eq(&self, other: &Self) -> bool {
        self.entries() == other.entries()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_whose_bits_collide_are_told_apart_inline_and_in_the_table() {
        let mut index = CustomIds::default();
        // Events whose hashes share their 32 bits; the check tells which is which. The first
        // two are kept inline, the rest move to the table, along one chain of keys.
        let hash = 0xdead_beef_0000_0000;
        for count in 1..=6u32 {
            index.insert(hash, count * 10);
            assert_eq!(matches!(index.0, Repr::Small { .. }), count <= 2);
            for event in (1..=count).map(|c| c * 10) {
                assert_eq!(index.find(hash, |n| n == event), Some(event));
            }
            assert_eq!(index.find(hash, |n| n == 4), None);
            assert_eq!(index.find(0x1234_0000_0000_0000, |_| true), None);
            assert_eq!(index.len(), count as usize);
        }
        let mut other = CustomIds::default();
        for event in [60, 50, 40, 30, 20, 10] {
            other.insert(hash, event);
        }
        assert_eq!(index, other);
    }

    #[test]
    fn the_index_takes_four_words() {
        assert_eq!(std::mem::size_of::<CustomIds>(), 32);
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
