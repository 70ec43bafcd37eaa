//! Random commands: every variant of [`Command`], [`AgentCommand`], [`CustomerCommand`] and
//! [`HostCommand`], with arguments picked from a [`Pool`] and small menus of values, valid and
//! invalid.
//!
//! A command added to the engine must be added here too: [`super::requests`] matches every
//! variant, so it stops compiling until the new one is rendered (or said to have no request),
//! and this module's tests check that each name in [`AGENT_ACTIONS`], [`CUSTOMER_ACTIONS`] and
//! [`HOST_ACTIONS`] is drawn by the generator at its index, and that the lists hold every
//! variant the command types deserialize.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::json;

use super::{Draw, Pool};
use crate::engine::TransferTarget;
use crate::engine::{AgentCommand, AutoScopeRules, Command, CustomerCommand, HostCommand};
use crate::model::{
    Agent, BotAgentUpdate, BotGroup, BotStatus, Button, Customer, CustomerUpdate, EventKind, File,
    FormField, FormFieldKind, GroupPriority, MulticastScopes, NewBotAgent, NewEvent, NewWebhook,
    Page, Properties, PropertyConfig, PropertyType, Recipients, RichElement, RichMessage, Scopes,
    StartChat, Timestamp, UrlFilter, UrlMatch, UserId, WebhookAction, WebhookFilters,
};
use crate::push::Postback;
use crate::routing::RoutingStatus;

/// The Agent API's commands, by their protocol action, in the order the generator numbers
/// them.
pub const AGENT_ACTIONS: [&str; 23] = [
    "start_chat",
    "join_chat",
    "remove_from_chat",
    "send_event",
    "send_rich_message_postback",
    "multicast",
    "send_typing_indicator",
    "close_thread",
    "update_agent",
    "ban_customer",
    "transfer_chat",
    "update_chat_properties",
    "update_chat_thread_properties",
    "update_chat_scopes",
    "add_auto_chat_scopes",
    "remove_auto_chat_scopes",
    "update_last_seen_timestamp",
    "create_properties",
    "register_webhook",
    "unregister_webhook",
    "create_bot_agent",
    "update_bot_agent",
    "remove_bot_agent",
];

/// The Customer API's commands, by their protocol action, in the order the generator
/// numbers them.
pub const CUSTOMER_ACTIONS: [&str; 12] = [
    "start_chat",
    "send_event",
    "send_file",
    "send_rich_message_postback",
    "send_sneak_peek",
    "send_typing_indicator",
    "close_thread",
    "update_customer",
    "update_chat_properties",
    "update_chat_thread_properties",
    "update_chat_scopes",
    "update_last_seen_timestamp",
];

/// The host's commands, by the [`Engine`](crate::Engine) method's name, in the order the
/// generator numbers them.
pub const HOST_ACTIONS: [&str; 10] = [
    "add_agent",
    "add_customer",
    "create_customer",
    "configure_property",
    "set_router",
    "set_agent_presence",
    "update_agent_profile",
    "tick",
    "archive_threads",
    "remove_agent",
];

/// The name of a command variant, as it serializes: the protocol action of an API command,
/// the [`Engine`](crate::Engine) method of a host command.
pub fn action<C: serde::Serialize>(command: &C) -> String {
    match serde_json::to_value(command) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(serde_json::Value::Object(map)) => map.keys().next().cloned().unwrap_or_default(),
        _ => String::new(),
    }
}

