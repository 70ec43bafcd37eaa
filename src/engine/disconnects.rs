//! Disconnects whose cause the engine knows: the license expiring while agents are connected,
//! and an agent removed by the host ([`Engine::remove_agent`], `remove_bot_agent`) while it is
//! connected, which is told `agent_disconnected` with reason [`REASON_AGENT_DELETED`] after it
//! has left its chats; the host closes its connections then too.
//!
//! The engine knows which agents are connected (the host tells it, [`Engine::set_agent_presence`])
//! and when the license ends, so when its time passes the end it tells each connected agent
//! `agent_disconnected` with reason `license_expired`, and the host closes their connections.
//! It happens at the [`tick`](Engine::tick) the end is a deadline for, or at whatever host call
//! first moves the engine's time past it; calls of the two APIs made after it are refused
//! (`license_expired`) and move nothing.
//!
//! Customers get nothing here: v0.5's `customer_disconnected` has no `license_expired` reason
//! (its reasons are `customer_banned`, which the engine sends when it bans, and
//! `too_many_connections`, `license_not_found` and `internal_error`, which only a server
//! knows), and the engine does not know which customers are connected.

use super::Engine;
use crate::model::{Role, Timestamp, UserId};
use crate::push::{Push, PushKind};

/// The `reason` of the `agent_disconnected` push sent when the license expires.
pub const REASON_LICENSE_EXPIRED: &str = "license_expired";

/// The `reason` of the `agent_disconnected` push a connected agent is sent when it is removed
/// (v0.5 lists no reason for it; the name is the webhook's, `agent_deleted`).
pub const REASON_AGENT_DELETED: &str = "agent_deleted";

impl Engine {
    /// The license's end, while it is still ahead of the engine's time and an agent is
    /// connected to be told of it: a deadline of its own.
    pub(crate) fn expiry_deadline(&self) -> Option<Timestamp> {
        let end = self.config.license.as_ref()?.expiration_timestamp?;
        (self.now < end && self.agent_runtime.iter().any(|rt| rt.online)).then_some(end)
    }

    /// If the license ended after `before` and at or before the engine's time now, tells every
    /// connected agent: `agent_disconnected`, reason [`REASON_LICENSE_EXPIRED`].
    pub(crate) fn expiry_disconnects(&self, before: Timestamp, pushes: &mut Vec<Push>) {
        let Some(end) = self
            .config
            .license
            .as_ref()
            .and_then(|l| l.expiration_timestamp)
        else {
            return;
        };
        if !(before < end && end <= self.now) {
            return;
        }
        let connected: Vec<UserId> = self
            .directory
            .agents()
            .iter()
            .zip(&self.agent_runtime)
            .filter(|(_, rt)| rt.online)
            .map(|(agent, _)| agent.id.clone())
            .collect();
        if connected.is_empty() {
            return;
        }
        pushes.push(Push {
            to: connected.into(),
            role: Role::Agent,
            kind: PushKind::AgentDisconnected {
                reason: REASON_LICENSE_EXPIRED.to_string(),
            },
        });
    }
}
