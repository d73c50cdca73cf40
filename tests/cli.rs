//! The `trafficlight` binary as CI runs it: `list`, and `serve` to the end of a run with
//! its summary and exit status (0 all passed, 1 otherwise, 1 on SIGTERM, 2 bad start).

mod common;

use common::script_dir;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_trafficlight");

const ONE_STEP: &str = "fn needs() { #{ clients: #{ alice: [\"element-web\"] } } }\nlet r = alice.act(\"check\", #{});\nassert_eq(r.response, \"good\");\n";

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
    let mut child = Command::new(BIN)
        .args(["serve", "--bind", "127.0.0.1:0", "--scenarios"])
        .arg(scenarios)
        .arg("--output")
        .arg(output)
        .env("RUST_LOG", "info")
        .env("TRAFFICLIGHT_EXIT_GRACE", "2")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("listening on ") {
                let _ = tx.send(line[at + "listening on ".len()..].trim().to_string());
            }
        }
    });
    let base = rx.recv_timeout(Duration::from_secs(30)).expect("the server says where it listens");
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
