//! Built-in selection strategies (least loaded, round robin, most free slots), routers that
//! return invalid decisions, and `update_agent`.

mod common;

use chatio::routing::{
    AutomaticRouter, Decision, LeastLoadedRouter, RoundRobinRouter, Router, RoutingMoment,
    RoutingStatus, RoutingView, Selection,
};
use chatio::{
    Agent, ChatId, Engine, EngineConfig, ErrorKind, EventKind, GroupId, NewEvent, Push, PushKind,
    Role, Scopes, StartChat, Timestamp, UserId,
};
use common::{LicenseBuilder, assert_rejected, at, staffed, uid};

// ----- helpers -----

/// An engine with `router` and the agents `(id, name, max_chats, group)`, in that registration
/// order, all online and accepting chats.
fn office(
    router: impl Router + 'static,
    agents: &[(&str, &str, u32, u32)],
) -> (Engine, Vec<UserId>) {
    staffed(
        LicenseBuilder::new(EngineConfig::with_seed(11)).router(router),
        agents,
    )
}

/// A new customer starts a chat at `t`; returns the chat and the agent it went to.
fn new_chat(engine: &mut Engine, t: Timestamp) -> (ChatId, Option<UserId>) {
    new_chat_with(engine, StartChat::default(), t)
}

fn new_chat_with(engine: &mut Engine, start: StartChat, t: Timestamp) -> (ChatId, Option<UserId>) {
    let customer = engine.create_customer();
    let out = engine
        .as_customer(&customer, t)
        .unwrap()
        .start_chat(start.with_event(NewEvent::message("Hello")))
        .unwrap();
    let chat = out.response.id;
    (chat, engine.chat(&chat).unwrap().routing.assignee.clone())
}

fn close(engine: &mut Engine, agent: &UserId, chat: ChatId, t: Timestamp) -> Vec<Push> {
    engine
        .as_agent(agent, t)
        .unwrap()
        .close_thread(chat)
        .unwrap()
        .pushes
}

fn loads(engine: &Engine, ids: &[UserId]) -> Vec<u32> {
    ids.iter()
        .map(|id| engine.agent_status(id).unwrap().load)
        .collect()
}

/// `(system_message_type, text)` of the system messages of the chat's last thread.
fn notes(engine: &Engine, chat: ChatId) -> Vec<(String, String)> {
    let whole = engine.chat(&chat).unwrap();
    let thread = whole.threads.last().unwrap();
    thread
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::SystemMessage {
                text,
                system_message_type,
            } => Some((
                system_message_type.clone().unwrap_or_default(),
                text.clone(),
            )),
            _ => None,
        })
        .collect()
}

fn pair(t: &str, text: &str) -> (String, String) {
    (t.to_string(), text.to_string())
}

/// No agent holds more chats than its limit, and each load is the number of chats assigned.
fn assert_loads_consistent(engine: &Engine) {
    for agent in engine.agents() {
        let status = engine.agent_status(&agent.id).unwrap();
        let assigned = engine
            .chats()
            .iter()
            .filter(|c| c.routing.assignee.as_ref() == Some(&agent.id))
            .count() as u32;
        assert_eq!(status.load, assigned, "load of {}", agent.id);
        assert!(
            status.load <= status.max_chats,
            "{} is over its limit",
            agent.id
        );
    }
}

const ANNA: (&str, &str, u32, u32) = ("anna@example.com", "Anna", 6, 1);
const BOB: (&str, &str, u32, u32) = ("bob@example.com", "Bob", 2, 2);
const CARL: (&str, &str, u32, u32) = ("carl@example.com", "Carl", 10, 2);

// ----- least loaded -----

