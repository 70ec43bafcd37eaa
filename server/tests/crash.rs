//! Crash test for `chatio-server --data` (issue 6, item 4): the server runs as a separate process,
//! several clients load it concurrently over RTM, the process is killed with SIGKILL in the
//! middle of that, and restarted on the same directory. Every event whose response a client
//! received must then be there, in the same chat, with the same id, in the order it was
//! acknowledged; no event may appear twice; and the only events nobody saw acknowledged are the
//! ones in flight at the kill (at most one per client). Three kills, then a clean shutdown
//! (Ctrl-C), which must leave a snapshot and an empty journal, and a start with another seed,
//! which must be refused.
//!
//! The server process is the `chatio-server` binary, which Cargo builds for this test.
//!
//! Every wait is bounded; a failure prints the server's log and keeps its data directory.

use chatio_server as server;

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The longest one request, one start or one shutdown may take.
const STEP: Duration = Duration::from_secs(10);

/// Records between snapshots: small, so that kills land before, between and during them. (The
/// first start takes none, so the first recovery replays the journal from its first record.)
const SNAPSHOT_EVERY: u64 = 40;

/// Customers started in each load phase.
const CUSTOMERS: usize = 5;

/// Acknowledged events after which a load phase is cut short by the kill.
const ACKS_PER_PHASE: usize = 150;

/// The server's flags (besides `--listen` and `--data`). `extra_agent` adds a third agent, as
/// an operator might between two starts.
fn server_flags(seed: u64, extra_agent: bool, snapshot_every: u64) -> Vec<String> {
    let mut flags = vec![
        "--seed".to_string(),
        seed.to_string(),
        "--router".to_string(),
        "automatic".to_string(),
        "--snapshot-every".to_string(),
        snapshot_every.to_string(),
        // The subject here is durability: the clients load the server as fast as they can.
        "--request-rate".to_string(),
        "0".to_string(),
        "--allow-weak-tokens".to_string(),
        "--agent".to_string(),
        "tok-a1=agent1@example.com:Agent One::100".to_string(),
        "--agent".to_string(),
        "tok-a2=agent2@example.com:Agent Two::100".to_string(),
    ];
    if extra_agent {
        flags.push("--agent".to_string());
        flags.push("tok-a3=agent3@example.com:Agent Three::100".to_string());
    }
    flags
}

/// The flags the crash test gives mean what the test relies on.
#[test]
fn server_flags_parse() {
    let mut args = vec!["--listen".to_string(), "127.0.0.1:0".to_string()];
    args.extend(["--data".to_string(), "some/dir".to_string()]);
    args.extend(server_flags(7, true, SNAPSHOT_EVERY));
    let parsed = server::cli::parse_args(args)
        .expect("the flags parse")
        .expect("not --help");
    assert_eq!(parsed.listen.port(), 0);
    let durability = parsed.durability.expect("--data asks for durability");
    assert_eq!(durability.dir, Path::new("some/dir"));
    assert_eq!(durability.snapshot_every, SNAPSHOT_EVERY);
    assert_eq!(parsed.config.seed, Some(7));
    assert_eq!(parsed.config.agents.len(), 3);
    assert_eq!(parsed.config.agents[2].agent.max_chats, 100);
    assert!(server::cli::usage().contains("--data <DIR>"));
    assert!(server::cli::usage().contains("--snapshot-every <N>"));
}

// ----- the server process -----

struct Server {
    child: Child,
    addr: SocketAddr,
}

/// Where the test keeps its files, and the server's log to show when something fails.
struct Workdir {
    root: PathBuf,
    log: PathBuf,
    passed: bool,
}

impl Workdir {
    fn new() -> Workdir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("crash-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        Workdir {
            log: root.join("server.log"),
            root,
            passed: false,
        }
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    /// The server's last report of a recovery.
    fn last_recovery(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines()
            .rev()
            .find(|line| line.contains("recovered"))
            .unwrap_or("no recovery logged")
            .to_string()
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if self.passed {
            let _ = std::fs::remove_dir_all(&self.root);
        } else {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!(
                "crash test failed; files kept in {}. The server's log ends with:",
                self.root.display()
            );
            for line in tail.iter().rev() {
                eprintln!("    {line}");
            }
        }
    }
}

