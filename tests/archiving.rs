//! Archiving (`Engine::archive_threads`): closed threads leave the engine's memory for the
//! host's store, and every answer that shows them, once filled from that store, is the answer
//! the engine gave before archiving, for agents and customers alike; the thread rules hold
//! after archiving; replay and snapshots give the same engine; refused calls change nothing.

mod common;

use std::collections::HashMap;

use chatio::journal::{JournalError, JournalMode, JournalRecord};
use chatio::model::{Access, Location, LocationAccess, PropertyConfig, PropertyType};
use chatio::query::{ArchiveFilters, ArchivesPagination, ChatThreads};
use chatio::wire::{self, Api, ArchiveStore};
use chatio::{
    ARCHIVE_BATCH_LIMIT, Agent, ArchivedThread, ChatId, Engine, EngineConfig, ErrorKind, GroupId,
    NewEvent, Pagination, Properties, PropertyValue, Recipients, Response, Scopes, StartChat,
    ThreadId, Timestamp, UserId,
};
use common::{LicenseBuilder, assert_rejected, at, uid};

const DAY: i64 = 86_400;
const CHATS: usize = 12;

/// The host's store: what `archive_threads` handed out, by chat and thread.
#[derive(Default)]
struct Store(HashMap<(ChatId, ThreadId), ArchivedThread>);

impl Store {
    fn keep(&mut self, threads: Vec<ArchivedThread>) {
        for t in threads {
            let key = (t.chat_id, t.thread.id);
            assert!(self.0.insert(key, t).is_none(), "a thread archived twice");
        }
    }
}

impl ArchiveStore for Store {
    fn load(&mut self, keys: &[(ChatId, ThreadId)]) -> Result<Vec<ArchivedThread>, String> {
        keys.iter()
            .map(|k| self.0.get(k).cloned().ok_or_else(|| format!("no {k:?}")))
            .collect()
    }
}

struct World {
    engine: Engine,
    anna: UserId,
    bob: UserId,
    chats: Vec<(ChatId, UserId)>,
}

/// Agents only may read and write it: a customer's view leaves it out.
fn internal(value: &str) -> Properties {
    let mut p = Properties::new();
    p.entry("internal".into())
        .or_default()
        .insert("flag".into(), PropertyValue::String(value.into()));
    p
}

/// `CHATS` chats of 3 to 6 threads each, thread `t` on day `t`: customer messages with
/// `custom_id`s, agents-only notes with agents-only properties, agent replies, an annotation,
/// agents-only thread properties. Every third chat is scoped to group 2 (Bob's; Anna is in
/// group 1). Even chats end with an active thread, odd ones with a closed one.
fn world() -> World {
    let anna = uid("anna@example.com");
    let bob = uid("bob@example.com");
    let agents_only = LocationAccess {
        agent: Access::READ_WRITE,
        customer: Access::NONE,
    };
    let mut engine = LicenseBuilder::new(EngineConfig::with_seed(24))
        .property(
            PropertyConfig::new("internal", "flag", PropertyType::String)
                .at(Location::Thread, agents_only)
                .at(Location::Event, agents_only),
        )
        .agent(Agent::new(anna.clone(), "Anna").with_groups([GroupId(1)]))
        .agent(Agent::new(bob.clone(), "Bob").with_groups([GroupId(2)]))
        .build();
    engine.set_journal_mode(JournalMode::Hold);
    let mut chats = Vec::new();
    for i in 0..CHATS {
        let customer = engine.create_customer();
        let (agent, scopes) = if i.is_multiple_of(3) {
            let group2 = Scopes {
                groups: [GroupId(2)].into(),
                ..Scopes::default()
            };
            (bob.clone(), group2)
        } else {
            (anna.clone(), Scopes::default())
        };
        let t0 = 1_700_000_000 + i as i64 * 60;
        let start = StartChat::default()
            .with_scopes(scopes)
            .with_event(NewEvent::message(format!("hello from chat {i}")));
        let chat = engine
            .as_agent(&agent, at(t0))
            .unwrap()
            .start_chat(Some(customer.clone()), start)
            .unwrap()
            .response
            .id;
        let threads = 3 + i % 4;
        for t in 0..threads {
            let now = at(t0 + t as i64 * DAY);
            let mut c = engine.as_customer(&customer, now).unwrap();
            let ask = NewEvent::message(format!("question {t} of chat {i}"))
                .with_custom_id(format!("q-{t}"));
            let thread_id = c.send_event(chat, ask).unwrap().response.thread_id;
            let mut a = engine.as_agent(&agent, now + 10).unwrap();
            let note = NewEvent::message(format!("note {t}: careful"))
                .to(Recipients::Agents)
                .with_properties(internal("note"));
            let _ = a.send_event(chat, note).unwrap();
            let _ = a
                .send_event(chat, NewEvent::message(format!("answer {t}")))
                .unwrap();
            if t % 2 == 1 {
                let _ = a
                    .update_chat_thread_properties(chat, thread_id, internal("vip"))
                    .unwrap();
            }
            let last = t + 1 == threads;
            if !(last && i.is_multiple_of(2)) {
                let _ = a.close_thread(chat).unwrap();
                // An annotation lands on the closed thread without opening one (R3).
                let rating = NewEvent::annotation(format!("rated {t}"), "rating");
                let _ = engine
                    .as_customer(&customer, now + 20)
                    .unwrap()
                    .send_event(chat, rating)
                    .unwrap();
            }
        }
        chats.push((chat, customer));
    }
    World {
        engine,
        anna,
        bob,
        chats,
    }
}

