//! One test per rule R1 to R15 (README, "The rules"), each named after it.

mod common;

use std::collections::BTreeSet;

use chatio::model::{Page, RichElement, RichMessage};
use chatio::{
    Agent, CustomerUpdate, Engine, EngineConfig, Error, ErrorKind, EventKind, GroupId,
    MulticastScopes, NewEvent, Pagination, Postback, Properties, PropertyValue, PushAudience,
    PushKind, Recipients, Role, Scopes, SneakPeek, StartChat, TypingIndicator, User,
};
use common::*;
use serde_json::json;

#[test]
fn r1_at_most_one_active_thread_and_only_the_last() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (_, _, jan, _) = f.ids();
    let (chat, first) = f.customer_chat(&jan, "Hello", at(0));

    // The indexes of the active threads; at most one, and only the last.
    let active = |engine: &Engine| -> Vec<usize> {
        let c = engine.chat(&chat).unwrap();
        let active: Vec<usize> = (0..c.threads.len())
            .filter(|&i| c.threads[i].active)
            .collect();
        assert!(active.len() <= 1, "more than one active thread: {active:?}");
        if let Some(&i) = active.first() {
            assert_eq!(
                i,
                c.threads.len() - 1,
                "an active thread that is not the last"
            );
            assert_eq!(c.active_thread().map(|t| t.id), Some(c.threads[i].id));
        } else {
            assert!(c.active_thread().is_none());
        }
        active
    };
    assert_eq!(active(&f.engine), vec![0]);

    for round in 1..=3_i64 {
        f.close(chat, at(round * 100));
        assert_eq!(active(&f.engine), Vec::<usize>::new());
        assert!(!f.engine.chat(&chat).unwrap().is_active());

        let sent = f
            .engine
            .as_customer(&jan, at(round * 100 + 10))?
            .send_event(chat, NewEvent::message(format!("round {round}")))?;
        assert_eq!(active(&f.engine), vec![round as usize]);
        let c = f.engine.chat(&chat).unwrap();
        assert_eq!(c.active_thread().unwrap().id, sent.response.thread_id);
        assert_eq!(c.last_thread().unwrap().id, sent.response.thread_id);
    }

    // A second event while a thread is active goes to that thread: still one active thread.
    let again = f
        .engine
        .as_customer(&jan, at(320))?
        .send_event(chat, NewEvent::message("still here"))?;
    assert_eq!(active(&f.engine), vec![3]);

    let c = f.engine.chat(&chat).unwrap();
    assert_eq!(c.threads.len(), 4);
    assert_eq!(c.threads[0].id, first);
    assert_eq!(again.response.thread_id, c.threads[3].id);
    assert_eq!(c.threads[3].events.len(), 2);
    let closed: Vec<_> = c.threads.iter().map(|t| (t.active, t.closed_at)).collect();
    assert_eq!(
        closed,
        vec![
            (false, Some(at(100))),
            (false, Some(at(200))),
            (false, Some(at(300))),
            (true, None),
        ]
    );
    Ok(())
}

#[test]
fn r2_start_chat_creates_chat_and_first_active_thread() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, bob, jan, eva) = f.ids();
    use chatio::model::{Access, Location, LocationAccess, PropertyConfig, PropertyType};
    let open = LocationAccess {
        agent: Access::READ_WRITE,
        customer: Access::READ_WRITE,
    };
    f.engine.configure_property(
        PropertyConfig::new("source", "type", PropertyType::String)
            .at(Location::Chat, open)
            .at(Location::Thread, open),
    )?;
    let mut properties = Properties::new();
    properties
        .entry("source".into())
        .or_default()
        .insert("type".into(), PropertyValue::String("facebook".into()));
    let request = StartChat {
        properties: properties.clone(),
        thread_properties: properties.clone(),
        ..StartChat::default()
    }
    .with_event(NewEvent::message("Hi"))
    .with_event(NewEvent::message("Anyone there?"));

    let out = f.engine.as_customer(&jan, at(0))?.start_chat(request)?;
    let r = &out.response;
    assert!(r.thread.active);
    assert_eq!(r.thread.timestamp, at(0));
    assert_eq!(r.thread.user_ids(), vec![jan.clone()]);
    assert_eq!(r.properties, properties);
    assert_eq!(r.thread.properties, properties);
    assert_eq!(r.users.iter().map(User::id).collect::<Vec<_>>(), vec![&jan]);
    let texts: Vec<String> = (r.thread.events.iter())
        .map(|e| text_of(&e.kind).to_owned())
        .collect();
    assert_eq!(texts, vec!["Hi", "Anyone there?"]);
    assert!(
        r.thread
            .events
            .iter()
            .all(|e| e.author_id.as_ref() == Some(&jan) && e.timestamp == at(0))
    );

    // The engine holds the chat with exactly that one, active thread.
    let chat = f.engine.chat(&r.id).unwrap();
    assert_eq!(f.engine.chats().len(), 1);
    assert_eq!(chat.threads.len(), 1);
    assert_eq!(chat.threads[0].id, r.thread.id);
    assert!(chat.threads[0].active);
    assert_eq!(chat.threads[0].events.len(), 2);
    assert_eq!(chat.customer_id.as_ref(), Some(&jan));
    assert!(chat.agent_ids.is_empty());
    assert_eq!(chat.created_at, at(0));
    assert_eq!(f.engine.customer_chats(&jan), &[r.id]);

    // Every agent and the customer hear of the new chat thread.
    assert_eq!(
        actions(&out.pushes),
        vec!["incoming_chat_thread", "incoming_chat_thread"]
    );
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (f.agents(), Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    for push in &out.pushes {
        assert_eq!(chat_and_thread(push), (r.id, r.thread.id));
        assert_eq!(push.kind.events().len(), 2);
    }

    // An agent may start a chat without a customer: the agent is in it.
    let solo = f.engine.as_agent(&anna, at(10))?.start_chat(
        None,
        StartChat::default().with_event(NewEvent::message("Note")),
    )?;
    let c = f.engine.chat(&solo.response.id).unwrap();
    assert_eq!(c.customer_id, None);
    assert_eq!(c.agent_ids, vec![anna.clone()]);
    assert_eq!(c.threads.len(), 1);
    assert!(c.threads[0].active);
    assert_eq!(c.threads[0].user_ids(), vec![anna.clone()]);
    assert_eq!(audiences(&solo.pushes), vec![(f.agents(), Role::Agent)]);

    // ... or with one: the chat belongs to the customer.
    let for_eva = f
        .engine
        .as_agent(&bob, at(20))?
        .start_chat(Some(eva.clone()), StartChat::default())?;
    let r = &for_eva.response;
    assert_eq!(
        r.users.iter().map(User::id).collect::<Vec<_>>(),
        vec![&eva, &bob]
    );
    assert!(r.thread.active && r.thread.events.is_empty());
    assert_eq!(f.engine.customer_chats(&eva), &[r.id]);
    assert_eq!(
        audiences(&for_eva.pushes),
        vec![
            (f.agents(), Role::Agent),
            (vec![eva.clone()], Role::Customer)
        ]
    );
    assert_eq!(f.engine.chats().len(), 3);
    Ok(())
}

