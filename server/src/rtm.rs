//! RTM: one WebSocket connection per session; login first, then requests and pushes.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::Extension;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chatio::wire::{self, Api};
use chatio::{ErrorKind, UserId};
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::commit::{Release, render};
use crate::conn::{Out, Outbox, REASON_BACKLOG_STALLED, disconnect_push, write_loop};
use crate::limits::Bucket;
use crate::listen::Ticket;
use crate::web::{api_name, json_response, unsupported_version};
use crate::{MAX_MESSAGE, Prepared, Refused, Shared, TOO_MANY_REQUESTS, VERSION, error_response};

/// An RTM connection for the license `shared` serves (chosen by [`crate::hub`]); `first` is a
/// request read already (the `login` whose token chose the license).
pub(crate) async fn upgrade(
    shared: Arc<Shared>,
    api: Api,
    version: String,
    ticket: Option<Extension<Arc<Ticket>>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    first: Option<String>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws
            .max_message_size(MAX_MESSAGE)
            .max_frame_size(MAX_MESSAGE)
            .read_buffer_size(READ_BUFFER),
        Err(rejection) if version == VERSION => return rejection.into_response(),
        Err(_) => {
            let body = json!({ "error": {
                "type": ErrorKind::UnsupportedVersion.as_str(),
                "message": unsupported_version(&version),
            }});
            return json_response(StatusCode::BAD_REQUEST, body.to_string());
        }
    };
    if version != VERSION {
        // Say why on the socket, where a WebSocket client can read it (the error, then the
        // protocol's disconnect push with its reason), then close.
        return ws.on_upgrade(move |mut socket| async move {
            let text = wire::error_text(
                None,
                "",
                ErrorKind::UnsupportedVersion,
                &unsupported_version(&version),
            );
            let _ = socket.send(Message::Text(text.into())).await;
            let push = disconnect_push(disconnected_action(api), REASON_UNSUPPORTED_VERSION);
            let _ = socket.send(Message::Text(push)).await;
            let _ = socket
                .send(Message::Close(Some(CloseFrame {
                    code: close_code::POLICY,
                    reason: "unsupported version".into(),
                })))
                .await;
        });
    }
    let ticket = ticket.map(|Extension(t)| t);
    ws.on_upgrade(move |socket| session(shared, api, socket, ticket, first))
}

/// Runs a session on a socket upgraded already (see [`upgrade`]).
pub(crate) async fn run_session(
    shared: Arc<Shared>,
    api: Api,
    socket: WebSocket,
    ticket: Option<Arc<Ticket>>,
    first: Option<String>,
) {
    session(shared, api, socket, ticket, first).await;
}

/// Each WebSocket's read buffer, allocated at the upgrade. tungstenite's default, 128 KiB, made
/// a connection that never logs in cost about 136 KiB; requests are small, and a large one is
/// still read whole, in more reads.
const READ_BUFFER: usize = 8 << 10;

/// The `reason` of the disconnect push a login over
/// [`Limits::connections_per_user`](crate::Limits::connections_per_user) gets before its
/// connection is closed (v0.5's customer reason; the agent gets the same).
pub(crate) const REASON_TOO_MANY_CONNECTIONS: &str = "too_many_connections";

/// The `reason` of the disconnect push a connection to another version of the API gets.
pub(crate) const REASON_UNSUPPORTED_VERSION: &str = "unsupported_version";

/// The disconnect push of `api`.
fn disconnected_action(api: Api) -> &'static str {
    match api {
        Api::Agent => "agent_disconnected",
        Api::Customer => "customer_disconnected",
    }
}

/// Failed logins one connection may make before it is closed.
const MAX_FAILED_LOGINS: u32 = 5;

/// Counts a running session for shutdown and the metrics, even if it panics.
struct SessionGuard(Arc<Shared>, Api);

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.0.sessions.send_modify(|n| *n -= 1);
        self.0
            .metrics
            .connections
            .with_label_values(&[api_name(self.1)])
            .dec();
    }
}

