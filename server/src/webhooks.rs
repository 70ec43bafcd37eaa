//! Webhook delivery: every webhook the engine fires is POSTed to its URL, at least once, in
//! order per chat, retried with backoff, off the request path.
//!
//! A webhook enters the queue when its call's answer is released (after the commit, with
//! `--data`), so nothing is delivered for a change a crash could still lose. Each chat (and
//! each URL) has its own line: a receiver that fails holds back only its own chat's later
//! webhooks, retried after 1 s, 2 s, 4 s ... up to [`MAX_BACKOFF`]. The queue lives in memory:
//! webhooks waiting when the process stops are lost (see server/README.md).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use axum::body::Bytes;
use chatio::wire::configuration::WireWebhook;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::mpsc;

/// The longest wait between two tries of one webhook.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How long one try may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Webhooks waiting in all lines; past it the newest are dropped (and counted) rather than
/// growing the server without end.
pub const MAX_QUEUED: usize = 100_000;

/// The sending side, for whoever releases answers.
pub(crate) type Sender = mpsc::UnboundedSender<WireWebhook>;

/// A line of webhooks that must go out one after another.
#[derive(Default)]
struct Line {
    waiting: VecDeque<WireWebhook>,
    /// Failed tries of the head.
    failures: u32,
    /// The head is being sent, or waits for its retry.
    busy: bool,
}

/// What a try ended in.
struct Tried {
    key: (String, Option<String>),
    delivered: bool,
}

/// Starts the delivery task; returns where to send webhooks.
pub(crate) fn start(metrics: std::sync::Arc<crate::metrics::Metrics>) -> Sender {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(rx, metrics));
    tx
}

async fn run(
    mut incoming: mpsc::UnboundedReceiver<WireWebhook>,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
) {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut lines: HashMap<(String, Option<String>), Line> = HashMap::new();
    let mut queued = 0usize;
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Tried>();
    loop {
        tokio::select! {
            next = incoming.recv() => {
                let Some(webhook) = next else { break };
                if queued >= MAX_QUEUED {
                    metrics.webhooks.with_label_values(&["dropped"]).inc();
                    tracing::warn!(url = webhook.url, "webhook queue full: a webhook is dropped");
                    continue;
                }
                queued += 1;
                let key = (webhook.url.clone(), webhook.chat_id.map(|c| c.to_string()));
                let line = lines.entry(key.clone()).or_default();
                line.waiting.push_back(webhook);
                if !line.busy {
                    line.busy = true;
                    try_head(&client, &key, line, Duration::ZERO, &done_tx);
                }
            }
            Some(tried) = done_rx.recv() => {
                let Some(line) = lines.get_mut(&tried.key) else { continue };
                if tried.delivered {
                    metrics.webhooks.with_label_values(&["delivered"]).inc();
                    line.waiting.pop_front();
                    queued -= 1;
                    line.failures = 0;
                } else {
                    metrics.webhooks.with_label_values(&["failed"]).inc();
                    line.failures += 1;
                }
                if line.waiting.is_empty() {
                    lines.remove(&tried.key);
                    continue;
                }
                let wait = if line.failures == 0 {
                    Duration::ZERO
                } else {
                    backoff(line.failures)
                };
                try_head(&client, &tried.key, line, wait, &done_tx);
            }
        }
    }
}

/// The wait before the next try after `failures` failed ones: 1 s, doubling, at most
/// [`MAX_BACKOFF`].
pub(crate) fn backoff(failures: u32) -> Duration {
    let secs = 1u64 << failures.saturating_sub(1).min(16);
    Duration::from_secs(secs).min(MAX_BACKOFF)
}

/// Sends the line's head after `wait`, and reports how it went.
fn try_head(
    client: &Client<HttpConnector, Full<Bytes>>,
    key: &(String, Option<String>),
    line: &Line,
    wait: Duration,
    done: &mpsc::UnboundedSender<Tried>,
) {
    let Some(head) = line.waiting.front() else {
        return;
    };
    let client = client.clone();
    let url = head.url.clone();
    let body = Bytes::from(head.body.clone());
    let webhook_id = head.webhook_id.clone();
    let key = key.clone();
    let done = done.clone();
    tokio::spawn(async move {
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let delivered = post(&client, &url, body).await;
        if let Err(why) = &delivered {
            tracing::info!(
                url,
                webhook_id,
                error = why.as_str(),
                "webhook not delivered; will retry"
            );
        }
        let _ = done.send(Tried {
            key,
            delivered: delivered.is_ok(),
        });
    });
}

/// One POST; a 2xx answer within [`ATTEMPT_TIMEOUT`] is a delivery.
async fn post(
    client: &Client<HttpConnector, Full<Bytes>>,
    url: &str,
    body: Bytes,
) -> Result<(), String> {
    let request = hyper::Request::post(url)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    match tokio::time::timeout(ATTEMPT_TIMEOUT, client.request(request)).await {
        Err(_) => Err("timed out".to_string()),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(response)) if response.status().is_success() => Ok(()),
        Ok(Ok(response)) => Err(format!("answered {}", response.status())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let waits: Vec<u64> = (1..=9).map(|f| backoff(f).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
