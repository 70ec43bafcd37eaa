//! Snapshots: a whole engine as bytes, and back.
//!
//! A snapshot is a fixed-width header line followed by the engine's state as JSON:
//!
//! ```text
//! CHATIO-SNAPSHOT 00000001 00000000000000012345 9f86d081884c7d65
//!                 version  body length (bytes)  checksum of the body
//! ```
//!
//! The header lets a reader refuse a future version before it reads anything else, and notice a
//! truncated or damaged file before it trusts a byte of it. The checksum is for accidents (a
//! torn write, a flipped bit), not for tampering.

use std::sync::Arc;

use super::{JournalError, builtin_router};
use crate::engine::{Engine, EngineState, RestoreError};
use crate::routing::Router;

/// The snapshot format this build writes and reads.
pub const SNAPSHOT_VERSION: u32 = 1;

const MAGIC: &[u8] = b"CHATIO-SNAPSHOT ";
/// Magic, version (8 digits), space, length (20 digits), space, checksum (16 hex), newline.
const HEADER_LEN: usize = MAGIC.len() + 8 + 1 + 20 + 1 + 16 + 1;
const WHAT: &str = "snapshot";

impl Engine {
    /// The whole engine as a snapshot. Restoring it with [`restore`](Self::restore) gives an
    /// engine equal to this one; applying the journal records numbered after
    /// [`journal_seq`](Self::journal_seq) brings it up to date.
    pub fn snapshot(&self) -> Vec<u8> {
        // About 250 bytes per event and 1 KiB per chat and user: reserving that up front saves
        // copying a growing buffer over and over (pages not written are never touched).
        let events: usize = self
            .chats()
            .iter()
            .map(|c| c.threads.iter().map(|t| t.events.len()).sum::<usize>())
            .sum();
        let users = self.agents().len() + self.customer_count();
        let mut out = Vec::with_capacity(
            HEADER_LEN + 4096 + events * 256 + (self.chats().len() + users) * 1024,
        );
        out.resize(HEADER_LEN, b' ');
        // Writing plain data into a Vec cannot fail: every map key is a string.
        if serde_json::to_writer(&mut out, &self.state()).is_err() {
            out.truncate(HEADER_LEN);
        }
        let body = &out[HEADER_LEN..];
        let header = format!(
            "CHATIO-SNAPSHOT {SNAPSHOT_VERSION:08} {:020} {:016x}\n",
            body.len(),
            checksum(body)
        );
        out[..HEADER_LEN].copy_from_slice(header.as_bytes());
        out
    }

    /// An engine from a snapshot made by [`snapshot`](Self::snapshot), resolving its router
    /// with [`builtin_router`]. A snapshot of another version, a damaged one, or one whose
    /// contents do not hang together is refused with a [`JournalError`]; nothing panics.
    pub fn restore(snapshot: &[u8]) -> Result<Engine, JournalError> {
        Self::restore_with(snapshot, &builtin_router)
    }

    /// [`restore`](Self::restore), resolving the router's name with `routers`.
    pub fn restore_with(
        snapshot: &[u8],
        routers: &dyn Fn(&str) -> Option<Arc<dyn Router>>,
    ) -> Result<Engine, JournalError> {
        let body = read_header(snapshot)?;
        let state: EngineState =
            serde_json::from_slice(body).map_err(|e| corrupt(e.to_string()))?;
        Engine::from_state(state, routers).map_err(|e| match e {
            RestoreError::UnknownRouter(name) => JournalError::UnknownRouter(name),
            RestoreError::Inconsistent(reason) => corrupt(reason),
        })
    }
}

/// Checks the header and returns the body it vouches for.
fn read_header(bytes: &[u8]) -> Result<&[u8], JournalError> {
    let Some(rest) = bytes.strip_prefix(MAGIC) else {
        return Err(corrupt("not a chatio snapshot".into()));
    };
    if bytes.len() < HEADER_LEN {
        return Err(corrupt("truncated header".into()));
    }
    let field = |from: usize, len: usize| std::str::from_utf8(&rest[from..from + len]).ok();
    let version = field(0, 8).and_then(|v| v.parse::<u32>().ok());
    let Some(version) = version else {
        return Err(corrupt("unreadable version".into()));
    };
    if version != SNAPSHOT_VERSION {
        return Err(JournalError::UnsupportedVersion {
            what: WHAT,
            found: version,
            supported: SNAPSHOT_VERSION,
        });
    }
    let len = field(9, 20).and_then(|v| v.parse::<usize>().ok());
    let sum = field(30, 16).and_then(|v| u64::from_str_radix(v, 16).ok());
    let (Some(len), Some(sum)) = (len, sum) else {
        return Err(corrupt("unreadable header".into()));
    };
    let body = &bytes[HEADER_LEN..];
    if body.len() != len {
        return Err(corrupt(format!(
            "body is {} bytes, the header says {len}",
            body.len()
        )));
    }
    if checksum(body) != sum {
        return Err(corrupt("checksum mismatch".into()));
    }
    Ok(body)
}

fn corrupt(reason: String) -> JournalError {
    JournalError::Corrupt { what: WHAT, reason }
}

/// A fast 64-bit checksum: four independent lanes of eight bytes each (so the multiplications
/// overlap), each multiplied and rotated, then folded and mixed.
fn checksum(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mix = |h: u64, w: u64| (h ^ w).wrapping_mul(K).rotate_left(29);
    let mut lanes = [K, K.rotate_left(16), K.rotate_left(32), K.rotate_left(48)];
    let mut blocks = bytes.chunks_exact(32);
    for block in &mut blocks {
        for (i, lane) in lanes.iter_mut().enumerate() {
            *lane = mix(*lane, word(&block[i * 8..i * 8 + 8]));
        }
    }
    let mut h = bytes.len() as u64 ^ K;
    for lane in lanes {
        h = mix(h, lane);
    }
    for w in blocks.remainder().chunks(8) {
        h = mix(h, word(w));
    }
    h ^= h >> 32;
    h.wrapping_mul(K) ^ (h >> 29)
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
    fn header_is_the_declared_width() {
        let engine = Engine::default();
        let snapshot = engine.snapshot();
        assert_eq!(
            snapshot.iter().position(|&b| b == b'\n'),
            Some(HEADER_LEN - 1)
        );
        assert_eq!(Engine::restore(&snapshot), Ok(engine));
    }
}
