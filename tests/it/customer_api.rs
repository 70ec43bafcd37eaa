//! The Customer API facade: every method, its response and pushes, and refused requests.

use crate::common;

use chatio::model::Page;
use chatio::{
    ChatId, Customer, CustomerUpdate, EngineConfig, Error, ErrorKind, EventKind, File, GroupId,
    NewEvent, Pagination, Postback, PushAudience, PushKind, Recipients, Role, Scopes, StartChat,
    ThreadId, User,
};
use common::*;
use serde_json::json;

fn page(offset: Option<u32>, limit: Option<u32>) -> Pagination {
    Pagination { offset, limit }
}

#[test]
fn as_customer_fixes_identity_and_time_and_refuses_unknown_or_banned_customers() -> Result<(), Error>
{
    let mut f = Fixture::new();
    let (anna, _, jan, _) = f.ids();
    let api = f.engine.as_customer(&jan, at(5))?;
    assert_eq!(api.customer_id(), &jan);
    assert_eq!(api.now(), at(5));
    let _ = f.customer_chat(&jan, "Hi", at(100));
    assert_eq!(f.engine.as_customer(&jan, at(50))?.now(), at(100));

    let ghost = uid("ghost");
    let err = assert_rejected(&mut f.engine, ErrorKind::Authentication, |e| {
        e.as_customer(&ghost, at(200)).map(|_| ())
    });
    assert_eq!(err, Error::UnknownRequester(ghost));
    let err = assert_rejected(&mut f.engine, ErrorKind::Authentication, |e| {
        e.as_customer(&anna, at(200)).map(|_| ())
    });
    assert_eq!(err, Error::UnknownRequester(anna));

    // A banned customer is refused until the ban ends.
    let banned = uid("customer-banned");
    let mut customer = Customer::new(banned.clone());
    customer.banned_until = Some(at(1000));
    f.engine.add_customer(customer)?;
    let err = assert_rejected(&mut f.engine, ErrorKind::CustomerBanned, |e| {
        e.as_customer(&banned, at(999)).map(|_| ())
    });
    assert_eq!(
        err,
        Error::CustomerBanned {
            customer_id: banned.clone(),
            until: at(1000)
        }
    );
    assert_eq!(
        f.engine.as_customer(&banned, at(1000))?.customer_id(),
        &banned
    );
    Ok(())
}

#[test]
fn login_returns_the_customer() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (_, _, jan, _) = f.ids();
    let login = f.engine.as_customer(&jan, at(0))?.login()?;
    assert_eq!(login.customer_id, jan);
    assert_eq!(login.customer.id, jan);
    assert_eq!(login.customer.name.as_deref(), Some("Jan"));
    assert_eq!(login.customer.last_seen_timestamp, None);

    let _ = f.customer_chat(&jan, "Hi", at(10));
    let login = f.engine.as_customer(&jan, at(20))?.login()?;
    assert_eq!(login.customer.last_seen_timestamp, Some(at(10)));
    assert_eq!(Some(&login.customer), f.engine.customer(&jan));

    // A created customer has only its id.
    let new = f.engine.create_customer();
    let login = f.engine.as_customer(&new, at(30))?.login()?;
    assert_eq!(login.customer, Customer::new(new.clone()));
    assert_eq!(login.customer.display_name(), new.to_string());
    Ok(())
}

#[test]
fn an_agents_only_event_does_not_move_a_chat_in_the_customers_summary() -> Result<(), Error> {
    let mut f = Fixture::with_config(EngineConfig::with_seed(42).max_chats_per_customer(None));
    let (anna, _, jan, _) = f.ids();
    let (older, _) = f.customer_chat(&jan, "first", at(0));
    let (newer, _) = f.customer_chat(&jan, "second", at(10));
    let before = f
        .engine
        .as_customer(&jan, at(20))?
        .get_chats_summary(Pagination::default())?;

    // An internal note in the older chat: agents see it move up, the customer sees nothing.
    let _ = f
        .engine
        .as_agent(&anna, at(30))?
        .send_event(older, NewEvent::message("note").to(Recipients::Agents))?;
    let after = f
        .engine
        .as_customer(&jan, at(40))?
        .get_chats_summary(Pagination::default())?;
    assert_eq!(after, before);
    let order: Vec<ChatId> = after.chats_summary.iter().map(|c| c.id).collect();
    assert_eq!(order, vec![newer, older]);
    let agents_view = f.engine.as_agent(&anna, at(40))?.login()?.chats_summary;
    assert_eq!(agents_view[0].id, older);
    assert!(agents_view[0].order > agents_view[1].order);
    Ok(())
}

