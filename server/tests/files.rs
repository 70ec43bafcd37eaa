//! Files over the Web API: the agent's `upload_image` and the customer's `send_file` as
//! multipart uploads, served back from the URL the answer gives, in memory and with `--data`
//! across a restart, with the size limit and the refusals of the protocol.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chatio_server::{Durability, Server};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

mod license;

use license::config;

const STEP: Duration = Duration::from_secs(10);
const BOUNDARY: &str = "chatio-test-boundary-7d1f";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n not really an image, but bytes to carry";

struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn start(data: Option<&PathBuf>) -> Running {
        let durability = data.map(Durability::new);
        let server = Server::open(config(), durability.as_ref()).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(listener, async {
            let _ = stopped.await;
        }));
        Running { addr, stop, task }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        timeout(STEP, self.task)
            .await
            .expect("the server stops in time")
            .unwrap()
            .unwrap();
    }
}

/// One HTTP/1.1 exchange; the status, the head (lower-cased) and the body.
async fn exchange(addr: SocketAddr, request: Vec<u8>) -> (u16, String, Vec<u8>) {
    let raw = timeout(STEP, async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(&request).await.unwrap();
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw).await;
        raw
    })
    .await
    .expect("an answer in time");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response");
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    (status, head, raw[split + 4..].to_vec())
}

