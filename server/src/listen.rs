//! The accept loop of [`crate::Server::serve`]: connection caps, deadlines, shedding, and a
//! shutdown bounded in time.
//!
//! `axum::serve` has none of these knobs, so connections are served here with hyper's HTTP/1
//! connection builder directly:
//!
//! * Every accepted connection gets a [`Ticket`] that counts it, overall and for its address,
//!   until the last holder lets go of it (the HTTP connection, the request being handled, or
//!   the WebSocket session it was upgraded to). Handlers find it in the request's extensions.
//! * Past `max_connections_per_address`, a new connection gets `429` and is closed; past
//!   `max_connections`, the oldest connection that has not logged in is shed to make room, and
//!   if every connection has, the new one gets `503`. The refusal is an HTTP response written
//!   at once, so a client (a browser's WebSocket too) sees why.
//! * hyper's `header_read_timeout` closes a connection that does not send a request's headers
//!   in time, which covers idle keep-alive connections and half-sent requests alike; the Web
//!   API reads bodies under `body_timeout`; an RTM session must log in within `login_timeout`.
//! * When `accept` fails for want of descriptors, the oldest connections that have not logged
//!   in are shed; if there are none, one descriptor kept in reserve is given up for a moment to
//!   accept the waiting client and tell it `503`, instead of leaving it hanging in the backlog.
//! * At shutdown, accepting stops, idle HTTP connections close at once, requests in flight get
//!   until `shutdown_timeout`, and whatever is still open then is dropped.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::limits::{Bucket, Limits, LogEvery, address_key};
use crate::metrics::Metrics;

/// Refusals being written at once, at most; past that a refused connection is just closed.
const MAX_REFUSALS: usize = 64;

/// How long a refusal waits for the client to finish sending before closing (so that the
/// client reads the answer instead of a reset).
const REFUSAL_LINGER: Duration = Duration::from_millis(500);

/// Counts open connections and picks which to shed.
pub(crate) struct Tracker {
    inner: Mutex<Inner>,
    max_total: usize,
    max_per_address: usize,
}

#[derive(Default)]
struct Inner {
    next: u64,
    total: usize,
    per_address: HashMap<IpAddr, usize>,
    /// Connections that have not logged in, oldest first, with the signal that sheds them.
    unauthenticated: BTreeMap<u64, watch::Sender<bool>>,
    /// Connections told to go that are still open: they do not count against the cap.
    shedding: usize,
}

/// Why a connection was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Its address has `max_connections_per_address` open.
    PerAddress,
    /// The server has `max_connections` open, all logged in.
    Full,
}

/// One open connection, counted until the last holder drops it.
pub(crate) struct Ticket {
    id: u64,
    /// The client's address.
    pub(crate) peer: SocketAddr,
    key: IpAddr,
    tracker: Arc<Tracker>,
    shed: watch::Receiver<bool>,
    authenticated: AtomicBool,
    /// The connection's request bucket (HTTP keep-alive requests share it).
    pub(crate) bucket: Mutex<Bucket>,
}

