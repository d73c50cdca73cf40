//! Loading scripts: every shipped scenario compiles and expands to its matrix, and each
//! kind of broken script is refused with its file, line and column.
//! Broken inputs tried: a syntax error, no `fn needs()`, needs() returning a non-map,
//! a slot with a number for a client type, a mistyped client variable in the body, a
//! runtime error inside needs(), an endless needs(), a timeout too large for a duration,
//! two tests of the same name, a bad --pattern glob.

mod common;

use common::script_dir;
use std::collections::BTreeMap;
use std::path::Path;
use trafficlight::scenario::{self, load_dir};

#[test]
fn every_shipped_scenario_compiles_and_expands_to_its_matrix() {
    let scenarios = load_dir(Path::new("scenarios"), None).unwrap_or_else(|e| panic!("{e}"));
    let cases = scenario::expand(&scenarios);
    let mut per_test: BTreeMap<&str, usize> = BTreeMap::new();
    for case in &cases {
        *per_test.entry(case.test.as_str()).or_default() += 1;
    }
    let expected: BTreeMap<&str, usize> = [
        ("dehydrated_device", 1),
        ("ec_basic", 1),
        ("fallback_key", 4),
        ("handle_invite_links_one_guest", 1),
        ("handle_invite_links_registered", 1),
        ("handle_invite_links_two_guests", 1),
        ("invited_user_decrypt_prejoin_messages", 4),
        ("invited_user_decrypt_prejoin_messages_more_clients", 1),
        ("join_call_receive_video", 1),
        ("key_restore_marks_session_as_verified", 4),
        ("load_test_call", 1),
        ("message_decryption_after_storage_cleared", 4),
        ("message_decryption_when_own_hs_offline", 1),
        ("message_warning", 1),
        ("multiple_homeservers", 4),
        ("retry_send_to_device", 1),
        ("send_messages", 2),
        ("three_user_spotlight", 1),
        ("two_clients_one_terminated_rejoin", 1),
        ("verification_when_todevice_message_out_of_order", 4),
        ("verify_client", 8),
        ("verify_client_multiple_device", 4),
    ]
    .into_iter()
    .collect();
    // The full matrix, the opt-in matrix-rust-sdk type included.
    assert_eq!(per_test, expected);
    // Without --clients, the opt-in type's cases are left out: an Element-only team runs
    // exactly the original suite's 24 cases.
    let (kept, left_out) = scenario::ClientSet::default().select(cases.clone());
    assert_eq!(kept.len(), 24);
    assert_eq!(left_out.len(), cases.len() - 24);
    let ids: std::collections::HashSet<_> = cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids.len(), cases.len(), "case ids are unique");
}

#[test]
fn a_matrix_has_one_case_per_combination_and_stable_ids() {
    let script = r#"fn needs() { #{ clients: #{ a: ["x"], b: ["x", "y", "z"], c: ["p", #{type: "q", version: "2"}] } } }
"#;
    let first = scenario::expand(&load_dir(script_dir(&[("m.rhai", script)]).path(), None).unwrap());
    let again = scenario::expand(&load_dir(script_dir(&[("m.rhai", script)]).path(), None).unwrap());
    assert_eq!(first.len(), 6);
    let ids = |cases: &[trafficlight_actors::case::CaseSpec]| cases.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&first), ids(&again), "the same file and combination give the same ids");
    assert!(first.iter().all(|c| c.id.starts_with("m-")));
}

#[test]
fn server_types_multiply_the_matrix() {
    let script = r#"fn needs() { #{ clients: #{ a: ["x", "y"] }, servers: #{ type: ["synapse", "dendrite"], names: ["hs"] } } }
"#;
    let cases = scenario::expand(&load_dir(script_dir(&[("s.rhai", script)]).path(), None).unwrap());
    assert_eq!(cases.len(), 4);
    assert_eq!(cases.iter().filter(|c| c.servers.as_ref().unwrap().kind == "dendrite").count(), 2);
}

fn load_error(source: &str) -> String {
    match load_dir(script_dir(&[("broken.rhai", source)]).path(), None) {
        Ok(_) => panic!("a broken script loaded:\n{source}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn broken_scripts_are_refused_with_file_line_and_column() {
    let ok_needs = "fn needs() { #{ clients: #{ alice: [\"element-web\"] } } }\n";
    for (source, position, says) in [
        (format!("{ok_needs}alice.register(;\n"), ":2:", ""),
        ("alice.reload();\n".to_string(), ":1:1:", "no `fn needs()`"),
        ("fn needs() { 42 }\n".to_string(), ":1:1:", "must return a map"),
        ("\nfn needs() { #{ clients: #{ alice: [5] } } }\n".to_string(), ":2:1:", "a client type is a word"),
        (format!("{ok_needs}\nalcie.reload();\n"), ":3:1:", "alcie"),
        ("fn needs() { let x = 1 / 0; #{ clients: #{ a: [\"x\"] } } }\n".to_string(), ":1:", "needs() failed"),
        ("fn needs() { loop {} }\n".to_string(), ":1:", "needs() failed"),
        ("fn needs() { #{ clients: #{ a: [\"x\"] }, timeout: 1e20 } }\n".to_string(), ":1:1:", "timeout"),
    ] {
        let error = load_error(&source);
        assert!(error.contains("broken.rhai"), "{error}");
        assert!(error.contains(position), "expected {position} in {error}");
        assert!(error.contains(says), "expected {says:?} in {error}");
    }
}

#[test]
fn two_tests_of_one_name_and_a_bad_pattern_are_refused() {
    let script = "fn needs() { #{ clients: #{ a: [\"x\"] } } }\n";
    let dir = script_dir(&[("one/t.rhai", script), ("two/t.rhai", script)]);
    let error = load_dir(dir.path(), None).err().expect("refused").to_string();
    assert!(error.contains("a test named 't' already comes from"), "{error}");
    let error = load_dir(dir.path(), Some("[")).err().expect("refused").to_string();
    assert!(error.contains("bad --pattern"), "{error}");
    assert_eq!(load_dir(dir.path(), Some("one/*")).unwrap().len(), 1);
}
