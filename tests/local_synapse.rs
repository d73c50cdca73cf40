//! Real Synapse processes, no Docker: the `synapse` server type with `--local-synapse`
//! starts one fresh Synapse per homeserver of a case from the Python that
//! `scripts/install-synapse.sh` installs (the test command runs it), and stops it and
//! removes its directory when the case ends.
//!
//! Without that Python (`cargo test` alone on a fresh machine) these tests say so and
//! fail: run `./scripts/test.sh`, or set TRAFFICLIGHT_SYNAPSE_PYTHON.

mod common;

use common::{script_cases, TestApp};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use trafficlight::provision::synapse::default_python;
use trafficlight_actors::snapshot::CaseState;
use trafficlight_actors::Homeserver;

fn python() -> PathBuf {
    let python = std::env::var_os("TRAFFICLIGHT_SYNAPSE_PYTHON").map(PathBuf::from).unwrap_or_else(default_python);
    assert!(
        python.exists(),
        "no Synapse to test with at {}: run ./scripts/install-synapse.sh (./scripts/test.sh does) or set TRAFFICLIGHT_SYNAPSE_PYTHON",
        python.display()
    );
    python
}

fn local(config: &mut trafficlight::config::Config) {
    config.local_synapse = true;
    config.provision.synapse_python = python();
}

/// Registers two users through `homeserver_register()` on its own fresh server.
fn registering(test: &str) -> String {
    format!(
        r#"fn needs() {{ #{{ clients: #{{ alice: ["element-web"] }}, servers: #{{ type: "synapse", names: ["server"] }} }} }}
let first = homeserver_register(server.cs_api, "first_{test}", "a long password 1");
let second = homeserver_register(server.cs_api, "second_{test}", "a long password 2");
assert_eq(first.user_id, "@first_{test}:" + server.server_name);
assert_eq(second.user_id, "@second_{test}:" + server.server_name);
"#
    )
}

/// The run's report; Synapse starts take seconds, more on a loaded machine, so this waits
/// as long as the run takes (the provisioning deadline bounds it).
async fn run_ended(app: &TestApp) -> trafficlight_actors::RunReport {
    app.allocator.send(trafficlight_actors::allocator::RunEnded).await.unwrap()
}

fn process_alive(pid: u64) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[actix_web::test]
async fn each_case_gets_a_fresh_local_synapse_that_is_gone_after_the_case() {
    let cases = script_cases(&[("one.rhai", &registering("one")), ("two.rhai", &registering("two"))]);
    let app = TestApp::spawn_with(local, cases).await;
    app.register_type("a", "element-web").await;
    app.register_type("b", "element-web").await;
    let report = run_ended(&app).await;
    assert!(report.succeeded(), "{}", report.summary());
    let servers: Vec<&Homeserver> = report.cases.iter().map(|c| &c.servers[0]).collect();
    assert_ne!(servers[0].server_name, servers[1].server_name, "two cases, two servers");
    for server in servers {
        assert!(server.server_name.starts_with("localhost:"), "{server:?}");
        assert_eq!(server.extra["provider"], "synapse");
        let pid = server.extra["pid"].as_u64().unwrap();
        let dir = PathBuf::from(server.extra["dir"].as_str().unwrap());
        assert!(!process_alive(pid), "Synapse {pid} still runs after its case");
        assert!(!dir.exists(), "{} is still there after its case", dir.display());
    }
}

#[actix_web::test]
async fn a_case_that_ends_early_still_stops_its_synapse() {
    // The script fails right after the server answered: the teardown runs on failure too.
    let script = r#"fn needs() { #{ clients: #{ alice: ["element-web"] }, servers: #{ type: "synapse", names: ["server"] } } }
log(`pid ${server.pid} dir ${server.dir}`);
fail("on purpose");
"#;
    let app = TestApp::spawn_with(local, script_cases(&[("early.rhai", script)])).await;
    app.register_type("a", "element-web").await;
    let report = run_ended(&app).await;
    let case = &report.cases[0];
    assert_eq!(case.state, CaseState::Failed, "{}", report.summary());
    let server = &case.servers[0];
    assert!(!process_alive(server.extra["pid"].as_u64().unwrap()));
    assert!(!Path::new(server.extra["dir"].as_str().unwrap()).exists());
}

/// An account with an access token on `server`.
async fn account(http: &awc::Client, server: &Homeserver, user: &str) -> (String, String) {
    let url = format!("{}/_matrix/client/v3/register", server.cs_api);
    let body = json!({"username": user, "password": "a long password", "auth": {"type": "m.login.dummy"}});
    let answer: Value = http.post(url).send_json(&body).await.unwrap().json().await.unwrap();
    (answer["user_id"].as_str().unwrap().to_string(), answer["access_token"].as_str().unwrap().to_string())
}

async fn call(http: &awc::Client, server: &Homeserver, token: &str, path: &str, body: Value) -> Value {
    let url = format!("{}/_matrix/client/v3/{path}", server.cs_api);
    let mut response =
        http.post(url).bearer_auth(token).timeout(Duration::from_secs(60)).send_json(&body).await.unwrap();
    let status = response.status();
    let value: Value = response.json().limit(1 << 20).await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path} on {} answered {status}: {value}", server.server_name);
    value
}

#[actix_web::test]
async fn two_local_synapses_of_one_case_federate_over_loopback() {
    // The body joins a user of the second server to a room on the first: only federation
    // between them can make that work.
    let (tx, rx) = std::sync::mpsc::channel::<Vec<Homeserver>>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let done = std::sync::Mutex::new(Some(done_rx));
    let body = common::body(move |ctx| {
        let tx = tx.clone();
        let done = done.lock().unwrap().take();
        async move {
            let _ = tx.send(ctx.servers.clone());
            if let Some(done) = done {
                let _ = done.await;
            }
            trafficlight_actors::Outcome::Success
        }
    });
    let mut case = common::case("federation.one", &[("alice", json!("element-web"))], body);
    case.servers = Some(trafficlight_actors::ServerRequest {
        kind: "synapse-federation".into(),
        names: vec!["hs1".into(), "hs2".into()],
    });
    let app = TestApp::spawn_with(local, vec![case]).await;
    app.register_type("a", "element-web").await;
    let servers = actix_web::rt::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(300)))
        .await
        .unwrap()
        .expect("the case got its servers");
    let (hs1, hs2) = (&servers[0], &servers[1]);
    assert_ne!(hs1.server_name, hs2.server_name);
    let http = awc::Client::builder().timeout(Duration::from_secs(60)).finish();
    let (_, alice) = account(&http, hs1, "alice").await;
    let (bob_id, bob) = account(&http, hs2, "bob").await;
    let room = call(&http, hs1, &alice, "createRoom", json!({"invite": [bob_id]})).await;
    let room_id = room["room_id"].as_str().unwrap();
    let joined = call(&http, hs2, &bob, &format!("join/{}", urlencode(room_id)), json!({})).await;
    assert_eq!(joined["room_id"], room_id);
    let _ = done_tx.send(());
    let report = run_ended(&app).await;
    assert!(report.succeeded(), "{}", report.summary());
}

fn urlencode(s: &str) -> String {
    s.replace('!', "%21").replace(':', "%3A")
}
