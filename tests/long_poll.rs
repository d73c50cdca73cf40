//! Long polling (`poll?wait=S`) and respond-and-wait (`respond?wait=S`): held requests
//! answer as soon as there is something to say, and abandoned ones leave nothing behind.

mod common;

use awc::http::StatusCode;
use common::{alice, case, gated, steps, Gate, TestApp};
use serde_json::json;
use std::time::Duration;

/// Waits until the server has seen a poll from `uuid`: a poll sent before is now held.
async fn wait_until_polled(app: &TestApp, uuid: &str) {
    app.wait_for_adapter(uuid, "a poll arrives", |a| a.is_some_and(|a| a.last_poll.is_some())).await;
}

#[actix_web::test]
async fn a_held_poll_answers_with_the_action_as_soon_as_the_test_asks_for_it() {
    let gate = Gate::default();
    let app = TestApp::spawn(alice(gated(&gate, vec![("alice", "send_message", json!({"message": "hi"}))]))).await;
    app.register_type("a", "element-web").await;
    app.wait_for_case("t.1", "running").await;
    let held = app.poll_wait("a", 5.0);
    let ask = async {
        wait_until_polled(&app, "a").await;
        gate.open();
    };
    let (answer, ()) = futures::join!(held, ask);
    // Without the wake-up the poll would have answered `idle` after 5 s.
    assert_eq!(answer["action"], "send_message", "{answer}");
    assert_eq!(answer["data"], json!({"message": "hi"}));
    assert!(answer["id"].is_string(), "{answer}");
}

#[actix_web::test]
async fn a_held_poll_answers_exit_as_soon_as_a_sibling_fails() {
    let slots = [("alice", json!("element-web")), ("bob", json!("element-web"))];
    let app = TestApp::spawn(vec![case("t.1", &slots, steps(vec![("bob", "wait_for_call", json!({}))]))]).await;
    app.register_type("a", "element-web").await;
    app.register_type("b", "element-web").await;
    let alice_uuid = app.case_snapshot("t.1").await.slots[0].uuid.clone().expect("allocated");
    let bob_uuid = app.case_snapshot("t.1").await.slots[1].uuid.clone().expect("allocated");
    app.next_action(&bob_uuid).await;
    let held = app.poll_wait(&alice_uuid, 5.0);
    let fail = async {
        wait_until_polled(&app, &alice_uuid).await;
        app.report_error(&bob_uuid, "adapter", "call failed to connect").await;
    };
    let (answer, _) = futures::join!(held, fail);
    assert_eq!(answer["action"], "exit", "{answer}");
}

#[actix_web::test]
async fn a_held_poll_with_nothing_to_say_answers_idle_with_no_further_delay_when_its_wait_is_over() {
    let app = TestApp::spawn(alice(steps(vec![]))).await;
    app.register_type("a", "hydrogen-web").await;
    // The adapter has already waited: it is told to poll again at once, not to sleep 30 s more.
    let answer = app.poll_wait("a", 0.2).await;
    assert_eq!(answer, json!({"action": "idle", "data": {"delay": 0, "reason": "waiting for testcase"}}));
    // A plain poll still gets the delay existing adapters expect.
    assert_eq!(app.poll("a").await["data"]["delay"], 30000);
}