#[test]
fn get_chats_summary_pages_newest_first_with_offset_and_limit_bounds() -> Result<(), Error> {
    let mut f = Fixture::with_config(EngineConfig::with_seed(42).max_chats_per_customer(None));
    let (_, _, jan, eva) = f.ids();
    let chats: Vec<ChatId> = (0..30)
        .map(|i| f.customer_chat(&jan, &format!("chat {i}"), at(i * 10)).0)
        .collect();
    let newest_first: Vec<ChatId> = chats.iter().rev().copied().collect();
    let ids =
        |s: &chatio::query::ChatsSummary| s.chats_summary.iter().map(|c| c.id).collect::<Vec<_>>();

    let default = f
        .engine
        .as_customer(&jan, at(400))?
        .get_chats_summary(Pagination::default())?;
    assert_eq!(default.total_chats, 30);
    assert_eq!(
        ids(&default),
        newest_first[..10].to_vec(),
        "default limit is 10"
    );
    let first = &default.chats_summary[0];
    assert_eq!(
        text_of(&first.last_event_per_type["message"].event.kind),
        "chat 29"
    );
    assert!(
        default
            .chats_summary
            .windows(2)
            .all(|w| w[0].order > w[1].order)
    );

    let max = f
        .engine
        .as_customer(&jan, at(400))?
        .get_chats_summary(page(None, Some(25)))?;
    assert_eq!(ids(&max), newest_first[..25].to_vec());
    let rest = f
        .engine
        .as_customer(&jan, at(400))?
        .get_chats_summary(page(Some(25), Some(25)))?;
    assert_eq!(ids(&rest), newest_first[25..].to_vec());
    assert_eq!(rest.total_chats, 30);
    let far = f
        .engine
        .as_customer(&jan, at(400))?
        .get_chats_summary(page(Some(100), None))?;
    assert!(far.chats_summary.is_empty(), "offset 100 is allowed");
    assert_eq!(far.total_chats, 30);

    // An event to the oldest chat makes it the newest.
    let _ = f
        .engine
        .as_customer(&jan, at(500))?
        .send_event(chats[0], NewEvent::message("bump"))?;
    let bumped = f
        .engine
        .as_customer(&jan, at(500))?
        .get_chats_summary(page(None, Some(2)))?;
    assert_eq!(ids(&bumped), vec![chats[0], chats[29]]);

    // Another customer sees none of them.
    let evas = f
        .engine
        .as_customer(&eva, at(500))?
        .get_chats_summary(Pagination::default())?;
    assert_eq!((evas.total_chats, evas.chats_summary.len()), (0, 0));

    // Out of bounds: refused.
    for (p, field) in [
        (page(None, Some(26)), "limit"),
        (page(None, Some(0)), "limit"),
        (page(Some(101), None), "offset"),
        (page(Some(101), Some(26)), "offset"),
    ] {
        let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
            e.as_customer(&jan, at(500))?.get_chats_summary(p)
        });
        assert_invalid_field(&err, field, "get_chats_summary pagination");
    }
    Ok(())
}

#[test]
fn chats_summary_shows_only_what_the_customer_may_see() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, _, jan, _) = f.ids();
    let (chat, thread) = f.customer_chat(&jan, "Hi", at(0));
    let _ = f
        .engine
        .as_agent(&anna, at(1))?
        .join_chat(chat, std::slice::from_ref(&anna))?;
    let hello = f
        .engine
        .as_agent(&anna, at(2))?
        .send_event(chat, NewEvent::message("Hello Jan"))?;
    let _ = f
        .engine
        .as_agent(&anna, at(3))?
        .send_event(chat, NewEvent::message("internal").to(Recipients::Agents))?;
    let _ = f.engine.as_agent(&anna, at(4))?.send_event(
        chat,
        custom_event("crm", json!({"lead": true})).to(Recipients::Agents),
    )?;
    let rating = f
        .engine
        .as_customer(&jan, at(5))?
        .send_event(chat, NewEvent::annotation("thanks", "rating"))?;

    let summary = f
        .engine
        .as_customer(&jan, at(6))?
        .get_chats_summary(Pagination::default())?;
    assert_eq!(summary.total_chats, 1);
    let s = &summary.chats_summary[0];
    assert_eq!(s.id, chat);
    assert_eq!(
        s.users.iter().map(User::id).collect::<Vec<_>>(),
        vec![&jan, &anna]
    );
    let types: Vec<&str> = s.last_event_per_type.keys().map(String::as_str).collect();
    assert_eq!(types, vec!["annotation", "message", "system_message"]);
    let message = &s.last_event_per_type["message"];
    assert_eq!(message.event, hello.response.event);
    assert_eq!(message.thread_id, thread);
    assert_eq!(
        message.thread_order,
        f.engine.chat(&chat).unwrap().threads[0].order
    );
    assert_eq!(
        s.last_event_per_type["annotation"].event,
        rating.response.event
    );
    let last = s.last_thread_summary.as_ref().unwrap();
    assert_eq!(last.id, thread);
    assert!(last.active && last.events.is_empty());
    assert_eq!(s.order, f.engine.chat(&chat).unwrap().order());
    Ok(())
}

