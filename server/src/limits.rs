//! Limits against abuse: connection caps and deadlines ([`Limits`]), token buckets for
//! requests and for creating customers, and backoff after failed authentication.
//!
//! Everything here is bounded: the tables keyed by address or token hold at most
//! [`MAX_TRACKED`] entries and forget idle ones first, so an attacker with many addresses or
//! tokens cannot grow them without end.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// The most addresses (or tokens) each table remembers.
pub const MAX_TRACKED: usize = 100_000;

/// Descriptors kept back from `--max-connections`' default for the database, snapshot threads,
/// logs and the listener itself.
const FD_RESERVE: usize = 64;

/// The server's limits against abuse. Every field has a default sized for real use; zero turns
/// a rate limit off (the load bench does that).
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Open connections (HTTP and WebSocket) at most; past it the oldest connection that has
    /// not logged in is closed to make room, and if every one has, the new one is refused
    /// with 503. Default: the descriptor limit less 64, at most 10 000.
    pub max_connections: usize,
    /// Open connections from one address (IPv6: one /64) at most; past it new ones are
    /// refused with 429.
    pub max_connections_per_address: usize,
    /// The time a client has to send a request's headers, and the longest an HTTP connection
    /// may wait idle between requests.
    pub header_timeout: Duration,
    /// The time a client has to send a Web API request's body once its headers are in.
    pub body_timeout: Duration,
    /// The time a WebSocket has to log in after the upgrade; pings do not extend it.
    pub login_timeout: Duration,
    /// How long shutdown waits for connections to finish before closing them.
    pub shutdown_timeout: Duration,
    /// Requests per second each connection may make, on average (0: no limit).
    pub request_rate: f64,
    /// Requests a connection may make at once above the average.
    pub request_burst: u32,
    /// Failed authentications an address, or a token, may have within `auth_window` before it
    /// is made to wait.
    pub auth_failures: u32,
    /// The window `auth_failures` counts in.
    pub auth_window: Duration,
    /// The longest wait after failed authentications (waits double from 1 s up to it).
    pub auth_backoff_max: Duration,
    /// Customers one address may create per second, on average (0: no limit).
    pub customer_rate: f64,
    /// Customers one address may create at once above the average.
    pub customer_burst: u32,
    /// RTM connections one user may have logged in at once.
    pub connections_per_user: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: default_max_connections(),
            max_connections_per_address: 100,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            login_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(10),
            request_rate: 50.0,
            request_burst: 200,
            auth_failures: 10,
            auth_window: Duration::from_secs(60),
            auth_backoff_max: Duration::from_secs(300),
            customer_rate: 1.0,
            customer_burst: 30,
            connections_per_user: 32,
        }
    }
}

/// `--max-connections` when not given: the soft descriptor limit less a reserve, at most
/// 10 000 (1 024 descriptors give 960).
pub fn default_max_connections() -> usize {
    descriptor_limit()
        .map_or(1_024, |n| n as usize)
        .saturating_sub(FD_RESERVE)
        .clamp(16, 10_000)
}

/// The soft limit on open descriptors, from `/proc/self/limits` (Linux); `None` elsewhere or
/// when unlimited.
pub fn descriptor_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The key of an address in the tables: IPv4 as it is; IPv6 by its /64, which is what one
/// subscriber usually gets; an IPv4-mapped IPv6 address as the IPv4 one.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// A token bucket: `rate` tokens per second up to `burst`.
#[derive(Clone, Debug)]
pub struct Bucket {
    tokens: f64,
    last: Instant,
    rate: f64,
    burst: f64,
}

impl Bucket {
    /// A full bucket. A `rate` of zero never runs dry.
    pub fn new(rate: f64, burst: u32, now: Instant) -> Bucket {
        let burst = f64::from(burst.max(1));
        Bucket {
            tokens: burst,
            last: now,
            rate,
            burst,
        }
    }

    /// Takes a token, or says how long until one is there.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }

