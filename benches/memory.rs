//! Memory a license keeps per chat and per stored message, counted by a global allocator that
//! adds up the bytes of every live allocation (what the program asked for; the allocator's own
//! headers and rounding are not counted, and `ps` is not consulted).
//!
//! The license is the realistic one of `benches/send_event_real.rs`: the automatic router, 100
//! agents online, one chat in ten scoped to a group. Then:
//!
//! 1. 100 000 customers are created: the bytes kept per customer;
//! 2. each starts a chat with a first message (with a `custom_id`): the bytes kept per chat, its
//!    first thread and first message included;
//! 3. 20 further 50-byte messages go into each chat, customer and agent alternating, each with a
//!    `custom_id` of 20 bytes: the bytes kept per further message, its text, its `custom_id`
//!    and its entry in the chat's `custom_id` index included.
//!
//! ```sh
//! cargo bench --bench memory                  # 100 000 chats
//! cargo bench --bench memory -- 10000         # another number of chats
//! ```

#[path = "support/counting.rs"]
mod counting;
#[path = "support/send_mix.rs"]
mod send_mix;

use chatio::journal::JournalMode;
use chatio::{NewEvent, Role, Timestamp};
use counting::{Counting, live};

use send_mix::Mix;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Messages sent into each chat after its first.
const MESSAGES: usize = 20;

fn main() {
    // `cargo bench` passes `--bench`; the only other argument taken is a number of chats.
    let chats: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);

    // The license with its agents and router is the baseline; customers, then chats, then
    // messages are counted from there.
    let (mut engine, _agents) = send_mix::license_without_chats(Mix::Real, chats);
    engine.set_journal_mode(JournalMode::Output);
    drop(engine.take_journal());
    let base = live();
    let customers = send_mix::add_customers(&mut engine, chats);
    // A host call's record waits in the engine until the next output; not the customer's.
    drop(engine.take_journal());
    let after_customers = live();
    let chat_ids = send_mix::start_chats(&mut engine, Mix::Real, &customers);
    drop(engine.take_journal());
    let after_chats = live();

    // The senders of each chat, from the chats themselves.
    let senders: Vec<_> = chat_ids
        .iter()
        .map(|id| {
            let chat = engine.chat(id).expect("chat exists");
            let customer = chat.customer_id.clone().expect("a customer's chat");
            let agent = chat.routing.assignee.clone().expect("an assigned chat");
            (customer, agent)
        })
        .collect();
    let before_messages = live();
    let now = Timestamp::from_unix_seconds(send_mix::T0 + 60);
    let mut n = 0u64;
    for round in 0..MESSAGES {
        for (chat, (customer, agent)) in chat_ids.iter().zip(&senders) {
            let role = if round % 2 == 0 {
                Role::Customer
            } else {
                Role::Agent
            };
            let text = match role {
                Role::Customer => send_mix::CUSTOMER_TEXT,
                Role::Agent => send_mix::AGENT_TEXT,
            };
            let event = NewEvent::message(text).with_custom_id(send_mix::custom_id(n));
            n += 1;
            let out = match role {
                Role::Customer => engine
                    .as_customer(customer, now)
                    .expect("customer exists")
                    .send_event(*chat, event),
                Role::Agent => engine
                    .as_agent(agent, now)
                    .expect("agent exists")
                    .send_event(*chat, event),
            }
            .expect("event sent");
            drop(out);
        }
    }
    let after_messages = live();

    let per_customer = (after_customers - base) as f64 / chats as f64;
    let per_chat = (after_chats - after_customers) as f64 / chats as f64;
    let per_message = (after_messages - before_messages) as f64 / (chats * MESSAGES) as f64;
    println!("memory/{chats} chats: {per_customer:.0} bytes per customer");
    println!(
        "memory/{chats} chats: {per_chat:.0} bytes per chat (its first thread and first message included)"
    );
    println!(
        "memory/{chats} chats: {per_message:.0} bytes per further 50-byte message with a 20-byte custom_id"
    );
    println!(
        "memory/{chats} chats: {:.1} MB in all",
        after_messages as f64 / 1e6
    );
    assert_eq!(engine.chats().len(), chats);
}
