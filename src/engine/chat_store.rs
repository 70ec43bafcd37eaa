//! Where the engine keeps its chats: in slots, a chunk of [`CHUNK`] slots at a time.
//!
//! One `Vec<Chat>` would double as a license grows: at a million chats that is a copy of half a
//! gigabyte inside whichever request starts the chat that does not fit, and a third of the
//! array empty on average afterwards. Chunks of fixed size grow by one allocation at a time,
//! never move a chat, and leave at most one chunk part empty. A slot is found with one more
//! load (the chunk's address, from a list small enough to stay in the cache).

use crate::model::Chat;

/// Chats per chunk.
const CHUNK: usize = 1024;

/// The chats of a license, by slot.
#[derive(Clone, Debug, Default)]
pub(crate) struct ChatStore {
    chunks: Vec<Vec<Chat>>,
    len: usize,
}

impl ChatStore {
    /// The number of chats.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The chat in `slot`.
    #[inline]
    pub(crate) fn get(&self, slot: usize) -> Option<&Chat> {
        self.chunks.get(slot / CHUNK)?.get(slot % CHUNK)
    }

    /// Adds a chat in the next slot.
    pub(crate) fn push(&mut self, chat: Chat) -> usize {
        let slot = self.len;
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(chat),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(chat);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
        slot
    }

    /// The chats, oldest first.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = &Chat> + ExactSizeIterator {
        ChatsIter {
            store: self,
            slots: 0..self.len,
        }
    }
}

impl From<Vec<Chat>> for ChatStore {
    fn from(chats: Vec<Chat>) -> Self {
        let mut store = ChatStore::default();
        for chat in chats {
            store.push(chat);
        }
        store
    }
}

/// Two stores are equal when they hold the same chats in the same slots.
impl PartialEq for ChatStore {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

/// `store[slot]`: the chat in a slot known to exist.
impl std::ops::Index<usize> for ChatStore {
    type Output = Chat;

    #[inline]
    fn index(&self, slot: usize) -> &Chat {
        &self.chunks[slot / CHUNK][slot % CHUNK]
    }
}

impl std::ops::IndexMut<usize> for ChatStore {
    #[inline]
    fn index_mut(&mut self, slot: usize) -> &mut Chat {
        &mut self.chunks[slot / CHUNK][slot % CHUNK]
    }
}

/// Every chat of a license, oldest first, as [`Engine::chats`](crate::Engine::chats) gives
/// them.
///
/// ```
/// use chatio::{Engine, EngineConfig, NewEvent, StartChat, Timestamp};
/// let mut engine = Engine::new(EngineConfig::with_seed(1));
/// let customer = engine.create_customer();
/// let start = StartChat::default().with_event(NewEvent::message("hi"));
/// engine.as_customer(&customer, Timestamp::from_unix_seconds(1))?.start_chat(start)?;
/// let chats = engine.chats();
/// assert_eq!(chats.len(), 1);
/// assert_eq!(chats.get(0).map(|c| c.threads[0].events.len()), Some(1));
/// assert!(chats.iter().all(|c| c.is_active()));
/// # Ok::<(), chatio::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct Chats<'a>(&'a ChatStore);

impl<'a> Chats<'a> {
    pub(crate) fn new(store: &'a ChatStore) -> Self {
        Chats(store)
    }

    /// The number of chats.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the license has no chat.
    pub fn is_empty(&self) -> bool {
        self.0.len() == 0
    }

    /// The chat at `index`, counting from the oldest.
    pub fn get(&self, index: usize) -> Option<&'a Chat> {
        self.0.get(index)
    }

    /// The chats, oldest first.
    pub fn iter(&self) -> ChatsIter<'a> {
        ChatsIter {
            store: self.0,
            slots: 0..self.0.len(),
        }
    }
}

impl<'a> IntoIterator for Chats<'a> {
    type Item = &'a Chat;
    type IntoIter = ChatsIter<'a>;

    fn into_iter(self) -> ChatsIter<'a> {
        self.iter()
    }
}

/// The iterator of [`Chats::iter`].
#[derive(Clone)]
pub struct ChatsIter<'a> {
    store: &'a ChatStore,
    slots: std::ops::Range<usize>,
}

impl<'a> Iterator for ChatsIter<'a> {
    type Item = &'a Chat;

    fn next(&mut self) -> Option<&'a Chat> {
        self.slots.next().and_then(|slot| self.store.get(slot))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.slots.size_hint()
    }
}

impl DoubleEndedIterator for ChatsIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.slots.next_back().and_then(|slot| self.store.get(slot))
    }
}

impl ExactSizeIterator for ChatsIter<'_> {}

impl std::fmt::Debug for ChatsIter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatsIter")
            .field("remaining", &self.slots.len())
            .finish()
    }
}

impl std::fmt::Debug for Chats<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChatId, Timestamp};

    #[test]
    fn slots_cross_chunks_in_order() {
        let mut store = ChatStore::default();
        let n = CHUNK * 2 + 3;
        for i in 0..n {
            let id = ChatId::from_uuid(uuid::Uuid::from_u128(i as u128));
            assert_eq!(store.push(Chat::new(id, None, Timestamp::EPOCH)), i);
        }
        assert_eq!(store.len(), n);
        assert_eq!(store.chunks.len(), 3);
        for (i, chat) in store.iter().enumerate() {
            assert_eq!(chat.id.as_uuid().as_u128(), i as u128);
            assert_eq!(store[i].id, chat.id);
        }
        assert!(store.get(n).is_none());
        assert_eq!(
            store.iter().next_back().map(|c| c.id),
            store.get(n - 1).map(|c| c.id)
        );
        assert!(store == store.clone());
    }
}
