//! The load bench: `chatio-server loadgen` and its baseline, `chatio-server echo`.
//!
//! `loadgen` starts the server under test and a bare WebSocket echo server (axum, Tokio and
//! tungstenite, as the server; `TCP_NODELAY`; every message sent back, flushed once per read
//! burst) as child processes, pinned to CPU 1 with `taskset` where it exists, and pins itself
//! to CPU 0. The generator runs on one thread:
//!
//! * C customer connections log in, start a chat each, then keep K `send_event` requests in
//!   flight each: a new one as soon as a response comes;
//! * A agent connections log in and count the `incoming_event` pushes they get;
//! * against the echo server, the same C × K connections send the same request text and wait
//!   for it to come back.
//!
//! It reports acknowledged requests per second, the 50th and 99th percentile of the time from
//! sending a request to reading its response, pushes read per second (customers' and
//! agents'), and after the run, every acknowledged event's pushes checked off: lost (an agent
//! or the customer never got it), duplicated (got twice), and connections the server
//! dropped. Each request is answered with four frames when A = 2 (the response, and the event
//! pushed to the customer and to both agents); the echo server sends one.
//!
//! `--suite` runs the cases of issue 19 in one go; `--server-bin` points at another build
//! (for example the old `rtm_server` example, whose flags are the same) to compare.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message as ServerMessage, WebSocket, WebSocketUpgrade};
use axum::serve::ListenerExt;
use futures_util::{FutureExt, SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// `chatio-server loadgen`'s flags.
#[derive(Clone, Debug, clap::Args)]
#[command(
    after_long_help = "EXAMPLE:\n    cargo run --release -p chatio-server -- loadgen --suite"
)]
pub struct LoadgenFlags {
    /// The cases of issue 19, each beside its echo baseline: in memory 50 x 1 and 50 x 8,
    /// --data 50 x 8, in memory 1000 x 1 with 2 agents.
    #[arg(long)]
    suite: bool,
    /// Customer connections.
    #[arg(long, value_name = "C", default_value_t = 50)]
    customers: usize,
    /// Requests in flight per customer.
    #[arg(long, value_name = "K", default_value_t = 1)]
    in_flight: usize,
    /// Agent connections counting pushes.
    #[arg(long, value_name = "A", default_value_t = 2)]
    agents: usize,
    /// Run the server with --data (a fresh directory under the system's temporary folder,
    /// removed afterwards; synchronous=FULL).
    #[arg(long)]
    data: bool,
    /// How long to measure, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    duration: u64,
    /// How long to warm up before measuring, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 1)]
    warmup: u64,
    /// Run each case N times, echo and server taking turns, and report the median run of
    /// each; lost and dropped count over all [default: 1; with --suite, 3].
    #[arg(long, value_name = "N")]
    rounds: Option<usize>,
    /// Skip the echo baseline.
    #[arg(long)]
    no_echo: bool,
    /// Do not use taskset.
    #[arg(long)]
    no_pin: bool,
    /// The server to start [default: this binary].
    ///
    /// It gets --listen, --quiet, --idle-timeout, --seed, --agent and --data flags, which the
    /// old `rtm_server` example takes too.
    #[arg(long, value_name = "PATH")]
    server_bin: Option<PathBuf>,
    /// One more argument for the server (repeatable).
    #[arg(long = "server-arg", value_name = "ARG", allow_hyphen_values = true)]
    server_args: Vec<String>,
}