#[actix_web::test]
async fn respond_and_wait_answers_with_the_next_action() {
    let body = steps(vec![("alice", "login", json!({})), ("alice", "send_message", json!({"message": "hi"}))]);
    let app = TestApp::spawn(alice(body)).await;
    app.register_type("a", "element-web").await;
    let login = app.next_action("a").await;
    assert_eq!(login["action"], "login");
    let (status, next) = app.respond_raw("a", "?wait=5", Some("application/json"), r#"{"response":"logged in"}"#).await;
    assert_eq!(status, StatusCode::OK, "{next}");
    assert_eq!(next["action"], "send_message", "{next}");
    assert_eq!(next["data"], json!({"message": "hi"}));
    assert!(next["id"].is_string() && next["id"] != login["id"], "{next}");
    let (status, last) = app.respond_raw("a", "?wait=5", Some("application/json"), r#"{"response":"sent"}"#).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(last["action"], "exit", "the case is over once its last action is answered: {last}");
    app.wait_for_case("t.1", "success").await;
}

#[actix_web::test]
async fn respond_and_wait_holds_until_the_test_asks_for_the_next_action() {
    let gate = Gate::default();
    let (inner_gate, first) = (gate.clone(), steps(vec![("alice", "login", json!({}))]));
    let second = steps(vec![("alice", "logout", json!({}))]);
    let body = common::body(move |ctx| {
        let (gate, first, second) = (inner_gate.clone(), first.clone(), second.clone());
        async move {
            first.run(ctx.clone()).await;
            gate.passed().await;
            second.run(ctx).await
        }
    });
    let app = TestApp::spawn(alice(body)).await;
    app.register_type("a", "element-web").await;
    app.next_action("a").await;
    let held = app.respond_raw("a", "?wait=5", None, "");
    let ask = async {
        app.wait_for_adapter("a", "the response arrives", |a| a.is_some_and(|a| a.actions_done == 1)).await;
        gate.open();
    };
    let ((status, next), ()) = futures::join!(held, ask);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(next["action"], "logout", "{next}");
}

#[actix_web::test]
async fn a_wait_out_of_range_is_refused_and_changes_nothing() {
    let app = TestApp::spawn(alice(steps(vec![("alice", "login", json!({}))]))).await;
    app.register_type("a", "element-web").await;
    let action = app.next_action("a").await;
    for wait in ["0", "61", "-1", "abc", "NaN", "inf", ""] {
        let (status, body) = app.get(&format!("/client/a/poll?wait={wait}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "poll?wait={wait}: {body}");
        assert_eq!(body["code"], "bad_request", "poll?wait={wait}: {body}");
        let (status, body) = app.respond_raw("a", &format!("?wait={wait}"), None, "").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "respond?wait={wait}: {body}");
        assert_eq!(body["code"], "bad_request", "respond?wait={wait}: {body}");
    }
    assert_eq!(app.poll("a").await, action, "a refused respond did not complete the action");
    assert_eq!(app.poll_wait("a", 60.0).await, action, "60 s is allowed");
}

#[actix_web::test]
async fn a_held_poll_whose_client_goes_away_leaves_the_adapter_working() {
    let gate = Gate::default();
    let app = TestApp::spawn(alice(gated(&gate, vec![("alice", "send_message", json!({}))]))).await;
    app.register_type("a", "element-web").await;
    app.wait_for_case("t.1", "running").await;
    for _ in 0..3 {
        let abandoned = actix_web::rt::time::timeout(Duration::from_millis(100), app.poll_wait("a", 30.0)).await;
        assert!(abandoned.is_err(), "the held poll should still be held: {abandoned:?}");
    }
    gate.open();
    let action = app.next_action("a").await;
    assert_eq!(action["action"], "send_message");
    let (status, _) = app.respond("a", json!({"response": "sent"})).await;
    assert_eq!(status, StatusCode::OK);
    app.wait_for_case("t.1", "success").await;
}

#[actix_web::test]
async fn an_abandoned_long_poll_does_not_keep_a_vanished_adapter_alive() {
    let app = TestApp::spawn_with(|c| c.timeouts.idle = Duration::from_millis(300), alice(steps(vec![]))).await;
    app.register_type("gone", "hydrogen-web").await;
    let abandoned = actix_web::rt::time::timeout(Duration::from_millis(100), app.poll_wait("gone", 30.0)).await;
    assert!(abandoned.is_err(), "the held poll should still be held: {abandoned:?}");
    // The adapter's process has died with its poll: the server must not wait out the 30 s.
    app.wait_for_adapter("gone", "being dropped", |a| a.is_none()).await;
}
