//! What an engine call releases, and group commit for `--data`.
//!
//! Every engine call turns into [`Release`] items: its response for the connection that asked,
//! its pushes, a connection joining or leaving a user's set. They are performed in engine order.
//!
//! * In memory they are performed at once, under the engine's lock, which is what orders them.
//! * With `--data` they are appended, still under the engine's lock, to one [`CommitQueue`]
//!   together with the journal records the call made, and the lock is let go. A dedicated
//!   writer thread takes everything waiting, commits all of its records in one SQLite
//!   transaction (one fsync), and only then hands the items to one task on the runtime, which
//!   performs them in the order they were queued. Requests arriving meanwhile are applied to the engine and wait for the next
//!   batch. If a commit fails the process stops before performing anything of that batch: the
//!   engine is ahead of the disk, and an answer would promise what a restart forgets.
//!
//! Items without records (queries, refused requests) also wait their turn: what they show may
//! depend on records still in flight.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Instant;

use axum::extract::ws::{Utf8Bytes, close_code};
use chatio::journal::{JournalRecord, Options};
use chatio::wire::configuration::WireWebhook;
use chatio::{ArchivedThread, UserId};
use tokio::sync::oneshot;

use crate::archive::ArchiveRead;
use crate::conn::{Out, Outbox};
use crate::metrics::Metrics;
use crate::store::Store;

/// Where a license's journal records and snapshots go: SQLite ([`Store`], `--data`) or
/// Postgres (`crate::pg::PgJournal`, `--postgres`).
pub(crate) trait Journal: Send {
    /// Writes `records` (the next ones, in order) and the threads their `ArchiveThreads`
    /// records archived, in one transaction; when this returns `Ok` they are durable.
    fn append(
        &mut self,
        records: &[JournalRecord],
        archived: &[ArchivedThread],
    ) -> Result<(), String>;
    /// Writes `records` and `archived` as [`append`](Self::append) does, queues `webhooks` and
    /// forgets the webhooks `delivered` (rows it gave before), all in one transaction; returns
    /// each webhook's row, in order. A journal that keeps no webhooks (Postgres: they are
    /// delivered from this node's memory) answers `None` for each.
    fn commit(
        &mut self,
        records: &[JournalRecord],
        archived: &[ArchivedThread],
        webhooks: &[&WireWebhook],
        delivered: &[i64],
    ) -> Result<Vec<Option<i64>>, String> {
        let _ = delivered;
        self.append(records, archived)?;
        Ok(vec![None; webhooks.len()])
    }
    /// A reader of the archived threads this journal keeps, for queries (`--archive-after`).
    fn archive_reader(&self) -> Result<Box<dyn ArchiveRead>, String>;
    /// Whether a periodic snapshot is due.
    fn wants_snapshot(&self) -> bool;
    /// A periodic snapshot at record `seq` is being taken.
    fn snapshot_started(&mut self, seq: u64);
    /// Stores a snapshot at record `seq`, every record up to it written already.
    fn write_snapshot(&mut self, seq: u64, taken_at: i64, data: Vec<u8>) -> Result<(), String>;
    /// Whether a snapshot at record `seq` would cover records no kept snapshot covers.
    fn has_unsnapshotted_before(&self, seq: u64) -> bool;
    /// Where it writes, for log lines.
    fn describe(&self) -> String;
    /// Whether a failed append must end the process. SQLite: yes, the engine is ahead of the
    /// only copy of the data and a restart is what recovers. Postgres: no, only this license
    /// stops being served here (its lease was lost, or the database cannot say whether the
    /// write happened); the node or another one restores it from the database.
    fn failure_is_fatal(&self) -> bool;
}

