//! `/client/{uuid}/register|poll|respond|error`: the adapter protocol (PROTOCOL.md).

use super::body::{check_uuid, read_body, require_json_object, respond_object, PollQuery};
use super::{resource, ApiError, AppState};
use crate::config::JSON_BODY_LIMIT;
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};
use std::time::Instant;
use trafficlight_actors::adapter::{self, PollAnswer, PollReply};
use trafficlight_actors::allocator::{Register, RegisterError, UnknownAdapter};
use trafficlight_actors::metrics;

/// Registers the adapter routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Plain routes, not a `/client/{uuid}` scope: a scope would claim every path under
    // it, hiding the upload route that `upload::configure` adds beside these.
    cfg.service(resource("/client/{uuid}/register", Method::POST, register))
        .service(resource("/client/{uuid}/poll", Method::GET, poll))
        .service(resource("/client/{uuid}/respond", Method::POST, respond))
        .service(resource("/client/{uuid}/error", Method::POST, report_error));
}

async fn register(
    state: web::Data<AppState>,
    uuid: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    check_uuid(&uuid)?;
    let registration = require_json_object(&req, &read_body(payload, JSON_BODY_LIMIT, state.config.body_stall).await?)?;
    // The adapter's actor runs on this worker's thread, where its requests will mostly land.
    let arbiter = Some(actix::Arbiter::current());
    let reply = state.allocator.send(Register { uuid: uuid.into_inner(), registration, arbiter }).await?;
    match reply {
        Ok(()) => Ok(HttpResponse::Ok().json(json!({}))),
        Err(RegisterError::MissingType) => Err(ApiError::BadRequest(RegisterError::MissingType.to_string())),
        Err(e) => Err(ApiError::Conflict(e.to_string())),
    }
}

async fn poll(state: web::Data<AppState>, uuid: web::Path<String>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let received_at = Instant::now();
    check_uuid(&uuid)?;
    let wait = PollQuery::parse(&req)?.wait()?;
    let answer = match state.ask(&uuid, adapter::Poll { wait }).await {
        Ok(Ok(reply)) => {
            metrics::POLL_HANDLING.record(received_at.elapsed());
            reply.answer().await
        }
        Ok(Err(retired)) => PollAnswer::exit(&retired.reason),
        Err(_) => PollAnswer::exit(&UnknownAdapter.to_string()),
    };
    Ok(HttpResponse::Ok().json(answer))
}

async fn respond(
    state: web::Data<AppState>,
    uuid: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let received_at = Instant::now();
    check_uuid(&uuid)?;
    let query = PollQuery::parse(&req)?;
    let wait = query.wait()?;
    let mut body = respond_object(&req, &read_body(payload, JSON_BODY_LIMIT, state.config.body_stall).await?)?;
    let id = take_action_id(query.id, &mut body);
    let uuid = uuid.into_inner();
    let message = adapter::Respond { id, body: Value::Object(body), wait, received_at };
    let reply = match state.ask(&uuid, message).await? {
        Ok(reply) => reply,
        // A late answer from a finished adapter changes nothing (see `adapter::Respond`).
        Err(retired) => Ok(wait.map(|_| PollReply::Now(PollAnswer::exit(&retired.reason)))),
    };
    metrics::RESPOND_HANDLING.record(received_at.elapsed());
    match reply {
        Err(refused) => Err(ApiError::Conflict(refused.to_string())),
        Ok(None) => Ok(HttpResponse::Ok().json(json!({}))),
        Ok(Some(next)) => Ok(HttpResponse::Ok().json(next.answer().await)),
    }
}

/// The action id a respond names: `?id=`, or a field `id` of the body that has the form
/// of our action ids (`act-N`; any other `id` is the adapter's own data and stays). The
/// body's is removed, so the test sees only what the adapter answered.
fn take_action_id(from_query: Option<String>, body: &mut Map<String, Value>) -> Option<String> {
    if from_query.is_some() {
        return from_query;
    }
    match body.get("id").and_then(Value::as_str) {
        Some(id) if adapter::is_action_id(id) => body.remove("id").and_then(|v| v.as_str().map(str::to_owned)),
        _ => None,
    }
}

async fn report_error(
    state: web::Data<AppState>,
    uuid: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    check_uuid(&uuid)?;
    let body = require_json_object(&req, &read_body(payload, JSON_BODY_LIMIT, state.config.body_stall).await?)?;
    let Some(Value::Object(error)) = body.get("error") else {
        return Err(ApiError::BadRequest(
            "the body needs an object field 'error' with 'type', 'details' and 'path'".into(),
        ));
    };
    let text = |key: &str| match error.get(key) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let kind = Some(text("type")).filter(|t| !t.is_empty()).unwrap_or_else(|| "unknown".into());
    let report = adapter::ReportError { kind, details: text("details"), path: text("path") };
    let details = report.details.clone();
    if state.ask(&uuid, report).await?.is_err() {
        log::info!("adapter {uuid} reported an error after it finished: {details}");
    }
    Ok(HttpResponse::Ok().json(json!({})))
}
