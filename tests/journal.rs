//! The journal, replay and snapshots (issue 6, items 1 and 2): every accepted change yields a
//! record, refused calls and reads yield none, replaying the records rebuilds an equal engine,
//! and snapshots round-trip and refuse damaged or future input.

mod common;
mod snapshot_support;

use std::sync::Arc;

use chatio::journal::{
    JOURNAL_VERSION, JournalError, JournalMode, JournalRecord, Options, SNAPSHOT_VERSION,
};
use chatio::routing::{AutomaticRouter, ManualRouter, Router, builtin_router};
use chatio::{
    Agent, AgentCommand, Command, CustomerCommand, Engine, EngineConfig, Error, EventKind,
    HostCommand, NewEvent, Recipients, StartChat,
};

use common::{LicenseBuilder, at, uid};

/// A live engine driven through a bit of everything, and every record it handed out.
fn busy_license() -> (EngineConfig, Engine, Vec<JournalRecord>) {
    let config = EngineConfig::with_seed(99).routing_timeouts(60, 300);
    let (anna, bob) = (uid("anna@example.com"), uid("bob@example.com"));
    // Their records wait in the engine for the presence call's output.
    let mut engine = LicenseBuilder::new(config.clone())
        .router(AutomaticRouter::default())
        .agent(Agent::new(anna.clone(), "Anna"))
        .agent(Agent::new(bob.clone(), "Bob"))
        .build();
    let mut journal = Vec::new();
    journal.extend(
        engine
            .set_agent_presence(&anna, true, at(0))
            .unwrap()
            .journal,
    );
    let jan = engine.create_customer();
    let eva = engine.create_customer();
    journal.extend(engine.take_journal());

    let out = engine
        .as_customer(&jan, at(1))
        .unwrap()
        .start_chat(StartChat::default().with_event(NewEvent::message("Hello")))
        .unwrap();
    let chat = out.response.id;
    journal.extend(out.journal);
    let out = engine
        .as_agent(&anna, at(2))
        .unwrap()
        .send_event(chat, NewEvent::message("Hi Jan").to(Recipients::All))
        .unwrap();
    journal.extend(out.journal);
    let out = engine
        .as_customer(&eva, at(3))
        .unwrap()
        .start_chat(StartChat::default().with_event(NewEvent::message("Anyone?")))
        .unwrap();
    journal.extend(out.journal);
    // The unseen timer moves Eva's chat; the inactivity timer archives Jan's.
    while let Some(due) = engine.next_deadline().filter(|&d| d <= at(2_000)) {
        journal.extend(engine.tick(due).journal);
    }
    let out = engine
        .as_customer(&jan, at(2_100))
        .unwrap()
        .send_event(chat, NewEvent::message("Back again"))
        .unwrap();
    journal.extend(out.journal);
    (config, engine, journal)
}

fn replay(config: EngineConfig, records: &[JournalRecord]) -> Engine {
    let mut engine = Engine::new(config);
    for record in records {
        engine.apply(record.clone()).unwrap();
    }
    engine
}

#[test]
fn records_are_numbered_in_order_and_replay_to_an_equal_engine() {
    let (config, live, journal) = busy_license();
    let seqs: Vec<u64> = journal.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=journal.len() as u64).collect::<Vec<_>>());
    assert_eq!(live.journal_seq(), journal.len() as u64);
    assert!(
        journal
            .iter()
            .any(|r| matches!(r.command, Command::Host(HostCommand::Tick)))
    );
    assert_eq!(replay(config, &journal), live);
}

#[test]
fn records_survive_their_encoding() {
    let (config, live, journal) = busy_license();
    let decoded: Vec<JournalRecord> = journal
        .iter()
        .map(|r| JournalRecord::decode(&r.encode()).unwrap())
        .collect();
    assert_eq!(decoded, journal);
    assert_eq!(replay(config, &decoded), live);
}

#[test]
fn refused_calls_and_reads_yield_no_record() {
    let (_, mut engine, _) = busy_license();
    let anna = uid("anna@example.com");
    let before = engine.journal_seq();
    let chat = engine.chats().get(0).expect("chat exists").id;
    let err = engine
        .as_agent(&anna, at(3_000))
        .unwrap()
        .send_event(chat, NewEvent::message(""))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidField { .. }), "{err:?}");
    engine.as_agent(&anna, at(3_000)).unwrap().login().unwrap();
    let now = engine.now();
    assert!(engine.next_deadline().is_some_and(|d| d > now));
    let _ = engine.tick(now); // nothing due yet
    assert_eq!(engine.journal_seq(), before);
    assert!(engine.take_journal().is_empty());
}

