//! Many licenses on one node without Postgres (issue 24, item 1): licenses from the config
//! file and the admin API, each its own engine, chosen by `license_id` (customers) or by the
//! agent's token; kept with `--data` across a restart; and a node with only its default
//! license still serving every `license_id`, as before.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use chatio_server::config::{AgentFile, LicenseSpec};
use chatio_server::hub::{Node, NodeOptions};
use chatio_server::{Config, Durability, Server};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;

const ADMIN: &str = "an-administrator-token-for-tests";

fn agent(token: &str, id: &str) -> AgentFile {
    AgentFile {
        token: token.to_string(),
        id: id.to_string(),
        name: None,
        email: None,
        avatar: None,
        groups: Vec::new(),
        max_chats: None,
        permission: None,
    }
}

/// A node serving on loopback; send on the sender to stop it, then await the handle.
async fn run(node: Node) -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        node.serve(listener, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (addr, stop, task)
}

/// A bare HTTP/1.1 request on a blocking thread: status and body.
async fn http(addr: SocketAddr, method: &str, path: &str, auth: &str, body: &str) -> (u16, String) {
    let (method, path, auth, body) = (
        method.to_string(),
        path.to_string(),
        auth.to_string(),
        body.to_string(),
    );
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {auth}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
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
    })
    .await
    .unwrap()
}

/// Connects over RTM to `path` and sends `login` with `token`, then `then` (if any): the
/// responses.
async fn rtm(addr: SocketAddr, path: &str, token: &str, then: Option<(&str, Value)>) -> Vec<Value> {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}{path}"))
        .await
        .unwrap();
    let mut requests = vec![("login", json!({ "token": token }))];
    if let Some(next) = then {
        requests.push(next);
    }
    let mut responses = Vec::new();
    for (i, (action, payload)) in requests.into_iter().enumerate() {
        let id = i.to_string();
        let request = json!({ "request_id": id, "action": action, "payload": payload });
        ws.send(Message::Text(request.to_string().into()))
            .await
            .unwrap();
        loop {
            let Some(Ok(Message::Text(text))) =
                tokio::time::timeout(Duration::from_secs(10), ws.next())
                    .await
                    .unwrap()
            else {
                return responses;
            };
            let message: Value = serde_json::from_str(&text).unwrap();
            if message["type"] == "response" && message["request_id"] == id.as_str() {
                let failed = message["success"] != true;
                responses.push(message);
                if failed {
                    return responses;
                }
                break;
            }
        }
    }
    responses
}

/// Logs in at `path` and keeps every message until the server closes the connection.
async fn rtm_until_close(addr: SocketAddr, path: &str, token: &str) -> Vec<Value> {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}{path}"))
        .await
        .unwrap();
    let login = json!({ "request_id": "0", "action": "login", "payload": { "token": token } });
    ws.send(Message::Text(login.to_string().into()))
        .await
        .unwrap();
    let mut messages = Vec::new();
    while let Some(Ok(message)) = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("the server closes in time")
    {
        match message {
            Message::Text(text) => messages.push(serde_json::from_str(&text).unwrap()),
            Message::Close(_) => break,
            _ => {}
        }
    }
    messages
}