#[test]
fn r3_event_to_inactive_chat_starts_new_thread_with_incoming_chat_thread() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, _, jan, _) = f.ids();
    let (chat, first) = f.customer_chat(&jan, "Hi", at(0));

    // With an active thread: appended to it, pushed as incoming_event.
    let reply = f
        .engine
        .as_agent(&anna, at(10))?
        .send_event(chat, NewEvent::message("Hello Jan"))?;
    assert_eq!(reply.response.thread_id, first);
    assert_eq!(
        actions(&reply.pushes),
        vec!["incoming_event", "incoming_event"]
    );
    for push in &reply.pushes {
        assert_eq!(chat_and_thread(push), (chat, first));
    }

    // With no active thread: a new thread, pushed as incoming_chat_thread.
    f.close(chat, at(20));
    let again = f
        .engine
        .as_customer(&jan, at(3600))?
        .send_event(chat, NewEvent::message("Me again"))?;
    let second = again.response.thread_id;
    assert_ne!(second, first);
    assert_eq!(
        actions(&again.pushes),
        vec!["incoming_chat_thread", "incoming_chat_thread"]
    );
    assert_eq!(
        audiences(&again.pushes),
        vec![
            (f.agents(), Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    for push in &again.pushes {
        let PushKind::IncomingChatThread { chat: c } = &push.kind else {
            panic!("not incoming_chat_thread: {push:?}");
        };
        assert_eq!(c.id, chat);
        assert_eq!(c.thread.id, second);
        assert!(c.thread.active);
        assert_eq!(c.thread.timestamp, at(3600));
        assert_eq!(c.thread.user_ids(), vec![jan.clone()]);
        assert_eq!(c.thread.events.len(), 1);
        assert_eq!(c.thread.events.get(0).unwrap(), *again.response.event);
    }
    let c = f.engine.chat(&chat).unwrap();
    assert_eq!(c.threads.len(), 2);
    assert!(!c.threads[0].active);
    assert_eq!(c.threads[0].events.len(), 2);
    assert!(c.threads[1].active);
    assert_eq!(
        c.threads[1].events.to_vec(),
        vec![(*again.response.event).clone()]
    );

    // An agent's event to an inactive chat starts a thread the same way.
    f.close(chat, at(3700));
    let follow_up = f
        .engine
        .as_agent(&anna, at(4000))?
        .send_event(chat, NewEvent::message("Following up"))?;
    assert_eq!(
        actions(&follow_up.pushes),
        vec!["incoming_chat_thread", "incoming_chat_thread"]
    );
    let c = f.engine.chat(&chat).unwrap();
    assert_eq!(c.threads.len(), 3);
    assert_eq!(c.threads[2].id, follow_up.response.thread_id);
    Ok(())
}

#[test]
fn r4_annotation_goes_to_last_thread_never_starts_one_and_is_not_activity() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, _, jan, _) = f.ids();
    let (chat, thread) = f.customer_chat(&jan, "Hi", at(0));
    let _ = f
        .engine
        .as_agent(&anna, at(10))?
        .send_event(chat, NewEvent::message("Hello"))?;
    assert_eq!(
        f.engine.chat(&chat).unwrap().threads[0].last_activity,
        at(10)
    );

    // In an active thread: appended, but the thread's activity does not move.
    let note = f
        .engine
        .as_agent(&anna, at(50))?
        .send_event(chat, NewEvent::annotation("Looks like a VIP", "note"))?;
    assert_eq!(note.response.thread_id, thread);
    assert_eq!(note.response.event.timestamp, at(50));
    assert_eq!(
        actions(&note.pushes),
        vec!["incoming_event", "incoming_event"]
    );
    let t = &f.engine.chat(&chat).unwrap().threads[0];
    assert_eq!(t.events.len(), 3);
    assert_eq!(t.last_activity, at(10));

    // In a closed thread: still appended to it, no new thread, still not activity.
    f.close(chat, at(60));
    let rating = f
        .engine
        .as_customer(&jan, at(500))?
        .send_event(chat, NewEvent::annotation("Great help", "rating"))?;
    assert_eq!(rating.response.thread_id, thread);
    assert_eq!(
        actions(&rating.pushes),
        vec!["incoming_event", "incoming_event"]
    );
    for push in &rating.pushes {
        assert_eq!(chat_and_thread(push), (chat, thread));
    }
    let c = f.engine.chat(&chat).unwrap();
    assert_eq!(c.threads.len(), 1);
    let t = &c.threads[0];
    assert!(!t.active);
    assert_eq!(t.closed_at, Some(at(60)));
    assert_eq!(t.last_activity, at(10));
    assert_eq!(t.events.len(), 4);
    assert_eq!(t.events.get(3).unwrap(), *rating.response.event);
    assert_eq!(
        t.events.get(3).unwrap().kind,
        EventKind::Annotation {
            text: "Great help".into(),
            annotation_type: "rating".into()
        }
    );

    // A message after that does start a new thread, and the annotation stays in the old one.
    let msg = f
        .engine
        .as_customer(&jan, at(600))?
        .send_event(chat, NewEvent::message("One more thing"))?;
    let c = f.engine.chat(&chat).unwrap();
    assert_eq!(c.threads.len(), 2);
    assert_eq!(c.threads[1].id, msg.response.thread_id);
    assert_eq!(c.threads[1].events.len(), 1);
    assert_eq!(c.threads[1].last_activity, at(600));

    // An annotation to the new active thread does not move its activity either.
    let _ = f
        .engine
        .as_agent(&anna, at(700))?
        .send_event(chat, NewEvent::annotation("", "follow_up"))?;
    let t = &f.engine.chat(&chat).unwrap().threads[1];
    assert_eq!(t.events.len(), 2);
    assert_eq!(t.last_activity, at(600));
    Ok(())
}

#[test]
fn r5_close_thread_deactivates_it_pushes_thread_closed_and_needs_an_active_thread()
-> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, _, jan, _) = f.ids();
    let (chat, thread) = f.customer_chat(&jan, "Hi", at(0));

    let out = f.engine.as_agent(&anna, at(30))?.close_thread(chat)?;
    assert_eq!(out.response, ());
    // An agent who closes a thread leaves the `manual_archived` system message first.
    assert_eq!(
        actions(&out.pushes),
        vec![
            "incoming_event",
            "incoming_event",
            "thread_closed",
            "thread_closed"
        ]
    );
    assert_eq!(
        audiences(&out.pushes[2..]),
        vec![
            (f.agents(), Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    let archived = &f.engine.chat(&chat).unwrap().threads[0].events;
    assert_eq!(
        archived.last().map(|e| e.kind.clone()),
        Some(EventKind::SystemMessage {
            text: "Anna archived the chat".into(),
            system_message_type: Some("manual_archived".into())
        })
    );
    for push in &out.pushes[2..] {
        assert_eq!(
            push.kind,
            PushKind::ThreadClosed {
                chat_id: chat,
                thread_id: thread,
                user_id: Some(anna.clone()),
            }
        );
    }
    let c = f.engine.chat(&chat).unwrap();
    assert!(!c.threads[0].active);
    assert_eq!(c.threads[0].closed_at, Some(at(30)));
    assert!(c.active_thread().is_none());

    // No active thread: refused, and nothing changes.
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(40))?.close_thread(chat)
    });
    assert_eq!(err, Error::NoActiveThread(chat));
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_customer(&jan, at(40))?.close_thread(chat)
    });
    assert_eq!(err, Error::NoActiveThread(chat));

    // The customer may close its own thread; the push names the customer.
    let sent = f
        .engine
        .as_customer(&jan, at(100))?
        .send_event(chat, NewEvent::message("Back"))?;
    let out = f.engine.as_customer(&jan, at(110))?.close_thread(chat)?;
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
            thread_id: sent.response.thread_id,
            user_id: Some(jan.clone()),
        }));
    let c = f.engine.chat(&chat).unwrap();
    assert_eq!(c.threads[1].closed_at, Some(at(110)));
    assert!(!c.is_active());
    Ok(())
}

