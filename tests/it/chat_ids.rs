//! Chat ids (issue 20): each carries its chat's slot, so that finding a chat is one array
//! access, but through a permutation keyed from the seed: an id shows neither the chat counter
//! nor which chat is older, even under seed 0. Chats made under the earlier, masked, scheme keep
//! their ids: a configuration or snapshot written before schemes existed reads as that one.

use crate::common;

use chatio::{ChatId, ChatIdScheme, Engine, EngineConfig, NewEvent, StartChat};
use common::*;

fn tail(id: ChatId) -> u32 {
    let b = id.as_uuid().as_bytes();
    u32::from_be_bytes([b[12], b[13], b[14], b[15]])
}

fn chats(config: EngineConfig, n: usize) -> (Engine, Vec<ChatId>) {
    let mut engine = Engine::new(config.max_chats_per_customer(None));
    let jan = engine.create_customer();
    let ids = (0..n)
        .map(|i| {
            engine
                .as_customer(&jan, at(i as i64))
                .unwrap()
                .start_chat(StartChat::default().with_event(NewEvent::message("hi")))
                .unwrap()
                .response
                .id
        })
        .collect();
    (engine, ids)
}

#[test]
fn chat_ids_do_not_show_the_chat_counter() {
    // Seed 0, a server's old default: under the masked scheme the tails are the counter itself.
    let (_, masked) = chats(
        EngineConfig::with_seed(0).chat_id_scheme(ChatIdScheme::MaskedSlot),
        200,
    );
    let counted: Vec<u32> = masked.iter().map(|&id| tail(id)).collect();
    assert_eq!(counted, (0..200).collect::<Vec<u32>>());

    let (engine, keyed) = chats(EngineConfig::with_seed(0), 200);
    assert_eq!(
        engine.config().chat_id_scheme,
        ChatIdScheme::KeyedPermutation
    );
    let tails: Vec<u32> = keyed.iter().map(|&id| tail(id)).collect();
    assert!(
        tails.iter().all(|&t| t >= 200),
        "a tail reads as a small counter"
    );
    let ascending = tails.windows(2).filter(|w| w[0] < w[1]).count();
    assert!(
        (60..140).contains(&ascending),
        "{ascending} of 199 in order"
    );
    // The rest of each id is the generator's, as before: only the tail differs.
    for (m, k) in masked.iter().zip(&keyed) {
        assert_eq!(m.as_uuid().as_bytes()[..12], k.as_uuid().as_bytes()[..12]);
    }
    // Every id still finds its chat, and a forged id with a real chat's tail finds none.
    for id in &keyed {
        assert_eq!(engine.chat(id).unwrap().id, *id);
    }
    let mut forged = *keyed[7].as_uuid().as_bytes();
    forged[0] ^= 1;
    assert!(
        engine
            .chat(&ChatId::from_uuid(uuid::Uuid::from_bytes(forged)))
            .is_none()
    );
}

#[test]
fn two_seeds_give_unrelated_tails() {
    let (_, a) = chats(EngineConfig::with_seed(1), 50);
    let (_, b) = chats(EngineConfig::with_seed(2), 50);
    let same = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| tail(**x) == tail(**y))
        .count();
    assert_eq!(same, 0);
}

#[test]
fn snapshots_keep_the_scheme_their_chat_ids_were_made_with() {
    for scheme in [ChatIdScheme::MaskedSlot, ChatIdScheme::KeyedPermutation] {
        let (engine, ids) = chats(EngineConfig::with_seed(9).chat_id_scheme(scheme), 30);
        let mut restored = Engine::restore(&engine.snapshot()).unwrap();
        assert_eq!(restored.config().chat_id_scheme, scheme);
        assert_eq!(restored, engine);
        let jan = restored.chat(&ids[3]).unwrap().customer_id.clone().unwrap();
        let sent = restored
            .as_customer(&jan, at(100))
            .unwrap()
            .send_event(ids[3], NewEvent::message("still there?"))
            .unwrap();
        assert_eq!(
            sent.response.thread_id,
            restored.chat(&ids[3]).unwrap().threads[0].id
        );
    }
}

#[test]
fn a_snapshot_from_before_schemes_restores_with_the_masked_scheme_and_finds_its_chats() {
    let v1 = std::fs::read("tests/fixtures/snapshot_v1.snap").unwrap();
    assert!(!String::from_utf8_lossy(&v1).contains("chat_id_scheme"));
    let mut restored = Engine::restore(&v1).unwrap();
    assert_eq!(restored.config().chat_id_scheme, ChatIdScheme::MaskedSlot);
    let ids: Vec<ChatId> = restored.chats().iter().map(|c| c.id).collect();
    assert!(!ids.is_empty());
    for id in &ids {
        assert_eq!(restored.chat(id).unwrap().id, *id);
    }
    // New chats go on under the same scheme, so old and new ids live side by side.
    let jan = restored.create_customer();
    let new = restored
        .as_customer(&jan, at(10_000))
        .unwrap()
        .start_chat(StartChat::default())
        .unwrap()
        .response
        .id;
    assert_eq!(restored.chat(&new).unwrap().id, new);
    assert_eq!(restored.chat_count(), ids.len() + 1);
}

#[test]
fn a_configuration_without_the_scheme_reads_as_masked_and_new_ones_write_it() {
    let old = r#"{"seed":7,"max_chats_per_customer":1,"push_audience":"all_agents",
        "unseen_timeout":300,"inactivity_timeout":1500}"#;
    let config: EngineConfig = serde_json::from_str(old).unwrap();
    assert_eq!(config.chat_id_scheme, ChatIdScheme::MaskedSlot);
    let written = serde_json::to_string(&EngineConfig::with_seed(7)).unwrap();
    assert!(
        written.contains(r#""chat_id_scheme":"keyed_permutation""#),
        "{written}"
    );
    let back: EngineConfig = serde_json::from_str(&written).unwrap();
    assert_eq!(back, EngineConfig::with_seed(7));
}
