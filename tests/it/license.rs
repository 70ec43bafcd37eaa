//! The license: what the agent's `login` shows of it, and what its expiry refuses.
//!
//! With an expiration time configured, every Agent API and Customer API call made at or after
//! it is refused with `license_expired` and changes nothing; host calls are served, and journal
//! records made before the expiry replay after it.

use crate::common;

use chatio::journal::{JournalError, JournalMode, JournalRecord};
use chatio::model::{Location, LocationAccess, PropertyConfig, PropertyType};
use chatio::query::{ArchiveFilters, ArchivesPagination, ChatFilters, ChatsPagination};
use chatio::routing::{AutomaticRouter, RoutingStatus};
use chatio::wire::{self, Api};
use chatio::{
    Agent, ChatId, Command, CustomerUpdate, Engine, EngineConfig, Error, ErrorKind, HostCommand,
    License, MulticastScopes, NewEvent, Pagination, PushKind, REASON_LICENSE_EXPIRED, Recipients,
    StartChat, Timestamp, UserId,
};
use common::*;
use serde_json::{Value, json};

/// Seconds after `T0` at which the license expires.
const EXPIRY: i64 = 1_000;

fn license() -> License {
    License::new("104130623", "enterprise", at(-86_400))
        .expiration_timestamp(Some(at(EXPIRY)))
        .in_trial(true)
}

fn licensed_config() -> EngineConfig {
    EngineConfig::with_seed(42).license(license())
}

/// The fixture under the license, with some history before the expiry: Jan's chat has a closed
/// thread and an active one that Anna joined, Eva is banned for a day (which archived the chat
/// she had started: a ban needs a chat of the customer that the agent may see), and nothing is
/// due.
struct Busy {
    f: Fixture,
    chat: ChatId,
}

fn busy(config: EngineConfig) -> Busy {
    let mut f = Fixture::with_config(config);
    let (anna, _, jan, eva) = f.ids();
    let (chat, _) = f.customer_chat(&jan, "Where is my parcel?", at(0));
    f.close(chat, at(10));
    let _ = f
        .engine
        .as_customer(&jan, at(20))
        .unwrap()
        .send_event(chat, NewEvent::message("Still waiting"))
        .unwrap();
    let _ = f
        .engine
        .as_agent(&anna, at(30))
        .unwrap()
        .join_chat(chat, std::slice::from_ref(&anna))
        .unwrap();
    f.customer_chat(&eva, "Spam, spam, spam", at(35));
    let _ = f
        .engine
        .as_agent(&anna, at(40))
        .unwrap()
        .ban_customer(&eva, 1)
        .unwrap();
    Busy { f, chat }
}

fn expired_error(err: &Error) {
    assert_eq!(
        *err,
        Error::LicenseExpired {
            license_id: "104130623".into(),
            expired_at: at(EXPIRY),
        }
    );
    let text = err.to_string();
    assert!(text.contains("104130623"), "{text}");
    assert!(text.contains(&at(EXPIRY).to_string()), "{text}");
}

// ----- login -----

#[test]
fn login_carries_the_configured_license() {
    let mut f = Fixture::with_config(licensed_config());
    let (anna, ..) = f.ids();
    let login = f.engine.as_agent(&anna, at(0)).unwrap().login().unwrap();
    assert_eq!(login.license, Some(license()));
    assert_eq!(login.my_profile.id, anna);

    let reply = wire::handle(
        &mut f.engine,
        Api::Agent,
        &anna,
        at(0),
        r#"{"request_id":"1","action":"login","payload":{"token":"t"}}"#,
    );
    assert!(reply.success, "{}", reply.response);
    let response: Value = serde_json::from_str(&reply.response).unwrap();
    assert_eq!(
        response["payload"]["license"],
        json!({
            "id": "104130623",
            "plan": "enterprise",
            "creation_timestamp": at(-86_400).unix_seconds(),
            "expiration_timestamp": at(EXPIRY).unix_seconds(),
            "in_trial": true,
        })
    );
    assert_eq!(response["payload"]["my_profile"]["id"], anna.to_string());
}

