//! Taking snapshots apart in tests: the header, the body, its two parts, the events section's
//! segments, and resealing a damaged body under a fresh header, so that damage reaches the
//! body's reader instead of stopping at the checksum.
//!
//! The checksums here are a second implementation of those `src/engine/snapshot_format/checksum.rs`
//! documents, written from its description; `reseal` of an undamaged snapshot giving the same
//! bytes back is what keeps the two in step.

#![allow(dead_code)] // Each test binary uses its own part of this.

use std::ops::Range;

/// `CHATIO-SNAPSHOT `, version, space, length, space, checksum, newline.
pub const HEADER_LEN: usize = 16 + 8 + 1 + 20 + 1 + 16 + 1;

/// The body behind the header.
pub fn body(snapshot: &[u8]) -> &[u8] {
    &snapshot[HEADER_LEN..]
}

/// Where a version 2 body's JSON and binary section are, as ranges of the whole snapshot.
pub fn parts(snapshot: &[u8]) -> (Range<usize>, Range<usize>) {
    let len = u64::from_le_bytes(snapshot[HEADER_LEN..HEADER_LEN + 8].try_into().unwrap());
    let json = HEADER_LEN + 8..HEADER_LEN + 8 + len as usize;
    let section = json.end..snapshot.len();
    (json, section)
}

/// The segments of a version 2 events section, as its table gives them: each one's chat count
/// and where its bytes are in `section`. The section must be undamaged.
pub fn segments(section: &[u8]) -> Vec<(u64, Range<usize>)> {
    let n = u32::from_le_bytes(section[..4].try_into().unwrap()) as usize;
    let word = |at: usize| u64::from_le_bytes(section[at..at + 8].try_into().unwrap());
    let mut start = 4 + 16 * n;
    (0..n)
        .map(|i| {
            let (chats, len) = (word(4 + 16 * i), word(4 + 16 * i + 8) as usize);
            start += len;
            (chats, start - len..start)
        })
        .collect()
}

/// An events section of these segments (chat count and bytes each), under a table that
/// matches them.
pub fn section(segments: &[(u64, &[u8])]) -> Vec<u8> {
    let mut out = (segments.len() as u32).to_le_bytes().to_vec();
    for (chats, bytes) in segments {
        out.extend_from_slice(&chats.to_le_bytes());
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    }
    for (_, bytes) in segments {
        out.extend_from_slice(bytes);
    }
    out
}

/// `body` under a header of the given version with its true length and checksum.
pub fn reseal(version: u32, body: &[u8]) -> Vec<u8> {
    let sum = if version == 1 {
        checksum(body)
    } else {
        chunked_checksum(body)
    };
    let mut out = format!(
        "CHATIO-SNAPSHOT {version:08} {:020} {sum:016x}\n",
        body.len(),
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// A version 2 snapshot made of this JSON and this binary section.
pub fn assemble(json: &[u8], section: &[u8]) -> Vec<u8> {
    let mut body = (json.len() as u64).to_le_bytes().to_vec();
    body.extend_from_slice(json);
    body.extend_from_slice(section);
    reseal(2, &body)
}

/// Version 2's checksum: the basic one (below) of each 1 MiB chunk of the body, then the basic
/// one of the body's length and the chunks' sums, u64 LE each.
pub fn chunked_checksum(body: &[u8]) -> u64 {
    let mut sums = (body.len() as u64).to_le_bytes().to_vec();
    for chunk in body.chunks(1 << 20) {
        sums.extend_from_slice(&checksum(chunk).to_le_bytes());
    }
    checksum(&sums)
}

/// The basic snapshot checksum (version 1's): four lanes over 32-byte blocks, each lane taking one little-endian
/// word per block as `(lane ^ word) * K` rotated left by 29; then the length and the lanes
/// folded the same way, the leftover words (zero-padded) after them, and a final mix.
pub fn checksum(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mix = |h: u64, w: u64| (h ^ w).wrapping_mul(K).rotate_left(29);
    let word = |b: &[u8]| {
        let mut w = [0u8; 8];
        w[..b.len()].copy_from_slice(b);
        u64::from_le_bytes(w)
    };
    let mut lanes = [K, K.rotate_left(16), K.rotate_left(32), K.rotate_left(48)];
    let blocks = bytes.len() / 32 * 32;
    for block in bytes[..blocks].chunks(32) {
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