impl Tracker {
    pub(crate) fn new(max_total: usize, max_per_address: usize) -> Arc<Tracker> {
        Arc::new(Tracker {
            inner: Mutex::new(Inner::default()),
            max_total: max_total.max(1),
            max_per_address: max_per_address.max(1),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a new connection from `peer`, shedding the oldest unauthenticated one if the
    /// server is full; or says why not.
    pub(crate) fn admit(
        self: &Arc<Self>,
        peer: SocketAddr,
        limits: &Limits,
    ) -> Result<Arc<Ticket>, Refusal> {
        let key = address_key(peer.ip());
        let mut inner = self.lock();
        if inner.per_address.get(&key).copied().unwrap_or(0) >= self.max_per_address {
            return Err(Refusal::PerAddress);
        }
        if inner.total - inner.shedding >= self.max_total && shed_oldest(&mut inner, 1) == 0 {
            return Err(Refusal::Full);
        }
        inner.next += 1;
        let id = inner.next;
        inner.total += 1;
        *inner.per_address.entry(key).or_default() += 1;
        let (tx, rx) = watch::channel(false);
        inner.unauthenticated.insert(id, tx);
        drop(inner);
        Ok(Arc::new(Ticket {
            id,
            peer,
            key,
            tracker: Arc::clone(self),
            shed: rx,
            authenticated: AtomicBool::new(false),
            bucket: Mutex::new(Bucket::new(
                limits.request_rate,
                limits.request_burst,
                tokio::time::Instant::now(),
            )),
        }))
    }

    /// Sheds up to `n` of the oldest connections that have not logged in; returns how many.
    pub(crate) fn shed(&self, n: usize) -> usize {
        shed_oldest(&mut self.lock(), n)
    }

    /// Open connections, and those among them being shed.
    #[cfg(test)]
    fn counts(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.total, inner.shedding)
    }
}

fn shed_oldest(inner: &mut Inner, n: usize) -> usize {
    let mut shed = 0;
    while shed < n {
        let Some((_, signal)) = inner.unauthenticated.pop_first() else {
            break;
        };
        let _ = signal.send(true);
        inner.shedding += 1;
        shed += 1;
    }
    shed
}

impl Ticket {
    /// The connection has logged in: it is shed only after every one that has not.
    pub(crate) fn authenticated(&self) {
        if !self.authenticated.swap(true, Ordering::Relaxed) {
            self.tracker.lock().unauthenticated.remove(&self.id);
        }
    }

    /// Resolves when the server sheds this connection.
    pub(crate) async fn shed(&self) {
        let mut shed = self.shed.clone();
        if shed.wait_for(|&s| s).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Takes a token from the connection's request bucket, or says how long until one is there.
    pub(crate) fn take_request(&self) -> Result<(), Duration> {
        self.bucket
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take(tokio::time::Instant::now())
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut inner = self.tracker.lock();
        inner.total = inner.total.saturating_sub(1);
        if let Some(n) = inner.per_address.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                inner.per_address.remove(&self.key);
            }
        }
        if inner.unauthenticated.remove(&self.id).is_none() && *self.shed.borrow() {
            inner.shedding = inner.shedding.saturating_sub(1);
        }
    }
}

/// Serves `router` on `listener` until `stop` turns `true`, then shuts down within
/// `limits.shutdown_timeout`.
pub(crate) async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let tracker = Tracker::new(limits.max_connections, limits.max_connections_per_address);
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    let mut spare = reserve_descriptor();
    let mut tasks = JoinSet::new();
    let refused_log = LogEvery::new(Duration::from_secs(10));
    let exhausted_log = LogEvery::new(Duration::from_secs(10));
    let (closing_tx, closing) = watch::channel(false);
    loop {
        // Reap finished connection tasks so the set does not grow with every connection.
        while tasks.try_join_next().is_some() {}
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|&s| s) => break,
        };
        let (tcp, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) if is_out_of_descriptors(&e) => {
                let shed = tracker.shed(8);
                if let Some(held) = exhausted_log.ready() {
                    tracing::warn!(
                        error = %e,
                        shed,
                        held_back = held,
                        "out of descriptors: shedding connections that have not logged in"
                    );
                }
                metrics.refusals.with_label_values(&["descriptors"]).inc();
                if shed == 0 {
                    // Nothing to shed: give up the spare descriptor to answer one waiting
                    // client, rather than leave it in the backlog without a word.
                    drop(spare.take());
                    if let Ok(Ok((tcp, _))) =
                        tokio::time::timeout(Duration::from_millis(100), listener.accept()).await
                    {
                        refuse(tcp, Refusal::Full, &refusals);
                    }
                    spare = reserve_descriptor();
                }
                // The shed connections close their sockets from their own tasks.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            Err(e) => {
                // A connection that went away before it was accepted, and the like.
                tracing::debug!(error = %e, "accept failed");
                continue;
            }
        };
        // Without it a response waits for the client's delayed ACK (Nagle).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let ticket = match tracker.admit(peer, &limits) {
            Ok(ticket) => ticket,
            Err(refusal) => {
                let reason = match refusal {
                    Refusal::PerAddress => "per_address",
                    Refusal::Full => "full",
                };
                metrics.refusals.with_label_values(&[reason]).inc();
                if let Some(held) = refused_log.ready() {
                    tracing::warn!(
                        %peer,
                        reason,
                        max_connections = limits.max_connections,
                        max_connections_per_address = limits.max_connections_per_address,
                        held_back = held,
                        "connection refused"
                    );
                }
                refuse(tcp, refusal, &refusals);
                continue;
            }
        };
        let router = router.clone();
        let header_timeout = limits.header_timeout;
        let mut closing = closing.clone();
        tasks.spawn(async move {
            let service = {
                let ticket = Arc::clone(&ticket);
                router.map_request(move |mut req: axum::http::Request<Incoming>| {
                    req.extensions_mut().insert(Arc::clone(&ticket));
                    req.map(Body::new)
                })
            };
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let conn = builder
                .serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service))
                .with_upgrades();
            tokio::pin!(conn);
            let mut graceful = false;
            loop {
                tokio::select! {
                    _ = conn.as_mut() => break,
                    () = ticket.shed() => break,
                    _ = closing.wait_for(|&c| c), if !graceful => {
                        graceful = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        });
    }
    drop(listener);
    // Idle connections close at once; requests in flight get the rest of the time.
    let _ = closing_tx.send(true);
    let deadline = tokio::time::Instant::now() + limits.shutdown_timeout;
    while !tasks.is_empty() {
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(_) => {}
            Err(_) => {
                tracing::info!(
                    left = tasks.len(),
                    "shutdown: closing the HTTP connections still open"
                );
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
            }
        }
    }
    Ok(())
}

