//! Manual routing, one test per edge of chat.io's manual routing diagram
//! (`manual-routing.png`), driven by explicit time and `tick`.
//!
//! Anna (group 1) and Bob (group 2) are online, accepting chats, with 2 free slots each: under
//! manual routing they still get a chat only by replying to it.

mod common;
mod office;

use std::sync::Arc;

use office::*;

use chatio::routing::{ManualRouter, RoutingStatus};
use chatio::{ChatId, PushKind, UserId};
use common::{actions, at};

// ----- the office (tests/office) -----

/// Anna (group 1) and Bob (group 2), 2 slots each, with the manual router, both online and
/// accepting chats: they would take chats if routing gave them any.
fn office() -> Office {
    let mut o = Office::new(Arc::new(ManualRouter), 2, 2);
    let (anna, bob) = (o.anna.clone(), o.bob.clone());
    assert!(o.presence(&anna, true, at(0)).is_empty());
    assert!(o.presence(&bob, true, at(0)).is_empty());
    o
}

// ----- customer writes a message: chat unassigned -----

#[test]
fn customer_writes_chat_unassigned_even_with_free_agents() {
    let mut o = office();
    let (anna, bob) = (o.anna.clone(), o.bob.clone());

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
    assert_eq!(pushes[3].to, [jan]);
    assert_eq!(
        pushed_notes(&pushes),
        [pair("routing.unassigned", UNASSIGNED)]
    );
    assert_eq!(o.notes(chat), [pair("routing.unassigned", UNASSIGNED)]);
    assert_eq!(o.assignee(chat), None);
    assert_eq!(o.agents_in(chat), Vec::<UserId>::new());
    assert_eq!(o.queue(), [chat]);
    assert_eq!(
        o.engine.chat(&chat).unwrap().routing.waiting_since,
        Some(at(10))
    );
    assert_eq!((o.load(&anna), o.load(&bob)), (0, 0));

    // Nothing moves it: not time, not an agent coming online or starting to accept chats.
    assert_eq!(o.engine.next_deadline(), None);
    assert!(o.advance(at(86_400)).is_empty());
    assert!(o.presence(&anna, true, at(86_400)).is_empty());
    let pushes = o.status(&bob, RoutingStatus::AcceptingChats, at(86_401));
    assert_eq!(actions(&pushes), ["agent_updated"]);
    assert_eq!(o.assignee(chat), None);
    assert_eq!(o.queue(), [chat]);
    assert_eq!(o.notes(chat), [pair("routing.unassigned", UNASSIGNED)]);
}

// ----- agent replies: chat assigned to agent -----

#[test]
fn chat_unassigned_agent_replies_chat_assigned_to_that_agent() {
    let mut o = office();
    let (anna, bob) = (o.anna.clone(), o.bob.clone());
    let (jan, chat, _) = o.customer_starts("Hi, my order is late", at(10));

    let pushes = o.agent_writes(&bob, chat, "Hi, Bob here", at(60));

    assert_eq!(
        actions(&pushes),
        [
            "incoming_event",
            "incoming_event",
            "chat_users_updated",
            "chat_users_updated",
            "incoming_event",
            "incoming_event",
            "incoming_chat_thread"
        ]
    );
    assert_eq!(pushes[3].to, [jan]);
    assert_eq!(users_updated(&pushes), [(chat, vec![bob.clone()], vec![])]);
    assert_eq!(
        pushed_notes(&pushes),
        [pair("routing.assigned", "Chat assigned to Bob")]
    );
    assert_eq!(threads_offered_to(&pushes, &bob), [chat]);
    let routing = &o.engine.chat(&chat).unwrap().routing;
    assert_eq!(routing.assignee, Some(bob.clone()));
    assert_eq!(routing.assigned_at, Some(at(60)));
    assert_eq!(routing.waiting_since, None);
    assert_eq!(o.agents_in(chat), vec![bob.clone()]);
    assert_eq!(o.queue(), Vec::<ChatId>::new());
    assert_eq!((o.load(&anna), o.load(&bob)), (0, 1));
    assert_eq!(
        o.notes(chat),
        [
            pair("routing.unassigned", UNASSIGNED),
            pair("routing.assigned", "Chat assigned to Bob"),
        ]
    );
}