impl Server {
    /// Runs the server on a free port of the loopback interface and waits until it listens
    /// (recovery comes first, so it then serves the whole engine).
    fn start(work: &Workdir, flags: &[String]) -> Server {
        let (child, lines) = spawn(work, flags);
        let deadline = Instant::now() + STEP;
        let mut child = child;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    // The test harness may have written the test's name on the same line.
                    if let Some((_, addr)) = line.split_once("listening on ") {
                        let addr = addr.trim().parse().expect("a socket address");
                        return Server { child, addr };
                    }
                }
                Err(_) => {
                    let status = child.try_wait().ok().flatten();
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("the server did not start listening (exit status {status:?})");
                }
            }
        }
    }

    /// SIGKILL: no shutdown code runs.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        let status = self.child.wait().expect("wait for the killed server");
        assert_eq!(
            status.signal(),
            Some(9),
            "the server was still running when killed, and died of the kill: {status:?}"
        );
    }

    /// Ctrl-C: the server closes its connections, takes a snapshot and exits with 0.
    fn interrupt(mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("run kill(1)");
        assert!(sent.success(), "kill -INT {pid}");
        let status = wait_with_timeout(&mut self.child, STEP);
        assert!(
            status.success(),
            "a clean shutdown exits with 0: {status:?}"
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only a failing test gets here with the server running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts this test binary as the server, its standard output read line by line.
fn spawn(work: &Workdir, flags: &[String]) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut args = vec![
        "--listen".to_string(),
        "127.0.0.1:0".to_string(),
        "--data".to_string(),
        work.data().display().to_string(),
    ];
    args.extend_from_slice(flags);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&work.log)
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatio-server"))
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start the server process");
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
    (child, rx)
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("poll the server") {
            return status;
        }
        assert!(Instant::now() < deadline, "the server did not exit in time");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ----- a WebSocket client that tolerates the server going away -----

struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pushes: VecDeque<Value>,
    next_id: u64,
}

impl Client {
    /// Connects and logs in; returns the login payload too.
    async fn login(addr: SocketAddr, api: &str, token: &str) -> Result<(Client, Value), String> {
        let url = format!("ws://{addr}/{api}/v0.5/rtm/ws?license_id=1");
        let (ws, _) = timeout(STEP, tokio_tungstenite::connect_async(url))
            .await
            .map_err(|_| "connect: timed out".to_string())?
            .map_err(|e| format!("connect: {e}"))?;
        let mut client = Client {
            ws,
            pushes: VecDeque::new(),
            next_id: 0,
        };
        let response = client.request("login", json!({ "token": token })).await?;
        if response["success"] != true {
            return Err(format!("login refused: {response}"));
        }
        Ok((client, response["payload"].clone()))
    }

    /// Sends a request and returns its response message (success or not); pushes that arrive
    /// first are kept. `Err` when the connection fails or the response does not come in time.
    async fn request(&mut self, action: &str, payload: Value) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id.to_string();
        let request = json!({ "request_id": id, "action": action, "payload": payload });
        timeout(
            STEP,
            self.ws.send(Message::Text(request.to_string().into())),
        )
        .await
        .map_err(|_| "send: timed out".to_string())?
        .map_err(|e| format!("send: {e}"))?;
        loop {
            let message = timeout(STEP, self.ws.next())
                .await
                .map_err(|_| format!("{action}: no response in time"))?
                .ok_or_else(|| "the connection ended".to_string())?
                .map_err(|e| format!("read: {e}"))?;
            let text = match message {
                Message::Text(text) => text,
                Message::Close(_) => return Err("closed by the server".to_string()),
                _ => continue,
            };
            let message: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            if message["type"] == "response" && message["request_id"] == id.as_str() {
                return Ok(message);
            }
            self.pushes.push_back(message);
        }
    }

    /// Like `request`, for reads that must succeed: the payload.
    async fn ok(&mut self, action: &str, payload: Value) -> Value {
        let response = self.request(action, payload).await.unwrap();
        assert_eq!(response["success"], true, "{action}: {response}");
        response["payload"].clone()
    }
}

