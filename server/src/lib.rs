//! The server behind `examples/rtm_server`: RTM over WebSocket and the Web API over HTTP, both
//! on one [`Engine`].
//!
//! This file is also compiled into `tests/interop.rs` (`#[path]`), so it depends only on what
//! both see: `chatio`, its dependencies and the dev-dependencies.
//!
//! * One `Engine` and the table of live connections sit behind one `std::sync::Mutex`, held only
//!   for the synchronous engine call and the queueing of its output, never across an `.await`.
//!   Queueing under the lock keeps every connection's messages in the engine's order.
//! * Each connection has a bounded outbox drained by a writer task. A connection whose outbox
//!   fills (a client that stopped reading) is dropped from the table and closed.
//! * A timer task sleeps until [`Engine::next_deadline`] and calls [`Engine::tick`]; whatever
//!   may move the deadline wakes it through a `Notify`.
//! * Time is the wall clock, in whole seconds.
//! * With `--data DIR` ([`Durability`]), every engine call's journal records are committed to
//!   SQLite (see `store.rs`) before its response or any of its pushes is queued, still under the
//!   lock: *persist, then answer*. The engine holds its records ([`JournalMode::Hold`]) and
//!   [`Hub::persist`] takes them after each call. A failed commit stops the process: the
//!   engine would be ahead of the disk, and answering would promise what a restart forgets.
//!   Snapshots replace the journal every `--snapshot-every` records, after recovery and at a
//!   clean shutdown. Without `--data` the journal is off.
//! * The commit (an fsync) happens on a runtime thread, under the lock: requests are
//!   serialized, one commit each. That keeps the engine single-writer and the order obvious; a
//!   busier host would batch the records of concurrent requests into one commit.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chatio::journal::JournalMode;
use chatio::routing::{AutomaticRouter, LeastLoadedRouter, ManualRouter, RoundRobinRouter};
use chatio::wire::{self, Api, Offered, WirePush};
use chatio::{Agent, Customer, Engine, EngineConfig, ErrorKind, Push, Timestamp, UserId};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, watch};

pub mod cli;
pub mod store;

pub use store::Durability;
use store::Store;

/// The only protocol version served.
pub const VERSION: &str = "v0.5";

/// The largest WebSocket frame or message, and the largest Web API body, accepted: 1 MiB.
pub const MAX_MESSAGE: usize = 1 << 20;

/// How many messages may wait for a slow connection before it is dropped.
const OUTBOX: usize = 1024;

/// The longest the timer task sleeps without looking at the clock again.
const MAX_NAP: Duration = Duration::from_secs(30);

/// How long shutdown waits for connections to say goodbye.
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

/// What the server serves.
#[derive(Clone, Debug)]
pub struct Config {
    /// The agents of the license.
    pub agents: Vec<AgentLogin>,
    /// The router.
    pub router: RouterKind,
    /// The engine's settings (seed, routing timeouts).
    pub engine: EngineConfig,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// Whether to log a line per connection and per Web API request to stderr.
    pub log: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            agents: Vec::new(),
            router: RouterKind::Automatic,
            engine: EngineConfig::default(),
            idle_timeout: Duration::from_secs(60),
            log: true,
        }
    }
}

