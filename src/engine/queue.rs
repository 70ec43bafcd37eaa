//! The queue of unassigned chats, in arrival order.

use serde::{Deserialize, Serialize};

use super::{Engine, Excluding};
use crate::model::{ChatId, Timestamp};

/// Where a waiting chat stands in the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuePosition {
    /// 1 for the next chat to be offered to an agent.
    pub position: usize,
    /// Since when the chat has waited.
    pub waiting_since: Timestamp,
    /// How long it has waited, in seconds, at the time of asking.
    pub wait_time: i64,
}

impl Engine {
    /// Puts an active chat at the end of the queue, unless it is already waiting.
    pub(crate) fn enqueue(&mut self, slot: usize) {
        let now = self.now;
        if self.chats[slot].routing.queue_key.is_some() || !self.chats[slot].is_active() {
            return;
        }
        self.queue_seq += 1;
        let key = (now, self.queue_seq);
        self.queue.insert((key.0, key.1, slot));
        let r = &mut self.chats[slot].routing;
        r.queue_key = Some(key);
        r.waiting_since = Some(now);
    }

    /// Takes a chat out of the queue, if it waits there.
    pub(crate) fn dequeue(&mut self, slot: usize) {
        let r = &mut self.chats[slot].routing;
        if let Some((at, seq)) = r.queue_key.take() {
            r.waiting_since = None;
            self.queue.remove(&(at, seq, slot));
        }
    }

    /// The oldest waiting chat an agent may serve.
    pub(crate) fn oldest_waiting_for(&self, agent: usize) -> Option<usize> {
        self.queue.iter().map(|&(_, _, slot)| slot).find(|&slot| {
            let chat = &self.chats[slot];
            self.can_take(agent, chat, Excluding::Decliners)
        })
    }

    /// The waiting chats, oldest first.
    pub fn queue(&self) -> impl Iterator<Item = ChatId> + '_ {
        self.queue.iter().map(|&(_, _, slot)| self.chats[slot].id)
    }

    /// A customer's question: where does my chat wait?
    pub(crate) fn get_queue_position(
        &self,
        req: &super::Requester,
        chat_id: ChatId,
    ) -> Result<Option<QueuePosition>, crate::Error> {
        let slot = self.chat_for(req, chat_id, super::ChatRight::Read)?;
        Ok(self.queue_position(slot, req.now))
    }

    fn queue_position(&self, slot: usize, now: Timestamp) -> Option<QueuePosition> {
        let (since, seq) = self.chats[slot].routing.queue_key?;
        let position = self.queue.range(..(since, seq, slot)).count() + 1;
        Some(QueuePosition {
            position,
            waiting_since: since,
            wait_time: now - since,
        })
    }
}
