//! Bot agents (the Configuration API's `agents/*` actions) and group priorities in routing:
//! one test per rule of `docs/bot-agents.md` and of the routing module's "Group priorities".

mod common;

use chatio::journal::{JournalMode, JournalRecord};
use chatio::model::{
    BotAgentUpdate, BotGroup, BotStatus, BotWebhookAction, BotWebhooks, GroupPriority, NewBotAgent,
    WebhookAction,
};
use chatio::routing::{AutomaticRouter, RoutingStatus, Selection};
use chatio::{
    Agent, AgentKind, Engine, EngineConfig, ErrorKind, GroupId, NewEvent, Permission, Role, Scopes,
    StartChat, UserId,
};
use common::*;

fn group(id: u32, priority: GroupPriority) -> BotGroup {
    BotGroup {
        id: GroupId(id),
        priority,
    }
}

fn new_bot(name: &str, status: BotStatus) -> NewBotAgent {
    NewBotAgent {
        name: name.into(),
        avatar: None,
        status,
        max_chats_count: None,
        groups: Vec::new(),
        webhooks: None,
    }
}

fn update(id: &UserId) -> BotAgentUpdate {
    BotAgentUpdate {
        id: id.clone(),
        name: None,
        avatar: None,
        status: None,
        max_chats_count: None,
        groups: None,
        webhooks: None,
    }
}

fn hooks(actions: &[WebhookAction]) -> BotWebhooks {
    BotWebhooks {
        url: "https://bots.example.com/hooks".into(),
        secret_key: "s3cret".into(),
        actions: actions
            .iter()
            .map(|&name| BotWebhookAction {
                name,
                filters: Default::default(),
            })
            .collect(),
    }
}

/// Anna (owner of the license) and Bob (administrator), both online, Nora (normal), with the
/// automatic router; every change is held in the journal.
fn license() -> Engine {
    let mut engine = LicenseBuilder::new(EngineConfig::with_seed(11))
        .router(AutomaticRouter::default())
        .online_agent(
            Agent::new(uid("anna@example.com"), "Anna").with_permission(Permission::Owner),
        )
        .online_agent(Agent::new(uid("bob@example.com"), "Bob"))
        .online_agent(
            Agent::new(uid("nora@example.com"), "Nora").with_permission(Permission::Normal),
        )
        .build();
    engine.set_journal_mode(JournalMode::Hold);
    engine
}

fn create(engine: &mut Engine, owner: &str, bot: NewBotAgent) -> UserId {
    engine
        .as_agent(&uid(owner), at(10))
        .unwrap()
        .create_bot_agent(bot)
        .unwrap()
        .response
        .id
}

#[test]
fn create_bot_agent_registers_a_bot_owned_by_the_requester() {
    let mut engine = license();
    let mut bot = new_bot("Parcel Bot", BotStatus::AcceptingChats);
    bot.avatar = Some("https://cdn.example.com/bot.png".into());
    bot.max_chats_count = Some(20);
    bot.groups = vec![
        group(0, GroupPriority::First),
        group(2, GroupPriority::Normal),
    ];
    bot.webhooks = Some(hooks(&[WebhookAction::IncomingChatThread]));
    let id = create(&mut engine, "anna@example.com", bot);

    // A random hash, as v0.5's bots have.
    let text = id.to_string();
    assert_eq!(text.len(), 32, "{text}");
    assert!(text.bytes().all(|b| b.is_ascii_hexdigit()), "{text}");
    let agent = engine.agent(&id).unwrap();
    assert_eq!(agent.kind, AgentKind::Bot);
    assert_eq!(agent.owner_id, Some(uid("anna@example.com")));
    assert_eq!(agent.max_chats, 20);
    assert_eq!(agent.groups, vec![GroupId(0), GroupId(2)]);
    assert_eq!(agent.priority_in(GroupId(0)), GroupPriority::First);
    assert_eq!(agent.priority_in(GroupId(2)), GroupPriority::Normal);
    let status = engine.agent_status(&id).unwrap();
    assert!(status.online && status.routing_status == RoutingStatus::AcceptingChats);

    let anna = uid("anna@example.com");
    let api = engine.as_agent(&anna, at(11)).unwrap();
    let details = api.get_bot_agent_details(&id).unwrap();
    assert_eq!(details.status, BotStatus::AcceptingChats);
    assert_eq!(
        details.groups(),
        vec![
            group(0, GroupPriority::First),
            group(2, GroupPriority::Normal)
        ]
    );
    assert_eq!(
        details.webhooks,
        Some(hooks(&[WebhookAction::IncomingChatThread]))
    );
    let mine = api.get_bot_agents(false).unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].agent.id, id);
}

