//! An adapter that does not know an action (the real Hydrogen adapter logs "unknown
//! action", does not answer and polls again at once) must not spin until the case's
//! deadline: the same action handed out again and again with no answer fails it, with a
//! message that says what happened. A repeat after a lost answer (compat) still works.

mod common;

use common::{alice, recording, TestApp};
use serde_json::json;
use trafficlight_actors::ActionError;

#[actix_web::test]
async fn an_adapter_that_polls_the_same_action_again_and_again_fails_it_with_a_message() {
    let (body, mut results) = recording("alice", vec![("get_timeline", json!({}))]);
    let app = TestApp::spawn(alice(body)).await;
    app.register_type("a", "element-web").await;
    assert_eq!(app.next_action("a").await["action"], "get_timeline");
    let mut polls = 1;
    let answer = loop {
        let answer = app.poll("a").await;
        polls += 1;
        if answer["action"] != "get_timeline" {
            break answer;
        }
        assert!(polls < 1000, "polled {polls} times and the action is still handed out");
    };
    assert_eq!(answer["action"], "exit", "{answer}");
    assert!(polls <= 21, "the storm is noticed at 20 deliveries, not after {polls} polls");
    match results.next().await {
        Err(ActionError::Failed { details, .. }) => {
            assert!(details.contains("did not perform get_timeline"), "{details}");
            assert!(details.contains("polled 20 times"), "{details}");
            assert!(details.contains("does element-web support this action?"), "{details}");
        }
        other => panic!("the action must fail with an action error, not {other:?}"),
    }
    let report = app.run_ended().await;
    assert!(report.summary().contains("get_timeline"), "{}", report.summary());
    assert_eq!(report.cases[0].state.to_string(), "failed", "{}", report.summary());
}

#[actix_web::test]
async fn a_few_repeats_after_a_lost_answer_are_still_answered_normally() {
    let (body, mut results) = recording("alice", vec![("send_message", json!({"message": "hi"}))]);
    let app = TestApp::spawn(alice(body)).await;
    app.register_type("a", "element-web").await;
    let first = app.next_action("a").await;
    for _ in 0..5 {
        assert_eq!(app.poll("a").await, first, "the pending action is repeated (compat)");
    }
    app.respond("a", json!({"response": "sent"})).await;
    assert_eq!(results.next().await, Ok(json!({"response": "sent"})));
    assert!(app.run_ended().await.succeeded());
}