impl Config {
    /// Checks the agents: every token given, and no two alike.
    pub fn check(&self) -> Result<(), String> {
        let mut tokens = HashMap::new();
        for login in &self.agents {
            if login.token.is_empty() {
                return Err(format!("agent {} has an empty token", login.agent.id));
            }
            if let Some(other) = tokens.insert(login.token.as_str(), &login.agent.id) {
                return Err(format!(
                    "agents {other} and {} share a token",
                    login.agent.id
                ));
            }
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

    /// Sets the router and registers the agents on a new engine.
    fn init(&self, engine: &mut Engine) -> Result<(), String> {
        engine.set_router(self.router());
        for login in &self.agents {
            engine
                .add_agent(login.agent.clone())
                .map_err(|e| format!("agent {}: {e}", login.agent.id))?;
        }
        Ok(())
    }

    /// Brings a recovered engine in line with the flags of this start: agents it does not have
    /// are added and the router is switched (both journaled). Returns notes for the log.
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

/// The customer id a customer token stands for: `customer-` and the first 128 bits of the
/// token's SHA-256, in hex. The same token always gives the same id.
pub fn customer_id_for(token: &str) -> UserId {
    let digest = sha256(token.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    UserId::new(&format!("customer-{hex}")).expect("41 ASCII characters make a valid user id")
}

/// The wall clock, in whole Unix seconds.
pub fn now() -> Timestamp {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    Timestamp::from_unix_seconds(secs)
}

/// Serves `config` in memory on `listener` until `shutdown` completes, then closes every
/// WebSocket (code 1001), finishes the HTTP requests in flight and returns. (For
/// `tests/interop.rs`; the command line opens a [`Server`] itself.)
#[allow(dead_code)]
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
    hub: Hub,
    report: Vec<String>,
}

impl Server {
    /// The engine `config` describes: in memory without `durability`; with it, the one stored
    /// in its directory (created there on the first start). A stored engine made with another
    /// [`EngineConfig`] is refused. On a stored engine, the agents of `config` that it lacks are
    /// added, the router is switched if `config` names another, and every agent is set offline
    /// (a process that just started has no connections); a snapshot then covers the replayed
    /// records.
    pub fn open(config: Config, durability: Option<&Durability>) -> Result<Server, String> {
        config.check()?;
        let Some(durability) = durability else {
            let mut engine = Engine::new(config.engine.clone());
            // Nothing would persist the records.
            engine.set_journal_mode(JournalMode::Off);
            config.init(&mut engine)?;
            return Ok(Server {
                config,
                hub: Hub::new(engine, None),
                report: vec!["in memory (no --data): everything is lost at exit".to_string()],
            });
        };
        let (mut store, recovered) =
            Store::open(durability, &config.engine, |engine| config.init(engine))?;
        let mut engine = recovered.engine;
        let mut report = Vec::new();
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
                    engine.chats().len(),
                    recovery.took.as_millis()
                ));
                report.extend(config.reconcile(&mut engine)?);
                let now = now();
                let online: Vec<UserId> = engine
                    .agents()
                    .iter()
                    .filter(|a| engine.agent_status(&a.id).is_some_and(|s| s.online))
                    .map(|a| a.id.clone())
                    .collect();
                for id in &online {
                    // Nobody is connected yet to hear of it: the pushes go nowhere.
                    let _ = engine
                        .set_agent_presence(id, false, now)
                        .map_err(|e| format!("agent {id}: {e}"))?;
                }
                store.append(&engine.take_journal())?;
                if store.has_unsnapshotted() {
                    store.snapshot(&engine)?;
                }
            }
        }
        Ok(Server {
            config,
            hub: Hub::new(engine, Some(store)),
            report,
        })
    }

    /// What opening did, a line each, for the log.
    pub fn report(&self) -> &[String] {
        &self.report
    }

    /// Serves on `listener` until `shutdown` completes, then closes every WebSocket (code
    /// 1001), finishes the HTTP requests in flight, takes a last snapshot (with `--data`) and
    /// returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Server { config, hub, .. } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let (sessions_tx, mut sessions_rx) = watch::channel(0usize);
        let shared = Arc::new(Shared {
            state: Mutex::new(hub),
            agent_tokens: config
                .agents
                .iter()
                .map(|a| (a.token.clone(), a.agent.id.clone()))
                .collect(),
            wake: Notify::new(),
            next_conn: AtomicU64::new(1),
            stop: stop_rx,
            sessions: sessions_tx,
            idle_timeout: config.idle_timeout,
            log: config.log,
        });
        let timers = tokio::spawn(run_timers(Arc::clone(&shared)));
        let app = Router::new()
            .route("/{api}/{version}/rtm/ws", get(rtm))
            .route("/{api}/{version}/action/{action}", post(web_action))
            .layer(DefaultBodyLimit::max(MAX_MESSAGE))
            .with_state(Arc::clone(&shared));
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                let _ = stop_tx.send(true);
            })
            .await;
        // Upgraded connections live in their own tasks: they saw the stop signal and are closing.
        let _ = tokio::time::timeout(DRAIN, sessions_rx.wait_for(|&n| n == 0)).await;
        let _ = tokio::time::timeout(DRAIN, timers).await;
        // The agents went offline as their connections closed; a snapshot covers it all, so the
        // next start replays nothing.
        shared.with_hub(Hub::snapshot);
        served
    }
}

