//! The dashboard over HTTP: pages for a run with passed, failed, errored, waiting and
//! running cases; hostile strings escaped everywhere; why a case waits; downloads that are
//! never rendered and never leave their case's folder; /api/status agreeing with the pages;
//! /metrics as Prometheus text; the live event stream.

mod common;

use awc::http::StatusCode;
use common::{case, gated, steps, Gate, TestApp};
use serde_json::{json, Value};
use std::time::Duration;

/// A string an adapter or script might send that would break a page if not escaped.
const HOSTILE: &str = "<script>alert(1)</script> \"dq\" 'sq' ]]> &amp;";
/// The uploaded file's name as the case page links to it.
const FILE_LINK: &str = "alice%5F%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E%2Etxt";
const HOSTILE_ESCAPED: &str = "&lt;script&gt;alert(1)&lt;&#x2F;script&gt;";

async fn page(app: &TestApp, path: &str) -> (StatusCode, String) {
    let mut resp = app.http.get(app.url(path)).send().await.expect("request sent");
    let status = resp.status();
    let body = resp.body().limit(16 * 1024 * 1024).await.expect("body read");
    (status, String::from_utf8(body.to_vec()).expect("utf-8"))
}

/// The number shown in the element carrying `data-count="KEY"`.
fn shown_count(html: &str, key: &str) -> usize {
    let marker = format!("data-count=\"{key}\">");
    let at = html.find(&marker).unwrap_or_else(|| panic!("no count {key} on the page"));
    let rest = &html[at + marker.len()..];
    rest[..rest.find('<').unwrap()].trim().parse().unwrap()
}

fn assert_no_raw_hostile(html: &str) {
    assert!(!html.contains("<script>alert"), "a script tag from an adapter made it into the page raw");
    assert!(!html.contains("\"dq\""), "a raw double quote from an adapter could break out of an attribute");
    assert!(!html.contains("<img src=x"), "a raw tag from a file name made it into the page");
}

/// A run with one case in each state: pass (success), fail (failed), broken (error),
/// lonely (waiting for a type nobody has), busy (running, its body held at a gate).
async fn mixed_run() -> (TestApp, Gate) {
    let one = [("alice", json!("element-web"))];
    let act = || steps(vec![("alice", "send_message", json!({ "message": HOSTILE }))]);
    let gate = Gate::default();
    let app = TestApp::spawn(vec![
        case("pass.1", &one, act()),
        case("fail.1", &one, act()),
        case("broken.1", &one, act()),
        case("lonely.1", &[("bob", json!("element-ios"))], act()),
        case("busy.1", &one, gated(&gate, vec![])),
    ])
    .await;
    for (uuid, outcome) in [("p", "ok"), ("f", "action"), ("b", "adapter")] {
        let registration = json!({ "type": "element-web", "note": HOSTILE });
        assert_eq!(app.register(uuid, registration).await.0, StatusCode::OK);
        app.next_action(uuid).await;
        if uuid == "f" {
            let file = ("<img src=x onerror=alert(1)>.txt", b"<script>alert(2)</script>" as &[u8]);
            assert_eq!(app.upload(uuid, &[file]).await.0, StatusCode::OK);
        }
        match outcome {
            "ok" => assert_eq!(app.respond(uuid, json!({ "response": HOSTILE })).await.0, StatusCode::OK),
            kind => assert_eq!(app.report_error(uuid, kind, HOSTILE).await.0, StatusCode::OK),
        }
    }
    app.wait_for_case("pass.1", "success").await;
    app.wait_for_case("fail.1", "failed").await;
    app.wait_for_case("broken.1", "error").await;
    app.register_type("r", "element-web").await;
    app.wait_for_case("busy.1", "running").await;
    (app, gate)
}

