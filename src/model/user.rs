//! Users: customers and agents.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{GroupId, GroupPriority, Timestamp, UserId, check_label, check_text, looks_like_email};
use crate::error::Error;

/// The longest ban `ban_customer` accepts, in days (ten years).
pub const MAX_BAN_DAYS: u32 = 3650;

/// The two roles a user can have; the two APIs are the two roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Someone answering chats, through the Agent API.
    Agent,
    /// A visitor, through the Customer API.
    Customer,
}

/// The page a customer is looking at (`customer.monitoring.page`). The Customer API makes the
/// URL and the title each optional; a page has at least one of them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// The page's URL, when known. Auto chat scopes' URL rules see a page without one as no
    /// page at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The page's title, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// A customer (visitor) of the license.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// The customer's id.
    pub id: UserId,
    /// Display name, when the customer gave one.
    pub name: Option<String>,
    /// E-mail address, when the customer gave one.
    pub email: Option<String>,
    /// Free-form key-value fields (`customer.fields`).
    pub fields: BTreeMap<String, String>,
    /// The page the customer is on, when the host reported it.
    pub current_page: Option<Page>,
    /// When the customer last did something in the license.
    pub last_seen_timestamp: Option<Timestamp>,
    /// The end of the customer's ban, if banned. A customer is banned while `now` is before it.
    pub banned_until: Option<Timestamp>,
    /// Where the customer's visit came from (`customer.monitoring.page.referrer`), as given.
    /// Agents see it as `monitoring.referrer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    /// The customer's time zone as the customer gave it (`customer.monitoring.timezone`, e.g.
    /// `"-2"`). Agents see it as `monitoring.geolocation.timezone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// When the visit began: the engine's time when the customer's first page was reported
    /// (`monitoring.current_visit.start`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visit_start: Option<Timestamp>,
    /// When the customer came to [`current_page`](Self::current_page): the engine's time when
    /// a page other than the current one was reported (the page's `start`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_start: Option<Timestamp>,
}

impl Customer {
    /// A customer with only an id.
    pub fn new(id: UserId) -> Self {
        Self {
            id,
            name: None,
            email: None,
            fields: BTreeMap::new(),
            current_page: None,
            last_seen_timestamp: None,
            banned_until: None,
            referrer: None,
            timezone: None,
            visit_start: None,
            page_start: None,
        }
    }

    /// Sets the display name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the e-mail address.
    pub fn with_email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// True while a ban is in force at `now`.
    pub fn is_banned(&self, now: Timestamp) -> bool {
        self.banned_until.is_some_and(|until| now < until)
    }

    /// Checks what the host gives [`Engine::add_customer`](crate::Engine::add_customer), as
    /// `update_customer` checks what the customer gives: the name, the e-mail address, the
    /// fields' keys and values and the page (see [`check_customer_name`] and the others).
    pub(crate) fn check_details(&self) -> Result<(), Error> {
        if let Some(name) = &self.name {
            check_customer_name(name)?;
        }
        if let Some(email) = &self.email {
            check_customer_email(email)?;
        }
        check_customer_fields(&self.fields)?;
        if let Some(referrer) = &self.referrer {
            check_referrer(referrer)?;
        }
        if let Some(timezone) = &self.timezone {
            check_timezone(timezone)?;
        }
        match &self.current_page {
            Some(page) => check_page(page),
            None => Ok(()),
        }
    }

    /// The name shown in system messages: the name, else the e-mail, else the id.
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .or_else(|| self.email.clone())
            .unwrap_or_else(|| self.id.to_string())
    }
}

/// Whether an agent is a person or a bot (bots are agents driven by software).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentKind {
    /// A person.
    #[default]
    Human,
    /// A bot agent.
    Bot,
}

/// An agent's permission level. What each level may do is the table in
/// [`PERMISSION_TABLE`](crate::model::PERMISSION_TABLE).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Owns the license: everything.
    Owner,
    /// Everything within its scopes. The default, so an engine without permission setup lets
    /// every agent act on every chat it may see.
    #[default]
    Administrator,
    /// Reads the chats it may see; writes only to its own chats (those it is in; and, to pick
    /// one up, chats waiting in the queue).
    Normal,
}

/// An agent of the license, as the host configures it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    /// The agent's id, usually an e-mail address.
    pub id: UserId,
    /// Display name, used in system messages such as "Anna joined the chat".
    pub name: String,
    /// E-mail address.
    pub email: Option<String>,
    /// Avatar URL.
    pub avatar: Option<String>,
    /// Person or bot.
    pub kind: AgentKind,
    /// Groups the agent belongs to.
    pub groups: Vec<GroupId>,
    /// How many chats routing may assign to the agent at once (its slots).
    pub max_chats: u32,
    /// What the agent may do.
    pub permission: Permission,
    /// For a bot: the agent who owns it and may act as it (`author_id` on a request).
    pub owner_id: Option<UserId>,
    /// The agent's routing priority in its groups, where it is not `normal` (see
    /// [`priority_in`](Self::priority_in)). Left out of records and snapshots when empty, so
    /// theirs stay as they were before priorities.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub group_priorities: BTreeMap<GroupId, GroupPriority>,
}

