//! Benchmark: what provisioning costs. Local Synapse (start to first 200 of
//! `/_matrix/client/versions`, resident memory, teardown, and two federating servers at
//! once), and the overhead of a homerunner create + destroy against an in-process
//! stand-in that answers at once (homerunner itself needs Docker). Prints medians.
//!
//!     ./scripts/install-synapse.sh
//!     cargo run --release --example provisioning [synapse starts] [homerunner creates]

use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::{json, Value};
use std::time::Instant;
use trafficlight::provision::{synapse, Provisioners, ServerKind, ServerTypes, Settings, SynapseEntry};
use trafficlight_actors::{AbortSignal, ProvisionFor, Provisioner, ServerRequest};

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let starts = args.first().copied().unwrap_or(5);
    let creates = args.get(1).copied().unwrap_or(500);
    actix_web::rt::System::new().block_on(async move {
        local_synapse(starts).await;
        homerunner(creates).await;
    });
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn request(kind: &str, names: &[&str]) -> ServerRequest {
    ServerRequest { kind: kind.into(), names: names.iter().map(|n| n.to_string()).collect() }
}

fn rss_mib(pid: u64) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

async fn local_synapse(starts: usize) {
    let python =
        std::env::var_os("TRAFFICLIGHT_SYNAPSE_PYTHON").map(Into::into).unwrap_or_else(synapse::default_python);
    if !python.exists() {
        println!("local Synapse: skipped, no Synapse at {} (run scripts/install-synapse.sh)", python.display());
        return;
    }
    let settings = Settings { synapse_python: python, ..Settings::default() };
    let types = ServerTypes {
        defined: [("local".to_string(), ServerKind::Synapse(SynapseEntry::default()))].into(),
        fallback: None,
    };
    let provisioners = Provisioners::new(&types, &settings);
    let (mut ready, mut rss, mut teardown) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..starts {
        let case = ProvisionFor { case_id: format!("bench-{i}") };
        let began = Instant::now();
        let made = provisioners.provision(&case, &request("local", &["hs"]), AbortSignal::never()).await;
        let made = made.expect("a local Synapse starts");
        ready.push(began.elapsed().as_secs_f64());
        rss.push(rss_mib(made.servers[0].extra["pid"].as_u64().unwrap_or(0)));
        let began = Instant::now();
        made.teardown.await;
        teardown.push(began.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "local Synapse, n={starts}: start to first 200 median {:.2} s (min {:.2}, max {:.2}); RSS median {:.0} MiB; teardown median {:.0} ms",
        median(ready.clone()),
        ready.iter().cloned().fold(f64::MAX, f64::min),
        ready.iter().cloned().fold(0.0, f64::max),
        median(rss),
        median(teardown)
    );
    let case = ProvisionFor { case_id: "bench-federation".into() };
    let began = Instant::now();
    let made = provisioners.provision(&case, &request("local", &["hs1", "hs2"]), AbortSignal::never()).await;
    let made = made.expect("two local Synapses start");
    println!("two local Synapses of one case, started together: {:.2} s", began.elapsed().as_secs_f64());
    made.teardown.await;
}

async fn homerunner(creates: usize) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(|| {
        App::new()
            .route(
                "/create",
                web::post().to(|body: web::Json<Value>| async move {
                    let hs = body["blueprint"]["Homeservers"][0]["Name"].clone();
                    let hs = hs.as_str().unwrap_or("hs1").to_string();
                    HttpResponse::Ok().json(json!({
                        "homeservers": { hs: { "BaseURL": "http://localhost:1", "FedBaseURL": "https://localhost:2", "ContainerID": "c", "AccessTokens": {} } },
                        "expires": "2026-01-01T00:00:00Z",
                    }))
                }),
            )
            .route("/destroy", web::post().to(|| async { HttpResponse::Ok().json(json!({})) }))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    let settings = Settings { homerunner_url: url, ..Settings::default() };
    let types = ServerTypes { defined: trafficlight::provision::types::builtin(false), fallback: None };
    let provisioners = Provisioners::new(&types, &settings);
    let mut times = Vec::new();
    for i in 0..creates {
        let case = ProvisionFor { case_id: format!("bench-{i}") };
        let began = Instant::now();
        let made = provisioners.provision(&case, &request("synapse", &["hs"]), AbortSignal::never()).await.unwrap();
        made.teardown.await;
        times.push(began.elapsed().as_secs_f64() * 1000.0);
    }
    println!("homerunner stand-in (answers at once), n={creates}: create + destroy median {:.2} ms", median(times));
}
