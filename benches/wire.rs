//! `wire`: one agent `send_event` request through the JSON codec, end to end.
//!
//! The license: one agent (Anna) and one customer (Jan), who started a chat with a first
//! message; Anna joined it. Each iteration Anna sends a message into the chat's active thread.
//!
//! What the timer covers, per iteration of `wire/send_event`: [`chatio::wire::handle`] on the
//! request text (decoding the envelope and the payload, the engine's `send_event`, rendering the
//! response and both pushes, `incoming_event` for Anna and for Jan, to their JSON text), and
//! dropping the returned `Reply` after `black_box`. What it does not cover: building the
//! request text (one constant string, as a host would hold the frame it read), and restoring
//! the engine from its pristine copy every `RESET_AFTER` sends, which keeps the thread (and
//! memory) bounded.
//!
//! `wire/engine_only` is the same send through `AgentApi::send_event` with a `NewEvent` built
//! in the loop and no JSON at all: the difference between the two is the codec's cost. Both run
//! the engine with the journal in its default mode: each call makes its record, and `handle`
//! drops it with the `Output`.
//!
//! The request is the common shape (`request_id`, `action`, then `payload`, a plain message), so
//! `handle` reads it in one pass; the three messages it writes share one rendering of the event.
//!
//! ```sh
//! cargo bench --bench wire
//! ```
//!
//! Target: a median of at most 1 µs for `wire/send_event` on one core.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chatio::wire::{Api, handle};
use chatio::{Agent, ChatId, Engine, EngineConfig, NewEvent, StartChat, Timestamp, UserId};
use criterion::{Criterion, criterion_group, criterion_main};

/// When the license is set up (2023-11-14T22:13:20Z); every send happens a minute later.
const T0: i64 = 1_700_000_000;
/// Sends after which the engine is put back to its pristine copy, outside the timer. Each send
/// keeps about 300 bytes in the thread, so a cycle holds about 60 MB.
const RESET_AFTER: u64 = 200_000;
/// Sends per timed stretch.
const BATCH: u64 = 1_024;
/// Anna's message.
const TEXT: &str = "Thanks for waiting, I am checking your order now.";

struct License {
    pristine: Engine,
    anna: UserId,
    chat: ChatId,
    request: String,
}

fn license() -> License {
    let mut engine = Engine::new(EngineConfig::with_seed(1));
    let anna = UserId::new("anna@example.com").unwrap();
    engine.add_agent(Agent::new(anna.clone(), "Anna")).unwrap();
    let jan = engine.create_customer();
    let t = Timestamp::from_unix_seconds(T0);
    let chat = engine
        .as_customer(&jan, t)
        .unwrap()
        .start_chat(StartChat::default().with_event(NewEvent::message("Where is my order?")))
        .unwrap()
        .response
        .id;
    let _ = engine
        .as_agent(&anna, t)
        .unwrap()
        .join_chat(chat, std::slice::from_ref(&anna))
        .unwrap();
    let request = format!(
        r#"{{"request_id":"7","action":"send_event","payload":{{"chat_id":"{chat}","event":{{"type":"message","text":"{TEXT}"}}}}}}"#
    );

    // The measured call does what the header says.
    let mut probe = engine.clone();
    let reply = handle(
        &mut probe,
        Api::Agent,
        &anna,
        Timestamp::from_unix_seconds(T0 + 60),
        &request,
    );
    assert!(reply.success, "{}", reply.response);
    let actions: Vec<&str> = reply.pushes.iter().map(|p| p.action).collect();
    assert_eq!(actions, ["incoming_event", "incoming_event"]);
    assert_eq!(reply.pushes[0].to, vec![anna.clone()]);
    assert_eq!(reply.pushes[1].to, vec![jan]);
    let threads = &probe.chat(&chat).unwrap().threads;
    assert_eq!(threads.len(), 1, "the message went to the active thread");
    assert_eq!(threads[0].events.len(), 3);

    License {
        pristine: engine,
        anna,
        chat,
        request,
    }
}

/// Runs `send` `iters` times, timing only the sends; restores the engine every
/// [`RESET_AFTER`] sends.
fn timed(
    iters: u64,
    engine: &mut Engine,
    pristine: &Engine,
    sent: &mut u64,
    mut send: impl FnMut(&mut Engine),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        if *sent >= RESET_AFTER {
            *engine = pristine.clone();
            *sent = 0;
            // Have glibc tidy up the freed engine now rather than inside a timed send.
            drop(black_box(vec![0u8; 64 * 1024]));
        }
        let n = left.min(BATCH).min(RESET_AFTER - *sent);
        let start = Instant::now();
        for _ in 0..n {
            send(engine);
        }
        total += start.elapsed();
        *sent += n;
        left -= n;
    }
    total
}

fn bench(c: &mut Criterion) {
    let License {
        pristine,
        anna,
        chat,
        request,
    } = license();
    let now = Timestamp::from_unix_seconds(T0 + 60);
    let mut group = c.benchmark_group("wire");
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(3));

    let mut engine = pristine.clone();
    let mut sent = 0;
    // One untimed cycle, so timed sends reuse memory already touched.
    timed(RESET_AFTER, &mut engine, &pristine, &mut sent, |engine| {
        black_box(handle(engine, Api::Agent, &anna, now, &request));
    });
    group.bench_function("send_event", |b| {
        b.iter_custom(|iters| {
            timed(iters, &mut engine, &pristine, &mut sent, |engine| {
                black_box(handle(engine, Api::Agent, &anna, now, black_box(&request)));
            })
        })
    });

    let mut engine = pristine.clone();
    let mut sent = 0;
    group.bench_function("engine_only", |b| {
        b.iter_custom(|iters| {
            timed(iters, &mut engine, &pristine, &mut sent, |engine| {
                let out = engine
                    .as_agent(&anna, now)
                    .and_then(|mut a| a.send_event(chat, NewEvent::message(TEXT)));
                let _ = black_box(out).unwrap();
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
