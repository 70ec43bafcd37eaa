//! `--archive-after AGE`: closed threads older than `AGE` leave the engine's memory for the
//! store (issue 24, bounded memory).
//!
//! Every [`ARCHIVE_PERIOD`] (or sooner for a short age) a task runs the journaled host command
//! `ArchiveThreads { closed_before: now - AGE }` ([`chatio::Engine::archive_threads`]) in
//! batches of [`BATCH`] threads. The engine hands the threads it archived to the server, which
//! writes them (`archived_threads` in SQLite, `chatio_archived_threads` in Postgres, keyed by
//! license, chat and thread) in the same transaction as the journal record that archived them:
//! after a crash either both are there or neither, and replaying the record archives the same
//! threads again.
//!
//! Between the engine call and that commit, the threads wait in [`Archive`]'s pending map, so
//! a query made meanwhile finds them there; the writer removes them once they are durable.
//! Queries that show archived threads (`get_chat_threads`, `get_archives`) load them through
//! [`chatio::wire::handle_with`]: from the pending map, else from the store, with a read-only
//! connection of their own (SQLite) or the license's database client (Postgres).
//!
//! Without `--data` or `--postgres` nothing would keep the threads, so archiving is off (the
//! start report says so).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chatio::wire::ArchiveStore;
use chatio::{ArchivedThread, ChatId, Command, HostCommand, Response, ThreadId, Timestamp};

use crate::commit::Release;

/// How often the archiving task looks for threads to archive, at most.
pub const ARCHIVE_PERIOD: Duration = Duration::from_secs(60);

/// Threads per engine call (and per commit).
pub const BATCH: usize = 1_000;

/// Reads archived threads from the store, for queries.
pub(crate) trait ArchiveRead: Send {
    /// The threads named, in any order; a key not in the store is an error.
    fn read(&mut self, keys: &[(ChatId, ThreadId)]) -> Result<Vec<ArchivedThread>, String>;
}

/// A license's archived threads as the server reaches them.
pub(crate) struct Archive {
    /// Archived by the engine, not yet committed.
    pending: Mutex<HashMap<(ChatId, ThreadId), ArchivedThread>>,
    /// The store's reader; `None` without a store.
    reader: Mutex<Option<Box<dyn ArchiveRead>>>,
}

impl Archive {
    pub(crate) fn new(reader: Option<Box<dyn ArchiveRead>>) -> Archive {
        Archive {
            pending: Mutex::new(HashMap::new()),
            reader: Mutex::new(reader),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<(ChatId, ThreadId), ArchivedThread>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Threads the writer has made durable: they are read from the store from now on.
    pub(crate) fn committed(&self, threads: &[ArchivedThread]) {
        let mut pending = self.pending();
        for t in threads {
            pending.remove(&(t.chat_id, t.thread.id));
        }
    }

    /// How many archived threads wait for their commit.
    #[cfg(test)]
    pub(crate) fn pending_count(&self) -> usize {
        self.pending().len()
    }

    /// What [`chatio::wire::handle_with`] loads from.
    pub(crate) fn store(&self) -> Lookup<'_> {
        Lookup(self)
    }
}

/// [`Archive`] as the codec's [`ArchiveStore`].
pub(crate) struct Lookup<'a>(&'a Archive);

impl ArchiveStore for Lookup<'_> {
    fn load(&mut self, keys: &[(ChatId, ThreadId)]) -> Result<Vec<ArchivedThread>, String> {
        let mut found = Vec::with_capacity(keys.len());
        let mut missing = Vec::new();
        {
            let pending = self.0.pending();
            for key in keys {
                match pending.get(key) {
                    Some(t) => found.push(t.clone()),
                    None => missing.push(*key),
                }
            }
        }
        if !missing.is_empty() {
            let mut reader = self.0.reader.lock().unwrap_or_else(PoisonError::into_inner);
            let reader = reader.as_mut().ok_or("no store keeps archived threads")?;
            let read = reader.read(&missing).inspect_err(|e| {
                tracing::error!(error = %e, "cannot read archived threads");
            })?;
            found.extend(read);
        }
        Ok(found)
    }
}

