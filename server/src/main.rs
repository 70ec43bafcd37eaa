//! The `chatio-server` binary: see `chatio_server::cli` and `server/README.md`.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(chatio_server::cli::main(std::env::args().skip(1)))
}
