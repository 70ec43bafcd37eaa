//! The Configuration API over HTTP, and webhook delivery to a real local receiver that fails
//! for a while: every webhook arrives, in order per chat, with the documented envelope; with
//! `--data`, also across a kill and restart of the server process.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

mod license;

use license::{config, post, start};

const STEP: Duration = Duration::from_secs(10);

/// A receiver that answers 500 to its first `failures` requests, then 200, and keeps what
/// it accepted.
async fn receiver(failures: usize) -> (SocketAddr, Arc<Mutex<Vec<Value>>>, Arc<Mutex<usize>>) {
    receiver_over(failures, None).await
}

/// [`receiver`], over TLS when `tls` is given.
async fn receiver_over(
    failures: usize,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> (SocketAddr, Arc<Mutex<Vec<Value>>>, Arc<Mutex<usize>>) {
    let tries = Arc::new(Mutex::new(0usize));
    let counted = Arc::clone(&tries);
    let fail = move || {
        let mut n = counted.lock().unwrap();
        *n += 1;
        *n <= failures
    };
    let (addr, accepted) = listen(tls, Arc::new(fail)).await;
    (addr, accepted, tries)
}

/// Whether the receiver answers this request 500 (called once per request received).
type Fail = Arc<dyn Fn() -> bool + Send + Sync>;

/// A receiver on a free loopback port, over TLS when `tls` is given: each request `fail`
/// refuses gets 500, every other one 200 and its JSON body kept, in order.
async fn listen(
    tls: Option<tokio_rustls::TlsAcceptor>,
    fail: Fail,
) -> (SocketAddr, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&accepted);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (kept, fail) = (Arc::clone(&kept), Arc::clone(&fail));
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    None => serve(stream, fail, kept).await,
                    // A handshake the client breaks off (it does not trust us) ends here.
                    Some(tls) => {
                        if let Ok(stream) = tls.accept(stream).await {
                            serve(stream, fail, kept).await;
                        }
                    }
                }
            });
        }
    });
    (addr, accepted)
}

