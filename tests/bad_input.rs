//! Bad input: each is answered with a 4xx JSON body `{"error": ..., "code": ...}` and
//! changes nothing (the adapter polls as before, nothing is stored). Inputs tried:
//!
//! register
//! - malformed JSON (`{"type": "element-web"`)
//! - JSON that is not an object (an array, a string, a number, `null`)
//! - an empty body
//! - no `type` field, and an empty `type` (`""`, `"  "`)
//! - `type` not a string (a number, `null`, an array, an object)
//! - a wrong content type (`text/plain`, `application/xml`) on a body that is not JSON: 415
//!   (a JSON object under another label is read: the Element Web adapter sends its error
//!   reports as `text/plain`; see protocol.rs)
//! - a body over the 16 MiB JSON limit: 413
//!
//! respond
//! - malformed JSON, and JSON that is not an object (an array)
//! - malformed JSON with no content type (`{"response":`): 400, not read as a form
//! - a wrong content type (`text/plain` with a body that is not JSON): 415
//! - nothing pending (allocated, the test has not asked yet): 409
//! - a stale action id (the previous action's, in the query and in the body): 409
//! - before the adapter is allocated: 409
//!
//! error
//! - no `error` object (`{}`, `error` a string, `error` an array)
//! - malformed JSON
//! - a wrong content type (`text/plain`) on a body that is not JSON: 415
//!
//! upload
//! - file names that climb out (`../x`, `../../x`, `a/../../x`, `..\x`, `..`) or are hidden (`.x`)
//! - a request over the configured upload limit, the first file under it: 413
//! - a body that is not multipart (JSON)
//! - multipart without any file part
//! - from an adapter not allocated yet: 409
//! - a body that stops arriving half way (the adapter's file stream broke): 408, and
//!   nothing half-written stays
//!
//! respond, again
//! - before the pending action was delivered by a poll (an adapter answering `idle`): 409
//!
//! every body
//! - register, respond and error that announce `Content-Length: 100000` and stop half way:
//!   408 with a JSON body once `body_stall` passes
//!
//! any route
//! - a wrong method on a known path (`GET .../register`, `POST .../poll`, `DELETE
//!   .../upload`): 405 with `Allow`, JSON body
//! - an adapter id that is not valid UTF-8 (`%FF%FE`): a JSON error too. Errors that
//!   actix-web itself answers as text are made JSON by a middleware (tested in
//!   src/http/json_errors.rs). Errors of the HTTP/1 parser (a malformed request line,
//!   headers over the limit) are answered before any of our code runs and keep actix's
//!   empty body.

mod common;

use awc::http::StatusCode;
use common::{alice, case, gated, recording, steps, Gate, TestApp};
use serde_json::{json, Value};

/// Asserts a 4xx answer with the JSON error body every error has.
fn assert_refused((status, body): (StatusCode, Value), expected: StatusCode, input: &str) {
    assert_eq!(status, expected, "{input}: {body}");
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{input}: no 'error' text in {body}");
    assert!(body["code"].is_string(), "{input}: no 'code' in {body}");
}

fn is_unknown(answer: &Value) -> bool {
    *answer == json!({"action": "exit", "data": {"reason": "no record of this UUID"}})
}

