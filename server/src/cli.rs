//! The command line of `chatio-server` (formerly `cargo run --example rtm_server`, whose flags
//! all still work): flags, `--config`, startup, shutdown, and the `loadgen` and `echo`
//! subcommands. `main.rs` runs it; the crash test runs the binary.
//!
//! The flags are parsed by `clap`. Flags override `--config`, so the merge has to tell a flag
//! given on the command line from a default: [`ArgMatches::value_source`] says which.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chatio::{Agent, GroupId, License, Timestamp, UserId};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args as ClapArgs, CommandFactory, FromArgMatches, Parser, Subcommand};
use tracing_subscriber::filter::Targets;

use crate::config::ConfigFile;
use crate::{AgentLogin, Config, Durability, RouterKind};

/// `--snapshot-every` when not given.
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 100_000;

/// `--license-plan` when not given.
pub const DEFAULT_LICENSE_PLAN: &str = "enterprise";

/// `--listen` when not given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// What `--help` prints after the flags.
const ENDPOINTS: &str = "\
ENDPOINTS (LICENSE_ID picks the license; on a server with only its default license
LICENSE_ID is accepted and ignored, as before; agents may leave it out: their token says which
license):
    ws://ADDR/agent/v0.5/rtm/ws?license_id=LICENSE_ID
    ws://ADDR/customer/v0.5/rtm/ws?license_id=LICENSE_ID
        The first message must be login, with the token in its payload:
        {\"request_id\":\"1\",\"action\":\"login\",\"payload\":{\"token\":\"Bearer TOKEN\"}}
        After it, requests get responses and the user's pushes arrive on every one of its
        connections. An agent is online for routing while it has a connection.
    POST http://ADDR/agent/v0.5/action/ACTION
    POST http://ADDR/customer/v0.5/action/ACTION
        Header `Authorization: Bearer TOKEN`, body {\"payload\": {...}, \"author_id\": \"...\"}
        (both optional). Answers the response payload with 200, or {\"error\": {...}} with
        401 (authentication), 403 (authorization, customer_banned), 400 (validation,
        unsupported_version), 402 (license_expired) or 500.
        Actions v0.5 offers over RTM only are refused here, unperformed, with 400 and
        validation, as an unknown action is: agent login, get_archives, get_filtered_chats,
        get_chat_threads, update_agent, change_push_notifications, add_auto_chat_scopes,
        remove_auto_chat_scopes, get_auto_chat_scopes_config; customer login,
        get_chats_summary, get_chat_threads, get_chat_threads_summary,
        update_last_seen_timestamp. ping and the actions taken from later protocol versions
        (transfer_chat, get_queue_position, ...) are served on both.

    Agents use the tokens given with --agent. Customers log in with any non-empty token; the
    same token is always the same customer (customer-<first 128 bits of its SHA-256>).
    `Bearer ` before a token is optional. Other versions than v0.5 get unsupported_version;
    frames and bodies over 1 MiB are refused. Ctrl-C closes every connection, takes a
    snapshot (with --data) and exits. Once it listens, the server prints `listening on ADDR`
    on standard output (handy with port 0).

    GET http://ADDR/metrics
        The server's metrics in the Prometheus text format.

    GET, POST http://ADDR/admin/licenses
        List the licenses, or create one (body {\"id\", \"plan\", \"expires\", \"agents\": [...]}),
        with `Authorization: Bearer ADMIN_TOKEN` (CHATIO_ADMIN_TOKEN). See server/README.md.

    With --postgres, a request for a license another node serves gets 307 (Web API) or, over
    RTM, the error misdirected_request with the owner's URL in data.url.

ENVIRONMENT:
    CHATIO_AGENT_TOKENS
        Agents and their tokens, kept off the command line (which other users of the machine
        can read with ps): entries as --agent takes them, separated by whitespace. An entry of
        only TOKEN=AGENT_ID gives a token to an agent of --config and keeps its profile.
        --agent-token-file and --agent override it, and it overrides the config file.
    CHATIO_ADMIN_TOKEN
        The administrator's token for /admin/licenses (or admin_token in --config); without
        one the admin API is off.

SUBCOMMANDS:
    chatio-server loadgen --help     the load bench
    chatio-server echo --help        a bare WebSocket echo server, the load bench's baseline
    chatio-server backup --help      an online backup of --data";

/// `chatio-server`: the server's flags, or a subcommand.
#[derive(Debug, Parser)]
#[command(
    name = "chatio-server",
    version,
    about = "chat.io v0.5 RTM (WebSocket) and Web API (HTTP) over one chatio engine",
    after_long_help = ENDPOINTS,
    max_term_width = 100,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeFlags,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve (what `chatio-server` does without a subcommand).
    Serve(Box<ServeFlags>),
    /// The load bench: C customers with K requests in flight, A agents counting pushes, beside
    /// a bare WebSocket echo server.
    Loadgen(crate::loadgen::LoadgenFlags),
    /// A bare WebSocket echo server (axum, Tokio, tungstenite, TCP_NODELAY): the load bench's
    /// baseline.
    Echo(crate::loadgen::EchoFlags),
    /// Copies the database of --data into DIR with SQLite's online backup API, while a server
    /// may be running on it: a consistent copy of everything committed, checked, synced, and
    /// ready to start a server with --data DIR.
    Backup(BackupFlags),
}

/// `chatio-server backup`'s flags.
#[derive(Debug, Clone, ClapArgs)]
pub struct BackupFlags {
    /// The data directory to copy (the server's --data).
    #[arg(long, value_name = "DIR", required_unless_present = "config")]
    data: Option<PathBuf>,
    /// Take --data from this configuration file's `data` key.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where the copy goes (created if missing; it must not hold a database already).
    #[arg(value_name = "DIR")]
    target: PathBuf,
}

/// The server's flags. Each one given on the command line overrides the `--config` file's key;
/// the defaults shown apply when neither gives a value.
#[derive(Debug, Clone, ClapArgs)]
pub struct ServeFlags {
    /// Settings in TOML (see server/chatio-server.example.toml).
    ///
    /// Keys: listen, router, seed, data, snapshot_every, max_backlog, public_url,
    /// static_config_path, single_session, webhook_ca, log,
    /// admin_token, postgres, lease_ttl, advertise, [license], [timeouts], [[agents]] (with
    /// tokens, groups, max_chats, permission), [[licenses]] (more licenses, each with its
    /// agents), [[properties]] and [[auto_chat_scopes]]. Flags given beside it override it;
    /// --agent adds agents to its
    /// list (an --agent with the id of one in the file replaces it).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Address to listen on.
    ///
    /// Loopback only unless you say otherwise; tokens travel in the clear, so put TLS in front
    /// of anything public.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,

    /// An agent who logs in with TOKEN (repeatable).
    ///
    /// NAME defaults to AGENT_ID, GROUPS is a comma-separated list of group numbers (default
    /// none), MAX_CHATS is how many chats routing may give the agent at once (default 6).
    /// Empty fields take the default, e.g. --agent s3cret=bob@example.com::1,2:3. Only
    /// TOKEN=AGENT_ID, for an agent of --config, gives it that token and keeps its profile.
    /// Tokens must be long and random (16 characters or more, 8 of them different; e.g.
    /// `head -c 24 /dev/urandom | base64`). The command line is visible to other users of the
    /// machine (ps): prefer --agent-token-file or CHATIO_AGENT_TOKENS.
    #[arg(
        long = "agent",
        value_name = "TOKEN=AGENT_ID[:NAME[:GROUPS[:MAX_CHATS]]]",
        value_parser = parse_agent
    )]
    agents: Vec<AgentSpec>,

    /// A file of agents and their tokens, one --agent entry a line (blank lines and lines
    /// starting with # are skipped). Overrides CHATIO_AGENT_TOKENS and the config file; --agent
    /// overrides it.
    #[arg(long, value_name = "FILE")]
    agent_token_file: Option<PathBuf>,

    /// Accept weak agent tokens (shorter than 16 characters, or fewer than 8 different ones):
    /// for tests and demos only.
    #[arg(long)]
    allow_weak_tokens: bool,

    /// How chats are assigned: automatic, manual, least_loaded or round_robin.
    #[arg(long, value_name = "ROUTER", default_value = "automatic", value_parser = parse_router)]
    router: RouterKind,

    /// Seeds the engine's id generator with N, making ids predictable: for tests and replays.
    ///
    /// Without it a new engine draws its seed from the operating system, and with --data it is
    /// stored with the data and kept at every start.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,

    /// The license this server is.
    ///
    /// Agents' login then carries a `license` object with ID, the plan, when the license was
    /// created (this server's first start) and, with --license-expires, when it expires.
    /// Without it login shows no license and nothing expires. (A server with this license
    /// alone serves every license_id of the URLs with it; see [[licenses]] for more.)
    #[arg(long, value_name = "ID", value_parser = non_empty)]
    license_id: Option<String>,

    /// The plan login shows. Needs --license-id.
    #[arg(long, value_name = "PLAN", default_value = DEFAULT_LICENSE_PLAN, value_parser = non_empty)]
    license_plan: String,

    /// When the license expires, in Unix seconds. Needs --license-id.
    ///
    /// From then on every request but ping is refused with license_expired (402 on the Web
    /// API).
    #[arg(long, value_name = "UNIX_SECONDS", allow_negative_numbers = true)]
    license_expires: Option<i64>,

    /// How long an assigned agent has to see a customer's message before the chat moves on,
    /// and the quiet time after which a chat is idle, in seconds.
    #[arg(long = "unseen-timeout", value_name = "SECS", default_value_t = 300)]
    unseen: i64,

    /// How long an idle chat stays open before it is archived, in seconds.
    #[arg(
        long = "inactivity-timeout",
        value_name = "SECS",
        default_value_t = 1500
    )]
    inactivity: i64,

    /// Close a connection that sends nothing for this long, in seconds.
    ///
    /// Clients ping every 15 s (the `ping` action).
    #[arg(long = "idle-timeout", value_name = "SECS", default_value_t = 60)]
    idle: u64,

    /// The bound of each connection's backlog of unsent messages, in bytes (16 MiB).
    ///
    /// A burst over it is still kept whole; see --stall-timeout.
    #[arg(long, value_name = "BYTES", default_value_t = crate::DEFAULT_MAX_BACKLOG)]
    max_backlog: usize,

    /// The address clients reach this server at, e.g. `https://chat.example.com`: the start of
    /// the URLs of uploaded files (upload_image, send_file). Default: http:// and the upload
    /// request's Host header.
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,

    /// What the customer's login answers as static_config_path: where you publish the
    /// license's static configuration for customer applications, e.g.
    /// `cdn.example.com/license/1/config.json`. Default: the field is left out.
    #[arg(long, value_name = "PATH")]
    static_config_path: Option<String>,

    /// One session per agent: an agent's login closes its older connections, each told
    /// agent_disconnected with reason logged_out_remotely.
    #[arg(long)]
    single_session: bool,

    /// A PEM file of certificate authorities to trust for https webhooks, besides the public
    /// ones built in (for receivers behind a company's own authority).
    #[arg(long, value_name = "FILE")]
    webhook_ca: Option<PathBuf>,
    /// Move closed threads older than AGE (7d, 12h, 30m, 90s) out of memory into the store,
    /// from where get_chat_threads and get_archives still read them. Needs --data or
    /// --postgres. Default: off (every thread stays in memory).
    #[arg(long, value_name = "AGE", value_parser = crate::parse_age)]
    archive_after: Option<Duration>,

    /// How long a backlog may stay over --max-backlog, in seconds.
    ///
    /// A connection whose backlog stays over --max-backlog this long (or passes four times it)
    /// has stopped reading: it gets an agent_disconnected or customer_disconnected push with
    /// reason "backlog_stalled" and is closed (code 1008). It recovers what it missed by
    /// logging in again (see server/README.md).
    #[arg(long = "stall-timeout", value_name = "SECS", default_value_t = 10)]
    stall: u64,

    /// Keep the engine in DIR and recover it at the next start.
    ///
    /// DIR is created if missing; the file is DIR/chatio.sqlite3. Without it everything is
    /// lost at exit. Every change is committed (SQLite, WAL, synchronous=FULL) before the
    /// request that made it is answered or anyone is told of it, so whatever a client saw
    /// survives a crash, and a power cut too if the disk keeps what it syncs. A writer thread
    /// commits every change waiting since its last commit in one transaction (group commit).
    ///
    /// One server per DIR. --seed, the timeouts and the --license-* flags must be the same at
    /// every start on a DIR (a start with others is refused, and changes nothing); the license
    /// keeps the creation time of the first start. --agent and --router may change: new agents
    /// are added, a different router is switched to; an agent given before stays in the data
    /// (without an --agent token it cannot log in) and keeps its profile. Customers keep their
    /// ids: they come from their tokens.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,

    /// With --data: write a snapshot of the whole engine every N changes (0: only at startup
    /// after a recovery and at a clean shutdown).
    ///
    /// Or once the changes since the last snapshot are as many as all those before it, if
    /// that is more, so that snapshots of a growing engine take a bounded share of the time.
    /// The two latest are kept, and the journal after the older one: a start restores the
    /// newest that reads and replays the changes after it (at most that many, or twice as many
    /// if it had to fall back). Snapshots are encoded from a copy of the engine on a thread of
    /// their own: requests and commits go on meanwhile.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_SNAPSHOT_EVERY)]
    snapshot_every: u64,

    /// What to log, as a tracing filter [default: info; or RUST_LOG].
    ///
    /// A level (error, warn, info, debug, trace) or target=level pairs, e.g.
    /// chatio_server=debug.
    #[arg(long, value_name = "FILTER")]
    log: Option<String>,

    /// Warnings and errors only (--log warn).
    #[arg(long, conflicts_with = "log")]
    quiet: bool,

    /// Keep the licenses on this Postgres database, shared with other nodes, instead of
    /// --data (a libpq URL, e.g. postgres://chatio@db.example.com/chatio).
    ///
    /// Each license is served by one node at a time, which holds its lease; a node that dies
    /// has its licenses taken by the others once its leases expire (--lease-ttl). A node
    /// answers requests for other nodes' licenses with where they live. See
    /// server/docs/multi-node.md. The URL may carry a password: prefer the config file's
    /// `postgres` key or a password file (PGPASSFILE) to the command line.
    #[arg(
        long,
        value_name = "URL",
        conflicts_with = "data",
        help_heading = "Many nodes"
    )]
    postgres: Option<String>,

    /// With --postgres: how long a lease lasts unrenewed, in seconds (renewed every third of
    /// it). A dead node's licenses are served again elsewhere after about this long.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 10,
        help_heading = "Many nodes"
    )]
    lease_ttl: u64,

    /// With --postgres: connections to the database, shared by the licenses' writers.
    #[arg(long, value_name = "N", default_value_t = crate::pg::DEFAULT_CONNECTIONS, help_heading = "Many nodes")]
    postgres_connections: usize,

    /// With --postgres: the HOST:PORT other nodes send this node's clients to [default: the
    /// address it listens on].
    #[arg(long, value_name = "HOST:PORT", help_heading = "Many nodes")]
    advertise: Option<String>,

    /// With --data: start even if PRAGMA quick_check finds the database damaged, restoring
    /// what still reads (the newest snapshot that reads, the journal after it).
    #[arg(long)]
    skip_integrity_check: bool,

    /// Open connections at most [default: the descriptor limit less 64, at most 10000].
    ///
    /// Past it, the oldest connection that has not logged in is closed to make room; if every
    /// one has, the new one is refused with 503.
    #[arg(long, value_name = "N", help_heading = "Limits")]
    max_connections: Option<usize>,

    /// Open connections from one address (IPv6: one /64) at most; more are refused with 429.
    #[arg(long, value_name = "N", default_value_t = 100, help_heading = "Limits")]
    max_connections_per_address: usize,

    /// The time a client has to send an HTTP request's headers, and the longest an HTTP
    /// connection may stay idle between requests, in seconds.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 10,
        help_heading = "Limits"
    )]
    header_timeout: u64,

    /// The time a client has to send a Web API request's body, in seconds.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 10,
        help_heading = "Limits"
    )]
    body_timeout: u64,

    /// The time a WebSocket has to log in after the upgrade, in seconds; pings do not extend
    /// it.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 10,
        help_heading = "Limits"
    )]
    login_timeout: u64,

    /// At SIGTERM or SIGINT: how long requests in flight and closing connections get before
    /// the rest are dropped, in seconds. Then the last commit and snapshot are written.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 10,
        help_heading = "Limits"
    )]
    shutdown_timeout: u64,

    /// Requests per second one connection may make on average (0: no limit); more are answered
    /// with too_many_requests (429 on the Web API), unperformed.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 50.0,
        help_heading = "Limits"
    )]
    request_rate: f64,

    /// Requests a connection may make at once above --request-rate.
    #[arg(long, value_name = "N", default_value_t = 200, help_heading = "Limits")]
    request_burst: u32,

    /// Failed authentications an address, or a token, may have within --auth-window before it
    /// is made to wait (1 s, doubling up to --auth-backoff-max); each block is logged.
    #[arg(long, value_name = "N", default_value_t = 10, help_heading = "Limits")]
    auth_failures: u32,

    /// The window --auth-failures counts in, in seconds.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 60,
        help_heading = "Limits"
    )]
    auth_window: u64,

    /// The longest wait after failed authentications, in seconds.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 300,
        help_heading = "Limits"
    )]
    auth_backoff_max: u64,

    /// New customers one address may create per second on average (0: no limit). A customer
    /// is created by its first request that changes something (not by login or ping).
    #[arg(long, value_name = "N", default_value_t = 1.0, help_heading = "Limits")]
    customer_rate: f64,

    /// New customers one address may create at once above --customer-rate.
    #[arg(long, value_name = "N", default_value_t = 30, help_heading = "Limits")]
    customer_burst: u32,

    /// RTM connections one user (agent or customer) may have logged in at once; the next
    /// gets agent_disconnected or customer_disconnected with reason too_many_connections.
    #[arg(long, value_name = "N", default_value_t = 32, help_heading = "Limits")]
    connections_per_user: usize,
}

