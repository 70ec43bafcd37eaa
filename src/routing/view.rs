//! What a router sees: a read-only window on the engine, for one chat at one moment.

use crate::engine::{Engine, Excluding};
use crate::model::{Agent, Chat, ChatId, GroupPriority, Scopes, Timestamp, UserId};

use super::{RoutingMoment, RoutingStatus};

/// An agent as routing sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgentStatus<'a> {
    /// The agent's profile (id, name, groups, ...).
    pub agent: &'a Agent,
    /// Whether the host has the agent connected.
    pub online: bool,
    /// Whether the agent accepts chats.
    pub routing_status: RoutingStatus,
    /// How many chats are assigned to the agent now.
    pub load: u32,
    /// How many it may have at once.
    pub max_chats: u32,
    /// When it was last assigned a chat.
    pub last_assigned: Option<Timestamp>,
}

impl AgentStatus<'_> {
    /// Online, accepting chats and below its limit.
    pub fn is_available(&self) -> bool {
        self.online
            && self.routing_status == RoutingStatus::AcceptingChats
            && self.load < self.max_chats
    }
}

/// The chat being routed, as routing sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatStatus<'a> {
    /// The chat.
    pub id: ChatId,
    /// Who may see it.
    pub scopes: &'a Scopes,
    /// The agent it is assigned to now, if any.
    pub assignee: Option<&'a UserId>,
    /// Since when it has been waiting unassigned, if it is.
    pub waiting_since: Option<Timestamp>,
    /// When the customer last wrote, if ever.
    pub last_customer_message: Option<Timestamp>,
    /// Whether the assignee has seen (or answered) the customer's last message.
    pub last_message_seen: bool,
}

/// A read-only window on the engine for one routing decision.
#[derive(Debug)]
pub struct RoutingView<'a> {
    engine: &'a Engine,
    chat: &'a Chat,
    moment: RoutingMoment,
}

impl<'a> RoutingView<'a> {
    pub(crate) fn new(engine: &'a Engine, chat: &'a Chat, moment: RoutingMoment) -> Self {
        Self {
            engine,
            chat,
            moment,
        }
    }

    /// True if this decision may not choose the agent: the one the chat is being taken from, or
    /// one that gave the chat up (let the customer's message go unanswered, or left it), unless
    /// that agent is now replying.
    pub fn is_excluded(&self, id: &UserId) -> bool {
        Excluding::Moment(&self.moment).excludes(self.chat, id)
    }

    /// Why the engine asks.
    pub fn moment(&self) -> &RoutingMoment {
        &self.moment
    }

    /// The engine's time.
    pub fn now(&self) -> Timestamp {
        self.engine.now()
    }

    /// The chat being routed.
    pub fn chat(&self) -> ChatStatus<'a> {
        let r = &self.chat.routing;
        ChatStatus {
            id: self.chat.id,
            scopes: &self.chat.scopes,
            assignee: r.assignee.as_ref(),
            waiting_since: r.waiting_since,
            last_customer_message: r.last_customer_message.map(|m| m.timestamp),
            last_message_seen: self.engine.last_message_seen(self.chat),
        }
    }

    /// An agent by id.
    pub fn agent(&self, id: &UserId) -> Option<AgentStatus<'a>> {
        self.engine
            .agent_slot(id)
            .map(|s| self.engine.agent_status_at(s))
    }

    /// Every agent, in registration order. Walking all of them costs time in proportion to the
    /// license's size: prefer the `available_by_*` iterators, which skip straight to agents who
    /// can take a chat.
    pub fn agents(&self) -> impl Iterator<Item = AgentStatus<'a>> + 'a {
        let engine = self.engine;
        (0..engine.agents().len()).map(move |s| engine.agent_status_at(s))
    }

    /// True if the agent can take this chat now: available, allowed to see it, and not the agent
    /// the chat is being taken from.
    pub fn can_take(&self, id: &UserId) -> bool {
        self.engine.agent_slot(id).is_some_and(|s| {
            self.engine
                .can_take(s, self.chat, Excluding::Moment(&self.moment))
        })
    }

    /// The agent's priority for this chat: its best priority among the chat's groups (see
    /// [`Agent::priority_for`]).
    pub fn priority(&self, agent: &Agent) -> GroupPriority {
        agent.priority_for(&self.chat.scopes.groups)
    }

    /// Whether any agent of the license has a group priority other than `normal`; while none
    /// has, priorities change no decision.
    pub fn has_priorities(&self) -> bool {
        self.engine.has_priorities()
    }

    /// The first of `candidates` with the best priority for this chat: the first `first` one,
    /// else the first `normal` one, else the first `last` one. While no agent of the license
    /// has a priority other than `normal`, that is simply the first candidate; otherwise the
    /// walk stops at the first `first` agent, or goes through every candidate.
    pub fn by_priority(
        &self,
        candidates: impl IntoIterator<Item = AgentStatus<'a>>,
    ) -> Option<AgentStatus<'a>> {
        let mut candidates = candidates.into_iter();
        if !self.engine.has_priorities() {
            return candidates.next();
        }
        let mut best: Option<(GroupPriority, AgentStatus<'a>)> = None;
        for candidate in candidates {
            let priority = self.priority(candidate.agent);
            if priority == GroupPriority::First {
                return Some(candidate);
            }
            if best.as_ref().is_none_or(|(b, _)| priority < *b) {
                best = Some((priority, candidate));
            }
        }
        best.map(|(_, candidate)| candidate)
    }

    /// Agents who can take this chat, most free slots first.
    pub fn available_by_free_slots(&self) -> impl Iterator<Item = AgentStatus<'a>> + '_ {
        self.eligible(self.engine.availability().by_free_slots())
    }

    /// Agents who can take this chat, fewest chats first.
    pub fn available_by_load(&self) -> impl Iterator<Item = AgentStatus<'a>> + '_ {
        self.eligible(self.engine.availability().by_load())
    }

    /// Agents who can take this chat, longest since their last assignment first.
    pub fn available_by_wait(&self) -> impl Iterator<Item = AgentStatus<'a>> + '_ {
        self.eligible(self.engine.availability().by_wait())
    }

    fn eligible(
        &self,
        slots: impl Iterator<Item = usize> + 'a,
    ) -> impl Iterator<Item = AgentStatus<'a>> + '_ {
        let engine = self.engine;
        let chat = self.chat;
        let moment = &self.moment;
        slots
            .filter(move |&s| engine.can_take(s, chat, Excluding::Moment(moment)))
            .map(move |s| engine.agent_status_at(s))
    }
}
