//! The two facades, one per protocol API, each bound to one identity and one moment.

mod agent;
mod customer;
mod journal_entry;
mod request;

pub use agent::AgentApi;
pub use customer::CustomerApi;
pub use request::{CustomerUpdate, MulticastScopes, Pagination, StartChat};
