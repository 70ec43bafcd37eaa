//! The hostile-input suite (issue 20, item 9): each probe is an attack from the issue, run
//! against the `chatio-server` binary in a process of its own, over real sockets on loopback.
//! Under each, an honest customer logged in before the attack pings every 100 ms and sends an
//! event every 300 ms; every probe checks that
//!
//! * the honest client's ping round trip stays under [`MAX_RTT`] (0.5 s),
//! * the server's peak memory (`VmHWM` of its `/proc/PID/status`) stays within the bound the
//!   probe states, and
//! * every event the honest client saw acknowledged is in its chat afterwards.
//!
//! Sizes fit CI (the suite takes well under a minute on two cores); `CHATIO_HOSTILE_FULL=1`
//! runs the sizes of the issue. `CHATIO_HOSTILE_BIN=PATH` runs the probes against another
//! build (for example the server before this issue) with only the flags that build knows, and
//! then only reports: every probe prints a `FIGURE` line (see them with `--nocapture`), which
//! is how `server/README.md`'s before/after table was made. Probes run one at a time (a lock),
//! so that one's load does not show up in another's round trips.
//!
//! The servers here use deadlines of 2 s instead of the default 10 s, so that the probes of
//! deadlines take seconds, not tens of seconds.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The longest an honest ping may take, under any probe.
const MAX_RTT: Duration = Duration::from_millis(500);

/// The deadlines the servers of this suite use (seconds).
const DEADLINE: u64 = 2;

/// The agent every server knows, and its token.
const AGENT: &str = "agent0@hostile.test";
const AGENT_TOKEN: &str = "hostile-agent-0-Xq7vR2mK9pL4sZ8w";

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Probes run one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Whether to run the issue's sizes.
fn full() -> bool {
    std::env::var("CHATIO_HOSTILE_FULL").is_ok_and(|v| v == "1")
}

/// `ci` in CI, `full` with `CHATIO_HOSTILE_FULL=1`.
fn size(ci: usize, full_size: usize) -> usize {
    if full() { full_size } else { ci }
}

/// Another build to measure, without asserting (see the module's docs).
fn other_build() -> Option<PathBuf> {
    std::env::var_os("CHATIO_HOSTILE_BIN").map(PathBuf::from)
}

/// Asserts, unless measuring another build.
macro_rules! holds {
    ($cond:expr, $($msg:tt)+) => {
        let held: bool = $cond;
        if other_build().is_none() {
            assert!(held, $($msg)+);
        } else if !held {
            eprintln!("(not asserted for the other build) {}", format!($($msg)+));
        }
    };
}

fn figure(probe: &str, text: String) {
    eprintln!("FIGURE {probe}: {text}");
}

// ----- the server process -----

struct Server {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    dir: PathBuf,
    /// Leave the folder when dropped (a restart uses it).
    keep: bool,
}

#[derive(Default)]
struct Options {
    /// The descriptor limit the server runs with.
    nofile: Option<u32>,
    /// Keep the engine in this folder.
    data: bool,
    /// Flags only this build has (left out for another build).
    new_flags: Vec<String>,
    /// More agents (token, id).
    agents: Vec<(String, String)>,
}

impl Server {
    fn start(name: &str, options: &Options) -> Server {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "hostile-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Server::start_in(dir, options)
    }

    fn start_in(dir: PathBuf, options: &Options) -> Server {
        let bin =
            other_build().unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_chatio-server")));
        let mut args: Vec<String> = vec![
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--seed".into(),
            "1".into(),
            "--agent".into(),
            format!("{AGENT_TOKEN}={AGENT}:Agent::1000"),
        ];
        for (token, id) in &options.agents {
            args.push("--agent".into());
            args.push(format!("{token}={id}:Agent::1000"));
        }
        if options.data {
            args.push("--data".into());
            args.push(dir.join("data").display().to_string());
        }
        if other_build().is_none() {
            for flag in ["--login-timeout", "--header-timeout", "--body-timeout"] {
                args.push(flag.into());
                args.push(DEADLINE.to_string());
            }
            args.extend(options.new_flags.iter().cloned());
        }
        let log = dir.join("server.log");
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let nofile = options.nofile.unwrap_or(4096).to_string();
        // `ulimit` in a shell that then becomes the server: the same process id.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"ulimit -n "$1" && shift && exec "$@""#)
            .arg("sh")
            .arg(&nofile)
            .arg(&bin)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("start the server");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some((_, addr)) = line.split_once("listening on ") {
                        let addr = addr.trim().parse().expect("an address");
                        return Server {
                            child,
                            addr,
                            log,
                            dir,
                            keep: false,
                        };
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log = std::fs::read_to_string(&log).unwrap_or_default();
                    panic!("the server did not start:\n{log}");
                }
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident memory now and at its peak, in MiB.
    fn memory(&self) -> (f64, f64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map_or(0.0, |kb| kb / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `signal` and waits up to `limit` for the exit; `None` if it is still running
    /// (then it is killed).
    fn signal_and_wait(&mut self, signal: &str, limit: Duration) -> (Option<ExitStatus>, Duration) {
        let started = Instant::now();
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("kill(1)");
        assert!(sent.success());
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (Some(status), started.elapsed());
            }
            if started.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return (None, started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.keep {
        } else if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("server log kept in {}", self.log.display());
        }
    }
}

// ----- clients -----

/// A TCP connection from `from` (any address of 127.0.0.0/8 works on loopback).
async fn tcp_from(from: Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(from), 0))?;
    timeout(Duration::from_secs(3), socket.connect(to))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect"))?
}

