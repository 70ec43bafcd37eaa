//! `chatio-server`: the chat.io v0.5 RTM API (WebSocket) and Web API (HTTP) over one
//! [`chatio`] engine, for real clients.
//!
//! The binary (`chatio-server`, see [`cli`] and `server/README.md`) is one way to run it; a
//! host with its own axum application mounts the routes instead:
//!
//! ```no_run
//! # async fn host() -> Result<(), String> {
//! use chatio_server::{Config, Server};
//! let server = Server::open(Config::default(), None)?;          // or with `--data`'s Durability
//! let (routes, running) = server.start();
//! let app = axum::Router::new().nest("/chat", routes);          // the host's own routes beside
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.map_err(|e| e.to_string())?;
//! axum::serve(listener, app)
//!     .with_graceful_shutdown(running.stop_on(async { let _ = tokio::signal::ctrl_c().await; }))
//!     .await
//!     .map_err(|e| e.to_string())?;
//! running.finish().await;                                      // last snapshot with `--data`
//! # Ok(()) }
//! ```
//!
//! (A host that mounts the routes should set `TCP_NODELAY` on its accepted sockets, as
//! [`Server::serve`] does; without it every response waits for the client's delayed ACK. It
//! gets only the [`Limits`] that live in the routes: the login deadline, each WebSocket's
//! request rate, the body deadline, backoff by token. Connection caps, the header deadline,
//! shedding and the limits per address are [`Server::serve`]'s accept loop.)
//!
//! How it is put together:
//!
//! * One [`Engine`] per license, each behind its own mutex, held for the synchronous engine
//!   call and the queueing of its output, never across an `.await`. Queueing under the lock
//!   keeps every connection's messages in the engine's order. A node serves any number of
//!   licenses ([`hub`]); with `--postgres` ([`pg`]) nodes share them through leases.
//! * Every connection has a backlog bounded in bytes and a writer task that sends all that is
//!   queued and flushes once (`conn.rs`). A client that stops reading is disconnected after
//!   the stall timeout with an `agent_disconnected` / `customer_disconnected` push whose reason
//!   is [`REASON_BACKLOG_STALLED`]; a client that reads promptly never is.
//! * Pushes are rendered once per engine call; every connection they go to shares the text.
//! * With `--data` ([`Durability`]) a writer thread commits every journal record waiting since
//!   its last commit in one transaction and only then releases the responses and pushes of
//!   that batch, in engine order (`commit.rs`); the engine keeps serving meanwhile.
//! * A timer task sleeps until [`Engine::next_deadline`] and ticks the engine.
//! * Time is the wall clock, in whole seconds.
//! * `GET /metrics` answers the Prometheus text format ([`metrics`]); logs go through
//!   `tracing`.

#![forbid(unsafe_code)]

mod archive;
pub use archive::parse_age;
pub mod cli;
mod commit;
pub mod config;
mod conn;
mod files;
pub mod hub;
pub mod limits;
mod listen;
pub mod loadgen;
pub mod metrics;
pub mod pg;
mod rtm;
pub mod store;
mod token;
mod web;
pub mod webhooks;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chatio::journal::JournalMode;
use chatio::model::PropertyConfig;
use chatio::routing::{AutomaticRouter, LeastLoadedRouter, ManualRouter, RoundRobinRouter};
use chatio::wire::Api;
use chatio::{Agent, Engine, EngineConfig, ErrorKind, Permission, Scopes, Timestamp, UserId};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

pub use commit::REASON_LOGGED_OUT_REMOTELY;
use commit::{BoxJournal, CommitQueue, Registry, Release};
pub use conn::REASON_BACKLOG_STALLED;
pub use limits::Limits;
use limits::{Backoff, KeyedBuckets, Verdict};
use metrics::Metrics;
pub use store::Durability;
use store::Store;
pub use token::{customer_id_for, sha256};

/// The only protocol version served.
pub const VERSION: &str = "v0.5";

/// The largest WebSocket frame or message, and the largest Web API body, accepted: 1 MiB.
pub const MAX_MESSAGE: usize = 1 << 20;

/// `--max-backlog` when not given: 16 MiB per connection.
pub const DEFAULT_MAX_BACKLOG: usize = 16 << 20;

/// `--stall-timeout` when not given.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest the timer task sleeps without looking at the clock again.
const MAX_NAP: Duration = Duration::from_secs(30);

/// How long a closing WebSocket waits for its last messages to be written.
const DRAIN: Duration = Duration::from_secs(5);

/// Which built-in router the engine consults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RouterKind {
    /// chat.io's automatic routing (most free slots).
    #[default]
    Automatic,
    /// chat.io's manual routing: chats wait until an agent replies.
    Manual,
    /// Automatic, to the agent with the fewest chats.
    LeastLoaded,
    /// Automatic, to the agent who waited longest.
    RoundRobin,
}

impl RouterKind {
    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            RouterKind::Automatic => "automatic",
            RouterKind::Manual => "manual",
            RouterKind::LeastLoaded => "least_loaded",
            RouterKind::RoundRobin => "round_robin",
        }
    }
}

impl FromStr for RouterKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "automatic" => Ok(RouterKind::Automatic),
            "manual" => Ok(RouterKind::Manual),
            "least_loaded" => Ok(RouterKind::LeastLoaded),
            "round_robin" => Ok(RouterKind::RoundRobin),
            other => Err(format!(
                "unknown router {other:?} (automatic, manual, least_loaded, round_robin)"
            )),
        }
    }
}

/// An agent and the token it logs in with.
#[derive(Clone, Debug)]
pub struct AgentLogin {
    /// The secret the agent presents (`login`'s `token`, or `Authorization: Bearer`).
    pub token: String,
    /// The agent's profile.
    pub agent: Agent,
}

