//! The `trafficlight` binary as CI runs it: `list`, and `serve` to the end of a run with
//! its summary and exit status (0 all passed, 1 otherwise, 1 on SIGTERM, 2 bad start, 3
//! reports not written), and how it stops with requests still open.

mod common;

use common::{first_line, lines_of, script_dir, ONE_STEP};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_trafficlight");

#[test]
fn list_prints_every_test_and_case_and_exits_0() {
    let out = Command::new(BIN).args(["list", "--scenarios", "scenarios"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("verify_client (scenarios/verify_client.rhai): 3 case(s)"), "{text}");
    assert!(text.contains("alice_two=element-android"), "{text}");
    assert!(text.contains("22 test(s), 24 case(s)"), "{text}");
}

#[test]
fn list_names_file_line_and_column_of_a_broken_script_and_exits_2() {
    let dir = script_dir(&[
        ("good.rhai", ONE_STEP),
        ("bad.rhai", "fn needs() { #{ clients: #{ a: [\"x\"] } } }\nlet = 5;\n"),
    ]);
    let out = Command::new(BIN).args(["list", "--scenarios"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.rhai:2:"), "{err}");
}

#[test]
fn serve_refuses_bad_flags_and_empty_directories_with_status_2() {
    let empty = script_dir(&[]);
    let out =
        Command::new(BIN).args(["serve", "--bind", "127.0.0.1:0", "--scenarios"]).arg(empty.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no test scripts"));
    let out = Command::new(BIN).args(["serve", "--idle-timeout=-3"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("idle timeout must be a positive number"));
    let out = Command::new(BIN).args(["serve", "--idle-timeout", "1e20"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a huge timeout is refused, not a panic");
}

/// Starts `trafficlight serve` on a free port; answers the child and its base URL.
fn serve(scenarios: &std::path::Path, output: &std::path::Path) -> (Child, String) {
    serve_with(scenarios, output, &[])
}

/// Like [`serve`], with `extra` flags.
fn serve_with(scenarios: &std::path::Path, output: &std::path::Path, extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--bind", "127.0.0.1:0", "--scenarios"])
        .arg(scenarios)
        .arg("--output")
        .arg(output)
        .args(extra)
        .env("RUST_LOG", "info")
        .env("TRAFFICLIGHT_EXIT_GRACE", "2")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = lines_of(child.stderr.take().unwrap());
    let listening = first_line(&stderr, Duration::from_secs(30), |l| l.contains("listening on "))
        .expect("the server says where it listens");
    let base = listening[listening.find("listening on ").unwrap() + "listening on ".len()..].trim().to_string();
    (child, base)
}

fn wait_exit(child: Child) -> (i32, String) {
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn act_once(base: &str, uuid: &str, response: &str) {
    let http = awc::Client::builder().timeout(Duration::from_secs(30)).finish();
    let ok =
        http.post(format!("{base}/client/{uuid}/register")).send_json(&json!({"type": "element-web"})).await.unwrap();
    assert_eq!(ok.status(), 200);
    let answer: Value = loop {
        let answer: Value =
            http.get(format!("{base}/client/{uuid}/poll?wait=5")).send().await.unwrap().json().await.unwrap();
        if answer["action"] != "idle" {
            break answer;
        }
    };
    assert_eq!(answer["action"], "check");
    let next: Value = http
        .post(format!("{base}/client/{uuid}/respond?wait=5"))
        .send_json(&json!({"response": response}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(next["action"], "exit", "after its only action the adapter is told to exit");
}

#[actix_web::test]
async fn serve_exits_0_when_every_case_succeeds_and_prints_the_summary() {
    let dir = script_dir(&[("one_step.rhai", ONE_STEP)]);
    let output = tempfile::tempdir().unwrap();
    let (child, base) = serve(dir.path(), output.path());
    act_once(&base, "adapter-1", "good").await;
    let (code, stdout) = wait_exit(child);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("one_step: 1/1 successful"), "{stdout}");
    assert!(stdout.contains("Overall: 1/1 succeeded"), "{stdout}");
}

#[actix_web::test]
async fn serve_exits_1_when_a_case_fails_and_prints_its_error() {
    let dir = script_dir(&[("one_step.rhai", ONE_STEP)]);
    let output = tempfile::tempdir().unwrap();
    let (child, base) = serve(dir.path(), output.path());
    act_once(&base, "adapter-1", "bad").await;
    let (code, stdout) = wait_exit(child);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("one_step: 0/1 successful"), "{stdout}");
    assert!(stdout.contains("assert_eq failed"), "{stdout}");
    assert!(stdout.contains("alice: check {}"), "the failed case's last log lines are shown: {stdout}");
    assert!(stdout.contains("Overall: 0/1 succeeded"), "{stdout}");
    let junit = std::fs::read_to_string(output.path().join("junit.xml")).expect("junit.xml is written");
    assert!(junit.contains("<failure message=\"assert_eq failed"), "{junit}");
    let json: Value = serde_json::from_slice(&std::fs::read(output.path().join("report.json")).unwrap()).unwrap();
    assert_eq!((json["succeeded"].clone(), json["cases"][0]["state"].clone()), (json!(false), json!("failed")));
}

#[actix_web::test]
async fn sigterm_ends_the_run_with_running_cases_as_shutdown_errors_and_status_1() {
    let dir = script_dir(&[("one_step.rhai", ONE_STEP)]);
    let output = tempfile::tempdir().unwrap();
    let (child, base) = serve(dir.path(), output.path());
    let http = awc::Client::default();
    http.post(format!("{base}/client/a/register")).send_json(&json!({"type": "element-web"})).await.unwrap();
    let answer: Value = http.get(format!("{base}/client/a/poll?wait=5")).send().await.unwrap().json().await.unwrap();
    assert_eq!(answer["action"], "check", "the case is running");
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let (code, stdout) = wait_exit(child);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("error"), "{stdout}");
    assert!(stdout.contains("shutdown"), "{stdout}");
    assert!(stdout.contains("Overall: 0/1 succeeded"), "{stdout}");
}

#[test]
fn serve_refuses_an_output_directory_it_cannot_write_with_status_2_before_serving() {
    let dir = script_dir(&[("one_step.rhai", ONE_STEP)]);
    let blocker = tempfile::NamedTempFile::new().unwrap();
    let output = blocker.path().join("output");
    let out = Command::new(BIN)
        .args(["serve", "--bind", "127.0.0.1:0", "--scenarios"])
        .arg(dir.path())
        .arg("--output")
        .arg(&output)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("output directory") && err.contains("not usable"), "{err}");
    assert!(!err.contains("listening on"), "it never served: {err}");
}

#[actix_web::test]
async fn serve_exits_3_when_the_reports_cannot_be_written_at_the_end() {
    let dir = script_dir(&[("one_step.rhai", ONE_STEP)]);
    let output = tempfile::tempdir().unwrap();
    let (child, base) = serve(dir.path(), output.path());
    // The directory was fine at start; now junit.xml cannot be written (a directory is in
    // its place), as when a disk fills up or a volume goes away during the run.
    std::fs::create_dir(output.path().join("junit.xml")).unwrap();
    act_once(&base, "adapter-1", "good").await;
    let (code, stdout) = wait_exit(child);
    assert_eq!(code, 3, "not 0: CI must not go green without its junit.xml\n{stdout}");
    assert!(stdout.contains("Overall: 1/1 succeeded"), "the summary is still printed: {stdout}");
}

/// A config file with `settings` (TOML lines).
fn config_file(settings: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), settings).unwrap();
    file
}

/// Opens a POST to respond that announces 100000 bytes and sends 10: a stalled client.
fn stalled_request(base: &str) -> std::net::TcpStream {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    let head = "POST /client/a/respond HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                Content-Length: 100000\r\n\r\n{\"respons";
    stream.write_all(head.as_bytes()).unwrap();
    stream
}

/// Waits for `child` to exit, at most `limit`: answers its status, or kills it and fails.
fn exit_within(mut child: Child, limit: Duration, what: &str) -> i32 {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what}: the server had not exited after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The run ends (SIGTERM) while a client holds a request with a body that never comes:
/// the exit waits `shutdown_drain` (1 s here), not the body stall (600 s) nor actix's 30 s.
#[actix_web::test]
async fn a_stalled_request_does_not_hold_the_exit_after_sigterm() {
    let dir = script_dir(&[("one_step.rhai", ONE_STEP)]);
    let output = tempfile::tempdir().unwrap();
    let config = config_file("body_stall = 600\nshutdown_drain = 1\n");
    let config_path = config.path().to_str().unwrap().to_string();
    let (child, base) = serve_with(dir.path(), output.path(), &["--config", &config_path]);
    let http = awc::Client::default();
    http.post(format!("{base}/client/a/register")).send_json(&json!({"type": "element-web"})).await.unwrap();
    let answer: Value = http.get(format!("{base}/client/a/poll?wait=5")).send().await.unwrap().json().await.unwrap();
    assert_eq!(answer["action"], "check", "the case is running");
    let _stalled = stalled_request(&base);
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    // 20 s: far above the 1 s drain on a loaded machine, below actix's default 30 s.
    let code = exit_within(child, Duration::from_secs(20), "one SIGTERM, a stalled request open");
    assert_eq!(code, 1);
}

/// A second signal exits at once, even while the server drains open connections for as
/// long as it was told to (600 s here).
#[actix_web::test]
async fn a_second_signal_exits_at_once_whatever_connections_are_open() {
    let dir = script_dir(&[("one_step.rhai", ONE_STEP)]);
    let output = tempfile::tempdir().unwrap();
    let config = config_file("body_stall = 600\nshutdown_drain = 600\n");
    let config_path = config.path().to_str().unwrap().to_string();
    let (mut child, base) = serve_with(dir.path(), output.path(), &["--config", &config_path]);
    let _stalled = stalled_request(&base);
    let stdout = lines_of(child.stdout.take().unwrap());
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let summary = first_line(&stdout, Duration::from_secs(30), |l| l.contains("Overall:"))
        .expect("the first SIGTERM ends the run with a summary");
    assert!(summary.contains("0/1"), "{summary}");
    // Now the server drains the stalled request (up to 600 s); a second signal ends that.
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let code = exit_within(child, Duration::from_secs(20), "a second SIGTERM while draining");
    assert_eq!(code, 1);
}

/// One step, playable by Element Web or the headless matrix-rust-sdk client.
const WEB_OR_SDK: &str = "fn needs() { #{ clients: #{ alice: [\"element-web\", \"matrix-rust-sdk\"] } } }\nlet r = alice.act(\"check\", #{});\nassert_eq(r.response, \"good\");\n";

fn list(dir: &std::path::Path, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(["list", "--scenarios"]).arg(dir).args(extra).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[test]
fn clients_keeps_only_cases_whose_every_slot_those_types_can_fill() {
    let (code, text, err) = list(std::path::Path::new("scenarios"), &["--clients", "element-web"]);
    assert_eq!(code, 0, "{err}");
    let (kept, left_out) = text.split_once("left out:").expect("the cases left out are listed");
    assert!(!kept.contains("=element-android") && !kept.contains("=element-call"), "{text}");
    assert!(kept.contains("alice=element-web"), "{text}");
    assert!(left_out.contains("=element-android not in --clients element-web"), "{text}");
    let (code, text, _) = list(std::path::Path::new("scenarios"), &["--clients", "element-web, element-android"]);
    assert_eq!(code, 0);
    assert!(text.contains("alice_two=element-android"), "both types: {text}");
    let (code, _, err) = list(std::path::Path::new("scenarios"), &["--clients", " , "]);
    assert_eq!(code, 2, "an empty client set is refused");
    assert!(err.contains("at least one client type"), "{err}");
}

#[test]
fn opt_in_client_types_run_only_when_named() {
    let dir = script_dir(&[("web_or_sdk.rhai", WEB_OR_SDK)]);
    let (code, text, err) = list(dir.path(), &[]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("1 test(s), 1 case(s)") && text.contains("alice=element-web"), "{text}");
    assert!(text.contains("alice=matrix-rust-sdk is an opt-in client type"), "{text}");
    let (_, text, _) = list(dir.path(), &["--clients", "all"]);
    assert!(text.contains("1 test(s), 2 case(s)") && !text.contains("left out"), "{text}");
    let (_, text, _) = list(dir.path(), &["--clients", "matrix-rust-sdk"]);
    assert!(text.contains("1 test(s), 1 case(s)") && text.contains("alice=matrix-rust-sdk"), "{text}");
}

/// A team that runs only Element adapters, after matrix-rust-sdk was added to a scenario:
/// its run ends as before, with no case waiting for a client type it never starts.
#[actix_web::test]
async fn an_element_only_run_does_not_wait_for_a_new_opt_in_client_type() {
    let dir = script_dir(&[("web_or_sdk.rhai", WEB_OR_SDK)]);
    let output = tempfile::tempdir().unwrap();
    let (child, base) = serve(dir.path(), output.path());
    act_once(&base, "adapter-1", "good").await;
    let (code, stdout) = wait_exit(child);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("Overall: 1/1 succeeded"), "{stdout}");
}

#[actix_web::test]
async fn serve_with_clients_runs_only_the_cases_those_types_can_play() {
    let dir = script_dir(&[("one_step.rhai", ONE_STEP), ("web_or_sdk.rhai", WEB_OR_SDK)]);
    let output = tempfile::tempdir().unwrap();
    let (child, base) = serve_with(dir.path(), output.path(), &["--clients", "matrix-rust-sdk"]);
    let http = awc::Client::builder().timeout(Duration::from_secs(30)).finish();
    let ok = http.post(format!("{base}/client/sdk/register")).send_json(&json!({"type": "matrix-rust-sdk"})).await;
    assert_eq!(ok.unwrap().status(), 200);
    let answer: Value = loop {
        let answer: Value =
            http.get(format!("{base}/client/sdk/poll?wait=5")).send().await.unwrap().json().await.unwrap();
        if answer["action"] != "idle" {
            break answer;
        }
    };
    assert_eq!(answer["action"], "check");
    http.post(format!("{base}/client/sdk/respond")).send_json(&json!({"response": "good"})).await.unwrap();
    let (code, stdout) = wait_exit(child);
    assert_eq!(code, 0, "the element-web-only case was left out, not waited for: {stdout}");
    assert!(stdout.contains("Overall: 1/1 succeeded"), "{stdout}");
}

#[test]
fn proxy_exits_1_with_a_clear_message_when_trafficlight_cannot_be_reached() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let out = Command::new(BIN).args(["proxy", "--trafficlight-url", &url]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot register with trafficlight"), "{err}");
}

/// Waits (at most 30 s) until `path` exists and `ok` accepts its text.
fn wait_for_file(path: &std::path::Path, ok: impl Fn(&str) -> bool) -> String {
    for _ in 0..600 {
        if let Ok(text) = std::fs::read_to_string(path) {
            if ok(&text) {
                return text;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} did not get what was expected within 30 s", path.display());
}

#[actix_web::test]
async fn sigkill_mid_run_leaves_every_ended_case_in_results_jsonl_and_a_valid_junit_xml() {
    let never = "fn needs() { #{ clients: #{ bob: [\"element-ios\"] } } }\nbob.act(\"check\", #{});\n";
    let dir = script_dir(&[("one_step.rhai", ONE_STEP), ("never.rhai", never)]);
    let output = tempfile::tempdir().unwrap();
    let (mut child, base) = serve(dir.path(), output.path());
    act_once(&base, "adapter-1", "good").await;
    let results = output.path().join("results.jsonl");
    wait_for_file(&results, |t| t.lines().count() == 1);
    // The reports are rewritten after the line is on disk: wait for them to list the case as passed.
    let junit = output.path().join("junit.xml");
    wait_for_file(&junit, |t| t.contains("one_step") && t.contains("still waiting"));
    wait_for_file(&output.path().join("report.json"), |t| t.contains("\"one_step\""));
    child.kill().unwrap(); // SIGKILL: no handler runs, nothing is flushed at exit
    child.wait().unwrap();
    let text = std::fs::read_to_string(&results).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0]["test"], "one_step");
    assert_eq!(lines[0]["state"], "success");
    assert_eq!(lines[0]["actions"][0]["action"], "check");
    let xml = std::fs::read_to_string(&junit).unwrap();
    let parsed = Command::new("python3")
        .args(["-c", "import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])"])
        .arg(&junit)
        .output()
        .unwrap();
    assert!(parsed.status.success(), "junit.xml on disk parses: {}\n{xml}", String::from_utf8_lossy(&parsed.stderr));
    let report: Value = serde_json::from_slice(&std::fs::read(output.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(report["finished"], false);
    let leftovers: Vec<_> = std::fs::read_dir(output.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no half-written file left: {leftovers:?}");
}
