//! Deterministic simulation (issue 6, item 5): a seeded simulator drives the engine the way a
//! host would, for many runs of `RUN_STEPS` steps each, and checks everything after every step.
//! The simulator lives in `tests/simulation/` (`world.rs`: a run and its checks per call;
//! `ops.rs`: the operations and how they are drawn; `checks.rs`: invariants and privacy;
//! `rng.rs`: SplitMix64).
//!
//! **A run** draws its license from its seed: 2 to 6 agents to start with (groups 1 to 3,
//! `max_chats` 0 to 6, owner, administrator or normal, some bots; some online), 1 to 4
//! customers (made by `create_customer` and `add_customer`), a property registry with varied
//! access, one chat or three or any number per customer, `PushAudience::AllAgents` or
//! `ChatAgentsOnly`, default or short routing timeouts, a built-in router from the start, from
//! later, or none, a journal mode: records in each `Output`, held until `take_journal`
//! (`JournalMode::Hold`), or off, and in a third of the runs a `License` in the
//! `EngineConfig`: one that never expires, one that expires during the run, or now and then one
//! that expired before it began. A quarter of the runs have tight `Limits` (two to a dozen
//! events a thread, a few chats a license, one or two agents a chat, event sizes in the
//! hundreds of bytes, ...), which ordinary requests meet; a tenth keep the masked chat ids of
//! earlier versions. One run in `LARGE_EVERY` is large: after its setup the license grows to
//! `LARGE_CHATS` (10 000) chats, and its `LARGE_RUN_STEPS` steps, restarts and replays run at
//! that size (logins listing 100 of thousands of chats, filtered chats paged, snapshots of
//! 10 000 chats). Each step then:
//!
//! * moves the host clock (seconds, minutes, an hour, up to 45 days; a few runs jump 200 years
//!   near their end) or makes the request at an earlier time, even before anything the engine
//!   has seen. A license that expires during the run lies years out: between steps 130 and 500
//!   the clock jumps to minutes or hours before it, and it then stops on the second before the
//!   expiry and on the expiry itself however far a step would carry it;
//! * has the host tick at each due `next_deadline()` in turn (sometimes once at the request's
//!   time, sometimes not at all, like a late host), then checks that no assigned chat is overdue;
//! * now and then restarts: the live engine is replaced by (a) `Engine::restore` of a fresh
//!   `snapshot`, (b) `Engine::new(config)` plus `apply` of every journal record so far
//!   (sometimes through `encode`/`decode`), or (c) an older snapshot plus the records after it;
//!   each must equal the live engine;
//! * runs one operation: a host call (`create_customer`, `add_customer`, `add_agent`,
//!   `configure_property`, `set_router` among the four built-ins, `set_agent_presence`,
//!   `set_journal_mode`, `tick` at any time) or a request of either facade: every action and
//!   query of the Agent and Customer APIs, valid and invalid (unknown, forged and other users'
//!   chats, threads and events, empty and malformed events, events customers may not send, bad
//!   ids and users, forbidden actions, out-of-range days, limits, pages, property values and
//!   timestamps, unknown requesters, banned customers).
//!
//! After every operation and every tick:
//!
//! * **threads**: every chat has a thread, at most one active and only the last; a thread after
//!   the first starts with the event that started it, never an annotation; an accepted event to
//!   a chat with no active thread started one (pushed as `incoming_chat_thread`); an annotation
//!   never did and did not count as activity; a `custom_id` retry returned the original event
//!   and changed nothing; accepted commands did what they say (close, join, remove, scopes,
//!   properties, postbacks, last seen, customer details, bans, transfers);
//! * **order**: orders are unique across the license and increase through each chat, and
//!   whatever a step adds comes after everything older; event and thread ids are unique; times
//!   never go backwards nor pass the engine's time;
//! * **capacity**: each agent's assigned active chats number at most its `max_chats` and exactly
//!   the load routing reports; assignees are agents in the chat; queued chats are active and
//!   unassigned, in order; when a router was set before the first chat, every active unassigned
//!   chat is queued, and with only automatic routers no chat waits while an agent who could
//!   take it is available;
//! * **privacy**: no customer is pushed an agents-only event, a sneak peek, an agents-only typing
//!   indicator, an agents' notice, anything about another customer's chat, or a property its
//!   role may not read; agents are pushed only about chats they may see (or are in, or just
//!   left); pushes name real chats, threads and events; queries show each user only what it may
//!   see;
//! * **atomicity**: a refused call leaves the engine `==` to its clone from before the call,
//!   pushes nothing and makes no journal record (`journal_seq` unchanged); an accepted call that
//!   made no record changed nothing either;
//! * **limits**: every refusal for a limit names one the license has, past its value; no chat
//!   holds more agents, no license more chats, no customer more or larger fields, than the
//!   limits allow; a waiting chat full of agents is no breach of work conservation;
//! * **license**: a call of either facade made at or after the expiry (or while the engine's
//!   time is) is refused with exactly `license_expired` naming the license and its expiry, and
//!   changes nothing, queries included; one made before it is never refused so; host calls
//!   (ticks included) are never refused so, and an agent's `login` shows the configured
//!   license;
//! * **journal**: records are numbered 1, 2, 3, ... with no gap, each accepted change makes
//!   exactly one, equal to the call that was made, and none is lost in the outbox;
//! * **replay**: at every restart and at the end of each run, as above, the license and all:
//!   after an expiry, records made before it replay to the same engine.
//!
//! **How much runs.** By default `DEFAULT_STEPS` (100,000) steps in runs of `RUN_STEPS` (800),
//! spread over the machine's cores; the default run must reach every operation (accepted and
//! refused), ticks, each kind of restart and of license, calls refused for an expired license
//! and timers due after an expiry, every limit met at least once, and a large run.
//! `CHATIO_SIM_STEPS=N` runs N steps instead and
//! `CHATIO_SIM_SEED=S` (decimal or `0x` hex) changes the master seed; run 0 uses the master seed
//! itself, the others seeds derived from it. `--nocapture` prints counts per operation, per
//! error type and per kind of license. E.g.
//!
//! ```text
//! CHATIO_SIM_STEPS=10000000 cargo test --release --test simulation -- --nocapture
//! ```
//!
//! **When it fails** it prints the run's seed, the step and the operation, and the command that
//! replays exactly that run up to that step (`CHATIO_SIM_SEED=<run seed> CHATIO_SIM_STEPS=<step>`);
//! `CHATIO_SIM_TRACE=1` also prints every operation as it runs. A step that hangs (more than
//! `CHATIO_SIM_WATCHDOG` seconds, default 300) is reported the same way and the process exits.

