//! Read-only views: what a user may see of chats and threads. Queries change nothing.

mod archives;
mod filtered;
mod summary;
mod threads;

pub use archives::{ARCHIVES_LIMIT, ArchiveFilters, Archives, ArchivesPage, ArchivesPagination};
pub use filtered::{ChatFilters, ChatsPagination, FILTERED_CHATS_LIMIT, FilteredChats};
pub use summary::{AgentLogin, ChatSummary, ChatsSummary, CustomerLogin, LastEvent};
pub use threads::{ChatThreads, THREAD_IDS_LIMIT, ThreadSummary, ThreadsSummary};

use std::ops::Deref;

use crate::engine::Engine;
use crate::error::Error;
use crate::model::Chat;

/// The newest `limit` of `chats` (by [`Chat::order`], newest first) whose order is below
/// `before` when given; how many `chats` there are in all, before and after `before`; and
/// whether more than `limit` are below `before`.
///
/// Chat orders are unique (each is the order of something in that chat alone), so paging with
/// `before` set to the last order returned neither repeats nor skips a chat that did not change
/// between two pages. It picks the page in one pass and sorts only the page: the summaries are
/// what costs, so no more are made than are sent, whatever the license's size.
/// The engine as the queries read it: through its accessors, never its fields. The queries
/// are methods of this view rather than of `Engine`, so that the engine's own methods are all
/// in `src/engine` and this layer only reads.
#[derive(Clone, Copy)]
pub(crate) struct View<'e>(pub(crate) &'e Engine);

impl Deref for View<'_> {
    type Target = Engine;

    fn deref(&self) -> &Engine {
        self.0
    }
}

pub(crate) fn newest_chats<'c>(
    chats: impl Iterator<Item = &'c Chat>,
    before: Option<u64>,
    limit: usize,
) -> (Vec<&'c Chat>, usize, bool) {
    let mut total = 0;
    let mut below = 0;
    let mut page: Vec<(u64, &Chat)> = Vec::new();
    for chat in chats {
        total += 1;
        let order = chat.order();
        if before.is_some_and(|b| order >= b) {
            continue;
        }
        below += 1;
        page.push((order, chat));
        // Keep the list short: past twice the page, drop all but the newest `limit`.
        if page.len() >= limit.saturating_mul(2).max(64) {
            page.select_nth_unstable_by_key(limit.saturating_sub(1), |&(o, _)| {
                std::cmp::Reverse(o)
            });
            page.truncate(limit);
        }
    }
    page.sort_unstable_by_key(|&(o, _)| std::cmp::Reverse(o));
    page.truncate(limit);
    (
        page.into_iter().map(|(_, c)| c).collect(),
        total,
        below > limit,
    )
}

/// Checks pagination against an action's limits and fills in its defaults.
pub(crate) fn paginate(
    page: crate::model::Pagination,
    default_limit: u32,
    max_limit: u32,
    max_offset: Option<u32>,
) -> Result<(usize, usize), Error> {
    let offset = page.offset.unwrap_or(0);
    if let Some(max) = max_offset.filter(|&m| offset > m) {
        return Err(Error::InvalidField {
            field: "offset",
            reason: format!("{offset} is over the maximum of {max}"),
        });
    }
    let limit = page.limit.unwrap_or(default_limit);
    if limit == 0 || limit > max_limit {
        return Err(Error::InvalidField {
            field: "limit",
            reason: format!("{limit} is not between 1 and {max_limit}"),
        });
    }
    Ok((offset as usize, limit as usize))
}
