//! The events section of a version 2 snapshot as independent segments, written and read on
//! several threads at once. The layout is described in the parent module's docs.
//!
//! One thread encodes or decodes events at a few hundred megabytes a second, bound by memory
//! and the allocator rather than by any one part of the work; the only lever left is a second
//! core. So the section is cut into segments that share nothing (each numbers its own
//! authors) and a table of their sizes comes first, so that a reader knows where every segment
//! starts before it reads any of them.

use std::borrow::Borrow;
use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::cursor::Cursor;
use super::events;
use super::parallel;
use crate::model::Chat;

/// Events per segment, roughly: enough that a segment's work dwarfs starting a thread for it,
/// few enough that a snapshot of a busy license has more segments than there are cores.
pub(crate) const SEGMENT_EVENTS: u64 = 8 * 1024;
/// At most this many segments, however many events: the table stays small, and there are
/// still enough segments to share out between 2, 4, 8 or 16 threads.
pub(crate) const MAX_SEGMENTS: usize = 16;
/// A table entry: the segment's chat count and byte length, u64 LE each.
const ENTRY_LEN: usize = 16;
/// The segment count before the table: u32 LE.
const COUNT_LEN: usize = 4;

/// The section for `chats` in pieces, to be laid end to end: the segment count and table, then
/// each segment. Encodes the segments on up to `threads` threads (1: the calling thread only), and runs
/// `first` on the calling thread meanwhile, before it joins in (the rest of the body need not
/// wait for the section, nor the section for it). Fails only as [`events::write`] does; the
/// first failing segment's error is the one returned.
pub(super) fn write<C: Borrow<Chat> + Sync, J>(
    chats: &[C],
    threads: usize,
    first: impl FnOnce() -> J,
) -> (J, Result<Vec<Vec<u8>>, serde_json::Error>) {
    write_with(chats, SEGMENT_EVENTS, threads, first)
}

/// [`write`] with a given segment size, on at most `threads` threads.
fn write_with<C: Borrow<Chat> + Sync, J>(
    chats: &[C],
    per_segment: u64,
    threads: usize,
    first: impl FnOnce() -> J,
) -> (J, Result<Vec<Vec<u8>>, serde_json::Error>) {
    let ranges = chat_ranges(&plan(chats, per_segment));
    let n = ranges.len();
    // Segments are handed out one at a time to whichever thread is free: the calling thread
    // starts on them only after `first`, and segments differ in cost. Which thread encodes a
    // segment changes nothing in its bytes.
    let next = AtomicUsize::new(0);
    let slots: Vec<Slot<Result<Vec<u8>, serde_json::Error>>> =
        ranges.iter().map(|_| Mutex::new(None)).collect();
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(range) = ranges.get(i) else { break };
            let chats = &chats[range.clone()];
            // About 100 bytes an event, as for the whole snapshot: no regrowing.
            let events: usize = chats
                .iter()
                .flat_map(|c| &c.borrow().threads)
                .map(|t| t.events.len())
                .sum();
            let mut out = Vec::with_capacity(events.saturating_mul(100));
            let result = events::write(&mut out, chats).map(|()| out);
            *lock(&slots[i]) = Some(result);
        }
    };
    let work = &work;
    let others: Vec<_> = (1..threads.clamp(1, n)).map(|_| work).collect();
    let (j, _) = parallel::run(
        || {
            let j = first();
            work();
            j
        },
        others,
    );
    let mut pieces = Vec::with_capacity(n + 1);
    let mut table = Vec::with_capacity(COUNT_LEN + n * ENTRY_LEN);
    table.extend_from_slice(&(n as u32).to_le_bytes());
    pieces.push(Vec::new());
    for (range, slot) in ranges.iter().zip(slots) {
        let segment = match slot.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(result) => result,
            // Every segment is taken by some job before the jobs end; were one not, it is
            // written here rather than left out.
            None => {
                let mut out = Vec::new();
                events::write(&mut out, &chats[range.clone()]).map(|()| out)
            }
        };
        let segment = match segment {
            Ok(segment) => segment,
            Err(e) => return (j, Err(e)),
        };
        table.extend_from_slice(&(range.len() as u64).to_le_bytes());
        table.extend_from_slice(&(segment.len() as u64).to_le_bytes());
        pieces.push(segment);
    }
    pieces[0] = table;
    (j, Ok(pieces))
}

