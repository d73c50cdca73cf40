//! The server under test, in a process of its own (so its memory is its own): this
//! example started again as `bench __serve DIR`, serving the scripts in DIR.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use trafficlight::config::Config;
use trafficlight::{scenario, startup};

/// What the child prints once it listens.
const LISTENING: &str = "listening on ";
/// What the child prints when its run has ended: the server's own latency histograms.
const METRICS: &str = "metrics ";

/// A running server process.
pub struct Server {
    child: Child,
    pub base: String,
    _dir: tempfile::TempDir,
    metrics: std::sync::mpsc::Receiver<Vec<serde_json::Value>>,
}

impl Server {
    /// Writes `scripts` (file name, source) into a temporary directory and serves them.
    pub fn start(scripts: &[(String, String)]) -> Server {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::create_dir(dir.path().join("scenarios")).unwrap();
        for (name, source) in scripts {
            std::fs::write(dir.path().join("scenarios").join(name), source).unwrap();
        }
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("__serve")
            .arg(dir.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("the server process starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = loop {
            match lines.next() {
                Some(Ok(line)) if line.starts_with(LISTENING) => break line[LISTENING.len()..].trim().to_string(),
                Some(_) => continue,
                None => panic!("the server process ended before it listened"),
            }
        };
        // Keep reading its output (the summary), so it never blocks on a full pipe, and
        // pick out the histograms it prints at the end.
        let (tx, metrics) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Some(json) = line.strip_prefix(METRICS) {
                    let _ = tx.send(serde_json::from_str(json).unwrap_or_default());
                }
            }
        });
        Server { child, base, _dir: dir, metrics }
    }

    /// The most memory the server has held so far (VmHWM), in MB.
    pub fn peak_rss_mb(&self) -> f64 {
        self.status_kb("VmHWM:") / 1024.0
    }

    /// The memory the server holds now (VmRSS), in MB.
    pub fn rss_mb(&self) -> f64 {
        self.status_kb("VmRSS:") / 1024.0
    }

    fn status_kb(&self, field: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse().ok())
            .unwrap_or(f64::NAN)
    }

    /// Waits (at most `limit`) for the server to end its run and exit; answers the
    /// latency histograms it measured itself (empty if it printed none).
    pub fn wait_exit(&mut self, limit: Duration) -> Vec<serde_json::Value> {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(_)) = self.child.try_wait() {
                return self.metrics.recv_timeout(Duration::from_secs(1)).unwrap_or_default();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("the server did not end its run within {limit:?}; stopping it");
        Vec::new()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child: serves the scripts in `dir/scenarios` until the run ends, as
/// `trafficlight serve` would, with timeouts that never end a benchmark early.
pub fn serve(dir: &Path) -> i32 {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let scenarios = scenario::load_dir(&dir.join("scenarios"), None).expect("the benchmark's scripts load");
    let cases = scenario::expand(&scenarios);
    let mut config = Config { bind: "127.0.0.1:0".into(), output: dir.join("output"), ..Config::default() };
    config.timeouts.queue = None;
    config.timeouts.case = Duration::from_secs(600);
    config.timeouts.idle = Duration::from_secs(600);
    config.timeouts.exit_grace = Duration::from_secs(1);
    actix_web::rt::System::new().block_on(async move {
        let listener = startup::bind(&config).expect("the server binds");
        let running = startup::start(listener, config, cases).await.expect("the server starts");
        println!("{LISTENING}http://{}", running.addr);
        let status = startup::run_to_end(running).await;
        let histograms = serde_json::to_string(&trafficlight_actors::metrics::snapshot()).unwrap_or_default();
        println!("{METRICS}{histograms}");
        status
    })
}

/// The machine and its load, for the record.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "machine: {cores} cores (shared), {cpu}; load average at start {}",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    )
}
