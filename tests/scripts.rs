//! Rhai scenarios run end to end over real HTTP with simulated adapters: sequential and
//! parallel bodies, and every way a script can end (success, failed, error, timed out).

mod common;

use common::{script_cases, TestApp};
use serde_json::json;
use std::time::Duration;
use trafficlight_actors::snapshot::CaseState;
use trafficlight_actors::Homeserver;

const TWO_WEB: &str = r#"fn needs() { #{ clients: #{ alice: ["element-web"], bob: ["element-web"] } } }
"#;

fn static_server() -> Homeserver {
    Homeserver {
        name: String::new(),
        server_name: "hs1".into(),
        cs_api: "http://localhost:8008".into(),
        extra: Default::default(),
    }
}

#[actix_web::test]
async fn a_sequential_script_drives_its_clients_in_order_and_sees_their_responses() {
    let script = r#"
fn needs() { #{ clients: #{ alice: ["element-web"], bob: ["hydrogen-web"] }, servers: #{ names: ["server"] } } }
alice.register(server);
bob.register(server);
let room = alice.create_room("little test room");
assert_eq(room.response, "created");
alice.invite_user(bob.user_id(server));
"#;
    let app = TestApp::spawn_with(|c| c.servers = vec![static_server()], script_cases(&[("seq.rhai", script)])).await;
    app.register_type("a", "element-web").await;
    app.register_type("b", "hydrogen-web").await;

    let reg = app.next_action("a").await;
    assert_eq!(reg["action"], "register");
    let username = reg["data"]["username"].as_str().unwrap().to_string();
    assert!(username.starts_with("user_alice_"), "{username}");
    assert_eq!(
        reg["data"]["homeserver_url"],
        json!({"local": "http://localhost:8008", "local_docker": "http://10.0.2.2:8008"})
    );
    assert_eq!(app.poll("b").await["action"], "idle", "bob acts only after alice");
    app.respond("a", json!({"response": "registered"})).await;

    assert_eq!(app.next_action("b").await["action"], "register");
    app.respond("b", json!({"response": "registered"})).await;

    let create = app.next_action("a").await;
    assert_eq!(
        (create["action"].clone(), create["data"].clone()),
        (json!("create_room"), json!({"name": "little test room"}))
    );
    app.respond("a", json!({"response": "created"})).await;

    let invite = app.next_action("a").await;
    assert_eq!(invite["action"], "invite_user");
    let bob_id = invite["data"]["userId"].as_str().unwrap();
    assert!(bob_id.contains("user_bob_") && bob_id.ends_with(":hs1"), "{bob_id}");
    app.respond("a", json!({"response": "invited"})).await;

    let report = app.run_ended().await;
    assert!(report.succeeded(), "{}", report.summary());
}

#[actix_web::test]
async fn parallel_puts_both_actions_in_flight_at_once_and_returns_results_in_order() {
    let script = format!(
        "{TWO_WEB}
let results = parallel([|| alice.send_message(\"one\"), || bob.send_message(\"two\")]);
assert_eq(results[0].response, \"a\");
assert_eq(results[1].response, \"b\");
"
    );
    let app = TestApp::spawn(script_cases(&[("par.rhai", &script)])).await;
    app.register_type("a", "element-web").await;
    app.register_type("b", "element-web").await;
    let first = app.next_action("a").await;
    let second = app.next_action("b").await;
    // Both are pending before either is answered: they run at the same time.
    assert_eq!(first["action"], "send_message");
    assert_eq!(second["action"], "send_message");
    let (alice_uuid, bob_uuid) = if first["data"]["message"] == "one" { ("a", "b") } else { ("b", "a") };
    app.respond(bob_uuid, json!({"response": "b"})).await;
    app.respond(alice_uuid, json!({"response": "a"})).await;
    let report = app.run_ended().await;
    assert!(report.succeeded(), "{}", report.summary());
}

#[actix_web::test]
async fn the_same_client_in_two_parallel_branches_errors_with_a_clear_message() {
    let script = format!("{TWO_WEB}\nparallel([|| alice.send_message(\"x\"), || alice.reload()]);\n");
    let app = TestApp::spawn(script_cases(&[("race.rhai", &script)])).await;
    app.register_type("a", "element-web").await;
    app.register_type("b", "element-web").await;
    // Whichever branch got alice first has its action pending; answer it if so.
    let answer = app.poll_wait("a", 1.0).await;
    if answer["action"] != "exit" && answer["action"] != "idle" {
        app.respond("a", json!({})).await;
    }
    let report = app.run_ended().await;
    let case = &report.cases[0];
    assert_eq!(case.state, CaseState::Error, "{}", report.summary());
    assert!(case.errors[0].contains("two branches of one parallel()"), "{:?}", case.errors);
}

#[actix_web::test]
async fn a_failing_assertion_fails_the_case_with_the_message_and_line() {
    let script = format!(
        "{TWO_WEB}\nlet timeline = alice.get_timeline();\nassert(timeline.len() == 2, \"two events expected\");\n"
    );
    let app = TestApp::spawn(script_cases(&[("assertion.rhai", &script)])).await;
    app.register_type("a", "element-web").await;
    app.register_type("b", "element-web").await;
    let uuid = if app.poll_wait("a", 2.0).await["action"] == "get_timeline" { "a" } else { "b" };
    app.respond(uuid, json!({"response": "ok", "timeline": [1]})).await;
    let report = app.run_ended().await;
    let case = &report.cases[0];
    assert_eq!(case.state, CaseState::Failed);
    assert!(case.errors[0].contains("assertion failed: two events expected"), "{:?}", case.errors);
    assert!(case.errors[0].contains("assertion.rhai:4:"), "{:?}", case.errors);
}

#[actix_web::test]
async fn an_adapter_action_error_fails_the_case_and_another_error_errors_it() {
    for (kind, expected) in [("action", CaseState::Failed), ("adapter", CaseState::Error)] {
        let script = "fn needs() { #{ clients: #{ alice: [\"element-web\"] } } }\nalice.send_message(\"hi\");\n";
        let app = TestApp::spawn(script_cases(&[("errors.rhai", script)])).await;
        app.register_type("a", "element-web").await;
        assert_eq!(app.next_action("a").await["action"], "send_message");
        app.report_error("a", kind, "the message did not appear").await;
        let report = app.run_ended().await;
        assert_eq!(report.cases[0].state, expected, "error type {kind}: {}", report.summary());
        assert!(report.cases[0].errors[0].contains("the message did not appear"));
    }
}

/// The Hydrogen adapter never calls /error: a failed action answers `{"response": "error"}`.
#[actix_web::test]
async fn an_action_answered_with_response_error_fails_the_case_naming_the_action() {
    let script = "fn needs() { #{ clients: #{ alice: [\"hydrogen-web\"] } } }\nalice.create_room(\"r\");\nalice.send_message(\"never\");\n";
    let app = TestApp::spawn(script_cases(&[("hydrogen.rhai", script)])).await;
    app.register_type("h", "hydrogen-web").await;
    assert_eq!(app.next_action("h").await["action"], "create_room");
    app.respond("h", json!({"response": "error", "error": "room creation failed"})).await;
    let report = app.run_ended().await;
    let case = &report.cases[0];
    assert_eq!(case.state, CaseState::Failed, "{}", report.summary());
    assert!(case.errors[0].contains("failed create_room"), "{:?}", case.errors);
    assert!(case.errors[0].contains("room creation failed"), "{:?}", case.errors);
    assert!(!case.log.iter().any(|l| l.contains("send_message")), "the test stopped: {:?}", case.log);
}

#[actix_web::test]
async fn act_still_hands_a_response_error_to_the_script_to_judge() {
    let script = "fn needs() { #{ clients: #{ alice: [\"hydrogen-web\"] } } }\nlet r = alice.act(\"probe\", #{});\nassert_eq(r.response, \"error\");\n";
    let app = TestApp::spawn(script_cases(&[("raw.rhai", script)])).await;
    app.register_type("h", "hydrogen-web").await;
    assert_eq!(app.next_action("h").await["action"], "probe");
    app.respond("h", json!({"response": "error"})).await;
    let report = app.run_ended().await;
    assert!(report.succeeded(), "{}", report.summary());
}

#[actix_web::test]
async fn a_runtime_error_in_the_script_errors_the_case_with_file_and_line() {
    let script =
        "fn needs() { #{ clients: #{ alice: [\"element-web\"] } } }\nlet x = 1;\nlet y = x.no_such_method();\n";
    let app = TestApp::spawn(script_cases(&[("broken.rhai", script)])).await;
    app.register_type("a", "element-web").await;
    let report = app.run_ended().await;
    let case = &report.cases[0];
    assert_eq!(case.state, CaseState::Error);
    assert!(case.errors[0].contains("broken.rhai:3:"), "{:?}", case.errors);
    assert!(case.errors[0].contains("no_such_method"), "{:?}", case.errors);
}

#[actix_web::test]
async fn an_endless_loop_is_ended_by_the_case_deadline() {
    let script =
        "fn needs() { #{ clients: #{ alice: [\"element-web\"] }, timeout: 0.5 } }\nlet n = 0;\nloop { n += 1; }\n";
    let app = TestApp::spawn(script_cases(&[("endless.rhai", script)])).await;
    app.register_type("a", "element-web").await;
    let report = app.run_ended().await;
    let case = &report.cases[0];
    assert_eq!(case.state, CaseState::Error);
    assert!(case.errors[0].contains("timed out"), "{:?}", case.errors);
    // The adapter is told to exit, not left waiting.
    assert_eq!(app.poll("a").await["action"], "exit");
}

#[actix_web::test]
async fn log_lines_and_actions_are_kept_with_the_case() {
    let script = "fn needs() { #{ clients: #{ alice: [\"element-web\"] } } }\nlog(`hello from ${alice.name}`);\nalice.reload();\n";
    let app = TestApp::spawn(script_cases(&[("logging.rhai", script)])).await;
    app.register_type("a", "element-web").await;
    app.next_action("a").await;
    app.respond("a", json!({})).await;
    let report = app.run_ended().await;
    let log = &report.cases[0].log;
    assert!(log.iter().any(|l| l == "hello from alice"), "{log:?}");
    assert!(log.iter().any(|l| l.starts_with("alice: reload")), "{log:?}");
    let _ = Duration::ZERO;
}

#[actix_web::test]
async fn a_failing_parallel_branch_ends_the_case_at_once_and_releases_the_other_branch() {
    let script = format!(
        "{TWO_WEB}\nparallel([\n    || {{ let x = 1;\n        fail(\"branch one broke\") }},\n    || bob.send_message(\"never answered\"),\n]);\n"
    );
    let app = TestApp::spawn(script_cases(&[("branches.rhai", &script)])).await;
    app.register_type("a", "element-web").await;
    app.register_type("b", "element-web").await;
    let report = app.run_ended().await;
    let case = &report.cases[0];
    assert_eq!(case.state, CaseState::Failed, "{}", report.summary());
    assert!(case.errors[0].contains("branch one broke"), "{:?}", case.errors);
    assert!(case.errors[0].contains("branches.rhai:5:"), "the line in the branch: {:?}", case.errors);
    assert_eq!(app.poll("b").await["action"], "exit", "bob's unanswered action was cancelled");
}

#[actix_web::test]
async fn android_users_are_registered_through_the_homeserver_api_and_then_log_in() {
    let (hs_url, registrations) = common::fake_homeserver().await;
    let script = "fn needs() { #{ clients: #{ alice: [\"element-android\"] }, servers: #{ names: [\"server\"] } } }\nalice.register(server);\n";
    let server = Homeserver { cs_api: hs_url.clone(), ..static_server() };
    let app = TestApp::spawn_with(|c| c.servers = vec![server], script_cases(&[("android.rhai", script)])).await;
    app.register_type("a", "element-android").await;
    let login = app.next_action("a").await;
    assert_eq!(login["action"], "login", "android is sent login, not register: {login}");
    let username = login["data"]["username"].as_str().unwrap();
    let registered = registrations.recv_timeout(Duration::from_secs(5)).expect("the homeserver was asked to register");
    assert_eq!(registered["username"], username);
    assert_eq!(registered["password"], login["data"]["password"]);
    assert_eq!(registered["auth"]["type"], "m.login.dummy");
    assert_eq!(login["data"]["homeserver_url"]["local"], hs_url);
    app.respond("a", json!({"response": "loggedin"})).await;
    assert!(app.run_ended().await.succeeded());
}

#[actix_web::test]
async fn scripts_cannot_import_files_from_disk() {
    // A readable Rhai file outside the scenarios: without the sandbox, `import` loads it.
    let elsewhere = common::script_dir(&[("helper.rhai", "fn x() { 1 }\n")]);
    let module = elsewhere.path().join("helper");
    let script = format!(
        "fn needs() {{ #{{ clients: #{{ alice: [\"element-web\"] }} }} }}\nimport \"{}\" as h;\nh::x();\n",
        module.display()
    );
    let app = TestApp::spawn(script_cases(&[("importer.rhai", &script)])).await;
    app.register_type("a", "element-web").await;
    let report = app.run_ended().await;
    let case = &report.cases[0];
    assert_eq!(case.state, CaseState::Error, "{}", report.summary());
    assert!(case.errors[0].contains("importer.rhai:2:"), "{:?}", case.errors);
}

#[actix_web::test]
async fn long_log_lines_are_cut() {
    let script =
        "fn needs() { #{ clients: #{ alice: [\"element-web\"] } } }\nlet s = \"\";\ns.pad(100000, 'x');\nlog(s);\n";
    let app = TestApp::spawn(script_cases(&[("long_log.rhai", script)])).await;
    app.register_type("a", "element-web").await;
    let report = app.run_ended().await;
    let line = &report.cases[0].log[0];
    assert!(line.len() < 5000 && line.ends_with("[...]"), "{} bytes", line.len());
}

#[actix_web::test]
async fn a_script_that_recurses_without_bound_errors_its_case_and_the_server_stays_up() {
    let deep = "fn needs() { #{ clients: #{ alice: [\"element-web\"] } } }\nfn down(n) { down(n + 1) }\ndown(0);\n";
    let after = "fn needs() { #{ clients: #{ alice: [\"hydrogen-web\"] } } }\nalice.send_message(\"still here\");\n";
    let cases = script_cases(&[("deep.rhai", deep), ("after.rhai", after)]);
    let deep_id = cases.iter().find(|c| c.test.contains("deep")).expect("the deep case").id.clone();
    let app = TestApp::spawn(cases).await;
    app.register_type("a", "element-web").await;
    app.wait_for_case(&deep_id, "error").await;
    let case = app.case_snapshot(&deep_id).await;
    assert!(case.errors[0].contains("deep.rhai"), "the error names the script: {:?}", case.errors);
    // The process survived its script's recursion: another case runs to the end.
    app.register_type("b", "hydrogen-web").await;
    assert_eq!(app.next_action("b").await["action"], "send_message");
    app.respond("b", json!({"response": "sent"})).await;
    let report = app.run_ended().await;
    assert_eq!(report.cases.iter().filter(|c| c.state == CaseState::Success).count(), 1, "{}", report.summary());
}
