//! The adapter protocol of PROTOCOL.md, row by row, against a real server over HTTP.

mod common;

use awc::http::StatusCode;
use common::{case, steps, TestApp};
use serde_json::json;

#[actix_web::test]
async fn register_answers_an_empty_object_and_poll_says_wait_for_a_testcase() {
    let app = TestApp::spawn(vec![case("t.1", &[("alice", json!("element-web"))], steps(vec![]))]).await;
    let (status, body) = app.register("lonely", json!({"type": "hydrogen-web", "version": "1"})).await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    let answer = app.poll("lonely").await;
    assert_eq!(answer, json!({"action": "idle", "data": {"delay": 30000, "reason": "waiting for testcase"}}));
}

#[actix_web::test]
async fn a_pending_action_is_repeated_until_answered_and_its_response_reaches_the_test() {
    let app = TestApp::spawn(vec![case(
        "t.1",
        &[("alice", json!("element-web"))],
        steps(vec![("alice", "send_message", json!({"message": "hi"})), ("alice", "reload", json!({}))]),
    )])
    .await;
    app.register_type("a", "element-web").await;
    let first = app.next_action("a").await;
    assert_eq!(first["action"], "send_message");
    assert_eq!(first["data"], json!({"message": "hi"}));
    assert!(first["id"].is_string());
    assert_eq!(app.poll("a").await, first, "a poll does not consume the pending action");
    let (status, body) = app.respond("a", json!({"response": "sent"})).await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    let second = app.next_action("a").await;
    assert_eq!(second["action"], "reload");
    assert_ne!(second["id"], first["id"]);
    app.respond("a", json!({})).await;
    let report = app.run_ended().await;
    assert!(report.succeeded(), "{}", report.summary());
    assert_eq!(app.poll("a").await["action"], "exit");
}
