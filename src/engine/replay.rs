//! Replaying journal records: each one is its command, executed again at its time.

use std::sync::Arc;

use super::{Command, Engine, HostCommand, JournalRecord};
use crate::journal_error::JournalError;
use crate::model::Timestamp;
use crate::routing::Router;

impl Engine {
    /// Applies one journal record, as recorded by an engine made with the same configuration.
    /// Routers are resolved with [`builtin_router`](crate::routing::builtin_router); see
    /// [`apply_with`](Self::apply_with).
    ///
    /// Records must come in order, each once: a record whose number is not the next one is
    /// refused with [`JournalError::OutOfOrder`], so a gap or a duplicate is caught rather
    /// than replayed. A refused record changes nothing.
    pub fn apply(&mut self, record: JournalRecord) -> Result<(), JournalError> {
        self.apply_with(record, &Options::default())
    }

    /// [`apply`](Self::apply), resolving router names with [`Options::routers`] (a host's own
    /// routers, falling back to the built-in ones as it likes).
    pub fn apply_with(
        &mut self,
        record: JournalRecord,
        options: &Options<'_>,
    ) -> Result<(), JournalError> {
        let expected = self.journal_seq() + 1;
        if record.seq != expected {
            return Err(JournalError::OutOfOrder {
                expected,
                found: record.seq,
            });
        }
        let JournalRecord { seq, at, command } = record;
        let result = self.replaying(|engine| engine.replay(at, command, options.routers));
        // Every record is one accepted change, so replaying it must count one. One that was
        // accepted but changed nothing (a retry, a typing indicator, a tick with nothing due)
        // was never written by an engine; taking it would leave its number free for the next
        // record, and the same record could be applied again and again.
        let result = result.and_then(|()| match self.journal_seq() {
            n if n == expected => Ok(()),
            _ => Err("replaying it changed nothing".to_string()),
        });
        result.map_err(|reason| JournalError::Diverged { seq, reason })
    }

    fn replay(
        &mut self,
        at: Timestamp,
        command: Command,
        routers: &dyn Fn(&str) -> Option<Arc<dyn Router>>,
    ) -> Result<(), String> {
        match command {
            // Routers are code: the host's resolver names them, not `execute`'s built-in list.
            Command::Host(HostCommand::SetRouter { name }) => {
                let router = routers(&name).ok_or_else(|| format!("unknown router `{name}`"))?;
                self.set_router(router);
                Ok(())
            }
            command => self
                .execute(at, command)
                .map(drop)
                .map_err(|e| e.to_string()),
        }
    }
}

/// How snapshots are written and read and journal records replayed: the one set of options of
/// [`Engine::snapshot_with`], [`Engine::restore_with`] and [`Engine::apply_with`].
///
/// ```
/// use std::sync::Arc;
/// use chatio::journal::Options;
/// use chatio::routing::{Router, builtin_router};
/// use chatio::Engine;
///
/// let mine = |name: &str| -> Option<Arc<dyn Router>> { builtin_router(name) };
/// let options = Options::default().threads(4).routers(&mine);
/// let engine = Engine::default();
/// assert_eq!(Engine::restore_with(&engine.snapshot_with(&options), &options)?, engine);
/// # Ok::<(), chatio::journal::JournalError>(())
/// ```
#[derive(Clone, Copy)]
pub struct Options<'r> {
    /// How many threads may share the work of a large snapshot: the calling thread and up to
    /// `threads - 1` scoped threads, joined before the call returns (see [`crate::journal`]).
    /// 0 counts as 1. Neither the bytes nor the restored engine depend on it.
    pub threads: usize,
    /// Resolves the router names that records and snapshots carry (routers are code, not
    /// data).
    pub routers: &'r dyn Fn(&str) -> Option<Arc<dyn Router>>,
}

impl Default for Options<'static> {
    /// One thread, and the built-in routers ([`builtin_router`](crate::routing::builtin_router)).
    fn default() -> Self {
        Options {
            threads: 1,
            routers: &crate::routing::builtin_router,
        }
    }
}

impl<'r> Options<'r> {
    /// These options with `threads` threads.
    pub fn threads(self, threads: usize) -> Self {
        Self { threads, ..self }
    }

    /// These options resolving router names with `routers`.
    pub fn routers<'s>(self, routers: &'s dyn Fn(&str) -> Option<Arc<dyn Router>>) -> Options<'s> {
        Options {
            threads: self.threads,
            routers,
        }
    }
}

impl std::fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}