fn message(text: &str) -> Value {
    json!({ "type": "message", "text": text })
}

// ----- load -----

/// An event whose response its sender received.
#[derive(Clone, Debug)]
struct Acked {
    chat_id: String,
    event_id: String,
    text: String,
}

/// What one client did in one load phase.
#[derive(Debug, Default)]
struct Record {
    /// Every text this client sends starts with it.
    prefix: String,
    /// In the order the responses came.
    acked: Vec<Acked>,
    /// The text of the request whose response never came (the server died first).
    in_flight: Option<String>,
    /// Something that should not have happened (a refused customer event, an error before the
    /// kill).
    failure: Option<String>,
}

/// Shared by the clients of a phase.
struct Phase {
    addr: SocketAddr,
    /// Set just before the server is killed: errors after it are expected.
    killing: AtomicBool,
    /// Set to end the phase without a kill.
    stop: AtomicBool,
    acks: AtomicUsize,
}

impl Phase {
    fn over(&self) -> bool {
        self.killing.load(Ordering::SeqCst) || self.stop.load(Ordering::SeqCst)
    }

    /// An error: expected once the kill is under way, a failure before.
    fn error(&self, record: &mut Record, what: String) {
        if !self.killing.load(Ordering::SeqCst) {
            record.failure = Some(what);
        }
    }
}

