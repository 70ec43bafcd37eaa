//! Scopes and groups: `update_chat_scopes`, what agents outside a chat's scopes see and may do,
//! auto chat scopes, routing within scopes, and `get_filtered_chats`.

use crate::common;

use std::collections::BTreeMap;
use std::sync::Arc;

use chatio::model::{
    Access, Location, LocationAccess, Page, PropertyConfig, PropertyFilter, PropertyFilters,
    PropertyType, UrlFilter, UrlMatch,
};
use chatio::query::{ChatFilters, ChatsPagination};
use chatio::routing::AutomaticRouter;
use chatio::{
    Agent, AutoChatScopes, AutoScopeRules, ChatId, Customer, CustomerUpdate, Engine, EngineConfig,
    Error, ErrorKind, GroupId, NewEvent, Pagination, Permission, Postback, Properties,
    PropertyValue, PushKind, Recipients, Role, Scopes, StartChat, TransferTarget, UserId,
};
use common::*;

// ----- helpers -----

fn groups<const N: usize>(ids: [u32; N]) -> Scopes {
    Scopes {
        groups: ids.into_iter().map(GroupId).collect(),
        ..Scopes::default()
    }
}

fn agents(ids: &[&UserId]) -> Scopes {
    Scopes {
        agents: ids.iter().map(|&id| id.clone()).collect(),
        ..Scopes::default()
    }
}

fn string(s: &str) -> PropertyValue {
    PropertyValue::String(s.into())
}

fn props(entries: &[(&str, &str, PropertyValue)]) -> Properties {
    let mut p = Properties::new();
    for (namespace, name, value) in entries {
        p.entry(namespace.to_string())
            .or_default()
            .insert(name.to_string(), value.clone());
    }
    p
}

fn filters(entries: &[(&str, &str, PropertyFilter)]) -> PropertyFilters {
    let mut f = PropertyFilters::new();
    for (namespace, name, filter) in entries {
        f.entry(namespace.to_string())
            .or_default()
            .insert(name.to_string(), filter.clone());
    }
    f
}

fn exact(url: &str) -> UrlMatch {
    UrlMatch {
        value: url.into(),
        exact_match: true,
    }
}

fn contains(text: &str) -> UrlMatch {
    UrlMatch {
        value: text.into(),
        exact_match: false,
    }
}

/// `source.channel` (agents read, customers read and write) and `private.note` (customers only)
/// on chats.
fn configure(engine: &mut Engine) {
    engine
        .configure_property(
            PropertyConfig::new("source", "channel", PropertyType::String).at(
                Location::Chat,
                LocationAccess {
                    agent: Access::READ,
                    customer: Access::READ_WRITE,
                },
            ),
        )
        .unwrap();
    engine
        .configure_property(
            PropertyConfig::new("private", "note", PropertyType::String).at(
                Location::Chat,
                LocationAccess {
                    agent: Access::NONE,
                    customer: Access::READ_WRITE,
                },
            ),
        )
        .unwrap();
}

fn fixture() -> Fixture {
    let mut f = Fixture::with_config(EngineConfig::with_seed(42).max_chats_per_customer(None));
    configure(&mut f.engine);
    f
}

/// Registers a customer named after its id.
fn customer(f: &mut Fixture, id: &str) -> UserId {
    let id = uid(id);
    f.engine.add_customer(Customer::new(id.clone())).unwrap();
    id
}

/// `who` starts a chat with one message, the given scopes and chat properties.
fn start(
    f: &mut Fixture,
    who: &UserId,
    scopes: Scopes,
    properties: Properties,
    t: i64,
) -> chatio::Output<chatio::ChatThread> {
    f.engine
        .as_customer(who, at(t))
        .unwrap()
        .start_chat(
            StartChat::default()
                .with_scopes(scopes)
                .with_properties(properties)
                .with_event(NewEvent::message("Hi")),
        )
        .unwrap()
}

/// The customer is now on `url`.
fn visit(f: &mut Fixture, who: &UserId, url: &str, t: i64) {
    let _ = f
        .engine
        .as_customer(who, at(t))
        .unwrap()
        .update_customer(CustomerUpdate {
            current_page: Some(Page {
                url: Some(url.into()),
                title: None,
            }),
            ..CustomerUpdate::default()
        })
        .unwrap();
}

fn scopes_update(push: &chatio::Push) -> (ChatId, &Scopes, &Scopes) {
    match &push.kind {
        PushKind::ChatScopesUpdated {
            chat_id,
            scopes_added,
            scopes_removed,
        } => (*chat_id, scopes_added, scopes_removed),
        other => panic!("expected chat_scopes_updated, got {other:?}"),
    }
}

fn ids(summaries: &[chatio::query::ChatSummary]) -> Vec<ChatId> {
    summaries.iter().map(|s| s.id).collect()
}

// ----- update_chat_scopes -----

