//! Many nodes on one Postgres (issue 24, item 6): three `chatio-server` processes share 30
//! licenses (10 created on each through the admin API), customers of every license load them
//! over RTM, reaching their license through any node (a node that does not serve it answers
//! `misdirected_request` with the owner's URL). Then:
//!
//! 1. the owner of ten licenses is killed with SIGKILL: its licenses must be served again by
//!    the others, whom clients reach the same way (the time it takes is printed);
//! 2. another node is paused with SIGSTOP until the third has taken its licenses (its leases
//!    expired), then resumed with SIGCONT: it must write nothing to the journal from then on,
//!    and stop serving them;
//! 3. the node that then serves everything is stopped cleanly (SIGTERM): it gives its leases
//!    up and the resumed node serves them all at its next lease round;
//! 4. every event whose response a client received is in its chat exactly once, no event
//!    twice, and each license's journal is one line of records: numbers without gap or
//!    repeat, epochs never going back, ending where the lease says; and every license is
//!    served by exactly one live node.
//!
//! It needs a Postgres server: see `tests/pg/mod.rs` (`CHATIO_TEST_POSTGRES`, or a cluster of
//! its own). `CHATIO_MULTINODE_LICENSES` and `CHATIO_MULTINODE_CUSTOMERS` (per license) change
//! the sizes (30 and 2), `CHATIO_MULTINODE_SECONDS` how long the throughput figure measures (2),
//! `CHATIO_MULTINODE_PG_CONNECTIONS` each node's `--postgres-connections` (4). Each phase
//! prints a `FIGURE` line (`--nocapture`).

mod pg;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The lease's time to live, in seconds: short, so that failover is quick.
const LEASE_TTL: u64 = 2;

/// The longest one request may take before the client gives up on the node.
const STEP: Duration = Duration::from_secs(3);

/// The administrator's token of every node.
const ADMIN: &str = "admin-token-of-the-multinode-test";

/// One test at a time: each runs several servers, and the failover times they measure would
/// otherwise include the other test's load on the same cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ----- nodes -----

struct Node {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Node {
    fn start(url: &str, dir: &std::path::Path, name: &str) -> Node {
        Node::start_with(url, dir, name, LEASE_TTL)
    }

    fn start_with(url: &str, dir: &std::path::Path, name: &str, lease_ttl: u64) -> Node {
        let log = dir.join(format!("{name}.log"));
        let stderr = std::fs::File::create(&log).expect("a log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_chatio-server"))
            .args([
                "--postgres",
                url,
                "--listen",
                "127.0.0.1:0",
                "--lease-ttl",
                &lease_ttl.to_string(),
                "--allow-weak-tokens",
                "--request-rate",
                "0",
                "--customer-rate",
                "0",
                "--snapshot-every",
                "300",
                "--postgres-connections",
                &size("CHATIO_MULTINODE_PG_CONNECTIONS", 4).to_string(),
            ])
            .env("CHATIO_ADMIN_TOKEN", ADMIN)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("the chatio-server binary starts");
        let stdout = child.stdout.take().expect("its stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| {
                panic!(
                    "{name} did not start: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            });
        let addr = line
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("{name}: unexpected first line {line:?}"));
        Node { child, addr, log }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal}");
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // A paused node cannot die of SIGKILL until it runs again.
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bare HTTP/1.1 request: the status and body.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

// ----- a WebSocket client -----

struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl Client {
    async fn connect(url: &str) -> Result<Client, String> {
        let (ws, _) = timeout(STEP, tokio_tungstenite::connect_async(url))
            .await
            .map_err(|_| "connect: timed out".to_string())?
            .map_err(|e| format!("connect: {e}"))?;
        Ok(Client { ws, next_id: 0 })
    }

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
        }
    }
}

/// How a client found its license.
#[derive(Default)]
struct Reach {
    misdirected: u64,
    unavailable: u64,
    unreachable: u64,
}