#[path = "simulation/checks.rs"]
mod checks;
#[path = "simulation/ops.rs"]
mod ops;
#[path = "simulation/rng.rs"]
mod rng;
#[path = "simulation/world.rs"]
mod world;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use world::{LICENSE_KINDS, Sim, Stats};

/// Steps when `CHATIO_SIM_STEPS` is not set.
const DEFAULT_STEPS: u64 = 100_000;

/// Steps per run: runs stay small, so that cloning and scanning the engine after every step
/// stays cheap, and many seeds are tried.
const RUN_STEPS: u64 = 800;

/// The master seed when `CHATIO_SIM_SEED` is not set.
const DEFAULT_SEED: u64 = 0x00c0_ffee_5eed_2024;

/// One run in this many is large: it starts with `world::LARGE_CHATS` chats (see `Sim::grow`),
/// so that the steps, restarts and checks run at the scale where bounds matter.
const LARGE_EVERY: u64 = 50;

/// Steps of a large run, of the `RUN_STEPS` its place in the schedule has: every check after
/// every step looks at every chat, which at `LARGE_CHATS` makes a step a hundred times dearer.
const LARGE_RUN_STEPS: u64 = 120;

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim().replace('_', "");
    let parsed = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    Some(parsed.unwrap_or_else(|e| panic!("{name}={v:?} is not a number: {e}")))
}

/// What a failed run reports.
struct Failure {
    run: u64,
    seed: u64,
    large: bool,
    step: u64,
    op: String,
    message: String,
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "(a panic without a message)".into())
}

/// The command that replays run `seed` up to `step` (with the same profile, and as large).
fn reproduce(seed: u64, step: u64, large: bool) -> String {
    let release = if cfg!(debug_assertions) {
        ""
    } else {
        " --release"
    };
    let large = if large { "CHATIO_SIM_LARGE=1 " } else { "" };
    format!(
        "{large}CHATIO_SIM_SEED={seed} CHATIO_SIM_STEPS={} cargo test{release} --test \
         simulation -- --nocapture",
        step.max(1)
    )
}