/// One RTM connection: login first (within the login timeout: pings do not extend it), then
/// requests until the client leaves, goes quiet, stops reading, is shed to make room, or the
/// server stops.
async fn session(
    shared: Arc<Shared>,
    api: Api,
    socket: WebSocket,
    ticket: Option<Arc<Ticket>>,
    first: Option<String>,
) {
    shared.sessions.send_modify(|n| *n += 1);
    shared
        .metrics
        .connections
        .with_label_values(&[api_name(api)])
        .inc();
    let _guard = SessionGuard(Arc::clone(&shared), api);
    let conn_id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let (sink, stream) = socket.split();
    // A request read before the session began comes first.
    let mut stream =
        futures_util::stream::iter(first.map(|text| Ok(Message::Text(text.into())))).chain(stream);
    let outbox = Arc::new(Outbox::new(
        conn_id,
        shared.max_backlog,
        Arc::clone(&shared.metrics),
    ));
    let mut writer = tokio::spawn(write_loop(Arc::clone(&outbox), sink));
    let mut user: Option<UserId> = None;
    let mut requests = 0u64;
    let mut writer_done = false;
    let mut grace = crate::DRAIN.min(shared.limits.shutdown_timeout);
    let login_deadline = tokio::time::Instant::now() + shared.limits.login_timeout;
    let mut failed_logins = 0u32;
    // Calls left to make off the workers after a long one (see `SLOW_CALLS`).
    let mut slow = 0u32;
    let peer = ticket.as_ref().map(|t| t.peer.ip());
    let mut bucket = Bucket::new(
        shared.limits.request_rate,
        shared.limits.request_burst,
        tokio::time::Instant::now(),
    );
    let shed = async {
        match &ticket {
            Some(ticket) => ticket.shed().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(shed);
    let why = loop {
        tokio::select! {
            () = tokio::time::sleep_until(login_deadline), if user.is_none() => {
                outbox.send(Out::Close(close_code::POLICY, "login timeout"));
                break "login timeout";
            }
            () = &mut shed => {
                outbox.send(Out::Close(close_code::AGAIN, "server full; try again later"));
                shared.metrics.refusals.with_label_values(&["shed"]).inc();
                break "shed";
            }
            next = tokio::time::timeout(shared.idle_timeout, stream.next()) => {
                let text = match next {
                    Err(_) => {
                        outbox.send(Out::Close(close_code::NORMAL, "idle timeout"));
                        break "idle timeout";
                    }
                    Ok(None) => break "gone",
                    Ok(Some(Err(e))) => {
                        // tungstenite refuses an oversized frame before reading it.
                        if e.to_string().contains("Space limit exceeded") {
                            outbox.send(Out::Close(close_code::SIZE, "frames are limited to 1 MiB"));
                            break "frame over 1 MiB";
                        }
                        break "read error";
                    }
                    Ok(Some(Ok(Message::Text(text)))) => text,
                    Ok(Some(Ok(Message::Binary(bytes)))) => match String::from_utf8(bytes.to_vec()) {
                        Ok(text) => text.into(),
                        Err(_) => {
                            let error = wire::error_text(None, "", ErrorKind::Validation,
                                "messages are UTF-8 JSON text");
                            outbox.send(Out::Text(error.into()));
                            continue;
                        }
                    },
                    Ok(Some(Ok(Message::Close(_)))) => break "closed by client",
                    Ok(Some(Ok(_))) => continue, // ping and pong only keep the connection alive
                };
                requests += 1;
                if let Err(wait) = bucket.take(tokio::time::Instant::now()) {
                    shared.metrics.limited.with_label_values(&["requests"]).inc();
                    let message = format!(
                        "too many requests on this connection (at most {} per second); retry in {} ms",
                        shared.limits.request_rate,
                        wait.as_millis().max(1)
                    );
                    refuse(&shared, api, &outbox, &text, TOO_MANY_REQUESTS, &message);
                    continue;
                }
                match &user {
                    Some(me) => match shared.ping(api, me, &outbox, &text) {
                        Some(answer) => {
                            outbox.send(Out::Text(answer.into()));
                        }
                        None => {
                            let took = request(&shared, api, me, &outbox, &text, peer, slow > 0);
                            // A connection whose calls take long (a customer with huge fields,
                            // an agent on a large license) makes its next calls off the
                            // runtime's workers: tasks queued behind a long call on a worker
                            // would wait for it. It lapses after as many quick calls, so that
                            // a call that was only slow because the machine was busy does not
                            // mark the connection for good.
                            slow = if took > SLOW_CALL { SLOW_CALLS } else { slow.saturating_sub(1) };
                        }
                    },
                    None => {
                        user = login(&shared, api, &outbox, &text, peer);
                        match (&user, &ticket) {
                            (Some(_), Some(ticket)) => ticket.authenticated(),
                            (Some(_), None) => {}
                            (None, _) => {
                                failed_logins += 1;
                                if failed_logins >= MAX_FAILED_LOGINS {
                                    outbox.send(Out::Close(close_code::POLICY, "too many failed logins"));
                                    break "too many failed logins";
                                }
                            }
                        }
                    }
                }
            }
            _ = &mut writer => {
                writer_done = true;
                break "closed by server";
            }
            () = outbox.stalled(shared.stall_timeout) => {
                outbox.abandon(
                    disconnect_push(disconnected_action(api), REASON_BACKLOG_STALLED),
                    (close_code::POLICY, "backlog stalled"),
                );
                shared.metrics.disconnects.with_label_values(&[REASON_BACKLOG_STALLED]).inc();
                tracing::warn!(
                    api = api_name(api),
                    conn = conn_id,
                    user = %user.as_ref().map_or_else(|| "-".to_string(), UserId::to_string),
                    reason = REASON_BACKLOG_STALLED,
                    max_backlog = shared.max_backlog,
                    stall_timeout_s = shared.stall_timeout.as_secs_f64(),
                    "disconnecting a client that stopped reading"
                );
                // It gets as long again to take the push that says why, then the socket goes.
                grace = shared.stall_timeout.max(crate::DRAIN);
                break REASON_BACKLOG_STALLED;
            }
            () = shared.stopping() => {
                if shared.is_lost() {
                    // Clients reconnect through any node and are sent to the new owner.
                    outbox.send(Out::Close(close_code::RESTART, "license moved; reconnect"));
                    break "license lost";
                }
                outbox.send(Out::Close(close_code::AWAY, "server shutting down"));
                break "server shutdown";
            }
        }
    };
    if let Some(me) = &user {
        shared.call(|core, items| {
            items.push(Release::Unsubscribe(me.clone(), conn_id));
            if api == Api::Agent {
                let left = core.agent_conns.get_mut(me).map(|n| {
                    *n -= 1;
                    *n
                });
                if left == Some(0) {
                    core.agent_conns.remove(me);
                    core.presence(me, false, items);
                }
            }
        });
    }
    // The writer sends what is queued, then a close frame if none was queued, and ends.
    outbox.finish();
    if !writer_done && tokio::time::timeout(grace, &mut writer).await.is_err() {
        writer.abort();
    }
    tracing::info!(
        api = api_name(api),
        conn = conn_id,
        user = %user.as_ref().map_or_else(|| "-".to_string(), UserId::to_string),
        requests,
        why,
        "rtm connection closed"
    );
}

/// A call that holds the engine longer than this marks its connection as slow...
const SLOW_CALL: std::time::Duration = std::time::Duration::from_millis(10);

/// ... for this many calls after it.
const SLOW_CALLS: u32 = 16;

/// One request of a logged-in user; returns how long its engine call took.
fn request(
    shared: &Shared,
    api: Api,
    me: &UserId,
    outbox: &Arc<Outbox>,
    text: &str,
    peer: Option<IpAddr>,
    slow: bool,
) -> std::time::Duration {
    shared.call_as(slow || crate::heavy(text), |core, items| {
        // Only the time holding the engine: waiting for it says nothing of this connection.
        let started = std::time::Instant::now();
        let reply = match shared.prepare(core, api, me, text, peer) {
            Ok(Prepared::Engine) => shared.handle(&mut core.engine, api, me, text),
            Ok(Prepared::StandIn) => shared.stand_in(me, text),
            Err(refused) => {
                let (request_id, action) = head(text);
                shared.metrics.request(api, &action, false);
                let response = error_response(
                    request_id.as_deref(),
                    &action,
                    refused.kind(),
                    refused.message(),
                );
                items.push(Release::To(Arc::clone(outbox), response.into()));
                return started.elapsed();
            }
        };
        // Counted before anything is released, so a client that got its answer finds it
        // counted.
        shared.metrics.request(api, &reply.action, reply.success);
        items.push(Release::To(Arc::clone(outbox), reply.response.into()));
        if !reply.pushes.is_empty() {
            items.push(Release::Pushes(render(reply.pushes)));
        }
        if !reply.webhooks.is_empty() {
            items.push(Release::Webhooks(reply.webhooks));
        }
        started.elapsed()
    })
}

/// Answers a request without handling it, in its turn among the connection's answers.
fn refuse(shared: &Shared, api: Api, outbox: &Arc<Outbox>, text: &str, kind: &str, message: &str) {
    let (request_id, action) = head(text);
    shared.metrics.request(api, &action, false);
    let response = error_response(request_id.as_deref(), &action, kind, message);
    // In its turn: with `--data`, answers of earlier requests may still wait for their commit.
    shared.call(|_, items| items.push(Release::To(Arc::clone(outbox), response.into())));
}

/// A request's `request_id` and `action`, as far as they can be read.
pub(crate) fn head(text: &str) -> (Option<String>, String) {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(default)]
        request_id: Option<Value>,
        #[serde(default)]
        action: Option<Value>,
    }
    let head: Option<Head> = serde_json::from_str(text).ok();
    let request_id = match head.as_ref().and_then(|h| h.request_id.as_ref()) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let action = match head.and_then(|h| h.action) {
        Some(Value::String(s)) if s.len() <= 64 => s,
        _ => String::new(),
    };
    (request_id, action)
}