impl Journal for Store {
    fn append(
        &mut self,
        records: &[JournalRecord],
        archived: &[ArchivedThread],
    ) -> Result<(), String> {
        Store::commit(self, records, archived, &[], &[]).map(drop)
    }
    fn archive_reader(&self) -> Result<Box<dyn ArchiveRead>, String> {
        Store::archive_reader(self).map(|r| Box::new(r) as Box<dyn ArchiveRead>)
    }
    fn commit(
        &mut self,
        records: &[JournalRecord],
        archived: &[ArchivedThread],
        webhooks: &[&WireWebhook],
        delivered: &[i64],
    ) -> Result<Vec<Option<i64>>, String> {
        Store::commit(self, records, archived, webhooks, delivered)
            .map(|rows| rows.into_iter().map(Some).collect())
    }
    fn wants_snapshot(&self) -> bool {
        Store::wants_snapshot(self)
    }
    fn snapshot_started(&mut self, seq: u64) {
        Store::snapshot_started(self, seq);
    }
    fn write_snapshot(&mut self, seq: u64, taken_at: i64, data: Vec<u8>) -> Result<(), String> {
        Store::write_snapshot(self, seq, taken_at, data)
    }
    fn has_unsnapshotted_before(&self, seq: u64) -> bool {
        Store::has_unsnapshotted_before(self, seq)
    }
    fn describe(&self) -> String {
        self.path().display().to_string()
    }
    fn failure_is_fatal(&self) -> bool {
        true
    }
}

/// A boxed [`Journal`], as the writer thread holds it.
pub(crate) type BoxJournal = Box<dyn Journal>;

/// The `reason` of the `agent_disconnected` push an agent's older connection gets when the
/// agent logs in again with `--single-session`.
pub const REASON_LOGGED_OUT_REMOTELY: &str = "logged_out_remotely";

/// A push rendered once, shared by every connection it goes to.
pub(crate) struct Rendered {
    pub(crate) to: chatio::UserIds,
    pub(crate) action: &'static str,
    pub(crate) text: Utf8Bytes,
}

/// Renders the pushes of one engine call. Consecutive pushes with the same text (the agents'
/// and the customer's views of one event, most of the time) share one buffer.
pub(crate) fn render(pushes: Vec<chatio::wire::WirePush>) -> Vec<Rendered> {
    let mut out: Vec<Rendered> = Vec::with_capacity(pushes.len());
    for push in pushes {
        let text = match out.last() {
            Some(previous) if previous.text.as_str() == push.text => previous.text.clone(),
            _ => Utf8Bytes::from(push.text),
        };
        out.push(Rendered {
            to: push.to,
            action: push.action,
            text,
        });
    }
    out
}

/// One thing an engine call makes happen, once its records are safe.
pub(crate) enum Release {
    /// A message for one connection (a response).
    To(Arc<Outbox>, Utf8Bytes),
    /// Pushes for users, to each of their connections.
    Pushes(Vec<Rendered>),
    /// A connection starts getting its user's pushes.
    Subscribe(UserId, Arc<Outbox>),
    /// A connection starts getting its user's pushes, and the user's other connections are
    /// told `agent_disconnected` (`logged_out_remotely`) and closed: an agent's login with
    /// `--single-session`.
    Replace(UserId, Arc<Outbox>),
    /// A connection stops getting them.
    Unsubscribe(UserId, u64),
    /// A Web API answer may go.
    Web(oneshot::Sender<()>),
    /// Webhooks the call fired, for delivery.
    Webhooks(Vec<WireWebhook>),
    /// Webhooks the call fired, as the journal queued them (`Webhooks` after the commit).
    Owed(Vec<crate::webhooks::Owed>),
    /// Threads the call archived: the writer stores them with the call's records (see
    /// `archive.rs`); performing it does nothing more.
    Archived(Vec<ArchivedThread>),
}

/// Who is connected: each user's connections.
#[derive(Default)]
pub(crate) struct Registry {
    conns: HashMap<UserId, Vec<Arc<Outbox>>>,
    /// Where fired webhooks go (none in tests that build a registry alone).
    webhooks: Option<crate::webhooks::Sender>,
}

impl Registry {
    /// A registry that hands fired webhooks to `sender`.
    pub(crate) fn with_webhooks(sender: crate::webhooks::Sender) -> Registry {
        Registry {
            conns: HashMap::new(),
            webhooks: Some(sender),
        }
    }

    /// The connections logged in as `user`.
    pub(crate) fn connections(&self, user: &UserId) -> usize {
        self.conns.get(user).map_or(0, Vec::len)
    }

