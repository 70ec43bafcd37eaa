//! `Threads`: a chat's threads, with the first one kept inside the chat.

use std::fmt;
use std::ops::{Deref, DerefMut};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Thread;

/// The threads of a chat, in order; dereferences to `[Thread]`.
///
/// Most chats never get a second thread, and every event sent to one reads its active thread.
/// Keeping a lone thread inside the chat instead of in a list of its own saves a dependent memory
/// access on each of those sends, which in a license of a million chats is a cache miss. A chat
/// that opens a second thread moves its threads into a list.
///
/// ```
/// use chatio::model::Threads;
/// let threads = Threads::default();
/// assert!(threads.is_empty());
/// assert_eq!(threads.last(), None);
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct Threads(Repr);

#[derive(Clone, PartialEq)]
// The large variant is the point: the lone thread lives inside the chat.
#[allow(clippy::large_enum_variant)]
enum Repr {
    One(Thread),
    Many(Vec<Thread>),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Many(Vec::new())
    }
}

impl Threads {
    /// Gives back the list's spare room: after archiving, a chat's threads are mostly stubs,
    /// and a list that doubled to 32 places for 21 threads would keep 11 empty ones.
    pub(crate) fn shrink_to_fit(&mut self) {
        if let Repr::Many(list) = &mut self.0 {
            list.shrink_to_fit();
        }
    }

    /// Adds a thread at the end.
    pub(crate) fn push(&mut self, thread: Thread) {
        match &mut self.0 {
            Repr::Many(list) if list.is_empty() => self.0 = Repr::One(thread),
            Repr::Many(list) => list.push(thread),
            Repr::One(_) => {
                let Repr::One(first) = std::mem::take(&mut self.0) else {
                    return;
                };
                self.0 = Repr::Many(vec![first, thread]);
            }
        }
    }
}

impl Deref for Threads {
    type Target = [Thread];

    fn deref(&self) -> &[Thread] {
        match &self.0 {
            Repr::One(thread) => std::slice::from_ref(thread),
            Repr::Many(list) => list,
        }
    }
}

impl DerefMut for Threads {
    fn deref_mut(&mut self) -> &mut [Thread] {
        match &mut self.0 {
            Repr::One(thread) => std::slice::from_mut(thread),
            Repr::Many(list) => list,
        }
    }
}

impl From<Vec<Thread>> for Threads {
    fn from(mut list: Vec<Thread>) -> Self {
        match list.len() {
            1 => match list.pop() {
                Some(thread) => Self(Repr::One(thread)),
                None => Self::default(),
            },
            _ => Self(Repr::Many(list)),
        }
    }
}

impl<'a> IntoIterator for &'a Threads {
    type Item = &'a Thread;
    type IntoIter = std::slice::Iter<'a, Thread>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut Threads {
    type Item = &'a mut Thread;
    type IntoIter = std::slice::IterMut<'a, Thread>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

impl fmt::Debug for Threads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Threads {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.deref().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Threads {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<Thread>::deserialize(d).map(Self::from)
    }
}