#[test]
fn get_chat_threads_hides_agents_only_events() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, _, jan, _) = f.ids();
    let (chat, first) = f.customer_chat(&jan, "Hi", at(0));
    let _ = f
        .engine
        .as_agent(&anna, at(1))?
        .send_event(chat, NewEvent::message("internal").to(Recipients::Agents))?;
    f.close(chat, at(2));
    let second = f
        .engine
        .as_customer(&jan, at(10))?
        .send_event(chat, NewEvent::message("Again"))?
        .response
        .thread_id;

    let out = f
        .engine
        .as_customer(&jan, at(11))?
        .get_chat_threads(chat, &[first, second])?;
    assert_eq!(out.id, chat);
    assert_eq!(
        out.threads.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![first, second]
    );
    let texts: Vec<Vec<String>> = out
        .threads
        .iter()
        .map(|t| {
            t.events
                .iter()
                .map(|e| text_of(&e.kind).to_owned())
                .collect()
        })
        .collect();
    assert_eq!(texts, vec![vec!["Hi"], vec!["Again"]]);
    assert_eq!(
        out.threads_summary
            .iter()
            .map(|t| (t.id, t.total_events))
            .collect::<Vec<_>>(),
        vec![(second, 1), (first, 1)]
    );
    // The agent's view of the same thread has both events.
    let theirs = f
        .engine
        .as_agent(&anna, at(11))?
        .get_chat_threads(chat, &[first])?;
    assert_eq!(theirs.threads[0].events.len(), 2);
    assert_eq!(theirs.threads_summary[1].total_events, 2);

    let bogus: ThreadId = "3b4c5d6e-0000-4000-8000-000000000001".parse()?;
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_customer(&jan, at(12))?
            .get_chat_threads(chat, &[bogus])
    });
    assert_eq!(
        err,
        Error::ThreadNotFound {
            chat_id: chat,
            thread_id: bogus
        }
    );
    Ok(())
}

#[test]
fn get_chat_threads_summary_pages_with_default_and_maximum_limits() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (_, _, jan, _) = f.ids();
    let (chat, first) = f.customer_chat(&jan, "thread 0", at(0));
    let mut threads = vec![first];
    for i in 1..27_i64 {
        f.close(chat, at(i * 100));
        threads.push(
            f.engine
                .as_customer(&jan, at(i * 100 + 1))?
                .send_event(chat, NewEvent::message("again"))?
                .response
                .thread_id,
        );
    }
    let ids = |s: &chatio::query::ThreadsSummary| {
        s.threads_summary.iter().map(|t| t.id).collect::<Vec<_>>()
    };
    let newest_first: Vec<ThreadId> = threads.iter().rev().copied().collect();

    let default = f
        .engine
        .as_customer(&jan, at(9000))?
        .get_chat_threads_summary(chat, Pagination::default())?;
    assert_eq!(default.total_threads, 27);
    assert_eq!(ids(&default), newest_first[..25].to_vec());
    let max = f
        .engine
        .as_customer(&jan, at(9000))?
        .get_chat_threads_summary(chat, page(None, Some(100)))?;
    assert_eq!(ids(&max), newest_first);
    let tail = f
        .engine
        .as_customer(&jan, at(9000))?
        .get_chat_threads_summary(chat, page(Some(26), None))?;
    assert_eq!(ids(&tail), vec![first]);

    for limit in [101, 0] {
        let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
            e.as_customer(&jan, at(9000))?
                .get_chat_threads_summary(chat, page(None, Some(limit)))
        });
        assert_invalid_field(&err, "limit", "threads summary limit");
    }
    Ok(())
}