/// Where a thread leaves a segment's result, or finds a segment to read.
type Slot<T> = Mutex<Option<T>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Reads a section written by [`write`] (its pieces end to end) into `chats`, which hold no
/// events yet, on up to `threads` threads (1: the calling thread only).
///
/// The table is checked against the chats and the bytes before any segment is read. Errors
/// are deterministic: whichever threads ran, the first failing segment's error is reported.
pub(super) fn read(section: &[u8], chats: &mut [Chat], threads: usize) -> Result<(), String> {
    read_with(section, chats, SEGMENT_EVENTS, threads)
}

fn read_with(
    section: &[u8],
    chats: &mut [Chat],
    per_segment: u64,
    threads: usize,
) -> Result<(), String> {
    let segments = table(section, chats.len())?;
    let count = threads.clamp(1, segments.len());
    // Every segment gets its own chats, cut from the front of the rest: the table's counts add
    // up to the number of chats, so every cut is in bounds (and checked all the same).
    let mut rest = &mut *chats;
    let mut tasks = Vec::with_capacity(segments.len());
    for &(n, bytes) in &segments {
        let Some((these, tail)) = std::mem::take(&mut rest).split_at_mut_checked(n) else {
            return Err("segment table overruns the chats".into());
        };
        rest = tail;
        tasks.push(Mutex::new(Some((these, bytes))));
    }
    let results: Vec<Slot<Result<(), String>>> =
        segments.iter().map(|_| Mutex::new(None)).collect();
    // Segments go to whichever thread is free, as for writing: the calling thread is often
    // slower (its allocator arena is the busiest).
    let next = AtomicUsize::new(0);
    let (tasks, results) = (&tasks, &results);
    let job = |_| {
        let next = &next;
        move || {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(task) = tasks.get(i) else { break };
                if let Some((these, bytes)) = lock(task).take() {
                    let read = events::read(bytes, these).map_err(|e| format!("segment {i}: {e}"));
                    *lock(&results[i]) = Some(read);
                }
            }
        }
    };
    let _ = parallel::run(job(0), (1..count).map(job).collect());
    // Whichever thread read which segment, the first segment's error is the one reported.
    let mut result = Ok(());
    for (i, slot) in results.iter().enumerate() {
        match lock(slot).take() {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                result = Err(e);
                break;
            }
            None => {
                result = Err(format!("segment {i} was never read"));
                break;
            }
        }
    }
    if result.is_ok() {
        // One encoding per engine: the cut must be the one a writer makes of these events.
        let expected = plan(chats, per_segment);
        if segments
            .iter()
            .map(|(n, _)| *n)
            .ne(expected.iter().copied())
        {
            result = Err(format!(
                "segment table cuts the chats into {} segments other than a writer would \
                 ({} segments)",
                segments.len(),
                expected.len()
            ));
        }
    }
    result
}

/// The segments a section holds: each one's chat count and bytes. Refused unless there is at
/// least one and at most [`MAX_SEGMENTS`], the counts add up to `chats` and the lengths to the
/// bytes after the table exactly.
fn table(section: &[u8], chats: usize) -> Result<Vec<(usize, &[u8])>, String> {
    let mut c = Cursor::new(section);
    let count = c
        .array::<COUNT_LEN>("segment count")
        .map_err(|e| e.0.into_owned())?;
    let n = u32::from_le_bytes(*count);
    if n == 0 || n as usize > MAX_SEGMENTS {
        return Err(format!(
            "segment count {n}, not between 1 and {MAX_SEGMENTS}"
        ));
    }
    let n = n as usize;
    let entries = c
        .take(n * ENTRY_LEN, "segment table")
        .map_err(|e| e.0.into_owned())?;
    let mut body = c.take(c.remaining(), "segments").unwrap_or_default();
    let mut segments = Vec::with_capacity(n);
    let mut total_chats = 0u64;
    for (i, entry) in entries.chunks_exact(ENTRY_LEN).enumerate() {
        let number = |at: usize| {
            let mut word = [0; 8];
            word.copy_from_slice(&entry[at..at + 8]);
            u64::from_le_bytes(word)
        };
        let (n_chats, len) = (number(0), number(8));
        total_chats = total_chats.saturating_add(n_chats);
        if total_chats > chats as u64 {
            return Err(format!(
                "segment table: segment {i} takes the chat count past the {chats} chats"
            ));
        }
        let Some((bytes, rest)) = usize::try_from(len)
            .ok()
            .and_then(|len| body.split_at_checked(len))
        else {
            return Err(format!(
                "segment table: segment {i}'s {len} bytes run past the end of the section"
            ));
        };
        body = rest;
        segments.push((n_chats as usize, bytes));
    }
    if total_chats != chats as u64 {
        return Err(format!(
            "segment table counts {total_chats} chats, the JSON has {chats}"
        ));
    }
    if !body.is_empty() {
        return Err(format!(
            "segment table: {} bytes follow the last segment",
            body.len()
        ));
    }
    Ok(segments)
}

