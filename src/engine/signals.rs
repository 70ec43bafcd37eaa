//! What is pushed and never stored: typing indicators, sneak peeks (R10) and multicasts (R13).

use std::collections::BTreeSet;

use super::{Engine, Output, Requester};
use crate::error::Error;
use crate::model::MulticastScopes;
use crate::model::{ChatId, Recipients, Role, UserId};
use crate::push::{Push, PushKind, SneakPeek, TypingIndicator};

impl Engine {
    /// `send_typing_indicator`: told to the chat's audience, never to its author; with
    /// recipients `agents` never to the customer.
    pub(crate) fn send_typing_indicator(
        &self,
        req: &Requester,
        chat_id: ChatId,
        recipients: Recipients,
        is_typing: bool,
    ) -> Result<Output<()>, Error> {
        let slot = self.chat_for(req, chat_id, super::ChatRight::Conversation)?;
        let chat = self.chat_at(slot);
        let typing_indicator = TypingIndicator {
            author_id: req.id.clone(),
            recipients,
            timestamp: req.now,
            is_typing,
        };
        let mut pushes = Vec::new();
        self.push_to_chat(
            &mut pushes,
            chat,
            recipients.reaches(Role::Customer),
            Some(req.id),
            |_| PushKind::IncomingTypingIndicator {
                chat_id,
                typing_indicator: typing_indicator.clone(),
            },
        );
        Ok(Output::new((), pushes))
    }

    /// `send_sneak_peek`: what the customer is typing, to agents only.
    pub(crate) fn send_sneak_peek(
        &self,
        req: &Requester,
        chat_id: ChatId,
        text: String,
    ) -> Result<Output<()>, Error> {
        let slot = self.chat_for(req, chat_id, super::ChatRight::Conversation)?;
        self.check_signal_bytes(&text)?;
        let chat = self.chat_at(slot);
        let sneak_peek = SneakPeek {
            author_id: req.id.clone(),
            timestamp: req.now,
            text,
        };
        let mut pushes = Vec::new();
        self.push_to_chat(&mut pushes, chat, false, Some(req.id), |_| {
            PushKind::IncomingSneakPeek {
                chat_id,
                sneak_peek: sneak_peek.clone(),
            }
        });
        Ok(Output::new((), pushes))
    }

    /// `multicast`: any JSON to agents (all, by id, by group) and customers (by id). The author
    /// is not told about its own multicast.
    pub(crate) fn multicast(
        &self,
        req: &Requester,
        scopes: &MulticastScopes,
        content: serde_json::Value,
    ) -> Result<Output<()>, Error> {
        self.authorize(req, crate::model::Grant::MulticastWrite)?;
        crate::model::check_json_depth("content", &content)?;
        self.check_signal_bytes(&content)?;
        if !scopes.all_agents
            && scopes.agent_ids.is_empty()
            && scopes.groups.is_empty()
            && scopes.customer_ids.is_empty()
        {
            return Err(Error::InvalidField {
                field: "scopes",
                reason: "name at least one of agents.all, agents.ids, agents.groups, customers.ids"
                    .into(),
            });
        }
        // A removed agent is nobody to write to.
        for id in &scopes.agent_ids {
            self.agent_slot(id)
                .filter(|&s| !self.is_removed(s))
                .ok_or_else(|| Error::AgentNotFound(id.clone()))?;
        }
        for id in &scopes.customer_ids {
            self.customer_record(id)
                .ok_or_else(|| Error::CustomerNotFound(id.clone()))?;
        }
        let agents: Vec<UserId> = self
            .agents()
            .iter()
            .enumerate()
            .filter(|&(slot, a)| {
                !self.is_removed(slot)
                    && (scopes.all_agents
                        || scopes.agent_ids.contains(&a.id)
                        || a.groups.iter().any(|g| scopes.groups.contains(g)))
            })
            .filter(|(_, a)| a.id != *req.id)
            .map(|(_, a)| a.id.clone())
            .collect();
        let customers: Vec<UserId> = scopes
            .customer_ids
            .iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .cloned()
            .collect();
        let kind = PushKind::IncomingMulticast {
            author_id: req.id.clone(),
            content,
        };
        let mut pushes = Vec::new();
        for (to, role) in [(agents, Role::Agent), (customers, Role::Customer)] {
            if !to.is_empty() {
                pushes.push(Push {
                    to: to.into(),
                    role,
                    kind: kind.clone(),
                });
            }
        }
        Ok(Output::new((), pushes))
    }
}