/// One auto chat scopes configuration to set up on a new engine.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoScopes {
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
    /// The scopes matching chats get.
    pub scopes: Scopes,
    /// When a chat matches.
    pub rules: chatio::AutoScopeRules,
}

/// What the server serves.
#[derive(Clone, Debug)]
pub struct Config {
    /// The agents of the license.
    pub agents: Vec<AgentLogin>,
    /// The router.
    pub router: RouterKind,
    /// The engine's settings (routing timeouts, license; its `seed` is set by
    /// [`Config::seed`]'s choice when the server opens).
    pub engine: EngineConfig,
    /// The engine's seed: `None` (the default) draws it from the operating system when the
    /// engine is new, and a stored engine keeps the one it was made with; `Some(n)` fixes it
    /// (for tests and replays: ids are then predictable), and stored data made with another
    /// is refused.
    pub seed: Option<u64>,
    /// Accept agent tokens that [`weak_token`] calls weak (for tests and demos only).
    pub allow_weak_tokens: bool,
    /// Properties configured on a new engine (and on a stored one that lacks them).
    pub properties: Vec<PropertyConfig>,
    /// Auto chat scopes set up on a new engine.
    pub auto_chat_scopes: Vec<AutoScopes>,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// The byte bound of each connection's backlog (see [`REASON_BACKLOG_STALLED`]).
    pub max_backlog: usize,
    /// How long a backlog may stay over `max_backlog` before the connection is dropped.
    pub stall_timeout: Duration,
    /// Connection caps, deadlines and rate limits.
    pub limits: Limits,
    /// The address clients reach this server at (`https://chat.example.com`), for the URLs of
    /// uploaded files; `None`: `http://` and the upload request's `Host` header.
    pub public_url: Option<String>,
    /// What the customer's `login` answers as `static_config_path` (where the host publishes
    /// the license's static configuration); `None`: the field is left out.
    pub static_config_path: Option<String>,
    /// One session per agent: an agent's login closes its older connections, each told
    /// `agent_disconnected` with reason `logged_out_remotely` (v0.5's reason for it).
    pub single_session: bool,
    /// Certificate authorities trusted for `https://` webhooks besides the public ones
    /// (`--webhook-ca`; read with [`webhooks::read_authorities`]).
    pub webhook_authorities: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// `--archive-after`: closed threads older than this leave the engine's memory for the
    /// store (`--data` or `--postgres`; off without one). `None` (the default): never.
    pub archive_after: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            agents: Vec::new(),
            router: RouterKind::Automatic,
            engine: EngineConfig::default(),
            seed: None,
            allow_weak_tokens: false,
            properties: Vec::new(),
            auto_chat_scopes: Vec::new(),
            idle_timeout: Duration::from_secs(60),
            max_backlog: DEFAULT_MAX_BACKLOG,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            limits: Limits::default(),
            public_url: None,
            static_config_path: None,
            single_session: false,
            webhook_authorities: Vec::new(),
            archive_after: None,
        }
    }
}

impl Config {
    /// Checks the agents: every token given, none weak (unless allowed), and no two alike.
    pub fn check(&self) -> Result<(), String> {
        let mut tokens = HashMap::new();
        for login in &self.agents {
            if login.token.is_empty() {
                return Err(format!(
                    "agent {} has no token (give it with --agent, --agent-token-file, \
                     CHATIO_AGENT_TOKENS or the config file)",
                    login.agent.id
                ));
            }
            if let Some(why) = weak_token(&login.token)
                && !self.allow_weak_tokens
            {
                return Err(format!(
                    "agent {}: its token is weak ({why}); use a long random one, e.g. \
                     `head -c 24 /dev/urandom | base64` (or --allow-weak-tokens, for tests \
                     and demos only)",
                    login.agent.id
                ));
            }
            if let Some(other) = tokens.insert(login.token.as_str(), &login.agent.id) {
                return Err(format!(
                    "agents {other} and {} share a token",
                    login.agent.id
                ));
            }
        }
        if !self.auto_chat_scopes.is_empty() && self.admin().is_none() {
            return Err(
                "auto chat scopes need an agent with permission owner or administrator".to_string(),
            );
        }
        Ok(())
    }

    /// The router the configuration names.
    fn router(&self) -> Arc<dyn chatio::routing::Router> {
        match self.router {
            RouterKind::Automatic => Arc::new(AutomaticRouter::default()),
            RouterKind::Manual => Arc::new(ManualRouter),
            RouterKind::LeastLoaded => Arc::new(LeastLoadedRouter),
            RouterKind::RoundRobin => Arc::new(RoundRobinRouter),
        }
    }

    /// The agent that sets up auto chat scopes (it needs `auto_chat_scopes:write`).
    fn admin(&self) -> Option<&UserId> {
        self.agents
            .iter()
            .find(|a| {
                matches!(
                    a.agent.permission,
                    Permission::Owner | Permission::Administrator
                )
            })
            .map(|a| &a.agent.id)
    }

    /// Sets the router, registers the agents and configures properties and auto chat scopes
    /// on a new engine.
    pub(crate) fn init(&self, engine: &mut Engine) -> Result<(), String> {
        engine.set_router(self.router());
        for login in &self.agents {
            engine
                .add_agent(login.agent.clone())
                .map_err(|e| format!("agent {}: {e}", login.agent.id))?;
        }
        for property in &self.properties {
            engine
                .configure_property(property.clone())
                .map_err(|e| format!("property {}.{}: {e}", property.namespace, property.name))?;
        }
        if let Some(admin) = self.admin() {
            let now = now();
            for (i, auto) in self.auto_chat_scopes.iter().enumerate() {
                let _ = engine
                    .as_agent(admin, now)
                    .and_then(|mut api| {
                        api.add_auto_chat_scopes(
                            auto.description.clone(),
                            auto.scopes.clone(),
                            auto.rules.clone(),
                        )
                    })
                    .map_err(|e| format!("auto chat scopes #{}: {e}", i + 1))?;
            }
        }
        Ok(())
    }