/// One `--agent` entry: the agent and its token, and whether it says more than its id (an
/// entry of only `TOKEN=AGENT_ID` keeps the profile of the configured agent it names).
#[derive(Clone, Debug)]
pub struct AgentSpec {
    login: AgentLogin,
    profile: bool,
}

/// What the command line asks for.
#[derive(Debug)]
pub struct Args {
    /// `--listen`.
    pub listen: SocketAddr,
    /// Agents, router, engine settings, timeouts.
    pub config: Config,
    /// `--data` and `--snapshot-every`.
    pub durability: Option<Durability>,
    /// `--log` / `--quiet`, as a tracing filter (`None`: `RUST_LOG`, else `info`).
    pub log: Option<String>,
    /// Licenses besides the default one, the admin token, `--postgres`.
    pub node: crate::hub::NodeOptions,
}

/// The server's `--help` text, as `chatio-server --help` prints it.
pub fn usage() -> String {
    Cli::command().render_long_help().to_string()
}

/// The binary's entry point: `loadgen` and `echo` subcommands, else the server. Returns the
/// exit status (2 for flags it cannot read).
pub fn main(args: impl IntoIterator<Item = String>) -> u8 {
    let matches = match Cli::command().try_get_matches_from(program(args)) {
        Ok(matches) => matches,
        Err(e) => return clap_exit(&e),
    };
    match matches.subcommand() {
        Some(("loadgen", sub)) => match crate::loadgen::LoadgenFlags::from_arg_matches(sub) {
            Ok(flags) => crate::loadgen::main(flags),
            Err(e) => clap_exit(&e),
        },
        Some(("echo", sub)) => match crate::loadgen::EchoFlags::from_arg_matches(sub) {
            Ok(flags) => crate::loadgen::echo_main(flags),
            Err(e) => clap_exit(&e),
        },
        Some(("backup", sub)) => match BackupFlags::from_arg_matches(sub) {
            Ok(flags) => backup(flags),
            Err(e) => clap_exit(&e),
        },
        Some(("serve", sub)) => run_matches(sub),
        _ => run_matches(&matches),
    }
}

