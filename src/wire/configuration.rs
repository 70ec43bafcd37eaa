//! The Configuration API's shapes (v0.5): bot agents as `create_bot_agent` and
//! `update_bot_agent` take them and `get_bot_agents` and `get_bot_agent_details` give them,
//! properties as `create_properties` takes them and `get_property_configs` gives them,
//! webhooks as `register_webhook` takes them and
//! `get_webhooks_config` gives them, and the envelope a webhook is delivered in.
//!
//! [`handle`] serves the Configuration API's actions on an engine; the codecs beside it turn
//! its payloads into model values and back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::Api;
use super::actions::Payload;
use crate::engine::{AgentChange, Engine, WebhookCall, WebhookData};
use crate::error::{Error, ErrorKind};
use crate::journal::JournalMode;
use crate::model::{
    Access, BotAgent, BotAgentUpdate, ChatId, Domain, Location, LocationAccess, NewBotAgent,
    NewWebhook, PropertyConfig, PropertyType, PropertyValue, Timestamp, UserId, Webhook,
    WebhookAction,
};
use crate::push::{Push, PushKind};

fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidField {
        field,
        reason: reason.into(),
    }
}

/// One location's access, under the `access` key v0.5 nests it in.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LocationEntry {
    access: AccessEntry,
}

/// Access by role; a role left out has none.
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    agent: Option<Access>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    customer: Option<Access>,
}

/// `range`: an int property's bounds, each optional.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<i32>,
}

/// One property as the Configuration API writes it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PropertyEntry {
    #[serde(rename = "type")]
    property_type: PropertyType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    locations: BTreeMap<Location, LocationEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    domain: Option<Vec<PropertyValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    range: Option<RangeEntry>,
}

/// The properties of a `create_properties` payload (`{"<name>": {type, description, locations,
/// domain | range}}`), each in `namespace`, validated as the engine will register them. A
/// `range` without `from` or `to` is open on that side.
pub fn decode_create_properties(
    namespace: &str,
    payload: &str,
) -> Result<Vec<PropertyConfig>, Error> {
    let entries: BTreeMap<String, PropertyEntry> =
        serde_json::from_str(payload).map_err(|e| invalid("payload", e.to_string()))?;
    if entries.is_empty() {
        return Err(invalid("payload", "names no property"));
    }
    entries
        .into_iter()
        .map(|(name, entry)| {
            let domain = match (entry.domain, entry.range) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        "property.domain",
                        format!("{name}: only one of domain and range may be set"),
                    ));
                }
                (Some(values), None) => Some(Domain::Values(values.into_iter().collect())),
                (None, Some(range)) => Some(Domain::Range {
                    min: range.from.unwrap_or(i32::MIN),
                    max: range.to.unwrap_or(i32::MAX),
                }),
                (None, None) => None,
            };
            let mut config = PropertyConfig::new(namespace, name, entry.property_type);
            for (location, LocationEntry { access }) in entry.locations {
                config = config.at(
                    location,
                    LocationAccess {
                        agent: access.agent.unwrap_or(Access::NONE),
                        customer: access.customer.unwrap_or(Access::NONE),
                    },
                );
            }
            config.domain = domain;
            config.description = entry.description;
            config.validate()?;
            Ok(config)
        })
        .collect()
}

/// `get_property_configs`' answer: namespace to name to the property as `create_properties`
/// takes it.
pub fn encode_property_configs<'a>(
    configs: impl IntoIterator<Item = &'a PropertyConfig>,
) -> String {
    let mut namespaces: BTreeMap<&str, BTreeMap<&str, PropertyEntry>> = BTreeMap::new();
    for config in configs {
        let (domain, range) = match &config.domain {
            Some(Domain::Values(values)) => (Some(values.iter().cloned().collect()), None),
            Some(Domain::Range { min, max }) => (
                None,
                Some(RangeEntry {
                    from: (*min != i32::MIN).then_some(*min),
                    to: (*max != i32::MAX).then_some(*max),
                }),
            ),
            None => (None, None),
        };
        let locations = config
            .locations
            .iter()
            .map(|(location, access)| {
                let shown = |a: Access| (a != Access::NONE).then_some(a);
                let access = AccessEntry {
                    agent: shown(access.agent),
                    customer: shown(access.customer),
                };
                (*location, LocationEntry { access })
            })
            .collect();
        namespaces.entry(&config.namespace).or_default().insert(
            &config.name,
            PropertyEntry {
                property_type: config.property_type,
                description: config.description.clone(),
                locations,
                domain,
                range,
            },
        );
    }
    serde_json::to_string(&namespaces).unwrap_or_else(|_| "{}".to_string())
}

