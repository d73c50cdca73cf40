//! A headless Matrix client on matrix-rust-sdk, driven by trafficlight as an adapter of
//! client type `matrix-rust-sdk`: one adapter = one client = one device at a time, each
//! with its own store. `--count N` runs N adapters in one process.
//!
//!     cargo run -p trafficlight-matrix-client -- --url http://127.0.0.1:5000 --count 2
//!
//! See docs/matrix-client.md.

// Spawning the sync loop overflows the default limit evaluating `Send` (MATRIX-SDK.md).
#![recursion_limit = "256"]

mod actions;
mod adapter;
mod protocol;
mod session;

use anyhow::Context;
use clap::Parser;
use serde_json::json;
use session::DeviceOptions;
use std::path::PathBuf;
use std::time::Duration;

/// The matrix-sdk version this client is built on (pinned exactly in Cargo.toml).
const MATRIX_SDK_VERSION: &str = "0.18.0";

/// A headless Matrix client (matrix-rust-sdk) that trafficlight drives as an adapter.
#[derive(Debug, Parser)]
#[command(name = "trafficlight-matrix-client", version, about)]
struct Args {
    /// trafficlight's base URL.
    #[arg(long, env = "TRAFFICLIGHT_URL", default_value = "http://127.0.0.1:5000")]
    url: String,
    /// The client type to register as.
    #[arg(long = "type", default_value = "matrix-rust-sdk")]
    client_type: String,
    /// How many adapters (clients) to run in this process.
    #[arg(long, default_value_t = 1)]
    count: usize,
    /// Seconds trafficlight may hold a poll (long polling).
    #[arg(long, default_value_t = protocol::DEFAULT_POLL_WAIT)]
    poll_wait: u64,
    /// Directory for the devices' stores (default: a temporary directory, removed at exit).
    #[arg(long)]
    store: Option<PathBuf>,
    /// Seconds an action may wait for something to happen (a message, an invite, the other
    /// side of a verification) before it fails.
    #[arg(long, default_value_t = 60)]
    deadline: u64,
    /// Do not share room history keys with invited users (MSC4268, on by default in
    /// matrix-sdk 0.18).
    #[arg(long)]
    no_share_history_on_invite: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or(
            "info,matrix_sdk=warn,matrix_sdk_base=warn,matrix_sdk_crypto=warn,matrix_sdk_common=warn",
        ),
    )
    .init();
    let args = Args::parse();
    let temporary = match &args.store {
        Some(_) => None,
        None => Some(tempfile::Builder::new().prefix("trafficlight-matrix-client-").tempdir()?),
    };
    let store_root = args.store.clone().unwrap_or_else(|| temporary.as_ref().unwrap().path().to_path_buf());
    std::fs::create_dir_all(&store_root).with_context(|| format!("creating {}", store_root.display()))?;
    let options = DeviceOptions { share_history_on_invite: !args.no_share_history_on_invite };
    let registration = json!({
        "type": args.client_type,
        "version": MATRIX_SDK_VERSION,
        "sdk": "matrix-rust-sdk",
        "adapter": concat!("trafficlight-matrix-client ", env!("CARGO_PKG_VERSION")),
    });
    let mut adapters = tokio::task::JoinSet::new();
    for _ in 0..args.count.max(1) {
        let trafficlight = protocol::Trafficlight::new(&args.url, uuid::Uuid::new_v4().to_string(), args.poll_wait)?;
        let device = actions::Device::new(options.clone(), store_root.clone(), Duration::from_secs(args.deadline));
        adapters.spawn(adapter::run(trafficlight, registration.clone(), device));
    }
    let mut failed = 0;
    let mut stop = Stop::install();
    loop {
        let result = tokio::select! {
            result = adapters.join_next() => match result {
                Some(result) => result,
                None => break,
            },
            signal = stop.next() => {
                // Whoever started us (`trafficlight demo`) is done with us: stop every
                // client now and remove the stores.
                log::info!("{signal}: stopping {} adapter(s)", adapters.len());
                adapters.abort_all();
                while adapters.join_next().await.is_some() {}
                break;
            }
        };
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                failed += 1;
                log::error!("adapter stopped: {e:#}");
            }
            Err(e) => {
                failed += 1;
                log::error!("adapter crashed: {e}");
            }
        }
    }
    drop(temporary);
    if failed > 0 {
        anyhow::bail!("{failed} of {} adapters stopped on an error", args.count.max(1));
    }
    Ok(())
}

/// SIGTERM and SIGINT, installed at start.
struct Stop {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
}

impl Stop {
    fn install() -> Stop {
        use tokio::signal::unix::{signal, SignalKind};
        Stop { term: signal(SignalKind::terminate()).ok(), int: signal(SignalKind::interrupt()).ok() }
    }

    /// Waits for either signal and names it.
    async fn next(&mut self) -> &'static str {
        async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = recv(&mut self.term) => "SIGTERM",
            _ = recv(&mut self.int) => "SIGINT",
        }
    }
}