    /// Whether it has been full again for a while: forgetting it changes nothing.
    fn idle(&self, now: Instant) -> bool {
        self.rate <= 0.0
            || self.tokens + now.saturating_duration_since(self.last).as_secs_f64() * self.rate
                >= self.burst
    }
}

/// One bucket per key (an address), in a table of bounded size.
pub struct KeyedBuckets<K> {
    table: Mutex<HashMap<K, Bucket>>,
    rate: f64,
    burst: u32,
}

impl<K: Hash + Eq + Clone> KeyedBuckets<K> {
    /// Buckets of `rate` per second up to `burst`; a `rate` of zero never refuses.
    pub fn new(rate: f64, burst: u32) -> Self {
        KeyedBuckets {
            table: Mutex::new(HashMap::new()),
            rate,
            burst,
        }
    }

    /// Takes a token from `key`'s bucket, or says how long until one is there.
    pub fn take(&self, key: &K, now: Instant) -> Result<(), Duration> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if !table.contains_key(key) && table.len() >= MAX_TRACKED {
            table.retain(|_, b| !b.idle(now));
            if table.len() >= MAX_TRACKED {
                // Every tracked key is busy: a new one waits as if its bucket were empty.
                return Err(Duration::from_secs_f64(1.0 / self.rate));
            }
        }
        table
            .entry(key.clone())
            .or_insert_with(|| Bucket::new(self.rate, self.burst, now))
            .take(now)
    }
}

/// How failed authentications of one key stand.
#[derive(Clone, Debug)]
struct Failures {
    /// Failures counted since `since`.
    count: u32,
    since: Instant,
    /// Refused without a check until then.
    blocked_until: Option<Instant>,
    /// How many times it was blocked in a row: the wait doubles each time.
    level: u32,
}

/// Backoff after failed authentication, per key (an address, or a token's hash): up to
/// `free` failures within `window` are answered as usual; after that the key is refused
/// without a check for 1 s, then 2 s, 4 s, ... up to `max`, until a whole window passes
/// without a failure.
pub struct Backoff<K> {
    table: Mutex<HashMap<K, Failures>>,
    free: u32,
    window: Duration,
    max: Duration,
}

/// What [`Backoff::failed`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Still within the free failures.
    Counted,
    /// The key is now refused for this long (log it).
    Blocked(Duration),
}

impl<K: Hash + Eq + Clone> Backoff<K> {
    /// A backoff that lets `free` failures per `window` through and waits up to `max`.
    pub fn new(free: u32, window: Duration, max: Duration) -> Self {
        Backoff {
            table: Mutex::new(HashMap::new()),
            free,
            window,
            max,
        }
    }

    /// `Err(wait)` if `key` must wait before its next try is even looked at.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        match table.get(key).and_then(|f| f.blocked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Counts a failed authentication of `key`.
    pub fn failed(&self, key: &K, now: Instant) -> Verdict {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if !table.contains_key(key) && table.len() >= MAX_TRACKED {
            let window = self.window;
            table.retain(|_, f| {
                f.blocked_until.is_some_and(|u| u > now)
                    || now.saturating_duration_since(f.since) < window
            });
        }
        let entry = table.entry(key.clone()).or_insert(Failures {
            count: 0,
            since: now,
            blocked_until: None,
            level: 0,
        });
        if now.saturating_duration_since(entry.since) >= self.window
            && entry.blocked_until.is_none_or(|u| u <= now)
        {
            // A whole window since this count started: start again, but a key that was
            // blocked keeps its level until it has been quiet for a window after the block.
            let quiet_since = entry.blocked_until.unwrap_or(entry.since);
            if now.saturating_duration_since(quiet_since) >= self.window {
                entry.level = 0;
            }
            entry.count = 0;
            entry.since = now;
        }
        entry.count += 1;
        if entry.count <= self.free {
            return Verdict::Counted;
        }
        let wait = Duration::from_secs(1u64 << entry.level.min(20)).min(self.max);
        entry.level = entry.level.saturating_add(1);
        entry.blocked_until = Some(now + wait);
        // The next failure after the block counts as over the free ones again.
        entry.count = self.free;
        Verdict::Blocked(wait)
    }
}

