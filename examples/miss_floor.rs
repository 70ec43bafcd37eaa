//! What one touch of a random chat costs on this machine, with no engine around it: the floor
//! under the `send_event` bench's 1 000 000-chat figure.
//!
//! ```sh
//! cargo run --release --example miss_floor            # slots of 544, 256, 128 and 64 bytes
//! cargo run --release --example miss_floor -- 120     # more work per iteration
//! cargo run --release --example miss_floor -- 100 1   # read one line of each slot, not five
//! ```
//!
//! Each iteration does what a send does to memory at the least: it reads up to five cache lines
//! of one slot picked at random (the second argument; from a precomputed list read in order, as
//! the bench picks its chats), does a fixed amount of arithmetic that depends on them (the first
//! argument: rounds of a 64-bit LCG, about 1.4 ns each here), clones and drops an `Arc` twice
//! (the locked instructions a send makes), and writes two words back in the last line it read.
//! It runs at 1 000 slots, where everything stays in the cache, and at 1 000 000, where every
//! slot is a cache and TLB miss, for four slot sizes: 544 bytes (a `Chat` today) down to 64
//! bytes (a chat's send-path state packed in one line). The ratio of the two is the best a send
//! can do at 1 000 000 chats with that layout, whatever else it changes. `benches/README.md`
//! (rounds six and seven) has the figures: what counts is how large the array is, not how many
//! lines of a slot are read.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

/// Slots picked at random, precomputed and cycled.
const PICKS: usize = 1 << 20;
/// Iterations timed per case, after as many untimed ones.
const ITERS: usize = 4_000_000;

/// A slot of `W` words; the iteration reads words `0, 8, 16, ...` (one per line, at most five).
#[derive(Clone)]
struct Slot<const W: usize>([u64; W]);

/// `rounds` steps of a 64-bit LCG: work the CPU cannot skip or overlap with itself.
fn work(mut x: u64, rounds: u32) -> u64 {
    for _ in 0..rounds {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x ^= x >> 29;
    }
    x
}

/// Nanoseconds per iteration over `n` slots of `W` words.
fn run<const W: usize>(n: usize, rounds: u32, lines: usize) -> f64 {
    let mut slots = vec![Slot([1u64; W]); n];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let picks: Vec<usize> = (0..PICKS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((u128::from(x) * n as u128) >> 64) as usize
        })
        .collect();
    let lines = lines.clamp(1, W.div_ceil(8));
    let last = (lines - 1) * 8;
    let shared = Arc::new(5u64);
    let mut acc = 0u64;
    let mut start = Instant::now();
    for i in 0..2 * ITERS {
        if i == ITERS {
            start = Instant::now();
        }
        let slot = &mut slots[picks[i % PICKS]].0;
        let mut r = (0..lines).fold(0u64, |r, l| r.wrapping_add(slot[l * 8]));
        r = work(r, rounds);
        let a = Arc::clone(&shared);
        r = r.wrapping_add(*a);
        drop(black_box(a));
        slot[last + 6] = r;
        slot[last + 7] = r.wrapping_add(1);
        acc = acc.wrapping_add(r);
        drop(black_box(Arc::clone(&shared)));
    }
    let ns = start.elapsed().as_nanos() as f64 / ITERS as f64;
    black_box(acc);
    ns
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rounds: u32 = args.next().map_or(Ok(100), |s| s.parse())?;
    let lines: usize = args.next().map_or(Ok(5), |s| s.parse())?;
    println!("{rounds} rounds of work per iteration, up to {lines} lines read per slot");
    for (name, small, large) in [
        (
            "544-byte slots",
            run::<68>(1_000, rounds, lines),
            run::<68>(1_000_000, rounds, lines),
        ),
        (
            "256-byte slots",
            run::<32>(1_000, rounds, lines),
            run::<32>(1_000_000, rounds, lines),
        ),
        (
            "128-byte slots",
            run::<16>(1_000, rounds, lines),
            run::<16>(1_000_000, rounds, lines),
        ),
        (
            "64-byte slots",
            run::<8>(1_000, rounds, lines),
            run::<8>(1_000_000, rounds, lines),
        ),
    ] {
        println!(
            "{name}: {small:.1} ns at 1 000, {large:.1} ns at 1 000 000 ({:.2}x)",
            large / small
        );
    }
    Ok(())
}
