//! Bot agents, the Configuration API's `agents/*` actions: `create_bot_agent`,
//! `update_bot_agent`, `remove_bot_agent`, `get_bot_agents` and `get_bot_agent_details`.
//!
//! A bot is an agent of kind [`Bot`](crate::model::AgentKind::Bot) whose owner is the agent who
//! created it (v0.5 says an application owns it; the engine knows agents, not applications, as
//! with property namespaces). Its status sets its presence and routing status directly: a bot
//! has no connection for the host to report, so `accepting chats` is online and routed chats
//! like any agent, `offline` is routed nothing.
//!
//! Who may call them follows v0.5's `agents-bot--*` scopes: creating, updating and reading
//! one's own bots needs the `--my` grants; reading others' needs `agents-bot--all:read`, and
//! removing others' `agents-bot--all:write` ("delete only": nobody updates another's bot).

use super::{AgentChange, Engine, Output, Requester};
use crate::error::Error;
use crate::model::{
    Agent, AgentKind, BotAgent, BotAgentUpdate, BotGroup, BotStatus, Grant, GroupId, GroupPriority,
    NewBotAgent, Role, UserId, check_avatar, check_bot_groups,
};
use crate::push::{Push, PushKind};

/// A bot's groups as an agent's: the groups, and the priorities that are not `normal`.
fn apply_groups(agent: &mut Agent, groups: &[BotGroup]) {
    agent.groups = groups.iter().map(|g| g.id).collect();
    agent.group_priorities = groups
        .iter()
        .filter(|g| g.priority != GroupPriority::Normal)
        .map(|g| (g.id, g.priority))
        .collect::<std::collections::BTreeMap<GroupId, GroupPriority>>();
}

impl Engine {
    /// `create_bot_agent`: a new bot owned by the requester, with an id drawn from the engine's
    /// generator (a random hash, as v0.5's bots have). Returns its profile.
    pub(crate) fn create_bot_agent(
        &mut self,
        req: &Requester,
        bot: NewBotAgent,
    ) -> Result<Output<Box<Agent>>, Error> {
        self.authorize(req, Grant::AgentsBotMyWrite)?;
        // The id is drawn once the bot is known to be valid, so that a refusal draws nothing.
        let mut agent = Agent::new(UserId::new("new-bot")?, bot.name.clone());
        agent.kind = AgentKind::Bot;
        agent.owner_id = Some(req.id.clone());
        agent.avatar = bot.avatar.clone();
        if let Some(max) = bot.max_chats_count {
            agent.max_chats = max;
        }
        check_bot_groups(&bot.groups)?;
        apply_groups(&mut agent, &bot.groups);
        self.check_bot(&agent)?;
        if let Some(webhooks) = &bot.webhooks {
            webhooks.validate()?;
        }

        self.commit(req);
        agent.id = self.next_bot_id();
        let slot = self.directory.add_agent(agent.clone());
        self.audiences.refresh(&self.directory);
        self.agent_runtime.push(super::AgentRuntime::default());
        let (online, routing_status) = bot.status.presence(Default::default());
        let available = self.update_runtime(slot, |rt| {
            rt.online = online;
            rt.routing_status = routing_status;
        });
        if let Some(webhooks) = bot.webhooks {
            self.bot_webhooks.insert(agent.id.clone(), webhooks);
        }
        let mut pushes = Vec::new();
        if available {
            self.drain(slot, &mut pushes);
        }
        Ok(Output::new(Box::new(agent), pushes))
    }

    /// `update_bot_agent`: changes one of the requester's bots. What is given replaces what the
    /// bot had; a new status is told to every agent (`agent_updated`), as `update_agent`'s is,
    /// and a bot that can take chats now is offered waiting ones.
    pub(crate) fn update_bot_agent(
        &mut self,
        req: &Requester,
        update: BotAgentUpdate,
    ) -> Result<Output<()>, Error> {
        self.authorize(req, Grant::AgentsBotMyWrite)?;
        let slot = self.bot_slot(&update.id)?;
        let mut agent = self.agent_by_slot(slot).clone();
        if agent.owner_id.as_ref() != Some(req.id) {
            return Err(Error::NotAllowed {
                user_id: req.id.clone(),
                action: "update_bot_agent",
                reason: format!(
                    "bot {} is not the requester's: only its owner updates it",
                    update.id
                ),
            });
        }
        if let Some(name) = update.name {
            agent.name = name;
        }
        if let Some(avatar) = update.avatar {
            agent.avatar = Some(avatar);
        }
        if let Some(max) = update.max_chats_count {
            agent.max_chats = max;
        }
        if let Some(groups) = &update.groups {
            check_bot_groups(groups)?;
            apply_groups(&mut agent, groups);
        }
        self.check_bot(&agent)?;
        if let Some(webhooks) = &update.webhooks {
            webhooks.validate()?;
        }

        self.commit(req);
        let mut pushes = Vec::new();
        let mut available = self.replace_agent(slot, agent);
        let mut change = None;
        if let Some(status) = update.status {
            let before = self.agent_runtime[slot].routing_status;
            let was = BotStatus::of(self.agent_runtime[slot].online, before);
            let (online, routing_status) = status.presence(before);
            available = self.update_runtime(slot, |rt| {
                rt.online = online;
                rt.routing_status = routing_status;
            });
            if routing_status == before && status != was {
                // Only its presence moved: no push tells of it, its change does.
                change = Some(AgentChange::StatusChanged {
                    agent_id: update.id.clone(),
                    status,
                });
            }
            if routing_status != before {
                pushes.push(Push {
                    to: self.all_agents(),
                    role: Role::Agent,
                    kind: PushKind::AgentUpdated {
                        agent_id: update.id.clone(),
                        routing_status,
                    },
                });
            }
        }
        if let Some(webhooks) = update.webhooks {
            self.bot_webhooks.insert(update.id, webhooks);
        }
        if available {
            self.drain(slot, &mut pushes);
        }
        Ok(Output::new((), pushes).with_agent_change(change))
    }