#[actix_web::test]
async fn root_redirects_to_status() {
    let app = TestApp::spawn(vec![case("t.1", &[("alice", json!("element-web"))], steps(vec![]))]).await;
    let http = awc::Client::builder().disable_redirects().finish();
    let resp = http.get(app.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(resp.headers().get("location").unwrap(), "/status");
    assert_eq!(page(&app, "/status/").await.0, StatusCode::OK, "the original's /status/ works too");
}

#[actix_web::test]
async fn status_page_counts_every_state_lists_adapters_and_says_why_a_case_waits() {
    let (app, gate) = mixed_run().await;
    let (status, html) = page(&app, "/status").await;
    assert_eq!(status, StatusCode::OK);
    for (state, n) in [("success", 1), ("failed", 1), ("error", 1), ("waiting", 1), ("running", 1)] {
        assert_eq!(shown_count(&html, &format!("case:{state}")), n, "{state} cases");
    }
    assert_eq!(shown_count(&html, "test:pass:success"), 1);
    assert_eq!(shown_count(&html, "adapter:finished"), 3);
    assert_eq!(shown_count(&html, "adapter:reserved") + shown_count(&html, "adapter:busy"), 1);
    assert!(html.contains("slot bob needs a client of type element-ios"), "why lonely.1 waits");
    assert!(html.contains(r#"data-adapter="r""#), "the running case's adapter is listed");
    assert!(html.contains("s ago"), "last poll shown as an age");
    assert!(html.contains(HOSTILE_ESCAPED), "the adapter's registration is shown, escaped");
    assert_no_raw_hostile(&html);
    // /api/status agrees with the page.
    let (_, api) = app.get("/api/status").await;
    for state in ["success", "failed", "error", "waiting", "running"] {
        assert_eq!(api["counts"]["cases"][state], shown_count(&html, &format!("case:{state}")), "{state}");
    }
    for state in ["idle", "reserved", "busy", "finished", "dropped"] {
        assert_eq!(api["counts"]["adapters"][state], shown_count(&html, &format!("adapter:{state}")), "{state}");
    }
    assert_eq!(api["queue"][0]["id"], "lonely.1");
    assert_eq!(api["queue"][0]["slots"][0]["idle_matching"], 0);
    assert_eq!(api["adapters"].as_array().unwrap().len(), 4);
    gate.open();
}

#[actix_web::test]
async fn test_and_case_pages_show_slots_history_actions_errors_and_files_escaped() {
    let (app, gate) = mixed_run().await;
    let (status, html) = page(&app, "/status/fail/suitestatus").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("fail.1") && html.contains("failed"), "{html}");
    assert_no_raw_hostile(&html);

    let (status, html) = page(&app, "/status/fail.1/status").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(">f<"), "the slot's adapter uuid is shown");
    assert!(html.contains("send_message"), "the action log names the action");
    assert!(html.contains(HOSTILE_ESCAPED), "the error and the action data are shown, escaped");
    assert!(html.contains("&quot;dq&quot;") || html.contains("\\&quot;dq\\&quot;"), "quotes are escaped");
    assert!(html.contains("]]&gt;"), "]]> is escaped");
    for state in ["waiting", "preparing", "running", "failed"] {
        assert!(html.contains(&format!("state-{state}\">{state}")), "history has {state}");
    }
    let link = format!("/status/fail%2E1/files/{FILE_LINK}");
    assert!(html.contains(&link), "the upload is a download link: {html}");
    assert_no_raw_hostile(&html);

    let (status, html) = page(&app, "/status/lonely.1/status").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("slot bob needs a client of type element-ios"), "{html}");
    assert!(html.contains("no idle element-ios adapter"), "{html}");

    let (_, api) = app.get("/api/cases/fail.1").await;
    assert_eq!(api["case"]["state"], "failed");
    assert_eq!(api["case"]["actions"][0]["action"], "send_message");
    assert!(api["case"]["actions"][0]["error"].as_str().unwrap().contains("<script>"), "raw in JSON: {api}");
    assert_eq!(api["slots"][0]["adapter"]["uuid"], "f");
    let (status, api) = app.get("/api/cases/nope.1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(api["error"].as_str().unwrap().contains("nope.1"));
    assert_eq!(page(&app, "/status/nope.1/status").await.0, StatusCode::NOT_FOUND);
    assert_eq!(page(&app, "/status/nope/suitestatus").await.0, StatusCode::NOT_FOUND);
    gate.open();
}

#[actix_web::test]
async fn uploads_download_as_attachments_and_only_from_their_case() {
    let (app, gate) = mixed_run().await;
    let name = FILE_LINK;
    let mut resp = app.http.get(app.url(&format!("/status/fail%2E1/files/{name}"))).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let header = |n: &str| resp.headers().get(n).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    assert!(header("content-disposition").starts_with("attachment"), "{}", header("content-disposition"));
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("content-type"), "application/octet-stream");
    assert_eq!(resp.body().await.unwrap().as_ref(), b"<script>alert(2)</script>");
    // Bad input tried: another case's file, a name the case does not list, climbing out.
    for path in [
        format!("/status/pass.1/files/{name}"),
        "/status/fail.1/files/alice_other.txt".to_string(),
        "/status/fail.1/files/..%2F..%2Fresults.jsonl".to_string(),
        "/status/fail.1/files/%2E%2E".to_string(),
        "/status/nope.1/files/x".to_string(),
    ] {
        let (status, body) = app.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: a JSON error");
    }
    gate.open();
}