/// A command both APIs have, `$C::$Variant`, with its arguments drawn alike for both.
macro_rules! shared {
    ($C:ident::SendEvent, $pool:ident, $draw:ident) => {
        $C::SendEvent {
            chat_id: one(&$pool.chats, $draw),
            event: event($pool, $draw).into(),
        }
    };
    ($C:ident::SendRichMessagePostback, $pool:ident, $draw:ident) => {
        $C::SendRichMessagePostback {
            chat_id: one(&$pool.chats, $draw),
            thread_id: one(&$pool.threads, $draw),
            event_id: one(&$pool.events, $draw),
            postback: postback($draw),
        }
    };
    ($C:ident::CloseThread, $pool:ident, $draw:ident) => {
        $C::CloseThread {
            chat_id: one(&$pool.chats, $draw),
        }
    };
    ($C:ident::UpdateChatProperties, $pool:ident, $draw:ident) => {
        $C::UpdateChatProperties {
            chat_id: one(&$pool.chats, $draw),
            properties: properties($pool, $draw),
        }
    };
    ($C:ident::UpdateChatThreadProperties, $pool:ident, $draw:ident) => {
        $C::UpdateChatThreadProperties {
            chat_id: one(&$pool.chats, $draw),
            thread_id: one(&$pool.threads, $draw),
            properties: properties($pool, $draw),
        }
    };
    ($C:ident::UpdateChatScopes, $pool:ident, $draw:ident) => {
        $C::UpdateChatScopes {
            chat_id: one(&$pool.chats, $draw),
            add_scopes: scopes($pool, $draw),
            remove_scopes: scopes($pool, $draw),
        }
    };
    ($C:ident::UpdateLastSeenTimestamp, $pool:ident, $draw:ident) => {
        $C::UpdateLastSeenTimestamp {
            chat_id: one(&$pool.chats, $draw),
            timestamp: last_seen($draw),
        }
    };
}

/// Any command: an agent's (4 in 9), a customer's (4 in 9) or the host's (1 in 9), made by a
/// user of the pool (and more often a customer's `start_chat` while the license has few
/// chats).
pub fn command(pool: &Pool, draw: &mut impl Draw) -> Command {
    // While there are fewer chats than customers, a quarter of the commands start one: most
    // commands name a chat, and would name none.
    if pool.chats.len() <= pool.customers.len() && draw.below(4) == 3 {
        return Command::Customer {
            customer_id: one(&pool.customers, draw),
            command: CustomerCommand::StartChat {
                chat: start_chat(pool, draw),
            },
        };
    }
    let api = draw.below(9);
    if api == 8 {
        return Command::Host(host_command(pool, draw));
    }
    let agent = api < 4;
    let user = one(if agent { &pool.agents } else { &pool.customers }, draw);
    let pool = around(pool, &user, draw.flip());
    if agent {
        let command = agent_command(&pool, draw);
        Command::Agent {
            agent_id: user,
            command,
        }
    } else {
        let command = customer_command(&pool, draw);
        Command::Customer {
            customer_id: user,
            command,
        }
    }
}

/// The pool, or (`nearby`) the pool of the chats `user` is in. Half the time a user names
/// only chats it is in, which it may act on: a request about a chat picked from all of them is
/// mostly refused.
fn around<'p>(pool: &'p Pool, user: &UserId, nearby: bool) -> Cow<'p, Pool> {
    if nearby {
        Cow::Owned(pool.around(user))
    } else {
        Cow::Borrowed(pool)
    }
}