/// Archives threads closed before `closed_before`, `batch` at a time, until none are left.
fn archive(engine: &mut Engine, store: &mut Store, closed_before: Timestamp, batch: usize) {
    let now = engine.now();
    loop {
        let out = engine.archive_threads(now, closed_before, batch).unwrap();
        let done = out.response.len() < batch;
        store.keep(out.response);
        if done {
            break;
        }
    }
}

/// `get_chat_threads` of every thread of `chat` as `user`, from either engine.
fn chat_threads(
    engine: &mut Engine,
    user: &UserId,
    customer: bool,
    chat: ChatId,
) -> Result<ChatThreads, ErrorKind> {
    let ids: Vec<ThreadId> = engine
        .chat(&chat)
        .unwrap()
        .threads
        .iter()
        .map(|t| t.id)
        .collect();
    let now = engine.now();
    let answer = if customer {
        engine
            .as_customer(user, now)
            .unwrap()
            .get_chat_threads(chat, &ids)
    } else {
        engine
            .as_agent(user, now)
            .unwrap()
            .get_chat_threads(chat, &ids)
    };
    answer.map_err(|e| e.kind())
}

/// Every answer that shows threads, from the engine that archived (filled from `store`) and
/// from the one that did not, for Anna, Bob and each chat's customer: equal. Returns how many
/// threads the answers had to load, so a caller can tell the check was not vacuous.
fn assert_same_answers(whole: &mut Engine, archived: &mut Engine, store: &mut Store) -> usize {
    let (anna, bob) = (uid("anna@example.com"), uid("bob@example.com"));
    let chats: Vec<(ChatId, UserId)> = whole
        .chats()
        .iter()
        .map(|c| (c.id, c.customer_id.clone().unwrap()))
        .collect();
    let mut loaded = 0;
    for (chat, customer) in &chats {
        for (user, is_customer) in [(&anna, false), (&bob, false), (customer, true)] {
            let expected = chat_threads(whole, user, is_customer, *chat);
            let mut got = chat_threads(archived, user, is_customer, *chat);
            if let Ok(got) = &mut got {
                let keys = got.to_load();
                loaded += keys.len();
                got.fill(archived, &store.load(&keys).unwrap()).unwrap();
                assert!(got.archived.is_empty());
            }
            assert_eq!(got, expected, "get_chat_threads of {chat} as {user}");

            for offset in [0, 2] {
                let page = Pagination {
                    offset: Some(offset),
                    limit: Some(2),
                };
                let summary = |e: &mut Engine| {
                    let now = e.now();
                    if is_customer {
                        let c = e.as_customer(user, now).unwrap();
                        c.get_chat_threads_summary(*chat, page)
                            .map_err(|e| e.kind())
                    } else {
                        let a = e.as_agent(user, now).unwrap();
                        a.get_chat_threads_summary(*chat, page)
                            .map_err(|e| e.kind())
                    }
                };
                assert_eq!(summary(archived), summary(whole), "summary of {chat}");
            }

            // The wire: the same text, with the archived threads loaded from the store.
            let ids: Vec<String> = whole
                .chat(chat)
                .unwrap()
                .threads
                .iter()
                .map(|t| format!("\"{}\"", t.id))
                .collect();
            let request = format!(
                r#"{{"request_id":"1","action":"get_chat_threads","payload":{{"chat_id":"{chat}","thread_ids":[{}]}}}}"#,
                ids.join(",")
            );
            let api = if is_customer {
                Api::Customer
            } else {
                Api::Agent
            };
            let now = whole.now();
            let expected = wire::handle(whole, api, user, now, &request);
            let got = wire::handle_with(archived, api, user, now, &request, store);
            assert_eq!(got.response, expected.response, "wire get_chat_threads");
        }
    }
    let filters = [
        ArchiveFilters::default(),
        ArchiveFilters {
            agent_ids: vec![bob.clone()],
            ..ArchiveFilters::default()
        },
        ArchiveFilters {
            date_from: Some("2023-11-16".into()),
            date_to: Some("2023-11-17".into()),
            ..ArchiveFilters::default()
        },
    ];
    for agent in [&anna, &bob] {
        for filter in &filters {
            for page in 1..=6 {
                let pagination = ArchivesPagination {
                    page: Some(page),
                    limit: Some(7),
                };
                let now = whole.now();
                let expected = whole
                    .as_agent(agent, now)
                    .unwrap()
                    .get_archives(filter, pagination)
                    .unwrap();
                let mut got = archived
                    .as_agent(agent, now)
                    .unwrap()
                    .get_archives(filter, pagination)
                    .unwrap();
                loaded += got.archived.len();
                let keys = got.archived.clone();
                got.fill(archived, &store.load(&keys).unwrap()).unwrap();
                assert_eq!(got, expected, "get_archives page {page} as {agent}");
            }
            let request = format!(
                r#"{{"request_id":"2","action":"get_archives","payload":{{"filters":{},"pagination":{{"page":2,"limit":5}}}}}}"#,
                serde_json::to_string(filter).unwrap()
            );
            let now = whole.now();
            let expected = wire::handle(whole, Api::Agent, agent, now, &request);
            let got = wire::handle_with(archived, Api::Agent, agent, now, &request, store);
            assert!(expected.success, "{}", expected.response);
            assert_eq!(got.response, expected.response, "wire get_archives");
        }
    }
    loaded
}

