//! Snapshots: a whole engine as bytes, and back.
//!
//! A snapshot is a fixed-width header line followed by the body:
//!
//! ```text
//! CHATIO-SNAPSHOT 00000002 00000000000000012345 9f86d081884c7d65
//!                 version  body length (bytes)  checksum of the body
//! ```
//!
//! The header lets a reader refuse a future version before it reads anything else, and notice a
//! truncated or damaged file. The checksum (described in `snapshot/checksum.rs`) is for
//! accidents, a torn write or a flipped bit, not for tampering, and it is not what keeps the
//! reader safe: the body's reader checks every byte as if there were no checksum, so a body
//! with a matching checksum but wrong contents is refused, never a panic. In version 2 the
//! checksum is taken as the body is read and compared at the end; damage is still reported as
//! a checksum mismatch whenever the checksum does not match.
//!
//! # Version 2 (written by this build)
//!
//! Events are nearly all of a license's bytes, so they leave the JSON for a binary section:
//!
//! ```text
//! body    = json-len  JSON  events
//! json-len: u64, little-endian: the length of JSON
//! JSON    : the engine's state as in version 1, except that every thread's "events" is []
//! events  : for every chat in order, for every thread of it in order:
//!             count (varint), then that many events; nothing after the last thread
//! event   = id (16 bytes, the UUID's bytes)  order (u64 LE)  timestamp (i64 LE, Unix seconds)
//!           shape (1 byte)  [author]  [custom_id]  [properties]  content
//! shape   : bit 0 recipients are agents only; bit 1 an author follows; bit 2 a custom_id
//!           follows; bit 3 properties follow; bits 4-5 how the content is stored
//!           (0 message, 1 system message, 2 JSON); bit 6 a system message has a
//!           system_message_type; bit 7 is never set
//! author  : varint n. Authors are numbered in the order they first appear in the section;
//!           n below the number defined so far names one of them, n equal to it defines the
//!           next one, whose user id follows as a string
//! custom_id, message text, system message text and type: strings
//! properties: bytes holding the properties' JSON (written only when there are some)
//! content : message and system message as above; any other kind as bytes holding the JSON
//!           of its `EventKind` (`{"type":"file",...}`), read by the usual reader
//! string  = bytes holding UTF-8
//! bytes   = length (varint)  that many bytes
//! varint  : unsigned LEB128, shortest form, at most 64 bits
//! ```
//!
//! The reader refuses, as [`JournalError::Corrupt`] naming the chat, thread and event, any part
//! that runs past the end, a count or length larger than the bytes left (checked before
//! anything is allocated), text that is not UTF-8, an unknown shape bit, an author number not
//! yet defined, a thread whose JSON already holds events, and bytes left over. Then
//! [`Engine`]'s own consistency checks run on the whole, as for version 1.
//!
//! Each engine has exactly one encoding: the same engine always gives the same bytes (maps are
//! written sorted, authors numbered by first use), and the reader also refuses what no writer
//! makes, such as a second definition of an author, empty properties written out, a message
//! or system message written as JSON, or a varint longer than it needs to be. Whatever it
//! accepts outside the JSON parts is therefore read exactly as a writer would have meant it.
//!
//! # Version 1 (still read)
//!
//! The body is the engine's state as JSON, events included.

mod checksum;
mod cursor;
mod events;

use std::sync::Arc;

use super::{JournalError, builtin_router};
use crate::engine::{Engine, EngineState, RestoreError};
use crate::routing::Router;
use checksum::{Checksum, checksum};

/// The snapshot format this build writes. It also reads every earlier version, and refuses
/// later ones with [`JournalError::UnsupportedVersion`].
pub const SNAPSHOT_VERSION: u32 = 2;

const MAGIC: &[u8] = b"CHATIO-SNAPSHOT ";
/// Magic, version (8 digits), space, length (20 digits), space, checksum (16 hex), newline.
const HEADER_LEN: usize = MAGIC.len() + 8 + 1 + 20 + 1 + 16 + 1;
/// The JSON part's length, at the start of a version 2 body.
const JSON_LEN_LEN: usize = 8;
const WHAT: &str = "snapshot";

