//! Replaying records: each entry calls the method it records, with the same arguments.

use std::sync::Arc;

use super::{AgentAction, CustomerAction, Entry, JournalError, JournalRecord, builtin_router};
use crate::engine::Engine;
use crate::error::Error;
use crate::routing::Router;

impl Engine {
    /// Applies one journal record, as recorded by an engine made with the same configuration.
    /// Routers are resolved with [`builtin_router`]; see [`apply_with`](Self::apply_with).
    ///
    /// Records must come in order, each once: a record whose number is not the next one is
    /// refused with [`JournalError::OutOfOrder`], so a gap or a duplicate is caught rather
    /// than replayed. A refused record changes nothing.
    pub fn apply(&mut self, record: JournalRecord) -> Result<(), JournalError> {
        self.apply_with(record, &builtin_router)
    }

    /// [`apply`](Self::apply), resolving router names with `routers` (a host's own routers,
    /// falling back to [`builtin_router`] as it likes).
    pub fn apply_with(
        &mut self,
        record: JournalRecord,
        routers: &dyn Fn(&str) -> Option<Arc<dyn Router>>,
    ) -> Result<(), JournalError> {
        let expected = self.journal_seq() + 1;
        if record.seq != expected {
            return Err(JournalError::OutOfOrder {
                expected,
                found: record.seq,
            });
        }
        let result = self.replaying(|engine| engine.dispatch(record.entry, routers));
        // Every record is one accepted change, so replaying it must count one. One that was
        // accepted but changed nothing (a retry, a typing indicator, a tick with nothing due)
        // was never written by an engine; taking it would leave its number free for the next
        // record, and the same record could be applied again and again.
        let result = result.and_then(|()| match self.journal_seq() {
            seq if seq == expected => Ok(()),
            _ => Err("replaying it changed nothing".to_string()),
        });
        result.map_err(|reason| JournalError::Diverged {
            seq: record.seq,
            reason,
        })
    }

    fn dispatch(
        &mut self,
        entry: Entry,
        routers: &dyn Fn(&str) -> Option<Arc<dyn Router>>,
    ) -> Result<(), String> {
        let text = |e: Error| e.to_string();
        match entry {
            Entry::AddAgent(agent) => self.add_agent(agent).map_err(text),
            Entry::AddCustomer(customer) => self.add_customer(customer).map_err(text),
            Entry::CreateCustomer { customer_id } => {
                let drawn = self.next_customer_id();
                if drawn != customer_id {
                    return Err(format!(
                        "create_customer drew {drawn}, the journal says {customer_id}"
                    ));
                }
                self.create_customer();
                Ok(())
            }
            Entry::ConfigureProperty(config) => self.configure_property(config).map_err(text),
            Entry::SetRouter { name } => {
                let router = routers(&name).ok_or_else(|| format!("unknown router `{name}`"))?;
                self.set_router(router);
                Ok(())
            }
            Entry::SetAgentPresence {
                agent_id,
                online,
                at,
            } => self
                .set_agent_presence(&agent_id, online, at)
                .map(drop)
                .map_err(text),
            Entry::UpdateAgentProfile { agent, at } => {
                self.update_agent_profile(agent, at).map(drop).map_err(text)
            }
            Entry::Tick { at } => {
                let _ = self.tick(at);
                Ok(())
            }
            Entry::Agent {
                agent_id,
                at,
                action,
            } => self.replay_agent(&agent_id, at, action).map_err(text),
            Entry::Customer {
                customer_id,
                at,
                action,
            } => self.replay_customer(&customer_id, at, action).map_err(text),
        }
    }

