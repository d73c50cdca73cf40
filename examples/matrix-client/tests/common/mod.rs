//! Runs scenarios for real: trafficlight (the library, in this process, on port 0), a real
//! Synapse, and the headless clients as a separate process of adapters.
#![allow(dead_code)]

pub mod synapse;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use trafficlight::actors::Homeserver;
use trafficlight::config::Config;

/// How long the client process may take to exit once trafficlight told it to.
const CLIENT_EXIT: Duration = Duration::from_secs(60);

/// The client binary of this package.
pub fn client_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_trafficlight-matrix-client"))
}

/// A started client process, killed on drop if it is still running.
pub struct Clients {
    pub child: Child,
    pub log: PathBuf,
}

impl Drop for Clients {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Clients {
    /// Starts `count` adapters of the headless client against trafficlight at `url`.
    pub fn start(url: &str, count: usize, extra: &[&str], log: PathBuf) -> Clients {
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(client_binary())
            .args(["--url", url, "--count", &count.to_string()])
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG")
                    .unwrap_or_else(|_| "info,matrix_sdk=warn,matrix_sdk_crypto=warn,matrix_sdk_base=warn".into()),
            )
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .expect("the client binary starts");
        Clients { child, log }
    }

    /// Waits for the process to exit (it should once trafficlight says `exit`).
    pub fn wait(&mut self, deadline: Duration) -> Option<std::process::ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// What a run of scenarios left behind.
pub struct RunResult {
    /// trafficlight's exit status (0: every case succeeded).
    pub status: i32,
    pub junit: String,
    pub client_log: String,
    pub clients_exited: bool,
    pub output: tempfile::TempDir,
    pub took: Duration,
}

/// Runs every scenario under `dirs` against `servers` with `count` headless clients.
pub async fn run_scenarios(dirs: &[&Path], servers: Vec<Homeserver>, count: usize, client_flags: &[&str]) -> RunResult {
    let started = Instant::now();
    let output = tempfile::Builder::new().prefix("trafficlight-e2e-").tempdir().unwrap();
    let mut scenarios = Vec::new();
    for dir in dirs {
        scenarios.extend(trafficlight::scenario::load_dir(dir, None).expect("the test scenarios load"));
    }
    let cases = trafficlight::scenario::expand(&scenarios);
    let mut config =
        Config { bind: "127.0.0.1:0".into(), output: output.path().to_path_buf(), servers, ..Config::default() };
    // Long enough for the clients to hear `exit` on their next poll.
    config.timeouts.exit_grace = Duration::from_secs(2);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let running = trafficlight::startup::start(listener, config, cases).await.expect("trafficlight starts");
    let url = format!("http://{}", running.addr);
    let mut clients = Clients::start(&url, count, client_flags, output.path().join("clients.log"));
    let status = trafficlight::startup::run_to_end(running).await;
    let exited = tokio::task::spawn_blocking(move || {
        let exited = clients.wait(CLIENT_EXIT).is_some();
        (exited, clients.log_text())
    })
    .await
    .unwrap();
    let junit = std::fs::read_to_string(output.path().join("junit.xml")).unwrap_or_default();
    RunResult { status, junit, client_log: exited.1, clients_exited: exited.0, output, took: started.elapsed() }
}

/// The homeserver entry trafficlight hands to cases for a running Synapse.
pub fn homeserver(name: &str, synapse: &synapse::Synapse) -> Homeserver {
    Homeserver {
        name: name.into(),
        server_name: synapse.server_name.clone(),
        cs_api: synapse.url.clone(),
        extra: Default::default(),
    }
}

/// The `<testcase>` element of junit.xml whose name contains `name`.
pub fn testcase<'a>(junit: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = junit;
    while let Some(start) = rest.find("<testcase") {
        let tail = &rest[start..];
        let end =
            tail.find("</testcase>").map(|e| e + "</testcase>".len()).or_else(|| tail.find("/>").map(|e| e + 2))?;
        let element = &tail[..end];
        let open_tag = &element[..element.find('>').unwrap_or(element.len())];
        if open_tag.contains(name) {
            return Some(element);
        }
        rest = &tail[end..];
    }
    None
}