#[test]
fn update_chat_scopes_tells_the_audience_after_the_change_what_was_added_and_removed()
-> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, bob, jan, _) = f.ids();
    let (chat, _) = f.customer_chat(&jan, "Hi", at(0));

    // Group 1 only: Bob can no longer see the chat and is not told.
    let out = f.engine.as_agent(&anna, at(1))?.update_chat_scopes(
        chat,
        groups([1]),
        Scopes::default(),
    )?;
    assert_eq!(out.response, ());
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (vec![anna.clone()], Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    for push in &out.pushes {
        assert_eq!(
            scopes_update(push),
            (chat, &groups([1]), &Scopes::default())
        );
    }
    assert_eq!(f.engine.chat(&chat).unwrap().scopes, groups([1]));

    // Group 2 instead of group 1: Bob is told, Anna (who asked) no longer sees it and is not.
    let out =
        f.engine
            .as_agent(&anna, at(2))?
            .update_chat_scopes(chat, groups([2]), groups([1]))?;
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (vec![bob.clone()], Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    assert_eq!(
        scopes_update(&out.pushes[0]),
        (chat, &groups([2]), &groups([1]))
    );
    assert_eq!(f.engine.chat(&chat).unwrap().scopes, groups([2]));
    let err = assert_rejected(&mut f.engine, ErrorKind::Authorization, |e| {
        e.as_agent(&anna, at(3))?
            .update_chat_scopes(chat, groups([1]), Scopes::default())
    });
    assert_eq!(
        err,
        Error::ChatAccessDenied {
            user_id: anna.clone(),
            chat_id: chat
        }
    );

    // Only what actually changes is pushed: group 2 is there, group 1 is not.
    let out = f.engine.as_agent(&bob, at(4))?.update_chat_scopes(
        chat,
        Scopes {
            groups: [GroupId(2), GroupId(3)].into(),
            agents: [anna.clone()].into(),
        },
        groups([1, 4]),
    )?;
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (vec![anna.clone(), bob.clone()], Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    assert_eq!(
        scopes_update(&out.pushes[0]),
        (
            chat,
            &Scopes {
                groups: [GroupId(3)].into(),
                agents: [anna.clone()].into()
            },
            &Scopes::default()
        )
    );
    // The customer is told about the group only: agent scopes are agent ids it is not shown.
    assert_eq!(
        scopes_update(&out.pushes[1]),
        (chat, &groups([3]), &Scopes::default())
    );

    // The customer may change its chat's groups too. Anna stays, by name.
    let out = f.engine.as_customer(&jan, at(5))?.update_chat_scopes(
        chat,
        Scopes::default(),
        groups([2, 3]),
    )?;
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (vec![anna.clone()], Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    assert_eq!(
        scopes_update(&out.pushes[1]),
        (chat, &Scopes::default(), &groups([2, 3]))
    );
    assert_eq!(f.engine.chat(&chat).unwrap().scopes, agents(&[&anna]));

    // Removing the last scope, an agent's, means every agent; the customer is not told, since
    // nothing it can see changed.
    let out = f.engine.as_agent(&anna, at(6))?.update_chat_scopes(
        chat,
        Scopes::default(),
        agents(&[&anna]),
    )?;
    assert_eq!(
        audiences(&out.pushes),
        vec![(vec![anna.clone(), bob.clone()], Role::Agent)]
    );
    assert!(f.engine.chat(&chat).unwrap().scopes.is_empty());
    Ok(())
}

#[test]
fn no_op_scope_updates_push_nothing_and_change_nothing() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, _, jan, _) = f.ids();
    let (chat, _) = f.customer_chat(&jan, "Hi", at(0));
    let _ = f.engine.as_agent(&anna, at(1))?.update_chat_scopes(
        chat,
        groups([1]),
        Scopes::default(),
    )?;
    for (label, add, remove) in [
        ("nothing", Scopes::default(), Scopes::default()),
        ("adding what is there", groups([1]), Scopes::default()),
        ("removing what is not there", Scopes::default(), groups([2])),
        (
            "both",
            groups([1]),
            Scopes {
                groups: [GroupId(7)].into(),
                agents: [anna.clone()].into(),
            },
        ),
    ] {
        let before = f.engine.clone();
        let out = f
            .engine
            .as_agent(&anna, at(10))?
            .update_chat_scopes(chat, add, remove)?;
        assert_eq!(out.pushes, vec![], "{label}");
        assert!(f.engine == before, "{label}: the engine changed");
    }
    assert_eq!(f.engine.chat(&chat).unwrap().scopes, groups([1]));
    Ok(())
}

#[test]
fn update_chat_scopes_refuses_unknown_agents_and_changes_nothing() {
    let mut f = Fixture::new();
    let (anna, _, jan, _) = f.ids();
    let (chat, _) = f.customer_chat(&jan, "Hi", at(0));
    let ghost = uid("ghost@example.com");
    for (add, remove) in [
        (agents(&[&ghost]), Scopes::default()),
        (groups([1]), agents(&[&ghost])),
        (agents(&[&anna, &ghost]), Scopes::default()),
    ] {
        let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
            e.as_agent(&anna, at(1))?
                .update_chat_scopes(chat, add.clone(), remove.clone())
        });
        assert_eq!(err, Error::AgentNotFound(ghost.clone()));
    }
    // A customer may not name agents at all, known or not: the answer tells it nothing about
    // which agent ids exist.
    for named in [&jan, &ghost, &anna] {
        let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
            e.as_customer(&jan, at(1))?.update_chat_scopes(
                chat,
                agents(&[named]),
                Scopes::default(),
            )
        });
        assert_eq!(
            err,
            Error::InvalidField {
                field: "add_scopes.agents",
                reason: "customers scope chats by groups only".into()
            }
        );
    }
    assert!(f.engine.chat(&chat).unwrap().scopes.is_empty());
}

// ----- visibility -----

#[test]
fn agents_outside_a_chats_scopes_get_no_pushes_and_no_query_results() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, bob, jan, eva) = f.ids();
    let (open, _) = f.customer_chat(&jan, "Hi", at(0));

    // Eva's chat is for group 2: Bob's.
    let out = start(&mut f, &eva, groups([2]), Properties::new(), 10);
    let scoped = out.response.id;
    assert_eq!(out.response.scopes, groups([2]));
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (vec![bob.clone()], Role::Agent),
            (vec![eva.clone()], Role::Customer)
        ]
    );
    let out = f
        .engine
        .as_customer(&eva, at(11))?
        .send_event(scoped, NewEvent::message("Anyone?"))?;
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (vec![bob.clone()], Role::Agent),
            (vec![eva.clone()], Role::Customer)
        ]
    );
    let out = f
        .engine
        .as_agent(&bob, at(12))?
        .send_event(scoped, NewEvent::message("Internal").to(Recipients::Agents))?;
    assert_eq!(
        audiences(&out.pushes),
        vec![(vec![bob.clone()], Role::Agent)]
    );
    let out = f
        .engine
        .as_customer(&eva, at(13))?
        .send_typing_indicator(scoped, true)?;
    assert_eq!(
        audiences(&out.pushes),
        vec![(vec![bob.clone()], Role::Agent)]
    );

    // Queries: login and get_filtered_chats.
    let anna_sees = ids(&f.engine.as_agent(&anna, at(20))?.login()?.chats_summary);
    assert_eq!(anna_sees, vec![open]);
    let bob_sees = ids(&f.engine.as_agent(&bob, at(20))?.login()?.chats_summary);
    assert_eq!(bob_sees, vec![scoped, open]);
    let anna_filtered = f
        .engine
        .as_agent(&anna, at(20))?
        .get_filtered_chats(&ChatFilters::default(), ChatsPagination::default())?
        .chats_summary;
    assert_eq!(ids(&anna_filtered), vec![open]);

    // Closing it tells only Bob and Eva.
    let out = f.engine.as_agent(&bob, at(30))?.close_thread(scoped)?;
    assert_eq!(
        actions(&out.pushes),
        vec![
            "incoming_event",
            "incoming_event",
            "thread_closed",
            "thread_closed"
        ]
    );
    assert!(out.pushes.iter().all(|p| !p.to.contains(&anna)));
    Ok(())
}

