//! The `send_event` bench's loop without criterion around it: for A/B comparisons of two builds
//! that need more runs, or more build configurations, than the criterion bench makes practical.
//!
//! ```sh
//! cargo run --release --example send_event_loop -- 1000 2000000 on
//! #                                               chats sends  journal: on | off | hold
//! ```
//!
//! It sets up the bench's license (one agent; per chat, one customer who started it with a
//! message), then runs two passes. Each pass starts from a clone of the license as set up and
//! makes `sends` agent `send_event` calls into chats picked uniformly at random, timing only
//! those calls and the drop of their `Output` (the events are built beforehand, in batches of
//! 1 024). It prints the second pass's mean time per send, so the first one warms the allocator
//! the way the bench's untimed cycle does.
//!
//! One run's figure moves with the machine; `benches/README.md` (round four) describes the
//! method used there: alternate the two binaries five times, compare medians, and repeat with
//! a second build configuration, because code layout alone moves the figure by 5 to 10 %.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chatio::journal::JournalMode;
use chatio::{Agent, ChatId, Engine, EngineConfig, NewEvent, StartChat, Timestamp, UserId};

/// The moment the license is set up; the clock moves one second per 1 000 sends from here.
const T0: i64 = 1_700_000_000;
/// The agent's message, as in the bench.
const TEXT: &str = "Thanks for waiting, I am checking your order now.";
/// Events built per timed stretch.
const BATCH: u64 = 1_024;
/// How many random chat picks are precomputed, as in the bench; the list is cycled.
const PICKS: usize = 1 << 20;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let chats: usize = args.first().map_or(Ok(1_000), |s| s.parse())?;
    let sends: u64 = args.get(1).map_or(Ok(2_000_000), |s| s.parse())?;
    let journal = match args.get(2).map_or("on", String::as_str) {
        "on" => JournalMode::Output,
        "off" => JournalMode::Off,
        "hold" => JournalMode::Hold,
        other => return Err(format!("journal mode {other:?}: expected on, off or hold").into()),
    };
    if chats == 0 {
        return Err("at least one chat is needed".into());
    }

    let mut engine = Engine::new(EngineConfig::with_seed(0x5eed));
    engine.set_journal_mode(journal);
    let agent = UserId::new("agent@example.com")?;
    engine.add_agent(Agent::new(agent.clone(), "Agent"))?;
    let t0 = Timestamp::from_unix_seconds(T0);
    let mut chat_ids: Vec<ChatId> = Vec::with_capacity(chats);
    for _ in 0..chats {
        let customer = engine.create_customer();
        let started = engine
            .as_customer(&customer, t0)?
            .start_chat(StartChat::default().with_event(NewEvent::message("Hi, I need help")))?;
        chat_ids.push(started.response.id);
    }
    drop(engine.take_journal());
    let pristine = engine.clone();

    // xorshift64, as the bench picks its chats, into a list read in order as the bench reads
    // its own. (Drawing each pick from `chat_ids` inside the timer made every send at 1 000 000
    // chats pay one extra cache miss, in the driver: about 13 % of its samples.)
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let picks: Vec<ChatId> = (0..PICKS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chat_ids[((u128::from(x) * chats as u128) >> 64) as usize]
        })
        .collect();
    let mut next_pick = 0;
    let mut sent: u64 = 0;
    let mut last = Duration::ZERO;
    for _pass in 0..2 {
        // As the bench resets: the clone is made before the old engine is dropped. (Dropping
        // first lets the clone take the freed blocks, and the figure then moves by a quarter.)
        engine = pristine.clone();
        // Sorts out the blocks the old engine freed before the timer starts (see the bench's
        // `reset`).
        drop(black_box(Vec::<u8>::with_capacity(64 * 1024)));
        let mut timed = Duration::ZERO;
        let mut left = sends;
        let mut events = Vec::with_capacity(BATCH as usize);
        while left > 0 {
            let n = left.min(BATCH);
            events.extend((0..n).map(|_| NewEvent::message(TEXT)));
            let start = Instant::now();
            for event in events.drain(..) {
                let chat = picks[next_pick];
                next_pick = (next_pick + 1) % PICKS;
                let now = Timestamp::from_unix_seconds(T0 + (sent / 1_000) as i64);
                sent += 1;
                let out = engine.as_agent(&agent, now)?.send_event(chat, event)?;
                drop(black_box(out));
            }
            timed += start.elapsed();
            left -= n;
            // A host in `Hold` mode takes the records after each call; here, after each batch.
            drop(engine.take_journal());
        }
        last = timed;
    }
    println!(
        "{:.1} ns/send ({chats} chats, journal {journal:?})",
        last.as_nanos() as f64 / sends.max(1) as f64
    );
    Ok(())
}
