//! Events and threads: `start_chat`, `send_event`, `send_file`, and the thread rules R1 to R4.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Engine, Output, Requester};
use crate::error::Error;
use crate::model::StartChat;
use crate::model::{
    Chat, ChatId, Event, EventKind, Events, File, Location, NewEvent, Properties, Recipients, Role,
    Thread, ThreadId, UserId,
};
use crate::push::{ChatThread, Push, PushKind};

/// The response of `send_event` and `send_file`: the event as stored and its thread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SentEvent {
    /// The thread the event went to.
    pub thread_id: ThreadId,
    /// The event, with the fields the engine assigned.
    pub event: Arc<Event>,
}

/// Where an event goes, decided before anything changes.
#[derive(Clone, Copy)]
enum Target {
    /// The thread at this index.
    Thread(usize),
    /// A new thread (R3).
    NewThread,
}

impl Target {
    /// R1, R3, R4: annotations go to the last thread, active or not; other events go to the
    /// active thread, and to a new one when there is none.
    fn of(chat: &Chat, kind: &EventKind) -> Self {
        let last = chat.threads.len().checked_sub(1);
        match last {
            Some(i) if kind.is_annotation() || chat.threads[i].active => Target::Thread(i),
            _ => Target::NewThread,
        }
    }
}

/// Whether the chat can take `event`: the `custom_id` index numbers at most 2^32 events of a
/// chat.
fn check_room(chat: &Chat, event: &NewEvent) -> Result<(), Error> {
    if event.custom_id.is_some() && chat.event_count() >= u32::MAX as usize {
        return Err(Error::ChatFull {
            chat_id: chat.id,
            reason: "it holds 2^32 events, the most its custom_id index can number",
        });
    }
    Ok(())
}

impl Engine {
    /// Whether the thread `target` names takes one more event within
    /// [`Limits::events_per_thread`](super::Limits::events_per_thread); a new thread always
    /// does.
    fn check_target_room(&self, chat: &Chat, target: Target) -> Result<(), Error> {
        match target {
            Target::Thread(i) => self.check_thread_room(chat.threads[i].events.len()),
            Target::NewThread => Ok(()),
        }
    }

    /// R7: who may author what, and which kinds `send_event` takes.
    fn check_authorable(
        &self,
        req: &Requester,
        event: &NewEvent,
        via_send_file: bool,
    ) -> Result<(), Error> {
        let recipients = event.recipients;
        match &event.kind {
            EventKind::File(_) if !via_send_file => Err(Error::InvalidField {
                field: "event.type",
                reason: "file events are made by send_file, not send_event".into(),
            }),
            _ if req.role == Role::Customer && recipients == Recipients::Agents => {
                Err(Error::NotAllowed {
                    user_id: req.id.clone(),
                    action: "send an event to agents only",
                    reason: "a customer's events are for everyone in the chat".into(),
                })
            }
            EventKind::SystemMessage { .. } if req.role == Role::Customer => {
                Err(Error::NotAllowed {
                    user_id: req.id.clone(),
                    action: "send a system_message",
                    reason: "customers cannot author system messages".into(),
                })
            }
            _ => Ok(()),
        }
    }

    /// Validates a new event: its own fields, who sends it, and its properties.
    fn check_new_event(
        &self,
        req: &Requester,
        event: &mut NewEvent,
        via_send_file: bool,
    ) -> Result<(), Error> {
        event.validate()?;
        self.check_event_limits(event)?;
        self.check_authorable(req, event, via_send_file)?;
        self.check_properties(req, &event.properties, Location::Event)
    }

    /// `send_event`: R3, R4, R6, R7. Also returns the event as stored when the journal will
    /// record it (none for a retry, which changes nothing, or with journaling off: the response
    /// then takes the stored `Arc` itself, two atomic updates fewer per send).
    pub(crate) fn send_event(
        &mut self,
        req: &Requester,
        chat_id: ChatId,
        mut event: NewEvent,
    ) -> Result<(Output<SentEvent>, Option<Arc<Event>>), Error> {
        self.check_new_event(req, &mut event, false)?;
        self.deliver_event(req, chat_id, event)
    }

    /// `send_file`: a customer's uploaded file becomes a `file` event.
    pub(crate) fn send_file(
        &mut self,
        req: &Requester,
        chat_id: ChatId,
        custom_id: Option<String>,
        file: File,
    ) -> Result<Output<SentEvent>, Error> {
        let mut event = NewEvent::new(EventKind::File(Box::new(file)));
        event.custom_id = custom_id;
        self.check_new_event(req, &mut event, true)?;
        self.deliver_event(req, chat_id, event).map(|(out, _)| out)
    }

