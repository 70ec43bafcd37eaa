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
        }
    }
}

/// Which level holds which grant: `(grant, [owner, administrator, normal])`.
///
/// Owners and administrators hold every grant (no v0.5 permission separates them; owning the
/// license is the difference). Normal agents read what they may see but write only to their own
/// chats, and configure nothing.
pub const PERMISSION_TABLE: [(Grant, [bool; 3]); 12] = [
    (Grant::ChatsAllRead, [true, true, true]),
    (Grant::ChatsMyRead, [true, true, true]),
    (Grant::ConversationAllWrite, [true, true, false]),
    (Grant::ConversationMyWrite, [true, true, true]),
    (Grant::MetaAllWrite, [true, true, false]),
    (Grant::MetaMyWrite, [true, true, true]),
    (Grant::MulticastWrite, [true, true, false]),
    (Grant::CustomersBanWrite, [true, true, false]),
    (Grant::AgentsMyWrite, [true, true, true]),
    (Grant::AgentsAllWrite, [true, true, false]),
    (Grant::AutoChatScopesRead, [true, true, false]),
    (Grant::AutoChatScopesWrite, [true, true, false]),
];

/// Whether a level holds a grant, per [`PERMISSION_TABLE`].
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
        // The rows that make a normal agent normal.
        assert!(!holds(Normal, Grant::ConversationAllWrite));
        assert!(holds(Normal, Grant::ConversationMyWrite));
        assert!(!holds(Normal, Grant::MetaAllWrite));
        assert!(!holds(Normal, Grant::MulticastWrite));
        assert!(!holds(Normal, Grant::CustomersBanWrite));
        assert!(!holds(Normal, Grant::AgentsAllWrite));
        assert!(holds(Administrator, Grant::AgentsAllWrite));
    }
}
