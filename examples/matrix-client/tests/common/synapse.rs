//! A real Synapse for the tests: installed from PyPI by scripts/install-synapse.sh (once,
//! cached), started in a temporary directory on a free loopback port, stopped on drop.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long Synapse may take to answer its first request (a loaded 2-core machine).
const START_DEADLINE: Duration = Duration::from_secs(180);

/// A running Synapse.
pub struct Synapse {
    child: Child,
    dir: tempfile::TempDir,
    /// `localhost:PORT`
    pub server_name: String,
    /// `http://localhost:PORT`
    pub url: String,
}

impl Drop for Synapse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The python of Synapse's virtualenv: installed on first use.
pub fn python() -> PathBuf {
    if let Ok(python) = std::env::var("TRAFFICLIGHT_SYNAPSE_PYTHON") {
        return python.into();
    }
    let output = Command::new(workspace().join("scripts/install-synapse.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("scripts/install-synapse.sh runs");
    assert!(output.status.success(), "scripts/install-synapse.sh failed");
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Synapse {
    /// Starts a fresh Synapse and waits until it answers.
    pub fn start() -> Synapse {
        let python = python();
        let dir = tempfile::Builder::new().prefix("synapse-").tempdir().unwrap();
        let port = free_port();
        let server_name = format!("localhost:{port}");
        let config = dir.path().join("homeserver.yaml");
        let generated = Command::new(&python)
            .args(["-m", "synapse.app.homeserver", "--generate-config", "--report-stats=no"])
            .arg("--server-name")
            .arg(&server_name)
            .arg("--config-path")
            .arg(&config)
            .arg("--data-directory")
            .arg(dir.path())
            .current_dir(dir.path())
            .output()
            .expect("synapse --generate-config runs");
        assert!(
            generated.status.success(),
            "synapse --generate-config: {}",
            String::from_utf8_lossy(&generated.stderr)
        );
        let overrides = dir.path().join("overrides.yaml");
        std::fs::write(&overrides, overrides_yaml(port)).unwrap();
        let log = std::fs::File::create(dir.path().join("stdout.log")).unwrap();
        let child = Command::new(&python)
            .args(["-m", "synapse.app.homeserver", "-c"])
            .arg(&config)
            .arg("-c")
            .arg(&overrides)
            .current_dir(dir.path())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("synapse starts");
        let mut synapse = Synapse { child, dir, url: format!("http://localhost:{port}"), server_name };
        synapse.wait_until_up(port);
        synapse
    }

    fn wait_until_up(&mut self, port: u16) {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("synapse exited ({status}) at start:\n{}", self.log());
            }
            if versions_answer(port) {
                eprintln!("synapse on port {port} up in {:.1} s", started.elapsed().as_secs_f64());
                return;
            }
            assert!(
                started.elapsed() < START_DEADLINE,
                "synapse did not answer within {START_DEADLINE:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Synapse's console output so far.
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(self.dir.path().join("stdout.log")) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }
}

/// Whether `GET /_matrix/client/versions` answers 200 (plain HTTP over a TCP socket).
fn versions_answer(port: u16) -> bool {
    use std::io::Write;
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request =
        format!("GET /_matrix/client/versions HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

/// Loopback only, open registration, no rate limits that a test with many clients trips.
fn overrides_yaml(port: u16) -> String {
    let unlimited = "{per_second: 1000, burst_count: 1000}";
    format!(
        "listeners:
  - port: {port}
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
enable_registration: true
enable_registration_without_verification: true
report_stats: false
trusted_key_servers: []
suppress_key_server_warning: true
rc_message: {unlimited}
rc_registration: {unlimited}
rc_joins: {{local: {unlimited}, remote: {unlimited}}}
rc_invites: {{per_room: {unlimited}, per_user: {unlimited}, per_issuer: {unlimited}}}
rc_login: {{address: {unlimited}, account: {unlimited}, failed_attempts: {unlimited}}}
rc_key_requests: {unlimited}
rc_3pid_validation: {unlimited}
rc_admin_redaction: {unlimited}
rc_room_creation: {unlimited}
rc_delayed_event_mgmt: {unlimited}
"
    )
}
