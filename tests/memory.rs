//! A long-lived server's memory stays flat: thousands of short scripted cases, each run by
//! a fresh adapter over real HTTP, through one server. Ended cases and finished adapters
//! are retired into small records (the report and the dashboard still show them), their
//! actors stopped and their script threads returned: the test counts the live ones (0 at
//! the end) and bounds the resident set's growth per case after a warm-up (measured: about
//! 1.9–3.9 KiB per case on a quiet machine, records included, n=5, but 18.6 once while
//! other builds loaded the machine; the bound is loose because RSS is noisy:
//! the live counts are the precise check, the bound catches a large leak per case). Prints
//! the figures.

mod common;

use common::{script_cases, TestApp};
use serde_json::{json, Value};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use trafficlight_actors::case::CaseSpec;

const CASES: usize = 3000;
/// Cases run before the first measurement: by then the event bus's backlog, the allocator's
/// maps and the allocator's arenas have reached their working size.
const WARM_UP: usize = 1000;
const ADAPTERS_AT_ONCE: usize = 16;
/// Allowed growth of the resident set per case after the warm-up. An ended case and its
/// finished adapter stay as records (the report and the dashboard show them), so some growth
/// per case is expected; a script engine, a thread or an actor per case would be far over it.
const GROWTH_PER_CASE_LIMIT_KIB: f64 = 64.0;

/// The resident set, after handing freed heap back to the system (glibc keeps freed memory
/// in per-thread arenas, so without the trim RSS follows how busy the threads were rather
/// than what is still allocated).
fn rss_kib() -> i64 {
    // SAFETY: malloc_trim only releases free memory; it has no preconditions.
    unsafe { libc::malloc_trim(0) };
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
    while done.load(Ordering::SeqCst) < WARM_UP {
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
    // Every ended case and finished adapter was retired: no actor or script thread is left.
    // (Adapters stop a moment after their last `exit`; the run's end is what the test waited on.)
    use trafficlight_actors::metrics::{LIVE_ADAPTER_ACTORS, LIVE_CASE_ACTORS, LIVE_SCRIPT_THREADS};
    let deadline = Instant::now() + Duration::from_secs(30);
    while (LIVE_CASE_ACTORS.get(), LIVE_ADAPTER_ACTORS.get(), LIVE_SCRIPT_THREADS.get()) != (0, 0, 0)
        && Instant::now() < deadline
    {
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(LIVE_CASE_ACTORS.get(), 0, "every ended case's actor has stopped");
    assert_eq!(LIVE_ADAPTER_ACTORS.get(), 0, "every finished adapter's actor has stopped");
    assert_eq!(LIVE_SCRIPT_THREADS.get(), 0, "every test's thread has returned");
    let growth = after_last - after_first;
    let per_case = growth as f64 / (CASES - WARM_UP) as f64;
    println!(
        "{CASES} cases in {:.1} s; RSS after {WARM_UP}: {after_first} KiB, after {CASES}: {after_last} KiB, \
         growth {growth} KiB ({per_case:.2} KiB per case)",
        started.elapsed().as_secs_f64(),
    );
    assert!(
        per_case <= GROWTH_PER_CASE_LIMIT_KIB,
        "RSS grew {growth} KiB over the last {} cases: {per_case:.2} KiB per case (limit {GROWTH_PER_CASE_LIMIT_KIB})",
        CASES - WARM_UP
    );
}
