//! The small license the upload, disconnect and webhook tests serve: one administrator, Anna,
//! with the weak token `t1`, the automatic router and a fixed seed; a server started on it in
//! memory, stopped by the sender returned; and a Web API call over a plain socket.

// Each test binary that includes this module uses only some of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use chatio::{Agent, EngineConfig, UserId};
use chatio_server::{AgentLogin, Config, RouterKind};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::time::timeout;

/// The license.
pub fn config() -> Config {
    Config {
        agents: vec![AgentLogin {
            token: "t1".to_string(),
            agent: Agent::new(UserId::new("anna@example.com").unwrap(), "Anna"),
        }],
        router: RouterKind::Automatic,
        engine: EngineConfig::with_seed(7),
        seed: Some(7),
        allow_weak_tokens: true,
        ..Config::default()
    }
}

/// Serves `config` in memory on a free loopback port until the sender is used or dropped.
pub async fn start(config: Config) -> (SocketAddr, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(chatio_server::serve(config, listener, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// POSTs `body` as JSON to `path` with `token` as the bearer; the status and the JSON answer
/// (`null` if it is none), within ten seconds.
pub async fn post(addr: SocketAddr, path: &str, token: &str, body: Value) -> (u16, Value) {
    let body = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let raw = timeout(Duration::from_secs(10), async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw).await;
        String::from_utf8(raw).unwrap()
    })
    .await
    .expect("an answer in time");
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}