#[test]
fn chat_assigned_by_a_reply_the_reply_counts_as_seen() {
    let mut o = office();
    let bob = o.bob.clone();
    let (_, chat, _) = o.customer_starts("Hi, my order is late", at(10));
    o.agent_writes(&bob, chat, "Hi, Bob here", at(60));

    let pushes = o.advance(at(360));

    assert_eq!(
        pushed_notes(&pushes),
        [pair(
            "routing.idle",
            "Chat is idle due to 5 minutes of inactivity"
        )]
    );
    assert_eq!(o.assignee(chat), Some(bob));
}

/// The rule "an offline or not-accepting agent is never assigned a chat" wins over the
/// diagram's "agent replies": the reply is delivered, the chat keeps waiting.
#[test]
fn chat_unassigned_agent_not_accepting_chats_replies_reply_delivered_chat_still_waits() {
    let mut o = office();
    let anna = o.anna.clone();
    o.status(&anna, RoutingStatus::NotAcceptingChats, at(1));
    let (_, chat, _) = o.customer_starts("Hi, my order is late", at(10));

    let pushes = o.agent_writes(&anna, chat, "Hi, Anna here", at(60));

    assert!(pushed_notes(&pushes).is_empty());
    assert_eq!(o.assignee(chat), None);
    assert_eq!(o.load(&anna), 0);
    assert_eq!(o.engine.queue().collect::<Vec<_>>(), vec![chat]);
}

// ----- 5 minutes pass: is the customer's last message seen? -----

/// Jan writes at 10 s; Anna sees it and replies at 60 s, taking the chat.
fn answered_chat(o: &mut Office) -> (UserId, ChatId) {
    let anna = o.anna.clone();
    let (jan, chat, _) = o.customer_starts("Hi, my order is late", at(10));
    o.agent_sees(&anna, chat, at(60));
    o.agent_writes(&anna, chat, "Hi, Anna here. Let me check.", at(60));
    assert_eq!(o.assignee(chat), Some(anna));
    (jan, chat)
}

#[test]
fn five_minutes_pass_last_message_unseen_chat_unassigned() {
    let mut o = office();
    let (anna, bob) = (o.anna.clone(), o.bob.clone());
    let (jan, chat) = answered_chat(&mut o);
    o.customer_writes(&jan, chat, "Any news?", at(100));

    assert!(o.advance(at(399)).is_empty(), "not before 5 minutes");
    assert_eq!(o.assignee(chat), Some(anna.clone()));
    let pushes = o.advance(at(400));

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
        threads_offered_to(&pushes, &bob).is_empty(),
        "Bob is free but routing is manual"
    );
    assert_eq!(o.assignee(chat), None);
    assert_eq!(o.agents_in(chat), Vec::<UserId>::new());
    assert_eq!(o.queue(), [chat]);
    assert_eq!(
        o.engine.chat(&chat).unwrap().routing.waiting_since,
        Some(at(400))
    );
    assert_eq!((o.load(&anna), o.load(&bob)), (0, 0));
    assert_eq!(
        o.notes(chat),
        [
            pair("routing.unassigned", UNASSIGNED),
            pair("routing.assigned", "Chat assigned to Anna"),
            pair(
                "routing.unassigned",
                "Chat is unassigned because Anna hasn't replied in 5 minutes"
            ),
        ]
    );
    assert_eq!(o.engine.next_deadline(), None);

    // Back in "chat unassigned": the next agent who replies takes it.
    let pushes = o.agent_writes(&bob, chat, "Bob here, it ships today", at(500));
    assert_eq!(
        pushed_notes(&pushes),
        [pair("routing.assigned", "Chat assigned to Bob")]
    );
    assert_eq!(o.assignee(chat), Some(bob.clone()));
    assert_eq!((o.load(&anna), o.load(&bob)), (0, 1));
}

#[test]
fn five_minutes_pass_last_message_seen_chat_still_assigned_to_same_agent() {
    let mut o = office();
    let (anna, bob) = (o.anna.clone(), o.bob.clone());
    let (jan, chat) = answered_chat(&mut o);
    o.customer_writes(&jan, chat, "Any news?", at(100));
    o.agent_sees(&anna, chat, at(200));

    assert!(o.advance(at(399)).is_empty());
    let pushes = o.advance(at(400));

    assert_eq!(
        pushed_notes(&pushes),
        [pair(
            "routing.idle",
            "Chat is idle due to 5 minutes of inactivity"
        )]
    );
    assert_eq!(o.assignee(chat), Some(anna.clone()));
    assert_eq!(o.agents_in(chat), vec![anna.clone()]);
    assert_eq!((o.load(&anna), o.load(&bob)), (1, 0));
}

