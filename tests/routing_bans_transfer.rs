//! `ban_customer` and `transfer_chat` under automatic routing.

mod common;

use chatio::model::MAX_BAN_DAYS;
use chatio::routing::{AutomaticRouter, ManualRouter, RoutingStatus};
use chatio::{
    Agent, ChatId, Engine, EngineConfig, Error, ErrorKind, EventKind, GroupId, NewEvent, Push,
    PushKind, Role, Scopes, StartChat, Timestamp, TransferTarget, UserId,
};
use common::{LicenseBuilder, actions, assert_rejected, at, staffed, uid};

const DAY: i64 = 86_400;

// ----- helpers -----

/// An automatic-routing engine with the agents `(id, name, max_chats, group)`, in that
/// registration order, all online and accepting chats.
fn office(agents: &[(&str, &str, u32, u32)]) -> (Engine, Vec<UserId>) {
    let license =
        LicenseBuilder::new(EngineConfig::with_seed(5)).router(AutomaticRouter::default());
    staffed(license, agents)
}

fn new_chat(engine: &mut Engine, t: Timestamp) -> (UserId, ChatId) {
    new_chat_with(engine, StartChat::default(), t)
}

fn new_chat_with(engine: &mut Engine, start: StartChat, t: Timestamp) -> (UserId, ChatId) {
    let customer = engine.create_customer();
    let out = engine
        .as_customer(&customer, t)
        .unwrap()
        .start_chat(start.with_event(NewEvent::message("Hello")))
        .unwrap();
    (customer, out.response.id)
}

fn assignee(engine: &Engine, chat: ChatId) -> Option<UserId> {
    engine.chat(&chat).unwrap().routing.assignee.clone()
}

fn loads(engine: &Engine, ids: &[UserId]) -> Vec<u32> {
    ids.iter()
        .map(|id| engine.agent_status(id).unwrap().load)
        .collect()
}

fn note(kind: &EventKind) -> Option<(String, String)> {
    match kind {
        EventKind::SystemMessage {
            text,
            system_message_type,
        } => Some((
            system_message_type.clone().unwrap_or_default(),
            text.clone(),
        )),
        _ => None,
    }
}

fn pair(t: &str, text: &str) -> (String, String) {
    (t.to_string(), text.to_string())
}

/// System messages of the chat's last thread.
fn notes(engine: &Engine, chat: ChatId) -> Vec<(String, String)> {
    let whole = engine.chat(&chat).unwrap();
    let thread = whole.threads.last().unwrap();
    thread.events.iter().filter_map(|e| note(&e.kind)).collect()
}

/// System messages carried by `incoming_event` pushes to agents.
fn pushed_notes(pushes: &[Push]) -> Vec<(String, String)> {
    pushes
        .iter()
        .filter(|p| p.role == Role::Agent)
        .filter_map(|p| match &p.kind {
            PushKind::IncomingEvent { event, .. } => note(&event.kind),
            _ => None,
        })
        .collect()
}

// ----- ban_customer -----