/// `chatio-server backup`: returns the exit status (0: the copy is complete and checked).
fn backup(flags: BackupFlags) -> u8 {
    let data = match (&flags.data, &flags.config) {
        (Some(data), _) => Ok(data.clone()),
        (None, Some(path)) => ConfigFile::load(path).and_then(|file| {
            file.data
                .ok_or_else(|| format!("--config {}: no `data` key", path.display()))
        }),
        (None, None) => Err("--data DIR is needed".to_string()),
    };
    let started = std::time::Instant::now();
    match data.and_then(|data| crate::store::backup(&data, &flags.target)) {
        Ok(copy) => {
            println!(
                "backed up into {}: {} bytes, {} journal record(s), {} snapshot(s), in {} ms",
                copy.path.display(),
                copy.bytes,
                copy.records,
                copy.snapshots,
                started.elapsed().as_millis()
            );
            0
        }
        Err(e) => {
            eprintln!("chatio-server backup: {e}");
            1
        }
    }
}

/// `args` with the program's name in front, as clap reads them.
fn program(args: impl IntoIterator<Item = String>) -> impl Iterator<Item = String> {
    std::iter::once("chatio-server".to_string()).chain(args)
}

/// Prints what clap has to say (help, version, or an error) and returns the exit status.
fn clap_exit(e: &clap::Error) -> u8 {
    let _ = e.print();
    u8::try_from(e.exit_code()).unwrap_or(2)
}

