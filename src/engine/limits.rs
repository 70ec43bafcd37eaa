//! Limits: how much one request may make a license store, and how large a license may grow.
//!
//! Customers need no credentials, so whatever a customer's request can make the engine keep,
//! anyone can make it keep, again and again. Each limit bounds one such thing; the checks live
//! here and are called by the command handlers before anything changes, so a request over a
//! limit is refused whole with [`Error::LimitExceeded`] naming the limit.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Engine;
use crate::error::Error;
use crate::model::StartChat;
use crate::model::{Chat, EventKind, NewEvent, Properties, PropertyValue, Scopes, UserId};

/// The limits of a license: part of [`EngineConfig`](crate::EngineConfig), so snapshots carry
/// them and replay applies the same ones. `docs/limits.md` has the table of every limit, its
/// default and where it is checked.
///
/// The defaults are sized for real use: a long chat, a rich form, a busy agent's login fit
/// well within them. A request over a limit is refused with [`Error::LimitExceeded`]
/// (`validation`), naming the limit, and changes nothing. Configurations and snapshots written
/// before limits existed read every limit as its default, as does any limit a configuration
/// leaves out.
///
/// ```
/// use chatio::{Engine, EngineConfig, Limits};
/// let mut limits = Limits::default();
/// limits.event_bytes = 4_096;
/// let engine = Engine::new(EngineConfig::with_seed(1).limits(limits));
/// assert_eq!(engine.config().limits.event_bytes, 4_096);
/// assert_eq!(engine.config().limits.login_chats, 100);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Limits {
    /// The largest event a user may send, in bytes: the event as compact JSON, as its sender
    /// gives it (its `type`, text or content, `recipients`, `custom_id` and properties), before
    /// the engine adds its id, order, author and time. Every kind counts: messages, annotations,
    /// system messages, filled forms, files, custom events and rich messages. The same bound
    /// applies to a sneak peek's text and to a multicast's `content`. Default 64 KiB.
    pub event_bytes: u32,
    /// The most events a thread takes from its users: a message, or any other event, to a
    /// thread that holds this many is refused, as is a `start_chat` with more initial events.
    /// Closing the thread lets the chat go on in a new one. The engine's own system messages
    /// (an agent joined, routing, a ban) are written past it: they describe what happened
    /// and must not fail. Default 10 000.
    pub events_per_thread: u32,
    /// The most `fields` a customer may have, counted after `update_customer` merges its
    /// update into the fields it has. Default 100.
    pub customer_fields: u32,
    /// The most bytes a customer's `fields` may hold, keys and values together (UTF-8), counted
    /// after the merge. Default 32 KiB.
    pub customer_fields_bytes: u32,
    /// The longest string property value, in bytes (UTF-8), wherever it is written: chat,
    /// thread or event. Default 8 KiB.
    pub property_value_bytes: u32,
    /// The most chats a license holds. Chats are never deleted, so this bounds the license's
    /// growth; `start_chat` is refused once it is reached. Default 10 000 000.
    pub chats_per_license: u32,
    /// The most agents in one chat. `join_chat` and `transfer_chat` are refused past it, and
    /// routing does not offer a full chat to an agent who is not already in it. Default 100.
    pub agents_per_chat: u32,
    /// The most entries (groups and agents together) in a chat's scopes: `start_chat` is refused
    /// with more, and `update_chat_scopes` when it would leave the chat with more (a request
    /// that only removes always passes). Scopes that auto chat scopes configurations add when
    /// a chat starts are the administrators' doing and are not held to it. The same bound
    /// applies to the scopes of an auto chat scopes configuration. Default 100.
    pub chat_scopes: u32,
    /// The most auto chat scopes configurations a license keeps. Default 100.
    pub auto_chat_scopes: u32,
    /// The most webhooks a license keeps (`register_webhook`). Default 100.
    #[serde(
        default = "default_webhooks",
        skip_serializing_if = "is_default_webhooks"
    )]
    pub webhooks: u32,
    /// The most chats the agent's `login` lists in `chats_summary` (the newest ones); the
    /// response's `total_chats` says how many there are, and `get_filtered_chats` pages
    /// through the rest. Default 100.
    pub login_chats: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            event_bytes: 64 * 1024,
            events_per_thread: 10_000,
            customer_fields: 100,
            customer_fields_bytes: 32 * 1024,
            property_value_bytes: 8 * 1024,
            chats_per_license: 10_000_000,
            agents_per_chat: 100,
            chat_scopes: 100,
            auto_chat_scopes: 100,
            webhooks: default_webhooks(),
            login_chats: 100,
        }
    }
}