#[test]
fn every_action_on_a_chat_outside_the_agents_scopes_is_denied_and_changes_nothing()
-> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, bob, _, eva) = f.ids();
    f.engine.configure_property(
        PropertyConfig::new("crm", "vip", PropertyType::Bool)
            .at(
                Location::Chat,
                LocationAccess {
                    agent: Access::READ_WRITE,
                    customer: Access::NONE,
                },
            )
            .at(
                Location::Thread,
                LocationAccess {
                    agent: Access::READ_WRITE,
                    customer: Access::NONE,
                },
            ),
    )?;
    let out = f.engine.as_customer(&eva, at(0))?.start_chat(
        StartChat::default()
            .with_scopes(groups([2]))
            .with_event(rich_event(1, 1)),
    )?;
    let (chat, thread) = (out.response.id, out.response.thread.id);
    let rich = out.response.thread.events.get(0).unwrap().id;
    let vip = || {
        let mut p = Properties::new();
        p.entry("crm".into())
            .or_default()
            .insert("vip".into(), PropertyValue::Bool(true));
        p
    };
    // The administrator Anna is in group 1: she may not even see the chat.
    let denied = Error::ChatAccessDenied {
        user_id: anna.clone(),
        chat_id: chat,
    };
    type Attempt = Box<dyn Fn(&mut Engine, &UserId) -> Result<(), Error>>;
    let attempts: Vec<(&str, Attempt)> = vec![
        (
            "get_chat_threads",
            Box::new(move |e, a| {
                e.as_agent(a, at(1))?
                    .get_chat_threads(chat, &[thread])
                    .map(|_| ())
            }),
        ),
        (
            "get_chat_threads_summary",
            Box::new(move |e, a| {
                e.as_agent(a, at(1))?
                    .get_chat_threads_summary(chat, Pagination::default())
                    .map(|_| ())
            }),
        ),
        (
            "send_event",
            Box::new(move |e, a| {
                e.as_agent(a, at(1))?
                    .send_event(chat, NewEvent::message("hi"))
                    .map(|_| ())
            }),
        ),
        (
            "send_rich_message_postback",
            Box::new(move |e, a| {
                e.as_agent(a, at(1))?
                    .send_rich_message_postback(
                        chat,
                        thread,
                        rich,
                        Postback {
                            id: "b0".into(),
                            toggled: true,
                        },
                    )
                    .map(|_| ())
            }),
        ),
        (
            "send_typing_indicator",
            Box::new(move |e, a| {
                e.as_agent(a, at(1))?
                    .send_typing_indicator(chat, Recipients::All, true)
                    .map(|_| ())
            }),
        ),
        (
            "update_chat_properties",
            Box::new(move |e, a| {
                e.as_agent(a, at(1))?
                    .update_chat_properties(chat, vip())
                    .map(|_| ())
            }),
        ),
        (
            "update_chat_thread_properties",
            Box::new(move |e, a| {
                e.as_agent(a, at(1))?
                    .update_chat_thread_properties(chat, thread, vip())
                    .map(|_| ())
            }),
        ),
        (
            "update_chat_scopes",
            Box::new(move |e, a| {
                e.as_agent(a, at(1))?
                    .update_chat_scopes(chat, groups([1]), Scopes::default())
                    .map(|_| ())
            }),
        ),
        (
            "join_chat",
            Box::new(move |e, a| {
                e.as_agent(a, at(1))?
                    .join_chat(chat, std::slice::from_ref(a))
                    .map(|_| ())
            }),
        ),
        (
            "remove_from_chat",
            Box::new(move |e, a| {
                e.as_agent(a, at(1))?
                    .remove_from_chat(chat, &[], &[])
                    .map(|_| ())
            }),
        ),
        (
            "close_thread",
            Box::new(move |e, a| e.as_agent(a, at(1))?.close_thread(chat).map(|_| ())),
        ),
        (
            "update_last_seen_timestamp",
            Box::new(move |e, a| {
                e.as_agent(a, at(1))?
                    .update_last_seen_timestamp(chat, None)
                    .map(|_| ())
            }),
        ),
        (
            "transfer_chat",
            Box::new(move |e, a| {
                e.as_agent(a, at(1))?
                    .transfer_chat(chat, &TransferTarget::Agent(a.clone()))
                    .map(|_| ())
            }),
        ),
    ];
    for (label, attempt) in &attempts {
        let err = assert_rejected(&mut f.engine, ErrorKind::Authorization, |e| {
            attempt(e, &anna)
        });
        assert_eq!(err, denied, "{label}");
    }
    assert_eq!(attempts.len(), 13);

    // Bob, in group 2, may read it.
    let threads = f
        .engine
        .as_agent(&bob, at(2))?
        .get_chat_threads(chat, &[thread])?;
    assert_eq!(threads.scopes, groups([2]));
    assert_eq!(threads.threads[0].events.len(), 1);

    // Nobody may bring in an agent who may not see the chat.
    let err = assert_rejected(&mut f.engine, ErrorKind::Authorization, |e| {
        e.as_agent(&bob, at(3))?
            .join_chat(chat, std::slice::from_ref(&anna))
    });
    assert_eq!(err, denied);
    Ok(())
}

#[test]
fn agents_see_the_chats_they_are_in_whatever_the_scopes() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, bob, jan, _) = f.ids();
    // Anna starts a chat for group 2: she is in it, so she sees it.
    let out = f.engine.as_agent(&anna, at(0))?.start_chat(
        Some(jan.clone()),
        StartChat::default()
            .with_scopes(groups([2]))
            .with_event(NewEvent::message("Hello from Anna")),
    )?;
    let chat = out.response.id;
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (vec![anna.clone(), bob.clone()], Role::Agent),
            (vec![jan.clone()], Role::Customer)
        ]
    );
    let out = f
        .engine
        .as_customer(&jan, at(1))?
        .send_event(chat, NewEvent::message("Hi Anna"))?;
    assert_eq!(out.pushes[0].to, vec![anna.clone(), bob.clone()]);
    assert_eq!(
        ids(&f.engine.as_agent(&anna, at(2))?.login()?.chats_summary),
        vec![chat]
    );
    let threads = f
        .engine
        .as_agent(&anna, at(2))?
        .get_chat_threads(chat, &[out.response.thread_id])?;
    assert_eq!(threads.threads[0].events.len(), 2);

    // Once she leaves, she no longer sees it. She is told she left, nothing after.
    let out = f
        .engine
        .as_agent(&anna, at(3))?
        .remove_from_chat(chat, &[], &[])?;
    assert!(
        out.pushes
            .iter()
            .any(|p| p.action() == "chat_users_updated" && p.to.contains(&anna))
    );
    let out = f
        .engine
        .as_customer(&jan, at(4))?
        .send_event(chat, NewEvent::message("Anna?"))?;
    assert_eq!(out.pushes[0].to, vec![bob.clone()]);
    assert_eq!(
        ids(&f.engine.as_agent(&anna, at(5))?.login()?.chats_summary),
        vec![]
    );
    let err = assert_rejected(&mut f.engine, ErrorKind::Authorization, |e| {
        e.as_agent(&anna, at(5))?
            .get_chat_threads(chat, &[])
            .map(|_| ())
    });
    assert_eq!(
        err,
        Error::ChatAccessDenied {
            user_id: anna,
            chat_id: chat
        }
    );
    Ok(())
}

