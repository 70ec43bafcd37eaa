//! Applying routing: the moments the engine asks its router, and what it does with the answer.
//!
//! Assigning a chat puts the agent in it (`chat_users_updated`), writes a `routing.assigned`
//! system message, and sends the agent `incoming_chat_thread`. Unassigning takes the agent out,
//! writes `routing.unassigned`, and queues the chat. Whenever an agent can take a chat again, the
//! oldest waiting chat it may serve is offered to the router first.

use std::sync::Arc;

use super::{Engine, Requester};
use crate::UserIds;
use crate::model::{Chat, Event, EventKind, EventMark, Role, User, UserId};
use crate::push::{Push, PushKind};
use crate::routing::{Decision, Router, RoutingMoment, RoutingView};

/// Why an assignment changes hands, for the system message.
#[derive(Clone, Debug)]
pub(crate) struct Because {
    pub(crate) agent_name: String,
    pub(crate) minutes: i64,
}

/// The router an engine consults; compared by name so that engines stay comparable.
#[derive(Clone)]
pub(crate) struct RouterHandle(pub(crate) Arc<dyn Router>);

impl std::fmt::Debug for RouterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Router({})", self.0.name())
    }
}

impl PartialEq for RouterHandle {
    fn eq(&self, other: &Self) -> bool {
        self.0.name() == other.0.name()
    }
}

/// Who a routing decision may not choose. Agents who gave a chat up (`declined_by`) are not
/// offered it again, which would only bounce it straight back, until someone else takes it or
/// its thread closes; replying still takes it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Excluding<'a> {
    /// Nobody: an explicit transfer may go to anyone who can take the chat.
    Nobody,
    /// The agents who gave the chat up.
    Decliners,
    /// Those, and the agent the moment takes the chat from; except that an agent replying may
    /// take back a chat it gave up.
    Moment(&'a RoutingMoment),
}

impl Excluding<'_> {
    pub(crate) fn excludes(self, chat: &Chat, agent: &UserId) -> bool {
        let declined = || chat.routing.declined_by.contains(agent);
        match self {
            Excluding::Nobody => false,
            Excluding::Decliners => declined(),
            Excluding::Moment(RoutingMoment::AgentReplied { agent_id }) => {
                agent_id != agent && declined()
            }
            Excluding::Moment(moment) => moment.excluded_agent() == Some(agent) || declined(),
        }
    }
}

impl Engine {
    /// Whether agent `slot` can take `chat` now: available, allowed to see it, not excluded.
    pub(crate) fn can_take(&self, slot: usize, chat: &Chat, excluding: Excluding<'_>) -> bool {
        let agent = self.agent_by_slot(slot);
        self.is_available(slot)
            && !excluding.excludes(chat, &agent.id)
            && (chat.routing.assignee.as_ref() != Some(&agent.id))
            && super::agent_may_see(agent, chat)
            && self.chat_has_room_for(chat, &agent.id)
    }

    /// Whether the assignee has seen, or answered, the customer's last message.
    pub(crate) fn last_message_seen(&self, chat: &Chat) -> bool {
        let r = &chat.routing;
        let (Some(assignee), Some(message)) = (&r.assignee, r.last_customer_message) else {
            return true;
        };
        // Seen if the assignee looked at a later second, or at the same second after the
        // message was stored.
        let looked_after = r.assignee_seen_order.is_some_and(|o| o > message.order);
        let seen = chat
            .last_seen
            .get(assignee)
            .is_some_and(|&t| t > message.timestamp || (t == message.timestamp && looked_after));
        let answered = r
            .last_assignee_event
            .is_some_and(|e| e.order > message.order);
        seen || answered
    }

    /// Routing's part after an event was stored: note who wrote, and route if this is a routing
    /// moment. Annotations and system messages are not messages for routing.
    pub(crate) fn route_after_event(
        &mut self,
        slot: usize,
        req: &Requester,
        event: &Event,
        thread_started: bool,
        pushes: &mut Vec<Push>,
    ) {
        if self.router.is_none() || event.kind.is_annotation() {
            return;
        }
        if matches!(event.kind, EventKind::SystemMessage { .. }) {
            // A system message is not activity, but one that reopens the chat leaves a thread
            // nobody serves: it is routed like any new thread.
            if thread_started {
                self.route(slot, RoutingMoment::ThreadStarted, pushes);
                self.schedule(slot);
            }
            return;
        }
        let mark = EventMark {
            order: event.order,
            timestamp: event.timestamp,
        };
        let all_seen = self.last_message_seen(&self.chats[slot]);
        let chat = &mut self.chats[slot];
        chat.routing.idle = false;
        match req.role {
            Role::Customer => {
                if all_seen {
                    chat.routing.unseen_since = Some(mark.timestamp);
                }
                chat.routing.last_customer_message = Some(mark);
            }
            Role::Agent if chat.routing.assignee.as_ref() == Some(req.id) => {
                chat.routing.last_assignee_event = Some(mark);
            }
            Role::Agent => {}
        }
        let unassigned = chat.routing.assignee.is_none();
        match req.role {
            Role::Customer if thread_started => {
                self.route(slot, RoutingMoment::ThreadStarted, pushes)
            }
            Role::Agent if unassigned => {
                let moment = RoutingMoment::AgentReplied {
                    agent_id: req.id.clone(),
                };
                self.route(slot, moment, pushes);
                // The reply that won the chat also answers the customer.
                let routing = &mut self.chats[slot].routing;
                if routing.assignee.as_ref() == Some(req.id) {
                    routing.last_assignee_event = Some(mark);
                }
            }
            _ => {}
        }
        self.schedule(slot);
    }

