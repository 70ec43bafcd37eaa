//! The Agent API facade: every method, its response and pushes, and refused requests.

use crate::common;

use chatio::model::Page;
use chatio::{
    Agent, ChatId, CustomerUpdate, Error, ErrorKind, EventKind, GroupId, MulticastScopes, NewEvent,
    Pagination, Postback, PushKind, Recipients, Role, Scopes, StartChat, ThreadId, User,
};
use common::*;
use serde_json::json;

/// Jan's chat with `threads` threads (all but the last closed), one message each.
fn chat_with_threads(f: &mut Fixture, threads: usize) -> (ChatId, Vec<ThreadId>) {
    let (_, _, jan, _) = f.ids();
    let (chat, first) = f.customer_chat(&jan, "thread 0", at(0));
    let mut ids = vec![first];
    for i in 1..threads {
        let t = i as i64 * 100;
        f.close(chat, at(t));
        let sent = f
            .engine
            .as_customer(&jan, at(t + 10))
            .unwrap()
            .send_event(chat, NewEvent::message(format!("thread {i}")))
            .unwrap();
        ids.push(sent.response.thread_id);
    }
    (chat, ids)
}

/// A chat Eva starts, visible to group 2 only (Bob, not Anna).
fn bobs_only_chat(f: &mut Fixture, t: i64) -> (ChatId, ThreadId) {
    let (_, _, _, eva) = f.ids();
    let out = f
        .engine
        .as_customer(&eva, at(t))
        .unwrap()
        .start_chat(
            StartChat::default()
                .with_scopes(Scopes {
                    groups: [GroupId(2)].into(),
                    ..Scopes::default()
                })
                .with_event(NewEvent::message("For group 2")),
        )
        .unwrap();
    (out.response.id, out.response.thread.id)
}

#[test]
fn as_agent_fixes_identity_and_time_and_refuses_unknown_agents() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, _, jan, _) = f.ids();
    let api = f.engine.as_agent(&anna, at(5))?;
    assert_eq!(api.agent_id(), &anna);
    assert_eq!(api.now(), at(5));

    // Time never goes backwards: an earlier `now` is the latest time seen.
    let _ = f.customer_chat(&jan, "Hi", at(100));
    assert_eq!(f.engine.as_agent(&anna, at(50))?.now(), at(100));

    // Unknown agents, and customers, may not use the Agent API.
    let ghost = uid("ghost@example.com");
    let err = assert_rejected(&mut f.engine, ErrorKind::Authentication, |e| {
        e.as_agent(&ghost, at(200)).map(|_| ())
    });
    assert_eq!(err, Error::UnknownRequester(ghost));
    let err = assert_rejected(&mut f.engine, ErrorKind::Authentication, |e| {
        e.as_agent(&jan, at(200)).map(|_| ())
    });
    assert_eq!(err, Error::UnknownRequester(jan));
    Ok(())
}

#[test]
fn login_returns_profile_and_the_active_chats_it_may_see_newest_first() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, bob, jan, _) = f.ids();
    let (jans, jans_thread) = f.customer_chat(&jan, "Hi", at(0));
    let (evas, _) = bobs_only_chat(&mut f, 10);

    let login = f.engine.as_agent(&anna, at(20))?.login()?;
    assert_eq!(login.my_profile.id, anna);
    assert_eq!(login.my_profile.name, "Anna");
    assert_eq!(login.my_profile.groups, vec![GroupId(1)]);
    let ids: Vec<ChatId> = login.chats_summary.iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![jans], "Anna may not see Eva's group-2 chat");

    let login = f.engine.as_agent(&bob, at(20))?.login()?;
    assert_eq!(login.my_profile.name, "Bob");
    let ids: Vec<ChatId> = login.chats_summary.iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![evas, jans], "newest first");
    let summary = &login.chats_summary[1];
    assert_eq!(
        summary.users.iter().map(User::id).collect::<Vec<_>>(),
        vec![&jan]
    );
    assert!(summary.scopes.is_empty());
    let last = summary.last_thread_summary.as_ref().unwrap();
    assert_eq!(last.id, jans_thread);
    assert!(last.active && last.events.is_empty());
    assert_eq!(summary.order, f.engine.chat(&jans).unwrap().order());
    assert_eq!(
        text_of(&summary.last_event_per_type["message"].event.kind),
        "Hi"
    );

    // A closed chat is not listed; an event to it lists it again, first.
    f.close(jans, at(30));
    let ids: Vec<ChatId> = f
        .engine
        .as_agent(&bob, at(31))?
        .login()?
        .chats_summary
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, vec![evas]);
    let _ = f
        .engine
        .as_customer(&jan, at(40))?
        .send_event(jans, NewEvent::message("Back"))?;
    let ids: Vec<ChatId> = f
        .engine
        .as_agent(&bob, at(41))?
        .login()?
        .chats_summary
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, vec![jans, evas]);
    Ok(())
}