#[test]
fn an_agent_named_in_the_scopes_sees_the_chat_outside_its_groups() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, bob, jan, _) = f.ids();
    let chat = start(&mut f, &jan, Scopes::default(), Properties::new(), 0)
        .response
        .id;
    // Anna scopes the chat to Bob alone: she is no longer told about it.
    let out = f.engine.as_agent(&anna, at(1))?.update_chat_scopes(
        chat,
        agents(&[&bob]),
        Scopes::default(),
    )?;
    assert_eq!(out.pushes[0].to, vec![bob.clone()]);
    let out = f.engine.as_agent(&bob, at(1))?.update_chat_scopes(
        chat,
        agents(&[&anna]),
        Scopes::default(),
    )?;
    assert_eq!(out.pushes[0].to, vec![anna.clone(), bob.clone()]);
    assert_eq!(
        ids(&f.engine.as_agent(&anna, at(2))?.login()?.chats_summary),
        vec![chat]
    );
    Ok(())
}

// ----- auto chat scopes -----

/// Adds an auto chat scopes configuration as Anna (an administrator) and returns its id.
fn add_auto(f: &mut Fixture, description: &str, scopes: Scopes, rules: AutoScopeRules) -> String {
    let anna = f.anna.clone();
    let out = f
        .engine
        .as_agent(&anna, at(0))
        .unwrap()
        .add_auto_chat_scopes(Some(description.into()), scopes, rules)
        .unwrap();
    assert_eq!(out.pushes, vec![]);
    out.response
}

fn property_rule(filter: PropertyFilter) -> AutoScopeRules {
    AutoScopeRules {
        chat_properties: filters(&[("source", "channel", filter)]),
        customer_url: None,
    }
}

fn url_rule(filter: UrlFilter) -> AutoScopeRules {
    AutoScopeRules {
        chat_properties: PropertyFilters::new(),
        customer_url: Some(filter),
    }
}

/// The scopes a new chat of a fresh customer gets, with these chat properties and this URL.
fn scopes_for(f: &mut Fixture, channel: Option<&str>, url: Option<&str>) -> Scopes {
    let n = f.engine.chats().len();
    let who = customer(f, &format!("customer-{n}"));
    if let Some(url) = url {
        visit(f, &who, url, 100);
    }
    let properties = match channel {
        Some(c) => props(&[("source", "channel", string(c))]),
        None => Properties::new(),
    };
    let out = start(f, &who, Scopes::default(), properties, 100);
    let scopes = (*f.engine.chat(&out.response.id).unwrap().scopes).clone();
    // The customer who started it sees the groups only.
    assert_eq!(out.response.scopes, scopes.visible_to(Role::Customer));
    scopes
}

#[test]
fn auto_scopes_by_property_exists() {
    let mut f = fixture();
    add_auto(
        &mut f,
        "has a channel",
        groups([2]),
        property_rule(PropertyFilter::Exists(true)),
    );
    add_auto(
        &mut f,
        "no channel",
        groups([3]),
        property_rule(PropertyFilter::Exists(false)),
    );
    assert_eq!(scopes_for(&mut f, Some("web"), None), groups([2]));
    assert_eq!(scopes_for(&mut f, None, None), groups([3]));
}

#[test]
fn auto_scopes_by_property_values_and_exclude_values() {
    let mut f = fixture();
    add_auto(
        &mut f,
        "social",
        groups([2]),
        property_rule(PropertyFilter::Values(vec![
            string("facebook"),
            string("twitter"),
        ])),
    );
    add_auto(
        &mut f,
        "not web",
        groups([3]),
        property_rule(PropertyFilter::ExcludeValues(vec![string("web")])),
    );
    assert_eq!(scopes_for(&mut f, Some("facebook"), None), groups([2, 3]));
    assert_eq!(scopes_for(&mut f, Some("twitter"), None), groups([2, 3]));
    assert_eq!(scopes_for(&mut f, Some("web"), None), Scopes::default());
    assert_eq!(scopes_for(&mut f, Some("email"), None), groups([3]));
    // No channel at all: not one of the values, and not an excluded one.
    assert_eq!(scopes_for(&mut f, None, None), groups([3]));
}

#[test]
fn auto_scopes_by_url_exact_or_substring() {
    let mut f = fixture();
    add_auto(
        &mut f,
        "checkout page",
        groups([1]),
        url_rule(UrlFilter::Values(vec![exact(
            "https://shop.example.com/checkout",
        )])),
    );
    add_auto(
        &mut f,
        "anything about pricing",
        groups([2]),
        url_rule(UrlFilter::Values(vec![contains("/pricing")])),
    );
    assert_eq!(
        scopes_for(&mut f, None, Some("https://shop.example.com/checkout")),
        groups([1])
    );
    assert_eq!(
        scopes_for(
            &mut f,
            None,
            Some("https://shop.example.com/checkout?step=2")
        ),
        Scopes::default()
    );
    assert_eq!(
        scopes_for(&mut f, None, Some("https://example.com/pricing/team")),
        groups([2])
    );
    assert_eq!(
        scopes_for(&mut f, None, Some("https://example.com/PRICING")),
        Scopes::default()
    );
    // A customer with no known page matches no value.
    assert_eq!(scopes_for(&mut f, None, None), Scopes::default());
}

#[test]
fn auto_scopes_by_url_exclude_values() {
    let mut f = fixture();
    add_auto(
        &mut f,
        "not internal",
        groups([2]),
        url_rule(UrlFilter::ExcludeValues(vec![
            contains("/internal"),
            exact("https://example.com/"),
        ])),
    );
    assert_eq!(
        scopes_for(&mut f, None, Some("https://example.com/internal/tools")),
        Scopes::default()
    );
    assert_eq!(
        scopes_for(&mut f, None, Some("https://example.com/")),
        Scopes::default()
    );
    assert_eq!(
        scopes_for(&mut f, None, Some("https://example.com/shop")),
        groups([2])
    );
    // No known page: nothing to exclude.
    assert_eq!(scopes_for(&mut f, None, None), groups([2]));
}

