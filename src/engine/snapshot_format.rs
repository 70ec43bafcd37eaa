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
//! truncated or damaged file. The checksum (described in `snapshot/checksum.rs`: version 1
//! takes one sum of the whole body, version 2 a sum of 1 MiB chunks' sums) is for accidents, a
//! torn write or a flipped bit, not for tampering, and it is not what keeps the reader safe:
//! the body's reader checks every byte as if there were no checksum, so a body with a matching
//! checksum but wrong contents is refused, never a panic. In version 2 the checksum is taken
//! alongside reading and compared at the end; damage is still reported as a checksum mismatch
//! whenever the checksum does not match.
//!
//! # Version 3 (written by this build for an engine with archived threads)
//!
//! Version 2 with one more key a thread may have in the JSON: `archived` (what the engine keeps
//! of a thread whose events it handed to the host, `Engine::archive_threads`), written only for
//! such a thread. A thread that has it has no events in the binary section. The number changed
//! so that a build that reads only version 2 refuses such a snapshot instead of taking its
//! archived threads for empty ones. An engine without archived threads is written as version
//! 2, byte for byte as before: its one encoding stays the same, and a build from before
//! archiving can still read it (a host can go back a version until it archives). A version 2
//! snapshot claiming an `archived` thread is refused (no version 2 writer made one).
//!
//! # Version 2 (written by this build for an engine without archived threads)
//!
//! Events are nearly all of a license's bytes, so they leave the JSON for a binary section, cut
//! into segments that can be written and read on several threads at once, when the host asks
//! for threads (`Engine::snapshot_with`, `Engine::restore_with` with [`Options::threads`]; the engine never
//! asks the machine how many it has):
//!
//! ```text
//! body    = json-len  JSON  events
//! json-len: u64, little-endian: the length of JSON
//! JSON    : the engine's state as in version 1, except that every thread's "events" is []
//! events  = segments (u32 LE)  table  segment...
//! table   : for each segment in order, its chat count (u64 LE) then its length in bytes
//!           (u64 LE); the segments follow the table back to back, and nothing after them
//! segment : for every chat of its range, in order, for every thread of it in order:
//!             count (varint), then that many events
//! event   = id (16 bytes, the UUID's bytes)  order (u64 LE)  timestamp (i64 LE, Unix seconds)
//!           shape (1 byte)  [author]  [custom_id]  [properties]  content
//! shape   : bit 0 recipients are agents only; bit 1 an author follows; bit 2 a custom_id
//!           follows; bit 3 properties follow; bits 4-5 how the content is stored
//!           (0 message, 1 system message, 2 JSON); bit 6 a system message has a
//!           system_message_type; bit 7 is never set
//! author  : varint n. Authors are numbered in the order they first appear in the segment;
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
//! Segments cover consecutive chats and share nothing, authors included, so each can be
//! encoded or decoded on its own thread into its own range of chats; the table says where each
//! starts, and the reader checks it against the chats and the bytes (at least one and at most
//! 16 segments, counts adding up to the chats, lengths to the bytes exactly) before it decodes
//! anything. How many segments there are and where they cut is a function of the events
//! alone, never of the machine: one segment per 8 Ki events (at least 1, at most 16), each
//! ending at the first chat boundary where the events so far reach its share of the total
//! (`segments::plan`). So a small license has one segment and is handled on the calling
//! thread whatever the host allows, and the threads used change nothing in the bytes or in which error is reported
//! (the first failing segment's).
//!
//! The reader refuses, as [`JournalError::Corrupt`] naming the segment, chat, thread and
//! event, any part that runs past the end of its segment, a count or length larger than the
//! bytes left (checked before anything is allocated), text that is not UTF-8, an unknown
//! shape bit, an author number not yet defined, a thread whose JSON already holds events, and
//! bytes left over in a segment. Then [`Engine`]'s own consistency checks run on the whole, as
//! for version 1.
//!
//! Each engine has exactly one encoding: the same engine always gives the same bytes (maps are
//! written sorted, authors numbered by first use in each segment, segments cut by the rule
//! above), and the reader also refuses what no writer makes, such as a second definition of an
//! author, empty properties written out, a message or system message written as JSON, a
//! varint longer than it needs to be, or a table that cuts the chats other than the rule does.
//! Whatever it accepts outside the JSON parts is therefore read exactly as a writer would have
//! meant it.
//!
//! # Version 1 (still read)
//!
//! The body is the engine's state as JSON, events included.

mod checksum;
mod cursor;
mod events;
mod parallel;
mod segments;

use super::{Engine, EngineState, Options, RestoreError};
use crate::journal_error::JournalError;
use checksum::checksum;

