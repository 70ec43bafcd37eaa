//! Chat ids that carry their chat's slot, readable by the engine and not by those who see them.
//!
//! A chat id is a random UUID from the id generator whose last 32 bits the engine replaces with
//! its chat's slot (its index in the chat store), so that finding a chat is one array access:
//! at a million chats a hash-table probe was a cache miss on every request. The slot is a
//! counter, though, and an id must not show it: from two ids anyone could tell which chat is
//! older and how many came between, and from one how many chats the license holds.
//!
//! [`ChatIdScheme::KeyedPermutation`] (the default) puts the slot through a keyed permutation
//! of the 32-bit numbers: a four-round Feistel network on two 16-bit halves, whose round
//! functions are keyed with 64-bit keys drawn from the seed. Without the seed the tails of
//! successive chats look like unrelated random numbers; with it the engine turns a tail back
//! into its slot in a few multiplications. It is not a cipher meant to resist cryptanalysis,
//! and a host that hands out the seed hands out the counter; it is the seed, drawn at random by
//! the host, that keeps ids unpredictable.
//!
//! [`ChatIdScheme::MaskedSlot`] is the scheme of earlier versions, the slot XOR a mask derived
//! from the seed, which whoever knows the seed (a server's default was 0) reads as plainly as
//! the counter. It stays for the chats made under it: their ids are stored in snapshots and
//! journals, in hosts' databases and in clients, and must keep finding their chats. A
//! configuration written before the scheme existed reads as `MaskedSlot`.

use serde::{Deserialize, Serialize};

use crate::model::ChatId;

/// How chat ids carry their chat's slot (see [`EngineConfig::chat_id_scheme`]).
///
/// [`EngineConfig::chat_id_scheme`]: crate::EngineConfig::chat_id_scheme
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChatIdScheme {
    /// The slot XOR a mask derived from the seed: the only scheme before `KeyedPermutation`,
    /// kept so that configurations and snapshots written then keep their chat ids. Anyone who
    /// knows the seed reads the chat counter off an id.
    MaskedSlot,
    /// The slot through a permutation of the 32-bit numbers keyed from the seed: without the
    /// seed, an id says nothing of how old its chat is or how many chats there are. The
    /// default.
    KeyedPermutation,
}

impl ChatIdScheme {
    /// What a configuration without the field reads as: the scheme it was written under.
    pub(crate) fn before_schemes() -> Self {
        ChatIdScheme::MaskedSlot
    }
}

/// Feistel rounds. Three make a permutation that looks random to whoever sees only its outputs;
/// the fourth makes it look random from both directions, for a handful of nanoseconds more.
const ROUNDS: usize = 4;

/// The engine's half of the scheme: what turns slots into id tails and back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ChatIdKey {
    /// [`ChatIdScheme::MaskedSlot`]: the mask.
    Masked(u32),
    /// [`ChatIdScheme::KeyedPermutation`]: the round keys.
    Permuted([u64; ROUNDS]),
}