fn error_type(response: &Value) -> &str {
    response["payload"]["error"]["type"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn licenses_of_the_config_and_the_admin_api_are_engines_of_their_own() {
    let dir = std::env::temp_dir().join(format!("chatio-licenses-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let durability = Durability::new(&dir);
    let options = NodeOptions {
        licenses: vec![LicenseSpec {
            id: "100".to_string(),
            plan: None,
            expires: None,
            agents: vec![agent("token-of-agent-a-0123456789", "a@example.com")],
        }],
        default_license: false,
        admin_token: Some(ADMIN.to_string()),
        postgres: None,
    };
    let node = Node::open(Config::default(), Some(durability.clone()), options.clone())
        .await
        .unwrap();
    let (addr, stop, task) = run(node).await;

    // The admin API: refused without the token, then a license created once.
    let spec = json!({ "id": "200", "agents": [{ "token": "token-of-agent-b-0123456789", "id": "b@example.com" }] });
    let (status, _) = http(addr, "POST", "/admin/licenses", "wrong", &spec.to_string()).await;
    assert_eq!(status, 401);
    let (status, body) = http(addr, "POST", "/admin/licenses", ADMIN, &spec.to_string()).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = http(addr, "POST", "/admin/licenses", ADMIN, &spec.to_string()).await;
    assert_eq!(status, 409, "{body}");
    let bad = json!({ "id": "../etc" });
    let (status, _) = http(addr, "POST", "/admin/licenses", ADMIN, &bad.to_string()).await;
    assert_eq!(status, 400, "an id that is not a plain name is refused");
    let (status, body) = http(addr, "GET", "/admin/licenses", ADMIN, "").await;
    assert_eq!(status, 200);
    let ids: Vec<String> = serde_json::from_str::<Value>(&body).unwrap()["licenses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["100", "200"]);

    // The same customer token on two licenses: two customers, two engines.
    let customer = "a-customer-token-for-both-licenses";
    let started = rtm(
        addr,
        "/customer/v0.5/rtm/ws?license_id=100",
        customer,
        Some(("start_chat", json!({}))),
    )
    .await;
    assert_eq!(started[1]["success"], true, "{started:?}");
    let other = rtm(
        addr,
        "/customer/v0.5/rtm/ws?license_id=200",
        customer,
        Some(("get_chats_summary", json!({}))),
    )
    .await;
    assert_eq!(other[1]["payload"]["chats_summary"], json!([]), "{other:?}");

    // Agents need no license_id: the token says whose they are.
    let a = rtm(
        addr,
        "/agent/v0.5/rtm/ws",
        "token-of-agent-a-0123456789",
        None,
    )
    .await;
    assert_eq!(
        a[0]["payload"]["my_profile"]["id"], "a@example.com",
        "{a:?}"
    );
    let b = rtm(
        addr,
        "/agent/v0.5/rtm/ws",
        "token-of-agent-b-0123456789",
        None,
    )
    .await;
    assert_eq!(
        b[0]["payload"]["my_profile"]["id"], "b@example.com",
        "{b:?}"
    );
    let nobody = rtm(
        addr,
        "/agent/v0.5/rtm/ws",
        "token-of-nobody-0123456789",
        None,
    )
    .await;
    assert_eq!(error_type(&nobody[0]), "authentication", "{nobody:?}");
    let (status, body) = http(
        addr,
        "POST",
        "/agent/v0.5/action/ping",
        "token-of-agent-b-0123456789",
        "{}",
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // Customers must say which license; an unknown one is not found.
    let lost = rtm(addr, "/customer/v0.5/rtm/ws", customer, None).await;
    assert_eq!(error_type(&lost[0]), "validation", "{lost:?}");
    let unknown = rtm_until_close(addr, "/customer/v0.5/rtm/ws?license_id=300", customer).await;
    assert_eq!(error_type(&unknown[0]), "not_found", "{unknown:?}");
    assert_eq!(unknown[1]["action"], "customer_disconnected", "{unknown:?}");
    assert_eq!(unknown[1]["payload"]["reason"], "license_not_found");
    assert_eq!(unknown.len(), 2, "then the close: {unknown:?}");
    let (status, _) = http(
        addr,
        "POST",
        "/customer/v0.5/action/start_chat?license_id=300",
        customer,
        "{}",
    )
    .await;
    assert_eq!(status, 404);

    let _ = stop.send(());
    task.await.unwrap();

    // A restart on the same directory opens the license the admin API made.
    let node = Node::open(Config::default(), Some(durability), options)
        .await
        .unwrap();
    let (addr, stop, task) = run(node).await;
    let again = rtm(
        addr,
        "/customer/v0.5/rtm/ws?license_id=100",
        customer,
        Some(("get_chats_summary", json!({}))),
    )
    .await;
    assert_eq!(
        again[1]["payload"]["chats_summary"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{again:?}"
    );
    let b = rtm(
        addr,
        "/agent/v0.5/rtm/ws",
        "token-of-agent-b-0123456789",
        None,
    )
    .await;
    assert_eq!(
        b[0]["payload"]["my_profile"]["id"], "b@example.com",
        "{b:?}"
    );
    let _ = stop.send(());
    task.await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_only_its_default_license_serves_every_license_id() {
    let server = Server::open(Config::default(), None).unwrap();
    let (addr, stop, task) = run(Node::single(server)).await;
    let started = rtm(
        addr,
        "/customer/v0.5/rtm/ws",
        "one-customer-token",
        Some(("start_chat", json!({}))),
    )
    .await;
    assert_eq!(started[1]["success"], true, "{started:?}");
    // Whatever the license_id, the same engine: the chat is there.
    for path in [
        "/customer/v0.5/rtm/ws?license_id=1",
        "/customer/v0.5/rtm/ws?license_id=anything",
    ] {
        let r = rtm(
            addr,
            path,
            "one-customer-token",
            Some(("get_chats_summary", json!({}))),
        )
        .await;
        assert_eq!(
            r[1]["payload"]["chats_summary"].as_array().map(Vec::len),
            Some(1),
            "{path}: {r:?}"
        );
    }
    let (status, body) = http(addr, "GET", "/admin/licenses", ADMIN, "").await;
    assert_eq!(status, 404, "the admin API is off without a token: {body}");
    let _ = stop.send(());
    task.await.unwrap();
}
