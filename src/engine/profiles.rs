//! Agent profiles: what the host changes about an agent after registering it.

use super::{Engine, Entry, HostCommand, Output};
use crate::error::Error;
use crate::model::{Agent, Timestamp};

impl Engine {
    /// Replaces a registered agent's profile (name, e-mail, avatar, kind, groups, slots,
    /// permission, owner) with `agent`, found by its id: what chat.io's Configuration API does
    /// when an administrator edits an agent. The agent's routing state (presence, routing
    /// status, load) is kept.
    ///
    /// Takes effect for what happens next: events already written keep the name they were
    /// written with, and an agent who leaves a group keeps the chats it is in. More slots make
    /// the agent take waiting chats at once, which is why this returns pushes and needs `now`;
    /// fewer slots than its current load take no chat away, they only stop new assignments.
    /// Fails with `AgentNotFound` for an id that is not an agent (or a removed bot), and with a validation error
    /// for a profile `add_agent` would refuse; either way nothing changes.
    pub fn update_agent_profile(
        &mut self,
        agent: Agent,
        now: Timestamp,
    ) -> Result<Output<()>, Error> {
        agent.validate()?;
        agent.check_labels()?;
        let slot = self
            .agent_slot(&agent.id)
            .filter(|&s| !self.is_removed(s))
            .ok_or_else(|| Error::AgentNotFound(agent.id.clone()))?;
        self.now = self.now.max(now);
        let mut pushes = Vec::new();
        if self.replace_agent(slot, agent.clone()) {
            self.drain(slot, &mut pushes);
        }
        let entry = Entry::host(now, HostCommand::UpdateAgentProfile { agent });
        Ok(self.journaled(Output::new((), pushes), entry))
    }
}
