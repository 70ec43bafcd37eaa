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
    assert_eq!(parsed.config.seed, Some(7));
    assert_eq!(parsed.config.engine.unseen_timeout, 300);
    assert_eq!(parsed.config.stall_timeout, Duration::from_secs(10));
    assert_eq!(parsed.config.max_backlog, 16 << 20);
    assert_eq!(parsed.config.agents[0].token, "anna-7Qm2xV9pLk3RtZ8wYc4N");
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
        "new-token-0123456789=anna@example.com:Anna",
        "--agent",
        "c-token-abcdefghijk=carl@example.com",
        "--listen",
        "127.0.0.1:0",
        "--data",
        "somewhere",
    ]))
    .unwrap()
    .unwrap();
    assert_eq!(parsed.config.seed, Some(9));
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
            ("new-token-0123456789", "anna@example.com".to_string()),
            ("bob-Hs5Ej2Uq8TnW4bXa6Kd1", "bob@example.com".to_string()),
            ("c-token-abcdefghijk", "carl@example.com".to_string()),
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
    let bad_agent = ConfigFile::parse("[[agents]]\nid = \"a\"\nname = 3\n");
    assert!(bad_agent.is_err());
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

/// A config file in the test's own folder.
fn write_config(name: &str, text: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("config-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("chatio.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn agent_tokens_come_from_the_file_the_environment_or_a_token_file() {
    use chatio_server::cli::parse_args_with_env;
    let config = write_config(
        "tokens",
        "[[agents]]\nid = \"anna@example.com\"\nname = \"Anna\"\ngroups = [1]\n\
         [[agents]]\nid = \"bob@example.com\"\ntoken = \"bob-token-from-the-file\"\n",
    );
    let config = config.display().to_string();
    // No token for Anna anywhere: refused, naming where tokens may come from.
    let err = parse_args_with_env(args(&["--config", &config]), None).unwrap_err();
    assert!(
        err.contains("anna@example.com") && err.contains("CHATIO_AGENT_TOKENS"),
        "{err}"
    );
    // From the environment: a token-only entry keeps the profile of the file.
    let env =
        "anna-token-from-the-env=anna@example.com\n  carl-token-from-the-env=carl@example.com:Carl";
    let parsed = parse_args_with_env(args(&["--config", &config]), Some(env))
        .unwrap()
        .unwrap();
    let anna = &parsed.config.agents[0];
    assert_eq!(anna.token, "anna-token-from-the-env");
    assert_eq!(
        (anna.agent.name.as_str(), anna.agent.groups.len()),
        ("Anna", 1)
    );
    assert_eq!(parsed.config.agents[1].token, "bob-token-from-the-file");
    assert_eq!(parsed.config.agents[2].agent.name, "Carl");
    // A token file overrides the environment; --agent overrides both.
    let file = write_config(
        "token-file",
        "# agents\n\nanna-token-from-a-file=anna@example.com\n",
    );
    let parsed = parse_args_with_env(
        args(&[
            "--config",
            &config,
            "--agent-token-file",
            &file.display().to_string(),
        ]),
        Some(env),
    )
    .unwrap()
    .unwrap();
    assert_eq!(parsed.config.agents[0].token, "anna-token-from-a-file");
    assert_eq!(parsed.config.agents[0].agent.name, "Anna");
}

#[test]
fn weak_agent_tokens_are_refused_unless_allowed() {
    use chatio_server::cli::parse_args_with_env;
    for weak in ["t1=a@example.com", "aaaaaaaaaaaaaaaaaaaa=a@example.com"] {
        let err = parse_args_with_env(args(&["--agent", weak]), None).unwrap_err();
        assert!(err.contains("weak") && err.contains("urandom"), "{err}");
        let allowed = parse_args_with_env(args(&["--agent", weak, "--allow-weak-tokens"]), None);
        assert!(allowed.unwrap().unwrap().config.allow_weak_tokens);
    }
    assert!(chatio_server::weak_token("kq3J9vX2mP7sL0aZ").is_none());
}

#[test]
fn limits_come_from_flags_over_the_file_over_the_defaults() {
    let config = write_config(
        "limits",
        "[limits]\nmax_connections = 500\nlogin_timeout = 3\nrequest_rate = 5.0\n",
    );
    let config = config.display().to_string();
    let parsed = parse_args(args(&["--config", &config, "--login-timeout", "4"]))
        .unwrap()
        .unwrap();
    let limits = &parsed.config.limits;
    assert_eq!(limits.max_connections, 500);
    assert_eq!(
        limits.login_timeout,
        Duration::from_secs(4),
        "the flag wins"
    );
    assert_eq!(limits.request_rate, 5.0);
    let defaults = chatio_server::Limits::default();
    assert_eq!(limits.header_timeout, defaults.header_timeout);
    assert_eq!(limits.customer_burst, defaults.customer_burst);
    assert_eq!(
        parsed.config.seed, None,
        "no --seed: drawn from the operating system"
    );
}
