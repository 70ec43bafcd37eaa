//! `--archive-after` with `--data` (issue 24, bounded memory): closed threads leave the
//! engine's memory for SQLite, and the RTM answers that show them (`get_chat_threads` for the
//! customer and the agent, `get_archives`) are the same before archiving, after it, and after
//! a restart that reads them back from the store.

mod license;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
    async fn login(addr: SocketAddr, api: &str, token: &str) -> Client {
        let url = format!("ws://{addr}/{api}/v0.5/rtm/ws");
        let (ws, _) = timeout(STEP, tokio_tungstenite::connect_async(url))
            .await
            .unwrap()
            .unwrap();
        let mut client = Client { ws, next_id: 0 };
        client.ok("login", json!({ "token": token })).await;
        client
    }

    /// Sends a request and returns its payload, which must be a success; pushes are skipped.
    async fn ok(&mut self, action: &str, payload: Value) -> Value {
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
                assert_eq!(message["success"], true, "{action}: {message}");
                return message["payload"].clone();
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

async fn start(
    durability: &Durability,
) -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let server = Server::open(config(), Some(durability)).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        server
            .serve(listener, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    (addr, stop, running)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_threads_leave_memory_and_answers_stay_the_same() {
    let data = data_dir();
    let durability = Durability::new(&data);
    let (addr, stop, running) = start(&durability).await;

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

    let _ = stop.send(());
    running.await.unwrap();

    // The engine as stored: the closed threads are stubs without events; the last is whole.
    let (store, recovered) = Store::open(&durability, &config().engine, true, |_| Ok(())).unwrap();
    let chat = recovered.engine.chats().iter().next().unwrap().clone();
    drop(store);
    assert_eq!(chat.threads.len(), 3);
    for stub in &chat.threads[..2] {
        assert!(stub.is_archived() && stub.events.is_empty());
    }
    assert!(!chat.threads[2].is_archived() && !chat.threads[2].events.is_empty());

    // After a restart, the same answers, read back from SQLite.
    let (addr, stop, running) = start(&durability).await;
    let restarted = answers(addr, &chat_id, &thread_ids).await;
    assert_eq!(restarted[..3], before[..3]);
    let _ = stop.send(());
    running.await.unwrap();
    let _ = std::fs::remove_dir_all(&data);
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