    /// [`reconcile`](Self::reconcile), then sets every agent offline (a process that just
    /// started has no connections; nobody is connected yet to hear of it, so the pushes go
    /// nowhere). Returns notes for the log.
    pub(crate) fn settle(&self, engine: &mut Engine) -> Result<Vec<String>, String> {
        let notes = self.reconcile(engine)?;
        let now = now();
        let online: Vec<UserId> = engine
            .agents()
            .iter()
            // A bot has no connection: its status is what the Configuration API set.
            .filter(|a| a.kind != chatio::AgentKind::Bot)
            .filter(|a| engine.agent_status(&a.id).is_some_and(|s| s.online))
            .map(|a| a.id.clone())
            .collect();
        for id in &online {
            let _ = engine
                .set_agent_presence(id, false, now)
                .map_err(|e| format!("agent {id}: {e}"))?;
        }
        Ok(notes)
    }

    /// Brings a recovered engine in line with this start's configuration: agents and properties
    /// it does not have are added and the router is switched (all journaled). Returns notes for
    /// the log.
    fn reconcile(&self, engine: &mut Engine) -> Result<Vec<String>, String> {
        let mut notes = Vec::new();
        for login in &self.agents {
            let id = &login.agent.id;
            match engine.agent(id) {
                None => {
                    engine
                        .add_agent(login.agent.clone())
                        .map_err(|e| format!("agent {id}: {e}"))?;
                    notes.push(format!("agent {id} added"));
                }
                Some(stored) if *stored != login.agent => notes.push(format!(
                    "agent {id}: the stored profile stays; name, groups and max chats from \
                     --agent apply only to a new agent"
                )),
                Some(_) => {}
            }
        }
        for agent in engine.agents() {
            if !self.agents.iter().any(|a| a.agent.id == agent.id) {
                notes.push(format!(
                    "agent {} is in the data but has no --agent token: it cannot log in",
                    agent.id
                ));
            }
        }
        for property in &self.properties {
            let stored = engine
                .property_registry()
                .get(&property.namespace, &property.name);
            if stored != Some(property) {
                engine.configure_property(property.clone()).map_err(|e| {
                    format!("property {}.{}: {e}", property.namespace, property.name)
                })?;
                notes.push(format!(
                    "property {}.{} configured",
                    property.namespace, property.name
                ));
            }
        }
        if !self.auto_chat_scopes.is_empty() {
            notes.push(
                "auto chat scopes of the configuration apply to new data only; the stored ones \
                 stay (change them with add_auto_chat_scopes / remove_auto_chat_scopes)"
                    .to_string(),
            );
        }
        let stored = engine.router().map(|r| r.name().to_string());
        if stored.as_deref() != Some(self.router.as_str()) {
            engine.set_router(self.router());
            notes.push(format!(
                "router switched from {} to {}",
                stored.as_deref().unwrap_or("none"),
                self.router.as_str()
            ));
        }
        Ok(notes)
    }
}

/// The fewest characters an agent token may have.
pub const MIN_TOKEN_CHARS: usize = 16;

/// Why an agent token is too easy to guess, if it is: fewer than [`MIN_TOKEN_CHARS`]
/// characters, or fewer than 8 different ones. (Length and variety are all a server can check;
/// the docs ask for long random tokens.)
pub fn weak_token(token: &str) -> Option<&'static str> {
    if token.chars().count() < MIN_TOKEN_CHARS {
        return Some("shorter than 16 characters");
    }
    let distinct: std::collections::HashSet<char> = token.chars().collect();
    if distinct.len() < 8 {
        return Some("fewer than 8 different characters");
    }
    None
}

/// The wall clock, in whole Unix seconds.
pub fn now() -> Timestamp {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    Timestamp::from_unix_seconds(secs)
}

/// Serves `config` in memory on `listener` until `shutdown` completes, then closes every
/// WebSocket (code 1001), finishes the HTTP requests in flight and returns.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let server = Server::open(config, None)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    server.serve(listener, shutdown).await
}

/// An engine ready to serve: new, or rebuilt from its data directory.
pub struct Server {
    config: Config,
    engine: Engine,
    store: Option<BoxJournal>,
    durability: Option<Durability>,
    /// Uploaded files: under `--data DIR/files`, or in memory.
    files: files::FileStore,
    /// Webhooks a previous run owed and did not deliver (`--data`), oldest first.
    owed: Vec<webhooks::Owed>,
    report: Vec<String>,
}

