//! The dashboard under load (issue 8; BENCHMARKS.md, "Dashboard", gives the figures):
//! the server in a process of its own (as `examples/bench` starts it), 10,000 simulated
//! adapters registered and long polling (`trafficlight swarm`'s), then
//!
//! (a) `/status`, `/api/status` and `/metrics` fetched one after another, `--requests`
//!     times each: the time to the last byte, median and p90;
//! (b) a small running workload, `--workers` cases whose scripts act once every
//!     `--interval-ms` for `--ticks` actions (open loop), once with nobody watching and
//!     once with a page viewer fetching `/status` continuously (one request after
//!     another): the action round trip from outside (less the script's sleep) and the
//!     coordinator's own latency measured by the server (`/status/metrics.json`), p50 and
//!     p99 of both runs and their ratio.
//!
//!     cargo run --release --example dashboard_load -- [--adapters 10000] [--workers 50]
//!         [--interval-ms 100] [--ticks 100] [--requests 30] [--threads 1] [--view-every-ms 0]
//!
//! `--view-every-ms N` makes the viewer fetch `/status` every N ms (a person reloading)
//! instead of one request right after another (0, the default).
//!
//! Figures, not assertions.

#[allow(dead_code)] // the benchmarks' server: not every helper is used here
#[path = "bench/server.rs"]
mod server;

use serde_json::Value;
use server::Server;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use trafficlight::swarm::{self, Mode, SwarmArgs};

/// How long the crowd may take to register before we give up waiting.
const FORM_LIMIT: Duration = Duration::from_secs(180);

struct Settings {
    adapters: usize,
    workers: usize,
    interval_ms: usize,
    ticks: usize,
    requests: usize,
    threads: usize,
    view_every_ms: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("__serve") {
        std::process::exit(server::serve(Path::new(&args[1])));
    }
    let flag = |name: &str, default: usize| -> usize {
        match args.iter().position(|a| a == name) {
            Some(at) => {
                args.get(at + 1).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{name} needs a number"))
            }
            None => default,
        }
    };
    let settings = Settings {
        adapters: flag("--adapters", 10_000),
        workers: flag("--workers", 50).max(1),
        interval_ms: flag("--interval-ms", 100),
        ticks: flag("--ticks", 100).max(1),
        requests: flag("--requests", 30).max(1),
        threads: flag("--threads", 1).max(1),
        view_every_ms: flag("--view-every-ms", 0),
    };
    println!("{}", server::machine());
    run(&settings);
}