/// A command of the Agent API; the first choice is its index in [`AGENT_ACTIONS`].
pub fn agent_command(pool: &Pool, draw: &mut impl Draw) -> AgentCommand {
    use AgentCommand as A;
    match draw.below(AGENT_ACTIONS.len()) {
        0 => A::StartChat {
            customer_id: draw.flip().then(|| one(&pool.customers, draw)),
            chat: start_chat(pool, draw),
        },
        1 => A::JoinChat {
            chat_id: one(&pool.chats, draw),
            agent_ids: vec![one(&pool.agents, draw)],
        },
        2 => A::RemoveFromChat {
            chat_id: one(&pool.chats, draw),
            agent_ids: some_of(&pool.agents, draw),
            customer_ids: some_of(&pool.customers, draw),
        },
        3 => shared!(A::SendEvent, pool, draw),
        4 => shared!(A::SendRichMessagePostback, pool, draw),
        5 => A::Multicast {
            scopes: MulticastScopes {
                all_agents: draw.flip(),
                agent_ids: some_of(&pool.agents, draw),
                groups: some_of(&pool.groups, draw),
                customer_ids: some_of(&pool.customers, draw),
            },
            content: json!({ "n": draw.below(3) }),
        },
        6 => A::SendTypingIndicator {
            chat_id: one(&pool.chats, draw),
            recipients: *draw.pick(&[Recipients::All, Recipients::Agents]),
            is_typing: draw.flip(),
        },
        7 => shared!(A::CloseThread, pool, draw),
        8 => A::UpdateAgent {
            agent_id: draw.flip().then(|| one(&pool.agents, draw)),
            routing_status: *draw.pick(&[
                None,
                Some(RoutingStatus::AcceptingChats),
                Some(RoutingStatus::NotAcceptingChats),
            ]),
        },
        9 => A::BanCustomer {
            customer_id: one(&pool.customers, draw),
            days: *draw.pick(&[1, 7, 0]),
        },
        10 => A::TransferChat {
            chat_id: one(&pool.chats, draw),
            target: if draw.flip() {
                TransferTarget::Group(one(&pool.groups, draw))
            } else {
                TransferTarget::Agent(one(&pool.agents, draw))
            },
        },
        11 => shared!(A::UpdateChatProperties, pool, draw),
        12 => shared!(A::UpdateChatThreadProperties, pool, draw),
        13 => shared!(A::UpdateChatScopes, pool, draw),
        14 => A::AddAutoChatScopes {
            description: draw.flip().then(|| "pricing pages".to_owned()),
            scopes: scopes(pool, draw),
            rules: auto_scope_rules(draw),
        },
        15 => A::RemoveAutoChatScopes {
            id: one(&pool.auto_chat_scopes, draw),
        },
        16 => shared!(A::UpdateLastSeenTimestamp, pool, draw),
        17 => A::CreateProperties {
            properties: vec![property_config(draw)],
        },
        18 => A::RegisterWebhook {
            webhook: webhook(draw),
        },
        19 => A::UnregisterWebhook {
            webhook_id: one(&pool.webhooks, draw),
        },
        20 => A::CreateBotAgent {
            bot: NewBotAgent {
                name: "Greeter".to_owned(),
                avatar: None,
                status: *draw.pick(&[
                    BotStatus::AcceptingChats,
                    BotStatus::NotAcceptingChats,
                    BotStatus::Offline,
                ]),
                max_chats_count: draw.flip().then(|| draw.below(4) as u32),
                groups: bot_groups(pool, draw),
                webhooks: None,
            },
        },
        21 => A::UpdateBotAgent {
            update: BotAgentUpdate {
                id: one(&pool.agents, draw),
                name: draw.flip().then(|| "Helper".to_owned()),
                avatar: None,
                status: draw
                    .flip()
                    .then(|| *draw.pick(&[BotStatus::AcceptingChats, BotStatus::Offline])),
                max_chats_count: None,
                groups: draw.flip().then(|| bot_groups(pool, draw)),
                webhooks: None,
            },
        },
        _ => A::RemoveBotAgent {
            bot_agent_id: one(&pool.agents, draw),
        },
    }
}