/// `chatio-server echo`'s flags.
#[derive(Clone, Debug, clap::Args)]
pub struct EchoFlags {
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

#[derive(Clone, Debug)]
struct Case {
    customers: usize,
    in_flight: usize,
    agents: usize,
    data: bool,
    echo: bool,
}

impl Case {
    fn name(&self) -> String {
        format!(
            "{}, {} customers x {} in flight, {} agents",
            if self.data { "--data" } else { "in memory" },
            self.customers,
            self.in_flight,
            self.agents
        )
    }
}

struct Options {
    duration: Duration,
    warmup: Duration,
    pin: bool,
    server_bin: PathBuf,
    server_args: Vec<String>,
    rounds: usize,
}

/// One run's figures.
#[derive(Clone, Debug, Default)]
struct Figures {
    errors: u64,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    pushes_per_second: f64,
    lost: u64,
    duplicated: u64,
    dropped: u64,
}

/// `chatio-server loadgen`: runs the cases `flags` name and prints their table; returns the
/// exit status (1 if a run failed or lost a push).
pub fn main(flags: LoadgenFlags) -> u8 {
    let mut cases = Vec::new();
    let case = Case {
        customers: flags.customers,
        in_flight: flags.in_flight,
        agents: flags.agents,
        data: flags.data,
        echo: !flags.no_echo,
    };
    let suite = flags.suite;
    let mut options = Options {
        duration: Duration::from_secs(flags.duration),
        warmup: Duration::from_secs(flags.warmup),
        pin: !flags.no_pin,
        server_bin: flags.server_bin.unwrap_or_else(|| {
            std::env::current_exe().unwrap_or_else(|_| PathBuf::from("chatio-server"))
        }),
        server_args: flags.server_args,
        rounds: flags.rounds.unwrap_or(0),
    };
    if suite {
        let c = |customers, in_flight, data, echo| Case {
            customers,
            in_flight,
            agents: 2,
            data,
            echo,
        };
        cases.extend([
            c(50, 1, false, true),
            c(50, 8, false, true),
            c(50, 8, true, false),
            c(1000, 1, false, false),
        ]);
    } else {
        cases.push(case);
    }
    if options.rounds == 0 {
        options.rounds = if suite { 3 } else { 1 };
    }
    options.pin &= can_pin();
    if options.pin {
        // The generator on CPU 0, the servers on CPU 1: each has a core of its own.
        let _ = Command::new("taskset")
            .args(["-a", "-p", "-c", "0", &std::process::id().to_string()])
            .stdout(Stdio::null())
            .status();
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("chatio-server loadgen: {e}");
            return 1;
        }
    };
    println!(
        "chatio-server loadgen: {} s per run after {} s of warm-up, median of {}; server {}; {}",
        options.duration.as_secs(),
        options.warmup.as_secs(),
        options.rounds,
        options.server_bin.display(),
        if options.pin {
            "generator on CPU 0, servers on CPU 1 (taskset)"
        } else {
            "not pinned"
        }
    );
    println!(
        "| case | acknowledged req/s | p50 / p99 latency | pushes/s | lost / duplicated pushes | dropped connections | echo baseline req/s (same C x K) | server / echo |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut in_memory_50x8 = None;
    let mut failed = false;
    for case in &cases {
        // Echo and server take turns, so that a neighbour's load falls on both alike; the
        // median run of each is reported.
        let mut echoes = Vec::new();
        let mut runs = Vec::new();
        for _ in 0..options.rounds {
            if case.echo {
                match runtime.block_on(run_echo(case, &options)) {
                    Ok(figures) => echoes.push(figures),
                    Err(e) => {
                        eprintln!("echo run failed: {e}");
                        failed = true;
                    }
                }
            }
            match runtime.block_on(run_server(case, &options)) {
                Ok(figures) => runs.push(figures),
                Err(e) => {
                    eprintln!("{}: {e}", case.name());
                    failed = true;
                }
            }
        }
        let echo = median(&mut echoes);
        let (lost, duplicated, dropped, errors) = runs.iter().fold((0, 0, 0, 0), |t, f| {
            (
                t.0 + f.lost,
                t.1 + f.duplicated,
                t.2 + f.dropped,
                t.3 + f.errors,
            )
        });
        let Some(mut figures) = median(&mut runs) else {
            continue;
        };
        // Whatever any round lost counts.
        (
            figures.lost,
            figures.duplicated,
            figures.dropped,
            figures.errors,
        ) = (lost, duplicated, dropped, errors);
        if !case.data && case.customers == 50 && case.in_flight == 8 {
            in_memory_50x8 = Some(figures.per_second);
        }
        let (echo_text, ratio) = match &echo {
            Some(e) => (
                format!("{:.0}", e.per_second),
                format!(
                    "{:.0} %",
                    100.0 * figures.per_second / e.per_second.max(1.0)
                ),
            ),
            None if case.data => (
                "-".to_string(),
                in_memory_50x8.map_or("-".to_string(), |m| {
                    format!(
                        "{:.0} % of in memory",
                        100.0 * figures.per_second / m.max(1.0)
                    )
                }),
            ),
            None => ("-".to_string(), "-".to_string()),
        };
        println!(
            "| {} | {:.0} | {:.2} / {:.2} ms | {:.0} | {} / {} | {} | {} | {} |",
            case.name(),
            figures.per_second,
            figures.p50_ms,
            figures.p99_ms,
            figures.pushes_per_second,
            figures.lost,
            figures.duplicated,
            figures.dropped,
            echo_text,
            ratio
        );
        if figures.errors > 0 {
            println!("    ({} requests answered with an error)", figures.errors);
        }
    }
    u8::from(failed)
}

/// The run with the median rate.
fn median(runs: &mut [Figures]) -> Option<Figures> {
    runs.sort_by(|a, b| a.per_second.total_cmp(&b.per_second));
    runs.get(runs.len() / 2).cloned()
}

fn can_pin() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
        && Command::new("taskset")
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// A child process that listens; killed when dropped.
struct Spawned {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(bin: &PathBuf, args: &[String], pin: bool) -> Result<Spawned, String> {
    let mut command = if pin {
        let mut c = Command::new("taskset");
        c.args(["-c", "1"]).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    let mut child = command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let stdout = child.stdout.take().ok_or("no standard output")?;
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some((_, addr)) = line.split_once("listening on ") {
                    break addr
                        .trim()
                        .parse()
                        .map_err(|_| format!("bad address {addr:?}"))?;
                }
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{} did not start listening", bin.display()));
            }
        }
    };
    // Keep draining its standard output so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok(Spawned { child, addr })
}