#[test]
fn auto_scopes_use_the_page_the_customer_is_on_when_the_chat_starts() {
    let mut f = fixture();
    add_auto(
        &mut f,
        "pricing",
        groups([2]),
        url_rule(UrlFilter::Values(vec![contains("/pricing")])),
    );
    let kim = customer(&mut f, "customer-kim");
    visit(&mut f, &kim, "https://example.com/home", 1);
    visit(&mut f, &kim, "https://example.com/pricing", 2);
    let out = start(&mut f, &kim, Scopes::default(), Properties::new(), 3);
    assert_eq!(out.response.scopes, groups([2]));
    // A later page does not change the started chat's scopes.
    visit(&mut f, &kim, "https://example.com/home", 4);
    assert_eq!(f.engine.chat(&out.response.id).unwrap().scopes, groups([2]));
}

/// A page reported with a title only has no URL: URL rules see no page, as before any visit.
#[test]
fn a_page_without_a_url_is_no_url_to_auto_scopes() {
    let mut f = fixture();
    add_auto(
        &mut f,
        "not pricing",
        groups([2]),
        url_rule(UrlFilter::ExcludeValues(vec![contains("/pricing")])),
    );
    add_auto(
        &mut f,
        "pricing",
        groups([3]),
        url_rule(UrlFilter::Values(vec![contains("/pricing")])),
    );
    let kim = customer(&mut f, "customer-kim");
    visit(&mut f, &kim, "https://example.com/pricing", 1);
    let _ = f
        .engine
        .as_customer(&kim, at(2))
        .unwrap()
        .update_customer(CustomerUpdate {
            current_page: Some(Page {
                url: None,
                title: Some("Pricing".into()),
            }),
            ..CustomerUpdate::default()
        })
        .unwrap();
    let page = f.engine.customer(&kim).unwrap().current_page.clone();
    assert_eq!(
        page.and_then(|p| p.url),
        None,
        "the title-only page replaced the page"
    );
    let out = start(&mut f, &kim, Scopes::default(), Properties::new(), 3);
    assert_eq!(out.response.scopes, groups([2]));
}

#[test]
fn every_matching_configuration_adds_its_scopes_to_the_customers() -> Result<(), Error> {
    let mut f = fixture();
    let (anna, bob, _, _) = f.ids();
    add_auto(
        &mut f,
        "facebook",
        Scopes {
            groups: [GroupId(2)].into(),
            agents: [bob.clone()].into(),
        },
        property_rule(PropertyFilter::Values(vec![string("facebook")])),
    );
    add_auto(
        &mut f,
        "pricing",
        groups([3]),
        url_rule(UrlFilter::Values(vec![contains("/pricing")])),
    );
    // Both rules of one configuration must pass.
    add_auto(
        &mut f,
        "facebook on the shop",
        groups([4]),
        AutoScopeRules {
            chat_properties: filters(&[(
                "source",
                "channel",
                PropertyFilter::Values(vec![string("facebook")]),
            )]),
            customer_url: Some(UrlFilter::Values(vec![contains("shop.")])),
        },
    );
    assert_eq!(
        scopes_for(
            &mut f,
            Some("facebook"),
            Some("https://example.com/pricing")
        ),
        Scopes {
            groups: [GroupId(2), GroupId(3)].into(),
            agents: [bob.clone()].into()
        }
    );
    assert_eq!(
        scopes_for(&mut f, Some("facebook"), Some("https://shop.example.com/")),
        Scopes {
            groups: [GroupId(2), GroupId(4)].into(),
            agents: [bob.clone()].into()
        }
    );
    assert_eq!(
        scopes_for(
            &mut f,
            Some("web"),
            Some("https://shop.example.com/pricing")
        ),
        groups([3])
    );

    // The customer's own scopes are kept, and the push goes to the union's agents only.
    let kim = customer(&mut f, "customer-kim");
    visit(&mut f, &kim, "https://example.com/pricing", 1);
    let out = start(&mut f, &kim, groups([1]), Properties::new(), 2);
    assert_eq!(out.response.scopes, groups([1, 3]));
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (vec![anna.clone()], Role::Agent),
            (vec![kim.clone()], Role::Customer)
        ]
    );
    let lee = customer(&mut f, "customer-lee");
    let out = start(
        &mut f,
        &lee,
        Scopes::default(),
        props(&[("source", "channel", string("facebook"))]),
        3,
    );
    assert_eq!(out.pushes[0].to, vec![bob.clone()]);
    Ok(())
}

#[test]
fn get_and_remove_auto_chat_scopes() -> Result<(), Error> {
    let mut f = fixture();
    let (anna, bob, _, _) = f.ids();
    assert_eq!(
        f.engine
            .as_agent(&anna, at(0))?
            .get_auto_chat_scopes_config()?,
        vec![]
    );
    let by_property = property_rule(PropertyFilter::Exists(true));
    let by_url = url_rule(UrlFilter::Values(vec![exact("https://example.com/")]));
    let first = add_auto(&mut f, "channel", groups([2]), by_property.clone());
    let second = add_auto(&mut f, "home page", agents(&[&bob]), by_url.clone());
    assert_ne!(first, second);
    assert_eq!(first.len(), 32, "a simple UUID");

    let config = f
        .engine
        .as_agent(&bob, at(1))?
        .get_auto_chat_scopes_config()?;
    assert_eq!(
        config,
        vec![
            AutoChatScopes {
                id: first.clone(),
                description: Some("channel".into()),
                scopes: groups([2]),
                rules: by_property.clone(),
            },
            AutoChatScopes {
                id: second.clone(),
                description: Some("home page".into()),
                scopes: agents(&[&bob]),
                rules: by_url,
            },
        ]
    );
    let scoped_before = f.engine.chats().len();
    assert_eq!(scopes_for(&mut f, Some("web"), None), groups([2]));

    // Removing a configuration stops it for new chats; chats it scoped keep their scopes.
    let out = f
        .engine
        .as_agent(&bob, at(2))?
        .remove_auto_chat_scopes(&first)?;
    assert_eq!(out.pushes, vec![]);
    assert_eq!(scopes_for(&mut f, Some("web"), None), Scopes::default());
    assert_eq!(
        f.engine
            .chats()
            .get(scoped_before)
            .expect("chat exists")
            .scopes,
        groups([2])
    );
    let config = f
        .engine
        .as_agent(&anna, at(3))?
        .get_auto_chat_scopes_config()?;
    assert_eq!(
        config.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        vec![second.clone()]
    );

    // An id that is not (or no longer) there is refused.
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(4))?.remove_auto_chat_scopes(&first)
    });
    assert_invalid_field(&err, "auto_chat_scopes_id", "removed twice");
    Ok(())
}