/// Installs the log subscriber: `filter`, else `RUST_LOG`, else `info`, to standard error.
/// A second call (a host that set its own) changes nothing.
pub fn init_logging(filter: Option<&str>) {
    let from_env = std::env::var("RUST_LOG").ok();
    let filter = filter.or(from_env.as_deref()).unwrap_or("info");
    let targets: Targets = filter.parse().unwrap_or_else(|_| {
        eprintln!("chatio-server: cannot read the log filter {filter:?}; logging at info");
        Targets::new().with_default(tracing::Level::INFO)
    });
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false),
        )
        .with(targets)
        .try_init();
}

/// Runs the server the flags describe until Ctrl-C; returns the exit status (0: a clean
/// shutdown; 1: a failure while running; 2: no start: bad flags, or `--data` that does not
/// fit them, cannot be read or is in use).
pub fn run(args: impl IntoIterator<Item = String>) -> u8 {
    match Cli::command().try_get_matches_from(program(args)) {
        Ok(matches) => run_matches(&matches),
        Err(e) => clap_exit(&e),
    }
}

fn run_matches(matches: &ArgMatches) -> u8 {
    let Args {
        listen,
        config,
        durability,
        log,
        node,
    } = match args_from(matches, std::env::var(AGENT_TOKENS_ENV).ok().as_deref()) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("chatio-server: {e}\nTry --help.");
            return 2;
        }
    };
    init_logging(log.as_deref());
    let agents = config.agents.len();
    let router = config.router.as_str();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return 1;
        }
    };
    runtime.block_on(async move {
        // Recovery comes before listening: a client that connects sees the whole engine.
        let server = match crate::hub::Node::open(config, durability, node).await {
            Ok(server) => server,
            Err(e) => {
                tracing::error!("{e}");
                return 2;
            }
        };
        for line in server.report() {
            tracing::info!("{line}");
        }
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::error!(%listen, error = %e, "cannot listen");
                return 1;
            }
        };
        let addr = listener.local_addr().unwrap_or(listen);
        if !addr.ip().is_loopback() {
            tracing::warn!(%addr, "listening beyond this machine");
        }
        if agents == 0 {
            tracing::warn!("no agents (add some with --agent TOKEN=AGENT_ID or --config)");
        }
        tracing::info!(agents, router, "listening on {}", crate::describe(addr));
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "listening on {addr}");
        let _ = stdout.flush();
        drop(stdout);
        let shutdown = async {
            let signal = stop_signal().await;
            tracing::info!(signal, "shutting down");
        };
        match server.serve(listener, shutdown).await {
            Ok(()) => {
                tracing::info!("bye");
                0
            }
            Err(e) => {
                tracing::error!(error = %e, "serving failed");
                1
            }
        }
    })
}