/// `get_webhooks_config`' answer.
pub fn encode_webhooks_config(webhooks: &[Webhook]) -> String {
    json!({ "webhooks_config": webhooks }).to_string()
}

/// A bot as `get_bot_agents` lists it: `id`, `name`, `avatar` (when it has one), `status`.
fn bot_summary(bot: &BotAgent) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), json!(bot.agent.id));
    m.insert("name".into(), json!(bot.agent.name));
    if let Some(avatar) = &bot.agent.avatar {
        m.insert("avatar".into(), json!(avatar));
    }
    m.insert("status".into(), json!(bot.status.as_str()));
    m
}

/// `get_bot_agents`' answer: `{"bot_agents": [...]}`.
pub fn encode_bot_agents(bots: &[BotAgent]) -> String {
    let list: Vec<Value> = bots.iter().map(|b| Value::Object(bot_summary(b))).collect();
    json!({ "bot_agents": list }).to_string()
}

/// `get_bot_agent_details`' answer: `{"bot_agent": {...}}`, the summary with the owning
/// application (whose `client_id` is the owner's id: the engine knows agents, not
/// applications), `max_chats_count`, `groups` with priorities and `webhooks` (when set).
pub fn encode_bot_agent_details(bot: &BotAgent) -> String {
    let mut m = bot_summary(bot);
    if let Some(owner) = &bot.agent.owner_id {
        m.insert("application".into(), json!({ "client_id": owner }));
    }
    m.insert("max_chats_count".into(), json!(bot.agent.max_chats));
    m.insert("groups".into(), json!(bot.groups()));
    if let Some(webhooks) = &bot.webhooks {
        m.insert("webhooks".into(), json!(webhooks));
    }
    json!({ "bot_agent": m }).to_string()
}

/// A webhook as it is delivered: `webhook_id`, `secret_key`, `action`, `data` (the agent push's
/// payload, or the agent change's) and `additional_data` (what the receiver may want beside it,
/// e.g. the chat's properties; an empty object when there is nothing).
pub fn encode_webhook(
    webhook: &Webhook,
    action: WebhookAction,
    data: Value,
    additional_data: Map<String, Value>,
) -> String {
    json!({
        "webhook_id": webhook.webhook_id,
        "secret_key": webhook.spec.secret_key,
        "action": action.as_str(),
        "data": data,
        "additional_data": additional_data,
    })
    .to_string()
}

/// A webhook to deliver: where, which chat's order it keeps, and the JSON body to POST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireWebhook {
    /// The registered URL.
    pub url: String,
    /// The chat it is about: deliveries of one chat must keep their order.
    pub chat_id: Option<ChatId>,
    /// The webhook's id.
    pub webhook_id: String,
    /// The body, [`encode_webhook`]'s envelope.
    pub body: String,
}

/// The webhooks a call's result fires, rendered.
pub(super) fn fired(
    engine: &Engine,
    result: &Result<(Payload, Vec<Push>), Error>,
) -> Vec<WireWebhook> {
    match result {
        // The bots' webhooks too: `webhook_calls` answers at once when there are none.
        Ok((_, pushes)) => engine
            .webhook_calls(pushes)
            .iter()
            .map(render_call)
            .collect(),
        _ => Vec::new(),
    }
}

