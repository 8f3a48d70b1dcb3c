//! HTTP responses, and the one mapping from a refusal to an HTTP status.
//!
//! Refusals before MCP processing carry a JSON-RPC error body with an application code outside
//! the reserved range (MCP 2026-07-28 "Error codes"): `-31401` unauthenticated, `-31403`
//! forbidden, `-31408` body not received in time, `-31413` body too large, `-31429` rate
//! limited.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use waymark_core::{AuthError, ErrorCode, RateLimitStatus, ServiceError};
use waymark_mcp::Fault;

/// The response body type shared with the MCP adapter.
pub(crate) type Body = BoxBody<Bytes, Infallible>;

pub(crate) fn json(status: StatusCode, value: &Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn rpc_error(status: StatusCode, id: Value, code: i64, message: &str) -> Response<Body> {
    json(status, &json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } }))
}

pub(crate) fn method_not_allowed() -> Response<Body> {
    let mut r = json(StatusCode::METHOD_NOT_ALLOWED, &json!({ "error": "method_not_allowed", "allow": "POST" }));
    r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
    r
}

pub(crate) fn forbidden_origin(reason: &str) -> Response<Body> {
    rpc_error(StatusCode::FORBIDDEN, Value::Null, -31403, reason)
}

pub(crate) fn unauthorized(err: AuthError) -> Response<Body> {
    let status = match err {
        AuthError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        AuthError::Missing | AuthError::Invalid | AuthError::Revoked | AuthError::Expired => StatusCode::UNAUTHORIZED,
    };
    let mut r = rpc_error(status, Value::Null, -31401, &err.to_string());
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Bearer realm="mcp", error="invalid_token""#));
    }
    r
}

/// A call the core refused before running: 429 with `Retry-After` for a rate limit, 403 for a
/// permission, with the `insufficient_scope` challenge naming `missing_scope` when the key
/// lacks the tool's scope.
pub(crate) fn refused(id: Value, err: &ServiceError, missing_scope: Option<&str>) -> Response<Body> {
    if err.code == ErrorCode::RateLimited {
        let retry =
            err.details.as_ref().and_then(|d| d.get("retry_after_seconds")).and_then(Value::as_u64).unwrap_or(1);
        let mut r = json(
            StatusCode::TOO_MANY_REQUESTS,
            &json!({ "jsonrpc": "2.0", "id": id, "error": { "code": -31429, "message": err.message, "data": err.details } }),
        );
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry));
        return r;
    }
    let mut r = rpc_error(StatusCode::FORBIDDEN, id, -31403, &err.message);
    if let Some(scope) = missing_scope
        && let Ok(value) =
            HeaderValue::from_str(&format!(r#"Bearer realm="mcp", error="insufficient_scope", scope="{}""#, scope))
    {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    r
}

/// A body that is not a JSON-RPC message: 400 with the JSON-RPC error (`-32700` or `-32600`,
/// `"id": null`), as MCP's HTTP transport allows for input the server cannot accept. A
/// request whose `params` cannot be read (`-32602`, with its id) is answered like any other
/// JSON-RPC error to a request: 200.
pub(crate) fn malformed(fault: &Fault) -> Response<Body> {
    let status = if fault.code == waymark_mcp::INVALID_PARAMS { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    json(status, &fault.to_response())
}

/// The key's bucket, after the IETF httpapi draft "RateLimit header fields" in meaning (delta
/// seconds, never a timestamp, so no clock needs to agree) under the `X-RateLimit-*` names
/// clients already read: `Limit` is the per-minute budget (also the burst), `Remaining` the
/// whole calls left now, `Reset` the seconds until the bucket is full again.
pub(crate) fn rate_limit_headers(response: &mut Response<Body>, status: RateLimitStatus) {
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", HeaderValue::from(status.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(status.remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(status.reset_seconds));
}

pub(crate) fn method_not_allowed_get() -> Response<Body> {
    let mut r = json(StatusCode::METHOD_NOT_ALLOWED, &json!({ "error": "method_not_allowed", "allow": "GET" }));
    r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET"));
    r
}

pub(crate) fn openmetrics(text: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(text)).boxed());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

/// The body did not arrive in time: 408, and the connection is closed (what is left of the
/// body cannot be told from the next request).
pub(crate) fn body_timeout(limit: std::time::Duration) -> Response<Body> {
    let message = format!("Request body not received within {} ms", limit.as_millis());
    let mut r = rpc_error(StatusCode::REQUEST_TIMEOUT, Value::Null, -31408, &message);
    r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

pub(crate) fn too_large(limit: usize) -> Response<Body> {
    rpc_error(StatusCode::PAYLOAD_TOO_LARGE, Value::Null, -31413, &format!("Request body exceeds {limit} bytes"))
}
