//! The Web API (one HTTP POST per action) and `GET /metrics`.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::Extension;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chatio::ErrorKind;
use chatio::wire::{self, Api, Offered};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::commit::{Release, render};
use crate::listen::Ticket;
use crate::{MAX_MESSAGE, Prepared, Refused, Shared, TOO_MANY_REQUESTS, VERSION, now};

/// A Web API request for the license `shared` serves (chosen by [`crate::hub`]).
pub(crate) async fn action(
    shared: Arc<Shared>,
    api: Api,
    version: String,
    action: String,
    ticket: Option<Extension<Arc<Ticket>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let ticket = ticket.map(|Extension(t)| t);
    if version == VERSION && crate::files::is_multipart(&headers) {
        let (status, body) =
            crate::files::upload(&shared, api, &action, &headers, body, ticket.as_deref()).await;
        tracing::debug!(
            api = api_name(api),
            action,
            status = status.as_u16(),
            "web upload"
        );
        return json_response(status, body.to_string());
    }
    let (status, body, who) = match read_body(&shared, ticket.as_deref(), body, MAX_MESSAGE).await {
        Ok(body) => {
            call(
                &shared,
                api,
                &version,
                &action,
                &headers,
                &body,
                ticket.as_deref(),
            )
            .await
        }
        Err((status, kind, message)) => (status, error_body(kind, &message), "-".to_string()),
    };
    tracing::debug!(
        api = api_name(api),
        action,
        user = who,
        status = status.as_u16(),
        "web request"
    );
    json_response(status, body)
}

/// The Configuration API: `POST /configuration/v0.5/{section}/{action}` with the payload as
/// the body and an agent's token (see [`chatio::wire::configuration::handle`] for the actions).
/// Answered like the Web API: the payload, or `{"error": ...}` with the error's status.
pub(crate) async fn configuration(
    shared: Arc<Shared>,
    version: String,
    section: String,
    action: String,
    ticket: Option<Extension<Arc<Ticket>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let ticket = ticket.map(|Extension(t)| t);
    let fail =
        |kind: &str, message: &str| json_response(status_for(kind), error_body(kind, message));
    if version != VERSION {
        return fail(
            ErrorKind::UnsupportedVersion.as_str(),
            &unsupported_version(&version),
        );
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let peer = ticket.as_ref().map(|t| t.peer.ip());
    let agent = match shared.authenticate(Api::Agent, token, peer) {
        Ok(agent) => agent,
        Err(refused) => return fail(refused.kind(), refused.message()),
    };
    if let Some(ticket) = &ticket {
        ticket.authenticated();
    }
    let body = match read_body(&shared, ticket.as_deref(), body, MAX_MESSAGE).await {
        Ok(body) => body,
        Err((_, kind, message)) => return fail(kind, &message),
    };
    let Ok(body) = std::str::from_utf8(&body) else {
        return fail(ErrorKind::Validation.as_str(), "the body is not UTF-8");
    };
    let path = format!("{section}/{action}");
    let (released, safe) = oneshot::channel();
    let reply = shared.call(|core, items| {
        let mut reply = wire::configuration::handle(&mut core.engine, &agent, now(), &path, body);
        items.push(Release::Web(released));
        // A bot that takes chats, or a new status, is news for agents and customers.
        let pushes = std::mem::take(&mut reply.pushes);
        if !pushes.is_empty() {
            items.push(Release::Pushes(render(pushes)));
        }
        let webhooks = std::mem::take(&mut reply.webhooks);
        if !webhooks.is_empty() {
            items.push(Release::Webhooks(webhooks));
        }
        reply
    });
    if safe.await.is_err() {
        return fail(ErrorKind::Internal.as_str(), "the server is stopping");
    }
    let status = match reply.error_kind {
        None => StatusCode::OK,
        Some(kind) => status_for(kind.as_str()),
    };
    tracing::debug!(action = path, user = %agent, status = status.as_u16(), "configuration request");
    json_response(status, reply.body)
}

/// A Web API call: the answer is the response's payload, or `{"error": {type, message}}` with
/// an HTTP status that fits the error type.
///
/// An action v0.5 offers over RTM only ([`wire::offered`], e.g. `login`, `get_archives`)
/// is refused once the token is checked, before the engine sees it (nothing is registered or
/// changed), as a `validation` error with status 400 whose message names the RTM endpoint.
/// That is how the Web API already answers an action it does not have (an unknown name); it
/// is not `authorization` (403), which says the user lacks a right that another user might
/// have, nor `authentication` (401), which says the token is bad. Version and token are
/// checked first, as for any action.
async fn call(
    shared: &Shared,
    api: Api,
    version: &str,
    action: &str,
    headers: &HeaderMap,
    body: &[u8],
    ticket: Option<&Ticket>,
) -> (StatusCode, String, String) {
    let fail =
        |kind: &str, message: &str| (status_for(kind), error_body(kind, message), "-".to_string());
    if version != VERSION {
        return fail(
            ErrorKind::UnsupportedVersion.as_str(),
            &unsupported_version(version),
        );
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let peer = ticket.map(|t| t.peer.ip());
    let user = match shared.authenticate(api, token, peer) {
        Ok(user) => user,
        Err(refused) => return fail(refused.kind(), refused.message()),
    };
    if let Some(ticket) = ticket {
        ticket.authenticated();
    }
    if wire::offered(api, action) == Some(Offered::RtmOnly) {
        let message = format!(
            "invalid action: {action:?} is offered over RTM only in {VERSION}, not over the \
             Web API; send it on a /{}/{VERSION}/rtm/ws connection",
            api_name(api)
        );
        let (status, body, _) = fail(ErrorKind::Validation.as_str(), &message);
        return (status, body, user.to_string());
    }
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(request @ Value::Object(_)) => request,
            Ok(_) => {
                return fail(
                    ErrorKind::Validation.as_str(),
                    "the body must be a JSON object",
                );
            }
            Err(e) => return fail(ErrorKind::Validation.as_str(), &format!("the body: {e}")),
        }
    };
    let mut envelope = json!({ "action": action, "payload": request.get("payload") });
    if let Some(author_id) = request.get("author_id") {
        envelope["author_id"] = author_id.clone();
    }
    let envelope = envelope.to_string();
    let (released, safe) = oneshot::channel();
    let reply: Result<wire::Reply, Refused> =
        shared.call_as(crate::heavy(&envelope), |core, items| {
            let mut reply = match shared.prepare(core, api, &user, &envelope, peer)? {
                Prepared::Engine => shared.handle(&mut core.engine, api, &user, &envelope),
                Prepared::StandIn => shared.stand_in(&user, &envelope),
            };
            shared.metrics.request(api, &reply.action, reply.success);
            let webhooks = std::mem::take(&mut reply.webhooks);
            if !webhooks.is_empty() {
                items.push(Release::Webhooks(webhooks));
            }
            let pushes = std::mem::take(&mut reply.pushes);
            if !pushes.is_empty() {
                items.push(Release::Pushes(render(pushes)));
            }
            items.push(Release::Web(released));
            Ok(reply)
        });
    let reply = match reply {
        Ok(reply) => reply,
        Err(refused) => return fail(refused.kind(), refused.message()),
    };
    // With `--data`: once the records are committed. The sender goes away unanswered only if
    // the server stops first, and then nothing may be answered.
    if safe.await.is_err() {
        if shared.is_lost() {
            // Unanswered, so unpromised: the client retries on whichever node owns it now.
            return fail(
                "service_unavailable",
                "this license moved to another node; send the request again",
            );
        }
        return fail(ErrorKind::Internal.as_str(), "the server is stopping");
    }
    let mut response: Value = serde_json::from_str(&reply.response).unwrap_or(Value::Null);
    let payload = response
        .get_mut("payload")
        .map(Value::take)
        .unwrap_or_else(|| json!({}));
    let status = if reply.success {
        StatusCode::OK
    } else {
        status_for(
            payload
                .pointer("/error/type")
                .and_then(Value::as_str)
                .unwrap_or("internal"),
        )
    };
    (status, payload.to_string(), user.to_string())
}