#[test]
fn start_chat_with_initial_events_scopes_and_properties() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, _, jan, _) = f.ids();
    // Properties must be configured before anyone may write them.
    use chatio::model::{Access, Location, LocationAccess, PropertyConfig, PropertyType};
    f.engine.configure_property(
        PropertyConfig::new("routing", "idle", PropertyType::Bool).at(
            Location::Chat,
            LocationAccess {
                agent: Access::READ_WRITE,
                customer: Access::READ_WRITE,
            },
        ),
    )?;
    let mut properties = chatio::Properties::new();
    properties
        .entry("routing".into())
        .or_default()
        .insert("idle".into(), chatio::PropertyValue::Bool(false));
    let out = f.engine.as_customer(&jan, at(0))?.start_chat(
        StartChat::default()
            .with_scopes(Scopes {
                groups: [GroupId(1)].into(),
                ..Scopes::default()
            })
            .with_properties(properties.clone())
            .with_event(prechat_form(Some("Jan")))
            .with_event(NewEvent::message("My parcel is late").with_custom_id("jan-1")),
    )?;
    let r = &out.response;
    assert_eq!(r.scopes.groups, [GroupId(1)].into());
    assert_eq!(r.properties, properties);
    assert_eq!(r.thread.events.len(), 2);
    assert_eq!(
        r.thread.events.get(0).unwrap().kind,
        prechat_form(Some("Jan")).kind
    );
    assert_eq!(
        r.thread.events.get(1).unwrap().custom_id.as_deref(),
        Some("jan-1")
    );
    // Scoped to group 1: only Anna is told.
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (vec![anna.clone()], Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    let to_customer = push_for(&out.pushes, Role::Customer);
    assert_eq!(chat_and_thread(to_customer), (r.id, r.thread.id));
    assert_eq!(
        f.engine.customer(&jan).unwrap().last_seen_timestamp,
        Some(at(0))
    );

    // A retry of an initial event by custom_id returns it.
    let before = f.engine.clone();
    let retry = f.engine.as_customer(&jan, at(5))?.send_event(
        r.id,
        NewEvent::message("My parcel is late").with_custom_id("jan-1"),
    )?;
    assert_eq!(*retry.response.event, r.thread.events.get(1).unwrap());
    assert_eq!(retry.response.thread_id, r.thread.id);
    assert!(retry.pushes.is_empty());
    assert!(f.engine == before);
    Ok(())
}

#[test]
fn send_event_appends_to_the_active_thread_or_starts_one() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (_, _, jan, _) = f.ids();
    let (chat, thread) = f.customer_chat(&jan, "Hi", at(0));
    let both = vec![
        (f.agents(), Role::Agent),
        (vec![jan.clone()], Role::Customer),
    ];

    for (i, event) in [
        NewEvent::message("Are you there?"),
        custom_event("cart", json!({"items": 3})),
        prechat_form(Some("Jan")),
        NewEvent::annotation("5", "rating"),
        rich_event(1, 1),
    ]
    .into_iter()
    .enumerate()
    {
        let kind = event.kind.clone();
        let t = at(10 + i as i64);
        let out = f.engine.as_customer(&jan, t)?.send_event(chat, event)?;
        assert_eq!(out.response.thread_id, thread);
        assert_eq!(out.response.event.kind, kind);
        assert_eq!(out.response.event.author_id.as_ref(), Some(&jan));
        assert_eq!(out.response.event.timestamp, t);
        assert_eq!(audiences(&out.pushes), both);
        assert!(out.pushes.iter().all(|p| p.kind
            == PushKind::IncomingEvent {
                chat_id: chat,
                thread_id: thread,
                event: out.response.event.clone()
            }));
        assert_eq!(
            f.engine.customer(&jan).unwrap().last_seen_timestamp,
            Some(t)
        );
    }
    assert_eq!(f.engine.chat(&chat).unwrap().threads[0].events.len(), 6);

    f.close(chat, at(20));
    let out = f
        .engine
        .as_customer(&jan, at(30))?
        .send_event(chat, NewEvent::message("New question"))?;
    assert_ne!(out.response.thread_id, thread);
    assert_eq!(
        actions(&out.pushes),
        vec!["incoming_chat_thread", "incoming_chat_thread"]
    );
    assert_eq!(audiences(&out.pushes), both);
    Ok(())
}

