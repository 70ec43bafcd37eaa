//! RTM: one WebSocket connection per session; login first, then requests and pushes.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chatio::wire::{self, Api};
use chatio::{ErrorKind, UserId};
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::commit::{Release, render};
use crate::conn::{Out, Outbox, REASON_BACKLOG_STALLED, disconnect_push, write_loop};
use crate::web::{api_name, json_response, parse_api, unsupported_version};
use crate::{MAX_MESSAGE, Shared, VERSION, now};

pub(crate) async fn upgrade(
    State(shared): State<Arc<Shared>>,
    Path((api, version)): Path<(String, String)>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Some(api) = parse_api(&api) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let ws = match ws {
        Ok(ws) => ws.max_message_size(MAX_MESSAGE).max_frame_size(MAX_MESSAGE),
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
        // Say why on the socket, where a WebSocket client can read it, then close.
        return ws.on_upgrade(move |mut socket| async move {
            let text = wire::error_text(
                None,
                "",
                ErrorKind::UnsupportedVersion,
                &unsupported_version(&version),
            );
            let _ = socket.send(Message::Text(text.into())).await;
            let _ = socket
                .send(Message::Close(Some(CloseFrame {
                    code: close_code::POLICY,
                    reason: "unsupported version".into(),
                })))
                .await;
        });
    }
    ws.on_upgrade(move |socket| session(shared, api, socket))
}

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

/// One RTM connection: login first, then requests until the client leaves, goes quiet, stops
/// reading, or the server stops.
async fn session(shared: Arc<Shared>, api: Api, socket: WebSocket) {
    shared.sessions.send_modify(|n| *n += 1);
    shared
        .metrics
        .connections
        .with_label_values(&[api_name(api)])
        .inc();
    let _guard = SessionGuard(Arc::clone(&shared), api);
    let conn_id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let (sink, mut stream) = socket.split();
    let outbox = Arc::new(Outbox::new(
        conn_id,
        shared.max_backlog,
        Arc::clone(&shared.metrics),
    ));
    let mut writer = tokio::spawn(write_loop(Arc::clone(&outbox), sink));
    let mut stop = shared.stop.clone();
    let mut user: Option<UserId> = None;
    let mut requests = 0u64;
    let mut writer_done = false;
    let mut grace = crate::DRAIN;
    let why = loop {
        tokio::select! {
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
                match &user {
                    Some(me) => request(&shared, api, me, &outbox, &text),
                    None => user = login(&shared, api, &outbox, &text),
                }
            }
            _ = &mut writer => {
                writer_done = true;
                break "closed by server";
            }
            () = outbox.stalled(shared.stall_timeout) => {
                let action = match api {
                    Api::Agent => "agent_disconnected",
                    Api::Customer => "customer_disconnected",
                };
                outbox.abandon(
                    disconnect_push(action, REASON_BACKLOG_STALLED),
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
            _ = stop.wait_for(|&s| s) => {
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

/// One request of a logged-in user.
fn request(shared: &Shared, api: Api, me: &UserId, outbox: &Arc<Outbox>, text: &str) {
    shared.call(|core, items| {
        let reply = wire::handle(&mut core.engine, api, me, now(), text);
        // Counted before anything is released, so a client that got its answer finds it
        // counted.
        shared.metrics.request(api, &reply.action, reply.success);
        items.push(Release::To(Arc::clone(outbox), reply.response.into()));
        if !reply.pushes.is_empty() {
            items.push(Release::Pushes(render(reply.pushes)));
        }
    });
}

/// Handles the first request(s) of a connection, until one is a successful `login`. Returns
/// the user once logged in; the connection then gets the user's pushes.
fn login(shared: &Shared, api: Api, outbox: &Arc<Outbox>, text: &str) -> Option<UserId> {
    let request: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let request_id = match request.get("request_id") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let action = request.get("action").and_then(Value::as_str).unwrap_or("");
    let refuse = |message: &str| {
        let text = wire::error_text(
            request_id.as_deref(),
            action,
            ErrorKind::Authentication,
            message,
        );
        shared.metrics.request(api, action, false);
        outbox.send(Out::Text(text.into()));
        None
    };
    if action != "login" {
        return refuse("the first request must be login");
    }
    let token = request.pointer("/payload/token").and_then(Value::as_str);
    let user = match shared.resolve(api, token) {
        Ok(user) => user,
        Err(why) => return refuse(why),
    };
    let outcome = shared.call(|core, items| {
        core.ensure_customer(api, &user)?;
        let reply = wire::handle(&mut core.engine, api, &user, now(), text);
        shared.metrics.request(api, "login", reply.success);
        items.push(Release::To(Arc::clone(outbox), reply.response.into()));
        if !reply.pushes.is_empty() {
            items.push(Release::Pushes(render(reply.pushes)));
        }
        if reply.success {
            // In engine order: the connection gets every push of the calls after its login.
            items.push(Release::Subscribe(user.clone(), Arc::clone(outbox)));
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
        Err(why) => refuse(why),
    }
}
