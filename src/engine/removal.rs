//! Removing an agent from the license: the host's [`Engine::remove_agent`] and the
//! Configuration API's `remove_bot_agent` share [`Engine::remove_agent_at`].
//!
//! A removed agent leaves every chat it is in that has an active thread (as `remove_from_chat`
//! would take it out: `agent_left`, and a chat assigned to it is routed again), goes offline,
//! loses the webhooks sent to it (a bot's), and acts no more: `as_agent` answers
//! `authentication` naming it, and the host can no longer set its presence or profile, nor
//! remove it again (`AgentNotFound`). It stays known for history: agents keep their slots, so
//! its id stays taken, [`Engine::agent`] still finds its profile, and chats keep it among their
//! users. It hears of nothing after it has left its chats: pushes to every agent and the
//! scoped chats' audiences leave it out, from the engine's lists of agents and from a
//! restored snapshot's alike. If it was connected it is told `agent_disconnected` with reason
//! [`REASON_AGENT_DELETED`], after the pushes about its chats, and the host closes its
//! connections. The output's [`AgentChange::Deleted`] fires the `agent_deleted` webhooks.
//!
//! The webhooks the license registered stay, whoever registered them: they belong to the
//! license, as v0.5's `webhooks--all` scopes treat them.

use super::{AgentChange, Engine, Entry, HostCommand, Output, Requester};
use crate::error::Error;
use crate::model::{ChatId, Role, Timestamp, UserId};
use crate::push::{Push, PushKind};
use crate::routing::RoutingMoment;

use super::REASON_AGENT_DELETED;

impl Engine {
    /// Removes agent `agent_id` from the license at `now` (what chat.io's administrators do
    /// when they delete an agent). Journaled, like the other host calls. Fails with
    /// `AgentNotFound` for an id that is not an agent or was removed already; nothing changes
    /// then.
    ///
    /// The agent leaves every chat it is in that has an active thread (as `remove_from_chat`
    /// takes an agent out: `agent_left`, and a chat assigned to it is routed again), goes
    /// offline and loses the webhooks sent to it (a bot's). It acts no more (`as_agent`
    /// answers `authentication`, naming it; the host can no longer set its presence or
    /// profile) and hears of nothing more, but stays known: its id stays taken,
    /// [`agent`](Self::agent) finds its profile, [`is_agent_removed`](Self::is_agent_removed)
    /// says it was removed, and chats keep it among their users. If it was connected, the last
    /// push tells it `agent_disconnected` with reason [`REASON_AGENT_DELETED`], and the host
    /// closes its connections. The output's [`agent_changes`](Output::agent_changes) hold
    /// [`AgentChange::Deleted`], which fires `agent_deleted` webhooks.
    ///
    /// ```
    /// use chatio::{Agent, AgentChange, Engine, Timestamp, UserId};
    /// let mut engine = Engine::default();
    /// let anna = UserId::new("anna@example.com")?;
    /// engine.add_agent(Agent::new(anna.clone(), "Anna"))?;
    /// let now = Timestamp::from_unix_seconds(1_700_000_000);
    /// let _ = engine.set_agent_presence(&anna, true, now)?;
    /// let out = engine.remove_agent(&anna, now)?;
    /// assert_eq!(out.pushes[0].kind.action(), "agent_disconnected");
    /// assert_eq!(out.agent_changes, [AgentChange::Deleted { agent_id: anna.clone() }]);
    /// assert!(engine.as_agent(&anna, now).is_err());
    /// assert!(engine.agent(&anna).is_some());
    /// # Ok::<(), chatio::Error>(())
    /// ```
    pub fn remove_agent(&mut self, agent_id: &UserId, now: Timestamp) -> Result<Output<()>, Error> {
        let slot = self
            .agent_slot(agent_id)
            .filter(|&s| !self.is_removed(s))
            .ok_or_else(|| Error::AgentNotFound(agent_id.clone()))?;
        let before = self.now;
        self.now = self.now.max(now);
        let mut out = self.remove_agent_at(slot, self.now);
        // Time may have passed the license's end here first: the agents still connected are
        // told, as `set_agent_presence` tells them.
        self.expiry_disconnects(before, &mut out.pushes);
        let entry = Entry::host(
            now,
            HostCommand::RemoveAgent {
                agent_id: agent_id.clone(),
            },
        );
        Ok(self.journaled(out, entry))
    }

    /// Removes the agent in `slot`, which is not removed yet, at `now`: the one removal both
    /// [`remove_agent`](Self::remove_agent) and `remove_bot_agent` make. Its pushes, and the
    /// [`AgentChange::Deleted`] for the webhooks.
    pub(crate) fn remove_agent_at(&mut self, slot: usize, now: Timestamp) -> Output<()> {
        let id = self.agent_by_slot(slot).id.clone();
        let was_online = self.agent_runtime[slot].online;
        self.update_runtime(slot, |rt| {
            rt.online = false;
            rt.removed = true;
        });
        // From now on it hears of nothing: the license-wide lists and the scopes' audiences
        // leave it out (it still hears that it left its chats, as any agent who leaves does).
        self.directory.retire(slot);
        self.audiences.refresh(&self.directory);
        self.bot_webhooks.remove(&id);
        let chats: Vec<ChatId> = self
            .all_chats()
            .filter(|c| c.is_active() && c.agent_ids.contains(&id))
            .map(|c| c.id)
            .collect();
        let me = Requester {
            id: &id,
            role: Role::Agent,
            now,
            agent: Some(slot),
        };
        let mut pushes = Vec::new();
        for chat_id in chats {
            match self.remove_from_chat(&me, chat_id, std::slice::from_ref(&id), &[]) {
                Ok(out) => pushes.extend(out.pushes),
                // The agent may no longer see a chat it is in (its scopes or groups changed):
                // it still gives up the chat's assignment, without the system message.
                Err(_) => self.release_removed(chat_id, &id, &mut pushes),
            }
        }
        if was_online {
            pushes.push(Push {
                to: vec![id.clone()].into(),
                role: Role::Agent,
                kind: PushKind::AgentDisconnected {
                    reason: REASON_AGENT_DELETED.to_string(),
                },
            });
        }
        Output::new((), pushes).with_agent_change(Some(AgentChange::Deleted { agent_id: id }))
    }

    /// Takes a chat's assignment from a removed agent and routes the chat again.
    fn release_removed(&mut self, chat_id: ChatId, agent: &UserId, pushes: &mut Vec<Push>) {
        let Ok(chat) = self.chat_slot(chat_id) else {
            return;
        };
        if self.chat_at(chat).routing.assignee.as_ref() == Some(agent)
            && self.release_assignee(chat, true).is_some()
        {
            let moment = RoutingMoment::AssigneeLeft {
                agent_id: agent.clone(),
            };
            self.route(chat, moment, pushes);
        }
    }
}