/// Answers one connection's requests for [`listen`].
async fn serve(
    stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    fail: Fail,
    kept: Arc<Mutex<Vec<Value>>>,
) {
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let (kept, fail) = (Arc::clone(&kept), Arc::clone(&fail));
        async move {
            let body = request.into_body().collect().await?.to_bytes();
            let status = if fail() {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                kept.lock()
                    .unwrap()
                    .push(serde_json::from_slice::<Value>(&body).unwrap());
                StatusCode::OK
            };
            let mut response = Response::new(Full::new(Bytes::new()));
            *response.status_mut() = status;
            Ok::<_, hyper::Error>(response)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_reach_a_receiver_that_fails_for_a_while_in_order() {
    let (addr, stop) = start(config()).await;
    let (hook_addr, accepted, tries) = receiver(2).await;
    let (status, registered) = post(
        addr,
        "/configuration/v0.5/webhooks/register_webhook",
        "t1",
        json!({ "url": format!("http://{hook_addr}/hook"), "action": "incoming_event",
                "secret_key": "s3cret", "filters": { "author_type": "customer" } }),
    )
    .await;
    assert_eq!(status, 200, "{registered}");
    let webhook_id = registered["webhook_id"].as_str().unwrap().to_string();
    let (status, listed) = post(
        addr,
        "/configuration/v0.5/webhooks/get_webhooks_config",
        "t1",
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        listed["webhooks_config"][0]["webhook_id"],
        webhook_id.as_str()
    );
    // A customer's token is no agent's: refused.
    let (status, _) = post(
        addr,
        "/configuration/v0.5/webhooks/get_webhooks_config",
        "jan",
        json!({}),
    )
    .await;
    assert_eq!(status, 401);

    let (status, started) = post(
        addr,
        "/customer/v0.5/action/start_chat",
        "jan",
        json!({ "payload": {} }),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let chat_id = started["chat"]["id"].as_str().unwrap().to_string();
    let texts: Vec<String> = (1..=5).map(|i| format!("message {i}")).collect();
    for text in &texts {
        let (status, sent) = post(
            addr,
            "/customer/v0.5/action/send_event",
            "jan",
            json!({ "payload": { "chat_id": chat_id, "event": { "type": "message", "text": text } } }),
        )
        .await;
        assert_eq!(status, 200, "{sent}");
    }
    // An agent's message passes no filter of this webhook.
    let (status, _) = post(
        addr,
        "/agent/v0.5/action/send_event",
        "t1",
        json!({ "payload": { "chat_id": chat_id, "event": { "type": "message", "text": "agent" } } }),
    )
    .await;
    assert_eq!(status, 200);

    // Two failures cost 1 s and 2 s of backoff.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while accepted.lock().unwrap().len() < texts.len() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not delivered: {:?}",
            accepted.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let accepted = accepted.lock().unwrap().clone();
    let got: Vec<&str> = accepted
        .iter()
        .map(|w| w["data"]["event"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        got, texts,
        "every customer message once, in order, none of the agent's"
    );
    assert_eq!(
        *tries.lock().unwrap(),
        texts.len() + 2,
        "two failed tries, then one each"
    );
    for webhook in &accepted {
        assert_eq!(webhook["webhook_id"], webhook_id.as_str());
        assert_eq!(webhook["secret_key"], "s3cret");
        assert_eq!(webhook["action"], "incoming_event");
        assert_eq!(webhook["data"]["chat_id"], chat_id.as_str());
        assert_eq!(webhook["additional_data"]["chat_properties"], json!({}));
    }
    let (_, metrics) = {
        let raw = timeout(STEP, async {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let request =
                format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut raw = Vec::new();
            let _ = stream.read_to_end(&mut raw).await;
            String::from_utf8(raw).unwrap()
        })
        .await
        .unwrap();
        raw.split_once("\r\n\r\n")
            .map(|(h, b)| (h.to_string(), b.to_string()))
            .unwrap()
    };
    assert!(
        metrics.contains(r#"chatio_webhooks_total{outcome="delivered"} 5"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"chatio_webhooks_total{outcome="failed"} 2"#),
        "{metrics}"
    );
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_property_samples_work_against_the_server() {
    let (addr, stop) = start(config()).await;
    let (status, body) = post(
        addr,
        "/configuration/v0.5/properties/create_properties",
        "t1",
        json!({
            "greeting": { "type": "string", "locations": { "chat": { "access": {
                "agent": { "read": true, "write": false }, "customer": { "read": true, "write": true } } } },
                "domain": ["hello", "hi"] },
            "scoring": { "type": "int", "locations": { "event": { "access": {
                "agent": { "read": true, "write": true } } } }, "range": { "from": 0, "to": 10 } }
        }),
    )
    .await;
    assert_eq!((status, body), (200, json!({})));
    let (status, configs) = post(
        addr,
        "/configuration/v0.5/properties/get_property_configs",
        "t1",
        json!({ "all": true }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        configs["anna@example.com"]["scoring"]["range"],
        json!({ "from": 0, "to": 10 })
    );
    // The customer writes the property the configuration lets it write.
    let (status, started) = post(
        addr,
        "/customer/v0.5/action/start_chat",
        "jan",
        json!({ "payload": {} }),
    )
    .await;
    assert_eq!(status, 200);
    let chat_id = started["chat"]["id"].as_str().unwrap();
    let (status, updated) = post(
        addr,
        "/customer/v0.5/action/update_chat_properties",
        "jan",
        json!({ "payload": { "chat_id": chat_id, "properties": { "anna@example.com": { "greeting": { "value": "hi" } } } } }),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    let (status, refused) = post(
        addr,
        "/customer/v0.5/action/update_chat_properties",
        "jan",
        json!({ "payload": { "chat_id": chat_id, "properties": { "anna@example.com": { "greeting": { "value": "yo" } } } } }),
    )
    .await;
    assert_eq!(status, 400, "outside the domain: {refused}");
    // A bot needs a name and a status (the bot agent samples are in configuration_api.rs).
    let (status, nameless) = post(
        addr,
        "/configuration/v0.5/agents/create_bot_agent",
        "t1",
        json!({}),
    )
    .await;
    assert_eq!(status, 400, "{nameless}");
    assert_eq!(nameless["error"]["type"], "validation", "{nameless}");
    let _ = stop.send(());
}

// ----- webhooks owed across a restart (`--data`) -----

/// A receiver that answers 500 while `failing` is set and 200 otherwise, and keeps what it
/// accepted and how many tries it refused.
async fn switchable_receiver() -> (
    SocketAddr,
    Arc<Mutex<Vec<Value>>>,
    Arc<AtomicUsize>,
    Arc<AtomicBool>,
) {
    let refused = Arc::new(AtomicUsize::new(0));
    let failing = Arc::new(AtomicBool::new(false));
    let (counted, fails) = (Arc::clone(&refused), Arc::clone(&failing));
    let fail = move || {
        let fail = fails.load(Ordering::SeqCst);
        if fail {
            counted.fetch_add(1, Ordering::SeqCst);
        }
        fail
    };
    let (addr, accepted) = listen(None, Arc::new(fail)).await;
    (addr, accepted, refused, failing)
}

/// A `chatio-server --data DIR` process (the binary Cargo builds for this test).
struct Process {
    child: Child,
    addr: SocketAddr,
}

impl Process {
    /// Starts the server on `data` and waits until it listens.
    fn start(data: &Path) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chatio-server"))
            .args(["--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args([
                "--seed",
                "7",
                "--request-rate",
                "0",
                "--allow-weak-tokens",
                "--agent",
                "t1=anna@example.com:Anna",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
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
        let deadline = std::time::Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server did not start listening in time");
            };
            if let Some((_, addr)) = line.split_once("listening on ") {
                let addr = addr.trim().parse().expect("a socket address");
                return Process { child, addr };
            }
        }
    }

    /// SIGKILL: no shutdown code runs, nothing waiting is flushed.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The webhooks the store in `data` still owes.
fn owed_rows(data: &Path) -> i64 {
    let db = rusqlite::Connection::open_with_flags(
        data.join(chatio_server::store::FILE_NAME),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    db.query_row("SELECT COUNT(*) FROM webhook", [], |row| row.get(0))
        .unwrap()
}

/// Waits (bounded) until `done` holds.
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited too long for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The texts of the accepted webhooks of `chat`, in the order they arrived.
fn texts_of(accepted: &[Value], chat: &str) -> Vec<String> {
    accepted
        .iter()
        .filter(|w| w["data"]["chat_id"] == chat)
        .map(|w| w["data"]["event"]["text"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owed_webhooks_survive_a_kill_and_arrive_in_order_per_chat() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("webhooks-{}-{nanos}", std::process::id()));
    let data = root.join("data");
    let (hook_addr, accepted, refused, failing) = switchable_receiver().await;

    let server = Process::start(&data);
    let addr = server.addr;
    let (status, registered) = post(
        addr,
        "/configuration/v0.5/webhooks/register_webhook",
        "t1",
        json!({ "url": format!("http://{hook_addr}/hook"), "action": "incoming_event",
                "secret_key": "s3cret", "filters": { "author_type": "customer" } }),
    )
    .await;
    assert_eq!(status, 200, "{registered}");
    // Two customers, two chats, their messages interleaved.
    let mut chats = Vec::new();
    for customer in ["jan", "eva"] {
        let (status, started) = post(
            addr,
            "/customer/v0.5/action/start_chat",
            customer,
            json!({ "payload": {} }),
        )
        .await;
        assert_eq!(status, 200, "{started}");
        chats.push((
            customer,
            started["chat"]["id"].as_str().unwrap().to_string(),
        ));
    }
    let send = |n: usize| {
        let chats = chats.clone();
        async move {
            for (customer, chat_id) in &chats {
                let (status, sent) = post(
                    addr,
                    "/customer/v0.5/action/send_event",
                    customer,
                    json!({ "payload": { "chat_id": chat_id,
                            "event": { "type": "message", "text": format!("{customer} {n}") } } }),
                )
                .await;
                assert_eq!(status, 200, "{sent}");
            }
        }
    };

    // Delivered at once, and forgotten by the store.
    for n in 1..=2 {
        send(n).await;
    }
    wait_until("the first four deliveries", || {
        accepted.lock().unwrap().len() == 4
    })
    .await;
    wait_until("the store to forget the delivered webhooks", || {
        owed_rows(&data) == 0
    })
    .await;

    // The receiver fails: the next ones stay owed, on disk, and the server is killed.
    failing.store(true, Ordering::SeqCst);
    for n in 3..=5 {
        send(n).await;
    }
    wait_until("a refused try", || refused.load(Ordering::SeqCst) > 0).await;
    assert_eq!(
        owed_rows(&data),
        6,
        "every undelivered webhook is kept on disk"
    );
    server.kill();

    // The receiver recovers; the restarted server delivers what it owed.
    failing.store(false, Ordering::SeqCst);
    let server = Process::start(&data);
    wait_until("every owed webhook after the restart", || {
        accepted.lock().unwrap().len() >= 10
    })
    .await;
    wait_until("the store to forget them", || owed_rows(&data) == 0).await;
    let accepted = accepted.lock().unwrap().clone();
    for (customer, chat_id) in &chats {
        let mut got = texts_of(&accepted, chat_id);
        // At least once: a delivery whose deletion a kill cut off may come again, right after
        // itself.
        got.dedup();
        let want: Vec<String> = (1..=5).map(|n| format!("{customer} {n}")).collect();
        assert_eq!(got, want, "every message of {customer}'s chat, in order");
    }
    for webhook in &accepted {
        assert_eq!(webhook["secret_key"], "s3cret");
        assert_eq!(webhook["action"], "incoming_event");
    }
    server.kill();
    let _ = std::fs::remove_dir_all(&root);
}

/// A certificate authority of its own and a `localhost` certificate it signed, as a TLS
/// acceptor, with the authority's certificate as PEM.
fn private_authority() -> (tokio_rustls::TlsAcceptor, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    #[allow(deprecated)] // the server's choice of provider, see server/src/webhooks.rs
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)
        .unwrap();
    (tokio_rustls::TlsAcceptor::from(Arc::new(config)), ca.pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_webhooks_reach_a_receiver_the_server_trusts_and_only_it() {
    let (acceptor, ca_pem) = private_authority();
    let (hook_addr, accepted, tries) = receiver_over(0, Some(acceptor)).await;
    let url = format!("https://localhost:{}/hook", hook_addr.port());
    let ca_file =
        std::env::temp_dir().join(format!("chatio-webhook-ca-{}.pem", std::process::id()));
    std::fs::write(&ca_file, ca_pem).unwrap();

    // One server trusts the authority (--webhook-ca), one knows the public ones only.
    let mut trusting = config();
    trusting.webhook_authorities =
        chatio_server::webhooks::read_authorities(&ca_file).expect("a PEM authority");
    let _ = std::fs::remove_file(&ca_file);
    for (server, trusted) in [(trusting, true), (config(), false)] {
        let (addr, stop) = start(server).await;
        let (status, registered) = post(
            addr,
            "/configuration/v0.5/webhooks/register_webhook",
            "t1",
            json!({ "url": url, "action": "incoming_event", "secret_key": "tls",
                    "filters": { "author_type": "customer" } }),
        )
        .await;
        assert_eq!(status, 200, "{registered}");
        let (status, started) = post(
            addr,
            "/customer/v0.5/action/start_chat",
            "jan",
            json!({ "payload": {} }),
        )
        .await;
        assert_eq!(status, 200, "{started}");
        let text = format!("trusted: {trusted}");
        let event = json!({ "type": "message", "text": text });
        let payload = json!({ "payload": { "chat_id": started["chat"]["id"], "event": event } });
        let (status, sent) = post(addr, "/customer/v0.5/action/send_event", "jan", payload).await;
        assert_eq!(status, 200, "{sent}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        if trusted {
            while accepted.lock().unwrap().is_empty() {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "not delivered over https"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let got = accepted.lock().unwrap().clone();
            assert_eq!(got.len(), 1, "{got:?}");
            assert_eq!(got[0]["secret_key"], "tls");
            assert_eq!(got[0]["data"]["event"]["text"], "trusted: true");
        } else {
            // The handshake fails: the receiver's service never runs, nothing arrives, and the
            // server counts failed tries (it keeps retrying; it does not drop the webhook).
            tokio::time::sleep(Duration::from_millis(1500)).await;
            assert_eq!(
                accepted.lock().unwrap().len(),
                1,
                "an untrusted receiver got a webhook"
            );
        }
        let _ = stop.send(());
    }
    assert_eq!(
        *tries.lock().unwrap(),
        1,
        "only the trusted delivery reached the service"
    );
}

/// Logs in over the Agent RTM API with `token`; returns the open socket after the answer.
async fn rtm_login(
    addr: SocketAddr,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let (mut ws, _) = timeout(
        STEP,
        tokio_tungstenite::connect_async(format!("ws://{addr}/agent/v0.5/rtm/ws")),
    )
    .await
    .expect("connect in time")
    .expect("the handshake succeeds");
    let request = json!({ "request_id": "1", "action": "login", "payload": { "token": token } });
    ws.send(Message::Text(request.to_string().into()))
        .await
        .unwrap();
    loop {
        let message = timeout(STEP, ws.next()).await.unwrap().unwrap().unwrap();
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["type"] == "response" {
                assert_eq!(value["success"], true, "{value}");
                return ws;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_status_and_removal_webhooks_reach_the_receiver() {
    let (addr, stop) = start(config()).await;
    let (hook_addr, accepted, _) = receiver(0).await;
    for action in ["agent_status_changed", "agent_deleted"] {
        let (status, registered) = post(
            addr,
            "/configuration/v0.5/webhooks/register_webhook",
            "t1",
            json!({ "url": format!("http://{hook_addr}/hook"), "action": action,
                    "secret_key": "s3cret" }),
        )
        .await;
        assert_eq!(status, 200, "{registered}");
    }
    // Anna connects, then leaves: her status goes to `accepting chats`, then `offline`.
    let ws = rtm_login(addr, "t1").await;
    drop(ws);
    // The server hears of the close on its own time: wait for it before the bot's changes.
    wait_until("anna's two statuses", || {
        accepted.lock().unwrap().len() >= 2
    })
    .await;
    // A bot set offline, then removed.
    let (status, created) = post(
        addr,
        "/configuration/v0.5/agents/create_bot_agent",
        "t1",
        json!({ "name": "Greeter", "status": "accepting chats" }),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let bot = created["bot_agent_id"].as_str().unwrap().to_string();
    let (status, _) = post(
        addr,
        "/configuration/v0.5/agents/update_bot_agent",
        "t1",
        json!({ "id": bot, "status": "offline" }),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = post(
        addr,
        "/configuration/v0.5/agents/remove_bot_agent",
        "t1",
        json!({ "bot_agent_id": bot }),
    )
    .await;
    assert_eq!(status, 200);

    let expected = [
        (
            "agent_status_changed",
            json!({ "agent_id": "anna@example.com", "status": "accepting chats" }),
        ),
        (
            "agent_status_changed",
            json!({ "agent_id": "anna@example.com", "status": "offline" }),
        ),
        (
            "agent_status_changed",
            json!({ "agent_id": bot, "status": "offline" }),
        ),
        ("agent_deleted", json!({ "agent_id": bot })),
    ];
    wait_until("the agent webhooks", || {
        accepted.lock().unwrap().len() >= expected.len()
    })
    .await;
    let got: Vec<(String, Value)> = accepted
        .lock()
        .unwrap()
        .iter()
        .map(|w| (w["action"].as_str().unwrap().to_string(), w["data"].clone()))
        .collect();
    let expected: Vec<(String, Value)> = expected
        .into_iter()
        .map(|(a, d)| (a.to_string(), d))
        .collect();
    assert_eq!(got, expected);
    let _ = stop.send(());
}
