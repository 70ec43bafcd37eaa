//! Where journal records are made and handed out (the format is in [`crate::journal`]).

use serde::{Deserialize, Serialize};

use super::{Command, Engine, HostCommand, Output, Requester};
use crate::error::Error;
use crate::model::Timestamp;

/// One accepted change: its place in the journal, when it was made and what was done. Replaying
/// it is [`Engine::execute`] of its command at its time (see [`crate::journal`] for the format).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JournalRecord {
    /// The record's number: 1 for the engine's first change, then one more for each.
    pub seq: u64,
    /// The `now` the command was made at (for an API's command, never earlier than the
    /// engine's clock then).
    pub at: Timestamp,
    /// The command, with who made it.
    pub command: Command,
}

/// A change to journal: the command and when it was made.
pub(crate) struct Entry {
    pub(crate) at: Timestamp,
    pub(crate) command: Command,
}

impl Entry {
    pub(crate) fn host(at: Timestamp, command: HostCommand) -> Self {
        Self {
            at,
            command: Command::Host(command),
        }
    }
}

/// The engine's journal: the number of changes made so far, and the records not yet handed to
/// the host.
#[derive(Clone, Debug, Default)]
pub(crate) struct Journal {
    /// The number of the last record made: state, restored from snapshots.
    seq: u64,
    outbox: Outbox,
}

impl Journal {
    /// The journal of an engine restored at record `seq`: nothing waits to be handed out.
    pub(crate) fn restored(seq: u64) -> Self {
        Self {
            seq,
            outbox: Outbox::default(),
        }
    }

    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }
}

impl PartialEq for Journal {
    /// By the count of changes only: the outbox's records are in transit to the host, not
    /// state, so two engines that went through the same calls are equal whether or not their
    /// hosts have taken the records yet (and whatever their [`JournalMode`]).
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
    }
}

/// Records made but not yet handed to the host.
///
/// They are in transit, not state: the outbox takes no part in comparing engines (see
/// `impl PartialEq for Journal`).
#[derive(Clone, Debug, Default)]
struct Outbox {
    records: Vec<JournalRecord>,
    /// Whether the command running now has committed (see [`Engine::commit`]): a facade
    /// command that never commits changed nothing, and is not journaled.
    committed: bool,
    /// Whether a record is being replayed: changes are counted, and no record is made again.
    replaying: bool,
    /// Where records go.
    mode: JournalMode,
}

/// Where an engine's journal records go. Not part of the engine's state: a restored engine
/// starts in the default mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum JournalMode {
    /// Each [`Output`] carries the records made since the last one handed out (the default).
    #[default]
    Output,
    /// Records stay in the engine until [`Engine::take_journal`] takes them. For hosts whose
    /// calls go through a layer that keeps only responses and pushes, such as
    /// the wire codec: after each call they take the records, persist them, then answer.
    Hold,
    /// No records are made (changes are still counted by [`Engine::journal_seq`]). For hosts
    /// that never persist, such as simulations and benchmarks: it saves a copy of every
    /// command's arguments.
    Off,
}

impl Engine {
    /// Numbers an accepted change and puts its record in the outbox (unless replaying).
    pub(crate) fn record(&mut self, entry: Entry) {
        self.journal.seq += 1;
        if self.journaling() {
            let record = JournalRecord {
                seq: self.journal.seq,
                at: entry.at,
                command: entry.command,
            };
            // Each output takes the list away, so most records start a new one: `vec!` sizes
            // it for the one record instead of the four a first `push` makes room for.
            if self.journal.outbox.records.is_empty() {
                self.journal.outbox.records = vec![record];
            } else {
                self.journal.outbox.records.push(record);
            }
        }
    }

    /// Whether records are being made: not while a record is replayed, nor when switched off.
    pub(crate) fn journaling(&self) -> bool {
        !self.journal.outbox.replaying && self.journal.outbox.mode != JournalMode::Off
    }

    /// Runs `replay` as the replay of a record: changes count, records are not made again.
    pub(crate) fn replaying<R>(&mut self, replay: impl FnOnce(&mut Self) -> R) -> R {
        self.journal.outbox.replaying = true;
        let result = replay(self);
        self.journal.outbox.replaying = false;
        result
    }