fn is_out_of_descriptors(e: &std::io::Error) -> bool {
    // EMFILE (24) and ENFILE (23) on Linux and the BSDs.
    matches!(e.raw_os_error(), Some(23 | 24))
}

/// A descriptor held in reserve for answering when the process has no other.
fn reserve_descriptor() -> Option<std::fs::File> {
    std::fs::File::open("/dev/null").ok()
}

/// Answers a connection that is not taken with an HTTP error and closes it, in a task of its
/// own (bounded in number and in time).
fn refuse(mut tcp: TcpStream, refusal: Refusal, permits: &Arc<Semaphore>) {
    let Ok(permit) = Arc::clone(permits).try_acquire_owned() else {
        return;
    };
    let (status, kind, message) = match refusal {
        Refusal::PerAddress => (
            "429 Too Many Requests",
            "too_many_requests",
            "too many connections from this address",
        ),
        Refusal::Full => (
            "503 Service Unavailable",
            "service_unavailable",
            "the server is at its connection limit; try again later",
        ),
    };
    let body = serde_json::json!({ "error": { "type": kind, "message": message } }).to_string();
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Retry-After: 5\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tokio::spawn(async move {
        let _permit = permit;
        let _ = tokio::time::timeout(REFUSAL_LINGER, async {
            if tcp.write_all(response.as_bytes()).await.is_ok() {
                let _ = tcp.shutdown().await;
                // Read what the client sends until it closes, so closing does not reset the
                // connection before the client has read the answer.
                let mut sink = [0u8; 1024];
                while matches!(tcp.read(&mut sink).await, Ok(n) if n > 0) {}
            }
        })
        .await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(last: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, last], 1000))
    }

    fn limits() -> Limits {
        Limits::default()
    }

    #[tokio::test]
    async fn the_per_address_cap_refuses_and_frees_on_drop() {
        let tracker = Tracker::new(100, 2);
        let a = tracker.admit(peer(1), &limits()).unwrap();
        let _b = tracker.admit(peer(1), &limits()).unwrap();
        assert_eq!(
            tracker.admit(peer(1), &limits()).err(),
            Some(Refusal::PerAddress)
        );
        assert!(tracker.admit(peer(2), &limits()).is_ok(), "other addresses");
        drop(a);
        assert!(tracker.admit(peer(1), &limits()).is_ok());
    }

    #[tokio::test]
    async fn a_full_server_sheds_the_oldest_unauthenticated_first() {
        let tracker = Tracker::new(3, 100);
        let oldest = tracker.admit(peer(1), &limits()).unwrap();
        let logged_in = tracker.admit(peer(2), &limits()).unwrap();
        logged_in.authenticated();
        let younger = tracker.admit(peer(3), &limits()).unwrap();
        let newcomer = tracker.admit(peer(4), &limits()).unwrap();
        assert!(*oldest.shed.borrow(), "the oldest unauthenticated is shed");
        assert!(!*logged_in.shed.borrow());
        assert!(!*younger.shed.borrow());
        assert_eq!(tracker.counts(), (4, 1));
        drop(oldest);
        assert_eq!(tracker.counts(), (3, 0));
        younger.authenticated();
        newcomer.authenticated();
        assert_eq!(
            tracker.admit(peer(5), &limits()).err(),
            Some(Refusal::Full),
            "everyone logged in: the newcomer is refused"
        );
    }
}
