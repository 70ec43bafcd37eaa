//! Routing timers, sans-IO: the engine says when it next needs to be woken, and `tick` does
//! whatever is due.
//!
//! A chat has at most one entry in the timer set. Its deadline is worked out from the chat's
//! state whenever something happens; an entry that turns out to be early is moved when it comes
//! up rather than on every event, so a busy chat costs nothing here, and an entry whose chat
//! closed or changed hands is dropped when it comes up. A tick costs time in proportion to the
//! entries that are due, not to the number of chats.

use super::{Engine, Entry, HostCommand, Output};
use crate::model::Timestamp;
use crate::push::{Push, PushKind};
use crate::routing::RoutingMoment;

/// What a chat's deadline is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Due {
    /// The assignee has not seen the customer's last message.
    Unseen,
    /// Nothing happened for a while: mark the chat idle.
    Idle,
    /// Nothing happened for longer: archive the chat.
    Archive,
}

impl Engine {
    /// When the engine next needs [`tick`](Engine::tick), if ever: a chat's routing deadline,
    /// or the license's end while agents are connected (see `disconnects.rs`).
    pub fn next_deadline(&self) -> Option<Timestamp> {
        let chats = self.timers.first().map(|&(t, _)| t);
        match (chats, self.expiry_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Does everything due at or before `now`, in deadline order, and returns the pushes that
    /// caused. Call it when `now` reaches [`next_deadline`](Engine::next_deadline).
    pub fn tick(&mut self, now: Timestamp) -> Output<()> {
        let mut pushes = Vec::new();
        if self.next_deadline().is_none_or(|d| d > now) {
            return Output::new((), pushes);
        }
        let before = self.now;
        self.now = self.now.max(now);
        // Chats whose deadline, once fired, came out the same and still due: they wait for the
        // next tick. Without this a deadline that cannot move past `now` (at the end of
        // `Timestamp`'s range, where additions saturate) would fire forever in one call.
        let mut stalled = Vec::new();
        while let Some(&(at, slot)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            self.chats[slot].routing.timer_at = None;
            match self.deadline(slot) {
                Some((d, due)) if d <= now => {
                    self.fire(slot, due, &mut pushes);
                    if self.deadline(slot) == Some((d, due)) {
                        // Routing may have scheduled it again while firing.
                        if let Some(at) = self.chats[slot].routing.timer_at.take() {
                            self.timers.remove(&(at, slot));
                        }
                        stalled.push(slot);
                    } else {
                        self.schedule(slot);
                    }
                }
                Some(_) => self.schedule(slot),
                None => {}
            }
        }
        for slot in stalled {
            self.schedule(slot);
        }
        self.expiry_disconnects(before, &mut pushes);
        self.journaled(Output::new((), pushes), Entry::host(now, HostCommand::Tick))
    }

    /// The chat's next deadline: only a chat with an active thread and an assignee has one.
    fn deadline(&self, slot: usize) -> Option<(Timestamp, Due)> {
        let chat = &self.chats[slot];
        let thread = chat.active_thread()?;
        let r = &chat.routing;
        let assigned_at = r.assigned_at?;
        // At least a second each, however the configuration was made (its fields are public,
        // and a snapshot may carry any value): a zero or negative timeout would make a deadline
        // that is due again as soon as it fired.
        let unseen = self.config.unseen_timeout.max(1);
        let inactivity = self.config.inactivity_timeout.max(1);
        if !self.last_message_seen(chat) {
            let first_unseen = r
                .unseen_since
                .or(r.last_customer_message.map(|m| m.timestamp));
            let since = first_unseen.map_or(assigned_at, |t| t.max(assigned_at));
            return Some((since + unseen, Due::Unseen));
        }
        let quiet_since = thread.last_activity.max(assigned_at);
        if r.idle {
            Some((quiet_since + unseen + inactivity, Due::Archive))
        } else {
            Some((quiet_since + unseen, Due::Idle))
        }
    }

    /// Makes sure the chat's entry in the timer set is no later than its deadline.
    pub(crate) fn schedule(&mut self, slot: usize) {
        if self.router.is_none() {
            return;
        }
        let Some((deadline, _)) = self.deadline(slot) else {
            return;
        };
        match self.chats[slot].routing.timer_at {
            Some(at) if at <= deadline => {}
            Some(at) => {
                self.timers.remove(&(at, slot));
                self.timers.insert((deadline, slot));
                self.chats[slot].routing.timer_at = Some(deadline);
            }
            None => {
                self.timers.insert((deadline, slot));
                self.chats[slot].routing.timer_at = Some(deadline);
            }
        }
    }

    fn fire(&mut self, slot: usize, due: Due, pushes: &mut Vec<Push>) {
        let now = self.now;
        let minutes = |secs: i64| secs / 60;
        let thread = self.chats[slot].threads.len() - 1;
        match due {
            Due::Unseen => {
                let Some(agent_id) = self.chats[slot].routing.assignee.clone() else {
                    return;
                };
                self.chats[slot].routing.declined_by = vec![agent_id.clone()].into();
                let moment = RoutingMoment::AssigneeTimedOut {
                    agent_id,
                    minutes: minutes(self.config.unseen_timeout),
                };
                self.route(slot, moment, pushes);
            }
            Due::Idle => {
                self.chats[slot].routing.idle = true;
                let text = format!(
                    "Chat is idle due to {} minutes of inactivity",
                    minutes(self.config.unseen_timeout)
                );
                let note = self.append_system_message(slot, thread, "routing.idle", text, now);
                self.push_notes(pushes, slot, thread, std::slice::from_ref(&note));
            }
            Due::Archive => {
                let text = "Chat archived due to long inactivity".to_string();
                self.close_active_thread(slot, Some(("routing.archived", text)), None, pushes);
            }
        }
    }

    /// Closes a chat's active thread (R5), by a user (`by`) or by routing (`None`), with an
    /// optional system message first, and offers the freed slot to waiting chats.
    pub(crate) fn close_active_thread(
        &mut self,
        slot: usize,
        note: Option<(&str, String)>,
        by: Option<crate::model::UserId>,
        pushes: &mut Vec<Push>,
    ) {
        let now = self.now;
        let Some(thread) = self.chats[slot]
            .active_thread()
            .map(|_| self.chats[slot].threads.len() - 1)
        else {
            return;
        };
        if let Some((system_message_type, text)) = note {
            let note = self.append_system_message(slot, thread, system_message_type, text, now);
            self.push_notes(pushes, slot, thread, std::slice::from_ref(&note));
        }
        let chat = &mut self.chats[slot];
        let t = &mut chat.threads[thread];
        t.active = false;
        t.closed_at = Some(now);
        // A closed thread takes at most annotations more: its spare room would be kept for
        // the life of the license.
        t.events.shrink_to_fit();
        let thread_id = t.id;
        let chat_id = chat.id;
        chat.routing.idle = false;
        let chat = &self.chats[slot];
        self.push_to_chat(pushes, chat, true, None, |_| PushKind::ThreadClosed {
            chat_id,
            thread_id,
            user_id: by.clone(),
        });
        self.end_routing(slot, pushes);
    }

    /// A chat's thread closed: it leaves the queue, its assignee gets the slot back (and stays
    /// in the chat), and waiting chats are offered to that agent.
    pub(crate) fn end_routing(&mut self, slot: usize, pushes: &mut Vec<Push>) {
        self.dequeue(slot);
        self.chats[slot].routing.declined_by.clear();
        self.chats[slot].routing.idle = false;
        self.chats[slot].routing.last_customer_message = None;
        self.chats[slot].routing.unseen_since = None;
        if let Some((_, agent)) = self.release_assignee(slot, false) {
            self.drain(agent, pushes);
        }
    }
}