#[test]
fn send_file_stores_a_file_event() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (_, _, jan, _) = f.ids();
    let (chat, thread) = f.customer_chat(&jan, "Hi", at(0));

    let out = f.engine.as_customer(&jan, at(10))?.send_file(
        chat,
        Some("f-1".into()),
        png(10 * 1024 * 1024),
    )?;
    assert_eq!(out.response.thread_id, thread);
    let event = out.response.event.clone();
    assert_eq!(event.kind, EventKind::File(Box::new(png(10 * 1024 * 1024))));
    assert_eq!(event.kind.type_name(), "file");
    assert_eq!(event.custom_id.as_deref(), Some("f-1"));
    assert_eq!(event.author_id.as_ref(), Some(&jan));
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (f.agents(), Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    assert!(out.pushes.iter().all(|p| p.kind
        == PushKind::IncomingEvent {
            chat_id: chat,
            thread_id: thread,
            event: event.clone()
        }));

    // A retried upload returns the original event.
    let retry = f
        .engine
        .as_customer(&jan, at(11))?
        .send_file(chat, Some("f-1".into()), pdf(5))?;
    assert_eq!(retry.response.event, event);
    assert!(retry.pushes.is_empty());

    // Without custom_id, a non-image without dimensions; to a closed chat it starts a thread.
    f.close(chat, at(20));
    let out = f
        .engine
        .as_customer(&jan, at(30))?
        .send_file(chat, None, pdf(2048))?;
    assert_ne!(out.response.thread_id, thread);
    assert_eq!(out.response.event.custom_id, None);
    assert_eq!(
        actions(&out.pushes),
        vec!["incoming_chat_thread", "incoming_chat_thread"]
    );
    let c = f.engine.chat(&chat).unwrap();
    assert_eq!(c.threads.len(), 2);
    assert_eq!(
        c.threads[1].events.to_vec(),
        vec![(*out.response.event).clone()]
    );

    // Refused: over 10 MB, dimensions on a non-image, missing name or url, bad custom_id.
    let cases: Vec<(&str, File, Option<String>, &str)> = vec![
        ("over 10 MB", png(10 * 1024 * 1024 + 1), None, "file.size"),
        (
            "width on a non-image",
            File {
                width: Some(640),
                ..pdf(10)
            },
            None,
            "file.width",
        ),
        (
            "height on a non-image",
            File {
                height: Some(480),
                ..pdf(10)
            },
            None,
            "file.width",
        ),
        (
            "no name",
            File {
                name: String::new(),
                ..pdf(10)
            },
            None,
            "file.name",
        ),
        (
            "no url",
            File {
                url: " ".into(),
                ..pdf(10)
            },
            None,
            "file.url",
        ),
        (
            "no content type",
            File {
                content_type: String::new(),
                width: None,
                height: None,
                ..png(10)
            },
            None,
            "file.content_type",
        ),
        (
            "empty custom_id",
            pdf(10),
            Some(String::new()),
            "event.custom_id",
        ),
        (
            "custom_id over 256 bytes",
            pdf(10),
            Some("x".repeat(257)),
            "event.custom_id",
        ),
    ];
    for (label, file, custom_id, field) in cases {
        let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
            e.as_customer(&jan, at(40))?
                .send_file(chat, custom_id.clone(), file.clone())
        });
        assert_invalid_field(&err, field, label);
    }
    Ok(())
}

#[test]
fn send_rich_message_postback_toggles_the_customer() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, _, jan, _) = f.ids();
    let (chat, thread) = f.customer_chat(&jan, "Hi", at(0));
    let rich = f
        .engine
        .as_agent(&anna, at(1))?
        .send_event(chat, rich_event(1, 2))?
        .response
        .event
        .id;
    let out = f
        .engine
        .as_customer(&jan, at(2))?
        .send_rich_message_postback(
            chat,
            thread,
            rich,
            Postback {
                id: "b0".into(),
                toggled: true,
            },
        )?;
    assert_eq!(out.response, ());
    assert_eq!(
        actions(&out.pushes),
        vec![
            "incoming_rich_message_postback",
            "incoming_rich_message_postback"
        ]
    );
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (f.agents(), Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    let stored = f.engine.chat(&chat).unwrap().threads[0]
        .events
        .iter()
        .find(|e| e.id == rich)
        .unwrap();
    let EventKind::RichMessage(r) = &stored.kind else {
        panic!("not a rich message");
    };
    assert_eq!(r.elements[0].buttons[0].user_ids, vec![jan.clone()]);
    assert!(r.elements[0].buttons[1].user_ids.is_empty());

    // An agents-only rich message does not exist for the customer.
    let hidden = f
        .engine
        .as_agent(&anna, at(3))?
        .send_event(chat, rich_event(1, 1).to(Recipients::Agents))?
        .response
        .event
        .id;
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_customer(&jan, at(4))?.send_rich_message_postback(
            chat,
            thread,
            hidden,
            Postback {
                id: "b0".into(),
                toggled: true,
            },
        )
    });
    assert_eq!(
        err,
        Error::EventNotFound {
            thread_id: thread,
            event_id: hidden
        }
    );
    Ok(())
}