#[test]
fn held_records_wait_for_the_host() {
    let mut engine = Engine::default();
    engine.set_journal_mode(JournalMode::Hold);
    let anna = uid("anna@example.com");
    engine.add_agent(Agent::new(anna.clone(), "Anna")).unwrap();
    let out = engine
        .as_agent(&anna, at(0))
        .unwrap()
        .start_chat(None, StartChat::default())
        .unwrap();
    assert!(out.journal.is_empty());
    let held = engine.take_journal();
    assert_eq!(held.len(), 2);
    assert!(matches!(
        held[1].command,
        Command::Agent {
            command: AgentCommand::StartChat { .. },
            ..
        }
    ));
}

#[test]
fn an_output_carries_the_records_host_calls_left_waiting() {
    let mut engine = Engine::default();
    let anna = uid("anna@example.com");
    engine.add_agent(Agent::new(anna.clone(), "Anna")).unwrap();
    let jan = engine.create_customer();
    let started = engine
        .as_customer(&jan, at(0))
        .unwrap()
        .start_chat(StartChat::default())
        .unwrap();
    let kinds: Vec<(u64, bool)> = started
        .journal
        .iter()
        .map(|r| (r.seq, matches!(r.command, Command::Customer { .. })))
        .collect();
    assert_eq!(kinds, [(1, false), (2, false), (3, true)]);
    assert!(matches!(
        started.journal[0].command,
        Command::Host(HostCommand::AddAgent(_))
    ));
    assert!(matches!(
        started.journal[2].command,
        Command::Customer {
            command: CustomerCommand::StartChat { .. },
            ..
        }
    ));

    // A send with nothing waiting carries its own record only; one after a host call carries
    // that call's record first.
    let chat = started.response.id;
    let sent = engine
        .as_agent(&anna, at(1))
        .unwrap()
        .send_event(chat, NewEvent::message("Hi"))
        .unwrap();
    let seqs: Vec<u64> = sent.journal.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [4]);
    let presence = engine.set_agent_presence(&anna, true, at(2)).unwrap();
    assert_eq!(presence.journal.len(), 1);
    assert!(engine.take_journal().is_empty());
    let eva = engine.create_customer();
    let sent = engine
        .as_agent(&anna, at(3))
        .unwrap()
        .send_event(chat, NewEvent::message("Still there?"))
        .unwrap();
    assert_eq!(sent.journal.len(), 2);
    assert!(matches!(
        &sent.journal[0].command,
        Command::Host(HostCommand::CreateCustomer { customer_id: Some(id) }) if *id == eva
    ));
    assert!(matches!(
        sent.journal[1].command,
        Command::Agent {
            command: AgentCommand::SendEvent { .. },
            ..
        }
    ));
    assert_eq!(sent.journal[1].seq, engine.journal_seq());
}

#[test]
fn a_snapshot_plus_the_records_after_it_equals_the_live_engine() {
    let (config, _, journal) = busy_license();
    let half = journal.len() / 2;
    let early = replay(config.clone(), &journal[..half]);
    let snapshot = early.snapshot();
    let mut restored = Engine::restore(&snapshot).unwrap();
    assert_eq!(restored, early);
    assert_eq!(restored.snapshot(), snapshot, "same engine, same bytes");
    for record in &journal[half..] {
        restored.apply(record.clone()).unwrap();
    }
    assert_eq!(restored, replay(config, &journal));
}

#[test]
fn records_out_of_order_are_refused_and_change_nothing() {
    let (config, _, journal) = busy_license();
    let mut engine = replay(config, &journal[..3]);
    let before = engine.clone();
    assert_eq!(
        engine.apply(journal[2].clone()),
        Err(JournalError::OutOfOrder {
            expected: 4,
            found: 3
        })
    );
    assert_eq!(
        engine.apply(journal[5].clone()),
        Err(JournalError::OutOfOrder {
            expected: 4,
            found: 6
        })
    );
    assert_eq!(engine, before);
}

