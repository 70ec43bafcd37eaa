//! The checksum in a snapshot's header, computable as the body is written or read.
//!
//! Four independent lanes take one little-endian word each from every 32-byte block (so the
//! multiplications overlap): `lane = rotate_left((lane ^ word) * K, 29)`. At the end the body's
//! length, the four lanes and the words of the last partial block (zero-padded) are folded
//! the same way, and the result mixed once more.
//!
//! A body is tens of megabytes, far more than the caches hold; hashing it in a pass of its own
//! after writing it (or before reading it) fetches every byte from memory a second time. So
//! [`Checksum::absorb`] takes the body so far, while its newest bytes are still in cache.

const K: u64 = 0x9e37_79b9_7f4a_7c15;
const BLOCK: usize = 32;

/// A checksum part way through a body.
pub(super) struct Checksum {
    lanes: [u64; 4],
    /// How many bytes of the body the lanes hold: always whole blocks.
    absorbed: usize,
}

impl Checksum {
    pub(super) fn new() -> Self {
        Self {
            lanes: [K, K.rotate_left(16), K.rotate_left(32), K.rotate_left(48)],
            absorbed: 0,
        }
    }

    /// Takes in every whole block of `body` not taken in yet. `body` is the body so far: each
    /// call must pass the same bytes as the last one, and possibly more.
    pub(super) fn absorb(&mut self, body: &[u8]) {
        let end = body.len() - body.len() % BLOCK;
        if end <= self.absorbed {
            return;
        }
        for block in body[self.absorbed..end].chunks_exact(BLOCK) {
            for (i, lane) in self.lanes.iter_mut().enumerate() {
                *lane = mix(*lane, word(&block[i * 8..i * 8 + 8]));
            }
        }
        self.absorbed = end;
    }

    /// The checksum of the whole `body`, which extends what was absorbed.
    pub(super) fn finish(mut self, body: &[u8]) -> u64 {
        self.absorb(body);
        let mut h = body.len() as u64 ^ K;
        for lane in self.lanes {
            h = mix(h, lane);
        }
        for w in body[self.absorbed..].chunks(8) {
            h = mix(h, word(w));
        }
        h ^= h >> 32;
        h.wrapping_mul(K) ^ (h >> 29)
    }
}

/// The checksum of `body` in one go.
pub(super) fn checksum(body: &[u8]) -> u64 {
    Checksum::new().finish(body)
}

fn mix(h: u64, w: u64) -> u64 {
    (h ^ w).wrapping_mul(K).rotate_left(29)
}

/// Up to eight bytes as a little-endian word, zero-padded.
fn word(bytes: &[u8]) -> u64 {
    match <[u8; 8]>::try_from(bytes) {
        Ok(w) => u64::from_le_bytes(w),
        Err(_) => {
            let mut w = [0u8; 8];
            let n = bytes.len().min(8);
            w[..n].copy_from_slice(&bytes[..n]);
            u64::from_le_bytes(w)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_sees_one_flipped_bit_anywhere() {
        let body: Vec<u8> = (0..100u8).collect();
        let sum = checksum(&body);
        for i in 0..body.len() {
            let mut damaged = body.clone();
            damaged[i] ^= 1;
            assert_ne!(checksum(&damaged), sum, "byte {i}");
        }
    }

    #[test]
    fn absorbing_in_pieces_gives_the_same_sum() {
        let body: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let whole = checksum(&body);
        for step in [1, 7, 31, 32, 33, 100, 999] {
            let mut sum = Checksum::new();
            let mut end = 0;
            while end < body.len() {
                end = (end + step).min(body.len());
                sum.absorb(&body[..end]);
                sum.absorb(&body[..end]); // again: nothing new, nothing changes
            }
            assert_eq!(sum.finish(&body), whole, "steps of {step}");
        }
    }

    #[test]
    fn the_values_are_those_snapshots_were_written_with() {
        // Computed by the one-pass function that wrote version 1 snapshots: a change here would
        // make every stored snapshot unreadable.
        assert_eq!(checksum(b""), 0xc587_38e1_0951_58b1);
        let body: Vec<u8> = (0..100u8).collect();
        assert_eq!(checksum(&body), 0x4d10_77c8_cf7a_c49c);
    }
}