#[test]
fn login_summary_has_the_last_event_per_type_and_the_last_thread_summary() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, _, jan, _) = f.ids();
    let started = f.engine.as_customer(&jan, at(0))?.start_chat(
        StartChat::default()
            .with_event(prechat_form(Some("Jan")))
            .with_event(NewEvent::message("Hi")),
    )?;
    let chat = started.response.id;
    let first = started.response.thread.clone();
    let _ = f
        .engine
        .as_agent(&anna, at(1))?
        .join_chat(chat, std::slice::from_ref(&anna))?;
    let _ = f
        .engine
        .as_agent(&anna, at(2))?
        .send_event(chat, rich_event(1, 2))?;
    let _ = f
        .engine
        .as_agent(&anna, at(3))?
        .send_event(chat, custom_event("order", json!(1234)))?;
    let _ = f
        .engine
        .as_agent(&anna, at(4))?
        .send_event(chat, NewEvent::annotation("", "tagged"))?;
    let _ = f
        .engine
        .as_customer(&jan, at(5))?
        .send_file(chat, None, png(100))?;
    f.close(chat, at(6));
    let second = f
        .engine
        .as_customer(&jan, at(10))?
        .send_event(chat, NewEvent::message("Me again"))?;
    let note = f
        .engine
        .as_agent(&anna, at(11))?
        .send_event(chat, NewEvent::message("VIP").to(Recipients::Agents))?;

    let login = f.engine.as_agent(&anna, at(12))?.login()?;
    let summary = &login.chats_summary[0];
    let types: Vec<&str> = summary
        .last_event_per_type
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        types,
        vec![
            "annotation",
            "custom",
            "file",
            "filled_form",
            "message",
            "rich_message",
            "system_message"
        ]
    );
    // The agent sees the agents-only note as the latest message, in the second thread.
    let message = &summary.last_event_per_type["message"];
    assert_eq!(message.event, note.response.event);
    assert_eq!(message.thread_id, second.response.thread_id);
    // The others are in the first thread.
    let annotation = &summary.last_event_per_type["annotation"];
    assert_eq!(
        (annotation.thread_id, annotation.thread_order),
        (first.id, first.order)
    );
    assert_eq!(
        annotation.event.kind,
        EventKind::Annotation {
            text: String::new(),
            annotation_type: "tagged".into()
        }
    );
    assert_eq!(
        text_of(&summary.last_event_per_type["system_message"].event.kind),
        "Anna joined the chat"
    );
    assert_eq!(
        summary.last_event_per_type["file"].event.kind,
        EventKind::File(Box::new(png(100)))
    );
    let last = summary.last_thread_summary.as_ref().unwrap();
    assert_eq!(last.id, second.response.thread_id);
    assert!(last.active);
    assert!(last.events.is_empty());
    assert_eq!(last.user_ids(), vec![jan.clone(), anna.clone()]);

    // The customer's summary of the same chat leaves the note out.
    let theirs = f
        .engine
        .as_customer(&jan, at(12))?
        .get_chats_summary(Pagination::default())?;
    let message = &theirs.chats_summary[0].last_event_per_type["message"];
    assert_eq!(message.event, second.response.event);
    Ok(())
}

#[test]
fn get_chat_threads_returns_the_threads_asked_for_and_a_summary_of_all() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, _, jan, _) = f.ids();
    let (chat, threads) = chat_with_threads(&mut f, 3);
    let note = f
        .engine
        .as_agent(&anna, at(400))?
        .send_event(chat, NewEvent::message("internal").to(Recipients::Agents))?;

    let out = f
        .engine
        .as_agent(&anna, at(401))?
        .get_chat_threads(chat, &[threads[2], threads[0]])?;
    assert_eq!(out.id, chat);
    assert_eq!(
        out.users.iter().map(User::id).collect::<Vec<_>>(),
        vec![&jan]
    );
    let asked: Vec<ThreadId> = out.threads.iter().map(|t| t.id).collect();
    assert_eq!(asked, vec![threads[2], threads[0]]);
    assert_eq!(out.threads[0].events.len(), 2);
    assert_eq!(out.threads[0].events.get(1).unwrap(), *note.response.event);
    assert!(out.threads[0].active && !out.threads[1].active);
    let summary: Vec<(ThreadId, usize)> = out
        .threads_summary
        .iter()
        .map(|t| (t.id, t.total_events))
        .collect();
    assert_eq!(
        summary,
        vec![(threads[2], 2), (threads[1], 1), (threads[0], 1)]
    );
    assert!(out.threads_summary[0].order > out.threads_summary[1].order);

    // A thread that is not in the chat is refused.
    let (_, other) = bobs_only_chat(&mut f, 500);
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(501))?
            .get_chat_threads(chat, &[threads[0], other])
    });
    assert_eq!(
        err,
        Error::ThreadNotFound {
            chat_id: chat,
            thread_id: other
        }
    );
    Ok(())
}