#[test]
fn a_license_that_never_expires_shows_no_expiration_and_serves_until_the_end_of_time() {
    let never = License::new("7", "team", at(0));
    let mut f = Fixture::with_config(EngineConfig::with_seed(42).license(never.clone()));
    let (anna, _, jan, _) = f.ids();
    let end = Timestamp::from_unix_seconds(i64::MAX);
    let login = f.engine.as_agent(&anna, end).unwrap().login().unwrap();
    assert_eq!(login.license, Some(never));
    let (chat, _) = f.customer_chat(&jan, "Still open?", end);
    assert!(f.engine.chat(&chat).unwrap().is_active());

    let reply = wire::handle(
        &mut f.engine,
        Api::Agent,
        &anna,
        end,
        r#"{"action":"login","payload":{"token":"t"}}"#,
    );
    let response: Value = serde_json::from_str(&reply.response).unwrap();
    assert_eq!(
        response["payload"]["license"],
        json!({"id": "7", "plan": "team", "creation_timestamp": T0, "in_trial": false})
    );
}

#[test]
fn without_a_license_login_shows_none_and_nothing_ever_expires() {
    let mut b = busy(EngineConfig::with_seed(42));
    let (anna, _, jan, _) = b.f.ids();
    assert_eq!(b.f.engine.config().license, None);
    let end = Timestamp::from_unix_seconds(i64::MAX);
    for t in [at(EXPIRY), end] {
        assert!(b.f.engine.license_check(t).is_ok());
        let login = b.f.engine.as_agent(&anna, t).unwrap().login().unwrap();
        assert_eq!(login.license, None);
        assert_eq!(login.chats_summary.len(), 1);
    }
    let sent =
        b.f.engine
            .as_customer(&jan, end)
            .unwrap()
            .send_event(b.chat, NewEvent::message("Hello from the end of time"))
            .unwrap();
    assert_eq!(sent.response.event.timestamp, end);

    let reply = wire::handle(
        &mut b.f.engine,
        Api::Agent,
        &anna,
        end,
        r#"{"action":"login","payload":{"token":"t"}}"#,
    );
    assert!(reply.success, "{}", reply.response);
    let response: Value = serde_json::from_str(&reply.response).unwrap();
    assert!(response["payload"].get("license").is_none(), "{response}");
    assert!(response["payload"].get("my_profile").is_some());
}

// ----- expiry -----

/// A facade call by name, made on an engine; its response, if any, as debug text.
type Call = (
    &'static str,
    Box<dyn Fn(&mut Engine) -> Result<String, Error>>,
);

/// A [`Call`] named `$name` that makes the facade `$facade` (`as_agent` or `as_customer`) for
/// `$id` at `$t` and runs `$body` on it.
macro_rules! facade_call {
    ($facade:ident, $id:ident, $t:ident, $name:literal, |$api:ident| $body:expr) => {{
        let id = $id.clone();
        (
            $name,
            Box::new(move |e: &mut Engine| {
                #[allow(unused_mut)]
                let mut $api = e.$facade(&id, $t)?;
                $body.map(|v| format!("{v:?}"))
            }) as Box<dyn Fn(&mut Engine) -> Result<String, Error>>,
        )
    }};
}

