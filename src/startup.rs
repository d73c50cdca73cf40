//! Startup, shared by `main` and the tests: bind, start the actors and the HTTP server,
//! and, for a whole run, wait for its end, report, and give the exit status.

use crate::config::Config;
use crate::dashboard::{Dashboard, Script};
use crate::http::{self, AppState};
use crate::provision::Provisioners;
use crate::results::{self, ResultsWriter};
use actix::{Actor, Addr};
use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{NormalizePath, TrailingSlash};
use actix_web::{web, App, HttpServer};
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use trafficlight_actors::allocator::{self, Allocator};
use trafficlight_actors::case::CaseSpec;
use trafficlight_actors::Provisioner;

/// Connections the kernel queues before the server accepts them. The 128 that std's
/// `TcpListener::bind` asks for drops connections when thousands of adapters register at
/// once (the kernel caps it at `net.core.somaxconn`).
const LISTEN_BACKLOG: i32 = 4096;

/// How long an idle HTTP connection is kept open.
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(75);

/// A started server: its address, its allocator and a handle to stop it.
pub struct Running {
    pub addr: SocketAddr,
    /// Where uploads and reports go.
    pub output: PathBuf,
    pub allocator: Addr<Allocator>,
    pub handle: ServerHandle,
    /// Appends each ended case to results.jsonl and rewrites the reports.
    pub results: Option<ResultsWriter>,
    /// SIGINT/SIGTERM handlers, installed before the server says where it listens: a
    /// signal that arrives as soon as the address is printed still ends the run cleanly.
    pub signals: Option<Signals>,
}

/// Binds `config.bind`, or uses `listener` when given (tests pass one on port 0).
pub fn bind(config: &Config) -> std::io::Result<TcpListener> {
    TcpListener::bind(&config.bind)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", config.bind)))
}

/// Starts the actors and the HTTP server on `listener`, and starts a run of `cases`.
pub async fn start(listener: TcpListener, config: Config, cases: Vec<CaseSpec>) -> std::io::Result<Running> {
    start_with_scripts(listener, config, cases, HashMap::new()).await
}

/// [`start`], with the tests' scripts (by test name) for the case pages to show.
pub async fn start_with_scripts(
    listener: TcpListener,
    config: Config,
    cases: Vec<CaseSpec>,
    scripts: HashMap<String, Script>,
) -> std::io::Result<Running> {
    let dashboard = Dashboard::new(scripts).map_err(|e| std::io::Error::other(format!("bad template: {e:?}")))?;
    let types = config.server_types().map_err(std::io::Error::other)?;
    let provisioner: Arc<dyn Provisioner> = Arc::new(Provisioners::new(&types, &config.provision));
    let allocator = Allocator::new(config.timeouts.clone(), provisioner, config.output.clone());
    let events = allocator.events();
    let registry = allocator.registry();
    let metrics = allocator.metrics();
    let allocator = allocator.start();
    let addr = listener.local_addr()?;
    // Listening again on a listening socket only changes its backlog.
    socket2::SockRef::from(&listener).listen(LISTEN_BACKLOG)?;
    let output = config.output.clone();
    // Whole seconds (actix's unit), rounded up: a drain of 0.5 s is not no drain at all.
    let drain = config.shutdown_drain.as_secs() + u64::from(config.shutdown_drain.subsec_nanos() > 0);
    std::fs::create_dir_all(&output)
        .and_then(|_| std::fs::write(output.join(results::RESULTS_FILE), b""))
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot write into {}: {e}", output.display())))?;
    // Listening before the run starts: no case can end unrecorded.
    let results = results::spawn(output.clone(), allocator.clone(), events.subscribe_case_ends());
    let state =
        AppState { allocator: allocator.clone(), registry, config, events, dashboard: Arc::new(dashboard), metrics };
    let server: Server = HttpServer::new(move || {
        App::new()
            // `TRAFFICLIGHT_URL=http://host:5000/` makes adapters ask for `//client/...`.
            .wrap(actix_web::middleware::from_fn(http::json_errors::json_error_bodies))
            .wrap(NormalizePath::new(TrailingSlash::MergeOnly))
            .app_data(web::Data::new(state.clone()))
            .configure(http::configure)
            .default_service(web::to(http::not_found))
    })
    .disable_signals()
    // Adapters poll every 5 s on a keep-alive connection: a server that closes idle
    // connections at 5 s races their next request.
    .keep_alive(KEEP_ALIVE)
    // A client that closes its connection has given up on its request: drop the handler,
    // so a held long poll of an adapter that died stops counting as a sign of life.
    .h1_allow_half_closed(false)
    // A stalled request must not hold the exit: after the run, open connections get this
    // long to finish.
    .shutdown_timeout(drain)
    .listen(listener)?
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let run_id = format!("run-{}", trafficlight_actors::unix_millis(std::time::SystemTime::now()));
    allocator
        .send(allocator::StartRun { id: run_id, cases })
        .await
        .map_err(std::io::Error::other)?
        .map_err(std::io::Error::other)?;
    Ok(Running { addr, output, allocator, handle, results: Some(results), signals: Some(Signals::install()) })
}

