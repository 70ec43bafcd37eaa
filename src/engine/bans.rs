//! `ban_customer`.

use super::{Engine, Output, Requester};
use crate::UserIds;
use crate::error::Error;
use crate::model::{Role, UserId};
use crate::push::{Push, PushKind};

/// The longest ban accepted, in days (ten years).
pub const MAX_BAN_DAYS: u32 = 3650;

impl Engine {
    /// `ban_customer`: the customer's active threads are archived, agents are told, the
    /// customer is disconnected, and every call as that customer fails with `customer_banned`
    /// until the ban ends.
    pub(crate) fn ban_customer(
        &mut self,
        req: &Requester,
        customer_id: &UserId,
        days: u32,
    ) -> Result<Output<()>, Error> {
        self.authorize(req, super::Grant::CustomersBanWrite)?;
        if days == 0 || days > MAX_BAN_DAYS {
            return Err(Error::InvalidField {
                field: "ban.days",
                reason: format!("{days} is not between 1 and {MAX_BAN_DAYS}"),
            });
        }
        let record = self
            .customer_record(customer_id)
            .ok_or_else(|| Error::CustomerNotFound(customer_id.clone()))?;
        let chats = record.chats.clone();

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
        for chat_id in chats {
            let Ok(slot) = self.chat_slot(chat_id) else {
                continue;
            };
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
