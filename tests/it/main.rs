//! The integration tests of the library's capabilities, one module a capability, in one test
//! binary: each file of `tests/` is a binary of its own, linked against the whole library and
//! its dev-dependencies, and on CI's two cores that linking costs more than the tests take to
//! run. Tests keep their file's name as their module: `cargo test --test it agent_api::`.
//!
//! The property tests, the simulation, the scenarios and the golden fixtures stay binaries of
//! their own (`tests/*.rs`), so each can be run alone as the docs show.

#[path = "../common/mod.rs"]
mod common;
#[path = "../office/mod.rs"]
mod office;
#[path = "../snapshot_support/mod.rs"]
mod snapshot_support;

mod agent_api;
mod agent_profiles;
mod archives;
mod chat_ids;
mod customer_api;
mod hostile_input;
mod license;
mod permissions;
mod properties;
mod readme_properties;
mod scopes;
mod snapshot;
mod text_hygiene;