    /// Routing's part after `start_chat`: a customer's new chat is routed; an agent who starts
    /// one takes it if it can.
    pub(crate) fn route_started_chat(
        &mut self,
        slot: usize,
        req: &Requester,
        pushes: &mut Vec<Push>,
    ) {
        if self.router.is_none() {
            return;
        }
        let chat = &mut self.chats[slot];
        let moment = match req.role {
            Role::Customer => {
                let last = chat.threads.last().and_then(|t| {
                    t.events
                        .refs()
                        .rev()
                        .find(|e| !e.is_annotation() && !e.is_system_message())
                });
                chat.routing.last_customer_message = last.map(|e| EventMark {
                    order: e.order,
                    timestamp: e.timestamp,
                });
                chat.routing.unseen_since = last.map(|e| e.timestamp);
                RoutingMoment::ThreadStarted
            }
            Role::Agent => RoutingMoment::AgentReplied {
                agent_id: req.id.clone(),
            },
        };
        self.route(slot, moment, pushes);
        self.schedule(slot);
    }

    /// Asks the router about a chat and applies the decision, refusing invalid ones.
    pub(crate) fn route(&mut self, slot: usize, moment: RoutingMoment, pushes: &mut Vec<Push>) {
        let Some(router) = self.router.clone() else {
            return;
        };
        let chat = &self.chats[slot];
        if !chat.is_active() {
            return;
        }
        let decision = router
            .0
            .route(&RoutingView::new(self, chat, moment.clone()));
        let target = match decision {
            Decision::Assign(id) => self
                .agent_slot(&id)
                .filter(|&a| self.can_take(a, chat, Excluding::Moment(&moment))),
            Decision::Unassign => None,
        };
        let because = match &moment {
            RoutingMoment::AssigneeTimedOut { agent_id, minutes } => Some(Because {
                agent_name: self
                    .agent(agent_id)
                    .map(|a| a.name.clone())
                    .unwrap_or_default(),
                minutes: *minutes,
            }),
            _ => None,
        };
        match target {
            Some(agent) => self.assign(slot, agent, because, pushes),
            None => {
                // A chat that is already waiting says so only once.
                let announce = chat.routing.assignee.is_some()
                    || chat.routing.queue_key.is_none()
                    || matches!(moment, RoutingMoment::ThreadStarted);
                self.unassign(slot, because, announce, pushes);
            }
        }
    }

    /// Gives a chat to an agent who can take it.
    pub(crate) fn assign(
        &mut self,
        slot: usize,
        agent: usize,
        because: Option<Because>,
        pushes: &mut Vec<Push>,
    ) {
        let now = self.now;
        let agent_id = self.agent_by_slot(agent).id.clone();
        let agent_name = self.agent_by_slot(agent).name.clone();
        let previous = self.release_assignee(slot, true);
        self.dequeue(slot);
        self.chats[slot].routing.declined_by.clear();

        let seq = self.next_assignment_seq();
        self.update_runtime(agent, |rt| {
            rt.load += 1;
            rt.last_assigned = Some(now);
            rt.assigned_seq = seq;
        });
        let chat = &mut self.chats[slot];
        let joined = !chat.agent_ids.contains(&agent_id);
        if joined {
            crate::model::push_tight(&mut chat.agent_ids, agent_id.clone());
        }
        let thread = chat.threads.len() - 1;
        chat.threads[thread].events.add_user(&agent_id);
        chat.routing.assignee = Some(agent_id.clone());
        chat.routing.assigned_at = Some(now);
        chat.routing.waiting_since = None;
        chat.routing.last_assignee_event = None;
        chat.routing.assignee_seen_order = None;

        let text = match &because {
            Some(b) => format!(
                "Chat assigned to {agent_name} because {} hasn't replied in {} minutes",
                b.agent_name, b.minutes
            ),
            None => format!("Chat assigned to {agent_name}"),
        };
        let note = self.append_system_message(slot, thread, "routing.assigned", text, now);

        let chat = &self.chats[slot];
        let added = if joined {
            vec![User::Agent(self.agent_by_slot(agent).clone())]
        } else {
            Vec::new()
        };
        let removed: Vec<UserId> = previous.iter().map(|(id, _)| id.clone()).collect();
        self.push_users_updated(pushes, chat, added, removed.clone());
        self.push_notes(pushes, slot, thread, std::slice::from_ref(&note));
        pushes.push(Push {
            to: UserIds::one(agent_id),
            role: Role::Agent,
            kind: PushKind::IncomingChatThread {
                chat: Box::new(self.chat_thread_view(chat, thread, Role::Agent)),
            },
        });
        self.schedule(slot);
        if let Some((_, previous_slot)) = previous {
            self.drain(previous_slot, pushes);
        }
    }