#[test]
fn create_bot_agent_refuses_bad_input_and_changes_nothing() {
    let mut engine = license();
    let cases: Vec<(NewBotAgent, &str)> = vec![
        (new_bot(" ", BotStatus::AcceptingChats), "agent.name"),
        (
            NewBotAgent {
                groups: vec![
                    group(1, GroupPriority::First),
                    group(1, GroupPriority::Last),
                ],
                ..new_bot("Twice", BotStatus::AcceptingChats)
            },
            "groups",
        ),
        (
            NewBotAgent {
                webhooks: Some(BotWebhooks {
                    url: "ftp://example.com".into(),
                    ..hooks(&[WebhookAction::IncomingEvent])
                }),
                ..new_bot("Bad hook", BotStatus::AcceptingChats)
            },
            "url",
        ),
        (
            NewBotAgent {
                webhooks: Some(hooks(&[])),
                ..new_bot("No actions", BotStatus::AcceptingChats)
            },
            "webhooks.actions",
        ),
        (
            NewBotAgent {
                webhooks: Some(hooks(&[
                    WebhookAction::IncomingEvent,
                    WebhookAction::IncomingEvent,
                ])),
                ..new_bot("Same action twice", BotStatus::AcceptingChats)
            },
            "webhooks.actions",
        ),
        (
            NewBotAgent {
                avatar: Some("https://x.example/\u{202e}gnp.exe".into()),
                ..new_bot("Tricky avatar", BotStatus::AcceptingChats)
            },
            "agent.avatar",
        ),
    ];
    for (bot, field) in cases {
        let label = format!("{bot:?}");
        let err = assert_rejected(&mut engine, ErrorKind::Validation, |e| {
            e.as_agent(&uid("anna@example.com"), at(10))?
                .create_bot_agent(bot)
        });
        assert_invalid_field(&err, field, &label);
    }
    assert!(engine.take_journal().is_empty());
}

