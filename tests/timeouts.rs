//! Deadlines, with short configured values: idle and active adapters, actions, cases,
//! the queue, and a failing adapter ending its siblings at once.

mod common;

use awc::http::StatusCode;
use common::{alice, case, steps, TestApp};
use serde_json::json;
use std::time::Duration;

/// Short enough to keep tests quick, long enough that a loaded machine delaying one poll
/// of a live adapter (they poll every 200 ms here) does not time it out.
const SHORT: Duration = Duration::from_secs(1);

/// Polls `uuid` every 200 ms, as a live adapter busy with a long action does, until it is
/// told `exit`; returns the exit answer. Gives up after 20 s. (Faster re-polls of one
/// action would be a poll storm: see poll_storm.rs.)
async fn poll_until_exit(app: &TestApp, uuid: &str) -> serde_json::Value {
    for _ in 0..100 {
        let answer = app.poll(uuid).await;
        if answer["action"] == "exit" {
            return answer;
        }
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("adapter {uuid} was not told to exit within 20 s");
}

#[actix_web::test]
async fn an_idle_adapter_that_stops_polling_is_dropped_and_then_told_it_is_unknown() {
    let app = TestApp::spawn_with(|c| c.timeouts.idle = SHORT, alice(steps(vec![]))).await;
    app.register_type("silent", "hydrogen-web").await;
    app.register_type("polling", "hydrogen-web").await;
    for _ in 0..200 {
        if app.adapter("silent").await.is_none() {
            break;
        }
        app.poll_wait("polling", 0.05).await;
    }
    assert!(app.adapter("silent").await.is_none(), "the silent adapter was not dropped");
    assert!(app.adapter("polling").await.is_some(), "an adapter that keeps polling is kept");
    let answer = app.poll("silent").await;
    assert_eq!(answer, json!({"action": "exit", "data": {"reason": "no record of this UUID"}}));
    assert_eq!(app.poll("polling").await["action"], "idle");
}

#[actix_web::test]
async fn an_allocated_adapter_that_stops_polling_errors_its_case() {
    let app =
        TestApp::spawn_with(|c| c.timeouts.active = SHORT, alice(steps(vec![("alice", "send_message", json!({}))])))
            .await;
    app.register_type("a", "element-web").await;
    app.next_action("a").await;
    // The adapter now goes silent.
    app.wait_for_case("t.1", "error").await;
    let errors = app.case_snapshot("t.1").await.errors.join("\n");
    assert!(errors.contains("timed out") && errors.contains("neither polled nor responded"), "{errors}");
    assert_eq!(app.poll("a").await["action"], "exit");
    // A late answer is accepted (a non-200 would crash a real adapter) and changes nothing.
    let (status, body) = app.respond("a", json!({"response": "too late"})).await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    assert_eq!(app.case_state("t.1").await, "error");
    assert_eq!(app.poll("a").await["action"], "exit");
}

#[actix_web::test]
async fn an_adapter_that_keeps_polling_during_a_long_action_is_not_timed_out() {
    // An active timeout of 1 s against polls 200 ms apart: a loaded machine may delay a
    // poll, not by five times.
    let active = Duration::from_secs(1);
    let app =
        TestApp::spawn_with(|c| c.timeouts.active = active, alice(steps(vec![("alice", "long", json!({}))]))).await;
    app.register_type("a", "element-web").await;
    let action = app.next_action("a").await;
    let started = std::time::Instant::now();
    while started.elapsed() < active * 2 {
        // Plain polls until the action has outlasted the active timeout twice.
        assert_eq!(app.poll("a").await, action);
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    app.respond("a", json!({"response": "done"})).await;
    app.wait_for_case("t.1", "success").await;
}

#[actix_web::test]
async fn when_one_adapter_reports_an_error_its_sibling_is_told_to_exit_on_its_next_poll() {
    let slots = [("alice", json!("element-web")), ("bob", json!("hydrogen-web"))];
    let app = TestApp::spawn(vec![case("t.1", &slots, steps(vec![("alice", "wait_for_message", json!({}))]))]).await;
    app.register_type("a", "element-web").await;
    app.register_type("b", "hydrogen-web").await;
    app.next_action("a").await;
    app.report_error("b", "adapter", "page did not load").await;
    // The case hears of the error and tells the sibling to finish (on other threads);
    // once the sibling has finished, its next poll is `exit`, not its pending action.
    app.wait_for_adapter("a", "told to finish", |a| a.is_some_and(|a| a.state == "finished")).await;
    let answer = app.poll("a").await;
    assert_eq!(answer["action"], "exit", "the sibling is not left to its own timeout: {answer}");
    app.wait_for_case("t.1", "error").await;
}

#[actix_web::test]
async fn when_one_adapter_times_out_its_sibling_is_told_to_exit_on_its_next_poll() {
    let slots = [("alice", json!("element-web")), ("bob", json!("hydrogen-web"))];
    let body = steps(vec![("alice", "wait_for_message", json!({}))]);
    let app = TestApp::spawn_with(|c| c.timeouts.active = SHORT, vec![case("t.1", &slots, body)]).await;
    app.register_type("a", "element-web").await;
    app.register_type("b", "hydrogen-web").await;
    // alice keeps polling; bob never polls and times out.
    let answer = poll_until_exit(&app, "a").await;
    assert_eq!(answer["action"], "exit");
    app.wait_for_case("t.1", "error").await;
    let errors = app.case_snapshot("t.1").await.errors.join("\n");
    assert!(errors.contains("bob") && errors.contains("timed out"), "the case blames bob: {errors}");
}

#[actix_web::test]
async fn an_action_that_outlasts_the_action_timeout_errors_the_case() {
    let body = steps(vec![("alice", "verify", json!({}))]);
    let app = TestApp::spawn_with(|c| c.timeouts.action = Some(SHORT), alice(body)).await;
    app.register_type("a", "element-web").await;
    app.next_action("a").await;
    // The adapter stays alive (it keeps polling) but never completes the action.
    poll_until_exit(&app, "a").await;
    app.wait_for_case("t.1", "error").await;
    let errors = app.case_snapshot("t.1").await.errors.join("\n");
    assert!(errors.contains("action 'verify' did not complete within"), "{errors}");
}

#[actix_web::test]
async fn a_case_that_finds_no_adapters_within_the_queue_timeout_is_skipped_with_the_reason() {
    let cases = vec![
        case("t.1", &[("alice", json!("element-ios"))], steps(vec![])),
        case("t.2", &[("alice", json!("element-web"))], steps(vec![])),
    ];
    let app = TestApp::spawn_with(|c| c.timeouts.queue = Some(SHORT), cases).await;
    app.register_type("web", "element-web").await;
    app.wait_for_case("t.2", "success").await;
    app.wait_for_case("t.1", "skipped").await;
    let errors = app.case_snapshot("t.1").await.errors.join("\n");
    assert!(errors.contains("no matching adapters") && errors.contains("queue timeout"), "{errors}");
    let report = app.run_ended().await;
    assert!(!report.succeeded(), "a skipped case is not a success:\n{}", report.summary());
    assert!(report.summary().contains("queue timeout"), "{}", report.summary());
}

#[actix_web::test]
async fn a_case_that_runs_past_its_deadline_errors_and_its_adapters_exit() {
    let body = steps(vec![("alice", "wait_forever", json!({}))]);
    let app = TestApp::spawn_with(|c| c.timeouts.case = SHORT, alice(body)).await;
    app.register_type("a", "element-web").await;
    app.next_action("a").await;
    let answer = poll_until_exit(&app, "a").await;
    assert_eq!(answer["action"], "exit");
    assert_eq!(app.case_state("t.1").await, "error");
    let errors = app.case_snapshot("t.1").await.errors.join("\n");
    assert!(errors.contains("timed out: the case took longer than"), "{errors}");
}

#[actix_web::test]
async fn before_its_first_poll_an_adapter_gets_twice_the_idle_timeout() {
    // Real adapters register before their browser has started; the first poll comes late.
    // Two adapters register together; one polls once at once, the other never. The one
    // that polled is dropped after one idle timeout, the other only after two: in the
    // snapshot (one consistent view) where the first is gone, the second is still there.
    let idle = Duration::from_secs(1);
    let app = TestApp::spawn_with(|c| c.timeouts.idle = idle, alice(steps(vec![]))).await;
    app.register_type("slow-start", "hydrogen-web").await;
    app.register_type("polled", "hydrogen-web").await;
    assert_eq!(app.poll("polled").await["action"], "idle");
    let snapshot = loop {
        let status = app.status().await;
        if !status.adapters.iter().any(|a| a.uuid == "polled") {
            break status;
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        snapshot.adapters.iter().any(|a| a.uuid == "slow-start"),
        "an adapter that never polled is kept longer than one that polled"
    );
    app.wait_for_adapter("slow-start", "dropped after twice the idle timeout", |a| a.is_none()).await;
    assert_eq!(app.poll("slow-start").await["data"]["reason"], "no record of this UUID");
}
