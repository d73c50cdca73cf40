//! The shipped scenarios, run end to end against simulated adapters that answer every
//! action with plausible but empty data (no real clients or homeservers run here; the
//! homeserver's register endpoint is a stand-in). The data checks of the tests fail, as
//! they must against empty answers; what this proves is that every script runs in our
//! world without a script error (an unknown function, property or argument) up to its
//! first data check, and that a whole suite of cases runs to its end in one server.

mod common;

use common::TestApp;
use serde_json::{json, Value};
use std::time::Duration;
use trafficlight_actors::snapshot::CaseState;
use trafficlight_actors::Homeserver;

/// A 3×3 red PNG, as an Element Call adapter uploads a video snapshot.
fn red_png() -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, 3, 3);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&[255, 0, 0].repeat(9)).unwrap();
    writer.finish().unwrap();
    out
}

/// One simulated adapter: registers as `registration`, answers actions until `exit`.
async fn simulated_adapter(base: String, uuid: String, registration: Value) {
    let http = awc::Client::builder().timeout(Duration::from_secs(60)).finish();
    let registered = http.post(format!("{base}/client/{uuid}/register")).send_json(&registration).await.unwrap();
    assert_eq!(registered.status(), 200);
    let mut answer: Value =
        http.get(format!("{base}/client/{uuid}/poll?wait=10")).send().await.unwrap().json().await.unwrap();
    loop {
        let action = answer["action"].as_str().unwrap_or("").to_string();
        let response = match action.as_str() {
            "exit" => return,
            "idle" => {
                answer =
                    http.get(format!("{base}/client/{uuid}/poll?wait=10")).send().await.unwrap().json().await.unwrap();
                continue;
            }
            "get_timeline" => json!({"response": "got", "timeline": []}),
            "get_lobby_data" | "get_call_data" => {
                let (content_type, body) = common::multipart(&[("snapshot.png", &red_png())]);
                let uploaded = http
                    .post(format!("{base}/client/{uuid}/upload"))
                    .insert_header(("Content-Type", content_type))
                    .send_body(body)
                    .await
                    .unwrap();
                assert_eq!(uploaded.status(), 200);
                let urls = json!({"invite_url": "http://localhost:8080/room/#/c?password=p", "page_url": "http://localhost:8080/room/#/c", "call_name": "c"});
                let mut data = urls.as_object().unwrap().clone();
                data.insert("snapshot".into(), json!("snapshot.png"));
                data.insert("videos".into(), json!([{"caption": "alice", "muted": false, "snapshot": "snapshot.png"}]));
                json!({"response": "ok", "data": data})
            }
            other => json!({"response": other}),
        };
        let mut next = http.post(format!("{base}/client/{uuid}/respond?wait=10")).send_json(&response).await.unwrap();
        answer = next.json().await.unwrap_or_else(|_| json!({"action": "idle"}));
    }
}

#[actix_web::test]
async fn every_shipped_scenario_runs_without_a_script_error_against_simulated_adapters() {
    let (hs_url, _registrations) = common::fake_homeserver().await;
    let scenarios = trafficlight::scenario::load_dir(std::path::Path::new("scenarios"), None).unwrap();
    // The scripts' sleeps (seconds each, for real clients to settle) run 1000 times faster:
    // simulated adapters have nothing to settle.
    let options = trafficlight::scenario::ScriptOptions { sleep_scale: 0.001 };
    let cases = trafficlight::scenario::expand_with(&scenarios, options);
    let server = |name: &str| Homeserver {
        name: String::new(),
        server_name: name.into(),
        cs_api: hs_url.clone(),
        extra: Default::default(),
    };
    let mut wanted: Vec<String> = Vec::new();
    for case in &cases {
        for slot in &case.slots {
            wanted.push(slot.requirement.type_key().unwrap_or("unknown").to_string());
        }
    }
    let app = TestApp::spawn_with(
        |c| {
            c.servers = vec![server("hs1"), server("hs2")];
            c.timeouts.case = Duration::from_secs(60);
        },
        cases,
    )
    .await;
    let adapters: Vec<_> = wanted
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut registration = json!({"type": t, "version": "simulated"});
            if t == "network-proxy" {
                registration["endpoint"] = json!(format!("http://localhost:{}", 9000 + i));
            }
            actix_web::rt::spawn(simulated_adapter(app.base.clone(), format!("sim-{i}"), registration))
        })
        .collect();
    let report = actix_web::rt::time::timeout(
        Duration::from_secs(120),
        app.allocator.send(trafficlight_actors::allocator::RunEnded),
    )
    .await
    .expect("the suite ends")
    .unwrap();
    for adapter in adapters {
        adapter.await.unwrap();
    }
    // Every case of the full matrix, the opt-in matrix-rust-sdk cases too (simulated).
    assert_eq!(report.cases.len(), 51);
    let broken: Vec<String> = report
        .cases
        .iter()
        .filter(|c| c.state == CaseState::Error || c.state == CaseState::Skipped)
        .map(|c| format!("{} ({}): {}", c.test, c.label(), c.errors.join(" | ")))
        .collect();
    assert!(broken.is_empty(), "cases that broke instead of checking data:\n{}", broken.join("\n"));
}
