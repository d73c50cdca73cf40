//! Benchmark of the allocator alone (no HTTP): how long registrations take while many
//! cases wait, in the pattern that made naive reservation quadratic (cases needing a
//! client type that never comes) and in the plain one (one-adapter cases).
//!
//!     cargo run --release -p trafficlight-actors --example allocation [adapters]

use actix::prelude::*;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use trafficlight_actors::allocator::{Allocator, Register, StartRun};
use trafficlight_actors::body::async_body;
use trafficlight_actors::case::{CaseSpec, Slot};
use trafficlight_actors::{ClientRequirement, Outcome, StaticServers, Timeouts};

fn case(id: usize, types: &[&str]) -> CaseSpec {
    CaseSpec {
        id: format!("case-{id}"),
        test: "bench".into(),
        slots: types
            .iter()
            .enumerate()
            .map(|(i, t)| Slot { name: format!("c{i}"), requirement: ClientRequirement::Type(t.to_string()) })
            .collect(),
        servers: None,
        timeout: None,
        body: async_body(|_| futures::future::pending::<Outcome>()),
    }
}

async fn registrations(adapters: usize, cases: Vec<CaseSpec>) -> Duration {
    let timeouts =
        Timeouts { idle: Duration::from_secs(3600), active: Duration::from_secs(3600), ..Timeouts::default() };
    let output = std::env::temp_dir().join("trafficlight-allocation-bench");
    let allocator = Allocator::new(timeouts, Arc::new(StaticServers::default()), output).start();
    allocator.send(StartRun { id: "bench".into(), cases }).await.unwrap().unwrap();
    let started = Instant::now();
    for i in 0..adapters {
        let registration = json!({"type": "web"}).as_object().unwrap().clone();
        allocator.send(Register { uuid: format!("a{i}"), registration, arbiter: None }).await.unwrap().unwrap();
    }
    started.elapsed()
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    System::new().block_on(async move {
        let blocked = registrations(n, (0..n).map(|i| case(i, &["web", "android"])).collect()).await;
        println!(
            "{n} web adapters, {n} waiting cases needing web+android (never startable): {:.1} µs per registration",
            blocked.as_secs_f64() * 1e6 / n as f64
        );
        let plain = registrations(n, (0..n).map(|i| case(i, &["web"])).collect()).await;
        println!(
            "{n} web adapters, {n} one-adapter cases (each registration starts one): {:.1} µs per registration",
            plain.as_secs_f64() * 1e6 / n as f64
        );
    });
}
