//! One WebSocket connection's outgoing side: a backlog bounded in bytes, and the writer task
//! that drains it.
//!
//! Everything the server sends a connection (responses, pushes, the close frame) goes through
//! its [`Outbox`]. Queueing never blocks and never drops a message of a live connection: the
//! engine's order is kept by queueing under the lock that orders the engine's output, and a
//! burst that a prompt reader will soon take is held whole. The bound only starts a clock: a
//! backlog that stays over it for the stall timeout means the client stopped reading, and the
//! session then disconnects it ([`Outbox::abandon`]). A backlog past four times the bound is
//! abandoned at once, so one stuck client cannot take the server's memory in the meantime.
//!
//! The writer takes everything queued at once, feeds it to the socket and flushes once (woken
//! by the first message of a burst, it first yields to the runtime once, so that the requests
//! being handled at that moment add theirs to the same write):
//! tungstenite writes its buffer out whenever it passes its write-buffer size, so a large
//! batch goes out in large writes, and a small one in a single write.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use tokio::sync::Notify;

use crate::metrics::Metrics;

/// The `reason` of the `agent_disconnected` / `customer_disconnected` push a connection gets
/// when the server gives up on it because it stopped reading: its backlog stayed over
/// `--max-backlog` for `--stall-timeout` (or passed four times the bound).
pub const REASON_BACKLOG_STALLED: &str = "backlog_stalled";

