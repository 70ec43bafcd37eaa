//! `transfer_chat` (beyond v0.5, following LiveChat v3.x): hand a chat to an agent or a group.

use serde::{Deserialize, Serialize};

use super::{Engine, Excluding, Output, Requester};
use crate::error::Error;
use crate::model::{ChatId, GroupId, UserId};

/// Where a chat is transferred to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum TransferTarget {
    /// This agent.
    Agent(UserId),
    /// The agent of this group with the most free slots.
    Group(GroupId),
}

impl Engine {
    /// `transfer_chat`: the chat's assignee (if any) leaves it and the target agent takes it,
    /// with a `chat_transferred` system message. The target must be able to take the chat now
    /// (online, accepting, below its limit, allowed to see it).
    pub(crate) fn transfer_chat(
        &mut self,
        req: &Requester,
        chat_id: ChatId,
        target: &TransferTarget,
    ) -> Result<Output<()>, Error> {
        let slot = self.chat_for(req, chat_id, super::ChatRight::Meta)?;
        let chat = self.chat_at(slot);
        if !chat.is_active() {
            return Err(Error::NoActiveThread(chat_id));
        }
        let agent = match target {
            TransferTarget::Agent(id) => {
                // A removed agent is nobody to transfer to.
                let agent = self
                    .agent_slot(id)
                    .filter(|&s| !self.is_removed(s))
                    .ok_or_else(|| Error::AgentNotFound(id.clone()))?;
                self.check_room_for_assignee(chat, id)?;
                if !self.can_take(agent, chat, Excluding::Nobody) {
                    return Err(Error::CannotTakeChat {
                        chat_id,
                        agent_id: id.clone(),
                    });
                }
                agent
            }
            TransferTarget::Group(group) => self
                .availability()
                .by_free_slots()
                .find(|&a| {
                    self.agent_by_slot(a).groups.contains(group)
                        && self.can_take(a, chat, Excluding::Nobody)
                })
                .ok_or(Error::NoAgentInGroup {
                    chat_id,
                    group: *group,
                })?,
        };

        self.commit(req);
        let mut pushes = Vec::new();
        let from = self
            .agent(req.id)
            .map(|a| a.name.clone())
            .unwrap_or_default();
        let to = match target {
            TransferTarget::Agent(_) => self.agent_by_slot(agent).name.clone(),
            TransferTarget::Group(g) => format!("group {g}"),
        };
        let thread = self.chat_at(slot).threads.len() - 1;
        let text = format!("{from} transferred the chat to {to}");
        let now = self.now();
        let note = self.append_system_message(slot, thread, "chat_transferred", text, now);
        self.push_notes(&mut pushes, slot, thread, std::slice::from_ref(&note));
        self.assign(slot, agent, None, &mut pushes);
        Ok(Output::new((), pushes))
    }
}