#[test]
fn get_chat_threads_summary_pages_newest_first_with_default_and_maximum_limits() -> Result<(), Error>
{
    let mut f = Fixture::new();
    let (anna, _, _, _) = f.ids();
    let (chat, threads) = chat_with_threads(&mut f, 30);
    let page = |offset, limit| Pagination { offset, limit };

    let default = f
        .engine
        .as_agent(&anna, at(5000))?
        .get_chat_threads_summary(chat, Pagination::default())?;
    assert_eq!(default.total_threads, 30);
    assert_eq!(default.threads_summary.len(), 25, "default limit is 25");
    let newest_first: Vec<ThreadId> = threads.iter().rev().take(25).copied().collect();
    assert_eq!(
        default
            .threads_summary
            .iter()
            .map(|t| t.id)
            .collect::<Vec<_>>(),
        newest_first
    );
    assert!(default.threads_summary.iter().all(|t| t.total_events == 1));

    let max = f
        .engine
        .as_agent(&anna, at(5000))?
        .get_chat_threads_summary(chat, page(None, Some(100)))?;
    assert_eq!(max.threads_summary.len(), 30);
    assert_eq!(max.threads_summary[29].id, threads[0]);

    let rest = f
        .engine
        .as_agent(&anna, at(5000))?
        .get_chat_threads_summary(chat, page(Some(25), None))?;
    assert_eq!(
        rest.threads_summary
            .iter()
            .map(|t| t.id)
            .collect::<Vec<_>>(),
        threads[..5].iter().rev().copied().collect::<Vec<_>>()
    );
    let small = f
        .engine
        .as_agent(&anna, at(5000))?
        .get_chat_threads_summary(chat, page(Some(1), Some(2)))?;
    assert_eq!(
        small
            .threads_summary
            .iter()
            .map(|t| t.id)
            .collect::<Vec<_>>(),
        vec![threads[28], threads[27]]
    );
    let beyond = f
        .engine
        .as_agent(&anna, at(5000))?
        .get_chat_threads_summary(chat, page(Some(40), None))?;
    assert!(beyond.threads_summary.is_empty());
    assert_eq!(beyond.total_threads, 30);

    // Over the maximum, or zero: refused.
    for limit in [101, 0] {
        let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
            e.as_agent(&anna, at(5000))?
                .get_chat_threads_summary(chat, page(None, Some(limit)))
        });
        assert_invalid_field(&err, "limit", "threads summary limit");
    }
    Ok(())
}

#[test]
fn start_chat_with_or_without_a_customer() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, bob, jan, eva) = f.ids();

    let out = f.engine.as_agent(&anna, at(0))?.start_chat(
        Some(jan.clone()),
        StartChat::default()
            .with_event(NewEvent::message("Hello Jan, can I help?").with_custom_id("a-1"))
            .with_event(NewEvent::message("He's browsing the cart").to(Recipients::Agents)),
    )?;
    let r = &out.response;
    assert_eq!(
        r.users.iter().map(User::id).collect::<Vec<_>>(),
        vec![&jan, &anna]
    );
    assert!(r.thread.active);
    assert_eq!(r.thread.user_ids(), vec![jan.clone(), anna.clone()]);
    assert_eq!(
        r.thread.events.len(),
        2,
        "the agent sees its agents-only note"
    );
    assert_eq!(
        r.thread.events.get(0).unwrap().custom_id.as_deref(),
        Some("a-1")
    );
    assert!(
        r.thread
            .events
            .iter()
            .all(|e| e.author_id.as_ref() == Some(&anna))
    );
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (vec![anna.clone(), bob.clone()], Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    assert_eq!(push_for(&out.pushes, Role::Agent).kind.events().len(), 2);
    assert_eq!(push_for(&out.pushes, Role::Customer).kind.events().len(), 1);
    let c = f.engine.chat(&r.id).unwrap();
    assert_eq!(c.customer_id.as_ref(), Some(&jan));
    assert_eq!(c.agent_ids, vec![anna.clone()]);
    assert_eq!(f.engine.customer_chats(&jan), &[r.id]);

    // Without a customer, scoped to group 2.
    let out = f.engine.as_agent(&bob, at(10))?.start_chat(
        None,
        StartChat::default().with_scopes(Scopes {
            groups: [GroupId(2)].into(),
            ..Scopes::default()
        }),
    )?;
    assert_eq!(
        out.response.users.iter().map(User::id).collect::<Vec<_>>(),
        vec![&bob]
    );
    assert_eq!(out.response.scopes.groups, [GroupId(2)].into());
    assert!(out.response.thread.events.is_empty());
    assert_eq!(
        audiences(&out.pushes),
        vec![(vec![bob.clone()], Role::Agent)]
    );

    // Refused: a customer that does not exist, a customer at its limit, an initial
    // custom_id used twice, an invalid initial event.
    let ghost = uid("ghost");
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(20))?
            .start_chat(Some(ghost.clone()), StartChat::default())
    });
    assert_eq!(err, Error::CustomerNotFound(ghost));
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(20))?
            .start_chat(Some(jan.clone()), StartChat::default())
    });
    assert_eq!(
        err,
        Error::ChatLimitReached {
            customer_id: jan.clone(),
            limit: 1
        }
    );
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(20))?.start_chat(
            Some(eva.clone()),
            StartChat::default()
                .with_event(NewEvent::message("one").with_custom_id("same"))
                .with_event(NewEvent::message("two").with_custom_id("same")),
        )
    });
    assert_invalid_field(&err, "chat.thread.events.custom_id", "duplicate custom_id");
    for (label, event, field) in invalid_events() {
        let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
            e.as_agent(&anna, at(20))?.start_chat(
                Some(eva.clone()),
                StartChat::default()
                    .with_event(NewEvent::message("fine"))
                    .with_event(event),
            )
        });
        assert_invalid_field(&err, field, label);
    }
    assert!(f.engine.customer_chats(&eva).is_empty());
    Ok(())
}