#[test]
fn send_sneak_peek_and_typing_indicator_reach_agents_only() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (_, _, jan, _) = f.ids();
    let (chat, _) = f.customer_chat(&jan, "Hi", at(0));
    let before = f.engine.clone();

    let peek = f
        .engine
        .as_customer(&jan, at(1))?
        .send_sneak_peek(chat, "Where is my")?;
    assert_eq!(peek.response, ());
    assert_eq!(actions(&peek.pushes), vec!["incoming_sneak_peek"]);
    assert_eq!(audiences(&peek.pushes), vec![(f.agents(), Role::Agent)]);
    let typing = f
        .engine
        .as_customer(&jan, at(2))?
        .send_typing_indicator(chat, false)?;
    assert_eq!(actions(&typing.pushes), vec!["incoming_typing_indicator"]);
    assert_eq!(audiences(&typing.pushes), vec![(f.agents(), Role::Agent)]);
    let PushKind::IncomingTypingIndicator {
        typing_indicator, ..
    } = &typing.pushes[0].kind
    else {
        panic!("not a typing indicator");
    };
    assert_eq!(
        (
            typing_indicator.author_id.clone(),
            typing_indicator.is_typing
        ),
        (jan.clone(), false)
    );
    assert!(f.engine == before);

    // With the audience narrowed to the chat's agents and none in the chat, nobody is told.
    let mut g = Fixture::with_config(
        EngineConfig::with_seed(1).push_audience(PushAudience::ChatAgentsOnly),
    );
    let (chat, _) = g.customer_chat(&jan, "Hi", at(0));
    let peek = g
        .engine
        .as_customer(&jan, at(1))?
        .send_sneak_peek(chat, "hello?")?;
    assert!(peek.pushes.is_empty());
    let typing = g
        .engine
        .as_customer(&jan, at(1))?
        .send_typing_indicator(chat, true)?;
    assert!(typing.pushes.is_empty());
    Ok(())
}

#[test]
fn close_thread_by_the_customer() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (_, _, jan, _) = f.ids();
    let (chat, thread) = f.customer_chat(&jan, "Hi", at(0));
    let out = f.engine.as_customer(&jan, at(60))?.close_thread(chat)?;
    assert_eq!(out.response, ());
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (f.agents(), Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    assert!(out.pushes.iter().all(|p| p.kind
        == PushKind::ThreadClosed {
            chat_id: chat,
            thread_id: thread,
            user_id: Some(jan.clone())
        }));
    assert_eq!(
        f.engine.chat(&chat).unwrap().threads[0].closed_at,
        Some(at(60))
    );
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_customer(&jan, at(61))?.close_thread(chat)
    });
    assert_eq!(err, Error::NoActiveThread(chat));
    Ok(())
}

