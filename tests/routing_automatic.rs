//! Automatic routing, one test per edge of chat.io's automatic routing diagram
//! (`automatic-routing.png`), driven by explicit time and `tick`.
//!
//! Unless a test says otherwise: Anna (group 1) and Bob (group 2) can hold 2 chats each, the
//! unseen timeout is 5 minutes and the inactivity timeout 25 minutes (the defaults).

mod common;
mod office;

use std::sync::Arc;

use office::*;

use chatio::routing::{AutomaticRouter, RoutingStatus};
use chatio::{
    ChatId, ErrorKind, GroupId, PushKind, Role, Scopes, StartChat, Timestamp, User, UserId,
};
use common::{actions, assert_rejected, at};

// ----- the office (tests/office) -----

/// Anna (group 1, `anna_max` slots) and Bob (group 2, `bob_max` slots), both offline, with
/// the automatic router.
fn office(anna_max: u32, bob_max: u32) -> Office {
    Office::new(Arc::new(AutomaticRouter::default()), anna_max, bob_max)
}

// ----- customer writes a message -----

#[test]
fn customer_writes_no_agent_accepting_chats_chat_unassigned() {
    let mut o = office(2, 2);
    let (anna, bob) = (o.anna.clone(), o.bob.clone());
    // Anna is online but not accepting chats; Bob accepts chats but is offline.
    o.presence(&anna, true, at(0));
    o.status(&anna, RoutingStatus::NotAcceptingChats, at(1));

    let (jan, chat, pushes) = o.customer_starts("Hi, my order is late", at(10));

    assert_eq!(
        actions(&pushes),
        [
            "incoming_chat_thread",
            "incoming_chat_thread",
            "incoming_event",
            "incoming_event"
        ]
    );
    assert_eq!(pushes[0].to, [anna.clone(), bob.clone()]);
    assert_eq!(pushes[1].to, vec![jan.clone()]);
    assert_eq!(
        pushed_notes(&pushes),
        [pair("routing.unassigned", UNASSIGNED)]
    );
    assert_eq!(pushes[3].to, vec![jan.clone()], "the customer is told too");
    assert_eq!(o.notes(chat), [pair("routing.unassigned", UNASSIGNED)]);
    let routing = &o.engine.chat(&chat).unwrap().routing;
    assert_eq!(routing.assignee, None);
    assert_eq!(routing.waiting_since, Some(at(10)));
    assert_eq!(o.queue(), [chat]);
    assert_eq!(o.agents_in(chat), Vec::<UserId>::new());
    assert_eq!((o.load(&anna), o.load(&bob)), (0, 0));
    // An unassigned chat has no timer: a day later it still waits.
    assert_eq!(o.engine.next_deadline(), None);
    assert!(o.advance(at(86_400)).is_empty());
    assert_eq!(o.queue(), [chat]);
}

#[test]
fn customer_writes_agent_accepting_but_no_free_slot_chat_unassigned() {
    let mut o = office(1, 2);
    let (anna, bob) = (o.anna.clone(), o.bob.clone());
    o.presence(&anna, true, at(0));
    let (_, first, _) = o.customer_starts("First!", at(5));
    assert_eq!(o.assignee(first), Some(anna.clone()));
    assert_eq!(o.load(&anna), 1);

    let (jan, chat, pushes) = o.customer_starts("Second", at(10));

    assert_eq!(
        pushed_notes(&pushes),
        [pair("routing.unassigned", UNASSIGNED)]
    );
    assert!(users_updated(&pushes).is_empty());
    assert_eq!(o.notes(chat), [pair("routing.unassigned", UNASSIGNED)]);
    assert_eq!(o.assignee(chat), None);
    assert_eq!(o.queue(), [chat]);
    assert_eq!((o.load(&anna), o.load(&bob)), (1, 0));
    let position = o
        .engine
        .as_customer(&jan, at(70))
        .unwrap()
        .get_queue_position(chat)
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            position.position,
            position.waiting_since,
            position.wait_time
        ),
        (1, at(10), 60)
    );
}

