//! `trafficlight proxy`: a network-proxy adapter. It stands between Matrix clients and
//! their homeserver, and a test script takes endpoints offline, delays them, or waits for
//! them to be used, with the vocabulary of the original trafficlight-proxy (ACTIONS.md).
//! Unlike that one it honours `delay`, answers unknown actions with an error, and takes
//! a second `proxyTo`. See docs/proxy.md.
//!
//! [`run`] starts one in-process (the demo runs several beside the server); `main` runs
//! one as a command.

pub mod adapter;
pub mod forward;
pub mod rules;

use actix::{Actor, Addr};
use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpServer};
use std::net::TcpListener;

/// How a proxy starts.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// Where trafficlight listens (`http://127.0.0.1:5000`).
    pub trafficlight_url: String,
    /// Where the proxy listens (`127.0.0.1:0`: a free port).
    pub bind: String,
    /// The URL clients are told to use (its `endpoint`); by default `http://{bound address}`.
    pub public_url: Option<String>,
    /// The adapter's id; by default a fresh UUID.
    pub uuid: Option<String>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            trafficlight_url: "http://127.0.0.1:5000".into(),
            bind: "127.0.0.1:0".into(),
            public_url: None,
            uuid: None,
        }
    }
}

/// A running proxy.
pub struct ProxyHandle {
    /// The URL clients use instead of the homeserver's.
    pub endpoint: String,
    /// The adapter's id at trafficlight.
    pub uuid: String,
    /// The proxy's rules, for callers that drive it directly.
    pub rules: Addr<rules::Rules>,
    server: ServerHandle,
    adapter: Option<actix_web::rt::task::JoinHandle<Result<String, String>>>,
}

impl ProxyHandle {
    /// Waits until trafficlight tells the proxy to exit (the reason), or its adapter fails;
    /// then stops the proxy's HTTP server.
    pub async fn finished(mut self) -> Result<String, String> {
        let result = match self.adapter.take() {
            Some(adapter) => adapter.await.unwrap_or_else(|e| Err(format!("the proxy's adapter broke: {e}"))),
            None => Ok(String::new()),
        };
        self.server.stop(false).await;
        result
    }

    /// Stops the proxy now.
    pub async fn stop(mut self) {
        if let Some(adapter) = self.adapter.take() {
            adapter.abort();
        }
        self.server.stop(false).await;
    }
}

/// Starts a proxy: binds its HTTP side, registers it with trafficlight as a
/// `network-proxy` adapter and serves its actions in the background. Call it inside an
/// actix system (`actix_web::rt::System`, `#[actix_web::main]`, `#[actix_web::test]`).
pub async fn run(config: ProxyConfig) -> std::io::Result<ProxyHandle> {
    let listener = TcpListener::bind(&config.bind)
        .map_err(|e| std::io::Error::new(e.kind(), format!("proxy: cannot listen on {}: {e}", config.bind)))?;
    let addr = listener.local_addr()?;
    let rules = rules::Rules::default().start();
    let worker_rules = rules.clone();
    let server = HttpServer::new(move || {
        // An HTTP client per worker: awc's client is not Send.
        App::new()
            .app_data(web::Data::new(forward::Forwarder::new(worker_rules.clone())))
            .app_data(web::PayloadConfig::new(forward::MAX_REQUEST_BYTES))
            .default_service(web::to(forward::forward))
    })
    .disable_signals()
    .workers(1)
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let endpoint = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    let uuid = config.uuid.clone().unwrap_or_else(|| format!("proxy-{}", uuid::Uuid::new_v4()));
    let base = config.trafficlight_url.trim_end_matches('/').to_string();
    let adapter = actix_web::rt::spawn(adapter::run(rules.clone(), base, uuid.clone(), endpoint.clone()));
    Ok(ProxyHandle { endpoint, uuid, rules, server: handle, adapter: Some(adapter) })
}