/// Every facade call this test knows, as agent Anna at `t`, each of which would be served
/// before the expiry.
fn agent_calls(anna: &UserId, jan: &UserId, chat: ChatId, t: Timestamp) -> Vec<Call> {
    let id = anna.clone();
    let jan = jan.clone();
    macro_rules! call {
        ($name:literal, |$api:ident| $body:expr) => {
            facade_call!(as_agent, id, t, $name, |$api| $body)
        };
    }
    vec![
        call!("login", |api| api.login()),
        call!("get_chat_threads", |api| api.get_chat_threads(chat, &[])),
        call!("get_chat_threads_summary", |api| api
            .get_chat_threads_summary(chat, Pagination::default())),
        call!("get_filtered_chats", |api| api.get_filtered_chats(
            &ChatFilters::default(),
            ChatsPagination::default()
        )),
        call!("get_archives", |api| api.get_archives(
            &ArchiveFilters::default(),
            ArchivesPagination::default()
        )),
        call!("get_auto_chat_scopes_config", |api| api
            .get_auto_chat_scopes_config()),
        call!("start_chat", |api| api
            .start_chat(None, StartChat::default())),
        call!("send_event", |api| api.send_event(
            chat,
            NewEvent::message("Your parcel is on its way")
        )),
        call!("send_typing_indicator", |api| api.send_typing_indicator(
            chat,
            Recipients::All,
            true
        )),
        call!("multicast", |api| api.multicast(
            &MulticastScopes {
                all_agents: true,
                ..MulticastScopes::default()
            },
            json!({"note": "lunch"})
        )),
        call!("update_agent", |api| api
            .update_agent(None, Some(RoutingStatus::NotAcceptingChats))),
        call!("update_last_seen_timestamp", |api| api
            .update_last_seen_timestamp(chat, None)),
        call!("close_thread", |api| api.close_thread(chat)),
        call!("ban_customer", |api| api.ban_customer(&jan, 1)),
    ]
}

/// Every Customer API call this test knows, as `customer` at `t`.
fn customer_calls(customer: &UserId, chat: ChatId, t: Timestamp) -> Vec<Call> {
    let id = customer.clone();
    macro_rules! call {
        ($name:literal, |$api:ident| $body:expr) => {
            facade_call!(as_customer, id, t, $name, |$api| $body)
        };
    }
    vec![
        call!("login", |api| api.login()),
        call!("get_chats_summary", |api| api
            .get_chats_summary(Pagination::default())),
        call!("get_chat_threads", |api| api.get_chat_threads(chat, &[])),
        call!("get_chat_threads_summary", |api| api
            .get_chat_threads_summary(chat, Pagination::default())),
        call!("get_queue_position", |api| api.get_queue_position(chat)),
        call!("send_event", |api| api
            .send_event(chat, NewEvent::message("Hello?"))),
        call!("send_sneak_peek", |api| api.send_sneak_peek(chat, "Hel")),
        call!("send_typing_indicator", |api| api
            .send_typing_indicator(chat, true)),
        call!("update_customer", |api| api.update_customer(
            CustomerUpdate {
                name: Some("Jan K.".into()),
                ..CustomerUpdate::default()
            }
        )),
        call!("update_last_seen_timestamp", |api| api
            .update_last_seen_timestamp(chat, None)),
        call!("close_thread", |api| api.close_thread(chat)),
    ]
}

#[test]
fn every_call_at_or_after_the_expiry_is_refused_and_changes_nothing() {
    let mut b = busy(licensed_config());
    // Records wait in the engine, so a refusal that wrote one would show in the comparison.
    b.f.engine.set_journal_mode(JournalMode::Hold);
    let (anna, bob, jan, _) = b.f.ids();
    let end = Timestamp::from_unix_seconds(i64::MAX);
    for t in [at(EXPIRY), at(EXPIRY + 1), at(EXPIRY + 86_400), end] {
        assert!(b.f.engine.license_check(t).is_err());
        let calls = agent_calls(&anna, &jan, b.chat, t)
            .into_iter()
            .map(|(name, call)| (format!("agent {name}"), call))
            .chain(
                agent_calls(&bob, &jan, b.chat, t)
                    .into_iter()
                    .map(|(name, call)| (format!("agent (bob) {name}"), call)),
            )
            .chain(
                customer_calls(&jan, b.chat, t)
                    .into_iter()
                    .map(|(name, call)| (format!("customer {name}"), call)),
            );
        let mut count = 0;
        for (name, call) in calls {
            let err = assert_rejected(&mut b.f.engine, ErrorKind::LicenseExpired, |e| call(e));
            expired_error(&err);
            assert_eq!(err.kind().as_str(), "license_expired", "{name} at {t}");
            count += 1;
        }
        assert_eq!(count, 14 * 2 + 11);
        // Whoever asks: an unknown user, and a banned customer, get the same answer.
        let nobody = uid("nobody@example.com");
        let err = assert_rejected(&mut b.f.engine, ErrorKind::LicenseExpired, |e| {
            e.as_agent(&nobody, t).map(drop)
        });
        expired_error(&err);
        let err = assert_rejected(&mut b.f.engine, ErrorKind::LicenseExpired, |e| {
            e.as_customer(&nobody, t).map(drop)
        });
        expired_error(&err);
        let (_, _, _, eva) = b.f.ids();
        let err = assert_rejected(&mut b.f.engine, ErrorKind::LicenseExpired, |e| {
            e.as_customer(&eva, t).map(drop)
        });
        expired_error(&err);
    }
    assert!(b.f.engine.take_journal().is_empty());
}

