//! `trafficlight serve` refusing server types it cannot provide, before it serves
//! anything: status 2 and a message naming the file and line, or the config problem.
//! The bad input tried: an undefined type, more servers than a type makes, and each way a
//! `[server_types.NAME]` entry or a provisioning setting can be wrong.

mod common;

use common::{first_line, lines_of, script_dir, ONE_STEP};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_trafficlight");

#[test]
fn serve_refuses_a_server_type_that_is_not_defined_naming_file_and_line() {
    let dir = script_dir(&[(
        "needs_mystery.rhai",
        "// a test of a server nobody defined\nfn needs() { #{ clients: #{ a: [\"x\"] }, servers: #{ type: \"mystery\", names: [\"hs\"] } } }\n",
    )]);
    let out =
        Command::new(BIN).args(["serve", "--bind", "127.0.0.1:0", "--scenarios"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs_mystery.rhai:2:1"), "{err}");
    assert!(err.contains("server type 'mystery' is not defined"), "{err}");
    assert!(err.contains("[server_types.mystery]"), "says how to define it: {err}");
}

#[test]
fn serve_refuses_bad_server_type_config_with_clear_messages() {
    let scripts = script_dir(&[("ok.rhai", ONE_STEP)]);
    // Each bad config, and what the refusal must say.
    for (config, says) in [
        ("[server_types.x]\nimages = []\n", "images must list at least one image"),
        ("[server_types.x]\nimages = [\"a\"]\nsynapse = {}\n", "exactly one of images, static or synapse"),
        ("[server_types.x]\nstatic = []\n", "static must list at least one server"),
        ("[server_types.x]\nsynapse = { colour = 1 }\n", "unknown field `colour`"),
        (
            "local_synapse = true\n[[servers]]\nserver_name = \"a\"\ncs_api = \"http://a\"\n",
            "--local-synapse and [[servers]]",
        ),
        ("homerunner_url = \"localhost:54321\"\n", "must start with http:// or https://"),
        ("provision_limit = 0\n", "provision limit must be at least 1"),
        ("provision_timeout = -1\n", "provision timeout must be a positive number"),
    ] {
        let file = scripts.path().join("bad.toml");
        std::fs::write(&file, config).unwrap();
        let out = Command::new(BIN)
            .args(["serve", "--bind", "127.0.0.1:0", "--scenarios"])
            .arg(scripts.path())
            .arg("--config")
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{config}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{config:?} gave {err}, expected it to say {says:?}");
    }
}

#[test]
fn serve_refuses_a_test_naming_more_servers_than_its_type_makes() {
    let dir = script_dir(&[(
        "three.rhai",
        "fn needs() { #{ clients: #{ a: [\"x\"] }, servers: #{ type: \"synapse-federation\", names: [\"a1\", \"a2\", \"a3\"] } } }\n",
    )]);
    let out =
        Command::new(BIN).args(["serve", "--bind", "127.0.0.1:0", "--scenarios"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("three.rhai:1:1") && err.contains("makes 2 servers"), "{err}");
}

#[test]
fn serve_warns_once_naming_the_url_and_tests_when_homerunner_is_unreachable() {
    let dir = script_dir(&[(
        "on_synapse.rhai",
        "fn needs() { #{ clients: #{ a: [\"x\"] }, servers: #{ type: \"synapse\", names: [\"hs\"] } } }\n",
    )]);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let output = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--bind", "127.0.0.1:0", "--homerunner-url", &url, "--scenarios"])
        .arg(dir.path())
        .arg("--output")
        .arg(output.path())
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = lines_of(child.stderr.take().unwrap());
    // Every line until the warning; a start that never warns fails here instead of hanging.
    let warning = first_line(&stderr, std::time::Duration::from_secs(60), |l| {
        l.contains("homerunner") && l.contains("not reachable")
    });
    let _ = child.kill();
    let _ = child.wait();
    let warning = warning.expect("a warning that homerunner is not reachable");
    assert!(warning.contains(&url), "{warning}");
    assert!(warning.contains("on_synapse"), "names the test: {warning}");
}
