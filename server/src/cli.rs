//! The command line of `chatio-server` (formerly `cargo run --example rtm_server`, whose flags
//! all still work): flags, `--config`, startup, shutdown, and the `loadgen` and `echo`
//! subcommands. `main.rs` runs it; the crash test runs the binary.
//!
//! The parser is written out by hand: it is short, it keeps the old `rtm_server` flags exactly
//! as they were (`--flag VALUE` and `--flag=VALUE`), and it has to tell a flag that was given
//! from one that was not, so that flags override `--config`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chatio::{Agent, GroupId, License, Timestamp, UserId};
use tracing_subscriber::filter::Targets;

use crate::config::ConfigFile;
use crate::{AgentLogin, Config, Durability, RouterKind, Server};

/// `--snapshot-every` when not given.
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 100_000;

/// `--license-plan` when not given.
pub const DEFAULT_LICENSE_PLAN: &str = "enterprise";

/// `--listen` when not given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// What `--help` prints.
pub const USAGE: &str = "\
chatio-server: chat.io v0.5 RTM (WebSocket) and Web API (HTTP) over one chatio engine

USAGE:
    chatio-server [FLAGS]                serve (cargo run --release -p chatio-server -- [FLAGS])
    chatio-server loadgen [FLAGS]        the load bench (chatio-server loadgen --help)
    chatio-server echo [--listen ADDR]   a bare WebSocket echo server, the load bench's baseline