impl Server {
    /// The engine `config` describes: in memory without `durability`; with it, the one stored
    /// in its directory (created there on the first start). A stored engine made with another
    /// [`EngineConfig`] is refused. On a stored engine, the agents and properties of `config`
    /// that it lacks are added, the router is switched if `config` names another, and every
    /// agent is set offline (a process that just started has no connections); a snapshot then
    /// covers the replayed records.
    pub fn open(mut config: Config, durability: Option<&Durability>) -> Result<Server, String> {
        config.check()?;
        let weak = config
            .agents
            .iter()
            .filter(|a| weak_token(&a.token).is_some())
            .count();
        if weak > 0 {
            tracing::warn!(
                agents = weak,
                "weak agent tokens allowed (--allow-weak-tokens)"
            );
        }
        let fixed_seed = config.seed.is_some();
        config.engine.seed = match config.seed {
            Some(seed) => seed,
            // A stored engine keeps its own; this one is used only if there is none.
            None => getrandom::u64()
                .map_err(|e| format!("cannot draw a seed from the operating system: {e}"))?,
        };
        let Some(durability) = durability else {
            let mut engine = Engine::new(config.engine.clone());
            // Nothing would persist the records.
            engine.set_journal_mode(JournalMode::Off);
            config.init(&mut engine)?;
            let mut report = vec![
                "in memory (no --data): everything is lost at exit".to_string(),
                seed_note(fixed_seed, false),
            ];
            if config.archive_after.is_some() {
                report.push("--archive-after is off: in memory nothing keeps the threads".into());
            }
            return Ok(Server {
                config,
                engine,
                store: None,
                durability: None,
                files: files::FileStore::in_memory(),
                owed: Vec::new(),
                report,
            });
        };
        let (mut store, recovered) =
            Store::open(durability, &config.engine, fixed_seed, |engine| {
                config.init(engine)
            })?;
        let mut engine = recovered.engine;
        let mut report = vec![seed_note(fixed_seed, recovered.from.is_some())];
        match recovered.from {
            None => report.push(format!("new data in {}", store.path().display())),
            Some(recovery) => {
                for warning in &recovery.warnings {
                    report.push(format!("warning: {warning}; using an older snapshot"));
                }
                report.push(format!(
                    "recovered {}: snapshot at record {}, {} record(s) replayed, now at \
                     record {}, {} chat(s), in {} ms",
                    store.path().display(),
                    recovery.snapshot_seq,
                    recovery.replayed,
                    engine.journal_seq(),
                    engine.chat_count(),
                    recovery.took.as_millis()
                ));
                report.extend(config.settle(&mut engine)?);
                store.append(&engine.take_journal())?;
                if store.has_unsnapshotted() {
                    store.snapshot(&engine)?;
                }
            }
        }
        let owed: Vec<webhooks::Owed> = store
            .owed_webhooks()?
            .into_iter()
            .map(|(row, webhook)| webhooks::Owed {
                row: Some(row),
                webhook,
            })
            .collect();
        if !owed.is_empty() {
            report.push(format!(
                "{} webhook(s) owed from before the restart, resumed",
                owed.len()
            ));
        }
        Ok(Server {
            config,
            engine,
            store: Some(Box::new(store)),
            durability: Some(durability.clone()),
            files: files::FileStore::in_dir(durability.dir.join("files")),
            owed,
            report,
        })
    }

    /// A server over an engine restored elsewhere (Postgres: see [`pg`]), whose records go
    /// to `journal`.
    pub(crate) fn from_parts(
        config: Config,
        engine: Engine,
        journal: BoxJournal,
        report: Vec<String>,
    ) -> Server {
        Server {
            config,
            engine,
            store: Some(journal),
            durability: None,
            // With Postgres there is no data directory: uploads stay in this node's memory.
            files: files::FileStore::in_memory(),
            // And webhooks are delivered from memory (see `webhooks.rs`).
            owed: Vec::new(),
            report,
        }
    }

    /// What opening did, a line each, for the log.
    pub fn report(&self) -> &[String] {
        &self.report
    }

    /// Starts the timer task and, with `--data`, the writer thread, and returns the routes
    /// (`/{agent,customer}/v0.5/rtm/ws`, `/{agent,customer}/v0.5/action/{action}`,
    /// `/metrics`, `/admin/licenses`) with the handle that stops them. This engine is the
    /// node's default license (see [`hub`]). Call it inside a Tokio runtime.
    pub fn start(self) -> (axum::Router, Running) {
        let node = hub::Node::single(self);
        let routes = node.routes();
        (routes, node.into_running())
    }

    /// Starts this license's timer task and, with a journal, its writer thread.
    pub(crate) fn launch(
        self,
        license: String,
        metrics: Arc<Metrics>,
        stop: watch::Receiver<bool>,
    ) -> LicenseRun {
        let Server {
            config,
            mut engine,
            store,
            files,
            owed,
            ..
        } = self;
        // A setting of this process, not of the license: set at every start.
        engine.set_static_config_path(config.static_config_path.clone());
        let (sessions_tx, sessions_rx) = watch::channel(0usize);
        let commit = store.as_ref().map(|_| Arc::new(CommitQueue::default()));
        let engine_config = engine.config().clone();
        // Archiving needs a store to keep the threads: without one it stays off.
        let archive_after = config.archive_after.filter(|_| store.is_some());
        let reader = match (&store, archive_after) {
            (Some(store), Some(_)) => match store.archive_reader() {
                Ok(reader) => Some(reader),
                Err(e) => {
                    tracing::error!(error = %e, "cannot read archived threads; archiving is off");
                    None
                }
            },
            _ => None,
        };
        let archive_after = archive_after.filter(|_| reader.is_some());
        let shared = Arc::new(Shared {
            core: Mutex::new(Core {
                engine,
                agent_conns: HashMap::new(),
            }),
            registry: Mutex::new(Registry::with_webhooks(webhooks::start(
                Arc::clone(&metrics),
                commit.clone(),
                owed,
                &config.webhook_authorities,
            ))),
            commit,
            metrics,
            agent_tokens: config
                .agents
                .iter()
                .map(|a| (a.token.clone(), a.agent.id.clone()))
                .collect(),
            wake: Notify::new(),
            next_conn: AtomicU64::new(1),
            stop,
            halt: watch::channel(false).0,
            lost: AtomicBool::new(false),
            license,
            sessions: sessions_tx,
            idle_timeout: config.idle_timeout,
            max_backlog: config.max_backlog,
            stall_timeout: config.stall_timeout,
            auth_by_address: Backoff::new(
                config.limits.auth_failures,
                config.limits.auth_window,
                config.limits.auth_backoff_max,
            ),
            auth_by_token: Backoff::new(
                config.limits.auth_failures,
                config.limits.auth_window,
                config.limits.auth_backoff_max,
            ),
            customer_creation: KeyedBuckets::new(
                config.limits.customer_rate,
                config.limits.customer_burst,
            ),
            limits: config.limits.clone(),
            ping_engine: Mutex::new({
                let mut blank = Engine::new(engine_config.clone());
                blank.set_journal_mode(JournalMode::Off);
                blank
            }),
            engine_config,
            long_calls: AtomicUsize::new(0),
            files,
            public_url: config.public_url.clone(),
            single_session: config.single_session,
            archive: archive::Archive::new(reader),
        });
        let writer = store.map(|store| {
            let (out, batches) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(commit::run_releases(Arc::clone(&shared), batches));
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("chatio-commit".to_string())
                .spawn(move || commit::run_writer(shared, store, out))
        });
        let writer = match writer {
            Some(Ok(handle)) => Some(handle),
            Some(Err(e)) => {
                // Without the writer nothing could be answered: better not to serve at all.
                tracing::error!(error = %e, "cannot start the commit thread");
                std::process::exit(1);
            }
            None => None,
        };
        let timers = tokio::spawn(run_timers(Arc::clone(&shared)));
        if let Some(age) = archive_after {
            tokio::spawn(archive::run(Arc::clone(&shared), age));
        }
        LicenseRun {
            shutdown_timeout: config.limits.shutdown_timeout,
            shared,
            sessions: sessions_rx,
            timers,
            writer,
        }
    }