    /// Takes a chat from its assignee (if any) and queues it.
    pub(crate) fn unassign(
        &mut self,
        slot: usize,
        because: Option<Because>,
        announce: bool,
        pushes: &mut Vec<Push>,
    ) {
        let now = self.now;
        let previous = self.release_assignee(slot, true);
        self.enqueue(slot);
        let chat = &self.chats[slot];
        let thread = chat.threads.len() - 1;
        if let Some((id, _)) = &previous {
            self.push_users_updated(pushes, chat, Vec::new(), vec![id.clone()]);
        }
        if announce {
            let text = match &because {
                Some(b) => format!(
                    "Chat is unassigned because {} hasn't replied in {} minutes",
                    b.agent_name, b.minutes
                ),
                None => "Chat is unassigned".to_string(),
            };
            let note = self.append_system_message(slot, thread, "routing.unassigned", text, now);
            self.push_notes(pushes, slot, thread, std::slice::from_ref(&note));
        }
        if let Some((_, previous_slot)) = previous {
            self.drain(previous_slot, pushes);
        }
    }

    /// Clears a chat's assignee and frees its slot; with `leave`, the agent also leaves the chat.
    /// Returns the agent, so the caller can offer it waiting chats once done.
    pub(crate) fn release_assignee(&mut self, slot: usize, leave: bool) -> Option<(UserId, usize)> {
        let chat = &mut self.chats[slot];
        let id = chat.routing.assignee.take()?;
        chat.routing.assigned_at = None;
        chat.routing.last_assignee_event = None;
        chat.routing.assignee_seen_order = None;
        if leave {
            chat.agent_ids.retain(|a| *a != id);
        }
        let agent = self.agent_slot(&id)?;
        self.update_runtime(agent, |rt| rt.load = rt.load.saturating_sub(1));
        Some((id, agent))
    }

    /// Offers waiting chats, oldest first, to an agent who has room, until it is full, nothing
    /// it may serve waits, or the router declines.
    pub(crate) fn drain(&mut self, agent: usize, pushes: &mut Vec<Push>) {
        if self.router.is_none() {
            return;
        }
        while self.is_available(agent) {
            let Some(slot) = self.oldest_waiting_for(agent) else {
                return;
            };
            let moment = RoutingMoment::CapacityFreed {
                agent_id: self.agent_by_slot(agent).id.clone(),
            };
            let before = self.chats[slot].routing.assignee.clone();
            self.route(slot, moment, pushes);
            if self.chats[slot].routing.assignee == before {
                // The router declined: the chat keeps its place and the agent waits.
                return;
            }
        }
    }

    fn next_assignment_seq(&mut self) -> u64 {
        self.assignment_seq += 1;
        self.assignment_seq
    }

    /// `chat_users_updated` to the chat's audience, plus any agent who left and would not hear.
    pub(crate) fn push_users_updated(
        &self,
        pushes: &mut Vec<Push>,
        chat: &Chat,
        added: Vec<User>,
        removed_ids: Vec<UserId>,
    ) {
        if added.is_empty() && removed_ids.is_empty() {
            return;
        }
        let kind = PushKind::ChatUsersUpdated {
            chat_id: chat.id,
            added,
            removed_ids: removed_ids.clone(),
        };
        self.push_to_chat(pushes, chat, true, None, |_| kind.clone());
        // Agents who left are no longer in the chat, so the audience may not include them; they
        // still hear that they left.
        let untold: Vec<UserId> = removed_ids
            .iter()
            .filter(|a| {
                self.agent(a)
                    .is_some_and(|agent| !self.hears_about(agent, chat))
            })
            .cloned()
            .collect();
        if !untold.is_empty() {
            pushes.push(Push {
                to: untold.into(),
                role: Role::Agent,
                kind,
            });
        }
    }
}