#[test]
fn join_chat_and_remove_from_chat() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, bob, jan, _) = f.ids();
    let cleo = uid("cleo@example.com");
    f.engine
        .add_agent(Agent::new(cleo.clone(), "Cleo").with_groups([GroupId(2)]))?;
    let everyone = vec![anna.clone(), bob.clone(), cleo.clone()];
    let (chat, thread) = f.customer_chat(&jan, "Hi", at(0));

    // Two at once: one chat_users_updated naming both, then a system message each.
    let out = f
        .engine
        .as_agent(&anna, at(10))?
        .join_chat(chat, &[anna.clone(), cleo.clone()])?;
    assert_eq!(
        actions(&out.pushes),
        vec![
            "chat_users_updated",
            "chat_users_updated",
            "incoming_event",
            "incoming_event",
            "incoming_event",
            "incoming_event"
        ]
    );
    assert_eq!(
        out.pushes[0].kind,
        PushKind::ChatUsersUpdated {
            chat_id: chat,
            added: vec![
                User::Agent(f.engine.agent(&anna).unwrap().clone()),
                User::Agent(f.engine.agent(&cleo).unwrap().clone())
            ],
            removed_ids: vec![],
        }
    );
    assert_eq!(out.pushes[0].to, everyone);
    assert_eq!(out.pushes[1].to, vec![jan.clone()]);
    let texts: Vec<String> = out.pushes[2..]
        .iter()
        .step_by(2)
        .map(|p| text_of(&p.kind.events()[0].kind).to_owned())
        .collect();
    assert_eq!(texts, vec!["Anna joined the chat", "Cleo joined the chat"]);
    assert!(
        out.pushes[2..]
            .iter()
            .all(|p| chat_and_thread(p) == (chat, thread))
    );
    assert_eq!(
        f.engine.chat(&chat).unwrap().agent_ids,
        vec![anna.clone(), cleo.clone()]
    );

    // Anna removes Cleo.
    let out = f.engine.as_agent(&anna, at(20))?.remove_from_chat(
        chat,
        std::slice::from_ref(&cleo),
        &[],
    )?;
    assert_eq!(out.response, ());
    assert_eq!(
        out.pushes[0].kind,
        PushKind::ChatUsersUpdated {
            chat_id: chat,
            added: vec![],
            removed_ids: vec![cleo.clone()],
        }
    );
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (everyone.clone(), Role::Agent),
            (vec![jan.clone()], Role::Customer),
            (everyone.clone(), Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    assert_eq!(
        text_of(&out.pushes[2].kind.events()[0].kind),
        "Cleo left the chat"
    );
    assert_eq!(f.engine.chat(&chat).unwrap().agent_ids, vec![anna.clone()]);

    // Refused: nobody named, an unknown agent, someone already in, an agent outside the
    // chat's scopes, a customer, an agent not in the chat, the same agent twice.
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(30))?.join_chat(chat, &[])
    });
    assert_invalid_field(&err, "agent_ids", "join nobody");
    let ghost = uid("ghost@example.com");
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(30))?
            .join_chat(chat, &[bob.clone(), ghost.clone()])
    });
    assert_eq!(err, Error::AgentNotFound(ghost));
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(30))?
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
        e.as_agent(&anna, at(30))?
            .join_chat(chat, &[bob.clone(), bob.clone()])
    });
    assert_eq!(
        err,
        Error::AlreadyInChat {
            chat_id: chat,
            agent_id: bob.clone()
        }
    );
    let (group_2, _) = bobs_only_chat(&mut f, 40);
    let err = assert_rejected(&mut f.engine, ErrorKind::Authorization, |e| {
        e.as_agent(&bob, at(41))?
            .join_chat(group_2, std::slice::from_ref(&anna))
    });
    assert_eq!(
        err,
        Error::ChatAccessDenied {
            user_id: anna.clone(),
            chat_id: group_2
        }
    );
    let err = assert_rejected(&mut f.engine, ErrorKind::Authorization, |e| {
        e.as_agent(&anna, at(41))?.remove_from_chat(
            chat,
            std::slice::from_ref(&anna),
            std::slice::from_ref(&jan),
        )
    });
    assert!(matches!(
        err,
        Error::NotAllowed {
            action: "remove a customer from a chat",
            ..
        }
    ));
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(41))?
            .remove_from_chat(chat, std::slice::from_ref(&bob), &[])
    });
    assert_eq!(
        err,
        Error::NotInChat {
            chat_id: chat,
            user_id: bob.clone()
        }
    );
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(41))?
            .remove_from_chat(chat, &[anna.clone(), anna.clone()], &[])
    });
    assert_eq!(
        err,
        Error::NotInChat {
            chat_id: chat,
            user_id: anna.clone()
        }
    );
    Ok(())
}

