//! Durability for `chatio-server --data DIR`: the engine's journal and snapshots in SQLite.
//!
//! `DIR/chatio.sqlite3` holds three tables:
//!
//! * `meta`: the [`EngineConfig`] the engine was made with (replaying the journal from the
//!   start needs `Engine::new` with the same configuration; it is not in the journal).
//! * `journal`: every [`JournalRecord`] after the older of the two snapshots kept, keyed by
//!   its number, in the form [`JournalRecord::encode`] writes.
//! * `snapshot`: the two latest [`Engine::snapshot`]s and the record number each covers.
//! * `webhook` (schema 2): the webhooks owed and not yet delivered, in the order they fired
//!   (`id`), each written in the same transaction as the records of the call that fired it
//!   and deleted in a later commit once its receiver took it. A restart resumes them before
//!   anything new fires, so none is lost, and each chat's keep their order; one delivered just
//!   before a crash, whose deletion was not committed, is delivered again (at least once).
//! * `archived_threads` (schema 2): the threads `--archive-after` took out of the engine
//!   ([`Engine::archive_threads`]), keyed by chat and thread id (the database is one
//!   license's), each as the JSON of its `Thread`, events included. They are written in the
//!   transaction of the record that archived them, and read back by queries that show them.
//!
//! The host's rule is *persist, then answer*: records are committed before the response or
//! any push of the calls that made them is queued; the server commits every record waiting
//! since its last commit in one transaction (group commit, see `commit.rs`). The database runs in WAL mode
//! with `synchronous=FULL`, so a commit is on disk (the WAL fsynced) when it returns: an answer
//! a client saw survives the process being killed, and the machine losing power if the disk
//! keeps what it has synced. (With
//! `NORMAL`, WAL commits are fsynced only at checkpoints: safe against a killed process, not
//! against power loss, and an acknowledged message could then vanish.)
//!
//! A lock on `DIR/chatio.lock` (an advisory file lock, released by the kernel when the process
//! ends, even by SIGKILL) makes this process the only server of the directory: a second one is
//! refused. SQLite itself runs in its normal locking mode, so that `chatio-server backup` can
//! read the database while the server writes it (WAL readers do not block the writer).
//!
//! At start, `PRAGMA quick_check` reads every page: a damaged database is refused with what
//! SQLite found, before anything is read from it or written to it. (Damage where recovery
//! never looks, such as journal rows a snapshot covers, would otherwise go unnoticed until the
//! day they are needed.)
//!
//! A new snapshot replaces the older of the two kept, and the records that only the dropped one
//! needed are deleted, in one transaction. Recovery restores the newest snapshot that reads
//! (falling back to the other, with more records to replay, if the newest is damaged), or
//! starts from `Engine::new` with the stored configuration, and applies the records after it;
//! [`Engine::apply`] refuses a gap or a duplicate, so a damaged journal stops the start instead
//! of serving a wrong state.

use std::path::{Path, PathBuf};
use std::time::Instant;

use chatio::journal::{JournalMode, JournalRecord, Options};
use chatio::wire::configuration::WireWebhook;
use chatio::{ArchivedThread, ChatId, Engine, EngineConfig, Thread, ThreadId};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::archive::ArchiveRead;

/// The database file inside `--data DIR`.
pub const FILE_NAME: &str = "chatio.sqlite3";

/// The schema this build writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
    CREATE TABLE journal (seq INTEGER PRIMARY KEY, record BLOB NOT NULL) STRICT;
    CREATE TABLE snapshot (
        seq INTEGER PRIMARY KEY,
        taken_at INTEGER NOT NULL,
        data BLOB NOT NULL
    ) STRICT;
    PRAGMA user_version = 1;
";

