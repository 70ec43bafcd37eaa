//! The agent's `get_archives`: closed threads, one page at a time.

use serde::{Deserialize, Serialize};
use time::{Date, Month};

use super::View;
use crate::engine::{Engine, Requester};
use crate::error::Error;
use crate::model::Grant;
use crate::model::{
    ArchivedThread, Chat, ChatId, Location, PropertyFilters, Role, Thread, ThreadId, Timestamp,
    UserId, properties_match,
};
use crate::push::ChatThread;

/// `get_archives` pagination: limit 25 by default, at most 100. The reference names `page` and
/// `limit` without bounds; 25 is its sample's limit and 100 the engine's other maximum.
pub const ARCHIVES_LIMIT: (u32, u32) = (25, 100);

/// The filters of `get_archives`. Every filter given must pass.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ArchiveFilters {
    /// Text to look for, case-insensitively, in the thread's messages, system messages and
    /// annotation notes. Must not be blank. Only threads the engine holds are searched: an
    /// archived thread ([`Engine::archive_threads`](crate::Engine::archive_threads)) never
    /// matches a query, since its text is in the host's store.
    #[serde(default)]
    pub query: Option<String>,
    /// The first day (`YYYY-MM-DD`, UTC) a thread may have started on.
    #[serde(default)]
    pub date_from: Option<String>,
    /// The last day (`YYYY-MM-DD`, UTC) a thread may have started on.
    #[serde(default)]
    pub date_to: Option<String>,
    /// Agents of the license, at least one of whom was in the chat during the thread.
    #[serde(default)]
    pub agent_ids: Vec<UserId>,
    /// Teams: the engine has none, so any value is refused rather than silently ignored.
    #[serde(default)]
    pub team_ids: Vec<serde_json::Value>,
    /// Conditions on the chat's properties; a property the agent may not read counts as not
    /// set, as in `get_filtered_chats`.
    #[serde(default)]
    pub properties: PropertyFilters,
}

/// The pagination of `get_archives`: 1-based pages of `limit` threads. `None` takes the
/// defaults (page 1, [`ARCHIVES_LIMIT`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivesPagination {
    /// The page, from 1.
    #[serde(default)]
    pub page: Option<u32>,
    /// Threads per page, 1 to 100.
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Which page a `get_archives` response is, and how many threads matched in all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivesPage {
    /// The page returned.
    pub page: u32,
    /// Closed threads that passed the filters, on every page.
    pub total: usize,
}

/// The response of `get_archives`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Archives {
    /// One page of archives, each a chat with one closed thread, newest thread first.
    pub chats: Vec<ChatThread>,
    /// The page and the total.
    pub pagination: ArchivesPage,
    /// The archives of `chats` whose thread is archived
    /// ([`Engine::archive_threads`](crate::Engine::archive_threads)) and still without its
    /// events, as `(chat, thread)`: the host loads them from its store and calls
    /// [`fill`](Self::fill). Empty for an answer that is whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub archived: Vec<(ChatId, ThreadId)>,
}

impl Archives {
    /// Fills the archived threads of `chats` with their events from `loaded`, as an agent
    /// sees them (the same view as a thread in memory; see
    /// [`ChatThreads::fill`](crate::query::ChatThreads::fill)). Fails, changing nothing, if a
    /// thread is missing from `loaded` or does not match what the engine kept of it.
    pub fn fill(&mut self, engine: &Engine, loaded: &[ArchivedThread]) -> Result<(), Error> {
        let view = View(engine);
        let mut filled = Vec::with_capacity(self.archived.len());
        for &(chat_id, thread_id) in &self.archived {
            filled.push((
                chat_id,
                view.filled_thread(chat_id, thread_id, loaded, Role::Agent)?,
            ));
        }
        for (chat_id, thread) in filled {
            let archive = self
                .chats
                .iter_mut()
                .find(|c| c.id == chat_id && c.thread.id == thread.id);
            if let Some(archive) = archive {
                archive.thread = thread;
            }
        }
        self.archived.clear();
        Ok(())
    }
}

/// The filters, checked and in the form the matching needs.
struct Checked<'f> {
    query: Option<String>,
    from: Option<Timestamp>,
    /// The first moment after the last day: the bound is exclusive.
    until: Option<Timestamp>,
    agent_ids: &'f [UserId],
    properties: &'f PropertyFilters,
}

/// The day a `YYYY-MM-DD` text names. Only that exact form is taken (no sign, no time), so a
/// client's typo is refused instead of read as some other day.
fn parse_day(field: &'static str, text: &str) -> Result<Date, Error> {
    let invalid = |reason: &str| Error::InvalidField {
        field,
        reason: format!("{text:?} {reason}"),
    };
    let parts: Vec<&str> = text.split('-').collect();
    let [year, month, day] = parts.as_slice() else {
        return Err(invalid("is not a YYYY-MM-DD date"));
    };
    let digits = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(year, 4) && digits(month, 2) && digits(day, 2)) {
        return Err(invalid("is not a YYYY-MM-DD date"));
    }
    let number = |s: &str| s.parse::<u16>().map_err(|_| invalid("is not a date"));
    let month = u8::try_from(number(month)?)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or_else(|| invalid("has no such month"))?;
    let day = u8::try_from(number(day)?).map_err(|_| invalid("has no such day"))?;
    Date::from_calendar_date(i32::from(number(year)?), month, day)
        .map_err(|_| invalid("has no such day"))
}