#[test]
fn bot_scopes_follow_the_agents_bot_grants() {
    let mut engine = license();
    let bot = create(
        &mut engine,
        "anna@example.com",
        new_bot("Anna's bot", BotStatus::NotAcceptingChats),
    );
    let nora = uid("nora@example.com");
    let bob = uid("bob@example.com");

    // A normal agent holds none of the agents-bot scopes.
    let err = assert_rejected(&mut engine, ErrorKind::Authorization, |e| {
        e.as_agent(&nora, at(20))?
            .create_bot_agent(new_bot("Nora's", BotStatus::Offline))
    });
    assert!(err.to_string().contains("agents-bot--my:write"), "{err}");
    let err = engine
        .as_agent(&nora, at(20))
        .unwrap()
        .get_bot_agents(false);
    assert_eq!(err.unwrap_err().kind(), ErrorKind::Authorization);

    // Another administrator sees it only with `all`, may not update it ("delete only"), and
    // may remove it (agents-bot--all:write).
    let api = engine.as_agent(&bob, at(20)).unwrap();
    assert!(api.get_bot_agents(false).unwrap().is_empty());
    assert_eq!(api.get_bot_agents(true).unwrap().len(), 1);
    assert_eq!(api.get_bot_agent_details(&bot).unwrap().agent.id, bot);
    let mut renamed = update(&bot);
    renamed.name = Some("Bob's now".into());
    let err = assert_rejected(&mut engine, ErrorKind::Authorization, |e| {
        e.as_agent(&bob, at(20))?.update_bot_agent(renamed)
    });
    assert!(err.to_string().contains(&bot.to_string()), "{err}");
    let _ = engine
        .as_agent(&bob, at(21))
        .unwrap()
        .remove_bot_agent(&bot)
        .unwrap();
    assert!(
        engine
            .as_agent(&uid("anna@example.com"), at(22))
            .unwrap()
            .get_bot_agents(false)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn update_bot_agent_replaces_what_is_given_and_tells_agents_a_new_status() {
    let mut engine = license();
    let anna = uid("anna@example.com");
    let mut bot = new_bot("Greeter", BotStatus::NotAcceptingChats);
    bot.groups = vec![group(1, GroupPriority::Last)];
    let id = create(&mut engine, "anna@example.com", bot);

    let mut change = update(&id);
    change.status = Some(BotStatus::AcceptingChats);
    change.max_chats_count = Some(2);
    change.groups = Some(vec![group(0, GroupPriority::First)]);
    change.webhooks = Some(hooks(&[WebhookAction::IncomingEvent]));
    let out = engine
        .as_agent(&anna, at(30))
        .unwrap()
        .update_bot_agent(change)
        .unwrap();
    assert_eq!(actions(&out.pushes), vec!["agent_updated"]);
    assert_eq!(
        out.pushes[0].to.as_slice().len(),
        4,
        "every agent, the bot too"
    );

    let details = engine
        .as_agent(&anna, at(31))
        .unwrap()
        .get_bot_agent_details(&id)
        .unwrap();
    assert_eq!(details.agent.name, "Greeter", "a name left out stays");
    assert_eq!(details.agent.max_chats, 2);
    assert_eq!(details.groups(), vec![group(0, GroupPriority::First)]);
    assert_eq!(details.status, BotStatus::AcceptingChats);
    assert_eq!(
        details.webhooks,
        Some(hooks(&[WebhookAction::IncomingEvent]))
    );

    // `offline` disconnects it; no routing status changes, so no push.
    let mut off = update(&id);
    off.status = Some(BotStatus::Offline);
    let out = engine
        .as_agent(&anna, at(32))
        .unwrap()
        .update_bot_agent(off)
        .unwrap();
    assert!(out.pushes.is_empty());
    assert!(!engine.agent_status(&id).unwrap().online);

    // Unknown ids and human agents are no bots; refusals change nothing.
    for target in [uid("ghost"), uid("bob@example.com")] {
        let err = assert_rejected(&mut engine, ErrorKind::Validation, |e| {
            e.as_agent(&anna, at(33))?.update_bot_agent(update(&target))
        });
        assert!(err.to_string().contains(&target.to_string()), "{err}");
    }
}

#[test]
fn a_bot_accepting_chats_is_routed_chats_and_first_bots_come_before_agents() {
    let mut engine = license();
    let mut bot = new_bot("Greeter", BotStatus::AcceptingChats);
    bot.max_chats_count = Some(1);
    bot.groups = vec![group(0, GroupPriority::First)];
    let greeter = create(&mut engine, "anna@example.com", bot);

    let jan = engine.create_customer();
    let out = engine
        .as_customer(&jan, at(40))
        .unwrap()
        .start_chat(StartChat::default().with_event(NewEvent::message("Hi")))
        .unwrap();
    let first_chat = out.response.id;
    assert_eq!(
        engine.chat(&first_chat).unwrap().routing.assignee,
        Some(greeter.clone()),
        "the first bot gets the chat although humans have more free slots"
    );

    // Full, the bot gets no more: the next chat goes to a normal agent.
    let eva = engine.create_customer();
    let out = engine
        .as_customer(&eva, at(41))
        .unwrap()
        .start_chat(StartChat::default().with_event(NewEvent::message("Hello")))
        .unwrap();
    let assignee = engine
        .chat(&out.response.id)
        .unwrap()
        .routing
        .assignee
        .clone();
    assert!(assignee.is_some_and(|a| a != greeter));

    // The bot writes to its chat like any agent (its owner sends as it with `author_id`).
    let _ = engine
        .as_agent(&greeter, at(42))
        .unwrap()
        .send_event(first_chat, NewEvent::message("Let me find a human"))
        .unwrap();
}

#[test]
fn remove_bot_agent_takes_the_bot_out_of_its_chats_and_everywhere() {
    let mut engine = license();
    let anna = uid("anna@example.com");
    let mut bot = new_bot("Greeter", BotStatus::AcceptingChats);
    bot.groups = vec![group(0, GroupPriority::First)];
    bot.webhooks = Some(hooks(&[WebhookAction::IncomingChatThread]));
    let greeter = create(&mut engine, "anna@example.com", bot);
    let jan = engine.create_customer();
    let chat = engine
        .as_customer(&jan, at(50))
        .unwrap()
        .start_chat(StartChat::default().with_event(NewEvent::message("Hi")))
        .unwrap()
        .response
        .id;
    assert_eq!(
        engine.chat(&chat).unwrap().routing.assignee,
        Some(greeter.clone())
    );

    let out = engine
        .as_agent(&anna, at(51))
        .unwrap()
        .remove_bot_agent(&greeter)
        .unwrap();
    let chat_now = engine.chat(&chat).unwrap();
    assert!(!chat_now.agent_ids.contains(&greeter), "it left the chat");
    let assignee = chat_now.routing.assignee.clone();
    assert!(
        assignee.as_ref().is_some_and(|a| *a != greeter),
        "the chat is routed again: {assignee:?}"
    );
    assert!(actions(&out.pushes).contains(&"chat_users_updated"));
    assert!(engine.bot_webhooks(&greeter).is_none());

    // Gone: it acts no more, is listed nowhere, and cannot be removed or found twice.
    let err = engine.as_agent(&greeter, at(52)).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Authentication);
    let api = engine.as_agent(&anna, at(52)).unwrap();
    assert!(api.get_bot_agents(true).unwrap().is_empty());
    assert_eq!(
        api.get_bot_agent_details(&greeter).unwrap_err().kind(),
        ErrorKind::Validation
    );
    assert_rejected(&mut engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(53))?.remove_bot_agent(&greeter)
    });
    assert_rejected(&mut engine, ErrorKind::Validation, |e| {
        e.set_agent_presence(&greeter, true, at(53))
    });
    let err = assert_rejected(&mut engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(53))?
            .join_chat(chat, std::slice::from_ref(&greeter))
    });
    assert!(err.to_string().contains(&greeter.to_string()), "{err}");
}

