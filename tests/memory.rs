//! A long-lived server's memory stays flat: thousands of short scripted cases, each run by
//! a fresh adapter over real HTTP, through one server. Ended cases and finished adapters
//! are retired into small records; what is left per case must not add up. Prints the
//! figures; asserts only a generous bound (a leak of a few KB per case would pass 3,000
//! cases over it, a leak of a script engine or a thread per case far over it).

mod common;

use common::{script_cases, TestApp};
use serde_json::{json, Value};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use trafficlight_actors::case::CaseSpec;

const CASES: usize = 3000;
const ADAPTERS_AT_ONCE: usize = 16;
/// Allowed growth of the resident set from the first hundred cases to the last.
const GROWTH_LIMIT_KIB: i64 = 8 * 1024;

fn rss_kib() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// One simulated adapter after another on one lane: register a fresh uuid, answer
/// actions until told to exit, count the case it ran.
async fn lane(app: Rc<TestApp>, lane: usize, done: Arc<AtomicUsize>) {
    let mut generation = 0;
    while done.load(Ordering::SeqCst) < CASES {
        let uuid = format!("lane{lane}-{generation}");
        generation += 1;
        let (status, body) = app.register(&uuid, json!({"type": "swarm"})).await;
        assert!(status.is_success(), "register {uuid}: {body}");
        let mut acted = false;
        loop {
            let answer: Value = app.poll_wait(&uuid, 2.0).await;
            match answer["action"].as_str() {
                Some("exit") => break,
                Some("idle") => continue,
                _ => {
                    acted = true;
                    let id = answer["id"].as_str().unwrap_or_default().to_string();
                    let (status, body) =
                        app.post_json(&format!("/client/{uuid}/respond?id={id}"), json!({"ok": true})).await;
                    assert!(status.is_success(), "respond {uuid}: {body}");
                }
            }
        }
        if acted {
            done.fetch_add(1, Ordering::SeqCst);
        } else {
            return; // told to exit without a case: the run is over
        }
    }
}

#[actix_web::test]
async fn memory_stays_flat_over_thousands_of_short_cases() {
    let script = "fn needs() { #{ clients: #{ alice: [\"swarm\"] } } }\nlet r = alice.act(\"ping\", #{ n: 1 });\nassert_eq(r.ok, true);\n";
    let base = script_cases(&[("short.rhai", script)]).remove(0);
    let cases: Vec<CaseSpec> = (0..CASES).map(|i| CaseSpec { id: format!("short-{i}"), ..base.clone() }).collect();
    let app = Rc::new(TestApp::spawn(cases).await);
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let lanes: Vec<_> =
        (0..ADAPTERS_AT_ONCE).map(|i| actix_web::rt::spawn(lane(app.clone(), i, done.clone()))).collect();
    while done.load(Ordering::SeqCst) < 100 {
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
    let after_first = rss_kib();
    let ended = app.allocator.send(trafficlight_actors::allocator::RunEnded);
    let report = tokio::time::timeout(Duration::from_secs(600), ended).await.expect("the run ends").unwrap();
    let after_last = rss_kib();
    for lane in lanes {
        lane.await.unwrap();
    }
    let failed: Vec<_> = report.cases.iter().filter(|c| c.state.as_str() != "success").collect();
    assert!(
        failed.is_empty(),
        "{} cases did not succeed, first: {:?}",
        failed.len(),
        failed.first().map(|c| &c.errors)
    );
    let growth = after_last - after_first;
    println!(
        "{CASES} cases in {:.1} s; RSS after 100: {} KiB, after {CASES}: {} KiB, growth {growth} KiB ({:.2} KiB per case)",
        started.elapsed().as_secs_f64(),
        after_first,
        after_last,
        growth as f64 / (CASES - 100) as f64
    );
    assert!(growth <= GROWTH_LIMIT_KIB, "RSS grew {growth} KiB over {CASES} cases (limit {GROWTH_LIMIT_KIB} KiB)");
}
