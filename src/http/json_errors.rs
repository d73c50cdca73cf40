//! Every error answered with a JSON body `{"error": ..., "code": ...}`, including those
//! that actix-web's extractors and routing produce as plain text or with no body.
//! Errors raised while parsing the raw request (a malformed request line: 400, headers too
//! large: 431, a request head that never completes: 408) are answered by the HTTP/1 parser
//! before any application code runs, and keep actix's empty bodies.

use actix_web::body::{to_bytes, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderValue, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use serde_json::json;

/// The largest error body that is kept as the message.
const MAX_MESSAGE_BYTES: usize = 4096;

/// Middleware: rewrites a 4xx/5xx answer that is not JSON into our JSON error body.
pub async fn json_error_bodies(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?.map_into_boxed_body();
    let status = res.status();
    let is_json = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return Ok(res);
    }
    let (req, res) = res.into_parts();
    let (res, body) = res.into_parts();
    let text = match to_bytes(body).await {
        Ok(bytes) if !bytes.is_empty() && bytes.len() <= MAX_MESSAGE_BYTES => {
            String::from_utf8_lossy(&bytes).trim().to_string()
        }
        _ => String::new(),
    };
    let message = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_lowercase() } else { text };
    let body = json!({ "error": message, "code": code_of(status) }).to_string();
    let mut res = res.set_body(BoxBody::new(body));
    res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(ServiceResponse::new(req, res))
}

/// The `code` word of a status, as [`super::ApiError`] uses them.
fn code_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "timeout",
        409 => "conflict",
        413 => "too_large",
        415 => "unsupported_media_type",
        431 => "headers_too_large",
        500..=599 => "internal",
        _ => "error",
    }
}