impl ChatIdKey {
    pub(crate) fn new(seed: u64, scheme: ChatIdScheme) -> Self {
        match scheme {
            ChatIdScheme::MaskedSlot => {
                ChatIdKey::Masked((seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32)
            }
            ChatIdScheme::KeyedPermutation => {
                // Keys of their own, drawn by SplitMix64 from the seed apart from the id
                // generator's stream (another start), so that no id the engine hands out is a
                // round key.
                let mut state = seed ^ 0x6a09_e667_f3bc_c908;
                ChatIdKey::Permuted(std::array::from_fn(|_| splitmix(&mut state)))
            }
        }
    }

    /// The last 32 bits of the id of the chat in `slot`.
    pub(crate) fn tail(&self, slot: u32) -> u32 {
        match self {
            ChatIdKey::Masked(mask) => slot ^ mask,
            ChatIdKey::Permuted(keys) => {
                let (mut left, mut right) = ((slot >> 16) as u16, slot as u16);
                for &key in keys {
                    (left, right) = (right, left ^ round(right, key));
                }
                (u32::from(left) << 16) | u32::from(right)
            }
        }
    }

    /// The slot a tail names: the inverse of [`tail`](Self::tail).
    pub(crate) fn slot(&self, tail: u32) -> u32 {
        match self {
            ChatIdKey::Masked(mask) => tail ^ mask,
            ChatIdKey::Permuted(keys) => {
                let (mut left, mut right) = ((tail >> 16) as u16, tail as u16);
                for &key in keys.iter().rev() {
                    (left, right) = (right ^ round(left, key), left);
                }
                (u32::from(left) << 16) | u32::from(right)
            }
        }
    }

    /// The slot a chat id names (which may hold another chat, or none: the caller compares).
    pub(crate) fn slot_of(&self, id: ChatId) -> usize {
        let b = id.as_uuid().as_bytes();
        self.slot(u32::from_be_bytes([b[12], b[13], b[14], b[15]])) as usize
    }

    /// `random`, an id from the generator, with its last 32 bits naming `slot`.
    pub(crate) fn id(&self, random: uuid::Uuid, slot: u32) -> ChatId {
        let mut bytes = *random.as_bytes();
        bytes[12..16].copy_from_slice(&self.tail(slot).to_be_bytes());
        ChatId::from_uuid(uuid::Uuid::from_bytes(bytes))
    }
}

/// A Feistel round function: 16 bits of a keyed mix of `half` (the SplitMix64 finalizer, whose
/// output bits each depend on every input bit).
#[inline]
fn round(half: u16, key: u64) -> u16 {
    let mut z = u64::from(half) ^ key;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z >> 48) as u16
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> [ChatIdKey; 4] {
        [
            ChatIdKey::new(0, ChatIdScheme::KeyedPermutation),
            ChatIdKey::new(42, ChatIdScheme::KeyedPermutation),
            ChatIdKey::new(0, ChatIdScheme::MaskedSlot),
            ChatIdKey::new(42, ChatIdScheme::MaskedSlot),
        ]
    }

    #[test]
    fn slots_come_back_from_their_tails() {
        for key in keys() {
            for slot in (0..100_000).chain([u32::MAX, u32::MAX - 1, 1 << 31, 0x0001_0000]) {
                assert_eq!(key.slot(key.tail(slot)), slot, "{key:?}");
            }
        }
    }

    #[test]
    fn the_masked_slot_scheme_is_the_one_snapshots_were_written_with() {
        // The mask of seed 2024, the snapshot fixture's, as earlier versions computed it.
        let mask = (2024u64.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32;
        let key = ChatIdKey::new(2024, ChatIdScheme::MaskedSlot);
        assert_eq!(key.tail(7), 7 ^ mask);
        // Seed 0: the mask is 0, and the tail is the counter itself.
        assert_eq!(ChatIdKey::new(0, ChatIdScheme::MaskedSlot).tail(5), 5);
    }

    #[test]
    fn keyed_tails_do_not_show_the_counter() {
        // Seed 0, a server's old default: successive slots' tails are far apart, not in order,
        // and differ between seeds.
        let zero = ChatIdKey::new(0, ChatIdScheme::KeyedPermutation);
        let other = ChatIdKey::new(1, ChatIdScheme::KeyedPermutation);
        let tails: Vec<u32> = (0..1_000).map(|s| zero.tail(s)).collect();
        let ascending = tails.windows(2).filter(|w| w[0] < w[1]).count();
        assert!(
            (400..600).contains(&ascending),
            "{ascending} of 999 pairs ascend"
        );
        let near = tails
            .windows(2)
            .filter(|w| w[0].abs_diff(w[1]) < 1 << 20)
            .count();
        assert!(
            near < 5,
            "{near} successive tails within 2^20 of each other"
        );
        let same = (0..1_000)
            .filter(|&s| zero.tail(s) == other.tail(s))
            .count();
        assert_eq!(same, 0);
        // Each output bit flips for about half of the slots that differ from another in one
        // bit: a change in the counter spreads over the whole tail.
        for bit in 0..32 {
            let flips = (0..2_000u32)
                .filter(|&s| (zero.tail(s) ^ zero.tail(s ^ 1)) >> bit & 1 == 1)
                .count();
            assert!((700..1_300).contains(&flips), "bit {bit}: {flips} of 2000");
        }
    }
}
