//! Interop: `chatio-server`, driven over real sockets by a real WebSocket client and a
//! hand-written HTTP/1.1 client. Every wait is bounded, so a broken server fails the test
//! instead of hanging it.

use chatio_server as server;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use chatio::{Agent, EngineConfig, License, Timestamp, UserId};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use server::{AgentLogin, Config, RouterKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The longest any single step may take.
const STEP: Duration = Duration::from_secs(5);

const ANNA: &str = "anna@example.com";

fn config(agents: &[(&str, &str)]) -> Config {
    Config {
        agents: agents
            .iter()
            .map(|(token, id)| AgentLogin {
                token: (*token).to_string(),
                agent: Agent::new(UserId::new(id).unwrap(), "Anna"),
            })
            .collect(),
        router: RouterKind::Automatic,
        engine: EngineConfig::with_seed(7),
        seed: Some(7),
        allow_weak_tokens: true,
        idle_timeout: Duration::from_secs(60),
        ..Config::default()
    }
}

struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn start(config: Config) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server::serve(config, listener, async {
        let _ = stopped.await;
    }));
    Running { addr, stop, task }
}

impl Running {
    /// What Ctrl-C does in the example: the server closes its connections and returns.
    async fn shut_down(self) {
        let _ = self.stop.send(());
        timeout(STEP * 2, self.task)
            .await
            .expect("the server stops in time")
            .expect("the server task does not panic")
            .expect("the server returns Ok");
    }
}

// ----- a WebSocket client that keeps the pushes it is not waiting for -----

struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    backlog: VecDeque<Value>,
    next_id: u32,
}

/// How a connection ended, as the client saw it.
#[derive(Debug)]
enum Ended {
    Close(Option<(CloseCode, String)>),
    Eof,
    Error,
}

