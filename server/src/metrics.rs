//! `GET /metrics`: the server's counters in the Prometheus text format.
//!
//! Each [`crate::Server`] has its own registry (the `prometheus` crate's `Registry`), not a
//! process-wide one: a host may run several servers in one process, and so do the tests. The
//! counters of the actions the protocol has are resolved once at start, so counting a request
//! is an atomic add, not a look-up by label.

use std::collections::HashMap;

use chatio::wire::{Api, TRANSPORTS};
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    /// Open WebSocket connections, by API.
    pub(crate) connections: IntGaugeVec,
    requests: IntCounterVec,
    errors: IntCounterVec,
    by_action: HashMap<(bool, &'static str), (IntCounter, IntCounter)>,
    /// Pushes queued for connections (one per connection it goes to).
    pub(crate) pushes: IntCounter,
    /// Bytes waiting in connections' backlogs.
    pub(crate) backlog_bytes: IntGauge,
    /// Connections the server closed, by reason.
    pub(crate) disconnects: IntCounterVec,
    /// Connections refused or shed, by reason (`per_address`, `full`, `descriptors`, `shed`).
    pub(crate) refusals: IntCounterVec,
    /// Requests refused by a rate limit, by limit (`requests`, `auth`, `customers`).
    pub(crate) limited: IntCounterVec,
    /// Journal records per commit.
    pub(crate) commit_records: Histogram,
    /// How long a commit (its fsync included) took, in seconds.
    pub(crate) commit_seconds: Histogram,
    /// Files stored by `upload_image` and `send_file`.
    pub(crate) uploads: IntCounter,
    /// Threads archived by `--archive-after` (their events left the engine for the store).
    pub(crate) archived_threads: IntCounter,
    /// Webhook tries, by outcome (`delivered`, `failed`, `dropped`).
    pub(crate) webhooks: IntCounterVec,
    /// Licenses served by this node (set when `/metrics` is read).
    pub(crate) licenses: IntGauge,
    /// Licenses this node stopped serving, by reason (`write_failed`: a journal write failed
    /// or was fenced; `lease_lost`: the lease expired or was taken).
    pub(crate) licenses_lost: IntCounterVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn is_agent(api: Api) -> bool {
    matches!(api, Api::Agent)
}

impl Metrics {
    /// A fresh registry with every metric at zero.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        // The names and buckets are fixed and valid: registering them cannot fail, and a
        // failure would only leave a metric out of the text.
        let connections = IntGaugeVec::new(
            Opts::new("chatio_connections", "Open RTM (WebSocket) connections"),
            &["api"],
        )
        .unwrap_or_else(|_| unreachable_metric());
        let requests = IntCounterVec::new(
            Opts::new(
                "chatio_requests_total",
                "Requests handled, by API and action",
            ),
            &["api", "action"],
        )
        .unwrap_or_else(|_| unreachable_metric());
        let errors = IntCounterVec::new(
            Opts::new(
                "chatio_request_errors_total",
                "Requests answered with an error, by API and action",
            ),
            &["api", "action"],
        )
        .unwrap_or_else(|_| unreachable_metric());
        let pushes = IntCounter::new(
            "chatio_pushes_total",
            "Pushes queued for connections (one per connection)",
        )
        .unwrap_or_else(|_| unreachable_metric());
        let backlog_bytes = IntGauge::new(
            "chatio_backlog_bytes",
            "Bytes queued for connections and not yet written",
        )
        .unwrap_or_else(|_| unreachable_metric());
        let disconnects = IntCounterVec::new(
            Opts::new(
                "chatio_server_disconnects_total",
                "Connections closed by the server, by reason",
            ),
            &["reason"],
        )
        .unwrap_or_else(|_| unreachable_metric());
        let refusals = IntCounterVec::new(
            Opts::new(
                "chatio_connections_refused_total",
                "Connections refused at accept, or shed to make room, by reason",
            ),
            &["reason"],
        )
        .unwrap_or_else(|_| unreachable_metric());
        let limited = IntCounterVec::new(
            Opts::new(
                "chatio_rate_limited_total",
                "Requests refused by a rate limit, by limit",
            ),
            &["limit"],
        )
        .unwrap_or_else(|_| unreachable_metric());
        let commit_records = Histogram::with_opts(
            HistogramOpts::new(
                "chatio_commit_batch_records",
                "Journal records committed in one transaction",
            )
            .buckets(vec![
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
            ]),
        )
        .unwrap_or_else(|_| unreachable_metric());
        let commit_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "chatio_commit_seconds",
                "Time to commit one batch of journal records, fsync included",
            )
            .buckets(prometheus::exponential_buckets(0.000_1, 2.0, 16).unwrap_or_default()),
        )
        .unwrap_or_else(|_| unreachable_metric());
        let uploads = IntCounter::new(
            "chatio_uploads_total",
            "Files stored by upload_image and send_file",
        )
        .unwrap_or_else(|_| unreachable_metric());
        let archived_threads = IntCounter::new(
            "chatio_archived_threads_total",
            "Closed threads whose events left the engine for the store (--archive-after)",
        )
        .unwrap_or_else(|_| unreachable_metric());
        let webhooks = IntCounterVec::new(
            Opts::new(
                "chatio_webhooks_total",
                "Webhook tries, by outcome (delivered, failed, dropped)",
            ),
            &["outcome"],
        )
        .unwrap_or_else(|_| unreachable_metric());
        let licenses = IntGauge::new("chatio_licenses", "Licenses served by this node")
            .unwrap_or_else(|_| unreachable_metric());
        let licenses_lost = IntCounterVec::new(
            Opts::new(
                "chatio_licenses_lost_total",
                "Licenses this node stopped serving, by reason",
            ),
            &["reason"],
        )
        .unwrap_or_else(|_| unreachable_metric());
        for metric in [
            Box::new(connections.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(licenses.clone()),
            Box::new(licenses_lost.clone()),
            Box::new(requests.clone()),
            Box::new(errors.clone()),
            Box::new(pushes.clone()),
            Box::new(backlog_bytes.clone()),
            Box::new(disconnects.clone()),
            Box::new(refusals.clone()),
            Box::new(limited.clone()),
            Box::new(commit_records.clone()),
            Box::new(commit_seconds.clone()),
            Box::new(uploads.clone()),
            Box::new(archived_threads.clone()),
            Box::new(webhooks.clone()),
        ] {
            let _ = registry.register(metric);
        }
        let mut by_action = HashMap::new();
        for &(api, action, _) in TRANSPORTS {
            let labels = [api_label(api), action];
            by_action.insert(
                (is_agent(api), action),
                (
                    requests.with_label_values(&labels),
                    errors.with_label_values(&labels),
                ),
            );
        }
        Metrics {
            registry,
            connections,
            requests,
            errors,
            by_action,
            pushes,
            backlog_bytes,
            disconnects,
            refusals,
            limited,
            commit_records,
            commit_seconds,
            uploads,
            archived_threads,
            webhooks,
            licenses,
            licenses_lost,
        }
    }

    /// Counts a request; an action the protocol does not have counts as `other`, so clients
    /// cannot grow the label set.
    pub(crate) fn request(&self, api: Api, action: &str, success: bool) {
        match self.by_action.get(&(is_agent(api), action)) {
            Some((requests, errors)) => {
                requests.inc();
                if !success {
                    errors.inc();
                }
            }
            None => {
                let labels = [api_label(api), "other"];
                self.requests.with_label_values(&labels).inc();
                if !success {
                    self.errors.with_label_values(&labels).inc();
                }
            }
        }
    }

    /// The metrics in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

fn api_label(api: Api) -> &'static str {
    if is_agent(api) { "agent" } else { "customer" }
}

/// Metric constructors fail only on invalid names or buckets, which are constants here.
fn unreachable_metric<T>() -> T {
    unreachable!("constant metric definitions are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_actions_and_others_are_counted_in_the_text_format() {
        let metrics = Metrics::new();
        metrics.request(Api::Customer, "send_event", true);
        metrics.request(Api::Customer, "send_event", false);
        metrics.request(Api::Agent, "no_such_action", false);
        metrics.commit_records.observe(3.0);
        let text = metrics.render();
        assert!(
            text.contains(r#"chatio_requests_total{action="send_event",api="customer"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"chatio_request_errors_total{action="send_event",api="customer"} 1"#)
        );
        assert!(text.contains(r#"chatio_requests_total{action="other",api="agent"} 1"#));
        assert!(text.contains("chatio_commit_batch_records_count 1"));
        assert!(text.contains("# TYPE chatio_commit_seconds histogram"));
    }
}