/// Days are UTC: the engine knows no time zones, and every timestamp it keeps is UTC.
fn midnight(day: Date) -> Timestamp {
    Timestamp::from(day.midnight().assume_utc())
}

impl View<'_> {
    /// Checks every filter before any chat is looked at, so a refusal names the field.
    fn check_archive_filters<'f>(&self, filters: &'f ArchiveFilters) -> Result<Checked<'f>, Error> {
        let query = match filters.query.as_deref() {
            Some(q) if q.trim().is_empty() => {
                return Err(Error::InvalidField {
                    field: "filters.query",
                    reason: "must not be blank".into(),
                });
            }
            q => q.map(str::to_lowercase),
        };
        let from = filters
            .date_from
            .as_deref()
            .map(|d| parse_day("filters.date_from", d))
            .transpose()?;
        let to = filters
            .date_to
            .as_deref()
            .map(|d| parse_day("filters.date_to", d))
            .transpose()?;
        if let (Some(from), Some(to)) = (from, to) {
            if to < from {
                return Err(Error::InvalidField {
                    field: "filters.date_to",
                    reason: format!("{to} is before date_from {from}"),
                });
            }
        }
        if let Some(unknown) = filters.agent_ids.iter().find(|id| self.agent(id).is_none()) {
            return Err(Error::InvalidField {
                field: "filters.agent_ids",
                reason: format!("{unknown} is not an agent of this license"),
            });
        }
        if !filters.team_ids.is_empty() {
            return Err(Error::InvalidField {
                field: "filters.team_ids",
                reason: "teams are not supported".into(),
            });
        }
        Ok(Checked {
            query,
            from: from.map(midnight),
            // The last representable day has no day after it: nothing starts after it anyway.
            until: to.and_then(Date::next_day).map(midnight),
            agent_ids: &filters.agent_ids,
            properties: &filters.properties,
        })
    }

    fn archive_matches(&self, f: &Checked, chat: &Chat, thread: &Thread) -> bool {
        if f.from.is_some_and(|from| thread.timestamp < from)
            || f.until.is_some_and(|until| thread.timestamp >= until)
        {
            return false;
        }
        if !f.agent_ids.is_empty() && !thread.user_ids().iter().any(|u| f.agent_ids.contains(u)) {
            return false;
        }
        if !f.properties.is_empty() {
            let readable = self.properties_view(&chat.properties, Location::Chat, Role::Agent);
            if !properties_match(f.properties, &readable) {
                return false;
            }
        }
        f.query.as_deref().is_none_or(|q| {
            thread
                .event_refs_for(Role::Agent)
                .filter_map(|e| e.text())
                .any(|text| text.to_lowercase().contains(q))
        })
    }

    /// `get_archives`: a page of the closed threads the agent may see that pass the filters.
    ///
    /// An archive is one closed (inactive) thread: the reference answers each with a chat and
    /// one thread, so a chat with three closed threads is three archives, and its active
    /// thread is none. Newest first by thread order, which is unique, so pages never overlap.
    /// Needs `chats--all:read`, and only chats the agent may see (scopes) count.
    pub(crate) fn get_archives(
        &self,
        req: &Requester,
        filters: &ArchiveFilters,
        pagination: ArchivesPagination,
    ) -> Result<Archives, Error> {
        self.authorize(req, Grant::ChatsAllRead)?;
        let page = pagination.page.unwrap_or(1);
        if page == 0 {
            return Err(Error::InvalidField {
                field: "pagination.page",
                reason: "pages count from 1".into(),
            });
        }
        let (default_limit, max_limit) = ARCHIVES_LIMIT;
        let limit = pagination.limit.unwrap_or(default_limit);
        if limit == 0 || limit > max_limit {
            return Err(Error::InvalidField {
                field: "pagination.limit",
                reason: format!("{limit} is not between 1 and {max_limit}"),
            });
        }
        let checked = self.check_archive_filters(filters)?;
        let mut archives: Vec<(&Chat, usize, u64)> = self
            .all_chats()
            .filter(|c| self.may_see(req.id, Role::Agent, c))
            .flat_map(|c| {
                c.threads
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| !t.active)
                    .map(move |(i, t)| (c, i, t))
            })
            .filter(|(c, _, t)| self.archive_matches(&checked, c, t))
            .map(|(c, i, t)| (c, i, t.order))
            .collect();
        archives.sort_by_key(|&(_, _, order)| std::cmp::Reverse(order));
        let skip = usize::try_from(u64::from(page - 1) * u64::from(limit)).unwrap_or(usize::MAX);
        let page_of = || archives.iter().skip(skip).take(limit as usize);
        Ok(Archives {
            chats: page_of()
                .map(|&(c, i, _)| self.chat_thread_view(c, i, Role::Agent))
                .collect(),
            pagination: ArchivesPage {
                page,
                total: archives.len(),
            },
            archived: page_of()
                .filter(|&&(c, i, _)| c.threads[i].is_archived())
                .map(|&(c, i, _)| (c.id, c.threads[i].id))
                .collect(),
        })
    }
}
