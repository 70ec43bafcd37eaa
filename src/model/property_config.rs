//! Property configuration: which properties exist, where, of what type, and who may read and
//! write them (what chat.io's Configuration API sets up).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Properties, PropertyValue, Role};
use crate::error::Error;

/// A property's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PropertyType {
    /// A 32-bit signed integer.
    Int,
    /// `true` or `false`.
    Bool,
    /// A string.
    String,
    /// A string meant to be searched token by token; stored like a string.
    TokenizedString,
}

impl PropertyType {
    fn accepts(self, value: &PropertyValue) -> bool {
        matches!(
            (self, value),
            (PropertyType::Int, PropertyValue::Int(_))
                | (PropertyType::Bool, PropertyValue::Bool(_))
                | (
                    PropertyType::String | PropertyType::TokenizedString,
                    PropertyValue::String(_)
                )
        )
    }

    fn as_str(self) -> &'static str {
        match self {
            PropertyType::Int => "int",
            PropertyType::Bool => "bool",
            PropertyType::String => "string",
            PropertyType::TokenizedString => "tokenized_string",
        }
    }
}

/// Where a property can live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// On a chat.
    Chat,
    /// On a thread.
    Thread,
    /// On an event.
    Event,
}

impl Location {
    fn as_str(self) -> &'static str {
        match self {
            Location::Chat => "chats",
            Location::Thread => "threads",
            Location::Event => "events",
        }
    }
}

/// Read and write access of one role at one location.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// The role sees the property.
    #[serde(default)]
    pub read: bool,
    /// The role may set the property.
    #[serde(default)]
    pub write: bool,
}

impl Access {
    /// Read and write.
    pub const READ_WRITE: Access = Access {
        read: true,
        write: true,
    };
    /// Read only.
    pub const READ: Access = Access {
        read: true,
        write: false,
    };
    /// Neither.
    pub const NONE: Access = Access {
        read: false,
        write: false,
    };
}

/// Access at one location, per role.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationAccess {
    /// Agents' access.
    pub agent: Access,
    /// Customers' access.
    pub customer: Access,
}

impl LocationAccess {
    fn of(&self, role: Role) -> Access {
        match role {
            Role::Agent => self.agent,
            Role::Customer => self.customer,
        }
    }
}

/// The values a property may take, beyond its type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Domain {
    /// Exactly these values.
    Values(BTreeSet<PropertyValue>),
    /// Integers from `min` to `max`, both included.
    Range {
        /// The smallest value allowed.
        min: i32,
        /// The largest value allowed.
        max: i32,
    },
}

impl Domain {
    fn contains(&self, value: &PropertyValue) -> bool {
        match (self, value) {
            (Domain::Values(values), v) => values.contains(v),
            (Domain::Range { min, max }, PropertyValue::Int(i)) => (*min..=*max).contains(i),
            (Domain::Range { .. }, _) => false,
        }
    }
}

/// The longest property description, in bytes.
pub const MAX_PROPERTY_DESCRIPTION_LEN: usize = 512;

