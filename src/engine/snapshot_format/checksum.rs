//! The checksum in a snapshot's header.
//!
//! The basic sum, which version 1 uses for the whole body: four independent lanes take one
//! little-endian word each from every 32-byte block (so the multiplications overlap):
//! `lane = rotate_left((lane ^ word) * K, 29)`. At the end the input's length, the four lanes
//! and the words of the last partial block (zero-padded) are folded the same way, and the
//! result mixed once more.
//!
//! Version 2 cuts the body into chunks of [`CHUNK`] bytes (the last one shorter, an empty body
//! into none), takes the basic sum of each, and then the basic sum of the body's length (u64
//! LE) followed by the chunks' sums (u64 LE each, in order). The basic sum is one chain per
//! lane and cannot be split; chunks can be summed on several threads at once, and their sums
//! depend on the bytes alone, not on how the body is laid out, so a body whose structure is
//! damaged still has a checksum to compare.

use std::ops::Range;

const K: u64 = 0x9e37_79b9_7f4a_7c15;
const BLOCK: usize = 32;
/// A version 2 chunk: a whole number of blocks, and small next to a body of tens of megabytes,
/// so the chunks share out evenly between threads.
pub(super) const CHUNK: usize = 1 << 20;

/// The basic sum of `bytes` (version 1's checksum).
pub(super) fn checksum(bytes: &[u8]) -> u64 {
    let mut lanes = [K, K.rotate_left(16), K.rotate_left(32), K.rotate_left(48)];
    let blocks = bytes.len() - bytes.len() % BLOCK;
    for block in bytes[..blocks].chunks_exact(BLOCK) {
        for (i, lane) in lanes.iter_mut().enumerate() {
            *lane = mix(*lane, word(&block[i * 8..i * 8 + 8]));
        }
    }
    let mut h = bytes.len() as u64 ^ K;
    for lane in lanes {
        h = mix(h, lane);
    }
    for w in bytes[blocks..].chunks(8) {
        h = mix(h, word(w));
    }
    h ^= h >> 32;
    h.wrapping_mul(K) ^ (h >> 29)
}

/// How many chunks a body of `len` bytes has.
pub(super) fn chunk_count(len: usize) -> usize {
    len.div_ceil(CHUNK)
}

/// The basic sums of chunks `chunks` of `body`.
pub(super) fn chunk_sums(body: &[u8], chunks: Range<usize>) -> Vec<u64> {
    chunks
        .map(|i| checksum(&body[i * CHUNK..((i + 1) * CHUNK).min(body.len())]))
        .collect()
}

/// Version 2's checksum of a body of `len` bytes from the sums of all its chunks, in order.
pub(super) fn combine(len: usize, sums: &[u64]) -> u64 {
    let mut bytes = Vec::with_capacity(8 * (1 + sums.len()));
    bytes.extend_from_slice(&(len as u64).to_le_bytes());
    for sum in sums {
        bytes.extend_from_slice(&sum.to_le_bytes());
    }
    checksum(&bytes)
}

/// Version 2's checksum of `body`, on the calling thread.
pub(super) fn chunked(body: &[u8]) -> u64 {
    combine(body.len(), &chunk_sums(body, 0..chunk_count(body.len())))
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
    fn the_values_are_those_snapshots_were_written_with() {
        // Computed by the one-pass function that wrote version 1 snapshots: a change here would
        // make every stored snapshot unreadable.
        assert_eq!(checksum(b""), 0xc587_38e1_0951_58b1);
        let body: Vec<u8> = (0..100u8).collect();
        assert_eq!(checksum(&body), 0x4d10_77c8_cf7a_c49c);
    }

    #[test]
    fn chunks_are_summed_apart_and_combined_in_order() {
        let body: Vec<u8> = (0..2 * CHUNK + 77).map(|i| (i * 7 % 251) as u8).collect();
        assert_eq!(chunk_count(body.len()), 3);
        assert_eq!(chunk_count(0), 0);
        let sums = [
            checksum(&body[..CHUNK]),
            checksum(&body[CHUNK..2 * CHUNK]),
            checksum(&body[2 * CHUNK..]),
        ];
        assert_eq!(chunk_sums(&body, 1..3), sums[1..]);
        assert_eq!(chunked(&body), combine(body.len(), &sums));
        let swapped = [sums[1], sums[0], sums[2]];
        assert_ne!(chunked(&body), combine(body.len(), &swapped));
        // One flipped bit in the last chunk, and one in the first.
        for at in [0, body.len() - 1] {
            let mut damaged = body.clone();
            damaged[at] ^= 0x10;
            assert_ne!(chunked(&damaged), chunked(&body), "byte {at}");
        }
        assert_eq!(chunked(b""), combine(0, &[]));
    }
}
