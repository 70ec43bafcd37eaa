//! Agents' presence and routing status: `update_agent`, and the host's word on connections.

use super::{AgentChange, Engine, Entry, HostCommand, Output, Requester};
use crate::error::Error;
use crate::model::{BotStatus, Role, Timestamp, UserId};
use crate::push::{Push, PushKind};
use crate::routing::RoutingStatus;

impl Engine {
    /// Tells the engine whether an agent is connected. Only connected agents are given chats.
    /// Connecting offers the agent waiting chats; disconnecting leaves its chats where they are
    /// (the 5-minute timer moves any whose customer it does not answer). A change of presence
    /// is a change of the agent's status: the output's
    /// [`agent_changes`](Output::agent_changes) carries it for `agent_status_changed`.
    pub fn set_agent_presence(
        &mut self,
        id: &UserId,
        online: bool,
        now: Timestamp,
    ) -> Result<Output<()>, Error> {
        let slot = self
            .agent_slot(id)
            .filter(|&s| !self.is_removed(s))
            .ok_or_else(|| Error::AgentNotFound(id.clone()))?;
        let before = self.now;
        self.now = self.now.max(now);
        let mut pushes = Vec::new();
        // Connecting or disconnecting changes the agent's status, which no push tells of.
        let change =
            (self.agent_runtime[slot].online != online).then(|| AgentChange::StatusChanged {
                agent_id: id.clone(),
                status: BotStatus::of(online, self.agent_runtime[slot].routing_status),
            });
        if self.update_runtime(slot, |rt| rt.online = online) {
            self.drain(slot, &mut pushes);
        }
        // Time may have passed the license's end here first: the agents connected until now
        // (this one included, if it just connected) are told.
        self.expiry_disconnects(before, &mut pushes);
        let entry = Entry::host(
            now,
            HostCommand::SetAgentPresence {
                agent_id: id.clone(),
                online,
            },
        );
        Ok(self.journaled(Output::new((), pushes).with_agent_change(change), entry))
    }

    /// `update_agent`: sets an agent's routing status (its own, or, with `agents--all:write`,
    /// another's) and tells every agent.
    pub(crate) fn update_agent(
        &mut self,
        req: &Requester,
        agent_id: Option<&UserId>,
        routing_status: Option<RoutingStatus>,
    ) -> Result<Output<()>, Error> {
        let target = agent_id.unwrap_or(req.id);
        let slot = self
            .agent_slot(target)
            .filter(|&s| !self.is_removed(s))
            .ok_or_else(|| Error::AgentNotFound(target.clone()))?;
        let grant = if *target == *req.id {
            crate::model::Grant::AgentsMyWrite
        } else {
            crate::model::Grant::AgentsAllWrite
        };
        self.authorize(req, grant)?;
        let Some(status) = routing_status else {
            return Ok(Output::quiet(()));
        };
        self.commit(req);
        let mut pushes = Vec::new();
        let available = self.update_runtime(slot, |rt| rt.routing_status = status);
        pushes.push(Push {
            to: self.all_agents(),
            role: Role::Agent,
            kind: PushKind::AgentUpdated {
                agent_id: target.clone(),
                routing_status: status,
            },
        });
        if available {
            self.drain(slot, &mut pushes);
        }
        Ok(Output::new((), pushes))
    }
}
