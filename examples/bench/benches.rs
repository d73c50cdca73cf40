//! The five benchmarks: each starts a server with generated scripts, runs a swarm
//! against it, and prints medians over the runs.

use crate::server::Server;
use crate::Settings;
use std::time::{Duration, Instant};
use trafficlight::swarm::{self, Mode, Summary, SwarmArgs};

/// What the original Python server did in issue 7's sequential run (respond-and-wait had
/// nothing to compare with there; it was measured with its own polling), actions/s.
const PYTHON_ORIGINAL: f64 = 587.0;
/// How long a registration burst or an idle crowd may take to form before we give up.
const FORM_LIMIT: Duration = Duration::from_secs(120);

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// A swarm of `adapters` adapters of `types` against `server`, one life each.
fn swarm(server: &Server, adapters: usize, types: &[&str], mode: Mode, settings: &Settings) -> swarm::Options {
    let args = SwarmArgs {
        url: server.base.clone(),
        adapters,
        types: types.iter().map(|t| t.to_string()).collect(),
        mode,
        lives: Some(1),
        seed: Some(1),
        threads: settings.threads,
        max_delay: Some(0),
        ..SwarmArgs::default()
    };
    args.options().expect("valid swarm flags")
}

/// One script file: a test with one slot taking any of `types`, running `body`.
fn script(name: &str, types: &[String], body: &str) -> (String, String) {
    let types = types.iter().map(|t| format!("{t:?}")).collect::<Vec<_>>().join(", ");
    (format!("{name}.rhai"), format!("fn needs() {{ #{{ clients: #{{ alice: [{types}] }} }} }}\n{body}\n"))
}

fn numbered(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// The server's own histograms, one line each: `name: n, p50 ≤ x ms, p99 ≤ y ms, max z ms`
/// (the quantiles are bucket bounds). Answers (p50, p99) of each, in ms, in order.
fn server_latency(histograms: &[serde_json::Value]) -> Vec<(f64, f64)> {
    let bound = |h: &serde_json::Value, key: &str| h[key].as_u64().map_or(f64::NAN, ms);
    histograms
        .iter()
        .map(|h| {
            println!(
                "    server {}: n {}, p50 ≤ {:.2} ms, p99 ≤ {:.2} ms, max {:.2} ms",
                h["name"].as_str().unwrap_or("?"),
                h["count"],
                bound(h, "p50_le_us"),
                bound(h, "p99_le_us"),
                bound(h, "max_us")
            );
            (bound(h, "p50_le_us"), bound(h, "p99_le_us"))
        })
        .collect()
}

fn check(what: &str, summary: &Summary) {
    if summary.errors > 0 {
        eprintln!("  ({what}: {} errors: {:?})", summary.errors, summary.error_texts);
    }
}

/// (1) One adapter, sequential actions, each polling mode, and the bare ceiling.
pub fn sequential(settings: &Settings) {
    let n = settings.actions;
    println!(
        "\n(1) one adapter, {n} sequential actions; the ceiling: {n} bare requests (a 404), same server, same client"
    );
    let modes = [("respond-and-wait", Mode::RespondAndWait), ("long poll", Mode::LongPoll), ("classic", Mode::Classic)];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); 4];
    let mut p50: Vec<Vec<f64>> = vec![Vec::new(); 4];
    let mut p99: Vec<Vec<f64>> = vec![Vec::new(); 4];
    let mut ratios = Vec::new();
    for run in 0..settings.runs {
        let scripts: Vec<_> = (0..modes.len())
            .map(|m| {
                script(
                    &format!("seq{m}"),
                    &[format!("seq{m}")],
                    &format!("for i in 0..{n} {{ alice.act(\"noop\", #{{ n: i }}); }}"),
                )
            })
            .collect();
        let mut server = Server::start(&scripts);
        let mut results = Vec::new();
        let mut bare = swarm(&server, 1, &["bare"], Mode::Bare, settings);
        bare.actions = Some(n as u64);
        results.push(swarm::run(bare));
        for (m, (_, mode)) in modes.iter().enumerate() {
            results.push(swarm::run(swarm(&server, 1, &[&format!("seq{m}")], *mode, settings)));
        }
        let histograms = server.wait_exit(Duration::from_secs(10));
        let line: Vec<String> = results.iter().map(|s| format!("{:.0}/s", s.actions_per_sec())).collect();
        println!(
            "  run {}: bare {}, respond-and-wait {}, long poll {}, classic {}",
            run + 1,
            line[0],
            line[1],
            line[2],
            line[3]
        );
        server_latency(&histograms);
        for (i, summary) in results.iter().enumerate() {
            check("sequential", summary);
            rates[i].push(summary.actions_per_sec());
            let l = summary.round_trip.expect("round trips");
            p50[i].push(ms(l.p50));
            p99[i].push(ms(l.p99));
        }
        ratios.push(results[1].actions_per_sec() / results[0].actions_per_sec());
    }
    for (i, name) in
        ["bare request (ceiling)", "respond-and-wait", "long poll", "classic (re-polls at once)"].iter().enumerate()
    {
        println!(
            "  {name}: {:.0} actions/s, p50 {:.3} ms, p99 {:.3} ms",
            median(rates[i].clone()),
            median(p50[i].clone()),
            median(p99[i].clone())
        );
    }
    println!(
        "  respond-and-wait = {:.0}% of the ceiling (median of per-run ratios); {:.1}× the Python original's {PYTHON_ORIGINAL}/s",
        100.0 * median(ratios),
        median(rates[1].clone()) / PYTHON_ORIGINAL
    );
}