/// One configured property.
///
/// ```
/// use chatio::model::{Access, Domain, Location, LocationAccess, PropertyConfig, PropertyType};
/// // A 1-5 rating customers may write on a chat and agents may read.
/// let rating = PropertyConfig::new("rating", "score", PropertyType::Int)
///     .at(Location::Chat, LocationAccess { agent: Access::READ, customer: Access::READ_WRITE })
///     .with_domain(Domain::Range { min: 1, max: 5 });
/// assert_eq!(rating.name, "score");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropertyConfig {
    /// The owning application's namespace.
    pub namespace: String,
    /// The property's name within the namespace.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub property_type: PropertyType,
    /// Where it may live, and who may read and write it there.
    pub locations: BTreeMap<Location, LocationAccess>,
    /// The values it may take, if restricted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<Domain>,
    /// What it is for (the Configuration API's `description`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl PropertyConfig {
    /// A property with no locations yet.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        property_type: PropertyType,
    ) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            property_type,
            locations: BTreeMap::new(),
            domain: None,
            description: None,
        }
    }

    /// Allows the property at a location, with the given access.
    pub fn at(mut self, location: Location, access: LocationAccess) -> Self {
        self.locations.insert(location, access);
        self
    }

    /// Restricts the values.
    pub fn with_domain(mut self, domain: Domain) -> Self {
        self.domain = Some(domain);
        self
    }

    /// Says what the property is for.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        super::non_empty("property.namespace", &self.namespace)?;
        super::non_empty("property.name", &self.name)?;
        super::check_label("property.namespace", &self.namespace)?;
        super::check_label("property.name", &self.name)?;
        if let Some(description) = &self.description {
            super::check_text("property.description", description)?;
            if description.len() > MAX_PROPERTY_DESCRIPTION_LEN {
                return Err(Error::InvalidField {
                    field: "property.description",
                    reason: format!("longer than {MAX_PROPERTY_DESCRIPTION_LEN} bytes"),
                });
            }
        }
        if self.locations.is_empty() {
            return Err(Error::InvalidField {
                field: "property.locations",
                reason: format!("{}.{} has no location", self.namespace, self.name),
            });
        }
        match &self.domain {
            Some(Domain::Range { min, max })
                if self.property_type != PropertyType::Int || min > max =>
            {
                Err(Error::InvalidField {
                    field: "property.domain",
                    reason: format!(
                        "{}.{}: a range needs an int and min <= max",
                        self.namespace, self.name
                    ),
                })
            }
            Some(Domain::Values(values))
                if values.iter().any(|v| !self.property_type.accepts(v)) =>
            {
                Err(Error::InvalidField {
                    field: "property.domain",
                    reason: format!(
                        "{}.{}: every value must be a {}",
                        self.namespace,
                        self.name,
                        self.property_type.as_str()
                    ),
                })
            }
            _ => Ok(()),
        }
    }
}

/// The license's property configuration. Properties not configured here are refused.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropertyRegistry {
    configs: BTreeMap<String, BTreeMap<String, PropertyConfig>>,
}

impl PropertyRegistry {
    /// Adds or replaces a property's configuration.
    pub(crate) fn insert(&mut self, config: PropertyConfig) -> Result<(), Error> {
        config.validate()?;
        self.configs
            .entry(config.namespace.clone())
            .or_default()
            .insert(config.name.clone(), config);
        Ok(())
    }

    /// A property's configuration.
    pub fn get(&self, namespace: &str, name: &str) -> Option<&PropertyConfig> {
        self.configs.get(namespace)?.get(name)
    }

    /// Every configured property.
    pub fn iter(&self) -> impl Iterator<Item = &PropertyConfig> {
        self.configs.values().flat_map(BTreeMap::values)
    }

    fn access(
        &self,
        namespace: &str,
        name: &str,
        location: Location,
        role: Role,
    ) -> Option<Access> {
        Some(
            self.get(namespace, name)?
                .locations
                .get(&location)?
                .of(role),
        )
    }

    /// Whether `role` may read the property at `location`.
    pub fn readable(&self, namespace: &str, name: &str, location: Location, role: Role) -> bool {
        self.access(namespace, name, location, role)
            .is_some_and(|a| a.read)
    }

    /// Checks that `role` may write every property of `properties` at `location`: each must be
    /// configured there (else `validation`), of the right type and in its domain (`validation`),
    /// and writable by the role (`authorization`, through `NotAllowed` built by the caller).
    pub(crate) fn check_write(
        &self,
        properties: &Properties,
        location: Location,
        role: Role,
    ) -> Result<(), PropertyRefusal> {
        for (namespace, values) in properties {
            for (name, value) in values {
                let what = || format!("{namespace}.{name}");
                let Some(config) = self.get(namespace, name) else {
                    return Err(PropertyRefusal::Invalid(format!(
                        "unknown property {}",
                        what()
                    )));
                };
                let Some(access) = config.locations.get(&location) else {
                    return Err(PropertyRefusal::Invalid(format!(
                        "property {} is not allowed on {}",
                        what(),
                        location.as_str()
                    )));
                };
                if !config.property_type.accepts(value) {
                    return Err(PropertyRefusal::Invalid(format!(
                        "property {} is a {}",
                        what(),
                        config.property_type.as_str()
                    )));
                }
                if config.domain.as_ref().is_some_and(|d| !d.contains(value)) {
                    return Err(PropertyRefusal::Invalid(format!(
                        "value {value:?} is outside the domain of property {}",
                        what()
                    )));
                }
                if !access.of(role).write {
                    return Err(PropertyRefusal::NoAccess(what()));
                }
            }
        }
        Ok(())
    }