/// Whether run `run` is large: every `LARGE_EVERY`th, or every run with `CHATIO_SIM_LARGE=1`
/// (which the command reproducing a large run's failure sets).
fn is_large(run: u64, forced: bool) -> bool {
    forced || run % LARGE_EVERY == LARGE_EVERY / 2
}

/// One worker's progress, for the watchdog.
struct Beat {
    large: AtomicBool,
    seed: AtomicU64,
    step: AtomicU64,
    at_ms: AtomicU64,
    busy: AtomicBool,
}

#[test]
fn deterministic_simulation() {
    let steps = env_u64("CHATIO_SIM_STEPS").unwrap_or(DEFAULT_STEPS);
    let master = env_u64("CHATIO_SIM_SEED").unwrap_or(DEFAULT_SEED);
    let flag = |name: &str| std::env::var_os(name).is_some_and(|v| v != "0");
    let trace = flag("CHATIO_SIM_TRACE");
    let force_large = flag("CHATIO_SIM_LARGE");
    let watchdog = Duration::from_secs(env_u64("CHATIO_SIM_WATCHDOG").unwrap_or(300));
    assert!(steps > 0, "CHATIO_SIM_STEPS must be at least 1");
    let runs = steps.div_ceil(RUN_STEPS);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(runs as usize);

    let started = Instant::now();
    let next_run = AtomicU64::new(0);
    let planned = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let failures: Mutex<Vec<Failure>> = Mutex::new(Vec::new());
    let total = Mutex::new(Stats::default());
    let beats: Vec<Arc<Beat>> = (0..workers)
        .map(|_| {
            Arc::new(Beat {
                large: AtomicBool::new(false),
                seed: AtomicU64::new(0),
                step: AtomicU64::new(0),
                at_ms: AtomicU64::new(0),
                busy: AtomicBool::new(false),
            })
        })
        .collect();
    let elapsed_ms = || started.elapsed().as_millis() as u64;

    std::thread::scope(|s| {
        for beat in &beats {
            let beat = Arc::clone(beat);
            let (next_run, stop, failures, total, planned) =
                (&next_run, &stop, &failures, &total, &planned);
            s.spawn(move || {
                let mut stats = Stats::default();
                loop {
                    let run = next_run.fetch_add(1, Ordering::Relaxed);
                    if run >= runs || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let seed = rng::run_seed(master, run);
                    let large = is_large(run, force_large);
                    let mut len = RUN_STEPS.min(steps - run * RUN_STEPS);
                    if large {
                        len = len.min(LARGE_RUN_STEPS);
                    }
                    planned.fetch_add(len, Ordering::Relaxed);
                    beat.seed.store(seed, Ordering::Relaxed);
                    beat.large.store(large, Ordering::Relaxed);
                    beat.busy.store(true, Ordering::Relaxed);
                    let mut sim = Sim::new(seed, trace, large);
                    let mut current = None;
                    let result = catch_unwind(AssertUnwindSafe(|| {
                        sim.run(len, &mut current, &|step| {
                            beat.step.store(step, Ordering::Relaxed);
                            beat.at_ms.store(elapsed_ms(), Ordering::Relaxed);
                        })
                    }));
                    beat.busy.store(false, Ordering::Relaxed);
                    match result {
                        Ok(()) => stats.merge(&sim.stats),
                        Err(payload) => {
                            stop.store(true, Ordering::Relaxed);
                            let op = match &current {
                                Some(op) => format!("{op:?}"),
                                None => sim.phase.to_owned(),
                            };
                            failures
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push(Failure {
                                    run,
                                    seed,
                                    large,
                                    step: sim.step,
                                    op,
                                    message: panic_text(payload.as_ref()),
                                });
                        }
                    }
                }
                total
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .merge(&stats);
            });
        }
        // The watchdog: a step that takes minutes is a hang; report it and exit, since a
        // thread stuck in a loop cannot be stopped.
        s.spawn(|| {
            while next_run.load(Ordering::Relaxed) < runs + workers as u64
                && !stop.load(Ordering::Relaxed)
            {
                std::thread::sleep(Duration::from_millis(200));
                for beat in &beats {
                    let quiet = elapsed_ms().saturating_sub(beat.at_ms.load(Ordering::Relaxed));
                    if beat.busy.load(Ordering::Relaxed) && quiet > watchdog.as_millis() as u64 {
                        let (seed, step, large) = (
                            beat.seed.load(Ordering::Relaxed),
                            beat.step.load(Ordering::Relaxed),
                            beat.large.load(Ordering::Relaxed),
                        );
                        eprintln!(
                            "simulation: run seed {seed} has been at step {step} for {}s: a \
                             hang.\nreproduce with:\n  {}",
                            quiet / 1000,
                            reproduce(seed, step, large)
                        );
                        std::process::exit(2);
                    }
                }
            }
        });
    });

    let stats = total.into_inner().unwrap_or_else(|e| e.into_inner());
    let secs = started.elapsed().as_secs_f64();
    println!(
        "simulation: master seed {master}: {} steps in {} runs ({} workers) in {secs:.1}s; \
         {} journal records; ticks: {} with something due, {} without; restarts: {} from a \
         snapshot, {} by replaying the whole journal, {} from an older snapshot plus records; \
         largest engine: {} chats, {} threads and events",
        stats.steps,
        stats.runs,
        workers,
        stats.records,
        stats.ticks[0],
        stats.ticks[1],
        stats.restarts[0],
        stats.restarts[1],
        stats.restarts[2],
        stats.max_chats,
        stats.max_events,
    );
    let kinds: Vec<String> = LICENSE_KINDS
        .iter()
        .zip(stats.licenses)
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect();
    println!(
        "  runs by license: {}; {} steps with the clock past an expiry, {} ticks there with \
         something due",
        kinds.join(", "),
        stats.expired_steps,
        stats.expired_ticks,
    );
    for (name, [ok, refused]) in &stats.ops {
        println!("  {name:<42} {ok:>9} accepted {refused:>9} refused");
    }
    println!("  refusals by error type: {:?}", stats.errors);
    println!(
        "  runs with tight limits: {}; large runs: {} (up to {} chats); refusals by limit: {:?}",
        stats.tight_runs, stats.large_runs, stats.max_chats, stats.limits
    );

    let mut failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    failures.sort_by_key(|f| f.run);
    if let Some(f) = failures.first() {
        panic!(
            "simulation failed: run {} of master seed {master} (run seed {}) at step {}\n  \
             operation: {}\n  failure: {}\nreproduce with:\n  {}\n(CHATIO_SIM_TRACE=1 prints \
             every operation of the run)",
            f.run,
            f.seed,
            f.step,
            f.op,
            f.message,
            reproduce(f.seed, f.step, f.large)
        );
    }

    assert_eq!(
        stats.steps,
        planned.load(Ordering::Relaxed),
        "every step ran (large runs run fewer)"
    );
    if steps >= DEFAULT_STEPS {
        // The default run must reach everything: every operation both accepted and refused
        // (where it can be), ticks, and each kind of restart.
        for (name, [ok, refused]) in &stats.ops {
            assert!(*ok > 0, "{name} was never accepted");
            let always_ok = matches!(
                *name,
                "host create_customer" | "host set_router" | "host set_journal_mode"
            );
            assert!(always_ok || *refused > 0, "{name} was never refused");
        }
        assert!(
            stats.ops.len() >= 46,
            "only {} kinds of operation ran",
            stats.ops.len()
        );
        assert!(
            stats.ticks.iter().all(|&n| n > 0),
            "ticks: {:?}",
            stats.ticks
        );
        assert!(
            stats.restarts.iter().all(|&n| n > 0),
            "restarts: {:?}",
            stats.restarts
        );
        // Every kind of license, expiries that refused calls, and timers firing after them.
        assert!(
            stats.licenses.iter().all(|&n| n > 0),
            "runs by license: {:?}",
            stats.licenses
        );
        assert!(
            stats.errors.contains_key("license_expired") && stats.expired_ticks > 0,
            "no call was refused for an expired license, or no timer fired after an expiry"
        );
        // Tight limits, each one met, and a license large enough for the bounds to matter.
        assert!(stats.tight_runs > 0, "no run had tight limits");
        for limit in [
            "event_bytes",
            "events_per_thread",
            "customer_fields",
            "customer_fields_bytes",
            "property_value_bytes",
            "chats_per_license",
            "agents_per_chat",
            "chat_scopes",
            "auto_chat_scopes",
        ] {
            assert!(
                stats.limits.contains_key(limit),
                "no request was refused for {limit}: {:?}",
                stats.limits
            );
        }
        assert!(
            stats.large_runs > 0 && stats.max_chats >= world::LARGE_CHATS,
            "no run grew to {} chats (largest: {})",
            world::LARGE_CHATS,
            stats.max_chats
        );
    }
}