/// One webhook call as it is delivered. `data` is the agent push's payload, except for
/// `agent_status_changed` (`agent_id` and `status`, which v0.5 spells with spaces: `accepting
/// chats`, `not accepting chats`, `offline`) and `agent_deleted` (`agent_id`);
/// `additional_data` carries the chat's properties when the change is about a chat.
pub fn render_call(call: &WebhookCall) -> WireWebhook {
    let data = match &call.data {
        WebhookData::Push(PushKind::AgentUpdated {
            agent_id,
            routing_status,
        }) => json!({
            "agent_id": agent_id,
            "status": routing_status.as_str().replace('_', " "),
        }),
        WebhookData::Push(kind) => super::render::push_payload(kind, Api::Agent),
        WebhookData::Agent(AgentChange::StatusChanged { agent_id, status }) => {
            json!({ "agent_id": agent_id, "status": status.as_str() })
        }
        WebhookData::Agent(AgentChange::Deleted { agent_id }) => json!({ "agent_id": agent_id }),
    };
    let mut additional = Map::new();
    if let Some(properties) = &call.chat_properties {
        additional.insert(
            "chat_properties".to_string(),
            super::render::properties(properties),
        );
    }
    WireWebhook {
        url: call.webhook.spec.url.clone(),
        chat_id: call.chat_id,
        webhook_id: call.webhook.webhook_id.clone(),
        body: encode_webhook(&call.webhook, call.action, data, additional),
    }
}

/// What [`handle`] answers: success and the response body (the payload, or
/// `{"error": {type, message}}`).
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigurationReply {
    /// Whether the request succeeded.
    pub success: bool,
    /// The error's type, when it failed (for the HTTP status).
    pub error_kind: Option<ErrorKind>,
    /// The response body.
    pub body: String,
    /// The pushes the call caused: a bot created or set `accepting chats` takes waiting chats
    /// (`incoming_chat_thread`, `chat_users_updated`, system messages), a bot's new status is
    /// told to every agent (`agent_updated`), a removed bot leaves its chats. Most calls cause
    /// none.
    pub pushes: Vec<super::WirePush>,
    /// The webhooks those pushes fire, ready to POST.
    pub webhooks: Vec<WireWebhook>,
}

/// A Configuration API request (`POST /configuration/v0.5/<section>/<action>` with the
/// payload as the body) made by `agent` at `now`: `properties/create_properties`,
/// `properties/get_property_configs`, `webhooks/register_webhook`,
/// `webhooks/get_webhooks_config` (with `all`, a chat.io v3.x addition),
/// `webhooks/unregister_webhook`, and the bot agents' `agents/create_bot_agent`,
/// `agents/update_bot_agent`, `agents/remove_bot_agent`, `agents/get_bot_agents` and
/// `agents/get_bot_agent_details`. Records are held as [`super::handle`] holds them.
///
/// The reply carries the pushes the call caused and the webhooks they fire, for the host to
/// deliver as it delivers the chat APIs' (`chatio-server` does).
pub fn handle(
    engine: &mut Engine,
    agent: &UserId,
    now: Timestamp,
    path: &str,
    body: &str,
) -> ConfigurationReply {
    let mode = engine.journal_mode();
    if mode == JournalMode::Output {
        engine.set_journal_mode(JournalMode::Hold);
    }
    let result = run(
        engine,
        agent,
        now,
        path,
        if body.trim().is_empty() { "{}" } else { body },
    );
    engine.set_journal_mode(mode);
    match result {
        Ok((body, pushes, changes)) => {
            let mut calls = engine.webhook_calls(&pushes);
            calls.extend(engine.agent_webhook_calls(&changes));
            let webhooks = calls.iter().map(render_call).collect();
            ConfigurationReply {
                success: true,
                error_kind: None,
                body,
                pushes: pushes.iter().map(super::encode_push).collect(),
                webhooks,
            }
        }
        Err(err) => ConfigurationReply {
            success: false,
            error_kind: Some(err.kind()),
            body: super::error_payload(&err).to_string(),
            pushes: Vec::new(),
            webhooks: Vec::new(),
        },
    }
}