/// The default number of concurrent chats an agent may be assigned.
pub const DEFAULT_MAX_CHATS: u32 = 6;

/// The longest agent name accepted, in bytes; also the longest customer name and e-mail
/// address.
pub const MAX_NAME_LEN: usize = 512;

/// The longest page URL, and the longest page title, a customer's `monitoring.page` may carry,
/// in bytes.
pub const MAX_PAGE_LEN: usize = 4096;

fn too_long(field: &'static str, value: &str, max: usize) -> Result<(), Error> {
    if value.len() > max {
        return Err(Error::InvalidField {
            field,
            reason: format!("{} bytes, over the {max}-byte limit", value.len()),
        });
    }
    Ok(())
}

/// A customer's name: a label (see `text.rs`) of at most [`MAX_NAME_LEN`] bytes.
pub(crate) fn check_customer_name(name: &str) -> Result<(), Error> {
    too_long("customer.name", name, MAX_NAME_LEN)?;
    check_label("customer.name", name)
}

/// A customer's e-mail address: at most [`MAX_NAME_LEN`] bytes, a label, and shaped like an
/// address.
pub(crate) fn check_customer_email(email: &str) -> Result<(), Error> {
    too_long("customer.email", email, MAX_NAME_LEN)?;
    check_label("customer.email", email)?;
    if !looks_like_email(email) {
        return Err(Error::InvalidField {
            field: "customer.email",
            reason: format!("{email:?} is not an e-mail address"),
        });
    }
    Ok(())
}

/// A customer's fields: keys are labels, values free text. How many and how large is the
/// engine's limit to check (`Limits::customer_fields`).
pub(crate) fn check_customer_fields(fields: &BTreeMap<String, String>) -> Result<(), Error> {
    for (key, value) in fields {
        check_label("customer.fields", key)?;
        check_text("customer.fields", value)?;
    }
    Ok(())
}

/// The longest time zone a customer may give, in bytes (`"Europe/Warsaw"`, `"-2"`).
pub const MAX_TIMEZONE_LEN: usize = 64;

/// A visit's referrer: a non-empty label of at most [`MAX_PAGE_LEN`] bytes.
pub(crate) fn check_referrer(referrer: &str) -> Result<(), Error> {
    super::non_empty("customer.monitoring.page.referrer", referrer)?;
    too_long("customer.monitoring.page.referrer", referrer, MAX_PAGE_LEN)?;
    check_label("customer.monitoring.page.referrer", referrer)
}

/// A customer's time zone: a non-empty label of at most [`MAX_TIMEZONE_LEN`] bytes. Its form
/// is the customer's business (v0.5's sample gives an hour offset, `"-2"`).
pub(crate) fn check_timezone(timezone: &str) -> Result<(), Error> {
    super::non_empty("customer.monitoring.timezone", timezone)?;
    too_long("customer.monitoring.timezone", timezone, MAX_TIMEZONE_LEN)?;
    check_label("customer.monitoring.timezone", timezone)
}

/// The page a customer is on: a URL or a title, or both, each a label of at most
/// [`MAX_PAGE_LEN`] bytes.
pub(crate) fn check_page(page: &Page) -> Result<(), Error> {
    match (&page.url, &page.title) {
        (Some(url), _) => super::non_empty("customer.monitoring.page.url", url)?,
        (None, Some(_)) => {}
        (None, None) => {
            return Err(Error::InvalidField {
                field: "customer.monitoring.page",
                reason: "give the page's url or title".into(),
            });
        }
    }
    if let Some(url) = &page.url {
        too_long("customer.monitoring.page.url", url, MAX_PAGE_LEN)?;
        check_label("customer.monitoring.page.url", url)?;
    }
    if let Some(title) = &page.title {
        too_long("customer.monitoring.page.title", title, MAX_PAGE_LEN)?;
        check_label("customer.monitoring.page.title", title)?;
    }
    Ok(())
}

impl Agent {
    /// A human agent with an id and a display name.
    pub fn new(id: UserId, name: impl Into<String>) -> Self {
        Self {
            id,
            name: name.into(),
            email: None,
            avatar: None,
            kind: AgentKind::Human,
            groups: Vec::new(),
            max_chats: DEFAULT_MAX_CHATS,
            permission: Permission::default(),
            owner_id: None,
            group_priorities: BTreeMap::new(),
        }
    }