#[test]
fn bot_webhooks_fire_on_the_pushes_that_reach_the_bot() {
    let mut engine = license();
    let mut bot = new_bot("Greeter", BotStatus::AcceptingChats);
    bot.groups = vec![group(0, GroupPriority::First)];
    bot.webhooks = Some(hooks(&[WebhookAction::IncomingChatThread]));
    let greeter = create(&mut engine, "anna@example.com", bot);
    let jan = engine.create_customer();
    let out = engine
        .as_customer(&jan, at(60))
        .unwrap()
        .start_chat(StartChat::default().with_event(NewEvent::message("Hi")))
        .unwrap();
    // The bot hears of the new chat as every agent does, then of its assignment: one webhook
    // per push it receives, no more.
    let reaching = out
        .pushes
        .iter()
        .filter(|p| p.action() == "incoming_chat_thread" && p.to.as_slice().contains(&greeter))
        .count();
    assert_eq!(reaching, 2);
    let calls = engine.webhook_calls(&out.pushes);
    assert_eq!(calls.len(), reaching, "{calls:#?}");
    for call in &calls {
        assert_eq!(call.action, WebhookAction::IncomingChatThread);
        assert_eq!(call.webhook.webhook_id, greeter.to_string());
        assert_eq!(call.webhook.spec.url, "https://bots.example.com/hooks");
        assert_eq!(call.chat_id, Some(out.response.id));
    }

    // A push that does not reach the bot fires nothing: an agent-only chat of Bob's, scoped to
    // Bob, whose group the bot is not in.
    let bob = uid("bob@example.com");
    let scoped = StartChat::default().with_scopes(Scopes {
        agents: [bob.clone()].into(),
        ..Scopes::default()
    });
    let out = engine
        .as_agent(&bob, at(61))
        .unwrap()
        .start_chat(None, scoped)
        .unwrap();
    assert!(
        out.pushes
            .iter()
            .all(|p| p.role != Role::Agent || !p.to.as_slice().contains(&greeter))
    );
    assert!(engine.webhook_calls(&out.pushes).is_empty());
}

