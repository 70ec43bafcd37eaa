//! Changes to what is already there: `close_thread` (R5), rich message postbacks (R11),
//! last-seen times (R12) and customer details (R14).

use super::{Engine, Output, Requester};
use crate::error::Error;
use crate::model::CustomerUpdate;
use crate::model::events::KindRef;
use crate::model::{ChatId, Customer, EventId, EventKind, Role, ThreadId, Timestamp};
use crate::push::{Postback, PushKind};

impl Engine {
    /// `close_thread`: deactivates the chat's active thread. When an agent closes it, a
    /// `manual_archived` system message ("Anna archived the chat") comes first. The assignee, if
    /// any, gets its slot back.
    pub(crate) fn close_thread(
        &mut self,
        req: &Requester,
        chat_id: ChatId,
    ) -> Result<Output<()>, Error> {
        let slot = self.chat_for(req, chat_id, super::ChatRight::Meta)?;
        let chat = self.chat_at(slot);
        if !chat.is_active() {
            return Err(Error::NoActiveThread(chat_id));
        }
        self.commit(req);
        let mut pushes = Vec::new();
        let text = match req.role {
            Role::Agent => {
                let name = self
                    .agent(req.id)
                    .map(|a| a.name.clone())
                    .unwrap_or_default();
                Some(format!("{name} archived the chat"))
            }
            Role::Customer => None,
        };
        self.close_active_thread(
            slot,
            text.map(|t| ("manual_archived", t)),
            Some(req.id.clone()),
            &mut pushes,
        );
        Ok(Output::new((), pushes))
    }

    /// `send_rich_message_postback`: toggles the requester on every button of the event with
    /// the postback id. The change is always kept; the push goes out only while the thread is
    /// active.
    pub(crate) fn send_rich_message_postback(
        &mut self,
        req: &Requester,
        chat_id: ChatId,
        thread_id: ThreadId,
        event_id: EventId,
        postback: Postback,
    ) -> Result<Output<()>, Error> {
        let slot = self.chat_for(req, chat_id, super::ChatRight::Conversation)?;
        let chat = self.chat_at(slot);
        let thread = chat
            .threads
            .iter()
            .position(|t| t.id == thread_id)
            .ok_or(Error::ThreadNotFound { chat_id, thread_id })?;
        let position = chat.threads[thread]
            .events
            .refs()
            .position(|e| e.id == event_id && e.visible_to(req.role))
            .ok_or(Error::EventNotFound {
                thread_id,
                event_id,
            })?;
        let event = chat.threads[thread].events.at(position);
        let has_postback = matches!(
            event.map(|e| e.kind),
            Some(KindRef::Whole(whole))
                if matches!(&whole.kind, EventKind::RichMessage(r) if r.has_postback(&postback.id))
        );
        if !has_postback {
            return Err(Error::PostbackNotFound {
                event_id,
                postback_id: postback.id,
            });
        }

        self.commit(req);
        let chat = self.chat_at_mut(slot);
        let stored = chat.threads[thread].events.whole_mut(position);
        if let Some(EventKind::RichMessage(rich)) = stored.map(|e| &mut e.kind) {
            rich.toggle(&postback.id, req.id, postback.toggled);
        }

        let chat = self.chat_at(slot);
        let t = &chat.threads[thread];
        let mut pushes = Vec::new();
        if t.active {
            let customer_may_see = t
                .events
                .at(position)
                .is_some_and(|e| e.visible_to(Role::Customer));
            self.push_to_chat(&mut pushes, chat, customer_may_see, None, |_| {
                PushKind::IncomingRichMessagePostback {
                    user_id: req.id.clone(),
                    chat_id,
                    thread_id,
                    event_id,
                    postback: Box::new(postback.clone()),
                }
            });
        }
        Ok(Output::new((), pushes))
    }