/// Schema 1 to 2: the webhooks owed and the archived threads (see the module's docs).
const SCHEMA_2: &str = "
    CREATE TABLE webhook (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL,
        chat_id TEXT,
        webhook_id TEXT NOT NULL,
        body TEXT NOT NULL
    ) STRICT;
    CREATE TABLE archived_threads (
        chat_id TEXT NOT NULL,
        thread_id TEXT NOT NULL,
        thread BLOB NOT NULL,
        PRIMARY KEY (chat_id, thread_id)
    ) STRICT;
    PRAGMA user_version = 2;
";

/// The lock file inside `--data DIR`.
pub const LOCK_NAME: &str = "chatio.lock";

/// Where and how often.
#[derive(Clone, Debug)]
pub struct Durability {
    /// The data directory (created if missing).
    pub dir: PathBuf,
    /// Take a snapshot once this many records have been written since the last one (0: only
    /// after recovery and at a clean shutdown).
    pub snapshot_every: u64,
    /// Start even if `PRAGMA quick_check` finds damage (`--skip-integrity-check`): recovery
    /// then restores what still reads, falling back to the older snapshot.
    pub skip_integrity_check: bool,
}

impl Durability {
    /// `dir`, with the default snapshot period and the integrity check on.
    pub fn new(dir: impl Into<PathBuf>) -> Durability {
        Durability {
            dir: dir.into(),
            snapshot_every: crate::cli::DEFAULT_SNAPSHOT_EVERY,
            skip_integrity_check: false,
        }
    }
}

/// An open database, used by one engine.
pub struct Store {
    db: Connection,
    /// Holds the directory's lock while the store is open.
    _lock: std::fs::File,
    path: PathBuf,
    snapshot_every: u64,
    /// The number of the last record written.
    last_seq: u64,
    /// The record number the latest snapshot covers.
    snapshot_seq: u64,
    /// Take a snapshot once the journal reaches this record.
    next_snapshot: u64,
}

/// What recovery found.
pub struct Recovered {
    /// The engine, as it was after the last committed record (journal records held: see
    /// [`JournalMode::Hold`]).
    pub engine: Engine,
    /// `None` for a new data directory; otherwise how the engine was rebuilt.
    pub from: Option<Recovery>,
}

/// How an engine was rebuilt.
pub struct Recovery {
    /// The record number of the snapshot restored (0: none, replayed from the start).
    pub snapshot_seq: u64,
    /// How many journal records were applied after it.
    pub replayed: u64,
    /// How long restoring and replaying took.
    pub took: std::time::Duration,
    /// Snapshots that could not be read, and why.
    pub warnings: Vec<String>,
}