fn agent_token(i: usize) -> String {
    format!("loadgen-agent-{i}-token-0123456789abcdef")
}

fn request_text(seq: u64, chat_id: &str, me: usize) -> String {
    format!(
        r#"{{"request_id":"{seq}","action":"send_event","payload":{{"chat_id":"{chat_id}","event":{{"type":"message","text":"lg {me} {seq}"}}}}}}"#
    )
}

/// The `request_id` of a response or an echoed request, if it is one of ours.
fn request_id(text: &str) -> Option<u64> {
    const KEY: &str = r#""request_id":""#;
    let start = text.find(KEY)? + KEY.len();
    let end = text[start..].find('"')? + start;
    text[start..end].parse().ok()
}

/// The customer and sequence number of an `incoming_event` push of ours.
fn pushed_event(text: &str) -> Option<(usize, u64)> {
    if !text.contains(r#""action":"incoming_event""#) {
        return None;
    }
    const KEY: &str = r#""text":"lg "#;
    let start = text.find(KEY)? + KEY.len();
    let rest = &text[start..];
    let end = rest.find('"')?;
    let (who, seq) = rest[..end].split_once(' ')?;
    Some((who.parse().ok()?, seq.parse().ok()?))
}

async fn connect(addr: SocketAddr, path: &str) -> Result<Ws, String> {
    let url = format!("ws://{addr}{path}");
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(url),
    )
    .await
    .map_err(|_| "connect timed out".to_string())?
    .map_err(|e| format!("connect: {e}"))?;
    if let MaybeTlsStream::Plain(tcp) = ws.get_ref() {
        let _ = tcp.set_nodelay(true);
    }
    Ok(ws)
}

/// Sends a request and waits for its response, skipping pushes.
async fn call(ws: &mut Ws, request: Value) -> Result<Value, String> {
    ws.send(Message::Text(request.to_string().into()))
        .await
        .map_err(|e| e.to_string())?;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .map_err(|_| "no response in 30 s".to_string())?
            .ok_or("connection closed")?
            .map_err(|e| e.to_string())?;
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            if value["type"] == "response" {
                if value["success"] != true {
                    return Err(format!("{}: {value}", request["action"]));
                }
                return Ok(value["payload"].clone());
            }
        }
    }
}

/// What one customer (or echo) connection measured.
#[derive(Default)]
struct Sender {
    acked_in_window: u64,
    errors: u64,
    latencies_us: Vec<u32>,
    pushes_in_window: u64,
    /// Acknowledged sequence numbers (server runs).
    acked: Vec<u64>,
    /// How often each sequence number was pushed to this customer.
    own_pushes: Vec<u8>,
    dropped: bool,
}