#[test]
fn add_auto_chat_scopes_validates_its_scopes_and_rules() {
    let mut f = fixture();
    let anna = f.anna.clone();
    let ghost = uid("ghost@example.com");
    let rule = property_rule(PropertyFilter::Exists(true));
    for (label, scopes, rules, expected) in [
        (
            "no scopes",
            Scopes::default(),
            rule.clone(),
            Error::InvalidField {
                field: "scopes",
                reason: "name at least one group or agent".into(),
            },
        ),
        (
            "no rules",
            groups([1]),
            AutoScopeRules::default(),
            Error::InvalidField {
                field: "rules",
                reason: "give at least one rule (chat_properties or customer_url)".into(),
            },
        ),
        (
            "an unknown agent",
            agents(&[&ghost]),
            rule.clone(),
            Error::AgentNotFound(ghost.clone()),
        ),
    ] {
        let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
            e.as_agent(&anna, at(0))?
                .add_auto_chat_scopes(None, scopes, rules)
        });
        assert_eq!(err, expected, "{label}");
    }
}

#[test]
fn normal_agents_may_not_read_or_change_auto_chat_scopes() -> Result<(), Error> {
    let mut f = fixture();
    let nora = uid("nora@example.com");
    f.engine.add_agent(
        Agent::new(nora.clone(), "Nora")
            .with_groups([GroupId(1)])
            .with_permission(Permission::Normal),
    )?;
    let id = add_auto(
        &mut f,
        "channel",
        groups([2]),
        property_rule(PropertyFilter::Exists(true)),
    );
    let refused = |action: &'static str| Error::NotAllowed {
        user_id: nora.clone(),
        action,
        reason: format!("needs {action}"),
    };
    let err = assert_rejected(&mut f.engine, ErrorKind::Authorization, |e| {
        e.as_agent(&nora, at(1))?.add_auto_chat_scopes(
            None,
            groups([1]),
            property_rule(PropertyFilter::Exists(false)),
        )
    });
    assert_eq!(err, refused("auto_chat_scopes:write"));
    let err = assert_rejected(&mut f.engine, ErrorKind::Authorization, |e| {
        e.as_agent(&nora, at(1))?.remove_auto_chat_scopes(&id)
    });
    assert_eq!(err, refused("auto_chat_scopes:write"));
    let err = assert_rejected(&mut f.engine, ErrorKind::Authorization, |e| {
        e.as_agent(&nora, at(1))?.get_auto_chat_scopes_config()
    });
    assert_eq!(err, refused("auto_chat_scopes:read"));
    // Still in force.
    assert_eq!(scopes_for(&mut f, Some("web"), None), groups([2]));
    Ok(())
}

// ----- routing -----

#[test]
fn routing_offers_a_chat_only_to_agents_who_may_see_it() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, bob, jan, eva) = f.ids();
    f.engine.set_router(Arc::new(AutomaticRouter::default()));
    let _ = f.engine.set_agent_presence(&anna, true, at(0))?;

    // Eva's chat is for group 2; the only free agent is Anna, in group 1: it waits.
    let out = start(&mut f, &eva, groups([2]), Properties::new(), 10);
    let scoped = out.response.id;
    assert!(out.pushes.iter().all(|p| !p.to.contains(&anna)));
    let chat = f.engine.chat(&scoped).unwrap();
    assert_eq!(chat.routing.assignee, None);
    assert_eq!(chat.agent_ids, Vec::<UserId>::new());
    assert_eq!(chat.routing.waiting_since, Some(at(10)));
    assert_eq!(f.engine.queue().collect::<Vec<_>>(), vec![scoped]);

    // Jan's chat, for everyone, goes to Anna straight away; Eva's still waits.
    let (open, _) = f.customer_chat(&jan, "Hi", at(20));
    assert_eq!(
        f.engine.chat(&open).unwrap().routing.assignee,
        Some(anna.clone())
    );
    assert_eq!(f.engine.agent_status(&anna).unwrap().load, 1);
    assert_eq!(f.engine.queue().collect::<Vec<_>>(), vec![scoped]);

    // Anna finishing Jan's chat does not hand her Eva's.
    let _ = f.engine.as_agent(&anna, at(30))?.close_thread(open)?;
    assert_eq!(f.engine.agent_status(&anna).unwrap().load, 0);
    assert_eq!(f.engine.chat(&scoped).unwrap().routing.assignee, None);

    // Bob comes online: Eva's chat is his.
    let out = f.engine.set_agent_presence(&bob, true, at(40))?;
    let chat = f.engine.chat(&scoped).unwrap();
    assert_eq!(chat.routing.assignee, Some(bob.clone()));
    assert_eq!(chat.agent_ids, vec![bob.clone()]);
    assert_eq!(f.engine.queue().count(), 0);
    assert!(out.pushes.iter().all(|p| !p.to.contains(&anna)));
    assert!(
        out.pushes
            .iter()
            .any(|p| p.action() == "incoming_chat_thread" && p.to == vec![bob.clone()])
    );
    Ok(())
}

#[test]
fn a_waiting_chat_whose_scopes_widen_is_routed_again() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, bob, _, eva) = f.ids();
    f.engine.set_router(Arc::new(AutomaticRouter::default()));
    let _ = f.engine.set_agent_presence(&anna, true, at(0))?;
    let out = start(&mut f, &eva, groups([2]), Properties::new(), 10);
    let chat = out.response.id;
    assert_eq!(f.engine.chat(&chat).unwrap().routing.assignee, None);

    // Bob (offline, group 2) opens the chat to group 1: Anna may see it now, and takes it.
    let out = f.engine.as_agent(&bob, at(20))?.update_chat_scopes(
        chat,
        groups([1]),
        Scopes::default(),
    )?;
    assert_eq!(out.pushes[0].action(), "chat_scopes_updated");
    assert_eq!(out.pushes[0].to, vec![anna.clone(), bob.clone()]);
    let stored = f.engine.chat(&chat).unwrap();
    assert_eq!(stored.routing.assignee, Some(anna.clone()));
    assert_eq!(stored.agent_ids, vec![anna.clone()]);
    assert_eq!(f.engine.queue().count(), 0);
    Ok(())
}

#[test]
fn auto_scoped_chats_wait_for_an_agent_who_may_see_them() -> Result<(), Error> {
    let mut f = fixture();
    let (anna, bob, _, _) = f.ids();
    f.engine.set_router(Arc::new(AutomaticRouter::default()));
    let _ = f.engine.set_agent_presence(&anna, true, at(0))?;
    add_auto(
        &mut f,
        "pricing to sales",
        groups([2]),
        url_rule(UrlFilter::Values(vec![contains("/pricing")])),
    );
    let kim = customer(&mut f, "customer-kim");
    visit(&mut f, &kim, "https://example.com/pricing", 1);
    let out = start(&mut f, &kim, Scopes::default(), Properties::new(), 2);
    let chat = out.response.id;
    assert_eq!(out.response.scopes, groups([2]));
    assert_eq!(f.engine.chat(&chat).unwrap().routing.assignee, None);
    let _ = f.engine.set_agent_presence(&bob, true, at(3))?;
    assert_eq!(
        f.engine.chat(&chat).unwrap().routing.assignee,
        Some(bob.clone())
    );
    Ok(())
}