/// The `n`-th attacking address: 127.0.1.x, 127.0.2.x, ...
fn attacker(n: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 1 + (n / 250) as u8, 1 + (n % 250) as u8)
}

async fn ws_from(from: Ipv4Addr, addr: SocketAddr, api: &str) -> Result<Ws, String> {
    let tcp = tcp_from(from, addr).await.map_err(|e| e.to_string())?;
    let url = format!("ws://{addr}/{api}/v0.5/rtm/ws?license_id=1");
    let (ws, _) = timeout(
        Duration::from_secs(3),
        tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp)),
    )
    .await
    .map_err(|_| "handshake timed out".to_string())?
    .map_err(|e| e.to_string())?;
    Ok(ws)
}

/// Sends a request and waits (up to `limit`) for its response, skipping pushes.
async fn call(
    ws: &mut Ws,
    id: &str,
    action: &str,
    payload: Value,
    limit: Duration,
) -> Result<Value, String> {
    let request = json!({ "request_id": id, "action": action, "payload": payload });
    ws.send(Message::Text(request.to_string().into()))
        .await
        .map_err(|e| e.to_string())?;
    timeout(limit, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
                    if v["type"] == "response" && v["request_id"] == id {
                        return Ok(v);
                    }
                }
                Some(Ok(Message::Close(frame))) => return Err(format!("closed: {frame:?}")),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("closed".to_string()),
            }
        }
    })
    .await
    .map_err(|_| format!("no answer to {action} within {limit:?}"))?
}

async fn login(from: Ipv4Addr, addr: SocketAddr, api: &str, token: &str) -> Result<Ws, String> {
    let mut ws = ws_from(from, addr, api).await?;
    let r = call(
        &mut ws,
        "login",
        "login",
        json!({ "token": token }),
        Duration::from_secs(5),
    )
    .await?;
    if r["success"] != true {
        return Err(format!("login refused: {r}"));
    }
    Ok(ws)
}

/// One HTTP/1.1 POST on a new connection; the status and body (`0` if none came).
async fn post(
    from: Ipv4Addr,
    addr: SocketAddr,
    path: &str,
    token: &str,
    body: &str,
) -> (u16, String) {
    let exchange = async {
        let mut tcp = tcp_from(from, addr).await.ok()?;
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        tcp.write_all(request.as_bytes()).await.ok()?;
        let mut raw = Vec::new();
        tcp.read_to_end(&mut raw).await.ok()?;
        let text = String::from_utf8_lossy(&raw).to_string();
        let status = text.split_whitespace().nth(1)?.parse().ok()?;
        let body = text
            .split_once("\r\n\r\n")
            .map_or(String::new(), |(_, b)| b.to_string());
        Some((status, body))
    };
    timeout(Duration::from_secs(10), exchange)
        .await
        .ok()
        .flatten()
        .unwrap_or((0, String::new()))
}

/// Sends a request's text and returns its response's text, unparsed (found by its
/// `request_id`), skipping pushes.
async fn raw_call(ws: &mut Ws, id: &str, text: String) -> Result<String, String> {
    ws.send(Message::Text(text.into()))
        .await
        .map_err(|e| e.to_string())?;
    let needle = format!("\"request_id\":\"{id}\"");
    timeout(Duration::from_secs(60), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    if text.contains(&needle) && text.contains("\"type\":\"response\"") {
                        return Ok(text.to_string());
                    }
                }
                Some(Ok(Message::Close(frame))) => return Err(format!("closed: {frame:?}")),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("closed".to_string()),
            }
        }
    })
    .await
    .map_err(|_| "no answer".to_string())?
}