/// Same seed, same calls: same ids. Returns the engine after a short script.
fn scripted(seed: u64) -> Engine {
    let anna = uid("anna@example.com");
    let mut engine = LicenseBuilder::new(EngineConfig::with_seed(seed))
        .agent(Agent::new(anna.clone(), "Anna"))
        .build();
    let jan = engine.create_customer();
    let chat = engine
        .as_customer(&jan, at(0))
        .unwrap()
        .start_chat(StartChat::default().with_event(NewEvent::message("Hi")))
        .unwrap()
        .response
        .id;
    let _ = engine
        .as_agent(&anna, at(1))
        .unwrap()
        .send_event(chat, NewEvent::message("Hello"))
        .unwrap();
    let _ = engine
        .as_agent(&anna, at(2))
        .unwrap()
        .close_thread(chat)
        .unwrap();
    let _ = engine
        .as_customer(&jan, at(3))
        .unwrap()
        .send_event(chat, NewEvent::message("Again"))
        .unwrap();
    engine
}

#[test]
fn r6_engine_assigns_ids_order_timestamps_and_custom_id_retry_is_idempotent() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, bob, jan, _) = f.ids();

    // Ids, orders, authors and timestamps come from the engine.
    let started = f
        .engine
        .as_customer(&jan, at(0))?
        .start_chat(StartChat::default().with_event(NewEvent::message("one")))?;
    let chat = started.response.id;
    let t1 = started.response.thread.clone();
    let e1 = t1.events.get(0).unwrap().clone();
    assert!(t1.order < e1.order);
    assert_eq!(
        (e1.author_id.clone(), e1.timestamp),
        (Some(jan.clone()), at(0))
    );

    let e2 = f
        .engine
        .as_agent(&anna, at(5))?
        .send_event(chat, NewEvent::message("two"))?
        .response;
    assert_eq!(e2.thread_id, t1.id);
    assert_eq!(
        (e2.event.author_id.clone(), e2.event.timestamp),
        (Some(anna.clone()), at(5))
    );
    assert!(e2.event.order > e1.order);

    f.close(chat, at(10));
    let e3 = f
        .engine
        .as_customer(&jan, at(20))?
        .send_event(chat, NewEvent::message("three"))?
        .response;
    let t2 = f.engine.chat(&chat).unwrap().threads[1].clone();
    assert_eq!(e3.thread_id, t2.id);
    // One counter per license: strictly increasing across threads and events.
    assert!(e2.event.order < t2.order && t2.order < e3.event.order);

    // Time never goes backwards: an earlier `now` acts at the latest time seen.
    let e4 = f
        .engine
        .as_agent(&bob, at(15))?
        .send_event(chat, NewEvent::message("four"))?
        .response;
    assert_eq!(e4.event.timestamp, at(20));
    assert_eq!(f.engine.now(), at(20));
    assert!(e4.event.order > e3.event.order);

    let c = f.engine.chat(&chat).unwrap();
    let orders: Vec<u64> = c
        .threads
        .iter()
        .flat_map(|t| std::iter::once(t.order).chain(t.events.iter().map(|e| e.order)))
        .collect();
    assert!(orders.windows(2).all(|w| w[0] < w[1]), "{orders:?}");
    let mut ids: BTreeSet<String> = BTreeSet::from([chat.to_string()]);
    for t in &c.threads {
        ids.insert(t.id.to_string());
        ids.extend(t.events.iter().map(|e| e.id.to_string()));
    }
    assert_eq!(ids.len(), 1 + 2 + 4, "ids are not all distinct: {ids:?}");

    // A retry with the same sender, chat and custom_id returns the original event and adds
    // nothing, even when the retried body differs.
    let first = f
        .engine
        .as_customer(&jan, at(30))?
        .send_event(chat, NewEvent::message("Thanks!").with_custom_id("jan-1"))?;
    assert_eq!(first.response.event.custom_id.as_deref(), Some("jan-1"));
    assert_eq!(first.pushes.len(), 2);
    let before = f.engine.clone();
    let retry = f.engine.as_customer(&jan, at(40))?.send_event(
        chat,
        NewEvent::message("Thanks!!! (edited)").with_custom_id("jan-1"),
    )?;
    assert_eq!(retry.response, first.response);
    assert!(retry.pushes.is_empty());
    assert!(f.engine == before, "a retry changed the engine");

    // Also once the thread is closed: no new thread.
    f.close(chat, at(50));
    let before = f.engine.clone();
    let retry = f
        .engine
        .as_customer(&jan, at(60))?
        .send_event(chat, NewEvent::message("Thanks!").with_custom_id("jan-1"))?;
    assert_eq!(retry.response, first.response);
    assert!(retry.pushes.is_empty());
    assert!(f.engine == before, "a retry changed the engine");
    assert_eq!(f.engine.chat(&chat).unwrap().threads.len(), 2);

    // The key is per sender: Anna's "jan-1" is a new event (and here a new thread).
    let annas = f
        .engine
        .as_agent(&anna, at(70))?
        .send_event(chat, NewEvent::message("Hi").with_custom_id("jan-1"))?;
    assert_ne!(annas.response.event.id, first.response.event.id);
    assert_eq!(annas.response.event.custom_id.as_deref(), Some("jan-1"));
    assert_eq!(f.engine.chat(&chat).unwrap().threads.len(), 3);

    // Determinism: same seed and calls, same engine; another seed, other ids.
    assert!(scripted(7) == scripted(7));
    assert_eq!(
        scripted(7).chats().get(0).expect("chat exists").id,
        scripted(7).chats().get(0).expect("chat exists").id
    );
    assert_ne!(
        scripted(7).chats().get(0).expect("chat exists").id,
        scripted(8).chats().get(0).expect("chat exists").id
    );
    Ok(())
}

