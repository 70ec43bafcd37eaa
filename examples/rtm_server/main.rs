//! A WebSocket (RTM) and HTTP (Web API) server over one `chatio` engine, for real clients.
//!
//! ```text
//! cargo run --release --example rtm_server -- --listen 127.0.0.1:8080 --agent secret-1=anna@example.com:Anna
//! ```
//!
//! Run with `--help` for every flag. The server lives in `server.rs`, which the interop test
//! (`tests/interop.rs`) compiles too.

mod server;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use chatio::{Agent, GroupId, UserId};
use server::{AgentLogin, Config};

const USAGE: &str = "\
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
    --unseen-timeout SECS
        How long an assigned agent has to see a customer's message before the chat moves on,
        and the quiet time after which a chat is idle [default: 300].
    --inactivity-timeout SECS
        How long an idle chat stays open before it is archived [default: 1500].
    --idle-timeout SECS
        Close a connection that sends nothing for this long [default: 60]. Clients ping
        every 15 s (the `ping` action).
    --quiet
        No log lines.
    -h, --help
        Print this and exit.

ENDPOINTS (LICENSE_ID is accepted and ignored; this server has one license):
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
        unsupported_version) or 500.

    Agents use the tokens given with --agent. Customers log in with any non-empty token; the
    same token is always the same customer (customer-<first 128 bits of its SHA-256>).
    `Bearer ` before a token is optional. Other versions than v0.5 get unsupported_version;
    frames and bodies over 1 MiB are refused. Ctrl-C closes every connection and exits.
";

fn main() -> ExitCode {
    let (listen, config) = match parse_args(std::env::args().skip(1)) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("rtm_server: {e}\nTry --help.");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = config.build_engine() {
        eprintln!("rtm_server: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("rtm_server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("rtm_server: cannot listen on {listen}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let addr = listener.local_addr().unwrap_or(listen);
        if !addr.ip().is_loopback() {
            eprintln!("rtm_server: warning: listening on {addr}, beyond this machine");
        }
        if config.agents.is_empty() {
            eprintln!("rtm_server: warning: no agents (add some with --agent TOKEN=AGENT_ID)");
        }
        eprintln!(
            "rtm_server: {} agent(s), {} routing; listening on {}",
            config.agents.len(),
            config.router.as_str(),
            server::describe(addr)
        );
        let shutdown = async {
            if tokio::signal::ctrl_c().await.is_err() {
                // No signal handling: run until killed.
                std::future::pending::<()>().await;
            }
            eprintln!("rtm_server: shutting down");
        };
        match server::serve(config, listener, shutdown).await {
            Ok(()) => {
                eprintln!("rtm_server: bye");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("rtm_server: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// The address and configuration the flags ask for, or `None` for `--help`.
fn parse_args(
    args: impl IntoIterator<Item = String>,
) -> Result<Option<(SocketAddr, Config)>, String> {
    let mut listen: SocketAddr = "127.0.0.1:8080".parse().map_err(|_| "default address")?;
    let mut config = Config::default();
    let mut unseen = config.engine.unseen_timeout;
    let mut inactivity = config.engine.inactivity_timeout;
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
            "--unseen-timeout" => unseen = number(&flag, &value("seconds")?)?,
            "--inactivity-timeout" => inactivity = number(&flag, &value("seconds")?)?,
            "--idle-timeout" => {
                let secs: u64 = number(&flag, &value("seconds")?)?;
                config.idle_timeout = Duration::from_secs(secs.max(1));
            }
            "--quiet" => config.log = false,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    config.engine = config.engine.routing_timeouts(unseen, inactivity);
    Ok(Some((listen, config)))
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
