//! Webhook delivery: every webhook the engine fires is POSTed to its URL, at least once, in
//! order per chat, retried with backoff, off the request path.
//!
//! A webhook enters the queue when its call's answer is released (after the commit, with
//! `--data`), so nothing is delivered for a change a crash could still lose. Each chat (and
//! each URL) has its own line: a receiver that fails holds back only its own chat's later
//! webhooks, retried after 1 s, 2 s, 4 s ... up to [`MAX_BACKOFF`].
//!
//! With `--data` every webhook is also a row of the store's `webhook` table, written in the
//! commit of the records of the call that fired it, and deleted by a later commit once
//! delivered (see `store.rs`): a restart resumes the rows left, oldest first, before anything
//! new fires. In memory, and with `--postgres` (whose nodes hand licenses to each other), the
//! queue lives in memory only: webhooks waiting when the process stops are lost.
//!
//! Delivery goes over `http://` or `https://`. For https the server trusts the public
//! certificate authorities (the Mozilla set of `webpki-roots`, built in, so a server needs no
//! system certificate store) and any authority the host adds (`--webhook-ca`, for receivers
//! inside a company's own PKI). A URL of any other scheme is dropped, counted (`dropped`) and
//! logged, instead of failing forever at the head of its chat's line.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use chatio::wire::configuration::WireWebhook;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::sync::mpsc;

use crate::commit::CommitQueue;

/// The longest wait between two tries of one webhook.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How long one try may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Webhooks waiting in all lines; past it the newest are dropped (and counted) rather than
/// growing the server without end.
pub const MAX_QUEUED: usize = 100_000;

/// The client every try goes through: http and https, one connection pool.
type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Reads the certificate authorities of a PEM file (`--webhook-ca`), for the webhook client; fails
/// with what is wrong when the file cannot be read or holds no certificate.
pub fn read_authorities(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let what = |e: &dyn std::fmt::Display| format!("--webhook-ca {}: {e}", path.display());
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| what(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| what(&e))?;
    if certs.is_empty() {
        return Err(what(&"no certificate in the file"));
    }
    Ok(certs)
}

/// The client: the public authorities and `extra`.
fn client(extra: &[CertificateDer<'static>]) -> Result<HttpClient, rustls::Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // `read_authorities` checked the file; a certificate rustls still refuses is named in the
    // log rather than stopping the server's webhooks.
    let (_, refused) = roots.add_parsable_certificates(extra.iter().cloned());
    if refused > 0 {
        tracing::warn!(
            refused,
            "--webhook-ca: some certificates are not usable authorities"
        );
    }
    // ring, not aws-lc-rs: no C toolchain beyond `cc` to build it. rustls marks ring's provider
    // deprecated for lacking post-quantum key exchange, which a webhook's POST can go without.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// The sending side, for whoever releases answers.
pub(crate) type Sender = mpsc::UnboundedSender<Owed>;

/// A webhook to deliver, and its row in the store if it is kept there.
pub(crate) struct Owed {
    /// The row (`--data`): deleted once delivered.
    pub(crate) row: Option<i64>,
    /// The webhook.
    pub(crate) webhook: WireWebhook,
}

/// A line of webhooks that must go out one after another.
#[derive(Default)]
struct Line {
    waiting: VecDeque<Owed>,
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

/// Starts the delivery task with the webhooks `owed` from before a restart (queued first,
/// oldest first); returns where to send webhooks. Deliveries of stored webhooks are told to
/// `store`, whose next commit deletes their rows.
pub(crate) fn start(
    metrics: Arc<crate::metrics::Metrics>,
    store: Option<Arc<CommitQueue>>,
    owed: Vec<Owed>,
    authorities: &[CertificateDer<'static>],
) -> Sender {
    let (tx, rx) = mpsc::unbounded_channel();
    for one in owed {
        let _ = tx.send(one);
    }
    // ring offers every default protocol version, so this fails only if a future rustls
    // changes that; webhooks are then dropped and counted, requests go on.
    let client = client(authorities)
        .inspect_err(|e| tracing::error!(error = %e, "no TLS client: webhooks are dropped"))
        .ok();
    tokio::spawn(run(rx, metrics, store, client));
    tx
}

async fn run(
    mut incoming: mpsc::UnboundedReceiver<Owed>,
    metrics: Arc<crate::metrics::Metrics>,
    store: Option<Arc<CommitQueue>>,
    client: Option<HttpClient>,
) {
    // Forgets a stored webhook: delivered, or dropped for want of room.
    let forget = |owed: &Owed| {
        if let (Some(row), Some(store)) = (owed.row, &store) {
            store.delivered(row);
        }
    };
    let mut lines: HashMap<(String, Option<String>), Line> = HashMap::new();
    let mut queued = 0usize;
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Tried>();
    loop {
        tokio::select! {
            next = incoming.recv() => {
                let Some(owed) = next else { break };
                if queued >= MAX_QUEUED {
                    metrics.webhooks.with_label_values(&["dropped"]).inc();
                    tracing::warn!(url = owed.webhook.url, "webhook queue full: a webhook is dropped");
                    forget(&owed);
                    continue;
                }
                let url = &owed.webhook.url;
                let Some(client) = client
                    .as_ref()
                    .filter(|_| url.starts_with("http://") || url.starts_with("https://"))
                else {
                    metrics.webhooks.with_label_values(&["dropped"]).inc();
                    tracing::warn!(url, "a webhook to a URL this server cannot reach is dropped");
                    forget(&owed);
                    continue;
                };
                queued += 1;
                let key = (owed.webhook.url.clone(), owed.webhook.chat_id.map(|c| c.to_string()));
                let line = lines.entry(key.clone()).or_default();
                line.waiting.push_back(owed);
                if !line.busy {
                    line.busy = true;
                    try_head(client, &key, line, Duration::ZERO, &done_tx);
                }
            }
            Some(tried) = done_rx.recv() => {
                let Some(line) = lines.get_mut(&tried.key) else { continue };
                if tried.delivered {
                    metrics.webhooks.with_label_values(&["delivered"]).inc();
                    if let Some(done) = line.waiting.pop_front() {
                        forget(&done);
                    }
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
                // Lines exist only with a client: nothing is queued without one.
                if let Some(client) = &client {
                    try_head(client, &tried.key, line, wait, &done_tx);
                }
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
    client: &HttpClient,
    key: &(String, Option<String>),
    line: &Line,
    wait: Duration,
    done: &mpsc::UnboundedSender<Tried>,
) {
    let Some(Owed { webhook: head, .. }) = line.waiting.front() else {
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
async fn post(client: &HttpClient, url: &str, body: Bytes) -> Result<(), String> {
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
