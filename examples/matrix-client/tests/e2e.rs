//! The real end-to-end: a real Synapse (from PyPI), trafficlight, and the headless
//! matrix-rust-sdk clients as adapters, running the demo's scenarios (scenarios/) and
//! tests/scenarios/e2e in parallel: an invite and encrypted messages, a late joiner reading history per history
//! visibility, two devices of one user verifying each other by emoji, and a scenario that
//! must fail (a message that was never sent). Asserts on junit.xml and the exit status.

mod common;

use common::synapse::Synapse;
use common::{homeserver, run_scenarios, testcase};
use std::path::Path;

/// Clients the e2e scenarios need at once (2 + 3 + 2 + 1), so every case runs in parallel.
const CLIENTS: usize = 8;

#[actix_web::test]
async fn real_clients_on_a_real_homeserver() {
    let synapse = tokio::task::spawn_blocking(Synapse::start).await.unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (demo, e2e) = (root.join("scenarios"), root.join("tests/scenarios/e2e"));
    let run = run_scenarios(&[&demo, &e2e], vec![homeserver("server", &synapse)], CLIENTS, &["--deadline", "30"]).await;
    eprintln!("e2e run took {:.1} s", run.took.as_secs_f64());
    let junit = &run.junit;
    let context = || format!("junit.xml:\n{junit}\nclients:\n{}", tail(&run.client_log, 80));
    assert!(run.clients_exited, "the client process exits when told to\n{}", context());

    for case in ["invite_and_chat", "late_joiner_history", "verify_devices"] {
        let element = testcase(junit, case).unwrap_or_else(|| panic!("no case {case}\n{}", context()));
        assert!(
            !element.contains("<failure") && !element.contains("<error") && !element.contains("<skipped"),
            "{case} must succeed: {element}\n{}",
            context()
        );
    }
    let must_fail = testcase(junit, "must_fail").unwrap_or_else(|| panic!("no case must_fail\n{}", context()));
    assert!(must_fail.contains("<failure"), "must_fail must fail: {must_fail}");
    assert!(must_fail.contains("a message nobody sent"), "the failure names the missing message: {must_fail}");
    assert_eq!(run.status, 1, "one case failed, so the run's exit status is 1\n{}", context());
    drop(synapse);
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