/// Waits for SIGTERM or SIGINT (Ctrl-C) and names it. Without signal handling it waits
/// forever (the process is then ended by its supervisor).
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    let int = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = term => "SIGTERM",
        () = int => "SIGINT",
    }
}

/// What the flags (and the `--config` file they name, and `CHATIO_AGENT_TOKENS`) ask for, or
/// `None` for `--help`.
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Args>, String> {
    parse_args_with_env(args, std::env::var(AGENT_TOKENS_ENV).ok().as_deref())
}

/// [`parse_args`], with `agent_tokens` standing for `CHATIO_AGENT_TOKENS` (tests cannot set
/// the environment of a process whose other threads read it).
pub fn parse_args_with_env(
    args: impl IntoIterator<Item = String>,
    agent_tokens: Option<&str>,
) -> Result<Option<Args>, String> {
    match Cli::command().try_get_matches_from(program(args)) {
        Ok(matches) => args_from(&matches, agent_tokens).map(Some),
        Err(e) if !e.use_stderr() => Ok(None),
        Err(e) => Err(e.render().to_string()),
    }
}

/// The environment variable with agents and their tokens.
pub const AGENT_TOKENS_ENV: &str = "CHATIO_AGENT_TOKENS";

/// The server's settings from parsed flags: flags given on the command line over the
/// `--config` file over the defaults.
fn args_from(matches: &ArgMatches, agent_tokens: Option<&str>) -> Result<Args, String> {
    let flags = ServeFlags::from_arg_matches(matches).map_err(|e| e.render().to_string())?;
    let file = match &flags.config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    let mut specs = Vec::new();
    if let Some(text) = agent_tokens {
        for entry in text.split_whitespace() {
            specs.push(parse_agent(entry).map_err(|e| format!("{AGENT_TOKENS_ENV}: {e}"))?);
        }
    }
    if let Some(path) = &flags.agent_token_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--agent-token-file {}: {e}", path.display()))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            specs.push(parse_agent(line).map_err(|e| {
                format!("--agent-token-file {} line {}: {e}", path.display(), n + 1)
            })?);
        }
    }
    if !flags.agents.is_empty() {
        // Before logging is set up (its filter comes from these flags): straight to stderr.
        eprintln!(
            "chatio-server: warning: agent tokens given with --agent are visible to other users \
             of this machine (ps); --agent-token-file or {AGENT_TOKENS_ENV} keep them off the \
             command line"
        );
    }
    merge(matches, flags, file, specs)
}

