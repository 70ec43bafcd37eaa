//! The Web API (one HTTP POST per action) and `GET /metrics`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chatio::ErrorKind;
use chatio::wire::{self, Api, Offered};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::commit::{Release, render};
use crate::{Shared, VERSION, now};

pub(crate) async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        shared.metrics.render(),
    )
        .into_response()
}

pub(crate) async fn action(
    State(shared): State<Arc<Shared>>,
    Path((api, version, action)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(api) = parse_api(&api) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (status, body, who) = call(&shared, api, &version, &action, &headers, &body).await;
    tracing::debug!(
        api = api_name(api),
        action,
        user = who,
        status = status.as_u16(),
        "web request"
    );
    json_response(status, body)
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
) -> (StatusCode, String, String) {
    let fail = |kind: ErrorKind, message: &str| {
        let body = json!({ "error": { "type": kind.as_str(), "message": message } });
        (status_for(kind.as_str()), body.to_string(), "-".to_string())
    };
    if version != VERSION {
        return fail(ErrorKind::UnsupportedVersion, &unsupported_version(version));
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let user = match shared.resolve(api, token) {
        Ok(user) => user,
        Err(why) => return fail(ErrorKind::Authentication, why),
    };
    if wire::offered(api, action) == Some(Offered::RtmOnly) {
        let message = format!(
            "invalid action: {action:?} is offered over RTM only in {VERSION}, not over the \
             Web API; send it on a /{}/{VERSION}/rtm/ws connection",
            api_name(api)
        );
        let (status, body, _) = fail(ErrorKind::Validation, &message);
        return (status, body, user.to_string());
    }
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(request @ Value::Object(_)) => request,
            Ok(_) => return fail(ErrorKind::Validation, "the body must be a JSON object"),
            Err(e) => return fail(ErrorKind::Validation, &format!("the body: {e}")),
        }
    };
    let mut envelope = json!({ "action": action, "payload": request.get("payload") });
    if let Some(author_id) = request.get("author_id") {
        envelope["author_id"] = author_id.clone();
    }
    let envelope = envelope.to_string();
    let (released, safe) = oneshot::channel();
    let reply = shared.call(|core, items| {
        core.ensure_customer(api, &user)?;
        let mut reply = wire::handle(&mut core.engine, api, &user, now(), &envelope);
        shared.metrics.request(api, &reply.action, reply.success);
        let pushes = std::mem::take(&mut reply.pushes);
        if !pushes.is_empty() {
            items.push(Release::Pushes(render(pushes)));
        }
        items.push(Release::Web(released));
        Ok(reply)
    });
    let reply = match reply {
        Ok(reply) => reply,
        Err(why) => return fail(ErrorKind::Authentication, why),
    };
    // With `--data`: once the records are committed. The sender goes away unanswered only if
    // the server stops first, and then nothing may be answered.
    if safe.await.is_err() {
        return fail(ErrorKind::Internal, "the server is stopping");
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

fn status_for(error_type: &str) -> StatusCode {
    match error_type {
        "authentication" => StatusCode::UNAUTHORIZED,
        "authorization" | "customer_banned" => StatusCode::FORBIDDEN,
        "validation" | "unsupported_version" => StatusCode::BAD_REQUEST,
        "license_expired" => StatusCode::PAYMENT_REQUIRED,
        "request_timeout" => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
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