/// How many chats each segment takes: as many segments as `per_segment` events fill (at least
/// one, at most [`MAX_SEGMENTS`]), each ending at the first chat boundary where the events so
/// far reach its share of the total. A function of the chats alone, never of the machine, so
/// the same engine always gives the same bytes. A chat is never split, so a segment may be
/// empty when one chat holds more than a share.
pub(crate) fn plan<C: Borrow<Chat>>(chats: &[C], per_segment: u64) -> Vec<usize> {
    let events = |chat: &Chat| {
        chat.threads
            .iter()
            .map(|t| t.events.len() as u64)
            .sum::<u64>()
    };
    let total: u64 = chats.iter().map(|c| events(c.borrow())).sum();
    let n = total
        .div_ceil(per_segment.max(1))
        .clamp(1, MAX_SEGMENTS as u64);
    // The events before the end of segment k (1-based), rounded up.
    let share = |k: u64| (u128::from(total) * u128::from(k)).div_ceil(u128::from(n));
    let mut counts = Vec::with_capacity(n as usize);
    let (mut start, mut before, mut k) = (0, 0u64, 1);
    for (i, chat) in chats.iter().enumerate() {
        while k < n && u128::from(before) >= share(k) {
            counts.push(i - start);
            start = i;
            k += 1;
        }
        before += events(chat.borrow());
    }
    while counts.len() < n as usize {
        counts.push(chats.len() - start);
        start = chats.len();
    }
    counts
}

/// The chats of each segment, as ranges, from their counts.
fn chat_ranges(counts: &[usize]) -> Vec<Range<usize>> {
    let mut start = 0;
    counts
        .iter()
        .map(|&n| {
            start += n;
            start - n..start
        })
        .collect()
}

#[cfg(test)]
mod tests {

    use uuid::Uuid;

    use super::*;
    use crate::model::{
        ChatId, Event, EventId, EventKind, Properties, Recipients, Thread, ThreadId, Timestamp,
        UserId,
    };

    /// Chat `c` has one thread of `sizes[c]` messages, the customer and an agent taking turns.
    fn chats(sizes: &[usize]) -> Vec<Chat> {
        let agent = UserId::new("agent@example.com").unwrap();
        sizes
            .iter()
            .enumerate()
            .map(|(c, &size)| {
                let customer = UserId::new(&format!("customer-{c}")).unwrap();
                let mut chat = Chat::new(
                    ChatId::from_uuid(Uuid::from_u128(c as u128)),
                    None,
                    Timestamp::EPOCH,
                );
                let events = (0..size)
                    .map(|e| Event {
                        id: EventId::from_uuid(Uuid::from_u128((c * 1000 + e) as u128)),
                        custom_id: None,
                        order: e as u64,
                        author_id: Some(if e % 2 == 0 { &customer } else { &agent }.clone()),
                        timestamp: Timestamp::from_unix_seconds(e as i64),
                        recipients: Recipients::All,
                        properties: Properties::new(),
                        kind: EventKind::Message {
                            text: format!("message {e} of chat {c}"),
                        },
                    })
                    .collect();
                chat.threads.push(Thread {
                    id: ThreadId::from_uuid(Uuid::from_u128(c as u128)),
                    order: 0,
                    active: true,
                    events,
                    timestamp: Timestamp::EPOCH,
                    closed_at: None,
                    last_activity: Timestamp::EPOCH,
                    properties: Default::default(),
                    archived: None,
                });
                chat
            })
            .collect()
    }

    /// The section [`write_with`] makes, in one piece.
    fn written(chats: &[Chat], per_segment: u64, threads: usize) -> Vec<u8> {
        let (first, pieces) = write_with(chats, per_segment, threads, || 7);
        assert_eq!(first, 7);
        pieces.unwrap().concat()
    }

    fn hollow(chats: &[Chat]) -> Vec<Chat> {
        let mut hollow = chats.to_vec();
        for thread in hollow.iter_mut().flat_map(|c| c.threads.iter_mut()) {
            thread.events = crate::model::Events::new();
        }
        hollow
    }