#[test]
fn bot_commands_replay_and_snapshot_to_the_same_engine() {
    let mut engine = license();
    let start = engine.clone();
    let anna = uid("anna@example.com");
    let mut bot = new_bot("Greeter", BotStatus::AcceptingChats);
    bot.groups = vec![
        group(0, GroupPriority::First),
        group(3, GroupPriority::Last),
    ];
    bot.webhooks = Some(hooks(&[WebhookAction::IncomingEvent]));
    let greeter = create(&mut engine, "anna@example.com", bot);
    let other = create(
        &mut engine,
        "bob@example.com",
        new_bot("Other", BotStatus::Offline),
    );
    let jan = engine.create_customer();
    let _ = engine
        .as_customer(&jan, at(70))
        .unwrap()
        .start_chat(StartChat::default().with_event(NewEvent::message("Hi")))
        .unwrap();
    let mut change = update(&greeter);
    change.status = Some(BotStatus::NotAcceptingChats);
    let _ = engine
        .as_agent(&anna, at(71))
        .unwrap()
        .update_bot_agent(change)
        .unwrap();
    let _ = engine
        .as_agent(&anna, at(72))
        .unwrap()
        .remove_bot_agent(&other)
        .unwrap();

    // Replay the records, through their encoding, onto the engine as it was.
    let records = engine.take_journal();
    assert!(records.len() >= 5);
    let mut replayed = start;
    let _ = replayed.take_journal();
    for record in records {
        let record = JournalRecord::decode(&record.encode()).unwrap();
        replayed.apply(record).unwrap();
    }
    let _ = replayed.take_journal();
    assert!(replayed == engine, "replay differs");

    // And a snapshot restores the same engine, bots, priorities, webhooks and removal included.
    let mut restored = Engine::restore(&engine.snapshot()).unwrap();
    assert!(restored == engine, "snapshot differs");
    assert!(restored.as_agent(&other, at(100)).is_err(), "still removed");
}

// ----- group priorities -----

/// Agents `(id, priority in group 0, slots)`, all online and accepting, with `selection`.
fn prioritized(selection: Selection, agents: &[(&str, GroupPriority, u32)]) -> Engine {
    let mut builder =
        LicenseBuilder::new(EngineConfig::with_seed(3)).router(AutomaticRouter::new(selection));
    for &(id, priority, slots) in agents {
        builder = builder.online_agent(
            Agent::new(uid(id), id)
                .with_max_chats(slots)
                .with_group_priority(GroupId(0), priority),
        );
    }
    builder.build()
}

/// Starts `n` chats (unscoped unless `groups`), returning each one's assignee.
fn route_chats(engine: &mut Engine, n: usize, groups: &[u32]) -> Vec<Option<String>> {
    (0..n)
        .map(|i| {
            let customer = engine.create_customer();
            let mut start = StartChat::default().with_event(NewEvent::message("Hi"));
            if !groups.is_empty() {
                start = start.with_scopes(Scopes {
                    groups: groups.iter().map(|&g| GroupId(g)).collect(),
                    ..Scopes::default()
                });
            }
            let chat = engine
                .as_customer(&customer, at(100 + i as i64))
                .unwrap()
                .start_chat(start)
                .unwrap()
                .response
                .id;
            engine
                .chat(&chat)
                .unwrap()
                .routing
                .assignee
                .as_ref()
                .map(ToString::to_string)
        })
        .collect()
}