    /// `remove_bot_agent`: one's own bot, or with `agents-bot--all:write` anyone's. The bot is
    /// removed as [`Engine::remove_agent`] removes any agent (the same code): it leaves its
    /// chats, loses its webhooks, is told `agent_disconnected` if it was online, and fires
    /// `agent_deleted`.
    pub(crate) fn remove_bot_agent(
        &mut self,
        req: &Requester,
        bot_agent_id: &UserId,
    ) -> Result<Output<()>, Error> {
        let slot = self.bot_slot(bot_agent_id)?;
        self.authorize(req, self.bot_grant(slot, req, Grant::AgentsBotMyWrite))?;

        self.commit(req);
        Ok(self.remove_agent_at(slot, req.now))
    }

    /// `get_bot_agents`: the requester's bots, or with `all` (and `agents-bot--all:read`)
    /// every bot of the license, in registration order.
    pub(crate) fn bot_agents(&self, req: &Requester, all: bool) -> Result<Vec<BotAgent>, Error> {
        let grant = if all {
            Grant::AgentsBotAllRead
        } else {
            Grant::AgentsBotMyRead
        };
        self.authorize(req, grant)?;
        Ok((0..self.agents().len())
            .filter(|&slot| {
                let agent = self.agent_by_slot(slot);
                agent.kind == AgentKind::Bot
                    && !self.agent_runtime[slot].removed
                    && (all || agent.owner_id.as_ref() == Some(req.id))
            })
            .map(|slot| self.bot_view(slot))
            .collect())
    }

    /// `get_bot_agent_details`: one bot, the requester's own or, with
    /// `agents-bot--all:read`, anyone's.
    pub(crate) fn bot_agent_details(
        &self,
        req: &Requester,
        bot_agent_id: &UserId,
    ) -> Result<BotAgent, Error> {
        let slot = self.bot_slot(bot_agent_id)?;
        self.authorize(req, self.bot_grant(slot, req, Grant::AgentsBotMyRead))?;
        Ok(self.bot_view(slot))
    }

    /// The grant acting on the bot in `slot` needs: `my` for the requester's own bot, else its
    /// `--all` counterpart.
    fn bot_grant(&self, slot: usize, req: &Requester, my: Grant) -> Grant {
        let mine = self.agent_by_slot(slot).owner_id.as_ref() == Some(req.id);
        match my {
            _ if mine => my,
            Grant::AgentsBotMyRead => Grant::AgentsBotAllRead,
            _ => Grant::AgentsBotAllWrite,
        }
    }

    /// The webhooks sent to a bot, if it has any.
    pub fn bot_webhooks(&self, bot: &UserId) -> Option<&crate::model::BotWebhooks> {
        self.bot_webhooks.get(bot)
    }

    fn bot_view(&self, slot: usize) -> BotAgent {
        let agent = self.agent_by_slot(slot);
        let rt = &self.agent_runtime[slot];
        BotAgent {
            agent: agent.clone(),
            status: BotStatus::of(rt.online, rt.routing_status),
            webhooks: self.bot_webhooks.get(&agent.id).cloned(),
        }
    }

    /// The slot of a bot that has not been removed; the error names the id otherwise.
    fn bot_slot(&self, id: &UserId) -> Result<usize, Error> {
        self.agent_slot(id)
            .filter(|&slot| {
                self.agent_by_slot(slot).kind == AgentKind::Bot && !self.agent_runtime[slot].removed
            })
            .ok_or_else(|| Error::AgentNotFound(id.clone()))
    }

    /// Whether an agent is a removed bot.
    pub(crate) fn is_removed(&self, slot: usize) -> bool {
        self.agent_runtime[slot].removed
    }

    /// What `add_agent` checks of a profile, and the avatar.
    fn check_bot(&self, agent: &Agent) -> Result<(), Error> {
        agent.validate()?;
        agent.check_labels()?;
        if let Some(avatar) = &agent.avatar {
            check_avatar(avatar)?;
        }
        Ok(())
    }

    /// The next bot id: a 32-digit hex hash from the generator that nobody has.
    fn next_bot_id(&mut self) -> UserId {
        loop {
            let hash = self.ids().next_uuid().simple().to_string();
            if let Ok(id) = UserId::new(&hash)
                && !self.is_user(&id)
            {
                return id;
            }
        }
    }
}
