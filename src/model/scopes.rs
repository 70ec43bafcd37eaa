//! Scopes: which agents may see a chat.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{GroupId, Role, UserId};

/// The agents a chat is visible to. Empty scopes mean every agent of the license.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scopes {
    /// Groups whose agents may see the chat.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub groups: BTreeSet<GroupId>,
    /// Agents who may see the chat, whatever their groups.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub agents: BTreeSet<UserId>,
}

impl Scopes {
    /// No scopes: every agent.
    pub const fn new() -> Self {
        Scopes {
            groups: BTreeSet::new(),
            agents: BTreeSet::new(),
        }
    }

    /// True when the scopes name nobody, which means everybody.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.agents.is_empty()
    }

    /// The scopes as a user of `role` may see them. Customers see groups only: the agents a
    /// chat is scoped to are agent ids (often e-mail addresses) of agents who may not be in the
    /// chat at all, and v0.5's Customer API knows scopes only as groups.
    pub fn visible_to(&self, role: Role) -> Scopes {
        match role {
            Role::Agent => self.clone(),
            Role::Customer => Scopes {
                groups: self.groups.clone(),
                agents: BTreeSet::new(),
            },
        }
    }
}
