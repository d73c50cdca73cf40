//! `trafficlight swarm` against a real server over HTTP: a swarm runs a whole suite to
//! the end, and its faults (failing, hanging, dying adapters) end cases as the protocol
//! says. Fault tests use a short active timeout and wait for the run's end, not on sleeps.

mod common;

use common::{script_cases, TestApp};
use std::time::Duration;
use trafficlight::swarm::{self, Mode, Summary, SwarmArgs};
use trafficlight_actors::snapshot::CaseState;
use trafficlight_actors::RunReport;

/// A swarm of `adapters` adapters of `types`, one life each, against `app`.
fn swarm_of(app: &TestApp, adapters: usize, types: &[String], tune: impl FnOnce(&mut SwarmArgs)) -> swarm::Options {
    let mut args = SwarmArgs {
        url: app.base.clone(),
        adapters,
        types: types.to_vec(),
        lives: Some(1),
        seed: Some(7),
        wait: 5.0,
        ..SwarmArgs::default()
    };
    tune(&mut args);
    args.options().expect("valid swarm flags")
}

/// Runs the swarm and waits for the end of the server's run; answers both.
async fn run(app: &TestApp, options: swarm::Options) -> (Summary, RunReport) {
    let swarm = actix_web::rt::spawn(swarm::run_here(options));
    let report = app.run_ended().await;
    let summary = actix_web::rt::time::timeout(Duration::from_secs(60), swarm)
        .await
        .expect("every simulated adapter stops once the run has ended")
        .unwrap();
    (summary, report)
}

fn states(report: &RunReport) -> Vec<(String, CaseState)> {
    report.cases.iter().map(|c| (c.test.clone(), c.state)).collect()
}