/// Everything the handlers share.
struct Shared {
    state: Mutex<Hub>,
    agent_tokens: HashMap<String, UserId>,
    /// Wakes the timer task: the engine's next deadline may have moved.
    wake: Notify,
    next_conn: AtomicU64,
    /// Becomes `true` when the server shuts down.
    stop: watch::Receiver<bool>,
    /// How many WebSocket sessions are running.
    sessions: watch::Sender<usize>,
    idle_timeout: Duration,
    log: bool,
}

/// What a connection's writer sends.
enum Out {
    Text(Arc<str>),
    Close(u16, &'static str),
}

struct Conn {
    id: u64,
    tx: mpsc::Sender<Out>,
    /// Tells the session to drop a connection that cannot keep up.
    kick: Arc<Notify>,
}

impl Conn {
    /// Queues `out`; a connection whose outbox is full is told to go, and `false` returned.
    fn send(&self, out: Out) -> bool {
        let sent = self.tx.try_send(out).is_ok();
        if !sent {
            self.kick.notify_one();
        }
        sent
    }
}

/// The engine, its store and who is connected, locked together: one writer, and output queued
/// in engine order after the records that caused it are on disk.
struct Hub {
    engine: Engine,
    store: Option<Store>,
    conns: HashMap<UserId, Vec<Conn>>,
}

impl Shared {
    /// Runs `f` on the hub (briefly, without awaiting), takes a snapshot if one is due, and wakes
    /// the timer task if the engine's next deadline moved.
    fn with_hub<R>(&self, f: impl FnOnce(&mut Hub) -> R) -> R {
        let mut hub = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let before = hub.engine.next_deadline();
        let r = f(&mut hub);
        // Each engine call in `f` persisted its records before queueing its output; any left
        // over are a bug (output sent before its records were safe), but must not be lost.
        let late = hub.engine.take_journal();
        debug_assert!(
            late.is_empty(),
            "journal records not persisted before answering"
        );
        hub.write(&late);
        hub.maybe_snapshot();
        if hub.engine.next_deadline() != before {
            self.wake.notify_one();
        }
        r
    }

    /// The user a token stands for on `api`: a configured agent, or the customer derived from
    /// it. `Bearer ` in front is optional.
    fn resolve(&self, api: Api, token: Option<&str>) -> Result<UserId, &'static str> {
        let token = token.map(strip_bearer).unwrap_or_default();
        if token.is_empty() {
            return Err("a token is required");
        }
        match api {
            Api::Agent => self
                .agent_tokens
                .get(token)
                .cloned()
                .ok_or("unknown agent token"),
            Api::Customer => Ok(customer_id_for(token)),
        }
    }

    fn log(&self, line: std::fmt::Arguments<'_>) {
        if self.log {
            eprintln!("{line}");
        }
    }
}

impl Hub {
    fn new(engine: Engine, store: Option<Store>) -> Hub {
        Hub {
            engine,
            store,
            conns: HashMap::new(),
        }
    }

    /// Makes the engine's new journal records durable. Call it after every engine call that may
    /// change the engine, before queueing anything the call produced.
    fn persist(&mut self) {
        let records = self.engine.take_journal();
        self.write(&records);
    }