/// A customer: logs in, starts a chat with a message, then sends messages until the server
/// goes away or the phase stops.
async fn customer(phase: Arc<Phase>, token: String, prefix: String) -> Record {
    let mut record = Record {
        prefix: prefix.clone(),
        ..Record::default()
    };
    let mut client = match Client::login(phase.addr, "customer", &token).await {
        Ok((client, _)) => client,
        Err(e) => {
            phase.error(&mut record, format!("{token}: {e}"));
            return record;
        }
    };
    let first = format!("{prefix}0");
    record.in_flight = Some(first.clone());
    let chat = json!({ "chat": { "thread": { "events": [message(&first)] } } });
    let chat_id = match client.request("start_chat", chat).await {
        Ok(response) if response["success"] == true => {
            let chat = &response["payload"]["chat"];
            let chat_id = chat["id"].as_str().unwrap().to_string();
            let event = chat["thread"]["events"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["text"] == first.as_str())
                .expect("start_chat returns its message");
            record.acked.push(Acked {
                chat_id: chat_id.clone(),
                event_id: event["id"].as_str().unwrap().to_string(),
                text: first,
            });
            record.in_flight = None;
            phase.acks.fetch_add(1, Ordering::SeqCst);
            chat_id
        }
        Ok(response) => {
            record.failure = Some(format!("start_chat refused: {response}"));
            return record;
        }
        Err(e) => {
            phase.error(&mut record, format!("start_chat: {e}"));
            return record;
        }
    };
    for k in 1.. {
        if phase.stop.load(Ordering::SeqCst) {
            break;
        }
        let text = format!("{prefix}{k}");
        record.in_flight = Some(text.clone());
        let payload = json!({ "chat_id": chat_id, "event": message(&text) });
        match client.request("send_event", payload).await {
            Ok(response) if response["success"] == true => {
                record.acked.push(Acked {
                    chat_id: chat_id.clone(),
                    event_id: response["payload"]["event"]["id"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                    text,
                });
                record.in_flight = None;
                phase.acks.fetch_add(1, Ordering::SeqCst);
            }
            Ok(response) => {
                record.failure = Some(format!("send_event refused: {response}"));
                break;
            }
            Err(e) => {
                phase.error(&mut record, format!("send_event: {e}"));
                break;
            }
        }
        client.pushes.clear();
    }
    record
}

/// An agent: replies in turn to every chat it hears of, until the server goes away or the
/// phase stops. Replies the engine refuses (a chat whose thread is closed, say) are not
/// counted; they change nothing.
async fn agent(phase: Arc<Phase>, token: String, prefix: String) -> Record {
    let mut record = Record {
        prefix: prefix.clone(),
        ..Record::default()
    };
    let mut client = match Client::login(phase.addr, "agent", &token).await {
        Ok((client, _)) => client,
        Err(e) => {
            phase.error(&mut record, format!("{token}: {e}"));
            return record;
        }
    };
    let mut chats: Vec<String> = Vec::new();
    let mut k = 0;
    while !phase.over() {
        for push in client.pushes.drain(..) {
            let payload = &push["payload"];
            let id = payload["chat"]["id"]
                .as_str()
                .or_else(|| payload["chat_id"].as_str());
            if let Some(id) = id
                && !chats.iter().any(|c| c == id)
            {
                chats.push(id.to_string());
            }
        }
        if chats.is_empty() {
            // Nothing to answer yet: a ping lets pushes arrive.
            if let Err(e) = client.request("ping", json!({})).await {
                phase.error(&mut record, format!("ping: {e}"));
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        let chat_id = chats[k % chats.len()].clone();
        k += 1;
        let text = format!("{prefix}{k}");
        record.in_flight = Some(text.clone());
        let payload = json!({ "chat_id": chat_id, "event": message(&text) });
        match client.request("send_event", payload).await {
            Ok(response) => {
                if response["success"] == true {
                    record.acked.push(Acked {
                        chat_id,
                        event_id: response["payload"]["event"]["id"]
                            .as_str()
                            .unwrap()
                            .to_string(),
                        text,
                    });
                    phase.acks.fetch_add(1, Ordering::SeqCst);
                }
                record.in_flight = None;
            }
            Err(e) => {
                phase.error(&mut record, format!("send_event: {e}"));
                break;
            }
        }
    }
    record
}

/// Commits of more than one record seen before the kills: the kills land in group commits.
static MULTI_RECORD_BATCHES: AtomicUsize = AtomicUsize::new(0);

/// How many of the server's commits so far held more than one journal record, from its
/// `/metrics`.
async fn multi_record_batches(addr: SocketAddr) -> usize {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut raw = String::new();
        stream.read_to_string(&mut raw).await.ok()?;
        Some(raw)
    };
    let text = timeout(STEP, exchange)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let value = |prefix: &str| -> usize {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix)?.trim().parse().ok())
            .unwrap_or(0)
    };
    let all = value("chatio_commit_batch_records_count");
    let single = value(r#"chatio_commit_batch_records_bucket{le="1"}"#);
    all.saturating_sub(single)
}

/// Customers `c{phase}-{i}` and every agent, concurrently. With `kill`, the server is killed
/// once enough events are acknowledged, while every client is still sending; without, the
/// phase stops then and the server keeps running.
async fn load(
    server: &mut Option<Server>,
    phase_no: usize,
    agents: &[&str],
    kill: bool,
) -> (Vec<Record>, Vec<String>) {
    let addr = server.as_ref().unwrap().addr;
    let phase = Arc::new(Phase {
        addr,
        killing: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        acks: AtomicUsize::new(0),
    });
    let mut tasks = Vec::new();
    for (j, token) in agents.iter().enumerate() {
        let prefix = format!("a{}.{phase_no}.", j + 1);
        tasks.push(tokio::spawn(agent(
            Arc::clone(&phase),
            (*token).to_string(),
            prefix,
        )));
    }
    let mut tokens = Vec::new();
    for i in 0..CUSTOMERS {
        let token = format!("customer-token-{phase_no}-{i}");
        let prefix = format!("c{phase_no}.{i}.");
        tokens.push(token.clone());
        tasks.push(tokio::spawn(customer(Arc::clone(&phase), token, prefix)));
    }
    let started = Instant::now();
    while phase.acks.load(Ordering::SeqCst) < ACKS_PER_PHASE {
        assert!(
            started.elapsed() < STEP,
            "only {} events acknowledged in {STEP:?}",
            phase.acks.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    if kill {
        // A few more milliseconds, different each run, so that the kill lands anywhere in a
        // request: before its commit, during it, or between the commit and the response.
        let jitter = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_micros() % 20_000);
        tokio::time::sleep(Duration::from_micros(u64::from(jitter))).await;
        let batched = multi_record_batches(addr).await;
        MULTI_RECORD_BATCHES.fetch_add(batched, Ordering::SeqCst);
        assert!(
            tasks.iter().all(|t| !t.is_finished()),
            "every client is still busy when the server is killed"
        );
        phase.killing.store(true, Ordering::SeqCst);
        server.take().unwrap().kill();
    } else {
        phase.stop.store(true, Ordering::SeqCst);
    }
    let mut records = Vec::new();
    for task in tasks {
        let record = timeout(STEP * 2, task)
            .await
            .expect("the clients finish")
            .expect("no client panics");
        assert_eq!(
            record.failure, None,
            "client {} failed before the kill",
            record.prefix
        );
        records.push(record);
    }
    (records, tokens)
}

// ----- checking -----

/// Reads every chat of every customer through the customer's own login (the same token must
/// still be the same customer, with the same chats) and checks the acknowledged events against
/// it. Returns how many events it found.
async fn verify(addr: SocketAddr, customer_tokens: &[String], records: &[Record]) -> usize {
    // Every message event, chat by chat, in thread order then event order.
    let mut chats: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for token in customer_tokens {
        let (mut client, login) = Client::login(addr, "customer", token).await.unwrap();
        let id = server::customer_id_for(token).to_string();
        assert_eq!(
            login["customer_id"],
            id.as_str(),
            "{token} is the same customer"
        );
        let summary = client.ok("get_chats_summary", json!({})).await;
        for chat in summary["chats_summary"].as_array().unwrap() {
            let chat_id = chat["id"].as_str().unwrap().to_string();
            let all = client
                .ok(
                    "get_chat_threads",
                    json!({ "chat_id": chat_id, "thread_ids": [] }),
                )
                .await;
            let mut summary: Vec<(u64, String)> = all["chat"]["threads_summary"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    (
                        t["order"].as_u64().unwrap(),
                        t["id"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            summary.sort();
            let ids: Vec<&String> = summary.iter().map(|(_, id)| id).collect();
            let threads = client
                .ok(
                    "get_chat_threads",
                    json!({ "chat_id": chat_id, "thread_ids": ids }),
                )
                .await;
            let threads = threads["chat"]["threads"].as_array().unwrap();
            let mut by_id: HashMap<&str, &Value> = HashMap::new();
            for thread in threads {
                by_id.insert(thread["id"].as_str().unwrap(), thread);
            }
            let mut events = Vec::new();
            for id in ids {
                for event in by_id[id.as_str()]["events"].as_array().unwrap() {
                    if event["type"] == "message" {
                        events.push((
                            event["id"].as_str().unwrap().to_string(),
                            event["text"].as_str().unwrap().to_string(),
                        ));
                    }
                }
            }
            let previous = chats.insert(chat_id.clone(), events);
            assert!(
                previous.is_none(),
                "chat {chat_id} belongs to two customers"
            );
        }
    }

    // No event twice: not by id, not by text (every text sent is unique).
    let mut ids = HashSet::new();
    let mut texts: HashMap<&str, (&str, usize, &str)> = HashMap::new();
    for (chat_id, events) in &chats {
        for (position, (id, text)) in events.iter().enumerate() {
            assert!(ids.insert(id.as_str()), "event {id} appears twice");
            let earlier = texts.insert(text.as_str(), (chat_id.as_str(), position, id.as_str()));
            assert!(earlier.is_none(), "{text:?} appears twice");
        }
    }

    // Every acknowledged event, where and as it was acknowledged, in the order it was.
    for record in records {
        let mut last_position: HashMap<&str, usize> = HashMap::new();
        for acked in &record.acked {
            let Some(&(chat_id, position, id)) = texts.get(acked.text.as_str()) else {
                panic!(
                    "{:?} was acknowledged as {} in chat {}, and is gone",
                    acked.text, acked.event_id, acked.chat_id
                );
            };
            assert_eq!(chat_id, acked.chat_id, "{:?} moved chats", acked.text);
            assert_eq!(id, acked.event_id, "{:?} changed ids", acked.text);
            if let Some(&before) = last_position.get(chat_id) {
                assert!(before < position, "{:?} is out of order", acked.text);
            }
            last_position.insert(chat_id, position);
        }
    }

    // Nothing else from these clients but, at most, the request each had in flight.
    let acked: HashSet<&str> = records
        .iter()
        .flat_map(|r| r.acked.iter().map(|a| a.text.as_str()))
        .collect();
    for text in texts.keys() {
        if acked.contains(text) {
            continue;
        }
        let record = records
            .iter()
            .find(|r| text.starts_with(&r.prefix))
            .unwrap_or_else(|| panic!("{text:?} was never sent"));
        assert_eq!(
            record.in_flight.as_deref(),
            Some(*text),
            "{text:?} is there but was neither acknowledged nor in flight"
        );
    }
    texts.len()
}

/// The agents still log in, each once, as themselves.
async fn agents_log_in(addr: SocketAddr, agents: &[(&str, &str)]) {
    for (token, id) in agents {
        let (_client, login) = Client::login(addr, "agent", token).await.unwrap();
        assert_eq!(login["my_profile"]["id"], *id);
    }
}

/// The record numbers of the snapshots kept, and of the journal records kept.
fn stored_seqs(data: &Path) -> (Vec<i64>, Vec<i64>) {
    let db = rusqlite::Connection::open(data.join(server::store::FILE_NAME)).unwrap();
    let seqs = |table: &str| -> Vec<i64> {
        let mut select = db
            .prepare(&format!("SELECT seq FROM {table} ORDER BY seq"))
            .unwrap();
        select
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    (seqs("snapshot"), seqs("journal"))
}

/// Cuts the newest snapshot in half, as a torn write or a bad disk might.
fn damage_newest_snapshot(data: &Path) -> i64 {
    let db = rusqlite::Connection::open(data.join(server::store::FILE_NAME)).unwrap();
    let newest: i64 = db
        .query_row("SELECT MAX(seq) FROM snapshot", [], |row| row.get(0))
        .unwrap();
    db.execute(
        "UPDATE snapshot SET data = substr(data, 1, length(data) / 2) WHERE seq = ?1",
        [newest],
    )
    .unwrap();
    newest
}

#[test]
fn acknowledged_events_survive_sigkill() {
    let mut work = Workdir::new();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let two = [
        ("tok-a1", "agent1@example.com"),
        ("tok-a2", "agent2@example.com"),
    ];
    let three = [two[0], two[1], ("tok-a3", "agent3@example.com")];
    let mut records: Vec<Record> = Vec::new();
    let mut customers: Vec<String> = Vec::new();
    let started = Instant::now();

    // Three kills in the middle of the load; the third agent joins from the second start on.
    MULTI_RECORD_BATCHES.store(0, Ordering::SeqCst);
    for phase in 1..=3 {
        let every = if phase == 1 { 0 } else { SNAPSHOT_EVERY };
        let flags = server_flags(7, phase > 1, every);
        let mut server = Some(Server::start(&work, &flags));
        let present = if phase > 1 { &three[..] } else { &two[..] };
        let agents: Vec<&str> = present.iter().map(|(token, _)| *token).collect();
        let (new, tokens) = runtime.block_on(load(&mut server, phase, &agents, true));
        let acked: usize = new.iter().map(|r| r.acked.len()).sum();
        let agent_acks: usize = new
            .iter()
            .filter(|r| r.prefix.starts_with('a'))
            .map(|r| r.acked.len())
            .sum();
        assert!(agent_acks > 0, "the agents replied too");
        eprintln!(
            "phase {phase}: {acked} events acknowledged before the kill ({agent_acks} by agents)"
        );
        records.extend(new);
        customers.extend(tokens);

        let server = Server::start(&work, &server_flags(7, true, SNAPSHOT_EVERY));
        eprintln!("{}", work.last_recovery());
        let found = runtime.block_on(async {
            agents_log_in(server.addr, &three).await;
            verify(server.addr, &customers, &records).await
        });
        let acked: usize = records.iter().map(|r| r.acked.len()).sum();
        let in_flight = records.iter().filter(|r| r.in_flight.is_some()).count();
        eprintln!(
            "after restart {phase}: {found} events: all {acked} acknowledged, and {} of the \
             {in_flight} requests in flight at the kills",
            found - acked
        );
        server.kill();
    }
    let batched = MULTI_RECORD_BATCHES.load(Ordering::SeqCst);
    eprintln!("{batched} commits of several records before the kills");
    assert!(
        batched > 0,
        "the load made group commits, so the kills hit batches"
    );

    // The server goes on after recovery: more load, no kill, then a clean shutdown, which
    // leaves nothing to replay.
    let mut server = Some(Server::start(&work, &server_flags(7, true, SNAPSHOT_EVERY)));
    let agents: Vec<&str> = three.iter().map(|(token, _)| *token).collect();
    let (new, tokens) = runtime.block_on(load(&mut server, 4, &agents, false));
    assert!(
        new.iter().all(|r| r.in_flight.is_none()),
        "nothing in flight without a kill"
    );
    records.extend(new);
    customers.extend(tokens);
    server.take().unwrap().interrupt();
    let (snapshots, journal) = stored_seqs(&work.data());
    assert_eq!(snapshots.len(), 2, "two snapshots are kept: {snapshots:?}");
    assert!(
        journal
            .iter()
            .all(|&seq| snapshots[0] < seq && seq <= snapshots[1]),
        "a clean shutdown leaves nothing to replay, and only the records after the older \
         snapshot: snapshots {snapshots:?}, journal {journal:?}"
    );
    let start = Server::start(&work, &server_flags(7, true, SNAPSHOT_EVERY));
    assert!(work.last_recovery().contains(" 0 record(s) replayed"));
    runtime.block_on(verify(start.addr, &customers, &records));
    start.kill();

    // A damaged newest snapshot: recovery falls back to the older one and replays the records
    // after it, and the next snapshot replaces the damaged one.
    let damaged = damage_newest_snapshot(&work.data());
    let server = Server::start(&work, &server_flags(7, true, SNAPSHOT_EVERY));
    let log = std::fs::read_to_string(&work.log).unwrap();
    assert!(
        log.contains(&format!("warning: the snapshot at record {damaged}")),
        "the damaged snapshot is named:\n{log}"
    );
    eprintln!("{}", work.last_recovery());
    runtime.block_on(async {
        agents_log_in(server.addr, &three).await;
        verify(server.addr, &customers, &records).await
    });
    server.kill();

    // Flags that would make another engine are refused, and change nothing.
    let (mut child, _lines) = spawn(&work, &server_flags(8, true, SNAPSHOT_EVERY));
    let status = wait_with_timeout(&mut child, STEP);
    assert_eq!(status.code(), Some(2), "another --seed is refused");
    let log = std::fs::read_to_string(&work.log).unwrap();
    assert!(
        log.contains("was made with --seed 7") && log.contains("asks for --seed 8"),
        "the refusal names both seeds:\n{log}"
    );
    let server = Server::start(&work, &server_flags(7, true, SNAPSHOT_EVERY));
    runtime.block_on(verify(server.addr, &customers, &records));
    server.kill();

    eprintln!("crash test took {:?}", started.elapsed());
    work.passed = true;
}