    #[test]
    fn plans_share_the_events_out_by_chat() {
        let plan_of = |sizes: &[usize], per| plan(&chats(sizes), per);
        assert_eq!(plan_of(&[], 4), [0]);
        assert_eq!(plan_of(&[3, 0, 2], 8), [3]);
        // 12 events, 4 a segment: 3 segments, ending where 4 and 8 events are reached.
        assert_eq!(plan_of(&[2, 2, 2, 2, 2, 2], 4), [2, 2, 2]);
        assert_eq!(plan_of(&[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], 4), [4, 4, 4]);
        // One chat larger than a share leaves a segment empty rather than split it.
        assert_eq!(plan_of(&[1, 10, 1], 4), [2, 0, 1]);
        // Never more than MAX_SEGMENTS, however small a segment.
        let many = plan_of(&[1; 100], 1);
        assert_eq!(many.len(), MAX_SEGMENTS);
        assert_eq!(many.iter().sum::<usize>(), 100);
        assert!(many.iter().all(|&n| n == 6 || n == 7), "{many:?}");
    }

    #[test]
    fn several_segments_round_trip_on_any_number_of_threads() {
        // 36 events in chats of 2, and 35 in chats of every size (some segments left empty).
        let cases: [(&[usize], &[usize]); 2] = [
            (&[2; 18], &[3; 6]),
            (&[5, 0, 7, 3, 9, 1, 4, 6], &[3, 0, 2, 0, 3, 0]),
        ];
        for (sizes, cut) in cases {
            let original = chats(sizes);
            let reference = written(&original, 6, 1);
            assert_eq!(reference[..4], 6u32.to_le_bytes(), "6 events a segment");
            let counts: Vec<usize> = (0..6)
                .map(|i| reference[4 + i * ENTRY_LEN] as usize)
                .collect();
            assert_eq!(counts, cut);
            for threads in [1, 2, 3, 16] {
                let again = written(&original, 6, threads);
                assert_eq!(again, reference, "{threads} threads, same bytes");
                let mut read_back = hollow(&original);
                let result = read_with(&reference, &mut read_back, 6, threads);
                assert_eq!(result, Ok(()));
                assert_eq!(read_back, original);
            }
            if sizes.len() == 18 {
                // Each segment numbers its own authors: every segment defines the agent afresh.
                let agent = b"agent@example.com";
                let defined = reference
                    .windows(agent.len())
                    .filter(|w| w == agent)
                    .count();
                assert_eq!(defined, 6);
            }
        }
    }

    #[test]
    fn the_first_failing_segment_is_reported_whatever_the_threads() {
        let original = chats(&[4, 4, 4, 4]);
        let written = written(&original, 4, 1);
        let body = COUNT_LEN + 4 * ENTRY_LEN;
        // Damage the shape byte of the first event of segments 1 and 3.
        let mut damaged = written.clone();
        let len = |i: usize| {
            let at = COUNT_LEN + i * ENTRY_LEN + 8;
            u64::from_le_bytes(written[at..at + 8].try_into().unwrap()) as usize
        };
        let start1 = body + len(0);
        let start3 = start1 + len(1) + len(2);
        damaged[start1 + 1 + 32] |= 0x80;
        damaged[start3 + 1 + 32] |= 0x80;
        for threads in [1, 2, 4] {
            let mut read_back = hollow(&original);
            let result = read_with(&damaged, &mut read_back, 4, threads);
            let err = result.unwrap_err();
            assert!(err.starts_with("segment 1: "), "{threads} threads: {err}");
            assert!(err.contains("unknown shape bits"), "{err}");
        }
    }

    #[test]
    fn a_table_unlike_the_writers_is_refused() {
        let original = chats(&[4, 4, 4, 4]);
        let written = written(&original, 8, 1);
        // Read as if segments held 4 events: the bytes decode, but a writer cuts differently.
        let mut read_back = hollow(&original);
        let result = read_with(&written, &mut read_back, 4, 2);
        assert!(result.unwrap_err().contains("other than a writer would"));

        let mut read_back = hollow(&original);
        let mut zero = written.clone();
        zero[..4].copy_from_slice(&0u32.to_le_bytes());
        let result = read_with(&zero, &mut read_back, 8, 2);
        assert!(result.unwrap_err().contains("segment count 0"));
    }
}