/// Parses `--archive-after`: a number with a unit, `s`, `m`, `h` or `d` (`7d`, `12h`), or
/// seconds alone. At least one second.
pub fn parse_age(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not an age such as 7d, 12h, 30m or 90s"))?;
    let unit = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        other => return Err(format!("unknown unit {other:?} in {text:?} (s, m, h or d)")),
    };
    match n.checked_mul(unit) {
        Some(0) => Err("the age must be at least one second".into()),
        Some(secs) => Ok(Duration::from_secs(secs)),
        None => Err(format!("{text:?} is too long")),
    }
}

/// How long the archiving task sleeps between passes: [`ARCHIVE_PERIOD`], or a tenth of a
/// short age (at least a second), so that a thread leaves memory soon after it is due.
pub(crate) fn period(age: Duration) -> Duration {
    (age / 10).clamp(Duration::from_secs(1), ARCHIVE_PERIOD)
}

/// One pass: archives every thread due at `now`, a batch per engine call, each batch's threads
/// riding with its journal record to the writer. Returns how many threads were archived.
pub(crate) fn archive_due(shared: &crate::Shared, age: Duration, now: Timestamp) -> usize {
    let secs = i64::try_from(age.as_secs()).unwrap_or(i64::MAX);
    let closed_before = Timestamp::from_unix_seconds(now.unix_seconds().saturating_sub(secs));
    let mut total = 0;
    loop {
        let command = Command::Host(HostCommand::ArchiveThreads {
            closed_before,
            limit: BATCH,
        });
        let archived = shared.call_heavy(|core, items| {
            let threads = match core.engine.execute(now, command) {
                Ok(out) => match out.response {
                    Response::ArchivedThreads(threads) => threads,
                    _ => Vec::new(),
                },
                Err(e) => {
                    tracing::error!(error = %e, "cannot archive threads");
                    Vec::new()
                }
            };
            if !threads.is_empty() {
                let mut pending = shared.archive.pending();
                for t in &threads {
                    pending.insert((t.chat_id, t.thread.id), t.clone());
                }
                items.push(Release::Archived(threads.clone()));
            }
            threads.len()
        });
        total += archived;
        if archived < BATCH {
            return total;
        }
    }
}

/// The archiving task of a license with `--archive-after AGE`.
pub(crate) async fn run(shared: Arc<crate::Shared>, age: Duration) {
    let nap = period(age);
    loop {
        tokio::select! {
            () = tokio::time::sleep(nap) => {}
            () = shared.stopping() => return,
        }
        let archived = archive_due(&shared, age, crate::now());
        if archived > 0 {
            tracing::info!(license = %shared.license, archived, "threads archived");
            shared.metrics.archived_threads.inc_by(archived as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_with_their_units() {
        assert_eq!(parse_age("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_age("12h"), Ok(Duration::from_secs(12 * 3_600)));
        assert_eq!(parse_age("30m"), Ok(Duration::from_secs(1_800)));
        assert_eq!(parse_age("90"), Ok(Duration::from_secs(90)));
        assert!(parse_age("0d").is_err());
        assert!(parse_age("7w").is_err());
        assert!(parse_age("d").is_err());
        assert!(parse_age("99999999999999999999d").is_err());
    }

    #[test]
    fn short_ages_are_looked_at_sooner() {
        assert_eq!(period(Duration::from_secs(7 * 86_400)), ARCHIVE_PERIOD);
        assert_eq!(period(Duration::from_secs(30)), Duration::from_secs(3));
        assert_eq!(period(Duration::from_secs(2)), Duration::from_secs(1));
        assert_eq!(Archive::new(None).pending_count(), 0);
    }
}
