//! The small license the upload, disconnect and webhook tests serve: one administrator, Anna,
//! with the weak token `t1`, the automatic router and a fixed seed; and a server started on it
//! in memory, stopped by the sender returned.

use std::net::SocketAddr;

use chatio::{Agent, EngineConfig, UserId};
use chatio_server::{AgentLogin, Config, RouterKind};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

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
#[allow(dead_code)] // the upload tests start their servers themselves (they need `--data`)
pub async fn start(config: Config) -> (SocketAddr, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(chatio_server::serve(config, listener, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}
