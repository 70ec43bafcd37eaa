//! Why a journal record or a snapshot could not be read or replayed.

/// Why a journal record or a snapshot was refused. A refused record or snapshot changes
/// nothing: [`Engine::apply`](crate::Engine::apply) leaves the engine as it was.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The input was written by a format version this build does not read (a newer one).
    #[error("unsupported {what} version {found} (this build reads versions up to {supported})")]
    UnsupportedVersion {
        /// `journal record` or `snapshot`.
        what: &'static str,
        /// The version the input declares.
        found: u32,
        /// The version this build writes; it reads that one and the earlier ones.
        supported: u32,
    },
    /// The input is not a well-formed record or snapshot (truncated, garbled, wrong shape).
    #[error("corrupt {what}: {reason}")]
    Corrupt {
        /// `journal record` or `snapshot`.
        what: &'static str,
        /// What the decoder found wrong.
        reason: String,
    },
    /// A record came out of order: records must be applied one after the other, each exactly
    /// once.
    #[error("journal record {found} applied where record {expected} was due")]
    OutOfOrder {
        /// The sequence number the engine expected next.
        expected: u64,
        /// The sequence number of the record given.
        found: u64,
    },
    /// A record or snapshot names a router the host did not provide.
    #[error("unknown router `{0}`: pass a resolver that knows it")]
    UnknownRouter(String),
    /// The engine refused a recorded command, or it produced something other than what was
    /// recorded: the journal does not belong to this engine (other seed or configuration), or
    /// it was edited.
    #[error("journal record {seq} does not replay: {reason}")]
    Diverged {
        /// The record's sequence number.
        seq: u64,
        /// The engine's error, or what differed.
        reason: String,
    },
}
