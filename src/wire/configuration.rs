//! The Configuration API's shapes (v0.5): properties as `create_properties` takes them and
//! `get_property_configs` gives them, webhooks as `register_webhook` takes them and
//! `get_webhooks_config` gives them, and the envelope a webhook is delivered in.
//!
//! These are codecs only: text in, model values out, and back. Which namespace a requester
//! writes to, and who may, is the caller's business.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::model::{
    Access, Domain, Location, LocationAccess, PropertyConfig, PropertyType, PropertyValue, Webhook,
    WebhookAction,
};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NewWebhook;

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
