//! The disconnect pushes only the server can send (a connection to another version of the API,
//! a login over a user's cap on connections) and the one the engine sends (the license ending
//! while an agent is connected), and an agent's older session when it logs in again with
//! single sessions on. Each is the protocol's push with its reason, and the connection closes
//! right after it.

use std::net::SocketAddr;
use std::time::Duration;

use chatio_server::Config;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

mod license;

use license::start;

const STEP: Duration = Duration::from_secs(10);

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn config(connections_per_user: usize) -> Config {
    let mut config = license::config();
    config.limits.connections_per_user = connections_per_user;
    config
}

async fn connect(addr: SocketAddr, path: &str) -> Ws {
    timeout(
        STEP,
        tokio_tungstenite::connect_async(format!("ws://{addr}{path}")),
    )
    .await
    .expect("connect in time")
    .expect("the handshake succeeds")
    .0
}

/// Everything the server sends until it closes: the JSON messages and the close code.
async fn until_closed(ws: &mut Ws) -> (Vec<Value>, Option<u16>) {
    timeout(STEP, async {
        let mut seen = Vec::new();
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => seen.push(serde_json::from_str(&text).unwrap()),
                Some(Ok(Message::Close(frame))) => {
                    return (seen, frame.map(|f| u16::from(f.code)));
                }
                Some(Ok(_)) => {}
                None | Some(Err(_)) => return (seen, None),
            }
        }
    })
    .await
    .expect("the server closes in time")
}