/// Handles the first request(s) of a connection, until one is a successful `login`. Returns
/// the user once logged in; the connection then gets the user's pushes.
fn login(
    shared: &Shared,
    api: Api,
    outbox: &Arc<Outbox>,
    text: &str,
    peer: Option<IpAddr>,
) -> Option<UserId> {
    let request: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let request_id = match request.get("request_id") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let action = request.get("action").and_then(Value::as_str).unwrap_or("");
    let refuse = |kind: &str, message: &str| {
        let text = error_response(request_id.as_deref(), action, kind, message);
        shared.metrics.request(api, action, false);
        outbox.send(Out::Text(text.into()));
        None
    };
    if action != "login" {
        return refuse(
            ErrorKind::Authentication.as_str(),
            "the first request must be login",
        );
    }
    let token = request.pointer("/payload/token").and_then(Value::as_str);
    let user = match shared.authenticate(api, token, peer) {
        Ok(user) => user,
        Err(refused) => return refuse(refused.kind(), refused.message()),
    };
    // Counted from the connections already subscribed: two logins at the same instant may
    // both pass, so the cap is exact only up to the logins in flight.
    let held = shared
        .registry
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .connections(&user);
    if held >= shared.limits.connections_per_user {
        shared.metrics.request(api, action, false);
        shared
            .metrics
            .disconnects
            .with_label_values(&[REASON_TOO_MANY_CONNECTIONS])
            .inc();
        tracing::info!(
            api = api_name(api),
            user = %user,
            held,
            "refusing a connection over the user's cap"
        );
        outbox.abandon(
            disconnect_push(disconnected_action(api), REASON_TOO_MANY_CONNECTIONS),
            (close_code::POLICY, "too many connections"),
        );
        return None;
    }
    // An agent's login lists the chats it may see: long on a large license.
    let outcome: Result<bool, Refused> = shared.call_as(api == Api::Agent, |core, items| {
        let reply = match shared.prepare(core, api, &user, text, peer)? {
            Prepared::Engine => shared.handle(&mut core.engine, api, &user, text),
            Prepared::StandIn => shared.stand_in(&user, text),
        };
        shared.metrics.request(api, "login", reply.success);
        items.push(Release::To(Arc::clone(outbox), reply.response.into()));
        if !reply.pushes.is_empty() {
            items.push(Release::Pushes(render(reply.pushes)));
        }
        if !reply.webhooks.is_empty() {
            items.push(Release::Webhooks(reply.webhooks));
        }
        if reply.success {
            // In engine order: the connection gets every push of the calls after its login.
            if api == Api::Agent && shared.single_session {
                items.push(Release::Replace(user.clone(), Arc::clone(outbox)));
            } else {
                items.push(Release::Subscribe(user.clone(), Arc::clone(outbox)));
            }
        }
        if reply.success && api == Api::Agent {
            let conns = core.agent_conns.entry(user.clone()).or_default();
            *conns += 1;
            if *conns == 1 {
                core.presence(&user, true, items);
            }
        }
        Ok(reply.success)
    });
    match outcome {
        Ok(success) => success.then_some(user),
        Err(refused) => refuse(refused.kind(), refused.message()),
    }
}