    /// Serves on `listener` until `shutdown` completes, with the connection caps and deadlines
    /// of [`Limits`] (and `TCP_NODELAY` on every accepted socket); then stops accepting, closes
    /// idle connections and every WebSocket (code 1001), gives requests in flight until
    /// [`Limits::shutdown_timeout`], drops whatever is still open, takes a last snapshot (with
    /// `--data`) and returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        hub::Node::single(self).serve(listener, shutdown).await
    }

    /// The configuration it serves.
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// The data directory, with `--data`.
    pub(crate) fn durability(&self) -> Option<&Durability> {
        self.durability.as_ref()
    }
}

/// Where the engine's seed came from, for the log (never the seed itself: ids drawn from it
/// would be predictable to whoever reads the log).
fn seed_note(fixed: bool, stored: bool) -> String {
    match (fixed, stored) {
        (true, _) => "seed fixed by --seed: ids are predictable (for tests)".to_string(),
        (false, true) => "seed: the one stored with the data".to_string(),
        (false, false) => "seed drawn from the operating system".to_string(),
    }
}

/// The background parts of a started [`Server`] (or [`hub::Node`]): every license it serves.
pub struct Running {
    pub(crate) hub: Arc<hub::Hub>,
    pub(crate) stop: watch::Sender<bool>,
}

impl Running {
    /// A future that waits for `signal` and then tells every connection to close: give it to
    /// axum's `with_graceful_shutdown`, whose wait for open connections would otherwise wait
    /// for the WebSockets too.
    pub fn stop_on(
        &self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        let stop = self.stop.clone();
        async move {
            signal.await;
            let _ = stop.send(true);
        }
    }

    /// The server's metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.hub.metrics)
    }

    /// Closes every connection (waiting at most [`Limits::shutdown_timeout`] for them), stops
    /// the timers, and with `--data` commits what is waiting and takes a last snapshot, for
    /// every license; with `--postgres`, then gives up the leases so that other nodes take
    /// the licenses at once.
    pub async fn finish(self) {
        let _ = self.stop.send(true);
        self.hub.finish().await;
    }
}

/// One license being served: its engine's shared state and background parts.
pub(crate) struct LicenseRun {
    shutdown_timeout: Duration,
    pub(crate) shared: Arc<Shared>,
    sessions: watch::Receiver<usize>,
    timers: tokio::task::JoinHandle<()>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl LicenseRun {
    /// Closes the license's connections (waiting at most [`Limits::shutdown_timeout`] for
    /// them), stops its timers, and with a journal commits what is waiting and takes a last
    /// snapshot (unless the license was lost: then nothing more is written).
    pub(crate) async fn finish(mut self) {
        let _ = self.shared.halt.send(true);
        // Upgraded connections live in their own tasks: they saw the stop signal and are
        // closing, each within its drain time.
        let deadline = tokio::time::Instant::now() + self.shutdown_timeout;
        let closed = tokio::time::timeout_at(deadline, self.sessions.wait_for(|&n| n == 0))
            .await
            .is_ok();
        if !closed {
            tracing::warn!(
                license = %self.shared.license,
                left = *self.sessions.borrow(),
                "shutdown: WebSocket sessions still closing; going on without them"
            );
        }
        let _ = tokio::time::timeout(DRAIN, &mut self.timers).await;
        if let Some(queue) = &self.shared.commit {
            queue.stop();
        }
        if let Some(writer) = self.writer.take() {
            let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        }
    }
}

/// The engine and what is counted with it.
struct Core {
    engine: Engine,
    /// Logged-in connections per agent: an agent is online while it has one.
    agent_conns: HashMap<UserId, usize>,
}

/// Everything the handlers share.
struct Shared {
    core: Mutex<Core>,
    registry: Mutex<Registry>,
    /// With `--data`: what waits for the writer thread.
    commit: Option<Arc<CommitQueue>>,
    metrics: Arc<Metrics>,
    agent_tokens: HashMap<String, UserId>,
    /// Wakes the timer task: the engine's next deadline may have moved.
    wake: Notify,
    next_conn: AtomicU64,
    /// Becomes `true` when the server shuts down.
    stop: watch::Receiver<bool>,
    /// Becomes `true` when this license stops being served here (shut down, or lost).
    halt: watch::Sender<bool>,
    /// Set when the license was lost (its lease, or a commit that failed): its connections
    /// close with a "reconnect" reason and nothing more is written.
    lost: AtomicBool,
    /// The license's id (the hub's key), for log lines.
    license: String,
    /// How many WebSocket sessions are running.
    sessions: watch::Sender<usize>,
    idle_timeout: Duration,
    max_backlog: usize,
    stall_timeout: Duration,
    limits: Limits,
    /// Failed authentications by address.
    auth_by_address: Backoff<std::net::IpAddr>,
    /// Failed authentications by token (its hash).
    auth_by_token: Backoff<u64>,
    /// Customers created, by address.
    customer_creation: KeyedBuckets<std::net::IpAddr>,
    /// What a stand-in engine is made with (see [`Shared::stand_in`]).
    engine_config: EngineConfig,
    /// An engine that knows nobody, for answering `ping` without waiting for the engine's lock
    /// (see [`Shared::ping`]).
    ping_engine: Mutex<Engine>,
    /// Long engine calls running or waiting (see [`Shared::call`]).
    long_calls: AtomicUsize,
    /// Uploaded files.
    files: files::FileStore,
    /// See [`Config::public_url`].
    public_url: Option<String>,
    /// See [`Config::single_session`].
    single_session: bool,
    /// Archived threads on their way to the store, and its reader (see `archive.rs`).
    archive: archive::Archive,
}

impl Shared {
    /// Completes when the server shuts down or this license stops being served here.
    async fn stopping(&self) {
        let mut node = self.stop.clone();
        let mut halt = self.halt.subscribe();
        tokio::select! {
            _ = node.wait_for(|&s| s) => {}
            _ = halt.wait_for(|&s| s) => {}
        }
    }

