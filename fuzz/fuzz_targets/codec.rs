//! Fuzzes the v0.5 wire codec: bytes in, `chatio::wire::handle` on a small prepared engine, and
//! checks that the answer is a JSON response, that a failure changes nothing, and that every
//! push is JSON.
//!
//! The first input byte picks the requester (and so the API): Anna (agent, owns a bot), Bob
//! (agent), the bot, Jan (customer with an open chat), Eva (customer without a chat) or someone
//! the engine does not know. The rest is the request text, read as lossy UTF-8.
//!
//! ```sh
//! cargo +nightly fuzz run codec                    # from the repository root
//! cargo +nightly fuzz run codec -- -max_total_time=60
//! ```
//!
//! The engine's ids are fixed by its seed, so a seed corpus may hold real chat ids verbatim.

#![no_main]

use std::sync::OnceLock;

use chatio::wire::{Api, handle};
use chatio::{Agent, Engine, EngineConfig, NewEvent, StartChat, Timestamp, UserId};
use libfuzzer_sys::fuzz_target;

const T0: i64 = 1_700_000_000;

struct Base {
    engine: Engine,
    users: Vec<(Api, UserId)>,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut engine = Engine::new(EngineConfig::with_seed(1));
        let id = |s: &str| UserId::new(s).expect("valid user id");
        let (anna, bob, bot) = (
            id("anna@example.com"),
            id("bob@example.com"),
            id("bot@example.com"),
        );
        engine
            .add_agent(Agent::new(anna.clone(), "Anna"))
            .expect("agent");
        engine
            .add_agent(Agent::new(bob.clone(), "Bob"))
            .expect("agent");
        engine
            .add_agent(Agent::new(bot.clone(), "Bot").bot_owned_by(anna.clone()))
            .expect("bot");
        let jan = engine.create_customer();
        let eva = engine.create_customer();
        let t = Timestamp::from_unix_seconds(T0);
        let chat = engine
            .as_customer(&jan, t)
            .expect("customer")
            .start_chat(StartChat::default().with_event(NewEvent::message("Hello")))
            .expect("chat")
            .response
            .id;
        let _ = engine
            .as_agent(&anna, t)
            .expect("agent")
            .join_chat(chat, std::slice::from_ref(&anna))
            .expect("join");
        Base {
            engine,
            users: vec![
                (Api::Agent, anna),
                (Api::Agent, bob),
                (Api::Agent, bot),
                (Api::Customer, jan),
                (Api::Customer, eva),
                (Api::Agent, id("ghost@example.com")),
            ],
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let base = base();
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let (api, user) = &base.users[usize::from(pick) % base.users.len()];
    let text = String::from_utf8_lossy(rest);
    let mut engine = base.engine.clone();
    let reply = handle(
        &mut engine,
        *api,
        user,
        Timestamp::from_unix_seconds(T0 + 60),
        &text,
    );

    let response: serde_json::Value =
        serde_json::from_str(&reply.response).expect("the response is JSON");
    assert_eq!(response["type"], "response");
    assert_eq!(response["success"], reply.success);
    if reply.success {
        for push in &reply.pushes {
            let push: serde_json::Value = serde_json::from_str(&push.text).expect("a push is JSON");
            assert_eq!(push["type"], "push");
        }
    } else {
        assert!(reply.pushes.is_empty(), "a failed request caused pushes");
        assert!(engine == base.engine, "a failed request changed the engine");
    }
});
