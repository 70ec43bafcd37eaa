//! How a facade's command becomes a journal entry: the same for both APIs, apart from which
//! kind of action it records and whose id it is.

use crate::engine::{Engine, Requester};
use crate::journal::{AgentAction, CustomerAction, Entry};
use crate::model::{Timestamp, UserId};

/// A facade's action, ready to be recorded as done by one user at one moment.
pub(super) trait Action {
    /// The entry recording that `requester` did this at `at`.
    fn entry(self, requester: UserId, at: Timestamp) -> Entry;
}

impl Action for AgentAction {
    #[inline(always)]
    fn entry(self, agent_id: UserId, at: Timestamp) -> Entry {
        Entry::Agent {
            agent_id,
            at,
            action: self,
        }
    }
}

impl Action for CustomerAction {
    #[inline(always)]
    fn entry(self, customer_id: UserId, at: Timestamp) -> Entry {
        Entry::Customer {
            customer_id,
            at,
            action: self,
        }
    }
}

/// The command's journal entry, made only while the engine journals (not while it replays a
/// record it already has, nor with the journal off). The action is only made, its arguments
/// copied, when there is a record to put it in.
pub(super) fn now<A: Action>(
    engine: &Engine,
    me: &Requester,
    action: impl FnOnce() -> A,
) -> Option<Entry> {
    engine
        .journaling()
        .then(|| action().entry(me.id.clone(), me.now))
}