impl Limits {
    /// Limits so high that no license reaches them: every limit at its type's maximum. For a
    /// host that bounds requests some other way, and for tests.
    pub fn unlimited() -> Self {
        Self {
            event_bytes: u32::MAX,
            events_per_thread: u32::MAX,
            customer_fields: u32::MAX,
            customer_fields_bytes: u32::MAX,
            property_value_bytes: u32::MAX,
            chats_per_license: u32::MAX,
            agents_per_chat: u32::MAX,
            chat_scopes: u32::MAX,
            auto_chat_scopes: u32::MAX,
            webhooks: u32::MAX,
            login_chats: u32::MAX,
        }
    }
}

/// `Err(LimitExceeded)` when `requested` is over `max`.
fn within(limit: &'static str, max: u32, requested: usize) -> Result<(), Error> {
    if requested > max as usize {
        return Err(Error::LimitExceeded {
            limit,
            max: u64::from(max),
            requested: requested as u64,
        });
    }
    Ok(())
}

/// Counts the bytes written to it.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The length of `value` as compact JSON, counted without writing it anywhere. The whole value
/// is counted, even far past a limit, so that the refusal can say how large it was: it was
/// read whole from the request already, and counting costs less than that did.
fn json_len(value: &impl Serialize) -> usize {
    let mut counter = Counter(0);
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        // Only a map with keys that are not strings fails, and no value here has one; were one
        // to, it could not be journaled either, so it counts as too large.
        Err(_) => usize::MAX,
    }
}

/// An upper bound on [`json_len`] of `event` that costs nothing to work out, for the kinds that
/// are mostly one text: escaping makes a character at most six bytes, and the rest of the
/// event (field names, `recipients`, the type) fits in 128 bytes. `None` for the others.
fn quick_bound(event: &NewEvent) -> Option<usize> {
    if !event.properties.is_empty() {
        return None;
    }
    let texts = match &event.kind {
        EventKind::Message { text } => text.len(),
        EventKind::Annotation {
            text,
            annotation_type,
        } => text.len() + annotation_type.len(),
        EventKind::SystemMessage {
            text,
            system_message_type,
        } => text.len() + system_message_type.as_ref().map_or(0, String::len),
        _ => return None,
    };
    let custom_id = event.custom_id.as_ref().map_or(0, String::len);
    Some((texts + custom_id) * 6 + 128)
}

/// The size [`Limits::event_bytes`] measures: `event` as compact JSON.
pub(crate) fn event_bytes(event: &NewEvent) -> usize {
    json_len(event)
}

impl Engine {
    fn limits(&self) -> &Limits {
        &self.config.limits
    }

    /// An event's size and its string property values.
    pub(crate) fn check_event_limits(&self, event: &NewEvent) -> Result<(), Error> {
        let max = self.limits().event_bytes;
        if quick_bound(event).is_none_or(|bound| bound > max as usize) {
            within("event_bytes", max, event_bytes(event))?;
        }
        self.check_property_values(&event.properties)
    }

    /// Free text pushed and never stored (a sneak peek's text, a multicast's content): bounded
    /// like an event, since every recipient gets a copy.
    pub(crate) fn check_signal_bytes(&self, value: &impl Serialize) -> Result<(), Error> {
        let max = self.limits().event_bytes;
        within("event_bytes", max, json_len(value))
    }

    /// String property values against [`Limits::property_value_bytes`].
    pub(crate) fn check_property_values(&self, properties: &Properties) -> Result<(), Error> {
        // Most events carry no properties: the send path skips the walk.
        if properties.is_empty() {
            return Ok(());
        }
        let max = self.limits().property_value_bytes;
        let longest = properties
            .values()
            .flat_map(|values| values.values())
            .filter_map(|value| match value {
                PropertyValue::String(s) => Some(s.len()),
                _ => None,
            })
            .max();
        within("property_value_bytes", max, longest.unwrap_or(0))
    }

    /// Whether a thread holding `events` events takes one more from a user.
    pub(crate) fn check_thread_room(&self, events: usize) -> Result<(), Error> {
        within(
            "events_per_thread",
            self.limits().events_per_thread,
            events + 1,
        )
    }

    /// Scopes as a request sets them, against [`Limits::chat_scopes`].
    pub(crate) fn check_chat_scopes(&self, scopes: &Scopes) -> Result<(), Error> {
        self.check_chat_scopes_count(scopes.groups.len() + scopes.agents.len())
    }

    /// A number of scope entries against [`Limits::chat_scopes`].
    pub(crate) fn check_chat_scopes_count(&self, entries: usize) -> Result<(), Error> {
        within("chat_scopes", self.limits().chat_scopes, entries)
    }