    fn deliver_event(
        &mut self,
        req: &Requester,
        chat_id: ChatId,
        event: NewEvent,
    ) -> Result<(Output<SentEvent>, Option<Arc<Event>>), Error> {
        let slot = self.chat_for(req, chat_id, super::ChatRight::Conversation)?;
        let chat = self.chat_at(slot);
        std::hint::black_box(chat.threads.last().map(|t| t.events.touch_end()));
        // R6: a retry with the same sender, chat and custom_id returns the original event.
        let custom_hash = match &event.custom_id {
            Some(custom_id) => {
                let hash = self.custom_id_key.hash(req.id, custom_id);
                if let Some((t, e)) = chat.find_custom_id(hash, req.id, custom_id) {
                    let thread = &chat.threads[t];
                    let original = thread.events.at(e).map(|e| Arc::new(e.to_event()));
                    if let Some(original) = original {
                        let out = Output::quiet(SentEvent {
                            thread_id: thread.id,
                            event: self.event_view_owned(original, req.role),
                        });
                        return Ok((out, None));
                    }
                }
                Some(hash)
            }
            None => None,
        };
        let target = Target::of(chat, &event.kind);
        check_room(chat, &event)?;
        self.check_target_room(chat, target)?;

        self.commit(req);
        let (thread, started) = match target {
            Target::Thread(i) => (i, false),
            Target::NewThread => (self.open_thread(slot, Properties::new(), req.now), true),
        };
        let stored = self.append_event(slot, thread, Some(req.id), event, custom_hash, req.now);

        let chat = self.chat_at(slot);
        let thread_id = chat.threads[thread].id;
        let mut pushes = Vec::with_capacity(2);
        if started {
            self.push_chat_thread(&mut pushes, chat, thread);
        } else {
            let audience = (self.agent_audience(chat), chat.customer_id.as_ref());
            self.push_incoming_event(&mut pushes, audience, chat_id, thread_id, &stored);
        }
        self.route_after_event(slot, req, &stored, started, &mut pushes);
        Ok(self.sent(req, thread_id, stored, pushes))
    }

    /// The `incoming_event` pushes of an event added to an active thread, for the chat's
    /// audience: its agents, and its customer unless the event is for agents only.
    #[inline]
    fn push_incoming_event(
        &self,
        pushes: &mut Vec<Push>,
        (agents, customer): (crate::UserIds, Option<&UserId>),
        chat_id: ChatId,
        thread_id: ThreadId,
        stored: &Arc<Event>,
    ) {
        let customer_may_see = stored.visible_to(Role::Customer);
        super::push_to_audience(pushes, agents, customer, customer_may_see, None, |role| {
            PushKind::IncomingEvent {
                chat_id,
                thread_id,
                event: self.event_view(stored, role),
            }
        });
    }

    /// The output of an accepted `send_event`, and the stored event for the journal record
    /// when there will be one.
    #[inline(always)]
    fn sent(
        &self,
        req: &Requester,
        thread_id: ThreadId,
        stored: Arc<Event>,
        pushes: Vec<Push>,
    ) -> (Output<SentEvent>, Option<Arc<Event>>) {
        let (event, recorded) = if self.journaling() {
            (self.event_view(&stored, req.role), Some(stored))
        } else {
            (self.event_view_owned(stored, req.role), None)
        };
        (
            Output::new(SentEvent { thread_id, event }, pushes),
            recorded,
        )
    }

    /// `start_chat`: R2, a chat with its first active thread. `customer` is the chat's customer
    /// (the requester when a customer starts it); an agent who starts a chat is in it.
    pub(crate) fn start_chat(
        &mut self,
        req: &Requester,
        customer: Option<UserId>,
        mut request: StartChat,
    ) -> Result<Output<ChatThread>, Error> {
        self.check_start_chat_limits(req.role == Role::Agent, &request)?;
        if req.role == Role::Customer && !request.scopes.agents.is_empty() {
            return Err(super::scopes::customer_names_agents("chat.scopes.agents"));
        }
        for agent in &request.scopes.agents {
            self.agent_slot(agent)
                .ok_or_else(|| Error::AgentNotFound(agent.clone()))?;
        }
        self.check_properties(req, &request.properties, Location::Chat)?;
        self.check_properties(req, &request.thread_properties, Location::Thread)?;
        let mut custom_ids = std::collections::BTreeSet::new();
        for event in &mut request.events {
            self.check_new_event(req, event, false)?;
            if let Some(custom_id) = &event.custom_id {
                if !custom_ids.insert(custom_id.clone()) {
                    return Err(Error::InvalidField {
                        field: "chat.thread.events.custom_id",
                        reason: format!("custom_id {custom_id:?} appears twice"),
                    });
                }
            }
        }
        if let Some(customer_id) = &customer {
            let record = self
                .customer_record(customer_id)
                .ok_or_else(|| Error::CustomerNotFound(customer_id.clone()))?;
            if let Some(limit) = self.config.max_chats_per_customer {
                if record.chats.len() >= limit as usize {
                    return Err(Error::ChatLimitReached {
                        customer_id: customer_id.clone(),
                        limit,
                    });
                }
            }
        }

        self.commit(req);
        let chat_id = self.next_chat_id();
        let mut chat = Chat::new(chat_id, customer.clone(), req.now);
        if req.role == Role::Agent {
            crate::model::push_tight(&mut chat.agent_ids, req.id.clone());
        }
        chat.properties = request.properties.into();
        chat.scopes = request.scopes.into();
        let slot = self.insert_chat(chat);
        let auto = self.auto_scopes_for(slot);
        if !auto.is_empty() {
            let scopes = &mut self.chat_at_mut(slot).scopes;
            scopes.groups.extend(auto.groups);
            scopes.agents.extend(auto.agents);
        }
        self.audiences
            .ensure(&self.chats[slot].scopes, &self.directory);
        if let Some(record) = customer.as_ref().and_then(|c| self.customer_record_mut(c)) {
            crate::model::push_tight(&mut record.chats, chat_id);
        }
        let thread = self.open_thread(slot, request.thread_properties, req.now);
        for event in request.events {
            let hash = (event.custom_id.as_deref()).map(|c| self.custom_id_key.hash(req.id, c));
            self.append_event(slot, thread, Some(req.id), event, hash, req.now);
        }

        let chat = self.chat_at(slot);
        let mut pushes = Vec::with_capacity(2);
        self.push_chat_thread(&mut pushes, chat, thread);
        self.route_started_chat(slot, req, &mut pushes);
        let chat = self.chat_at(slot);
        Ok(Output::new(
            self.chat_thread_view(chat, thread, req.role),
            pushes,
        ))
    }

