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
use crate::model::{Permission, Role};

/// A v0.5 permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Grant {
    /// `chats--all:read`: read every chat it may see.
    ChatsAllRead,
    /// `chats--my:read`: read its own chats.
    ChatsMyRead,
    /// `chats.conversation--all:write`: write events, properties, postbacks to any chat it may
    /// see, and join it.
    ConversationAllWrite,
    /// `chats.conversation--my:write`: the same for its own chats, and leave them.
    ConversationMyWrite,
    /// `chats.meta--all:write`: close threads, change users, scopes and assignment of any chat
    /// it may see.
    MetaAllWrite,
    /// `chats.meta--my:write`: the same for its own chats.
    MetaMyWrite,
    /// `multicast:write`.
    MulticastWrite,
    /// `customers.ban:write`.
    CustomersBanWrite,
    /// `agents--my:write`: its own routing status.
    AgentsMyWrite,
    /// `agents--all:write`: other agents' routing status.
    AgentsAllWrite,
    /// `auto_chat_scopes:read`.
    AutoChatScopesRead,
    /// `auto_chat_scopes:write`.
    AutoChatScopesWrite,
    /// `customers.identity--manage`.
    CustomersIdentityManage,
    /// `properties--my:read`: the configuration of properties in its own namespace.
    PropertiesMyRead,
    /// `properties--my:write`: create properties in its own namespace.
    PropertiesMyWrite,
    /// `properties--all:read`: the configuration of every property of the license.
    PropertiesAllRead,
    /// `webhooks--my:read`: the webhooks it registered.
    WebhooksMyRead,
    /// `webhooks--my:write`: register webhooks, and unregister its own.
    WebhooksMyWrite,
    /// `webhooks--all:read`: every webhook of the license.
    WebhooksAllRead,
    /// `webhooks--all:write`: unregister any webhook of the license.
    WebhooksAllWrite,
}

impl Grant {
    /// The protocol's name, e.g. `chats--all:read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::ChatsAllRead => "chats--all:read",
            Grant::ChatsMyRead => "chats--my:read",
            Grant::ConversationAllWrite => "chats.conversation--all:write",
            Grant::ConversationMyWrite => "chats.conversation--my:write",
            Grant::MetaAllWrite => "chats.meta--all:write",
            Grant::MetaMyWrite => "chats.meta--my:write",
            Grant::MulticastWrite => "multicast:write",
            Grant::CustomersBanWrite => "customers.ban:write",
            Grant::AgentsMyWrite => "agents--my:write",
            Grant::AgentsAllWrite => "agents--all:write",
            Grant::AutoChatScopesRead => "auto_chat_scopes:read",
            Grant::AutoChatScopesWrite => "auto_chat_scopes:write",
            Grant::CustomersIdentityManage => "customers.identity--manage",
            Grant::PropertiesMyRead => "properties--my:read",
            Grant::PropertiesMyWrite => "properties--my:write",
            Grant::PropertiesAllRead => "properties--all:read",
            Grant::WebhooksMyRead => "webhooks--my:read",
            Grant::WebhooksMyWrite => "webhooks--my:write",
            Grant::WebhooksAllRead => "webhooks--all:read",
            Grant::WebhooksAllWrite => "webhooks--all:write",
        }
    }
}

/// Which level holds which grant: `(grant, [owner, administrator, normal])`, as v0.5's
/// `authorization/scopes.md` lists them (its "permission" column is the lowest level that holds
/// the scope).
///
/// Owners and administrators hold every grant (no v0.5 permission separates them; owning the
/// license is the difference). Normal agents read their own chats (and, to pick one up, the
/// waiting ones), write to the conversation of any chat they may see, multicast and ban, and
/// configure nothing. [`EngineConfig::strict_permissions`](crate::EngineConfig) takes the
/// last three from them ([`STRICT_DENIALS`]).
pub const PERMISSION_TABLE: [(Grant, [bool; 3]); 20] = [
    (Grant::ChatsAllRead, [true, true, false]),
    (Grant::ChatsMyRead, [true, true, true]),
    (Grant::ConversationAllWrite, [true, true, true]),
    (Grant::ConversationMyWrite, [true, true, true]),
    (Grant::MetaAllWrite, [true, true, false]),
    (Grant::MetaMyWrite, [true, true, true]),
    (Grant::MulticastWrite, [true, true, true]),
    (Grant::CustomersBanWrite, [true, true, true]),
    (Grant::CustomersIdentityManage, [true, true, false]),
    (Grant::AgentsMyWrite, [true, true, true]),
    (Grant::AgentsAllWrite, [true, true, false]),
    (Grant::AutoChatScopesRead, [true, true, false]),
    (Grant::AutoChatScopesWrite, [true, true, false]),
    (Grant::PropertiesMyRead, [true, true, false]),
    (Grant::PropertiesMyWrite, [true, true, false]),
    (Grant::PropertiesAllRead, [true, true, false]),
    (Grant::WebhooksMyRead, [true, true, false]),
    (Grant::WebhooksMyWrite, [true, true, false]),
    (Grant::WebhooksAllRead, [true, true, false]),
    (Grant::WebhooksAllWrite, [true, true, false]),
];

/// The grants [`EngineConfig::strict_permissions`](crate::EngineConfig) takes from normal
/// agents: writing to chats they are not in, multicasting and banning. The project's earlier
/// table kept these for administrators, so that a normal agent could neither disturb a
/// colleague's conversation nor reach every customer; a license that wants that still can.
pub const STRICT_DENIALS: [Grant; 3] = [
    Grant::ConversationAllWrite,
    Grant::MulticastWrite,
    Grant::CustomersBanWrite,
];

/// Whether a level holds a grant, per [`PERMISSION_TABLE`] (the documented table, without
/// [`STRICT_DENIALS`]).
pub fn holds(level: Permission, grant: Grant) -> bool {
    let column = match level {
        Permission::Owner => 0,
        Permission::Administrator => 1,
        Permission::Normal => 2,
    };
    PERMISSION_TABLE
        .iter()
        .find(|(g, _)| *g == grant)
        .is_some_and(|(_, levels)| levels[column])
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_of_the_table() {
        use Permission::*;
        for (grant, levels) in PERMISSION_TABLE {
            assert_eq!(holds(Owner, grant), levels[0], "{grant:?} owner");
            assert_eq!(
                holds(Administrator, grant),
                levels[1],
                "{grant:?} administrator"
            );
            assert_eq!(holds(Normal, grant), levels[2], "{grant:?} normal");
        }
        // The rows that make a normal agent normal.
        // The rows of scopes.md whose permission is "normal", and those that are not.
        assert!(holds(Normal, Grant::ConversationAllWrite));
        assert!(holds(Normal, Grant::ConversationMyWrite));
        assert!(holds(Normal, Grant::MulticastWrite));
        assert!(holds(Normal, Grant::CustomersBanWrite));
        assert!(!holds(Normal, Grant::ChatsAllRead));
        assert!(!holds(Normal, Grant::MetaAllWrite));
        assert!(!holds(Normal, Grant::AgentsAllWrite));
        assert!(!holds(Normal, Grant::WebhooksMyWrite));
        assert!(holds(Administrator, Grant::AgentsAllWrite));
    }
}
