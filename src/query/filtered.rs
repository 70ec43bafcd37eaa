//! The agent's `get_filtered_chats`.

use serde::{Deserialize, Serialize};

use super::ChatSummary;
use super::View;
use crate::engine::Requester;
use crate::error::Error;
use crate::model::{Chat, Location, PropertyFilters, Role, properties_match};

/// `get_filtered_chats` pagination: `limit` 25 by default, at most 100.
pub const FILTERED_CHATS_LIMIT: (u32, u32) = (25, 100);

/// The filters of `get_filtered_chats`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatFilters {
    /// Whether chats with an active thread are included (default `true`); with `false`, only
    /// archived chats are returned.
    #[serde(default)]
    pub include_active: Option<bool>,
    /// Whether chats without an active thread are included (default `true`); with `false`, only
    /// active chats are returned, as the agent's `login` lists them. Not in v0.5: it is how an
    /// agent fetches the active chats its `login` had no room for. Setting both to `false` is a
    /// `validation` error.
    #[serde(default)]
    pub include_inactive: Option<bool>,
    /// Conditions on chat properties; a property the agent may not read counts as not set.
    #[serde(default)]
    pub properties: PropertyFilters,
}

/// Which page of `get_filtered_chats` to return. v0.5 returns every chat at once; the engine
/// pages, newest first, so that no answer grows with the license.
///
/// Pages are keyed by the chats' `order` rather than numbered: `before_order` set to the
/// `order` of the last summary received asks for the chats after it, and a chat that moved to
/// the top meanwhile (a new event) or left the list (closed) neither repeats nor hides another.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatsPagination {
    /// Chats per page, 1 to 100; 25 when not given.
    #[serde(default)]
    pub limit: Option<u32>,
    /// Only chats whose `order` is below this one; from the newest when not given.
    #[serde(default)]
    pub before_order: Option<u64>,
}

/// The response of `get_filtered_chats`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FilteredChats {
    /// One page of the chats that pass the filters, newest first.
    pub chats_summary: Vec<ChatSummary>,
    /// How many chats pass the filters, on every page.
    pub total_chats: usize,
    /// When more chats pass the filters after this page, the `before_order` that asks for them
    /// (the `order` of this page's last summary); `None` on the last page.
    pub next_before_order: Option<u64>,
}

impl View<'_> {
    /// `get_filtered_chats`: a page of summaries of the chats the agent may see that pass the
    /// filters, newest first.
    pub(crate) fn get_filtered_chats(
        &self,
        req: &Requester,
        filters: &ChatFilters,
        pagination: ChatsPagination,
    ) -> Result<FilteredChats, Error> {
        let (default_limit, max_limit) = FILTERED_CHATS_LIMIT;
        let limit = pagination.limit.unwrap_or(default_limit);
        if limit == 0 || limit > max_limit {
            return Err(Error::InvalidField {
                field: "pagination.limit",
                reason: format!("{limit} is not between 1 and {max_limit}"),
            });
        }
        let include_active = filters.include_active.unwrap_or(true);
        let include_inactive = filters.include_inactive.unwrap_or(true);
        if !include_active && !include_inactive {
            return Err(Error::InvalidField {
                field: "filters.include_inactive",
                reason: "with include_active false too, no chat could pass".into(),
            });
        }
        let chats = self
            .all_chats()
            .filter(|c| {
                if c.is_active() {
                    include_active
                } else {
                    include_inactive
                }
            })
            .filter(|c| self.may_see(req.id, Role::Agent, c))
            .filter(|c: &&Chat| {
                filters.properties.is_empty() || {
                    let readable = self.properties_view(&c.properties, Location::Chat, Role::Agent);
                    properties_match(&filters.properties, &readable)
                }
            });
        let (page, total_chats, more) =
            super::newest_chats(chats, pagination.before_order, limit as usize);
        Ok(FilteredChats {
            next_before_order: page.last().filter(|_| more).map(|c| c.order()),
            chats_summary: page
                .iter()
                .map(|c| self.chat_summary(c, Role::Agent))
                .collect(),
            total_chats,
        })
    }
}