#[test]
fn send_event_takes_every_kind_an_agent_may_send() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, _, jan, _) = f.ids();
    let (chat, thread) = f.customer_chat(&jan, "Hi", at(0));
    let both = vec![
        (f.agents(), Role::Agent),
        (vec![jan.clone()], Role::Customer),
    ];

    let kinds = vec![
        NewEvent::message("Hello"),
        NewEvent::annotation("good lead", "note"),
        custom_event("crm", json!({"id": 7})),
        rich_event(2, 3),
        prechat_form(Some("Jan")),
        NewEvent::system_message("Routing to sales", "routing.assigned"),
    ];
    let mut last_order = 0;
    for (i, event) in kinds.into_iter().enumerate() {
        let expected = event.kind.clone();
        let out = f
            .engine
            .as_agent(&anna, at(10 + i as i64))?
            .send_event(chat, event)?;
        let stored = &out.response.event;
        assert_eq!(out.response.thread_id, thread);
        assert_eq!(stored.kind, expected);
        assert_eq!(stored.timestamp, at(10 + i as i64));
        assert_eq!(stored.recipients, Recipients::All);
        let author = match expected {
            EventKind::SystemMessage { .. } => None,
            _ => Some(anna.clone()),
        };
        assert_eq!(stored.author_id, author);
        assert!(stored.order > last_order);
        last_order = stored.order;
        assert_eq!(
            actions(&out.pushes),
            vec!["incoming_event", "incoming_event"]
        );
        assert_eq!(audiences(&out.pushes), both);
        for push in &out.pushes {
            assert_eq!(
                push.kind,
                PushKind::IncomingEvent {
                    chat_id: chat,
                    thread_id: thread,
                    event: stored.clone()
                }
            );
        }
    }
    assert_eq!(f.engine.chat(&chat).unwrap().threads[0].events.len(), 7);

    // Agents-only: the agents hear of it, the customer does not.
    let out = f
        .engine
        .as_agent(&anna, at(30))?
        .send_event(chat, NewEvent::message("internal").to(Recipients::Agents))?;
    assert_eq!(out.response.event.recipients, Recipients::Agents);
    assert_eq!(audiences(&out.pushes), vec![(f.agents(), Role::Agent)]);
    Ok(())
}

#[test]
fn send_rich_message_postback_toggles_the_agent() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, bob, jan, _) = f.ids();
    let (chat, thread) = f.customer_chat(&jan, "Hi", at(0));
    let rich = f
        .engine
        .as_agent(&anna, at(1))?
        .send_event(chat, rich_event(2, 2))?
        .response
        .event
        .id;
    let pressed = |f: &Fixture| -> Vec<Vec<chatio::UserId>> {
        let event = f.engine.chat(&chat).unwrap().threads[0]
            .events
            .iter()
            .find(|e| e.id == rich)
            .unwrap();
        match &event.kind {
            EventKind::RichMessage(r) => r
                .elements
                .iter()
                .flat_map(|e| e.buttons.iter().map(|b| b.user_ids.clone()))
                .collect(),
            _ => unreachable!(),
        }
    };

    let out = f.engine.as_agent(&bob, at(2))?.send_rich_message_postback(
        chat,
        thread,
        rich,
        Postback {
            id: "b1".into(),
            toggled: true,
        },
    )?;
    assert_eq!(out.response, ());
    assert_eq!(
        pressed(&f),
        vec![vec![], vec![bob.clone()], vec![], vec![bob.clone()]]
    );
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (f.agents(), Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    assert!(out.pushes.iter().all(|p| p.kind
        == PushKind::IncomingRichMessagePostback {
            user_id: bob.clone(),
            chat_id: chat,
            thread_id: thread,
            event_id: rich,
            postback: Box::new(Postback {
                id: "b1".into(),
                toggled: true
            })
        }));

    // On an agents-only rich message the customer is not told.
    let hidden = f
        .engine
        .as_agent(&anna, at(3))?
        .send_event(chat, rich_event(1, 1).to(Recipients::Agents))?
        .response
        .event
        .id;
    let out = f.engine.as_agent(&bob, at(4))?.send_rich_message_postback(
        chat,
        thread,
        hidden,
        Postback {
            id: "b0".into(),
            toggled: true,
        },
    )?;
    assert_eq!(audiences(&out.pushes), vec![(f.agents(), Role::Agent)]);

    // Refused: no such thread, no such event, no such postback.
    let postback = || Postback {
        id: "b0".into(),
        toggled: true,
    };
    let (_, other_thread) = bobs_only_chat(&mut f, 10);
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&bob, at(11))?
            .send_rich_message_postback(chat, other_thread, rich, postback())
    });
    assert_eq!(
        err,
        Error::ThreadNotFound {
            chat_id: chat,
            thread_id: other_thread
        }
    );
    let first_message = f.engine.chat(&chat).unwrap().threads[0]
        .events
        .get(0)
        .unwrap()
        .id;
    let other_event = f.engine.chats().get(1).expect("chat exists").threads[0]
        .events
        .get(0)
        .unwrap()
        .id;
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&bob, at(11))?
            .send_rich_message_postback(chat, thread, other_event, postback())
    });
    assert_eq!(
        err,
        Error::EventNotFound {
            thread_id: thread,
            event_id: other_event
        }
    );
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&bob, at(11))?.send_rich_message_postback(
            chat,
            thread,
            first_message,
            postback(),
        )
    });
    assert!(matches!(err, Error::PostbackNotFound { .. }), "{err:?}");
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&bob, at(11))?.send_rich_message_postback(
            chat,
            thread,
            rich,
            Postback {
                id: "b9".into(),
                toggled: false,
            },
        )
    });
    assert_eq!(
        err,
        Error::PostbackNotFound {
            event_id: rich,
            postback_id: "b9".into()
        }
    );
    Ok(())
}

