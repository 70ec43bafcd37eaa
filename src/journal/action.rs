//! The actions a journal records: one variant per command of each facade, holding the
//! arguments the facade was given, so that replaying it calls the same method again.

use serde::{Deserialize, Serialize};

use super::RecordedEvent;
use crate::api::{CustomerUpdate, MulticastScopes, StartChat};
use crate::engine::{AutoScopeRules, TransferTarget};
use crate::model::{
    ChatId, EventId, File, Properties, Recipients, Scopes, ThreadId, Timestamp, UserId,
};
use crate::push::Postback;
use crate::routing::RoutingStatus;

/// A command of the Agent API, as the agent gave it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[allow(missing_docs)] // each variant is the facade method of the same name
pub enum AgentAction {
    StartChat {
        customer_id: Option<UserId>,
        chat: StartChat,
    },
    JoinChat {
        chat_id: ChatId,
        agent_ids: Vec<UserId>,
    },
    RemoveFromChat {
        chat_id: ChatId,
        agent_ids: Vec<UserId>,
        customer_ids: Vec<UserId>,
    },
    SendEvent {
        chat_id: ChatId,
        event: RecordedEvent,
    },
    SendRichMessagePostback {
        chat_id: ChatId,
        thread_id: ThreadId,
        event_id: EventId,
        postback: Postback,
    },
    Multicast {
        scopes: MulticastScopes,
        content: serde_json::Value,
    },
    SendTypingIndicator {
        chat_id: ChatId,
        recipients: Recipients,
        is_typing: bool,
    },
    CloseThread {
        chat_id: ChatId,
    },
    UpdateAgent {
        agent_id: Option<UserId>,
        routing_status: Option<RoutingStatus>,
    },
    BanCustomer {
        customer_id: UserId,
        days: u32,
    },
    TransferChat {
        chat_id: ChatId,
        target: TransferTarget,
    },
    UpdateChatProperties {
        chat_id: ChatId,
        properties: Properties,
    },
    UpdateChatThreadProperties {
        chat_id: ChatId,
        thread_id: ThreadId,
        properties: Properties,
    },
    UpdateChatScopes {
        chat_id: ChatId,
        add_scopes: Scopes,
        remove_scopes: Scopes,
    },
    AddAutoChatScopes {
        description: Option<String>,
        scopes: Scopes,
        rules: AutoScopeRules,
    },
    RemoveAutoChatScopes {
        id: String,
    },
    UpdateLastSeenTimestamp {
        chat_id: ChatId,
        timestamp: Option<Timestamp>,
    },
}

/// A command of the Customer API, as the customer gave it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[allow(missing_docs)] // each variant is the facade method of the same name
pub enum CustomerAction {
    StartChat {
        chat: StartChat,
    },
    SendEvent {
        chat_id: ChatId,
        event: RecordedEvent,
    },
    SendFile {
        chat_id: ChatId,
        custom_id: Option<String>,
        file: File,
    },
    SendRichMessagePostback {
        chat_id: ChatId,
        thread_id: ThreadId,
        event_id: EventId,
        postback: Postback,
    },
    SendSneakPeek {
        chat_id: ChatId,
        text: String,
    },
    SendTypingIndicator {
        chat_id: ChatId,
        is_typing: bool,
    },
    CloseThread {
        chat_id: ChatId,
    },
    UpdateCustomer {
        update: CustomerUpdate,
    },
    UpdateChatProperties {
        chat_id: ChatId,
        properties: Properties,
    },
    UpdateChatThreadProperties {
        chat_id: ChatId,
        thread_id: ThreadId,
        properties: Properties,
    },
    UpdateChatScopes {
        chat_id: ChatId,
        add_scopes: Scopes,
        remove_scopes: Scopes,
    },
    UpdateLastSeenTimestamp {
        chat_id: ChatId,
        timestamp: Option<Timestamp>,
    },
}