#[test]
fn r7_customers_cannot_author_system_messages_and_send_event_rejects_files() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, _, jan, eva) = f.ids();
    let (chat, thread) = f.customer_chat(&jan, "Hi", at(0));

    let err = assert_rejected(&mut f.engine, ErrorKind::Authorization, |e| {
        e.as_customer(&jan, at(5))?
            .send_event(chat, NewEvent::system_message("Jan is great", "custom"))
    });
    assert!(
        matches!(&err, Error::NotAllowed { user_id, action: "send a system_message", .. } if *user_id == jan),
        "{err:?}"
    );
    // Not as an initial event of a chat either.
    assert_rejected(&mut f.engine, ErrorKind::Authorization, |e| {
        e.as_customer(&eva, at(5))?
            .start_chat(StartChat::default().with_event(NewEvent::system_message("Hi", "custom")))
    });
    assert!(f.engine.customer_chats(&eva).is_empty());

    // Agents may; a system message has no author.
    let sys = f.engine.as_agent(&anna, at(10))?.send_event(
        chat,
        NewEvent::system_message("Chat transferred", "transfer"),
    )?;
    assert_eq!(sys.response.event.author_id, None);
    assert_eq!(
        sys.response.event.kind,
        EventKind::SystemMessage {
            text: "Chat transferred".into(),
            system_message_type: Some("transfer".into())
        }
    );
    assert_eq!(
        audiences(&sys.pushes),
        vec![
            (f.agents(), Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );

    // send_event never takes a file, from anyone.
    let file_event = || NewEvent::new(EventKind::File(Box::new(png(1024))));
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_customer(&jan, at(15))?.send_event(chat, file_event())
    });
    assert!(
        matches!(
            err,
            Error::InvalidField {
                field: "event.type",
                ..
            }
        ),
        "{err:?}"
    );
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(15))?.send_event(chat, file_event())
    });
    assert!(
        matches!(
            err,
            Error::InvalidField {
                field: "event.type",
                ..
            }
        ),
        "{err:?}"
    );

    // send_file works for customers.
    let out =
        f.engine
            .as_customer(&jan, at(20))?
            .send_file(chat, Some("upload-1".into()), png(2048))?;
    let event = &out.response.event;
    assert_eq!(out.response.thread_id, thread);
    assert_eq!(event.kind, EventKind::File(Box::new(png(2048))));
    assert_eq!(event.author_id.as_ref(), Some(&jan));
    assert_eq!(event.custom_id.as_deref(), Some("upload-1"));
    assert_eq!(event.timestamp, at(20));
    assert_eq!(
        actions(&out.pushes),
        vec!["incoming_event", "incoming_event"]
    );
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (f.agents(), Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    assert!(
        out.pushes
            .iter()
            .all(|p| p.kind.events() == vec![chatio::Event::clone(event)])
    );
    assert_eq!(
        f.engine.chat(&chat).unwrap().threads[0]
            .events
            .last()
            .as_ref(),
        Some(&**event)
    );
    Ok(())
}

#[test]
fn r8_customers_act_only_on_their_own_chats_and_one_chat_per_customer_by_default()
-> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, _, jan, eva) = f.ids();
    let (chat, thread) = f.customer_chat(&jan, "Hi", at(0));
    let rich = f
        .engine
        .as_agent(&anna, at(1))?
        .send_event(chat, rich_event(1, 1))?
        .response
        .event
        .id;

    // Eva can do nothing with Jan's chat.
    let denied = Error::ChatAccessDenied {
        user_id: eva.clone(),
        chat_id: chat,
    };
    let kind = ErrorKind::Authorization;
    let e1 = assert_rejected(&mut f.engine, kind, |e| {
        e.as_customer(&eva, at(5))?
            .send_event(chat, NewEvent::message("Hijack"))
    });
    let e2 = assert_rejected(&mut f.engine, kind, |e| {
        e.as_customer(&eva, at(5))?.send_file(chat, None, pdf(10))
    });
    let e3 = assert_rejected(&mut f.engine, kind, |e| {
        e.as_customer(&eva, at(5))?.close_thread(chat)
    });
    let e4 = assert_rejected(&mut f.engine, kind, |e| {
        e.as_customer(&eva, at(5))?
            .send_typing_indicator(chat, true)
    });
    let e5 = assert_rejected(&mut f.engine, kind, |e| {
        e.as_customer(&eva, at(5))?.send_sneak_peek(chat, "psst")
    });
    let e6 = assert_rejected(&mut f.engine, kind, |e| {
        e.as_customer(&eva, at(5))?
            .update_last_seen_timestamp(chat, None)
    });
    let e7 = assert_rejected(&mut f.engine, kind, |e| {
        e.as_customer(&eva, at(5))?
            .get_chat_threads(chat, &[thread])
    });
    let e8 = assert_rejected(&mut f.engine, kind, |e| {
        e.as_customer(&eva, at(5))?
            .get_chat_threads_summary(chat, chatio::Pagination::default())
    });
    let e9 = assert_rejected(&mut f.engine, kind, |e| {
        e.as_customer(&eva, at(5))?.send_rich_message_postback(
            chat,
            thread,
            rich,
            Postback {
                id: "b0".into(),
                toggled: true,
            },
        )
    });
    for err in [e1, e2, e3, e4, e5, e6, e7, e8, e9] {
        assert_eq!(err, denied);
    }
    let eva_chats = f
        .engine
        .as_customer(&eva, at(5))?
        .get_chats_summary(chatio::Pagination::default())?;
    assert_eq!(eva_chats.total_chats, 0);
    assert!(eva_chats.chats_summary.is_empty());

    // One chat per customer by default, whoever starts it.
    assert_eq!(f.engine.config().max_chats_per_customer, Some(1));
    let limit = Error::ChatLimitReached {
        customer_id: jan.clone(),
        limit: 1,
    };
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_customer(&jan, at(10))?
            .start_chat(StartChat::default())
    });
    assert_eq!(err, limit);
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(10))?
            .start_chat(Some(jan.clone()), StartChat::default())
    });
    assert_eq!(err, limit);
    assert_eq!(f.engine.customer_chats(&jan), &[chat]);

    // Configurable: two chats ...
    let mut two = Fixture::with_config(EngineConfig::with_seed(42).max_chats_per_customer(Some(2)));
    let (a, _) = two.customer_chat(&jan, "first", at(0));
    let (b, _) = two.customer_chat(&jan, "second", at(10));
    let err = assert_rejected(&mut two.engine, ErrorKind::Validation, |e| {
        e.as_customer(&jan, at(20))?
            .start_chat(StartChat::default())
    });
    assert_eq!(
        err,
        Error::ChatLimitReached {
            customer_id: jan.clone(),
            limit: 2
        }
    );
    assert_eq!(two.engine.customer_chats(&jan), &[a, b]);

    // ... or no limit.
    let mut any = Fixture::with_config(EngineConfig::with_seed(42).max_chats_per_customer(None));
    let chats: BTreeSet<_> = (0..5)
        .map(|i| any.customer_chat(&jan, "again", at(i * 10)).0)
        .collect();
    assert_eq!(chats.len(), 5);
    assert_eq!(any.engine.customer_chats(&jan).len(), 5);
    Ok(())
}

