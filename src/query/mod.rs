//! Read-only views: what a user may see of chats and threads. Queries change nothing.

mod archives;
mod filtered;
mod summary;
mod threads;

pub use archives::{ARCHIVES_LIMIT, ArchiveFilters, Archives, ArchivesPage, ArchivesPagination};
pub use filtered::ChatFilters;
pub use summary::{AgentLogin, ChatSummary, ChatsSummary, CustomerLogin, LastEvent};
pub use threads::{ChatThreads, ThreadSummary, ThreadsSummary};

use crate::error::Error;

/// Checks pagination against an action's limits and fills in its defaults.
pub(crate) fn paginate(
    page: crate::api::Pagination,
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
