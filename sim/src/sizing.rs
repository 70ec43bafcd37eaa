//! Sizing a team.