    /// Marks the agent as a bot.
    pub fn bot(mut self) -> Self {
        self.kind = AgentKind::Bot;
        self
    }

    /// Marks the agent as a bot owned by `owner`, who may send requests on its behalf.
    pub fn bot_owned_by(mut self, owner: UserId) -> Self {
        self.kind = AgentKind::Bot;
        self.owner_id = Some(owner);
        self
    }

    /// Sets the e-mail address.
    pub fn with_email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// Sets the avatar URL.
    pub fn with_avatar(mut self, avatar: impl Into<String>) -> Self {
        self.avatar = Some(avatar.into());
        self
    }

    /// Puts the agent in groups.
    pub fn with_groups(mut self, groups: impl IntoIterator<Item = GroupId>) -> Self {
        self.groups = groups.into_iter().collect();
        self
    }

    /// Puts the agent in `group` (if it is not yet) with routing priority `priority` there.
    ///
    /// ```
    /// use chatio::{Agent, GroupId, UserId};
    /// use chatio::model::GroupPriority;
    /// let bot = Agent::new(UserId::new("greeter")?, "Greeter")
    ///     .bot()
    ///     .with_group_priority(GroupId(0), GroupPriority::First);
    /// assert_eq!(bot.priority_in(GroupId(0)), GroupPriority::First);
    /// assert_eq!(bot.priority_in(GroupId(1)), GroupPriority::Normal);
    /// # Ok::<(), chatio::Error>(())
    /// ```
    pub fn with_group_priority(mut self, group: GroupId, priority: GroupPriority) -> Self {
        if !self.groups.contains(&group) {
            self.groups.push(group);
        }
        self.group_priorities.insert(group, priority);
        self.group_priorities
            .retain(|_, p| *p != GroupPriority::Normal);
        self
    }

    /// The agent's routing priority in `group`: the one it was given, else `normal`.
    pub fn priority_in(&self, group: GroupId) -> GroupPriority {
        self.group_priorities
            .get(&group)
            .copied()
            .unwrap_or_default()
    }

    /// The agent's routing priority for a chat scoped to `groups`: its best priority among
    /// those groups it is in. A chat scoped to no group is in group 0, where v0.5 puts every
    /// agent; an agent in none of the chat's groups (one that sees the chat because its scopes
    /// name it) is `normal`.
    pub fn priority_for(&self, groups: &std::collections::BTreeSet<GroupId>) -> GroupPriority {
        if self.group_priorities.is_empty() {
            return GroupPriority::Normal;
        }
        if groups.is_empty() {
            return self.priority_in(GroupId(0));
        }
        groups
            .iter()
            .filter(|g| self.groups.contains(g))
            .map(|&g| self.priority_in(g))
            .min()
            .unwrap_or_default()
    }

    /// Sets the agent's permission level.
    pub fn with_permission(mut self, permission: Permission) -> Self {
        self.permission = permission;
        self
    }

    /// Sets how many chats routing may assign to the agent at once.
    pub fn with_max_chats(mut self, max_chats: u32) -> Self {
        self.max_chats = max_chats;
        self
    }

    /// Refuses a name, e-mail address or avatar URL holding what could make it show as
    /// something else in agents' applications (see `text.rs`). Kept apart from
    /// [`validate`](Self::validate), which restoring a snapshot runs too: a snapshot written
    /// before these checks must still restore.
    pub(crate) fn check_labels(&self) -> Result<(), Error> {
        check_label("agent.name", &self.name)?;
        if let Some(email) = &self.email {
            check_label("agent.email", email)?;
        }
        if let Some(avatar) = &self.avatar {
            check_label("agent.avatar", avatar)?;
        }
        Ok(())
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.name.trim().is_empty() || self.name.len() > MAX_NAME_LEN {
            return Err(Error::InvalidField {
                field: "agent.name",
                reason: format!(
                    "agent {} needs a name of 1 to {MAX_NAME_LEN} bytes",
                    self.id
                ),
            });
        }
        Ok(())
    }
}

/// A user as responses and pushes show it (`User > Customer` or `User > Agent`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum User {
    /// A customer.
    Customer(Customer),
    /// An agent.
    Agent(Agent),
}

impl User {
    /// The user's id.
    pub fn id(&self) -> &UserId {
        match self {
            User::Customer(c) => &c.id,
            User::Agent(a) => &a.id,
        }
    }

    /// The user's role.
    pub fn role(&self) -> Role {
        match self {
            User::Customer(_) => Role::Customer,
            User::Agent(_) => Role::Agent,
        }
    }
}
