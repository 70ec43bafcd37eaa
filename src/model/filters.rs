//! Filters on chat properties and customer URLs, shared by auto chat scopes and
//! `get_filtered_chats`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Properties, PropertyValue};

/// A condition on one property (only one kind per property, as the protocol says).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PropertyFilter {
    /// The property is set (`true`) or not set (`false`).
    Exists(bool),
    /// The property is set to one of these values.
    Values(Vec<PropertyValue>),
    /// The property is not set to any of these values (or not set at all).
    ExcludeValues(Vec<PropertyValue>),
}

impl PropertyFilter {
    /// Whether a property's value (or its absence) passes.
    pub fn matches(&self, value: Option<&PropertyValue>) -> bool {
        match self {
            PropertyFilter::Exists(wanted) => value.is_some() == *wanted,
            PropertyFilter::Values(values) => value.is_some_and(|v| values.contains(v)),
            PropertyFilter::ExcludeValues(values) => !value.is_some_and(|v| values.contains(v)),
        }
    }
}

/// Conditions on properties: namespace to name to filter. All must pass.
pub type PropertyFilters = BTreeMap<String, BTreeMap<String, PropertyFilter>>;

/// Whether `properties` pass every filter.
pub fn properties_match(filters: &PropertyFilters, properties: &Properties) -> bool {
    filters.iter().all(|(namespace, names)| {
        names.iter().all(|(name, filter)| {
            filter.matches(
                properties
                    .get(namespace)
                    .and_then(|values| values.get(name)),
            )
        })
    })
}

/// A string to look for in a customer's URL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UrlMatch {
    /// The text.
    pub value: String,
    /// `true`: the URL must equal it; `false`: the URL must contain it.
    #[serde(default)]
    pub exact_match: bool,
}

impl UrlMatch {
    fn matches(&self, url: &str) -> bool {
        if self.exact_match {
            url == self.value
        } else {
            url.contains(&self.value)
        }
    }
}

/// A condition on the URL of the page the customer is on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UrlFilter {
    /// The URL matches one of these.
    Values(Vec<UrlMatch>),
    /// The URL matches none of these (a customer with no known URL passes).
    ExcludeValues(Vec<UrlMatch>),
}

impl UrlFilter {
    /// Whether a URL (or its absence) passes.
    pub fn matches(&self, url: Option<&str>) -> bool {
        match self {
            UrlFilter::Values(matches) => url.is_some_and(|u| matches.iter().any(|m| m.matches(u))),
            UrlFilter::ExcludeValues(matches) => {
                !url.is_some_and(|u| matches.iter().any(|m| m.matches(u)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_filters() {
        let v = PropertyValue::String("facebook".into());
        assert!(PropertyFilter::Exists(true).matches(Some(&v)));
        assert!(PropertyFilter::Exists(false).matches(None));
        assert!(PropertyFilter::Values(vec![v.clone()]).matches(Some(&v)));
        assert!(!PropertyFilter::Values(vec![v.clone()]).matches(None));
        assert!(!PropertyFilter::ExcludeValues(vec![v.clone()]).matches(Some(&v)));
        assert!(PropertyFilter::ExcludeValues(vec![v]).matches(None));
    }

    #[test]
    fn url_filters_exact_and_substring() {
        let shop = UrlMatch {
            value: "shop.example.com".into(),
            exact_match: false,
        };
        let exact = UrlMatch {
            value: "https://example.com/".into(),
            exact_match: true,
        };
        let values = UrlFilter::Values(vec![shop.clone(), exact.clone()]);
        assert!(values.matches(Some("https://shop.example.com/cart")));
        assert!(values.matches(Some("https://example.com/")));
        assert!(!values.matches(Some("https://example.com/about")));
        assert!(!values.matches(None));
        let exclude = UrlFilter::ExcludeValues(vec![shop]);
        assert!(!exclude.matches(Some("https://shop.example.com/")));
        assert!(exclude.matches(None));
    }
}
