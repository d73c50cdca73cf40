//! The client against our real trafficlight server, without a homeserver: how it
//! registers, and how it fails actions it cannot do (never a fake success).
//! Bad input tried: an unknown action, an action before login, an action without its
//! data, a homeserver URL nobody listens on.

mod common;

use common::{run_scenarios, testcase};
use std::path::Path;
use trafficlight::actors::Homeserver;

#[actix_web::test]
async fn registers_and_fails_what_it_cannot_do() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/protocol");
    // Port 9 (discard) on loopback: nothing answers HTTP there.
    let nowhere = Homeserver {
        name: "server".into(),
        server_name: "localhost:9".into(),
        cs_api: "http://127.0.0.1:9".into(),
        extra: Default::default(),
    };
    let run = run_scenarios(&[&dir], vec![nowhere], 5, &["--deadline", "5"]).await;
    let junit = &run.junit;
    assert_eq!(run.status, 1, "some cases must fail: {junit}");
    assert!(run.clients_exited, "the client process exits when told to:\n{}", run.client_log);

    let registration = testcase(junit, "registration").expect("registration case");
    assert!(!registration.contains("<failure") && !registration.contains("<error"), "{registration}");

    let failed_with = |case: &str, text: &str| {
        let element = testcase(junit, case).unwrap_or_else(|| panic!("no case {case} in {junit}"));
        assert!(element.contains("<failure"), "{case} must fail: {element}");
        assert!(element.contains(text), "{case} must say {text:?}: {element}");
    };
    failed_with("unsupported", "not supported by this client");
    failed_with("not_logged_in", "not logged in");
    failed_with("bad_data", "userId");
    failed_with("unreachable_homeserver", "127.0.0.1:9");
}