/// Whether the server has closed `tcp` (EOF or reset) within `limit`.
async fn closed_within(tcp: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

// ----- the honest client -----

struct Honest {
    stop: watch::Sender<bool>,
    thread: std::thread::JoinHandle<HonestRun>,
    token: String,
    chat_id: String,
}

#[derive(Debug, Default)]
struct HonestRun {
    pings: usize,
    max_rtt: Duration,
    /// The slowest `send_event`: it needs the engine, which a ping does not.
    max_event_rtt: Duration,
    failures: Vec<String>,
    acked: Vec<String>,
}

impl Honest {
    /// Logs in as a customer on two connections and starts a chat; then one connection pings
    /// every 100 ms and the other sends an event every 300 ms, each waiting for its answer,
    /// until stopped. It runs on a thread and runtime of its own, so that the attackers'
    /// work in this process does not delay it.
    async fn start(addr: SocketAddr, name: &str) -> Honest {
        let token = format!("honest-{name}-customer-token");
        let (stop, stopped) = watch::channel(false);
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        let thread_token = token.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let (chat_id, pings, events) = Honest::run(addr, thread_token, stopped).await;
                let _ = ready_tx.send(chat_id);
                let mut run = pings.await.expect("the honest pinger does not panic");
                let events = events.await.expect("the honest sender does not panic");
                run.max_event_rtt = events.max_event_rtt;
                run.acked = events.acked;
                run.failures.extend(events.failures);
                run
            })
        });
        let chat_id = ready.await.expect("the honest client starts");
        Honest {
            stop,
            thread,
            token,
            chat_id,
        }
    }

    async fn run(
        addr: SocketAddr,
        token: String,
        stopped: watch::Receiver<bool>,
    ) -> (
        String,
        tokio::task::JoinHandle<HonestRun>,
        tokio::task::JoinHandle<HonestRun>,
    ) {
        let mut pinger = login(Ipv4Addr::LOCALHOST, addr, "customer", &token)
            .await
            .expect("the honest customer logs in");
        let mut sender = login(Ipv4Addr::LOCALHOST, addr, "customer", &token)
            .await
            .expect("the honest customer logs in");
        let started = call(
            &mut sender,
            "start",
            "start_chat",
            json!({}),
            Duration::from_secs(5),
        )
        .await
        .expect("start_chat");
        let chat_id = started["payload"]["chat"]["id"]
            .as_str()
            .expect("a chat id")
            .to_string();
        let mut stopped_pings = stopped.clone();
        let pings = tokio::spawn(async move {
            let mut run = HonestRun::default();
            let mut n = 0u64;
            while !*stopped_pings.borrow() {
                n += 1;
                let t = Instant::now();
                let answer = call(
                    &mut pinger,
                    &format!("p{n}"),
                    "ping",
                    json!({}),
                    Duration::from_secs(3),
                )
                .await;
                run.max_rtt = run.max_rtt.max(t.elapsed());
                match answer {
                    Ok(r) if r["success"] == true => run.pings += 1,
                    Ok(r) => run.failures.push(format!("ping: {r}")),
                    Err(e) => {
                        run.failures.push(format!("ping: {e}"));
                        break;
                    }
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = stopped_pings.changed() => {}
                }
            }
            run
        });
        let chat = chat_id.clone();
        let mut stopped_events = stopped;
        let events = tokio::spawn(async move {
            let mut run = HonestRun::default();
            let mut n = 0u64;
            while !*stopped_events.borrow() {
                n += 1;
                let event = json!({ "chat_id": chat, "event": {
                    "type": "message", "text": format!("honest {n}"), "custom_id": format!("h{n}") } });
                let t = Instant::now();
                let answer = call(
                    &mut sender,
                    &format!("e{n}"),
                    "send_event",
                    event,
                    Duration::from_secs(30),
                )
                .await;
                run.max_event_rtt = run.max_event_rtt.max(t.elapsed());
                match answer {
                    Ok(r) if r["success"] == true => {
                        if let Some(id) = r["payload"]["event"]["id"].as_str() {
                            run.acked.push(id.to_string());
                        }
                    }
                    Ok(r) => run.failures.push(format!("send_event: {r}")),
                    Err(e) => {
                        run.failures.push(format!("send_event: {e}"));
                        break;
                    }
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(300)) => {}
                    _ = stopped_events.changed() => {}
                }
            }
            run
        });
        (chat_id, pings, events)
    }

    async fn finish(self) -> (HonestRun, String, String) {
        let _ = self.stop.send(true);
        let thread = self.thread;
        let run = tokio::task::spawn_blocking(move || thread.join())
            .await
            .expect("join")
            .expect("the honest client does not panic");
        (run, self.token, self.chat_id)
    }
}

/// The ids of every event of `chat_id`, as its customer sees them; an error if it cannot
/// log in to look.
async fn events_of(
    addr: SocketAddr,
    token: &str,
    chat_id: &str,
) -> Result<HashSet<String>, String> {
    let mut ws = login(Ipv4Addr::LOCALHOST, addr, "customer", token)
        .await
        .map_err(|e| format!("the honest customer cannot log in again: {e}"))?;
    let summary = call(
        &mut ws,
        "s",
        "get_chat_threads_summary",
        json!({ "chat_id": chat_id, "limit": 100 }),
        Duration::from_secs(10),
    )
    .await?;
    let threads: Vec<Value> = summary["payload"]["threads_summary"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|t| t["id"].clone())
        .collect();
    let got = call(
        &mut ws,
        "t",
        "get_chat_threads",
        json!({ "chat_id": chat_id, "thread_ids": threads }),
        Duration::from_secs(10),
    )
    .await?;
    let mut ids = HashSet::new();
    for thread in got["payload"]["chat"]["threads"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        for event in thread["events"].as_array().cloned().unwrap_or_default() {
            if let Some(id) = event["id"].as_str() {
                ids.insert(id.to_string());
            }
        }
    }
    Ok(ids)
}