#[test]
fn least_loaded_gives_each_chat_to_the_agent_with_fewest_current_chats_ties_to_first_registered() {
    let (mut engine, ids) = office(LeastLoadedRouter, &[ANNA, BOB, CARL]);
    let (anna, bob, carl) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    assert_eq!(engine.router().unwrap().name(), "least_loaded");

    // All at 0: Anna (first registered), although Carl has the most free slots.
    let (c1, to) = new_chat(&mut engine, at(10));
    assert_eq!(to, Some(anna.clone()));
    let (c2, to) = new_chat(&mut engine, at(20));
    assert_eq!(to, Some(bob.clone()));
    let (_, to) = new_chat(&mut engine, at(30));
    assert_eq!(to, Some(carl.clone()));
    assert_eq!(loads(&engine, &ids), [1, 1, 1]);
    let (_, to) = new_chat(&mut engine, at(40));
    assert_eq!(to, Some(anna.clone()), "all at 1: the first registered");
    assert_eq!(loads(&engine, &ids), [2, 1, 1]);

    // Bob's chat closes: he now has the fewest.
    close(&mut engine, &bob, c2, at(50));
    assert_eq!(loads(&engine, &ids), [2, 0, 1]);
    let (_, to) = new_chat(&mut engine, at(60));
    assert_eq!(to, Some(bob.clone()));
    let (_, to) = new_chat(&mut engine, at(70));
    assert_eq!(
        to,
        Some(bob.clone()),
        "Bob 1, Carl 1, Anna 2: Bob is registered before Carl"
    );
    assert_eq!(loads(&engine, &ids), [2, 2, 1]);
    // Bob is full (2 of 2): Carl, then Anna and Carl tie at 2.
    let (_, to) = new_chat(&mut engine, at(80));
    assert_eq!(to, Some(carl.clone()));
    let (_, to) = new_chat(&mut engine, at(90));
    assert_eq!(to, Some(anna.clone()));
    assert_eq!(loads(&engine, &ids), [3, 2, 2]);
    assert_eq!(
        notes(&engine, c1),
        [pair("routing.assigned", "Chat assigned to Anna")]
    );
    assert_loads_consistent(&engine);
}

#[test]
fn automatic_router_with_least_loaded_selection_behaves_like_least_loaded_router() {
    let (mut engine, ids) = office(
        AutomaticRouter::new(Selection::LeastLoaded),
        &[ANNA, BOB, CARL],
    );
    let picks: Vec<_> = (0..4)
        .map(|i| new_chat(&mut engine, at(10 * i)).1.unwrap())
        .collect();
    assert_eq!(
        picks,
        [
            ids[0].clone(),
            ids[1].clone(),
            ids[2].clone(),
            ids[0].clone()
        ]
    );
}

// ----- round robin -----

#[test]
fn round_robin_gives_each_chat_to_the_agent_who_waited_longest_since_its_last_assignment() {
    let (mut engine, ids) = office(RoundRobinRouter, &[ANNA, BOB, CARL]);
    let (anna, bob, carl) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    assert_eq!(engine.router().unwrap().name(), "round_robin");

    // Never assigned: registration order.
    let (a1, to) = new_chat(&mut engine, at(10));
    assert_eq!(to, Some(anna.clone()));
    let (_, to) = new_chat(&mut engine, at(20));
    assert_eq!(to, Some(bob.clone()));
    let (_, to) = new_chat(&mut engine, at(30));
    assert_eq!(to, Some(carl.clone()));
    // Anna has waited longest (since 10 s).
    let (a2, to) = new_chat(&mut engine, at(40));
    assert_eq!(to, Some(anna.clone()));
    assert_eq!(
        engine.agent_status(&anna).unwrap().last_assigned,
        Some(at(40))
    );

    // Anna's chats close: she has the fewest chats, but Bob has waited longest (since 20 s).
    close(&mut engine, &anna, a1, at(50));
    close(&mut engine, &anna, a2, at(50));
    assert_eq!(loads(&engine, &ids), [0, 1, 1]);
    let (_, to) = new_chat(&mut engine, at(60));
    assert_eq!(to, Some(bob.clone()));

    // A newcomer who was never assigned goes first.
    let dave = uid("dave@example.com");
    engine
        .add_agent(Agent::new(dave.clone(), "Dave").with_groups([GroupId(1)]))
        .unwrap();
    assert!(
        engine
            .set_agent_presence(&dave, true, at(65))
            .unwrap()
            .pushes
            .is_empty()
    );
    let (_, to) = new_chat(&mut engine, at(70));
    assert_eq!(to, Some(dave.clone()));
    // Then Carl (30 s), then Anna (40 s).
    let (_, to) = new_chat(&mut engine, at(80));
    assert_eq!(to, Some(carl.clone()));
    let (_, to) = new_chat(&mut engine, at(90));
    assert_eq!(to, Some(anna.clone()));
    assert_loads_consistent(&engine);
}

#[test]
fn round_robin_breaks_ties_within_one_second_by_assignment_order() {
    let (mut engine, ids) = office(RoundRobinRouter, &[ANNA, BOB, CARL]);
    let picks: Vec<_> = (0..5)
        .map(|_| new_chat(&mut engine, at(10)).1.unwrap())
        .collect();
    assert_eq!(
        picks,
        [
            ids[0].clone(),
            ids[1].clone(),
            ids[2].clone(),
            ids[0].clone(),
            ids[1].clone(),
        ]
    );
    // Bob is now full (2 of 2): Carl, then Anna.
    assert_eq!(new_chat(&mut engine, at(10)).1, Some(ids[2].clone()));
    assert_eq!(new_chat(&mut engine, at(10)).1, Some(ids[0].clone()));
    assert_eq!(loads(&engine, &ids), [3, 2, 2]);
}

