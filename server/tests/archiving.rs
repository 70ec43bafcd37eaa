//! `--archive-after` (issue 24, bounded memory): closed threads leave the engine's memory for
//! the store, SQLite (`--data`) or Postgres (`--postgres`, see `tests/pg/mod.rs`), and the RTM
//! answers that show them (`get_chat_threads` for the customer and the agent, `get_archives`)
//! are the same before archiving, after it, and after a restart that reads them back from the
//! store.

mod license;
mod pg;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chatio_server::hub::{Node, NodeOptions};
use chatio_server::pg::PgOptions;
use chatio_server::{Durability, Server, store::Store};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const STEP: Duration = Duration::from_secs(10);
/// Threads closed this long ago are archived.
const AGE: Duration = Duration::from_secs(3);

struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl Client {
    /// Connects and logs in, trying again while the license is not served yet (a Postgres
    /// node takes its lease a moment after it starts).
    async fn login(addr: SocketAddr, api: &str, token: &str) -> Client {
        let url = format!("ws://{addr}/{api}/v0.5/rtm/ws?license_id=default");
        let mut last = Value::Null;
        for _ in 0..100 {
            let (ws, _) = timeout(STEP, tokio_tungstenite::connect_async(url.as_str()))
                .await
                .unwrap()
                .unwrap();
            let mut client = Client { ws, next_id: 0 };
            let response = client.request("login", json!({ "token": token })).await;
            if response["success"] == true {
                return client;
            }
            last = response;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("login refused: {last}");
    }

    /// Sends a request and returns its payload, which must be a success; pushes are skipped.
    async fn ok(&mut self, action: &str, payload: Value) -> Value {
        let message = self.request(action, payload).await;
        assert_eq!(message["success"], true, "{action}: {message}");
        message["payload"].clone()
    }

    /// Sends a request and returns its response message; pushes are skipped.
    async fn request(&mut self, action: &str, payload: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id.to_string();
        let request = json!({ "request_id": id, "action": action, "payload": payload });
        self.ws
            .send(Message::Text(request.to_string().into()))
            .await
            .unwrap();
        loop {
            let message = timeout(STEP, self.ws.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            let Message::Text(text) = message else {
                continue;
            };
            let message: Value = serde_json::from_str(&text).unwrap();
            if message["type"] == "response" && message["request_id"] == id.as_str() {
                return message;
            }
            if message["type"] == "response" {
                // Refused before the request was read (a license not served yet).
                return message;
            }
        }
    }
}

fn data_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("archiving-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn config() -> chatio_server::Config {
    chatio_server::Config {
        archive_after: Some(AGE),
        ..license::config()
    }
}

/// Where the threads go.
enum Storage {
    Sqlite(Durability),
    Postgres(String),
}

/// A running server, stopped by [`Running::stop`].
struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    done: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.done.await.unwrap();
    }
}

