//! The adapter protocol of PROTOCOL.md, row by row, against a real server over HTTP.

mod common;

use awc::http::StatusCode;
use common::{alice, case, gated, recording, steps, Gate, TestApp};
use serde_json::json;
use trafficlight_actors::ActionError;

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

#[actix_web::test]
async fn poll_of_an_unknown_uuid_answers_exit_with_no_record() {
    let app = TestApp::spawn(alice(steps(vec![]))).await;
    let answer = app.poll("never-registered").await;
    assert_eq!(answer, json!({"action": "exit", "data": {"reason": "no record of this UUID"}}));
    assert!(app.adapter("never-registered").await.is_none(), "a poll does not register");
}

#[actix_web::test]
async fn poll_once_the_case_has_ended_answers_exit() {
    let app = TestApp::spawn(alice(steps(vec![("alice", "reload", json!({}))]))).await;
    app.register_type("a", "element-web").await;
    app.next_action("a").await;
    app.respond("a", json!({"response": "reloaded"})).await;
    app.wait_for_case("t.1", "success").await;
    let answer = app.poll("a").await;
    assert_eq!(answer["action"], "exit", "{answer}");
    assert!(answer["data"]["reason"].as_str().is_some_and(|r| !r.is_empty()), "{answer}");
    assert_eq!(app.poll("a").await["action"], "exit", "an ended adapter is told exit on every poll");
}

#[actix_web::test]
async fn poll_after_the_adapter_reported_an_error_answers_exit() {
    let app = TestApp::spawn(alice(steps(vec![("alice", "send_message", json!({"message": "hi"}))]))).await;
    app.register_type("a", "element-web").await;
    app.next_action("a").await;
    let (status, body) = app.report_error("a", "adapter", "browser crashed").await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    for _ in 0..2 {
        let answer = app.poll("a").await;
        assert_eq!(answer["action"], "exit", "the pending action is not answered again: {answer}");
        assert!(answer["data"]["reason"].is_string(), "{answer}");
    }
}

#[actix_web::test]
async fn poll_while_allocated_with_nothing_to_do_says_wait_for_the_test() {
    let gate = Gate::default();
    let app = TestApp::spawn(alice(gated(&gate, vec![]))).await;
    app.register_type("a", "element-web").await;
    app.wait_for_case("t.1", "running").await;
    let answer = app.poll("a").await;
    assert_eq!(
        answer,
        json!({"action": "idle", "data": {"delay": 5000, "reason": "waiting for action from test case"}})
    );
    gate.open();
    app.wait_for_case("t.1", "success").await;
}

#[actix_web::test]
async fn idle_delays_are_json_numbers_of_milliseconds() {
    let gate = Gate::default();
    let app = TestApp::spawn(vec![case("t.1", &[("alice", json!("element-web"))], gated(&gate, vec![]))]).await;
    app.register_type("waiting", "hydrogen-web").await;
    app.register_type("allocated", "element-web").await;
    app.wait_for_case("t.1", "running").await;
    for (uuid, delay) in [("waiting", 30_000), ("allocated", 5_000)] {
        let answer = app.poll(uuid).await;
        assert!(answer["data"]["delay"].is_u64(), "{uuid}: delay must be a number, not {}", answer["data"]["delay"]);
        assert_eq!(answer["data"]["delay"], delay, "{uuid}: {answer}");
    }
    gate.open();
}

#[actix_web::test]
async fn registering_twice_while_unallocated_answers_ok_and_changes_nothing() {
    let app = TestApp::spawn(alice(steps(vec![]))).await;
    app.register_type("a", "hydrogen-web").await;
    let (status, body) = app.register("a", json!({"type": "element-web", "version": "9"})).await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    let adapter = app.adapter("a").await.expect("still registered");
    assert_eq!(adapter.registration.get("type"), Some(&json!("hydrogen-web")), "the first registration stands");
    assert_eq!(adapter.registration.get("version"), None);
    assert_eq!(app.case_state("t.1").await, "waiting", "the element-web case did not take the hydrogen adapter");
    assert_eq!(app.status().await.adapters.len(), 1, "registering twice makes one adapter");
    app.register_type("b", "element-web").await;
    app.wait_for_case("t.1", "success").await;
    assert_eq!(app.case_snapshot("t.1").await.slots[0].uuid.as_deref(), Some("b"));
}

