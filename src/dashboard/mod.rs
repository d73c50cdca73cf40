//! The dashboard: HTML pages at the original trafficlight's URLs, a Server-Sent Events
//! stream that updates them in place, the JSON API, Prometheus metrics and downloads of
//! uploaded files. Everything shown comes from the actors' snapshots and events.

mod api;
mod files;
mod live;
mod metrics;
mod pages;
mod view;

use crate::scenario::Scenario;
use actix_web::web;
use std::collections::HashMap;
use std::sync::Arc;
use tera::Tera;

/// The templates, compiled into the binary so it runs from any directory.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("status.html", include_str!("../../templates/status.html")),
    ("test.html", include_str!("../../templates/test.html")),
    ("case.html", include_str!("../../templates/case.html")),
];
/// The small script that keeps open pages up to date.
const LIVE_JS: &str = include_str!("../../templates/live.js");
/// The pages' style sheet.
const STYLE_CSS: &str = include_str!("../../templates/style.css");

/// A test's script, shown on its cases' pages.
#[derive(Clone, Debug)]
pub struct Script {
    /// The file as loaded (error positions name it so).
    pub path: String,
    pub source: Arc<str>,
}

/// What the pages need beside the actors: the templates and the scripts' text.
pub struct Dashboard {
    tera: Tera,
    scripts: HashMap<String, Script>,
}

impl Dashboard {
    /// Compiles the templates; a broken one fails the start, not a page view.
    pub fn new(scripts: HashMap<String, Script>) -> Result<Self, tera::Error> {
        let mut tera = Tera::default();
        tera.add_raw_templates(TEMPLATES.iter().copied())?;
        tera.register_filter("secs_since", secs_since);
        tera.register_filter("secs_after", secs_after);
        tera.register_filter("time", time);
        Ok(Dashboard { tera, scripts })
    }

    /// The scripts of `scenarios`, by test name.
    pub fn scripts_of(scenarios: &[Scenario]) -> HashMap<String, Script> {
        scenarios
            .iter()
            .map(|s| (s.name.clone(), Script { path: s.path.display().to_string(), source: s.source.clone() }))
            .collect()
    }

    fn script(&self, test: &str) -> Option<&Script> {
        self.scripts.get(test)
    }
}

fn millis(value: &tera::Value, what: &str) -> tera::Result<i64> {
    value.as_i64().ok_or_else(|| tera::Error::msg(format!("{what} expects Unix milliseconds, got {value}")))
}

/// `{{ ts | secs_since(now=now) }}`: whole seconds from `ts` to `now`.
fn secs_since(value: &tera::Value, args: &HashMap<String, tera::Value>) -> tera::Result<tera::Value> {
    let now = millis(args.get("now").unwrap_or(&tera::Value::Null), "secs_since(now)")?;
    Ok(((now - millis(value, "secs_since")?).max(0) as f64 / 1000.0).round().into())
}

/// `{{ ts | secs_after(start=t0) }}`: seconds from `t0` to `ts`, to the millisecond.
fn secs_after(value: &tera::Value, args: &HashMap<String, tera::Value>) -> tera::Result<tera::Value> {
    let start = millis(args.get("start").unwrap_or(&tera::Value::Null), "secs_after(start)")?;
    Ok(format!("{:.3}", (millis(value, "secs_after")? - start) as f64 / 1000.0).into())
}

/// `{{ ts | time }}`: `2026-12-03 14:55:04.123 UTC`.
fn time(value: &tera::Value, _args: &HashMap<String, tera::Value>) -> tera::Result<tera::Value> {
    Ok(format_time(millis(value, "time")?).into())
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS.mmm UTC` (civil-from-days, no time crate needed).
pub fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// Registers the dashboard's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    pages::configure(cfg);
    live::configure(cfg);
    api::configure(cfg);
    metrics::configure(cfg);
    files::configure(cfg);
}