#[test]
fn first_then_normal_then_last_whatever_the_selection() {
    use GroupPriority::*;
    for selection in [
        Selection::MostFreeSlots,
        Selection::LeastLoaded,
        Selection::RoundRobin,
    ] {
        // Registered last-first, and the `last` agent has the most slots: neither order nor
        // slots beat priority.
        let mut engine = prioritized(
            selection,
            &[("lars", Last, 10), ("nina", Normal, 2), ("fred", First, 1)],
        );
        let picks = route_chats(&mut engine, 5, &[]);
        let s = |x: &str| Some(x.to_string());
        assert_eq!(
            picks,
            vec![s("fred"), s("nina"), s("nina"), s("lars"), s("lars")],
            "{selection:?}"
        );
    }
}

#[test]
fn a_last_agent_gets_chats_only_while_no_other_can_take_them() {
    use GroupPriority::*;
    let mut engine = prioritized(
        Selection::MostFreeSlots,
        &[("nina", Normal, 1), ("lars", Last, 5)],
    );
    let nina = uid("nina");
    let _ = engine.set_agent_presence(&nina, false, at(1)).unwrap();
    assert_eq!(route_chats(&mut engine, 1, &[]), vec![Some("lars".into())]);
    let _ = engine.set_agent_presence(&nina, true, at(2)).unwrap();
    assert_eq!(route_chats(&mut engine, 1, &[]), vec![Some("nina".into())]);
}

#[test]
fn a_last_agent_with_a_free_slot_takes_a_waiting_chat_nobody_better_can_take() {
    use GroupPriority::*;
    // Everyone full: the third chat waits.
    let mut engine = prioritized(
        Selection::MostFreeSlots,
        &[("fred", First, 1), ("lars", Last, 1)],
    );
    assert_eq!(
        route_chats(&mut engine, 3, &[]),
        vec![Some("fred".into()), Some("lars".into()), None]
    );
    let waiting = engine.queue().next().expect("one chat waits");
    // Fred stops accepting; Lars closes his chat, and with the free slot takes the waiting one.
    let fred = uid("fred");
    let _ = engine
        .as_agent(&fred, at(200))
        .unwrap()
        .update_agent(None, Some(RoutingStatus::NotAcceptingChats))
        .unwrap();
    let lars = uid("lars");
    let lars_chat = engine
        .chats()
        .iter()
        .find(|c| c.routing.assignee.as_ref() == Some(&lars))
        .unwrap()
        .id;
    let _ = engine
        .as_agent(&lars, at(201))
        .unwrap()
        .close_thread(lars_chat)
        .unwrap();
    assert_eq!(engine.chat(&waiting).unwrap().routing.assignee, Some(lars));
    assert_eq!(engine.queue().count(), 0);
}

#[test]
fn a_chats_groups_decide_which_priority_counts() {
    use GroupPriority::*;
    // Fred is `first` in group 1 only, Nina `normal` in group 0 and in group 2.
    let mut engine = LicenseBuilder::new(EngineConfig::with_seed(3))
        .router(AutomaticRouter::default())
        .online_agent(
            Agent::new(uid("nina"), "Nina")
                .with_max_chats(5)
                .with_groups([GroupId(0), GroupId(1), GroupId(2)]),
        )
        .online_agent(
            Agent::new(uid("fred"), "Fred")
                .with_max_chats(1)
                .with_groups([GroupId(2)])
                .with_group_priority(GroupId(1), First)
                .with_group_priority(GroupId(2), Last),
        )
        .build();
    // Unscoped: group 0, where Fred has no priority (normal): most free slots, Nina.
    assert_eq!(route_chats(&mut engine, 1, &[]), vec![Some("nina".into())]);
    // Group 2: Fred is `last` there, Nina normal.
    assert_eq!(route_chats(&mut engine, 1, &[2]), vec![Some("nina".into())]);
    // Groups 1 and 2: Fred's best is `first`.
    assert_eq!(
        route_chats(&mut engine, 1, &[1, 2]),
        vec![Some("fred".into())]
    );
}