/// Whether the flag with this id was given on the command line (not a default).
fn given(matches: &ArgMatches, id: &str) -> bool {
    matches.value_source(id) == Some(ValueSource::CommandLine)
}

/// Flags over the file over the defaults; `specs` are the agents of `CHATIO_AGENT_TOKENS` and
/// `--agent-token-file`, in that order (the later wins).
fn merge(
    m: &ArgMatches,
    f: ServeFlags,
    file: ConfigFile,
    specs: Vec<AgentSpec>,
) -> Result<Args, String> {
    // The flag if given, else the file's key if set, else the flag's default.
    fn pick<T>(m: &ArgMatches, id: &str, flag: T, file: Option<T>) -> T {
        match file {
            Some(value) if !given(m, id) => value,
            _ => flag,
        }
    }
    let listen = pick(m, "listen", f.listen, file.listen);
    let mut config = Config::default();
    for agent in &file.agents {
        config.agents.push(agent.login()?);
    }
    for spec in specs.into_iter().chain(f.agents) {
        match config
            .agents
            .iter_mut()
            .find(|a| a.agent.id == spec.login.agent.id)
        {
            Some(known) if !spec.profile => known.token = spec.login.token,
            Some(known) => *known = spec.login,
            None => config.agents.push(spec.login),
        }
    }
    let file_router = file.router.as_deref().map(str::parse).transpose()?;
    config.router = pick(m, "router", f.router, file_router);
    config.seed = f.seed.or(file.seed);
    config.allow_weak_tokens = f.allow_weak_tokens || file.allow_weak_tokens.unwrap_or(false);
    let l = &file.limits;
    let secs = Duration::from_secs;
    config.limits = crate::Limits {
        max_connections: f
            .max_connections
            .or(l.max_connections)
            .unwrap_or_else(crate::limits::default_max_connections)
            .max(1),
        max_connections_per_address: pick(
            m,
            "max_connections_per_address",
            f.max_connections_per_address,
            l.max_connections_per_address,
        )
        .max(1),
        header_timeout: secs(pick(m, "header_timeout", f.header_timeout, l.header_timeout).max(1)),
        body_timeout: secs(pick(m, "body_timeout", f.body_timeout, l.body_timeout).max(1)),
        login_timeout: secs(pick(m, "login_timeout", f.login_timeout, l.login_timeout).max(1)),
        shutdown_timeout: secs(pick(
            m,
            "shutdown_timeout",
            f.shutdown_timeout,
            l.shutdown_timeout,
        )),
        request_rate: pick(m, "request_rate", f.request_rate, l.request_rate).max(0.0),
        request_burst: pick(m, "request_burst", f.request_burst, l.request_burst).max(1),
        auth_failures: pick(m, "auth_failures", f.auth_failures, l.auth_failures),
        auth_window: secs(pick(m, "auth_window", f.auth_window, l.auth_window).max(1)),
        auth_backoff_max: secs(
            pick(
                m,
                "auth_backoff_max",
                f.auth_backoff_max,
                l.auth_backoff_max,
            )
            .max(1),
        ),
        customer_rate: pick(m, "customer_rate", f.customer_rate, l.customer_rate).max(0.0),
        customer_burst: pick(m, "customer_burst", f.customer_burst, l.customer_burst).max(1),
        connections_per_user: pick(
            m,
            "connections_per_user",
            f.connections_per_user,
            l.connections_per_user,
        )
        .max(1),
    };
    let unseen = pick(m, "unseen", f.unseen, file.timeouts.unseen);
    let inactivity = pick(m, "inactivity", f.inactivity, file.timeouts.inactivity);
    config.engine = config.engine.routing_timeouts(unseen, inactivity);
    let idle = pick(m, "idle", f.idle, file.timeouts.idle);
    config.idle_timeout = Duration::from_secs(idle.max(1));
    let stall = pick(m, "stall", f.stall, file.timeouts.stall);
    config.stall_timeout = Duration::from_secs(stall.max(1));
    config.max_backlog = pick(m, "max_backlog", f.max_backlog, file.max_backlog).max(1);
    config.public_url = f.public_url.or(file.public_url);
    config.static_config_path = f.static_config_path.or(file.static_config_path);
    config.single_session = f.single_session || file.single_session.unwrap_or(false);
    if let Some(ca) = f.webhook_ca.or(file.webhook_ca) {
        config.webhook_authorities = crate::webhooks::read_authorities(&ca)?;
    }
    config.archive_after = f.archive_after;
    config.properties = file.properties;
    config.auto_chat_scopes = file.auto_chat_scopes;
    let (file_id, file_plan, file_expires) = match file.license {
        Some(l) => (Some(l.id), l.plan, l.expires),
        None => (None, None, None),
    };
    let plan_set = given(m, "license_plan") || file_plan.is_some();
    let license_plan = pick(m, "license_plan", f.license_plan, file_plan);
    let license_expires = f.license_expires.or(file_expires);
    match f.license_id.or(file_id) {
        // Created now; with --data, a later start keeps the stored creation time (store.rs).
        Some(id) => {
            config.engine = config.engine.license(
                License::new(id, license_plan, crate::now())
                    .expiration_timestamp(license_expires.map(Timestamp::from_unix_seconds)),
            );
        }
        None if plan_set || license_expires.is_some() => {
            return Err("--license-plan and --license-expires need --license-id".to_string());
        }
        None => {}
    }
    let durability = f.data.or(file.data).map(|dir| Durability {
        dir,
        snapshot_every: pick(m, "snapshot_every", f.snapshot_every, file.snapshot_every),
        skip_integrity_check: f.skip_integrity_check,
    });
    config.check()?;
    let postgres = f.postgres.or(file.postgres);
    let configured = !config.agents.is_empty() || config.engine.license.is_some();
    // The top-level license is the default one, as it always was, unless the node is given
    // its licenses otherwise ([[licenses]], --postgres) and the top level describes none.
    let default_license = configured || (postgres.is_none() && file.licenses.is_empty());
    if postgres.is_some() && durability.is_some() {
        return Err("--postgres and --data are two stores: give one".to_string());
    }
    let node = crate::hub::NodeOptions {
        licenses: file.licenses,
        default_license,
        admin_token: std::env::var(crate::hub::ADMIN_TOKEN_ENV)
            .ok()
            .filter(|t| !t.is_empty())
            .or(file.admin_token),
        postgres: postgres.map(|url| crate::pg::PgOptions {
            url,
            lease_ttl: Duration::from_secs(
                pick(m, "lease_ttl", f.lease_ttl, file.lease_ttl).max(1),
            ),
            connections: f.postgres_connections.max(1),
            advertise: f.advertise.or(file.advertise),
            snapshot_every: pick(m, "snapshot_every", f.snapshot_every, file.snapshot_every),
        }),
    };
    if let Some(token) = &node.admin_token
        && weak_admin(token)
        && !config.allow_weak_tokens
    {
        return Err(
            "the administrator's token is weak; use a long random one (or --allow-weak-tokens, \
             for tests and demos only)"
                .to_string(),
        );
    }
    let log = if f.quiet {
        Some("warn".to_string())
    } else {
        f.log.or(file.log)
    };
    Ok(Args {
        listen,
        config,
        durability,
        log,
        node,
    })
}