    /// `update_last_seen_timestamp`: moves the requester's last-seen time in a chat forward
    /// (to `now` by default; never backwards) and answers with the time now stored.
    pub(crate) fn update_last_seen_timestamp(
        &mut self,
        req: &Requester,
        chat_id: ChatId,
        timestamp: Option<Timestamp>,
    ) -> Result<Output<Timestamp>, Error> {
        let slot = self.chat_for(req, chat_id, super::ChatRight::Read)?;
        let wanted = timestamp.unwrap_or(req.now);
        if wanted > req.now {
            return Err(Error::InvalidField {
                field: "timestamp",
                reason: format!("{wanted} is later than now ({})", req.now),
            });
        }
        let current = self.chat_at(slot).last_seen.get(req.id).copied();
        if current.is_some_and(|c| c >= wanted) {
            return Ok(Output::quiet(current.unwrap_or(wanted)));
        }

        self.commit(req);
        let seen_order = self.next_order;
        let chat = self.chat_at_mut(slot);
        chat.last_seen.insert(req.id.clone(), wanted);
        if chat.routing.assignee.as_ref() == Some(req.id) {
            chat.routing.assignee_seen_order = Some(seen_order);
        }
        let chat = self.chat_at(slot);
        let mut pushes = Vec::new();
        self.push_to_chat(&mut pushes, chat, true, None, |_| {
            PushKind::LastSeenTimestampUpdated {
                user_id: req.id.clone(),
                chat_id,
                timestamp: wanted,
            }
        });
        Ok(Output::new(wanted, pushes))
    }

    /// `update_customer`: changes the requester's details and tells each of its active chats.
    pub(crate) fn update_customer(
        &mut self,
        req: &Requester,
        update: CustomerUpdate,
    ) -> Result<Output<Customer>, Error> {
        if let Some(name) = &update.name {
            crate::model::check_customer_name(name)?;
        }
        if let Some(email) = &update.email {
            crate::model::check_customer_email(email)?;
        }
        crate::model::check_customer_fields(&update.fields)?;
        if let Some(page) = &update.current_page {
            crate::model::check_page(page)?;
        }
        if let Some(referrer) = &update.referrer {
            crate::model::check_referrer(referrer)?;
        }
        if let Some(timezone) = &update.timezone {
            crate::model::check_timezone(timezone)?;
        }
        let record = self
            .customer_record(req.id)
            .ok_or_else(|| Error::CustomerNotFound(req.id.clone()))?;
        self.check_customer_fields(&record.customer.fields, &update.fields)?;
        let chats = record.chats.clone();

        self.commit(req);
        let now = self.now;
        let customer = match self.customer_record_mut(req.id) {
            Some(record) => {
                let c = &mut record.customer;
                if let Some(name) = update.name {
                    c.name = Some(name);
                }
                if let Some(email) = update.email {
                    c.email = Some(email);
                }
                c.fields.extend(update.fields);
                if let Some(page) = update.current_page {
                    // The engine knows no visits: the first page reported starts the one
                    // visit it shows, and each page other than the current one starts now.
                    c.visit_start.get_or_insert(now);
                    if c.current_page.as_ref() != Some(&page) {
                        c.page_start = Some(now);
                    }
                    c.current_page = Some(page);
                }
                if let Some(referrer) = update.referrer {
                    c.referrer = Some(referrer);
                }
                if let Some(timezone) = update.timezone {
                    c.timezone = Some(timezone);
                }
                c.clone()
            }
            None => return Err(Error::CustomerNotFound(req.id.clone())),
        };

        let mut pushes = Vec::new();
        for chat_id in chats {
            // Only the chat's users are read, which the stored chat has.
            let Ok(slot) = self.chat_slot(chat_id) else {
                continue;
            };
            let chat = self.chat_at(slot);
            if !chat.is_active() {
                continue;
            }
            self.push_to_chat(&mut pushes, chat, true, None, |_| {
                PushKind::CustomerUpdated {
                    chat_id,
                    customer: Box::new(customer.clone()),
                }
            });
        }
        Ok(Output::new(customer, pushes))
    }
}
