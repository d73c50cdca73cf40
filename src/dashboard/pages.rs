//! The HTML pages, at the original trafficlight's URLs: `/` (redirects), `/status`,
//! `/status/{test}/suitestatus` (a test), `/status/{case}/status` (a case). `?refresh=MS`
//! reloads a page every MS milliseconds, as the original did; without it, pages update in
//! place from the event stream.

use super::view::{self, AdapterQuery};
use super::{Dashboard, LIVE_JS, STYLE_CSS};
use crate::http::{ApiError, AppState};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use std::sync::Arc;
use std::time::SystemTime;
use trafficlight_actors::adapter;
use trafficlight_actors::allocator::{self, Status};
use trafficlight_actors::unix_millis;

/// Registers the pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(root))
        .route("/status", web::get().to(status))
        .route("/status/", web::get().to(status))
        .route("/status/live.js", web::get().to(|| async { asset("text/javascript; charset=utf-8", LIVE_JS) }))
        .route("/status/style.css", web::get().to(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }))
        .route("/status/{test}/suitestatus", web::get().to(test))
        .route("/status/{case}/status", web::get().to(case));
}

/// `?refresh=MS`, and the adapters' page and filter of the status page.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    pub refresh: Option<u64>,
    pub state: Option<String>,
    pub page: Option<usize>,
}

fn asset(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok().content_type(content_type).insert_header(("Cache-Control", "no-cache")).body(body)
}

async fn root() -> HttpResponse {
    HttpResponse::Found().insert_header(("Location", "/status")).finish()
}

pub(super) fn now() -> u64 {
    unix_millis(SystemTime::now())
}

/// Renders `template` with `view` and the page's common values, on the blocking pool: a
/// page of 100 adapters takes milliseconds of CPU, and the HTTP workers' threads also run
/// adapters' actors, whose actions must not wait for a page.
async fn render(
    dashboard: &Arc<Dashboard>,
    template: &'static str,
    view: impl serde::Serialize + Send + 'static,
    refresh: Option<u64>,
) -> Result<HttpResponse, ApiError> {
    let dashboard = dashboard.clone();
    let html = web::block(move || -> Result<String, ApiError> {
        let mut context = tera::Context::from_serialize(&view)
            .map_err(|e| ApiError::Internal(format!("cannot build the page's context: {e}")))?;
        // The meta refresh counts seconds; `?refresh` counts milliseconds.
        context.insert("refresh_secs", &refresh.filter(|ms| *ms > 0).map(|ms| ms.div_ceil(1000)));
        dashboard
            .tera
            .render(template, &context)
            .map_err(|e| ApiError::Internal(format!("cannot render {template}: {e:?}")))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("cannot render {template}: {e}")))??;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(html))
}

async fn status(state: web::Data<AppState>, query: web::Query<PageQuery>) -> Result<HttpResponse, ApiError> {
    let adapters = AdapterQuery { state: query.state.clone(), page: query.page };
    let snapshot = state.allocator.send(adapters.status()).await?;
    let view = view::status(&snapshot, now(), &adapters);
    render(&state.dashboard, "status.html", view, query.refresh).await
}

async fn test(
    state: web::Data<AppState>,
    name: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let snapshot = state.allocator.send(Status::counts_only()).await?;
    let view =
        view::test(&snapshot, &name, now()).ok_or_else(|| ApiError::NotFound(format!("no test named {name}")))?;
    render(&state.dashboard, "test.html", view, query.refresh).await
}

/// The case's view, shared with `/api/cases/{id}`.
pub(super) async fn case_view(state: &AppState, id: &str) -> Result<view::CaseView, ApiError> {
    let case = state
        .allocator
        .send(allocator::CaseStatus(id.to_string()))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no test case {id}")))?;
    let queue = state.allocator.send(allocator::Queue).await?;
    let queued = queue.iter().enumerate().find(|(_, q)| q.id == id).map(|(i, q)| (i + 1, q));
    let mut adapters = Vec::new();
    for uuid in case.slots.iter().filter_map(|s| s.uuid.clone()) {
        match state.ask(&uuid, adapter::Snapshot).await {
            Ok(Ok(adapter)) => adapters.push(adapter),
            Ok(Err(retired)) => adapters.push(retired.snapshot.clone()),
            Err(_) => {}
        }
    }
    let script = state.dashboard.script(&case.test);
    Ok(view::case(case, &adapters, queued, script, now()))
}

async fn case(
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let view = case_view(&state, &id).await?;
    render(&state.dashboard, "case.html", view, query.refresh).await
}