#[test]
fn the_same_calls_one_second_before_the_expiry_are_served() {
    let base = busy(licensed_config());
    let (anna, bob, jan, _) = base.f.ids();
    let t = at(EXPIRY - 1);
    assert!(base.f.engine.license_check(t).is_ok());
    // Each call on a fresh copy, so that one (closing the thread, banning Jan) does not stand in
    // another's way.
    let calls = agent_calls(&anna, &jan, base.chat, t)
        .into_iter()
        .chain(agent_calls(&bob, &jan, base.chat, t))
        .chain(customer_calls(&jan, base.chat, t));
    for (name, call) in calls {
        let mut engine = base.f.engine.clone();
        if let Err(e) = call(&mut engine) {
            panic!("{name} one second before the expiry: {e}");
        }
    }
    // And they stay served up to the last second: then the next is refused.
    let mut engine = base.f.engine.clone();
    let sent = engine
        .as_customer(&jan, t)
        .unwrap()
        .send_event(base.chat, NewEvent::message("Just in time"))
        .unwrap();
    assert_eq!(sent.response.event.timestamp, t);
    let err = engine.as_customer(&jan, at(EXPIRY)).unwrap_err();
    expired_error(&err);
}

#[test]
fn once_the_engine_has_seen_the_expiry_an_earlier_now_is_refused_too() {
    let mut b = busy(licensed_config());
    let (anna, ..) = b.f.ids();
    // A host call at the expiry moves the engine's clock; it is served.
    let _ =
        b.f.engine
            .set_agent_presence(&anna, true, at(EXPIRY))
            .unwrap();
    assert_eq!(b.f.engine.now(), at(EXPIRY));
    // Time never goes backwards: a call made "earlier" acts at the expiry, and is refused.
    let err = assert_rejected(&mut b.f.engine, ErrorKind::LicenseExpired, |e| {
        e.as_agent(&anna, at(EXPIRY - 500))?.login()
    });
    expired_error(&err);
    assert!(b.f.engine.license_check(at(0)).is_err());
}

#[test]
fn host_calls_are_served_after_the_expiry() {
    let mut b = busy(licensed_config());
    let (anna, ..) = b.f.ids();
    let after = at(EXPIRY + 10);
    let carl = uid("carl@example.com");
    b.f.engine
        .add_agent(Agent::new(carl.clone(), "Carl"))
        .unwrap();
    let _ = b.f.engine.create_customer();
    b.f.engine
        .configure_property(
            PropertyConfig::new("rating", "score", PropertyType::Int)
                .at(Location::Chat, LocationAccess::default()),
        )
        .unwrap();
    let _ = b.f.engine.set_agent_presence(&anna, true, after).unwrap();
    let _ =
        b.f.engine
            .update_agent_profile(Agent::new(carl.clone(), "Carl B."), after)
            .unwrap();
    b.f.engine
        .set_router(std::sync::Arc::new(AutomaticRouter::default()));
    let _ = b.f.engine.tick(after + 100_000);
    assert_eq!(b.f.engine.agent(&carl).unwrap().name, "Carl B.");

    // The snapshot of an expired license restores, license and all.
    let snapshot = b.f.engine.snapshot();
    let restored = Engine::restore(&snapshot).unwrap();
    assert_eq!(restored, b.f.engine);
    assert_eq!(restored.config().license, Some(license()));

    // The new agent is refused like the others.
    let err = b.f.engine.as_agent(&carl, after).unwrap_err();
    expired_error(&err);
}