/// (2) 1,000 cases × 20 actions with 1,000 long-polling adapters, closed loop.
pub fn closed(settings: &Settings) {
    let adapters = settings.adapters.unwrap_or(1000);
    println!("\n(2) {adapters} cases × 20 actions, {adapters} adapters, long poll, closed loop");
    let (mut rates, mut peaks) = (Vec::new(), Vec::new());
    for run in 0..settings.runs {
        let types = numbered("c", adapters);
        let mut server =
            Server::start(&[script("closed", &types, "for i in 0..20 { alice.act(\"step\", #{ i: i }); }")]);
        let refs: Vec<&str> = types.iter().map(String::as_str).collect();
        let summary = swarm::run(swarm(&server, adapters, &refs, Mode::LongPoll, settings));
        check("closed", &summary);
        let peak = server.peak_rss_mb();
        server.wait_exit(Duration::from_secs(30));
        println!(
            "  run {}: {} actions, {:.0} actions/s, round trip p50 {:.2} ms p99 {:.2} ms; server peak RSS {peak:.0} MB",
            run + 1,
            summary.actions,
            summary.actions_per_sec(),
            summary.round_trip.map_or(f64::NAN, |l| ms(l.p50)),
            summary.round_trip.map_or(f64::NAN, |l| ms(l.p99)),
        );
        rates.push(summary.actions_per_sec());
        peaks.push(peak);
    }
    println!("  median: {:.0} actions/s, server peak RSS {:.0} MB", median(rates), median(peaks));
}

/// (2b) 1,000 cases acting once a second: the coordinator's latency per action.
pub fn open(settings: &Settings) {
    let adapters = settings.adapters.unwrap_or(1000);
    let ticks = settings.ticks;
    println!(
        "\n(2b) {adapters} cases, each acting once a second for {ticks} s (their starts spread over a second), {adapters} long-polling adapters"
    );
    let (mut p50s, mut p99s) = (Vec::new(), Vec::new());
    let (mut delivered, mut resumed) = (Vec::new(), Vec::new());
    for run in 0..settings.runs {
        let types = numbered("o", adapters);
        // Real clients are not in step: case n first waits n/adapters of a second, so the
        // actions arrive spread over each second rather than all in the same millisecond.
        let scripts: Vec<_> = types
            .iter()
            .enumerate()
            .map(|(n, t)| {
                let offset = n * 1000 / adapters;
                let body = format!(
                    "sleep({offset}); for i in 0..{ticks} {{ alice.act(\"tick\", #{{ i: i }}); sleep(1000); }}"
                );
                script(&format!("open{n}"), std::slice::from_ref(t), &body)
            })
            .collect();
        let mut server = Server::start(&scripts);
        let refs: Vec<&str> = types.iter().map(String::as_str).collect();
        let summary = swarm::run(swarm(&server, adapters, &refs, Mode::LongPoll, settings));
        check("open", &summary);
        let peak = server.peak_rss_mb();
        let histograms = server.wait_exit(Duration::from_secs(30));
        // From outside: the round trip (answer → next action) less the script's 1 s sleep:
        // both HTTP legs, the script resuming, and the sleep's own lateness.
        let l = summary.round_trip.expect("round trips");
        let (p50, p99) = (ms(l.p50) - 1000.0, ms(l.p99) - 1000.0);
        println!(
            "  run {}: {} actions; from outside (round trip − 1 s): p50 {p50:.2} ms, p99 {p99:.2} ms, max {:.2} ms; server peak RSS {peak:.0} MB",
            run + 1,
            summary.actions,
            ms(l.max) - 1000.0
        );
        p50s.push(p50);
        p99s.push(p99);
        // From inside: the coordinator's own part, measured by the server.
        let server = server_latency(&histograms);
        if let [to_delivered, to_resumed, ..] = server[..] {
            delivered.push(to_delivered);
            resumed.push(to_resumed);
        }
    }
    println!("  median from outside: p50 {:.2} ms, p99 {:.2} ms", median(p50s), median(p99s));
    if !delivered.is_empty() {
        let p = |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| median(v.iter().map(f).collect());
        println!(
            "  median measured by the server: act() → delivered p50 ≤ {:.2} ms p99 ≤ {:.2} ms; respond → script resumed p50 ≤ {:.2} ms p99 ≤ {:.2} ms",
            p(&delivered, |x| x.0),
            p(&delivered, |x| x.1),
            p(&resumed, |x| x.0),
            p(&resumed, |x| x.1)
        );
    }
}

