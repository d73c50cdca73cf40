//! `trafficlight demo`: the whole thing on one machine, no Docker. The server runs with the
//! local Synapse server type (a fresh Synapse process per case), and the demo starts the
//! adapters itself: the headless Matrix client (`trafficlight-matrix-client`, one process
//! with one adapter per `matrix-rust-sdk` slot of the run) and in-process network proxies
//! (one per `network-proxy` slot), so every case runs at once. It prints the dashboard
//! URL, runs to the end, prints the summary, stops what it started (also on SIGINT and
//! SIGTERM) and exits with serve's status.

use crate::cli::DemoArgs;
use crate::config::{Config, FileConfig};
use crate::provision::process::Guarded;
use crate::provision::{ServerKind, ServerTypes};
use crate::proxy::{self, ProxyConfig, ProxyHandle};
use crate::serve::{self, bad_start, EXIT_BAD_START};
use crate::startup;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};
use trafficlight_actors::allocator;
use trafficlight_actors::case::CaseSpec;

/// The client type of the headless Matrix client.
pub const MATRIX_CLIENT_TYPE: &str = "matrix-rust-sdk";
/// The client type of the network proxy.
pub const PROXY_TYPE: &str = "network-proxy";
/// The headless client's binary, as cargo names it.
pub const CLIENT_BIN_NAME: &str = "trafficlight-matrix-client";
/// The demo's tests, below the repository root.
pub const DEMO_SCENARIOS: &str = "examples/matrix-client/scenarios";
/// The demo's output directory, unless `--output` (or the config) names one.
pub const DEMO_OUTPUT: &str = "output/demo";
/// The demo's exit grace (seconds), unless given: its own clients hear `exit` at once.
const DEMO_EXIT_GRACE: f64 = 2.0;
/// How long the client process may take to exit by itself after the run before it is
/// stopped (SIGTERM, then SIGKILL).
const CLIENT_EXIT_WAIT: Duration = Duration::from_secs(5);
/// How often the demo looks whether the client process is still running.
const CLIENT_CHECK: Duration = Duration::from_millis(250);

/// What the run's cases need at once.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Adapters {
    /// Slots of the headless Matrix client's type.
    pub clients: usize,
    /// Slots of the network proxy's type.
    pub proxies: usize,
    /// Slots of other types (the demo does not start those).
    pub others: Vec<String>,
}

impl Adapters {
    /// Counts the slots of `cases`: each adapter serves one case, so every slot is one.
    pub fn of(cases: &[CaseSpec]) -> Adapters {
        let mut needed = Adapters::default();
        for slot in cases.iter().flat_map(|c| &c.slots) {
            match slot.requirement.type_key() {
                Some(MATRIX_CLIENT_TYPE) => needed.clients += 1,
                Some(PROXY_TYPE) => needed.proxies += 1,
                other => {
                    let name = other.unwrap_or("any").to_string();
                    if !needed.others.contains(&name) {
                        needed.others.push(name);
                    }
                }
            }
        }
        needed
    }
}

/// `trafficlight demo`: resolves the flags with the demo's defaults and runs it.
pub fn main(args: DemoArgs) -> i32 {
    let config = match config(&args) {
        Ok(c) => c,
        Err(e) => return bad_start(e),
    };
    run(config, args.client_bin, args.client_deadline)
}

/// serve's configuration with the demo's defaults where neither a flag nor the config
/// file says otherwise: the demo's tests, the local Synapse server type, only the client
/// types the demo starts, `output/demo`, a short exit grace.
pub fn config(args: &DemoArgs) -> Result<Config, String> {
    let mut serve = args.serve.clone();
    let file = match &serve.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    serve.local_synapse = true;
    if serve.scenarios.is_none() && file.scenarios.is_none() {
        serve.scenarios = Some(default_scenarios());
    }
    if serve.clients.is_none() && file.clients.is_none() {
        serve.clients = Some(format!("{MATRIX_CLIENT_TYPE},{PROXY_TYPE}"));
    }
    if serve.output.is_none() && file.output.is_none() {
        serve.output = Some(PathBuf::from(DEMO_OUTPUT));
    }
    if serve.exit_grace.is_none() && file.exit_grace.is_none() {
        serve.exit_grace = Some(DEMO_EXIT_GRACE);
    }
    serve.resolve()
}

