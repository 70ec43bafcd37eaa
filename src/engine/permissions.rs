//! Who may do what: the v0.5 permission lists as one table.
//!
//! Every agent action names the grant it needs. Chat actions come in pairs, "my chats" and "all
//! chats": an agent's own chats are those it is in; for writing to the conversation (and joining
//! itself), chats waiting in the queue count too, so that an agent can pick one up by replying,
//! as the routing diagrams require. Managing a waiting chat (closing it, adding others, scopes,
//! transfer) needs the "all chats" grant. Reading is always limited
//! to the chats an agent may see (scopes) on top of the grants below. Customers are not in the
//! table: they act only on their own chats, which the engine checks separately.

use super::{Engine, Requester};
use crate::error::Error;
use crate::model::{Grant, Permission, Role, STRICT_DENIALS, holds};

/// The three kinds of chat action, each a "my chats" / "all chats" pair of grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChatRight {
    Read,
    Conversation,
    Meta,
}

impl ChatRight {
    fn grants(self) -> (Grant, Grant) {
        match self {
            ChatRight::Read => (Grant::ChatsMyRead, Grant::ChatsAllRead),
            ChatRight::Conversation => (Grant::ConversationMyWrite, Grant::ConversationAllWrite),
            ChatRight::Meta => (Grant::MetaMyWrite, Grant::MetaAllWrite),
        }
    }
}

impl Engine {
    /// Checks an agent's grant for an action on a chat it may see. Customers pass: their access
    /// is checked by [`accessible_chat`](Engine::accessible_chat).
    pub(crate) fn authorize_chat(
        &self,
        req: &Requester,
        slot: usize,
        right: ChatRight,
    ) -> Result<(), Error> {
        if req.role == Role::Customer {
            return Ok(());
        }
        let level = self.requester_permission(req);
        let chat = self.chat_at(slot);
        // A waiting chat is everyone's to pick up (conversation), not to manage (meta).
        let waiting = chat.routing.waiting_since.is_some();
        let mine = chat.agent_ids.contains(req.id)
            || (waiting && matches!(right, ChatRight::Read | ChatRight::Conversation));
        let (my, all) = right.grants();
        if self.holds(level, all) || (mine && self.holds(level, my)) {
            return Ok(());
        }
        Err(Error::NotAllowed {
            user_id: req.id.clone(),
            action: "act on this chat",
            reason: format!(
                "needs {} (or {} and being in chat {})",
                all.as_str(),
                my.as_str(),
                chat.id
            ),
        })
    }

    /// Whether a level holds a grant in this license: the table, less [`STRICT_DENIALS`] for
    /// normal agents when the configuration asks for them.
    pub(crate) fn holds(&self, level: Permission, grant: Grant) -> bool {
        holds(level, grant)
            && !(self.config.strict_permissions
                && level == Permission::Normal
                && STRICT_DENIALS.contains(&grant))
    }

    /// The requester's permission level; customers (and unknown agents) hold the lowest.
    fn requester_permission(&self, req: &Requester) -> Permission {
        // The facade resolved the agent's slot when it was made: reading it saves hashing the
        // agent's id again on every check.
        match req.agent {
            Some(slot) => self.agent_by_slot(slot).permission,
            None => self
                .agent(req.id)
                .map_or(Permission::Normal, |a| a.permission),
        }
    }

    /// Checks an agent's grant for an action that is not about one chat.
    pub(crate) fn authorize(&self, req: &Requester, grant: Grant) -> Result<(), Error> {
        let level = self.requester_permission(req);
        if req.role == Role::Agent && self.holds(level, grant) {
            return Ok(());
        }
        Err(Error::NotAllowed {
            user_id: req.id.clone(),
            action: grant.as_str(),
            reason: format!("needs {}", grant.as_str()),
        })
    }
}
