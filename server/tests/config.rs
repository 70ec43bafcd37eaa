//! `--config`: the example file in the repository loads, flags override it, and a server
//! started from it serves the v0.5 documentation's samples that use `source.type` and
//! `rating.comment`, with the auto chat scopes it sets up.

use std::path::PathBuf;
use std::time::Duration;

use chatio_server::cli::parse_args;
use chatio_server::config::ConfigFile;
use chatio_server::{RouterKind, Server};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

const STEP: Duration = Duration::from_secs(5);

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("chatio-server.example.toml")
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_example_config_loads_with_every_section() {
    let file = ConfigFile::load(&example()).expect("the example parses");
    assert_eq!(file.agents.len(), 2);
    assert_eq!(file.properties.len(), 4);
    assert_eq!(file.auto_chat_scopes.len(), 1);
    let path = example().display().to_string();
    let parsed = parse_args(args(&["--config", &path])).unwrap().unwrap();
    assert_eq!(parsed.listen.port(), 8080);
    assert_eq!(parsed.config.router, RouterKind::Automatic);
    assert_eq!(parsed.config.engine.seed, 7);
    assert_eq!(parsed.config.engine.unseen_timeout, 300);
    assert_eq!(parsed.config.stall_timeout, Duration::from_secs(10));
    assert_eq!(parsed.config.max_backlog, 16 << 20);
    assert_eq!(parsed.config.agents[0].token, "anna-secret");
    assert_eq!(parsed.config.agents[1].agent.groups.len(), 1);
    let license = parsed.config.engine.license.as_ref().expect("a license");
    assert_eq!(
        (license.id.as_str(), license.plan.as_str()),
        ("100", "enterprise")
    );
    assert!(parsed.durability.is_none(), "data is commented out");
}

#[test]
fn flags_override_the_config_file() {
    let path = example().display().to_string();
    let parsed = parse_args(args(&[
        "--config",
        &path,
        "--seed",
        "9",
        "--router=manual",
        "--stall-timeout",
        "3",
        "--agent",
        "new-token=anna@example.com:Anna",
        "--agent",
        "c-token=carl@example.com",
        "--listen",
        "127.0.0.1:0",
        "--data",
        "somewhere",
    ]))
    .unwrap()
    .unwrap();
    assert_eq!(parsed.config.engine.seed, 9);
    assert_eq!(parsed.config.router, RouterKind::Manual);
    assert_eq!(parsed.config.stall_timeout, Duration::from_secs(3));
    assert_eq!(parsed.listen.port(), 0);
    let tokens: Vec<(&str, String)> = parsed
        .config
        .agents
        .iter()
        .map(|a| (a.token.as_str(), a.agent.id.to_string()))
        .collect();
    assert_eq!(
        tokens,
        [
            ("bob-secret", "bob@example.com".to_string()),
            ("new-token", "anna@example.com".to_string()),
            ("c-token", "carl@example.com".to_string()),
        ]
    );
    let durability = parsed.durability.expect("--data");
    assert_eq!(durability.dir, PathBuf::from("somewhere"));
    assert_eq!(durability.snapshot_every, 100_000, "the file's value stays");
}

#[test]
fn a_bad_config_is_refused_with_its_reason() {
    let unknown = ConfigFile::parse("listen = \"127.0.0.1:1\"\nmystery = 1\n").unwrap_err();
    assert!(unknown.contains("mystery"), "{unknown}");
    let bad_agent = ConfigFile::parse("[[agents]]\ntoken = \"\"\nid = \"a@example.com\"\n");
    assert!(bad_agent.unwrap_err().contains("token"));
    let bad_type = ConfigFile::parse(
        "[[properties]]\nnamespace = \"a\"\nname = \"b\"\ntype = \"float\"\nlocations = {}\n",
    );
    assert!(bad_type.is_err());
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn request(ws: &mut Ws, id: &str, action: &str, payload: Value) -> Value {
    let text = json!({ "request_id": id, "action": action, "payload": payload }).to_string();
    timeout(STEP, ws.send(Message::Text(text.into())))
        .await
        .unwrap()
        .unwrap();
    loop {
        let message = timeout(STEP, ws.next()).await.unwrap().unwrap().unwrap();
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["type"] == "response" && value["request_id"] == id {
                return value;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_samples_with_source_type_and_rating_comment_work() {
    let path = example().display().to_string();
    let parsed = parse_args(args(&["--config", &path])).unwrap().unwrap();
    let server = Server::open(parsed.config, None).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(listener, async {
        let _ = stopped.await;
    }));
    let url = format!("ws://{addr}/customer/v0.5/rtm/ws?license_id=100");
    let (mut ws, _) = timeout(STEP, tokio_tungstenite::connect_async(url))
        .await
        .unwrap()
        .unwrap();
    let login = request(&mut ws, "1", "login", json!({ "token": "Bearer jan" })).await;
    assert_eq!(login["success"], true, "{login}");
    // The customer reference's start_chat sample: properties on the chat and its thread.
    let started = request(
        &mut ws,
        "2",
        "start_chat",
        json!({ "chat": {
            "properties": { "source": { "type": "facebook" } },
            "thread": {
                "events": [{ "type": "message", "text": "Hello" }],
                "properties": { "source": { "type": "facebook" } }
            }
        }}),
    )
    .await;
    assert_eq!(started["success"], true, "{started}");
    let chat = &started["payload"]["chat"];
    assert_eq!(
        chat["properties"]["source"]["type"]["value"], "facebook",
        "{chat}"
    );
    // The auto chat scopes of the file gave it group 2.
    assert_eq!(chat["scopes"]["groups"], json!([2]), "{chat}");
    let chat_id = chat["id"].as_str().unwrap().to_string();
    // The sample properties of the reference: a rating with a comment.
    let rated = request(
        &mut ws,
        "3",
        "update_chat_properties",
        json!({ "chat_id": chat_id, "properties": {
            "rating": { "score": { "value": 5 }, "comment": { "value": "rated good!" } }
        }}),
    )
    .await;
    assert_eq!(rated["success"], true, "{rated}");
    let out_of_range = request(
        &mut ws,
        "4",
        "update_chat_properties",
        json!({ "chat_id": chat_id, "properties": { "rating": { "score": { "value": 9 } } } }),
    )
    .await;
    assert_eq!(out_of_range["payload"]["error"]["type"], "validation");
    let _ = stop.send(());
    timeout(STEP * 2, task).await.unwrap().unwrap().unwrap();
}
