//! A small, fast, deterministic hasher for the engine's maps.
//!
//! Keys are ids the engine generated from its seeded generator, or ids the host registered, so
//! the flooding attacks a keyed hasher defends against need control over inserted keys that
//! requests do not have. Keys that requests do choose (an event's `custom_id`) go in ordered
//! maps instead. A fixed hasher also keeps iteration order a function of the inputs,
//! which determinism needs. The mixing is the multiply-rotate scheme of rustc's FxHasher.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// The hasher; see the module docs.
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher {
    hash: u64,
}

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // Whole words first, then the tail zero-padded into one more. Built with loads and
        // shifts rather than `copy_from_slice` into a buffer, which compiled to a `memcpy` call
        // per key: string ids (agents') are hashed on every request.
        let mut rest = bytes;
        while let Some((word, tail)) = rest.split_first_chunk::<8>() {
            self.add(u64::from_le_bytes(*word));
            rest = tail;
        }
        if !rest.is_empty() {
            let word = rest
                .iter()
                .rev()
                .fold(0u64, |word, &byte| (word << 8) | u64::from(byte));
            self.add(word);
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.add(i as u64);
        self.add((i >> 64) as u64);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// A `HashMap` with the fast hasher.
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    /// The scheme as documented, one word at a time through a zero-padded buffer: the fast
    /// `write` must give the same hashes, or maps built before and after would disagree.
    fn reference(bytes: &[u8]) -> u64 {
        let mut hasher = FastHasher::default();
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            hasher.add(u64::from_le_bytes(word));
        }
        hasher.finish()
    }

    #[test]
    fn write_hashes_every_length_like_the_reference() {
        let text: Vec<u8> = (0u8..=40).map(|i| i.wrapping_mul(37) ^ 0xa5).collect();
        for len in 0..=text.len() {
            let mut hasher = FastHasher::default();
            hasher.write(&text[..len]);
            assert_eq!(hasher.finish(), reference(&text[..len]), "length {len}");
        }
    }

    #[test]
    fn write_keeps_the_hash_of_a_known_key() {
        // Pinned, so that a change of scheme is a decision, not an accident: iteration order
        // of the engine's maps, and so its outputs, follow from it.
        let mut hasher = FastHasher::default();
        hasher.write(b"agent@example.com");
        assert_eq!(hasher.finish(), 0x3a33_1903_90d7_a40f);
    }
}