    /// Commits `records` (without a store: drops them). If that fails the process stops: the
    /// engine is ahead of the disk, and whatever it answered now, a restart would forget.
    /// Everything answered so far is on disk.
    fn write(&mut self, records: &[chatio::journal::JournalRecord]) {
        let Some(store) = &mut self.store else {
            return;
        };
        if let Err(e) = store.append(records) {
            eprintln!(
                "rtm_server: cannot write the journal to {}: {e}. Stopping: the request being \
                 handled was not answered; restart to recover everything that was.",
                store.path().display()
            );
            std::process::exit(1);
        }
    }

    /// Takes a snapshot if `--snapshot-every` records were written since the last.
    fn maybe_snapshot(&mut self) {
        if self.store.as_ref().is_some_and(Store::wants_snapshot) {
            self.snapshot();
        }
    }

    /// Takes a snapshot now if records were written since the last. A failure is only logged:
    /// the journal still has every record.
    fn snapshot(&mut self) {
        let Some(store) = &mut self.store else {
            return;
        };
        if !store.has_unsnapshotted() {
            return;
        }
        if let Err(e) = store.snapshot(&self.engine) {
            eprintln!(
                "rtm_server: warning: no snapshot at record {} ({e}); the journal keeps every \
                 record, the next start replays more",
                self.engine.journal_seq()
            );
        }
    }

    /// [`wire::handle`], persisted.
    fn handle(&mut self, api: Api, user: &UserId, text: &str) -> wire::Reply {
        let reply = wire::handle(&mut self.engine, api, user, now(), text);
        self.persist();
        reply
    }

    /// Makes sure a customer exists (customers register by logging in).
    fn ensure_customer(&mut self, api: Api, user: &UserId) -> Result<(), &'static str> {
        if api == Api::Customer && self.engine.customer(user).is_none() {
            self.engine
                .add_customer(Customer::new(user.clone()))
                .map_err(|_| "this token cannot be a customer's")?;
        }
        Ok(())
    }

    /// Queues `text` for every live connection of `user`; drops connections that cannot keep up.
    fn send_to_user(&mut self, user: &UserId, text: &Arc<str>) {
        let Some(conns) = self.conns.get_mut(user) else {
            return;
        };
        conns.retain(|c| c.send(Out::Text(Arc::clone(text))));
        if conns.is_empty() {
            self.conns.remove(user);
        }
    }

    /// Delivers rendered pushes. A `customer_disconnected` push also closes the customer's
    /// connections, as the push says.
    fn deliver(&mut self, pushes: Vec<WirePush>) {
        for push in pushes {
            let text: Arc<str> = push.text.into();
            for user in &push.to {
                self.send_to_user(user, &text);
                if push.action == "customer_disconnected" {
                    for conn in self.conns.remove(user).unwrap_or_default() {
                        conn.send(Out::Close(close_code::POLICY, "customer disconnected"));
                    }
                }
            }
        }
    }

    /// Delivers the engine's own pushes (presence changes, timers).
    fn deliver_engine(&mut self, pushes: &[Push]) {
        self.deliver(pushes.iter().map(wire::encode_push).collect());
    }

    /// Registers a connection; an agent's first one brings it online (routing may give it
    /// waiting chats at once).
    fn connect(&mut self, api: Api, user: &UserId, conn: Conn) {
        let list = self.conns.entry(user.clone()).or_default();
        list.push(conn);
        if api == Api::Agent && list.len() == 1 {
            if let Ok(out) = self.engine.set_agent_presence(user, true, now()) {
                self.persist();
                self.deliver_engine(&out.pushes);
            }
        }
    }

    /// Forgets a connection; an agent's last one takes it offline.
    fn disconnect(&mut self, api: Api, user: &UserId, conn_id: u64) {
        if let Some(list) = self.conns.get_mut(user) {
            list.retain(|c| c.id != conn_id);
            if list.is_empty() {
                self.conns.remove(user);
            }
        }
        if api == Api::Agent && !self.conns.contains_key(user) {
            if let Ok(out) = self.engine.set_agent_presence(user, false, now()) {
                self.persist();
                self.deliver_engine(&out.pushes);
            }
        }
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

fn parse_api(api: &str) -> Option<Api> {
    match api {
        "agent" => Some(Api::Agent),
        "customer" => Some(Api::Customer),
        _ => None,
    }
}

fn api_name(api: Api) -> &'static str {
    match api {
        Api::Agent => "agent",
        Api::Customer => "customer",
    }
}