#[test]
fn multicast_reaches_agents_and_customers_but_not_the_author() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, bob, jan, eva) = f.ids();
    let cleo = uid("cleo@example.com");
    f.engine
        .add_agent(Agent::new(cleo.clone(), "Cleo").with_groups([GroupId(2), GroupId(3)]))?;
    let before = f.engine.clone();

    let out = f.engine.as_agent(&anna, at(0))?.multicast(
        &MulticastScopes {
            agent_ids: vec![anna.clone(), bob.clone()],
            groups: vec![GroupId(3)],
            customer_ids: vec![eva.clone()],
            ..MulticastScopes::default()
        },
        json!({"announcement": "maintenance at 22:00"}),
    )?;
    assert_eq!(out.response, ());
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (vec![bob.clone(), cleo.clone()], Role::Agent),
            (vec![eva.clone()], Role::Customer)
        ]
    );
    assert_eq!(out.pushes[0].action(), "incoming_multicast");
    assert_eq!(out.pushes[0].kind.chat_id(), None);
    assert!(!everyone_told(&out.pushes).contains(&jan));
    assert!(f.engine == before);

    // Only the author named: nobody to tell.
    let out = f.engine.as_agent(&anna, at(1))?.multicast(
        &MulticastScopes {
            agent_ids: vec![anna.clone()],
            ..MulticastScopes::default()
        },
        json!(null),
    )?;
    assert!(out.pushes.is_empty());

    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(2))?
            .multicast(&MulticastScopes::default(), json!({"a": 1}))
    });
    assert_invalid_field(&err, "scopes", "empty multicast scopes");
    Ok(())
}

#[test]
fn send_typing_indicator_goes_to_everyone_but_the_author() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, bob, jan, _) = f.ids();
    let (chat, _) = f.customer_chat(&jan, "Hi", at(0));
    let before = f.engine.clone();

    let out = f
        .engine
        .as_agent(&bob, at(5))?
        .send_typing_indicator(chat, Recipients::All, true)?;
    assert_eq!(out.response, ());
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (vec![anna.clone()], Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    assert_eq!(out.pushes[0].action(), "incoming_typing_indicator");
    let out =
        f.engine
            .as_agent(&bob, at(6))?
            .send_typing_indicator(chat, Recipients::Agents, true)?;
    assert_eq!(
        audiences(&out.pushes),
        vec![(vec![anna.clone()], Role::Agent)]
    );
    assert!(f.engine == before);
    Ok(())
}

#[test]
fn close_thread_closes_the_active_thread() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, bob, jan, _) = f.ids();
    let (chat, thread) = f.customer_chat(&jan, "Hi", at(0));
    let out = f.engine.as_agent(&bob, at(100))?.close_thread(chat)?;
    assert_eq!(out.response, ());
    // An agent closing writes `manual_archived` first, then the thread closes.
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (f.agents(), Role::Agent),
            (vec![jan.clone()], Role::Customer),
            (f.agents(), Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    for push in &out.pushes[..2] {
        let PushKind::IncomingEvent { event, .. } = &push.kind else {
            panic!("expected the manual_archived message, got {push:?}");
        };
        assert_eq!(
            event.kind,
            EventKind::SystemMessage {
                text: "Bob archived the chat".into(),
                system_message_type: Some("manual_archived".into())
            }
        );
        assert_eq!(event.author_id, None);
    }
    assert!(out.pushes[2..].iter().all(|p| p.kind
        == PushKind::ThreadClosed {
            chat_id: chat,
            thread_id: thread,
            user_id: Some(bob.clone())
        }));
    let t = &f.engine.chat(&chat).unwrap().threads[0];
    assert!(!t.active);
    assert_eq!(t.closed_at, Some(at(100)));
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(101))?.close_thread(chat)
    });
    assert_eq!(err, Error::NoActiveThread(chat));
    Ok(())
}

#[test]
fn update_last_seen_timestamp_moves_the_agents_time_forward() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, _, jan, _) = f.ids();
    let (chat, _) = f.customer_chat(&jan, "Hi", at(0));
    let out = f
        .engine
        .as_agent(&anna, at(20))?
        .update_last_seen_timestamp(chat, Some(at(15)))?;
    assert_eq!(out.response, at(15));
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (f.agents(), Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    assert!(out.pushes.iter().all(|p| p.kind
        == PushKind::LastSeenTimestampUpdated {
            user_id: anna.clone(),
            chat_id: chat,
            timestamp: at(15)
        }));
    let out = f
        .engine
        .as_agent(&anna, at(30))?
        .update_last_seen_timestamp(chat, None)?;
    assert_eq!(out.response, at(30));
    let out = f
        .engine
        .as_agent(&anna, at(40))?
        .update_last_seen_timestamp(chat, Some(at(25)))?;
    assert_eq!(out.response, at(30));
    assert!(out.pushes.is_empty());
    assert_eq!(
        f.engine.chat(&chat).unwrap().last_seen.get(&anna),
        Some(&at(30))
    );
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(40))?
            .update_last_seen_timestamp(chat, Some(at(41)))
    });
    assert_invalid_field(&err, "timestamp", "future last seen");
    Ok(())
}

