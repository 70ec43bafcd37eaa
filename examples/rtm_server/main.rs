//! A WebSocket (RTM) and HTTP (Web API) server over one `chatio` engine, for real clients.
//!
//! ```text
//! cargo run --release --example rtm_server -- --listen 127.0.0.1:8080 --agent secret-1=anna@example.com:Anna
//! cargo run --release --example rtm_server -- --data ./chatio-data --agent secret-1=anna@example.com:Anna
//! ```
//!
//! Run with `--help` for every flag. The server lives in `server.rs` (the interop test,
//! `tests/interop.rs`, compiles it too), its command line in `cli.rs` and its storage for
//! `--data` in `store.rs` (both compiled by the crash test, `tests/crash.rs`, too).

mod server;

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(server::cli::run(std::env::args().skip(1)))
}