    /// Records an accepted call and hands every record waiting in the outbox to its output.
    pub(crate) fn journaled<T>(&mut self, out: Output<T>, entry: Entry) -> Output<T> {
        self.record(entry);
        self.hand_out(out)
    }

    /// Whether outputs carry records: in [`JournalMode::Output`], except while replaying.
    fn outputs_carry_records(&self) -> bool {
        self.journal.outbox.mode == JournalMode::Output && !self.journal.outbox.replaying
    }

    pub(crate) fn hand_out<T>(&mut self, mut out: Output<T>) -> Output<T> {
        if self.outputs_carry_records() {
            out.journal = std::mem::take(&mut self.journal.outbox.records);
        }
        out
    }

    /// Called by [`Engine::commit`]: the command is changing the engine.
    pub(crate) fn mark_committed(&mut self) {
        self.journal.outbox.committed = true;
    }

    /// Runs a facade command as `me`. If it was accepted and changed anything (it committed),
    /// journals `entry`, or only counts the change when there is none (replaying, or the
    /// journal off), and hands the waiting records to its output.
    pub(crate) fn run_command<T>(
        &mut self,
        me: &Requester,
        entry: Option<Entry>,
        command: impl FnOnce(&mut Engine, &Requester) -> Result<Output<T>, Error>,
    ) -> Result<Output<T>, Error> {
        self.run_recorded(
            me,
            |engine, me| command(engine, me).map(|out| (out, ())),
            |(), _| entry,
        )
    }

    /// [`run_command`](Self::run_command) for a command whose entry is made from what it
    /// returns besides its output (`send_event` records the event it stored rather than a copy
    /// of the request). `entry` is only called for a command that changed something.
    pub(crate) fn run_recorded<T, X>(
        &mut self,
        me: &Requester,
        command: impl FnOnce(&mut Engine, &Requester) -> Result<(Output<T>, X), Error>,
        entry: impl FnOnce(X, &Requester) -> Option<Entry>,
    ) -> Result<Output<T>, Error> {
        self.journal.outbox.committed = false;
        let (mut out, made) = command(self, me)?;
        if !self.journal.outbox.committed {
            return Ok(self.hand_out(out));
        }
        if self.outputs_carry_records() && self.journal.outbox.records.is_empty() {
            // The usual case: nothing waits, so the record goes straight to the output.
            // Through the outbox it was written and read back at once, and the read waited
            // for the write to finish. The list is allocated before the entry is made, so the
            // entry is built in it rather than built aside and copied in.
            let list = Box::<[JournalRecord; 1]>::new_uninit();
            self.journal.seq += 1;
            if let Some(entry) = entry(made, me) {
                let seq = self.journal.seq;
                let record = JournalRecord {
                    seq,
                    at: entry.at,
                    command: entry.command,
                };
                let list = Box::write(list, [record]);
                out.journal = (list as Box<[JournalRecord]>).into_vec();
            }
            return Ok(out);
        }
        match entry(made, me) {
            Some(entry) => self.record(entry),
            None => self.journal.seq += 1,
        }
        Ok(self.hand_out(out))
    }

    /// Sets where journal records go (see [`JournalMode`]).
    pub fn set_journal_mode(&mut self, mode: JournalMode) {
        self.journal.outbox.mode = mode;
    }

    /// Where journal records go.
    pub fn journal_mode(&self) -> JournalMode {
        self.journal.outbox.mode
    }

    /// Takes the journal records not yet handed out, oldest first: those of host calls that
    /// return no [`Output`] ([`add_agent`](Self::add_agent),
    /// [`configure_property`](Self::configure_property), ...). Every `Output` carries the waiting records too, so a
    /// host that persists each output's `journal` needs this only when it makes host calls and
    /// then no command.
    pub fn take_journal(&mut self) -> Vec<JournalRecord> {
        std::mem::take(&mut self.journal.outbox.records)
    }

    /// The number of the last journal record made: the count of accepted changes so far. A
    /// snapshot taken now is followed by the records numbered above it.
    pub fn journal_seq(&self) -> u64 {
        self.journal.seq
    }
}