/// (3) 10,000 idle long-polling adapters: the server's memory, and how soon a case's
/// adapter gets its first action among them.
pub fn idle(settings: &Settings) {
    let adapters = settings.adapters.unwrap_or(10_000);
    const PROBES: usize = 5;
    println!(
        "\n(3) {adapters} adapters registered and idle (long poll); then {PROBES} cases' adapters arrive one by one"
    );
    let (mut rss, mut firsts) = (Vec::new(), Vec::new());
    for run in 0..settings.runs {
        let scripts: Vec<_> = (0..PROBES)
            .map(|p| script(&format!("probe{p}"), &["probe".into()], "alice.act(\"first\", #{});"))
            .collect();
        let server = Server::start(&scripts);
        let crowd = swarm::start(swarm(&server, adapters, &["idle"], Mode::LongPoll, settings));
        let formed = wait_until(|| crowd.registrations() >= adapters as u64);
        // Let every first long poll reach the server and be held.
        std::thread::sleep(Duration::from_secs(2));
        let held = server.rss_mb();
        let probes: Vec<f64> = (0..PROBES).map(|p| probe(&server.base, p)).collect();
        crowd.stop();
        let summary = crowd.join();
        check("idle", &summary);
        let first = median(probes.clone());
        println!(
            "  run {}: {adapters} registered in {:.2} s; server RSS {held:.0} MB; first action {first:.2} ms after the adapter arrived (probes {:?})",
            run + 1,
            formed.as_secs_f64(),
            probes.iter().map(|p| format!("{p:.2}")).collect::<Vec<_>>()
        );
        rss.push(held);
        firsts.push(first);
    }
    println!("  median: server RSS {:.0} MB, first action {:.2} ms", median(rss), median(firsts));
}

/// Registers a `probe` adapter and long-polls; answers the milliseconds from sending the
/// registration to holding the case's first action. Then finishes the case.
fn probe(base: &str, n: usize) -> f64 {
    let base = base.to_string();
    actix_web::rt::System::new().block_on(async move {
        let http = awc::Client::builder().timeout(Duration::from_secs(60)).finish();
        let uuid = format!("probe-{n}-{}", std::process::id());
        let started = Instant::now();
        let registered =
            http.post(format!("{base}/client/{uuid}/register")).send_json(&serde_json::json!({"type": "probe"})).await;
        assert_eq!(registered.expect("register").status(), 200);
        loop {
            let answer: serde_json::Value =
                http.get(format!("{base}/client/{uuid}/poll?wait=30")).send().await.unwrap().json().await.unwrap();
            if answer["action"] == "first" {
                let took = started.elapsed().as_secs_f64() * 1000.0;
                http.post(format!("{base}/client/{uuid}/respond"))
                    .send_json(&serde_json::json!({"response": "ok"}))
                    .await
                    .unwrap();
                return took;
            }
        }
    })
}

/// (4) 10,000 registrations at once: the time until the server has told each `idle`.
pub fn burst(settings: &Settings) {
    let adapters = settings.adapters.unwrap_or(10_000);
    println!("\n(4) a burst of {adapters} registrations; time until every adapter has been told idle");
    let mut times = Vec::new();
    for run in 0..settings.runs {
        let server = Server::start(&[script("nobody", &["nobody".into()], "alice.act(\"never\", #{});")]);
        // Classic polls: the first plain poll after registering answers `idle` at once
        // (then each sleeps the 30 s the server asks for, until stopped).
        let mut options = swarm(&server, adapters, &["burst"], Mode::Classic, settings);
        options.max_delay = None;
        let crowd = swarm::start(options);
        let took = wait_until(|| crowd.idle() >= adapters as u64);
        let peak = server.peak_rss_mb();
        crowd.stop();
        let summary = crowd.join();
        check("burst", &summary);
        println!(
            "  run {}: all {adapters} idle after {:.2} s; server peak RSS {peak:.0} MB",
            run + 1,
            took.as_secs_f64()
        );
        times.push(took.as_secs_f64());
    }
    println!("  median: all idle after {:.2} s", median(times));
}

/// Waits (polling every ms, at most [`FORM_LIMIT`]) until `done`; answers how long it took.
fn wait_until(done: impl Fn() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        if started.elapsed() > FORM_LIMIT {
            eprintln!("  (gave up after {FORM_LIMIT:?})");
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    started.elapsed()
}