impl Store {
    /// Opens (or creates) the database in `durability.dir` and rebuilds the engine it holds.
    ///
    /// A new database gets `config` and whatever `fresh` does to a new engine (set the router,
    /// add agents: its records are written before this returns). An existing one must have been
    /// made with `config`: any other is refused, with both named. The exceptions are the
    /// license's creation time, which is the first start's (a later start keeps the stored
    /// one), and the seed unless `fixed_seed`: `config.seed` was drawn for a new engine, and a
    /// stored one keeps its own.
    pub fn open(
        durability: &Durability,
        config: &EngineConfig,
        fixed_seed: bool,
        fresh: impl FnOnce(&mut Engine) -> Result<(), String>,
    ) -> Result<(Store, Recovered), String> {
        std::fs::create_dir_all(&durability.dir)
            .map_err(|e| format!("cannot create {}: {e}", durability.dir.display()))?;
        let lock = lock_dir(&durability.dir)?;
        let path = durability.dir.join(FILE_NAME);
        let db_error = |e: rusqlite::Error| format!("{}: {e}", path.display());
        let mut db = Connection::open(&path).map_err(db_error)?;
        // A backup reading the database holds it for a moment: wait rather than fail.
        db.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(db_error)?;
        let mode: String = db
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::DatabaseBusy =>
                {
                    format!(
                        "{} is in use by another process (another chatio-server on the same --data?)",
                        path.display()
                    )
                }
                e => db_error(e),
            })?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(format!(
                "{}: cannot switch to WAL mode (got {mode})",
                path.display()
            ));
        }
        db.pragma_update(None, "synchronous", "FULL")
            .map_err(db_error)?;
        if !durability.skip_integrity_check {
            quick_check(&db).map_err(|damage| {
                format!(
                    "{} is damaged; PRAGMA quick_check says: {damage}. Nothing was changed. \
                     Restore the latest backup (see server/README.md, \"Backups\"), or start \
                     with --skip-integrity-check to recover what still reads (the newest \
                     snapshot that reads, and the journal after it).",
                    path.display()
                )
            })?;
        }
        // Checkpoints run inside a commit and fsync the database file: under load, fewer and
        // larger ones (64 MiB of WAL instead of SQLite's 4 MiB) keep commits short.
        db.pragma_update(None, "wal_autocheckpoint", 16384)
            .map_err(db_error)?;
        // Take the write lock now, so that a second server on the same directory is refused
        // here and not at its first write.
        let tx = db
            .transaction_with_behavior(TransactionBehavior::Exclusive)
            .map_err(db_error)?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(db_error)?;
        match version {
            0 => {
                tx.execute_batch(SCHEMA).map_err(db_error)?;
                tx.execute_batch(SCHEMA_2).map_err(db_error)?;
            }
            // A directory an older build wrote: it kept no webhooks owed and archived nothing.
            1 => tx.execute_batch(SCHEMA_2).map_err(db_error)?,
            SCHEMA_VERSION => {}
            other => {
                return Err(format!(
                    "{}: schema version {other}, this build reads {SCHEMA_VERSION}",
                    path.display()
                ));
            }
        }
        let stored: Option<String> = tx
            .query_row(
                "SELECT value FROM meta WHERE key = 'engine_config'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_error)?;
        tx.commit().map_err(db_error)?;

        let mut store = Store {
            db,
            _lock: lock,
            path,
            snapshot_every: durability.snapshot_every,
            last_seq: 0,
            snapshot_seq: 0,
            next_snapshot: 0,
        };
        let recovered = match stored {
            None => store.create(config, fixed_seed, fresh)?,
            Some(stored) => {
                let stored: EngineConfig = serde_json::from_str(&stored).map_err(|e| {
                    format!("{}: the stored configuration: {e}", store.path.display())
                })?;
                // The license was created at the first start, not at this one: no flag sets
                // its creation time, so the stored one stands.
                let mut asked = config.clone();
                if let (Some(kept), Some(license)) = (&stored.license, &mut asked.license) {
                    license.creation_timestamp = kept.creation_timestamp;
                }
                if !fixed_seed {
                    asked.seed = stored.seed;
                }
                if stored != asked {
                    let drawn = store
                        .seed_was_drawn()
                        .map_err(|e| format!("{}: {e}", store.path.display()))?;
                    return Err(mismatch(&store.path, &stored, &asked, drawn));
                }
                store.recover(&stored)?
            }
        };
        Ok((store, recovered))
    }

    /// A new database: the configuration and the first records, in one transaction.
    fn create(
        &mut self,
        config: &EngineConfig,
        fixed_seed: bool,
        fresh: impl FnOnce(&mut Engine) -> Result<(), String>,
    ) -> Result<Recovered, String> {
        let mut engine = Engine::new(config.clone());
        engine.set_journal_mode(JournalMode::Hold);
        fresh(&mut engine)?;
        let records = engine.take_journal();
        let config_json = serde_json::to_string(config).map_err(|e| e.to_string())?;
        let path = self.path.clone();
        let db_error = |e: rusqlite::Error| format!("{}: {e}", path.display());
        let tx = self.db.transaction().map_err(db_error)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('engine_config', ?1)",
            [config_json],
        )
        .map_err(db_error)?;
        if !fixed_seed {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('seed_drawn', 'true')",
                [],
            )
            .map_err(db_error)?;
        }
        insert_records(&tx, &records).map_err(db_error)?;
        tx.commit().map_err(db_error)?;
        self.last_seq = engine.journal_seq();
        self.next_snapshot = self.snapshot_every;
        Ok(Recovered { engine, from: None })
    }

    /// The latest snapshot and the records after it.
    fn recover(&mut self, config: &EngineConfig) -> Result<Recovered, String> {
        let started = Instant::now();
        let path = self.path.clone();
        let db_error = |e: rusqlite::Error| format!("{}: {e}", path.display());
        // The numbers first, then each snapshot on its own: a row that cannot be read (a
        // damaged page) is one snapshot lost, not the start.
        let seqs: Vec<i64> = {
            let mut select = self
                .db
                .prepare("SELECT seq FROM snapshot ORDER BY seq DESC")
                .map_err(db_error)?;
            select
                .query_map([], |row| row.get(0))
                .map_err(db_error)?
                .collect::<Result<_, _>>()
                .map_err(db_error)?
        };
        let mut warnings = Vec::new();
        let mut restored = None;
        for seq in seqs {
            let data: Vec<u8> =
                match self
                    .db
                    .query_row("SELECT data FROM snapshot WHERE seq = ?1", [seq], |row| {
                        row.get(0)
                    }) {
                    Ok(data) => data,
                    Err(e) => {
                        warnings.push(format!(
                            "the snapshot at record {} cannot be read: {e}",
                            to_seq(seq)
                        ));
                        continue;
                    }
                };
            let seq = to_seq(seq);
            match Engine::restore_with(&data, &Options::default().threads(threads())) {
                Ok(engine) if engine.journal_seq() == seq => {
                    restored = Some((engine, seq));
                    break;
                }
                Ok(engine) => warnings.push(format!(
                    "the snapshot filed at record {seq} is at record {}",
                    engine.journal_seq()
                )),
                Err(e) => warnings.push(format!("the snapshot at record {seq}: {e}")),
            }
        }
        let (mut engine, snapshot_seq) =
            restored.unwrap_or_else(|| (Engine::new(config.clone()), 0));
        let first: Option<i64> = self
            .db
            .query_row(
                "SELECT MIN(seq) FROM journal WHERE seq > ?1",
                [to_sql(snapshot_seq)],
                |row| row.get(0),
            )
            .map_err(db_error)?;
        if let Some(first) = first.map(to_seq).filter(|&f| f != snapshot_seq + 1) {
            return Err(format!(
                "{}: the journal goes on from record {first}, but the engine can be rebuilt only \
                 up to record {snapshot_seq}{}",
                path.display(),
                warnings
                    .iter()
                    .map(|w| format!("; {w}"))
                    .collect::<String>()
            ));
        }
        let mut replayed = 0;
        {
            let mut select = self
                .db
                .prepare("SELECT seq, record FROM journal WHERE seq > ?1 ORDER BY seq")
                .map_err(db_error)?;
            let mut rows = select.query([to_sql(snapshot_seq)]).map_err(db_error)?;
            while let Some(row) = rows.next().map_err(db_error)? {
                let seq: i64 = row.get(0).map_err(db_error)?;
                let bytes: Vec<u8> = row.get(1).map_err(db_error)?;
                let record = JournalRecord::decode(&bytes)
                    .map_err(|e| format!("{}: journal record {seq}: {e}", path.display()))?;
                if record.seq != to_seq(seq) {
                    return Err(format!(
                        "{}: journal row {seq} holds record {}",
                        path.display(),
                        record.seq
                    ));
                }
                engine
                    .apply(record)
                    .map_err(|e| format!("{}: journal record {seq}: {e}", path.display()))?;
                replayed += 1;
            }
        }
        engine.set_journal_mode(JournalMode::Hold);
        self.last_seq = engine.journal_seq();
        self.snapshot_seq = snapshot_seq;
        self.next_snapshot = self.after(snapshot_seq);
        Ok(Recovered {
            engine,
            from: Some(Recovery {
                snapshot_seq,
                replayed,
                took: started.elapsed(),
                warnings,
            }),
        })
    }

    /// Writes `records` (the next ones, in order) in one transaction; when this returns `Ok`
    /// they are on disk.
    pub fn append(&mut self, records: &[JournalRecord]) -> Result<(), String> {
        self.commit(records, &[], &[], &[]).map(drop)
    }

    /// Writes `records` (the next ones, in order) with the threads they `archived`, queues
    /// `webhooks` and deletes the webhooks `delivered` (row ids this store gave), in one
    /// transaction; returns the row id of each webhook queued, in order. When this returns
    /// `Ok` all of it is on disk.
    pub fn commit(
        &mut self,
        records: &[JournalRecord],
        archived: &[ArchivedThread],
        webhooks: &[&WireWebhook],
        delivered: &[i64],
    ) -> Result<Vec<i64>, String> {
        if let Some(first) = records.first()
            && first.seq != self.last_seq + 1
        {
            return Err(format!(
                "record {} would follow record {}: the journal would have a gap",
                first.seq, self.last_seq
            ));
        }
        let tx = self.db.transaction().map_err(|e| e.to_string())?;
        insert_records(&tx, records).map_err(|e| e.to_string())?;
        insert_archived(&tx, archived)?;
        let mut rows = Vec::with_capacity(webhooks.len());
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO webhook (url, chat_id, webhook_id, body) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(|e| e.to_string())?;
            for webhook in webhooks {
                insert
                    .execute(params![
                        webhook.url,
                        webhook.chat_id.map(|c| c.to_string()),
                        webhook.webhook_id,
                        webhook.body
                    ])
                    .map_err(|e| e.to_string())?;
                rows.push(tx.last_insert_rowid());
            }
            let mut delete = tx
                .prepare("DELETE FROM webhook WHERE id = ?1")
                .map_err(|e| e.to_string())?;
            for id in delivered {
                delete.execute([id]).map_err(|e| e.to_string())?;
            }
        }
        tx.commit().map_err(|e| e.to_string())?;
        self.last_seq = records.last().map_or(self.last_seq, |r| r.seq);
        Ok(rows)
    }

    /// The webhooks owed, oldest first, with their row ids: what a restart resumes.
    pub fn owed_webhooks(&self) -> Result<Vec<(i64, WireWebhook)>, String> {
        let db_error = |e: rusqlite::Error| format!("{}: {e}", self.path.display());
        let mut select = self
            .db
            .prepare("SELECT id, url, chat_id, webhook_id, body FROM webhook ORDER BY id")
            .map_err(db_error)?;
        let rows = select
            .query_map([], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                ))
            })
            .map_err(db_error)?;
        let mut owed = Vec::new();
        for row in rows {
            let (id, url, chat_id, webhook_id, body) = row.map_err(db_error)?;
            let chat_id = match chat_id {
                None => None,
                Some(text) => Some(text.parse::<ChatId>().map_err(|e| {
                    format!(
                        "{}: webhook row {id}: chat id {text:?}: {e}",
                        self.path.display()
                    )
                })?),
            };
            owed.push((
                id,
                WireWebhook {
                    url,
                    chat_id,
                    webhook_id,
                    body,
                },
            ));
        }
        Ok(owed)
    }

    /// A read-only connection to the archived threads, for queries: WAL readers neither wait
    /// for the writer nor hold it up.
    pub(crate) fn archive_reader(&self) -> Result<SqliteArchive, String> {
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
        let db = Connection::open_with_flags(&self.path, flags)
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        Ok(SqliteArchive { db })
    }

    /// The record after which the next periodic snapshot is due, the last being at `seq`:
    /// `snapshot_every` records later, or `seq` records later if that is more (the periods
    /// double until they reach the record count). A snapshot copies the whole engine, which
    /// grows with every event kept, so a fixed period would spend ever more of the server's
    /// time on snapshots; this way snapshots cost about one event encoded per record written,
    /// whatever the engine's size, and a restart replays at most half of the records written
    /// so far (or `snapshot_every`, if that is more).
    fn after(&self, seq: u64) -> u64 {
        seq.saturating_add(self.snapshot_every.max(seq))
    }

    /// Whether enough records have been written since the last snapshot (or the last try).
    pub fn wants_snapshot(&self) -> bool {
        self.snapshot_every > 0 && self.last_seq >= self.next_snapshot
    }

    /// Whether records have been written since the last snapshot.
    pub fn has_unsnapshotted(&self) -> bool {
        self.last_seq > self.snapshot_seq
    }

    /// Whether a snapshot at record `seq` would cover records no kept snapshot covers.
    pub fn has_unsnapshotted_before(&self, seq: u64) -> bool {
        seq > self.snapshot_seq
    }

    /// Stores a snapshot of `engine`, whose every record must be written already, in place of
    /// the older of the two kept, and deletes the records the remaining older one covers.
    pub fn snapshot(&mut self, engine: &Engine) -> Result<(), String> {
        let seq = engine.journal_seq();
        if seq == self.snapshot_seq {
            return Ok(());
        }
        let data = engine.snapshot_with(&Options::default().threads(threads()));
        self.write_snapshot(seq, engine.now().unix_seconds(), data)
    }

    /// A periodic snapshot at record `seq` is being taken: the next is due later.
    pub fn snapshot_started(&mut self, seq: u64) {
        self.next_snapshot = self.after(seq);
    }

    /// Stores `data`, a snapshot of the engine at record `seq` (every record up to it written
    /// already; later ones may be), as [`Store::snapshot`] does. The server encodes periodic
    /// snapshots from a copy of the engine, away from its lock, and stores them here.
    pub fn write_snapshot(&mut self, seq: u64, taken_at: i64, data: Vec<u8>) -> Result<(), String> {
        if seq > self.last_seq {
            return Err(format!(
                "the snapshot is at record {seq}, the journal only at {}",
                self.last_seq
            ));
        }
        if seq <= self.snapshot_seq {
            return Ok(());
        }
        // Success or not, the next periodic try waits for more records.
        self.next_snapshot = self.next_snapshot.max(self.after(seq));
        let tx = self.db.transaction().map_err(|e| e.to_string())?;
        tx.execute(
            "INSERT OR REPLACE INTO snapshot (seq, taken_at, data) VALUES (?1, ?2, ?3)",
            params![to_sql(seq), taken_at, data],
        )
        .map_err(|e| e.to_string())?;
        // Any snapshot between the one this process restored or wrote last and this one is
        // one recovery could not read: it goes.
        tx.execute(
            "DELETE FROM snapshot WHERE seq > ?1 AND seq < ?2",
            [to_sql(self.snapshot_seq), to_sql(seq)],
        )
        .map_err(|e| e.to_string())?;
        tx.execute(
            "DELETE FROM snapshot WHERE seq NOT IN \
             (SELECT seq FROM snapshot ORDER BY seq DESC LIMIT 2)",
            [],
        )
        .map_err(|e| e.to_string())?;
        tx.execute(
            "DELETE FROM journal WHERE seq <= (SELECT MIN(seq) FROM snapshot)",
            [],
        )
        .map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
        self.snapshot_seq = seq;
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the stored seed was drawn from the operating system (not given with --seed).
    fn seed_was_drawn(&self) -> rusqlite::Result<bool> {
        self.db
            .query_row(
                "SELECT 1 FROM meta WHERE key = 'seed_drawn'",
                [],
                |_| Ok(()),
            )
            .optional()
            .map(|found| found.is_some())
    }
}