fn unsupported_version(version: &str) -> String {
    format!("unsupported version {version:?}: this server speaks {VERSION}")
}

/// Sleeps until the engine's next deadline (or a wake-up), then ticks it.
async fn run_timers(shared: Arc<Shared>) {
    let mut stop = shared.stop.clone();
    loop {
        let next = {
            let mut hub = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
            let now = now();
            if hub.engine.next_deadline().is_some_and(|d| d <= now) {
                let out = hub.engine.tick(now);
                hub.persist();
                hub.deliver_engine(&out.pushes);
                hub.maybe_snapshot();
            }
            hub.engine.next_deadline()
        };
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
            _ = stop.wait_for(|&s| s) => return,
        }
    }
}

// ----- RTM -----

async fn rtm(
    State(shared): State<Arc<Shared>>,
    Path((api, version)): Path<(String, String)>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Some(api) = parse_api(&api) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let ws = match ws {
        Ok(ws) => ws.max_message_size(MAX_MESSAGE).max_frame_size(MAX_MESSAGE),
        Err(rejection) if version == VERSION => return rejection.into_response(),
        Err(_) => {
            let body = json!({ "error": {
                "type": ErrorKind::UnsupportedVersion.as_str(),
                "message": unsupported_version(&version),
            }});
            return json_response(StatusCode::BAD_REQUEST, body.to_string());
        }
    };
    if version != VERSION {
        // Say why on the socket, where a WebSocket client can read it, then close.
        return ws.on_upgrade(move |mut socket| async move {
            let text = wire::error_text(
                None,
                "",
                ErrorKind::UnsupportedVersion,
                &unsupported_version(&version),
            );
            let _ = socket.send(Message::Text(text.into())).await;
            let _ = socket
                .send(Message::Close(Some(CloseFrame {
                    code: close_code::POLICY,
                    reason: "unsupported version".into(),
                })))
                .await;
        });
    }
    ws.on_upgrade(move |socket| session(shared, api, socket))
}

/// Counts a running session for shutdown, even if it panics.
struct SessionGuard(Arc<Shared>);

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.0.sessions.send_modify(|n| *n -= 1);
    }
}

