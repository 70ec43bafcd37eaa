//! `durability`: replaying the journal and round-tripping a snapshot, for a license holding
//! 1 000 000 events.
//!
//! The license: 10 agents and 10 000 customers, each of whom starts a chat with a message;
//! then customers and agents take turns writing until the license holds 1 000 000 events
//! (routing's system messages included). Every journal record the run handed out is kept,
//! decoded and encoded.
//!
//! * `durability/replay/decoded`: a fresh engine applies every record (`Engine::apply`), from
//!   records already in memory. Throughput is records per second.
//! * `durability/replay/encoded`: the same from the encoded bytes, decoding each record
//!   (`JournalRecord::decode`) first: what a host recovering from disk does after reading.
//! * `durability/snapshot/round_trip`: `Engine::snapshot` then `Engine::restore`. Throughput
//!   is snapshot bytes per second.
//! * `durability/snapshot/write` and `/read`: the two halves.
//! * `durability/snapshot/*_threads`: the same with `Engine::snapshot_with` and
//!   `Engine::restore_with` (`Options::threads`), allowed as many threads as
//!   `std::thread::available_parallelism` reports (a host's choice; the library never asks).
//!
//! ```sh
//! cargo bench --bench durability
//! ```
//!
//! Targets: at least 2 000 000 records/s and 500 MB/s.

use std::hint::black_box;
use std::time::Instant;

use chatio::journal::{JournalRecord, Options};
use chatio::routing::AutomaticRouter;
use chatio::{Agent, Engine, EngineConfig, NewEvent, StartChat, Timestamp, UserId};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const T0: i64 = 1_700_000_000;
const AGENTS: usize = 10;
const CUSTOMERS: usize = 10_000;
const EVENTS: usize = 1_000_000;

struct License {
    config: EngineConfig,
    live: Engine,
    records: Vec<JournalRecord>,
    encoded: Vec<Vec<u8>>,
}

fn license() -> License {
    let built = Instant::now();
    let config = EngineConfig::with_seed(6);
    let mut engine = Engine::new(config.clone()).with_router(AutomaticRouter::default());
    let mut records = engine.take_journal();
    let mut agents = Vec::new();
    for i in 0..AGENTS {
        let id = UserId::new(&format!("agent{i}@example.com")).expect("valid id");
        let mut agent = Agent::new(id.clone(), format!("Agent {i}"));
        agent.max_chats = (CUSTOMERS / AGENTS) as u32;
        engine.add_agent(agent).expect("agent added");
        records.extend(
            engine
                .set_agent_presence(&id, true, Timestamp::from_unix_seconds(T0))
                .expect("online")
                .journal,
        );
        agents.push(id);
    }
    let t = Timestamp::from_unix_seconds(T0);
    let mut chats = Vec::with_capacity(CUSTOMERS);
    for _ in 0..CUSTOMERS {
        let customer = engine.create_customer();
        let out = engine
            .as_customer(&customer, t)
            .expect("customer")
            .start_chat(StartChat::default().with_event(NewEvent::message("Hi, I need help")))
            .expect("chat started");
        records.extend(out.journal);
        chats.push((customer, out.response.id));
    }
    let mut round = 0i64;
    let events = |e: &Engine| {
        e.chats()
            .iter()
            .map(|c| c.threads.iter().map(|t| t.events.len()).sum::<usize>())
            .sum::<usize>()
    };
    let mut total = events(&engine);
    'fill: loop {
        round += 1;
        for (customer, chat) in &chats {
            let now = Timestamp::from_unix_seconds(T0 + round);
            let assignee = engine.chat(chat).and_then(|c| c.routing.assignee.clone());
            let out = if round % 2 == 0 {
                engine
                    .as_customer(customer, now)
                    .expect("customer")
                    .send_event(*chat, NewEvent::message("Is my order on its way yet?"))
            } else {
                let agent = assignee.unwrap_or_else(|| agents[0].clone());
                engine.as_agent(&agent, now).expect("agent").send_event(
                    *chat,
                    NewEvent::message("Let me check that for you, one moment."),
                )
            }
            .expect("event sent");
            records.extend(out.journal);
            total += 1;
            if total >= EVENTS {
                break 'fill;
            }
        }
    }
    assert_eq!(events(&engine), EVENTS);
    let encoded = records.iter().map(JournalRecord::encode).collect();
    eprintln!(
        "durability: {} records for {EVENTS} events, built in {:.1?}",
        records.len(),
        built.elapsed()
    );
    License {
        config,
        live: engine,
        records,
        encoded,
    }
}

fn replay(c: &mut Criterion) {
    let l = license();
    // The measured work does what the benchmark says: it rebuilds the live engine.
    let mut check = Engine::new(l.config.clone());
    for bytes in &l.encoded {
        check
            .apply(JournalRecord::decode(bytes).expect("decodes"))
            .expect("applies");
    }
    assert!(check == l.live, "replay rebuilds the live engine");
    drop(check);

    let mut group = c.benchmark_group("durability/replay");
    group.sample_size(10);
    group.throughput(Throughput::Elements(l.records.len() as u64));
    group.bench_function("decoded", |b| {
        // The records are cloned outside the timer: `apply` takes them by value, as a host
        // that decoded them would hand them over.
        b.iter_batched(
            || l.records.clone(),
            |records| {
                let mut engine = Engine::new(l.config.clone());
                for record in records {
                    engine.apply(record).expect("applies");
                }
                engine
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("encoded", |b| {
        b.iter_with_large_drop(|| {
            let mut engine = Engine::new(l.config.clone());
            for bytes in &l.encoded {
                engine
                    .apply(JournalRecord::decode(bytes).expect("decodes"))
                    .expect("applies");
            }
            black_box(engine)
        })
    });
    group.finish();

    let snapshot = l.live.snapshot();
    assert!(Engine::restore(&snapshot).expect("restores") == l.live);
    eprintln!("durability: snapshot of {} bytes", snapshot.len());
    let mut group = c.benchmark_group("durability/snapshot");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(snapshot.len() as u64));
    group.bench_function("round_trip", |b| {
        b.iter_with_large_drop(|| Engine::restore(&l.live.snapshot()).expect("restores"))
    });
    group.bench_function("write", |b| b.iter_with_large_drop(|| l.live.snapshot()));
    group.bench_function("read", |b| {
        b.iter_with_large_drop(|| Engine::restore(&snapshot).expect("restores"))
    });
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!("durability: the *_threads cases may use {threads} threads");
    let restore = |bytes: &[u8]| {
        Engine::restore_with(bytes, &Options::default().threads(threads)).expect("restores")
    };
    group.bench_function("round_trip_threads", |b| {
        b.iter_with_large_drop(|| {
            restore(&l.live.snapshot_with(&Options::default().threads(threads)))
        })
    });
    group.bench_function("write_threads", |b| {
        b.iter_with_large_drop(|| l.live.snapshot_with(&Options::default().threads(threads)))
    });
    group.bench_function("read_threads", |b| {
        b.iter_with_large_drop(|| restore(&snapshot))
    });
    group.finish();
}

criterion_group!(benches, replay);
criterion_main!(benches);
