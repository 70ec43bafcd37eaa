//! The agent's `get_filtered_chats`.

use serde::{Deserialize, Serialize};

use super::ChatSummary;
use crate::engine::{Engine, Requester};
use crate::error::Error;
use crate::model::{Chat, Location, PropertyFilters, Role, properties_match};

/// The filters of `get_filtered_chats`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatFilters {
    /// Whether chats with an active thread are included (default `true`); with `false`, only
    /// archived chats are returned.
    #[serde(default)]
    pub include_active: Option<bool>,
    /// Conditions on chat properties; a property the agent may not read counts as not set.
    #[serde(default)]
    pub properties: PropertyFilters,
}

impl Engine {
    /// `get_filtered_chats`: summaries of the chats the agent may see that pass the filters,
    /// newest first.
    pub(crate) fn get_filtered_chats(
        &self,
        req: &Requester,
        filters: &ChatFilters,
    ) -> Result<Vec<ChatSummary>, Error> {
        let include_active = filters.include_active.unwrap_or(true);
        let mut chats: Vec<&Chat> = self
            .all_chats()
            .filter(|c| self.may_see(req.id, Role::Agent, c))
            .filter(|c| include_active || !c.is_active())
            .filter(|c| {
                let readable = self.properties_view(&c.properties, Location::Chat, Role::Agent);
                properties_match(&filters.properties, &readable)
            })
            .collect();
        chats.sort_by_key(|c| std::cmp::Reverse(c.order()));
        Ok(chats
            .iter()
            .map(|c| self.chat_summary(c, Role::Agent))
            .collect())
    }
}
