//! Machine views of the run: `GET /status/junit.xml`, the JUnit report of the run as it
//! stands (cases still to end are listed as skipped); `GET /status/metrics.json`, the
//! coordinator's latency histograms.

use super::{ApiError, AppState};
use actix_web::{web, HttpResponse};
use trafficlight_actors::allocator::Cases;
use trafficlight_actors::RunReport;

/// Registers the status routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/status/junit.xml", actix_web::http::Method::GET, junit));
    cfg.service(super::resource("/status/metrics.json", actix_web::http::Method::GET, metrics));
}

async fn junit(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (run_id, cases) = state.allocator.send(Cases).await?;
    let report = RunReport { id: run_id.unwrap_or_default(), cases };
    Ok(HttpResponse::Ok().content_type("application/xml; charset=utf-8").body(crate::reports::junit_xml(&report)))
}

/// The coordinator's own latencies (see `trafficlight_actors::metrics`).
async fn metrics() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "histograms": trafficlight_actors::metrics::snapshot() }))
}