#[test]
fn round_robin_skips_agents_who_cannot_take_the_chat() {
    // Bob can hold one chat only.
    let (mut engine, ids) = office(RoundRobinRouter, &[ANNA, ("bob@example.com", "Bob", 1, 2)]);
    let (anna, bob) = (ids[0].clone(), ids[1].clone());
    assert_eq!(new_chat(&mut engine, at(10)).1, Some(anna.clone()));
    assert_eq!(new_chat(&mut engine, at(20)).1, Some(bob.clone()));
    assert_eq!(new_chat(&mut engine, at(30)).1, Some(anna.clone()));
    assert_eq!(
        new_chat(&mut engine, at(40)).1,
        Some(anna.clone()),
        "Bob is full"
    );
    assert_eq!(loads(&engine, &ids), [3, 1]);
}

// ----- automatic default: most free slots -----

#[test]
fn automatic_default_gives_each_chat_to_the_agent_with_most_free_slots_ties_to_first_registered() {
    let (mut engine, ids) = office(
        AutomaticRouter::default(),
        &[
            ("anna@example.com", "Anna", 2, 1),
            ("bob@example.com", "Bob", 4, 2),
        ],
    );
    let (anna, bob) = (ids[0].clone(), ids[1].clone());
    assert_eq!(engine.router().unwrap().name(), "automatic");
    assert_eq!(
        AutomaticRouter::default().selection(),
        Selection::MostFreeSlots
    );

    let mut picks = Vec::new();
    for i in 0..6 {
        picks.push(new_chat(&mut engine, at(10 * (i + 1))).1);
    }
    assert_eq!(
        picks,
        [
            Some(bob.clone()),  // free 2 / 4
            Some(bob.clone()),  // free 2 / 3
            Some(anna.clone()), // free 2 / 2: tie, Anna registered first
            Some(bob.clone()),  // free 1 / 2
            Some(anna.clone()), // free 1 / 1: tie
            Some(bob.clone()),  // free 0 / 1
        ]
    );
    assert_eq!(loads(&engine, &ids), [2, 4]);
    let (waiting, to) = new_chat(&mut engine, at(70));
    assert_eq!(to, None, "everyone is full");
    assert_eq!(engine.queue().collect::<Vec<_>>(), [waiting]);
    assert_loads_consistent(&engine);
}

// ----- routers that decide wrongly -----

/// Assigns every chat to one agent, whoever that is, at every routing moment.
#[derive(Debug)]
struct AlwaysTo(UserId);

impl Router for AlwaysTo {
    fn name(&self) -> &str {
        "always_to"
    }

    fn route(&self, _view: &RoutingView<'_>) -> Decision {
        Decision::Assign(self.0.clone())
    }
}

/// Anna (group 1, 1 slot) and Bob (group 2, 2 slots), Bob online; the router always names
/// `target`.
fn wrong_office(target: &str) -> (Engine, UserId, UserId) {
    let anna = uid("anna@example.com");
    let bob = uid("bob@example.com");
    let engine = LicenseBuilder::new(EngineConfig::with_seed(3))
        .router(AlwaysTo(uid(target)))
        .agent(
            Agent::new(anna.clone(), "Anna")
                .with_max_chats(1)
                .with_groups([GroupId(1)]),
        )
        .online_agent(
            Agent::new(bob.clone(), "Bob")
                .with_max_chats(2)
                .with_groups([GroupId(2)]),
        )
        .build();
    (engine, anna, bob)
}

/// The chat is left unassigned: it says so, waits in the queue, and nobody joined it.
fn assert_refused(engine: &Engine, chat: ChatId) {
    let c = engine.chat(&chat).unwrap();
    assert_eq!(c.routing.assignee, None);
    assert!(c.agent_ids.is_empty(), "nobody joined: {:?}", c.agent_ids);
    assert_eq!(
        notes(engine, chat),
        [pair("routing.unassigned", "Chat is unassigned")]
    );
    assert!(engine.queue().any(|q| q == chat));
    assert_loads_consistent(engine);
}