/// A command of the Customer API; the first choice is its index in [`CUSTOMER_ACTIONS`].
pub fn customer_command(pool: &Pool, draw: &mut impl Draw) -> CustomerCommand {
    use CustomerCommand as C;
    match draw.below(CUSTOMER_ACTIONS.len()) {
        0 => C::StartChat {
            chat: start_chat(pool, draw),
        },
        1 => shared!(C::SendEvent, pool, draw),
        2 => C::SendFile {
            chat_id: one(&pool.chats, draw),
            custom_id: custom_id(draw),
            file: file(draw),
        },
        3 => shared!(C::SendRichMessagePostback, pool, draw),
        4 => C::SendSneakPeek {
            chat_id: one(&pool.chats, draw),
            text: (*draw.pick(&["I am typ", ""])).to_owned(),
        },
        5 => C::SendTypingIndicator {
            chat_id: one(&pool.chats, draw),
            is_typing: draw.flip(),
        },
        6 => shared!(C::CloseThread, pool, draw),
        7 => C::UpdateCustomer {
            update: CustomerUpdate {
                name: draw.flip().then(|| "Jan".to_owned()),
                email: draw.flip().then(|| "jan@example.com".to_owned()),
                fields: if draw.flip() {
                    BTreeMap::from([("plan".to_owned(), "gold".to_owned())])
                } else {
                    BTreeMap::new()
                },
                current_page: draw.flip().then(|| Page {
                    url: Some("https://shop.example.com/pricing".into()),
                    title: Some("Pricing".into()),
                }),
                referrer: draw
                    .flip()
                    .then(|| "https://search.example.com/?q=shop".to_owned()),
                timezone: draw.flip().then(|| "Europe/Warsaw".to_owned()),
            },
        },
        8 => shared!(C::UpdateChatProperties, pool, draw),
        9 => shared!(C::UpdateChatThreadProperties, pool, draw),
        10 => shared!(C::UpdateChatScopes, pool, draw),
        _ => shared!(C::UpdateLastSeenTimestamp, pool, draw),
    }
}

/// A host command; the first choice is its index in [`HOST_ACTIONS`]. Users it adds come from
/// the pool (so adding a known one is refused; the pool's unknown users may be added).
pub fn host_command(pool: &Pool, draw: &mut impl Draw) -> HostCommand {
    use HostCommand as H;
    match draw.below(HOST_ACTIONS.len()) {
        0 => H::AddAgent(agent(pool, draw)),
        1 => H::AddCustomer(Customer::new(one(&pool.customers, draw))),
        2 => H::CreateCustomer { customer_id: None },
        3 => H::ConfigureProperty(property_config(draw)),
        4 => H::SetRouter {
            name: (*draw.pick(&["automatic", "manual", "round_robin", "least_loaded", "none"]))
                .to_owned(),
        },
        5 => H::SetAgentPresence {
            agent_id: one(&pool.agents, draw),
            online: draw.flip(),
        },
        6 => H::UpdateAgentProfile {
            agent: agent(pool, draw),
        },
        7 => H::Tick,
        // A cut-off in the engine's past or far future, and a batch that may be refused (0).
        8 => H::ArchiveThreads {
            closed_before: Timestamp::from_unix_seconds(*draw.pick(&[1_700_000_000, i64::MAX / 2])),
            limit: *draw.pick(&[10, 1, 0]),
        },
        _ => H::RemoveAgent {
            agent_id: one(&pool.agents, draw),
        },
    }
}

/// An agent of the pool, with a group of the pool and a capacity.
fn agent(pool: &Pool, draw: &mut impl Draw) -> Agent {
    Agent::new(one(&pool.agents, draw), "Agent")
        .with_groups([one(&pool.groups, draw)])
        .with_max_chats(*draw.pick(&[2, 1, 0]))
}

/// A member of a pool's list: its last, which names nothing, one time in eight, else one of
/// the others (if there are any).
fn one<T: Clone>(items: &[T], draw: &mut impl Draw) -> T {
    match items.split_last() {
        Some((_, known)) if !known.is_empty() && draw.below(8) != 0 => draw.pick(known).clone(),
        Some((unknown, _)) => unknown.clone(),
        None => unreachable!("every pool list ends with an unknown member"),
    }
}

/// None, one or two members of `items`.
fn some_of<T: Clone>(items: &[T], draw: &mut impl Draw) -> Vec<T> {
    (0..draw.below(3))
        .map(|_| draw.pick(items).clone())
        .collect()
}

fn start_chat(pool: &Pool, draw: &mut impl Draw) -> StartChat {
    StartChat {
        scopes: if draw.flip() {
            scopes(pool, draw)
        } else {
            Scopes::default()
        },
        properties: if draw.flip() {
            properties(pool, draw)
        } else {
            Properties::new()
        },
        thread_properties: Properties::new(),
        events: (0..draw.below(3)).map(|_| event(pool, draw)).collect(),
    }
}

