//! The v0.5 permission lists as one table: which [`Permission`] level holds which [`Grant`].
//!
//! Every agent action names the grant it needs (the engine's checks are in
//! `src/engine/permissions.rs`). Customers are not in the table: they act only on their own
//! chats, which the engine checks separately.

use super::Permission;

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
    /// `agents-bot--my:read`: the bots it owns.
    AgentsBotMyRead,
    /// `agents-bot--my:write`: create bots, and update and remove its own.
    AgentsBotMyWrite,
    /// `agents-bot--all:read`: every bot of the license.
    AgentsBotAllRead,
    /// `agents-bot--all:write`: remove any bot of the license (v0.5: "delete only").
    AgentsBotAllWrite,
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
            Grant::AgentsBotMyRead => "agents-bot--my:read",
            Grant::AgentsBotMyWrite => "agents-bot--my:write",
            Grant::AgentsBotAllRead => "agents-bot--all:read",
            Grant::AgentsBotAllWrite => "agents-bot--all:write",
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
pub const PERMISSION_TABLE: [(Grant, [bool; 3]); 24] = [
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
    (Grant::AgentsBotMyRead, [true, true, false]),
    (Grant::AgentsBotMyWrite, [true, true, false]),
    (Grant::AgentsBotAllRead, [true, true, false]),
    (Grant::AgentsBotAllWrite, [true, true, false]),
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
        // The rows of scopes.md whose permission is "normal", and those that are not.
        assert!(holds(Normal, Grant::ConversationAllWrite));
        assert!(holds(Normal, Grant::ConversationMyWrite));
        assert!(holds(Normal, Grant::MulticastWrite));
        assert!(holds(Normal, Grant::CustomersBanWrite));
        assert!(!holds(Normal, Grant::ChatsAllRead));
        assert!(!holds(Normal, Grant::MetaAllWrite));
        assert!(!holds(Normal, Grant::AgentsAllWrite));
        assert!(!holds(Normal, Grant::WebhooksMyWrite));
        assert!(!holds(Normal, Grant::AgentsBotMyWrite));
        assert!(holds(Administrator, Grant::AgentsBotAllWrite));
        assert!(holds(Administrator, Grant::AgentsAllWrite));
    }
}