fn events_held(engine: &Engine) -> usize {
    engine
        .chats()
        .iter()
        .flat_map(|c| c.threads.iter())
        .map(|t| t.events.len())
        .sum()
}

#[test]
fn archived_threads_filled_from_the_store_answer_as_before() {
    let w = world();
    let mut whole = w.engine.clone();
    let mut archived = w.engine;
    let mut store = Store::default();
    let before = events_held(&archived);

    // First the threads of the first two days, a few at a time; then every closed thread.
    archive(&mut archived, &mut store, at(1_700_000_000 + 2 * DAY), 5);
    let first = store.0.len();
    assert!(first > 0 && events_held(&archived) < before);
    assert!(assert_same_answers(&mut whole, &mut archived, &mut store) > 0);

    archive(
        &mut archived,
        &mut store,
        at(i64::MAX / 2),
        ARCHIVE_BATCH_LIMIT,
    );
    assert!(store.0.len() > first);
    let loaded = assert_same_answers(&mut whole, &mut archived, &mut store);
    assert!(loaded >= store.0.len(), "every archived thread was loaded");

    // What stays: each chat's last thread, whole; every other thread an empty stub.
    for chat in archived.chats() {
        let (last, rest) = chat.threads.split_last().unwrap();
        assert!(last.archived.is_none() && !last.events.is_empty());
        for stub in rest {
            assert!(stub.is_archived() && stub.events.is_empty() && !stub.active);
        }
    }
    let kept: usize = archived
        .chats()
        .iter()
        .map(|c| c.last_thread().unwrap().events.len())
        .sum();
    assert_eq!(events_held(&archived), kept);
    let stored: usize = store.0.values().map(|t| t.thread.events.len()).sum();
    assert_eq!(
        kept + stored,
        before,
        "every event is in one place or the other"
    );
}