#[test]
fn ban_customer_closes_active_threads_and_tells_agents_and_the_customer() {
    let (mut engine, ids) = office(&[
        ("anna@example.com", "Anna", 2, 1),
        ("bob@example.com", "Bob", 1, 2),
    ]);
    let (anna, bob) = (ids[0].clone(), ids[1].clone());
    let (jan, chat) = new_chat(&mut engine, at(10));
    assert_eq!(assignee(&engine, chat), Some(anna.clone()));

    let out = engine
        .as_agent(&anna, at(100))
        .unwrap()
        .ban_customer(&jan, 3)
        .unwrap();
    let pushes = out.pushes;

    assert_eq!(
        actions(&pushes),
        [
            "incoming_event",
            "incoming_event",
            "thread_closed",
            "thread_closed",
            "customer_banned",
            "customer_disconnected",
        ]
    );
    let text = "Chat archived because customer was banned by Anna for 3 days";
    assert_eq!(pushed_notes(&pushes), [pair("customer_banned", text)]);
    assert_eq!(pushes[1].to, vec![jan.clone()]);
    let thread_id = engine.chat(&chat).unwrap().threads[0].id;
    assert_eq!(pushes[2].to, [anna.clone(), bob.clone()]);
    assert_eq!(
        pushes[2].kind,
        PushKind::ThreadClosed {
            chat_id: chat,
            thread_id,
            user_id: Some(anna.clone())
        }
    );
    assert_eq!(pushes[3].to, vec![jan.clone()]);
    assert_eq!(
        pushes[4],
        Push {
            to: vec![anna.clone(), bob.clone()].into(),
            role: Role::Agent,
            kind: PushKind::CustomerBanned {
                customer_id: jan.clone(),
                days: 3
            },
        }
    );
    assert_eq!(
        pushes[5],
        Push {
            to: vec![jan.clone()].into(),
            role: Role::Customer,
            kind: PushKind::CustomerDisconnected {
                reason: "customer_banned".into()
            },
        }
    );

    let c = engine.chat(&chat).unwrap();
    assert!(!c.threads[0].active);
    assert_eq!(c.threads[0].closed_at, Some(at(100)));
    assert_eq!(c.routing.assignee, None);
    assert_eq!(
        notes(&engine, chat),
        [
            pair("routing.assigned", "Chat assigned to Anna"),
            pair("customer_banned", text)
        ]
    );
    assert_eq!(loads(&engine, &ids), [0, 0]);
    assert_eq!(
        engine.customer(&jan).unwrap().banned_until,
        Some(at(100 + 3 * DAY))
    );
    // Whatever timer the chat had comes to nothing.
    let later = engine.tick(at(100 + DAY));
    assert!(later.pushes.is_empty());
    assert_eq!(engine.next_deadline(), None);
}

#[test]
fn ban_customer_every_call_of_the_customer_fails_until_the_ban_ends() {
    let (mut engine, ids) = office(&[("anna@example.com", "Anna", 2, 1)]);
    let anna = ids[0].clone();
    let (jan, chat) = new_chat(&mut engine, at(10));
    let _ = engine
        .as_agent(&anna, at(100))
        .unwrap()
        .ban_customer(&jan, 3)
        .unwrap();

    for t in [at(101), at(100 + DAY), at(100 + 3 * DAY - 1)] {
        let err = assert_rejected(&mut engine, ErrorKind::CustomerBanned, |e| {
            e.as_customer(&jan, t)?
                .send_event(chat, NewEvent::message("Let me in"))
        });
        assert_eq!(err.kind().as_str(), "customer_banned");
        assert_rejected(&mut engine, ErrorKind::CustomerBanned, |e| {
            e.as_customer(&jan, t)?.login()
        });
        assert_rejected(&mut engine, ErrorKind::CustomerBanned, |e| {
            e.as_customer(&jan, t)?.get_queue_position(chat)
        });
        assert_rejected(&mut engine, ErrorKind::CustomerBanned, |e| {
            e.as_customer(&jan, t)?
                .update_last_seen_timestamp(chat, None)
        });
    }

    // Three days later the ban is over: Jan writes, a new thread starts and is routed.
    let out = engine
        .as_customer(&jan, at(100 + 3 * DAY))
        .unwrap()
        .send_event(chat, NewEvent::message("Hello again"))
        .unwrap();
    assert_eq!(out.pushes[0].action(), "incoming_chat_thread");
    assert_eq!(engine.chat(&chat).unwrap().threads.len(), 2);
    assert_eq!(assignee(&engine, chat), Some(anna.clone()));
    assert_eq!(
        notes(&engine, chat),
        [pair("routing.assigned", "Chat assigned to Anna")]
    );
}