#[test]
fn a_record_from_another_license_diverges_and_changes_nothing() {
    let (_, _, journal) = busy_license();
    // Another seed draws other customer ids: the create_customer record cannot match.
    let first = journal
        .iter()
        .position(|r| matches!(r.command, Command::Host(HostCommand::CreateCustomer { .. })))
        .unwrap();
    let mut engine = replay(EngineConfig::with_seed(1), &journal[..first]);
    let before = engine.clone();
    let err = engine.apply(journal[first].clone()).unwrap_err();
    assert!(
        matches!(err, JournalError::Diverged { seq, .. } if seq == journal[first].seq),
        "{err}"
    );
    assert_eq!(engine, before);
}

#[test]
fn a_record_that_replays_as_no_change_diverges_and_changes_nothing() {
    let (config, live, journal) = busy_license();
    let mut engine = replay(config, &journal);
    assert_eq!(engine, live);
    // No engine writes this: a tick with nothing due is not a change. Taking it would leave its
    // number free, so it could be applied again and again.
    let forged = JournalRecord {
        seq: engine.journal_seq() + 1,
        at: engine.now(),
        command: Command::Host(HostCommand::Tick),
    };
    let before = engine.clone();
    for _ in 0..2 {
        let err = engine.apply(forged.clone()).unwrap_err();
        assert!(
            matches!(&err, JournalError::Diverged { seq, reason }
                if *seq == forged.seq && reason.contains("changed nothing")),
            "{err}"
        );
        assert_eq!(engine, before);
    }
}

#[test]
fn future_and_garbled_records_are_refused() {
    let (_, _, journal) = busy_license();
    let text = String::from_utf8(journal[0].encode()).unwrap();
    let later = JOURNAL_VERSION + 1;
    let future = text.replacen(
        &format!("\"v\":{JOURNAL_VERSION}"),
        &format!("\"v\":{later}"),
        1,
    );
    assert!(matches!(
        JournalRecord::decode(future.as_bytes()),
        Err(JournalError::UnsupportedVersion { found, .. }) if found == later
    ));
    // Version 0 was never written: the record is damaged, not from a later build.
    let zero = text.replacen(&format!("\"v\":{JOURNAL_VERSION}"), "\"v\":0", 1);
    let err = JournalRecord::decode(zero.as_bytes()).unwrap_err();
    assert!(
        matches!(err, JournalError::Corrupt { .. }) && err.to_string().contains("version 0"),
        "{err}"
    );
    for garbled in [
        &b""[..],
        b"{",
        b"[]",
        b"{\"v\":1}",
        b"{\"v\":2}",
        &text.as_bytes()[..text.len() / 2],
    ] {
        assert!(
            matches!(
                JournalRecord::decode(garbled),
                Err(JournalError::Corrupt { .. })
            ),
            "{garbled:?}"
        );
    }
}

#[test]
fn damaged_truncated_and_future_snapshots_are_refused() {
    let (_, live, _) = busy_license();
    let snapshot = live.snapshot();
    let mut future = snapshot.clone();
    let next = SNAPSHOT_VERSION + 1;
    future[16..24].copy_from_slice(format!("{next:08}").as_bytes());
    assert_eq!(
        Engine::restore(&future),
        Err(JournalError::UnsupportedVersion {
            what: "snapshot",
            found: next,
            supported: SNAPSHOT_VERSION
        })
    );
    let mut zero = snapshot.clone();
    zero[16..24].copy_from_slice(b"00000000");
    let err = Engine::restore(&zero).unwrap_err();
    assert!(
        matches!(err, JournalError::Corrupt { .. }) && err.to_string().contains("version 0"),
        "{err}"
    );
    let truncated = &snapshot[..snapshot.len() - 10];
    assert!(matches!(
        Engine::restore(truncated),
        Err(JournalError::Corrupt { .. })
    ));
    // Flip bits all over the body: each is caught, none panics. (The header's hex checksum
    // reads the same in either case, so the body is where damage must be noticed.)
    let body = snapshot.iter().position(|&b| b == b'\n').unwrap() + 1;
    for i in (body..snapshot.len()).step_by(97) {
        let mut damaged = snapshot.clone();
        damaged[i] ^= 0x20;
        assert!(Engine::restore(&damaged).is_err(), "byte {i}");
    }
    assert!(Engine::restore(b"not a snapshot").is_err());
    assert!(Engine::restore(b"").is_err());
}

