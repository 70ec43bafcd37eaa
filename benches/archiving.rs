//! Memory a license with a long history keeps, without and with archiving
//! ([`Engine::archive_threads`]), counted by a global allocator that adds up the bytes of every
//! live allocation (as `benches/memory.rs` counts them).
//!
//! Each chat has 20 closed threads of 4 messages (50 bytes each, customer and agent
//! alternating) and an active 21st thread with one message. Then every closed thread is
//! archived (the host would write them to its store; here they are dropped), and what the
//! engine still holds is counted again: the chats, their active threads and a stub per
//! archived thread.
//!
//! ```sh
//! cargo bench --bench archiving               # 10 000 chats
//! cargo bench --bench archiving -- 1000       # another number of chats
//! ```

#[path = "support/counting.rs"]
mod counting;

use chatio::journal::JournalMode;
use chatio::{
    ARCHIVE_BATCH_LIMIT, Agent, Engine, EngineConfig, NewEvent, StartChat, Timestamp, UserId,
};
use counting::{Counting, live};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Closed threads per chat.
const CLOSED: usize = 20;
/// Messages per closed thread.
const MESSAGES: usize = 4;
const CUSTOMER_TEXT: &str = "Hello, my parcel has not arrived yet, can you help?";
const AGENT_TEXT: &str = "Of course, let me look it up for you right away now.";

fn main() {
    // `cargo bench` passes `--bench`; the only other argument taken is a number of chats.
    let chats: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);

    let base = live();
    let mut engine = Engine::new(EngineConfig::with_seed(27));
    engine.set_journal_mode(JournalMode::Off);
    let anna = UserId::new("anna@example.com").expect("a valid id");
    engine
        .add_agent(Agent::new(anna.clone(), "Anna"))
        .expect("agent added");
    let t0 = 1_700_000_000;
    let at = |day: usize| Timestamp::from_unix_seconds(t0 + day as i64 * 86_400);
    let mut ids = Vec::with_capacity(chats);
    for _ in 0..chats {
        let customer = engine.create_customer();
        let chat = engine
            .as_agent(&anna, at(0))
            .expect("agent exists")
            .start_chat(Some(customer.clone()), StartChat::default())
            .expect("chat started")
            .response
            .id;
        ids.push((chat, customer));
    }
    for day in 0..=CLOSED {
        for (chat, customer) in &ids {
            let messages = if day == CLOSED { 1 } else { MESSAGES };
            for m in 0..messages {
                let out = if m % 2 == 0 {
                    engine
                        .as_customer(customer, at(day))
                        .expect("customer exists")
                        .send_event(*chat, NewEvent::message(CUSTOMER_TEXT))
                } else {
                    engine
                        .as_agent(&anna, at(day))
                        .expect("agent exists")
                        .send_event(*chat, NewEvent::message(AGENT_TEXT))
                };
                drop(out.expect("event sent"));
            }
            if day < CLOSED {
                let out = engine
                    .as_agent(&anna, at(day))
                    .expect("agent exists")
                    .close_thread(*chat);
                drop(out.expect("thread closed"));
            }
        }
    }
    let whole = live() - base;

    // Everything closed before the last day: all 20 closed threads of each chat.
    let mut archived = 0;
    loop {
        let out = engine
            .archive_threads(at(CLOSED), at(CLOSED), ARCHIVE_BATCH_LIMIT)
            .expect("archived");
        archived += out.response.len();
        if out.response.len() < ARCHIVE_BATCH_LIMIT {
            break;
        }
    }
    let kept = live() - base;

    let threads = engine
        .chats()
        .iter()
        .map(|c| c.threads.len())
        .sum::<usize>();
    assert_eq!(threads, chats * (CLOSED + 1));
    assert_eq!(archived, chats * CLOSED);
    let mb = |b: isize| b as f64 / 1e6;
    println!(
        "archiving/{chats} chats x {} threads: {:.1} MB without archiving ({:.0} bytes per chat)",
        CLOSED + 1,
        mb(whole),
        whole as f64 / chats as f64
    );
    println!(
        "archiving/{chats} chats x {} threads: {:.1} MB with {archived} threads archived ({:.0} bytes per chat, {:.0}% of the whole)",
        CLOSED + 1,
        mb(kept),
        kept as f64 / chats as f64,
        100.0 * kept as f64 / whole as f64
    );
}
