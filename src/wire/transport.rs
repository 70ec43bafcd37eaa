//! Which transports v0.5 offers each action on: RTM (WebSocket), the Web API (HTTP), or both.
//!
//! [`handle`](super::handle) does not know the transport a request came by, so a host serving
//! the Web API consults [`offered`] and refuses an RTM-only action itself, before calling it.

use super::Api;

/// Which transports chat.io v0.5 offers an action on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offered {
    /// RTM and the Web API.
    Both,
    /// RTM only: a Web API host should refuse it without calling [`handle`](super::handle).
    RtmOnly,
    /// The Web API only. [`handle`](super::handle) serves what the engine implements of these
    /// whatever the transport (the customer's `send_file`, with the file's metadata as payload).
    WebOnly,
    /// Not in a method table of the reference: `ping` (RTM's keep-alive message) and the
    /// actions the engine takes from later protocol versions. Hosts serve them on both.
    Unlisted,
}

/// Every action of both APIs and the transports it is offered on. Taken from the `RTM API` and `Web API` columns of the small table heading each
/// method in the v0.5 Agent and Customer API references (repository `livechat/chat.io-docs`,
/// `site/content/{agent,customer}-api/api-reference/v0.5/README.md`), plus the `Unlisted`
/// actions this module implements. A name missing here is one [`handle`](super::handle) refuses
/// as unknown (`validation`) on either transport.
#[rustfmt::skip] // one action a line
pub const TRANSPORTS: &[(Api, &str, Offered)] = &[
    (Api::Agent, "login", Offered::RtmOnly),
    (Api::Agent, "get_archives", Offered::RtmOnly),
    (Api::Agent, "get_filtered_chats", Offered::RtmOnly),
    (Api::Agent, "get_chat_threads", Offered::RtmOnly),
    (Api::Agent, "start_chat", Offered::Both),
    (Api::Agent, "join_chat", Offered::Both),
    (Api::Agent, "remove_from_chat", Offered::Both),
    (Api::Agent, "send_event", Offered::Both),
    (Api::Agent, "send_rich_message_postback", Offered::Both),
    (Api::Agent, "multicast", Offered::Both),
    (Api::Agent, "send_typing_indicator", Offered::Both),
    (Api::Agent, "ban_customer", Offered::Both),
    (Api::Agent, "close_thread", Offered::Both),
    (Api::Agent, "update_chat_scopes", Offered::Both),
    (Api::Agent, "update_agent", Offered::RtmOnly),
    (Api::Agent, "change_push_notifications", Offered::RtmOnly),
    (Api::Agent, "update_chat_properties", Offered::Both),
    (Api::Agent, "update_chat_thread_properties", Offered::Both),
    (Api::Agent, "update_last_seen_timestamp", Offered::Both),
    (Api::Agent, "add_auto_chat_scopes", Offered::RtmOnly),
    (Api::Agent, "remove_auto_chat_scopes", Offered::RtmOnly),
    (Api::Agent, "get_auto_chat_scopes_config", Offered::RtmOnly),
    (Api::Agent, "upload_image", Offered::WebOnly),
    (Api::Agent, "ping", Offered::Unlisted),
    (Api::Agent, "get_chat_threads_summary", Offered::Unlisted),
    (Api::Agent, "transfer_chat", Offered::Unlisted),
    (Api::Customer, "login", Offered::RtmOnly),
    (Api::Customer, "get_chats_summary", Offered::RtmOnly),
    (Api::Customer, "get_chat_threads", Offered::RtmOnly),
    (Api::Customer, "get_chat_threads_summary", Offered::RtmOnly),
    (Api::Customer, "start_chat", Offered::Both),
    (Api::Customer, "send_event", Offered::Both),
    (Api::Customer, "send_file", Offered::WebOnly),
    (Api::Customer, "send_rich_message_postback", Offered::Both),
    (Api::Customer, "send_sneak_peek", Offered::Both),
    (Api::Customer, "close_thread", Offered::Both),
    (Api::Customer, "update_chat_scopes", Offered::Both),
    (Api::Customer, "update_customer", Offered::Both),
    (Api::Customer, "update_chat_properties", Offered::Both),
    (Api::Customer, "update_chat_thread_properties", Offered::Both),
    (Api::Customer, "update_last_seen_timestamp", Offered::RtmOnly),
    (Api::Customer, "ping", Offered::Unlisted),
    (Api::Customer, "send_typing_indicator", Offered::Unlisted),
    (Api::Customer, "get_queue_position", Offered::Unlisted),
];

/// Where [`TRANSPORTS`] says `action` is offered on `api`; `None` for a name it does not list.
///
/// ```
/// use chatio::wire::{offered, Api, Offered};
/// assert_eq!(offered(Api::Agent, "login"), Some(Offered::RtmOnly));
/// assert_eq!(offered(Api::Customer, "send_event"), Some(Offered::Both));
/// assert_eq!(offered(Api::Agent, "fly"), None);
/// ```
pub fn offered(api: Api, action: &str) -> Option<Offered> {
    TRANSPORTS
        .iter()
        .find(|&&(a, name, _)| a == api && name == action)
        .map(|&(_, _, offered)| offered)
}