#[actix_web::test]
async fn register_refuses_bodies_that_are_not_a_registration_and_registers_nothing() {
    let app = TestApp::spawn(alice(steps(vec![]))).await;
    let json_type = Some("application/json");
    let bad: &[(&str, Option<&str>, &str, StatusCode)] = &[
        ("malformed JSON", json_type, r#"{"type": "element-web""#, StatusCode::BAD_REQUEST),
        ("an array", json_type, r#"["element-web"]"#, StatusCode::BAD_REQUEST),
        ("a string", json_type, r#""element-web""#, StatusCode::BAD_REQUEST),
        ("a number", json_type, "42", StatusCode::BAD_REQUEST),
        ("null", json_type, "null", StatusCode::BAD_REQUEST),
        ("an empty body", json_type, "", StatusCode::BAD_REQUEST),
        ("an empty body, no content type", None, "", StatusCode::BAD_REQUEST),
        ("no type", json_type, r#"{"version": "1"}"#, StatusCode::BAD_REQUEST),
        ("type a number", json_type, r#"{"type": 7}"#, StatusCode::BAD_REQUEST),
        ("type null", json_type, r#"{"type": null}"#, StatusCode::BAD_REQUEST),
        ("type an array", json_type, r#"{"type": ["element-web"]}"#, StatusCode::BAD_REQUEST),
        ("type an object", json_type, r#"{"type": {"name": "element-web"}}"#, StatusCode::BAD_REQUEST),
        ("type empty", json_type, r#"{"type": ""}"#, StatusCode::BAD_REQUEST),
        ("type blank", json_type, r#"{"type": "  "}"#, StatusCode::BAD_REQUEST),
        ("text/plain", Some("text/plain"), "type=element-web", StatusCode::UNSUPPORTED_MEDIA_TYPE),
        ("application/xml", Some("application/xml"), "<type>element-web</type>", StatusCode::UNSUPPORTED_MEDIA_TYPE),
    ];
    for (input, content_type, body, expected) in bad {
        let answer = app.post_raw("/client/a/register", *content_type, body.as_bytes().to_vec()).await;
        assert_refused(answer, *expected, input);
        assert!(is_unknown(&app.poll("a").await), "{input}: the adapter was registered anyway");
    }
    assert!(app.status().await.adapters.is_empty());
    assert_eq!(app.case_state("t.1").await, "waiting");
}

#[actix_web::test]
async fn register_refuses_a_body_over_the_json_limit() {
    let app = TestApp::spawn(alice(steps(vec![]))).await;
    let padding = "x".repeat(trafficlight::config::JSON_BODY_LIMIT);
    let body = json!({"type": "element-web", "padding": padding}).to_string().into_bytes();
    let answer = app.post_raw("/client/a/register", Some("application/json"), body).await;
    assert_refused(answer, StatusCode::PAYLOAD_TOO_LARGE, "a registration over 16 MiB");
    assert!(is_unknown(&app.poll("a").await));
    assert_eq!(app.case_state("t.1").await, "waiting");
}

#[actix_web::test]
async fn respond_refuses_bodies_it_cannot_read_and_the_action_stays_pending() {
    let (body, mut results) = recording("alice", vec![("send_message", json!({"message": "hi"}))]);
    let app = TestApp::spawn(alice(body)).await;
    app.register_type("a", "element-web").await;
    let action = app.next_action("a").await;
    let bad: &[(&str, Option<&str>, &str, StatusCode)] = &[
        ("malformed JSON", Some("application/json"), r#"{"response": "#, StatusCode::BAD_REQUEST),
        ("an array", Some("application/json"), r#"["sent"]"#, StatusCode::BAD_REQUEST),
        ("text/plain", Some("text/plain"), "sent it", StatusCode::UNSUPPORTED_MEDIA_TYPE),
        ("malformed JSON, no content type", None, r#"{"response":"#, StatusCode::BAD_REQUEST),
        ("a truncated JSON array, no content type", None, r#"[{"response":"#, StatusCode::BAD_REQUEST),
    ];
    for (input, content_type, body, expected) in bad {
        assert_refused(app.respond_raw("a", "", *content_type, body).await, *expected, input);
        assert_eq!(app.poll("a").await, action, "{input}: the action is still pending");
    }
    app.respond("a", json!({"response": "sent"})).await;
    assert_eq!(results.next().await, Ok(json!({"response": "sent"})), "the test saw only the good response");
}

#[actix_web::test]
async fn respond_with_nothing_pending_is_a_conflict_and_does_not_answer_the_next_action() {
    let gate = Gate::default();
    let app = TestApp::spawn(alice(gated(&gate, vec![("alice", "send_message", json!({}))]))).await;
    app.register_type("a", "element-web").await;
    app.wait_for_case("t.1", "running").await;
    assert_refused(app.respond("a", json!({"response": "early"})).await, StatusCode::CONFLICT, "nothing pending");
    gate.open();
    let action = app.next_action("a").await;
    assert_eq!(action["action"], "send_message", "the early response did not complete the action");
    assert_eq!(app.poll("a").await, action);
    assert_eq!(app.case_state("t.1").await, "running");
}

#[actix_web::test]
async fn respond_with_a_stale_action_id_is_a_conflict_and_the_current_action_stays_pending() {
    let (body, mut results) = recording("alice", vec![("login", json!({})), ("logout", json!({}))]);
    let app = TestApp::spawn(alice(body)).await;
    app.register_type("a", "element-web").await;
    let login = app.next_action("a").await;
    app.respond("a", json!({"id": login["id"], "response": "logged in"})).await;
    assert_eq!(results.next().await, Ok(json!({"response": "logged in"})));
    let logout = app.next_action("a").await;
    let stale = login["id"].as_str().unwrap();
    // A retried respond to the first action, e.g. after a lost answer, arrives late.
    let answer = app.respond_raw("a", &format!("?id={stale}"), None, r#"{"response":"logged in"}"#).await;
    assert_refused(answer, StatusCode::CONFLICT, "a stale id in the query");
    let answer = app.respond("a", json!({"id": stale, "response": "logged in"})).await;
    assert_refused(answer, StatusCode::CONFLICT, "a stale id in the body");
    assert_eq!(app.poll("a").await, logout, "the current action is still pending");
    app.respond("a", json!({"id": logout["id"], "response": "logged out"})).await;
    assert_eq!(results.next().await, Ok(json!({"response": "logged out"})));
}

#[actix_web::test]
async fn respond_before_allocation_is_a_conflict() {
    let app = TestApp::spawn(alice(steps(vec![]))).await;
    app.register_type("h", "hydrogen-web").await;
    assert_refused(app.respond("h", json!({"response": "ok"})).await, StatusCode::CONFLICT, "not allocated");
    assert_eq!(app.poll("h").await["data"]["reason"], "waiting for testcase");
}

#[actix_web::test]
async fn an_error_report_without_an_error_object_is_refused_and_the_adapter_goes_on() {
    let app = TestApp::spawn(alice(steps(vec![("alice", "send_message", json!({}))]))).await;
    app.register_type("a", "element-web").await;
    let action = app.next_action("a").await;
    let bad: &[(&str, Option<&str>, &str, StatusCode)] = &[
        ("no error object", Some("application/json"), "{}", StatusCode::BAD_REQUEST),
        ("error a string", Some("application/json"), r#"{"error": "it broke"}"#, StatusCode::BAD_REQUEST),
        ("error an array", Some("application/json"), r#"{"error": ["it broke"]}"#, StatusCode::BAD_REQUEST),
        ("malformed JSON", Some("application/json"), r#"{"error": {"#, StatusCode::BAD_REQUEST),
        ("text/plain", Some("text/plain"), "it broke", StatusCode::UNSUPPORTED_MEDIA_TYPE),
    ];
    for (input, content_type, body, expected) in bad {
        let answer = app.post_raw("/client/a/error", *content_type, body.as_bytes().to_vec()).await;
        assert_refused(answer, *expected, input);
        assert_eq!(app.poll("a").await, action, "{input}: the adapter is not finished");
    }
    assert_eq!(app.case_state("t.1").await, "running");
    assert!(app.case_snapshot("t.1").await.errors.is_empty());
}

#[actix_web::test]
async fn uploads_whose_file_names_climb_out_or_hide_are_refused_and_nothing_is_stored() {
    let gate = Gate::default();
    let app = TestApp::spawn(alice(gated(&gate, vec![]))).await;
    app.register_type("a", "element-web").await;
    app.wait_for_case("t.1", "running").await;
    let parent = app.output.path().parent().unwrap().to_path_buf();
    let marker = format!("{}-escaped.txt", app.output.path().file_name().unwrap().to_string_lossy());
    let names = [
        format!("../{marker}"),
        format!("../../{marker}"),
        format!("a/../../{marker}"),
        format!("..\\\\{marker}"),
        "..".to_string(),
        ".hidden".to_string(),
    ];
    for name in &names {
        assert_refused(app.upload("a", &[(name, b"pwned")]).await, StatusCode::BAD_REQUEST, name);
        // A good file in the same request is not kept either.
        let answer = app.upload("a", &[("good.log", b"fine"), (name, b"pwned")]).await;
        assert_refused(answer, StatusCode::BAD_REQUEST, &format!("good.log then {name}"));
    }
    assert!(app.files_on_disk().is_empty(), "{:?}", app.files_on_disk());
    assert!(!parent.join(&marker).exists() && !parent.parent().unwrap().join(&marker).exists());
    assert!(app.case_snapshot("t.1").await.files.is_empty());
    gate.open();
}

#[actix_web::test]
async fn an_upload_over_the_limit_is_refused_and_leaves_nothing_half_written() {
    let gate = Gate::default();
    let app = TestApp::spawn_with(|c| c.upload_limit = 1024, alice(gated(&gate, vec![]))).await;
    app.register_type("a", "element-web").await;
    app.wait_for_case("t.1", "running").await;
    let (small, big) = (vec![b'a'; 600], vec![b'b'; 600]);
    let answer = app.upload("a", &[("first.log", &small), ("second.log", &big)]).await;
    assert_refused(answer, StatusCode::PAYLOAD_TOO_LARGE, "1200 bytes over a 1024 byte limit");
    assert!(app.files_on_disk().is_empty(), "{:?}", app.files_on_disk());
    assert!(app.case_snapshot("t.1").await.files.is_empty());
    let (status, body) = app.upload("a", &[("first.log", &small)]).await;
    assert_eq!(status, StatusCode::OK, "an upload under the limit still works: {body}");
    assert_eq!(app.files_on_disk(), ["t.1/alice_first.log"]);
    gate.open();
}

#[actix_web::test]
async fn an_upload_that_is_not_multipart_or_has_no_file_is_refused() {
    let gate = Gate::default();
    let app = TestApp::spawn(alice(gated(&gate, vec![]))).await;
    app.register_type("a", "element-web").await;
    app.wait_for_case("t.1", "running").await;
    let answer = app.post_raw("/client/a/upload", Some("application/json"), br#"{"file": "log"}"#.to_vec()).await;
    assert_refused(answer, StatusCode::BAD_REQUEST, "a JSON body");
    let answer = app.post_raw("/client/a/upload", None, b"just bytes".to_vec()).await;
    assert_refused(answer, StatusCode::BAD_REQUEST, "no content type");
    let boundary = "b0undary";
    let form =
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--{boundary}--\r\n");
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let answer = app.post_raw("/client/a/upload", Some(&content_type), form.into_bytes()).await;
    assert_refused(answer, StatusCode::BAD_REQUEST, "multipart without a file part");
    assert!(app.files_on_disk().is_empty(), "{:?}", app.files_on_disk());
    assert_eq!(app.poll("a").await["action"], "idle", "the adapter goes on");
    gate.open();
}

#[actix_web::test]
async fn an_upload_before_allocation_is_a_conflict_and_stores_nothing() {
    let app = TestApp::spawn(vec![case("t.1", &[("alice", json!("element-ios"))], steps(vec![]))]).await;
    app.register_type("a", "element-web").await;
    let answer = app.upload("a", &[("log.txt", b"early")]).await;
    assert_refused(answer, StatusCode::CONFLICT, "not allocated");
    assert!(app.files_on_disk().is_empty(), "{:?}", app.files_on_disk());
    assert_eq!(app.poll("a").await["data"]["reason"], "waiting for testcase");
}

/// Sends `sent` as the start of an upload request, then nothing more, keeping the
/// connection open as an adapter's broken file stream does; answers what the server says.
async fn stalled_upload(app: &TestApp, sent: String) -> String {
    let addr = app.base.trim_start_matches("http://").to_string();
    actix_web::rt::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let head = format!(
            "POST /client/a/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\
             Content-Type: multipart/form-data; boundary=b0undary\r\n\r\n{sent}"
        );
        stream.write_all(head.as_bytes()).unwrap();
        let mut answer = vec![0; 4096];
        let n = stream.read(&mut answer).expect("the server answers within 10 s");
        String::from_utf8_lossy(&answer[..n]).into_owned()
    })
    .await
    .unwrap()
}

#[actix_web::test]
async fn an_upload_that_stalls_half_way_is_refused_and_leaves_nothing() {
    let gate = Gate::default();
    let stall = std::time::Duration::from_millis(300);
    let app = TestApp::spawn_with(|c| c.body_stall = stall, alice(gated(&gate, vec![]))).await;
    app.register_type("a", "element-web").await;
    app.wait_for_case("t.1", "running").await;
    let part = "--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"video.mp4\"\r\n\r\n";
    for (sent, where_) in [
        (format!("{part}part of a video"), "inside a file"),
        (format!("{part}a whole file\r\n--b0undary\r\nContent-Dispo"), "between two files"),
    ] {
        let answer = stalled_upload(&app, sent).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "stalled {where_}: {answer}");
        assert!(answer.contains("the upload stalled"), "stalled {where_}: {answer}");
        assert!(app.files_on_disk().is_empty(), "stalled {where_}: {:?}", app.files_on_disk());
    }
    gate.open();
}

/// Sends the head of `POST path` announcing 100000 bytes and `part` of the body, then
/// nothing; answers what the server says.
async fn stalled_post(app: &TestApp, path: &str, part: &str) -> String {
    let addr = app.base.trim_start_matches("http://").to_string();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 100000\r\n\
         Content-Type: application/json\r\n\r\n{part}"
    );
    common::raw_exchange(&addr, head.into_bytes(), async {}, Vec::new()).await
}

#[actix_web::test]
async fn register_respond_and_error_bodies_that_stall_are_refused_with_408() {
    let stall = std::time::Duration::from_millis(300);
    let (body, mut results) = recording("alice", vec![("send_message", json!({"message": "hi"}))]);
    let app = TestApp::spawn_with(|c| c.body_stall = stall, alice(body)).await;
    let answer = stalled_post(&app, "/client/r/register", r#"{"type": "elem"#).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "register: {answer}");
    assert!(answer.contains(r#""code":"timeout""#) && answer.contains("stalled"), "register: {answer}");
    assert!(is_unknown(&app.poll("r").await), "a stalled registration registers nothing");

    app.register_type("a", "element-web").await;
    let action = app.next_action("a").await;
    for path in ["/client/a/respond", "/client/a/error"] {
        let answer = stalled_post(&app, path, r#"{"response": "se"#).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(answer.contains(r#""code":"timeout""#), "{path}: {answer}");
        assert_eq!(app.poll("a").await, action, "{path}: the action is still pending");
    }
    app.respond("a", json!({"response": "sent"})).await;
    assert_eq!(results.next().await, Ok(json!({"response": "sent"})));
}

#[actix_web::test]
async fn a_wrong_method_on_a_known_path_is_405_with_allow_and_a_json_body() {
    let app = TestApp::spawn(alice(steps(vec![]))).await;
    for (method, path, allow) in [
        ("GET", "/client/a/register", "POST"),
        ("POST", "/client/a/poll", "GET"),
        ("PUT", "/client/a/respond", "POST"),
        ("GET", "/client/a/error", "POST"),
        ("DELETE", "/client/a/upload", "POST"),
        ("POST", "/status/junit.xml", "GET"),
    ] {
        let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
        let mut resp = app.http.request(method.clone(), app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_eq!(resp.headers().get("allow").and_then(|v| v.to_str().ok()), Some(allow), "{method} {path}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["code"], "method_not_allowed", "{method} {path}: {body}");
    }
    let (status, body) = app.get("/no/such/thing").await;
    assert_eq!((status, body["code"].clone()), (StatusCode::NOT_FOUND, json!("not_found")), "{body}");
    assert!(is_unknown(&app.poll("a").await), "nothing was registered");
}

#[actix_web::test]
async fn a_path_segment_that_is_not_utf8_gets_a_json_error() {
    let app = TestApp::spawn(alice(steps(vec![]))).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let request = "GET /client/%FF%FE/poll HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let answer = common::raw_exchange(&addr, request.as_bytes().to_vec(), async {}, Vec::new()).await;
    let status = answer.split(' ').nth(1).unwrap_or_default();
    assert!(status.starts_with('4'), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let body: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {answer}"));
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()) && body["code"].is_string(), "{body}");
}