#[test]
fn ban_customer_frees_the_slot_and_drops_waiting_chats_from_the_queue() {
    let (mut engine, ids) = office(&[("anna@example.com", "Anna", 1, 1)]);
    let anna = ids[0].clone();
    let (eva, eva_chat) = new_chat(&mut engine, at(10));
    let (jan, jan_chat) = new_chat(&mut engine, at(20));
    let (_, mia_chat) = new_chat(&mut engine, at(30));
    assert_eq!(assignee(&engine, eva_chat), Some(anna.clone()));
    assert_eq!(engine.queue().collect::<Vec<_>>(), [jan_chat, mia_chat]);

    // Jan waits: banning him takes his chat out of the queue.
    let _ = engine
        .as_agent(&anna, at(100))
        .unwrap()
        .ban_customer(&jan, 1)
        .unwrap();
    assert!(!engine.chat(&jan_chat).unwrap().is_active());
    assert_eq!(engine.queue().collect::<Vec<_>>(), [mia_chat]);
    assert_eq!(loads(&engine, &ids), [1]);

    // Eva holds Anna's slot: banning her gives the slot to the oldest waiting chat.
    let pushes = engine
        .as_agent(&anna, at(200))
        .unwrap()
        .ban_customer(&eva, 7)
        .unwrap()
        .pushes;
    assert_eq!(
        pushed_notes(&pushes),
        [
            pair(
                "customer_banned",
                "Chat archived because customer was banned by Anna for 7 days"
            ),
            pair("routing.assigned", "Chat assigned to Anna"),
        ]
    );
    assert_eq!(assignee(&engine, mia_chat), Some(anna.clone()));
    assert_eq!(engine.queue().count(), 0);
    assert_eq!(loads(&engine, &ids), [1]);
}

#[test]
fn ban_customer_without_an_active_thread_only_tells() {
    let (mut engine, ids) = office(&[("anna@example.com", "Anna", 1, 1)]);
    let anna = ids[0].clone();
    let (jan, chat) = new_chat(&mut engine, at(10));
    let _ = engine
        .as_agent(&anna, at(20))
        .unwrap()
        .close_thread(chat)
        .unwrap();

    let pushes = engine
        .as_agent(&anna, at(30))
        .unwrap()
        .ban_customer(&jan, 2)
        .unwrap()
        .pushes;
    assert_eq!(
        actions(&pushes),
        ["customer_banned", "customer_disconnected"]
    );
    assert_eq!(
        notes(&engine, chat),
        [
            pair("routing.assigned", "Chat assigned to Anna"),
            pair("manual_archived", "Anna archived the chat"),
        ]
    );
}

#[test]
fn ban_customer_with_zero_days_is_a_validation_error_and_changes_nothing() {
    let (mut engine, ids) = office(&[("anna@example.com", "Anna", 2, 1)]);
    let anna = ids[0].clone();
    let (jan, chat) = new_chat(&mut engine, at(10));

    for days in [0, MAX_BAN_DAYS + 1] {
        assert_rejected(&mut engine, ErrorKind::Validation, |e| {
            e.as_agent(&anna, at(100))?.ban_customer(&jan, days)
        });
    }
    let ghost = uid("customer-ghost");
    assert_rejected(&mut engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(100))?.ban_customer(&ghost, 1)
    });
    assert!(engine.chat(&chat).unwrap().is_active());
    assert_eq!(engine.customer(&jan).unwrap().banned_until, None);
    assert!(
        engine
            .as_customer(&jan, at(200))
            .unwrap()
            .send_event(chat, NewEvent::message("Still here"))
            .is_ok()
    );
}

#[test]
fn ban_customer_needs_a_chat_of_the_customer_the_agent_may_see() {
    // Issue 20: Bob, an administrator of group 2, could ban a customer whose only chat is
    // group 1's, archiving a chat he may not see. The permission alone is not enough.
    let (mut engine, ids) = office(&[
        ("anna@example.com", "Anna", 2, 1),
        ("bob@example.com", "Bob", 2, 2),
    ]);
    let (anna, bob) = (ids[0].clone(), ids[1].clone());
    let group_one = Scopes {
        groups: [GroupId(1)].into(),
        ..Scopes::default()
    };
    let (jan, chat) = new_chat_with(
        &mut engine,
        StartChat::default().with_scopes(group_one),
        at(10),
    );
    let err = assert_rejected(&mut engine, ErrorKind::Authorization, |e| {
        e.as_agent(&bob, at(20))?.ban_customer(&jan, 3)
    });
    assert!(matches!(err, Error::NotAllowed { .. }), "{err}");
    assert!(engine.chat(&chat).unwrap().is_active());
    assert!(!engine.customer(&jan).unwrap().is_banned(at(20)));

    // A customer with no chat at all cannot be banned either.
    let lurker = engine.create_customer();
    assert_rejected(&mut engine, ErrorKind::Authorization, |e| {
        e.as_agent(&anna, at(20))?.ban_customer(&lurker, 1)
    });

    // Anna sees the chat: she may.
    let pushes = engine
        .as_agent(&anna, at(30))
        .unwrap()
        .ban_customer(&jan, 3)
        .unwrap()
        .pushes;
    assert!(!engine.chat(&chat).unwrap().is_active());
    assert!(actions(&pushes).contains(&"customer_banned"));
}

