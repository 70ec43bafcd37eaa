//! `get_archives`: which threads are archives, the filters, pagination bounds, what an agent
//! outside a chat's scopes sees, and refused requests changing nothing.

use crate::common;

use chatio::model::{
    Access, Location, LocationAccess, PropertyConfig, PropertyFilter, PropertyFilters, PropertyType,
};
use chatio::query::{ArchiveFilters, Archives, ArchivesPagination};
use chatio::{
    Agent, ChatId, Engine, EngineConfig, Error, ErrorKind, GroupId, NewEvent, Properties,
    PropertyValue, Scopes, StartChat, ThreadId, Timestamp, UserId,
};
use common::LicenseBuilder;

/// 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000;
const DAY: i64 = 86_400;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_unix_seconds(secs)
}

fn uid(s: &str) -> UserId {
    UserId::new(s).unwrap()
}

/// The license the tests share, with its chats in the order they were started:
/// * `a`: Anna and Jan, "My PARCEL is lost"; closed on day 0, then a second thread ("Any
///   news?") closed on day 1. Two archives.
/// * `b`: Bob and Eva, scoped to group 2 (Anna is in group 1), "parcel for Bob"; closed on day 0.
/// * `c`: Anna and Kim, "parcel again", still active: not an archive.
/// * `d`: Anna and Lee, `rating.score` 5 and a note only customers may read; "Thank you",
///   closed on day 2.
struct World {
    engine: Engine,
    anna: UserId,
    bob: UserId,
    carl: UserId,
    a: ChatId,
    b: ChatId,
    d: ChatId,
}

fn world() -> World {
    let anna = uid("anna@example.com");
    let bob = uid("bob@example.com");
    let carl = uid("carl@example.com");
    let private = LocationAccess {
        agent: Access::NONE,
        customer: Access::READ_WRITE,
    };
    let mut engine = [(&anna, 1), (&bob, 2), (&carl, 1)]
        .into_iter()
        .fold(
            LicenseBuilder::new(EngineConfig::with_seed(11))
                .shared_property(
                    PropertyConfig::new("rating", "score", PropertyType::Int),
                    &[Location::Chat],
                )
                .property(
                    PropertyConfig::new("private", "note", PropertyType::String)
                        .at(Location::Chat, private),
                ),
            |license, (id, group)| {
                license.agent(Agent::new(id.clone(), id.to_string()).with_groups([GroupId(group)]))
            },
        )
        .build();
    let mut start = |agent: &UserId, text: &str, chat: StartChat, t: i64| {
        let customer = engine.create_customer();
        let id = engine
            .as_agent(agent, at(t))
            .unwrap()
            .start_chat(
                Some(customer.clone()),
                chat.with_event(NewEvent::message(text)),
            )
            .unwrap()
            .response
            .id;
        (id, customer)
    };
    let (a, jan) = start(&anna, "My PARCEL is lost", StartChat::default(), T0);
    let group2 = Scopes {
        groups: [GroupId(2)].into(),
        ..Scopes::default()
    };
    let (b, _) = start(
        &bob,
        "parcel for Bob",
        StartChat::default().with_scopes(group2),
        T0 + 1,
    );
    let (_, _) = start(&anna, "parcel again", StartChat::default(), T0 + 2);
    let mut rated = Properties::new();
    rated
        .entry("rating".into())
        .or_default()
        .insert("score".into(), PropertyValue::Int(5));
    let (d, lee) = start(
        &anna,
        "Thank you",
        StartChat::default().with_properties(rated),
        T0 + 3,
    );
    let mut w = World {
        engine,
        anna: anna.clone(),
        bob: bob.clone(),
        carl,
        a,
        b,
        d,
    };
    w.close(&anna, a, T0 + 10);
    w.close(&bob, b, T0 + 11);
    let _ = w
        .engine
        .as_customer(&jan, at(T0 + DAY))
        .unwrap()
        .send_event(a, NewEvent::message("Any news?"))
        .unwrap();
    let _ = w
        .engine
        .as_agent(&anna, at(T0 + DAY + 1))
        .unwrap()
        .join_chat(a, std::slice::from_ref(&anna));
    w.close(&anna, a, T0 + DAY + 10);
    let mut note = Properties::new();
    note.entry("private".into())
        .or_default()
        .insert("note".into(), PropertyValue::String("vip".into()));
    let _ = w
        .engine
        .as_customer(&lee, at(T0 + 2 * DAY))
        .unwrap()
        .update_chat_properties(d, note)
        .unwrap();
    w.close(&anna, d, T0 + 2 * DAY + 10);
    w
}

impl World {
    fn close(&mut self, agent: &UserId, chat: ChatId, t: i64) {
        let _ = self
            .engine
            .as_agent(agent, at(t))
            .unwrap()
            .close_thread(chat)
            .unwrap();
    }