#[test]
fn wire_requests_after_the_expiry_get_license_expired_and_ping_is_answered() {
    let mut b = busy(licensed_config());
    let (anna, _, jan, _) = b.f.ids();
    let t = at(EXPIRY);
    let before = b.f.engine.clone();
    let chat = b.chat.to_string();
    let requests = [
        (
            Api::Agent,
            &anna,
            json!({"request_id": "1", "action": "login", "payload": {}}),
        ),
        (
            Api::Agent,
            &anna,
            json!({"request_id": "2", "action": "send_event", "payload": {
                "chat_id": chat, "event": {"type": "message", "text": "Hi"}}}),
        ),
        (
            Api::Customer,
            &jan,
            json!({"request_id": "3", "action": "send_event", "payload": {
                "chat_id": chat, "event": {"type": "message", "text": "Hi"}}}),
        ),
        (
            Api::Customer,
            &jan,
            json!({"request_id": "4", "action": "get_chats_summary"}),
        ),
    ];
    for (api, user, request) in requests {
        let seq = b.f.engine.journal_seq();
        let reply = wire::handle(&mut b.f.engine, api, user, t, &request.to_string());
        assert!(!reply.success, "{}", reply.response);
        assert!(reply.pushes.is_empty() && b.f.engine.journal_seq() == seq);
        let response: Value = serde_json::from_str(&reply.response).unwrap();
        assert_eq!(response["payload"]["error"]["type"], "license_expired");
        assert_eq!(
            response["payload"]["error"]["message"],
            "license 104130623 expired at 1700001000"
        );
        assert_eq!(response["request_id"], request["request_id"]);
    }
    assert_eq!(b.f.engine, before);

    // `ping` keeps the connection alive and reaches no chat: it is still answered.
    for (api, user) in [(Api::Agent, &anna), (Api::Customer, &jan)] {
        let reply = wire::handle(
            &mut b.f.engine,
            api,
            user,
            t,
            r#"{"request_id":"p","action":"ping"}"#,
        );
        assert!(reply.success, "{}", reply.response);
    }
    assert_eq!(b.f.engine, before);
}

// ----- replay -----

/// A licensed engine under the automatic router that works right up to the expiry, is refused
/// after it, and whose timers fire after it: with every record it wrote.
fn across_the_expiry() -> (Engine, Vec<JournalRecord>, Vec<u8>) {
    let config = licensed_config().routing_timeouts(60, 300);
    let mut engine = Engine::new(config).with_router(AutomaticRouter::default());
    engine.set_journal_mode(JournalMode::Hold);
    let (anna, jan) = (uid("anna@example.com"), uid("customer-jan"));
    engine.add_agent(Agent::new(anna.clone(), "Anna")).unwrap();
    engine
        .add_customer(chatio::Customer::new(jan.clone()))
        .unwrap();
    let _ = engine.set_agent_presence(&anna, true, at(0)).unwrap();
    let chat = engine
        .as_customer(&jan, at(EXPIRY - 200))
        .unwrap()
        .start_chat(StartChat::default().with_event(NewEvent::message("Hello")))
        .unwrap()
        .response
        .id;
    let _ = engine
        .as_agent(&anna, at(EXPIRY - 100))
        .unwrap()
        .send_event(chat, NewEvent::message("Hi Jan"))
        .unwrap();
    let snapshot = engine.snapshot();
    let _ = engine
        .as_customer(&jan, at(EXPIRY - 1))
        .unwrap()
        .send_event(chat, NewEvent::message("Last words"))
        .unwrap();
    assert!(engine.as_customer(&jan, at(EXPIRY)).is_err());
    // The timers still run after the expiry: Jan's last message goes unseen, and routing takes
    // the chat from Anna.
    let mut pushes_after = 0;
    while let Some(due) = engine.next_deadline() {
        let out = engine.tick(due);
        if due >= at(EXPIRY) {
            pushes_after += out.pushes.len();
        }
    }
    assert!(pushes_after > 0);
    let records = engine.take_journal();
    (engine, records, snapshot)
}