fn types(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

fn quoted(types: &[String]) -> String {
    types.iter().map(|t| format!("{t:?}")).collect::<Vec<_>>().join(", ")
}

#[actix_web::test]
async fn two_hundred_adapters_run_a_hundred_cases_to_the_end_and_every_case_passes() {
    // alice takes one of ten types, bob one of ten others: 100 cases, two adapters each.
    let (a, b) = (types("a", 10), types("b", 10));
    let script = format!(
        "fn needs() {{ #{{ clients: #{{ alice: [{}], bob: [{}] }} }} }}\n\
         alice.act(\"hello\", #{{ n: 1 }});\n\
         let r = bob.act(\"reply\", #{{}});\n\
         assert_eq(r.response, \"reply_done\");\n\
         alice.send_message(\"hi\");\n\
         bob.verify_message_in_timeline(\"hi\");\n\
         assert_eq(type_of(alice.get_timeline()), \"array\");\n",
        quoted(&a),
        quoted(&b)
    );
    let app = TestApp::spawn(script_cases(&[("pairs.rhai", &script)])).await;
    let all_types: Vec<String> = a.iter().chain(&b).cloned().collect();
    let (summary, report) = run(&app, swarm_of(&app, 200, &all_types, |_| {})).await;
    assert_eq!(report.cases.len(), 100);
    let not_passed: Vec<_> = report.cases.iter().filter(|c| c.state != CaseState::Success).collect();
    assert!(not_passed.is_empty(), "cases that did not pass: {not_passed:?}");
    assert_eq!(summary.errors, 0, "{summary}");
    assert_eq!((summary.registrations, summary.exits), (200, 200), "{summary}");
    assert_eq!(summary.actions, 500, "five actions per case: {summary}");
    assert!(
        summary.round_trip.is_some_and(|l| l.count == 300),
        "round trips after each answer but the first: {summary}"
    );
}

#[actix_web::test]
async fn respond_and_wait_and_classic_adapters_also_run_cases_and_live_again_under_new_uuids() {
    // Three cases one after another for one adapter per mode: it exits after each and
    // registers again under a new uuid, as an adapter under a supervisor does.
    for mode in [Mode::RespondAndWait, Mode::Classic] {
        let script = "fn needs() { #{ clients: #{ alice: [\"x\"] } } }\n\
                      let r = alice.act(\"step\", #{});\nassert_eq(r.response, \"step_done\");\n\
                      alice.act(\"step\", #{});\n";
        let cases = [("one.rhai", script), ("two.rhai", script), ("three.rhai", script)];
        let app = TestApp::spawn(script_cases(&cases)).await;
        let options = swarm_of(&app, 1, &["x".into()], |a| {
            a.mode = mode;
            a.lives = Some(3);
            // The server asks for 5 s sleeps while the script prepares its next action.
            a.max_delay = Some(20);
        });
        let (summary, report) = run(&app, options).await;
        assert!(report.succeeded(), "{mode:?}: {}", report.summary());
        assert_eq!((summary.registrations, summary.exits, summary.actions), (3, 3, 6), "{mode:?}: {summary}");
        let uuids: std::collections::HashSet<_> =
            report.cases.iter().map(|c| c.slots[0].uuid.clone().expect("allocated")).collect();
        assert_eq!(uuids.len(), 3, "a new uuid for every life: {uuids:?}");
    }
}

#[actix_web::test]
async fn failing_adapters_fail_their_cases() {
    let kinds = types("f", 10);
    let script =
        format!("fn needs() {{ #{{ clients: #{{ alice: [{}] }} }} }}\nalice.act(\"step\", #{{}});\n", quoted(&kinds));
    let app = TestApp::spawn(script_cases(&[("fail.rhai", &script)])).await;
    let (summary, report) = run(&app, swarm_of(&app, 10, &kinds, |a| a.fail = 1.0)).await;
    assert_eq!(report.cases.len(), 10);
    for case in &report.cases {
        assert_eq!(case.state, CaseState::Failed, "{case:?}");
        assert!(case.errors.iter().any(|e| e.contains("was told to fail step")), "{:?}", case.errors);
    }
    assert_eq!((summary.failed, summary.errors), (10, 0), "{summary}");
}

#[actix_web::test]
async fn hanging_adapters_are_timed_out_and_their_cases_error() {
    let kinds = types("h", 4);
    let script =
        format!("fn needs() {{ #{{ clients: #{{ alice: [{}] }} }} }}\nalice.act(\"step\", #{{}});\n", quoted(&kinds));
    let app =
        TestApp::spawn_with(|c| c.timeouts.active = Duration::from_secs(1), script_cases(&[("hang.rhai", &script)]))
            .await;
    // Silent for 5 s, well past the 1 s active timeout; then it polls and hears `exit`.
    let (summary, report) = run(&app, swarm_of(&app, 4, &kinds, |a| (a.hang, a.hang_for) = (1.0, 5.0))).await;
    for case in &report.cases {
        assert_eq!(case.state, CaseState::Error, "{case:?}");
        assert!(case.errors.iter().any(|e| e.contains("neither polled nor responded")), "{:?}", case.errors);
    }
    assert_eq!((summary.hung, summary.exits, summary.errors), (4, 4, 0), "{summary}");
}

#[actix_web::test]
async fn an_adapter_that_dies_mid_action_errors_only_its_own_case() {
    let healthy = types("ok", 5);
    let scripts = [
        ("doomed.rhai", "fn needs() { #{ clients: #{ alice: [\"doomed\"] } } }\nalice.act(\"step\", #{});\n".to_string()),
        (
            "healthy.rhai",
            format!(
                "fn needs() {{ #{{ clients: #{{ alice: [{}] }} }} }}\nalice.act(\"step\", #{{}});\nalice.act(\"step\", #{{}});\n",
                quoted(&healthy)
            ),
        ),
    ];
    let scripts: Vec<(&str, &str)> = scripts.iter().map(|(n, s)| (*n, s.as_str())).collect();
    let app = TestApp::spawn_with(|c| c.timeouts.active = Duration::from_secs(1), script_cases(&scripts)).await;
    let dying = actix_web::rt::spawn(swarm::run_here(swarm_of(&app, 1, &["doomed".into()], |a| a.die = 1.0)));
    let (summary, report) = run(&app, swarm_of(&app, 5, &healthy, |_| {})).await;
    let dying = dying.await.unwrap();
    assert_eq!((dying.died, dying.exits), (1, 0), "it never heard exit: {dying}");
    let mut seen = states(&report);
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected = vec![("doomed".to_string(), CaseState::Error)];
    expected.extend((0..5).map(|_| ("healthy".to_string(), CaseState::Success)));
    assert_eq!(seen, expected);
    let doomed = report.cases.iter().find(|c| c.test == "doomed").unwrap();
    assert!(doomed.errors.iter().any(|e| e.contains("neither polled nor responded")), "{:?}", doomed.errors);
    assert_eq!((summary.errors, summary.actions), (0, 10), "{summary}");
}

#[test]
fn bad_swarm_flags_are_refused_with_a_message_naming_the_flag() {
    let bad = |tune: fn(&mut SwarmArgs), needle: &str| {
        let mut args = SwarmArgs::default();
        tune(&mut args);
        let err = args.options().expect_err("refused");
        assert!(err.contains(needle), "{err}");
    };
    bad(|a| a.fail = 1.5, "--fail");
    bad(|a| a.die = -0.1, "--die");
    bad(|a| (a.fail, a.hang) = (0.6, 0.6), "add up to");
    bad(|a| a.adapters = 0, "--adapters");
    bad(|a| a.wait = 61.0, "--wait");
    bad(|a| a.url = "ftp://x".into(), "--url");
    bad(|a| a.types = vec![" ".into()], "--types");
    bad(|a| a.duration = Some(-1.0), "--duration");
    bad(|a| a.threads = 0, "--threads");
}

#[actix_web::test]
async fn the_swarm_subcommand_runs_a_case_and_prints_its_figures_as_json() {
    let script = "fn needs() { #{ clients: #{ alice: [\"element-web\"] } } }\nalice.act(\"step\", #{});\n";
    let app = TestApp::spawn(script_cases(&[("one.rhai", script)])).await;
    let base = app.base.clone();
    // The command runs on a thread of its own: this thread serves it.
    let out = actix_web::rt::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_trafficlight"))
            .args(["swarm", "--url", &base, "-n", "1", "--lives", "1", "--json", "--wait", "5"])
            .output()
            .unwrap()
    });
    let report = app.run_ended().await;
    let out = out.await.unwrap();
    assert!(report.succeeded(), "{}", report.summary());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let figures: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON figures");
    assert_eq!((figures["actions"].as_u64(), figures["errors"].as_u64()), (Some(1), Some(0)), "{figures}");
    let refused =
        std::process::Command::new(env!("CARGO_BIN_EXE_trafficlight")).args(["swarm", "--fail", "2"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--fail must be a share between 0 and 1"));
}