/// A call made on both engines: its response and pushes, or the kind of its error.
type Call<'a> = dyn Fn(&mut Engine) -> Result<(Response, Vec<chatio::Push>), ErrorKind> + 'a;

#[test]
fn the_thread_rules_hold_after_archiving() {
    let w = world();
    let mut whole = w.engine.clone();
    let mut archived = w.engine;
    let mut store = Store::default();
    archive(&mut archived, &mut store, at(i64::MAX / 2), 100);
    let later = at(1_700_000_000 + 30 * DAY);

    // The same calls on both engines give the same responses and pushes.
    for (i, (chat, customer)) in w.chats.iter().enumerate() {
        let agent = if i.is_multiple_of(3) { &w.bob } else { &w.anna };
        let first = whole.chat(chat).unwrap().threads[0].id;
        let mut both = |call: &Call<'_>| {
            assert_eq!(call(&mut archived), call(&mut whole), "chat {i}");
        };
        // R3: a closed chat gets a new thread; an active one takes the event.
        both(&|e: &mut Engine| {
            let out = e
                .as_customer(customer, later)
                .unwrap()
                .send_event(*chat, NewEvent::message("back again"))
                .map_err(|e| e.kind())?;
            Ok((Response::SentEvent(out.response), out.pushes))
        });
        // R6: a retry of the last thread's question is still recognized.
        let threads = 3 + i % 4;
        let retry = format!("q-{}", threads - 1);
        both(&|e: &mut Engine| {
            let out = e
                .as_customer(customer, later)
                .unwrap()
                .send_event(*chat, NewEvent::message("again?").with_custom_id(&retry))
                .map_err(|e| e.kind())?;
            Ok((Response::SentEvent(out.response), out.pushes))
        });
        // Thread properties of an archived thread can still be updated.
        both(&|e: &mut Engine| {
            let out = e
                .as_agent(agent, later)
                .unwrap()
                .update_chat_thread_properties(*chat, first, internal("updated"))
                .map_err(|e| e.kind())?;
            Ok((Response::Done, out.pushes))
        });
        both(&|e: &mut Engine| {
            let out = e
                .as_agent(agent, later + 1)
                .unwrap()
                .close_thread(*chat)
                .map_err(|e| e.kind())?;
            Ok((Response::Done, out.pushes))
        });
    }
    // R1: at most one thread active, and only the last.
    for chat in archived.chats() {
        let (last, rest) = chat.threads.split_last().unwrap();
        assert!(!last.active && rest.iter().all(|t| !t.active));
    }
    assert_same_answers(&mut whole, &mut archived, &mut store);
}

#[test]
fn replay_and_snapshots_give_the_same_engine() {
    let mut w = world();
    let mut store = Store::default();
    archive(&mut w.engine, &mut store, at(1_700_000_000 + 3 * DAY), 7);
    let (chat, customer) = w.chats[1].clone();
    let _ = w
        .engine
        .as_customer(&customer, at(1_700_000_000 + 40 * DAY))
        .unwrap()
        .send_event(chat, NewEvent::message("after archiving"))
        .unwrap();
    archive(&mut w.engine, &mut store, at(i64::MAX / 2), 7);
    let records: Vec<JournalRecord> = w.engine.take_journal();
    assert!(records.iter().any(|r| matches!(
        r.command,
        chatio::Command::Host(chatio::HostCommand::ArchiveThreads { .. })
    )));

    let mut replayed = Engine::new(EngineConfig::with_seed(24));
    for record in records {
        let bytes = record.encode();
        replayed
            .apply(JournalRecord::decode(&bytes).unwrap())
            .unwrap();
    }
    assert_eq!(replayed, w.engine);

    let snapshot = w.engine.snapshot();
    assert!(snapshot.starts_with(b"CHATIO-SNAPSHOT 00000003 "));
    let restored = Engine::restore(&snapshot).unwrap();
    assert_eq!(restored, w.engine);
    assert_eq!(restored.snapshot(), snapshot, "same engine, same bytes");
}