#[test]
fn records_made_before_the_expiry_replay_after_it() {
    let (live, records, snapshot) = across_the_expiry();
    let expiry = at(EXPIRY);
    let at_of = |r: &JournalRecord| match &r.command {
        Command::Agent { .. } | Command::Customer { .. } => Some(r.at),
        _ => None,
    };
    // Facade records all come from before the expiry; ticks from after it.
    assert!(records.iter().filter_map(at_of).all(|t| t < expiry));
    assert!(
        records
            .iter()
            .any(|r| matches!(r.command, Command::Host(HostCommand::Tick)) && r.at >= expiry)
    );

    let mut replayed = Engine::new(live.config().clone());
    for record in &records {
        replayed.apply(record.clone()).unwrap();
    }
    assert_eq!(replayed, live);

    // A snapshot from before the expiry plus the records after it: the same engine.
    let mut restored = Engine::restore(&snapshot).unwrap();
    let from = restored.journal_seq();
    for record in records.iter().filter(|r| r.seq > from) {
        restored.apply(record.clone()).unwrap();
    }
    assert_eq!(restored, live);
}

#[test]
fn a_record_claiming_a_call_after_the_expiry_diverges_and_changes_nothing() {
    let (mut live, records, _) = across_the_expiry();
    let last_customer_call = records
        .iter()
        .rev()
        .find(|r| matches!(r.command, Command::Customer { .. }))
        .unwrap();
    // No engine under this license writes such a record; an edited journal could.
    let forged = JournalRecord {
        seq: live.journal_seq() + 1,
        at: live.now(),
        command: last_customer_call.command.clone(),
    };
    let before = live.clone();
    let err = live.apply(forged.clone()).unwrap_err();
    assert!(
        matches!(&err, JournalError::Diverged { seq, reason }
            if *seq == forged.seq && reason.contains("license 104130623 expired")),
        "{err}"
    );
    assert_eq!(live, before);
}

// ----- configuration and snapshots -----

#[test]
fn configurations_without_the_license_field_still_read() {
    // An `EngineConfig` as stored before the license existed (e.g. by `rtm_server --data`).
    let old = r#"{"seed":7,"max_chats_per_customer":1,"push_audience":"all_agents",
        "unseen_timeout":300,"inactivity_timeout":1500}"#;
    let config: EngineConfig = serde_json::from_str(old).unwrap();
    // It predates chat id schemes too: its chat ids were made with the masked slot.
    let then = EngineConfig::with_seed(7).chat_id_scheme(chatio::ChatIdScheme::MaskedSlot);
    assert_eq!(config, then);
    assert_eq!(config.license, None);
    // Without a license the field is not written (older builds, which ignore fields they do
    // not know, such as `limits`, read it as no license).
    let written = serde_json::to_string(&EngineConfig::with_seed(7)).unwrap();
    assert!(!written.contains("\"license\""), "{written}");
    // With one, it round-trips.
    let text = serde_json::to_string(&licensed_config()).unwrap();
    assert_eq!(
        serde_json::from_str::<EngineConfig>(&text).unwrap(),
        licensed_config()
    );
}