    fn replay_agent(
        &mut self,
        id: &crate::UserId,
        at: crate::Timestamp,
        action: AgentAction,
    ) -> Result<(), Error> {
        let mut api = self.as_agent(id, at)?;
        match action {
            AgentAction::StartChat { customer_id, chat } => {
                api.start_chat(customer_id, chat).map(drop)
            }
            AgentAction::JoinChat { chat_id, agent_ids } => {
                api.join_chat(chat_id, &agent_ids).map(drop)
            }
            AgentAction::RemoveFromChat {
                chat_id,
                agent_ids,
                customer_ids,
            } => api
                .remove_from_chat(chat_id, &agent_ids, &customer_ids)
                .map(drop),
            AgentAction::SendEvent { chat_id, event } => {
                api.send_event(chat_id, event.into_new_event()).map(drop)
            }
            AgentAction::SendRichMessagePostback {
                chat_id,
                thread_id,
                event_id,
                postback,
            } => api
                .send_rich_message_postback(chat_id, thread_id, event_id, postback)
                .map(drop),
            AgentAction::Multicast { scopes, content } => api.multicast(&scopes, content).map(drop),
            AgentAction::SendTypingIndicator {
                chat_id,
                recipients,
                is_typing,
            } => api
                .send_typing_indicator(chat_id, recipients, is_typing)
                .map(drop),
            AgentAction::CloseThread { chat_id } => api.close_thread(chat_id).map(drop),
            AgentAction::UpdateAgent {
                agent_id,
                routing_status,
            } => api
                .update_agent(agent_id.as_ref(), routing_status)
                .map(drop),
            AgentAction::BanCustomer { customer_id, days } => {
                api.ban_customer(&customer_id, days).map(drop)
            }
            AgentAction::TransferChat { chat_id, target } => {
                api.transfer_chat(chat_id, &target).map(drop)
            }
            AgentAction::UpdateChatProperties {
                chat_id,
                properties,
            } => api.update_chat_properties(chat_id, properties).map(drop),
            AgentAction::UpdateChatThreadProperties {
                chat_id,
                thread_id,
                properties,
            } => api
                .update_chat_thread_properties(chat_id, thread_id, properties)
                .map(drop),
            AgentAction::UpdateChatScopes {
                chat_id,
                add_scopes,
                remove_scopes,
            } => api
                .update_chat_scopes(chat_id, add_scopes, remove_scopes)
                .map(drop),
            AgentAction::AddAutoChatScopes {
                description,
                scopes,
                rules,
            } => api
                .add_auto_chat_scopes(description, scopes, rules)
                .map(drop),
            AgentAction::RemoveAutoChatScopes { id } => api.remove_auto_chat_scopes(&id).map(drop),
            AgentAction::UpdateLastSeenTimestamp { chat_id, timestamp } => {
                api.update_last_seen_timestamp(chat_id, timestamp).map(drop)
            }
        }
    }

    fn replay_customer(
        &mut self,
        id: &crate::UserId,
        at: crate::Timestamp,
        action: CustomerAction,
    ) -> Result<(), Error> {
        let mut api = self.as_customer(id, at)?;
        match action {
            CustomerAction::StartChat { chat } => api.start_chat(chat).map(drop),
            CustomerAction::SendEvent { chat_id, event } => {
                api.send_event(chat_id, event.into_new_event()).map(drop)
            }
            CustomerAction::SendFile {
                chat_id,
                custom_id,
                file,
            } => api.send_file(chat_id, custom_id, file).map(drop),
            CustomerAction::SendRichMessagePostback {
                chat_id,
                thread_id,
                event_id,
                postback,
            } => api
                .send_rich_message_postback(chat_id, thread_id, event_id, postback)
                .map(drop),
            CustomerAction::SendSneakPeek { chat_id, text } => {
                api.send_sneak_peek(chat_id, text).map(drop)
            }
            CustomerAction::SendTypingIndicator { chat_id, is_typing } => {
                api.send_typing_indicator(chat_id, is_typing).map(drop)
            }
            CustomerAction::CloseThread { chat_id } => api.close_thread(chat_id).map(drop),
            CustomerAction::UpdateCustomer { update } => api.update_customer(update).map(drop),
            CustomerAction::UpdateChatProperties {
                chat_id,
                properties,
            } => api.update_chat_properties(chat_id, properties).map(drop),
            CustomerAction::UpdateChatThreadProperties {
                chat_id,
                thread_id,
                properties,
            } => api
                .update_chat_thread_properties(chat_id, thread_id, properties)
                .map(drop),
            CustomerAction::UpdateChatScopes {
                chat_id,
                add_scopes,
                remove_scopes,
            } => api
                .update_chat_scopes(chat_id, add_scopes, remove_scopes)
                .map(drop),
            CustomerAction::UpdateLastSeenTimestamp { chat_id, timestamp } => {
                api.update_last_seen_timestamp(chat_id, timestamp).map(drop)
            }
        }
    }
}