#[test]
fn version_3_only_for_archived_threads_and_never_claimed_as_version_2() {
    let mut w = world();
    // An engine without archived threads is written as version 2, as before archiving.
    let before = w.engine.snapshot();
    assert!(before.starts_with(b"CHATIO-SNAPSHOT 00000002 "));
    assert_eq!(Engine::restore(&before).unwrap(), w.engine);

    archive(&mut w.engine, &mut Store::default(), at(i64::MAX / 2), 100);
    let v3 = w.engine.snapshot();
    assert!(v3.starts_with(b"CHATIO-SNAPSHOT 00000003 "));
    assert_eq!(chatio::journal::SNAPSHOT_VERSION, 3);
    // The same body under a version 2 header: refused, not read as empty threads.
    let v2 = [b"CHATIO-SNAPSHOT 00000002 ".as_slice(), &v3[25..]].concat();
    let refused = Engine::restore(&v2).unwrap_err();
    assert!(
        matches!(&refused, JournalError::Corrupt { .. }),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("archived thread"), "{refused}");
}

#[test]
fn refused_archiving_changes_nothing() {
    let mut w = world();
    let now = w.engine.now();
    for limit in [0, ARCHIVE_BATCH_LIMIT + 1] {
        let err = assert_rejected(&mut w.engine, ErrorKind::Validation, |e| {
            e.archive_threads(now, at(i64::MAX / 2), limit)
        });
        assert!(err.to_string().contains("limit"), "{err}");
    }
    // Nothing closed before the first thread closed: nothing archived, no record made.
    let seq = w.engine.journal_seq();
    let out = w
        .engine
        .archive_threads(now, at(1_700_000_000), 10)
        .unwrap();
    assert!(out.response.is_empty() && out.journal.is_empty());
    assert_eq!(w.engine.journal_seq(), seq);
}

#[test]
fn active_and_last_threads_are_never_archived() {
    let mut w = world();
    let mut store = Store::default();
    archive(&mut w.engine, &mut store, at(i64::MAX / 2), 3);
    for (i, (chat, _)) in w.chats.iter().enumerate() {
        let threads = &w.engine.chat(chat).unwrap().threads;
        let archived = threads.iter().filter(|t| t.is_archived()).count();
        assert_eq!(archived, threads.len() - 1, "chat {i}");
        assert_eq!(threads.last().unwrap().active, i.is_multiple_of(2));
    }
    // A second pass finds nothing more.
    let now = w.engine.now();
    let again = w
        .engine
        .archive_threads(now, at(i64::MAX / 2), 100)
        .unwrap();
    assert!(again.response.is_empty());
}

#[test]
fn a_loaded_copy_that_does_not_match_is_refused() {
    let mut w = world();
    let mut store = Store::default();
    archive(&mut w.engine, &mut store, at(i64::MAX / 2), 100);
    let (chat, customer) = w.chats[1].clone();
    let answer = chat_threads(&mut w.engine, &customer, true, chat).unwrap();
    let keys = answer.to_load();
    let mut loaded = store.load(&keys).unwrap();

    // Missing.
    let err = answer.clone().fill(&w.engine, &loaded[1..]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation);
    // Another thread's events under this thread's id.
    let other = loaded[1].thread.events.clone();
    loaded[0].thread.events = other;
    let mut tampered = answer.clone();
    let err = tampered.fill(&w.engine, &loaded).unwrap_err();
    assert!(err.to_string().contains("is not the one archived"), "{err}");
    assert_eq!(tampered, answer, "a refused fill changes nothing");

    // A host without a store answers with an internal error rather than empty threads.
    let ids: Vec<String> = keys.iter().map(|(_, t)| format!("\"{t}\"")).collect();
    let request = format!(
        r#"{{"request_id":"1","action":"get_chat_threads","payload":{{"chat_id":"{chat}","thread_ids":[{}]}}}}"#,
        ids.join(",")
    );
    let now = w.engine.now();
    let reply = wire::handle(&mut w.engine, Api::Customer, &customer, now, &request);
    assert!(
        !reply.success && reply.response.contains("internal"),
        "{}",
        reply.response
    );
}