/// Rate-limits a log line: at most one per `every`, with how many were held back.
pub struct LogEvery {
    every_ms: u64,
    start: Instant,
    last_ms: AtomicU64,
    held: AtomicU64,
}

impl LogEvery {
    /// At most one line per `every`.
    pub fn new(every: Duration) -> LogEvery {
        LogEvery {
            every_ms: u64::try_from(every.as_millis()).unwrap_or(u64::MAX),
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            held: AtomicU64::new(0),
        }
    }

    /// `Some(held back since the last line)` if a line may be written now.
    pub fn ready(&self) -> Option<u64> {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.last_ms.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < self.every_ms {
            self.held.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        // Another thread may win the race: then this one holds its line back.
        if self
            .last_ms
            .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            self.held.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(self.held.swap(0, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(2.0, 3, t0);
        for _ in 0..3 {
            assert!(b.take(t0).is_ok());
        }
        let wait = b.take(t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert!(b.take(t0 + Duration::from_millis(500)).is_ok());
        assert!(b.take(t0 + Duration::from_millis(500)).is_err());
        let mut off = Bucket::new(0.0, 1, t0);
        for _ in 0..1000 {
            assert!(off.take(t0).is_ok());
        }
    }

    #[test]
    fn keyed_buckets_are_apart() {
        let t0 = Instant::now();
        let buckets = KeyedBuckets::new(1.0, 2);
        let (a, b) = (
            address_key("10.0.0.1".parse().unwrap()),
            address_key("10.0.0.2".parse().unwrap()),
        );
        assert!(buckets.take(&a, t0).is_ok());
        assert!(buckets.take(&a, t0).is_ok());
        assert!(buckets.take(&a, t0).is_err());
        assert!(buckets.take(&b, t0).is_ok());
    }

    #[test]
    fn failures_past_the_free_ones_block_for_doubling_times() {
        let t0 = Instant::now();
        let backoff = Backoff::new(3, Duration::from_secs(60), Duration::from_secs(5));
        let key = 1u64;
        for _ in 0..3 {
            assert!(backoff.check(&key, t0).is_ok());
            assert_eq!(backoff.failed(&key, t0), Verdict::Counted);
        }
        assert_eq!(
            backoff.failed(&key, t0),
            Verdict::Blocked(Duration::from_secs(1))
        );
        assert!(backoff.check(&key, t0).is_err());
        let t1 = t0 + Duration::from_secs(1);
        assert!(backoff.check(&key, t1).is_ok());
        assert_eq!(
            backoff.failed(&key, t1),
            Verdict::Blocked(Duration::from_secs(2))
        );
        let t2 = t1 + Duration::from_secs(2);
        assert_eq!(
            backoff.failed(&key, t2),
            Verdict::Blocked(Duration::from_secs(4))
        );
        let t3 = t2 + Duration::from_secs(4);
        assert_eq!(
            backoff.failed(&key, t3),
            Verdict::Blocked(Duration::from_secs(5)),
            "capped at the maximum"
        );
        // Quiet for a whole window after the block: forgiven.
        let later = t3 + Duration::from_secs(5 + 60);
        assert_eq!(backoff.failed(&key, later), Verdict::Counted);
        assert!(backoff.check(&2u64, t0).is_ok(), "other keys are untouched");
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_prefix() {
        let a = address_key("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = address_key("2001:db8:1:2:bbbb::9".parse().unwrap());
        let c = address_key("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mapped = address_key("::ffff:10.1.2.3".parse().unwrap());
        assert_eq!(mapped, "10.1.2.3".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn log_lines_are_held_back_and_counted() {
        let log = LogEvery::new(Duration::from_secs(3600));
        assert_eq!(log.ready(), Some(0));
        assert_eq!(log.ready(), None);
        assert_eq!(log.ready(), None);
    }
}
