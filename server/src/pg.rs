//! `--postgres URL`: licenses on a Postgres database that several nodes share, each license
//! served by one node at a time through a lease with fencing (issue 24).
//!
//! Tables (created at the first start, under an advisory lock so that nodes starting together
//! do not race):
//!
//! * `chatio_licenses`: each license's spec ([`LicenseSpec`], as JSON) and the
//!   [`EngineConfig`] it was made with (seed and creation time included: every node that
//!   replays the journal must start from the same engine).
//! * `chatio_agent_tokens`: the SHA-256 of each agent token and its license, so that any node
//!   can tell an agent without `license_id` where its license lives.
//! * `chatio_leases`: one row per license: the owner (a node id drawn at each start), its
//!   address, the lease's `epoch`, the number of the last record written (`last_seq`) and when
//!   the lease expires, by the database's clock (nodes' clocks are never compared).
//! * `chatio_journal`: every record after the older of the two snapshots kept, keyed by license
//!   and number, with the epoch that wrote it and when.
//! * `chatio_snapshots`: the two latest snapshots of each license.
//! * `chatio_nodes`: each node's address and last heartbeat, to share licenses out.
//! * `chatio_archived_threads`: the threads `--archive-after` took out of each license's
//!   engine, keyed by license, chat and thread, as the JSON of the `Thread`. They are written
//!   by the journal write of the record that archived them, under the same fencing (below).
//!
//! **Fencing.** A journal write is one statement: it advances the lease row's `last_seq` from
//! the number this node last wrote to the new one, only where the owner, the epoch and an
//! unexpired lease are this node's, and inserts the records only if that row changed. Taking a
//! license bumps its epoch. So once another node has taken a license, or merely once the lease
//! has expired, the old owner's writes change nothing and fail; the writer then stops serving
//! the license (nothing of the failed batch is answered) and the node gives it up. The row lock
//! the update takes orders every write and every takeover, and the primary key (license,
//! number) makes a fork of the journal impossible even so.
//!
//! **Group commit** is the writer thread's, as with SQLite (`commit.rs`): one statement per
//! batch, one transaction, one WAL flush on the database.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use chatio::journal::{JournalMode, JournalRecord, Options};
use chatio::{ArchivedThread, ChatId, Engine, EngineConfig, Thread, ThreadId};
use tokio_postgres::{Client, NoTls};

use crate::archive::ArchiveRead;

use crate::commit::Journal;
use crate::config::LicenseSpec;
use crate::hub::Hub;
use crate::{Config, Server};

/// `--lease-ttl` when not given.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(10);

/// `--postgres-connections` when not given.
pub const DEFAULT_CONNECTIONS: usize = 4;

/// `--postgres` and its settings.
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// The database, as a libpq URL or key-value string.
    pub url: String,
    /// How long a lease lasts without renewal: a dead node's licenses are taken by others
    /// after about this long. Renewed every third of it.
    pub lease_ttl: Duration,
    /// Connections to the database (the licenses' writers share them).
    pub connections: usize,
    /// The address other nodes send clients to (`host:port`); default: the listen address.
    pub advertise: Option<String>,
    /// `--snapshot-every`, as with SQLite.
    pub snapshot_every: u64,
}