    /// Whether the license was lost (see [`Shared::lose`]).
    pub(crate) fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Stops serving this license here at once: nothing waiting is answered or written, and
    /// its connections close telling clients to reconnect (they reach the new owner through
    /// any node). Called when a journal write fails with Postgres (the lease was lost, or the
    /// database cannot say whether the write happened), and when the lease could not be
    /// renewed in time.
    pub(crate) fn lose(&self, why: &str) {
        if self.lost.swap(true, Ordering::SeqCst) {
            return;
        }
        tracing::warn!(license = %self.license, why, "no longer serving this license here");
        if let Some(queue) = &self.commit {
            queue.close();
        }
        let _ = self.halt.send(true);
    }

    fn core(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the engine (briefly, without awaiting) and releases what it produced: at
    /// once in memory, after the commit of its records with `--data`. Wakes the timer task if
    /// the engine's next deadline moved.
    ///
    /// Engine calls run on the runtime's worker threads and hold a blocking lock. A call that
    /// may take long (see [`heavy`]) goes through [`call_heavy`](Self::call_heavy); while one
    /// is running or waiting, a call that finds the lock taken waits off the workers too, so
    /// that a herd of long calls cannot take every worker and keep-alives (`ping`, answered
    /// without the lock) and socket writes go on.
    fn call<R>(&self, f: impl FnOnce(&mut Core, &mut Vec<Release>) -> R) -> R {
        let core = match self.core.try_lock() {
            Ok(core) => core,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock)
                if self.long_calls.load(Ordering::SeqCst) > 0 =>
            {
                return blocking(|| self.run_locked(self.core(), f));
            }
            Err(std::sync::TryLockError::WouldBlock) => self.core(),
        };
        self.run_locked(core, f)
    }

    /// [`call`](Self::call) for a call that may hold the engine long: it runs where blocking
    /// is allowed (off the runtime's workers), and makes the calls that wait for it do so too.
    fn call_heavy<R>(&self, f: impl FnOnce(&mut Core, &mut Vec<Release>) -> R) -> R {
        let _long = LongCall::new(&self.long_calls);
        blocking(|| self.run_locked(self.core(), f))
    }

    /// [`call`](Self::call) or [`call_heavy`](Self::call_heavy), as `heavy` says.
    fn call_as<R>(&self, heavy: bool, f: impl FnOnce(&mut Core, &mut Vec<Release>) -> R) -> R {
        if heavy {
            self.call_heavy(f)
        } else {
            self.call(f)
        }
    }

    /// The engine, for a thread of the server's own (the commit thread copying it for a
    /// snapshot): counted as a long call, so runtime tasks that wait for it wait off the
    /// workers.
    fn core_for_long_call(&self) -> (MutexGuard<'_, Core>, LongCall<'_>) {
        let long = LongCall::new(&self.long_calls);
        (self.core(), long)
    }

    fn run_locked<R>(
        &self,
        mut core: MutexGuard<'_, Core>,
        f: impl FnOnce(&mut Core, &mut Vec<Release>) -> R,
    ) -> R {
        let before = core.engine.next_deadline();
        let mut items = Vec::new();
        let r = f(&mut core, &mut items);
        match &self.commit {
            None => {
                let mut registry = self.registry();
                for item in items {
                    registry.perform(item, &self.metrics);
                }
            }
            Some(queue) => {
                for item in &items {
                    if let Release::To(outbox, _) = item {
                        outbox.answer_queued();
                    }
                }
                queue.push(core.engine.take_journal(), items);
            }
        }
        let moved = core.engine.next_deadline() != before;
        drop(core);
        if moved {
            self.wake.notify_one();
        }
        r
    }