    /// Opens a new active thread at the end of the chat. The caller has checked that the chat
    /// has no active thread (R1).
    pub(crate) fn open_thread(
        &mut self,
        slot: usize,
        properties: Properties,
        now: crate::Timestamp,
    ) -> usize {
        let id = ThreadId::from_uuid(self.ids().next_uuid());
        let order = self.next_order();
        let chat = self.chat_at_mut(slot);
        debug_assert!(
            !chat.is_active(),
            "R1: a chat has at most one active thread"
        );
        let mut events = Events::new();
        for user in chat.customer_id.iter().chain(&chat.agent_ids) {
            events.add_user(user);
        }
        chat.open(Thread {
            id,
            order,
            active: true,
            events,
            timestamp: now,
            closed_at: None,
            last_activity: now,
            properties: properties.into(),
            archived: None,
        });
        chat.threads.len() - 1
    }

    /// Stores a validated event at the end of a thread and returns it. `sender` is who sent it
    /// (`None` for the engine's own system messages); it authors everything but system messages.
    /// `custom_hash` is the hash of the event's `custom_id`, when it has one and a sender.
    pub(crate) fn append_event(
        &mut self,
        slot: usize,
        thread: usize,
        sender: Option<&UserId>,
        new: NewEvent,
        custom_hash: Option<u64>,
        now: crate::Timestamp,
    ) -> Arc<Event> {
        let event = self.new_event(sender, new, now);
        let counts_as_activity = event.kind.counts_as_activity();
        let chat = self.chat_at_mut(slot);
        let t = &mut chat.threads[thread];
        if counts_as_activity {
            t.last_activity = now;
        }
        let position = t.events.len();
        t.events.push(&event, sender);
        if let (Some(hash), Some(_)) = (custom_hash, sender) {
            chat.index_custom_id(hash, thread, position);
        }
        event
    }

    /// A validated event with the fields the engine assigns (R6): its id, its order and its
    /// time, and its author, `sender`, unless it is a system message.
    #[inline]
    fn new_event(
        &mut self,
        sender: Option<&UserId>,
        new: NewEvent,
        now: crate::Timestamp,
    ) -> Arc<Event> {
        let id = crate::model::EventId::from_uuid(self.ids().next_uuid());
        let order = self.next_order();
        let author_id = match new.kind {
            EventKind::SystemMessage { .. } => None,
            _ => sender.cloned(),
        };
        Arc::new(Event {
            id,
            custom_id: new.custom_id,
            order,
            author_id,
            timestamp: now,
            recipients: new.recipients,
            properties: new.properties,
            kind: new.kind,
        })
    }

    /// Appends one of the engine's own system messages to a thread.
    pub(crate) fn append_system_message(
        &mut self,
        slot: usize,
        thread: usize,
        system_message_type: &str,
        text: String,
        now: crate::Timestamp,
    ) -> Arc<Event> {
        let event = NewEvent::system_message(text, system_message_type);
        self.append_event(slot, thread, None, event, None, now)
    }

    /// A chat with one of its threads, as a user of `role` may see it.
    pub(crate) fn chat_thread_view(&self, chat: &Chat, thread: usize, role: Role) -> ChatThread {
        ChatThread {
            id: chat.id,
            users: self.chat_users(chat),
            last_seen: self.chat_users_last_seen(chat),
            routing_statuses: self.chat_agents_routing_statuses(chat, role),
            properties: self.properties_view(&chat.properties, Location::Chat, role),
            scopes: chat.scopes.visible_to(role),
            thread: self.thread_view(&chat.threads[thread], role),
        }
    }

    /// `incoming_chat_thread` to the chat's audience, each role with its own view.
    pub(crate) fn push_chat_thread(&self, pushes: &mut Vec<Push>, chat: &Chat, thread: usize) {
        self.push_to_chat(pushes, chat, true, None, |role| {
            PushKind::IncomingChatThread {
                chat: Box::new(self.chat_thread_view(chat, thread, role)),
            }
        });
    }
}