/// The system message an `incoming_event` push carries: `(text, system_message_type)`.
fn system_message(push: &chatio::Push) -> (String, Option<String>) {
    let PushKind::IncomingEvent { event, .. } = &push.kind else {
        panic!("not incoming_event: {push:?}");
    };
    assert_eq!(event.author_id, None);
    match &event.kind {
        EventKind::SystemMessage {
            text,
            system_message_type,
        } => (text.clone(), system_message_type.clone()),
        other => panic!("not a system message: {other:?}"),
    }
}

/// `(added ids, removed ids)` of a `chat_users_updated` push.
fn users_updated(push: &chatio::Push) -> (Vec<chatio::UserId>, Vec<chatio::UserId>) {
    let PushKind::ChatUsersUpdated {
        added, removed_ids, ..
    } = &push.kind
    else {
        panic!("not chat_users_updated: {push:?}");
    };
    (
        added.iter().map(|u| u.id().clone()).collect(),
        removed_ids.clone(),
    )
}

#[test]
fn r9_join_and_remove_agents_with_system_messages() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, bob, jan, _) = f.ids();
    let (chat, thread) = f.customer_chat(&jan, "Hi", at(0));
    let everyone = vec![
        (f.agents(), Role::Agent),
        (vec![jan.clone()], Role::Customer),
    ];

    let joined = f
        .engine
        .as_agent(&anna, at(10))?
        .join_chat(chat, std::slice::from_ref(&anna))?;
    assert_eq!(joined.response, ());
    assert_eq!(
        actions(&joined.pushes),
        vec![
            "chat_users_updated",
            "chat_users_updated",
            "incoming_event",
            "incoming_event"
        ]
    );
    assert_eq!(
        audiences(&joined.pushes),
        [everyone.clone(), everyone.clone()].concat()
    );
    for push in &joined.pushes[..2] {
        assert_eq!(users_updated(push), (vec![anna.clone()], vec![]));
    }
    for push in &joined.pushes[2..] {
        assert_eq!(chat_and_thread(push), (chat, thread));
        assert_eq!(
            system_message(push),
            ("Anna joined the chat".into(), Some("agent_joined".into()))
        );
    }
    let c = f.engine.chat(&chat).unwrap();
    assert_eq!(c.agent_ids, vec![anna.clone()]);
    assert_eq!(c.threads[0].user_ids(), vec![jan.clone(), anna.clone()]);
    assert_eq!(c.threads[0].events.len(), 2);

    // An agent may add another.
    let added = f
        .engine
        .as_agent(&anna, at(20))?
        .join_chat(chat, std::slice::from_ref(&bob))?;
    assert_eq!(users_updated(&added.pushes[0]), (vec![bob.clone()], vec![]));
    assert_eq!(
        system_message(&added.pushes[2]),
        ("Bob joined the chat".into(), Some("agent_joined".into()))
    );
    assert_eq!(
        f.engine.chat(&chat).unwrap().agent_ids,
        vec![anna.clone(), bob.clone()]
    );

    // A customer can never be removed.
    let err = assert_rejected(&mut f.engine, ErrorKind::Authorization, |e| {
        e.as_agent(&anna, at(25))?
            .remove_from_chat(chat, &[], std::slice::from_ref(&jan))
    });
    assert!(matches!(err, Error::NotAllowed { .. }), "{err:?}");

    // Bob leaves (no ids: himself).
    let left = f
        .engine
        .as_agent(&bob, at(30))?
        .remove_from_chat(chat, &[], &[])?;
    assert_eq!(
        actions(&left.pushes),
        vec![
            "chat_users_updated",
            "chat_users_updated",
            "incoming_event",
            "incoming_event"
        ]
    );
    assert_eq!(
        audiences(&left.pushes),
        [everyone.clone(), everyone.clone()].concat()
    );
    assert_eq!(users_updated(&left.pushes[1]), (vec![], vec![bob.clone()]));
    assert_eq!(
        system_message(&left.pushes[3]),
        ("Bob left the chat".into(), Some("agent_left".into()))
    );

    // Anna removes herself by name.
    let left = f.engine.as_agent(&anna, at(40))?.remove_from_chat(
        chat,
        std::slice::from_ref(&anna),
        &[],
    )?;
    assert_eq!(users_updated(&left.pushes[0]), (vec![], vec![anna.clone()]));
    assert_eq!(
        system_message(&left.pushes[2]),
        ("Anna left the chat".into(), Some("agent_left".into()))
    );
    let c = f.engine.chat(&chat).unwrap();
    assert!(c.agent_ids.is_empty());
    let notes: Vec<(String, Option<String>)> = c.threads[0]
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::SystemMessage {
                text,
                system_message_type,
            } => Some((text.clone(), system_message_type.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        notes,
        vec![
            ("Anna joined the chat".into(), Some("agent_joined".into())),
            ("Bob joined the chat".into(), Some("agent_joined".into())),
            ("Bob left the chat".into(), Some("agent_left".into())),
            ("Anna left the chat".into(), Some("agent_left".into())),
        ]
    );

    // Joining twice, or leaving a chat one is not in, is refused.
    let _ = f
        .engine
        .as_agent(&anna, at(45))?
        .join_chat(chat, std::slice::from_ref(&anna))?;
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(46))?
            .join_chat(chat, std::slice::from_ref(&anna))
    });
    assert_eq!(
        err,
        Error::AlreadyInChat {
            chat_id: chat,
            agent_id: anna.clone()
        }
    );
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&bob, at(46))?.remove_from_chat(chat, &[], &[])
    });
    assert_eq!(
        err,
        Error::NotInChat {
            chat_id: chat,
            user_id: bob.clone()
        }
    );

    // With no active thread, joining writes no system message and starts no thread.
    f.close(chat, at(50));
    let events_before = f.engine.chat(&chat).unwrap().threads[0].events.len();
    let quiet = f
        .engine
        .as_agent(&bob, at(60))?
        .join_chat(chat, std::slice::from_ref(&bob))?;
    assert_eq!(
        actions(&quiet.pushes),
        vec!["chat_users_updated", "chat_users_updated"]
    );
    let c = f.engine.chat(&chat).unwrap();
    assert_eq!(c.threads.len(), 1);
    assert_eq!(c.threads[0].events.len(), events_before);
    assert_eq!(c.agent_ids, vec![anna.clone(), bob.clone()]);
    Ok(())
}