    /// The user a token stands for on `api`: a configured agent, or the customer derived from
    /// it. `Bearer ` in front is optional.
    ///
    /// Failed authentications are counted per address (`peer`) and per token; past
    /// [`Limits::auth_failures`] in [`Limits::auth_window`] either is refused without a check
    /// for a time that doubles with each further failure ([`Refused::Limited`]), and the block
    /// is logged.
    fn authenticate(
        &self,
        api: Api,
        token: Option<&str>,
        peer: Option<IpAddr>,
    ) -> Result<UserId, Refused> {
        let token = token.map(strip_bearer).unwrap_or_default();
        let now = tokio::time::Instant::now();
        let address = peer.map(limits::address_key);
        let token_key = token_key(token);
        let blocked = address
            .map_or(Ok(()), |a| self.auth_by_address.check(&a, now))
            .and_then(|()| self.auth_by_token.check(&token_key, now));
        if let Err(wait) = blocked {
            self.metrics.limited.with_label_values(&["auth"]).inc();
            return Err(Refused::Limited(format!(
                "too many failed authentications; retry in {} s",
                wait.as_secs().max(1)
            )));
        }
        let found = if token.is_empty() {
            Err("a token is required")
        } else {
            match api {
                Api::Agent => self
                    .agent_tokens
                    .get(token)
                    .cloned()
                    .ok_or("unknown agent token"),
                Api::Customer => Ok(customer_id_for(token)),
            }
        };
        found.map_err(|why| {
            let mut waits = Vec::new();
            if let Some(a) = address
                && let Verdict::Blocked(wait) = self.auth_by_address.failed(&a, now)
            {
                waits.push(("address", wait));
            }
            if let Verdict::Blocked(wait) = self.auth_by_token.failed(&token_key, now) {
                waits.push(("token", wait));
            }
            for (by, wait) in waits {
                tracing::warn!(
                    api = web::api_name(api),
                    peer = %peer.map_or_else(|| "-".to_string(), |p| p.to_string()),
                    by,
                    wait_s = wait.as_secs(),
                    "failed authentications: backing off"
                );
            }
            Refused::Auth(why)
        })
    }

    /// Makes a request of customer `user` ready for the engine. A customer that does not exist
    /// yet is created by its first request that changes something, within its address's budget
    /// ([`Limits::customer_rate`]); requests that only read (`login` without `customer`
    /// details, `get_chats_summary`) are answered by a stand-in engine without creating it, and
    /// `ping` needs no customer. Agents' requests are ready as they are.
    fn prepare(
        &self,
        core: &mut Core,
        api: Api,
        user: &UserId,
        text: &str,
        peer: Option<IpAddr>,
    ) -> Result<Prepared, Refused> {
        if api == Api::Agent || core.engine.customer(user).is_some() {
            return Ok(Prepared::Engine);
        }
        #[derive(serde::Deserialize)]
        struct Head<'a> {
            #[serde(borrow, default)]
            action: std::borrow::Cow<'a, str>,
            #[serde(default)]
            payload: Option<serde_json::Value>,
        }
        let head: Option<Head<'_>> = serde_json::from_str(text).ok();
        let action = head.as_ref().map_or("", |h| &*h.action);
        let details = head
            .as_ref()
            .and_then(|h| h.payload.as_ref())
            .and_then(|p| p.get("customer"))
            .is_some_and(|c| c.as_object().is_none_or(|o| !o.is_empty()));
        match action {
            "ping" => return Ok(Prepared::Engine),
            "login" if !details => return Ok(Prepared::StandIn),
            "get_chats_summary" => return Ok(Prepared::StandIn),
            _ => {}
        }
        if let Some(address) = peer.map(limits::address_key)
            && let Err(wait) = self
                .customer_creation
                .take(&address, tokio::time::Instant::now())
        {
            self.metrics.limited.with_label_values(&["customers"]).inc();
            return Err(Refused::Limited(format!(
                "too many new customers from this address; retry in {} s",
                wait.as_secs().max(1)
            )));
        }
        core.engine
            .add_customer(chatio::Customer::new(user.clone()))
            .map_err(|_| Refused::Auth("this token cannot be a customer's"))?;
        Ok(Prepared::Engine)
    }

    /// Answers a read-only request of a customer that does not exist yet, as the engine would
    /// answer a customer it has just met: from a new engine of the same configuration that
    /// knows only this customer.
    /// Handles a request with the engine, loading the archived threads its answer shows.
    fn handle(
        &self,
        engine: &mut Engine,
        api: Api,
        user: &UserId,
        text: &str,
    ) -> chatio::wire::Reply {
        let mut store = self.archive.store();
        chatio::wire::handle_with(engine, api, user, now(), text, &mut store)
    }

    fn stand_in(&self, user: &UserId, text: &str) -> chatio::wire::Reply {
        let mut engine = Engine::new(self.engine_config.clone());
        engine.set_journal_mode(JournalMode::Off);
        // A fresh engine has no users: adding one cannot collide.
        let _ = engine.add_customer(chatio::Customer::new(user.clone()));
        chatio::wire::handle(&mut engine, Api::Customer, user, now(), text)
    }
}

impl Shared {
    /// Answers `ping` without the engine's lock, so a keep-alive never waits behind a long
    /// call (a large login, a large update): `None` unless `text` is a plain `ping` (no
    /// `author_id`, which needs the engine's agents) and, with `--data`, the connection has no
    /// answer still waiting for a commit (the ping's answer must not overtake it). The answer
    /// is the engine's own: `ping` is served before the requester or the license is looked at,
    /// so an engine that knows nobody answers it exactly as the real one does.
    fn ping(&self, api: Api, me: &UserId, outbox: &conn::Outbox, text: &str) -> Option<String> {
        if text.len() > 4096 || !text.contains("ping") || outbox.answers_queued() > 0 {
            return None;
        }
        #[derive(serde::Deserialize)]
        struct Head<'a> {
            #[serde(borrow)]
            action: std::borrow::Cow<'a, str>,
            #[serde(default)]
            author_id: Option<serde::de::IgnoredAny>,
        }
        let head: Head<'_> = serde_json::from_str(text).ok()?;
        if head.action != "ping" || head.author_id.is_some() {
            return None;
        }
        let mut engine = self
            .ping_engine
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let reply = chatio::wire::handle(&mut engine, api, me, now(), text);
        self.metrics.request(api, &reply.action, reply.success);
        Some(reply.response)
    }
}

/// Counts a long engine call for as long as it lives (see [`Shared::call`]).
struct LongCall<'a>(&'a AtomicUsize);

