//! `GET /metrics`: Prometheus text format (0.0.4). Every sample's family has `# HELP` and
//! `# TYPE`. Figures come from one status snapshot of the actors: adapters by state and
//! type, cases by state, and histograms built from the cases' state histories and action
//! logs (time waited for adapters, provisioning time, action round-trip time).

use super::view::{self, AdapterQuery, ADAPTER_STATES};
use crate::http::{ApiError, AppState};
use actix_web::{web, HttpResponse};
use std::fmt::Write;
use trafficlight_actors::allocator::{Status, StatusSnapshot};
use trafficlight_actors::snapshot::{CaseSnapshot, CaseState};

/// Upper bounds of the histograms' buckets, in seconds.
const ACTION_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];
const WAIT_BUCKETS: &[f64] = &[0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0];

/// Registers the metrics route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics));
}

async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let snapshot = state.allocator.send(Status).await?;
    let body = render(&snapshot, state.events.listeners());
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(body))
}

/// A label value with `\`, `"` and newlines escaped as the text format requires.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn histogram(out: &mut String, name: &str, help: &str, buckets: &[f64], values: &[f64]) {
    family(out, name, "histogram", help);
    for bound in buckets {
        let n = values.iter().filter(|v| **v <= *bound).count();
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {n}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", values.len());
    let _ = writeln!(out, "{name}_sum {}", values.iter().sum::<f64>());
    let _ = writeln!(out, "{name}_count {}", values.len());
}

/// Seconds from entering `from` to entering the next state, for cases that moved on.
fn time_in(case: &CaseSnapshot, from: CaseState) -> Option<f64> {
    let at = case.history.iter().position(|c| c.state == from)?;
    let next = case.history.get(at + 1)?;
    Some(next.at.saturating_sub(case.history[at].at) as f64 / 1000.0)
}

/// The metrics text of `status`.
pub fn render(status: &StatusSnapshot, listeners: usize) -> String {
    let view = view::status(status, 0, &AdapterQuery::default());
    let mut out = String::new();
    family(&mut out, "trafficlight_adapters", "gauge", "Adapters by state and client type.");
    for (client_type, counts) in &view.adapter_types {
        for count in counts.iter().filter(|c| c.state != "dropped") {
            let _ = writeln!(
                out,
                "trafficlight_adapters{{state=\"{}\",type=\"{}\"}} {}",
                count.state,
                label(client_type),
                count.count
            );
        }
    }
    family(&mut out, "trafficlight_adapters_total", "gauge", "Adapters known, by state.");
    for count in view.adapter_counts.iter().filter(|c| ADAPTER_STATES.contains(&c.state.as_str())) {
        let _ = writeln!(out, "trafficlight_adapters_total{{state=\"{}\"}} {}", count.state, count.count);
    }
    family(&mut out, "trafficlight_cases", "gauge", "Test cases by state.");
    for count in &view.case_counts {
        let _ = writeln!(out, "trafficlight_cases{{state=\"{}\"}} {}", count.state, count.count);
    }
    family(&mut out, "trafficlight_queue_length", "gauge", "Test cases waiting for adapters.");
    let _ = writeln!(out, "trafficlight_queue_length {}", status.queue.len());
    family(
        &mut out,
        "trafficlight_adapters_dropped_total",
        "counter",
        "Adapters dropped for not polling before they were given a case.",
    );
    let _ = writeln!(out, "trafficlight_adapters_dropped_total {}", status.dropped);
    let timed_out = status
        .adapters
        .iter()
        .filter(|a| a.finish_reason.as_deref().is_some_and(|r| r.contains(" timed out: ")))
        .count();
    family(&mut out, "trafficlight_adapters_timed_out_total", "counter", "Adapters that timed out during a case.");
    let _ = writeln!(out, "trafficlight_adapters_timed_out_total {timed_out}");
    let waits: Vec<f64> = status.cases.iter().filter_map(|c| time_in(c, CaseState::Waiting)).collect();
    histogram(&mut out, "trafficlight_case_wait_seconds", "Time test cases waited for adapters.", WAIT_BUCKETS, &waits);
    let provisioning: Vec<f64> = status.cases.iter().filter_map(|c| time_in(c, CaseState::Preparing)).collect();
    histogram(
        &mut out,
        "trafficlight_provisioning_seconds",
        "Time test cases took to provision their homeservers.",
        WAIT_BUCKETS,
        &provisioning,
    );
    let actions: Vec<f64> =
        status.cases.iter().flat_map(|c| c.actions.iter()).map(|a| a.duration_ms as f64 / 1000.0).collect();
    histogram(
        &mut out,
        "trafficlight_action_duration_seconds",
        "Round-trip time of actions: given to the adapter until answered or failed.",
        ACTION_BUCKETS,
        &actions,
    );
    let failed = status.cases.iter().flat_map(|c| c.actions.iter()).filter(|a| a.error.is_some()).count();
    family(
        &mut out,
        "trafficlight_actions_failed_total",
        "counter",
        "Actions that failed, timed out or were cancelled.",
    );
    let _ = writeln!(out, "trafficlight_actions_failed_total {failed}");
    family(&mut out, "trafficlight_dashboard_listeners", "gauge", "Open live event streams (pages being viewed).");
    let _ = writeln!(out, "trafficlight_dashboard_listeners {listeners}");
    out
}