struct Window {
    start: Instant,
    end: Instant,
}

impl Window {
    fn contains(&self, t: Instant) -> bool {
        t >= self.start && t < self.end
    }
}

/// Keeps `in_flight` requests going on `ws` until the window ends, then waits for the answers.
async fn drive(ws: Ws, me: usize, chat_id: String, in_flight: usize, window: Rc<Window>) -> Sender {
    let mut out = Sender::default();
    let mut pending: VecDeque<(u64, Instant)> = VecDeque::new();
    let mut next_seq = 0u64;
    let (mut sink, mut stream) = ws.split();
    let send = |seq: u64| Message::Text(request_text(seq, &chat_id, me).into());
    for _ in 0..in_flight {
        pending.push_back((next_seq, Instant::now()));
        if sink.feed(send(next_seq)).await.is_err() {
            out.dropped = true;
            return out;
        }
        next_seq += 1;
    }
    if sink.flush().await.is_err() {
        out.dropped = true;
        return out;
    }
    let hard_stop = window.end + Duration::from_secs(20);
    while !pending.is_empty() {
        let Ok(message) = tokio::time::timeout_at(hard_stop.into(), stream.next()).await else {
            break;
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_)) | Err(_)) | None => {
                out.dropped = true;
                break;
            }
            Some(Ok(_)) => continue,
        };
        let now = Instant::now();
        let is_push = text.ends_with(r#""type":"push"}"#);
        if is_push {
            if window.contains(now) {
                out.pushes_in_window += 1;
            }
            if let Some((who, seq)) = pushed_event(&text)
                && who == me
            {
                count(&mut out.own_pushes, seq);
            }
            continue;
        }
        let Some(seq) = request_id(&text) else {
            continue;
        };
        let Some(position) = pending.iter().position(|(s, _)| *s == seq) else {
            continue;
        };
        let Some((_, sent)) = pending.remove(position) else {
            continue;
        };
        let ok = !text.contains(r#""success":false"#);
        if ok {
            out.acked.push(seq);
        } else {
            out.errors += 1;
        }
        if window.contains(now) {
            if ok {
                out.acked_in_window += 1;
            }
            let us = now.duration_since(sent).as_micros();
            out.latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
        }
        if now < window.end {
            pending.push_back((next_seq, Instant::now()));
            if sink.send(send(next_seq)).await.is_err() {
                out.dropped = true;
                break;
            }
            next_seq += 1;
        }
    }
    // The pushes of the last requests may come after their responses.
    let settle = Instant::now() + Duration::from_secs(2);
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(settle.into(), stream.next()).await {
        if let Message::Text(text) = message
            && let Some((who, seq)) = pushed_event(&text)
            && who == me
        {
            count(&mut out.own_pushes, seq);
        }
    }
    out
}

fn count(counts: &mut Vec<u8>, seq: u64) {
    let i = usize::try_from(seq).unwrap_or(usize::MAX);
    if i >= counts.len() {
        counts.resize(i + 1, 0);
    }
    counts[i] = counts[i].saturating_add(1);
}

/// An agent connection: counts every `incoming_event` push of ours until told to stop.
struct Counter {
    per_customer: Vec<Vec<u8>>,
    pushes_in_window: u64,
    dropped: bool,
}

async fn listen(
    mut ws: Ws,
    customers: usize,
    window: Rc<Window>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Counter {
    let mut out = Counter {
        per_customer: vec![Vec::new(); customers],
        pushes_in_window: 0,
        dropped: false,
    };
    loop {
        let message = tokio::select! {
            m = ws.next() => m,
            _ = stop.wait_for(|&s| s) => break,
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_)) | Err(_)) | None => {
                out.dropped = true;
                break;
            }
            Some(Ok(_)) => continue,
        };
        if window.contains(Instant::now()) {
            out.pushes_in_window += 1;
        }
        if let Some((who, seq)) = pushed_event(&text)
            && let Some(counts) = out.per_customer.get_mut(who)
        {
            count(counts, seq);
        }
    }
    out
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)]) / 1000.0
}