/// Whether the administrator's token is too easy to guess (as [`crate::weak_token`] says of
/// agents' tokens).
fn weak_admin(token: &str) -> bool {
    crate::weak_token(token).is_some()
}

fn non_empty(v: &str) -> Result<String, String> {
    if v.trim().is_empty() {
        return Err("needs a non-empty value".to_string());
    }
    Ok(v.to_string())
}

fn parse_router(v: &str) -> Result<RouterKind, String> {
    v.parse()
}

/// `TOKEN=AGENT_ID[:NAME[:GROUPS[:MAX_CHATS]]]`.
fn parse_agent(spec: &str) -> Result<AgentSpec, String> {
    let bad = |why: &str| format!("--agent {spec:?}: {why}");
    let (token, rest) = spec
        .split_once('=')
        .ok_or_else(|| bad("expected TOKEN=AGENT_ID"))?;
    let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
    if token.is_empty() {
        return Err(bad("the token is empty"));
    }
    if token.chars().any(char::is_whitespace) {
        return Err(bad("the token has white space in it"));
    }
    let profile = rest.contains(':');
    let mut fields = rest.split(':');
    let id = fields.next().unwrap_or_default();
    let id = UserId::new(id).map_err(|e| bad(&e.to_string()))?;
    let name = fields
        .next()
        .filter(|n| !n.is_empty())
        .map_or_else(|| id.to_string(), str::to_string);
    let mut agent = Agent::new(id, name);
    if let Some(groups) = fields.next().filter(|g| !g.is_empty()) {
        let groups = groups
            .split(',')
            .map(|g| g.trim().parse().map(GroupId))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| bad("GROUPS is a comma-separated list of numbers"))?;
        agent = agent.with_groups(groups);
    }
    if let Some(max) = fields.next().filter(|m| !m.is_empty()) {
        let max = max
            .parse()
            .map_err(|_| bad("MAX_CHATS is a number of chats"))?;
        agent = agent.with_max_chats(max);
    }
    if fields.next().is_some() {
        return Err(bad("too many fields"));
    }
    Ok(AgentSpec {
        login: AgentLogin {
            token: token.to_string(),
            agent,
        },
        profile,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(list: &[&str]) -> Result<Option<Args>, String> {
        parse_args(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_lists_every_flag_and_the_endpoints() {
        let help = usage();
        for flag in [
            "--config",
            "--listen",
            "--agent",
            "--router",
            "--seed",
            "--license-id",
            "--license-plan",
            "--license-expires",
            "--unseen-timeout",
            "--inactivity-timeout",
            "--idle-timeout",
            "--max-backlog",
            "--stall-timeout",
            "--data",
            "--snapshot-every",
            "--log",
            "--quiet",
            "--postgres",
            "--lease-ttl",
            "--advertise",
            "--postgres-connections",
            "loadgen",
            "echo",
            "/admin/licenses",
            "CHATIO_ADMIN_TOKEN",
            "misdirected_request",
        ] {
            assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
        }
        assert!(help.contains("LICENSE_ID picks the license"));
        assert!(parse(&["--help"]).unwrap().is_none());
    }

    #[test]
    fn postgres_and_the_node_options() {
        let a = parse(&[
            "--postgres",
            "postgres://db/chatio",
            "--lease-ttl",
            "3",
            "--advertise",
            "10.0.0.1:8080",
        ])
        .unwrap()
        .unwrap();
        let pg = a.node.postgres.expect("--postgres");
        assert_eq!(pg.url, "postgres://db/chatio");
        assert_eq!(pg.lease_ttl, Duration::from_secs(3));
        assert_eq!(pg.advertise.as_deref(), Some("10.0.0.1:8080"));
        assert!(
            !a.node.default_license,
            "no agents, no license: no default one"
        );
        let b = parse(&[]).unwrap().unwrap();
        assert!(
            b.node.default_license,
            "without --postgres the default license stays"
        );
        assert!(b.node.postgres.is_none());
        let both = parse(&["--postgres", "postgres://db/chatio", "--data", "/tmp/x"]);
        assert!(both.is_err(), "two stores are refused");
    }

    #[test]
    fn both_flag_forms_and_defaults() {
        let a = parse(&["--seed=5", "--router", "manual", "--idle-timeout", "7"])
            .unwrap()
            .unwrap();
        assert_eq!(a.config.seed, Some(5));
        assert_eq!(a.config.router, RouterKind::Manual);
        assert_eq!(a.config.idle_timeout, Duration::from_secs(7));
        assert_eq!(a.listen, DEFAULT_LISTEN.parse::<SocketAddr>().unwrap());
        assert_eq!(a.config.max_backlog, crate::DEFAULT_MAX_BACKLOG);
        assert!(a.durability.is_none());
        let q = parse(&["--quiet"]).unwrap().unwrap();
        assert_eq!(q.log.as_deref(), Some("warn"));
    }

    #[test]
    fn bad_flags_are_refused_with_their_reason() {
        for bad in [
            &["--seed", "x"][..],
            &["--router", "fastest"],
            &["--agent", "nope"],
            &["--agent", "=a@example.com"],
            &["--agent", "t=a@example.com:A:x"],
            &["--listen", "localhost"],
            &["--mystery"],
            &["--quiet", "--log", "debug"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
        let e = parse(&["--router", "fastest"]).unwrap_err();
        assert!(e.contains("fastest"), "{e}");
    }
}