/// The checks every probe makes at its end: round trips, memory, acknowledged events.
async fn honest_checks(probe: &str, server: &Server, honest: Honest, max_mib: f64) -> String {
    let (run, token, chat) = honest.finish().await;
    let (rss, hwm) = server.memory();
    let present = events_of(server.addr, &token, &chat).await;
    let lost = match &present {
        Ok(present) => run.acked.iter().filter(|id| !present.contains(*id)).count(),
        Err(_) => run.acked.len(),
    };
    holds!(present.is_ok(), "{probe}: {:?}", present.as_ref().err());
    let lost_text = match &present {
        Ok(_) => format!("{lost} lost"),
        Err(e) => format!("not checked: {e}"),
    };
    let summary = format!(
        "honest pings {} (max round trip {} ms, failures {}), acknowledged events {} ({lost_text}, \
         slowest {} ms), server memory {rss:.0} MiB now, {hwm:.0} MiB peak (bound {max_mib:.0} MiB)",
        run.pings,
        run.max_rtt.as_millis(),
        run.failures.len(),
        run.acked.len(),
        run.max_event_rtt.as_millis(),
    );
    holds!(
        run.failures.is_empty(),
        "{probe}: the honest client failed: {:?}",
        run.failures
    );
    holds!(
        run.max_rtt < MAX_RTT,
        "{probe}: an honest ping took {:?}",
        run.max_rtt
    );
    holds!(
        hwm <= max_mib,
        "{probe}: the server peaked at {hwm:.0} MiB, over {max_mib:.0} MiB"
    );
    holds!(lost == 0, "{probe}: {lost} acknowledged event(s) lost");
    summary
}