// ----- + 25 minutes: is there a new message? -----

#[test]
fn twenty_five_minutes_pass_no_new_message_chat_archived() {
    let mut o = office();
    let (anna, bob) = (o.anna.clone(), o.bob.clone());
    let (jan, chat) = answered_chat(&mut o);

    assert!(o.advance(at(359)).is_empty());
    assert_eq!(
        pushed_notes(&o.advance(at(360))),
        [pair(
            "routing.idle",
            "Chat is idle due to 5 minutes of inactivity"
        )]
    );
    assert!(o.advance(at(1859)).is_empty(), "not before 25 more minutes");
    assert!(o.engine.chat(&chat).unwrap().is_active());

    let pushes = o.advance(at(1860));

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
    assert_eq!(pushes[3].to, [jan]);
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
    assert_eq!(c.threads[0].closed_at, Some(at(1860)));
    assert_eq!(c.routing.assignee, None);
    assert_eq!(o.load(&anna), 0);
    assert_eq!(o.queue(), Vec::<ChatId>::new());
    assert_eq!(o.engine.next_deadline(), None);
}

#[test]
fn twenty_five_minutes_pass_with_a_new_message_chat_still_assigned_to_same_agent() {
    let mut o = office();
    let anna = o.anna.clone();
    let (jan, chat) = answered_chat(&mut o);
    o.advance(at(360));

    // The customer writes within the 25 minutes and Anna sees it.
    o.customer_writes(&jan, chat, "Thanks, waiting", at(1000));
    o.agent_sees(&anna, chat, at(1010));

    let pushes = o.advance(at(1860));
    assert_eq!(
        pushed_notes(&pushes),
        [pair(
            "routing.idle",
            "Chat is idle due to 5 minutes of inactivity"
        )],
        "idle again at 1300 s, not archived at 1860 s"
    );
    assert!(o.engine.chat(&chat).unwrap().is_active());
    assert_eq!(o.assignee(chat), Some(anna.clone()));
    assert_eq!(o.load(&anna), 1);

    assert!(o.advance(at(2799)).is_empty());
    assert_eq!(
        pushed_notes(&o.advance(at(2800))),
        [pair(
            "routing.archived",
            "Chat archived due to long inactivity"
        )]
    );
}

// ----- chat archived -----

fn archived_chat(o: &mut Office) -> (UserId, ChatId) {
    let (jan, chat) = answered_chat(o);
    o.advance(at(1860));
    assert!(!o.engine.chat(&chat).unwrap().is_active());
    (jan, chat)
}

#[test]
fn chat_archived_agent_replies_from_archives_chat_assigned_to_that_agent() {
    let mut o = office();
    let (anna, bob) = (o.anna.clone(), o.bob.clone());
    let (_, chat) = archived_chat(&mut o);

    let pushes = o.agent_writes(&bob, chat, "Hi Jan, your parcel arrived?", at(5000));

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
    assert_eq!(
        o.notes(chat),
        [pair("routing.assigned", "Chat assigned to Bob")]
    );
    assert_eq!((o.load(&anna), o.load(&bob)), (0, 1));
}

#[test]
fn chat_archived_customer_replies_chat_unassigned() {
    let mut o = office();
    let (anna, bob) = (o.anna.clone(), o.bob.clone());
    let (jan, chat) = archived_chat(&mut o);

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
        [pair("routing.unassigned", UNASSIGNED)]
    );
    assert!(users_updated(&pushes).is_empty());
    assert_eq!(o.notes(chat), [pair("routing.unassigned", UNASSIGNED)]);
    assert_eq!(o.assignee(chat), None);
    assert_eq!(o.queue(), [chat]);
    assert_eq!(
        o.engine.chat(&chat).unwrap().routing.waiting_since,
        Some(at(5000))
    );
    assert_eq!((o.load(&anna), o.load(&bob)), (0, 0));
    assert_eq!(o.engine.next_deadline(), None);
}