    pub(crate) fn perform(&mut self, item: Release, metrics: &Metrics) {
        match item {
            Release::To(outbox, text) => {
                outbox.send(Out::Text(text));
                outbox.answer_released();
            }
            Release::Pushes(pushes) => {
                for push in pushes {
                    self.deliver(&push, metrics);
                }
            }
            Release::Subscribe(user, outbox) => self.conns.entry(user).or_default().push(outbox),
            Release::Replace(user, outbox) => {
                let list = self.conns.entry(user).or_default();
                for old in list.drain(..) {
                    old.send(Out::Text(crate::conn::disconnect_push(
                        "agent_disconnected",
                        REASON_LOGGED_OUT_REMOTELY,
                    )));
                    old.send(Out::Close(close_code::POLICY, "logged out remotely"));
                    metrics
                        .disconnects
                        .with_label_values(&[REASON_LOGGED_OUT_REMOTELY])
                        .inc();
                }
                list.push(outbox);
            }
            Release::Unsubscribe(user, id) => {
                if let Some(list) = self.conns.get_mut(&user) {
                    list.retain(|c| c.id != id);
                    if list.is_empty() {
                        self.conns.remove(&user);
                    }
                }
            }
            Release::Web(answer) => {
                let _ = answer.send(());
            }
            Release::Webhooks(webhooks) => {
                if let Some(sender) = &self.webhooks {
                    for webhook in webhooks {
                        let _ = sender.send(crate::webhooks::Owed { row: None, webhook });
                    }
                }
            }
            Release::Owed(owed) => {
                if let Some(sender) = &self.webhooks {
                    for one in owed {
                        let _ = sender.send(one);
                    }
                }
            }
            Release::Archived(_) => {}
        }
    }

    /// Queues a push for every connection of its recipients. A `customer_disconnected` or
    /// `agent_disconnected` push (the engine's: a ban, the license's end) also closes the
    /// user's connections right after it, as the push says.
    fn deliver(&mut self, push: &Rendered, metrics: &Metrics) {
        let closes = matches!(push.action, "customer_disconnected" | "agent_disconnected");
        for user in push.to.iter() {
            let Some(list) = self.conns.get(user) else {
                continue;
            };
            for conn in list {
                conn.send(Out::Text(push.text.clone()));
                metrics.pushes.inc();
                if closes {
                    conn.send(Out::Close(close_code::POLICY, push.action));
                }
            }
            if closes {
                self.conns.remove(user);
            }
        }
    }
}

/// What waits for the next commit.
#[derive(Default)]
struct Pending {
    records: Vec<JournalRecord>,
    items: Vec<Release>,
    /// Rows of webhooks delivered since the last commit, to delete.
    delivered: Vec<i64>,
    stop: bool,
    /// The license stopped being served here: what comes is dropped unanswered.
    closed: bool,
}

/// The queue between the engine and the writer thread.
#[derive(Default)]
pub(crate) struct CommitQueue {
    pending: Mutex<Pending>,
    ready: Condvar,
}

impl CommitQueue {
    /// Appends one engine call's records and releases. Call it under the engine's lock.
    pub(crate) fn push(
        &self,
        records: Vec<JournalRecord>,
        items: impl IntoIterator<Item = Release>,
    ) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.closed {
            // Nothing will commit these records: their answers must never go out. Dropping a
            // Web API answer's sender makes its handler answer an error instead.
            return;
        }
        let was_empty = pending.is_empty();
        if pending.records.is_empty() {
            pending.records = records;
        } else {
            pending.records.extend(records);
        }
        pending.items.extend(items);
        drop(pending);
        if was_empty {
            self.ready.notify_one();
        }
    }

    /// The webhook stored at `row` was delivered: the next commit forgets it.
    pub(crate) fn delivered(&self, row: i64) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.closed {
            return;
        }
        let was_empty = pending.is_empty();
        pending.delivered.push(row);
        drop(pending);
        if was_empty {
            self.ready.notify_one();
        }
    }

    /// Tells the writer to commit what is waiting, take a last snapshot and end.
    pub(crate) fn stop(&self) {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stop = true;
        self.ready.notify_one();
    }

    /// Drops everything waiting, and everything pushed from now on, unanswered: the license
    /// is no longer served here.
    pub(crate) fn close(&self) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.closed = true;
        pending.records.clear();
        pending.items.clear();
        pending.delivered.clear();
        drop(pending);
        self.ready.notify_one();
    }

    /// Waits for something to commit; `None` once told to stop with nothing left, or closed.
    fn next(&self) -> Option<Batch> {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if pending.closed {
                return None;
            }
            if !pending.is_empty() {
                return Some(pending.take());
            }
            if pending.stop {
                return None;
            }
            pending = self
                .ready
                .wait(pending)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Everything waiting, without waiting.
    fn drain(&self) -> Batch {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.records.is_empty() && self.items.is_empty() && self.delivered.is_empty()
    }

    fn take(&mut self) -> Batch {
        Batch {
            records: std::mem::take(&mut self.records),
            items: std::mem::take(&mut self.items),
            delivered: std::mem::take(&mut self.delivered),
        }
    }
}

