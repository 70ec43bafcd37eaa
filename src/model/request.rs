//! What the facades take beyond ids: the bodies of the richer requests.

use serde::{Deserialize, Serialize};

use super::{GroupId, NewEvent, Page, Properties, Scopes, UserId};

/// The body of `start_chat`.
///
/// ```
/// use chatio::{NewEvent, StartChat};
/// let chat = StartChat::default().with_event(NewEvent::message("Hi, I need help"));
/// assert_eq!(chat.events.len(), 1);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StartChat {
    /// Who may see the chat (customers set this; empty means every agent).
    #[serde(default)]
    pub scopes: Scopes,
    /// Initial chat properties.
    #[serde(default)]
    pub properties: Properties,
    /// Initial properties of the first thread.
    #[serde(default)]
    pub thread_properties: Properties,
    /// Initial events of the first thread, in order.
    #[serde(default)]
    pub events: Vec<NewEvent>,
}

impl StartChat {
    /// Adds an initial event.
    pub fn with_event(mut self, event: NewEvent) -> Self {
        self.events.push(event);
        self
    }

    /// Sets the chat's scopes.
    pub fn with_scopes(mut self, scopes: Scopes) -> Self {
        self.scopes = scopes;
        self
    }

    /// Sets the chat's properties.
    pub fn with_properties(mut self, properties: Properties) -> Self {
        self.properties = properties;
        self
    }
}

/// The changes of `update_customer`; fields left `None` stay as they are, and `fields` are
/// merged into the customer's (a key given replaces that key only).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerUpdate {
    /// New display name.
    #[serde(default)]
    pub name: Option<String>,
    /// New e-mail address.
    #[serde(default)]
    pub email: Option<String>,
    /// Fields to set.
    #[serde(default)]
    pub fields: std::collections::BTreeMap<String, String>,
    /// The page the customer is on now.
    #[serde(default)]
    pub current_page: Option<Page>,
    /// Where the visit came from (the Customer API's `customer.monitoring.page.referrer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    /// The customer's time zone (`customer.monitoring.timezone`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

/// Who a `multicast` reaches. At least one part must name someone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MulticastScopes {
    /// Every agent of the license.
    #[serde(default)]
    pub all_agents: bool,
    /// These agents.
    #[serde(default)]
    pub agent_ids: Vec<UserId>,
    /// The agents of these groups.
    #[serde(default)]
    pub groups: Vec<GroupId>,
    /// These customers.
    #[serde(default)]
    pub customer_ids: Vec<UserId>,
}

/// Pagination of `get_chat_threads_summary` and `get_chats_summary`; `None` takes the action's
/// default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pagination {
    /// How many items to skip.
    #[serde(default)]
    pub offset: Option<u32>,
    /// How many items to return.
    #[serde(default)]
    pub limit: Option<u32>,
}