const SCHEMA: &str = "
BEGIN;
SELECT pg_advisory_xact_lock(7243190024);
CREATE TABLE IF NOT EXISTS chatio_licenses (
    license_id TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    engine_config TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE IF NOT EXISTS chatio_agent_tokens (
    token_sha256 TEXT PRIMARY KEY,
    license_id TEXT NOT NULL REFERENCES chatio_licenses (license_id)
);
CREATE TABLE IF NOT EXISTS chatio_leases (
    license_id TEXT PRIMARY KEY REFERENCES chatio_licenses (license_id),
    owner TEXT,
    address TEXT,
    epoch BIGINT NOT NULL DEFAULT 0,
    last_seq BIGINT NOT NULL DEFAULT 0,
    expires_at TIMESTAMPTZ NOT NULL DEFAULT '-infinity'
);
CREATE TABLE IF NOT EXISTS chatio_journal (
    license_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    epoch BIGINT NOT NULL,
    written_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    record BYTEA NOT NULL,
    PRIMARY KEY (license_id, seq)
);
CREATE TABLE IF NOT EXISTS chatio_snapshots (
    license_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    epoch BIGINT NOT NULL,
    taken_at BIGINT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (license_id, seq)
);
CREATE TABLE IF NOT EXISTS chatio_archived_threads (
    license_id TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    thread BYTEA NOT NULL,
    PRIMARY KEY (license_id, chat_id, thread_id)
);
CREATE TABLE IF NOT EXISTS chatio_nodes (
    node_id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    seen_at TIMESTAMPTZ NOT NULL
);
COMMIT;
";

/// Where a license is served.
pub(crate) enum Location {
    /// By the node at this address, whose lease is current.
    Owner(String),
    /// By nobody right now.
    Unowned,
    /// There is no such license.
    Unknown,
}

/// One license as `GET /admin/licenses` lists it.
pub(crate) struct Listed {
    pub(crate) id: String,
    pub(crate) owner: Option<String>,
    pub(crate) epoch: i64,
    pub(crate) last_seq: i64,
}

/// This node's connections to the database and its leases.
pub struct Cluster {
    /// The connections; one that broke (the database restarted, say) is replaced when next
    /// used.
    clients: Vec<std::sync::RwLock<Arc<Client>>>,
    next: AtomicUsize,
    node_id: String,
    address: OnceLock<String>,
    options: PgOptions,
    runtime: tokio::runtime::Handle,
    /// The epoch of each lease this node holds (serving, or restoring).
    held: Mutex<HashMap<String, Held>>,
    /// A license is being handed over (one at a time).
    handing_over: std::sync::atomic::AtomicBool,
}

#[derive(Clone, Copy)]
struct Held {
    epoch: i64,
    /// The lease is surely still ours until then (the renewal was sent before this point,
    /// so the database's expiry is later).
    valid_until: Instant,
}

fn db(e: tokio_postgres::Error) -> String {
    // The driver's own text is terse ("db error"): the server's message says what failed.
    match e.as_db_error() {
        Some(detail) => format!("postgres: {}: {}", detail.code().code(), detail.message()),
        None => format!("postgres: {e}"),
    }
}

/// The SHA-256 of a token, in hex: how tokens are looked up in the database.
fn token_digest(token: &str) -> String {
    crate::sha256(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn to_sql(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

fn to_seq(seq: i64) -> u64 {
    u64::try_from(seq).unwrap_or(0)
}

impl Cluster {
    /// Connects (`options.connections` connections) and creates the tables if missing.
    pub async fn connect(options: PgOptions) -> Result<Arc<Cluster>, String> {
        let mut clients = Vec::new();
        for _ in 0..options.connections.max(1) {
            clients.push(std::sync::RwLock::new(Arc::new(
                open_connection(&options.url).await?,
            )));
        }
        let first = clients[0]
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        first.batch_execute(SCHEMA).await.map_err(db)?;
        let id = getrandom::u64().map_err(|e| format!("cannot draw a node id: {e}"))?;
        Ok(Arc::new(Cluster {
            clients,
            next: AtomicUsize::new(0),
            node_id: format!("{id:016x}"),
            address: OnceLock::new(),
            options,
            runtime: tokio::runtime::Handle::current(),
            held: Mutex::new(HashMap::new()),
            handing_over: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// A connection, in turn: the licenses' writers share them. A broken one is replaced.
    async fn client(&self) -> Result<Arc<Client>, String> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let slot = &self.clients[n % self.clients.len()];
        let client = slot.read().unwrap_or_else(PoisonError::into_inner).clone();
        if !client.is_closed() {
            return Ok(client);
        }
        let fresh = Arc::new(open_connection(&self.options.url).await?);
        *slot.write().unwrap_or_else(PoisonError::into_inner) = Arc::clone(&fresh);
        tracing::info!("reconnected to postgres");
        Ok(fresh)
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The address clients are sent to: `--advertise`, or `local`.
    pub(crate) fn set_address(&self, local: std::net::SocketAddr) {
        let address = self
            .options
            .advertise
            .clone()
            .unwrap_or_else(|| local.to_string());
        if self.options.advertise.is_none() && local.ip().is_unspecified() {
            tracing::warn!(
                %local,
                "listening on every address without --advertise: other nodes will send clients \
                 to {address}, which they cannot reach; give --advertise HOST:PORT"
            );
        }
        let _ = self.address.set(address);
    }

    /// This node's address, as other nodes name it.
    pub(crate) fn address(&self) -> String {
        self.address.get().cloned().unwrap_or_default()
    }

    fn ttl_secs(&self) -> f64 {
        self.options.lease_ttl.as_secs_f64()
    }

    /// Records license `spec` (made of `template`) in the database unless it is there;
    /// `true` if it was made now. Its agent tokens must not be another license's. With
    /// `claim`, this node holds its lease from the start (epoch 1): the node that creates a
    /// license serves it, and no other node can take it in between.
    pub(crate) async fn create_license(
        &self,
        spec: &LicenseSpec,
        template: &Config,
        claim: bool,
    ) -> Result<bool, String> {
        let started = Instant::now();
        let mut config = crate::hub::license_config(template, spec)?;
        config.engine.seed = match template.seed {
            Some(seed) => seed,
            None => getrandom::u64()
                .map_err(|e| format!("cannot draw a seed from the operating system: {e}"))?,
        };
        let engine_config = serde_json::to_string(&config.engine).map_err(|e| e.to_string())?;
        let spec_text = serde_json::to_string(spec).map_err(|e| e.to_string())?;
        let tokens: Vec<String> = config
            .agents
            .iter()
            .map(|a| token_digest(&a.token))
            .collect();
        let made: i64 = self
            .client()
            .await?
            .query_one(
                "WITH l AS (
                    INSERT INTO chatio_licenses (license_id, spec, engine_config)
                    VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING license_id),
                 le AS (
                    INSERT INTO chatio_leases (license_id, owner, address, epoch, expires_at)
                    SELECT license_id, $5, $6, $7,
                        COALESCE(clock_timestamp() + make_interval(secs => $8), '-infinity')
                    FROM l),
                 t AS (INSERT INTO chatio_agent_tokens (token_sha256, license_id)
                       SELECT token, $1 FROM l, unnest($4::text[]) AS token)
                 SELECT count(*) FROM l",
                &[
                    &spec.id,
                    &spec_text,
                    &engine_config,
                    &tokens,
                    &claim.then(|| self.node_id.clone()),
                    &claim.then(|| self.address()),
                    &i64::from(claim),
                    &claim.then(|| self.ttl_secs()),
                ],
            )
            .await
            .map_err(|e| {
                if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
                    format!(
                        "license {}: one of its agent tokens is another license's",
                        spec.id
                    )
                } else {
                    db(e)
                }
            })?
            .get(0);
        if made > 0 && claim {
            let valid_until = started + self.options.lease_ttl;
            self.held().insert(
                spec.id.clone(),
                Held {
                    epoch: 1,
                    valid_until,
                },
            );
        }
        Ok(made > 0)
    }

    /// Where license `id` is served.
    pub(crate) async fn locate(&self, id: &str) -> Result<Location, String> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT address, expires_at > clock_timestamp() FROM chatio_leases \
                 WHERE license_id = $1",
                &[&id],
            )
            .await
            .map_err(db)?;
        Ok(match row {
            None => Location::Unknown,
            Some(row) => match (row.get::<_, Option<String>>(0), row.get::<_, bool>(1)) {
                (Some(address), true) => Location::Owner(address),
                _ => Location::Unowned,
            },
        })
    }

    /// The license whose agent logs in with `token`.
    pub(crate) async fn license_of_token(&self, token: &str) -> Result<Option<String>, String> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT license_id FROM chatio_agent_tokens WHERE token_sha256 = $1",
                &[&token_digest(token)],
            )
            .await
            .map_err(db)?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Every license, its owner (if its lease is current), epoch and last record.
    pub(crate) async fn list(&self) -> Result<Vec<Listed>, String> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT license_id, CASE WHEN expires_at > clock_timestamp() THEN address END, \
                 epoch, last_seq FROM chatio_leases ORDER BY license_id",
                &[],
            )
            .await
            .map_err(db)?;
        Ok(rows
            .iter()
            .map(|r| Listed {
                id: r.get(0),
                owner: r.get(1),
                epoch: r.get(2),
                last_seq: r.get(3),
            })
            .collect())
    }

    /// Takes the leases of up to `n` licenses nobody holds: their ids and new epochs.
    async fn claim(&self, n: i64) -> Result<Vec<(String, i64)>, String> {
        let started = Instant::now();
        let rows = self
            .client()
            .await?
            .query(
                "UPDATE chatio_leases SET owner = $1, address = $2, epoch = epoch + 1,
                     expires_at = clock_timestamp() + make_interval(secs => $3)
                 WHERE license_id IN (
                     SELECT license_id FROM chatio_leases
                     WHERE expires_at < clock_timestamp()
                     ORDER BY random() LIMIT $4 FOR UPDATE SKIP LOCKED)
                   AND expires_at < clock_timestamp()
                 RETURNING license_id, epoch",
                &[&self.node_id, &self.address(), &self.ttl_secs(), &n],
            )
            .await
            .map_err(db)?;
        let valid_until = started + self.options.lease_ttl;
        let mut held = self.held();
        Ok(rows
            .iter()
            .map(|r| {
                let (id, epoch): (String, i64) = (r.get(0), r.get(1));
                held.insert(id.clone(), Held { epoch, valid_until });
                (id, epoch)
            })
            .collect())
    }

    /// Renews every lease this node holds; returns those it still holds.
    async fn renew(&self) -> Result<HashSet<String>, String> {
        let started = Instant::now();
        let (ids, epochs): (Vec<String>, Vec<i64>) = self
            .held()
            .iter()
            .map(|(id, h)| (id.clone(), h.epoch))
            .unzip();
        let rows = self
            .client()
            .await?
            .query(
                "UPDATE chatio_leases l SET expires_at = clock_timestamp() + make_interval(secs => $2)
                 FROM unnest($3::text[], $4::bigint[]) AS h(license_id, epoch)
                 WHERE l.license_id = h.license_id AND l.epoch = h.epoch AND l.owner = $1
                   AND l.expires_at > clock_timestamp()
                 RETURNING l.license_id",
                &[&self.node_id, &self.ttl_secs(), &ids, &epochs],
            )
            .await
            .map_err(db)?;
        let kept: HashSet<String> = rows.iter().map(|r| r.get(0)).collect();
        let valid_until = started + self.options.lease_ttl;
        let mut held = self.held();
        held.retain(|id, _| kept.contains(id));
        for h in held.values_mut() {
            h.valid_until = valid_until;
        }
        Ok(kept)
    }

    /// Gives up the leases of `ids` (they expire now), so that other nodes take them at once.
    async fn release(&self, ids: &[String]) {
        let (ids, epochs): (Vec<String>, Vec<i64>) = {
            let mut held = self.held();
            ids.iter()
                .filter_map(|id| held.remove(id).map(|h| (id.clone(), h.epoch)))
                .unzip()
        };
        if ids.is_empty() {
            return;
        }
        let released = match self.client().await {
            Ok(client) => client
                .execute(
                    "UPDATE chatio_leases l SET expires_at = clock_timestamp() - interval '1 second'
                     FROM unnest($2::text[], $3::bigint[]) AS h(license_id, epoch)
                     WHERE l.license_id = h.license_id AND l.epoch = h.epoch AND l.owner = $1",
                    &[&self.node_id, &ids, &epochs],
                )
                .await
                .map_err(db),
            Err(e) => Err(e),
        };
        if let Err(e) = released {
            tracing::warn!(error = %e, "cannot give up leases; they expire on their own");
        }
    }

    /// At a clean shutdown: gives up the leases of the licenses served here, whose last
    /// commits and snapshots are written, and leaves the list of live nodes.
    pub(crate) async fn release_all(&self, ids: &[String]) {
        self.release(ids).await;
        if let Ok(client) = self.client().await {
            let _ = client
                .execute(
                    "DELETE FROM chatio_nodes WHERE node_id = $1",
                    &[&self.node_id],
                )
                .await;
        }
    }

    /// How many more licenses this node should take: its share of all of them among the
    /// live nodes, less those it holds.
    async fn wanted(&self) -> Result<i64, String> {
        self.client()
            .await?
            .execute(
                "INSERT INTO chatio_nodes (node_id, address, seen_at) \
                 VALUES ($1, $2, clock_timestamp()) \
                 ON CONFLICT (node_id) DO UPDATE SET address = $2, seen_at = clock_timestamp()",
                &[&self.node_id, &self.address()],
            )
            .await
            .map_err(db)?;
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT (SELECT count(*) FROM chatio_licenses),
                        (SELECT count(*) FROM chatio_nodes
                         WHERE seen_at > clock_timestamp() - make_interval(secs => $1))",
                &[&self.ttl_secs()],
            )
            .await
            .map_err(db)?;
        let (licenses, nodes): (i64, i64) = (row.get(0), row.get(1));
        let share = (licenses + nodes.max(1) - 1) / nodes.max(1);
        let held = i64::try_from(self.held().len()).unwrap_or(i64::MAX);
        Ok(share - held)
    }

    /// Restores license `id` (its lease taken at `epoch`): the newest snapshot that reads and
    /// the journal after it, or a new engine if it has neither; then brings it in line with
    /// the configuration (agents offline, new agents added), writes those records under the
    /// lease, and a snapshot if records were replayed. Blocking: run it off the runtime.
    fn restore(
        self: &Arc<Self>,
        id: &str,
        epoch: i64,
        template: &Config,
    ) -> Result<Server, String> {
        let started = Instant::now();
        let rt = &self.runtime;
        let client = rt.block_on(self.client())?;
        let row = rt
            .block_on(client.query_one(
                "SELECT l.spec, l.engine_config, s.last_seq FROM chatio_licenses l \
                 JOIN chatio_leases s USING (license_id) WHERE license_id = $1",
                &[&id],
            ))
            .map_err(db)?;
        let (spec, stored, last_seq): (String, String, i64) = (row.get(0), row.get(1), row.get(2));
        let spec: LicenseSpec = serde_json::from_str(&spec).map_err(|e| format!("spec: {e}"))?;
        let stored: EngineConfig =
            serde_json::from_str(&stored).map_err(|e| format!("engine config: {e}"))?;
        let mut config = crate::hub::license_config(template, &spec)?;
        config.engine = stored.clone();
        let snapshots = rt
            .block_on(client.query(
                "SELECT seq, data FROM chatio_snapshots WHERE license_id = $1 ORDER BY seq DESC",
                &[&id],
            ))
            .map_err(db)?;
        let mut report = Vec::new();
        let mut restored = None;
        for row in &snapshots {
            let seq = to_seq(row.get(0));
            let data: &[u8] = row.get(1);
            match Engine::restore_with(data, &Options::default().threads(crate::store::threads())) {
                Ok(engine) if engine.journal_seq() == seq => {
                    restored = Some((engine, seq));
                    break;
                }
                Ok(_) => report.push(format!(
                    "warning: the snapshot at record {seq} is at another"
                )),
                Err(e) => report.push(format!("warning: the snapshot at record {seq}: {e}")),
            }
        }
        let fresh = restored.is_none() && last_seq == 0;
        let (mut engine, snapshot_seq) = restored.unwrap_or_else(|| (Engine::new(stored), 0));
        let rows = rt
            .block_on(client.query(
                "SELECT seq, record FROM chatio_journal WHERE license_id = $1 AND seq > $2 \
                 ORDER BY seq",
                &[&id, &to_sql(snapshot_seq)],
            ))
            .map_err(db)?;
        let replayed = rows.len();
        for row in &rows {
            let seq = to_seq(row.get(0));
            let bytes: &[u8] = row.get(1);
            let record = JournalRecord::decode(bytes).map_err(|e| format!("record {seq}: {e}"))?;
            engine
                .apply(record)
                .map_err(|e| format!("record {seq}: {e}"))?;
        }
        if engine.journal_seq() != to_seq(last_seq) {
            return Err(format!(
                "license {id}: the journal ends at record {} but the lease says {last_seq}",
                engine.journal_seq()
            ));
        }
        engine.set_journal_mode(JournalMode::Hold);
        if fresh {
            config.init(&mut engine)?;
            report.push(format!("license {id}: new"));
        } else {
            report.extend(config.settle(&mut engine)?);
            report.push(format!(
                "license {id}: restored at epoch {epoch}: snapshot at record {snapshot_seq}, \
                 {replayed} record(s) replayed, {} chat(s), in {} ms",
                engine.chat_count(),
                started.elapsed().as_millis()
            ));
        }
        let mut journal = PgJournal {
            cluster: Arc::clone(self),
            license: id.to_string(),
            epoch,
            last_seq: to_seq(last_seq),
            snapshot_seq,
            next_snapshot: 0,
            snapshot_every: self.options.snapshot_every,
        };
        journal.next_snapshot = journal.after(snapshot_seq);
        journal.append(&engine.take_journal(), &[])?;
        if replayed > 0 {
            let data = engine.snapshot_with(&Options::default().threads(crate::store::threads()));
            journal.write_snapshot(engine.journal_seq(), engine.now().unix_seconds(), data)?;
        }
        Ok(Server::from_parts(
            config,
            engine,
            Box::new(journal),
            report,
        ))
    }
}

