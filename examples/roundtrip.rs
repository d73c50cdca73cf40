//! Benchmark: how long one action takes end to end on loopback, the test asking and a
//! simulated adapter answering over real HTTP, in the three ways an adapter can poll:
//! plain poll + respond (an adapter that ignores `delay`), long poll + respond, and
//! respond-and-wait (one request per action). Prints medians over several runs.
//!
//!     cargo run --release --example roundtrip [actions per run] [runs]

use serde_json::{json, Value};
use std::net::TcpListener;
use std::time::{Duration, Instant};
use trafficlight::config::Config;
use trafficlight::startup;
use trafficlight_actors::body::async_body;
use trafficlight_actors::case::{CaseSpec, Slot};
use trafficlight_actors::{ClientRequirement, Outcome};

#[derive(Clone, Copy, Debug)]
enum Mode {
    PollRespond,
    LongPollRespond,
    RespondAndWait,
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let actions = args.first().copied().unwrap_or(2000);
    let runs = args.get(1).copied().unwrap_or(5);
    println!("{actions} actions per run, {runs} runs per mode, one adapter, loopback");
    for mode in [Mode::PollRespond, Mode::LongPollRespond, Mode::RespondAndWait] {
        let mut rates: Vec<f64> = (0..runs).map(|_| run(mode, actions)).collect();
        rates.sort_by(|a, b| a.total_cmp(b));
        let median = rates[rates.len() / 2];
        println!(
            "{mode:?}: median {median:.0} actions/s ({:.1} µs per action); min {:.0}, max {:.0}",
            1e6 / median,
            rates[0],
            rates[rates.len() - 1]
        );
    }
}

/// One server, one case performing `actions` actions, one adapter; answers actions/s.
fn run(mode: Mode, actions: usize) -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let output = std::env::temp_dir().join(format!("trafficlight-bench-{}", std::process::id()));
    let server = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let mut config = Config { output, ..Config::default() };
            // Long enough for the adapter to hear `exit` after its last action.
            config.timeouts.exit_grace = Duration::from_secs(1);
            let body = async_body(move |ctx| async move {
                let client = ctx.clients[0].clone();
                for i in 0..actions {
                    if let Err(e) = client.perform("noop", json!({ "n": i })).await {
                        return e.outcome();
                    }
                }
                Outcome::Success
            });
            let case = CaseSpec {
                id: "bench".into(),
                test: "bench".into(),
                slots: vec![Slot { name: "alice".into(), requirement: ClientRequirement::Type("bench".into()) }],
                servers: None,
                timeout: None,
                body,
            };
            let running = startup::start(listener, config, vec![case]).await.unwrap();
            let report = running.allocator.send(trafficlight_actors::allocator::RunEnded).await.unwrap();
            assert!(report.succeeded(), "{}", report.summary());
            running.handle.stop(true).await;
        })
    });
    let base = format!("http://{addr}");
    let elapsed = actix_web::rt::System::new().block_on(adapter(base, mode));
    server.join().unwrap();
    actions as f64 / elapsed.as_secs_f64()
}

async fn adapter(base: String, mode: Mode) -> Duration {
    let http = awc::Client::builder().timeout(Duration::from_secs(60)).finish();
    http.post(format!("{base}/client/bench-1/register")).send_json(&json!({"type": "bench"})).await.unwrap();
    let poll_url = match mode {
        Mode::PollRespond => format!("{base}/client/bench-1/poll"),
        _ => format!("{base}/client/bench-1/poll?wait=30"),
    };
    let respond_url = match mode {
        Mode::RespondAndWait => format!("{base}/client/bench-1/respond?wait=30"),
        _ => format!("{base}/client/bench-1/respond"),
    };
    let get = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let mut answer = get(poll_url.clone()).await;
    let mut started = None;
    loop {
        match answer["action"].as_str() {
            Some("exit") => break,
            Some("idle") => answer = get(poll_url.clone()).await,
            _ => {
                started.get_or_insert_with(Instant::now);
                let mut resp = http.post(respond_url.clone()).send_json(&json!({"response": "ok"})).await.unwrap();
                let next: Value = resp.json().await.unwrap();
                answer = match mode {
                    Mode::RespondAndWait => next,
                    _ => get(poll_url.clone()).await,
                };
            }
        }
    }
    started.map(|s| s.elapsed()).unwrap_or_default()
}