#[test]
fn r10_typing_indicators_and_sneak_peeks_are_pushed_never_stored() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, bob, jan, _) = f.ids();
    let (chat, _) = f.customer_chat(&jan, "Hi", at(0));
    let before = f.engine.clone();

    // The customer's typing reaches the agents, not the customer itself.
    let out = f
        .engine
        .as_customer(&jan, at(5))?
        .send_typing_indicator(chat, true)?;
    assert_eq!(out.response, ());
    assert_eq!(audiences(&out.pushes), vec![(f.agents(), Role::Agent)]);
    assert_eq!(
        out.pushes[0].kind,
        PushKind::IncomingTypingIndicator {
            chat_id: chat,
            typing_indicator: TypingIndicator {
                author_id: jan.clone(),
                recipients: Recipients::All,
                timestamp: at(5),
                is_typing: true,
            },
        }
    );

    // An agent typing to all: the other agents and the customer, not the author.
    let out =
        f.engine
            .as_agent(&anna, at(6))?
            .send_typing_indicator(chat, Recipients::All, true)?;
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (vec![bob.clone()], Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );

    // Agents-only typing never reaches the customer.
    let out =
        f.engine
            .as_agent(&anna, at(7))?
            .send_typing_indicator(chat, Recipients::Agents, false)?;
    assert_eq!(
        audiences(&out.pushes),
        vec![(vec![bob.clone()], Role::Agent)]
    );
    assert_eq!(
        out.pushes[0].kind,
        PushKind::IncomingTypingIndicator {
            chat_id: chat,
            typing_indicator: TypingIndicator {
                author_id: anna.clone(),
                recipients: Recipients::Agents,
                timestamp: at(7),
                is_typing: false,
            },
        }
    );

    // Sneak peeks go to agents only.
    let out = f
        .engine
        .as_customer(&jan, at(8))?
        .send_sneak_peek(chat, "It was due on Mon")?;
    assert_eq!(audiences(&out.pushes), vec![(f.agents(), Role::Agent)]);
    assert!(!everyone_told(&out.pushes).contains(&jan));
    assert_eq!(
        out.pushes[0].kind,
        PushKind::IncomingSneakPeek {
            chat_id: chat,
            sneak_peek: SneakPeek {
                author_id: jan.clone(),
                timestamp: at(8),
                text: "It was due on Mon".into(),
            },
        }
    );

    // Nothing was stored, not even the time.
    assert!(
        f.engine == before,
        "typing indicators or sneak peeks were stored"
    );
    assert_eq!(f.engine.now(), at(0));
    Ok(())
}

#[test]
fn r11_rich_message_postback_toggles_every_button_with_the_postback_and_pushes_only_while_active()
-> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, _, jan, eva) = f.ids();
    let (chat, thread) = f.customer_chat(&jan, "Hi", at(0));
    let mut message = RichMessage {
        template_id: "cards".into(),
        elements: vec![
            RichElement {
                title: Some("Was this helpful?".into()),
                buttons: vec![button("Yes", "yes"), button("No", "no")],
                ..RichElement::default()
            },
            RichElement {
                title: Some("Again?".into()),
                buttons: vec![button("Sure", "yes"), button("Maybe", "maybe")],
                ..RichElement::default()
            },
        ],
    };
    // Whatever the sender puts in user_ids is dropped.
    message.elements[0].buttons[0].user_ids = vec![eva.clone()];
    let sent = f
        .engine
        .as_agent(&anna, at(10))?
        .send_event(chat, NewEvent::new(EventKind::RichMessage(message)))?;
    let event_id = sent.response.event.id;

    let buttons = |engine: &Engine| -> Vec<(String, Vec<chatio::UserId>)> {
        let c = engine.chat(&chat).unwrap();
        let event = c.threads[0]
            .events
            .iter()
            .find(|e| e.id == event_id)
            .unwrap();
        let EventKind::RichMessage(rich) = &event.kind else {
            panic!("not a rich message");
        };
        rich.elements
            .iter()
            .flat_map(|e| &e.buttons)
            .map(|b| (b.postback_id.clone(), b.user_ids.clone()))
            .collect()
    };
    let state = |yes: &[&chatio::UserId], no: &[&chatio::UserId]| {
        let ids = |v: &[&chatio::UserId]| v.iter().map(|u| (*u).clone()).collect::<Vec<_>>();
        vec![
            ("yes".to_string(), ids(yes)),
            ("no".to_string(), ids(no)),
            ("yes".to_string(), ids(yes)),
            ("maybe".to_string(), vec![]),
        ]
    };
    assert_eq!(buttons(&f.engine), state(&[], &[]));
    let yes = |toggled| Postback {
        id: "yes".into(),
        toggled,
    };

    // Jan presses "yes": both "yes" buttons list Jan; everyone hears of it.
    let out = f
        .engine
        .as_customer(&jan, at(20))?
        .send_rich_message_postback(chat, thread, event_id, yes(true))?;
    assert_eq!(out.response, ());
    assert_eq!(buttons(&f.engine), state(&[&jan], &[]));
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (f.agents(), Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    for push in &out.pushes {
        assert_eq!(
            push.kind,
            PushKind::IncomingRichMessagePostback {
                user_id: jan.clone(),
                chat_id: chat,
                thread_id: thread,
                event_id,
                postback: Box::new(yes(true)),
            }
        );
    }

    // Anna too; pressing again does not list Jan twice; un-pressing removes Jan.
    let _ = f
        .engine
        .as_agent(&anna, at(21))?
        .send_rich_message_postback(chat, thread, event_id, yes(true))?;
    assert_eq!(buttons(&f.engine), state(&[&jan, &anna], &[]));
    let _ = f
        .engine
        .as_customer(&jan, at(22))?
        .send_rich_message_postback(chat, thread, event_id, yes(true))?;
    assert_eq!(buttons(&f.engine), state(&[&jan, &anna], &[]));
    let off = f
        .engine
        .as_customer(&jan, at(23))?
        .send_rich_message_postback(chat, thread, event_id, yes(false))?;
    assert_eq!(off.pushes.len(), 2);
    assert_eq!(buttons(&f.engine), state(&[&anna], &[]));

    // Once the thread is closed the change is kept, but nothing is pushed.
    f.close(chat, at(50));
    let out = f
        .engine
        .as_customer(&jan, at(60))?
        .send_rich_message_postback(
            chat,
            thread,
            event_id,
            Postback {
                id: "no".into(),
                toggled: true,
            },
        )?;
    assert!(out.pushes.is_empty());
    assert_eq!(buttons(&f.engine), state(&[&anna], &[&jan]));

    // No button with that postback, or no such thread: refused.
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_customer(&jan, at(70))?.send_rich_message_postback(
            chat,
            thread,
            event_id,
            Postback {
                id: "nope".into(),
                toggled: true,
            },
        )
    });
    assert_eq!(
        err,
        Error::PostbackNotFound {
            event_id,
            postback_id: "nope".into()
        }
    );
    let first_message = f.engine.chat(&chat).unwrap().threads[0]
        .events
        .get(0)
        .unwrap()
        .id;
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_customer(&jan, at(70))?.send_rich_message_postback(
            chat,
            thread,
            first_message,
            yes(true),
        )
    });
    assert!(matches!(err, Error::PostbackNotFound { .. }), "{err:?}");
    Ok(())
}