/// A license's archived threads on Postgres, read by queries.
struct PgArchive {
    cluster: Arc<Cluster>,
    license: String,
}

impl ArchiveRead for PgArchive {
    fn read(&mut self, keys: &[(ChatId, ThreadId)]) -> Result<Vec<ArchivedThread>, String> {
        let chat_ids: Vec<String> = keys.iter().map(|(c, _)| c.to_string()).collect();
        let thread_ids: Vec<String> = keys.iter().map(|(_, t)| t.to_string()).collect();
        let (cluster, license) = (&self.cluster, &self.license);
        let query = async {
            let rows = cluster
                .client()
                .await?
                .query(
                    "SELECT a.chat_id, a.thread_id, a.thread FROM chatio_archived_threads a
                     JOIN unnest($2::text[], $3::text[]) AS k(chat_id, thread_id)
                       ON a.chat_id = k.chat_id AND a.thread_id = k.thread_id
                     WHERE a.license_id = $1",
                    &[license, &chat_ids, &thread_ids],
                )
                .await
                .map_err(db)?;
            Ok::<_, String>(rows)
        };
        // Queries run under the engine's lock on a runtime thread: the database is asked from
        // a thread of its own, which may block on the runtime.
        let limit = self.cluster.options.lease_ttl;
        let runtime = &self.cluster.runtime;
        let rows = std::thread::scope(|s| {
            s.spawn(|| {
                runtime.block_on(async {
                    tokio::time::timeout(limit, query)
                        .await
                        .unwrap_or_else(|_| Err("postgres: no answer in time".into()))
                })
            })
            .join()
            .unwrap_or_else(|_| Err("the archive reader stopped".into()))
        })?;
        let mut found = Vec::with_capacity(rows.len());
        for row in rows {
            let (chat, thread, json): (String, String, Vec<u8>) =
                (row.get(0), row.get(1), row.get(2));
            let chat_id: ChatId = chat.parse().map_err(|e| format!("chat {chat}: {e}"))?;
            let thread: Thread = serde_json::from_slice(&json)
                .map_err(|e| format!("thread {thread} of chat {chat}: {e}"))?;
            found.push(ArchivedThread::new(chat_id, thread));
        }
        if found.len() != keys.len() {
            return Err(format!(
                "{} of {} archived threads are not in the database",
                keys.len() - found.len(),
                keys.len()
            ));
        }
        Ok(found)
    }
}