async fn start(storage: &Storage) -> Running {
    let node = match storage {
        Storage::Sqlite(durability) => {
            Node::single(Server::open(config(), Some(durability)).unwrap())
        }
        Storage::Postgres(url) => {
            let options = NodeOptions {
                licenses: Vec::new(),
                default_license: true,
                admin_token: None,
                postgres: Some(PgOptions {
                    url: url.clone(),
                    lease_ttl: Duration::from_secs(10),
                    connections: 2,
                    advertise: None,
                    snapshot_every: 100,
                }),
            };
            Node::open(config(), None, options).await.unwrap()
        }
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(async move {
        node.serve(listener, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    Running { addr, stop, done }
}

async fn archived_total(addr: SocketAddr) -> u64 {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut text = String::new();
    socket.read_to_string(&mut text).await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("chatio_archived_threads_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// What the customer and the agent see of the chat's threads, and the agent's archives.
async fn answers(addr: SocketAddr, chat_id: &str, thread_ids: &[String]) -> Vec<Value> {
    let mut jan = Client::login(addr, "customer", "archiving-jan").await;
    let mut anna = Client::login(addr, "agent", "t1").await;
    let threads = json!({ "chat_id": chat_id, "thread_ids": thread_ids });
    vec![
        jan.ok("get_chat_threads", threads.clone()).await,
        anna.ok("get_chat_threads", threads).await,
        anna.ok("get_archives", json!({})).await,
        anna.ok("get_archives", json!({ "filters": { "query": "lost" } }))
            .await,
    ]
}

/// Three threads, two archived; the answers before, after, and after a restart. Returns
/// nothing: the checks of the store's own contents are the caller's.
async fn scenario(storage: &Storage) {
    let server = start(storage).await;
    let addr = server.addr;

    // Three threads: two closed, the last active. The agent's note is for agents only.
    let mut jan = Client::login(addr, "customer", "archiving-jan").await;
    let mut anna = Client::login(addr, "agent", "t1").await;
    let started = jan
        .ok(
            "start_chat",
            json!({ "chat": { "thread": { "events": [{ "type": "message", "text": "my parcel is lost" }] } } }),
        )
        .await;
    let chat_id = started["chat"]["id"].as_str().unwrap().to_string();
    for n in 0..2 {
        let note =
            json!({ "type": "message", "text": format!("note {n}"), "recipients": "agents" });
        anna.ok("send_event", json!({ "chat_id": chat_id, "event": note }))
            .await;
        jan.ok("close_thread", json!({ "chat_id": chat_id })).await;
        let again = json!({ "type": "message", "text": format!("still lost {n}") });
        jan.ok("send_event", json!({ "chat_id": chat_id, "event": again }))
            .await;
    }
    let summary = jan
        .ok("get_chat_threads_summary", json!({ "chat_id": chat_id }))
        .await;
    let thread_ids: Vec<String> = summary["threads_summary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(thread_ids.len(), 3);
    let before = answers(addr, &chat_id, &thread_ids).await;
    assert_eq!(before[1]["chat"]["threads"].as_array().unwrap().len(), 3);
    assert_eq!(before[2]["chats"].as_array().unwrap().len(), 2);
    // The customer does not see the agents' notes.
    assert!(!before[0].to_string().contains("note 0"));
    assert!(before[1].to_string().contains("note 0"));

    // The two closed threads are archived once older than AGE.
    let waited = timeout(Duration::from_secs(30), async {
        while archived_total(addr).await < 2 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "the threads were not archived in time");
    let after = answers(addr, &chat_id, &thread_ids).await;
    assert_eq!(after[..3], before[..3], "answers filled from the store");
    // A text query looks only at threads in memory: the archived ones no longer match.
    assert_eq!(before[3]["pagination"]["total"], 2);
    assert_eq!(after[3]["pagination"]["total"], 0);

    server.stop().await;

    if let Storage::Sqlite(durability) = storage {
        // The engine as stored: the closed threads are stubs without events; the last is whole.
        let (store, recovered) =
            Store::open(durability, &config().engine, true, |_| Ok(())).unwrap();
        let chat = recovered.engine.chats().iter().next().unwrap().clone();
        drop(store);
        assert_eq!(chat.threads.len(), 3);
        for stub in &chat.threads[..2] {
            assert!(stub.is_archived() && stub.events.is_empty());
        }
        assert!(!chat.threads[2].is_archived() && !chat.threads[2].events.is_empty());
    }

    // After a restart, the same answers, read back from the store.
    let server = start(storage).await;
    let restarted = answers(server.addr, &chat_id, &thread_ids).await;
    assert_eq!(restarted[..3], before[..3]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_threads_leave_memory_and_answers_stay_the_same_with_sqlite() {
    let data = data_dir();
    scenario(&Storage::Sqlite(Durability::new(&data))).await;
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_threads_leave_memory_and_answers_stay_the_same_with_postgres() {
    let postgres = pg::database("archiving").await;
    scenario(&Storage::Postgres(postgres.url.clone())).await;
    // The two threads are in the table, under the license, written with their record.
    let db = pg::connect(&postgres.url).await;
    let row = db
        .query_one(
            "SELECT count(*) FROM chatio_archived_threads WHERE license_id = 'default'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 2);
    drop(db);
    postgres.remove().await;
}

#[test]
fn in_memory_archiving_is_off_and_says_so() {
    let server = Server::open(config(), None).unwrap();
    assert!(
        server
            .report()
            .iter()
            .any(|l| l.contains("--archive-after is off")),
        "{:?}",
        server.report()
    );
}