#[test]
fn invalid_decision_offline_agent_is_refused() {
    let (mut engine, anna, bob) = wrong_office("anna@example.com");
    // Anna is registered but offline; Bob could have taken the chat.
    let (chat, to) = new_chat(&mut engine, at(10));
    assert_eq!(to, None);
    assert_refused(&engine, chat);
    assert_eq!(loads(&engine, &[anna, bob]), [0, 0]);
}

#[test]
fn invalid_decision_not_accepting_agent_is_refused() {
    let (mut engine, anna, _) = wrong_office("anna@example.com");
    let _ = engine.set_agent_presence(&anna, true, at(0)).unwrap();
    let _ = engine
        .as_agent(&anna, at(1))
        .unwrap()
        .update_agent(None, Some(RoutingStatus::NotAcceptingChats))
        .unwrap();
    let (chat, to) = new_chat(&mut engine, at(10));
    assert_eq!(to, None);
    assert_refused(&engine, chat);
    assert_eq!(engine.agent_status(&anna).unwrap().load, 0);
}

#[test]
fn invalid_decision_full_agent_is_refused() {
    let (mut engine, anna, _) = wrong_office("anna@example.com");
    let _ = engine.set_agent_presence(&anna, true, at(0)).unwrap();
    let (first, to) = new_chat(&mut engine, at(10));
    assert_eq!(to, Some(anna.clone()), "a valid decision is applied");
    assert_eq!(
        notes(&engine, first),
        [pair("routing.assigned", "Chat assigned to Anna")]
    );
    for i in 0..3 {
        let (chat, to) = new_chat(&mut engine, at(20 + i));
        assert_eq!(to, None);
        assert_refused(&engine, chat);
    }
    assert_eq!(engine.agent_status(&anna).unwrap().load, 1);
    assert_eq!(engine.queue().count(), 3);
}

#[test]
fn invalid_decision_unknown_agent_is_refused() {
    let (mut engine, anna, bob) = wrong_office("ghost@example.com");
    let (chat, to) = new_chat(&mut engine, at(10));
    assert_eq!(to, None);
    assert_refused(&engine, chat);
    assert_eq!(loads(&engine, &[anna, bob]), [0, 0]);
}

#[test]
fn invalid_decision_agent_outside_the_chat_s_scopes_is_refused() {
    let (mut engine, anna, _) = wrong_office("anna@example.com");
    let _ = engine.set_agent_presence(&anna, true, at(0)).unwrap();
    let group_2 = Scopes {
        groups: [GroupId(2)].into(),
        ..Scopes::default()
    };
    let (chat, to) = new_chat_with(
        &mut engine,
        StartChat::default().with_scopes(group_2),
        at(10),
    );
    assert_eq!(to, None, "Anna is in group 1");
    assert_refused(&engine, chat);
    assert_eq!(engine.agent_status(&anna).unwrap().load, 0);
}

#[test]
fn invalid_decision_when_capacity_frees_is_refused_quietly() {
    let (mut engine, anna, _) = wrong_office("anna@example.com");
    let bob2 = uid("bob2@example.com");
    engine
        .add_agent(Agent::new(bob2.clone(), "Bobby").with_groups([GroupId(2)]))
        .unwrap();
    let (chat, _) = new_chat(&mut engine, at(10));
    assert_refused(&engine, chat);
    // Bobby comes online: the waiting chat is offered, the router names offline Anna again.
    let pushes = engine
        .set_agent_presence(&bob2, true, at(20))
        .unwrap()
        .pushes;
    assert!(pushes.is_empty(), "{pushes:?}");
    assert_refused(&engine, chat);
    assert_eq!(engine.agent_status(&anna).unwrap().load, 0);
}

#[test]
fn invalid_decision_the_agent_who_timed_out_is_refused() {
    let (mut engine, anna, _) = wrong_office("anna@example.com");
    let _ = engine.set_agent_presence(&anna, true, at(0)).unwrap();
    let (chat, to) = new_chat(&mut engine, at(10));
    assert_eq!(to, Some(anna.clone()));
    // Anna lets the message go unseen; the router names her again.
    let deadline = engine.next_deadline().unwrap();
    assert_eq!(deadline, at(310));
    let _ = engine.tick(deadline);
    let c = engine.chat(&chat).unwrap();
    assert_eq!(c.routing.assignee, None);
    assert_eq!(
        notes(&engine, chat),
        [
            pair("routing.assigned", "Chat assigned to Anna"),
            pair(
                "routing.unassigned",
                "Chat is unassigned because Anna hasn't replied in 5 minutes"
            ),
        ]
    );
    assert_eq!(engine.agent_status(&anna).unwrap().load, 0);
    assert_loads_consistent(&engine);
}