impl Client {
    async fn connect(addr: SocketAddr, path: &str) -> Client {
        let url = format!("ws://{addr}{path}");
        let (ws, _) = timeout(STEP, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect in time")
            .expect("the WebSocket handshake succeeds");
        Client {
            ws,
            backlog: VecDeque::new(),
            next_id: 0,
        }
    }

    async fn send_text(&mut self, text: String) {
        timeout(STEP, self.ws.send(Message::Text(text.into())))
            .await
            .expect("send in time")
            .expect("send succeeds");
    }

    /// The next JSON message from the server.
    async fn recv(&mut self) -> Value {
        loop {
            let message = timeout(STEP, self.ws.next())
                .await
                .expect("a message arrives in time")
                .expect("the connection is open")
                .expect("the connection works");
            match message {
                Message::Text(text) => return serde_json::from_str(&text).unwrap(),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("unexpected message {other:?}"),
            }
        }
    }

    /// Sends a request and returns its response; pushes that come first are kept.
    async fn request(&mut self, action: &str, payload: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id.to_string();
        let request = json!({ "request_id": id, "action": action, "payload": payload });
        self.send_text(request.to_string()).await;
        loop {
            let message = self.recv().await;
            if message["type"] == "response" && message["request_id"] == id.as_str() {
                assert_eq!(message["action"], action, "{message}");
                return message;
            }
            assert_eq!(message["type"], "push", "{message}");
            self.backlog.push_back(message);
        }
    }

    /// Like `request`, but the response must be a success; returns its payload.
    async fn ok(&mut self, action: &str, payload: Value) -> Value {
        let response = self.request(action, payload).await;
        assert_eq!(response["success"], true, "{action} failed: {response}");
        response["payload"].clone()
    }

    /// The first push with this action whose payload satisfies `matches`, from the backlog or
    /// from the wire.
    async fn push(&mut self, action: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let wanted = |m: &Value| m["action"] == action && matches(&m["payload"]);
        if let Some(i) = self.backlog.iter().position(wanted) {
            return self.backlog.remove(i).unwrap()["payload"].clone();
        }
        loop {
            let message = self.recv().await;
            if wanted(&message) {
                return message["payload"].clone();
            }
            self.backlog.push_back(message);
        }
    }

    /// Reads until the connection ends, within `limit`.
    async fn ended(&mut self, limit: Duration) -> Ended {
        timeout(limit, async {
            loop {
                match self.ws.next().await {
                    None => return Ended::Eof,
                    Some(Err(_)) => return Ended::Error,
                    Some(Ok(Message::Close(frame))) => {
                        return Ended::Close(
                            frame.map(|f| (f.code, f.reason.as_str().to_string())),
                        );
                    }
                    Some(Ok(_)) => {}
                }
            }
        })
        .await
        .expect("the connection ends in time")
    }
}

async fn login(addr: SocketAddr, api: &str, token: &str) -> (Client, Value) {
    let mut client = Client::connect(addr, &format!("/{api}/v0.5/rtm/ws?license_id=100")).await;
    let payload = client.ok("login", json!({ "token": token })).await;
    (client, payload)
}

fn message(text: &str) -> Value {
    json!({ "type": "message", "text": text })
}

fn has_text(text: &'static str) -> impl Fn(&Value) -> bool {
    move |p| p["event"]["text"] == text
}

// ----- a minimal HTTP/1.1 client -----

/// POSTs `body` to `path`; returns the status and the body as JSON (`Null` if it is not JSON).
async fn post(
    addr: SocketAddr,
    path: &str,
    authorization: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        if let Some(value) = authorization {
            request.push_str(&format!("Authorization: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        // A server that answers and closes early may reset the connection: keep what came.
        let _ = stream.read_to_end(&mut raw).await;
        String::from_utf8(raw).unwrap()
    };
    let raw = timeout(STEP, exchange).await.expect("HTTP answer in time");
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .expect("a complete HTTP response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "this client reads only bodies with a length: {head}"
    );
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

// ----- the tests -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_and_customer_talk_over_rtm_and_the_web_api() {
    let server = start(config(&[("t1", ANNA)])).await;
    let addr = server.addr;

    // The first message must be login, and the token must be an agent's.
    let mut anna = Client::connect(addr, "/agent/v0.5/rtm/ws?license_id=100").await;
    let refused = anna.request("ping", json!({})).await;
    assert_eq!(refused["success"], false);
    assert_eq!(refused["payload"]["error"]["type"], "authentication");
    let refused = anna.request("login", json!({ "token": "nope" })).await;
    assert_eq!(refused["payload"]["error"]["type"], "authentication");
    let profile = anna.ok("login", json!({ "token": "Bearer t1" })).await;
    assert_eq!(profile["my_profile"]["id"], ANNA);
    assert_eq!(anna.ok("ping", json!({})).await, json!({}));

    // A customer logs in with any token, `Bearer ` or not, and gets the same id each time.
    let (mut jan, payload) = login(addr, "customer", "Bearer jan-token").await;
    let jan_id = server::customer_id_for("jan-token").to_string();
    assert_eq!(payload["customer_id"], jan_id.as_str());
    assert!(jan_id.starts_with("customer-"));

    // The customer starts a chat: the agent hears of it.
    let started = jan.ok("start_chat", json!({})).await;
    let chat_id = started["chat"]["id"].as_str().unwrap().to_string();
    let is_chat = |p: &Value| p["chat"]["id"] == chat_id.as_str();
    let thread = anna.push("incoming_chat_thread", is_chat).await;
    assert_eq!(thread["chat"]["id"], chat_id.as_str());

    // The customer writes; the agent gets the event.
    jan.ok(
        "send_event",
        json!({ "chat_id": chat_id, "event": message("My order is late") }),
    )
    .await;
    let event = anna
        .push("incoming_event", has_text("My order is late"))
        .await;
    assert_eq!(event["chat_id"], chat_id.as_str());
    assert_eq!(event["event"]["author_id"], jan_id.as_str());

    // A second connection of the same agent gets the same pushes.
    let (mut anna_too, _) = login(addr, "agent", "t1").await;

    // The agent replies; the customer gets it, and so do both of the agent's connections.
    anna.ok(
        "send_event",
        json!({ "chat_id": chat_id, "event": message("Let me check, Jan") }),
    )
    .await;
    let reply = jan
        .push("incoming_event", has_text("Let me check, Jan"))
        .await;
    assert_eq!(reply["event"]["author_id"], ANNA);
    anna_too
        .push("incoming_event", has_text("Let me check, Jan"))
        .await;

    // The Web API acts on the same engine, and its pushes reach RTM connections.
    let (status, body) = post(
        addr,
        "/agent/v0.5/action/send_event",
        Some("Bearer t1"),
        &json!({ "payload": { "chat_id": chat_id, "event": message("Found it") } }).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["event"]["text"], "Found it");
    jan.push("incoming_event", has_text("Found it")).await;

    // The customer's token without `Bearer ` is the same customer, in the same chat.
    let (status, body) = post(
        addr,
        "/customer/v0.5/action/send_event",
        Some("jan-token"),
        &json!({ "payload": { "chat_id": chat_id, "event": message("Thank you") } }).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["event"]["author_id"], jan_id.as_str());
    anna.push("incoming_event", has_text("Thank you")).await;

    // Missing or unknown tokens: 401 and `authentication`.
    let unknown = [
        ("agent", None),
        ("agent", Some("Bearer nope")),
        ("agent", Some("Bearer ")),
        ("customer", None),
        ("customer", Some("Bearer ")),
    ];
    for (api, authorization) in unknown {
        let path = format!("/{api}/v0.5/action/login");
        let (status, body) = post(addr, &path, authorization, "{}").await;
        assert_eq!(status, 401, "{api} {authorization:?}: {body}");
        assert_eq!(body["error"]["type"], "authentication");
    }
    // A refused action: its error type, with a fitting status.
    let (status, body) = post(
        addr,
        "/customer/v0.5/action/send_event",
        Some("jan-token"),
        r#"{"payload": {"chat_id": "not-a-chat"}}"#,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["type"], "validation");

    // Any other version: `unsupported_version`, over HTTP and over RTM.
    let (status, body) = post(addr, "/agent/v0.4/action/login", Some("Bearer t1"), "{}").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["type"], "unsupported_version");
    let mut old = Client::connect(addr, "/customer/v0.4/rtm/ws?license_id=100").await;
    let refused = old.recv().await;
    assert_eq!(refused["payload"]["error"]["type"], "unsupported_version");
    assert!(matches!(
        old.ended(STEP).await,
        Ended::Close(_) | Ended::Eof
    ));

    // Shutting down closes every connection with "going away".
    let stopping = tokio::spawn(server.shut_down());
    for client in [&mut anna, &mut anna_too, &mut jan] {
        match client.ended(STEP).await {
            Ended::Close(Some((code, _))) => assert_eq!(code, CloseCode::Away),
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
    stopping.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_connections_drive_presence() {
    let server = start(config(&[("t1", ANNA)])).await;
    let addr = server.addr;

    // No agent online: the chat waits in the queue.
    let (mut jan, _) = login(addr, "customer", "jan").await;
    let started = jan
        .ok(
            "start_chat",
            json!({ "chat": { "thread": { "events": [message("Anyone there?")] } } }),
        )
        .await;
    let chat_id = started["chat"]["id"].as_str().unwrap().to_string();
    let queue = jan
        .ok("get_queue_position", json!({ "chat_id": chat_id }))
        .await;
    assert_eq!(queue["queue"]["position"], 1, "{queue}");

    // The agent connects: it comes online and routing gives it the chat at once; the pushes
    // that causes reach the customer.
    let (mut anna, _) = login(addr, "agent", "t1").await;
    let assigned = |p: &Value| p["event"]["system_message_type"] == "routing.assigned";
    jan.push("incoming_event", assigned).await;
    anna.push("incoming_event", assigned).await;

    // The agent's last connection goes: it is offline, so a new chat waits.
    anna.ws.close(None).await.unwrap();
    anna.ended(STEP).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (mut eva, _) = login(addr, "customer", "eva").await;
    let started = eva
        .ok(
            "start_chat",
            json!({ "chat": { "thread": { "events": [message("Hello?")] } } }),
        )
        .await;
    let events = &started["chat"]["thread"]["events"];
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["system_message_type"] == "routing.unassigned"),
        "{started}"
    );
    let eva_chat = started["chat"]["id"].as_str().unwrap().to_string();

    // Back online: the waiting chat is the agent's.
    let (mut anna, _) = login(addr, "agent", "t1").await;
    eva.push("incoming_event", assigned).await;
    anna.push("incoming_chat_thread", |p| {
        p["chat"]["id"] == eva_chat.as_str()
    })
    .await;

    // A ban disconnects the customer: it is told why, then its connection is closed, and it
    // cannot log in again.
    let eva_id = server::customer_id_for("eva").to_string();
    anna.ok(
        "ban_customer",
        json!({ "customer_id": eva_id, "ban": { "days": 1 } }),
    )
    .await;
    let disconnected = eva.push("customer_disconnected", |_| true).await;
    assert!(disconnected["reason"].is_string(), "{disconnected}");
    assert!(matches!(
        eva.ended(STEP).await,
        Ended::Close(Some((CloseCode::Policy, _)))
    ));
    let mut eva = Client::connect(addr, "/customer/v0.5/rtm/ws").await;
    let refused = eva.request("login", json!({ "token": "eva" })).await;
    assert_eq!(refused["payload"]["error"]["type"], "customer_banned");

    server.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_timers_fire_on_the_wall_clock() {
    let mut config = config(&[("t1", ANNA)]);
    // One second to go idle, one more to be archived.
    config.engine = EngineConfig::with_seed(7).routing_timeouts(1, 1);
    let server = start(config).await;
    let addr = server.addr;

    let (mut anna, _) = login(addr, "agent", "t1").await;
    let (mut jan, _) = login(addr, "customer", "jan").await;
    let started = jan
        .ok(
            "start_chat",
            json!({ "chat": { "thread": { "events": [message("Hi")] } } }),
        )
        .await;
    let chat_id = started["chat"]["id"].as_str().unwrap().to_string();
    anna.push("incoming_chat_thread", |p| {
        p["chat"]["id"] == chat_id.as_str()
    })
    .await;
    anna.ok(
        "send_event",
        json!({ "chat_id": chat_id, "event": message("Hello Jan") }),
    )
    .await;

    // Nobody writes: the chat goes idle, then is archived, without any request to prompt it.
    let idle = |p: &Value| p["event"]["system_message_type"] == "routing.idle";
    jan.push("incoming_event", idle).await;
    let closed = jan
        .push("thread_closed", |p| p["chat_id"] == chat_id.as_str())
        .await;
    assert_eq!(closed["chat_id"], chat_id.as_str());

    server.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_connections_are_closed() {
    let mut config = config(&[("t1", ANNA)]);
    config.idle_timeout = Duration::from_secs(1);
    let server = start(config).await;

    let (mut anna, _) = login(server.addr, "agent", "t1").await;
    match anna.ended(STEP).await {
        Ended::Close(Some((code, reason))) => {
            assert_eq!(code, CloseCode::Normal);
            assert_eq!(reason, "idle timeout");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    // A connection that never logs in is closed too.
    let mut stranger = Client::connect(server.addr, "/customer/v0.5/rtm/ws").await;
    assert!(matches!(stranger.ended(STEP).await, Ended::Close(Some(_))));

    server.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_over_one_mebibyte_are_refused() {
    let server = start(config(&[("t1", ANNA)])).await;
    let addr = server.addr;

    // Exactly 1 MiB is served.
    let (mut anna, _) = login(addr, "agent", "t1").await;
    let head = r#"{"request_id":"big","action":"ping","payload":{"pad":""#;
    let tail = r#""}}"#;
    let pad = "x".repeat(server::MAX_MESSAGE - head.len() - tail.len());
    anna.send_text(format!("{head}{pad}{tail}")).await;
    let response = anna.recv().await;
    assert_eq!(response["request_id"], "big");
    assert_eq!(response["success"], true);

    // One byte more is refused: the connection is closed (with 1009 if the close frame makes it
    // through before the socket goes). The server refuses the frame by its header, so sending the
    // rest may fail.
    let too_big = Message::Text(format!("{head}{pad}x{tail}").into());
    let _ = timeout(STEP, anna.ws.send(too_big)).await;
    match anna.ended(STEP).await {
        Ended::Close(Some((code, _))) => assert_eq!(code, CloseCode::Size),
        Ended::Close(None) | Ended::Eof | Ended::Error => {}
    }

    // The Web API refuses such bodies too. (Exactly one byte over, so that the server has read
    // the whole body when it answers, and closing does not reset the connection.)
    let (head, tail) = (r#"{"payload":{"pad":""#, r#""}}"#);
    let pad = "x".repeat(server::MAX_MESSAGE + 1 - head.len() - tail.len());
    let body = format!("{head}{pad}{tail}");
    assert_eq!(body.len(), server::MAX_MESSAGE + 1);
    let (status, _) = post(addr, "/agent/v0.5/action/ping", Some("Bearer t1"), &body).await;
    assert_eq!(status, 413);

    // The server still serves.
    let (mut jan, _) = login(addr, "customer", "jan").await;
    jan.ok("ping", json!({})).await;

    server.shut_down().await;
}

/// The refusal an RTM-only action gets over the Web API: 400, `validation`, naming the RTM
/// endpoint of its API.
fn assert_rtm_only_refusal(api: &str, action: &str, status: u16, body: &Value) {
    assert_eq!(status, 400, "{api} {action}: {body}");
    assert_eq!(
        body["error"]["type"], "validation",
        "{api} {action}: {body}"
    );
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("RTM only") && message.contains(&format!("/{api}/v0.5/rtm/ws")),
        "{api} {action}: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtm_only_actions_are_refused_over_the_web_api() {
    let server = start(config(&[("t1", ANNA)])).await;
    let addr = server.addr;
    let web = |api: &'static str, action: &'static str, token: &'static str, payload: Value| {
        let path = format!("/{api}/v0.5/action/{action}");
        let body = json!({ "payload": payload }).to_string();
        async move { post(addr, &path, Some(token), &body).await }
    };

    let (mut anna, profile) = login(addr, "agent", "t1").await;
    assert_eq!(profile["my_profile"]["routing_status"], "accepting_chats");
    let (mut jan, _) = login(addr, "customer", "jan").await;
    let jan_id = server::customer_id_for("jan").to_string();
    let started = jan
        .ok(
            "start_chat",
            json!({ "chat": { "thread": { "events": [message("Hello")] } } }),
        )
        .await;
    let chat_id = started["chat"]["id"].as_str().unwrap().to_string();

    // The agent's `login` and `get_archives`, with a valid token and payload: refused.
    let (status, body) = web(
        "agent",
        "login",
        "Bearer t1",
        json!({ "token": "Bearer t1" }),
    )
    .await;
    assert_rtm_only_refusal("agent", "login", status, &body);
    let (status, body) = web("agent", "get_archives", "Bearer t1", json!({})).await;
    assert_rtm_only_refusal("agent", "get_archives", status, &body);

    // A refused action is not performed: the routing status is unchanged.
    let (status, body) = web(
        "agent",
        "update_agent",
        "Bearer t1",
        json!({ "routing_status": "not_accepting_chats" }),
    )
    .await;
    assert_rtm_only_refusal("agent", "update_agent", status, &body);
    let (_anna_too, profile) = login(addr, "agent", "t1").await;
    assert_eq!(profile["my_profile"]["routing_status"], "accepting_chats");

    // The customer's RTM-only actions: refused too, and its chat is untouched.
    let (status, body) = web("customer", "get_chats_summary", "jan", json!({})).await;
    assert_rtm_only_refusal("customer", "get_chats_summary", status, &body);
    let (status, body) = web(
        "customer",
        "update_last_seen_timestamp",
        "jan",
        json!({ "chat_id": chat_id, "timestamp": 1 }),
    )
    .await;
    assert_rtm_only_refusal("customer", "update_last_seen_timestamp", status, &body);

    // Actions on both transports work over the Web API as before: both sides send an event,
    // and the agent closes the thread.
    let (status, body) = web(
        "agent",
        "send_event",
        "Bearer t1",
        json!({ "chat_id": chat_id, "event": message("Hi Jan") }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["event"]["author_id"], ANNA);
    jan.push("incoming_event", has_text("Hi Jan")).await;
    let (status, body) = web(
        "customer",
        "send_event",
        "jan",
        json!({ "chat_id": chat_id, "event": message("Hi Anna") }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["event"]["author_id"], jan_id.as_str());
    anna.push("incoming_event", has_text("Hi Anna")).await;
    let (status, body) = web(
        "agent",
        "close_thread",
        "Bearer t1",
        json!({ "chat_id": chat_id }),
    )
    .await;
    assert_eq!((status, &body), (200, &json!({})));
    jan.push("thread_closed", |p| p["chat_id"] == chat_id.as_str())
        .await;

    // Over RTM the same actions are served.
    let archives = anna.ok("get_archives", json!({})).await;
    assert_eq!(
        archives["chats"][0]["chat"]["id"],
        chat_id.as_str(),
        "{archives}"
    );
    let summary = jan.ok("get_chats_summary", json!({})).await;
    assert_eq!(summary["total_chats"], 1, "{summary}");
    let seen = jan
        .ok("update_last_seen_timestamp", json!({ "chat_id": chat_id }))
        .await;
    assert!(seen["timestamp"].is_number(), "{seen}");
    anna.ok(
        "update_agent",
        json!({ "routing_status": "not_accepting_chats" }),
    )
    .await;
    let (_anna_three, profile) = login(addr, "agent", "t1").await;
    assert_eq!(
        profile["my_profile"]["routing_status"],
        "not_accepting_chats"
    );

    server.shut_down().await;
}

/// Every entry of the server's table: an RTM-only action is refused over the Web API and is a
/// real action over RTM; any other reaches the engine over the Web API, which knows its name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_api_follows_the_table_of_actions() {
    use chatio::wire::Api;
    use chatio::wire::{self, Offered};

    let server = start(config(&[("t1", ANNA)])).await;
    let addr = server.addr;
    let (mut anna, _) = login(addr, "agent", "t1").await;
    let (mut jan, _) = login(addr, "customer", "jan").await;
    let mut rtm_only = 0;
    for &(api, action, offered) in wire::TRANSPORTS {
        let (name, token) = match api {
            Api::Agent => ("agent", "Bearer t1"),
            Api::Customer => ("customer", "jan"),
        };
        assert_eq!(wire::offered(api, action), Some(offered));
        let (status, body) = post(
            addr,
            &format!("/{name}/v0.5/action/{action}"),
            Some(token),
            "{}",
        )
        .await;
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if offered == Offered::RtmOnly {
            rtm_only += 1;
            assert_rtm_only_refusal(name, action, status, &body);
            let client = match api {
                Api::Agent => &mut anna,
                Api::Customer => &mut jan,
            };
            let response = client.request(action, json!({})).await;
            let message = response["payload"]["error"]["message"]
                .as_str()
                .unwrap_or_default();
            assert!(
                !message.contains("unknown action"),
                "RTM {name} {action}: {response}"
            );
        } else {
            assert!(!message.contains("RTM only"), "{name} {action}: {body}");
            // The engine stores no images: the Web API's `upload_image` is not implemented.
            if action != "upload_image" {
                assert!(
                    !message.contains("unknown action"),
                    "{name} {action}: {body}"
                );
            }
        }
    }
    assert_eq!(rtm_only, 14);
    // A name the table does not list still reaches the engine, which refuses it as before.
    let (status, body) = post(addr, "/agent/v0.5/action/fly", Some("Bearer t1"), "{}").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("unknown action"),
        "{body}"
    );
    assert_eq!(wire::offered(Api::Agent, "fly"), None);

    server.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_license_shows_at_login_and_refuses_requests_once_expired() {
    let args = |list: &[&str]| list.iter().map(|a| (*a).to_string()).collect::<Vec<_>>();
    let parsed = server::cli::parse_args(args(&[
        "--license-id",
        "104130623",
        "--license-plan",
        "team",
        "--license-expires",
        "4102444800",
    ]))
    .unwrap()
    .unwrap();
    let license = parsed.config.engine.license.clone().expect("a license");
    assert_eq!(
        (license.id.as_str(), license.plan.as_str()),
        ("104130623", "team")
    );
    assert_eq!(
        license.expiration_timestamp,
        Some(Timestamp::from_unix_seconds(4_102_444_800))
    );
    assert!(!license.in_trial);
    // Created at this start, by the wall clock.
    let created = license.creation_timestamp;
    assert!(created > Timestamp::from_unix_seconds(1_700_000_000) && created <= server::now());
    let plain = server::cli::parse_args(args(&["--license-id", "7"]))
        .unwrap()
        .unwrap();
    let plain = plain.config.engine.license.expect("a license");
    assert_eq!(plain.plan, server::cli::DEFAULT_LICENSE_PLAN);
    assert_eq!(plain.expiration_timestamp, None);
    let none = server::cli::parse_args(args(&[])).unwrap().unwrap();
    assert_eq!(none.config.engine.license, None);
    for bad in [
        &["--license-plan", "team"][..],
        &["--license-expires", "1"],
        &["--license-id", ""],
    ] {
        assert!(server::cli::parse_args(args(bad)).is_err(), "{bad:?}");
    }
    assert!(server::cli::usage().contains("--license-id <ID>"));
    assert!(server::cli::usage().contains("LICENSE_ID is accepted and ignored"));

    // A license in force: the agent's login shows it.
    let mut live = config(&[("t1", ANNA)]);
    live.engine = live.engine.license(license);
    let server = start(live).await;
    let (_anna, payload) = login(server.addr, "agent", "Bearer t1").await;
    assert_eq!(
        payload["license"],
        json!({"id": "104130623", "plan": "team", "creation_timestamp": created.unix_seconds(),
            "expiration_timestamp": 4_102_444_800_i64, "in_trial": false})
    );
    let (_jan, payload) = login(server.addr, "customer", "jan").await;
    assert!(payload.get("license").is_none(), "{payload}");
    server.shut_down().await;

    // An expired one: logins and Web API calls are refused, ping is answered.
    let mut expired = config(&[("t1", ANNA)]);
    expired.engine = expired.engine.license(
        License::new(
            "104130623",
            "team",
            Timestamp::from_unix_seconds(1_600_000_000),
        )
        .expiration_timestamp(Some(Timestamp::from_unix_seconds(1_700_000_000))),
    );
    let server = start(expired).await;
    let addr = server.addr;
    for (api, token) in [("agent", "t1"), ("customer", "jan")] {
        let mut client = Client::connect(addr, &format!("/{api}/v0.5/rtm/ws?license_id=1")).await;
        let response = client.request("login", json!({ "token": token })).await;
        assert_eq!(response["success"], false, "{response}");
        assert_eq!(
            response["payload"]["error"],
            json!({"type": "license_expired",
                "message": "license 104130623 expired at 1700000000"})
        );
        // Not logged in: the next request must still be login.
        let response = client.request("ping", json!({})).await;
        assert_eq!(response["payload"]["error"]["type"], "authentication");
    }
    for (path, token) in [
        ("/agent/v0.5/action/send_event", "Bearer t1"),
        ("/agent/v0.5/action/start_chat", "Bearer t1"),
        ("/customer/v0.5/action/start_chat", "jan"),
    ] {
        let (status, body) = post(addr, path, Some(token), "{}").await;
        assert_eq!(status, 402, "{path}: {body}");
        assert_eq!(body["error"]["type"], "license_expired", "{path}: {body}");
    }
    let (status, body) = post(addr, "/agent/v0.5/action/ping", Some("Bearer t1"), "{}").await;
    assert_eq!(status, 200, "{body}");
    server.shut_down().await;
}

#[test]
fn durable_data_keeps_its_license_with_the_first_creation_time() {
    use server::store::{Durability, Store};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("license-{}-{nanos}", std::process::id()));
    let durability = Durability {
        snapshot_every: 0,
        ..Durability::new(dir.clone())
    };
    let t = Timestamp::from_unix_seconds;
    // As `--license-id 104130623 --license-plan team --license-expires 4102444800` makes it,
    // created at the start that parsed the flags.
    let config = |created: i64, id: &str| {
        EngineConfig::with_seed(7).license(
            License::new(id, "team", t(created)).expiration_timestamp(Some(t(4_102_444_800))),
        )
    };
    let created = |config: &EngineConfig| config.license.as_ref().map(|l| l.creation_timestamp);
    {
        let (_store, recovered) =
            Store::open(&durability, &config(100, "104130623"), true, |_| Ok(()))
                .expect("a new data directory");
        assert!(recovered.from.is_none());
        assert_eq!(created(recovered.engine.config()), Some(t(100)));
    }
    // A later start keeps the creation time of the first.
    {
        let (_store, recovered) =
            Store::open(&durability, &config(200, "104130623"), true, |_| Ok(()))
                .expect("the same flags start again");
        assert!(recovered.from.is_some());
        assert_eq!(created(recovered.engine.config()), Some(t(100)));
    }
    // Another license, or none, is refused like another --seed, naming the flags.
    let err = Store::open(&durability, &config(300, "999"), true, |_| Ok(()))
        .err()
        .expect("another --license-id is refused");
    assert!(
        err.contains("--license-id 104130623")
            && err.contains("asks for --seed 7")
            && err.contains("--license-id 999"),
        "{err}"
    );
    let err = Store::open(&durability, &EngineConfig::with_seed(7), true, |_| Ok(()))
        .err()
        .expect("no --license-id is refused");
    assert!(err.contains("(no --license-id)"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn customer_ids_come_from_a_sha256_of_the_token() {
    let hex = |d: [u8; 32]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(
        hex(server::sha256(b"abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        hex(server::sha256(b"")),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let long = [b'a'; 1000];
    assert_eq!(
        hex(server::sha256(&long)),
        "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"
    );
    assert_eq!(
        server::customer_id_for("jan").to_string(),
        format!("customer-{}", &hex(server::sha256(b"jan"))[..32])
    );
}

/// `GET path`, the body as text.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw).await;
        String::from_utf8(raw).unwrap()
    };
    let raw = timeout(STEP, exchange).await.expect("HTTP answer in time");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a complete response");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    (status, body.to_string())
}

/// The value of one sample line of the Prometheus text, or 0 if it is not there.
fn sample(metrics: &str, name_and_labels: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name_and_labels)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_connections_requests_and_pushes() {
    let server = start(config(&[("t1", ANNA)])).await;
    let addr = server.addr;
    let (mut anna, _) = login(addr, "agent", "t1").await;
    let (mut jan, _) = login(addr, "customer", "jan").await;
    let chat = jan
        .ok(
            "start_chat",
            json!({ "chat": { "thread": { "events": [message("Hi")] } } }),
        )
        .await;
    let chat_id = chat["chat"]["id"].as_str().unwrap().to_string();
    anna.push("incoming_chat_thread", |_| true).await;
    let refused = jan
        .request(
            "send_event",
            json!({ "chat_id": "nope", "event": message("x") }),
        )
        .await;
    assert_eq!(refused["success"], false);
    jan.ok(
        "send_event",
        json!({ "chat_id": chat_id, "event": message("Hello") }),
    )
    .await;
    anna.push("incoming_event", has_text("Hello")).await;

    let (status, text) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(
        sample(&text, r#"chatio_connections{api="agent"}"#),
        1.0,
        "{text}"
    );
    assert_eq!(sample(&text, r#"chatio_connections{api="customer"}"#), 1.0);
    assert_eq!(
        sample(
            &text,
            r#"chatio_requests_total{action="send_event",api="customer"}"#
        ),
        2.0,
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"chatio_request_errors_total{action="send_event",api="customer"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            r#"chatio_requests_total{action="login",api="agent"}"#
        ),
        1.0
    );
    assert!(sample(&text, "chatio_pushes_total") >= 4.0, "{text}");
    assert!(text.contains("# TYPE chatio_commit_seconds histogram"));
    assert!(text.contains("chatio_backlog_bytes"));
    server.shut_down().await;
}

/// A client that stops reading is dropped once its backlog has stayed over the bound for the
/// stall timeout, with `agent_disconnected` and the documented reason; a client that reads
/// promptly through the same burst is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_disconnected_with_a_reason() {
    let mut config = config(&[("t1", ANNA)]);
    config.max_backlog = 256 << 10;
    config.stall_timeout = Duration::from_secs(1);
    // The burst below is far faster than a connection's default request rate.
    config.limits.request_rate = 0.0;
    let server = start(config).await;
    let addr = server.addr;
    let (mut anna, _) = login(addr, "agent", "t1").await;
    let (mut jan, _) = login(addr, "customer", "jan").await;
    let chat = jan.ok("start_chat", json!({})).await;
    let chat_id = chat["chat"]["id"].as_str().unwrap().to_string();
    // Anna stops reading. Jan sends 200 events of 60 kB (under the engine's event_bytes limit),
    // reading every answer and push: far more than the socket buffers between the server and
    // Anna hold.
    let big = "x".repeat(60_000);
    for _ in 0..200 {
        jan.ok(
            "send_event",
            json!({ "chat_id": chat_id, "event": message(&big) }),
        )
        .await;
        jan.backlog.clear();
    }
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let (_, text) = get(addr, "/metrics").await;
        if sample(
            &text,
            r#"chatio_server_disconnects_total{reason="backlog_stalled"}"#,
        ) == 1.0
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Anna was not dropped: {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Reading again, Anna finds what the socket held, the push that says why, then the close.
    let mut reason = None;
    let ended = timeout(STEP, async {
        loop {
            match anna.ws.next().await {
                // The pushes of the burst are large: only the short one is read as JSON.
                Some(Ok(Message::Text(text))) if text.len() < 1000 => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    if value["action"] == "agent_disconnected" {
                        reason = Some(value["payload"]["reason"].clone());
                    }
                }
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
                Some(Ok(_)) => {}
                // A reader this slow (a loaded machine, a debug build) may still be reading
                // when the server's grace for taking the push ends: then the socket is reset
                // rather than closed. The push that says why must have come first.
                Some(Err(_)) if reason.is_some() => return Some(CloseCode::Policy),
                Some(Err(e)) => panic!("{e}"),
                None => return None,
            }
        }
    })
    .await
    .expect("the connection ends");
    assert_eq!(reason, Some(json!(chatio_server::REASON_BACKLOG_STALLED)));
    assert_eq!(ended, Some(CloseCode::Policy));
    // Jan read promptly all along and is still served.
    jan.ok(
        "send_event",
        json!({ "chat_id": chat_id, "event": message("still here") }),
    )
    .await;
    server.shut_down().await;
}

/// Customers are created by their first call that changes something: `login` and `ping` are
/// answered without creating one (the stand-in engine's answers are the engine's own for a
/// customer it has just met), and `update_customer` creates it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_are_created_by_their_first_change_not_by_login_or_ping() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("lazy-customers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let durability = server::Durability::new(&dir);
    let opened = server::Server::open(config(&[("t1", ANNA)]), Some(&durability)).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(opened.serve(listener, async {
        let _ = stopped.await;
    }));
    let mut before = Client::connect(addr, "/customer/v0.5/rtm/ws?license_id=1").await;
    let login_before = before.ok("login", json!({ "token": "lazy" })).await;
    let summary_before = before.ok("get_chats_summary", json!({})).await;
    before.ok("ping", json!({})).await;
    let (status, _) = post(
        addr,
        "/customer/v0.5/action/ping",
        Some("Bearer lazy-web"),
        "{}",
    )
    .await;
    assert_eq!(status, 200);
    let bad_page = before
        .request("get_chats_summary", json!({ "offset": 1000 }))
        .await;
    assert_eq!(
        bad_page["success"], false,
        "the stand-in validates as the engine does"
    );
    // Now a change: the customer is created, and answers the same as before.
    before
        .ok("update_customer", json!({ "customer": { "name": "Lazy" } }))
        .await;
    let mut after = Client::connect(addr, "/customer/v0.5/rtm/ws?license_id=1").await;
    assert_eq!(
        after.ok("login", json!({ "token": "lazy" })).await,
        login_before
    );
    assert_eq!(
        after.ok("get_chats_summary", json!({})).await,
        summary_before
    );
    let again = after
        .request("get_chats_summary", json!({ "offset": 1000 }))
        .await;
    assert_eq!(again["payload"], bad_page["payload"]);
    let _ = stop.send(());
    timeout(STEP * 2, task).await.unwrap().unwrap().unwrap();
    let (_store, recovered) =
        server::store::Store::open(&durability, &EngineConfig::with_seed(7), true, |_| Ok(()))
            .unwrap();
    let engine = recovered.engine;
    assert!(engine.customer(&server::customer_id_for("lazy")).is_some());
    assert!(
        engine
            .customer(&server::customer_id_for("lazy-web"))
            .is_none(),
        "a Web API ping creates no customer"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The limits answer clearly: a connection past the per-address cap gets 429 with a JSON
/// error before it sends anything; requests past a connection's rate get `too_many_requests`
/// with their `request_id`, unperformed; a WebSocket that does not log in in time is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_refuse_with_a_clear_answer() {
    let mut limited = config(&[("t1", ANNA)]);
    limited.limits.max_connections_per_address = 2;
    limited.limits.request_rate = 1.0;
    limited.limits.request_burst = 2;
    limited.limits.login_timeout = Duration::from_secs(1);
    let server = start(limited).await;
    let (mut customer, _) = login(server.addr, "customer", "rate").await;
    // The login took one token; one more, then refused.
    customer.ok("ping", json!({})).await;
    let refused = customer.request("get_chats_summary", json!({})).await;
    assert_eq!(refused["success"], false, "{refused}");
    assert_eq!(refused["payload"]["error"]["type"], "too_many_requests");
    assert_eq!(refused["request_id"], customer.next_id.to_string());
    // A second connection is within the cap; a third is refused at once.
    let mut quiet = Client::connect(server.addr, "/agent/v0.5/rtm/ws?license_id=1").await;
    let mut third = TcpStream::connect(server.addr).await.unwrap();
    let mut raw = Vec::new();
    let _ = timeout(STEP, third.read_to_end(&mut raw)).await;
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with("HTTP/1.1 429"), "{raw}");
    assert!(raw.contains(r#""type":"too_many_requests""#), "{raw}");
    // The quiet WebSocket never logs in: closed at the login deadline.
    match quiet.ended(STEP).await {
        Ended::Close(Some((code, reason))) => {
            assert_eq!(u16::from(code), 1008);
            assert_eq!(reason, "login timeout");
        }
        other => panic!("expected a close for the login timeout, got {other:?}"),
    }
    server.shut_down().await;
}