#[actix_web::test]
async fn registering_again_once_allocated_is_a_conflict_and_the_case_goes_on() {
    let app = TestApp::spawn(alice(steps(vec![("alice", "reload", json!({}))]))).await;
    app.register_type("a", "element-web").await;
    let action = app.next_action("a").await;
    let (status, body) = app.register("a", json!({"type": "element-web"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "conflict");
    assert!(body["error"].is_string());
    assert_eq!(app.poll("a").await, action, "the adapter still has its action");
    app.respond("a", json!({"response": "reloaded"})).await;
    app.wait_for_case("t.1", "success").await;
}

#[actix_web::test]
async fn registering_again_once_finished_is_a_conflict() {
    let app = TestApp::spawn(alice(steps(vec![]))).await;
    app.register_type("a", "element-web").await;
    app.wait_for_case("t.1", "success").await;
    let (status, body) = app.register("a", json!({"type": "element-web"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "conflict");
    assert_eq!(app.poll("a").await["action"], "exit");
}

#[actix_web::test]
async fn respond_with_a_json_object_hands_the_whole_object_to_the_test() {
    let (body, mut results) = recording("alice", vec![("get_timeline", json!({}))]);
    let app = TestApp::spawn(alice(body)).await;
    app.register_type("a", "element-web").await;
    app.next_action("a").await;
    let response = json!({"response": "timeline", "data": {"events": [{"body": "hi"}, {"body": "there"}]}});
    let (status, answer) = app.respond("a", response.clone()).await;
    assert_eq!((status, answer), (StatusCode::OK, json!({})));
    assert_eq!(results.next().await, Ok(response));
}

#[actix_web::test]
async fn respond_with_form_data_hands_a_flat_object_to_the_test() {
    let (body, mut results) = recording("alice", vec![("login", json!({})), ("logout", json!({}))]);
    let app = TestApp::spawn(alice(body)).await;
    app.register_type("a", "element-android").await;
    app.register_type("a2", "element-web").await;
    app.next_action("a2").await;
    let form = Some("application/x-www-form-urlencoded");
    let (status, answer) = app.respond_raw("a2", "", form, "response=ok&extra=1").await;
    assert_eq!((status, answer), (StatusCode::OK, json!({})));
    assert_eq!(results.next().await, Ok(json!({"response": "ok", "extra": "1"})));
    app.next_action("a2").await;
    app.respond_raw("a2", "", form, "response=logged%20out&note=a+b").await;
    assert_eq!(results.next().await, Ok(json!({"response": "logged out", "note": "a b"})), "form values are decoded");
}

#[actix_web::test]
async fn respond_with_an_empty_body_hands_an_empty_object_to_the_test() {
    let actions = vec![("a", json!({})), ("b", json!({})), ("c", json!({}))];
    let (body, mut results) = recording("alice", actions);
    let app = TestApp::spawn(alice(body)).await;
    app.register_type("a", "element-web").await;
    for content_type in [None, Some("application/json"), Some("application/x-www-form-urlencoded")] {
        app.next_action("a").await;
        let (status, answer) = app.respond_raw("a", "", content_type, "").await;
        assert_eq!((status, &answer), (StatusCode::OK, &json!({})), "empty body with {content_type:?}");
        assert_eq!(results.next().await, Ok(json!({})), "empty body with {content_type:?}");
    }
    app.wait_for_case("t.1", "success").await;
}

#[actix_web::test]
async fn an_error_of_type_action_fails_the_case() {
    let app = TestApp::spawn(alice(steps(vec![("alice", "verify", json!({}))]))).await;
    app.register_type("a", "element-web").await;
    app.next_action("a").await;
    let (status, body) = app.report_error("a", "action", "emoji did not match").await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    app.wait_for_case("t.1", "failed").await;
    let errors = app.case_snapshot("t.1").await.errors.join("\n");
    assert!(errors.contains("emoji did not match") && errors.contains("adapter.js#12"), "{errors}");
    let report = app.run_ended().await;
    assert!(!report.succeeded());
}

#[actix_web::test]
async fn an_error_of_any_other_type_errors_the_case() {
    let act = || steps(vec![("alice", "verify", json!({}))]);
    let cases = vec![
        case("t.1", &[("alice", json!("element-web"))], act()),
        case("t.2", &[("alice", json!("hydrogen-web"))], act()),
    ];
    let app = TestApp::spawn(cases).await;
    app.register_type("web", "element-web").await;
    app.register_type("hydrogen", "hydrogen-web").await;
    for (uuid, case_id, kind) in [("web", "t.1", "adapter"), ("hydrogen", "t.2", "TypeError")] {
        app.next_action(uuid).await;
        app.report_error(uuid, kind, "cannot read properties of undefined").await;
        app.wait_for_case(case_id, "error").await;
        let errors = app.case_snapshot(case_id).await.errors.join("\n");
        assert!(errors.contains("cannot read properties of undefined") && errors.contains(kind), "{kind}: {errors}");
    }
}

#[actix_web::test]
async fn an_error_report_labelled_text_plain_is_read_as_json() {
    // The Element Web adapter reports uncaught exceptions with `fetch(url, {method, body})`,
    // which labels its JSON body text/plain.
    let app = TestApp::spawn(alice(steps(vec![("alice", "open_room", json!({}))]))).await;
    app.register_type("a", "element-web").await;
    app.next_action("a").await;
    let report = json!({"error": {"type": "TypeError", "details": "x is undefined", "path": "foo/bar"}});
    let answer =
        app.post_raw("/client/a/error", Some("text/plain;charset=UTF-8"), report.to_string().into_bytes()).await;
    assert_eq!(answer, (StatusCode::OK, json!({})));
    app.wait_for_case("t.1", "error").await;
    assert!(app.case_snapshot("t.1").await.errors.join("\n").contains("x is undefined"));
    assert_eq!(app.poll("a").await["action"], "exit");
}

#[actix_web::test]
async fn an_error_with_no_pending_action_ends_the_case_and_is_raised_at_the_next_action() {
    let gate = Gate::default();
    let (body, mut results) = common::gated_action(&gate, "alice", "send_message");
    let app = TestApp::spawn(alice(body)).await;
    app.register_type("a", "element-web").await;
    app.wait_for_case("t.1", "running").await;
    let (status, _) = app.report_error("a", "action", "could not open the room").await;
    assert_eq!(status, StatusCode::OK);
    app.wait_for_case("t.1", "failed").await;
    assert_eq!(app.poll("a").await["action"], "exit");
    gate.open();
    match results.next().await {
        Err(ActionError::Failed { details, .. }) => assert_eq!(details, "could not open the room"),
        other => panic!("the test's next action should raise the remembered error, not {other:?}"),
    }
}

#[actix_web::test]
async fn an_unallocated_adapter_that_reports_an_error_is_finished_and_never_allocated() {
    let app = TestApp::spawn(vec![case(
        "t.1",
        &[("alice", json!("element-web")), ("bob", json!("element-web"))],
        steps(vec![]),
    )])
    .await;
    app.register_type("broken", "element-web").await;
    let (status, body) = app.report_error("broken", "adapter", "could not start the browser").await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    assert_eq!(app.poll("broken").await["action"], "exit");
    app.register_type("b", "element-web").await;
    assert_eq!(app.case_state("t.1").await, "waiting", "the broken adapter does not fill a slot");
    app.register_type("c", "element-web").await;
    app.wait_for_case("t.1", "success").await;
    let mut uuids: Vec<_> = app.case_snapshot("t.1").await.slots.into_iter().map(|s| s.uuid.unwrap()).collect();
    uuids.sort();
    assert_eq!(uuids, ["b", "c"]);
}

#[actix_web::test]
async fn uploads_are_stored_as_client_underscore_file_and_listed_with_the_case() {
    let gate = Gate::default();
    let app = TestApp::spawn(alice(gated(&gate, vec![]))).await;
    app.register_type("a", "element-web").await;
    app.wait_for_case("t.1", "running").await;
    let (status, body) = app.upload("a", &[("console.log", b"line 1\n"), ("screenshot.png", b"\x89PNG")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.files_on_disk(), ["t.1/alice_console.log", "t.1/alice_screenshot.png"]);
    assert_eq!(std::fs::read(app.output.path().join("t.1/alice_console.log")).unwrap(), b"line 1\n");
    assert_eq!(std::fs::read(app.output.path().join("t.1/alice_screenshot.png")).unwrap(), b"\x89PNG");
    assert_eq!(app.case_snapshot("t.1").await.files, ["alice_console.log", "alice_screenshot.png"]);
    gate.open();
}

#[actix_web::test]
async fn respond_from_an_unknown_uuid_is_not_found() {
    let app = TestApp::spawn(alice(steps(vec![]))).await;
    let (status, body) = app.respond("ghost", json!({"response": "ok"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "not_found");
    assert!(body["error"].is_string());
    assert!(app.status().await.adapters.is_empty(), "nothing was created");
}

#[actix_web::test]
async fn an_error_from_an_unknown_uuid_is_not_found() {
    let app = TestApp::spawn(alice(steps(vec![]))).await;
    let (status, body) = app.report_error("ghost", "action", "x").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "not_found");
    assert!(body["error"].is_string());
    assert!(app.status().await.adapters.is_empty(), "nothing was created");
}

#[actix_web::test]
async fn an_upload_from_an_unknown_uuid_is_not_found_and_stores_nothing() {
    let app = TestApp::spawn(alice(steps(vec![]))).await;
    let (status, body) = app.upload("ghost", &[("log.txt", b"hello")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "not_found");
    assert!(body["error"].is_string());
    assert!(app.files_on_disk().is_empty(), "{:?}", app.files_on_disk());
}

#[actix_web::test]
async fn invalid_uuids_are_refused_on_every_endpoint() {
    let app = TestApp::spawn(alice(steps(vec![]))).await;
    let too_long = "x".repeat(129);
    for uuid in ["a%20b", "a%2Fb", "caf%C3%A9", "a:b", too_long.as_str()] {
        let answers = [
            ("register", app.register(uuid, json!({"type": "element-web"})).await),
            ("poll", app.get(&format!("/client/{uuid}/poll")).await),
            ("respond", app.respond(uuid, json!({"response": "ok"})).await),
            ("error", app.report_error(uuid, "action", "x").await),
            ("upload", app.upload(uuid, &[("log.txt", b"x")]).await),
        ];
        for (endpoint, (status, body)) in answers {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{endpoint} with uuid {uuid}: {body}");
            assert_eq!(body["code"], "bad_request", "{endpoint} with uuid {uuid}: {body}");
        }
    }
    assert!(app.status().await.adapters.is_empty(), "no invalid uuid was registered");
    assert_eq!(app.case_state("t.1").await, "waiting");
    assert!(app.files_on_disk().is_empty());
}

#[actix_web::test]
async fn uuids_of_one_to_128_allowed_characters_are_accepted() {
    let app = TestApp::spawn(alice(steps(vec![]))).await;
    let longest = "y".repeat(128);
    for uuid in ["a", "A-z_0.9", "3f1c2a4e-9b7d-4c1e-8f2a-0d9e8c7b6a54", longest.as_str()] {
        app.register_type(uuid, "hydrogen-web").await;
        assert_eq!(app.poll(uuid).await["action"], "idle", "{uuid}");
    }
}

#[actix_web::test]
async fn respond_naming_another_action_id_in_the_query_is_a_conflict_and_the_action_stays_pending() {
    let (body, mut results) = recording("alice", vec![("send_message", json!({"message": "hi"}))]);
    let app = TestApp::spawn(alice(body)).await;
    app.register_type("a", "element-web").await;
    let action = app.next_action("a").await;
    let id = action["id"].as_str().expect("poll answers carry an id").to_string();
    let (status, body) =
        app.respond_raw("a", "?id=not-the-pending-id", Some("application/json"), r#"{"response":"sent"}"#).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "conflict");
    assert_eq!(app.poll("a").await, action, "the action is still pending, with the same id");
    let (status, _) =
        app.respond_raw("a", &format!("?id={id}"), Some("application/json"), r#"{"response":"sent"}"#).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(results.next().await, Ok(json!({"response": "sent"})));
}

#[actix_web::test]
async fn respond_naming_another_action_id_in_the_body_is_a_conflict_and_the_action_stays_pending() {
    let (body, mut results) = recording("alice", vec![("send_message", json!({"message": "hi"}))]);
    let app = TestApp::spawn(alice(body)).await;
    app.register_type("a", "element-web").await;
    let action = app.next_action("a").await;
    let (status, body) = app.respond("a", json!({"id": "act-999", "response": "sent"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "conflict");
    assert_eq!(app.poll("a").await, action, "the action is still pending, with the same id");
    let (status, _) = app.respond("a", json!({"id": action["id"], "response": "sent"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(results.next().await, Ok(json!({"response": "sent"})), "the test sees the response without the id");
}

#[actix_web::test]
async fn a_respond_body_id_that_is_not_an_action_id_is_the_adapters_data() {
    let (body, mut results) = recording("alice", vec![("create_room", json!({"name": "room"}))]);
    let app = TestApp::spawn(alice(body)).await;
    app.register_type("a", "element-web").await;
    app.next_action("a").await;
    let (status, body) = app.respond("a", json!({"response": "created", "id": "!room:hs1"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(results.next().await, Ok(json!({"response": "created", "id": "!room:hs1"})));
}

#[actix_web::test]
async fn poll_ignores_query_parameters_it_does_not_know() {
    let app = TestApp::spawn(alice(steps(vec![]))).await;
    app.register_type("a", "hydrogen-web").await;
    let (status, answer) = app.get("/client/a/poll?t=1700000000&_=x").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["action"], "idle");
}

#[actix_web::test]
async fn a_respond_before_the_action_was_delivered_is_refused_and_completes_nothing() {
    // An older Appium adapter answers `idle` with an empty respond; if the test queued an
    // action meanwhile, that respond must not complete it.
    let gate = Gate::default();
    let (body, mut results) = common::gated_action(&gate, "alice", "login");
    let app = TestApp::spawn(alice(body)).await;
    app.register_type("a", "element-web").await;
    assert_eq!(app.poll("a").await["action"], "idle");
    gate.open();
    app.wait_for_pending("a").await;
    let (status, answer) = app.post_raw("/client/a/respond", None, Vec::new()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("poll for it first"), "{answer}");
    let action = app.poll("a").await;
    assert_eq!(action["action"], "login", "the action is still pending and now delivered");
    assert_eq!(app.respond("a", json!({"response": "loggedin"})).await.0, StatusCode::OK);
    assert_eq!(results.next().await, Ok(json!({"response": "loggedin"})));
}

#[actix_web::test]
async fn doubled_slashes_in_paths_are_served_as_single_ones() {
    let app = TestApp::spawn(alice(steps(vec![]))).await;
    let (status, body) = app.post_json("//client/a//register", json!({"type": "hydrogen-web"})).await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    let (status, answer) = app.get("//client/a/poll").await;
    assert_eq!((status, answer["action"].clone()), (StatusCode::OK, json!("idle")));
}