#[test]
fn ban_customer_archives_only_the_chats_the_agent_may_see() {
    let (anna, bob) = (uid("anna@example.com"), uid("bob@example.com"));
    let mut engine = LicenseBuilder::new(EngineConfig::with_seed(5).max_chats_per_customer(None))
        .agent(Agent::new(anna.clone(), "Anna").with_groups([GroupId(1)]))
        .agent(Agent::new(bob.clone(), "Bob").with_groups([GroupId(2)]))
        .build();
    let jan = engine.create_customer();
    let scoped = |g: u32| {
        StartChat::default()
            .with_scopes(Scopes {
                groups: [GroupId(g)].into(),
                ..Scopes::default()
            })
            .with_event(NewEvent::message("Hello"))
    };
    let mine = engine
        .as_customer(&jan, at(0))
        .unwrap()
        .start_chat(scoped(1))
        .unwrap();
    let theirs = engine
        .as_customer(&jan, at(1))
        .unwrap()
        .start_chat(scoped(2))
        .unwrap();
    let (mine, theirs) = (mine.response.id, theirs.response.id);
    let untouched = engine.chat(&theirs).unwrap().clone();

    let out = engine
        .as_agent(&anna, at(10))
        .unwrap()
        .ban_customer(&jan, 1)
        .unwrap();
    assert!(!engine.chat(&mine).unwrap().is_active());
    assert_eq!(engine.chat(&theirs).unwrap(), &untouched);
    // Nobody is told about the chat Anna may not see being closed: it was not.
    assert!(
        out.pushes
            .iter()
            .all(|p| !p.to.contains(&bob) || p.action() == "customer_banned")
    );
    assert!(engine.customer(&jan).unwrap().is_banned(at(10)));
}

// ----- transfer_chat -----

/// Anna (group 1, 4 slots), Bob (group 2, 2 slots), Carl (group 2, 3 slots), all online; Jan's
/// chat goes to Anna, who has the most free slots.
fn transfer_office() -> (Engine, Vec<UserId>, UserId, ChatId) {
    let (mut engine, ids) = office(&[
        ("anna@example.com", "Anna", 4, 1),
        ("bob@example.com", "Bob", 2, 2),
        ("carl@example.com", "Carl", 3, 2),
    ]);
    let (jan, chat) = new_chat(&mut engine, at(10));
    assert_eq!(assignee(&engine, chat), Some(ids[0].clone()));
    (engine, ids, jan, chat)
}