    fn archives(
        &mut self,
        agent: &UserId,
        filters: &ArchiveFilters,
        page: ArchivesPagination,
    ) -> Result<Archives, Error> {
        self.engine
            .as_agent(agent, at(T0 + 3 * DAY))
            .unwrap()
            .get_archives(filters, page)
    }

    /// The (chat, thread) of each archive the agent gets, with the defaults of pagination.
    fn found(&mut self, agent: &UserId, filters: ArchiveFilters) -> Vec<(ChatId, ThreadId)> {
        let archives = self
            .archives(agent, &filters, ArchivesPagination::default())
            .unwrap();
        assert_eq!(archives.pagination.total, archives.chats.len());
        pairs(&archives)
    }

    /// Every closed thread of a chat, oldest first.
    fn closed(&self, chat: ChatId) -> Vec<(ChatId, ThreadId)> {
        let chat = self.engine.chat(&chat).unwrap();
        chat.threads
            .iter()
            .filter(|t| !t.active)
            .map(|t| (chat.id, t.id))
            .collect()
    }
}

fn pairs(archives: &Archives) -> Vec<(ChatId, ThreadId)> {
    archives.chats.iter().map(|c| (c.id, c.thread.id)).collect()
}

fn page(page: Option<u32>, limit: Option<u32>) -> ArchivesPagination {
    ArchivesPagination { page, limit }
}

fn field(error: Error) -> &'static str {
    assert_eq!(error.kind(), ErrorKind::Validation, "{error}");
    match error {
        Error::InvalidField { field, .. } => field,
        other => panic!("not an invalid field: {other}"),
    }
}

#[test]
fn archives_are_the_closed_threads_newest_first() {
    let mut w = world();
    let a = w.closed(w.a);
    let d = w.closed(w.d);
    assert_eq!(a.len(), 2, "chat a has two closed threads");
    let anna = w.anna.clone();
    // By thread start, not close: a's second thread began after d's only thread. Chat c is
    // active and chat b outside Anna's scopes: neither is listed.
    assert_eq!(
        w.found(&anna, ArchiveFilters::default()),
        vec![a[1], d[0], a[0]]
    );
    let bob = w.bob.clone();
    let b = w.closed(w.b);
    assert_eq!(
        w.found(&bob, ArchiveFilters::default()),
        vec![a[1], d[0], b[0], a[0]]
    );
    // Each archive carries its own closed thread, with its events.
    let archives = w
        .archives(&anna, &ArchiveFilters::default(), page(None, None))
        .unwrap();
    assert!(archives.chats.iter().all(|c| !c.thread.active));
    assert!(archives.chats.iter().all(|c| !c.thread.events.is_empty()));
}

#[test]
fn query_matches_event_texts_ignoring_case() {
    let mut w = world();
    let anna = w.anna.clone();
    let a = w.closed(w.a);
    let query = |q: &str| ArchiveFilters {
        query: Some(q.into()),
        ..ArchiveFilters::default()
    };
    assert_eq!(w.found(&anna, query("parcel")), vec![a[0]]);
    assert_eq!(w.found(&anna, query("ANY NEWS")), vec![a[1]]);
    assert_eq!(w.found(&anna, query("nothing like this")), vec![]);
}

#[test]
fn dates_are_whole_utc_days_of_the_thread_start() {
    let mut w = world();
    let anna = w.anna.clone();
    let a = w.closed(w.a);
    let d = w.closed(w.d);
    let dates = |from: Option<&str>, to: Option<&str>| ArchiveFilters {
        date_from: from.map(Into::into),
        date_to: to.map(Into::into),
        ..ArchiveFilters::default()
    };
    // T0 is late on 2023-11-14; the second thread of a started on the 15th, d's on the 14th.
    assert_eq!(
        w.found(&anna, dates(Some("2023-11-14"), Some("2023-11-14"))),
        vec![d[0], a[0]]
    );
    assert_eq!(w.found(&anna, dates(Some("2023-11-15"), None)), vec![a[1]]);
    assert_eq!(w.found(&anna, dates(None, Some("2023-11-13"))), vec![]);
}

#[test]
fn agent_ids_and_properties_filter() {
    let mut w = world();
    let (anna, bob, carl) = (w.anna.clone(), w.bob.clone(), w.carl.clone());
    let b = w.closed(w.b);
    let d = w.closed(w.d);
    let by_agents = |ids: &[&UserId]| ArchiveFilters {
        agent_ids: ids.iter().map(|&id| id.clone()).collect(),
        ..ArchiveFilters::default()
    };
    assert_eq!(w.found(&bob, by_agents(&[&bob])), vec![b[0]]);
    assert_eq!(w.found(&anna, by_agents(&[&bob])), vec![]);
    assert_eq!(w.found(&anna, by_agents(&[&carl])), vec![]);
    let by_property = |namespace: &str, name: &str, filter: PropertyFilter| {
        let mut properties = PropertyFilters::new();
        properties
            .entry(namespace.into())
            .or_default()
            .insert(name.into(), filter);
        ArchiveFilters {
            properties,
            ..ArchiveFilters::default()
        }
    };
    let five = PropertyFilter::Values(vec![PropertyValue::Int(5)]);
    assert_eq!(
        w.found(&anna, by_property("rating", "score", five)),
        vec![d[0]]
    );
    // A property agents may not read counts as not set, and is not shown.
    let set = PropertyFilter::Exists(true);
    assert_eq!(w.found(&anna, by_property("private", "note", set)), vec![]);
    let archives = w
        .archives(&anna, &ArchiveFilters::default(), page(None, None))
        .unwrap();
    assert!(
        archives
            .chats
            .iter()
            .all(|c| !c.properties.contains_key("private"))
    );
}