/// What one commit writes and then releases.
#[derive(Default)]
struct Batch {
    records: Vec<JournalRecord>,
    items: Vec<Release>,
    delivered: Vec<i64>,
}

/// A snapshot being encoded on a thread of its own: its record number, time and bytes.
type Encoding = std::sync::mpsc::Receiver<(u64, i64, Vec<u8>)>;

/// The writer thread: commit, then release, batch after batch. Periodic snapshots
/// (`--snapshot-every`) are encoded from a copy of the engine on a thread of their own, so
/// neither the engine nor the commits wait for them; the writer stores each when it is done.
/// The last one, at shutdown, is taken in place.
pub(crate) fn run_writer(shared: Arc<crate::Shared>, mut store: BoxJournal, out: Releases) {
    let Some(queue) = shared.commit.as_ref() else {
        return;
    };
    let mut encoding: Option<Encoding> = None;
    while let Some(batch) = queue.next() {
        if !commit_and_release(&shared, &mut store, batch, &out) {
            return;
        }
        if let Some(done) = &encoding {
            match done.try_recv() {
                Ok((seq, taken_at, data)) => {
                    store_snapshot(&mut store, seq, taken_at, data);
                    encoding = None;
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => {}
                Err(std::sync::mpsc::TryRecvError::Disconnected) => encoding = None,
            }
        }
        if encoding.is_none() && store.wants_snapshot() {
            encoding = start_snapshot(&shared, &mut store, &out);
        }
    }
    if shared.is_lost() {
        // Not ours any more: another node may be writing this license's journal already.
        return;
    }
    if let Some((seq, taken_at, data)) = encoding.and_then(|done| done.recv().ok()) {
        store_snapshot(&mut store, seq, taken_at, data);
    }
    snapshot(&shared, &mut store, &out);
}

/// Copies the engine (under its lock, with everything queued before committed first, so the
/// copy's records are all in the journal) and encodes the copy on another thread.
fn start_snapshot(
    shared: &crate::Shared,
    store: &mut BoxJournal,
    out: &Releases,
) -> Option<Encoding> {
    let queue = shared.commit.as_ref()?;
    let (copy, batch) = {
        let (core, _long) = shared.core_for_long_call();
        let batch = queue.drain();
        (core.engine.clone(), batch)
    };
    if !commit_and_release(shared, store, batch, out) {
        return None;
    }
    store.snapshot_started(copy.journal_seq());
    let (done, encoding) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("chatio-snapshot".to_string())
        .spawn(move || {
            let data = copy.snapshot_with(&Options::default().threads(crate::store::threads()));
            let _ = done.send((copy.journal_seq(), copy.now().unix_seconds(), data));
        });
    match spawned {
        Ok(_) => Some(encoding),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start a snapshot thread; the journal keeps every record");
            None
        }
    }
}

fn store_snapshot(store: &mut BoxJournal, seq: u64, taken_at: i64, data: Vec<u8>) {
    if let Err(e) = store.write_snapshot(seq, taken_at, data) {
        tracing::warn!(
            seq,
            error = %e,
            "no snapshot; the journal keeps every record, the next start replays more"
        );
    }
}