FLAGS:
    --config FILE
        Settings in TOML (see server/chatio-server.example.toml): listen, router, seed,
        data, snapshot_every, max_backlog, log, [license], [timeouts], [[agents]] (with
        tokens, groups, max_chats, permission), [[properties]] and [[auto_chat_scopes]].
        Flags given beside it override it; --agent adds agents to its list (an --agent with
        the id of one in the file replaces it).
    --listen ADDR
        Address to listen on [default: 127.0.0.1:8080]. Loopback only unless you say
        otherwise; tokens travel in the clear, so put TLS in front of anything public.
    --agent TOKEN=AGENT_ID[:NAME[:GROUPS[:MAX_CHATS]]]
        An agent who logs in with TOKEN (repeatable). NAME defaults to AGENT_ID, GROUPS is a
        comma-separated list of group numbers (default none), MAX_CHATS is how many chats
        routing may give the agent at once (default 6). Empty fields take the default, e.g.
        --agent s3cret=bob@example.com::1,2:3
    --router automatic|manual|least_loaded|round_robin
        How chats are assigned [default: automatic].
    --seed N
        Seeds the engine's id generator [default: 0].
    --license-id ID
        The license this server is: agents' login then carries a `license` object with ID,
        the plan, when the license was created (this server's first start) and, with
        --license-expires, when it expires. Without it login shows no license and nothing
        expires. (The license_id in URLs is still accepted and ignored.)
    --license-plan PLAN
        The plan login shows [default: enterprise]. Needs --license-id.
    --license-expires UNIX_SECONDS
        When the license expires: from then on every request but ping is refused with
        license_expired (402 on the Web API). Needs --license-id.
    --unseen-timeout SECS
        How long an assigned agent has to see a customer's message before the chat moves on,
        and the quiet time after which a chat is idle [default: 300].
    --inactivity-timeout SECS
        How long an idle chat stays open before it is archived [default: 1500].
    --idle-timeout SECS
        Close a connection that sends nothing for this long [default: 60]. Clients ping
        every 15 s (the `ping` action).
    --max-backlog BYTES
        The bound of each connection's backlog of unsent messages [default: 16777216, 16 MiB].
        A burst over it is still kept whole; see --stall-timeout.
    --stall-timeout SECS
        A connection whose backlog stays over --max-backlog this long (or passes four times
        it) has stopped reading: it gets an agent_disconnected or customer_disconnected push
        with reason \"backlog_stalled\" and is closed (code 1008) [default: 10]. It recovers
        what it missed by logging in again (see server/README.md).
    --data DIR
        Keep the engine in DIR (created if missing; the file is DIR/chatio.sqlite3) and
        recover it at the next start; without it everything is lost at exit. Every change is
        committed (SQLite, WAL, synchronous=FULL) before the request that made it is answered
        or anyone is told of it, so whatever a client saw survives a crash, and a power cut
        too if the disk keeps what it syncs. A writer thread commits every change waiting
        since its last commit in one transaction (group commit).
        One server per DIR. --seed, the timeouts and the --license-* flags must be the same
        at every start on a DIR (a start with others is refused, and changes nothing); the
        license keeps the creation time of the first start. --agent and --router may
        change: new agents are added, a different router is switched to; an agent given before
        stays in the data (without an --agent token it cannot log in) and keeps its profile.
        Customers keep their ids: they come from their tokens.
    --snapshot-every N
        With --data: write a snapshot of the whole engine every N changes, or once the
        changes since the last snapshot are as many as all those before it if that is more,
        so that snapshots of a growing engine take a bounded share of the time [default:
        100000; 0: only at startup after a recovery and at a clean shutdown]. The two
        latest are kept, and the journal after the older one: a start restores the newest
        that reads and replays the changes after it (at most that many, or twice as many if
        it had to fall back). Snapshots are encoded from a copy of the engine on a thread of
        their own: requests and commits go on meanwhile.
    --log FILTER
        What to log, as a tracing filter: a level (error, warn, info, debug, trace) or
        target=level pairs, e.g. chatio_server=debug [default: info; or RUST_LOG].
    --quiet
        Warnings and errors only (--log warn).
    -h, --help
        Print this and exit.

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
";

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

/// The binary's entry point: `loadgen` and `echo` subcommands, else the server. Returns the
/// exit status.
pub fn main(args: impl IntoIterator<Item = String>) -> u8 {
    let mut args: Vec<String> = args.into_iter().collect();
    match args.first().map(String::as_str) {
        Some("loadgen") => crate::loadgen::main(args.split_off(1)),
        Some("echo") => crate::loadgen::echo_main(args.split_off(1)),
        Some("serve") => run(args.split_off(1)),
        _ => run(args),
    }
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
    let Args {
        listen,
        config,
        durability,
        log,
    } = match parse_args(args) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => {
            print!("{USAGE}");
            return 0;
        }
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

/// The flags as given, before `--config` fills what they leave out.
#[derive(Default)]
struct Flags {
    config: Option<PathBuf>,
    listen: Option<SocketAddr>,
    agents: Vec<AgentLogin>,
    router: Option<RouterKind>,
    seed: Option<u64>,
    license_id: Option<String>,
    license_plan: Option<String>,
    license_expires: Option<i64>,
    unseen: Option<i64>,
    inactivity: Option<i64>,
    idle: Option<u64>,
    stall: Option<u64>,
    max_backlog: Option<usize>,
    data: Option<PathBuf>,
    snapshot_every: Option<u64>,
    log: Option<String>,
}

/// What the flags (and the `--config` file they name) ask for, or `None` for `--help`.
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Args>, String> {
    let mut f = Flags::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // Both `--flag VALUE` and `--flag=VALUE`.
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_string(), Some(value)),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            match inline {
                Some(v) => Ok(v.to_string()),
                None => args.next().ok_or_else(|| format!("{flag} needs {what}")),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--config" => f.config = Some(PathBuf::from(value("a TOML file")?)),
            "--listen" => {
                let v = value("an address such as 127.0.0.1:8080")?;
                f.listen = Some(
                    v.parse()
                        .map_err(|_| format!("--listen: {v:?} is not an IP address and port"))?,
                );
            }
            "--agent" => f.agents.push(parse_agent(&value("TOKEN=AGENT_ID")?)?),
            "--router" => f.router = Some(value("a router name")?.parse()?),
            "--seed" => f.seed = Some(number(&flag, &value("a number")?)?),
            "--license-id" => f.license_id = Some(non_empty(&flag, value("a license id")?)?),
            "--license-plan" => f.license_plan = Some(non_empty(&flag, value("a plan name")?)?),
            "--license-expires" => {
                f.license_expires = Some(number(&flag, &value("a time in Unix seconds")?)?);
            }
            "--unseen-timeout" => f.unseen = Some(number(&flag, &value("seconds")?)?),
            "--inactivity-timeout" => f.inactivity = Some(number(&flag, &value("seconds")?)?),
            "--idle-timeout" => f.idle = Some(number(&flag, &value("seconds")?)?),
            "--stall-timeout" => f.stall = Some(number(&flag, &value("seconds")?)?),
            "--max-backlog" => f.max_backlog = Some(number(&flag, &value("bytes")?)?),
            "--data" => f.data = Some(PathBuf::from(value("a directory")?)),
            "--snapshot-every" => f.snapshot_every = Some(number(&flag, &value("a number")?)?),
            "--log" => f.log = Some(value("a filter such as info")?),
            "--quiet" => f.log = Some("warn".to_string()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let file = match &f.config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    merge(f, file).map(Some)
}

/// Flags over the file over the defaults.
fn merge(f: Flags, file: ConfigFile) -> Result<Args, String> {
    let listen = match f.listen.or(file.listen) {
        Some(listen) => listen,
        None => DEFAULT_LISTEN.parse().map_err(|_| "default address")?,
    };
    let mut config = Config::default();
    for agent in &file.agents {
        config.agents.push(agent.login()?);
    }
    for login in f.agents {
        config.agents.retain(|a| a.agent.id != login.agent.id);
        config.agents.push(login);
    }
    config.router = match (f.router, &file.router) {
        (Some(router), _) => router,
        (None, Some(name)) => name.parse()?,
        (None, None) => RouterKind::default(),
    };
    config.engine.seed = f.seed.or(file.seed).unwrap_or(config.engine.seed);
    let unseen = f
        .unseen
        .or(file.timeouts.unseen)
        .unwrap_or(config.engine.unseen_timeout);
    let inactivity = f
        .inactivity
        .or(file.timeouts.inactivity)
        .unwrap_or(config.engine.inactivity_timeout);
    config.engine = config.engine.routing_timeouts(unseen, inactivity);
    if let Some(idle) = f.idle.or(file.timeouts.idle) {
        config.idle_timeout = Duration::from_secs(idle.max(1));
    }
    if let Some(stall) = f.stall.or(file.timeouts.stall) {
        config.stall_timeout = Duration::from_secs(stall.max(1));
    }
    if let Some(bytes) = f.max_backlog.or(file.max_backlog) {
        config.max_backlog = bytes.max(1);
    }
    config.properties = file.properties;
    config.auto_chat_scopes = file.auto_chat_scopes;
    let (file_id, file_plan, file_expires) = match file.license {
        Some(l) => (Some(l.id), l.plan, l.expires),
        None => (None, None, None),
    };
    let license_plan = f.license_plan.or(file_plan);
    let license_expires = f.license_expires.or(file_expires);
    match f.license_id.or(file_id) {
        // Created now; with --data, a later start keeps the stored creation time (store.rs).
        Some(id) => {
            let plan = license_plan.unwrap_or_else(|| DEFAULT_LICENSE_PLAN.to_string());
            config.engine = config.engine.license(
                License::new(id, plan, crate::now())
                    .expiration_timestamp(license_expires.map(Timestamp::from_unix_seconds)),
            );
        }
        None if license_plan.is_some() || license_expires.is_some() => {
            return Err("--license-plan and --license-expires need --license-id".to_string());
        }
        None => {}
    }
    let durability = f.data.or(file.data).map(|dir| Durability {
        dir,
        snapshot_every: f
            .snapshot_every
            .or(file.snapshot_every)
            .unwrap_or(DEFAULT_SNAPSHOT_EVERY),
    });
    config.check()?;
    Ok(Args {
        listen,
        config,
        durability,
        log: f.log.or(file.log),
    })
}

fn non_empty(flag: &str, v: String) -> Result<String, String> {
    if v.trim().is_empty() {
        return Err(format!("{flag} needs a non-empty value"));
    }
    Ok(v)
}

fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{flag}: {v:?} is not a suitable number"))
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
