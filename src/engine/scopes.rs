//! `update_chat_scopes` and auto chat scopes.

use serde::{Deserialize, Serialize};

use super::{Engine, Output, Requester};
use crate::error::Error;
use crate::model::{ChatId, PropertyFilters, Role, Scopes, UrlFilter, properties_match};
use crate::push::PushKind;
use crate::routing::RoutingMoment;

/// The rules of an auto chat scopes configuration; a chat matches when every rule given passes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoScopeRules {
    /// Conditions on the chat's properties at `start_chat`.
    #[serde(default)]
    pub chat_properties: PropertyFilters,
    /// A condition on the URL of the page the customer is on.
    #[serde(default)]
    pub customer_url: Option<UrlFilter>,
}

/// One auto chat scopes configuration: chats that match the rules get the scopes when they start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoChatScopes {
    /// Assigned by the engine.
    pub id: String,
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
    /// The scopes added to matching chats.
    pub scopes: Scopes,
    /// When a chat matches.
    pub rules: AutoScopeRules,
}

impl Engine {
    /// `update_chat_scopes`: adds and removes scopes. The push says what actually changed and
    /// goes to the chat's audience after the change, so an agent who can no longer see the chat
    /// is not told about it. A waiting chat is offered to routing again.
    pub(crate) fn update_chat_scopes(
        &mut self,
        req: &Requester,
        chat_id: ChatId,
        add: Scopes,
        remove: Scopes,
    ) -> Result<Output<()>, Error> {
        let slot = self.chat_for(req, chat_id, super::ChatRight::Meta)?;
        if req.role == Role::Customer && !(add.agents.is_empty() && remove.agents.is_empty()) {
            let field = if add.agents.is_empty() {
                "remove_scopes.agents"
            } else {
                "add_scopes.agents"
            };
            return Err(customer_names_agents(field));
        }
        for agent in add.agents.iter().chain(remove.agents.iter()) {
            self.agent_slot(agent)
                .ok_or_else(|| Error::AgentNotFound(agent.clone()))?;
        }
        let current = &self.chat_at(slot).scopes;
        let added = Scopes {
            groups: add.groups.difference(&current.groups).copied().collect(),
            agents: add.agents.difference(&current.agents).cloned().collect(),
        };
        let removed = Scopes {
            groups: remove
                .groups
                .intersection(&current.groups)
                .copied()
                .collect(),
            agents: remove
                .agents
                .intersection(&current.agents)
                .cloned()
                .collect(),
        };
        if added.is_empty() && removed.is_empty() {
            return Ok(Output::quiet(()));
        }
        if !added.is_empty() {
            let entries = |s: &Scopes| s.groups.len() + s.agents.len();
            let after = entries(current) - entries(&removed) + entries(&added);
            self.check_chat_scopes_count(after)?;
        }
        self.commit(req);
        let scopes = &mut self.chat_at_mut(slot).scopes;
        scopes.groups.retain(|g| !removed.groups.contains(g));
        scopes.agents.retain(|a| !removed.agents.contains(a));
        scopes.groups.extend(added.groups.iter().copied());
        scopes.agents.extend(added.agents.iter().cloned());
        self.audiences
            .ensure(&self.chats[slot].scopes, &self.directory);

        let mut pushes = Vec::new();
        let chat = self.chat_at(slot);
        // The customer is told about groups only, and not at all when only agents changed.
        let customer_told = !(added.groups.is_empty() && removed.groups.is_empty());
        self.push_to_chat(&mut pushes, chat, customer_told, None, |role| {
            PushKind::ChatScopesUpdated {
                chat_id,
                scopes_added: Box::new(added.visible_to(role)),
                scopes_removed: Box::new(removed.visible_to(role)),
            }
        });
        if chat.routing.waiting_since.is_some() {
            self.route(slot, RoutingMoment::ScopesChanged, &mut pushes);
        }
        Ok(Output::new((), pushes))
    }

    /// `add_auto_chat_scopes`: returns the new configuration's id.
    pub(crate) fn add_auto_chat_scopes(
        &mut self,
        req: &Requester,
        description: Option<String>,
        scopes: Scopes,
        rules: AutoScopeRules,
    ) -> Result<Output<String>, Error> {
        self.authorize(req, crate::model::Grant::AutoChatScopesWrite)?;
        if scopes.is_empty() {
            return Err(Error::InvalidField {
                field: "scopes",
                reason: "name at least one group or agent".into(),
            });
        }
        if rules.chat_properties.is_empty() && rules.customer_url.is_none() {
            return Err(Error::InvalidField {
                field: "rules",
                reason: "give at least one rule (chat_properties or customer_url)".into(),
            });
        }
        for agent in &scopes.agents {
            self.agent_slot(agent)
                .ok_or_else(|| Error::AgentNotFound(agent.clone()))?;
        }
        self.check_chat_scopes(&scopes)?;
        self.check_auto_chat_scopes_room(self.auto_chat_scopes.len())?;
        self.commit(req);
        let id = self.ids().next_uuid().simple().to_string();
        self.auto_chat_scopes.push(AutoChatScopes {
            id: id.clone(),
            description,
            scopes,
            rules,
        });
        Ok(Output::quiet(id))
    }

    /// `remove_auto_chat_scopes`.
    pub(crate) fn remove_auto_chat_scopes(
        &mut self,
        req: &Requester,
        id: &str,
    ) -> Result<Output<()>, Error> {
        self.authorize(req, crate::model::Grant::AutoChatScopesWrite)?;
        let position = self
            .auto_chat_scopes
            .iter()
            .position(|a| a.id == id)
            .ok_or_else(|| Error::InvalidField {
                field: "auto_chat_scopes_id",
                reason: format!("no auto chat scopes {id:?}"),
            })?;
        self.commit(req);
        self.auto_chat_scopes.remove(position);
        Ok(Output::quiet(()))
    }

    /// `get_auto_chat_scopes_config`.
    pub(crate) fn get_auto_chat_scopes_config(
        &self,
        req: &Requester,
    ) -> Result<Vec<AutoChatScopes>, Error> {
        self.authorize(req, crate::model::Grant::AutoChatScopesRead)?;
        Ok(self.auto_chat_scopes.clone())
    }

    /// The scopes the auto chat scopes configurations give a chat starting now.
    pub(crate) fn auto_scopes_for(&self, slot: usize) -> Scopes {
        let chat = self.chat_at(slot);
        let url = chat
            .customer_id
            .as_ref()
            .and_then(|c| self.customer(c))
            .and_then(|c| c.current_page.as_ref())
            .and_then(|p| p.url.as_deref());
        let mut scopes = Scopes::default();
        for auto in &self.auto_chat_scopes {
            let rules = &auto.rules;
            let matches = properties_match(&rules.chat_properties, &chat.properties)
                && rules.customer_url.as_ref().is_none_or(|f| f.matches(url));
            if matches {
                scopes.groups.extend(auto.scopes.groups.iter().copied());
                scopes.agents.extend(auto.scopes.agents.iter().cloned());
            }
        }
        scopes
    }
}

/// The refusal of scopes that name agents, from a customer. Customers scope chats by groups
/// only (v0.5's Customer API has no other kind), and checking the ids they name would tell them
/// which agent ids exist.
pub(crate) fn customer_names_agents(field: &'static str) -> Error {
    Error::InvalidField {
        field,
        reason: "customers scope chats by groups only".into(),
    }
}
