//! Reports: JUnit XML that is valid whatever the errors say, with each outcome as CI
//! tools expect it (failed → <failure>, error → <error>, never started → <skipped>), served
//! at /status/junit.xml while the run goes on and written to the output directory at its end.

mod common;

use awc::http::StatusCode;
use common::{case, steps, TestApp};
use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::json;
use std::time::Duration;

/// Every element name and its attributes, in document order; panics on malformed XML.
fn elements(xml: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut reader = Reader::from_str(xml);
    let mut out = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                let name = e.name().as_ref().to_string();
                let attrs = e
                    .attributes()
                    .map(|a| {
                        let a = a.expect("well-formed attribute");
                        let value = a
                            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .expect("escaped attribute value")
                            .into_owned();
                        (a.key.as_ref().to_string(), value)
                    })
                    .collect();
                out.push((name, attrs));
            }
            Ok(Event::Eof) => return out,
            Ok(_) => {}
            Err(e) => panic!("invalid XML at {}: {e}\n{xml}", reader.buffer_position()),
        }
    }
}

/// Parses with Python's expat, which, unlike quick-xml's reader, refuses every character
/// XML 1.0 forbids: the check a CI tool reading the report would make.
fn assert_strictly_valid(xml: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .args(["-c", "import sys, xml.dom.minidom; xml.dom.minidom.parseString(sys.stdin.buffer.read())"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().unwrap().write_all(xml.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "expat refuses the XML: {}\n{xml}", String::from_utf8_lossy(&out.stderr));
}

fn attr<'a>(attrs: &'a [(String, String)], key: &str) -> &'a str {
    attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or("")
}

#[actix_web::test]
async fn junit_is_valid_xml_with_one_element_per_outcome_whatever_the_errors_contain() {
    let one = [("alice", json!("element-web"))];
    let never = [("alice", json!("element-ios"))];
    let act = || steps(vec![("alice", "send_message", json!({"message": "hi"}))]);
    // The queue timeout must outlast three registrations on a loaded machine: only the
    // lonely case (a type nobody registers) is meant to reach it.
    let app = TestApp::spawn_with(
        |c| c.timeouts.queue = Some(Duration::from_secs(3)),
        vec![
            case("pass.1", &one, act()),
            case("fail.1", &one, act()),
            case("broken.1", &one, act()),
            case("lonely.1", &never, act()),
        ],
    )
    .await;
    for (uuid, outcome) in [("p", "ok"), ("f", "action"), ("b", "adapter")] {
        app.register_type(uuid, "element-web").await;
        app.next_action(uuid).await;
        match outcome {
            "ok" => assert_eq!(app.respond(uuid, json!({"response": "sent"})).await.0, StatusCode::OK),
            kind => {
                let nasty = "<b>&\"quotes\"</b> ]]> \u{1}\u{0}\u{b} bell\u{7} \u{FFFF}end";
                assert_eq!(app.report_error(uuid, kind, nasty).await.0, StatusCode::OK);
            }
        }
    }
    let report = app.run_ended().await;
    let xml = trafficlight::reports::junit_xml(&report);
    assert_strictly_valid(&xml);
    let all = elements(&xml);
    let suites: Vec<_> = all.iter().filter(|(n, _)| n == "testsuite").collect();
    assert_eq!(suites.len(), 4, "one testsuite per test: {xml}");
    let cases: Vec<_> = all.iter().filter(|(n, _)| n == "testcase").collect();
    assert_eq!(cases.len(), 4);
    assert_eq!(all.iter().filter(|(n, _)| n == "failure").count(), 1, "{xml}");
    assert_eq!(all.iter().filter(|(n, _)| n == "error").count(), 1, "{xml}");
    let skipped: Vec<_> = all.iter().filter(|(n, _)| n == "skipped").collect();
    assert_eq!(skipped.len(), 1, "{xml}");
    assert!(attr(&skipped[0].1, "message").contains("queue timeout"), "{xml}");
    let failure = all.iter().find(|(n, _)| n == "failure").unwrap();
    assert!(attr(&failure.1, "message").contains("<b>&\"quotes\"</b> ]]>"), "the text survives, escaped: {xml}");
    let root = &all[0];
    assert_eq!(
        (root.0.as_str(), attr(&root.1, "tests"), attr(&root.1, "failures"), attr(&root.1, "errors")),
        ("testsuites", "4", "1", "1")
    );
}

#[actix_web::test]
async fn junit_is_served_while_the_run_goes_on() {
    let app = TestApp::spawn(vec![case("waits.1", &[("alice", json!("element-web"))], steps(vec![]))]).await;
    let mut resp = app.http.get(app.url("/status/junit.xml")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get("content-type").unwrap().to_str().unwrap().starts_with("application/xml"));
    let xml = String::from_utf8(resp.body().await.unwrap().to_vec()).unwrap();
    let all = elements(&xml);
    let skipped = all.iter().find(|(n, _)| n == "skipped").expect("a waiting case is listed as skipped");
    assert!(attr(&skipped.1, "message").contains("still waiting"), "{xml}");
}

#[actix_web::test]
async fn files_uploaded_during_the_exit_grace_are_in_the_report() {
    // A grace that cannot pass during the test; the test ends it (Shutdown) once the
    // upload has landed, so nothing depends on how fast this machine is.
    let app = TestApp::spawn_with(
        |c| c.timeouts.exit_grace = Duration::from_secs(3600),
        vec![case("t.1", &[("alice", json!("element-web"))], steps(vec![]))],
    )
    .await;
    app.register_type("a", "element-web").await;
    app.wait_for_case("t.1", "success").await;
    assert_eq!(app.poll("a").await["action"], "exit");
    // As Element Web does once Cypress has finished: the video comes after exit.
    assert_eq!(app.upload("a", &[("video.mp4", b"frames")]).await.0, StatusCode::OK);
    app.allocator.do_send(trafficlight_actors::allocator::Shutdown);
    let report = app.run_ended().await;
    assert_eq!(report.cases[0].files, ["alice_video.mp4"]);
}

#[actix_web::test]
async fn a_shutdown_during_the_exit_grace_ends_it_at_once() {
    // A grace far longer than the harness waits for the end of the run (30 s).
    let app = TestApp::spawn_with(
        |c| c.timeouts.exit_grace = Duration::from_secs(3600),
        vec![case("t.1", &[("alice", json!("element-web"))], steps(vec![]))],
    )
    .await;
    app.register_type("a", "element-web").await;
    app.wait_for_case("t.1", "success").await;
    app.allocator.do_send(trafficlight_actors::allocator::Shutdown);
    let report = app.run_ended().await;
    assert!(report.succeeded(), "the run had ended well before it was stopped");
}