/// Checks the Prometheus text format: every sample belongs to a family declared with
/// `# TYPE` before it, names and values are well formed. Answers `name{labels} → value`.
fn parse_prometheus(text: &str) -> Vec<(String, f64)> {
    let mut types: Vec<(String, String)> = Vec::new();
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind), "{line}");
            types.push((name.to_string(), kind.to_string()));
            continue;
        }
        if line.starts_with('#') {
            assert!(line.starts_with("# HELP "), "only HELP and TYPE comments: {line}");
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample is 'series value'");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line}"));
        let name = series.split('{').next().unwrap();
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'), "bad name {name}");
        if let Some(labels) = series.strip_prefix(name) {
            if !labels.is_empty() {
                assert!(labels.starts_with('{') && labels.ends_with('}'), "bad labels in {line}");
            }
        }
        let family = types.iter().rev().find(|(t, kind)| {
            name == t
                || (kind == "histogram"
                    && [format!("{t}_bucket"), format!("{t}_sum"), format!("{t}_count")].contains(&name.to_string()))
        });
        assert!(family.is_some(), "sample without a # TYPE before it: {line}");
        samples.push((series.to_string(), value));
    }
    samples
}

#[actix_web::test]
async fn metrics_are_prometheus_text_with_a_type_for_every_sample() {
    let (app, gate) = mixed_run().await;
    let mut resp = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get("content-type").unwrap().to_str().unwrap().starts_with("text/plain"));
    let text = String::from_utf8(resp.body().await.unwrap().to_vec()).unwrap();
    let samples = parse_prometheus(&text);
    let value = |series: &str| {
        samples.iter().find(|(s, _)| s == series).map(|(_, v)| *v).unwrap_or_else(|| panic!("no {series}:\n{text}"))
    };
    assert_eq!(value("trafficlight_cases{state=\"success\"}"), 1.0);
    assert_eq!(value("trafficlight_cases{state=\"waiting\"}"), 1.0);
    assert_eq!(value("trafficlight_adapters{state=\"finished\",type=\"element-web\"}"), 3.0);
    assert_eq!(value("trafficlight_action_duration_seconds_count"), 3.0, "three actions completed or failed");
    assert_eq!(value("trafficlight_action_duration_seconds_bucket{le=\"+Inf\"}"), 3.0);
    assert_eq!(value("trafficlight_case_wait_seconds_count"), 4.0, "four cases got adapters");
    assert!(samples.iter().any(|(s, _)| s == "trafficlight_provisioning_seconds_count"));
    assert!(samples.iter().any(|(s, _)| s == "trafficlight_adapters_dropped_total"));
    gate.open();
}