fn summarize(senders: &[Sender], agent_pushes: u64, seconds: f64) -> Figures {
    let mut latencies: Vec<u32> = senders
        .iter()
        .flat_map(|s| s.latencies_us.iter().copied())
        .collect();
    latencies.sort_unstable();
    let acked: u64 = senders.iter().map(|s| s.acked_in_window).sum();
    let pushes: u64 = senders.iter().map(|s| s.pushes_in_window).sum::<u64>() + agent_pushes;
    Figures {
        errors: senders.iter().map(|s| s.errors).sum(),
        per_second: acked as f64 / seconds,
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        pushes_per_second: pushes as f64 / seconds,
        dropped: senders.iter().filter(|s| s.dropped).count() as u64,
        ..Figures::default()
    }
}

async fn run_echo(case: &Case, options: &Options) -> Result<Figures, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let echo = spawn(&me, &["echo".to_string()], options.pin)?;
    let mut sockets = Vec::new();
    for _ in 0..case.customers {
        sockets.push(connect(echo.addr, "/").await?);
    }
    let start = Instant::now() + options.warmup;
    let window = Rc::new(Window {
        start,
        end: start + options.duration,
    });
    let local = tokio::task::LocalSet::new();
    let senders = local
        .run_until(async {
            let tasks: Vec<_> = sockets
                .into_iter()
                .enumerate()
                .map(|(i, ws)| {
                    let chat = format!("{:032x}", i);
                    tokio::task::spawn_local(drive(ws, i, chat, case.in_flight, Rc::clone(&window)))
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                if let Ok(s) = t.await {
                    out.push(s);
                }
            }
            out
        })
        .await;
    Ok(summarize(&senders, 0, options.duration.as_secs_f64()))
}

