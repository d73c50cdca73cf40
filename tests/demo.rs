//! The `trafficlight demo` binary without matrix-sdk (the real end-to-end with the headless
//! client is examples/matrix-client/tests/e2e.rs): it starts the in-process network
//! proxies the cases need and runs them to the end; it refuses a client binary that is not
//! there; and on SIGTERM it stops the client process it started and reaps it. For that
//! last one the "client" is a shell script standing in for the headless client's process
//! (it records its arguments and the signals it gets, and never registers): what is tested
//! is the demo's handling of its child, not Matrix.

mod common;

use common::{lines_of, script_dir};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_trafficlight");

/// A proxy-only test: the proxy takes actions and answers with the original's words.
const PROXY_ONLY: &str = r#"
fn needs() { #{ clients: #{ proxy: ["network-proxy"] } } }
let r = proxy.proxy_to(#{ cs_api: "http://127.0.0.1:9" });
assert_eq(r.response, "proxyToSet");
assert_eq(proxy.disable_endpoint("/_matrix/client/v3/sync").response, "endpointDisabled");
assert_eq(proxy.enable_endpoint("/_matrix/client/v3/sync").response, "endpointEnabled");
"#;

/// Two headless-client slots, no homeserver.
const TWO_CLIENTS: &str = r#"
fn needs() { #{ clients: #{ alice: ["matrix-rust-sdk"], bob: ["matrix-rust-sdk"] } } }
alice.act("check", #{});
"#;

fn demo(scenarios: &std::path::Path, output: &std::path::Path, extra: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(["demo", "--bind", "127.0.0.1:0", "--scenarios"])
        .arg(scenarios)
        .arg("--output")
        .arg(output)
        .args(extra)
        .env("RUST_LOG", "info")
        .env_remove("TRAFFICLIGHT_CLIENTS")
        .stdin(Stdio::null());
    command
}

#[test]
fn demo_starts_the_proxies_the_cases_need_and_exits_with_the_runs_status() {
    let dir = script_dir(&[("proxy_one.rhai", PROXY_ONLY), ("proxy_two.rhai", PROXY_ONLY)]);
    let output = tempfile::tempdir().unwrap();
    let out = demo(dir.path(), output.path(), &[]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("dashboard: http://127.0.0.1:"), "{stdout}");
    assert!(stdout.contains("0 headless Matrix client(s), 2 network proxies"), "{stdout}");
    assert!(stdout.contains("Overall: 2/2 succeeded"), "{stdout}");
    let junit = std::fs::read_to_string(output.path().join("junit.xml")).unwrap();
    assert!(junit.contains("proxy_one") && junit.contains("proxy_two"), "{junit}");
}

#[test]
fn demo_refuses_a_client_binary_that_is_not_there_with_status_2_before_serving() {
    let dir = script_dir(&[("two.rhai", TWO_CLIENTS)]);
    let output = tempfile::tempdir().unwrap();
    let missing = output.path().join("no-such-client");
    let out = demo(dir.path(), output.path(), &["--client-bin", missing.to_str().unwrap()]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no-such-client"), "the error names the path: {stderr}");
    assert!(stderr.contains("cargo build -p trafficlight-matrix-client"), "the error says how to build it: {stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("dashboard:"), "nothing was served");
}

#[test]
fn demo_refuses_a_missing_synapse_with_status_2() {
    let needs_server = r#"
fn needs() { #{ clients: #{ proxy: ["network-proxy"] }, servers: #{ type: "synapse", names: ["server"] } } }
proxy.proxy_to(server);
"#;
    let dir = script_dir(&[("server.rhai", needs_server)]);
    let output = tempfile::tempdir().unwrap();
    let python = output.path().join("no-python");
    let out = demo(dir.path(), output.path(), &["--synapse-python", python.to_str().unwrap()]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no-python") && stderr.contains("scripts/install-synapse.sh"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn sigterm_stops_the_run_and_the_client_process_the_demo_started() {
    use std::os::unix::fs::PermissionsExt;
    let dir = script_dir(&[("two.rhai", TWO_CLIENTS)]);
    let output = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let client = state.path().join("client.sh");
    let s = state.path().display();
    std::fs::write(
        &client,
        format!(
            "#!/bin/sh\ntrap 'echo TERM > {s}/signal; exit 0' TERM\necho \"$@\" > {s}/args.tmp\nmv {s}/args.tmp {s}/args\necho $$ > {s}/pid.tmp\nmv {s}/pid.tmp {s}/pid\nwhile true; do sleep 0.1; done\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&client, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut child = demo(dir.path(), output.path(), &["--client-bin", client.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = lines_of(child.stdout.take().unwrap());
    let pid_file = state.path().join("pid");
    let started = Instant::now();
    while !pid_file.exists() {
        assert!(started.elapsed() < Duration::from_secs(60), "the demo never started its client");
        std::thread::sleep(Duration::from_millis(50));
    }
    let args = std::fs::read_to_string(state.path().join("args")).unwrap();
    assert!(args.contains("--count 2"), "one adapter per slot: {args}");
    assert!(args.contains("--url http://127.0.0.1:"), "{args}");
    let client_pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();

    // SAFETY: signalling the child we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    // Everything it printed: the pipe closes once it has exited (the summary comes last).
    let lines: Vec<String> = std::iter::from_fn(|| stdout.recv_timeout(Duration::from_secs(10)).ok()).collect();
    let stdout = lines.join("\n");
    assert_eq!(status.code(), Some(1), "a stopped run is not a success: {stdout}");
    assert!(stdout.contains("Overall: 0/1 succeeded"), "the summary is printed: {stdout}");
    let signal = std::fs::read_to_string(state.path().join("signal")).unwrap_or_default();
    assert_eq!(signal.trim(), "TERM", "the client process got SIGTERM from the demo");
    // Gone, not a zombie: the demo reaped it.
    let proc = std::path::PathBuf::from(format!("/proc/{client_pid}/stat"));
    let stat = std::fs::read_to_string(&proc).unwrap_or_default();
    assert!(stat.is_empty() || !stat.contains(") Z"), "the client process is still there: {stat}");
}