/// A multipart form of text fields and one file part.
fn form(fields: &[(&str, &str)], file: Option<(&str, &str, &str, &[u8])>) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some((part, file_name, content_type, bytes)) = file {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{part}\"; \
                 filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn post_form(addr: SocketAddr, path: &str, token: Option<&str>, body: &[u8]) -> (u16, Value) {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: multipart/form-data; \
         boundary={BOUNDARY}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    request.push_str("\r\n");
    let mut request = request.into_bytes();
    request.extend_from_slice(body);
    let (status, _, body) = exchange(addr, request).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn post_json(addr: SocketAddr, path: &str, token: &str, body: Value) -> (u16, Value) {
    let body = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, _, body) = exchange(addr, request.into_bytes()).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// `GET` of a URL this server gave: the status, the head and the bytes.
async fn fetch(addr: SocketAddr, url: &str) -> (u16, String, Vec<u8>) {
    let path = url
        .strip_prefix(&format!("http://{addr}"))
        .unwrap_or_else(|| panic!("{url} is not on {addr}"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    exchange(addr, request.into_bytes()).await
}

fn error_type(body: &Value) -> &str {
    body["error"]["type"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_uploads_an_image_and_gets_it_back() {
    let server = Running::start(None).await;
    let addr = server.addr;
    let body = form(
        &[],
        Some(("payload.image", "C:\\pics\\logo.PNG", "image/png", PNG)),
    );
    let (status, answer) =
        post_form(addr, "/agent/v0.5/action/upload_image", Some("t1"), &body).await;
    assert_eq!(status, 200, "{answer}");
    let path = answer["path"].as_str().unwrap();
    assert!(
        path.starts_with("img/") && path.ends_with(".png"),
        "{answer}"
    );
    let url = answer["url"].as_str().unwrap();
    assert_eq!(url, format!("http://{addr}/files/{path}"));
    let (status, head, bytes) = fetch(addr, url).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, PNG);
    assert!(head.contains("content-type: image/png"), "{head}");
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(
        !head.contains("content-disposition"),
        "images are shown inline: {head}"
    );

    // Without a token nothing is read or stored; a customer cannot call the agent's action.
    let (status, answer) = post_form(addr, "/agent/v0.5/action/upload_image", None, &body).await;
    assert_eq!((status, error_type(&answer)), (401, "authentication"));
    let (status, answer) = post_form(
        addr,
        "/customer/v0.5/action/upload_image",
        Some("jan"),
        &body,
    )
    .await;
    assert_eq!(
        (status, error_type(&answer)),
        (400, "validation"),
        "{answer}"
    );
    // A form without the image part, and a multipart body for an action that takes JSON.
    let (status, answer) = post_form(
        addr,
        "/agent/v0.5/action/upload_image",
        Some("t1"),
        &form(&[], None),
    )
    .await;
    assert_eq!(
        (status, error_type(&answer)),
        (400, "validation"),
        "{answer}"
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("payload.image")
    );
    let (status, answer) =
        post_form(addr, "/agent/v0.5/action/send_event", Some("t1"), &body).await;
    assert_eq!(
        (status, error_type(&answer)),
        (400, "validation"),
        "{answer}"
    );
    // Names the server did not give are not found, whatever they try.
    for path in [
        "/files/img/nothing.png",
        "/files/etc/passwd",
        "/files/img/..%2Fx",
        &format!("/files/{path}.type"),
    ] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        let (status, _, _) = exchange(addr, request.into_bytes()).await;
        assert_eq!(status, 404, "{path}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_sends_a_file_that_outlives_a_restart() {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("files-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let server = Running::start(Some(&dir)).await;
    let addr = server.addr;
    let (status, started) = post_json(
        addr,
        "/customer/v0.5/action/start_chat",
        "jan",
        json!({ "payload": {} }),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let chat_id = started["chat"]["id"].as_str().unwrap().to_string();
    let text = b"<html><script>alert(1)</script></html>";
    let body = form(
        &[
            ("payload.chat_id", &chat_id),
            ("payload.custom_id", "upload-1"),
        ],
        Some(("payload.file", "notes.html", "text/html", text)),
    );
    let (status, answer) =
        post_form(addr, "/customer/v0.5/action/send_file", Some("jan"), &body).await;
    assert_eq!(status, 200, "{answer}");
    let url = answer["url"].as_str().unwrap().to_string();
    assert!(
        url.starts_with(&format!("http://{addr}/files/att/")),
        "{answer}"
    );
    let event = &answer["event"];
    assert_eq!(event["type"], "file");
    assert_eq!(event["url"], url.as_str());
    assert_eq!(event["name"], "notes.html");
    assert_eq!(event["content_type"], "text/html");
    assert_eq!(event["size"], text.len());
    assert_eq!(event["custom_id"], "upload-1");
    let (status, head, bytes) = fetch(addr, &url).await;
    assert_eq!((status, bytes.as_slice()), (200, &text[..]));
    // Served as inert data: no script of a customer's runs on the server's origin.
    assert!(head.contains("content-disposition: attachment"), "{head}");
    assert!(head.contains("content-security-policy: sandbox"), "{head}");

    // Another customer's chat: refused by the engine, and the bytes are not kept.
    let stored = |dir: &PathBuf| std::fs::read_dir(dir.join("files/att")).unwrap().count();
    let before = stored(&dir);
    let (status, answer) =
        post_form(addr, "/customer/v0.5/action/send_file", Some("eve"), &body).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(error_type(&answer), "authorization");
    assert_eq!(
        stored(&dir),
        before,
        "a refused upload leaves nothing behind"
    );
    // Over 10 MB: `entity too large`, a validation error.
    let big = vec![b'x'; 10 * 1024 * 1024 + 1];
    let too_big = form(
        &[("payload.chat_id", &chat_id)],
        Some(("payload.file", "big.bin", "application/octet-stream", &big)),
    );
    let (status, answer) = post_form(
        addr,
        "/customer/v0.5/action/send_file",
        Some("jan"),
        &too_big,
    )
    .await;
    assert_eq!(
        (status, error_type(&answer)),
        (400, "validation"),
        "{answer}"
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("entity too large"),
        "{answer}"
    );
    // A JSON send_file, for hosts that store files themselves, still works.
    let (status, answer) = post_json(
        addr,
        "/customer/v0.5/action/send_file",
        "jan",
        json!({ "payload": { "chat_id": chat_id, "file": {
            "name": "elsewhere.png", "url": "https://cdn.example.com/e.png",
            "content_type": "image/png", "size": 10 } } }),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["event"]["url"], "https://cdn.example.com/e.png");
    server.stop().await;

    // After a restart the file is still served, and the event still points at it.
    let server = Running::start(Some(&dir)).await;
    let addr2 = server.addr;
    let path = url.split("/files/").nth(1).unwrap();
    let request =
        format!("GET /files/{path} HTTP/1.1\r\nHost: {addr2}\r\nConnection: close\r\n\r\n");
    let (status, _, bytes) = exchange(addr2, request.into_bytes()).await;
    assert_eq!((status, bytes.as_slice()), (200, &text[..]));
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