#[derive(Deserialize, Default)]
struct AllFlag {
    #[serde(default)]
    all: bool,
}

#[derive(Deserialize)]
struct WebhookIdPayload {
    webhook_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BotAgentIdPayload {
    bot_agent_id: UserId,
}

fn parse<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, Error> {
    serde_json::from_str(body).map_err(|e| invalid("payload", e.to_string()))
}

fn run(
    engine: &mut Engine,
    agent: &UserId,
    now: Timestamp,
    path: &str,
    body: &str,
) -> Result<(String, Vec<Push>, Vec<AgentChange>), Error> {
    match path {
        "properties/create_properties" => {
            let properties = decode_create_properties(&agent.to_string(), body)?;
            // Configuration changes push nothing.
            let _quiet = engine.as_agent(agent, now)?.create_properties(properties)?;
            Ok(("{}".to_string(), Vec::new(), Vec::new()))
        }
        "properties/get_property_configs" => {
            let AllFlag { all } = parse(body)?;
            let configs = engine.as_agent(agent, now)?.get_property_configs(all)?;
            Ok((encode_property_configs(&configs), Vec::new(), Vec::new()))
        }
        "webhooks/register_webhook" => {
            let spec: NewWebhook = parse(body)?;
            let out = engine.as_agent(agent, now)?.register_webhook(spec)?;
            let body = json!({ "webhook_id": out.response.webhook_id }).to_string();
            Ok((body, out.pushes, out.agent_changes))
        }
        "webhooks/get_webhooks_config" => {
            let AllFlag { all } = parse(body)?;
            let webhooks = engine.as_agent(agent, now)?.get_webhooks_config(all)?;
            Ok((encode_webhooks_config(&webhooks), Vec::new(), Vec::new()))
        }
        "webhooks/unregister_webhook" => {
            let WebhookIdPayload { webhook_id } = parse(body)?;
            let out = engine
                .as_agent(agent, now)?
                .unregister_webhook(&webhook_id)?;
            Ok(("{}".to_string(), out.pushes, out.agent_changes))
        }
        "agents/create_bot_agent" => {
            let bot: NewBotAgent = parse(body)?;
            let out = engine.as_agent(agent, now)?.create_bot_agent(bot)?;
            let body = json!({ "bot_agent_id": out.response.id }).to_string();
            Ok((body, out.pushes, out.agent_changes))
        }
        "agents/update_bot_agent" => {
            let update: BotAgentUpdate = parse(body)?;
            let out = engine.as_agent(agent, now)?.update_bot_agent(update)?;
            Ok(("{}".to_string(), out.pushes, out.agent_changes))
        }
        "agents/remove_bot_agent" => {
            let BotAgentIdPayload { bot_agent_id } = parse(body)?;
            let out = engine
                .as_agent(agent, now)?
                .remove_bot_agent(&bot_agent_id)?;
            Ok(("{}".to_string(), out.pushes, out.agent_changes))
        }
        "agents/get_bot_agents" => {
            let AllFlag { all } = parse(body)?;
            let bots = engine.as_agent(agent, now)?.get_bot_agents(all)?;
            Ok((encode_bot_agents(&bots), Vec::new(), Vec::new()))
        }
        "agents/get_bot_agent_details" => {
            let BotAgentIdPayload { bot_agent_id } = parse(body)?;
            let bot = engine
                .as_agent(agent, now)?
                .get_bot_agent_details(&bot_agent_id)?;
            Ok((encode_bot_agent_details(&bot), Vec::new(), Vec::new()))
        }
        other => Err(invalid(
            "action",
            format!("unknown Configuration API action {other:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The docs' `create_properties` sample (with the comma it lacks before `domain`).
    const SAMPLE: &str = r#"{
        "greeting": { "type": "string",
            "locations": { "chat": { "access": {
                "agent": { "read": true, "write": false },
                "customer": { "read": true, "write": true } } } },
            "domain": ["hello", "hi"] },
        "scoring": { "type": "int", "description": "how good",
            "locations": { "event": { "access": { "agent": { "read": true, "write": true } } } },
            "range": { "from": 0, "to": 10 } }
    }"#;

    #[test]
    fn the_docs_sample_decodes_and_encodes_back() {
        let configs = decode_create_properties("58737b5829e65621a45d598aa6f2ed8e", SAMPLE).unwrap();
        assert_eq!(configs.len(), 2);
        let scoring = &configs[1];
        assert_eq!(scoring.name, "scoring");
        assert_eq!(scoring.domain, Some(Domain::Range { min: 0, max: 10 }));
        assert_eq!(scoring.description.as_deref(), Some("how good"));
        assert_eq!(
            scoring.locations[&Location::Event].customer,
            Access::NONE,
            "a role left out has no access"
        );
        let encoded: Value = serde_json::from_str(&encode_property_configs(&configs)).unwrap();
        let mut sample: Value = serde_json::from_str(SAMPLE).unwrap();
        // Access a role does not have is left out, as the sample leaves it out.
        assert_eq!(encoded["58737b5829e65621a45d598aa6f2ed8e"], {
            sample["greeting"]["domain"] = json!(["hello", "hi"]);
            sample
        });
    }

    #[test]
    fn open_ranges_and_refusals() {
        let open = r#"{"n": {"type": "int", "locations": {"chat": {"access": {"agent": {"read": true, "write": true}}}}, "range": {"from": 1}}}"#;
        let configs = decode_create_properties("ns", open).unwrap();
        assert_eq!(
            configs[0].domain,
            Some(Domain::Range {
                min: 1,
                max: i32::MAX
            })
        );
        let encoded: Value = serde_json::from_str(&encode_property_configs(&configs)).unwrap();
        assert_eq!(encoded["ns"]["n"]["range"], json!({ "from": 1 }));
        let both = r#"{"n": {"type": "int", "locations": {"chat": {"access": {}}}, "domain": [1], "range": {"from": 1}}}"#;
        let err = decode_create_properties("ns", both)
            .unwrap_err()
            .to_string();
        assert!(err.contains("only one of domain and range"), "{err}");
        let string_range = r#"{"n": {"type": "string", "locations": {"chat": {"access": {}}}, "range": {"to": 3}}}"#;
        assert!(decode_create_properties("ns", string_range).is_err());
        let no_location = r#"{"n": {"type": "int", "locations": {}}}"#;
        assert!(decode_create_properties("ns", no_location).is_err());
        assert!(decode_create_properties("ns", "{}").is_err());
        assert!(
            decode_create_properties("ns", r#"{"n": {"type": "float", "locations": {}}}"#).is_err()
        );
    }

    #[test]
    fn webhooks_config_and_envelope() {
        let spec: NewWebhook = serde_json::from_value(json!({
            "url": "http://myservice.com/webhooks", "description": "Test webhook",
            "action": "thread_closed", "secret_key": "laudla991lamda0pnoaa0"
        }))
        .unwrap();
        let webhook = Webhook {
            webhook_id: "pqi8oasdjahuakndw9nsad9na".to_string(),
            spec,
        };
        let config: Value =
            serde_json::from_str(&encode_webhooks_config(std::slice::from_ref(&webhook))).unwrap();
        assert_eq!(
            config,
            json!({ "webhooks_config": [{
                "webhook_id": "pqi8oasdjahuakndw9nsad9na", "url": "http://myservice.com/webhooks",
                "description": "Test webhook", "action": "thread_closed",
                "secret_key": "laudla991lamda0pnoaa0" }] })
        );
        let delivered: Value = serde_json::from_str(&encode_webhook(
            &webhook,
            WebhookAction::ThreadClosed,
            json!({ "chat_id": "c", "thread_id": "t" }),
            Map::new(),
        ))
        .unwrap();
        assert_eq!(delivered["action"], "thread_closed");
        assert_eq!(delivered["secret_key"], "laudla991lamda0pnoaa0");
        assert_eq!(delivered["data"]["thread_id"], "t");
        assert_eq!(delivered["additional_data"], json!({}));
    }
}
