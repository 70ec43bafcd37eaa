//! `ban_customer`.

use super::{Engine, Output, Requester};
use crate::UserIds;
use crate::error::Error;
use crate::model::{MAX_BAN_DAYS, Role, UserId};
use crate::push::{Push, PushKind};

impl Engine {
    /// `ban_customer`: the active threads of the customer's chats that the agent may see are
    /// archived, agents are told, the customer is disconnected, and every call as that
    /// customer fails with `customer_banned` until the ban ends.
    ///
    /// Besides `customers.ban:write`, the agent must be able to see at least one of the
    /// customer's chats: a ban is about a conversation the agent took part in or could have,
    /// and without that rule any agent with the permission could archive chats of groups it
    /// cannot see. Chats of the customer outside the agent's scopes are left as they are (their
    /// agents are told of the ban like every agent, and the customer can no longer write to
    /// them): a ban reaches only chats the banning agent may see.
    pub(crate) fn ban_customer(
        &mut self,
        req: &Requester,
        customer_id: &UserId,
        days: u32,
    ) -> Result<Output<()>, Error> {
        self.authorize(req, crate::model::Grant::CustomersBanWrite)?;
        if days == 0 || days > MAX_BAN_DAYS {
            return Err(Error::InvalidField {
                field: "ban.days",
                reason: format!("{days} is not between 1 and {MAX_BAN_DAYS}"),
            });
        }
        let record = self
            .customer_record(customer_id)
            .ok_or_else(|| Error::CustomerNotFound(customer_id.clone()))?;
        let chats: Vec<usize> = record
            .chats
            .iter()
            .filter_map(|id| self.accessible_chat(req, *id).ok())
            .collect();
        if chats.is_empty() {
            return Err(Error::NotAllowed {
                user_id: req.id.clone(),
                action: "ban this customer",
                reason: "none of the customer's chats is one the agent may see".into(),
            });
        }

        self.commit(req);
        let until = self.now + i64::from(days) * 86_400;
        if let Some(record) = self.customer_record_mut(customer_id) {
            record.customer.banned_until = Some(until);
        }
        let name = self
            .agent(req.id)
            .map(|a| a.name.clone())
            .unwrap_or_default();
        let mut pushes = Vec::new();
        for slot in chats {
            if self.chat_at(slot).is_active() {
                let unit = if days == 1 { "day" } else { "days" };
                let text = format!(
                    "Chat archived because customer was banned by {name} for {days} {unit}"
                );
                let note = Some(("customer_banned", text));
                self.close_active_thread(slot, note, Some(req.id.clone()), &mut pushes);
            }
        }
        pushes.push(Push {
            to: self.all_agents(),
            role: Role::Agent,
            kind: PushKind::CustomerBanned {
                customer_id: customer_id.clone(),
                days,
            },
        });
        pushes.push(Push {
            to: UserIds::one(customer_id.clone()),
            role: Role::Customer,
            kind: PushKind::CustomerDisconnected {
                reason: "customer_banned".into(),
            },
        });
        Ok(Output::new((), pushes))
    }
}
