//! The routing tests' office: Anna (group 1) and Bob (group 2), a router, and helpers to drive
//! them by explicit time and read what routing said.
//!
//! Not every routing test file uses every helper.
#![allow(dead_code)]

use std::sync::Arc;

use chatio::routing::{Router, RoutingStatus};
use chatio::{
    Agent, ChatId, Engine, EngineConfig, EventKind, GroupId, NewEvent, Push, PushKind, Role,
    StartChat, Timestamp, UserId,
};

use crate::common::{LicenseBuilder, uid};

pub struct Office {
    pub engine: Engine,
    pub anna: UserId,
    pub bob: UserId,
}

impl Office {
    /// Anna (group 1, `anna_max` slots) and Bob (group 2, `bob_max` slots), both offline.
    pub fn new(router: Arc<dyn Router>, anna_max: u32, bob_max: u32) -> Self {
        let anna = uid("anna@example.com");
        let bob = uid("bob@example.com");
        let engine = LicenseBuilder::new(EngineConfig::with_seed(7))
            .set_router(router)
            .agent(
                Agent::new(anna.clone(), "Anna")
                    .with_max_chats(anna_max)
                    .with_groups([GroupId(1)]),
            )
            .agent(
                Agent::new(bob.clone(), "Bob")
                    .with_max_chats(bob_max)
                    .with_groups([GroupId(2)]),
            )
            .build();
        Office { engine, anna, bob }
    }
}

impl Office {
    pub fn presence(&mut self, id: &UserId, online: bool, t: Timestamp) -> Vec<Push> {
        self.engine
            .set_agent_presence(id, online, t)
            .unwrap()
            .pushes
    }

    pub fn status(&mut self, id: &UserId, status: RoutingStatus, t: Timestamp) -> Vec<Push> {
        self.engine
            .as_agent(id, t)
            .unwrap()
            .update_agent(None, Some(status))
            .unwrap()
            .pushes
    }

    /// A new customer starts a chat with one message.
    pub fn customer_starts(&mut self, text: &str, t: Timestamp) -> (UserId, ChatId, Vec<Push>) {
        self.customer_starts_with(StartChat::default(), text, t)
    }

    pub fn customer_starts_with(
        &mut self,
        start: StartChat,
        text: &str,
        t: Timestamp,
    ) -> (UserId, ChatId, Vec<Push>) {
        let customer = self.engine.create_customer();
        let out = self
            .engine
            .as_customer(&customer, t)
            .unwrap()
            .start_chat(start.with_event(NewEvent::message(text)))
            .unwrap();
        (customer, out.response.id, out.pushes)
    }

    pub fn customer_writes(
        &mut self,
        customer: &UserId,
        chat: ChatId,
        text: &str,
        t: Timestamp,
    ) -> Vec<Push> {
        self.engine
            .as_customer(customer, t)
            .unwrap()
            .send_event(chat, NewEvent::message(text))
            .unwrap()
            .pushes
    }

    pub fn agent_writes(
        &mut self,
        agent: &UserId,
        chat: ChatId,
        text: &str,
        t: Timestamp,
    ) -> Vec<Push> {
        self.engine
            .as_agent(agent, t)
            .unwrap()
            .send_event(chat, NewEvent::message(text))
            .unwrap()
            .pushes
    }

    pub fn agent_sees(&mut self, agent: &UserId, chat: ChatId, t: Timestamp) {
        let out = self
            .engine
            .as_agent(agent, t)
            .unwrap()
            .update_last_seen_timestamp(chat, None)
            .unwrap();
        assert_eq!(out.response, t);
    }

    /// What a host does: tick at every deadline up to `to`, collecting the pushes.
    pub fn advance(&mut self, to: Timestamp) -> Vec<Push> {
        let mut pushes = Vec::new();
        let mut ticks = 0;
        while let Some(deadline) = self.engine.next_deadline().filter(|&d| d <= to) {
            pushes.extend(self.engine.tick(deadline).pushes);
            ticks += 1;
            assert!(ticks < 1000, "the deadline never moves past {deadline:?}");
        }
        pushes
    }

    pub fn assignee(&self, chat: ChatId) -> Option<UserId> {
        self.engine.chat(&chat).unwrap().routing.assignee.clone()
    }

    pub fn load(&self, id: &UserId) -> u32 {
        self.engine.agent_status(id).unwrap().load
    }

    pub fn queue(&self) -> Vec<ChatId> {
        self.engine.queue().collect()
    }

    pub fn agents_in(&self, chat: ChatId) -> Vec<UserId> {
        self.engine.chat(&chat).unwrap().agent_ids.clone()
    }

    /// `(system_message_type, text)` of every system message of the chat's last thread.
    pub fn notes(&self, chat: ChatId) -> Vec<(String, String)> {
        let whole = self.engine.chat(&chat).unwrap();
        let thread = whole.threads.last().unwrap();
        thread.events.iter().filter_map(|e| note(&e.kind)).collect()
    }
}

pub fn note(kind: &EventKind) -> Option<(String, String)> {
    match kind {
        EventKind::SystemMessage {
            text,
            system_message_type,
        } => Some((
            system_message_type.clone().unwrap_or_default(),
            text.clone(),
        )),
        _ => None,
    }
}

pub fn pair(t: &str, text: &str) -> (String, String) {
    (t.to_string(), text.to_string())
}

/// The system messages carried by the `incoming_event` pushes to agents, in order.
pub fn pushed_notes(pushes: &[Push]) -> Vec<(String, String)> {
    pushes
        .iter()
        .filter(|p| p.role == Role::Agent)
        .filter_map(|p| match &p.kind {
            PushKind::IncomingEvent { event, .. } => note(&event.kind),
            _ => None,
        })
        .collect()
}

/// `(chat, added ids, removed ids)` of every `chat_users_updated` push to agents.
pub fn users_updated(pushes: &[Push]) -> Vec<(ChatId, Vec<UserId>, Vec<UserId>)> {
    pushes
        .iter()
        .filter(|p| p.role == Role::Agent)
        .filter_map(|p| match &p.kind {
            PushKind::ChatUsersUpdated {
                chat_id,
                added,
                removed_ids,
            } => Some((
                *chat_id,
                added.iter().map(|u| u.id().clone()).collect(),
                removed_ids.clone(),
            )),
            _ => None,
        })
        .collect()
}

/// The chats of the `incoming_chat_thread` pushes addressed to exactly `[agent]`.
pub fn threads_offered_to(pushes: &[Push], agent: &UserId) -> Vec<ChatId> {
    pushes
        .iter()
        .filter(|p| p.to == [agent.clone()] && p.role == Role::Agent)
        .filter_map(|p| match &p.kind {
            PushKind::IncomingChatThread { chat } => Some(chat.id),
            _ => None,
        })
        .collect()
}

pub const UNASSIGNED: &str = "Chat is unassigned";