/// The snapshot format this build writes. It also reads every earlier version, and refuses
/// later ones with [`JournalError::UnsupportedVersion`].
pub const SNAPSHOT_VERSION: u32 = 3;

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
        self.snapshot_with(&Options::default())
    }

    /// [`snapshot`](Self::snapshot), sharing the work between the calling thread and up to
    /// [`Options::threads`]` - 1` scoped threads, all joined before it returns. The bytes are
    /// the same for any number of threads. The host chooses the number (for example from
    /// [`std::thread::available_parallelism`]): the engine never asks the machine. A snapshot
    /// of fewer than 8 Ki events, or 0 or 1 threads, starts no thread, and a thread that
    /// cannot be started leaves its work to the calling thread.
    pub fn snapshot_with(&self, options: &Options<'_>) -> Vec<u8> {
        let threads = options.threads.max(1);
        let chats: Vec<&crate::model::Chat> = self.chats().iter().collect();
        let users = self.agents().len() + self.customer_count();
        // The JSON is written on the calling thread while other threads encode the events: it
        // does not depend on them, and is a good part of the work.
        let (json, section) = segments::write(&chats, threads, || {
            // About 1 KiB per chat and user: no regrowing.
            let mut json = Vec::with_capacity(4096 + (chats.len() + users) * 1024);
            serde_json::to_writer(&mut json, &self.state(&chats)).map(|()| json)
        });
        // Writing plain data into a Vec cannot fail: every map key is a string. Should it ever,
        // the snapshot gets an empty body, which restores as corrupt rather than as a wrong
        // engine.
        let (json, section) = match (json, section) {
            (Ok(json), Ok(section)) => (json, section),
            _ => (Vec::new(), Vec::new()),
        };
        let json_len = (json.len() as u64).to_le_bytes();
        let mut pieces: Vec<&[u8]> = Vec::with_capacity(section.len() + 2);
        if !json.is_empty() {
            pieces.push(&json_len);
            pieces.push(&json);
            pieces.extend(section.iter().map(Vec::as_slice));
        }
        let len: usize = pieces.iter().map(|p| p.len()).sum();
        // Zeroed memory comes fresh from the system, untouched: the threads that copy the
        // pieces in are the first to touch each page, and so share the cost of faulting them
        // in, as well as summing each chunk while it is still in cache.
        let mut out = vec![0u8; HEADER_LEN + len];
        let sum = assemble(&mut out[HEADER_LEN..], &pieces, threads);
        // The oldest version that holds this engine: without archived threads, version 2.
        let archived = chats
            .iter()
            .any(|c| c.threads.iter().any(|t| t.archived.is_some()));
        let version = if archived { SNAPSHOT_VERSION } else { 2 };
        let header = format!("CHATIO-SNAPSHOT {version:08} {len:020} {sum:016x}\n");
        out[..HEADER_LEN].copy_from_slice(header.as_bytes());
        out
    }

    /// An engine from a snapshot made by [`snapshot`](Self::snapshot) of this or an earlier
    /// version, resolving its router with the built-in ones. A snapshot of a later version, a
    /// damaged one, or one whose contents do not hang together is refused with a
    /// [`JournalError`]; nothing panics.
    pub fn restore(snapshot: &[u8]) -> Result<Engine, JournalError> {
        Self::restore_with(snapshot, &Options::default())
    }

    /// [`restore`](Self::restore), resolving the router's name with [`Options::routers`] and
    /// sharing the work between threads as [`snapshot_with`](Self::snapshot_with) does. The
    /// result, and the error for a refused snapshot, are the same for any number of threads.
    pub fn restore_with(snapshot: &[u8], options: &Options<'_>) -> Result<Engine, JournalError> {
        let threads = options.threads.max(1);
        let (version, body, expected) = read_header(snapshot)?;
        let mismatch = || corrupt("checksum mismatch".into());
        let state = match version {
            1 if checksum(body) != expected => return Err(mismatch()),
            1 => json_state(body)?,
            _ => {
                // The body is summed on another thread while this one parses the JSON, and
                // compared at the end. Damage the decoder trips over first is still reported
                // as a checksum mismatch, as it would be had the checksum come first.
                let (state, sum) = read_body(body, threads);
                let state = state.and_then(|state| match version {
                    2 if state.has_archived_threads() => {
                        Err(corrupt("an archived thread in a version 2 snapshot".into()))
                    }
                    _ => Ok(state),
                });
                match state {
                    Ok(state) if sum == expected => state,
                    Ok(_) => return Err(mismatch()),
                    Err(_) if sum != expected => return Err(mismatch()),
                    Err(e) => return Err(e),
                }
            }
        };
        Engine::from_state(state, options.routers).map_err(|e| match e {
            RestoreError::UnknownRouter(name) => JournalError::UnknownRouter(name),
            RestoreError::Inconsistent(reason) => corrupt(reason),
        })
    }
}