#[test]
fn update_customer_changes_details_and_tells_each_active_chat() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (_, _, jan, eva) = f.ids();

    // No chat yet: nobody to tell.
    let out = f
        .engine
        .as_customer(&jan, at(0))?
        .update_customer(CustomerUpdate {
            email: Some("jan@example.com".into()),
            ..CustomerUpdate::default()
        })?;
    assert!(out.pushes.is_empty());
    assert_eq!(out.response.email.as_deref(), Some("jan@example.com"));
    assert_eq!(out.response.name.as_deref(), Some("Jan"));
    assert_eq!(out.response.last_seen_timestamp, Some(at(0)));

    let (chat, _) = f.customer_chat(&jan, "Hi", at(10));
    let out = f
        .engine
        .as_customer(&jan, at(20))?
        .update_customer(CustomerUpdate {
            name: Some("Jan K.".into()),
            current_page: Some(Page {
                url: Some("https://shop.example.com/checkout".into()),
                title: Some("Checkout".into()),
            }),
            ..CustomerUpdate::default()
        })?;
    assert_eq!(
        actions(&out.pushes),
        vec!["customer_updated", "customer_updated"]
    );
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (f.agents(), Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    assert!(out.pushes.iter().all(|p| p.kind
        == PushKind::CustomerUpdated {
            chat_id: chat,
            customer: Box::new(out.response.clone())
        }));
    assert_eq!(out.response.email.as_deref(), Some("jan@example.com"));
    assert_eq!(f.engine.customer(&jan), Some(&out.response));
    // The chat's users show the new details.
    let threads = f
        .engine
        .as_customer(&jan, at(21))?
        .get_chat_threads(chat, &[])?;
    assert_eq!(threads.users, vec![User::Customer(out.response.clone())]);

    // Refused: malformed e-mail, empty page url. Eva's details are untouched.
    for (update, field) in [
        (
            CustomerUpdate {
                email: Some("jan at example.com".into()),
                ..CustomerUpdate::default()
            },
            "customer.email",
        ),
        (
            CustomerUpdate {
                name: Some("Jan".into()),
                current_page: Some(Page {
                    url: Some(String::new()),
                    title: None,
                }),
                ..CustomerUpdate::default()
            },
            "customer.monitoring.page.url",
        ),
    ] {
        let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
            e.as_customer(&jan, at(30))?.update_customer(update.clone())
        });
        assert_invalid_field(&err, field, "update_customer");
    }
    assert_eq!(
        f.engine.customer(&eva).unwrap().name.as_deref(),
        Some("Eva")
    );
    Ok(())
}

#[test]
fn update_last_seen_timestamp_moves_the_customers_time_forward() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (_, _, jan, _) = f.ids();
    let (chat, _) = f.customer_chat(&jan, "Hi", at(0));
    let out = f
        .engine
        .as_customer(&jan, at(10))?
        .update_last_seen_timestamp(chat, None)?;
    assert_eq!(out.response, at(10));
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (f.agents(), Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    assert!(out.pushes.iter().all(|p| p.kind
        == PushKind::LastSeenTimestampUpdated {
            user_id: jan.clone(),
            chat_id: chat,
            timestamp: at(10)
        }));
    let before = f.engine.clone();
    let out = f
        .engine
        .as_customer(&jan, at(20))?
        .update_last_seen_timestamp(chat, Some(at(5)))?;
    assert_eq!(out.response, at(10));
    assert!(out.pushes.is_empty());
    assert!(f.engine == before);
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_customer(&jan, at(20))?
            .update_last_seen_timestamp(chat, Some(at(21)))
    });
    assert_invalid_field(&err, "timestamp", "future last seen");
    Ok(())
}

#[test]
fn requests_about_unknown_or_another_customers_chats_are_refused_and_change_nothing()
-> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, _, jan, eva) = f.ids();
    let (jans, jans_thread) = f.customer_chat(&jan, "Hi", at(0));
    let (_evas, _) = f.customer_chat(&eva, "Hello", at(1));
    let rich = f
        .engine
        .as_agent(&anna, at(2))?
        .send_event(jans, rich_event(1, 1))?
        .response
        .event
        .id;

    let unknown = unknown_chat();
    let cases = [
        (unknown, ErrorKind::Validation, Error::ChatNotFound(unknown)),
        (
            jans,
            ErrorKind::Authorization,
            Error::ChatAccessDenied {
                user_id: eva.clone(),
                chat_id: jans,
            },
        ),
    ];
    for (chat, kind, expected) in cases {
        let t = at(10);
        let postback = Postback {
            id: "b0".into(),
            toggled: true,
        };
        let errors = vec![
            assert_rejected(&mut f.engine, kind, |e| {
                e.as_customer(&eva, t)?
                    .send_event(chat, NewEvent::message("x"))
            }),
            assert_rejected(&mut f.engine, kind, |e| {
                e.as_customer(&eva, t)?
                    .send_event(chat, NewEvent::annotation("1", "rating"))
            }),
            assert_rejected(&mut f.engine, kind, |e| {
                e.as_customer(&eva, t)?
                    .send_file(chat, Some("f".into()), png(1))
            }),
            assert_rejected(&mut f.engine, kind, |e| {
                e.as_customer(&eva, t)?.send_rich_message_postback(
                    chat,
                    jans_thread,
                    rich,
                    postback.clone(),
                )
            }),
            assert_rejected(&mut f.engine, kind, |e| {
                e.as_customer(&eva, t)?.send_sneak_peek(chat, "x")
            }),
            assert_rejected(&mut f.engine, kind, |e| {
                e.as_customer(&eva, t)?.send_typing_indicator(chat, true)
            }),
            assert_rejected(&mut f.engine, kind, |e| {
                e.as_customer(&eva, t)?.close_thread(chat)
            }),
            assert_rejected(&mut f.engine, kind, |e| {
                e.as_customer(&eva, t)?
                    .update_last_seen_timestamp(chat, None)
            }),
            assert_rejected(&mut f.engine, kind, |e| {
                e.as_customer(&eva, t)?
                    .get_chat_threads(chat, &[jans_thread])
            }),
            assert_rejected(&mut f.engine, kind, |e| {
                e.as_customer(&eva, t)?
                    .get_chat_threads_summary(chat, Pagination::default())
            }),
        ];
        for err in errors {
            assert_eq!(err, expected);
        }
    }
    // The response carries nothing of the chat.
    let err = assert_rejected(&mut f.engine, ErrorKind::Authorization, |e| {
        e.as_customer(&eva, at(10))?.get_chat_threads(jans, &[])
    });
    assert!(!err.to_string().contains("Hi"));

    // Bad pagination is refused before anything else.
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_customer(&jan, at(10))?
            .get_chat_threads_summary(jans, page(None, Some(101)))
    });
    assert_invalid_field(&err, "limit", "threads summary limit");
    Ok(())
}