#[test]
fn requests_about_unknown_or_hidden_chats_are_refused_and_change_nothing() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, bob, jan, _) = f.ids();
    let (visible, visible_thread) = f.customer_chat(&jan, "Hi", at(0));
    let (hidden, hidden_thread) = bobs_only_chat(&mut f, 10);
    let hidden_event = f.engine.chat(&hidden).unwrap().threads[0]
        .events
        .get(0)
        .unwrap()
        .id;
    let _ = f
        .engine
        .as_agent(&anna, at(11))?
        .join_chat(visible, std::slice::from_ref(&anna))?;

    // (chat, thread, event, expected error kind, expected error)
    let unknown = unknown_chat();
    let cases = [
        (
            unknown,
            visible_thread,
            hidden_event,
            ErrorKind::Validation,
            Error::ChatNotFound(unknown),
        ),
        (
            hidden,
            hidden_thread,
            hidden_event,
            ErrorKind::Authorization,
            Error::ChatAccessDenied {
                user_id: anna.clone(),
                chat_id: hidden,
            },
        ),
    ];
    for (chat, thread, event, kind, expected) in cases {
        let t = at(20);
        let errors = vec![
            assert_rejected(&mut f.engine, kind, |e| {
                e.as_agent(&anna, t)?
                    .send_event(chat, NewEvent::message("x"))
            }),
            assert_rejected(&mut f.engine, kind, |e| {
                e.as_agent(&anna, t)?.close_thread(chat)
            }),
            assert_rejected(&mut f.engine, kind, |e| {
                e.as_agent(&anna, t)?
                    .join_chat(chat, std::slice::from_ref(&anna))
            }),
            assert_rejected(&mut f.engine, kind, |e| {
                e.as_agent(&anna, t)?.remove_from_chat(chat, &[], &[])
            }),
            assert_rejected(&mut f.engine, kind, |e| {
                e.as_agent(&anna, t)?
                    .send_typing_indicator(chat, Recipients::All, true)
            }),
            assert_rejected(&mut f.engine, kind, |e| {
                e.as_agent(&anna, t)?.send_rich_message_postback(
                    chat,
                    thread,
                    event,
                    Postback {
                        id: "b0".into(),
                        toggled: true,
                    },
                )
            }),
            assert_rejected(&mut f.engine, kind, |e| {
                e.as_agent(&anna, t)?.update_last_seen_timestamp(chat, None)
            }),
            assert_rejected(&mut f.engine, kind, |e| {
                e.as_agent(&anna, t)?.get_chat_threads(chat, &[thread])
            }),
            assert_rejected(&mut f.engine, kind, |e| {
                e.as_agent(&anna, t)?
                    .get_chat_threads_summary(chat, Pagination::default())
            }),
        ];
        for err in errors {
            assert_eq!(err, expected);
        }
    }

    // Bob, in group 2, may see the hidden chat.
    let threads = f
        .engine
        .as_agent(&bob, at(20))?
        .get_chat_threads(hidden, &[hidden_thread])?;
    assert_eq!(threads.threads[0].events.len(), 1);
    Ok(())
}

#[test]
fn invalid_events_are_refused_and_change_nothing() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, _, jan, _) = f.ids();
    let (active, _) = f.customer_chat(&jan, "Hi", at(0));
    let events_before = f.engine.chat(&active).unwrap().threads[0].events.len();
    for (label, event, field) in invalid_events() {
        let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
            e.as_agent(&anna, at(10))?.send_event(active, event.clone())
        });
        assert_invalid_field(&err, field, label);
    }
    // Also when the event would have started a new thread.
    f.close(active, at(20));
    for (label, event, field) in invalid_events() {
        let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
            e.as_agent(&anna, at(30))?.send_event(active, event.clone())
        });
        assert_invalid_field(&err, field, label);
    }
    let c = f.engine.chat(&active).unwrap();
    assert_eq!(c.threads.len(), 1);
    assert_eq!(c.threads[0].events.len(), events_before);

    // A valid file is still not for send_event.
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(30))?
            .send_event(active, NewEvent::new(EventKind::File(Box::new(pdf(10)))))
    });
    assert_invalid_field(&err, "event.type", "file via send_event");
    Ok(())
}

#[test]
fn agents_see_customer_updates_in_their_chats() -> Result<(), Error> {
    // update_customer is a Customer API action; agents receive its push and see the result in
    // their queries.
    let mut f = Fixture::new();
    let (anna, _, jan, _) = f.ids();
    let (chat, _) = f.customer_chat(&jan, "Hi", at(0));
    let out = f
        .engine
        .as_customer(&jan, at(10))?
        .update_customer(CustomerUpdate {
            current_page: Some(Page {
                url: Some("https://shop.example.com/".into()),
                title: None,
            }),
            ..CustomerUpdate::default()
        })?;
    let to_agents = push_for(&out.pushes, Role::Agent);
    assert_eq!(to_agents.to, f.agents());
    assert_eq!(to_agents.kind.chat_id(), Some(chat));
    let login = f.engine.as_agent(&anna, at(11))?.login()?;
    let User::Customer(customer) = &login.chats_summary[0].users[0] else {
        panic!("the first user of a chat is its customer");
    };
    assert_eq!(
        customer
            .current_page
            .as_ref()
            .and_then(|p| p.url.as_deref()),
        Some("https://shop.example.com/")
    );
    Ok(())
}

