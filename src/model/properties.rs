//! Namespaced properties stored on chats, threads and events.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A property value: the protocol knows integers, booleans and strings.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PropertyValue {
    /// `int` (32-bit, as the Configuration API defines it).
    Int(i32),
    /// `bool`.
    Bool(bool),
    /// `string` or `tokenized_string`.
    String(String),
}

/// Properties of one object: namespace (an application's id) to name to value.
///
/// `BTreeMap` keeps every rendering in a stable order, which determinism and golden files need;
/// an empty map does not allocate, and most objects carry none.
pub type Properties = BTreeMap<String, BTreeMap<String, PropertyValue>>;
