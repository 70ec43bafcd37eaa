//! The agents who may see a scoped chat, worked out once per scopes rather than once per push.
//!
//! A chat with scopes is pushed to the agents its scopes name, its groups' agents and the
//! agents in it. Finding them means walking every agent of the license, and a license sends
//! such pushes for every event of every scoped chat: with 100 agents it cost more than the
//! rest of the send. Chats share a handful of scopes (a group or two), so the list for each
//! scopes is kept here, shared by every push that goes to it, and made again when the agents
//! change. It is derived data: not snapshotted, and rebuilt on restore.

use std::sync::Arc;

use super::directory::Directory;
use crate::hash::FastMap;
use crate::model::{Agent, Scopes, UserId};

/// Scopes kept at most: beyond that (a license whose chats name agents one by one, say) the
/// list is worked out per push, as it would be without this.
const MAX_KEPT: usize = 256;

/// Per scopes, the agents who may see a chat of those scopes (leaving out the chat's own
/// agents, who may always see it).
#[derive(Clone, Debug, Default)]
pub(crate) struct Audiences {
    by_scopes: FastMap<Scopes, Audience>,
}

#[derive(Clone, Debug)]
pub(crate) struct Audience {
    /// The agents, in registration order.
    pub(crate) ids: Arc<[UserId]>,
    /// By agent slot, whether the agent is in `ids`.
    member: Vec<bool>,
}

impl Audience {
    /// The agents `scopes` let see a chat, removed (retired) agents left out.
    fn of(scopes: &Scopes, directory: &Directory) -> Self {
        let agents = directory.agents();
        let member: Vec<bool> = agents
            .iter()
            .enumerate()
            .map(|(slot, a)| !directory.is_retired(slot) && scoped_in(a, scopes))
            .collect();
        let ids = agents
            .iter()
            .zip(&member)
            .filter(|(_, m)| **m)
            .map(|(a, _)| a.id.clone())
            .collect();
        Audience { ids, member }
    }

    /// Whether the agent in `slot` is in the list.
    pub(crate) fn has(&self, slot: usize) -> bool {
        self.member.get(slot).copied().unwrap_or(false)
    }
}

/// Whether `scopes` let `agent` see a chat it is not in.
pub(crate) fn scoped_in(agent: &Agent, scopes: &Scopes) -> bool {
    scopes.agents.contains(&agent.id) || agent.groups.iter().any(|g| scopes.groups.contains(g))
}

impl Audiences {
    /// The list for `scopes`, if it is kept.
    #[inline]
    pub(crate) fn get(&self, scopes: &Scopes) -> Option<&Audience> {
        self.by_scopes.get(scopes)
    }

    /// Keeps the list for `scopes` (empty scopes need none), room permitting.
    pub(crate) fn ensure(&mut self, scopes: &Scopes, directory: &Directory) {
        if scopes.is_empty() || self.by_scopes.contains_key(scopes) {
            return;
        }
        if self.by_scopes.len() < MAX_KEPT {
            self.by_scopes
                .insert(scopes.clone(), Audience::of(scopes, directory));
        }
    }

    /// Makes every kept list again, after the agents changed.
    pub(crate) fn refresh(&mut self, directory: &Directory) {
        for (scopes, audience) in &mut self.by_scopes {
            *audience = Audience::of(scopes, directory);
        }
    }
}

/// Derived data: two engines with the same agents and chats have the same lists, whichever
/// they happen to keep.
impl PartialEq for Audiences {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
