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
use crate::{AgentLogin, Config, Durability, RouterKind, Server};

/// `--snapshot-every` when not given.
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 100_000;

/// `--license-plan` when not given.
pub const DEFAULT_LICENSE_PLAN: &str = "enterprise";

/// `--listen` when not given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// What `--help` prints after the flags.
const ENDPOINTS: &str = "\
ENDPOINTS (LICENSE_ID is accepted and ignored; one license per server, see --license-id):
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

SUBCOMMANDS:
    chatio-server loadgen --help     the load bench
    chatio-server echo --help        a bare WebSocket echo server, the load bench's baseline";

/// `chatio-server`: the server's flags, or a subcommand.
#[derive(Debug, Parser)]
#[command(
    name = "chatio-server",
    version,
    about = "chat.io v0.5 RTM (WebSocket) and Web API (HTTP) over one chatio engine",
    after_long_help = ENDPOINTS,
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
    Serve(ServeFlags),
    /// The load bench: C customers with K requests in flight, A agents counting pushes, beside
    /// a bare WebSocket echo server.
    Loadgen(crate::loadgen::LoadgenFlags),
    /// A bare WebSocket echo server (axum, Tokio, tungstenite, TCP_NODELAY): the load bench's
    /// baseline.
    Echo(crate::loadgen::EchoFlags),
}

/// The server's flags. Each one given on the command line overrides the `--config` file's key;
/// the defaults shown apply when neither gives a value.
#[derive(Debug, Clone, ClapArgs)]
pub struct ServeFlags {
    /// Settings in TOML (see server/chatio-server.example.toml).
    ///
    /// Keys: listen, router, seed, data, snapshot_every, max_backlog, log, [license],
    /// [timeouts], [[agents]] (with tokens, groups, max_chats, permission), [[properties]]
    /// and [[auto_chat_scopes]]. Flags given beside it override it; --agent adds agents to its
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
    /// Empty fields take the default, e.g. --agent s3cret=bob@example.com::1,2:3
    #[arg(
        long = "agent",
        value_name = "TOKEN=AGENT_ID[:NAME[:GROUPS[:MAX_CHATS]]]",
        value_parser = parse_agent
    )]
    agents: Vec<AgentLogin>,

    /// How chats are assigned: automatic, manual, least_loaded or round_robin.
    #[arg(long, value_name = "ROUTER", default_value = "automatic", value_parser = parse_router)]
    router: RouterKind,

    /// Seeds the engine's id generator.
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,

    /// The license this server is.
    ///
    /// Agents' login then carries a `license` object with ID, the plan, when the license was
    /// created (this server's first start) and, with --license-expires, when it expires.
    /// Without it login shows no license and nothing expires. (The license_id in URLs is still
    /// accepted and ignored.)
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
        Some(("serve", sub)) => run_matches(sub),
        _ => run_matches(&matches),
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
    } = match args_from(matches) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("chatio-server: {e}\nTry --help.");
            return 2;
        }
    };
    init_logging(log.as_deref());
    let agents = config.agents.len();
    let router = config.router.as_str();
    // Recovery comes before listening: a client that connects sees the whole engine.
    let server = match Server::open(config.clone(), durability.as_ref()) {
        Ok(server) => server,
        Err(e) => {
            tracing::error!("{e}");
            return 2;
        }
    };
    for line in server.report() {
        tracing::info!("{line}");
    }
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
            if tokio::signal::ctrl_c().await.is_err() {
                // No signal handling: run until killed.
                std::future::pending::<()>().await;
            }
            tracing::info!("shutting down");
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

/// What the flags (and the `--config` file they name) ask for, or `None` for `--help`.
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Args>, String> {
    match Cli::command().try_get_matches_from(program(args)) {
        Ok(matches) => args_from(&matches).map(Some),
        Err(e) if !e.use_stderr() => Ok(None),
        Err(e) => Err(e.render().to_string()),
    }
}

/// The server's settings from parsed flags: flags given on the command line over the
/// `--config` file over the defaults.
fn args_from(matches: &ArgMatches) -> Result<Args, String> {
    let flags = ServeFlags::from_arg_matches(matches).map_err(|e| e.render().to_string())?;
    let file = match &flags.config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    merge(matches, flags, file)
}

/// Whether the flag with this id was given on the command line (not a default).
fn given(matches: &ArgMatches, id: &str) -> bool {
    matches.value_source(id) == Some(ValueSource::CommandLine)
}

/// Flags over the file over the defaults.
fn merge(m: &ArgMatches, f: ServeFlags, file: ConfigFile) -> Result<Args, String> {
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
    for login in f.agents {
        config.agents.retain(|a| a.agent.id != login.agent.id);
        config.agents.push(login);
    }
    let file_router = file.router.as_deref().map(str::parse).transpose()?;
    config.router = pick(m, "router", f.router, file_router);
    config.engine.seed = pick(m, "seed", f.seed, file.seed);
    let unseen = pick(m, "unseen", f.unseen, file.timeouts.unseen);
    let inactivity = pick(m, "inactivity", f.inactivity, file.timeouts.inactivity);
    config.engine = config.engine.routing_timeouts(unseen, inactivity);
    let idle = pick(m, "idle", f.idle, file.timeouts.idle);
    config.idle_timeout = Duration::from_secs(idle.max(1));
    let stall = pick(m, "stall", f.stall, file.timeouts.stall);
    config.stall_timeout = Duration::from_secs(stall.max(1));
    config.max_backlog = pick(m, "max_backlog", f.max_backlog, file.max_backlog).max(1);
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
    });
    config.check()?;
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
    })
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
fn parse_agent(spec: &str) -> Result<AgentLogin, String> {
    let bad = |why: &str| format!("--agent {spec:?}: {why}");
    let (token, rest) = spec
        .split_once('=')
        .ok_or_else(|| bad("expected TOKEN=AGENT_ID"))?;
    let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
    if token.is_empty() {
        return Err(bad("the token is empty"));
    }
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
    Ok(AgentLogin {
        token: token.to_string(),
        agent,
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
            "loadgen",
            "echo",
        ] {
            assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
        }
        assert!(help.contains("LICENSE_ID is accepted and ignored"));
        assert!(parse(&["--help"]).unwrap().is_none());
    }

    #[test]
    fn both_flag_forms_and_defaults() {
        let a = parse(&["--seed=5", "--router", "manual", "--idle-timeout", "7"])
            .unwrap()
            .unwrap();
        assert_eq!(a.config.engine.seed, 5);
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