// ----- get_filtered_chats -----

/// Five chats, one message each, oldest first:
/// * A (Jan): active, channel facebook.
/// * B (Eva): archived, channel web.
/// * C (Kim): active, no properties.
/// * D (Lee): active, scoped to group 2, channel facebook.
/// * E (Max): active, only a note agents may not read.
fn filtered_world() -> (Fixture, [ChatId; 5]) {
    let mut f = fixture();
    let (_, _, jan, eva) = f.ids();
    let kim = customer(&mut f, "customer-kim");
    let lee = customer(&mut f, "customer-lee");
    let max = customer(&mut f, "customer-max");
    let channel = |c: &str| props(&[("source", "channel", string(c))]);
    let a = start(&mut f, &jan, Scopes::default(), channel("facebook"), 0)
        .response
        .id;
    let b = start(&mut f, &eva, Scopes::default(), channel("web"), 1)
        .response
        .id;
    let c = start(&mut f, &kim, Scopes::default(), Properties::new(), 2)
        .response
        .id;
    let d = start(&mut f, &lee, groups([2]), channel("facebook"), 3)
        .response
        .id;
    let e = start(
        &mut f,
        &max,
        Scopes::default(),
        props(&[("private", "note", string("vip"))]),
        4,
    )
    .response
    .id;
    f.close(b, at(5));
    (f, [a, b, c, d, e])
}

fn filtered(f: &mut Fixture, agent: &UserId, filters: ChatFilters) -> Vec<ChatId> {
    ids(&f
        .engine
        .as_agent(agent, at(10))
        .unwrap()
        .get_filtered_chats(&filters, ChatsPagination::default())
        .unwrap()
        .chats_summary)
}

#[test]
fn get_filtered_chats_include_active() {
    let (mut f, [a, b, c, d, e]) = filtered_world();
    let (anna, bob, _, _) = f.ids();
    let all = ChatFilters::default();
    assert_eq!(filtered(&mut f, &anna, all.clone()), vec![e, c, b, a]);
    assert_eq!(filtered(&mut f, &bob, all), vec![e, d, c, b, a]);
    let active = ChatFilters {
        include_active: Some(true),
        ..ChatFilters::default()
    };
    assert_eq!(filtered(&mut f, &anna, active), vec![e, c, b, a]);
    let archived = ChatFilters {
        include_active: Some(false),
        ..ChatFilters::default()
    };
    assert_eq!(filtered(&mut f, &anna, archived.clone()), vec![b]);
    assert_eq!(filtered(&mut f, &bob, archived), vec![b]);

    // Archiving D takes it out of the active ones and into Bob's archived list only.
    f.close(d, at(6));
    let archived = ChatFilters {
        include_active: Some(false),
        ..ChatFilters::default()
    };
    assert_eq!(filtered(&mut f, &bob, archived.clone()), vec![d, b]);
    assert_eq!(filtered(&mut f, &anna, archived), vec![b]);
}

#[test]
fn get_filtered_chats_include_inactive_false_lists_only_active_chats() {
    let (mut f, [a, b, c, _, e]) = filtered_world();
    let anna = f.anna.clone();
    let active_only = ChatFilters {
        include_inactive: Some(false),
        ..ChatFilters::default()
    };
    assert_eq!(filtered(&mut f, &anna, active_only), vec![e, c, a]);
    assert!(!f.engine.chat(&b).unwrap().is_active());
    let nothing = ChatFilters {
        include_active: Some(false),
        include_inactive: Some(false),
        ..ChatFilters::default()
    };
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&anna, at(10))?
            .get_filtered_chats(&nothing, ChatsPagination::default())
    });
    assert!(
        err.to_string().contains("filters.include_inactive"),
        "{err}"
    );
}

#[test]
fn get_filtered_chats_pages_newest_first_from_before_order() {
    let (mut f, [a, b, c, _, e]) = filtered_world();
    let anna = f.anna.clone();
    let api = f.engine.as_agent(&anna, at(10)).unwrap();
    let page = |limit: u32, before_order: Option<u64>| {
        api.get_filtered_chats(
            &ChatFilters::default(),
            ChatsPagination {
                limit: Some(limit),
                before_order,
            },
        )
        .unwrap()
    };
    let first = page(2, None);
    assert_eq!(ids(&first.chats_summary), vec![e, c]);
    assert_eq!(first.total_chats, 4);
    assert_eq!(first.next_before_order, Some(first.chats_summary[1].order));
    let second = page(2, first.next_before_order);
    assert_eq!(ids(&second.chats_summary), vec![b, a]);
    assert_eq!(second.total_chats, 4);
    assert_eq!(second.next_before_order, None);
    // The default page is 25; 0 and more than 100 are refused.
    assert_eq!(page(100, None).chats_summary.len(), 4);
    for limit in [0, 101] {
        let err = api
            .get_filtered_chats(
                &ChatFilters::default(),
                ChatsPagination {
                    limit: Some(limit),
                    before_order: None,
                },
            )
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Validation);
    }
}

#[test]
fn get_filtered_chats_by_property() {
    let (mut f, [a, b, c, d, e]) = filtered_world();
    let (anna, bob, _, _) = f.ids();
    let by = |filter: PropertyFilter, include_active: Option<bool>| ChatFilters {
        include_active,
        properties: filters(&[("source", "channel", filter)]),
        ..ChatFilters::default()
    };
    let facebook = || vec![string("facebook")];

    assert_eq!(
        filtered(&mut f, &anna, by(PropertyFilter::Exists(true), None)),
        vec![b, a]
    );
    assert_eq!(
        filtered(&mut f, &anna, by(PropertyFilter::Exists(true), Some(false))),
        vec![b]
    );
    assert_eq!(
        filtered(&mut f, &anna, by(PropertyFilter::Exists(false), None)),
        vec![e, c]
    );
    assert_eq!(
        filtered(&mut f, &anna, by(PropertyFilter::Values(facebook()), None)),
        vec![a]
    );
    assert_eq!(
        filtered(&mut f, &bob, by(PropertyFilter::Values(facebook()), None)),
        vec![d, a]
    );
    assert_eq!(
        filtered(
            &mut f,
            &anna,
            by(
                PropertyFilter::Values(vec![string("facebook"), string("web")]),
                None
            )
        ),
        vec![b, a]
    );
    assert_eq!(
        filtered(
            &mut f,
            &anna,
            by(PropertyFilter::ExcludeValues(facebook()), None)
        ),
        vec![e, c, b]
    );
    assert_eq!(
        filtered(
            &mut f,
            &bob,
            by(PropertyFilter::ExcludeValues(facebook()), None)
        ),
        vec![e, c, b]
    );
    assert_eq!(
        filtered(
            &mut f,
            &anna,
            by(PropertyFilter::Values(vec![string("email")]), None)
        ),
        vec![]
    );

    // Two filters must both pass.
    let mut both = filters(&[("source", "channel", PropertyFilter::Exists(true))]);
    both.insert(
        "private".into(),
        BTreeMap::from([("note".to_string(), PropertyFilter::Exists(false))]),
    );
    assert_eq!(
        filtered(
            &mut f,
            &anna,
            ChatFilters {
                properties: both,
                ..ChatFilters::default()
            }
        ),
        vec![b, a]
    );
}

