//! The operation alphabet the property tests, the wire fuzz test and the simulators draw from:
//! random [`Command`](crate::Command)s over a pool of ids. Behind the `testing` feature, off by
//! default; it adds no dependency.
//!
//! It lives in the library, not in `tests/`, for two reasons. The contact-centre simulator
//! (`sim/`) cannot depend on test code. And only inside the crate does a `match` on the
//! `#[non_exhaustive]` command enums have to name every variant: [`alphabet`]'s exhaustive
//! matches stop compiling when a command is added, until the alphabet can draw it too.
//!
//! The alphabet takes its randomness from a [`Draw`], so that it serves proptest (a vector of
//! choices, which shrinks towards the first alternative of every choice: see [`Choices`]) and
//! any seeded generator alike:
//!
//! ```
//! use chatio::testing::{Choices, Pool, alphabet};
//! use chatio::{Agent, Customer, Engine, UserId};
//!
//! let anna = UserId::new("anna@example.com")?;
//! let jan = UserId::new("customer-jan")?;
//! let mut engine = Engine::default();
//! engine.add_agent(Agent::new(anna.clone(), "Anna"))?;
//! engine.add_customer(Customer::new(jan.clone()))?;
//! let mut pool = Pool::new(vec![anna], vec![jan]);
//! pool.refresh(&engine);
//! let command = alphabet::command(&pool, &mut Choices::new(&[7, 1, 2, 3]));
//! let now = chatio::Timestamp::from_unix_seconds(1_700_000_000);
//! // Valid or not, a command either applies whole or is refused and changes nothing.
//! let before = engine.clone();
//! if engine.execute(now, command).is_err() {
//!     assert!(engine == before);
//! }
//! # Ok::<(), chatio::Error>(())
//! ```

pub mod alphabet;
mod pool;
pub mod requests;

pub use pool::Pool;

/// A source of choices for the alphabet.
pub trait Draw {
    /// A number below `n` (`n` is at least 1).
    fn below(&mut self, n: usize) -> usize;

    /// A coin toss.
    fn flip(&mut self) -> bool {
        self.below(2) == 1
    }

    /// One of `items` (which is not empty).
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// A [`Draw`] from a list of numbers, each taken modulo the choice's size; 0 once the list is
/// exhausted. A proptest strategy of `Vec<u32>` drives the alphabet this way, and shrinking the
/// numbers towards 0 shrinks every choice towards its first (and simplest) alternative.
#[derive(Clone, Debug)]
pub struct Choices<'a> {
    rest: std::slice::Iter<'a, u32>,
}

impl<'a> Choices<'a> {
    /// Choices taken from `numbers`, in order.
    pub fn new(numbers: &'a [u32]) -> Self {
        Self {
            rest: numbers.iter(),
        }
    }
}

impl Draw for Choices<'_> {
    fn below(&mut self, n: usize) -> usize {
        self.rest.next().map_or(0, |&x| x as usize % n.max(1))
    }
}