/// A group, an agent, both, or none (which `update_chat_scopes` takes and
/// `add_auto_chat_scopes` refuses).
fn scopes(pool: &Pool, draw: &mut impl Draw) -> Scopes {
    let mut scopes = Scopes::default();
    match draw.below(4) {
        0 => {
            scopes.groups.insert(one(&pool.groups, draw));
        }
        1 => {
            scopes.agents.insert(one(&pool.agents, draw));
        }
        2 => {
            scopes.groups.insert(one(&pool.groups, draw));
            scopes.agents.insert(one(&pool.agents, draw));
        }
        _ => {}
    }
    scopes
}

/// One property of the pool with a value of its type (or, for the pool's last, unconfigured
/// one, of any type).
fn properties(pool: &Pool, draw: &mut impl Draw) -> Properties {
    let (namespace, name, value) = one(&pool.properties, draw);
    Properties::from([(namespace, BTreeMap::from([(name, value)]))])
}

/// An event of every kind the requests carry, a few of them invalid (empty text, an
/// annotation without a type, a rich message without elements, a form without a required
/// value), some for agents only or with properties, which not every requester may send.
fn event(pool: &Pool, draw: &mut impl Draw) -> NewEvent {
    // One event in eight is of an invalid kind.
    let kind = if draw.below(8) == 7 {
        6 + draw.below(3)
    } else {
        draw.below(6)
    };
    let mut event = match kind {
        0 => NewEvent::message("Hello"),
        1 => NewEvent::annotation("5 stars", "rating"),
        2 => NewEvent::system_message("Closed by the bot", "routing"),
        3 => {
            let mut content = serde_json::Map::new();
            content.insert("order".into(), json!(draw.below(3)));
            NewEvent::custom(content)
        }
        4 => NewEvent::new(EventKind::RichMessage(RichMessage {
            template_id: "cards".into(),
            elements: vec![RichElement {
                title: Some("Pick one".into()),
                buttons: vec![button("Yes", "yes"), button("No", "no")],
                ..RichElement::default()
            }],
        })),
        5 => NewEvent::new(EventKind::FilledForm {
            fields: vec![FormField {
                name: "name".into(),
                label: "Your name".into(),
                required: true,
                // Now and then without the value it requires.
                kind: FormFieldKind::Text {
                    value: (draw.below(4) != 3).then(|| "Jan".into()),
                },
            }],
        }),
        6 => NewEvent::message(""),
        7 => NewEvent::annotation("5 stars", ""),
        _ => NewEvent::new(EventKind::RichMessage(RichMessage {
            template_id: "cards".into(),
            elements: Vec::new(),
        })),
    };
    event.custom_id = custom_id(draw);
    if draw.below(8) == 7 {
        event.recipients = Recipients::Agents;
    }
    if draw.below(8) == 7 {
        event.properties = properties(pool, draw);
    }
    event
}

fn button(text: &str, postback_id: &str) -> Button {
    Button {
        text: text.into(),
        postback_id: postback_id.into(),
        user_ids: Vec::new(),
    }
}

/// Mostly no custom id, else one of two (so they repeat), and one time in eight an empty one
/// (invalid).
fn custom_id(draw: &mut impl Draw) -> Option<String> {
    let ids = [
        None,
        None,
        None,
        None,
        Some("c1"),
        Some("c2"),
        Some("c1"),
        Some(""),
    ];
    (*draw.pick(&ids)).map(str::to_owned)
}

fn postback(draw: &mut impl Draw) -> Postback {
    Postback {
        id: (*draw.pick(&["yes", "no", "maybe"])).to_owned(),
        toggled: draw.flip(),
    }
}

