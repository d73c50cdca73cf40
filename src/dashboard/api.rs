//! The JSON API: `GET /api/status` (tests, cases, adapters, counts, queue) and
//! `GET /api/cases/{id}` (everything the case page shows). See docs/api.md.

use super::pages::{case_view, now};
use super::view::{self, AdapterQuery};
use crate::http::{ApiError, AppState};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

/// Registers the API's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/status", web::get().to(status)).route("/api/cases/{id}", web::get().to(case));
}

#[derive(Debug, Default, Deserialize)]
struct StatusQuery {
    /// `0` leaves the adapters' list out (the counts stay).
    adapters: Option<u8>,
    /// The page of the adapters' list, as on the status page (100 per page).
    page: Option<usize>,
    /// Only adapters in this state.
    state: Option<String>,
}

async fn status(state: web::Data<AppState>, query: web::Query<StatusQuery>) -> Result<HttpResponse, ApiError> {
    let listing = AdapterQuery { state: query.state.clone(), page: query.page };
    let mut ask = listing.status();
    if query.adapters == Some(0) {
        ask.per_page = 0;
    }
    let snapshot = state.allocator.send(ask).await?;
    let counts = view::status(&snapshot, now(), &listing);
    let adapters = if query.adapters == Some(0) { json!(null) } else { json!(snapshot.adapters) };
    Ok(HttpResponse::Ok().json(json!({
        "run_id": snapshot.run_id,
        "finished": snapshot.finished,
        "counts": {
            "cases": counts.case_counts.iter().map(|c| (c.state.clone(), json!(c.count))).collect::<serde_json::Map<_, _>>(),
            "adapters": counts.adapter_counts.iter().map(|c| (c.state.clone(), json!(c.count))).collect::<serde_json::Map<_, _>>(),
        },
        "tests": counts.tests,
        "queue": counts.queue,
        "cases": snapshot.cases,
        "adapters": adapters,
        "adapters_page": {
            "page": snapshot.page,
            "pages": snapshot.pages,
            "per_page": snapshot.per_page,
            "listed": snapshot.adapters_listed,
            "total": snapshot.adapters_total,
            "state": query.state,
        },
        "listeners": state.events.listeners(),
    })))
}

async fn case(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(case_view(&state, &id).await?))
}
