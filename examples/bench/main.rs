//! The benchmarks of issue 7 (BENCHMARKS.md gives the figures): the server in a process of
//! its own, driven over loopback by `trafficlight swarm`'s simulated adapters. Figures,
//! not assertions; each is the median of `--runs` runs.
//!
//!     cargo run --release --example bench -- all|sequential|closed|open|idle|burst [--runs 3]
//!         [--actions 10000] [--adapters N] [--ticks 60] [--threads 1]
//!
//! - sequential (1): one adapter, `--actions` actions one after another, in each polling
//!   mode, and the bare-request ceiling (a 404 of the same server, same client).
//! - closed (2): 1,000 cases × 20 actions, 1,000 long-polling adapters, as fast as they go.
//! - open (2b): 1,000 cases whose scripts act once a second for `--ticks` seconds.
//! - idle (3): 10,000 adapters registered and long polling; then the time from a case's
//!   adapter arriving to its first action.
//! - burst (4): 10,000 registrations at once; the time until the server has told each
//!   one `idle`.

mod benches;
mod server;

use std::path::Path;

/// Options of a benchmark run.
pub struct Settings {
    pub runs: usize,
    pub actions: usize,
    /// Overrides the number of adapters of closed, open, idle and burst.
    pub adapters: Option<usize>,
    pub ticks: usize,
    pub threads: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("__serve") {
        std::process::exit(server::serve(Path::new(&args[1])));
    }
    let flag = |name: &str| -> Option<usize> {
        let at = args.iter().position(|a| a == name)?;
        Some(args.get(at + 1).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{name} needs a number")))
    };
    let settings = Settings {
        runs: flag("--runs").unwrap_or(3).max(1),
        actions: flag("--actions").unwrap_or(10_000),
        adapters: flag("--adapters"),
        ticks: flag("--ticks").unwrap_or(60),
        threads: flag("--threads").unwrap_or(1).max(1),
    };
    let which = args.first().filter(|a| !a.starts_with("--")).map(String::as_str).unwrap_or("all");
    println!("{}", server::machine());
    let all = which == "all";
    let mut ran = false;
    for (name, bench) in [
        ("sequential", benches::sequential as fn(&Settings)),
        ("closed", benches::closed),
        ("open", benches::open),
        ("idle", benches::idle),
        ("burst", benches::burst),
    ] {
        if all || which == name {
            bench(&settings);
            ran = true;
        }
    }
    if !ran {
        eprintln!("unknown benchmark {which:?}: all, sequential, closed, open, idle or burst");
        std::process::exit(2);
    }
}