/// A router that picks using the view, checking `can_take`, as the module docs show.
#[derive(Debug)]
struct LastRegisteredAvailable;

impl Router for LastRegisteredAvailable {
    fn name(&self) -> &str {
        "last_registered"
    }

    fn route(&self, view: &RoutingView<'_>) -> Decision {
        match view.moment() {
            RoutingMoment::AgentReplied { agent_id } => Decision::Assign(agent_id.clone()),
            _ => {
                let agents: Vec<_> = view.agents().collect();
                agents
                    .iter()
                    .rev()
                    .find(|a| view.can_take(&a.agent.id))
                    .map_or(Decision::Unassign, |a| Decision::Assign(a.agent.id.clone()))
            }
        }
    }
}

#[test]
fn a_user_written_router_that_decides_validly_is_followed() {
    let (mut engine, ids) = office(
        LastRegisteredAvailable,
        &[ANNA, ("bob@example.com", "Bob", 1, 2)],
    );
    assert_eq!(new_chat(&mut engine, at(10)).1, Some(ids[1].clone()));
    assert_eq!(
        new_chat(&mut engine, at(20)).1,
        Some(ids[0].clone()),
        "Bob is full"
    );
    assert_loads_consistent(&engine);
}

// ----- update_agent -----

#[test]
fn update_agent_pushes_agent_updated_to_every_agent() {
    let (mut engine, ids) = office(AutomaticRouter::default(), &[ANNA, BOB]);
    let (anna, bob) = (ids[0].clone(), ids[1].clone());
    // Carl is registered but offline: he is told too.
    let carl = uid("carl@example.com");
    engine.add_agent(Agent::new(carl.clone(), "Carl")).unwrap();

    let out = engine
        .as_agent(&bob, at(10))
        .unwrap()
        .update_agent(None, Some(RoutingStatus::NotAcceptingChats))
        .unwrap();

    assert_eq!(
        out.pushes,
        [Push {
            to: vec![anna.clone(), bob.clone(), carl.clone()].into(),
            role: Role::Agent,
            kind: PushKind::AgentUpdated {
                agent_id: bob.clone(),
                routing_status: RoutingStatus::NotAcceptingChats,
            },
        }]
    );
    assert_eq!(
        engine.agent_status(&bob).unwrap().routing_status,
        RoutingStatus::NotAcceptingChats
    );
    // Naming oneself is allowed.
    let out = engine
        .as_agent(&bob, at(20))
        .unwrap()
        .update_agent(Some(&bob), Some(RoutingStatus::AcceptingChats))
        .unwrap();
    assert_eq!(out.pushes.len(), 1);
    assert_eq!(out.pushes[0].to, [anna, bob.clone(), carl]);
    assert_eq!(
        engine.agent_status(&bob).unwrap().routing_status,
        RoutingStatus::AcceptingChats
    );
}

#[test]
fn update_agent_a_normal_agent_may_not_update_another_agent_an_administrator_may() {
    let (anna, bob) = (uid("anna@example.com"), uid("bob@example.com"));
    let mut engine = LicenseBuilder::new(EngineConfig::with_seed(11))
        .router(AutomaticRouter::default())
        .agent(Agent::new(anna.clone(), "Anna").with_permission(chatio::Permission::Normal))
        .agent(Agent::new(bob.clone(), "Bob"))
        .build();

    // Anna is a normal agent: agents--all:write is not hers.
    for status in [
        RoutingStatus::NotAcceptingChats,
        RoutingStatus::AcceptingChats,
    ] {
        assert_rejected(&mut engine, ErrorKind::Authorization, |e| {
            e.as_agent(&anna, at(10))?
                .update_agent(Some(&bob), Some(status))
        });
    }
    assert_eq!(
        engine.agent_status(&bob).unwrap().routing_status,
        RoutingStatus::AcceptingChats
    );
    // Bob is an administrator (the default): he may change Anna's status, and everyone hears.
    let out = engine
        .as_agent(&bob, at(20))
        .unwrap()
        .update_agent(Some(&anna), Some(RoutingStatus::NotAcceptingChats))
        .unwrap();
    assert_eq!(
        engine.agent_status(&anna).unwrap().routing_status,
        RoutingStatus::NotAcceptingChats
    );
    assert_eq!(out.pushes.len(), 1);
    assert_eq!(out.pushes[0].to, vec![anna.clone(), bob.clone()]);
}