    /// The properties `role` may read at `location`. Borrows when nothing is hidden.
    pub fn filter<'p>(
        &self,
        properties: &'p Properties,
        location: Location,
        role: Role,
    ) -> std::borrow::Cow<'p, Properties> {
        let all_readable = properties.iter().all(|(namespace, values)| {
            values
                .keys()
                .all(|name| self.readable(namespace, name, location, role))
        });
        if all_readable {
            return std::borrow::Cow::Borrowed(properties);
        }
        let mut shown = Properties::new();
        for (namespace, values) in properties {
            let kept: BTreeMap<String, PropertyValue> = values
                .iter()
                .filter(|(name, _)| self.readable(namespace, name, location, role))
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect();
            if !kept.is_empty() {
                shown.insert(namespace.clone(), kept);
            }
        }
        std::borrow::Cow::Owned(shown)
    }
}

/// Why a property write was refused; the engine turns it into an [`Error`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PropertyRefusal {
    /// Unknown, misplaced, mistyped or out of domain.
    Invalid(String),
    /// Not writable by the role; names the property.
    NoAccess(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> PropertyRegistry {
        let mut r = PropertyRegistry::default();
        r.insert(
            PropertyConfig::new("rating", "score", PropertyType::Int)
                .at(
                    Location::Chat,
                    LocationAccess {
                        agent: Access::READ,
                        customer: Access::READ_WRITE,
                    },
                )
                .with_domain(Domain::Range { min: 1, max: 5 }),
        )
        .unwrap();
        r
    }

    fn props(ns: &str, name: &str, v: PropertyValue) -> Properties {
        let mut p = Properties::new();
        p.entry(ns.into()).or_default().insert(name.into(), v);
        p
    }

    #[test]
    fn writes_are_checked_for_name_location_type_domain_and_access() {
        let r = registry();
        let ok = props("rating", "score", PropertyValue::Int(4));
        assert_eq!(r.check_write(&ok, Location::Chat, Role::Customer), Ok(()));
        assert!(matches!(
            r.check_write(&ok, Location::Chat, Role::Agent),
            Err(PropertyRefusal::NoAccess(_))
        ));
        assert!(matches!(
            r.check_write(&ok, Location::Thread, Role::Customer),
            Err(PropertyRefusal::Invalid(_))
        ));
        let out_of_range = props("rating", "score", PropertyValue::Int(6));
        assert!(
            r.check_write(&out_of_range, Location::Chat, Role::Customer)
                .is_err()
        );
        let wrong_type = props("rating", "score", PropertyValue::String("5".into()));
        assert!(
            r.check_write(&wrong_type, Location::Chat, Role::Customer)
                .is_err()
        );
        let unknown = props("rating", "nope", PropertyValue::Int(1));
        assert!(
            r.check_write(&unknown, Location::Chat, Role::Customer)
                .is_err()
        );
    }

    #[test]
    fn reads_are_filtered_by_role_and_location() {
        let r = registry();
        let p = props("rating", "score", PropertyValue::Int(4));
        assert_eq!(r.filter(&p, Location::Chat, Role::Agent).len(), 1);
        assert!(r.filter(&p, Location::Thread, Role::Agent).is_empty());
    }

    #[test]
    fn configs_are_validated() {
        let mut r = PropertyRegistry::default();
        assert!(
            r.insert(PropertyConfig::new("a", "b", PropertyType::Int))
                .is_err()
        );
        let bad_range = PropertyConfig::new("a", "b", PropertyType::String)
            .at(Location::Chat, LocationAccess::default())
            .with_domain(Domain::Range { min: 1, max: 2 });
        assert!(r.insert(bad_range).is_err());
    }
}