#[test]
fn pages_count_from_one_within_the_limit() {
    let mut w = world();
    let anna = w.anna.clone();
    let all = w.found(&anna, ArchiveFilters::default());
    let none = ArchiveFilters::default();
    let first = w.archives(&anna, &none, page(Some(1), Some(2))).unwrap();
    assert_eq!(pairs(&first), all[..2]);
    assert_eq!((first.pagination.page, first.pagination.total), (1, 3));
    let second = w.archives(&anna, &none, page(Some(2), Some(2))).unwrap();
    assert_eq!(pairs(&second), all[2..]);
    let past = w.archives(&anna, &none, page(Some(9), Some(2))).unwrap();
    assert!(past.chats.is_empty());
    assert_eq!((past.pagination.page, past.pagination.total), (9, 3));
    let last = w
        .archives(&anna, &none, page(Some(u32::MAX), Some(100)))
        .unwrap();
    assert!(last.chats.is_empty());
    assert_eq!(
        w.archives(&anna, &none, page(None, Some(100)))
            .unwrap()
            .chats
            .len(),
        3
    );
    assert_eq!(
        field(w.archives(&anna, &none, page(Some(0), None)).unwrap_err()),
        "pagination.page"
    );
    for limit in [0, 101, u32::MAX] {
        assert_eq!(
            field(
                w.archives(&anna, &none, page(None, Some(limit)))
                    .unwrap_err()
            ),
            "pagination.limit"
        );
    }
}

#[test]
fn refused_filters_name_the_field_and_change_nothing() {
    let mut w = world();
    let anna = w.anna.clone();
    let before = w.engine.snapshot();
    let date = |field: &str, value: &str| {
        let value = Some(value.to_string());
        match field {
            "from" => ArchiveFilters {
                date_from: value,
                ..ArchiveFilters::default()
            },
            _ => ArchiveFilters {
                date_to: value,
                ..ArchiveFilters::default()
            },
        }
    };
    let cases = [
        (date("from", "2023-11-1"), "filters.date_from"),
        (date("from", "2023/11/01"), "filters.date_from"),
        (date("from", ""), "filters.date_from"),
        (date("from", "+023-11-01"), "filters.date_from"),
        (date("to", "2023-02-30"), "filters.date_to"),
        (date("to", "2023-13-01"), "filters.date_to"),
        (date("to", "2023-11-01T00:00"), "filters.date_to"),
        (
            ArchiveFilters {
                date_from: Some("2023-11-02".into()),
                date_to: Some("2023-11-01".into()),
                ..ArchiveFilters::default()
            },
            "filters.date_to",
        ),
        (
            ArchiveFilters {
                query: Some("  ".into()),
                ..ArchiveFilters::default()
            },
            "filters.query",
        ),
        (
            ArchiveFilters {
                agent_ids: vec![uid("nobody@example.com")],
                ..ArchiveFilters::default()
            },
            "filters.agent_ids",
        ),
        (
            ArchiveFilters {
                team_ids: vec![serde_json::json!(1)],
                ..ArchiveFilters::default()
            },
            "filters.team_ids",
        ),
    ];
    for (filters, expected) in cases {
        let refused = w.archives(&anna, &filters, page(None, None)).unwrap_err();
        assert_eq!(field(refused), expected, "{filters:?}");
    }
    assert_eq!(w.engine.snapshot(), before);
}

#[test]
fn scopes_decide_as_they_change() {
    let mut w = world();
    let (anna, bob) = (w.anna.clone(), w.bob.clone());
    let b = w.closed(w.b);
    let parcel = ArchiveFilters {
        query: Some("parcel".into()),
        ..ArchiveFilters::default()
    };
    assert!(!w.found(&anna, parcel.clone()).contains(&b[0]));
    let total = w
        .archives(&anna, &parcel, page(None, None))
        .unwrap()
        .pagination
        .total;
    assert_eq!(total, 1, "chat b is not counted for Anna");
    // Bob lets Anna see chat b; its archive then shows up for her.
    let _ = w
        .engine
        .as_agent(&bob, at(T0 + 3 * DAY))
        .unwrap()
        .update_chat_scopes(
            w.b,
            Scopes {
                agents: [anna.clone()].into(),
                ..Scopes::default()
            },
            Scopes::default(),
        )
        .unwrap();
    assert!(w.found(&anna, parcel).contains(&b[0]));
}