/// One connection to the database, its driver running on the runtime.
async fn open_connection(url: &str) -> Result<Client, String> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| format!("cannot connect to --postgres: {}", db(e)))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "a postgres connection ended; it is replaced when next used");
        }
    });
    Ok(client)
}

/// Restores license `id`, taken at `epoch`, and serves it; on failure gives the lease up.
async fn open(hub: Arc<Hub>, pg: Arc<Cluster>, id: String, epoch: i64) -> Result<(), String> {
    let restored = {
        let (pg, id, template) = (Arc::clone(&pg), id.clone(), hub.template_config());
        tokio::task::spawn_blocking(move || pg.restore(&id, epoch, &template))
            .await
            .unwrap_or_else(|e| Err(format!("restoring failed: {e}")))
    };
    match restored {
        Ok(server) => {
            for line in server.report() {
                tracing::info!("{line}");
            }
            hub.insert(id, server);
            Ok(())
        }
        Err(e) => {
            tracing::error!(license = %id, error = %e, "cannot restore the license; giving it up");
            pg.release(std::slice::from_ref(&id)).await;
            Err(e)
        }
    }
}

/// `POST /admin/licenses` with `--postgres`: records the license, takes its lease and serves it
/// here.
pub(crate) async fn create_and_serve(
    hub: &Arc<Hub>,
    pg: &Arc<Cluster>,
    spec: &LicenseSpec,
) -> Result<(), String> {
    if !pg
        .create_license(spec, &hub.template_config(), true)
        .await?
    {
        return Err(format!("license {} exists", spec.id));
    }
    open(Arc::clone(hub), Arc::clone(pg), spec.id.clone(), 1).await
}

