//! Who is in a chat: `join_chat` and `remove_from_chat` (R9).

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{Engine, Output, Requester};
use crate::error::Error;
use crate::model::{ChatId, Event, Role, User, UserId};
use crate::push::{Push, PushKind};

impl Engine {
    /// `join_chat`: adds agents to a chat, with an `agent_joined` system message for each when
    /// the chat has an active thread.
    pub(crate) fn join_chat(
        &mut self,
        req: &Requester,
        chat_id: ChatId,
        agent_ids: &[UserId],
    ) -> Result<Output<()>, Error> {
        // Joining oneself is writing to the conversation; adding others changes the chat's meta.
        let right = if agent_ids == std::slice::from_ref(req.id) {
            super::ChatRight::Conversation
        } else {
            super::ChatRight::Meta
        };
        let slot = self.chat_for(req, chat_id, right)?;
        if agent_ids.is_empty() {
            return Err(Error::InvalidField {
                field: "agent_ids",
                reason: "name at least one agent".into(),
            });
        }
        let chat = self.chat_at(slot);
        let mut seen = BTreeSet::new();
        for id in agent_ids {
            // A removed bot keeps its slot, but joins nothing.
            let agent = self
                .agent_slot(id)
                .filter(|&s| !self.is_removed(s))
                .ok_or_else(|| Error::AgentNotFound(id.clone()))?;
            if chat.agent_ids.contains(id) || !seen.insert(id) {
                return Err(Error::AlreadyInChat {
                    chat_id,
                    agent_id: id.clone(),
                });
            }
            if !self.may_see(id, Role::Agent, chat) {
                return Err(Error::ChatAccessDenied {
                    user_id: self.agent_by_slot(agent).id.clone(),
                    chat_id,
                });
            }
        }
        self.check_chat_agents(chat, agent_ids.len())?;

        self.commit(req);
        let active = self.chat_at(slot).active_thread().is_some();
        let thread = self.chat_at(slot).threads.len() - 1;
        let mut notes = Vec::new();
        for id in agent_ids {
            let name = self.agent(id).map(|a| a.name.clone()).unwrap_or_default();
            let chat = self.chat_at_mut(slot);
            crate::model::push_tight(&mut chat.agent_ids, id.clone());
            if active {
                chat.threads[thread].events.add_user(id);
                let text = format!("{name} joined the chat");
                notes.push(self.append_system_message(slot, thread, "agent_joined", text, req.now));
            }
        }

        let chat = self.chat_at(slot);
        let added: Vec<User> = agent_ids
            .iter()
            .filter_map(|id| self.agent(id))
            .map(|a| User::Agent(a.clone()))
            .collect();
        let mut pushes = Vec::new();
        self.push_to_chat(&mut pushes, chat, true, None, |_| {
            PushKind::ChatUsersUpdated {
                chat_id,
                added: added.clone(),
                removed_ids: Vec::new(),
            }
        });
        self.push_notes(&mut pushes, slot, thread, &notes);
        Ok(Output::new((), pushes))
    }

    /// `remove_from_chat`: removes agents from a chat (the requester when none is named), with
    /// an `agent_left` system message for each when the chat has an active thread. A customer
    /// can never be removed.
    pub(crate) fn remove_from_chat(
        &mut self,
        req: &Requester,
        chat_id: ChatId,
        agent_ids: &[UserId],
        customer_ids: &[UserId],
    ) -> Result<Output<()>, Error> {
        let only_me = agent_ids.is_empty() || agent_ids == std::slice::from_ref(req.id);
        let right = if only_me {
            super::ChatRight::Conversation
        } else {
            super::ChatRight::Meta
        };
        let slot = self.chat_for(req, chat_id, right)?;
        if !customer_ids.is_empty() {
            return Err(Error::NotAllowed {
                user_id: req.id.clone(),
                action: "remove a customer from a chat",
                reason: "a customer can never be removed from its chat".into(),
            });
        }
        let myself = [req.id.clone()];
        let agent_ids = if agent_ids.is_empty() {
            &myself[..]
        } else {
            agent_ids
        };
        let chat = self.chat_at(slot);
        let mut seen = BTreeSet::new();
        for id in agent_ids {
            if !chat.agent_ids.contains(id) || !seen.insert(id) {
                return Err(Error::NotInChat {
                    chat_id,
                    user_id: id.clone(),
                });
            }
        }

        // A waiting chat that was full could not go to an agent outside it; now it can.
        let was_full =
            self.chat_at(slot).agent_ids.len() >= self.config.limits.agents_per_chat as usize;

        self.commit(req);
        // The agents who leave hear about it too, whatever the audience setting says.
        let leaving: Vec<UserId> = agent_ids.to_vec();
        let active = self.chat_at(slot).active_thread().is_some();
        let thread = self.chat_at(slot).threads.len() - 1;
        let mut notes = Vec::new();
        for id in &leaving {
            let name = self.agent(id).map(|a| a.name.clone()).unwrap_or_default();
            self.chat_at_mut(slot).agent_ids.retain(|a| a != id);
            if active {
                let text = format!("{name} left the chat");
                notes.push(self.append_system_message(slot, thread, "agent_left", text, req.now));
            }
        }

        let chat = self.chat_at(slot);
        let mut pushes = Vec::new();
        self.push_users_updated(&mut pushes, chat, Vec::new(), leaving.clone());
        self.push_notes(&mut pushes, slot, thread, &notes);
        // The assigned agent leaving is a routing moment.
        let assignee = self.chat_at(slot).routing.assignee.clone();
        if let Some(agent_id) = assignee.filter(|a| leaving.contains(a)) {
            if let Some((_, agent)) = self.release_assignee(slot, false) {
                // Everyone who left with the assignee gave the chat up too: routing must not
                // hand it straight back to an agent this request removed.
                self.chat_at_mut(slot).routing.declined_by = leaving.into();
                self.route(
                    slot,
                    crate::routing::RoutingMoment::AssigneeLeft { agent_id },
                    &mut pushes,
                );
                self.drain(agent, &mut pushes);
            }
        }
        if was_full && self.chat_at(slot).routing.waiting_since.is_some() {
            self.route(slot, crate::routing::RoutingMoment::RoomFreed, &mut pushes);
        }
        Ok(Output::new((), pushes))
    }

    /// `incoming_event` for system messages the engine just appended.
    pub(crate) fn push_notes(
        &self,
        pushes: &mut Vec<Push>,
        slot: usize,
        thread: usize,
        notes: &[Arc<Event>],
    ) {
        let chat = self.chat_at(slot);
        let thread_id = chat.threads[thread].id;
        for note in notes {
            self.push_to_chat(
                pushes,
                chat,
                note.visible_to(Role::Customer),
                None,
                |role| PushKind::IncomingEvent {
                    chat_id: chat.id,
                    thread_id,
                    event: self.event_view(note, role),
                },
            );
        }
    }
}
