//! Durability for `chatio-server --data DIR`: the engine's journal and snapshots in SQLite.
//!
//! `DIR/chatio.sqlite3` holds three tables:
//!
//! * `meta`: the [`EngineConfig`] the engine was made with (replaying the journal from the
//!   start needs `Engine::new` with the same configuration; it is not in the journal).
//! * `journal`: every [`JournalRecord`] after the older of the two snapshots kept, keyed by
//!   its number, in the form [`JournalRecord::encode`] writes.
//! * `snapshot`: the two latest [`Engine::snapshot`]s and the record number each covers.
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
//! `locking_mode=EXCLUSIVE` makes this process the database's only user while it runs (a second
//! server on the same directory is refused), and lets WAL do without shared memory.
//!
//! A new snapshot replaces the older of the two kept, and the records that only the dropped one
//! needed are deleted, in one transaction. Recovery restores the newest snapshot that reads
//! (falling back to the other, with more records to replay, if the newest is damaged), or
//! starts from `Engine::new` with the stored configuration, and applies the records after it;
//! [`Engine::apply`] refuses a gap or a duplicate, so a damaged journal stops the start instead
//! of serving a wrong state.

use std::path::{Path, PathBuf};
use std::time::Instant;

use chatio::journal::{JournalMode, JournalRecord, builtin_router};
use chatio::{Engine, EngineConfig};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// The database file inside `--data DIR`.
pub const FILE_NAME: &str = "chatio.sqlite3";

/// The schema this build writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

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

/// Where and how often.
#[derive(Clone, Debug)]
pub struct Durability {
    /// The data directory (created if missing).
    pub dir: PathBuf,
    /// Take a snapshot once this many records have been written since the last one (0: only
    /// after recovery and at a clean shutdown).
    pub snapshot_every: u64,
}

/// An open database, used by one engine.
pub struct Store {
    db: Connection,
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
    /// made with `config`: any other is refused, with both named. The one exception is the
    /// license's creation time, which is the first start's: a later start keeps the stored one.
    pub fn open(
        durability: &Durability,
        config: &EngineConfig,
        fresh: impl FnOnce(&mut Engine) -> Result<(), String>,
    ) -> Result<(Store, Recovered), String> {
        std::fs::create_dir_all(&durability.dir)
            .map_err(|e| format!("cannot create {}: {e}", durability.dir.display()))?;
        let path = durability.dir.join(FILE_NAME);
        let db_error = |e: rusqlite::Error| format!("{}: {e}", path.display());
        let mut db = Connection::open(&path).map_err(db_error)?;
        // EXCLUSIVE before WAL: the lock is taken at the first access and held until the
        // connection closes, and WAL then keeps its index in this process's memory.
        db.pragma_update(None, "locking_mode", "EXCLUSIVE")
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
            0 => tx.execute_batch(SCHEMA).map_err(db_error)?,
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
            path,
            snapshot_every: durability.snapshot_every,
            last_seq: 0,
            snapshot_seq: 0,
            next_snapshot: 0,
        };
        let recovered = match stored {
            None => store.create(config, fresh)?,
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
                if stored != asked {
                    return Err(mismatch(&store.path, &stored, &asked));
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
        let snapshots: Vec<(i64, Vec<u8>)> = {
            let mut select = self
                .db
                .prepare("SELECT seq, data FROM snapshot ORDER BY seq DESC")
                .map_err(db_error)?;
            select
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .map_err(db_error)?
                .collect::<Result<_, _>>()
                .map_err(db_error)?
        };
        let mut warnings = Vec::new();
        let mut restored = None;
        for (seq, data) in snapshots {
            let seq = to_seq(seq);
            match Engine::restore_on_threads(&data, &builtin_router, threads()) {
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
        let Some(first) = records.first() else {
            return Ok(());
        };
        if first.seq != self.last_seq + 1 {
            return Err(format!(
                "record {} would follow record {}: the journal would have a gap",
                first.seq, self.last_seq
            ));
        }
        let tx = self.db.transaction().map_err(|e| e.to_string())?;
        insert_records(&tx, records).map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
        self.last_seq = records.last().map_or(self.last_seq, |r| r.seq);
        Ok(())
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
        let data = engine.snapshot_on_threads(threads());
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

/// The refusal when the flags ask for another engine than the one stored.
fn mismatch(path: &Path, stored: &EngineConfig, asked: &EngineConfig) -> String {
    let flags = |c: &EngineConfig| {
        let mut flags = format!(
            "--seed {} --unseen-timeout {} --inactivity-timeout {}",
            c.seed, c.unseen_timeout, c.inactivity_timeout
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
    let (stored_flags, asked_flags) = (flags(stored), flags(asked));
    let (stored_text, asked_text) = if stored_flags == asked_flags {
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