/// One RTM connection: login first, then requests until the client leaves, goes quiet, or the
/// server stops.
async fn session(shared: Arc<Shared>, api: Api, socket: WebSocket) {
    shared.sessions.send_modify(|n| *n += 1);
    let _guard = SessionGuard(Arc::clone(&shared));
    let conn_id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Out>(OUTBOX);
    let kick = Arc::new(Notify::new());
    let mut writer = tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            let message = match out {
                Out::Text(text) => Message::Text((*text).into()),
                Out::Close(code, reason) => Message::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                })),
            };
            let closing = matches!(message, Message::Close(_));
            if sink.send(message).await.is_err() || closing {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut stop = shared.stop.clone();
    let mut user: Option<UserId> = None;
    let conn = Conn {
        id: conn_id,
        tx,
        kick: Arc::clone(&kick),
    };
    let mut requests = 0u64;
    let mut writer_done = false;
    let why = loop {
        tokio::select! {
            next = tokio::time::timeout(shared.idle_timeout, stream.next()) => {
                let text = match next {
                    Err(_) => {
                        conn.send(Out::Close(close_code::NORMAL, "idle timeout"));
                        break "idle timeout";
                    }
                    Ok(None) => break "gone",
                    Ok(Some(Err(e))) => {
                        // tungstenite refuses an oversized frame before reading it.
                        if e.to_string().contains("Space limit exceeded") {
                            conn.send(Out::Close(close_code::SIZE, "frames are limited to 1 MiB"));
                            break "frame over 1 MiB";
                        }
                        break "read error";
                    }
                    Ok(Some(Ok(Message::Text(text)))) => text,
                    Ok(Some(Ok(Message::Binary(bytes)))) => match String::from_utf8(bytes.to_vec()) {
                        Ok(text) => text.into(),
                        Err(_) => {
                            let error = wire::error_text(None, "", ErrorKind::Validation,
                                "messages are UTF-8 JSON text");
                            conn.send(Out::Text(error.into()));
                            continue;
                        }
                    },
                    Ok(Some(Ok(Message::Close(_)))) => break "closed by client",
                    Ok(Some(Ok(_))) => continue, // ping and pong only keep the connection alive
                };
                requests += 1;
                let keep = match &user {
                    Some(me) => shared.with_hub(|hub| {
                        let reply = hub.handle(api, me, &text);
                        let sent = conn.send(Out::Text(reply.response.into()));
                        hub.deliver(reply.pushes);
                        sent
                    }),
                    None => {
                        user = login(&shared, api, &conn, &text);
                        true
                    }
                };
                if !keep {
                    writer.abort();
                    writer_done = true;
                    break "too slow";
                }
            }
            _ = &mut writer => {
                writer_done = true;
                break "closed by server";
            }
            () = kick.notified() => {
                writer.abort();
                writer_done = true;
                break "too slow";
            }
            _ = stop.wait_for(|&s| s) => {
                conn.send(Out::Close(close_code::AWAY, "server shutting down"));
                break "server shutdown";
            }
        }
    };
    if let Some(me) = &user {
        shared.with_hub(|hub| hub.disconnect(api, me, conn_id));
    }
    drop(conn);
    if !writer_done && tokio::time::timeout(DRAIN, &mut writer).await.is_err() {
        writer.abort();
    }
    let who = user
        .as_ref()
        .map_or_else(|| "-".to_string(), UserId::to_string);
    shared.log(format_args!(
        "rtm {} #{conn_id} {who}: {requests} requests, {why}",
        api_name(api)
    ));
}

/// Handles the first request(s) of a connection, until one is a successful `login`. Returns
/// the user once logged in; the connection is then subscribed to the user's pushes.
fn login(shared: &Shared, api: Api, conn: &Conn, text: &str) -> Option<UserId> {
    let request: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let request_id = match request.get("request_id") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let action = request.get("action").and_then(Value::as_str).unwrap_or("");
    let refuse = |message: &str| {
        let text = wire::error_text(
            request_id.as_deref(),
            action,
            ErrorKind::Authentication,
            message,
        );
        conn.send(Out::Text(text.into()));
        None
    };
    if action != "login" {
        return refuse("the first request must be login");
    }
    let token = request.pointer("/payload/token").and_then(Value::as_str);
    let user = match shared.resolve(api, token) {
        Ok(user) => user,
        Err(why) => return refuse(why),
    };
    shared.with_hub(|hub| {
        if let Err(why) = hub.ensure_customer(api, &user) {
            return refuse(why);
        }
        let reply = hub.handle(api, &user, text);
        conn.send(Out::Text(reply.response.into()));
        hub.deliver(reply.pushes);
        if !reply.success {
            return None;
        }
        let subscription = Conn {
            id: conn.id,
            tx: conn.tx.clone(),
            kick: Arc::clone(&conn.kick),
        };
        hub.connect(api, &user, subscription);
        Some(user)
    })
}

// ----- Web API -----