#[test]
fn transfer_chat_to_an_agent() {
    let (mut engine, ids, jan, chat) = transfer_office();
    let (anna, bob, carl) = (ids[0].clone(), ids[1].clone(), ids[2].clone());

    let pushes = engine
        .as_agent(&anna, at(100))
        .unwrap()
        .transfer_chat(chat, &TransferTarget::Agent(bob.clone()))
        .unwrap()
        .pushes;

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
    assert_eq!(
        pushed_notes(&pushes),
        [
            pair("chat_transferred", "Anna transferred the chat to Bob"),
            pair("routing.assigned", "Chat assigned to Bob"),
        ]
    );
    assert_eq!(pushes[0].to, [anna.clone(), bob.clone(), carl.clone()]);
    assert_eq!(pushes[1].to, vec![jan.clone()]);
    match &pushes[2].kind {
        PushKind::ChatUsersUpdated {
            chat_id,
            added,
            removed_ids,
        } => {
            assert_eq!(*chat_id, chat);
            assert_eq!(
                added.iter().map(|u| u.id().clone()).collect::<Vec<_>>(),
                vec![bob.clone()]
            );
            assert_eq!(
                removed_ids,
                &vec![anna.clone()],
                "the previous assignee leaves"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let last = pushes.last().unwrap();
    assert_eq!(last.to, vec![bob.clone()]);
    assert!(matches!(&last.kind, PushKind::IncomingChatThread { chat: c } if c.id == chat));

    assert_eq!(assignee(&engine, chat), Some(bob.clone()));
    assert_eq!(engine.chat(&chat).unwrap().agent_ids, vec![bob.clone()]);
    assert_eq!(loads(&engine, &ids), [0, 1, 0]);
    assert_eq!(
        notes(&engine, chat),
        [
            pair("routing.assigned", "Chat assigned to Anna"),
            pair("chat_transferred", "Anna transferred the chat to Bob"),
            pair("routing.assigned", "Chat assigned to Bob"),
        ]
    );
}

#[test]
fn transfer_chat_to_a_group_goes_to_its_agent_with_most_free_slots() {
    let (mut engine, ids, _, chat) = transfer_office();
    let (anna, carl) = (ids[0].clone(), ids[2].clone());

    let pushes = engine
        .as_agent(&anna, at(100))
        .unwrap()
        .transfer_chat(chat, &TransferTarget::Group(GroupId(2)))
        .unwrap()
        .pushes;

    assert_eq!(
        pushed_notes(&pushes),
        [
            pair("chat_transferred", "Anna transferred the chat to group 2"),
            pair("routing.assigned", "Chat assigned to Carl"),
        ]
    );
    assert_eq!(pushes.last().unwrap().to, vec![carl.clone()]);
    assert_eq!(pushes.last().unwrap().action(), "incoming_chat_thread");
    assert_eq!(assignee(&engine, chat), Some(carl.clone()));
    assert_eq!(engine.chat(&chat).unwrap().agent_ids, [carl]);
    assert_eq!(loads(&engine, &ids), [0, 0, 1]);
}

#[test]
fn transfer_chat_of_a_waiting_chat_takes_it_out_of_the_queue() {
    // Under manual routing chats wait although agents are free.
    let anna = uid("anna@example.com");
    let bob = uid("bob@example.com");
    let mut engine = LicenseBuilder::new(EngineConfig::with_seed(5))
        .router(ManualRouter)
        .online_agent(Agent::new(anna.clone(), "Anna"))
        .online_agent(Agent::new(bob.clone(), "Bob"))
        .build();
    let (_, chat) = new_chat(&mut engine, at(10));
    assert_eq!(engine.queue().collect::<Vec<_>>(), [chat]);

    let pushes = engine
        .as_agent(&anna, at(20))
        .unwrap()
        .transfer_chat(chat, &TransferTarget::Agent(bob.clone()))
        .unwrap()
        .pushes;

    assert_eq!(
        pushed_notes(&pushes),
        [
            pair("chat_transferred", "Anna transferred the chat to Bob"),
            pair("routing.assigned", "Chat assigned to Bob"),
        ]
    );
    assert_eq!(assignee(&engine, chat), Some(bob.clone()));
    assert_eq!(engine.chat(&chat).unwrap().routing.waiting_since, None);
    assert_eq!(engine.queue().count(), 0);
    assert_eq!(loads(&engine, &[anna, bob]), [0, 1]);
}

#[test]
fn transfer_chat_to_a_target_that_cannot_take_it_is_refused_and_changes_nothing() {
    let (mut engine, ids) = office(&[
        ("anna@example.com", "Anna", 4, 1),
        ("bob@example.com", "Bob", 1, 2),
        ("carl@example.com", "Carl", 3, 2),
    ]);
    let (anna, bob, carl) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    let dave = uid("dave@example.com");
    engine
        .add_agent(Agent::new(dave.clone(), "Dave").with_groups([GroupId(2)]))
        .unwrap(); // offline
    let (_, chat) = new_chat(&mut engine, at(10));
    let (_, eva_chat) = new_chat(&mut engine, at(11));
    assert_eq!(assignee(&engine, chat), Some(anna.clone()));
    assert_eq!(assignee(&engine, eva_chat), Some(anna.clone()));
    // Bob becomes full; Carl stops accepting chats.
    let _ = engine
        .as_agent(&anna, at(20))
        .unwrap()
        .transfer_chat(eva_chat, &TransferTarget::Agent(bob.clone()))
        .unwrap();
    let _ = engine
        .as_agent(&carl, at(21))
        .unwrap()
        .update_agent(None, Some(RoutingStatus::NotAcceptingChats))
        .unwrap();
    assert_eq!(
        loads(
            &engine,
            &[anna.clone(), bob.clone(), carl.clone(), dave.clone()]
        ),
        [1, 1, 0, 0]
    );

    let targets = [
        ("full", TransferTarget::Agent(bob.clone())),
        ("not accepting", TransferTarget::Agent(carl.clone())),
        ("offline", TransferTarget::Agent(dave.clone())),
        ("already the assignee", TransferTarget::Agent(anna.clone())),
        ("unknown", TransferTarget::Agent(uid("ghost@example.com"))),
        (
            "nobody available in the group",
            TransferTarget::Group(GroupId(2)),
        ),
        ("an empty group", TransferTarget::Group(GroupId(9))),
    ];
    for (why, target) in targets {
        let err = assert_rejected(&mut engine, ErrorKind::Validation, |e| {
            e.as_agent(&anna, at(30))?.transfer_chat(chat, &target)
        });
        let expected = match &target {
            TransferTarget::Agent(id) if why == "unknown" => Error::AgentNotFound(id.clone()),
            TransferTarget::Agent(id) => Error::CannotTakeChat {
                chat_id: chat,
                agent_id: id.clone(),
            },
            TransferTarget::Group(group) => Error::NoAgentInGroup {
                chat_id: chat,
                group: *group,
            },
        };
        assert_eq!(err, expected, "{why}");
    }
    assert_eq!(assignee(&engine, chat), Some(anna.clone()));
    assert_eq!(
        notes(&engine, chat),
        [pair("routing.assigned", "Chat assigned to Anna")]
    );
}

#[test]
fn transfer_chat_to_an_agent_outside_the_chat_s_scopes_is_refused() {
    let (mut engine, ids) = office(&[
        ("anna@example.com", "Anna", 2, 1),
        ("bob@example.com", "Bob", 2, 2),
        ("ann2@example.com", "Annie", 2, 1),
    ]);
    let (anna, bob) = (ids[0].clone(), ids[1].clone());
    let group_1 = Scopes {
        groups: [GroupId(1)].into(),
        ..Scopes::default()
    };
    let (_, chat) = new_chat_with(
        &mut engine,
        StartChat::default().with_scopes(group_1),
        at(10),
    );
    assert_eq!(assignee(&engine, chat), Some(anna.clone()));
    assert_rejected(&mut engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(20))?
            .transfer_chat(chat, &TransferTarget::Agent(bob.clone()))
    });
    assert_rejected(&mut engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(20))?
            .transfer_chat(chat, &TransferTarget::Group(GroupId(2)))
    });
    // Group 1 has Annie.
    let _ = engine
        .as_agent(&anna, at(30))
        .unwrap()
        .transfer_chat(chat, &TransferTarget::Group(GroupId(1)))
        .unwrap();
    assert_eq!(assignee(&engine, chat), Some(ids[2].clone()));
}

#[test]
fn transfer_chat_without_an_active_thread_is_refused() {
    let (mut engine, ids, _, chat) = transfer_office();
    let anna = ids[0].clone();
    let _ = engine
        .as_agent(&anna, at(20))
        .unwrap()
        .close_thread(chat)
        .unwrap();
    assert_rejected(&mut engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(30))?
            .transfer_chat(chat, &TransferTarget::Agent(ids[1].clone()))
    });
}