#[test]
fn r12_last_seen_timestamp_defaults_to_now_and_never_moves_backwards() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, _, jan, _) = f.ids();
    let (chat, _) = f.customer_chat(&jan, "Hi", at(0));

    let out = f
        .engine
        .as_customer(&jan, at(30))?
        .update_last_seen_timestamp(chat, None)?;
    assert_eq!(out.response, at(30));
    assert_eq!(
        f.engine.chat(&chat).unwrap().last_seen.get(&jan),
        Some(&at(30))
    );
    assert_eq!(
        actions(&out.pushes),
        vec!["last_seen_timestamp_updated", "last_seen_timestamp_updated"]
    );
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (f.agents(), Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    for push in &out.pushes {
        assert_eq!(
            push.kind,
            PushKind::LastSeenTimestampUpdated {
                user_id: jan.clone(),
                chat_id: chat,
                timestamp: at(30),
            }
        );
    }

    // An older (or the same) time answers with the stored one and changes nothing.
    for older in [at(10), at(30)] {
        let before = f.engine.clone();
        let out = f
            .engine
            .as_customer(&jan, at(40))?
            .update_last_seen_timestamp(chat, Some(older))?;
        assert_eq!(out.response, at(30));
        assert!(out.pushes.is_empty());
        assert!(f.engine == before);
    }

    // A later explicit time moves it forward.
    let out = f
        .engine
        .as_customer(&jan, at(40))?
        .update_last_seen_timestamp(chat, Some(at(35)))?;
    assert_eq!(out.response, at(35));
    assert_eq!(out.pushes.len(), 2);

    // A time after now is refused.
    assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_customer(&jan, at(40))?
            .update_last_seen_timestamp(chat, Some(at(41)))
    });

    // It is per user.
    let out = f
        .engine
        .as_agent(&anna, at(50))?
        .update_last_seen_timestamp(chat, None)?;
    assert_eq!(out.response, at(50));
    let c = f.engine.chat(&chat).unwrap();
    assert_eq!(c.last_seen.get(&anna), Some(&at(50)));
    assert_eq!(c.last_seen.get(&jan), Some(&at(35)));
    Ok(())
}

#[test]
fn r13_multicast_to_agents_and_customers() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, bob, jan, eva) = f.ids();
    let before = f.engine.clone();
    let content = json!({"example": {"nested": "json"}});
    let expected = PushKind::IncomingMulticast {
        author_id: anna.clone(),
        content: content.clone(),
    };

    // All agents (but the author) and two customers.
    let out = f.engine.as_agent(&anna, at(5))?.multicast(
        &MulticastScopes {
            all_agents: true,
            customer_ids: vec![jan.clone(), eva.clone(), jan.clone()],
            ..MulticastScopes::default()
        },
        content.clone(),
    )?;
    assert_eq!(out.response, ());
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (vec![bob.clone()], Role::Agent),
            (vec![eva.clone(), jan.clone()], Role::Customer)
        ]
    );
    assert!(out.pushes.iter().all(|p| p.kind == expected));

    // By group, by agent id, customers only.
    let by_group = f.engine.as_agent(&anna, at(6))?.multicast(
        &MulticastScopes {
            groups: vec![GroupId(2)],
            ..MulticastScopes::default()
        },
        content.clone(),
    )?;
    assert_eq!(
        audiences(&by_group.pushes),
        vec![(vec![bob.clone()], Role::Agent)]
    );
    let by_id = f.engine.as_agent(&bob, at(7))?.multicast(
        &MulticastScopes {
            agent_ids: vec![anna.clone()],
            ..MulticastScopes::default()
        },
        json!("ping"),
    )?;
    assert_eq!(
        audiences(&by_id.pushes),
        vec![(vec![anna.clone()], Role::Agent)]
    );
    assert_eq!(
        by_id.pushes[0].kind,
        PushKind::IncomingMulticast {
            author_id: bob.clone(),
            content: json!("ping")
        }
    );
    let customers = f.engine.as_agent(&anna, at(8))?.multicast(
        &MulticastScopes {
            customer_ids: vec![jan.clone()],
            ..MulticastScopes::default()
        },
        content.clone(),
    )?;
    assert_eq!(
        audiences(&customers.pushes),
        vec![(vec![jan.clone()], Role::Customer)]
    );

    // Nothing stored.
    assert!(f.engine == before, "a multicast changed the engine");

    // Naming nobody, or someone unknown, is refused.
    assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(9))?
            .multicast(&MulticastScopes::default(), json!({}))
    });
    let ghost = uid("ghost@example.com");
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(9))?.multicast(
            &MulticastScopes {
                agent_ids: vec![ghost.clone()],
                ..MulticastScopes::default()
            },
            json!({}),
        )
    });
    assert_eq!(err, Error::AgentNotFound(ghost.clone()));
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(9))?.multicast(
            &MulticastScopes {
                customer_ids: vec![ghost.clone()],
                ..MulticastScopes::default()
            },
            json!({}),
        )
    });
    assert_eq!(err, Error::CustomerNotFound(ghost));
    Ok(())
}

#[test]
fn r14_update_customer_pushes_once_per_active_chat() -> Result<(), Error> {
    let mut f = Fixture::with_config(EngineConfig::with_seed(42).max_chats_per_customer(Some(3)));
    let (_, _, jan, eva) = f.ids();
    let (a, _) = f.customer_chat(&jan, "a", at(0));
    let (b, _) = f.customer_chat(&jan, "b", at(10));
    let (c, _) = f.customer_chat(&jan, "c", at(20));
    f.close(b, at(30));

    let page = Page {
        url: Some("https://shop.example.com/cart".into()),
        title: Some("Cart".into()),
    };
    let out = f
        .engine
        .as_customer(&jan, at(40))?
        .update_customer(CustomerUpdate {
            name: Some("Jan Kowalski".into()),
            email: Some("jan@example.com".into()),
            fields: [("plan".to_string(), "gold".to_string())].into(),
            current_page: Some(page.clone()),
            ..Default::default()
        })?;
    let customer = &out.response;
    assert_eq!(customer.id, jan);
    assert_eq!(customer.name.as_deref(), Some("Jan Kowalski"));
    assert_eq!(customer.email.as_deref(), Some("jan@example.com"));
    assert_eq!(
        customer.fields.get("plan").map(String::as_str),
        Some("gold")
    );
    assert_eq!(customer.current_page.as_ref(), Some(&page));
    assert_eq!(customer.last_seen_timestamp, Some(at(40)));
    assert_eq!(f.engine.customer(&jan), Some(customer));

    // Once per active chat (a and c, not the closed b), to its agents and customer.
    assert_eq!(actions(&out.pushes), vec!["customer_updated"; 4]);
    let chats: Vec<_> = out
        .pushes
        .iter()
        .map(|p| p.kind.chat_id().unwrap())
        .collect();
    assert_eq!(chats, vec![a, a, c, c]);
    let everyone = vec![
        (f.agents(), Role::Agent),
        (vec![jan.clone()], Role::Customer),
    ];
    assert_eq!(
        audiences(&out.pushes),
        [everyone.clone(), everyone].concat()
    );
    for push in &out.pushes {
        let PushKind::CustomerUpdated { customer: c, .. } = &push.kind else {
            panic!("not customer_updated");
        };
        assert_eq!(c.as_ref(), customer);
    }

    // Fields merge key by key; untouched details stay.
    let out = f
        .engine
        .as_customer(&jan, at(50))?
        .update_customer(CustomerUpdate {
            fields: [("lang".to_string(), "pl".to_string())].into(),
            ..CustomerUpdate::default()
        })?;
    assert_eq!(out.response.name.as_deref(), Some("Jan Kowalski"));
    assert_eq!(
        out.response.fields,
        [
            ("lang".to_string(), "pl".to_string()),
            ("plan".to_string(), "gold".to_string())
        ]
        .into()
    );
    assert_eq!(out.pushes.len(), 4);

    // No active chat, no push.
    let out = f
        .engine
        .as_customer(&eva, at(60))?
        .update_customer(CustomerUpdate {
            name: Some("Eva Nowak".into()),
            ..CustomerUpdate::default()
        })?;
    assert_eq!(out.response.name.as_deref(), Some("Eva Nowak"));
    assert!(out.pushes.is_empty());

    // A malformed e-mail is refused.
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_customer(&jan, at(70))?
            .update_customer(CustomerUpdate {
                email: Some("not an address".into()),
                ..CustomerUpdate::default()
            })
    });
    assert!(matches!(
        err,
        Error::InvalidField {
            field: "customer.email",
            ..
        }
    ));
    Ok(())
}