/// Exit status when the run ended but its reports could not be written.
pub const EXIT_REPORT_FAILED: i32 = 3;

/// Checks at start that `dir` can hold uploads and reports: creates it and writes (and
/// removes) a probe file. A run that could not store its results must not start.
pub fn check_output(dir: &Path) -> Result<(), String> {
    let unusable = |e: std::io::Error| format!("the output directory {} is not usable: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(unusable)?;
    let probe = dir.join(format!(".write-probe-{}", std::process::id()));
    std::fs::write(&probe, b"probe").map_err(unusable)?;
    std::fs::remove_file(&probe).map_err(unusable)
}

/// Waits until every case has ended (or SIGINT/SIGTERM ends the run), prints the summary,
/// writes the reports, stops the server and returns the process's exit status: 0 if
/// every case succeeded, 1 if not, 3 if the reports could not be written. A second
/// signal, at any point after the first, exits at once.
pub async fn run_to_end(mut running: Running) -> i32 {
    let allocator = running.allocator.clone();
    let mut signals = running.signals.take().unwrap_or_else(Signals::install);
    actix_web::rt::spawn(async move {
        let signal = signals.next().await;
        log::warn!("{signal}: stopping the run (send it again to exit at once)");
        allocator.do_send(allocator::Shutdown);
        let signal = signals.next().await;
        eprintln!("{signal} again: exiting at once");
        std::process::exit(1);
    });
    let report = running.allocator.send(allocator::RunEnded).await;
    // The last cases' lines go into results.jsonl before the final reports are written.
    if let Some(results) = running.results.take() {
        results.finish().await;
    }
    let status = match report {
        Ok(report) => {
            print!("{}", report.summary());
            match crate::reports::write(&report, &running.output, true) {
                Ok(paths) => {
                    log::info!(
                        "reports written: {}",
                        paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
                    );
                    if report.succeeded() {
                        0
                    } else {
                        1
                    }
                }
                Err(e) => {
                    eprintln!("error: cannot write the reports into {}: {e}", running.output.display());
                    EXIT_REPORT_FAILED
                }
            }
        }
        Err(e) => {
            eprintln!("error: the run's report was lost ({e}); counting the run as failed");
            1
        }
    };
    running.handle.stop(true).await;
    status
}

/// The process's SIGINT and SIGTERM handlers. Creating the streams installs the handlers
/// at once (not on first poll), so no signal between start and the first wait is lost to
/// the default action (which would kill the process without a summary).
pub struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Installs the handlers; needs a Tokio runtime (the actix System's).
    pub fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Signals { term: signal(SignalKind::terminate()).ok(), int: signal(SignalKind::interrupt()).ok() }
        }
        #[cfg(not(unix))]
        {
            Signals {}
        }
    }

    /// Waits for the next SIGINT or SIGTERM and names it.
    pub async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                _ = recv(&mut self.int) => "SIGINT",
                _ = recv(&mut self.term) => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}