impl<'a> LongCall<'a> {
    fn new(count: &'a AtomicUsize) -> LongCall<'a> {
        count.fetch_add(1, Ordering::SeqCst);
        LongCall(count)
    }
}

impl Drop for LongCall<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs `f`, which may block for long, without holding up the runtime's other tasks: on a
/// multi-threaded runtime the worker hands them on first (`block_in_place`); elsewhere (a
/// current-thread runtime, where that is impossible, or no runtime) it just runs.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Whether a request may hold the engine long: large (over 64 KiB), or an action whose answer
/// grows with the license (an agent's `login`, archives, filtered chats, a chat's threads).
/// A cheap look at the text: a false alarm costs only a hand-off of the worker's other tasks.
pub(crate) fn heavy(text: &str) -> bool {
    const LONG: [&str; 4] = [
        "\"login\"",
        "\"get_archives\"",
        "\"get_filtered_chats\"",
        "\"get_chat_threads\"",
    ];
    text.len() > 64 << 10 || LONG.iter().any(|action| text.contains(action))
}

/// A token's key in the failed-authentication table: it keeps no token in memory.
fn token_key(token: &str) -> u64 {
    let digest = sha256(token.as_bytes());
    u64::from_le_bytes([
        digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
    ])
}

/// Why a request was not let through to the engine.
#[derive(Debug)]
pub(crate) enum Refused {
    /// Bad or missing credentials: `authentication`.
    Auth(&'static str),
    /// A rate limit: `too_many_requests`, with what to do.
    Limited(String),
}

impl Refused {
    /// The error type the client gets.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Refused::Auth(_) => ErrorKind::Authentication.as_str(),
            Refused::Limited(_) => TOO_MANY_REQUESTS,
        }
    }

    /// The message the client gets.
    pub(crate) fn message(&self) -> &str {
        match self {
            Refused::Auth(why) => why,
            Refused::Limited(why) => why,
        }
    }
}

/// How a prepared request is served.
pub(crate) enum Prepared {
    /// By the engine.
    Engine,
    /// By [`Shared::stand_in`].
    StandIn,
}

/// The error type of requests refused by a rate limit (as in the chat.io successor APIs).
pub const TOO_MANY_REQUESTS: &str = "too_many_requests";

/// A v0.5 error response with an error type of the server's own (the engine's are written by
/// [`chatio::wire::error_text`]), keys in the order the codec writes them.
pub(crate) fn error_response(
    request_id: Option<&str>,
    action: &str,
    error_type: &str,
    message: &str,
) -> String {
    let mut response = serde_json::json!({
        "action": action,
        "payload": { "error": { "message": message, "type": error_type } },
        "success": false,
        "type": "response",
    });
    if let Some(id) = request_id {
        response["request_id"] = serde_json::Value::from(id);
    }
    response.to_string()
}

impl Core {
    /// Sets an agent's presence and queues the engine's pushes about it.
    fn presence(&mut self, user: &UserId, online: bool, items: &mut Vec<Release>) {
        if let Ok(out) = self.engine.set_agent_presence(user, online, now()) {
            push_engine(&self.engine, &out.pushes, items);
            // Connecting or disconnecting changes the agent's status: `agent_status_changed`.
            agent_webhooks(&self.engine, &out.agent_changes, items);
        }
    }
}

/// Renders pushes the engine returned outside [`chatio::wire::handle`] (presence, timers), and
/// the webhooks they fire.
fn push_engine(engine: &Engine, pushes: &[chatio::Push], items: &mut Vec<Release>) {
    if !pushes.is_empty() {
        let rendered = pushes.iter().map(chatio::wire::encode_push).collect();
        items.push(Release::Pushes(commit::render(rendered)));
        let webhooks: Vec<_> = engine
            .webhook_calls(pushes)
            .iter()
            .map(chatio::wire::configuration::render_call)
            .collect();
        if !webhooks.is_empty() {
            items.push(Release::Webhooks(webhooks));
        }
    }
}

/// Renders the webhooks of changes of agents no push tells of (see
/// [`chatio::Output::agent_changes`]).
fn agent_webhooks(engine: &Engine, changes: &[chatio::AgentChange], items: &mut Vec<Release>) {
    let webhooks: Vec<_> = engine
        .agent_webhook_calls(changes)
        .iter()
        .map(chatio::wire::configuration::render_call)
        .collect();
    if !webhooks.is_empty() {
        items.push(Release::Webhooks(webhooks));
    }
}

/// The token without `Bearer ` in front; a lone `Bearer` is no token at all.
fn strip_bearer(token: &str) -> &str {
    let token = token.trim();
    if token.eq_ignore_ascii_case("bearer") {
        return "";
    }
    token
        .strip_prefix("Bearer ")
        .or_else(|| token.strip_prefix("bearer "))
        .map_or(token, str::trim)
}

/// Sleeps until the engine's next deadline (or a wake-up), then ticks it.
async fn run_timers(shared: Arc<Shared>) {
    loop {
        // A tick may archive or route many chats at once.
        let next = shared.call_heavy(|core, items| {
            let now = now();
            if core.engine.next_deadline().is_some_and(|d| d <= now) {
                let out = core.engine.tick(now);
                push_engine(&core.engine, &out.pushes, items);
            }
            core.engine.next_deadline()
        });
        let nap = next.map_or(MAX_NAP, |d| {
            let secs = u64::try_from(d.unix_seconds()).unwrap_or(0);
            (UNIX_EPOCH + Duration::from_secs(secs))
                .duration_since(SystemTime::now())
                .unwrap_or_default()
                .min(MAX_NAP)
        });
        tokio::select! {
            () = tokio::time::sleep(nap) => {}
            () = shared.wake.notified() => {}
            () = shared.stopping() => return,
        }
    }
}

/// The address a listener is bound to, for log lines.
pub fn describe(addr: SocketAddr) -> String {
    format!(
        "ws://{addr}/agent/{VERSION}/rtm/ws, ws://{addr}/customer/{VERSION}/rtm/ws, \
         http://{addr}/{{agent,customer}}/{VERSION}/action/<action>, http://{addr}/metrics"
    )
}