#[test]
fn snapshots_without_a_license_still_restore_and_licensed_ones_keep_it() {
    // Format 1, written before the license existed: its configuration has no such field.
    let v1 = std::fs::read("tests/fixtures/snapshot_v1.snap").unwrap();
    let text = String::from_utf8_lossy(&v1);
    assert!(!text.contains("\"license\""));
    let restored = Engine::restore(&v1).unwrap();
    assert_eq!(restored.config().license, None);
    assert_eq!(restored.config().seed, 2024);

    // Today's format without a license: no field, so older builds read it too.
    let plain = busy(EngineConfig::with_seed(42)).f.engine;
    let snapshot = plain.snapshot();
    assert!(!String::from_utf8_lossy(&snapshot).contains("\"license\""));
    assert_eq!(Engine::restore(&snapshot).unwrap(), plain);

    // With a license: it comes back, and so does its expiry.
    let mut licensed = busy(licensed_config()).f.engine;
    let snapshot = licensed.snapshot();
    let mut restored = Engine::restore(&snapshot).unwrap();
    assert_eq!(restored, licensed);
    assert_eq!(restored.config().license, Some(license()));
    let anna = uid("anna@example.com");
    expired_error(&restored.as_agent(&anna, at(EXPIRY)).unwrap_err());
    assert!(licensed.as_agent(&anna, at(EXPIRY - 1)).is_ok());
}

// ----- disconnects at the expiry -----

/// The license's end is a deadline while agents are connected: the tick at it tells each
/// connected agent (and only them) `agent_disconnected` with reason `license_expired`, once.
#[test]
fn connected_agents_are_disconnected_when_the_license_expires() {
    let mut f = Fixture::with_config(licensed_config());
    let (anna, ..) = f.ids();
    assert_eq!(
        f.engine.next_deadline(),
        None,
        "nobody connected, nothing to tell"
    );
    let _ = f.engine.set_agent_presence(&anna, true, at(0)).unwrap();
    assert_eq!(f.engine.next_deadline(), Some(at(EXPIRY)));
    assert!(f.engine.tick(at(EXPIRY - 1)).pushes.is_empty(), "not yet");

    let out = f.engine.tick(at(EXPIRY));
    assert_eq!(out.pushes.len(), 1, "{:?}", out.pushes);
    let push = &out.pushes[0];
    assert_eq!(
        push.to.iter().collect::<Vec<_>>(),
        [&anna],
        "not Bob: offline"
    );
    assert_eq!(
        push.kind,
        PushKind::AgentDisconnected {
            reason: REASON_LICENSE_EXPIRED.to_string()
        }
    );
    let wire = wire::encode_push(push);
    assert_eq!(wire.action, "agent_disconnected");
    assert_eq!(
        serde_json::from_str::<Value>(&wire.text).unwrap(),
        json!({"action": "agent_disconnected", "type": "push",
               "payload": {"reason": "license_expired"}})
    );
    assert_eq!(f.engine.next_deadline(), None, "told once");
    assert!(f.engine.tick(at(EXPIRY + 60)).pushes.is_empty());
}

/// A host call that moves the engine's time past the end first (an agent connecting late)
/// tells the agents connected then, that one included; the journal replays to the same state.
#[test]
fn the_first_host_call_past_the_expiry_disconnects_and_replays_alike() {
    let mut engine = Engine::new(licensed_config());
    engine.set_journal_mode(JournalMode::Hold);
    let (anna, bob) = (uid("anna@example.com"), uid("bob@example.com"));
    engine.add_agent(Agent::new(anna.clone(), "Anna")).unwrap();
    engine.add_agent(Agent::new(bob.clone(), "Bob")).unwrap();
    let _ = engine.set_agent_presence(&anna, true, at(0)).unwrap();
    let out = engine
        .set_agent_presence(&bob, true, at(EXPIRY + 5))
        .unwrap();
    let disconnects: Vec<_> = out
        .pushes
        .iter()
        .filter(|p| p.kind.action() == "agent_disconnected")
        .collect();
    assert_eq!(disconnects.len(), 1, "{:?}", out.pushes);
    let mut told: Vec<_> = disconnects[0].to.iter().cloned().collect();
    told.sort();
    assert_eq!(told, [anna.clone(), bob.clone()]);
    // Customers are never told: v0.5 gives them no such reason.
    assert!(out.pushes.iter().all(|p| p.role == chatio::Role::Agent));
    assert_eq!(engine.next_deadline(), None);

    let mut replayed = Engine::new(licensed_config());
    for record in engine.take_journal() {
        replayed.apply(record).unwrap();
    }
    assert_eq!(replayed, engine, "the replay reaches the same state");
}
