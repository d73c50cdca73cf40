//! The real end-to-end, through `trafficlight demo` itself (parsed from its command line
//! and run as the binary runs it, in this process): a fresh local Synapse per case (from
//! PyPI), the headless matrix-rust-sdk clients as a child process of adapters, in-process
//! network proxies. It runs the demo's scenarios (scenarios/) and tests/scenarios/e2e, all
//! cases at once: an invite and encrypted messages, a late joiner reading history per
//! history visibility, two devices of one user verifying each other by emoji, a message
//! sent while the proxy refuses the sender's sends that arrives once they work again, and a
//! scenario that must fail (a message that was never sent). Asserts on junit.xml and the
//! exit status.

mod common;

use clap::Parser;
use common::testcase;
use std::path::Path;
use std::time::Instant;
use trafficlight::cli::{Cli, Command};

/// The demo's cases, each of which must succeed.
const DEMO_CASES: [&str; 4] = ["invite_and_chat", "late_joiner_history", "verify_devices", "send_while_offline"];

#[test]
fn the_demo_runs_real_clients_on_real_homeservers_through_a_real_proxy() {
    let python = common::synapse::python();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The demo's scenarios and the one that must fail, side by side in one directory.
    let scenarios = tempfile::Builder::new().prefix("trafficlight-e2e-scenarios-").tempdir().unwrap();
    for dir in [root.join("scenarios"), root.join("tests/scenarios/e2e")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "rhai") {
                std::fs::copy(&path, scenarios.path().join(path.file_name().unwrap())).unwrap();
            }
        }
    }
    let output = tempfile::Builder::new().prefix("trafficlight-e2e-").tempdir().unwrap();
    let client = common::client_binary();
    let mut argv: Vec<std::ffi::OsString> =
        ["trafficlight", "demo", "--bind", "127.0.0.1:0", "--client-deadline", "30"].map(Into::into).to_vec();
    for (flag, value) in [
        ("--scenarios", scenarios.path()),
        ("--output", output.path()),
        ("--synapse-python", python.as_path()),
        ("--client-bin", client.as_path()),
    ] {
        argv.push(flag.into());
        argv.push(value.into());
    }
    let cli = Cli::try_parse_from(argv).expect("the demo's flags parse");
    let Command::Demo(args) = cli.command else { panic!("not the demo command") };
    let started = Instant::now();
    let status = trafficlight::demo::main(*args);
    eprintln!("e2e (trafficlight demo, 5 cases) took {:.1} s", started.elapsed().as_secs_f64());

    let junit = std::fs::read_to_string(output.path().join("junit.xml")).unwrap_or_default();
    let clients = std::fs::read_to_string(output.path().join("matrix-client.log")).unwrap_or_default();
    let context = || format!("junit.xml:\n{junit}\nclients:\n{}", tail(&clients, 80));
    for case in DEMO_CASES {
        let element = testcase(&junit, case).unwrap_or_else(|| panic!("no case {case}\n{}", context()));
        assert!(
            !element.contains("<failure") && !element.contains("<error") && !element.contains("<skipped"),
            "{case} must succeed: {element}\n{}",
            context()
        );
    }
    let must_fail = testcase(&junit, "must_fail").unwrap_or_else(|| panic!("no case must_fail\n{}", context()));
    assert!(must_fail.contains("<failure"), "must_fail must fail: {must_fail}");
    assert!(must_fail.contains("a message nobody sent"), "the failure names the missing message: {must_fail}");
    assert_eq!(status, 1, "one case failed, so the demo's exit status is 1\n{}", context());
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