/// A picture, a document, one over the size limit, or a document claiming a width (invalid).
fn file(draw: &mut impl Draw) -> File {
    let pdf = File {
        name: "invoice.pdf".into(),
        url: "https://files.example.com/invoice.pdf".into(),
        content_type: "application/pdf".into(),
        size: 1000,
        width: None,
        height: None,
    };
    match draw.below(4) {
        0 => File {
            name: "photo.png".into(),
            url: "https://files.example.com/photo.png".into(),
            content_type: "image/png".into(),
            size: 2000,
            width: Some(640),
            height: Some(480),
        },
        1 => pdf,
        2 => File {
            size: 10 * 1024 * 1024 + 1,
            ..pdf
        },
        _ => File {
            width: Some(100),
            ..pdf
        },
    }
}

/// The requester's time, or a fixed moment of November 2023.
fn last_seen(draw: &mut impl Draw) -> Option<Timestamp> {
    draw.flip()
        .then(|| Timestamp::from_unix_seconds(1_700_000_000 + 60 * draw.below(3) as i64))
}

/// A URL rule (valid) or no rule at all (refused).
fn auto_scope_rules(draw: &mut impl Draw) -> AutoScopeRules {
    AutoScopeRules {
        chat_properties: Default::default(),
        customer_url: draw.flip().then(|| {
            UrlFilter::Values(vec![UrlMatch {
                value: "pricing".into(),
                exact_match: false,
            }])
        }),
    }
}

/// A property of the namespace `generated`, readable and writable by all, at the chat.
fn property_config(draw: &mut impl Draw) -> PropertyConfig {
    let name = *draw.pick(&["score", "source"]);
    let kind = *draw.pick(&[PropertyType::Int, PropertyType::String]);
    PropertyConfig::new("generated", name, kind).at(
        crate::model::Location::Chat,
        crate::model::LocationAccess {
            agent: crate::model::Access::READ_WRITE,
            customer: crate::model::Access::READ_WRITE,
        },
    )
}

/// A bot's groups: none, or one of the pool's with a priority.
fn bot_groups(pool: &Pool, draw: &mut impl Draw) -> Vec<BotGroup> {
    if draw.flip() {
        return Vec::new();
    }
    vec![BotGroup {
        id: one(&pool.groups, draw),
        priority: *draw.pick(&[
            GroupPriority::First,
            GroupPriority::Normal,
            GroupPriority::Last,
        ]),
    }]
}

fn webhook(draw: &mut impl Draw) -> NewWebhook {
    NewWebhook {
        url: "https://hooks.example.com/chatio".into(),
        description: None,
        action: *draw.pick(&[
            WebhookAction::IncomingChatThread,
            WebhookAction::IncomingEvent,
            WebhookAction::ChatUsersUpdated,
        ]),
        secret_key: (*draw.pick(&["s3cret", ""])).to_owned(),
        filters: WebhookFilters::default(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::UserId;
    use crate::testing::Choices;

    /// Draws the command of each index of `actions` and checks its name; checks that `actions`
    /// are all the variants of `C`.
    fn drawn<C>(actions: &[&str], draw: impl Fn(&Pool, &mut Choices) -> C)
    where
        C: serde::Serialize + serde::de::DeserializeOwned,
    {
        let pool = Pool::new(
            vec![UserId::new("anna@example.com").unwrap()],
            vec![UserId::new("customer-jan").unwrap()],
        );
        for (i, name) in actions.iter().enumerate() {
            let command = draw(&pool, &mut Choices::new(&[i as u32]));
            assert_eq!(action(&command), *name);
        }
        // serde lists every variant of the type when it meets an unknown one.
        let err = serde_json::from_str::<C>(r#"{"no such command": null}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let variants: BTreeSet<&str> = err.split('`').skip(3).step_by(2).collect();
        assert_eq!(variants, actions.iter().copied().collect(), "{err}");
    }

    #[test]
    fn every_action_is_drawn_at_its_index() {
        drawn(&AGENT_ACTIONS, |p, d| agent_command(p, d));
        drawn(&CUSTOMER_ACTIONS, |p, d| customer_command(p, d));
        drawn(&HOST_ACTIONS, |p, d| host_command(p, d));
    }
}