#[actix_web::test]
async fn the_event_stream_tells_a_case_going_from_running_to_success() {
    let gate = Gate::default();
    let app = TestApp::spawn(vec![case("t.1", &[("alice", json!("element-web"))], gated(&gate, vec![]))]).await;
    app.register_type("a", "element-web").await;
    app.wait_for_case("t.1", "running").await;
    let resp = app.http.get(app.url("/status/events?case=t.1")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers().get("content-type").unwrap(), "text/event-stream");
    let mut stream = resp;
    use futures::StreamExt;
    let mut text = String::new();
    let mut opened = false;
    let found = actix_web::rt::time::timeout(Duration::from_secs(20), async {
        while let Some(chunk) = stream.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if !opened && text.contains("event: hello") {
                opened = true;
                gate.open(); // the case ends only once the stream is listening
            }
            if text.contains("event: case_ended") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "{text}");
    let line = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .find(|e| e["kind"] == "case" && e["to"] == "success")
        .expect("a case event to success");
    assert_eq!((line["id"].as_str(), line["from"].as_str()), (Some("t.1"), Some("running")));
}

#[actix_web::test]
async fn refresh_is_honoured_as_in_the_original() {
    let app = TestApp::spawn(vec![case("t.1", &[("alice", json!("element-web"))], steps(vec![]))]).await;
    let (_, html) = page(&app, "/status?refresh=5000").await;
    assert!(html.contains(r#"<meta http-equiv="refresh" content="5">"#), "{html}");
    let (_, html) = page(&app, "/status/t.1/status?refresh=1500").await;
    assert!(html.contains(r#"content="2""#));
    let (_, html) = page(&app, "/status").await;
    assert!(!html.contains("http-equiv=\"refresh\"") && html.contains("/status/live.js"));
}

/// The adapters' uuids listed on a status page, in order.
fn listed_adapters(html: &str) -> Vec<String> {
    html.split("data-adapter=\"").skip(1).map(|rest| rest[..rest.find('"').unwrap()].to_string()).collect()
}

#[actix_web::test]
async fn a_status_page_of_thousands_of_adapters_counts_them_all_and_pages_the_list() {
    // 2,500 adapters of two types: one is given the running case, the rest stay idle. The
    // counts come from the states the adapters' actors publish, the list is paged (100 a
    // page): the pages together list every adapter exactly once, and the page and
    // /api/status agree on counts and on what page 2 lists.
    const N: usize = 2_500;
    let gate = Gate::default();
    let app = TestApp::spawn(vec![
        case("busy.1", &[("alice", json!("element-web"))], gated(&gate, vec![])),
        case("lonely.1", &[("bob", json!("element-ios"))], steps(vec![])),
    ])
    .await;
    let types = ["element-web", "hydrogen-web"];
    let uuids: Vec<String> = (0..N).map(|i| format!("a{i:04}")).collect();
    for (b, batch) in uuids.chunks(100).enumerate() {
        let registrations = batch.iter().enumerate().map(|(j, uuid)| {
            let i = b * 100 + j;
            app.register(uuid, json!({ "type": types[i % 2], "n": i }))
        });
        for (status, body) in futures::future::join_all(registrations).await {
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }
    app.wait_for_case("busy.1", "running").await;
    // The actors publish their states as they start: wait until all are counted.
    let mut api = Value::Null;
    for _ in 0..400 {
        api = app.get("/api/status?adapters=0").await.1;
        let counts = &api["counts"]["adapters"];
        let live: u64 = ["idle", "reserved", "busy"].iter().map(|s| counts[s].as_u64().unwrap()).sum();
        if live == N as u64 {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(api["counts"]["adapters"]["idle"], N - 1, "{api}");
    assert!(api["adapters"].is_null(), "adapters=0 leaves the list out");

    let (status, html) = page(&app, "/status").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown_count(&html, "adapter:idle"), N - 1);
    assert_eq!(shown_count(&html, "adapter:reserved") + shown_count(&html, "adapter:busy"), 1);
    assert_eq!(shown_count(&html, "type:element-web:idle"), N / 2 - 1, "one element-web adapter has the case");
    assert_eq!(shown_count(&html, "type:hydrogen-web:idle"), N / 2);
    assert!(html.contains(&format!("({N} known)")), "the total is shown");
    assert!(html.contains("page 1 of 25"), "100 a page");
    for state in ["idle", "reserved", "busy", "finished", "dropped"] {
        assert_eq!(api["counts"]["adapters"][state], shown_count(&html, &format!("adapter:{state}")), "{state}");
    }
    assert_eq!(api["counts"]["cases"]["running"], shown_count(&html, "case:running"));
    assert_eq!(shown_count(&html, "case:waiting"), 1);
    assert!(html.contains("slot bob needs a client of type element-ios"), "why lonely.1 waits");
    let first = listed_adapters(&html);
    assert_eq!(first.len(), 100, "one page of adapters, not all of them");

    let (_, html2) = page(&app, "/status?page=2").await;
    assert!(html2.contains("page 2 of 25"));
    let second = listed_adapters(&html2);
    assert_eq!(second.len(), 100);
    assert!(second.iter().all(|u| !first.contains(u)), "page 2 lists the next adapters, not page 1's again");
    let (_, api2) = app.get("/api/status?page=2").await;
    let api_second: Vec<String> =
        api2["adapters"].as_array().unwrap().iter().map(|a| a["uuid"].as_str().unwrap().to_string()).collect();
    assert_eq!(api_second, second, "/api/status?page=2 lists what the page does");
    assert_eq!(api2["adapters_page"]["pages"], 25);
    assert_eq!(api2["adapters_page"]["total"], N);

    // Every page of /api/status together: each adapter exactly once.
    let mut seen = std::collections::BTreeSet::new();
    for p in 1..=25 {
        let (_, api) = app.get(&format!("/api/status?page={p}")).await;
        for a in api["adapters"].as_array().unwrap() {
            assert!(seen.insert(a["uuid"].as_str().unwrap().to_string()), "{} listed twice", a["uuid"]);
        }
    }
    assert_eq!(seen.len(), N);
    // A page past the end shows the last one; the state filter lists only that state.
    let (_, last) = page(&app, "/status?page=999").await;
    assert!(last.contains("page 25 of 25"));
    let (_, reserved) = page(&app, "/status?state=reserved").await;
    let (_, busy) = page(&app, "/status?state=busy").await;
    let mut taken = listed_adapters(&reserved);
    taken.extend(listed_adapters(&busy));
    assert_eq!(taken.len(), 1, "only the adapter with the case");
    let (_, api_case) = app.get("/api/cases/busy.1").await;
    assert_eq!(api_case["slots"][0]["uuid"].as_str(), Some(taken[0].as_str()));
    gate.open();
}

#[actix_web::test]
async fn metrics_count_an_adapter_that_timed_out_and_not_one_whose_error_text_says_so() {
    // Bad input tried: an adapter error whose text reads like a timeout. Only the adapter
    // that really timed out (its action past the action timeout) is counted.
    let wait = || steps(vec![("alice", "wait_forever", json!({}))]);
    let app = TestApp::spawn_with(
        |c| c.timeouts.action = Some(Duration::from_secs(3)),
        vec![
            case("liar.1", &[("alice", json!("hydrogen-web"))], wait()),
            case("slow.1", &[("alice", json!("element-web"))], wait()),
        ],
    )
    .await;
    let timed_out = |text: &str| -> f64 {
        let samples = parse_prometheus(text);
        samples.iter().find(|(s, _)| s == "trafficlight_adapters_timed_out_total").map(|(_, v)| *v).expect(text)
    };
    app.register_type("liar", "hydrogen-web").await;
    app.next_action("liar").await;
    let (status, _) = app.report_error("liar", "adapter", "alice (adapter x) timed out: not really").await;
    assert_eq!(status, StatusCode::OK);
    app.wait_for_case("liar.1", "error").await;
    let text = page(&app, "/metrics").await.1;
    assert_eq!(timed_out(&text), 0.0, "an error that merely says 'timed out' is not a timeout:\n{text}");

    app.register_type("slow", "element-web").await;
    app.next_action("slow").await;
    app.wait_for_case("slow.1", "error").await;
    let errors = app.case_snapshot("slow.1").await.errors.join("\n");
    assert!(errors.contains("did not complete within"), "{errors}");
    let text = page(&app, "/metrics").await.1;
    assert_eq!(timed_out(&text), 1.0, "{text}");
    let samples = parse_prometheus(&text);
    let value = |series: &str| samples.iter().find(|(s, _)| s == series).map(|(_, v)| *v);
    assert_eq!(value("trafficlight_actions_failed_total"), Some(2.0), "both actions failed");
    assert_eq!(value("trafficlight_action_duration_seconds_count"), Some(2.0));
    assert_eq!(value("trafficlight_adapters_total{state=\"finished\"}"), Some(2.0));
    assert!(value("trafficlight_live_actors{kind=\"adapter\"}").is_some(), "the core's gauges are exported");
}