#[test]
fn routers_are_resolved_by_name() {
    #[derive(Debug)]
    struct Picky;
    impl Router for Picky {
        fn name(&self) -> &str {
            "picky"
        }
        fn route(&self, view: &chatio::routing::RoutingView<'_>) -> chatio::routing::Decision {
            ManualRouter.route(view)
        }
    }
    let engine = Engine::default().with_router(Picky);
    let snapshot = engine.snapshot();
    assert_eq!(
        Engine::restore(&snapshot),
        Err(JournalError::UnknownRouter("picky".into()))
    );
    let resolve = |name: &str| -> Option<Arc<dyn Router>> {
        if name == "picky" {
            Some(Arc::new(Picky))
        } else {
            builtin_router(name)
        }
    };
    let restored = Engine::restore_with(&snapshot, &Options::default().routers(&resolve)).unwrap();
    assert_eq!(restored.router().map(Router::name), Some("picky"));
    for name in ["automatic", "manual", "least_loaded", "round_robin"] {
        assert_eq!(builtin_router(name).unwrap().name(), name);
    }
}

#[test]
fn switched_off_the_journal_still_counts_changes() {
    let (config, live, journal) = busy_license();
    let mut quiet = Engine::new(config);
    quiet.set_journal_mode(JournalMode::Off);
    quiet.set_router(Arc::new(AutomaticRouter::default()));
    let anna = uid("anna@example.com");
    quiet.add_agent(Agent::new(anna.clone(), "Anna")).unwrap();
    let out = quiet
        .as_agent(&anna, at(0))
        .unwrap()
        .start_chat(None, StartChat::default())
        .unwrap();
    assert!(out.journal.is_empty());
    assert!(quiet.take_journal().is_empty());
    assert_eq!(quiet.journal_seq(), 3, "set_router, add_agent, start_chat");
    assert!(live.journal_seq() == journal.len() as u64);
}

#[test]
fn wire_requests_leave_their_records_for_take_journal() {
    use chatio::wire::{Api, handle};
    let config = EngineConfig::with_seed(5);
    let anna = uid("anna@example.com");
    let mut live = LicenseBuilder::new(config.clone())
        .agent(Agent::new(anna.clone(), "Anna"))
        .build();
    let mut journal = live.take_journal();
    let started = handle(
        &mut live,
        Api::Agent,
        &anna,
        at(1),
        r#"{"request_id":"1","action":"start_chat","payload":{}}"#,
    );
    assert!(started.success, "{}", started.response);
    let records = live.take_journal();
    assert_eq!(records.len(), 1);
    journal.extend(records);
    let chat = live.chats().get(0).expect("chat exists").id;
    let sent = handle(
        &mut live,
        Api::Agent,
        &anna,
        at(2),
        &format!(
            r#"{{"request_id":"2","action":"send_event","payload":{{"chat_id":"{chat}","event":{{"type":"message","text":"Hi"}}}}}}"#
        ),
    );
    assert!(sent.success, "{}", sent.response);
    journal.extend(live.take_journal());
    let refused = handle(
        &mut live,
        Api::Agent,
        &anna,
        at(3),
        r#"{"request_id":"3","action":"send_event","payload":{}}"#,
    );
    assert!(!refused.success);
    assert!(live.take_journal().is_empty());
    assert_eq!(live.journal_mode(), JournalMode::Output);
    assert_eq!(replay(config, &journal), live);
}

/// Damaged records and snapshots, at random: decoding never panics, and whatever still decodes
/// either applies or is refused without changing the engine.
mod damaged_input {
    use super::*;
    use proptest::prelude::*;

    fn cases() -> u32 {
        crate::common::proptest_cases(500)
    }