async fn login(ws: &mut Ws, token: &str) -> Value {
    let request = json!({ "request_id": "1", "action": "login", "payload": { "token": token } });
    ws.send(Message::Text(request.to_string().into()))
        .await
        .unwrap();
    loop {
        let message = timeout(STEP, ws.next())
            .await
            .expect("an answer in time")
            .expect("open")
            .expect("works");
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["type"] == "response" || value["type"] == "push" {
                return value;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_version_hears_why_and_is_closed() {
    let (addr, stop) = start(config(32)).await;
    for (api, push) in [
        ("agent", "agent_disconnected"),
        ("customer", "customer_disconnected"),
    ] {
        let mut ws = connect(addr, &format!("/{api}/v0.4/rtm/ws")).await;
        let (seen, code) = until_closed(&mut ws).await;
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[0]["payload"]["error"]["type"], "unsupported_version");
        assert_eq!(seen[1]["type"], "push");
        assert_eq!(seen[1]["action"], push);
        assert_eq!(seen[1]["payload"]["reason"], "unsupported_version");
        assert_eq!(code, Some(1008));
    }
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_over_the_users_cap_hears_why_and_is_closed() {
    let (addr, stop) = start(config(2)).await;
    let mut first = connect(addr, "/customer/v0.5/rtm/ws").await;
    let mut second = connect(addr, "/customer/v0.5/rtm/ws").await;
    assert_eq!(login(&mut first, "jan").await["success"], true);
    assert_eq!(login(&mut second, "jan").await["success"], true);
    // Another customer is not counted against Jan.
    let mut eve = connect(addr, "/customer/v0.5/rtm/ws").await;
    assert_eq!(login(&mut eve, "eve").await["success"], true);

    let mut third = connect(addr, "/customer/v0.5/rtm/ws").await;
    let push = login(&mut third, "jan").await;
    assert_eq!(push["action"], "customer_disconnected", "{push}");
    assert_eq!(push["payload"]["reason"], "too_many_connections");
    let (_, code) = until_closed(&mut third).await;
    assert_eq!(code, Some(1008));

    // Agents alike, with their own push.
    let mut agents = Vec::new();
    for _ in 0..2 {
        let mut ws = connect(addr, "/agent/v0.5/rtm/ws").await;
        assert_eq!(login(&mut ws, "t1").await["success"], true);
        agents.push(ws);
    }
    let mut over = connect(addr, "/agent/v0.5/rtm/ws").await;
    let push = login(&mut over, "t1").await;
    assert_eq!(push["action"], "agent_disconnected", "{push}");
    assert_eq!(push["payload"]["reason"], "too_many_connections");

    // Once one of Jan's connections leaves, another may log in.
    first.close(None).await.unwrap();
    drop(first);
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let mut again = connect(addr, "/customer/v0.5/rtm/ws").await;
        let answer = login(&mut again, "jan").await;
        if answer["success"] == true {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still refused: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
}

/// The engine's own disconnect: the license ends while an agent is connected. The timer task
/// ticks the engine at the end, the agent hears `agent_disconnected` with reason
/// `license_expired`, and the connection closes right after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_connected_when_the_license_ends_hears_why_and_is_closed() {
    let now = chatio_server::now();
    let mut config = config(32);
    config.engine = config.engine.license(
        chatio::License::new("104130623", "team", now).expiration_timestamp(Some(now + 3)),
    );
    let (addr, stop) = start(config).await;
    let mut ws = connect(addr, "/agent/v0.5/rtm/ws").await;
    let answer = login(&mut ws, "t1").await;
    assert_eq!(answer["success"], true, "{answer}");
    let (seen, code) = until_closed(&mut ws).await;
    let push = seen
        .iter()
        .find(|m| m["action"] == "agent_disconnected")
        .unwrap_or_else(|| panic!("no agent_disconnected: {seen:?}"));
    assert_eq!(push["type"], "push");
    assert_eq!(push["payload"]["reason"], "license_expired");
    assert_eq!(seen.last(), Some(push), "nothing after the push: {seen:?}");
    assert_eq!(code, Some(1008));
    let _ = stop.send(());
}

/// With `single_session`, an agent's login closes its older connection: that one hears
/// `agent_disconnected` with reason `logged_out_remotely` and is closed; the new one serves.
/// Customers keep several connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_single_sessions_a_second_agent_login_closes_the_first() {
    let mut config = config(32);
    config.single_session = true;
    let (addr, stop) = start(config).await;
    let mut first = connect(addr, "/agent/v0.5/rtm/ws").await;
    assert_eq!(login(&mut first, "t1").await["success"], true);
    let mut second = connect(addr, "/agent/v0.5/rtm/ws").await;
    assert_eq!(login(&mut second, "t1").await["success"], true);

    let (seen, code) = until_closed(&mut first).await;
    let last = seen
        .last()
        .unwrap_or_else(|| panic!("nothing before the close"));
    assert_eq!(last["action"], "agent_disconnected", "{seen:?}");
    assert_eq!(
        last["payload"]["reason"],
        chatio_server::REASON_LOGGED_OUT_REMOTELY
    );
    assert_eq!(code, Some(1008));

    // The new session serves.
    let ping = json!({ "request_id": "p", "action": "ping", "payload": {} });
    second
        .send(Message::Text(ping.to_string().into()))
        .await
        .unwrap();
    let answer = next_answer(&mut second).await;
    assert_eq!(answer["request_id"], "p", "{answer}");
    assert_eq!(answer["success"], true, "{answer}");

    let mut jan_one = connect(addr, "/customer/v0.5/rtm/ws").await;
    let mut jan_two = connect(addr, "/customer/v0.5/rtm/ws").await;
    assert_eq!(login(&mut jan_one, "jan").await["success"], true);
    assert_eq!(login(&mut jan_two, "jan").await["success"], true);
    jan_one
        .send(Message::Text(ping.to_string().into()))
        .await
        .unwrap();
    assert_eq!(next_answer(&mut jan_one).await["success"], true);
    let _ = stop.send(());
}

/// The next response or push.
async fn next_answer(ws: &mut Ws) -> Value {
    loop {
        let message = timeout(STEP, ws.next())
            .await
            .expect("an answer in time")
            .expect("open")
            .expect("works");
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["type"] == "response" || value["type"] == "push" {
                return value;
            }
        }
    }
}
