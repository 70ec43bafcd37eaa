//! The directory: the license's agents and customers, the part of the engine that knows who is
//! who.
//!
//! Its invariants: each agent has a slot (its index in registration order) that never changes,
//! the index maps each agent's id to its slot, `all_agent_ids` lists the ids of the agents not
//! removed (retired) in slot order, and no id is both an agent's and a customer's. Only this file changes the fields, so
//! only this file keeps those promises.

use std::sync::Arc;

use super::CustomerRecord;
use crate::hash::FastMap;
use crate::model::{Agent, UserId};

/// Agents by slot and by id, and customers with their chats.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Directory {
    agents: Vec<Agent>,
    index: FastMap<UserId, usize>,
    /// Every agent id, in slot order: the default audience of a chat with no scopes, shared by
    /// every push that goes to it.
    all_agent_ids: Arc<[UserId]>,
    /// By slot, whether the agent was removed: it keeps its slot, and hears of nothing.
    retired: Vec<bool>,
    customers: FastMap<UserId, CustomerRecord>,
    /// Whether any agent has a group priority other than `normal`: while none has, routing
    /// takes the first agent who can take a chat without looking at priorities.
    priorities: bool,
}

impl Default for Directory {
    fn default() -> Self {
        Self {
            agents: Vec::new(),
            index: FastMap::default(),
            all_agent_ids: Arc::from(Vec::new()),
            retired: Vec::new(),
            customers: FastMap::default(),
            priorities: false,
        }
    }
}

impl Directory {
    /// A directory of these agents (in slot order) and customers, or why they do not make one
    /// (an id twice, an agent that does not validate).
    pub(crate) fn from_parts(
        agents: Vec<Agent>,
        customers: Vec<CustomerRecord>,
    ) -> Result<Self, String> {
        let mut index = FastMap::default();
        for (slot, agent) in agents.iter().enumerate() {
            if let Err(e) = agent.validate() {
                return Err(format!("agent {}: {e}", agent.id));
            }
            if index.insert(agent.id.clone(), slot).is_some() {
                return Err(format!("agent {} appears twice", agent.id));
            }
        }
        let mut by_id = FastMap::default();
        for record in customers {
            let id = record.customer.id.clone();
            if index.contains_key(&id) || by_id.insert(id.clone(), record).is_some() {
                return Err(format!("user {id} appears twice"));
            }
        }
        let all_agent_ids = agents.iter().map(|a| a.id.clone()).collect();
        let priorities = agents.iter().any(|a| !a.group_priorities.is_empty());
        let retired = vec![false; agents.len()];
        Ok(Self {
            agents,
            index,
            all_agent_ids,
            retired,
            customers: by_id,
            priorities,
        })
    }

    /// Whether an agent or a customer has this id.
    pub(crate) fn is_user(&self, id: &UserId) -> bool {
        self.index.contains_key(id) || self.customers.contains_key(id)
    }

    /// Every agent, by slot.
    pub(crate) fn agents(&self) -> &[Agent] {
        &self.agents
    }

    pub(crate) fn agent(&self, id: &UserId) -> Option<&Agent> {
        self.index.get(id).map(|&slot| &self.agents[slot])
    }

    pub(crate) fn agent_slot(&self, id: &UserId) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// Every agent id but the retired ones', in slot order.
    pub(crate) fn all_agent_ids(&self) -> &Arc<[UserId]> {
        &self.all_agent_ids
    }

    /// Retires the agent in `slot` (it was removed): it leaves the id list, and the audiences
    /// built from this directory leave it out.
    pub(crate) fn retire(&mut self, slot: usize) {
        if let Some(retired) = self.retired.get_mut(slot) {
            *retired = true;
        }
        self.list_ids();
    }

    /// Whether any agent is retired: while none is, lists of agents need no filtering.
    pub(crate) fn any_retired(&self) -> bool {
        self.all_agent_ids.len() < self.agents.len()
    }

    /// Whether the agent in `slot` is retired.
    pub(crate) fn is_retired(&self, slot: usize) -> bool {
        self.retired.get(slot).copied().unwrap_or(false)
    }

    fn list_ids(&mut self) {
        self.all_agent_ids = self
            .agents
            .iter()
            .zip(&self.retired)
            .filter(|(_, retired)| !**retired)
            .map(|(a, _)| a.id.clone())
            .collect();
    }

    /// Registers an agent, whose id must be nobody's yet, and returns its slot.
    pub(crate) fn add_agent(&mut self, agent: Agent) -> usize {
        let slot = self.agents.len();
        self.index.insert(agent.id.clone(), slot);
        self.priorities |= !agent.group_priorities.is_empty();
        self.agents.push(agent);
        self.retired.push(false);
        self.list_ids();
        slot
    }

    /// Whether any agent has a group priority other than `normal`.
    pub(crate) fn has_priorities(&self) -> bool {
        self.priorities
    }

    /// Works out again whether any agent has a group priority, after a profile changed.
    pub(crate) fn refresh_priorities(&mut self) {
        self.priorities = self.agents.iter().any(|a| !a.group_priorities.is_empty());
    }

    /// The agent in `slot`, to change its profile. Its id must stay the same: the index and
    /// the id list are not updated; call [`refresh_priorities`](Self::refresh_priorities).
    pub(crate) fn agent_at_mut(&mut self, slot: usize) -> &mut Agent {
        &mut self.agents[slot]
    }

    pub(crate) fn customer(&self, id: &UserId) -> Option<&CustomerRecord> {
        self.customers.get(id)
    }

    pub(crate) fn customer_mut(&mut self, id: &UserId) -> Option<&mut CustomerRecord> {
        self.customers.get_mut(id)
    }

    /// Registers a customer, whose id must be nobody's yet.
    pub(crate) fn add_customer(&mut self, record: CustomerRecord) {
        self.customers.insert(record.customer.id.clone(), record);
    }

    pub(crate) fn customer_count(&self) -> usize {
        self.customers.len()
    }

    /// Every customer, in no particular order.
    pub(crate) fn customers(&self) -> impl Iterator<Item = &CustomerRecord> {
        self.customers.values()
    }
}
