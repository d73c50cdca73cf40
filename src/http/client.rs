//! `/client/{uuid}/register|poll|respond|error`: the adapter protocol (PROTOCOL.md).

use super::body::{check_uuid, read_body, require_json_object, respond_object, PollQuery};
use super::{resource, unknown_adapter, ApiError, AppState};
use crate::config::JSON_BODY_LIMIT;
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};
use trafficlight_actors::adapter::{self, PollAnswer};
use trafficlight_actors::allocator::{Forward, Register, RegisterError, ReportError, UnknownAdapter};

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
    let reply = state.allocator.send(Register { uuid: uuid.into_inner(), registration }).await?;
    match reply {
        Ok(()) => Ok(HttpResponse::Ok().json(json!({}))),
        Err(RegisterError::MissingType) => Err(ApiError::BadRequest(RegisterError::MissingType.to_string())),
        Err(e) => Err(ApiError::Conflict(e.to_string())),
    }
}

async fn poll(state: web::Data<AppState>, uuid: web::Path<String>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    check_uuid(&uuid)?;
    let wait = PollQuery::parse(&req)?.wait()?;
    let answer = match state.allocator.send(Forward(uuid.into_inner(), adapter::Poll { wait })).await? {
        Ok(reply) => reply.answer().await,
        Err(UnknownAdapter) => PollAnswer::exit(&UnknownAdapter.to_string()),
    };
    Ok(HttpResponse::Ok().json(answer))
}

async fn respond(
    state: web::Data<AppState>,
    uuid: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    check_uuid(&uuid)?;
    let query = PollQuery::parse(&req)?;
    let wait = query.wait()?;
    let mut body = respond_object(&req, &read_body(payload, JSON_BODY_LIMIT, state.config.body_stall).await?)?;
    let id = take_action_id(query.id, &mut body);
    let uuid = uuid.into_inner();
    let message = adapter::Respond { id, body: Value::Object(body), wait };
    match state.allocator.send(Forward(uuid.clone(), message)).await? {
        Err(UnknownAdapter) => Err(unknown_adapter(&uuid)),
        Ok(Err(refused)) => Err(ApiError::Conflict(refused.to_string())),
        Ok(Ok(None)) => Ok(HttpResponse::Ok().json(json!({}))),
        Ok(Ok(Some(next))) => Ok(HttpResponse::Ok().json(next.answer().await)),
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
    let uuid = uuid.into_inner();
    match state.allocator.send(ReportError { uuid: uuid.clone(), report }).await? {
        Ok(()) => Ok(HttpResponse::Ok().json(json!({}))),
        Err(UnknownAdapter) => Err(unknown_adapter(&uuid)),
    }
}