#[test]
fn start_chat_never_leaves_the_agent_locked_out_of_its_own_chat() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, _, _, _) = f.ids();
    // Anna is in group 1; the chat is for group 2.
    let started = f.engine.as_agent(&anna, at(0))?.start_chat(
        None,
        StartChat::default().with_scopes(Scopes {
            groups: [GroupId(2)].into(),
            ..Scopes::default()
        }),
    );
    match started {
        // Either the request is refused like join_chat refuses an agent outside the scopes ...
        Err(err) => assert_eq!(err.kind(), ErrorKind::Authorization),
        // ... or the agent who is in the chat may act on it and is told about it.
        Ok(out) => {
            let chat = out.response.id;
            assert!(everyone_told(&out.pushes).contains(&anna));
            let sent = f
                .engine
                .as_agent(&anna, at(1))?
                .send_event(chat, NewEvent::message("Hello"))?;
            assert!(everyone_told(&sent.pushes).contains(&anna));
            let _ = f
                .engine
                .as_agent(&anna, at(2))?
                .remove_from_chat(chat, &[], &[])?;
        }
    }
    Ok(())
}

// ----- bounded answers (issue 20) -----

#[test]
fn login_lists_at_most_login_chats_newest_first_and_says_where_the_rest_are() {
    let mut limits = chatio::Limits::default();
    limits.login_chats = 3;
    let mut f = Fixture::with_config(chatio::EngineConfig::with_seed(42).limits(limits));
    let anna = f.anna.clone();
    let mut chats = Vec::new();
    for i in 0..7 {
        let customer = f.engine.create_customer();
        chats.push(f.customer_chat(&customer, &format!("chat {i}"), at(i)).0);
    }
    // One closed chat, which login never lists.
    f.close(chats[6], at(20));
    let login = f.engine.as_agent(&anna, at(30)).unwrap().login().unwrap();
    let listed: Vec<ChatId> = login.chats_summary.iter().map(|s| s.id).collect();
    assert_eq!(listed, vec![chats[5], chats[4], chats[3]]);
    assert_eq!(login.total_chats, 6);
    let next = login.next_before_order.expect("more active chats");
    assert_eq!(next, login.chats_summary[2].order);

    // get_filtered_chats, active chats only, continues where login stopped.
    let rest = f
        .engine
        .as_agent(&anna, at(30))
        .unwrap()
        .get_filtered_chats(
            &chatio::query::ChatFilters {
                include_inactive: Some(false),
                ..Default::default()
            },
            chatio::query::ChatsPagination {
                limit: None,
                before_order: Some(next),
            },
        )
        .unwrap();
    let rest_ids: Vec<ChatId> = rest.chats_summary.iter().map(|s| s.id).collect();
    assert_eq!(rest_ids, vec![chats[2], chats[1], chats[0]]);
    assert_eq!(rest.total_chats, 6);
    assert_eq!(rest.next_before_order, None);

    // With room for every chat, nothing points further.
    let mut roomy = Fixture::new();
    let (anna, _, jan, _) = roomy.ids();
    roomy.customer_chat(&jan, "hello", at(0));
    let login = roomy
        .engine
        .as_agent(&anna, at(1))
        .unwrap()
        .login()
        .unwrap();
    assert_eq!((login.chats_summary.len(), login.total_chats), (1, 1));
    assert_eq!(login.next_before_order, None);
}

#[test]
fn get_chat_threads_takes_at_most_100_thread_ids_and_summarizes_the_newest_100_threads() {
    use chatio::query::THREAD_IDS_LIMIT;
    let mut f = Fixture::new();
    let (chat, ids) = chat_with_threads(&mut f, THREAD_IDS_LIMIT + 2);
    let anna = f.anna.clone();
    let too_many: Vec<ThreadId> = ids.iter().copied().take(THREAD_IDS_LIMIT + 1).collect();
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(100_000))?
            .get_chat_threads(chat, &too_many)
    });
    assert_invalid_field(&err, "thread_ids", "101 thread ids");
    let got = f
        .engine
        .as_agent(&anna, at(100_000))
        .unwrap()
        .get_chat_threads(chat, &ids[..THREAD_IDS_LIMIT])
        .unwrap();
    assert_eq!(got.threads.len(), THREAD_IDS_LIMIT);
    assert_eq!(got.total_threads, THREAD_IDS_LIMIT + 2);
    let newest: Vec<ThreadId> = ids.iter().rev().take(THREAD_IDS_LIMIT).copied().collect();
    let summarized: Vec<ThreadId> = got.threads_summary.iter().map(|t| t.id).collect();
    assert_eq!(summarized, newest);
}
