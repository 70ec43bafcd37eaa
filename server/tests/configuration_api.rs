//! The Configuration API's samples against a server started from the example config
//! (`chatio-server.example.toml`): every bot agent, webhook and property sample of the v0.5
//! reference answers as the reference shows, and a bot created through it is routed chats.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chatio_server::Server;
use chatio_server::cli::parse_args;
use serde_json::{Value, json};
use tokio::time::timeout;

mod license;

use license::post;

const STEP: Duration = Duration::from_secs(10);

/// Anna's token in the example config: the license's owner.
const ANNA: &str = "anna-7Qm2xV9pLk3RtZ8wYc4N";
/// Bob's: a normal agent.
const BOB: &str = "bob-Hs5Ej2Uq8TnW4bXa6Kd1";

const AVATAR: &str =
    "livechat.s3.amazonaws.com/1011121/all/avatars/bdd8924fcbcdbddbeaf60c19b238b0b0.jpg";

async fn configure(addr: SocketAddr, action: &str, body: Value) -> Value {
    let (status, answer) = post(addr, &format!("/configuration/v0.5/{action}"), ANNA, body).await;
    assert_eq!(status, 200, "{action}: {answer}");
    answer
}

fn docs_bot() -> Value {
    json!({
        "name": "John Doe",
        "avatar": AVATAR,
        "status": "accepting chats",
        "max_chats_count": 6,
        "groups": [
            { "id": 0, "priority": "normal" },
            { "id": 1, "priority": "normal" },
            { "id": 2, "priority": "first" }
        ],
        "webhooks": {
            "url": "http://myservice.com/webhooks",
            "secret_key": "JSauw0Aks8l-asAa",
            "actions": [{ "name": "incoming_chat_thread" }, { "name": "incoming_event" }]
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_configuration_samples_work_with_the_example_config() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("chatio-server.example.toml");
    let parsed = parse_args(vec!["--config".into(), path.display().to_string()])
        .unwrap()
        .unwrap();
    let server = Server::open(parsed.config, None).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(listener, async {
        let _ = stopped.await;
    }));

    // Bot agents: create, update, list, details, remove, as the reference's samples.
    let created = configure(addr, "agents/create_bot_agent", docs_bot()).await;
    let bot = created["bot_agent_id"].as_str().expect("an id").to_string();
    assert_eq!(bot.len(), 32, "{created}");
    let filters = json!({ "chat_properties": { "source": { "type": { "values": ["facebook", "twitter"] } } } });
    let updated = configure(
        addr,
        "agents/update_bot_agent",
        json!({
            "id": bot,
            "status": "accepting chats",
            "max_chats_count": 6,
            "webhooks": {
                "url": "http://myservice.com/webhooks",
                "secret_key": "JSauw0Aks8l-asAa",
                "actions": [
                    { "name": "incoming_chat_thread", "filters": filters },
                    { "name": "incoming_event" }
                ]
            }
        }),
    )
    .await;
    assert_eq!(updated, json!({}));
    let listed = configure(addr, "agents/get_bot_agents", json!({ "all": false })).await;
    assert_eq!(
        listed,
        json!({ "bot_agents": [{ "id": bot, "name": "John Doe", "avatar": AVATAR, "status": "accepting chats" }] })
    );
    let details = configure(
        addr,
        "agents/get_bot_agent_details",
        json!({ "bot_agent_id": bot }),
    )
    .await;
    assert_eq!(
        details["bot_agent"]["application"]["client_id"],
        "anna@example.com"
    );
    assert_eq!(details["bot_agent"]["groups"], docs_bot()["groups"]);
    assert_eq!(
        details["bot_agent"]["webhooks"]["actions"][0]["filters"],
        filters
    );
    // Bob, a normal agent, holds no agents-bot scope.
    let (status, refused) = post(
        addr,
        "/configuration/v0.5/agents/get_bot_agents",
        BOB,
        json!({}),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    let removed = configure(
        addr,
        "agents/remove_bot_agent",
        json!({ "bot_agent_id": bot }),
    )
    .await;
    assert_eq!(removed, json!({}));
    let listed = configure(addr, "agents/get_bot_agents", json!({ "all": true })).await;
    assert_eq!(listed, json!({ "bot_agents": [] }));

    // Webhooks: register, get config, unregister.
    let registered = configure(
        addr,
        "webhooks/register_webhook",
        json!({
            "url": "http://myservice.com/webhooks",
            "description": "Test webhook",
            "action": "thread_closed",
            "secret_key": "laudla991lamda0pnoaa0",
            "filters": {
                "chat_properties": {
                    "source": { "type": { "values": ["facebook", "twitter"] } },
                    "rating": { "comment": { "exists": true } }
                },
                "chat_member_ids": { "agents": ["johndoe@mail.com"] }
            }
        }),
    )
    .await;
    let webhook = registered["webhook_id"]
        .as_str()
        .expect("an id")
        .to_string();
    let config = configure(addr, "webhooks/get_webhooks_config", json!({})).await;
    assert_eq!(config["webhooks_config"][0]["webhook_id"], webhook.as_str());
    assert_eq!(config["webhooks_config"][0]["action"], "thread_closed");
    let gone = configure(
        addr,
        "webhooks/unregister_webhook",
        json!({ "webhook_id": webhook }),
    )
    .await;
    assert_eq!(gone, json!({}));

    // Properties: the reference's sample, and get_property_configs showing it back.
    let props = json!({
        "greeting": { "type": "string", "locations": { "chat": { "access": {
            "agent": { "read": true, "write": false }, "customer": { "read": true, "write": true } } } },
            "domain": ["hello", "hi"] },
        "scoring": { "type": "int", "locations": { "event": { "access": {
            "agent": { "read": true, "write": true } } } }, "range": { "from": 0, "to": 10 } }
    });
    assert_eq!(
        configure(addr, "properties/create_properties", props.clone()).await,
        json!({})
    );
    let configs = configure(
        addr,
        "properties/get_property_configs",
        json!({ "all": true }),
    )
    .await;
    assert_eq!(configs["anna@example.com"], props);
    assert!(
        configs["source"]["type"].is_object(),
        "the example config's own properties are there too: {configs}"
    );

    // Routing to bots: a bot accepting chats in group 2, where the example config's auto chat
    // scopes put Facebook chats, is given the customer's chat at once (no agent is connected
    // here; tests/bot_agents.rs has `first` bots win over connected agents).
    let greeter = configure(
        addr,
        "agents/create_bot_agent",
        json!({ "name": "Greeter", "status": "accepting chats",
                "groups": [{ "id": 2, "priority": "first" }] }),
    )
    .await;
    let greeter = greeter["bot_agent_id"].as_str().unwrap().to_string();
    let (status, started) = post(
        addr,
        "/customer/v0.5/action/start_chat",
        "jan",
        json!({ "payload": { "chat": {
            "properties": { "source": { "type": "facebook" } },
            "thread": { "events": [{ "type": "message", "text": "Hello" }] }
        } } }),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let users: Vec<&str> = started["chat"]["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["id"].as_str())
        .collect();
    assert!(users.contains(&greeter.as_str()), "{started}");

    // The properties guide's rating example: its two properties (the guide creates them with a
    // `create_namespace` its reference does not have; `create_properties` makes them in the
    // caller's namespace), written by the customer as its update_chat_properties sample does.
    let access = json!({ "chat": { "access": {
        "agent": { "read": true, "write": false }, "customer": { "read": true, "write": true } } } });
    let rating = json!({
        "rating_score": { "type": "int", "locations": access },
        "rating_comment": { "type": "string", "locations": access }
    });
    assert_eq!(
        configure(addr, "properties/create_properties", rating).await,
        json!({})
    );
    let chat_id = started["chat"]["id"].as_str().unwrap();
    let (status, rated) = post(
        addr,
        "/customer/v0.5/action/update_chat_properties",
        "jan",
        json!({ "payload": { "chat_id": chat_id, "properties": { "anna@example.com": {
            "rating_score": 10,
            "rating_comment": "This guy is a support hero, he helped me a lot."
        } } } }),
    )
    .await;
    assert_eq!(status, 200, "{rated}");
    // Agents may not write them.
    let (status, refused) = post(
        addr,
        "/agent/v0.5/action/update_chat_properties",
        ANNA,
        json!({ "payload": { "chat_id": chat_id, "properties": { "anna@example.com": {
            "rating_score": { "value": 1 } } } } }),
    )
    .await;
    assert_eq!(status, 403, "{refused}");

    let _ = stop.send(());
    timeout(STEP * 2, task).await.unwrap().unwrap().unwrap();
}

/// Serves the example config with `--data` in `data` until the returned sender is used; the
/// task ends once the server has stopped.
async fn start_durable(
    data: &std::path::Path,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("chatio-server.example.toml");
    let parsed = parse_args(vec!["--config".into(), path.display().to_string()])
        .unwrap()
        .unwrap();
    let durability = chatio_server::Durability::new(data);
    let server = Server::open(parsed.config, Some(&durability)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(listener, async {
        let _ = stopped.await;
    }));
    (addr, stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_keeps_its_status_across_a_restart() {
    let data = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("configuration-api-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let (addr, stop, task) = start_durable(&data).await;
    let created = configure(
        addr,
        "agents/create_bot_agent",
        json!({ "name": "Greeter", "status": "accepting chats",
                "groups": [{ "id": 0, "priority": "first" }] }),
    )
    .await;
    let bot = created["bot_agent_id"].as_str().unwrap().to_string();
    let _ = stop.send(());
    timeout(STEP * 2, task).await.unwrap().unwrap().unwrap();

    // Agents start offline (their connections closed); the bot has none, and stays as set.
    let (addr, stop, task) = start_durable(&data).await;
    let details = configure(
        addr,
        "agents/get_bot_agent_details",
        json!({ "bot_agent_id": bot }),
    )
    .await;
    assert_eq!(
        details["bot_agent"]["status"], "accepting chats",
        "{details}"
    );
    assert_eq!(
        details["bot_agent"]["groups"][0]["priority"], "first",
        "{details}"
    );
    let _ = stop.send(());
    timeout(STEP * 2, task).await.unwrap().unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&data);
}