/// A JSON Web API call made on a client's behalf (the `send_file` an upload turns into): the
/// status and the answer's body as JSON.
pub(crate) async fn call_json(
    shared: &Shared,
    api: Api,
    action: &str,
    headers: &HeaderMap,
    body: &[u8],
    ticket: Option<&Ticket>,
) -> (StatusCode, Value) {
    let (status, body, _) = call(shared, api, VERSION, action, headers, body, ticket).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// The HTTP status of an error type. Types are matched by name, not by the engine's error
/// variants, so a variant the engine adds maps by its kind; a type not listed here is a
/// refusal of the request (400), and only `internal` is the server's fault (500).
pub(crate) fn status_for(error_type: &str) -> StatusCode {
    match error_type {
        "not_found" => StatusCode::NOT_FOUND,
        crate::hub::MISDIRECTED_REQUEST => StatusCode::MISDIRECTED_REQUEST,
        "authentication" => StatusCode::UNAUTHORIZED,
        "authorization" | "customer_banned" => StatusCode::FORBIDDEN,
        "license_expired" => StatusCode::PAYMENT_REQUIRED,
        "request_timeout" => StatusCode::GATEWAY_TIMEOUT,
        "entity_too_large" => StatusCode::PAYLOAD_TOO_LARGE,
        "too_many_requests" | "limit_reached" => StatusCode::TOO_MANY_REQUESTS,
        "service_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        "internal" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// `{"error": {"type", "message"}}`.
fn error_body(kind: &str, message: &str) -> String {
    json!({ "error": { "type": kind, "message": message } }).to_string()
}

/// Reads a Web API body within the body timeout and `limit` bytes, after taking a token from
/// the connection's request bucket.
pub(crate) async fn read_body(
    shared: &Shared,
    ticket: Option<&Ticket>,
    body: Body,
    limit: usize,
) -> Result<Bytes, (StatusCode, &'static str, String)> {
    if let Some(ticket) = ticket
        && let Err(wait) = ticket.take_request()
    {
        shared
            .metrics
            .limited
            .with_label_values(&["requests"])
            .inc();
        return Err((
            StatusCode::TOO_MANY_REQUESTS,
            TOO_MANY_REQUESTS,
            format!(
                "too many requests on this connection (at most {} per second); retry in {} ms",
                shared.limits.request_rate,
                wait.as_millis().max(1)
            ),
        ));
    }
    match tokio::time::timeout(
        shared.limits.body_timeout,
        axum::body::to_bytes(body, limit),
    )
    .await
    {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            "entity_too_large",
            format!("bodies are limited to {limit} bytes"),
        )),
        Err(_) => Err((
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the body did not arrive within {} s",
                shared.limits.body_timeout.as_secs()
            ),
        )),
    }
}

pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub(crate) fn parse_api(api: &str) -> Option<Api> {
    match api {
        "agent" => Some(Api::Agent),
        "customer" => Some(Api::Customer),
        _ => None,
    }
}

pub(crate) fn api_name(api: Api) -> &'static str {
    match api {
        Api::Agent => "agent",
        Api::Customer => "customer",
    }
}

pub(crate) fn unsupported_version(version: &str) -> String {
    format!("unsupported version {version:?}: this server speaks {VERSION}")
}
