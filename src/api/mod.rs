//! The two facades, one per protocol API, each bound to one identity and one moment.

mod agent;
mod customer;

pub use agent::AgentApi;
pub use customer::CustomerApi;