    /// What `start_chat` asks for beyond its events, which `check_event_limits` sees one by
    /// one: room for one more chat, its initial events, its starter (an agent is in the chat it
    /// starts), its properties and its scopes.
    pub(crate) fn check_start_chat_limits(
        &self,
        by_agent: bool,
        request: &StartChat,
    ) -> Result<(), Error> {
        let limits = self.limits();
        within(
            "chats_per_license",
            limits.chats_per_license,
            self.chat_count() + 1,
        )?;
        within(
            "events_per_thread",
            limits.events_per_thread,
            request.events.len(),
        )?;
        within(
            "agents_per_chat",
            limits.agents_per_chat,
            usize::from(by_agent),
        )?;
        self.check_property_values(&request.properties)?;
        self.check_property_values(&request.thread_properties)?;
        self.check_chat_scopes(&request.scopes)
    }

    /// Whether `adding` more agents fit in `chat`.
    pub(crate) fn check_chat_agents(&self, chat: &Chat, adding: usize) -> Result<(), Error> {
        within(
            "agents_per_chat",
            self.limits().agents_per_chat,
            chat.agent_ids.len() + adding,
        )
    }

    /// Whether `agent` may be assigned `chat` within [`Limits::agents_per_chat`]: always when it
    /// is in the chat already; else the chat, without its assignee (who leaves when another
    /// agent is assigned), must have room for one more.
    pub(crate) fn chat_has_room_for(&self, chat: &Chat, agent: &UserId) -> bool {
        self.agents_after_assigning(chat, agent) <= self.limits().agents_per_chat as usize
    }

    /// [`chat_has_room_for`](Self::chat_has_room_for) as a refusal, for `transfer_chat`.
    pub(crate) fn check_room_for_assignee(&self, chat: &Chat, agent: &UserId) -> Result<(), Error> {
        within(
            "agents_per_chat",
            self.limits().agents_per_chat,
            self.agents_after_assigning(chat, agent),
        )
    }

    /// How many agents `chat` has once `agent` is assigned it.
    fn agents_after_assigning(&self, chat: &Chat, agent: &UserId) -> usize {
        let agents = &chat.agent_ids;
        if agents.contains(agent) {
            return agents.len();
        }
        let leaving = chat
            .routing
            .assignee
            .as_ref()
            .is_some_and(|a| agents.contains(a));
        agents.len() - usize::from(leaving) + 1
    }

    /// A customer's fields once `update` is merged into `current` (a key given replaces that
    /// key only), against [`Limits::customer_fields`] and [`Limits::customer_fields_bytes`].
    pub(crate) fn check_customer_fields(
        &self,
        current: &BTreeMap<String, String>,
        update: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
        let mut count = current.len();
        let mut bytes: usize = current.iter().map(|(k, v)| k.len() + v.len()).sum();
        for (key, value) in update {
            match current.get(key) {
                Some(old) => bytes = bytes - old.len() + value.len(),
                None => {
                    count += 1;
                    bytes += key.len() + value.len();
                }
            }
        }
        let limits = self.limits();
        within("customer_fields", limits.customer_fields, count)?;
        within("customer_fields_bytes", limits.customer_fields_bytes, bytes)
    }

    /// Whether one more webhook fits.
    pub(crate) fn check_webhooks_room(&self, registered: usize) -> Result<(), Error> {
        within("webhooks", self.limits().webhooks, registered + 1)
    }

    /// Whether one more auto chat scopes configuration fits.
    pub(crate) fn check_auto_chat_scopes_room(&self, configured: usize) -> Result<(), Error> {
        within(
            "auto_chat_scopes",
            self.limits().auto_chat_scopes,
            configured + 1,
        )
    }
}

/// 100: limits written before webhooks existed read this one as its default.
fn default_webhooks() -> u32 {
    100
}

/// The default is left out of snapshots, which then read and compare as before webhooks.
fn is_default_webhooks(webhooks: &u32) -> bool {
    *webhooks == default_webhooks()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_bound_is_never_below_the_json_length() {
        let awkward = "\u{0}\u{1f}\"\\ é 中文 🎉 \n".repeat(40);
        let events = [
            NewEvent::message(awkward.clone()),
            NewEvent::message(awkward.clone()).with_custom_id(awkward.clone()),
            NewEvent::annotation(awkward.clone(), awkward.clone()),
            NewEvent::system_message(awkward.clone(), awkward.clone()),
            NewEvent::message("hi").to(crate::Recipients::Agents),
        ];
        for event in &events {
            let bound = quick_bound(event).expect("a text kind");
            assert!(bound >= event_bytes(event), "{event:?}");
        }
    }

    #[test]
    fn event_bytes_counts_compact_json() {
        let event = NewEvent::message("hi \"there\"\n").with_custom_id("c-1");
        let exact = serde_json::to_vec(&event).expect("json").len();
        assert_eq!(event_bytes(&event), exact);
    }
}