/// Takes the directory's lock, or says who holds it.
fn lock_dir(dir: &Path) -> Result<std::fs::File, String> {
    let path = dir.join(LOCK_NAME);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "{} is in use by another process (another chatio-server on the same --data?)",
            dir.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", path.display())),
    }
}

/// `PRAGMA quick_check`: `Ok` if SQLite finds every page sound, else what it found (the first
/// few problems).
fn quick_check(db: &Connection) -> Result<(), String> {
    let mut select = db
        .prepare("PRAGMA quick_check(10)")
        .map_err(|e| e.to_string())?;
    let lines: Vec<String> = select
        .query_map([], |row| row.get(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| e.to_string())?;
    if lines.len() == 1 && lines[0] == "ok" {
        Ok(())
    } else {
        Err(lines.join("; "))
    }
}

/// What [`backup`] wrote.
#[derive(Debug)]
pub struct Backup {
    /// The copy.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Journal records and snapshots it holds.
    pub records: u64,
    /// Snapshots it holds.
    pub snapshots: u64,
}

/// Copies the database of the data directory `data` into `target` (created if missing; it must
/// not hold a database already) with SQLite's online backup API: a consistent copy of
/// everything committed, WAL included, taken while a server may be writing it (readers do not
/// block the writer). The copy is checked with `PRAGMA quick_check`, synced, and only then
/// given its name, so `target` is a data directory a server can start from
/// (`--data TARGET`).
pub fn backup(data: &Path, target: &Path) -> Result<Backup, String> {
    let source_path = data.join(FILE_NAME);
    if !source_path.is_file() {
        return Err(format!("{} does not exist", source_path.display()));
    }
    std::fs::create_dir_all(target)
        .map_err(|e| format!("cannot create {}: {e}", target.display()))?;
    let final_path = target.join(FILE_NAME);
    if final_path.exists() {
        return Err(format!(
            "{} exists already; back up into an empty directory",
            final_path.display()
        ));
    }
    let partial = target.join(format!("{FILE_NAME}.partial"));
    let _ = std::fs::remove_file(&partial);
    let src_error = |e: rusqlite::Error| format!("{}: {e}", source_path.display());
    let dst_error = |e: rusqlite::Error| format!("{}: {e}", partial.display());
    let source = Connection::open_with_flags(
        &source_path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(src_error)?;
    source
        .busy_timeout(std::time::Duration::from_secs(10))
        .map_err(src_error)?;
    let mut copy = Connection::open(&partial).map_err(dst_error)?;
    {
        let backup = rusqlite::backup::Backup::new(&source, &mut copy).map_err(dst_error)?;
        // All pages in one step: one read transaction on the source, so the copy is one
        // consistent state even while a server commits (a step-by-step copy would restart
        // at every commit of another process).
        let mut tries = 0;
        loop {
            match backup.step(-1).map_err(src_error)? {
                rusqlite::backup::StepResult::Done => break,
                rusqlite::backup::StepResult::More => {}
                rusqlite::backup::StepResult::Busy | rusqlite::backup::StepResult::Locked => {
                    tries += 1;
                    if tries > 100 {
                        return Err(format!("{} stayed busy; try again", source_path.display()));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                _ => {}
            }
        }
    }
    quick_check(&copy).map_err(|damage| format!("the copy is damaged: {damage}"))?;
    let count = |sql: &str| -> Result<u64, String> {
        copy.query_row(sql, [], |row| row.get::<_, i64>(0))
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(dst_error)
    };
    let records = count("SELECT COUNT(*) FROM journal")?;
    let snapshots = count("SELECT COUNT(*) FROM snapshot")?;
    // Into the file itself, so that it stands alone: no -wal beside it to forget.
    copy.pragma_update(None, "journal_mode", "DELETE")
        .map_err(dst_error)?;
    drop(copy);
    let file = std::fs::File::open(&partial).map_err(|e| format!("{}: {e}", partial.display()))?;
    file.sync_all()
        .map_err(|e| format!("{}: {e}", partial.display()))?;
    let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    drop(file);
    std::fs::rename(&partial, &final_path).map_err(|e| format!("{}: {e}", final_path.display()))?;
    if let Ok(dir) = std::fs::File::open(target) {
        let _ = dir.sync_all();
    }
    Ok(Backup {
        path: final_path,
        bytes,
        records,
        snapshots,
    })
}

/// Writes archived threads. A thread archived again (its record replayed after a crash that
/// kept the row but not a later snapshot) replaces its row with the same content.
fn insert_archived(
    tx: &rusqlite::Transaction<'_>,
    archived: &[ArchivedThread],
) -> Result<(), String> {
    if archived.is_empty() {
        return Ok(());
    }
    let mut insert = tx
        .prepare(
            "INSERT OR REPLACE INTO archived_threads (chat_id, thread_id, thread) \
             VALUES (?1, ?2, ?3)",
        )
        .map_err(|e| e.to_string())?;
    for t in archived {
        let json = serde_json::to_vec(&t.thread).map_err(|e| e.to_string())?;
        insert
            .execute(params![
                t.chat_id.to_string(),
                t.thread.id.to_string(),
                json
            ])
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The archived threads of a `--data` database, read by queries.
pub(crate) struct SqliteArchive {
    db: Connection,
}

impl ArchiveRead for SqliteArchive {
    fn read(&mut self, keys: &[(ChatId, ThreadId)]) -> Result<Vec<ArchivedThread>, String> {
        let mut select = self
            .db
            .prepare("SELECT thread FROM archived_threads WHERE chat_id = ?1 AND thread_id = ?2")
            .map_err(|e| e.to_string())?;
        keys.iter()
            .map(|&(chat_id, thread_id)| {
                let json: Vec<u8> = select
                    .query_row(params![chat_id.to_string(), thread_id.to_string()], |r| {
                        r.get(0)
                    })
                    .map_err(|e| format!("thread {thread_id} of chat {chat_id}: {e}"))?;
                let thread: Thread = serde_json::from_slice(&json)
                    .map_err(|e| format!("thread {thread_id} of chat {chat_id}: {e}"))?;
                Ok(ArchivedThread::new(chat_id, thread))
            })
            .collect()
    }
}

fn insert_records(
    tx: &rusqlite::Transaction<'_>,
    records: &[JournalRecord],
) -> rusqlite::Result<()> {
    let mut insert = tx.prepare("INSERT INTO journal (seq, record) VALUES (?1, ?2)")?;
    for record in records {
        insert.execute(params![to_sql(record.seq), record.encode()])?;
    }
    Ok(())
}

/// Record numbers count accepted changes: they stay far below `i64::MAX`.
fn to_sql(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

fn to_seq(seq: i64) -> u64 {
    u64::try_from(seq).unwrap_or(0)
}

/// The refusal when the flags ask for another engine than the one stored. A seed drawn from
/// the operating system is not shown: whoever reads the message could predict ids from it.
fn mismatch(path: &Path, stored: &EngineConfig, asked: &EngineConfig, drawn: bool) -> String {
    let flags = |c: &EngineConfig, is_stored: bool| {
        let seed = if is_stored && drawn {
            "a seed drawn at its first start (no --seed)".to_string()
        } else {
            format!("--seed {}", c.seed)
        };
        let mut flags = format!(
            "{seed} --unseen-timeout {} --inactivity-timeout {}",
            c.unseen_timeout, c.inactivity_timeout
        );
        match &c.license {
            Some(l) => {
                flags.push_str(&format!(" --license-id {} --license-plan {}", l.id, l.plan));
                if let Some(t) = l.expiration_timestamp {
                    flags.push_str(&format!(" --license-expires {t}"));
                }
            }
            None => flags.push_str(" (no --license-id)"),
        }
        flags
    };
    let (stored_flags, asked_flags) = (flags(stored, true), flags(asked, false));
    let (stored_text, asked_text) = if stored_flags == asked_flags && !drawn {
        // Settings without a flag differ: show them all.
        (
            serde_json::to_string(stored).unwrap_or_default(),
            serde_json::to_string(asked).unwrap_or_default(),
        )
    } else {
        (stored_flags, asked_flags)
    };
    format!(
        "{} was made with {stored_text}, but this start asks for {asked_text}. \
         Start with the flags the data was made with, or use another --data directory \
         (nothing was changed).",
        path.display()
    )
}

/// How many threads snapshots may use: the host's choice, here every core the process may use.
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