    /// Overwrites, deletes or inserts bytes at random places.
    fn damage(mut bytes: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
        for &(at, byte, how) in edits {
            if bytes.is_empty() {
                bytes.push(byte);
                continue;
            }
            let at = at % bytes.len();
            match how % 3 {
                0 => bytes[at] = byte,
                1 => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, byte),
            }
        }
        bytes
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(cases()))]

        #[test]
        fn damaged_records_never_panic(
            pick in any::<usize>(),
            edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4),
        ) {
            let (config, _, journal) = busy_license();
            let i = pick % journal.len();
            let mut engine = replay(config, &journal[..i]);
            let damaged = damage(journal[i].encode(), &edits);
            if let Ok(record) = JournalRecord::decode(&damaged) {
                let before = engine.clone();
                if engine.apply(record).is_err() {
                    prop_assert!(engine == before, "a refused record changed the engine");
                }
            }
        }

        #[test]
        fn damaged_snapshots_never_panic(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4),
        ) {
            let (_, live, _) = busy_license();
            let damaged = damage(live.snapshot(), &edits);
            if let Ok(restored) = Engine::restore(&damaged) {
                // Only damage that changes nothing the reader relies on (the case of a hex
                // digit in the header, a byte replaced by itself) gets this far.
                prop_assert!(restored == live, "damage went unnoticed");
            }
        }

        /// The same damage confined to the binary section of events, under a header resealed
        /// with the damaged body's length and checksum: the decoder itself must notice. This
        /// license's events are messages and system messages without properties, so every
        /// byte of the section has one meaning, and whatever reads back must be exactly what
        /// the writer makes of the engine that was read.
        #[test]
        fn damaged_events_reach_the_decoder_and_never_panic(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4),
        ) {
            let (_, live, _) = busy_license();
            let plain = live.chats().iter().all(|c| {
                c.threads.iter().flat_map(|t| &t.events).all(|e| {
                    e.properties.is_empty()
                        && matches!(e.kind, EventKind::Message { .. } | EventKind::SystemMessage { .. })
                })
            });
            prop_assert!(plain, "the license must stay free of JSON inside its events");
            let snapshot = live.snapshot();
            let (json, section) = snapshot_support::parts(&snapshot);
            let section = &snapshot[section];
            // One segment; the damage goes into it and the table is made to match, so that
            // the events' decoder is what has to notice.
            let segments = snapshot_support::segments(section);
            prop_assert!(segments.len() == 1);
            let (chats, bytes) = segments[0].clone();
            let bytes = damage(section[bytes].to_vec(), &edits);
            let section = snapshot_support::section(&[(chats, &bytes)]);
            let damaged = snapshot_support::assemble(&snapshot[json], &section);
            match Engine::restore(&damaged) {
                Ok(restored) => prop_assert!(restored.snapshot() == damaged, "misread damage"),
                Err(e) => prop_assert!(
                    matches!(&e, JournalError::Corrupt { reason, .. } if !reason.contains("checksum")),
                    "{e}"
                ),
            }
        }
    }
}

/// A journal of format 1 and the snapshot of the engine it built, both written by the build
/// before records became commands (`tests/fixtures/journal_v1/`): the records still decode,
/// replay to that same engine byte for byte, and encode again as format 2 records that replay
/// the same way.
#[test]
fn a_journal_of_format_1_still_replays() {
    let lines = include_str!("fixtures/journal_v1/journal.jsonl");
    let snapshot = include_bytes!("fixtures/journal_v1/state.snap");
    let expected = Engine::restore(snapshot).unwrap();
    let config = expected.config().clone();
    let records: Vec<JournalRecord> = lines
        .lines()
        .map(|line| JournalRecord::decode(line.as_bytes()).unwrap())
        .collect();
    assert_eq!(records.len(), 63);
    assert!(records.iter().any(|r| matches!(
        r.command,
        Command::Host(HostCommand::CreateCustomer {
            customer_id: Some(_)
        })
    )));

    let replayed = replay(config.clone(), &records);
    assert_eq!(replayed, expected);
    assert_eq!(
        replayed.snapshot(),
        snapshot,
        "the same state, byte for byte"
    );

    let rewritten: Vec<JournalRecord> = records
        .iter()
        .map(|r| {
            let bytes = r.encode();
            assert!(bytes.starts_with(format!("{{\"v\":{JOURNAL_VERSION},").as_bytes()));
            JournalRecord::decode(&bytes).unwrap()
        })
        .collect();
    assert_eq!(rewritten, records);
    assert_eq!(replay(config, &rewritten), expected);
}
