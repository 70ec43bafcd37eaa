//! The id generator: a seeded SplitMix64 stream turned into version-4-shaped UUIDs.
//!
//! SplitMix64 is tiny, fast and has a 64-bit state that serializes as one number, which replay
//! and snapshots need. Ids need to be unique and unguessable enough for a single license, not
//! cryptographically strong; a host that needs more can seed from a strong source.

use serde::{Deserialize, Serialize};
use uuid::{Builder, Uuid};

/// The engine's source of ids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IdGenerator {
    state: u64,
}

impl IdGenerator {
    pub(crate) fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(crate) fn next_uuid(&mut self) -> Uuid {
        let hi = self.next_u64();
        let lo = self.next_u64();
        let bytes = ((u128::from(hi) << 64) | u128::from(lo)).to_be_bytes();
        Builder::from_random_bytes(bytes).into_uuid()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_ids() {
        let mut a = IdGenerator::new(42);
        let mut b = IdGenerator::new(42);
        for _ in 0..100 {
            assert_eq!(a.next_uuid(), b.next_uuid());
        }
        assert_ne!(
            IdGenerator::new(1).next_uuid(),
            IdGenerator::new(2).next_uuid()
        );
    }

    #[test]
    fn ids_are_version_4_shaped() {
        let id = IdGenerator::new(0).next_uuid();
        assert_eq!(id.get_version_num(), 4);
    }
}
