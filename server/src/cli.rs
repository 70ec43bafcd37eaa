//! The command line of `rtm_server`: flags, startup, shutdown. `main.rs` runs it, and so does
//! the crash test (`tests/crash.rs`), in a process of its own.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chatio::{Agent, GroupId, License, Timestamp, UserId};

use super::{AgentLogin, Config, Durability, Server};

/// `--snapshot-every` when not given.
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 10_000;

/// `--license-plan` when not given.
pub const DEFAULT_LICENSE_PLAN: &str = "enterprise";

/// What `--help` prints.
pub const USAGE: &str = "\
rtm_server: chat.io v0.5 RTM (WebSocket) and Web API (HTTP) over one chatio engine

USAGE:
    cargo run --release --example rtm_server -- [FLAGS]

FLAGS:
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
    --data DIR
        Keep the engine in DIR (created if missing; the file is DIR/chatio.sqlite3) and
        recover it at the next start; without it everything is lost at exit. Every change is
        committed (SQLite, WAL, synchronous=FULL) before the request that made it is answered
        or anyone is told of it, so whatever a client saw survives a crash, and a power cut
        too if the disk keeps what it syncs.
        One server per DIR. --seed, the timeouts and the --license-* flags must be the same
        at every start on a DIR (a start with others is refused, and changes nothing); the
        license keeps the creation time of the first start. --agent and --router may
        change: new agents are added, a different router is switched to; an agent given before
        stays in the data (without an --agent token it cannot log in) and keeps its profile.
        Customers keep their ids: they come from their tokens.
    --snapshot-every N
        With --data: write a snapshot of the whole engine every N changes [default: 10000;
        0: only at startup after a recovery and at a clean shutdown]. The two latest are
        kept, and the journal after the older one: a start restores the newest that reads
        and replays the changes after it (at most N, or 2N if it had to fall back).
    --quiet
        No log lines.
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
";

/// What the command line asks for.
#[derive(Debug)]
pub struct Args {
    /// `--listen`.
    pub listen: SocketAddr,
    /// Agents, router, engine settings, timeouts, logging.
    pub config: Config,
    /// `--data` and `--snapshot-every`.
    pub durability: Option<Durability>,
}

/// Runs the server the flags describe until Ctrl-C; returns the exit status (0: a clean
/// shutdown; 1: a failure while running; 2: no start: bad flags, or `--data` that does not
/// fit them, cannot be read or is in use).
pub fn run(args: impl IntoIterator<Item = String>) -> u8 {
    let Args {
        listen,
        config,
        durability,
    } = match parse_args(args) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => {
            print!("{USAGE}");
            return 0;
        }
        Err(e) => {
            eprintln!("rtm_server: {e}\nTry --help.");
            return 2;
        }
    };
    let agents = config.agents.len();
    let router = config.router.as_str();
    // Recovery comes before listening: a client that connects sees the whole engine.
    let server = match Server::open(config.clone(), durability.as_ref()) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("rtm_server: {e}");
            return 2;
        }
    };
    for line in server.report() {
        eprintln!("rtm_server: {line}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("rtm_server: cannot start the runtime: {e}");
            return 1;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("rtm_server: cannot listen on {listen}: {e}");
                return 1;
            }
        };
        let addr = listener.local_addr().unwrap_or(listen);
        if !addr.ip().is_loopback() {
            eprintln!("rtm_server: warning: listening on {addr}, beyond this machine");
        }
        if agents == 0 {
            eprintln!("rtm_server: warning: no agents (add some with --agent TOKEN=AGENT_ID)");
        }
        eprintln!(
            "rtm_server: {agents} agent(s), {router} routing; listening on {}",
            super::describe(addr)
        );
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "listening on {addr}");
        let _ = stdout.flush();
        drop(stdout);
        let shutdown = async {
            if tokio::signal::ctrl_c().await.is_err() {
                // No signal handling: run until killed.
                std::future::pending::<()>().await;
            }
            eprintln!("rtm_server: shutting down");
        };
        match server.serve(listener, shutdown).await {
            Ok(()) => {
                eprintln!("rtm_server: bye");
                0
            }
            Err(e) => {
                eprintln!("rtm_server: {e}");
                1
            }
        }
    })
}

/// What the flags ask for, or `None` for `--help`.
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Args>, String> {
    let mut listen: SocketAddr = "127.0.0.1:8080".parse().map_err(|_| "default address")?;
    let mut config = Config::default();
    let mut data: Option<PathBuf> = None;
    let mut snapshot_every = DEFAULT_SNAPSHOT_EVERY;
    let mut unseen = config.engine.unseen_timeout;
    let mut inactivity = config.engine.inactivity_timeout;
    let mut license_id: Option<String> = None;
    let mut license_plan: Option<String> = None;
    let mut license_expires: Option<i64> = None;
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
            "--listen" => {
                let v = value("an address such as 127.0.0.1:8080")?;
                listen = v
                    .parse()
                    .map_err(|_| format!("--listen: {v:?} is not an IP address and port"))?;
            }
            "--agent" => config.agents.push(parse_agent(&value("TOKEN=AGENT_ID")?)?),
            "--router" => config.router = value("a router name")?.parse()?,
            "--seed" => config.engine.seed = number(&flag, &value("a number")?)?,
            "--license-id" => license_id = Some(non_empty(&flag, value("a license id")?)?),
            "--license-plan" => license_plan = Some(non_empty(&flag, value("a plan name")?)?),
            "--license-expires" => {
                license_expires = Some(number(&flag, &value("a time in Unix seconds")?)?);
            }
            "--unseen-timeout" => unseen = number(&flag, &value("seconds")?)?,
            "--inactivity-timeout" => inactivity = number(&flag, &value("seconds")?)?,
            "--idle-timeout" => {
                let secs: u64 = number(&flag, &value("seconds")?)?;
                config.idle_timeout = Duration::from_secs(secs.max(1));
            }
            "--data" => data = Some(PathBuf::from(value("a directory")?)),
            "--snapshot-every" => snapshot_every = number(&flag, &value("a number")?)?,
            "--quiet" => config.log = false,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    config.engine = config.engine.routing_timeouts(unseen, inactivity);
    match license_id {
        // Created now; with --data, a later start keeps the stored creation time (store.rs).
        Some(id) => {
            let plan = license_plan.unwrap_or_else(|| DEFAULT_LICENSE_PLAN.to_string());
            config.engine = config.engine.license(
                License::new(id, plan, super::now())
                    .expiration_timestamp(license_expires.map(Timestamp::from_unix_seconds)),
            );
        }
        None if license_plan.is_some() || license_expires.is_some() => {
            return Err("--license-plan and --license-expires need --license-id".to_string());
        }
        None => {}
    }
    let durability = data.map(|dir| Durability {
        dir,
        snapshot_every,
    });
    Ok(Some(Args {
        listen,
        config,
        durability,
    }))
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

/// The binary's entry point: `chatio-server [FLAGS]` serves.
pub fn main(args: impl IntoIterator<Item = String>) -> u8 {
    run(args)
}