/// Commits the batch's records, the webhooks its items fired and the deliveries it saw, then
/// hands its items to the runtime (the webhooks with the rows the journal gave them). `false`
/// if the commit failed and the license is no longer served here (with Postgres; with SQLite
/// a failure ends the process).
fn commit_and_release(
    shared: &crate::Shared,
    store: &mut BoxJournal,
    batch: Batch,
    out: &Releases,
) -> bool {
    let Batch {
        records,
        mut items,
        delivered,
    } = batch;
    let mut archived: Vec<ArchivedThread> = Vec::new();
    for item in &items {
        if let Release::Archived(threads) = item {
            archived.extend(threads.iter().cloned());
        }
    }
    let fired: Vec<&WireWebhook> = items
        .iter()
        .filter_map(|item| match item {
            Release::Webhooks(webhooks) => Some(webhooks),
            _ => None,
        })
        .flatten()
        .collect();
    if !records.is_empty() || !fired.is_empty() || !delivered.is_empty() {
        let started = Instant::now();
        let rows = match store.commit(&records, &archived, &fired, &delivered) {
            Ok(rows) => rows,
            Err(e) => {
                drop(fired);
                return commit_failed(shared, store, e, items, records.len());
            }
        };
        drop(fired);
        let mut rows = rows.into_iter();
        for item in &mut items {
            if let Release::Webhooks(webhooks) = item {
                let owed = std::mem::take(webhooks)
                    .into_iter()
                    .map(|webhook| crate::webhooks::Owed {
                        row: rows.next().flatten(),
                        webhook,
                    })
                    .collect();
                *item = Release::Owed(owed);
            }
        }
        if !records.is_empty() {
            shared
                .metrics
                .commit_seconds
                .observe(started.elapsed().as_secs_f64());
            shared.metrics.commit_records.observe(records.len() as f64);
        }
        shared.archive.committed(&archived);
    }
    if !items.is_empty() && out.send(items).is_err() {
        // The runtime is gone (the server is stopping): nobody is left to answer.
        tracing::debug!("releases after the runtime stopped");
    }
    true
}

/// A commit failed: with Postgres the license stops being served here (`false`); with SQLite
/// the process ends.
fn commit_failed(
    shared: &crate::Shared,
    store: &BoxJournal,
    e: String,
    items: Vec<Release>,
    records: usize,
) -> bool {
    if !store.failure_is_fatal() {
        // Nothing of this batch is answered: whatever the database kept, no client was told
        // of it, and the next owner restores exactly what it kept.
        drop(items);
        shared.lose(&format!("cannot commit the journal: {e}"));
        return false;
    }
    tracing::error!(
        path = %store.describe(),
        error = %e,
        records,
        "cannot commit the journal; stopping without answering the requests of this \
         batch (restart to recover everything that was answered)"
    );
    std::process::exit(1);
}

/// Where the writer thread sends each committed batch's releases.
pub(crate) type Releases = tokio::sync::mpsc::UnboundedSender<Vec<Release>>;

/// Performs committed batches on the runtime, in the order they were committed. Waking a
/// connection's writer from the runtime's own thread is a local queue push; from the writer
/// thread it would be a cross-thread wake-up per connection. One wake-up per batch instead.
pub(crate) async fn run_releases(
    shared: Arc<crate::Shared>,
    mut batches: tokio::sync::mpsc::UnboundedReceiver<Vec<Release>>,
) {
    while let Some(items) = batches.recv().await {
        let mut registry = shared.registry();
        for item in items {
            registry.perform(item, &shared.metrics);
        }
    }
}

/// Takes a snapshot in place if records were committed since the last one (at shutdown). The
/// engine is locked only to encode it; what was queued before is committed first, so the
/// snapshot and the journal agree. A failure is only logged: the journal still has every
/// record.
fn snapshot(shared: &crate::Shared, store: &mut BoxJournal, out: &Releases) {
    let Some(queue) = shared.commit.as_ref() else {
        return;
    };
    let (seq, taken_at, data, batch) = {
        let (core, long) = shared.core_for_long_call();
        let engine = &core.engine;
        // Everything the engine did up to now is in the journal or in the queue: take both.
        let batch = queue.drain();
        let seq = engine.journal_seq();
        if batch.records.is_empty() && !store.has_unsnapshotted_before(seq) {
            drop(core);
            drop(long);
            commit_and_release(shared, store, batch, out);
            return;
        }
        let data = engine.snapshot_with(&Options::default().threads(crate::store::threads()));
        (seq, engine.now().unix_seconds(), data, batch)
    };
    if commit_and_release(shared, store, batch, out) {
        store_snapshot(store, seq, taken_at, data);
    }
}
