//! `GET /metrics`: Prometheus text format (0.0.4). Every sample's family has `# HELP` and
//! `# TYPE`. Adapters by state and type come from the states their actors publish (the
//! allocator's counts: no adapter is asked); the histograms (action round trip, time cases
//! waited for adapters, provisioning time) and the failed-action and timed-out-adapter
//! counters from the run's atomics (`trafficlight_actors::metrics::RunMetrics`), recorded
//! where things happen; the live actors from the core's gauges. Only cases by state and
//! the queue's length come from a status of the allocator (counts only).

use super::view::{self, AdapterQuery, ADAPTER_STATES};
use crate::http::{ApiError, AppState};
use actix_web::{web, HttpResponse};
use std::fmt::Write;
use std::sync::atomic::Ordering;
use trafficlight_actors::allocator::{Status, StatusSnapshot};
use trafficlight_actors::metrics::{Histogram, RunMetrics, LIVE_ADAPTER_ACTORS, LIVE_CASE_ACTORS, LIVE_SCRIPT_THREADS};

/// Registers the metrics route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics));
}

async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let snapshot = state.allocator.send(Status::counts_only()).await?;
    let body = render(&snapshot, &state.metrics, state.events.listeners());
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(body))
}

/// A label value with `\`, `"` and newlines escaped as the text format requires.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A histogram of the run's atomics, its bounds turned into seconds, buckets cumulative.
fn histogram(out: &mut String, name: &str, help: &str, h: &Histogram) {
    family(out, name, "histogram", help);
    let snapshot = h.snapshot();
    let mut seen = 0;
    for bucket in &snapshot.buckets {
        seen += bucket.count;
        match bucket.le_us {
            Some(le) => {
                let _ = writeln!(out, "{name}_bucket{{le=\"{}\"}} {seen}", le as f64 / 1e6);
            }
            None => {
                let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {seen}");
            }
        }
    }
    let _ = writeln!(out, "{name}_sum {}", snapshot.sum_us as f64 / 1e6);
    let _ = writeln!(out, "{name}_count {}", snapshot.count);
}

/// The metrics text of `status` (counts only) and the run's `metrics`.
pub fn render(status: &StatusSnapshot, metrics: &RunMetrics, listeners: usize) -> String {
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
    family(
        &mut out,
        "trafficlight_adapters_timed_out_total",
        "counter",
        "Adapters that timed out during a case (silent past the active timeout, or an action past the action timeout).",
    );
    let _ =
        writeln!(out, "trafficlight_adapters_timed_out_total {}", metrics.adapters_timed_out.load(Ordering::Relaxed));
    histogram(&mut out, "trafficlight_case_wait_seconds", "Time test cases waited for adapters.", &metrics.case_wait);
    histogram(
        &mut out,
        "trafficlight_provisioning_seconds",
        "Time test cases took to provision their homeservers.",
        &metrics.provisioning,
    );
    histogram(
        &mut out,
        "trafficlight_action_duration_seconds",
        "Round-trip time of actions: given to the adapter until answered or failed.",
        &metrics.action_round_trip,
    );
    family(
        &mut out,
        "trafficlight_actions_failed_total",
        "counter",
        "Actions that failed, timed out or were cancelled.",
    );
    let _ = writeln!(out, "trafficlight_actions_failed_total {}", metrics.actions_failed.load(Ordering::Relaxed));
    family(
        &mut out,
        "trafficlight_live_actors",
        "gauge",
        "Actors and script threads running in this process (ended cases and finished adapters are retired).",
    );
    for (kind, gauge) in
        [("adapter", &LIVE_ADAPTER_ACTORS), ("case", &LIVE_CASE_ACTORS), ("script_thread", &LIVE_SCRIPT_THREADS)]
    {
        let _ = writeln!(out, "trafficlight_live_actors{{kind=\"{kind}\"}} {}", gauge.get());
    }
    family(&mut out, "trafficlight_dashboard_listeners", "gauge", "Open live event streams (pages being viewed).");
    let _ = writeln!(out, "trafficlight_dashboard_listeners {listeners}");
    out
}