#[test]
fn invalid_events_are_refused_and_change_nothing() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (_, _, jan, eva) = f.ids();
    let (chat, _) = f.customer_chat(&jan, "Hi", at(0));
    for (label, event, field) in invalid_events() {
        // In send_event ...
        let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
            e.as_customer(&jan, at(10))?.send_event(chat, event.clone())
        });
        assert_invalid_field(&err, field, label);
        // ... and as an initial event of a chat.
        let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
            e.as_customer(&eva, at(10))?.start_chat(
                StartChat::default()
                    .with_event(NewEvent::message("fine"))
                    .with_event(event.clone()),
            )
        });
        assert_invalid_field(&err, field, label);
    }
    // A well-formed file is still not for send_event; a system message not for customers.
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_customer(&jan, at(10))?
            .send_event(chat, NewEvent::new(EventKind::File(Box::new(png(10)))))
    });
    assert_invalid_field(&err, "event.type", "file via send_event");
    assert_rejected(&mut f.engine, ErrorKind::Authorization, |e| {
        e.as_customer(&jan, at(10))?
            .send_event(chat, NewEvent::system_message("I am the system", "fake"))
    });
    assert!(f.engine.customer_chats(&eva).is_empty());
    assert_eq!(f.engine.chat(&chat).unwrap().threads[0].events.len(), 1);
    Ok(())
}

#[test]
fn customer_last_seen_timestamp_moves_on_each_successful_command() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, _, jan, _) = f.ids();
    let (chat, thread) = f.customer_chat(&jan, "Hi", at(0));
    let rich = f
        .engine
        .as_agent(&anna, at(1))?
        .send_event(chat, rich_event(1, 1))?
        .response
        .event
        .id;
    let seen = |f: &Fixture| f.engine.customer(&jan).unwrap().last_seen_timestamp;
    assert_eq!(seen(&f), Some(at(0)));

    let _ = f
        .engine
        .as_customer(&jan, at(10))?
        .send_rich_message_postback(
            chat,
            thread,
            rich,
            Postback {
                id: "b0".into(),
                toggled: true,
            },
        )?;
    assert_eq!(seen(&f), Some(at(10)), "after send_rich_message_postback");
    let _ = f
        .engine
        .as_customer(&jan, at(20))?
        .update_last_seen_timestamp(chat, None)?;
    assert_eq!(seen(&f), Some(at(20)), "after update_last_seen_timestamp");
    let _ = f.engine.as_customer(&jan, at(30))?.close_thread(chat)?;
    assert_eq!(seen(&f), Some(at(30)), "after close_thread");
    Ok(())
}

#[test]
fn customers_cannot_send_agents_only_events() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (_, _, jan, _) = f.ids();
    let chat = f
        .engine
        .as_customer(&jan, at(0))?
        .start_chat(StartChat::default())?
        .response
        .id;
    let note = NewEvent::message("psst").to(Recipients::Agents);
    let err = assert_rejected(&mut f.engine, ErrorKind::Authorization, |e| {
        e.as_customer(&jan, at(1))?.send_event(chat, note)
    });
    assert!(err.to_string().contains("agents only"), "{err}");
    Ok(())
}
