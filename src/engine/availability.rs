//! Agents' routing state, and indices of the agents who can take a chat.
//!
//! Routing must not cost time in proportion to the number of agents, so the agents who are
//! online, accepting chats and below their limit are kept in three ordered sets, one per way of
//! choosing. Every change to an agent's routing state ([`Engine::update_runtime`]) or profile
//! ([`Engine::replace_agent`]) goes through one place, which takes the agent out of the sets
//! under its old keys and puts it back under the new ones.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::Engine;
use crate::model::{Agent, Timestamp};
use crate::routing::{AgentStatus, RoutingStatus};

/// What the engine tracks about an agent for routing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AgentRuntime {
    pub(crate) online: bool,
    pub(crate) routing_status: RoutingStatus,
    pub(crate) load: u32,
    pub(crate) last_assigned: Option<Timestamp>,
    /// Increases with every assignment in the license: breaks ties between equal times.
    pub(crate) assigned_seq: u64,
    /// A bot removed by `remove_bot_agent`: its slot stays (slots never change), but it acts
    /// no more, is routed nothing and is listed nowhere. Left out of snapshots while false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) removed: bool,
}

impl AgentRuntime {
    fn available(&self, agent: &Agent) -> bool {
        !self.removed
            && self.online
            && self.routing_status == RoutingStatus::AcceptingChats
            && self.load < agent.max_chats
    }
}

/// The available agents, by slot, in the three orders routers choose by.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Availability {
    by_free: BTreeSet<(Reverse<u32>, usize)>,
    by_load: BTreeSet<(u32, usize)>,
    by_wait: BTreeSet<(i64, u64, usize)>,
}

type Keys = ((Reverse<u32>, usize), (u32, usize), (i64, u64, usize));

fn keys(slot: usize, agent: &Agent, rt: &AgentRuntime) -> Keys {
    let free = agent.max_chats.saturating_sub(rt.load);
    let waited = rt.last_assigned.map_or(i64::MIN, Timestamp::unix_seconds);
    (
        (Reverse(free), slot),
        (rt.load, slot),
        (waited, rt.assigned_seq, slot),
    )
}

impl Availability {
    /// The indices for these agents, as `update_runtime` would have kept them.
    pub(crate) fn rebuild(agents: &[Agent], runtime: &[AgentRuntime]) -> Self {
        let mut index = Self::default();
        for (slot, (agent, rt)) in agents.iter().zip(runtime).enumerate() {
            if rt.available(agent) {
                index.insert(keys(slot, agent, rt));
            }
        }
        index
    }

    fn insert(&mut self, k: Keys) {
        self.by_free.insert(k.0);
        self.by_load.insert(k.1);
        self.by_wait.insert(k.2);
    }

    fn remove(&mut self, k: Keys) {
        self.by_free.remove(&k.0);
        self.by_load.remove(&k.1);
        self.by_wait.remove(&k.2);
    }

    pub(crate) fn by_free_slots(&self) -> impl Iterator<Item = usize> + '_ {
        self.by_free.iter().map(|k| k.1)
    }

    pub(crate) fn by_load(&self) -> impl Iterator<Item = usize> + '_ {
        self.by_load.iter().map(|k| k.1)
    }

    pub(crate) fn by_wait(&self) -> impl Iterator<Item = usize> + '_ {
        self.by_wait.iter().map(|k| k.2)
    }
}

impl Engine {
    /// Changes an agent's routing state and keeps the indices right. Returns whether the agent
    /// can take a chat afterwards.
    pub(crate) fn update_runtime(
        &mut self,
        slot: usize,
        change: impl FnOnce(&mut AgentRuntime),
    ) -> bool {
        self.rekey(slot, |_, rt| change(rt))
    }

    /// Puts a new profile in an agent's slot (its slots may have changed) and keeps the indices
    /// right. Returns whether the agent can take a chat now.
    pub(crate) fn replace_agent(&mut self, slot: usize, agent: Agent) -> bool {
        let available = self.rekey(slot, |profile, _| *profile = agent);
        self.directory.refresh_priorities();
        // Its groups may have changed, and with them who sees scoped chats.
        self.audiences.refresh(&self.directory);
        available
    }

    /// Every change to what decides an agent's availability goes through here: the agent
    /// leaves the indices under its old keys and comes back under its new ones.
    fn rekey(&mut self, slot: usize, change: impl FnOnce(&mut Agent, &mut AgentRuntime)) -> bool {
        let agent = self.directory.agent_at_mut(slot);
        let rt = &mut self.agent_runtime[slot];
        if rt.available(agent) {
            self.availability.remove(keys(slot, agent, rt));
        }
        change(agent, rt);
        let is = rt.available(agent);
        if is {
            self.availability.insert(keys(slot, agent, rt));
        }
        is
    }

    /// Whether any agent has a group priority other than `normal`.
    pub(crate) fn has_priorities(&self) -> bool {
        self.directory.has_priorities()
    }

    pub(crate) fn availability(&self) -> &Availability {
        &self.availability
    }

    pub(crate) fn agent_status_at(&self, slot: usize) -> AgentStatus<'_> {
        let agent = self.agent_by_slot(slot);
        let rt = &self.agent_runtime[slot];
        AgentStatus {
            agent,
            online: rt.online,
            routing_status: rt.routing_status,
            load: rt.load,
            max_chats: agent.max_chats,
            last_assigned: rt.last_assigned,
        }
    }

    pub(crate) fn is_available(&self, slot: usize) -> bool {
        self.agent_runtime[slot].available(self.agent_by_slot(slot))
    }
}