async fn web_action(
    State(shared): State<Arc<Shared>>,
    Path((api, version, action)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(api) = parse_api(&api) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (status, body, who) = web_call(&shared, api, &version, &action, &headers, &body);
    shared.log(format_args!(
        "web {} {action} {who}: {}",
        api_name(api),
        status.as_u16()
    ));
    json_response(status, body)
}

/// A Web API call: the answer is the response's payload, or `{"error": {type, message}}` with
/// an HTTP status that fits the error type.
///
/// An action v0.5 offers over RTM only ([`wire::offered`], e.g. `login`, `get_archives`)
/// is refused once the token is checked, before the engine sees it (nothing is registered or
/// changed), as a `validation` error with status 400 whose message names the RTM endpoint.
/// That is how the Web API already answers an action it does not have (an unknown name); it
/// is not `authorization` (403), which says the user lacks a right that another user might
/// have, nor `authentication` (401), which says the token is bad. Version and token are
/// checked first, as for any action.
fn web_call(
    shared: &Shared,
    api: Api,
    version: &str,
    action: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> (StatusCode, String, String) {
    let fail = |kind: ErrorKind, message: &str| {
        let body = json!({ "error": { "type": kind.as_str(), "message": message } });
        (status_for(kind.as_str()), body.to_string(), "-".to_string())
    };
    if version != VERSION {
        return fail(ErrorKind::UnsupportedVersion, &unsupported_version(version));
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let user = match shared.resolve(api, token) {
        Ok(user) => user,
        Err(why) => return fail(ErrorKind::Authentication, why),
    };
    if wire::offered(api, action) == Some(Offered::RtmOnly) {
        let message = format!(
            "invalid action: {action:?} is offered over RTM only in {VERSION}, not over the \
             Web API; send it on a /{}/{VERSION}/rtm/ws connection",
            api_name(api)
        );
        let (status, body, _) = fail(ErrorKind::Validation, &message);
        return (status, body, user.to_string());
    }
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(request @ Value::Object(_)) => request,
            Ok(_) => return fail(ErrorKind::Validation, "the body must be a JSON object"),
            Err(e) => return fail(ErrorKind::Validation, &format!("the body: {e}")),
        }
    };
    let mut envelope = json!({ "action": action, "payload": request.get("payload") });
    if let Some(author_id) = request.get("author_id") {
        envelope["author_id"] = author_id.clone();
    }
    let envelope = envelope.to_string();
    let reply = shared.with_hub(|hub| {
        hub.ensure_customer(api, &user)?;
        let mut reply = hub.handle(api, &user, &envelope);
        hub.deliver(std::mem::take(&mut reply.pushes));
        Ok(reply)
    });
    let reply = match reply {
        Ok(reply) => reply,
        Err(why) => return fail(ErrorKind::Authentication, why),
    };
    let mut response: Value = serde_json::from_str(&reply.response).unwrap_or(Value::Null);
    let payload = response
        .get_mut("payload")
        .map(Value::take)
        .unwrap_or_else(|| json!({}));
    let status = if reply.success {
        StatusCode::OK
    } else {
        status_for(
            payload
                .pointer("/error/type")
                .and_then(Value::as_str)
                .unwrap_or("internal"),
        )
    };
    (status, payload.to_string(), user.to_string())
}

fn status_for(error_type: &str) -> StatusCode {
    match error_type {
        "authentication" => StatusCode::UNAUTHORIZED,
        "authorization" | "customer_banned" => StatusCode::FORBIDDEN,
        "validation" | "unsupported_version" => StatusCode::BAD_REQUEST,
        "license_expired" => StatusCode::PAYMENT_REQUIRED,
        "request_timeout" => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The address a listener is bound to, for log lines.
pub fn describe(addr: SocketAddr) -> String {
    format!(
        "ws://{addr}/agent/{VERSION}/rtm/ws, ws://{addr}/customer/{VERSION}/rtm/ws, \
         http://{addr}/{{agent,customer}}/{VERSION}/action/<action>"
    )
}

// ----- SHA-256 (FIPS 180-4), for customer ids -----

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut message = data.to_vec();
    let bits = u64::try_from(data.len())
        .unwrap_or(u64::MAX)
        .wrapping_mul(8);
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bits.to_be_bytes());
    for block in message.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
            *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for (k, wi) in K.iter().zip(w.iter()) {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(*k)
                .wrapping_add(*wi);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}
