//! Errors: one type, whose kind maps to the protocol's error types.

use serde::{Deserialize, Serialize};

use crate::model::{ChatId, EventId, ThreadId, Timestamp, UserId};

/// The protocol's error types (the `error.type` of a v0.5 error payload).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// Something went wrong inside the server.
    Internal,
    /// The request is malformed or refers to something that does not exist or is in the wrong
    /// state.
    Validation,
    /// The requester may not do this.
    Authorization,
    /// The requester is not who it claims to be, or is unknown.
    Authentication,
    /// The customer is banned.
    CustomerBanned,
    /// The request took too long.
    RequestTimeout,
    /// The license has expired.
    LicenseExpired,
    /// The protocol version is not supported.
    UnsupportedVersion,
}

impl ErrorKind {
    /// The protocol's name for the kind, e.g. `"validation"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Internal => "internal",
            ErrorKind::Validation => "validation",
            ErrorKind::Authorization => "authorization",
            ErrorKind::Authentication => "authentication",
            ErrorKind::CustomerBanned => "customer_banned",
            ErrorKind::RequestTimeout => "request_timeout",
            ErrorKind::LicenseExpired => "license_expired",
            ErrorKind::UnsupportedVersion => "unsupported_version",
        }
    }
}

/// Why a request was refused. Each variant names what failed and which id.
///
/// A refused request changes nothing in the engine.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A field of the request is malformed.
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// The field, as the protocol names it (e.g. `event.text`).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The engine broke one of its own rules: a bug, never a property of the request. No
    /// input is known to cause it; it exists so that such a bug is an error rather than a
    /// panic.
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// The requester is unknown to the engine.
    #[error("unknown user {0}: not an agent or customer of this license")]
    UnknownRequester(UserId),
    /// No chat has this id.
    #[error("chat {0} not found")]
    ChatNotFound(ChatId),
    /// The chat cannot take more events with a `custom_id`: it holds 2^32 events, the most its
    /// index numbers.
    #[error("chat {chat_id} is full: {reason}")]
    ChatFull {
        /// The chat.
        chat_id: ChatId,
        /// Which bound it reached.
        reason: &'static str,
    },
    /// The chat has no thread with this id.
    #[error("thread {thread_id} not found in chat {chat_id}")]
    ThreadNotFound {
        /// The chat.
        chat_id: ChatId,
        /// The missing thread.
        thread_id: ThreadId,
    },
    /// The thread has no event with this id (that the requester may see).
    #[error("event {event_id} not found in thread {thread_id}")]
    EventNotFound {
        /// The thread.
        thread_id: ThreadId,
        /// The missing event.
        event_id: EventId,
    },
    /// No agent has this id.
    #[error("agent {0} not found")]
    AgentNotFound(UserId),
    /// No customer has this id.
    #[error("customer {0} not found")]
    CustomerNotFound(UserId),
    /// A user with this id is already registered.
    #[error("user {0} already exists")]
    UserExists(UserId),
    /// The chat has no active thread to act on.
    #[error("chat {0} has no active thread")]
    NoActiveThread(ChatId),
    /// The requester may not see or act on this chat.
    #[error("user {user_id} has no access to chat {chat_id}")]
    ChatAccessDenied {
        /// The requester.
        user_id: UserId,
        /// The chat.
        chat_id: ChatId,
    },
    /// The requester may not perform this action.
    #[error("user {user_id} may not {action}: {reason}")]
    NotAllowed {
        /// The requester.
        user_id: UserId,
        /// The action refused.
        action: &'static str,
        /// Why.
        reason: String,
    },
    /// The customer is banned until the given time.
    #[error("customer {customer_id} is banned until {until}")]
    CustomerBanned {
        /// The banned customer.
        customer_id: UserId,
        /// When the ban ends.
        until: Timestamp,
    },
    /// The license has expired: both APIs refuse every call made at or after its expiration
    /// time.
    #[error("license {license_id} expired at {expired_at}")]
    LicenseExpired {
        /// The license's id.
        license_id: String,
        /// When it expired (its `expiration_timestamp`).
        expired_at: Timestamp,
    },
    /// The customer already has as many chats as the license allows.
    #[error("customer {customer_id} already has {limit} chat(s); send events to it instead")]
    ChatLimitReached {
        /// The customer.
        customer_id: UserId,
        /// The configured limit.
        limit: u32,
    },
    /// The agent is already in the chat.
    #[error("agent {agent_id} is already in chat {chat_id}")]
    AlreadyInChat {
        /// The chat.
        chat_id: ChatId,
        /// The agent.
        agent_id: UserId,
    },
    /// The user is not in the chat.
    #[error("user {user_id} is not in chat {chat_id}")]
    NotInChat {
        /// The chat.
        chat_id: ChatId,
        /// The user.
        user_id: UserId,
    },
    /// The agent cannot take the chat now (offline, not accepting, full, or not allowed to see
    /// it).
    #[error("agent {agent_id} cannot take chat {chat_id} now")]
    CannotTakeChat {
        /// The chat.
        chat_id: ChatId,
        /// The agent.
        agent_id: UserId,
    },
    /// No agent of the group can take the chat now.
    #[error("no agent of group {group} can take chat {chat_id} now")]
    NoAgentInGroup {
        /// The chat.
        chat_id: ChatId,
        /// The group.
        group: crate::model::GroupId,
    },
    /// A property is unknown, not allowed where it was written, of the wrong type, or outside
    /// its domain.
    #[error("invalid property: {reason}")]
    InvalidProperty {
        /// What is wrong, naming the property as `namespace.name`.
        reason: String,
    },
    /// The requester's role may not write this property.
    #[error("user {user_id} may not write property {property}")]
    PropertyNotWritable {
        /// The requester.
        user_id: UserId,
        /// The property, as `namespace.name`.
        property: String,
    },
    /// The request would take the license past one of its [`Limits`](crate::Limits): an event,
    /// a customer's fields or a property value too large, or too many chats, events, agents or
    /// scopes. Nothing was changed; a smaller request, or one after something was removed or
    /// closed, may pass.
    #[error("limit {limit} exceeded: {requested} where at most {max} is allowed")]
    LimitExceeded {
        /// The limit, as [`Limits`](crate::Limits) names its field (e.g. `event_bytes`).
        limit: &'static str,
        /// Its configured value.
        max: u64,
        /// What the request would have made it (bytes or a count).
        requested: u64,
    },
    /// The event is not a rich message, or none of its buttons carries the postback.
    #[error("event {event_id} has no button with postback {postback_id:?}")]
    PostbackNotFound {
        /// The event.
        event_id: EventId,
        /// The postback asked for.
        postback_id: String,
    },
}