#[test]
fn get_filtered_chats_counts_unreadable_properties_as_unset() {
    let (mut f, [a, b, c, _, e]) = filtered_world();
    let anna = f.anna.clone();
    let note = |filter: PropertyFilter| ChatFilters {
        properties: filters(&[("private", "note", filter)]),
        ..ChatFilters::default()
    };
    assert_eq!(
        filtered(&mut f, &anna, note(PropertyFilter::Exists(true))),
        vec![]
    );
    assert_eq!(
        filtered(
            &mut f,
            &anna,
            note(PropertyFilter::Values(vec![string("vip")]))
        ),
        vec![]
    );
    assert_eq!(
        filtered(&mut f, &anna, note(PropertyFilter::Exists(false))),
        vec![e, c, b, a]
    );
    assert_eq!(
        filtered(
            &mut f,
            &anna,
            note(PropertyFilter::ExcludeValues(vec![string("vip")]))
        ),
        vec![e, c, b, a]
    );
    // And the summaries do not show it.
    let summaries = f
        .engine
        .as_agent(&anna, at(10))
        .unwrap()
        .get_filtered_chats(&ChatFilters::default(), ChatsPagination::default())
        .unwrap()
        .chats_summary;
    assert_eq!(summaries[0].id, e);
    assert_eq!(summaries[0].properties, Properties::new());
    assert_eq!(
        summaries[3].properties,
        props(&[("source", "channel", string("facebook"))])
    );
}

#[test]
fn get_filtered_chats_respects_scopes_as_they_change() -> Result<(), Error> {
    let (mut f, [a, b, c, d, e]) = filtered_world();
    let (anna, bob, _, _) = f.ids();
    // D opens to group 1 as well; A closes to group 2.
    let _ =
        f.engine
            .as_agent(&bob, at(6))?
            .update_chat_scopes(d, groups([1]), Scopes::default())?;
    let _ =
        f.engine
            .as_agent(&anna, at(7))?
            .update_chat_scopes(a, groups([2]), Scopes::default())?;
    assert_eq!(
        filtered(&mut f, &anna, ChatFilters::default()),
        vec![e, d, c, b]
    );
    assert_eq!(
        filtered(&mut f, &bob, ChatFilters::default()),
        vec![e, d, c, b, a]
    );
    Ok(())
}

/// A router that gives every chat to one agent, whoever may see it.
#[derive(Debug)]
struct AlwaysTo(UserId);

impl chatio::routing::Router for AlwaysTo {
    fn name(&self) -> &str {
        "always_to"
    }

    fn route(&self, _: &chatio::routing::RoutingView<'_>) -> chatio::routing::Decision {
        chatio::routing::Decision::Assign(self.0.clone())
    }
}

#[test]
fn a_router_cannot_give_a_chat_to_an_agent_who_may_not_see_it() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, _, jan, eva) = f.ids();
    f.engine.set_router(Arc::new(AlwaysTo(anna.clone())));
    let _ = f.engine.set_agent_presence(&anna, true, at(0))?;
    let out = start(&mut f, &eva, groups([2]), Properties::new(), 10);
    let scoped = out.response.id;
    assert!(out.pushes.iter().all(|p| !p.to.contains(&anna)));
    let chat = f.engine.chat(&scoped).unwrap();
    assert_eq!(chat.routing.assignee, None);
    assert_eq!(chat.agent_ids, Vec::<UserId>::new());
    assert_eq!(f.engine.agent_status(&anna).unwrap().load, 0);
    // The same router's choice stands for a chat Anna may see.
    let (open, _) = f.customer_chat(&jan, "Hi", at(20));
    assert_eq!(
        f.engine.chat(&open).unwrap().routing.assignee,
        Some(anna.clone())
    );
    Ok(())
}

#[test]
fn a_chat_cannot_be_transferred_to_an_agent_who_may_not_see_it() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, bob, _, eva) = f.ids();
    f.engine.set_router(Arc::new(AutomaticRouter::default()));
    let _ = f.engine.set_agent_presence(&anna, true, at(0))?;
    let _ = f.engine.set_agent_presence(&bob, true, at(0))?;
    let chat = start(&mut f, &eva, groups([2]), Properties::new(), 10)
        .response
        .id;
    assert_eq!(
        f.engine.chat(&chat).unwrap().routing.assignee,
        Some(bob.clone())
    );
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&bob, at(20))?
            .transfer_chat(chat, &TransferTarget::Agent(anna.clone()))
    });
    assert_eq!(
        err,
        Error::CannotTakeChat {
            chat_id: chat,
            agent_id: anna.clone()
        }
    );
    let err = assert_rejected(&mut f.engine, ErrorKind::Validation, |e| {
        e.as_agent(&bob, at(20))?
            .transfer_chat(chat, &TransferTarget::Group(GroupId(1)))
    });
    assert_eq!(
        err,
        Error::NoAgentInGroup {
            chat_id: chat,
            group: GroupId(1)
        }
    );
    Ok(())
}

#[test]
fn customer_updates_reach_only_the_agents_who_may_see_the_chat() -> Result<(), Error> {
    let mut f = Fixture::new();
    let (anna, bob, _, eva) = f.ids();
    let chat = start(&mut f, &eva, groups([2]), Properties::new(), 0)
        .response
        .id;
    let out = f
        .engine
        .as_customer(&eva, at(1))?
        .update_customer(CustomerUpdate {
            name: Some("Eva K.".into()),
            ..CustomerUpdate::default()
        })?;
    assert_eq!(
        actions(&out.pushes),
        vec!["customer_updated", "customer_updated"]
    );
    assert_eq!(
        audiences(&out.pushes),
        vec![
            (vec![bob.clone()], Role::Agent),
            (vec![eva.clone()], Role::Customer)
        ]
    );
    assert_eq!(out.pushes[0].kind.chat_id(), Some(chat));
    assert!(out.pushes.iter().all(|p| !p.to.contains(&anna)));
    Ok(())
}