/// What a writer sends.
#[derive(Clone, Debug)]
pub(crate) enum Out {
    /// A text message (response or push), shared by every connection it goes to.
    Text(Utf8Bytes),
    /// A close frame: the last thing the writer sends.
    Close(u16, &'static str),
}

impl Out {
    fn weight(&self) -> usize {
        match self {
            Out::Text(text) => text.len(),
            Out::Close(..) => 0,
        }
    }
}

#[derive(Default)]
struct State {
    queue: VecDeque<Out>,
    /// Bytes queued or taken by the writer and not yet flushed.
    bytes: usize,
    /// When the backlog last went over the bound (`None`: it is under it).
    over_since: Option<Instant>,
    /// Past the hard limit: the session must disconnect now.
    overflow: bool,
    /// A close frame is queued or the writer is gone: nothing more is taken.
    closed: bool,
    /// The writer is gone.
    gone: bool,
}

/// One connection's backlog.
pub(crate) struct Outbox {
    /// The connection's number, for the registry and the logs.
    pub(crate) id: u64,
    /// Answers for this connection waiting for a commit (`--data`).
    queued: std::sync::atomic::AtomicUsize,
    state: Mutex<State>,
    bound: usize,
    writer: Notify,
    session: Notify,
    metrics: Arc<Metrics>,
}

impl Outbox {
    pub(crate) fn new(id: u64, bound: usize, metrics: Arc<Metrics>) -> Outbox {
        Outbox {
            id,
            queued: std::sync::atomic::AtomicUsize::new(0),
            state: Mutex::new(State::default()),
            bound: bound.max(1),
            writer: Notify::new(),
            session: Notify::new(),
            metrics,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An answer for this connection waits for a commit.
    pub(crate) fn answer_queued(&self) {
        self.queued
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// An answer that waited for a commit is released (in memory nothing waits: it stays 0).
    pub(crate) fn answer_released(&self) {
        let _ = self.queued.fetch_update(
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
            |n| n.checked_sub(1),
        );
    }

    /// Answers for this connection still waiting for a commit.
    pub(crate) fn answers_queued(&self) -> usize {
        self.queued.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Queues `out` after everything queued before; a close frame ends the queue. Returns
    /// `false` if the connection takes nothing more.
    pub(crate) fn send(&self, out: Out) -> bool {
        let weight = out.weight();
        let closing = matches!(out, Out::Close(..));
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        let was_empty = state.queue.is_empty();
        state.queue.push_back(out);
        state.bytes += weight;
        state.closed = closing;
        let mut wake_session = false;
        if state.bytes > self.bound && state.over_since.is_none() {
            state.over_since = Some(Instant::now());
            wake_session = true;
        }
        if state.bytes > self.bound.saturating_mul(4) && !state.overflow {
            state.overflow = true;
            wake_session = true;
        }
        drop(state);
        self.metrics.backlog_bytes.add(weight as i64);
        if was_empty {
            self.writer.notify_one();
        }
        if wake_session {
            self.session.notify_one();
        }
        true
    }

    /// Replaces whatever is still queued with `last` and a close frame, and takes nothing more:
    /// for a client that stopped reading, which recovers what it missed after it reconnects.
    pub(crate) fn abandon(&self, last: Utf8Bytes, close: (u16, &'static str)) {
        let mut state = self.lock();
        if state.gone {
            return;
        }
        let dropped: usize = state.queue.drain(..).map(|o| o.weight()).sum();
        state.bytes -= dropped;
        state.closed = false;
        drop(state);
        self.metrics.backlog_bytes.sub(dropped as i64);
        self.send(Out::Text(last));
        self.send(Out::Close(close.0, close.1));
    }

    /// Takes nothing more: the writer ends once it has sent what is queued.
    pub(crate) fn finish(&self) {
        self.lock().closed = true;
        self.writer.notify_one();
    }

    /// Waits until the backlog has been over the bound for `stall` without a break, or past
    /// the hard limit.
    pub(crate) async fn stalled(&self, stall: Duration) {
        loop {
            let (since, overflow) = {
                let state = self.lock();
                (state.over_since, state.overflow)
            };
            if overflow {
                return;
            }
            match since {
                None => self.session.notified().await,
                Some(t) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(t + stall) => {
                            if self.lock().over_since == Some(t) {
                                return;
                            }
                        }
                        () = self.session.notified() => {}
                    }
                }
            }
        }
    }

    /// Bytes waiting (queued, or being written).
    #[cfg(test)]
    fn backlog(&self) -> usize {
        self.lock().bytes
    }

    /// Takes everything queued, or waits for something; `None` once the queue is closed and
    /// empty.
    async fn take(&self, into: &mut Vec<Out>) -> bool {
        loop {
            {
                let mut state = self.lock();
                if !state.queue.is_empty() {
                    into.extend(state.queue.drain(..));
                    return true;
                }
                if state.closed {
                    return false;
                }
            }
            self.writer.notified().await;
            // Woken by the first message of a burst: let the tasks that are ready now (other
            // requests being handled) queue theirs too, so that they go out in one write.
            tokio::task::yield_now().await;
        }
    }

    /// The writer flushed `bytes`.
    fn written(&self, bytes: usize) {
        let mut state = self.lock();
        state.bytes -= bytes.min(state.bytes);
        if state.bytes <= self.bound {
            state.over_since = None;
        }
        drop(state);
        self.metrics.backlog_bytes.sub(bytes as i64);
    }

    /// The writer is gone: take nothing more, and give back the accounting of what is left.
    fn gone(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.gone = true;
        let left: usize = state.bytes;
        state.bytes = 0;
        state.queue.clear();
        drop(state);
        self.metrics.backlog_bytes.sub(left as i64);
        // A session waiting for a stall must not wait for one that cannot come.
        self.session.notify_one();
    }
}

/// Drains `outbox` into `sink` until a close frame is sent or the socket fails.
pub(crate) async fn write_loop(outbox: Arc<Outbox>, mut sink: SplitSink<WebSocket, Message>) {
    let mut batch = Vec::new();
    'outer: while outbox.take(&mut batch).await {
        let mut bytes = 0;
        let mut closing = false;
        for out in batch.drain(..) {
            bytes += out.weight();
            let message = match out {
                Out::Text(text) => Message::Text(text),
                Out::Close(code, reason) => {
                    closing = true;
                    Message::Close(Some(CloseFrame {
                        code,
                        reason: Utf8Bytes::from_static(reason),
                    }))
                }
            };
            if sink.feed(message).await.is_err() {
                outbox.written(bytes);
                break 'outer;
            }
        }
        let flushed = sink.flush().await;
        outbox.written(bytes);
        if flushed.is_err() || closing {
            break;
        }
    }
    outbox.gone();
    let _ = sink.close().await;
}

/// A disconnect push in the v0.5 push envelope, `{"action", "payload": {"reason"}, "type"}`
/// (keys in the order the codec writes them).
pub(crate) fn disconnect_push(action: &str, reason: &str) -> Utf8Bytes {
    let payload = serde_json::json!({ "reason": reason });
    let push = serde_json::json!({ "action": action, "payload": payload, "type": "push" });
    push.to_string().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbox(bound: usize) -> Outbox {
        Outbox::new(1, bound, Arc::new(Metrics::new()))
    }

    fn text(n: usize) -> Out {
        Out::Text("x".repeat(n).into())
    }

    #[tokio::test]
    async fn a_backlog_over_the_bound_counts_as_stalled_only_after_the_stall_timeout() {
        tokio::time::pause();
        let outbox = outbox(10);
        assert!(outbox.send(text(8)));
        assert!(outbox.send(text(8)));
        assert_eq!(outbox.backlog(), 16);
        let stall = Duration::from_secs(10);
        let waited = tokio::time::timeout(Duration::from_secs(9), outbox.stalled(stall)).await;
        assert!(waited.is_err(), "not stalled before the timeout");
        let waited = tokio::time::timeout(Duration::from_secs(2), outbox.stalled(stall)).await;
        assert!(
            waited.is_ok(),
            "stalled once over the bound for the whole timeout"
        );
    }

    #[tokio::test]
    async fn draining_below_the_bound_restarts_the_clock() {
        tokio::time::pause();
        let outbox = outbox(10);
        outbox.send(text(8));
        outbox.send(text(8));
        let mut batch = Vec::new();
        assert!(outbox.take(&mut batch).await);
        assert_eq!(batch.len(), 2, "the writer takes everything queued at once");
        tokio::time::advance(Duration::from_secs(9)).await;
        outbox.written(16);
        outbox.send(text(16));
        let stall = Duration::from_secs(10);
        let waited = tokio::time::timeout(Duration::from_secs(9), outbox.stalled(stall)).await;
        assert!(
            waited.is_err(),
            "the clock restarted when the backlog went under the bound"
        );
    }

    #[tokio::test]
    async fn four_times_the_bound_is_abandoned_at_once() {
        tokio::time::pause();
        let outbox = outbox(10);
        outbox.send(text(41));
        let waited =
            tokio::time::timeout(Duration::from_millis(1), outbox.stalled(Duration::MAX)).await;
        assert!(waited.is_ok());
    }

    #[tokio::test]
    async fn abandon_keeps_only_the_disconnect_push_and_the_close() {
        let outbox = outbox(10);
        outbox.send(text(30));
        outbox.abandon(
            disconnect_push("agent_disconnected", "r"),
            (1008, "too slow"),
        );
        assert!(!outbox.send(text(1)), "nothing is taken after the close");
        let mut batch = Vec::new();
        assert!(outbox.take(&mut batch).await);
        assert!(matches!(&batch[0], Out::Text(t) if t.as_str()
            == r#"{"action":"agent_disconnected","payload":{"reason":"r"},"type":"push"}"#));
        assert!(matches!(batch[1], Out::Close(1008, _)));
        assert_eq!(batch.len(), 2);
        assert!(!outbox.take(&mut batch).await, "closed and empty");
    }
}