#[test]
fn customer_writes_agent_has_free_slot_chat_assigned() {
    let mut o = office(2, 2);
    let (anna, bob) = (o.anna.clone(), o.bob.clone());
    assert!(o.presence(&anna, true, at(0)).is_empty());

    let (jan, chat, pushes) = o.customer_starts("Hi, my order is late", at(10));

    assert_eq!(
        actions(&pushes),
        [
            "incoming_chat_thread",
            "incoming_chat_thread",
            "chat_users_updated",
            "chat_users_updated",
            "incoming_event",
            "incoming_event",
            "incoming_chat_thread"
        ]
    );
    // Anna joins the chat: everyone in its audience hears of it.
    assert_eq!(users_updated(&pushes), [(chat, vec![anna.clone()], vec![])]);
    assert_eq!(pushes[2].to, [anna.clone(), bob.clone()]);
    assert_eq!(pushes[3].to, vec![jan.clone()]);
    match &pushes[2].kind {
        PushKind::ChatUsersUpdated { added, .. } => {
            assert!(matches!(&added[..], [User::Agent(a)] if a.name == "Anna"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        pushed_notes(&pushes),
        [pair("routing.assigned", "Chat assigned to Anna")]
    );
    // Anna gets the chat with its thread, herself among the users.
    let last = pushes.last().unwrap();
    assert_eq!(
        (last.to.to_vec(), last.role),
        (vec![anna.clone()], Role::Agent)
    );
    match &last.kind {
        PushKind::IncomingChatThread { chat: c } => {
            assert_eq!(c.id, chat);
            let users: Vec<&UserId> = c.users.iter().map(User::id).collect();
            assert_eq!(users, [&jan, &anna]);
            let texts: Vec<_> = c.thread.events.iter().map(|e| e.kind.clone()).collect();
            assert_eq!(texts.len(), 2);
            assert_eq!(
                note(&texts[1]),
                Some(pair("routing.assigned", "Chat assigned to Anna"))
            );
        }
        other => panic!("unexpected {other:?}"),
    }

    let routing = &o.engine.chat(&chat).unwrap().routing;
    assert_eq!(routing.assignee, Some(anna.clone()));
    assert_eq!(routing.assigned_at, Some(at(10)));
    assert_eq!(routing.waiting_since, None);
    assert_eq!(o.agents_in(chat), vec![anna.clone()]);
    assert_eq!(
        o.notes(chat),
        [pair("routing.assigned", "Chat assigned to Anna")]
    );
    assert_eq!(o.queue(), Vec::<ChatId>::new());
    assert_eq!((o.load(&anna), o.load(&bob)), (1, 0));
    assert_eq!(
        o.engine
            .as_customer(&jan, at(11))
            .unwrap()
            .get_queue_position(chat)
            .unwrap(),
        None
    );
}

// ----- 5 minutes pass: is the customer's last message seen? -----

#[test]
fn five_minutes_pass_last_message_unseen_chat_assigned_to_another_agent() {
    let mut o = office(2, 2);
    let (anna, bob) = (o.anna.clone(), o.bob.clone());
    o.presence(&anna, true, at(0));
    let (jan, chat, _) = o.customer_starts("Hello?", at(10));
    assert_eq!(o.assignee(chat), Some(anna.clone()));
    // Bob comes online: nothing waits, so nothing happens.
    assert!(o.presence(&bob, true, at(20)).is_empty());

    assert!(o.advance(at(309)).is_empty(), "not before 5 minutes");
    assert_eq!(o.assignee(chat), Some(anna.clone()));

    let pushes = o.advance(at(310));
    assert_eq!(
        pushed_notes(&pushes),
        [pair(
            "routing.assigned",
            "Chat assigned to Bob because Anna hasn't replied in 5 minutes"
        )]
    );
    assert_eq!(
        users_updated(&pushes),
        [(chat, vec![bob.clone()], vec![anna.clone()])]
    );
    assert_eq!(threads_offered_to(&pushes, &bob), [chat]);
    assert!(
        pushes.iter().any(|p| p.to == [jan.clone()]),
        "the customer is told"
    );
    assert_eq!(o.assignee(chat), Some(bob.clone()));
    assert_eq!(o.agents_in(chat), vec![bob.clone()], "Anna left the chat");
    assert_eq!(
        o.engine.chat(&chat).unwrap().routing.assigned_at,
        Some(at(310))
    );
    assert_eq!((o.load(&anna), o.load(&bob)), (0, 1));
    assert_eq!(
        o.notes(chat),
        [
            pair("routing.assigned", "Chat assigned to Anna"),
            pair(
                "routing.assigned",
                "Chat assigned to Bob because Anna hasn't replied in 5 minutes"
            ),
        ]
    );
    // Bob, in turn, has 5 minutes from his assignment.
    assert!(o.advance(at(609)).is_empty());
    assert_eq!(o.assignee(chat), Some(bob.clone()));
}

#[test]
fn five_minutes_pass_last_message_unseen_no_other_agent_chat_unassigned() {
    let mut o = office(2, 2);
    let (anna, bob) = (o.anna.clone(), o.bob.clone());
    o.presence(&anna, true, at(0));
    // Bob is online but takes no chats.
    o.presence(&bob, true, at(0));
    o.status(&bob, RoutingStatus::NotAcceptingChats, at(1));
    let (jan, chat, _) = o.customer_starts("Hello?", at(10));
    assert_eq!(o.assignee(chat), Some(anna.clone()));

    let pushes = o.advance(at(310));

    assert_eq!(
        pushed_notes(&pushes),
        [pair(
            "routing.unassigned",
            "Chat is unassigned because Anna hasn't replied in 5 minutes"
        )]
    );
    assert_eq!(users_updated(&pushes), [(chat, vec![], vec![anna.clone()])]);
    assert!(
        pushes.iter().any(|p| p.to == [jan.clone()]),
        "the customer is told"
    );
    assert!(
        threads_offered_to(&pushes, &anna).is_empty(),
        "not bounced back to Anna"
    );
    assert_eq!(o.assignee(chat), None);
    assert_eq!(
        o.agents_in(chat),
        Vec::<UserId>::new(),
        "Anna left the chat"
    );
    assert_eq!(o.queue(), [chat]);
    assert_eq!(
        o.engine.chat(&chat).unwrap().routing.waiting_since,
        Some(at(310))
    );
    assert_eq!((o.load(&anna), o.load(&bob)), (0, 0));
    assert_eq!(
        o.notes(chat),
        [
            pair("routing.assigned", "Chat assigned to Anna"),
            pair(
                "routing.unassigned",
                "Chat is unassigned because Anna hasn't replied in 5 minutes"
            ),
        ]
    );
    assert_eq!(o.engine.next_deadline(), None);
}

#[test]
fn five_minutes_pass_last_message_seen_via_last_seen_chat_still_assigned_to_same_agent() {
    let mut o = office(2, 2);
    let (anna, bob) = (o.anna.clone(), o.bob.clone());
    o.presence(&anna, true, at(0));
    o.presence(&bob, true, at(0));
    let (_, chat, _) = o.customer_starts("Hello?", at(10));
    assert_eq!(o.assignee(chat), Some(anna.clone()));
    o.agent_sees(&anna, chat, at(100));

    assert!(o.advance(at(309)).is_empty());
    let pushes = o.advance(at(310));

    assert_eq!(
        pushed_notes(&pushes),
        [pair(
            "routing.idle",
            "Chat is idle due to 5 minutes of inactivity"
        )]
    );
    assert!(users_updated(&pushes).is_empty());
    assert_eq!(o.assignee(chat), Some(anna.clone()));
    assert_eq!(o.agents_in(chat), vec![anna.clone()]);
    assert!(o.engine.chat(&chat).unwrap().routing.idle);
    assert!(o.engine.chat(&chat).unwrap().is_active());
    assert_eq!((o.load(&anna), o.load(&bob)), (1, 0));
}

#[test]
fn five_minutes_pass_last_message_seen_via_assignee_reply_chat_still_assigned_to_same_agent() {
    let mut o = office(2, 2);
    let (anna, bob) = (o.anna.clone(), o.bob.clone());
    o.presence(&anna, true, at(0));
    o.presence(&bob, true, at(0));
    let (_, chat, _) = o.customer_starts("Hello?", at(10));
    let pushes = o.agent_writes(&anna, chat, "Hi, Anna here", at(60));
    assert_eq!(actions(&pushes), ["incoming_event", "incoming_event"]);

    assert!(
        o.advance(at(359)).is_empty(),
        "5 quiet minutes have not passed yet"
    );
    assert_eq!(o.assignee(chat), Some(anna.clone()));
    let pushes = o.advance(at(360));
    assert_eq!(
        pushed_notes(&pushes),
        [pair(
            "routing.idle",
            "Chat is idle due to 5 minutes of inactivity"
        )]
    );
    assert_eq!(o.assignee(chat), Some(anna.clone()));
    assert_eq!((o.load(&anna), o.load(&bob)), (1, 0));
}

#[test]
fn five_minutes_pass_last_seen_before_the_customer_message_is_not_seen() {
    let mut o = office(2, 2);
    let (anna, bob) = (o.anna.clone(), o.bob.clone());
    o.presence(&anna, true, at(0));
    o.presence(&bob, true, at(0));
    let (_, chat, _) = o.customer_starts("Hello?", at(10));
    // Anna has seen the chat only up to a moment before the customer's message.
    let out = o
        .engine
        .as_agent(&anna, at(100))
        .unwrap()
        .update_last_seen_timestamp(chat, Some(at(9)))
        .unwrap();
    assert_eq!(out.response, at(9));

    let pushes = o.advance(at(310));
    assert_eq!(
        pushed_notes(&pushes),
        [pair(
            "routing.assigned",
            "Chat assigned to Bob because Anna hasn't replied in 5 minutes"
        )]
    );
    assert_eq!(o.assignee(chat), Some(bob));
}

#[test]
fn five_minutes_pass_customer_writing_again_does_not_postpone_the_check() {
    let mut o = office(2, 2);
    let (anna, bob) = (o.anna.clone(), o.bob.clone());
    o.presence(&anna, true, at(0));
    o.presence(&bob, true, at(0));
    let (jan, chat, _) = o.customer_starts("Hello?", at(10));
    assert_eq!(o.assignee(chat), Some(anna.clone()));
    // Anna never looks; Jan keeps asking every 4 minutes.
    o.customer_writes(&jan, chat, "Anyone there?", at(250));

    let pushes = o.advance(at(310));

    assert_eq!(
        pushed_notes(&pushes),
        [pair(
            "routing.assigned",
            "Chat assigned to Bob because Anna hasn't replied in 5 minutes"
        )]
    );
    assert_eq!(o.assignee(chat), Some(bob));
}

#[test]
fn five_minutes_pass_message_sent_after_last_seen_in_the_same_second_is_not_seen() {
    let mut o = office(2, 2);
    let (anna, bob) = (o.anna.clone(), o.bob.clone());
    o.presence(&anna, true, at(0));
    o.presence(&bob, true, at(0));
    let (jan, chat, _) = o.customer_starts("Hello?", at(10));
    o.agent_writes(&anna, chat, "Hi, how can I help?", at(100));
    // Anna marks the chat seen, then, within the same second, Jan writes.
    o.agent_sees(&anna, chat, at(200));
    o.customer_writes(&jan, chat, "My order is late", at(200));

    let pushes = o.advance(at(500));

    assert_eq!(
        pushed_notes(&pushes),
        [pair(
            "routing.assigned",
            "Chat assigned to Bob because Anna hasn't replied in 5 minutes"
        )]
    );
    assert_eq!(o.assignee(chat), Some(bob));
}

// ----- + 25 minutes: is there a new message? -----

/// Jan writes at 10 s, Anna (the only agent online) sees it at 60 s: the chat goes idle at
/// 310 s and is archived at 1810 s.
fn seen_chat(o: &mut Office) -> (UserId, ChatId) {
    let anna = o.anna.clone();
    o.presence(&anna, true, at(0));
    let (jan, chat, _) = o.customer_starts("Hello?", at(10));
    assert_eq!(o.assignee(chat), Some(anna.clone()));
    o.agent_sees(&anna, chat, at(60));
    let pushes = o.advance(at(310));
    assert_eq!(
        pushed_notes(&pushes),
        [pair(
            "routing.idle",
            "Chat is idle due to 5 minutes of inactivity"
        )]
    );
    (jan, chat)
}

fn archived_chat(o: &mut Office) -> (UserId, ChatId) {
    let (jan, chat) = seen_chat(o);
    o.advance(at(1810));
    assert!(!o.engine.chat(&chat).unwrap().is_active());
    (jan, chat)
}

#[test]
fn twenty_five_minutes_pass_no_new_message_chat_archived() {
    let mut o = office(2, 2);
    let (anna, bob) = (o.anna.clone(), o.bob.clone());
    let (jan, chat) = seen_chat(&mut o);

    assert!(o.advance(at(1809)).is_empty(), "not before 25 more minutes");
    assert!(o.engine.chat(&chat).unwrap().is_active());

    let pushes = o.advance(at(1810));
    assert_eq!(
        actions(&pushes),
        [
            "incoming_event",
            "incoming_event",
            "thread_closed",
            "thread_closed"
        ]
    );
    assert_eq!(
        pushed_notes(&pushes),
        [pair(
            "routing.archived",
            "Chat archived due to long inactivity"
        )]
    );
    let thread_id = o.engine.chat(&chat).unwrap().threads[0].id;
    assert_eq!(pushes[2].to, [anna.clone(), bob.clone()]);
    assert_eq!(pushes[3].to, vec![jan.clone()]);
    for push in &pushes[2..] {
        assert_eq!(
            push.kind,
            PushKind::ThreadClosed {
                chat_id: chat,
                thread_id,
                user_id: None
            }
        );
    }
    let c = o.engine.chat(&chat).unwrap();
    assert!(!c.threads[0].active);
    assert_eq!(c.threads[0].closed_at, Some(at(1810)));
    assert_eq!(c.routing.assignee, None);
    assert_eq!(
        o.notes(chat),
        [
            pair("routing.assigned", "Chat assigned to Anna"),
            pair(
                "routing.idle",
                "Chat is idle due to 5 minutes of inactivity"
            ),
            pair("routing.archived", "Chat archived due to long inactivity"),
        ]
    );
    assert_eq!(o.load(&anna), 0);
    assert_eq!(o.queue(), Vec::<ChatId>::new());
    assert_eq!(o.engine.next_deadline(), None);
}

#[test]
fn twenty_five_minutes_pass_with_a_new_message_chat_not_archived() {
    let mut o = office(2, 2);
    let anna = o.anna.clone();
    let (_, chat) = seen_chat(&mut o);

    // Anna writes 1000 s in: the quiet period starts again.
    o.agent_writes(&anna, chat, "Anything else I can do?", at(1000));
    let pushes = o.advance(at(1810));
    assert_eq!(
        pushed_notes(&pushes),
        [pair(
            "routing.idle",
            "Chat is idle due to 5 minutes of inactivity"
        )],
        "idle again at 1300 s, not archived at 1810 s"
    );
    assert!(o.engine.chat(&chat).unwrap().is_active());
    assert_eq!(o.assignee(chat), Some(anna.clone()));
    assert_eq!(o.load(&anna), 1);

    assert!(o.advance(at(2799)).is_empty());
    let pushes = o.advance(at(2800));
    assert_eq!(
        pushed_notes(&pushes),
        [pair(
            "routing.archived",
            "Chat archived due to long inactivity"
        )]
    );
    assert!(!o.engine.chat(&chat).unwrap().is_active());
}

#[test]
fn twenty_five_minutes_new_customer_message_checks_again_whether_it_is_seen() {
    let mut o = office(2, 2);
    let (anna, bob) = (o.anna.clone(), o.bob.clone());
    let (jan, chat) = seen_chat(&mut o);
    o.presence(&bob, true, at(400));

    // The customer writes again; Anna does not see it within 5 minutes.
    o.customer_writes(&jan, chat, "Are you still there?", at(1000));
    assert!(o.advance(at(1299)).is_empty());
    let pushes = o.advance(at(1300));
    assert_eq!(
        pushed_notes(&pushes),
        [pair(
            "routing.assigned",
            "Chat assigned to Bob because Anna hasn't replied in 5 minutes"
        )]
    );
    assert_eq!(o.assignee(chat), Some(bob.clone()));
    assert_eq!((o.load(&anna), o.load(&bob)), (0, 1));
    assert!(o.engine.chat(&chat).unwrap().is_active());
}

// ----- chat archived -----

#[test]
fn chat_archived_customer_replies_chat_routed_again() {
    let mut o = office(2, 2);
    let (anna, bob) = (o.anna.clone(), o.bob.clone());
    let (jan, chat) = archived_chat(&mut o);
    o.presence(&anna, false, at(2000));
    o.presence(&bob, true, at(2000));

    let pushes = o.customer_writes(&jan, chat, "Me again", at(5000));

    let c = o.engine.chat(&chat).unwrap();
    assert_eq!(c.threads.len(), 2, "a new thread");
    assert!(c.threads[1].active);
    assert_eq!(
        actions(&pushes)[..2],
        ["incoming_chat_thread", "incoming_chat_thread"]
    );
    assert_eq!(
        pushed_notes(&pushes),
        [pair("routing.assigned", "Chat assigned to Bob")]
    );
    assert_eq!(users_updated(&pushes), [(chat, vec![bob.clone()], vec![])]);
    assert_eq!(threads_offered_to(&pushes, &bob), [chat]);
    assert_eq!(o.assignee(chat), Some(bob.clone()));
    assert_eq!(
        o.notes(chat),
        [pair("routing.assigned", "Chat assigned to Bob")]
    );
    assert_eq!((o.load(&anna), o.load(&bob)), (0, 1));
}

#[test]
fn chat_archived_customer_replies_no_agent_accepting_chat_unassigned() {
    let mut o = office(2, 2);
    let anna = o.anna.clone();
    let (jan, chat) = archived_chat(&mut o);
    o.status(&anna, RoutingStatus::NotAcceptingChats, at(2000));

    let pushes = o.customer_writes(&jan, chat, "Me again", at(5000));

    assert_eq!(o.engine.chat(&chat).unwrap().threads.len(), 2);
    assert_eq!(
        pushed_notes(&pushes),
        [pair("routing.unassigned", UNASSIGNED)]
    );
    assert_eq!(o.notes(chat), [pair("routing.unassigned", UNASSIGNED)]);
    assert_eq!(o.assignee(chat), None);
    assert_eq!(o.queue(), [chat]);
    assert_eq!(
        o.engine.chat(&chat).unwrap().routing.waiting_since,
        Some(at(5000))
    );
}

#[test]
fn chat_archived_agent_replies_from_archives_chat_assigned_to_that_agent() {
    // Anna has more free slots than Bob, but Bob is the one who replies.
    let mut o = office(6, 2);
    let (anna, bob) = (o.anna.clone(), o.bob.clone());
    let (_, chat) = archived_chat(&mut o);
    o.presence(&bob, true, at(2000));

    let pushes = o.agent_writes(&bob, chat, "Hi Jan, following up on your order", at(5000));

    let c = o.engine.chat(&chat).unwrap();
    assert_eq!(c.threads.len(), 2, "a new thread");
    assert!(c.threads[1].active);
    assert_eq!(
        pushed_notes(&pushes),
        [pair("routing.assigned", "Chat assigned to Bob")]
    );
    assert_eq!(users_updated(&pushes), [(chat, vec![bob.clone()], vec![])]);
    assert_eq!(threads_offered_to(&pushes, &bob), [chat]);
    assert_eq!(o.assignee(chat), Some(bob.clone()));
    assert_eq!((o.load(&anna), o.load(&bob)), (0, 1));
}

// ----- chat unassigned -----

/// Only Anna is online; she lets Jan's message go unseen, so at 310 s the chat is unassigned.
fn timed_out_chat(o: &mut Office) -> (UserId, ChatId) {
    let anna = o.anna.clone();
    o.presence(&anna, true, at(0));
    let (jan, chat, _) = o.customer_starts("Hello?", at(10));
    o.advance(at(310));
    assert_eq!(o.assignee(chat), None);
    assert_eq!(o.queue(), [chat]);
    (jan, chat)
}

#[test]
fn chat_unassigned_agent_replies_chat_assigned() {
    let mut o = office(2, 2);
    let (anna, bob) = (o.anna.clone(), o.bob.clone());
    let (_, chat) = timed_out_chat(&mut o);

    let pushes = o.agent_writes(&anna, chat, "Sorry for the wait!", at(400));

    assert_eq!(
        pushed_notes(&pushes),
        [pair("routing.assigned", "Chat assigned to Anna")]
    );
    assert_eq!(users_updated(&pushes), [(chat, vec![anna.clone()], vec![])]);
    assert_eq!(threads_offered_to(&pushes, &anna), [chat]);
    assert_eq!(o.assignee(chat), Some(anna.clone()));
    assert_eq!(o.agents_in(chat), vec![anna.clone()]);
    assert_eq!(o.queue(), Vec::<ChatId>::new());
    assert_eq!((o.load(&anna), o.load(&bob)), (1, 0));
}

#[test]
fn chat_unassigned_agent_replies_the_reply_counts_as_seen() {
    let mut o = office(2, 2);
    let anna = o.anna.clone();
    let (_, chat) = timed_out_chat(&mut o);
    o.agent_writes(&anna, chat, "Sorry for the wait!", at(400));

    let pushes = o.advance(at(700));

    assert_eq!(
        pushed_notes(&pushes),
        [pair(
            "routing.idle",
            "Chat is idle due to 5 minutes of inactivity"
        )]
    );
    assert_eq!(o.assignee(chat), Some(anna));
}

#[test]
fn chat_unassigned_agent_has_a_free_slot_when_a_thread_closes() {
    let mut o = office(1, 2);
    let (anna, bob) = (o.anna.clone(), o.bob.clone());
    o.presence(&anna, true, at(0));
    let (_, busy, _) = o.customer_starts("First", at(10));
    let (_, jan_chat, _) = o.customer_starts("Second", at(20));
    let (_, mia_chat, _) = o.customer_starts("Third", at(30));
    assert_eq!(o.assignee(busy), Some(anna.clone()));
    assert_eq!(o.queue(), [jan_chat, mia_chat]);

    let pushes = o
        .engine
        .as_agent(&anna, at(100))
        .unwrap()
        .close_thread(busy)
        .unwrap()
        .pushes;

    assert_eq!(
        pushed_notes(&pushes),
        [
            pair("manual_archived", "Anna archived the chat"),
            pair("routing.assigned", "Chat assigned to Anna"),
        ]
    );
    assert_eq!(
        users_updated(&pushes),
        [(jan_chat, vec![anna.clone()], vec![])],
        "the oldest waiting chat"
    );
    assert_eq!(threads_offered_to(&pushes, &anna), [jan_chat]);
    assert_eq!(o.assignee(jan_chat), Some(anna.clone()));
    assert_eq!(
        o.engine.chat(&jan_chat).unwrap().routing.assigned_at,
        Some(at(100))
    );
    assert_eq!(o.queue(), [mia_chat]);
    assert_eq!((o.load(&anna), o.load(&bob)), (1, 0));
}

#[test]
fn chat_unassigned_agent_has_a_free_slot_when_a_chat_is_archived() {
    let mut o = office(1, 2);
    let anna = o.anna.clone();
    let (_, busy) = seen_chat(&mut o);
    let (_, waiting, _) = o.customer_starts("Anyone?", at(400));
    assert_eq!(o.queue(), [waiting]);

    let pushes = o.advance(at(1810));

    assert_eq!(
        pushed_notes(&pushes),
        [
            pair("routing.archived", "Chat archived due to long inactivity"),
            pair("routing.assigned", "Chat assigned to Anna"),
        ]
    );
    assert!(!o.engine.chat(&busy).unwrap().is_active());
    assert_eq!(o.assignee(waiting), Some(anna.clone()));
    assert_eq!(o.queue(), Vec::<ChatId>::new());
    assert_eq!(o.load(&anna), 1);
}

#[test]
fn chat_unassigned_agent_has_a_free_slot_when_it_comes_online() {
    let mut o = office(2, 2);
    let (anna, bob) = (o.anna.clone(), o.bob.clone());
    let (jan, chat, pushes) = o.customer_starts("Hello?", at(10));
    assert_eq!(
        pushed_notes(&pushes),
        [pair("routing.unassigned", UNASSIGNED)]
    );

    let pushes = o.presence(&anna, true, at(100));

    assert_eq!(
        actions(&pushes),
        [
            "chat_users_updated",
            "chat_users_updated",
            "incoming_event",
            "incoming_event",
            "incoming_chat_thread"
        ]
    );
    assert_eq!(pushes[1].to, [jan]);
    assert_eq!(
        pushed_notes(&pushes),
        [pair("routing.assigned", "Chat assigned to Anna")]
    );
    assert_eq!(threads_offered_to(&pushes, &anna), [chat]);
    assert_eq!(o.assignee(chat), Some(anna.clone()));
    assert_eq!(o.queue(), Vec::<ChatId>::new());
    assert_eq!((o.load(&anna), o.load(&bob)), (1, 0));
    assert_eq!(
        o.notes(chat),
        [
            pair("routing.unassigned", UNASSIGNED),
            pair("routing.assigned", "Chat assigned to Anna"),
        ]
    );
    // Her 5 minutes start when she gets the chat.
    assert!(o.advance(at(399)).is_empty());
    assert_eq!(o.assignee(chat), Some(anna));
}

#[test]
fn chat_unassigned_agent_comes_online_takes_waiting_chats_up_to_its_limit() {
    let mut o = office(2, 2);
    let anna = o.anna.clone();
    let (_, c1, _) = o.customer_starts("One", at(10));
    let (_, c2, _) = o.customer_starts("Two", at(20));
    let (_, c3, _) = o.customer_starts("Three", at(30));
    assert_eq!(o.queue(), [c1, c2, c3]);

    let pushes = o.presence(&anna, true, at(100));

    assert_eq!(threads_offered_to(&pushes, &anna), [c1, c2]);
    assert_eq!(
        pushed_notes(&pushes),
        [
            pair("routing.assigned", "Chat assigned to Anna"),
            pair("routing.assigned", "Chat assigned to Anna"),
        ]
    );
    assert_eq!(o.queue(), [c3]);
    assert_eq!(o.load(&anna), 2);
}

#[test]
fn chat_unassigned_agent_has_a_free_slot_when_it_starts_accepting_chats() {
    let mut o = office(2, 2);
    let (anna, bob) = (o.anna.clone(), o.bob.clone());
    o.presence(&anna, true, at(0));
    o.status(&anna, RoutingStatus::NotAcceptingChats, at(1));
    let (_, chat, _) = o.customer_starts("Hello?", at(10));
    assert_eq!(o.queue(), [chat]);

    let pushes = o.status(&anna, RoutingStatus::AcceptingChats, at(100));

    assert_eq!(pushes[0].action(), "agent_updated");
    assert_eq!(pushes[0].to, [anna.clone(), bob.clone()]);
    assert_eq!(
        pushed_notes(&pushes),
        [pair("routing.assigned", "Chat assigned to Anna")]
    );
    assert_eq!(users_updated(&pushes), [(chat, vec![anna.clone()], vec![])]);
    assert_eq!(threads_offered_to(&pushes, &anna), [chat]);
    assert_eq!(o.assignee(chat), Some(anna.clone()));
    assert_eq!(o.load(&anna), 1);
}

// ----- the queue -----

#[test]
fn queue_keeps_arrival_order_and_offers_the_oldest_chat_the_agent_may_serve() {
    let mut o = office(1, 1);
    let (anna, bob) = (o.anna.clone(), o.bob.clone());
    let group_2 = Scopes {
        groups: [GroupId(2)].into(),
        ..Scopes::default()
    };
    let (_, for_group_2, _) = o.customer_starts_with(
        StartChat::default().with_scopes(group_2),
        "Group 2 please",
        at(10),
    );
    let (_, second, _) = o.customer_starts("Second", at(20));
    let (third_customer, third, _) = o.customer_starts("Third", at(30));
    assert_eq!(o.queue(), [for_group_2, second, third]);

    let position = |o: &mut Office, t: Timestamp| {
        o.engine
            .as_customer(&third_customer, t)
            .unwrap()
            .get_queue_position(third)
            .unwrap()
            .map(|p| (p.position, p.waiting_since, p.wait_time))
    };
    assert_eq!(position(&mut o, at(100)), Some((3, at(30), 70)));

    // Anna (group 1) may not serve the group 2 chat: she gets the oldest one she may.
    let pushes = o.presence(&anna, true, at(100));
    assert_eq!(threads_offered_to(&pushes, &anna), [second]);
    assert_eq!(o.assignee(second), Some(anna.clone()));
    assert_eq!(o.queue(), [for_group_2, third]);
    assert_eq!(position(&mut o, at(150)), Some((2, at(30), 120)));

    // Bob (group 2) gets the oldest: the group 2 chat.
    let pushes = o.presence(&bob, true, at(200));
    assert_eq!(threads_offered_to(&pushes, &bob), [for_group_2]);
    assert_eq!(o.assignee(for_group_2), Some(bob.clone()));
    assert_eq!(o.queue(), [third]);
    assert_eq!(position(&mut o, at(300)), Some((1, at(30), 270)));
    assert_eq!((o.load(&anna), o.load(&bob)), (1, 1));
}

#[test]
fn queue_position_is_only_for_the_chat_s_own_customer() {
    let mut o = office(1, 1);
    let (_, chat, _) = o.customer_starts("Hello?", at(10));
    let (eva, _, _) = o.customer_starts("Me too", at(20));
    assert_rejected(&mut o.engine, ErrorKind::Authorization, |e| {
        e.as_customer(&eva, at(30))?.get_queue_position(chat)
    });
}

// ----- found by the simulator (tests/simulation.rs) -----

/// An agent's system message into a closed chat starts a thread; the chat must then be routed
/// like any new thread, not left active, unassigned and out of the queue.
#[test]
fn a_system_message_that_reopens_a_chat_is_routed() {
    let mut o = office(2, 2);
    o.presence(&o.anna.clone(), true, at(0));
    let (_, chat, _) = o.customer_starts("hi", at(1));
    let anna = o.anna.clone();
    let _ = o
        .engine
        .as_agent(&anna, at(2))
        .unwrap()
        .close_thread(chat)
        .unwrap();
    let _ = o
        .engine
        .as_agent(&anna, at(3))
        .unwrap()
        .send_event(
            chat,
            chatio::NewEvent::system_message("We are back", "info"),
        )
        .unwrap();
    let c = o.engine.chat(&chat).unwrap();
    assert!(c.is_active());
    assert_eq!(
        c.routing.assignee.as_ref(),
        Some(&anna),
        "routed to the free agent"
    );
    assert!(o.engine.next_deadline().is_some(), "its timers run");
}

/// `remove_from_chat` naming the assignee and another agent must not hand the chat to that
/// other agent: both were removed by the same request.
#[test]
fn agents_removed_together_do_not_get_the_chat_back() {
    let mut o = office(2, 2);
    let (anna, bob) = (o.anna.clone(), o.bob.clone());
    o.presence(&anna, true, at(0));
    let (_, chat, _) = o.customer_starts("hi", at(1));
    assert_eq!(
        o.engine.chat(&chat).unwrap().routing.assignee.as_ref(),
        Some(&anna)
    );
    o.presence(&bob, true, at(2));
    let _ = o
        .engine
        .as_agent(&bob, at(3))
        .unwrap()
        .join_chat(chat, std::slice::from_ref(&bob))
        .unwrap();
    let _ = o
        .engine
        .as_agent(&anna, at(4))
        .unwrap()
        .remove_from_chat(chat, &[anna.clone(), bob.clone()], &[])
        .unwrap();
    let c = o.engine.chat(&chat).unwrap();
    assert!(c.agent_ids.is_empty(), "{:?}", c.agent_ids);
    assert_eq!(c.routing.assignee, None);
    assert_eq!(
        o.engine.queue().collect::<Vec<_>>(),
        vec![chat],
        "it waits instead"
    );
}