/// Connects to license `license` through the nodes, starting with `nodes[first]`, following
/// `misdirected_request` to the owner and retrying while the license moves; logs in.
async fn reach(
    nodes: &[SocketAddr],
    first: usize,
    api: &str,
    license: Option<&str>,
    token: &str,
    reach: &mut Reach,
    give_up: Instant,
) -> Result<(Client, Value), String> {
    let url_of = |i: usize| match license {
        Some(l) => format!(
            "ws://{}/{api}/v0.5/rtm/ws?license_id={l}",
            nodes[i % nodes.len()]
        ),
        None => format!("ws://{}/{api}/v0.5/rtm/ws", nodes[i % nodes.len()]),
    };
    let mut i = first;
    let mut url = url_of(i);
    let mut last = String::new();
    while Instant::now() < give_up {
        let mut client = match Client::connect(&url).await {
            Ok(client) => client,
            Err(e) => {
                reach.unreachable += 1;
                last = format!("{url}: {e}");
                i += 1;
                url = url_of(i);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let response = match client.request("login", json!({ "token": token })).await {
            Ok(response) => response,
            Err(e) => {
                reach.unreachable += 1;
                last = format!("{url}: login: {e}");
                i += 1;
                url = url_of(i);
                continue;
            }
        };
        if response["success"] == true {
            return Ok((client, response["payload"].clone()));
        }
        let error = &response["payload"]["error"];
        match error["type"].as_str() {
            Some("misdirected_request") => {
                reach.misdirected += 1;
                url = error["data"]["url"]
                    .as_str()
                    .ok_or_else(|| format!("misdirected without a url: {response}"))?
                    .to_string();
            }
            Some("service_unavailable") => {
                reach.unavailable += 1;
                last = response.to_string();
                tokio::time::sleep(Duration::from_millis(100)).await;
                i += 1;
                url = url_of(i);
            }
            _ => return Err(format!("login refused: {response}")),
        }
    }
    Err(format!("could not reach license {license:?}: {last}"))
}

// ----- load -----

/// What one customer did.
#[derive(Default)]
struct Record {
    license: usize,
    token: String,
    /// Texts whose response came, with when, and when the connection that carried them was
    /// made.
    acked: Vec<(String, Instant, Instant)>,
    /// Texts whose response never came (the node died, paused or lost the license).
    uncertain: Vec<String>,
    failure: Option<String>,
    reach: Reach,
}

struct Load {
    nodes: Vec<SocketAddr>,
    stop: AtomicBool,
}

fn message(text: &str) -> Value {
    json!({ "type": "message", "text": text })
}

async fn customer(load: Arc<Load>, record: Arc<Mutex<Record>>, license: usize, k: usize) {
    let token = format!("customer-{license}-{k}-of-the-multinode-test");
    {
        let mut r = record.lock().unwrap();
        r.license = license;
        r.token = token.clone();
    }
    let id = format!("lic{license}");
    let mut chat_id: Option<String> = None;
    let mut n = 0u64;
    let first = license + k;
    while !load.stop.load(Ordering::SeqCst) {
        let give_up = Instant::now() + Duration::from_secs(40);
        let mut found = Reach::default();
        let reached = reach(
            &load.nodes,
            first + n as usize,
            "customer",
            Some(&id),
            &token,
            &mut found,
            give_up,
        )
        .await;
        {
            let mut r = record.lock().unwrap();
            r.reach.misdirected += found.misdirected;
            r.reach.unavailable += found.unavailable;
            r.reach.unreachable += found.unreachable;
        }
        let connected = Instant::now();
        let mut client = match reached {
            Ok((client, _)) => client,
            Err(e) => {
                record.lock().unwrap().failure = Some(e);
                return;
            }
        };
        while !load.stop.load(Ordering::SeqCst) {
            let text = format!("L{license}c{k}e{n}");
            n += 1;
            let (action, payload) = match &chat_id {
                None => (
                    "start_chat",
                    json!({ "chat": { "thread": { "events": [message(&text)] } } }),
                ),
                Some(chat) => (
                    "send_event",
                    json!({ "chat_id": chat, "event": message(&text) }),
                ),
            };
            match client.request(action, payload).await {
                Ok(response) if response["success"] == true => {
                    if chat_id.is_none() {
                        chat_id = response["payload"]["chat"]["id"].as_str().map(String::from);
                    }
                    record
                        .lock()
                        .unwrap()
                        .acked
                        .push((text, Instant::now(), connected));
                }
                Ok(response) => {
                    record.lock().unwrap().failure = Some(format!("{action} refused: {response}"));
                    return;
                }
                Err(_) => {
                    // The node went away, paused or gave the license up: reconnect.
                    record.lock().unwrap().uncertain.push(text);
                    break;
                }
            }
        }
    }
}

/// The first ack per license (of `licenses`) on a connection made after `since`: when the
/// license was served again, by a node reached after `since`. (Acks on older connections may
/// be answers the old owner sent just before it died.)
fn first_acks_after(
    records: &Mutex<Vec<Arc<Mutex<Record>>>>,
    licenses: &HashSet<usize>,
    since: Instant,
) -> HashMap<usize, Instant> {
    let mut first: HashMap<usize, Instant> = HashMap::new();
    for record in records.lock().unwrap().iter() {
        let record = record.lock().unwrap();
        if !licenses.contains(&record.license) {
            continue;
        }
        if let Some((_, at, _)) = record.acked.iter().find(|(_, _, conn)| *conn > since) {
            let entry = first.entry(record.license).or_insert(*at);
            if at < entry {
                *entry = *at;
            }
        }
    }
    first
}

/// The licenses each node serves now, by the database: address → license numbers.
async fn owners(db: &tokio_postgres::Client) -> HashMap<String, Vec<(usize, i64)>> {
    let rows = db
        .query(
            "SELECT license_id, address, epoch FROM chatio_leases \
             WHERE expires_at > clock_timestamp()",
            &[],
        )
        .await
        .unwrap();
    let mut owners: HashMap<String, Vec<(usize, i64)>> = HashMap::new();
    for row in rows {
        let id: String = row.get(0);
        let n: usize = id.trim_start_matches("lic").parse().unwrap();
        owners.entry(row.get(1)).or_default().push((n, row.get(2)));
    }
    owners
}

/// Waits (at most `limit`) for `check` to hold.
async fn wait_for(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every message event of customer `token`'s chats, by text, through any node.
async fn stored_texts(nodes: &[SocketAddr], license: usize, token: &str) -> Vec<String> {
    let mut reach_ = Reach::default();
    let (mut client, _) = reach(
        nodes,
        license,
        "customer",
        Some(&format!("lic{license}")),
        token,
        &mut reach_,
        Instant::now() + Duration::from_secs(20),
    )
    .await
    .unwrap();
    let ok = |r: Result<Value, String>| {
        let r = r.unwrap();
        assert_eq!(r["success"], true, "{r}");
        r["payload"].clone()
    };
    let summary = ok(client.request("get_chats_summary", json!({})).await);
    let mut texts = Vec::new();
    for chat in summary["chats_summary"].as_array().unwrap() {
        let chat_id = chat["id"].as_str().unwrap();
        let all = ok(client
            .request(
                "get_chat_threads",
                json!({ "chat_id": chat_id, "thread_ids": [] }),
            )
            .await);
        let ids: Vec<Value> = all["chat"]["threads_summary"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].clone())
            .collect();
        let threads = ok(client
            .request(
                "get_chat_threads",
                json!({ "chat_id": chat_id, "thread_ids": ids }),
            )
            .await);
        for thread in threads["chat"]["threads"].as_array().unwrap() {
            for event in thread["events"].as_array().unwrap() {
                if event["type"] == "message" {
                    texts.push(event["text"].as_str().unwrap().to_string());
                }
            }
        }
    }
    texts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_licenses_fail_over_and_fence_a_paused_node() {
    let _serial = SERIAL.lock().await;
    let licenses = size("CHATIO_MULTINODE_LICENSES", 30);
    let per_license = size("CHATIO_MULTINODE_CUSTOMERS", 2);
    let postgres = pg::database("multinode").await;
    let db = pg::connect(&postgres.url).await;
    let dir = std::env::temp_dir().join(format!("chatio-multinode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut nodes: Vec<Node> = (0..3)
        .map(|i| Node::start(&postgres.url, &dir, &format!("node{i}")))
        .collect();
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.addr).collect();
    let log_files: Vec<PathBuf> = nodes.iter().map(|n| n.log.clone()).collect();
    let logs = || {
        log_files
            .iter()
            .zip(&addrs)
            .enumerate()
            .map(|(i, (file, addr))| {
                let text = std::fs::read_to_string(file).unwrap_or_default();
                format!("--- node{i} ({addr}):\n{text}")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };

    // Licenses, a third created on each node (which then serves them), each with an agent.
    for l in 0..licenses {
        let spec = json!({
            "id": format!("lic{l}"),
            "agents": [{ "token": format!("agent-{l}-token-of-the-test"), "id": format!("agent{l}@example.com") }],
        });
        let (status, body) = http(addrs[l % 3], "POST", "/admin/licenses", &spec.to_string());
        assert_eq!(status, 201, "create lic{l}: {body}\n{}", logs());
    }
    let (status, body) = http(
        addrs[0],
        "POST",
        "/admin/licenses",
        &json!({ "id": "lic0" }).to_string(),
    );
    assert_eq!(status, 409, "a license is created once: {body}");
    let owned = owners(&db).await;
    for (i, addr) in addrs.iter().enumerate() {
        let mut served: Vec<usize> = owned
            .get(&addr.to_string())
            .map(|v| v.iter().map(|(l, _)| *l).collect())
            .unwrap_or_default();
        served.sort_unstable();
        let created: Vec<usize> = (0..licenses).filter(|l| l % 3 == i).collect();
        assert_eq!(served, created, "node{i} serves the licenses created on it");
    }

    // An agent without license_id, through a node that does not serve its license: sent to
    // the owner by its token.
    let mut r = Reach::default();
    let (_, login) = reach(
        &addrs,
        1,
        "agent",
        None,
        "agent-0-token-of-the-test",
        &mut r,
        Instant::now() + Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert_eq!(login["my_profile"]["id"], "agent0@example.com");
    assert_eq!(r.misdirected, 1, "the agent was sent to lic0's owner once");

    // Load on every license.
    let load = Arc::new(Load {
        nodes: addrs.clone(),
        stop: AtomicBool::new(false),
    });
    let records: Vec<Arc<Mutex<Record>>> = (0..licenses * per_license)
        .map(|_| Arc::new(Mutex::new(Record::default())))
        .collect();
    let records = Mutex::new(records);
    let mut tasks = Vec::new();
    for l in 0..licenses {
        for k in 0..per_license {
            let record = Arc::clone(&records.lock().unwrap()[l * per_license + k]);
            tasks.push(tokio::spawn(customer(Arc::clone(&load), record, l, k)));
        }
    }
    let all: HashSet<usize> = (0..licenses).collect();
    let started = Instant::now();
    wait_for(Duration::from_secs(30), "every license to answer", || {
        first_acks_after(&records, &all, started).len() == licenses
    })
    .await;
    let steady_from = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let acks_between = |from: Instant, to: Instant| -> usize {
        records
            .lock()
            .unwrap()
            .iter()
            .map(|r| {
                r.lock()
                    .unwrap()
                    .acked
                    .iter()
                    .filter(|(_, at, _)| *at >= from && *at < to)
                    .count()
            })
            .sum()
    };
    let steady_to = Instant::now();
    let steady = acks_between(steady_from, steady_to);
    println!(
        "FIGURE three nodes, {licenses} licenses, {} customers (one request in flight each): \
         {:.0} acknowledged requests/s",
        licenses * per_license,
        steady as f64 / (steady_to - steady_from).as_secs_f64()
    );

    // 1. SIGKILL the owner of a third of the licenses.
    let victim: HashSet<usize> = (0..licenses).filter(|l| l % 3 == 0).collect();
    nodes[0].signal("KILL");
    let killed = Instant::now();
    wait_for(
        Duration::from_secs(30),
        "the dead node's licenses to be served again",
        || first_acks_after(&records, &victim, killed).len() == victim.len(),
    )
    .await;
    let back = first_acks_after(&records, &victim, killed);
    let mut times: Vec<f64> = back
        .values()
        .map(|at| (*at - killed).as_secs_f64())
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "FIGURE SIGKILL of a node serving {} licenses (lease {LEASE_TTL} s): served again after \
         {:.2} s (first) / {:.2} s (median) / {:.2} s (last)",
        victim.len(),
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    );
    let owned = owners(&db).await;
    assert!(
        !owned.contains_key(&addrs[0].to_string()),
        "the dead node holds no lease"
    );

    // 2. SIGSTOP node 1 until node 2 has taken its licenses, then SIGCONT.
    let paused: Vec<(usize, i64)> = owned
        .get(&addrs[1].to_string())
        .cloned()
        .unwrap_or_default();
    assert!(!paused.is_empty(), "node1 serves licenses before its pause");
    let paused_set: HashSet<usize> = paused.iter().map(|(l, _)| *l).collect();
    nodes[1].signal("STOP");
    let stopped = Instant::now();
    wait_for(
        Duration::from_secs(30),
        "the paused node's licenses to be served by the last one",
        || first_acks_after(&records, &paused_set, stopped).len() == paused_set.len(),
    )
    .await;
    let back = first_acks_after(&records, &paused_set, stopped);
    let last = back
        .values()
        .map(|at| (*at - stopped).as_secs_f64())
        .fold(0.0, f64::max);
    println!(
        "FIGURE SIGSTOP of a node serving {} licenses: all served elsewhere after {last:.2} s",
        paused_set.len()
    );
    let resumed_at: std::time::SystemTime = db
        .query_one("SELECT clock_timestamp()", &[])
        .await
        .unwrap()
        .get(0);
    nodes[1].signal("CONT");
    // It runs again: the requests its clients sent before the pause are in its sockets, and
    // its leases are gone. Give it time to try.
    tokio::time::sleep(Duration::from_secs(2 * LEASE_TTL)).await;
    for (license, epoch) in &paused {
        let written: i64 = db
            .query_one(
                "SELECT count(*) FROM chatio_journal WHERE license_id = $1 AND epoch = $2 \
                 AND written_at >= $3",
                &[&format!("lic{license}"), epoch, &resumed_at],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(
            written,
            0,
            "the paused node wrote to lic{license} after it resumed\n{}",
            logs()
        );
        let now: i64 = db
            .query_one(
                "SELECT epoch FROM chatio_leases WHERE license_id = $1",
                &[&format!("lic{license}")],
            )
            .await
            .unwrap()
            .get(0);
        assert!(now > *epoch, "lic{license} was taken over");
    }
    let resumed_log = nodes[1].log_text();
    assert!(
        resumed_log.contains("no longer serving this license here"),
        "the resumed node gave its licenses up\n{}",
        logs()
    );
    println!(
        "FIGURE the resumed node: {} write(s) refused by fencing, {} license(s) given up",
        resumed_log.matches("fenced:").count(),
        resumed_log
            .matches("no longer serving this license here")
            .count()
    );
    assert!(
        resumed_log
            .matches("no longer serving this license here")
            .count()
            >= paused.len(),
        "the resumed node gave up every license it held when paused\n{}",
        logs()
    );
    // Never two nodes serving a license, as the nodes themselves say; and once the resumed
    // node has taken its share back (one license at a time, each served by nobody while it
    // moves), every license served by exactly one.
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let mut serving: HashMap<String, usize> = HashMap::new();
        for addr in &addrs[1..] {
            let (status, body) = http(*addr, "GET", "/admin/licenses", "");
            assert_eq!(status, 200, "{body}");
            let list: Value = serde_json::from_str(&body).unwrap();
            for l in list["licenses"].as_array().unwrap() {
                if l["served_here"] == true {
                    *serving
                        .entry(l["id"].as_str().unwrap().to_string())
                        .or_default() += 1;
                }
            }
        }
        assert!(
            serving.values().all(|&n| n == 1),
            "a license served by two nodes: {serving:?}"
        );
        if serving.len() == licenses {
            break;
        }
        assert!(
            Instant::now() < until,
            "licenses served by nobody for 30 s: {serving:?}\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A clean shutdown (SIGTERM) of the last node: it commits, snapshots and gives its leases
    // up, and the resumed node (which has taken its share back from it meanwhile) takes them
    // at its next lease round.
    let leaving: HashSet<usize> = owners(&db)
        .await
        .get(&addrs[2].to_string())
        .map(|v| v.iter().map(|(l, _)| *l).collect())
        .unwrap_or_default();
    assert!(!leaving.is_empty(), "node2 serves licenses");
    nodes[2].signal("TERM");
    let terminated = Instant::now();
    wait_for(
        Duration::from_secs(30),
        "the stopped node's licenses to be served by the resumed one",
        || first_acks_after(&records, &leaving, terminated).len() == leaving.len(),
    )
    .await;
    let back = first_acks_after(&records, &leaving, terminated);
    let last = back
        .values()
        .map(|at| (*at - terminated).as_secs_f64())
        .fold(0.0, f64::max);
    println!(
        "FIGURE SIGTERM of a node serving {} licenses: all served by the other after {last:.2} s",
        leaving.len()
    );
    let mut stopped_node = nodes.pop().expect("node2");
    let status = stopped_node.child.wait().expect("node2 exits");
    assert_eq!(status.code(), Some(0), "a clean shutdown\n{}", logs());
    assert!(
        stopped_node.log_text().contains("bye"),
        "node2 finished its shutdown"
    );
    drop(stopped_node);

    // 3. Stop the load and check every license.
    load.stop.store(true, Ordering::SeqCst);
    for task in tasks {
        timeout(Duration::from_secs(60), task)
            .await
            .expect("a customer ends")
            .expect("a customer does not panic");
    }
    let records: Vec<Arc<Mutex<Record>>> = records.into_inner().unwrap();
    let (acked_total, misdirected) = check_stored(&addrs[1..2], &records, &logs).await;
    assert!(misdirected > 0, "clients were sent to owners");
    // The journals: one line each.
    for l in 0..licenses {
        let id = format!("lic{l}");
        let rows = db
            .query(
                "SELECT seq, epoch FROM chatio_journal WHERE license_id = $1 ORDER BY seq",
                &[&id],
            )
            .await
            .unwrap();
        let last_seq: i64 = db
            .query_one(
                "SELECT last_seq FROM chatio_leases WHERE license_id = $1",
                &[&id],
            )
            .await
            .unwrap()
            .get(0);
        let mut previous: Option<(i64, i64)> = None;
        for row in &rows {
            let (seq, epoch): (i64, i64) = (row.get(0), row.get(1));
            if let Some((p_seq, p_epoch)) = previous {
                assert_eq!(
                    seq,
                    p_seq + 1,
                    "{id}: the journal skips from {p_seq} to {seq}"
                );
                assert!(
                    epoch >= p_epoch,
                    "{id}: epoch {epoch} after {p_epoch} at record {seq}"
                );
            }
            previous = Some((seq, epoch));
        }
        if let Some((seq, _)) = previous {
            assert_eq!(seq, last_seq, "{id}: the journal ends where the lease says");
        }
    }
    println!(
        "FIGURE {acked_total} acknowledged events checked, {misdirected} misdirected logins \
         followed"
    );
    drop(nodes);
    drop(db);
    postgres.remove().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Checks, for every customer, that each acknowledged event is stored exactly once and that
/// nothing is stored that it did not send: the number of acknowledged events and of
/// misdirected logins followed.
async fn check_stored(
    nodes: &[SocketAddr],
    records: &[Arc<Mutex<Record>>],
    logs: &dyn Fn() -> String,
) -> (usize, u64) {
    let mut acked_total = 0;
    let mut misdirected = 0;
    for record in records {
        let record = std::mem::take(&mut *record.lock().unwrap());
        assert!(
            record.failure.is_none(),
            "{}: {:?}\n{}",
            record.token,
            record.failure,
            logs()
        );
        misdirected += record.reach.misdirected;
        let stored = stored_texts(nodes, record.license, &record.token).await;
        let mut seen = HashSet::new();
        for text in &stored {
            assert!(seen.insert(text.clone()), "{text} is stored twice");
        }
        let uncertain: HashSet<&String> = record.uncertain.iter().collect();
        for (text, _, _) in &record.acked {
            assert!(seen.contains(text), "acknowledged {text} is missing");
            acked_total += 1;
        }
        let acked: HashSet<&String> = record.acked.iter().map(|(t, _, _)| t).collect();
        for text in &stored {
            assert!(
                acked.contains(text) || uncertain.contains(text),
                "{text} is stored but was never sent"
            );
        }
    }
    (acked_total, misdirected)
}

/// Starts `n` nodes on a fresh database and creates `licenses` licenses, spread over them.
async fn cluster(name: &str, n: usize, licenses: usize) -> (pg::Postgres, Vec<Node>, PathBuf) {
    let postgres = pg::database(name).await;
    let dir = std::env::temp_dir().join(format!("chatio-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let nodes: Vec<Node> = (0..n)
        .map(|i| Node::start(&postgres.url, &dir, &format!("node{i}")))
        .collect();
    for l in 0..licenses {
        let spec = json!({ "id": format!("lic{l}") });
        let (status, body) = http(
            nodes[l % n].addr,
            "POST",
            "/admin/licenses",
            &spec.to_string(),
        );
        assert_eq!(status, 201, "create lic{l}: {body}");
    }
    (postgres, nodes, dir)
}

/// Acknowledged requests per second over `licenses` licenses on `n` nodes: customers with one
/// request in flight each, measured for `seconds` once every license has answered; then
/// every acknowledged event is checked.
async fn throughput(n: usize, licenses: usize, per_license: usize, seconds: u64) -> f64 {
    let (postgres, nodes, dir) = cluster(&format!("throughput{n}"), n, licenses).await;
    let addrs: Vec<SocketAddr> = nodes.iter().map(|node| node.addr).collect();
    let load = Arc::new(Load {
        nodes: addrs.clone(),
        stop: AtomicBool::new(false),
    });
    let records: Vec<Arc<Mutex<Record>>> = (0..licenses * per_license)
        .map(|_| Arc::new(Mutex::new(Record::default())))
        .collect();
    let mut tasks = Vec::new();
    for l in 0..licenses {
        for k in 0..per_license {
            let record = Arc::clone(&records[l * per_license + k]);
            tasks.push(tokio::spawn(customer(Arc::clone(&load), record, l, k)));
        }
    }
    let records = Mutex::new(records);
    let all: HashSet<usize> = (0..licenses).collect();
    let started = Instant::now();
    wait_for(Duration::from_secs(30), "every license to answer", || {
        first_acks_after(&records, &all, started).len() == licenses
    })
    .await;
    let from = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let to = Instant::now();
    let acks: usize = records
        .lock()
        .unwrap()
        .iter()
        .map(|r| {
            r.lock()
                .unwrap()
                .acked
                .iter()
                .filter(|(_, at, _)| *at >= from && *at < to)
                .count()
        })
        .sum();
    load.stop.store(true, Ordering::SeqCst);
    for task in tasks {
        timeout(Duration::from_secs(30), task)
            .await
            .expect("a customer ends")
            .expect("a customer does not panic");
    }
    let logs = || {
        nodes
            .iter()
            .map(|node| node.log_text())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let records = records.into_inner().unwrap();
    let (checked, _) = check_stored(&addrs, &records, &logs).await;
    assert!(checked > 0, "events were acknowledged");
    drop(nodes);
    postgres.remove().await;
    let _ = std::fs::remove_dir_all(&dir);
    acks as f64 / (to - from).as_secs_f64()
}

/// Item 7's figure: the same load over the same licenses on one node and on three. (On one
/// machine the three nodes share its cores: the figure shows what sharing costs or gains
/// there, not what three machines would do.) `CHATIO_MULTINODE_SECONDS` measures longer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_requests_over_one_node_and_three() {
    let _serial = SERIAL.lock().await;
    let licenses = size("CHATIO_MULTINODE_LICENSES", 30);
    let per_license = size("CHATIO_MULTINODE_CUSTOMERS", 2);
    let seconds = size("CHATIO_MULTINODE_SECONDS", 2) as u64;
    for n in [1, 3] {
        let rate = throughput(n, licenses, per_license, seconds).await;
        assert!(rate > 0.0, "{n} node(s) acknowledged requests");
        println!(
            "FIGURE {n} node(s), {licenses} licenses, {} customers with one request in flight \
             each, {seconds} s: {rate:.0} acknowledged requests/s",
            licenses * per_license
        );
    }
}

/// Fencing, deterministically: the lease of a license a node serves is taken from under it in
/// the database (as another node would take it), and the node's next write for that license
/// must change nothing. The lease lasts 30 s here, so the node's keeper (every 10 s) almost
/// never notices first; if it does, the license is given up before the write is even tried,
/// which the test accepts too, as long as nothing is written and nothing acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_after_the_lease_is_taken_changes_nothing() {
    let _serial = SERIAL.lock().await;
    let postgres = pg::database("fencing").await;
    let db = pg::connect(&postgres.url).await;
    let dir = std::env::temp_dir().join(format!("chatio-fencing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let node = Node::start_with(&postgres.url, &dir, "node", 30);
    let spec = json!({ "id": "lic0" });
    let (status, body) = http(node.addr, "POST", "/admin/licenses", &spec.to_string());
    assert_eq!(status, 201, "{body}");
    let mut found = Reach::default();
    let (mut client, _) = reach(
        &[node.addr],
        0,
        "customer",
        Some("lic0"),
        "a-customer-of-the-fencing-test",
        &mut found,
        Instant::now() + Duration::from_secs(10),
    )
    .await
    .unwrap();
    let started = client
        .request(
            "start_chat",
            json!({ "chat": { "thread": { "events": [message("before")] } } }),
        )
        .await
        .unwrap();
    assert_eq!(started["success"], true, "{started}");
    let chat_id = started["payload"]["chat"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (epoch, last_seq): (i64, i64) = {
        let row = db
            .query_one(
                "UPDATE chatio_leases SET owner = 'another-node', epoch = epoch + 1, \
                 expires_at = clock_timestamp() + interval '1 minute' \
                 WHERE license_id = 'lic0' RETURNING epoch - 1, last_seq",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    let sent = client
        .request(
            "send_event",
            json!({ "chat_id": chat_id, "event": message("after") }),
        )
        .await;
    assert!(
        sent.as_ref().map_or(true, |r| r["success"] != true),
        "a write under a lost lease was acknowledged: {sent:?}"
    );
    let written: i64 = db
        .query_one(
            "SELECT count(*) FROM chatio_journal WHERE license_id = 'lic0' AND (seq > $1 OR epoch > $2)",
            &[&last_seq, &epoch],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(written, 0, "nothing was written after the lease was taken");
    let now_last: i64 = db
        .query_one(
            "SELECT last_seq FROM chatio_leases WHERE license_id = 'lic0'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(now_last, last_seq, "the lease's record number did not move");
    // The node gave the license up: a new connection is sent away (the lease names no
    // reachable address) or told to wait, never served.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = node.log_text();
    let fenced = log.contains("fenced:");
    assert!(
        fenced || log.contains("its lease was lost"),
        "the node gave the license up:\n{log}"
    );
    assert!(
        log.contains("no longer serving this license here"),
        "the node stopped serving it:\n{log}"
    );
    println!(
        "FIGURE lease taken from under a node: its write {}",
        if fenced {
            "was refused by fencing"
        } else {
            "was not tried (the lease keeper noticed first)"
        }
    );
    drop(node);
    drop(db);
    postgres.remove().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The database cuts a node's connections (as a Postgres restart or failover would): the node
/// must connect again and serve its license on, losing nothing it acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_connects_again_when_the_database_cuts_it_off() {
    let _serial = SERIAL.lock().await;
    let postgres = pg::database("reconnect").await;
    let db = pg::connect(&postgres.url).await;
    let dir = std::env::temp_dir().join(format!("chatio-reconnect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let node = Node::start(&postgres.url, &dir, "node");
    let spec = json!({ "id": "lic0" });
    let (status, body) = http(node.addr, "POST", "/admin/licenses", &spec.to_string());
    assert_eq!(status, 201, "{body}");
    let load = Arc::new(Load {
        nodes: vec![node.addr],
        stop: AtomicBool::new(false),
    });
    let record = Arc::new(Mutex::new(Record::default()));
    let task = tokio::spawn(customer(Arc::clone(&load), Arc::clone(&record), 0, 0));
    let records = Mutex::new(vec![Arc::clone(&record)]);
    let only: HashSet<usize> = [0].into();
    let begun = Instant::now();
    // Before the cut: the license answers.
    wait_for(Duration::from_secs(20), "the license to answer", || {
        first_acks_after(&records, &only, begun).len() == 1
    })
    .await;
    let cut: i64 = db
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(cut > 0, "the node's connections were cut");
    let cut_at = Instant::now();
    let until = cut_at + Duration::from_secs(20);
    // Answers after the cut, on whichever connection: the client's WebSocket survives the cut
    // unless a write was in flight (then the license is given up and taken again).
    let answered_after = |n: usize| {
        let record = record.lock().unwrap();
        let mut after = record.acked.iter().filter(|(_, at, _)| *at > cut_at);
        after.nth(n - 1).map(|(_, at, _)| *at)
    };
    while answered_after(3).is_none() {
        let failure = record.lock().unwrap().failure.clone();
        assert!(
            Instant::now() < until,
            "the license did not answer after the cut: {failure:?}\n{}",
            node.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let back = answered_after(3).expect("three answers") - cut_at;
    println!(
        "FIGURE {cut} database connections cut: three answers after {:.2} s",
        back.as_secs_f64()
    );
    load.stop.store(true, Ordering::SeqCst);
    timeout(Duration::from_secs(30), task)
        .await
        .expect("the customer ends")
        .expect("the customer does not panic");
    let log_text = node.log_text();
    let logs = || log_text.clone();
    let records = records.into_inner().unwrap();
    let (checked, _) = check_stored(&[node.addr], &records, &logs).await;
    assert!(checked > 0, "events were acknowledged");
    assert!(
        node.log_text().contains("reconnected to postgres"),
        "the node connected again:\n{}",
        node.log_text()
    );
    drop(node);
    drop(db);
    postgres.remove().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A node that joins takes its share: the node serving everything hands licenses over, one at
/// a time and cleanly, until neither is over its share; clients of the moved licenses reach
/// them on the new node, and nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_joins_takes_its_share() {
    let _serial = SERIAL.lock().await;
    let licenses = 6;
    let (postgres, mut nodes, dir) = cluster("join", 1, licenses).await;
    let db = pg::connect(&postgres.url).await;
    let load = Arc::new(Load {
        nodes: vec![nodes[0].addr],
        stop: AtomicBool::new(false),
    });
    let records: Vec<Arc<Mutex<Record>>> = (0..licenses)
        .map(|_| Arc::new(Mutex::new(Record::default())))
        .collect();
    let mut tasks = Vec::new();
    for (l, record) in records.iter().enumerate() {
        tasks.push(tokio::spawn(customer(
            Arc::clone(&load),
            Arc::clone(record),
            l,
            0,
        )));
    }
    let records = Mutex::new(records);
    let all: HashSet<usize> = (0..licenses).collect();
    let begun = Instant::now();
    wait_for(Duration::from_secs(20), "every license to answer", || {
        first_acks_after(&records, &all, begun).len() == licenses
    })
    .await;
    nodes.push(Node::start(&postgres.url, &dir, "node1"));
    let joined = Instant::now();
    let new = nodes[1].addr.to_string();
    let until = joined + Duration::from_secs(30);
    loop {
        let owned = owners(&db).await;
        let counts: Vec<usize> = [nodes[0].addr.to_string(), new.clone()]
            .iter()
            .map(|a| owned.get(a).map_or(0, Vec::len))
            .collect();
        if counts == [licenses / 2, licenses / 2] {
            break;
        }
        assert!(Instant::now() < until, "no balance after 30 s: {counts:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let balanced = joined.elapsed();
    // Every license answers after the move (its clients reconnect through the old node and
    // are sent on).
    let settled = Instant::now();
    wait_for(
        Duration::from_secs(20),
        "every license to answer after the balance",
        || {
            records.lock().unwrap().iter().all(|r| {
                let r = r.lock().unwrap();
                r.acked.iter().any(|(_, at, _)| *at > settled)
            })
        },
    )
    .await;
    load.stop.store(true, Ordering::SeqCst);
    for task in tasks {
        timeout(Duration::from_secs(30), task)
            .await
            .expect("a customer ends")
            .expect("a customer does not panic");
    }
    println!(
        "FIGURE a second node joined a node serving {licenses} licenses: {} each after {:.2} s",
        licenses / 2,
        balanced.as_secs_f64()
    );
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.addr).collect();
    let texts: Vec<String> = nodes.iter().map(Node::log_text).collect();
    let logs = || texts.join("\n");
    let records = records.into_inner().unwrap();
    let (checked, _) = check_stored(&addrs, &records, &logs).await;
    assert!(checked > 0, "events were acknowledged");
    drop(nodes);
    drop(db);
    postgres.remove().await;
    let _ = std::fs::remove_dir_all(&dir);
}