#[test]
fn r15_pushes_go_to_customer_and_every_agent_who_may_see_the_chat() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, bob, jan, eva) = f.ids();
    let cleo = uid("cleo@example.com");
    f.engine
        .add_agent(Agent::new(cleo.clone(), "Cleo").with_groups([GroupId(1)]))?;

    // No scopes: every agent of the license, and the customer.
    let open = f
        .engine
        .as_customer(&jan, at(0))?
        .start_chat(StartChat::default().with_event(NewEvent::message("Hi")))?;
    assert_eq!(
        audiences(&open.pushes),
        vec![
            (vec![anna.clone(), bob.clone(), cleo.clone()], Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );

    // Scoped to group 1: Anna and Cleo only; Bob may not even act on it.
    let scoped = f.engine.as_customer(&eva, at(10))?.start_chat(
        StartChat::default()
            .with_scopes(Scopes {
                groups: [GroupId(1)].into(),
                ..Scopes::default()
            })
            .with_event(NewEvent::message("Hello group 1")),
    )?;
    let chat = scoped.response.id;
    let group_1 = vec![anna.clone(), cleo.clone()];
    assert_eq!(
        audiences(&scoped.pushes),
        vec![
            (group_1.clone(), Role::Agent),
            (vec![eva.clone()], Role::Customer)
        ]
    );
    let reply = f
        .engine
        .as_agent(&cleo, at(11))?
        .send_event(chat, NewEvent::message("Cleo here"))?;
    assert_eq!(
        audiences(&reply.pushes),
        vec![
            (group_1.clone(), Role::Agent),
            (vec![eva.clone()], Role::Customer)
        ]
    );
    let err = assert_rejected(&mut f.engine, ErrorKind::Authorization, |e| {
        e.as_agent(&bob, at(12))?
            .send_event(chat, NewEvent::message("Bob here"))
    });
    assert_eq!(
        err,
        Error::ChatAccessDenied {
            user_id: bob.clone(),
            chat_id: chat
        }
    );

    // Scoped to one agent by id: an agent may do that, a customer may not (customers scope by
    // groups only, and must not learn which agent ids exist).
    let zoe = f.engine.create_customer();
    let only_bob = Scopes {
        agents: [bob.clone()].into(),
        ..Scopes::default()
    };
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_customer(&zoe, at(13))?
            .start_chat(StartChat::default().with_scopes(only_bob.clone()))
    });
    assert_eq!(
        err,
        Error::InvalidField {
            field: "chat.scopes.agents",
            reason: "customers scope chats by groups only".into()
        }
    );
    let by_id = f
        .engine
        .as_customer(&zoe, at(13))?
        .start_chat(StartChat::default())?
        .response
        .id;
    let scoped = f.engine.as_agent(&anna, at(13))?.update_chat_scopes(
        by_id,
        only_bob.clone(),
        Scopes::default(),
    )?;
    assert_eq!(
        audiences(&scoped.pushes),
        vec![(vec![bob.clone()], Role::Agent)]
    );
    let summary = f
        .engine
        .as_customer(&zoe, at(13))?
        .get_chats_summary(Pagination::default())?;
    assert_eq!(summary.chats_summary[0].scopes, Scopes::default());

    // Filtered by role: an agents-only event is never pushed to the customer ...
    let note = f
        .engine
        .as_agent(&anna, at(14))?
        .send_event(chat, NewEvent::message("internal").to(Recipients::Agents))?;
    assert_eq!(
        audiences(&note.pushes),
        vec![(group_1.clone(), Role::Agent)]
    );

    // ... and a customer's view of a new thread leaves it out.
    let max = f.engine.create_customer();
    let started = f.engine.as_agent(&anna, at(15))?.start_chat(
        Some(max.clone()),
        StartChat::default()
            .with_event(NewEvent::message("Hello Max"))
            .with_event(NewEvent::message("Max looks lost").to(Recipients::Agents)),
    )?;
    let agent_view = push_for(&started.pushes, Role::Agent);
    let customer_view = push_for(&started.pushes, Role::Customer);
    assert_eq!(customer_view.to, vec![max.clone()]);
    assert_eq!(agent_view.kind.events().len(), 2);
    let visible: Vec<String> = customer_view
        .kind
        .events()
        .iter()
        .map(|e| text_of(&e.kind).to_owned())
        .collect();
    assert_eq!(visible, vec!["Hello Max"]);

    // PushAudience::ChatAgentsOnly narrows the agents to those in the chat.
    let mut g = Fixture::with_config(
        EngineConfig::with_seed(42).push_audience(PushAudience::ChatAgentsOnly),
    );
    let started = g
        .engine
        .as_customer(&jan, at(0))?
        .start_chat(StartChat::default().with_event(NewEvent::message("Hi")))?;
    let chat = started.response.id;
    assert_eq!(
        audiences(&started.pushes),
        vec![(vec![jan.clone()], Role::Customer)]
    );
    let joined = g
        .engine
        .as_agent(&anna, at(10))?
        .join_chat(chat, std::slice::from_ref(&anna))?;
    assert_eq!(
        audiences(&joined.pushes),
        vec![
            (vec![anna.clone()], Role::Agent),
            (vec![jan.clone()], Role::Customer),
            (vec![anna.clone()], Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    // Bob may still act on the chat, but is not told about it.
    let bobs = g
        .engine
        .as_agent(&bob, at(20))?
        .send_event(chat, NewEvent::message("Bob here"))?;
    assert_eq!(
        audiences(&bobs.pushes),
        vec![
            (vec![anna.clone()], Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    // An agent who leaves hears about it all the same.
    let left = g
        .engine
        .as_agent(&anna, at(30))?
        .remove_from_chat(chat, &[], &[])?;
    assert_eq!(
        actions(&left.pushes),
        vec!["chat_users_updated", "chat_users_updated", "incoming_event"]
    );
    assert_eq!(
        audiences(&left.pushes),
        vec![
            (vec![jan.clone()], Role::Customer),
            (vec![anna.clone()], Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    Ok(())
}