impl Error {
    /// The protocol error type this error maps to.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Internal(_) => ErrorKind::Internal,
            Error::UnknownRequester(_) => ErrorKind::Authentication,
            Error::ChatAccessDenied { .. }
            | Error::NotAllowed { .. }
            | Error::PropertyNotWritable { .. } => ErrorKind::Authorization,
            Error::CustomerBanned { .. } => ErrorKind::CustomerBanned,
            Error::LicenseExpired { .. } => ErrorKind::LicenseExpired,
            Error::InvalidField { .. }
            | Error::ChatNotFound(_)
            | Error::ChatFull { .. }
            | Error::ThreadNotFound { .. }
            | Error::EventNotFound { .. }
            | Error::AgentNotFound(_)
            | Error::CustomerNotFound(_)
            | Error::UserExists(_)
            | Error::NoActiveThread(_)
            | Error::ChatLimitReached { .. }
            | Error::AlreadyInChat { .. }
            | Error::NotInChat { .. }
            | Error::PostbackNotFound { .. }
            | Error::CannotTakeChat { .. }
            | Error::InvalidProperty { .. }
            | Error::LimitExceeded { .. }
            | Error::NoAgentInGroup { .. } => ErrorKind::Validation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_protocol_names() {
        let e = Error::NoActiveThread(ChatId::from_uuid(uuid::Uuid::nil()));
        assert_eq!(e.kind().as_str(), "validation");
        assert!(
            e.to_string()
                .contains("00000000-0000-0000-0000-000000000000")
        );
        let e = Error::UnknownRequester(UserId::new("x").unwrap());
        assert_eq!(e.kind().as_str(), "authentication");
        let e = Error::LicenseExpired {
            license_id: "104130623".into(),
            expired_at: Timestamp::from_unix_seconds(1_700_000_000),
        };
        assert_eq!(e.kind().as_str(), "license_expired");
        assert_eq!(e.to_string(), "license 104130623 expired at 1700000000");
    }

    #[test]
    fn limit_exceeded_is_a_validation_error_naming_the_limit() {
        let e = Error::LimitExceeded {
            limit: "event_bytes",
            max: 65_536,
            requested: 70_000,
        };
        assert_eq!(e.kind(), ErrorKind::Validation);
        assert_eq!(
            e.to_string(),
            "limit event_bytes exceeded: 70000 where at most 65536 is allowed"
        );
    }
}
