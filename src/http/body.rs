//! Reading request bodies and query strings the way adapters send them.

use super::ApiError;
use actix_web::{web, HttpRequest};
use bytes::BytesMut;
use futures::StreamExt;
use serde_json::{Map, Value};
use std::time::Duration;

/// The longest a poll or respond may be held (`?wait=S`), in seconds.
pub const MAX_WAIT_SECS: f64 = 60.0;

/// Checks an adapter id: 1–128 characters of `[A-Za-z0-9._-]`.
pub fn check_uuid(uuid: &str) -> Result<(), ApiError> {
    let ok = (1..=128).contains(&uuid.len())
        && uuid.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "invalid adapter id {uuid:?}: use 1-128 characters of A-Z, a-z, 0-9, '.', '_', '-'"
        )))
    }
}

/// `?wait=S&id=X` of polls and responds. Other parameters (a cache buster, a tracing
/// tag) are ignored: a poll must answer 200 to every existing adapter.
#[derive(Debug, Default, serde::Deserialize)]
pub struct PollQuery {
    pub wait: Option<String>,
    pub id: Option<String>,
}

impl PollQuery {
    /// Parses the query string.
    pub fn parse(req: &HttpRequest) -> Result<Self, ApiError> {
        serde_urlencoded::from_str(req.query_string())
            .map_err(|e| ApiError::BadRequest(format!("bad query string {:?}: {e}", req.query_string())))
    }

    /// The hold time: 0 < S ≤ 60 seconds.
    pub fn wait(&self) -> Result<Option<Duration>, ApiError> {
        let Some(text) = &self.wait else { return Ok(None) };
        match text.parse::<f64>() {
            Ok(s) if s > 0.0 && s <= MAX_WAIT_SECS => Ok(Some(Duration::from_secs_f64(s))),
            _ => Err(ApiError::BadRequest(format!("wait must be a number of seconds, 0 < wait <= 60, not {text:?}"))),
        }
    }
}

/// Reads the whole body, refusing one over `limit` bytes with 413, and with 408 one that
/// sends nothing for `stall` (a silent client must not hold a handler, nor the shutdown).
pub async fn read_body(mut payload: web::Payload, limit: usize, stall: Duration) -> Result<web::Bytes, ApiError> {
    let mut body = BytesMut::new();
    loop {
        let next = tokio::time::timeout(stall, payload.next()).await.map_err(|_| {
            ApiError::Timeout(format!("the request body stalled: no data for {:.1} s", stall.as_secs_f64()))
        })?;
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("could not read the request body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::TooLarge(format!("the request body is over the limit of {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn media_type(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(actix_web::http::header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

fn is_json(media: &str) -> bool {
    media == "application/json" || media.ends_with("+json")
}

fn json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(ApiError::BadRequest(format!("the body must be a JSON object, not {}", kind_of(&other)))),
        Err(e) => Err(ApiError::BadRequest(format!("the body is not valid JSON: {e}"))),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A body that must be a JSON object (register, error). A missing content type is read as
/// JSON, and so is a JSON object under another label: the Element Web adapter reports
/// uncaught exceptions with `fetch` and no content type, which labels the JSON `text/plain`.
pub fn require_json_object(req: &HttpRequest, body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest("the body is empty; a JSON object is required".into()));
    }
    match media_type(req) {
        Some(m) if !is_json(&m) => json_object(body)
            .map_err(|_| ApiError::UnsupportedMediaType(format!("send the body as application/json, not {m}"))),
        _ => json_object(body),
    }
}

/// A respond's body: a JSON object, a form (flattened to a JSON object of strings), or
/// nothing (`{}`).
pub fn respond_object(req: &HttpRequest, body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match media_type(req).as_deref() {
        Some("application/x-www-form-urlencoded") => form_object(body),
        Some(m) if is_json(m) => json_object(body),
        // The form fallback is for real form bodies: one that starts like JSON is JSON.
        None if looks_like_json(body) => json_object(body),
        None => json_object(body).or_else(|_| form_object(body)),
        Some(m) => json_object(body)
            .map_err(|_| ApiError::UnsupportedMediaType(format!("send the response as JSON or form data, not {m}"))),
    }
}

fn looks_like_json(body: &[u8]) -> bool {
    matches!(body.iter().find(|b| !b.is_ascii_whitespace()), Some(b'{' | b'[' | b'"'))
}

fn form_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not valid form data: {e}")))?;
    Ok(pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
}