async fn run_server(case: &Case, options: &Options) -> Result<Figures, String> {
    let data_dir = std::env::temp_dir().join(format!(
        "chatio-loadgen-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    let mut args: Vec<String> = [
        "--listen",
        "127.0.0.1:0",
        "--quiet",
        "--idle-timeout",
        "3600",
        "--seed",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for i in 0..case.agents {
        args.push("--agent".to_string());
        args.push(format!(
            "{}=agent{i}@loadgen.test:Agent {i}",
            agent_token(i)
        ));
    }
    if case.data {
        args.push("--data".to_string());
        args.push(data_dir.display().to_string());
    }
    let same = |a: &std::path::Path, b: &std::path::Path| matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b);
    if std::env::current_exe().is_ok_and(|me| same(&me, &options.server_bin)) {
        // A bench from one address at thousands of requests per second per connection: the
        // limits against abuse would refuse it. (Older builds have no such flags.)
        args.extend(
            ["--request-rate", "0", "--customer-rate", "0"]
                .iter()
                .map(|s| s.to_string()),
        );
        args.push("--max-connections-per-address".to_string());
        args.push((case.customers + case.agents + 16).to_string());
    }
    args.extend(options.server_args.iter().cloned());
    let result = async {
        let server = spawn(&options.server_bin, &args, options.pin)?;
        let addr = server.addr;
        // Agents first, so that they see every chat start.
        let mut agents = Vec::new();
        for i in 0..case.agents {
            let mut ws = connect(addr, "/agent/v0.5/rtm/ws?license_id=1").await?;
            call(
                &mut ws,
                serde_json::json!({"request_id": "login", "action": "login",
                    "payload": {"token": format!("Bearer {}", agent_token(i))}}),
            )
            .await?;
            agents.push(ws);
        }
        let mut customers = Vec::new();
        for i in 0..case.customers {
            let mut ws = connect(addr, "/customer/v0.5/rtm/ws?license_id=1").await?;
            call(
                &mut ws,
                serde_json::json!({"request_id": "login", "action": "login",
                    "payload": {"token": format!("Bearer loadgen-customer-{i}")}}),
            )
            .await?;
            let chat = call(
                &mut ws,
                serde_json::json!({"request_id": "start", "action": "start_chat", "payload": {}}),
            )
            .await?;
            let chat_id = chat["chat"]["id"]
                .as_str()
                .ok_or("start_chat answered no chat id")?
                .to_string();
            customers.push((ws, chat_id));
        }
        let start = Instant::now() + options.warmup;
        let window = Rc::new(Window {
            start,
            end: start + options.duration,
        });
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let local = tokio::task::LocalSet::new();
        let (senders, counters) = local
            .run_until(async {
                let listeners: Vec<_> = agents
                    .into_iter()
                    .map(|ws| {
                        tokio::task::spawn_local(listen(
                            ws,
                            case.customers,
                            Rc::clone(&window),
                            stopped.clone(),
                        ))
                    })
                    .collect();
                let tasks: Vec<_> = customers
                    .into_iter()
                    .enumerate()
                    .map(|(i, (ws, chat))| {
                        tokio::task::spawn_local(drive(
                            ws,
                            i,
                            chat,
                            case.in_flight,
                            Rc::clone(&window),
                        ))
                    })
                    .collect();
                let mut senders = Vec::new();
                for t in tasks {
                    if let Ok(s) = t.await {
                        senders.push(s);
                    }
                }
                // `drive` waited 2 s for the last pushes; the agents get a little longer.
                tokio::time::sleep(Duration::from_secs(1)).await;
                let _ = stop.send(true);
                let mut counters = Vec::new();
                for l in listeners {
                    if let Ok(c) = l.await {
                        counters.push(c);
                    }
                }
                (senders, counters)
            })
            .await;
        let agent_pushes: u64 = counters.iter().map(|c| c.pushes_in_window).sum();
        let mut figures = summarize(&senders, agent_pushes, options.duration.as_secs_f64());
        figures.dropped += counters.iter().filter(|c| c.dropped).count() as u64;
        // Every acknowledged event: pushed once to its customer and once to every agent.
        for (i, sender) in senders.iter().enumerate() {
            for &seq in &sender.acked {
                let at = usize::try_from(seq).unwrap_or(usize::MAX);
                let mut tally = |n: u8| match n {
                    0 => figures.lost += 1,
                    1 => {}
                    _ => figures.duplicated += u64::from(n - 1),
                };
                tally(sender.own_pushes.get(at).copied().unwrap_or(0));
                for counter in &counters {
                    let n = counter
                        .per_customer
                        .get(i)
                        .and_then(|c| c.get(at))
                        .copied()
                        .unwrap_or(0);
                    tally(n);
                }
            }
        }
        drop(server);
        Ok(figures)
    }
    .await;
    let _ = std::fs::remove_dir_all(&data_dir);
    result
}

/// `chatio-server echo`: every WebSocket message comes back as it was. Returns the exit status.
pub fn echo_main(flags: EchoFlags) -> u8 {
    let listen = flags.listen;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("chatio-server echo: {e}");
            return 1;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("chatio-server echo: cannot listen on {listen}: {e}");
                return 1;
            }
        };
        let addr = listener.local_addr().unwrap_or(listen);
        println!("listening on {addr}");
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let app =
            axum::Router::new().fallback(|ws: WebSocketUpgrade| async move { ws.on_upgrade(echo) });
        match axum::serve(listener, app).await {
            Ok(()) => 0,
            Err(_) => 1,
        }
    })
}

/// Sends back what it reads: everything a read burst brings, then one flush.
async fn echo(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        let mut next = Some(message);
        while let Some(message) = next.take() {
            if matches!(message, ServerMessage::Close(_)) {
                return;
            }
            if socket.feed(message).await.is_err() {
                return;
            }
            next = match socket.recv().now_or_never() {
                Some(Some(Ok(message))) => Some(message),
                _ => None,
            };
        }
        if socket.flush().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_pushes_are_read_back() {
        let request = request_text(17, "c", 3);
        assert_eq!(request_id(&request), Some(17));
        let push = r#"{"action":"incoming_event","payload":{"chat_id":"c","event":{"text":"lg 13 42","type":"message"},"thread_id":"t"},"type":"push"}"#;
        assert_eq!(pushed_event(push), Some((13, 42)));
        let other = push.replace("incoming_event", "incoming_chat_thread");
        assert_eq!(pushed_event(&other), None);
        let response = r#"{"action":"send_event","payload":{},"request_id":"9","success":true,"type":"response"}"#;
        assert_eq!(request_id(response), Some(9));
    }
}