/// The state in a version 2 body, not yet checked for consistency, and the body's checksum
/// (whether or not the state could be read).
fn read_body(body: &[u8], threads: usize) -> (Result<EngineState, JournalError>, u64) {
    let Some((len, rest)) = body.split_first_chunk::<JSON_LEN_LEN>() else {
        return (
            Err(corrupt("body too short for its JSON length".into())),
            body_sum(body, threads),
        );
    };
    let len = u64::from_le_bytes(*len);
    let Some((json, section)) = usize::try_from(len)
        .ok()
        .and_then(|len| rest.split_at_checked(len))
    else {
        return (
            Err(corrupt(format!(
                "JSON length {len} is past the end of the body"
            ))),
            body_sum(body, threads),
        );
    };
    // The checksum needs no part of the state: it is taken on a second thread while the calling
    // thread parses the JSON, which the events must wait for. (It takes less time than the
    // JSON, so one thread is enough, and no more are started than there are cores.)
    let (state, sum) = if threads > 1 && checksum::chunk_count(body.len()) > 1 {
        let (state, mut sums) =
            parallel::run(|| json_state(json), vec![|| checksum::chunked(body)]);
        (state, sums.pop().unwrap_or_else(|| body_sum(body, threads)))
    } else {
        (json_state(json), body_sum(body, threads))
    };
    let mut state = match state {
        Ok(state) => state,
        Err(e) => return (Err(e), sum),
    };
    let read = segments::read(section, state.chats_mut(), threads);
    (read.map(|()| state).map_err(corrupt), sum)
}

/// The chunks of `body`, shared out in contiguous runs between `threads` threads
/// (a body of one chunk stays on the calling thread), each run as its first chunk's index and
/// its bytes.
fn runs<B: ChunkRun>(body: B, threads: usize) -> Vec<(usize, B)> {
    let chunks = checksum::chunk_count(body.length());
    let groups = threads.clamp(1, chunks.max(1));
    let mut runs = Vec::with_capacity(groups);
    let mut rest = body;
    for g in 0..groups {
        let (from, to) = (g * chunks / groups, (g + 1) * chunks / groups);
        let (run, tail) = rest.cut((to - from) * checksum::CHUNK);
        runs.push((from, run));
        rest = tail;
    }
    runs
}

/// A body, borrowed or to be filled, that [`runs`] can cut up.
trait ChunkRun: Sized {
    fn length(&self) -> usize;
    /// The first `n` bytes (or all, if fewer) and the rest.
    fn cut(self, n: usize) -> (Self, Self);
}

impl ChunkRun for &[u8] {
    fn length(&self) -> usize {
        self.len()
    }
    fn cut(self, n: usize) -> (Self, Self) {
        self.split_at(n.min(self.len()))
    }
}

impl ChunkRun for &mut [u8] {
    fn length(&self) -> usize {
        self.len()
    }
    fn cut(self, n: usize) -> (Self, Self) {
        let n = n.min(self.len());
        self.split_at_mut(n)
    }
}

/// Version 2's checksum of `body`, its chunks summed on up to `threads` threads.
fn body_sum(body: &[u8], threads: usize) -> u64 {
    let mut jobs = runs(body, threads)
        .into_iter()
        .map(|(_, run)| move || checksum::chunk_sums(run, 0..checksum::chunk_count(run.len())));
    let sums = match jobs.next() {
        Some(first) => {
            let (mine, theirs) = parallel::run(first, jobs.collect());
            std::iter::once(mine).chain(theirs).flatten().collect()
        }
        None => Vec::new(),
    };
    checksum::combine(body.len(), &sums)
}

/// Fills `body` with `pieces` laid end to end (their lengths add up to its length) and returns
/// its checksum. Each thread copies in a run of chunks and sums each chunk as soon as it is
/// filled.
fn assemble(body: &mut [u8], pieces: &[&[u8]], threads: usize) -> u64 {
    let len = body.len();
    let mut jobs = runs(body, threads).into_iter().map(|(first, run)| {
        move || {
            run.chunks_mut(checksum::CHUNK)
                .enumerate()
                .map(|(i, chunk)| {
                    copy_from(chunk, (first + i) * checksum::CHUNK, pieces);
                    checksum::checksum(chunk)
                })
                .collect::<Vec<u64>>()
        }
    });
    let sums = match jobs.next() {
        Some(first) => {
            let (mine, theirs) = parallel::run(first, jobs.collect());
            std::iter::once(mine).chain(theirs).flatten().collect()
        }
        None => Vec::new(),
    };
    checksum::combine(len, &sums)
}

/// Fills `dst` with the bytes at `at` and on of `pieces` laid end to end.
fn copy_from(dst: &mut [u8], mut at: usize, pieces: &[&[u8]]) {
    let (mut filled, mut start) = (0, 0);
    for piece in pieces {
        let end = start + piece.len();
        if end > at && filled < dst.len() {
            let from = &piece[at - start..];
            let n = from.len().min(dst.len() - filled);
            dst[filled..filled + n].copy_from_slice(&from[..n]);
            filled += n;
            at += n;
        }
        start = end;
    }
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
    if version == 0 {
        // No writer ever used it: damage, not a future format.
        return Err(corrupt(
            "version 0 does not exist (versions start at 1)".into(),
        ));
    }
    if version > SNAPSHOT_VERSION {
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