/// The lease keeper of a node: every third of `--lease-ttl`, renews the leases held, stops
/// serving licenses whose lease was lost (or could not be renewed in time), and takes licenses
/// nobody holds, up to the node's share. Once the node is stopping it takes no more, and it
/// keeps renewing until every license has finished (its last commit and snapshot written).
pub(crate) async fn manage(hub: Arc<Hub>, pg: Arc<Cluster>) {
    let period = pg.options.lease_ttl / 3;
    let stop = hub.stop_signal();
    let mut finished = hub.finished.subscribe();
    loop {
        // Lost licenses (a failed write): give them up so that they move at once.
        let lost = hub.take_lost();
        if !lost.is_empty() {
            pg.release(&lost).await;
        }
        match pg.renew().await {
            Ok(kept) => {
                for id in hub.served() {
                    if !kept.contains(&id) {
                        hub.lose(
                            &id,
                            "its lease was lost (expired, or taken by another node)",
                        );
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot renew the leases");
                let now = Instant::now();
                let expired: Vec<String> = pg
                    .held()
                    .iter()
                    .filter(|(_, h)| h.valid_until <= now)
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in expired {
                    pg.held().remove(&id);
                    hub.lose(&id, "its lease could not be renewed in time");
                }
            }
        }
        if !*stop.borrow() {
            match pg.wanted().await {
                Ok(n) if n > 0 => match pg.claim(n).await {
                    Ok(claimed) => {
                        for (id, epoch) in claimed {
                            tracing::info!(license = %id, epoch, "lease taken; restoring");
                            tokio::spawn(open(Arc::clone(&hub), Arc::clone(&pg), id, epoch));
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot take leases"),
                },
                Ok(n) if n < 0 => hand_over(&hub, &pg),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot count licenses and nodes"),
            }
        }
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            _ = finished.wait_for(|&f| f) => return,
        }
    }
}

/// A node over its share (another node joined): hands one license over, cleanly, at a time.
/// The license's connections close (clients reconnect and are sent to the new owner), what
/// waits is committed and a snapshot taken, all under the lease (which the keeper goes on
/// renewing meanwhile), and only then is the lease given up, for a node under its share to
/// take at its next round.
fn hand_over(hub: &Arc<Hub>, pg: &Arc<Cluster>) {
    if pg.handing_over.swap(true, Ordering::SeqCst) {
        return;
    }
    let Some((id, run)) = hub.take_one() else {
        pg.handing_over.store(false, Ordering::SeqCst);
        return;
    };
    tracing::info!(license = %id, "over this node's share: handing the license over");
    let pg = Arc::clone(pg);
    tokio::spawn(async move {
        run.finish().await;
        pg.release(std::slice::from_ref(&id)).await;
        pg.handing_over.store(false, Ordering::SeqCst);
    });
}

/// A license's journal on Postgres, written under its lease (see the module's docs).
pub(crate) struct PgJournal {
    cluster: Arc<Cluster>,
    license: String,
    epoch: i64,
    last_seq: u64,
    snapshot_seq: u64,
    next_snapshot: u64,
    snapshot_every: u64,
}

impl PgJournal {
    /// As `Store::after`: the next periodic snapshot's record.
    fn after(&self, seq: u64) -> u64 {
        seq.saturating_add(self.snapshot_every.max(seq))
    }

    /// Runs a statement from the writer thread, within the lease's time: a database that does
    /// not answer by then cannot be trusted to have written or not.
    fn run<T>(&self, f: impl std::future::Future<Output = Result<T, String>>) -> Result<T, String> {
        let limit = self.cluster.options.lease_ttl;
        self.cluster.runtime.block_on(async {
            match tokio::time::timeout(limit, f).await {
                Ok(result) => result,
                Err(_) => Err(format!("postgres: no answer within {} s", limit.as_secs())),
            }
        })
    }
}

impl Journal for PgJournal {
    fn archive_reader(&self) -> Result<Box<dyn ArchiveRead>, String> {
        Ok(Box::new(PgArchive {
            cluster: Arc::clone(&self.cluster),
            license: self.license.clone(),
        }))
    }

    fn append(
        &mut self,
        records: &[JournalRecord],
        archived: &[ArchivedThread],
    ) -> Result<(), String> {
        let (Some(first), Some(last)) = (records.first(), records.last()) else {
            return Ok(());
        };
        if first.seq != self.last_seq + 1 {
            return Err(format!(
                "record {} would follow record {}: the journal would have a gap",
                first.seq, self.last_seq
            ));
        }
        let seqs: Vec<i64> = records.iter().map(|r| to_sql(r.seq)).collect();
        let blobs: Vec<Vec<u8>> = records.iter().map(JournalRecord::encode).collect();
        let (license, node, epoch) = (&self.license, &self.cluster.node_id, self.epoch);
        let (new_last, old_last) = (to_sql(last.seq), to_sql(self.last_seq));
        let chat_ids: Vec<String> = archived.iter().map(|t| t.chat_id.to_string()).collect();
        let thread_ids: Vec<String> = archived.iter().map(|t| t.thread.id.to_string()).collect();
        let threads: Vec<Vec<u8>> = archived
            .iter()
            .map(|t| serde_json::to_vec(&t.thread))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        let cluster = &self.cluster;
        let inserted = self.run(async {
            cluster
                .client()
                .await?
                .execute(
                    // The archived threads go in only where the lease let the records in.
                    "WITH lease AS (
                         UPDATE chatio_leases SET last_seq = $4
                         WHERE license_id = $1 AND owner = $2 AND epoch = $3 AND last_seq = $5
                           AND expires_at > clock_timestamp()
                         RETURNING 1),
                     archived AS (
                         INSERT INTO chatio_archived_threads (license_id, chat_id, thread_id, thread)
                         SELECT $1, a.chat_id, a.thread_id, a.thread
                         FROM lease, unnest($8::text[], $9::text[], $10::bytea[])
                             AS a(chat_id, thread_id, thread)
                         ON CONFLICT (license_id, chat_id, thread_id)
                             DO UPDATE SET thread = EXCLUDED.thread)
                     INSERT INTO chatio_journal (license_id, seq, epoch, record)
                     SELECT $1, r.seq, $3, r.record
                     FROM lease, unnest($6::bigint[], $7::bytea[]) AS r(seq, record)",
                    &[
                        license,
                        node,
                        &epoch,
                        &new_last,
                        &old_last,
                        &seqs,
                        &blobs,
                        &chat_ids,
                        &thread_ids,
                        &threads,
                    ],
                )
                .await
                .map_err(db)
        })?;
        if inserted != records.len() as u64 {
            return Err(format!(
                "fenced: license {}'s lease at epoch {} is no longer this node's (expired or \
                 taken), or its journal moved past record {}; nothing was written",
                self.license, self.epoch, self.last_seq
            ));
        }
        self.last_seq = last.seq;
        Ok(())
    }

    fn wants_snapshot(&self) -> bool {
        self.snapshot_every > 0 && self.last_seq >= self.next_snapshot
    }

    fn snapshot_started(&mut self, seq: u64) {
        self.next_snapshot = self.after(seq);
    }

    fn write_snapshot(&mut self, seq: u64, taken_at: i64, data: Vec<u8>) -> Result<(), String> {
        if seq > self.last_seq {
            return Err(format!(
                "the snapshot is at record {seq}, the journal only at {}",
                self.last_seq
            ));
        }
        if seq <= self.snapshot_seq {
            return Ok(());
        }
        self.next_snapshot = self.next_snapshot.max(self.after(seq));
        let (license, node, epoch, at) = (
            &self.license,
            &self.cluster.node_id,
            self.epoch,
            to_sql(seq),
        );
        let cluster = &self.cluster;
        // Under the lease too; the two latest kept, and the journal after the older one.
        let row = self.run(async {
            cluster
                .client()
                .await?
                .query_one(
                    "WITH lease AS (
                     SELECT 1 FROM chatio_leases
                     WHERE license_id = $1 AND owner = $2 AND epoch = $3
                       AND expires_at > clock_timestamp()
                     FOR UPDATE),
                 prev AS (SELECT max(seq) AS seq FROM chatio_snapshots WHERE license_id = $1),
                 ins AS (
                     INSERT INTO chatio_snapshots (license_id, seq, epoch, taken_at, data)
                     SELECT $1, $4, $3, $5, $6 FROM lease
                     ON CONFLICT DO NOTHING RETURNING seq),
                 ds AS (
                     DELETE FROM chatio_snapshots WHERE license_id = $1
                       AND seq < (SELECT seq FROM prev) AND EXISTS (SELECT 1 FROM ins)),
                 dj AS (
                     DELETE FROM chatio_journal WHERE license_id = $1
                       AND seq <= (SELECT seq FROM prev) AND (SELECT seq FROM prev) < $4
                       AND EXISTS (SELECT 1 FROM ins))
                 SELECT count(*) FROM ins",
                    &[license, node, &epoch, &at, &taken_at, &data],
                )
                .await
                .map_err(db)
        })?;
        let written: i64 = row.get(0);
        if written == 0 {
            return Err(format!(
                "no snapshot: license {}'s lease at epoch {} is no longer this node's",
                self.license, self.epoch
            ));
        }
        self.snapshot_seq = seq;
        Ok(())
    }

    fn has_unsnapshotted_before(&self, seq: u64) -> bool {
        seq > self.snapshot_seq
    }

    fn describe(&self) -> String {
        format!("postgres license {} (epoch {})", self.license, self.epoch)
    }

    fn failure_is_fatal(&self) -> bool {
        false
    }
}