impl Engine {
    /// The whole engine as a snapshot. Restoring it with [`restore`](Self::restore) gives an
    /// engine equal to this one; applying the journal records numbered after
    /// [`journal_seq`](Self::journal_seq) brings it up to date.
    pub fn snapshot(&self) -> Vec<u8> {
        // About 100 bytes per event and 1 KiB per chat and user: reserving that up front saves
        // copying a growing buffer over and over (pages not written are never touched).
        let events: usize = self
            .chats()
            .iter()
            .map(|c| c.threads.iter().map(|t| t.events.len()).sum::<usize>())
            .sum();
        let users = self.agents().len() + self.customer_count();
        let mut out = Vec::with_capacity(
            HEADER_LEN
                + JSON_LEN_LEN
                + 4096
                + events.saturating_mul(100)
                + (self.chats().len() + users) * 1024,
        );
        out.resize(HEADER_LEN + JSON_LEN_LEN, 0);
        // Writing plain data into a Vec cannot fail: every map key is a string. Should it ever,
        // the snapshot gets an empty body, which restores as corrupt rather than as a wrong
        // engine.
        let mut sum = Checksum::new();
        let written = serde_json::to_writer(&mut out, &self.state()).and_then(|()| {
            let json_len = (out.len() - HEADER_LEN - JSON_LEN_LEN) as u64;
            out[HEADER_LEN..HEADER_LEN + JSON_LEN_LEN].copy_from_slice(&json_len.to_le_bytes());
            sum.absorb(&out[HEADER_LEN..]);
            events::write(&mut out, self.chats(), |so_far| {
                sum.absorb(&so_far[HEADER_LEN..]);
            })
        });
        let sum = match written {
            Ok(()) => sum.finish(&out[HEADER_LEN..]),
            Err(_) => {
                out.truncate(HEADER_LEN);
                checksum(&[])
            }
        };
        let header = format!(
            "CHATIO-SNAPSHOT {SNAPSHOT_VERSION:08} {:020} {sum:016x}\n",
            out.len() - HEADER_LEN,
        );
        out[..HEADER_LEN].copy_from_slice(header.as_bytes());
        out
    }

    /// An engine from a snapshot made by [`snapshot`](Self::snapshot) of this or an earlier
    /// version, resolving its router with [`builtin_router`]. A snapshot of a later version, a
    /// damaged one, or one whose contents do not hang together is refused with a
    /// [`JournalError`]; nothing panics.
    pub fn restore(snapshot: &[u8]) -> Result<Engine, JournalError> {
        Self::restore_with(snapshot, &builtin_router)
    }

    /// [`restore`](Self::restore), resolving the router's name with `routers`.
    pub fn restore_with(
        snapshot: &[u8],
        routers: &dyn Fn(&str) -> Option<Arc<dyn Router>>,
    ) -> Result<Engine, JournalError> {
        let (version, body, expected) = read_header(snapshot)?;
        let mismatch = || corrupt("checksum mismatch".into());
        let state = match version {
            1 if checksum(body) != expected => return Err(mismatch()),
            1 => json_state(body)?,
            _ => {
                // The checksum is taken as the body is read, while each part is in cache, and
                // compared at the end. Damage the decoder trips over first is still reported
                // as a checksum mismatch, as it would be had the checksum come first.
                let mut sum = Checksum::new();
                match read_body(body, &mut sum) {
                    Ok(state) if sum.finish(body) == expected => state,
                    Ok(_) => return Err(mismatch()),
                    Err(_) if checksum(body) != expected => return Err(mismatch()),
                    Err(e) => return Err(e),
                }
            }
        };
        Engine::from_state(state, routers).map_err(|e| match e {
            RestoreError::UnknownRouter(name) => JournalError::UnknownRouter(name),
            RestoreError::Inconsistent(reason) => corrupt(reason),
        })
    }
}

/// The state in a version 2 body, not yet checked for consistency; `sum` takes in every byte
/// read.
fn read_body(body: &[u8], sum: &mut Checksum) -> Result<EngineState, JournalError> {
    let Some((len, rest)) = body.split_first_chunk::<JSON_LEN_LEN>() else {
        return Err(corrupt("body too short for its JSON length".into()));
    };
    let len = u64::from_le_bytes(*len);
    let Some((json, section)) = usize::try_from(len)
        .ok()
        .and_then(|len| rest.split_at_checked(len))
    else {
        return Err(corrupt(format!(
            "JSON length {len} is past the end of the body"
        )));
    };
    let section_start = JSON_LEN_LEN + json.len();
    sum.absorb(&body[..section_start]);
    let mut state = json_state(json)?;
    events::read(section, state.chats_mut(), |read| {
        sum.absorb(&body[..section_start + read]);
    })
    .map_err(corrupt)?;
    Ok(state)
}

fn json_state(json: &[u8]) -> Result<EngineState, JournalError> {
    serde_json::from_slice(json).map_err(|e| corrupt(e.to_string()))
}

/// Checks the header and returns the version, the body and the body's checksum as the header
/// states it.
fn read_header(bytes: &[u8]) -> Result<(u32, &[u8], u64), JournalError> {
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
    if !(1..=SNAPSHOT_VERSION).contains(&version) {
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
    Ok((version, body, sum))
}

fn corrupt(reason: String) -> JournalError {
    JournalError::Corrupt { what: WHAT, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

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