/// One step of a random history: who does what to which of the three chats of [`small`].
#[derive(Clone, Debug)]
enum Step {
    /// The chat's customer sends a message (opening a thread if none is active, R3).
    Customer(usize),
    /// The chat's agent sends a message, to everyone or to agents only.
    Agent(usize, bool),
    /// The chat's customer rates it: an annotation, on the last thread even when closed.
    Annotate(usize),
    /// The chat's agent closes its active thread (refused when there is none).
    Close(usize),
    /// The host archives what closed more than this many days ago.
    Archive(i64),
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        3 => (0..3usize).prop_map(Step::Customer),
        3 => (0..3usize, any::<bool>()).prop_map(|(c, notes)| Step::Agent(c, notes)),
        1 => (0..3usize).prop_map(Step::Annotate),
        2 => (0..3usize).prop_map(Step::Close),
        1 => (0..3i64).prop_map(Step::Archive),
    ]
}

/// [`world`], its steps going to its first three chats (two of Anna's, one scoped to Bob's
/// group); the other chats stay untouched, and are part of every comparison all the same.
fn small() -> World {
    let mut w = world();
    w.chats.truncate(3);
    w
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config {
        cases: std::env::var("CHATIO_PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(24),
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    })]

    /// After any history with archiving at any moments, every call gives what it gives on an
    /// engine that never archived, and every answer that shows threads, filled from the store,
    /// is the same, for agents and customers.
    #[test]
    fn any_history_with_archiving_answers_as_without(
        steps in proptest::collection::vec(step(), 1..40),
    ) {
        let w = small();
        let mut whole = w.engine.clone();
        let mut archived = w.engine;
        let mut store = Store::default();
        let mut day = 60;
        for s in &steps {
            day += 1;
            let now = at(1_700_000_000 + day * DAY);
            let agent_of = |c: usize| if c.is_multiple_of(3) { &w.bob } else { &w.anna };
            let call = |e: &mut Engine| -> Result<(Response, Vec<chatio::Push>), ErrorKind> {
                let (chat, customer) = match s {
                    Step::Customer(c) | Step::Agent(c, _) | Step::Annotate(c) | Step::Close(c) => {
                        &w.chats[*c]
                    }
                    Step::Archive(_) => unreachable!("the host's call, on one engine"),
                };
                let kind = |e: chatio::Error| e.kind();
                match s {
                    Step::Customer(_) => {
                        let event = NewEvent::message(format!("day {day}"));
                        let out = e.as_customer(customer, now).map_err(kind)?
                            .send_event(*chat, event).map_err(kind)?;
                        Ok((Response::SentEvent(out.response), out.pushes))
                    }
                    Step::Agent(c, notes) => {
                        let mut event = NewEvent::message(format!("reply {day}"));
                        if *notes {
                            event = event.to(Recipients::Agents).with_properties(internal("n"));
                        }
                        let out = e.as_agent(agent_of(*c), now).map_err(kind)?
                            .send_event(*chat, event).map_err(kind)?;
                        Ok((Response::SentEvent(out.response), out.pushes))
                    }
                    Step::Annotate(_) => {
                        let event = NewEvent::annotation(format!("rated {day}"), "rating");
                        let out = e.as_customer(customer, now).map_err(kind)?
                            .send_event(*chat, event).map_err(kind)?;
                        Ok((Response::SentEvent(out.response), out.pushes))
                    }
                    Step::Close(c) => {
                        let out = e.as_agent(agent_of(*c), now).map_err(kind)?
                            .close_thread(*chat).map_err(kind)?;
                        Ok((Response::Done, out.pushes))
                    }
                    Step::Archive(_) => unreachable!("the host's call, on one engine"),
                }
            };
            match s {
                Step::Archive(days) => {
                    let closed_before = at(1_700_000_000 + (day - days) * DAY);
                    let out = archived.archive_threads(now, closed_before, 4).unwrap();
                    store.keep(out.response);
                }
                _ => {
                    let expected = call(&mut whole);
                    proptest::prop_assert_eq!(call(&mut archived), expected, "{:?}", s);
                }
            }
        }
        assert_same_answers(&mut whole, &mut archived, &mut store);
        // A snapshot of the archiving engine gives it again, stubs included.
        let restored = Engine::restore(&archived.snapshot()).unwrap();
        proptest::prop_assert!(restored == archived);
    }
}
