//! Who runs what: slots matched exactly to adapters, oldest case first, each adapter
//! given to one case only, and big cases not starved by small ones.

mod common;

use common::{case, gated, steps, Gate, TestApp};
use serde_json::json;

/// The adapter in each slot of case `id`, in slot order (`None`: not filled).
async fn slot_uuids(app: &TestApp, id: &str) -> Vec<Option<String>> {
    app.case_snapshot(id).await.slots.into_iter().map(|s| s.uuid).collect()
}

fn some(uuids: &[&str]) -> Vec<Option<String>> {
    uuids.iter().map(|u| Some(u.to_string())).collect()
}

#[actix_web::test]
async fn a_strict_slot_gets_the_only_adapter_it_accepts_even_when_a_loose_slot_could_take_it() {
    let slots = [("a", json!("element-web")), ("b", json!({"type": "element-web", "version": "2"}))];
    let app = TestApp::spawn(vec![case("t.1", &slots, steps(vec![]))]).await;
    app.register("web-v2", json!({"type": "element-web", "version": "2"})).await;
    assert_eq!(app.case_state("t.1").await, "waiting", "one adapter cannot fill two slots");
    app.register("web-v1", json!({"type": "element-web", "version": "1"})).await;
    app.wait_for_case("t.1", "success").await;
    assert_eq!(slot_uuids(&app, "t.1").await, some(&["web-v1", "web-v2"]), "A = v1, B = v2");
}

#[actix_web::test]
async fn a_requirement_on_other_fields_is_not_met_by_the_type_alone() {
    let slots = [("b", json!({"type": "element-web", "version": "2"}))];
    let app = TestApp::spawn(vec![case("t.1", &slots, steps(vec![]))]).await;
    app.register("no-version", json!({"type": "element-web"})).await;
    app.register("web-v1", json!({"type": "element-web", "version": "1"})).await;
    app.register("hydrogen-v2", json!({"type": "hydrogen-web", "version": "2"})).await;
    assert_eq!(app.case_state("t.1").await, "waiting");
    app.register("web-v2", json!({"type": "element-web", "version": "2", "browser": "firefox"})).await;
    app.wait_for_case("t.1", "success").await;
    assert_eq!(slot_uuids(&app, "t.1").await, some(&["web-v2"]));
}

#[actix_web::test]
async fn the_oldest_waiting_case_gets_adapters_first() {
    let gate = Gate::default();
    let one_web = [("alice", json!("element-web"))];
    // Listed out of alphabetical order: the run's order decides, not the ids.
    let cases = vec![case("zeta.1", &one_web, gated(&gate, vec![])), case("alpha.1", &one_web, gated(&gate, vec![]))];
    let app = TestApp::spawn(cases).await;
    app.register_type("first", "element-web").await;
    app.wait_for_case("zeta.1", "running").await;
    assert_eq!(app.case_state("alpha.1").await, "waiting");
    app.register_type("second", "element-web").await;
    app.wait_for_case("alpha.1", "running").await;
    assert_eq!(slot_uuids(&app, "zeta.1").await, some(&["first"]));
    assert_eq!(slot_uuids(&app, "alpha.1").await, some(&["second"]));
}

#[actix_web::test]
async fn an_adapter_is_never_given_to_two_cases() {
    let one_web = [("alice", json!("element-web"))];
    let two_web = [("alice", json!("element-web")), ("bob", json!("element-web"))];
    let cases = vec![
        case("t.1", &one_web, steps(vec![])),
        case("t.2", &two_web, steps(vec![])),
        case("t.3", &one_web, steps(vec![])),
    ];
    let app = TestApp::spawn(cases).await;
    app.register_type("only", "element-web").await;
    app.wait_for_case("t.1", "success").await;
    // t.1 has ended and its adapter is finished: adapters are single use.
    assert_eq!(app.case_state("t.2").await, "waiting", "the two-slot case does not get one adapter twice");
    assert_eq!(app.case_state("t.3").await, "waiting", "the finished adapter is not reused");
    assert_eq!(app.poll("only").await["action"], "exit");
    for uuid in ["b", "c", "d"] {
        app.register_type(uuid, "element-web").await;
    }
    let report = app.run_ended().await;
    assert!(report.succeeded(), "{}", report.summary());
    let mut seen = Vec::new();
    for case in &report.cases {
        seen.extend(case.slots.iter().map(|s| s.uuid.clone().expect("every slot was filled")));
    }
    seen.sort();
    assert_eq!(seen, ["b", "c", "d", "only"], "each adapter filled exactly one slot");
}

#[actix_web::test]
async fn a_case_needing_three_adapters_is_not_starved_by_a_stream_of_one_adapter_cases() {
    let gate = Gate::default();
    let one_web = [("alice", json!("element-web"))];
    let three_web = [("alice", json!("element-web")), ("bob", json!("element-web")), ("carol", json!("element-web"))];
    let mut cases =
        vec![case("small.before", &one_web, gated(&gate, vec![])), case("big.1", &three_web, gated(&gate, vec![]))];
    cases.extend((1..=6).map(|i| case(&format!("small.{i}"), &one_web, gated(&gate, vec![]))));
    let app = TestApp::spawn(cases).await;
    // Adapters arrive one at a time, as they do when browsers start up one by one.
    app.register_type("w0", "element-web").await;
    app.wait_for_case("small.before", "running").await;
    for uuid in ["w1", "w2"] {
        app.register_type(uuid, "element-web").await;
        assert_eq!(app.case_state("small.1").await, "waiting", "{uuid} is held for the older big case");
    }
    app.register_type("w3", "element-web").await;
    app.wait_for_case("big.1", "running").await;
    let mut big = slot_uuids(&app, "big.1").await;
    big.sort();
    assert_eq!(big, some(&["w1", "w2", "w3"]));
    for i in 1..=6 {
        assert_eq!(app.case_state(&format!("small.{i}")).await, "waiting");
    }
    app.register_type("w4", "element-web").await;
    app.wait_for_case("small.1", "running").await;
    assert_eq!(app.case_state("small.2").await, "waiting");
}

#[actix_web::test]
async fn a_case_that_cannot_start_does_not_hold_back_adapters_from_one_that_can() {
    // The first case needs an android adapter that never comes; its web slot must not
    // keep a web adapter from the second case, or neither would ever run.
    let needs_android = [("web", json!("element-web")), ("phone", json!("element-android"))];
    let needs_two_web = [("a", json!("element-web")), ("b", json!("element-web"))];
    let versioned = [("w", json!("element-web")), ("v", json!({"type": "element-web", "version": "3"}))];
    let app = TestApp::spawn(vec![
        case("first.1", &needs_android, steps(vec![])),
        case("versioned.1", &versioned, steps(vec![])),
        case("second.1", &needs_two_web, steps(vec![])),
    ])
    .await;
    app.register_type("w1", "element-web").await;
    app.register_type("w2", "element-web").await;
    app.wait_for_case("second.1", "success").await;
    assert_eq!(app.case_state("first.1").await, "waiting");
    assert_eq!(app.case_state("versioned.1").await, "waiting");
}
