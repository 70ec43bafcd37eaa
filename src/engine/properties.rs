//! `update_chat_properties` and `update_chat_thread_properties`.

use super::{Engine, Output, Requester};
use crate::error::Error;
use crate::model::{ChatId, Location, Properties, ThreadId};
use crate::push::PushKind;

impl Engine {
    /// `update_chat_properties`: sets chat properties; the push carries only what changed, as
    /// each recipient may read it.
    pub(crate) fn update_chat_properties(
        &mut self,
        req: &Requester,
        chat_id: ChatId,
        properties: Properties,
    ) -> Result<Output<()>, Error> {
        let slot = self.chat_for(req, chat_id, super::ChatRight::Conversation)?;
        self.check_properties(req, &properties, Location::Chat)?;
        self.check_property_values(&properties)?;
        self.commit(req);
        let changed = merge_changes(&mut self.chat_at_mut(slot).properties, properties);
        let mut pushes = Vec::new();
        self.push_property_changes(&mut pushes, slot, &changed, Location::Chat, |properties| {
            PushKind::ChatPropertiesUpdated {
                chat_id,
                properties,
            }
        });
        Ok(Output::new((), pushes))
    }

    /// `update_chat_thread_properties`: the same for one thread of the chat.
    pub(crate) fn update_chat_thread_properties(
        &mut self,
        req: &Requester,
        chat_id: ChatId,
        thread_id: ThreadId,
        properties: Properties,
    ) -> Result<Output<()>, Error> {
        let slot = self.chat_for(req, chat_id, super::ChatRight::Conversation)?;
        let thread = self
            .chat_at(slot)
            .threads
            .iter()
            .position(|t| t.id == thread_id)
            .ok_or(Error::ThreadNotFound { chat_id, thread_id })?;
        self.check_properties(req, &properties, Location::Thread)?;
        self.check_property_values(&properties)?;
        self.commit(req);
        let changed = merge_changes(
            &mut self.chat_at_mut(slot).threads[thread].properties,
            properties,
        );
        let mut pushes = Vec::new();
        self.push_property_changes(
            &mut pushes,
            slot,
            &changed,
            Location::Thread,
            |properties| PushKind::ChatThreadPropertiesUpdated {
                chat_id,
                thread_id,
                properties,
            },
        );
        Ok(Output::new((), pushes))
    }

    /// Tells the chat's audience what changed, each role only what it may read; a role that may
    /// read none of it is not told.
    fn push_property_changes(
        &self,
        pushes: &mut Vec<crate::Push>,
        slot: usize,
        changed: &Properties,
        location: Location,
        make: impl Fn(Properties) -> PushKind,
    ) {
        if changed.is_empty() {
            return;
        }
        let chat = self.chat_at(slot);
        let start = pushes.len();
        self.push_to_chat(pushes, chat, true, None, |role| {
            make(self.properties_view(changed, location, role))
        });
        // Drop the pushes that would say nothing to their role.
        let mut i = start;
        while i < pushes.len() {
            let empty = match &pushes[i].kind {
                PushKind::ChatPropertiesUpdated { properties, .. }
                | PushKind::ChatThreadPropertiesUpdated { properties, .. } => properties.is_empty(),
                _ => false,
            };
            if empty {
                pushes.remove(i);
            } else {
                i += 1;
            }
        }
    }
}

/// Merges `update` into `into` and returns the values that actually changed.
fn merge_changes(into: &mut Properties, update: Properties) -> Properties {
    let mut changed = Properties::new();
    for (namespace, values) in update {
        let target = into.entry(namespace.clone()).or_default();
        for (name, value) in values {
            if target.get(&name) != Some(&value) {
                target.insert(name.clone(), value.clone());
                changed
                    .entry(namespace.clone())
                    .or_default()
                    .insert(name, value);
            }
        }
        if target.is_empty() {
            into.remove(&namespace);
        }
    }
    changed
}