/// The demo's tests: below the current directory (the repository root), else in the
/// source tree this binary was built from.
pub fn default_scenarios() -> PathBuf {
    let here = PathBuf::from(DEMO_SCENARIOS);
    if here.is_dir() {
        return here;
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEMO_SCENARIOS);
    if built_from.is_dir() {
        built_from
    } else {
        here
    }
}

/// The headless client's binary: `given`, else next to this executable.
pub fn client_binary(given: Option<&Path>) -> Result<PathBuf, String> {
    let build = format!("build it with `cargo build -p {CLIENT_BIN_NAME}`");
    if let Some(path) = given {
        return if path.is_file() {
            Ok(path.to_path_buf())
        } else {
            Err(format!("--client-bin {}: no such file ({build})", path.display()))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot tell where this executable is: {e}"))?;
    let beside = exe.parent().map(|dir| dir.join(CLIENT_BIN_NAME));
    match beside {
        Some(path) if path.is_file() => Ok(path),
        Some(path) => Err(format!(
            "the headless Matrix client is not built: no {} ({build} in the same profile, or name it with --client-bin)",
            path.display()
        )),
        None => Err(format!("the headless Matrix client is not found ({build}, or name it with --client-bin)")),
    }
}

/// Every local-Synapse Python the cases will start: each must exist before the run starts.
fn check_synapse(cases: &[CaseSpec], types: &ServerTypes, default_python: &Path) -> Result<(), String> {
    for case in cases {
        let Some(request) = &case.servers else { continue };
        if let Some(ServerKind::Synapse(entry)) = types.defined.get(&request.kind) {
            let python = entry.python.as_deref().unwrap_or(default_python);
            if !python.exists() {
                return Err(format!(
                    "no Synapse at {}: install it with scripts/install-synapse.sh (scripts/demo.sh does) or name its Python with --synapse-python",
                    python.display()
                ));
            }
        }
    }
    Ok(())
}

/// Runs the demo with `config` (see [`config`]); answers the exit status.
pub fn run(config: Config, client_bin: Option<PathBuf>, client_deadline: u64) -> i32 {
    let started = Instant::now();
    let prepared = match serve::prepare(&config) {
        Ok(p) => p,
        Err(e) => return bad_start(e),
    };
    let needed = Adapters::of(&prepared.cases);
    let client_bin = match needed.clients {
        0 => None,
        _ => match client_binary(client_bin.as_deref()) {
            Ok(path) => Some(path),
            Err(e) => return bad_start(e),
        },
    };
    if let Err(e) = check_synapse(&prepared.cases, &prepared.types, &config.provision.synapse_python) {
        return bad_start(e);
    }
    let cases = prepared.cases.len();
    actix_web::rt::System::new().block_on(async move {
        let listener = match startup::bind(&config) {
            Ok(l) => l,
            Err(e) => return bad_start(e),
        };
        let output = config.output.clone();
        serve::warn_if_homerunner_missing(&config, &prepared.homerunner_tests).await;
        let running = match startup::start_with_scripts(listener, config, prepared.cases, prepared.scripts).await {
            Ok(running) => running,
            Err(e) => return bad_start(e),
        };
        let url = base_url(running.addr);
        let allocator = running.allocator.clone();
        println!("dashboard: {url}/status");
        println!(
            "demo: {cases} case(s) at once, each with its own Synapse; {} headless Matrix client(s), {} network prox{}",
            needed.clients,
            needed.proxies,
            if needed.proxies == 1 { "y" } else { "ies" }
        );
        if !needed.others.is_empty() {
            println!("demo: the cases also need adapters it does not start: {}", needed.others.join(", "));
        }
        let mut start_failed = false;
        let clients = match &client_bin {
            Some(bin) => {
                let log = output.join("matrix-client.log");
                match spawn_clients(bin, &url, needed.clients, client_deadline, &log) {
                    Ok(child) => {
                        println!("demo: client log {}", log.display());
                        Some(Rc::new(RefCell::new(Some(child))))
                    }
                    Err(e) => {
                        eprintln!("error: cannot start {}: {e}", bin.display());
                        start_failed = true;
                        None
                    }
                }
            }
            None => None,
        };
        let mut proxies: Vec<ProxyHandle> = Vec::new();
        for _ in 0..needed.proxies {
            if start_failed {
                break;
            }
            match proxy::run(ProxyConfig { trafficlight_url: url.clone(), ..Default::default() }).await {
                Ok(handle) => proxies.push(handle),
                Err(e) => {
                    eprintln!("error: cannot start a network proxy: {e}");
                    start_failed = true;
                }
            }
        }
        if start_failed {
            allocator.do_send(allocator::Shutdown);
        }
        let watch = clients.clone().map(|clients| actix_web::rt::spawn(watch_clients(clients, allocator.clone())));
        // A signal ends the run (run_to_end sees it too): the clients are then mid-action
        // and will not exit by themselves, so they are stopped without waiting.
        let signalled = Rc::new(std::cell::Cell::new(false));
        let mut signals = startup::Signals::install();
        let seen = signalled.clone();
        let listen = actix_web::rt::spawn(async move {
            signals.next().await;
            seen.set(true);
        });
        let status = startup::run_to_end(running).await;
        listen.abort();
        if let Some(watch) = watch {
            watch.abort();
        }
        for proxy in proxies {
            proxy.stop().await;
        }
        if let Some(child) = clients.and_then(|c| c.borrow_mut().take()) {
            let wait = if signalled.get() { Duration::ZERO } else { CLIENT_EXIT_WAIT };
            stop_clients(child, wait).await;
        }
        eprintln!("demo: took {:.1} s", started.elapsed().as_secs_f64());
        if start_failed {
            EXIT_BAD_START
        } else {
            status
        }
    })
}

/// trafficlight's URL for adapters on this machine (an unspecified address is loopback).
fn base_url(addr: SocketAddr) -> String {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    format!("http://{addr}")
}

/// Starts one client process with `count` adapters, its output into `log`.
fn spawn_clients(bin: &Path, url: &str, count: usize, deadline: u64, log: &Path) -> std::io::Result<Guarded> {
    let mut command = Command::new(bin);
    command.args(["--url", url, "--count", &count.to_string(), "--deadline", &deadline.to_string()]);
    if std::env::var_os("RUST_LOG").is_none() {
        command.env("RUST_LOG", "warn");
    }
    Guarded::spawn(command, log)
}

/// If the client process ends while the run still needs it (it crashed, or could not
/// reach trafficlight), the cases waiting for its adapters would wait forever: stop the run.
async fn watch_clients(clients: Rc<RefCell<Option<Guarded>>>, allocator: actix::Addr<allocator::Allocator>) {
    loop {
        tokio::time::sleep(CLIENT_CHECK).await;
        let exited = clients.borrow_mut().as_mut().and_then(Guarded::exited);
        if let Some(status) = exited {
            if !status.success() {
                log::error!("the headless Matrix clients exited ({status}) before the run ended: stopping the run");
                allocator.do_send(allocator::Shutdown);
            }
            return;
        }
    }
}

/// Gives the client process `wait` to exit by itself (its adapters heard `exit`), then
/// stops it (SIGTERM, then SIGKILL) and reaps it.
async fn stop_clients(mut child: Guarded, wait: Duration) {
    let until = Instant::now() + wait;
    while Instant::now() < until {
        if let Some(status) = child.exited() {
            if !status.success() {
                log::warn!("the headless Matrix clients exited with {status}");
            }
            return;
        }
        tokio::time::sleep(CLIENT_CHECK / 5).await;
    }
    child.stop().await;
}
