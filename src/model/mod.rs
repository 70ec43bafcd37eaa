//! The conversation model: plain data and its validation. The model never calls the engine.

mod archived;
mod assignment;
mod bot;
pub(crate) mod chat;
pub(crate) mod custom_ids;
mod event;
mod event_de;
pub(crate) mod events;
mod file;
mod filters;
mod form;
mod ids;
mod json_depth;
mod last_seen;
mod license;
mod permission;
mod properties;
mod property_config;
mod recorded_event;
mod request;
mod rich_message;
mod scopes;
mod text;
mod thin;
mod thread;
mod threads;
mod timestamp;
mod user;
mod webhook;

pub use archived::{Archived, ArchivedThread};
pub use assignment::{Assignment, EventMark};
pub use bot::{
    BotAgent, BotAgentUpdate, BotGroup, BotStatus, BotWebhookAction, BotWebhooks, GroupPriority,
    MAX_BOT_GROUPS, MAX_BOT_WEBHOOK_ACTIONS, NewBotAgent,
};
pub(crate) use bot::{check_avatar, check_bot_groups};
pub use chat::Chat;
pub use event::{Event, EventKind, MAX_CUSTOM_ID_LEN, NewEvent, Recipients};
pub use events::{Events, Iter as EventsIter};
pub use file::{File, MAX_FILE_SIZE};
pub use filters::{PropertyFilter, PropertyFilters, UrlFilter, UrlMatch, properties_match};
pub use form::{FormField, FormFieldKind, FormOption};
pub use ids::{ChatId, EventId, GroupId, MAX_USER_ID_LEN, ThreadId, UserId};
pub use json_depth::MAX_JSON_DEPTH;
pub(crate) use json_depth::{check_json_depth, check_json_map_depth};
pub use last_seen::LastSeen;
pub use license::License;
pub use permission::{Grant, PERMISSION_TABLE, STRICT_DENIALS, holds};
pub use properties::{Properties, PropertyValue};
pub(crate) use property_config::PropertyRefusal;
pub use property_config::{
    Access, Domain, Location, LocationAccess, MAX_PROPERTY_DESCRIPTION_LEN, PropertyConfig,
    PropertyRegistry, PropertyType,
};
pub use recorded_event::RecordedEvent;
pub use request::{CustomerUpdate, MulticastScopes, Pagination, StartChat};
pub use rich_message::{Button, MAX_RICH_ITEMS, RichElement, RichImage, RichMessage};
pub use scopes::Scopes;
pub use thin::{Emptiable, Thin};
pub use thread::Thread;
pub use threads::Threads;
pub use timestamp::Timestamp;
pub use user::{
    Agent, AgentKind, Customer, DEFAULT_MAX_CHATS, MAX_BAN_DAYS, MAX_NAME_LEN, MAX_PAGE_LEN,
    MAX_TIMEZONE_LEN, Page, Permission, Role, User,
};
pub(crate) use user::{
    check_customer_email, check_customer_fields, check_customer_name, check_page, check_referrer,
    check_timezone,
};
pub use webhook::{
    ChatMemberIds, MAX_SECRET_KEY_LEN, MAX_WEBHOOK_DESCRIPTION_LEN, MAX_WEBHOOK_URL_LEN,
    NewWebhook, Webhook, WebhookAction, WebhookFilters, WebhookSubject,
};

pub(crate) use event::non_empty;
pub(crate) use text::{check_label, check_text};

/// Pushes onto a list that lives as long as the license and stays short (a chat's agents, a
/// customer's chats): growing by half instead of doubling, from room for one, keeps what such
/// lists leave empty to a few bytes, where `Vec`'s first push alone makes room for four.
pub(crate) fn push_tight<T>(list: &mut Vec<T>, item: T) {
    if list.len() == list.capacity() {
        list.reserve_exact((list.len() / 2).max(1));
    }
    list.push(item);
}
pub(crate) use form::looks_like_email;