fn run(s: &Settings) {
    let body = format!("for i in 0..{} {{ alice.act(\"tick\", #{{ i: i }}); sleep({}); }}", s.ticks, s.interval_ms);
    let script = |name: &str| {
        let types: Vec<String> = (0..s.workers).map(|i| format!("\"{name}{i}\"")).collect();
        (
            format!("{name}.rhai"),
            format!("fn needs() {{ #{{ clients: #{{ alice: [{}] }} }} }}\n{body}\n", types.join(", ")),
        )
    };
    // Two tests of `workers` cases each, one type per case: "quiet" runs with nobody
    // watching, "viewed" while a viewer fetches /status. The crowd's type fits no case.
    let server = Server::start(&[script("quiet"), script("viewed")]);
    println!(
        "\n{} adapters registered and long polling (type crowd, no case for them); {} cases waiting for theirs",
        s.adapters,
        2 * s.workers
    );
    let crowd = swarm::start(swarm_options(&server, s.adapters, &["crowd".into()], s.threads));
    let started = Instant::now();
    while crowd.registrations() < s.adapters as u64 && started.elapsed() < FORM_LIMIT {
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("  {} registered in {:.2} s", crowd.registrations(), started.elapsed().as_secs_f64());
    // Let every first long poll reach the server and be held.
    std::thread::sleep(Duration::from_secs(2));
    println!("  server RSS {:.0} MB", server.rss_mb());

    println!("\n(a) render time, {} requests each, one after another (time to the last byte)", s.requests);
    for path in ["/status", "/status?page=50", "/status?state=idle&page=99", "/api/status", "/metrics"] {
        let (times, bytes) = fetch_n(&server.base, path, s.requests);
        let (p50, p90) = (percentile(&times, 0.5), percentile(&times, 0.9));
        println!(
            "  {path}: median {p50:.1} ms, p90 {p90:.1} ms, max {:.1} ms ({bytes} bytes)",
            percentile(&times, 1.0)
        );
    }
    let (_, api) = get_json(&server.base, "/api/status?adapters=0");
    println!("  counts shown: adapters {}, cases {}", api["counts"]["adapters"], api["counts"]["cases"]);

    println!(
        "\n(b) {} cases acting once every {} ms, {} actions each (open loop), among the {} idle adapters",
        s.workers, s.interval_ms, s.ticks, s.adapters
    );
    let quiet = phase(&server, s, "quiet", None);
    let stop = Arc::new(AtomicBool::new(false));
    let viewer = {
        let (base, stop, every) = (server.base.clone(), stop.clone(), Duration::from_millis(s.view_every_ms as u64));
        std::thread::spawn(move || view_until(&base, &stop, every))
    };
    let viewed = phase(&server, s, "viewed", Some(()));
    stop.store(true, Ordering::Relaxed);
    let views = viewer.join().expect("the viewer ends");
    println!(
        "  the viewer fetched /status {} times meanwhile: median {:.1} ms, p90 {:.1} ms",
        views.len(),
        percentile(&views, 0.5),
        percentile(&views, 0.9)
    );
    println!("\n  ratio with a viewer / without:");
    for (what, a, b) in [
        ("outside p50", quiet.outside_p50, viewed.outside_p50),
        ("outside p99", quiet.outside_p99, viewed.outside_p99),
        ("server act→delivered p50", quiet.delivered.0, viewed.delivered.0),
        ("server act→delivered p99", quiet.delivered.1, viewed.delivered.1),
        ("server respond→resumed p50", quiet.resumed.0, viewed.resumed.0),
        ("server respond→resumed p99", quiet.resumed.1, viewed.resumed.1),
    ] {
        println!("  {what}: {a:.3} ms → {b:.3} ms ({:.2}×)", b / a);
    }
    crowd.stop();
    let summary = crowd.join();
    if summary.errors > 0 {
        eprintln!("  (crowd: {} errors: {:?})", summary.errors, summary.error_texts);
    }
}

/// One run of the workload's figures, in milliseconds.
struct PhaseFigures {
    outside_p50: f64,
    outside_p99: f64,
    /// The server's act→delivered histogram over the run: (p50, p99), bucket bounds.
    delivered: (f64, f64),
    resumed: (f64, f64),
}

fn phase(server: &Server, s: &Settings, test: &str, viewer: Option<()>) -> PhaseFigures {
    let before = server_histograms(&server.base);
    let types: Vec<String> = (0..s.workers).map(|i| format!("{test}{i}")).collect();
    let summary = swarm::run(swarm_options(server, s.workers, &types, s.threads));
    let after = server_histograms(&server.base);
    if summary.errors > 0 {
        eprintln!("  ({test}: {} errors: {:?})", summary.errors, summary.error_texts);
    }
    let l = summary.round_trip.expect("round trips");
    let sleep = s.interval_ms as f64;
    let figures = PhaseFigures {
        outside_p50: ms(l.p50) - sleep,
        outside_p99: ms(l.p99) - sleep,
        delivered: quantiles(&before, &after, "act_to_delivered"),
        resumed: quantiles(&before, &after, "respond_to_resumed"),
    };
    println!(
        "  {}: {} actions; from outside (round trip − {} ms sleep) p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; server: act→delivered p50 ≤{:.3} p99 ≤{:.3} ms, respond→resumed p50 ≤{:.3} p99 ≤{:.3} ms",
        if viewer.is_some() {
            if s.view_every_ms == 0 {
                "with a viewer on /status (back to back)".to_string()
            } else {
                format!("with a viewer on /status (every {} ms)", s.view_every_ms)
            }
        } else {
            "nobody watching".to_string()
        },
        summary.actions,
        s.interval_ms,
        figures.outside_p50,
        figures.outside_p99,
        ms(l.max) - sleep,
        figures.delivered.0,
        figures.delivered.1,
        figures.resumed.0,
        figures.resumed.1,
    );
    figures
}

fn swarm_options(server: &Server, adapters: usize, types: &[String], threads: usize) -> swarm::Options {
    let args = SwarmArgs {
        url: server.base.clone(),
        adapters,
        types: types.to_vec(),
        mode: Mode::LongPoll,
        lives: Some(1),
        seed: Some(1),
        threads,
        quiet: true,
        ..SwarmArgs::default()
    };
    args.options().expect("valid swarm flags")
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// Nearest-rank percentile `p` (0 to 1) of `values`.
fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// Fetches `path` `n` times in a row; answers the times in ms and the last body's size.
fn fetch_n(base: &str, path: &str, n: usize) -> (Vec<f64>, usize) {
    let url = format!("{base}{path}");
    actix_web::rt::System::new().block_on(async move {
        let http = awc::Client::builder().timeout(Duration::from_secs(120)).finish();
        let mut times = Vec::with_capacity(n);
        let mut size = 0;
        for _ in 0..n {
            let started = Instant::now();
            let mut resp = http.get(&url).send().await.expect("request sent");
            let body = resp.body().limit(256 * 1024 * 1024).await.expect("body read");
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            assert!(resp.status().is_success(), "{url}: {}", resp.status());
            size = body.len();
        }
        (times, size)
    })
}

fn get_json(base: &str, path: &str) -> (u16, Value) {
    let url = format!("{base}{path}");
    actix_web::rt::System::new().block_on(async move {
        let http = awc::Client::builder().timeout(Duration::from_secs(120)).finish();
        let mut resp = http.get(&url).send().await.expect("request sent");
        let body = resp.body().limit(256 * 1024 * 1024).await.expect("body read");
        (resp.status().as_u16(), serde_json::from_slice(&body).unwrap_or(Value::Null))
    })
}

/// Fetches /status until `stop`, a request every `every` (or one right after another);
/// answers the times in ms.
fn view_until(base: &str, stop: &AtomicBool, every: Duration) -> Vec<f64> {
    let url = format!("{base}/status");
    actix_web::rt::System::new().block_on(async move {
        let http = awc::Client::builder().timeout(Duration::from_secs(120)).finish();
        let mut times = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            let Ok(mut resp) = http.get(&url).send().await else { break };
            if resp.body().limit(256 * 1024 * 1024).await.is_err() {
                break;
            }
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            if let Some(rest) = every.checked_sub(started.elapsed()) {
                actix_web::rt::time::sleep(rest).await;
            }
        }
        times
    })
}

/// The server's coordinator histograms (`/status/metrics.json`).
fn server_histograms(base: &str) -> Value {
    get_json(base, "/status/metrics.json").1
}

/// p50 and p99 (ms, as bucket upper bounds) of the observations histogram `name` gained
/// between `before` and `after`.
fn quantiles(before: &Value, after: &Value, name: &str) -> (f64, f64) {
    let buckets = |v: &Value| -> Vec<(Option<u64>, u64)> {
        v["histograms"]
            .as_array()
            .and_then(|hs| hs.iter().find(|h| h["name"] == name))
            .and_then(|h| h["buckets"].as_array())
            .map(|bs| bs.iter().map(|b| (b["le_us"].as_u64(), b["count"].as_u64().unwrap_or(0))).collect())
            .unwrap_or_default()
    };
    let (a, b) = (buckets(before), buckets(after));
    let gained: Vec<(Option<u64>, u64)> =
        b.iter().zip(a.iter().chain(std::iter::repeat(&(None, 0)))).map(|((le, n), (_, m))| (*le, n - m)).collect();
    let total: u64 = gained.iter().map(|(_, n)| n).sum();
    let q = |p: f64| -> f64 {
        let rank = ((total as f64) * p).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (le, n) in &gained {
            seen += n;
            if seen >= rank {
                return le.map_or(f64::INFINITY, ms);
            }
        }
        f64::NAN
    };
    if total == 0 {
        (f64::NAN, f64::NAN)
    } else {
        (q(0.5), q(0.99))
    }
}
