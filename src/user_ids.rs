//! `UserIds`: a push's recipient list, cheap to share.
//!
//! A push about a chat nobody scoped goes to every agent of the license, often thousands of ids,
//! and one request can cause several such pushes. Copying the list each time made routing cost
//! grow with the license's size; sharing one `Arc` does not. A single recipient (the customer) is
//! kept inline, without an allocation.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use crate::model::UserId;

/// An immutable list of user ids; dereferences to `[UserId]`.
///
/// ```
/// use chatio::{UserId, UserIds};
/// let anna = UserId::new("anna@example.com")?;
/// let to = UserIds::from(vec![anna.clone()]);
/// assert_eq!(to, vec![anna.clone()]);
/// assert!(to.contains(&anna));
/// # Ok::<(), chatio::Error>(())
/// ```
#[derive(Clone)]
pub struct UserIds(Repr);

#[derive(Clone)]
enum Repr {
    One(UserId),
    Shared(Arc<[UserId]>),
}

impl UserIds {
    /// One user.
    pub fn one(id: UserId) -> Self {
        Self(Repr::One(id))
    }

    /// A list shared with whoever else holds it.
    pub fn shared(ids: Arc<[UserId]>) -> Self {
        Self(Repr::Shared(ids))
    }

    /// The ids as a slice.
    pub fn as_slice(&self) -> &[UserId] {
        match &self.0 {
            Repr::One(id) => std::slice::from_ref(id),
            Repr::Shared(ids) => ids,
        }
    }
}

impl Deref for UserIds {
    type Target = [UserId];

    fn deref(&self) -> &[UserId] {
        self.as_slice()
    }
}

impl From<Vec<UserId>> for UserIds {
    fn from(ids: Vec<UserId>) -> Self {
        match <[UserId; 1]>::try_from(ids) {
            Ok([one]) => Self::one(one),
            Err(ids) => Self::shared(ids.into()),
        }
    }
}

impl<'a> IntoIterator for &'a UserIds {
    type Item = &'a UserId;
    type IntoIter = std::slice::Iter<'a, UserId>;

    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl PartialEq for UserIds {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for UserIds {}

impl PartialEq<Vec<UserId>> for UserIds {
    fn eq(&self, other: &Vec<UserId>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl PartialEq<[UserId]> for UserIds {
    fn eq(&self, other: &[UserId]) -> bool {
        self.as_slice() == other
    }
}

impl<const N: usize> PartialEq<[UserId; N]> for UserIds {
    fn eq(&self, other: &[UserId; N]) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl PartialEq<&[UserId]> for UserIds {
    fn eq(&self, other: &&[UserId]) -> bool {
        self.as_slice() == *other
    }
}

impl fmt::Debug for UserIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}