// ----- the probes -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_tcp_connections_do_not_lock_out_new_clients() {
    let _one = ONE_AT_A_TIME.lock().await;
    let probe = "idle TCP connections";
    let nofile = if full() { 1024 } else { 256 };
    let idle = size(300, 1_100);
    let server = Server::start(
        "idle",
        &Options {
            nofile: Some(nofile as u32),
            ..Options::default()
        },
    );
    let honest = Honest::start(server.addr, "idle").await;
    let mut sockets = Vec::new();
    let mut failed = 0;
    for i in 0..idle {
        match tcp_from(attacker(i % 20), server.addr).await {
            Ok(tcp) => sockets.push(tcp),
            // A server that stopped accepting: its backlog is full, and each further connect
            // would wait for its timeout.
            Err(_) if failed >= 3 => break,
            Err(_) => failed += 1,
        }
    }
    // A newcomer after the flood: does it get in?
    let newcomer = login(Ipv4Addr::LOCALHOST, server.addr, "agent", AGENT_TOKEN).await;
    let newcomer_in = newcomer.is_ok();
    // Past the header deadline: how many of the idle ones are still open?
    let mut open = 0;
    for tcp in &mut sockets {
        if !closed_within(tcp, Duration::from_millis(1)).await {
            open += 1;
        }
    }
    tokio::time::sleep(Duration::from_secs(DEADLINE + 1)).await;
    let mut open_after = 0;
    for tcp in &mut sockets {
        if !closed_within(tcp, Duration::from_millis(1)).await {
            open_after += 1;
        }
    }
    let checks = honest_checks(probe, &server, honest, 64.0).await;
    figure(
        probe,
        format!(
            "{idle} idle connections from 20 addresses, descriptor limit {nofile}: {failed} not \
             connected, {open} open after the flood, {open_after} open {}s later; a new agent \
             {} ({:?}); {checks}",
            DEADLINE + 1,
            if newcomer_in {
                "logged in"
            } else {
                "was locked out"
            },
            newcomer.err(),
        ),
    );
    holds!(newcomer_in, "{probe}: a new client was locked out");
    holds!(
        open_after == 0,
        "{probe}: {open_after} idle connections outlived the header deadline"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn descriptor_exhaustion_sheds_connections_that_have_not_logged_in() {
    let _one = ONE_AT_A_TIME.lock().await;
    let probe = "descriptor exhaustion";
    let nofile = 128u32;
    let idle = size(200, 1_100);
    // A cap above the descriptor limit, as when the limit is shared or set wrong: accepts fail
    // with EMFILE, and the server must still take newcomers.
    let server = Server::start(
        "fds",
        &Options {
            nofile: Some(nofile),
            new_flags: vec![
                "--max-connections".into(),
                "5000".into(),
                "--max-connections-per-address".into(),
                "5000".into(),
            ],
            ..Options::default()
        },
    );
    let honest = Honest::start(server.addr, "fds").await;
    let mut sockets = Vec::new();
    let mut failed = 0;
    for i in 0..idle {
        match tcp_from(attacker(i % 4), server.addr).await {
            Ok(tcp) => sockets.push(tcp),
            // A server that stopped accepting: its backlog is full.
            Err(_) if failed >= 3 => break,
            Err(_) => failed += 1,
        }
    }
    let mut newcomers = 0;
    for _ in 0..5 {
        if login(Ipv4Addr::LOCALHOST, server.addr, "agent", AGENT_TOKEN)
            .await
            .is_ok()
        {
            newcomers += 1;
        }
    }
    let checks = honest_checks(probe, &server, honest, 64.0).await;
    figure(
        probe,
        format!(
            "{idle} idle connections tried, {} connected, descriptor limit {nofile}, no cap \
             below it: {newcomers}/5 new agents logged in; {checks}",
            sockets.len()
        ),
    );
    holds!(
        newcomers == 5,
        "{probe}: only {newcomers}/5 newcomers got in"
    );
    drop(sockets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_http_requests_are_timed_out() {
    let _one = ONE_AT_A_TIME.lock().await;
    let probe = "half-sent HTTP requests";
    let n = size(50, 500);
    let server = Server::start("half", &Options::default());
    let honest = Honest::start(server.addr, "half").await;
    let mut heads = Vec::new();
    let mut bodies = Vec::new();
    for i in 0..n {
        if let Ok(mut tcp) = tcp_from(attacker(i % 20), server.addr).await {
            let _ = tcp
                .write_all(b"POST /agent/v0.5/action/ping HTTP/1.1\r\nHost: x\r\nAuthoriz")
                .await;
            heads.push(tcp);
        }
        if let Ok(mut tcp) = tcp_from(attacker(i % 20), server.addr).await {
            let _ = tcp
                .write_all(
                    format!(
                        "POST /customer/v0.5/action/ping HTTP/1.1\r\nHost: x\r\nAuthorization: \
                         Bearer half-{i}\r\nContent-Length: 1000\r\n\r\n{{\"payload\":"
                    )
                    .as_bytes(),
                )
                .await;
            bodies.push(tcp);
        }
    }
    let limit = Duration::from_secs(DEADLINE + 2);
    let t = Instant::now();
    let mut heads_closed = 0;
    for tcp in &mut heads {
        let left = limit.saturating_sub(t.elapsed());
        if closed_within(tcp, left).await {
            heads_closed += 1;
        }
    }
    let mut bodies_closed = 0;
    for tcp in &mut bodies {
        let left = limit.saturating_sub(t.elapsed());
        if closed_within(tcp, left).await {
            bodies_closed += 1;
        }
    }
    let checks = honest_checks(probe, &server, honest, 64.0).await;
    figure(
        probe,
        format!(
            "{n} half-sent headers: {heads_closed} closed within {}s; {n} half-sent bodies: \
             {bodies_closed} closed within {}s; {checks}",
            limit.as_secs(),
            limit.as_secs()
        ),
    );
    holds!(
        heads_closed == heads.len(),
        "{probe}: {} of {} half-sent headers left open",
        heads.len() - heads_closed,
        heads.len()
    );
    holds!(
        bodies_closed == bodies.len(),
        "{probe}: {} of {} half-sent bodies left open",
        bodies.len() - bodies_closed,
        bodies.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_websockets_kept_alive_by_pings_are_closed() {
    let _one = ONE_AT_A_TIME.lock().await;
    let probe = "unauthenticated WebSockets with pings";
    let n = size(100, 1_000);
    let server = Server::start("unauth", &Options::default());
    let honest = Honest::start(server.addr, "unauth").await;
    let (rss_before, _) = server.memory();
    let mut sockets = Vec::new();
    for i in 0..n {
        if let Ok(ws) = ws_from(attacker(i % 20), server.addr, "agent").await {
            sockets.push(ws);
        }
    }
    let (rss_open, _) = server.memory();
    let opened = sockets.len();
    // Ping every 500 ms for twice the login deadline.
    let still_open = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for mut ws in sockets {
        let still_open = Arc::clone(&still_open);
        tasks.push(tokio::spawn(async move {
            let end = tokio::time::Instant::now() + Duration::from_secs(2 * DEADLINE + 1);
            let mut ping = tokio::time::interval(Duration::from_millis(500));
            loop {
                tokio::select! {
                    _ = ping.tick() => {
                        if ws.send(Message::Ping(vec![1].into())).await.is_err() {
                            return;
                        }
                    }
                    next = ws.next() => match next {
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                        Some(Ok(_)) => {}
                    },
                    () = tokio::time::sleep_until(end) => {
                        still_open.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let open = still_open.load(Ordering::Relaxed);
    // The server's own 20 MiB or so, and 64 KiB for each WebSocket while it lasts.
    let bound = 32.0 + n as f64 / 16.0;
    let checks = honest_checks(probe, &server, honest, bound).await;
    figure(
        probe,
        format!(
            "{opened} WebSockets that never log in, pinging every 0.5 s: {open} still open after \
             {}s (login deadline {DEADLINE}s); memory {rss_before:.0} -> {rss_open:.0} MiB while open \
             ({:.0} KiB each); {checks}",
            2 * DEADLINE + 1,
            (rss_open - rss_before).max(0.0) * 1024.0 / opened.max(1) as f64,
        ),
    );
    holds!(
        open == 0,
        "{probe}: {open} never-logged-in WebSockets outlived the login deadline"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amplifying_payloads_stay_within_the_frame_limit_and_memory() {
    let _one = ONE_AT_A_TIME.lock().await;
    let probe = "amplifying payloads";
    let updates = size(2, 10);
    let server = Server::start("amplify", &Options::default());
    // The payloads are made before the honest client starts, and answers are not parsed, so
    // that this process's own work does not show in the honest round trips.
    let keys = size(20_000, 110_000);
    let updates_text: Vec<String> = (0..updates)
        .map(|u| {
            // About 0.9 MB of new fields each time (merged, never removed).
            let fields: serde_json::Map<String, Value> = (0..20_000)
                .map(|i| (format!("f{u}_{i:05}"), Value::from("v".repeat(30))))
                .collect();
            json!({ "request_id": format!("u{u}"), "action": "update_customer",
                "payload": { "customer": { "fields": fields } } })
            .to_string()
        })
        .collect();
    let content: serde_json::Map<String, Value> = (0..keys)
        .map(|i| (format!("k{i}"), Value::from(i)))
        .collect();
    let content = Value::Object(content).to_string();
    let honest = Honest::start(server.addr, "amplify").await;
    let (rss_before, _) = server.memory();
    let mut ws = login(attacker(0), server.addr, "customer", "amplifier-token")
        .await
        .expect("login");
    let mut sent = 0usize;
    let mut refused = 0;
    for (u, text) in updates_text.into_iter().enumerate() {
        sent += text.len();
        let answer = raw_call(&mut ws, &format!("u{u}"), text)
            .await
            .expect("update_customer");
        if !answer.contains("\"success\":true") {
            refused += 1;
        }
    }
    // A custom event with many keys, echoed back in the response.
    let started = call(
        &mut ws,
        "c",
        "start_chat",
        json!({}),
        Duration::from_secs(10),
    )
    .await
    .expect("start_chat");
    let chat = started["payload"]["chat"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let custom = format!(
        r#"{{"request_id":"x","action":"send_event","payload":{{"chat_id":"{chat}","event":{{"type":"custom","content":{content}}}}}}}"#
    );
    let custom_len = custom.len();
    let echoed = match raw_call(&mut ws, "x", custom).await {
        Ok(answer) => format!("echoed in {} bytes", answer.len()),
        Err(_) => "refused: the connection was closed (over the frame limit)".to_string(),
    };
    // Over the frame limit: refused at the socket, before anything is parsed.
    let huge = "x".repeat((1 << 20) + 1);
    let over = ws.send(Message::Text(huge.clone().into())).await;
    let over_closed = over.is_err()
        || matches!(
            timeout(Duration::from_secs(5), async {
                loop {
                    match ws.next().await {
                        Some(Ok(Message::Close(f))) => return f.map(|f| u16::from(f.code)),
                        None | Some(Err(_)) => return Some(0),
                        _ => {}
                    }
                }
            })
            .await,
            Ok(Some(1009)) | Ok(Some(0))
        );
    let (status, _) = post(
        attacker(1),
        server.addr,
        "/customer/v0.5/action/update_customer",
        "amplifier-token",
        &huge,
    )
    .await;
    let (rss_after, _) = server.memory();
    let grown = (rss_after - rss_before).max(0.0);
    let bound = if full() { 1_536.0 } else { 512.0 };
    let checks = honest_checks(probe, &server, honest, bound).await;
    figure(
        probe,
        format!(
            "{updates} update_customer of {:.1} MB each ({refused} refused): memory {rss_before:.0} -> \
             {rss_after:.0} MiB ({:.0}x the bytes sent); custom event of {keys} keys ({custom_len} \
             bytes) {echoed}; a frame over 1 MiB {}; a body over 1 MiB: HTTP {status}; \
             {checks}",
            sent as f64 / updates as f64 / 1e6,
            grown * 1_048_576.0 / sent.max(1) as f64,
            if over_closed {
                "closed the connection (1009)"
            } else {
                "was taken"
            },
        ),
    );
    holds!(over_closed, "{probe}: a frame over 1 MiB was taken");
    holds!(
        status == 413,
        "{probe}: a body over 1 MiB got {status}, not 413"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_herd_of_agent_logins_on_a_large_license() {
    let _one = ONE_AT_A_TIME.lock().await;
    let probe = "agent login herd";
    let chats = size(1_000, 50_000);
    let herd = size(5, 10);
    let agents: Vec<(String, String)> = (1..=herd)
        .map(|i| {
            (
                format!("hostile-herd-{i}-token-Kq8Zr3Lm"),
                format!("herd{i}@hostile.test"),
            )
        })
        .collect();
    let server = Server::start(
        "herd",
        &Options {
            agents: agents.clone(),
            // Setting up the license is not the attack: no rate limits for it.
            new_flags: vec![
                "--customer-rate".into(),
                "0".into(),
                "--request-rate".into(),
                "0".into(),
            ],
            ..Options::default()
        },
    );
    let t = Instant::now();
    let mut made = 0;
    for i in 0..chats {
        let token = format!("herd-customer-{i}");
        let mut c = login(attacker(i % 200), server.addr, "customer", &token)
            .await
            .expect("customer");
        let r = call(
            &mut c,
            "s",
            "start_chat",
            json!({ "chat": { "thread": { "events": [
            { "type": "message", "text": "hello" } ] } } }),
            Duration::from_secs(10),
        )
        .await
        .expect("start_chat");
        if r["success"] == true {
            made += 1;
        }
    }
    let setup = t.elapsed();
    let honest = Honest::start(server.addr, "herd").await;
    let (rss_before, _) = server.memory();
    let t = Instant::now();
    let mut logins = Vec::new();
    for (token, _) in &agents {
        let addr = server.addr;
        let token = token.clone();
        logins.push(tokio::spawn(async move {
            let t = Instant::now();
            let mut ws = ws_from(Ipv4Addr::LOCALHOST, addr, "agent").await?;
            let r = call(
                &mut ws,
                "l",
                "login",
                json!({ "token": token }),
                Duration::from_secs(120),
            )
            .await?;
            Ok::<_, String>((r.to_string().len(), t.elapsed()))
        }));
    }
    let mut sizes = Vec::new();
    let mut slowest = Duration::ZERO;
    for l in logins {
        if let Ok(Ok((bytes, took))) = l.await {
            sizes.push(bytes);
            slowest = slowest.max(took);
        }
    }
    let herd_time = t.elapsed();
    let bound = if full() { 2_048.0 } else { 256.0 };
    let checks = honest_checks(probe, &server, honest, bound).await;
    figure(
        probe,
        format!(
            "{made} chats (set up in {:.0} s), {herd} agents logging in together: {} logins, \
             largest answer {:.1} MB, slowest {} ms, all in {} ms; memory before {rss_before:.0} MiB; {checks}",
            setup.as_secs_f64(),
            sizes.len(),
            sizes.iter().max().copied().unwrap_or(0) as f64 / 1e6,
            slowest.as_millis(),
            herd_time.as_millis(),
        ),
    );
    holds!(
        sizes.len() == herd,
        "{probe}: only {} of {herd} logins answered",
        sizes.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_guessing_is_slowed_and_logged() {
    let _one = ONE_AT_A_TIME.lock().await;
    let probe = "token guessing";
    let guesses = size(300, 3_000);
    let server = Server::start("guess", &Options::default());
    let honest = Honest::start(server.addr, "guess").await;
    let t = Instant::now();
    let mut checked = 0;
    let mut limited = 0;
    let mut other = 0;
    // Over RTM, many guesses on few connections, as a script would.
    let mut ws: Option<Ws> = None;
    for g in 0..guesses {
        if ws.is_none() {
            ws = ws_from(attacker(0), server.addr, "agent").await.ok();
        }
        let Some(socket) = ws.as_mut() else {
            other += 1;
            continue;
        };
        match call(
            socket,
            &format!("g{g}"),
            "login",
            json!({ "token": format!("guess-{g:08}") }),
            Duration::from_secs(5),
        )
        .await
        {
            Ok(r) => match r["payload"]["error"]["type"].as_str() {
                Some("authentication") => checked += 1,
                Some("too_many_requests") => limited += 1,
                _ => other += 1,
            },
            Err(_) => {
                // Closed after too many failed logins: a new connection.
                ws = None;
            }
        }
    }
    let rtm_rate = guesses as f64 / t.elapsed().as_secs_f64();
    // Over the Web API, from a second address.
    let t = Instant::now();
    let web = guesses / 3;
    let mut web_checked = 0;
    let mut web_limited = 0;
    for g in 0..web {
        let (status, _) = post(
            attacker(1),
            server.addr,
            "/agent/v0.5/action/ping",
            &format!("web-guess-{g:08}"),
            "{}",
        )
        .await;
        match status {
            401 => web_checked += 1,
            429 => web_limited += 1,
            _ => {}
        }
    }
    let web_rate = web as f64 / t.elapsed().as_secs_f64();
    let logged = server.log().contains("failed authentications: backing off");
    let checks = honest_checks(probe, &server, honest, 64.0).await;
    figure(
        probe,
        format!(
            "RTM: {guesses} wrong agent tokens at {rtm_rate:.0}/s: {checked} checked, {limited} \
             refused without a check ({other} other); Web API: {web} at {web_rate:.0}/s: \
             {web_checked} checked, {web_limited} refused; backoff logged: {logged}; {checks}"
        ),
    );
    holds!(
        checked <= 20,
        "{probe}: {checked} guesses over RTM were checked"
    );
    holds!(
        web_checked <= 20,
        "{probe}: {web_checked} guesses over the Web API were checked"
    );
    holds!(logged, "{probe}: the backoff was not logged");
}

/// The customers of `tokens` that exist in the data directory of a stopped server.
fn stored_customers(data: &Path, tokens: &[String]) -> usize {
    let durability = chatio_server::Durability::new(data);
    let (_store, recovered) = chatio_server::store::Store::open(
        &durability,
        &chatio::EngineConfig::default(),
        false,
        |_| Ok(()),
    )
    .expect("the data reopens");
    tokens
        .iter()
        .filter(|t| {
            recovered
                .engine
                .customer(&chatio_server::customer_id_for(t))
                .is_some()
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_customers_are_not_created_by_ping_and_are_rate_limited() {
    let _one = ONE_AT_A_TIME.lock().await;
    let probe = "anonymous customers";
    let pings = size(300, 3_000);
    let starts = size(100, 1_000);
    let mut server = Server::start(
        "anon",
        &Options {
            data: true,
            ..Options::default()
        },
    );
    let honest = Honest::start(server.addr, "anon").await;
    let ping_tokens: Vec<String> = (0..pings).map(|i| format!("anon-ping-{i}")).collect();
    for token in &ping_tokens {
        post(
            attacker(0),
            server.addr,
            "/customer/v0.5/action/ping",
            token,
            "{}",
        )
        .await;
    }
    let t = Instant::now();
    let start_tokens: Vec<String> = (0..starts).map(|i| format!("anon-start-{i}")).collect();
    let mut started = 0;
    let mut limited = 0;
    for token in &start_tokens {
        let (status, _) = post(
            attacker(1),
            server.addr,
            "/customer/v0.5/action/start_chat",
            token,
            "{}",
        )
        .await;
        match status {
            200 => started += 1,
            429 => limited += 1,
            _ => {}
        }
    }
    let took = t.elapsed();
    let checks = honest_checks(probe, &server, honest, 64.0).await;
    let data = server.dir.join("data");
    let (status, _) = server.signal_and_wait("INT", Duration::from_secs(20));
    let from_pings = stored_customers(&data, &ping_tokens);
    let from_starts = stored_customers(&data, &start_tokens);
    figure(
        probe,
        format!(
            "{pings} Web API pings from fresh tokens: {from_pings} customers stored; {starts} \
             start_chat from fresh tokens, one address, in {} ms: {started} started, {limited} \
             refused, {from_starts} customers stored; exit {status:?}; {checks}",
            took.as_millis()
        ),
    );
    holds!(
        from_pings == 0,
        "{probe}: pings created {from_pings} customers"
    );
    let allowed = 30 + took.as_secs() as usize + 2;
    holds!(
        started <= allowed,
        "{probe}: {started} customers from one address (at most {allowed})"
    );
    holds!(
        from_starts == started,
        "{probe}: {from_starts} stored for {started} started"
    );
}

/// Shutdown under attack, by `signal`: idle, half-sent and never-logged-in connections open,
/// an honest client sending events.
async fn shutdown_under_attack(signal: &str) {
    let probe = format!("shutdown under attack ({signal})");
    let mut server = Server::start(
        &format!("shutdown-{signal}"),
        &Options {
            data: true,
            ..Options::default()
        },
    );
    let honest = Honest::start(server.addr, &format!("shutdown-{signal}")).await;
    let n = size(30, 300);
    let mut held = Vec::new();
    for i in 0..n {
        if let Ok(tcp) = tcp_from(attacker(i % 10), server.addr).await {
            held.push(tcp);
        }
        if let Ok(mut tcp) = tcp_from(attacker(i % 10), server.addr).await {
            let _ = tcp
                .write_all(b"POST /agent/v0.5/action/ping HTTP/1.1\r\nContent-Length: 99\r\n\r\n{")
                .await;
            held.push(tcp);
        }
    }
    let mut wss = Vec::new();
    for i in 0..n {
        if let Ok(ws) = ws_from(attacker(i % 10), server.addr, "customer").await {
            wss.push(ws);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (run, token, chat) = honest.finish().await;
    let dir = server.dir.clone();
    let (status, took) =
        tokio::task::block_in_place(|| server.signal_and_wait(signal, Duration::from_secs(25)));
    let log = server.log();
    let snapshot = log.contains("bye");
    // Restart on the data: every acknowledged event is there.
    drop(held);
    drop(wss);
    server.keep = true;
    drop(server);
    let restarted = Server::start_in(
        dir,
        &Options {
            data: true,
            ..Options::default()
        },
    );
    let present = events_of(restarted.addr, &token, &chat)
        .await
        .expect("the restarted server answers");
    let lost = run.acked.iter().filter(|id| !present.contains(*id)).count();
    figure(
        &probe,
        format!(
            "{n} idle, {n} half-sent and {n} never-logged-in connections open: exit {status:?} \
             after {} ms, clean shutdown logged: {snapshot}; {} acknowledged events, {lost} lost \
             after the restart; honest max round trip {} ms",
            took.as_millis(),
            run.acked.len(),
            run.max_rtt.as_millis()
        ),
    );
    holds!(
        status.is_some_and(|s| s.success()),
        "{probe}: exit {status:?}"
    );
    holds!(took < Duration::from_secs(11), "{probe}: took {took:?}");
    holds!(snapshot, "{probe}: no clean shutdown in the log");
    holds!(lost == 0, "{probe}: {lost} acknowledged events lost");
    holds!(
        run.max_rtt < MAX_RTT,
        "{probe}: honest round trip {:?}",
        run.max_rtt
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_attack_shuts_down_cleanly_in_bounded_time() {
    let _one = ONE_AT_A_TIME.lock().await;
    shutdown_under_attack("TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_under_attack_shuts_down_cleanly_in_bounded_time() {
    let _one = ONE_AT_A_TIME.lock().await;
    shutdown_under_attack("INT").await;
}
