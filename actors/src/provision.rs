//! Homeservers for test cases: what a case asks for, what it gets, who provides them.
//!
//! A [`Provisioner`] makes the servers of one case and hands back, with them, the
//! [`Teardown`] that releases them. The CaseActor runs that teardown however the case
//! ends; while servers are still being made, it raises the case's [`AbortSignal`] and the
//! provisioner stops early and cleans up after itself.

use futures::future::LocalBoxFuture;
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::watch;

/// A homeserver as a test sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Homeserver {
    /// The variable name the test uses (`server`, `server1`).
    #[serde(default)]
    pub name: String,
    /// The Matrix server name (`hs1`, `localhost:8008`).
    pub server_name: String,
    /// The client-server API base URL, as clients on this machine reach it.
    pub cs_api: String,
    /// Anything else the provisioner knows (`type`, a federation URL, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The homeservers a case asks for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerRequest {
    /// The server type (`synapse`, `dendrite`).
    #[serde(rename = "type")]
    pub kind: String,
    /// One server per name, each a variable in the test.
    pub names: Vec<String>,
}

/// Releases what a provisioner made (stops processes, destroys deployments). Errors are
/// the provisioner's to retry and log: a teardown never fails the case.
pub type Teardown = LocalBoxFuture<'static, ()>;

/// The servers made for a case, and how to release them.
pub struct Provisioned {
    pub servers: Vec<Homeserver>,
    pub teardown: Teardown,
}

impl Provisioned {
    /// Servers that need no releasing (they run anyway).
    pub fn kept(servers: Vec<Homeserver>) -> Self {
        Provisioned { servers, teardown: futures::future::ready(()).boxed_local() }
    }
}

/// Raised when the case ends while its servers are still being made.
#[derive(Clone, Debug)]
pub struct AbortSignal(watch::Receiver<bool>);

/// The side of an [`AbortSignal`] that raises it.
#[derive(Debug)]
pub struct AbortTrigger(watch::Sender<bool>);

/// A new signal and its trigger.
pub fn abort_signal() -> (AbortTrigger, AbortSignal) {
    let (tx, rx) = watch::channel(false);
    (AbortTrigger(tx), AbortSignal(rx))
}

impl AbortTrigger {
    /// Raises the signal (once is enough; again does nothing).
    pub fn abort(&self) {
        self.0.send_replace(true);
    }
}

impl AbortSignal {
    /// A signal that is never raised.
    pub fn never() -> Self {
        let (tx, rx) = watch::channel(false);
        // Keep the sender alive forever: a dropped sender would read as "raised".
        std::mem::forget(tx);
        AbortSignal(rx)
    }

    /// Whether the signal has been raised.
    pub fn is_aborted(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes once the signal is raised (or its trigger is gone: nobody waits any more).
    pub async fn aborted(&self) {
        let mut rx = self.0.clone();
        let _ = rx.wait_for(|aborted| *aborted).await;
    }
}

/// What a provisioner is told about the case it provisions for.
#[derive(Clone, Debug)]
pub struct ProvisionFor {
    /// The case's id.
    pub case_id: String,
}

/// Provides homeservers for cases. Its futures run on the case's own arbiter thread, so
/// they may hold thread-local clients (awc's are).
pub trait Provisioner: Send + Sync + 'static {
    /// Makes the servers `request` asks for. When `abort` is raised before it is done, it
    /// releases what it made so far and returns an error. An error message goes into the
    /// case's summary as it is.
    fn provision(
        &self,
        case: &ProvisionFor,
        request: &ServerRequest,
        abort: AbortSignal,
    ) -> LocalBoxFuture<'static, Result<Provisioned, String>>;
}

/// Servers that already run: a fixed list, handed out by position to every case.
#[derive(Clone, Debug, Default)]
pub struct StaticServers {
    servers: Vec<Homeserver>,
}

impl StaticServers {
    /// A provisioner that hands out these servers (shared by every case).
    pub fn new(servers: Vec<Homeserver>) -> Self {
        StaticServers { servers }
    }

    /// The servers, named after the request's names, or why there are too few.
    pub fn pick(&self, request: &ServerRequest) -> Result<Vec<Homeserver>, String> {
        if request.names.len() > self.servers.len() {
            return Err(format!(
                "the test needs {} {} server(s) ({}) but only {} are configured",
                request.names.len(),
                request.kind,
                request.names.join(", "),
                self.servers.len()
            ));
        }
        Ok(request
            .names
            .iter()
            .zip(&self.servers)
            .map(|(name, server)| Homeserver { name: name.clone(), ..server.clone() })
            .collect())
    }
}

impl Provisioner for StaticServers {
    fn provision(
        &self,
        _case: &ProvisionFor,
        request: &ServerRequest,
        _abort: AbortSignal,
    ) -> LocalBoxFuture<'static, Result<Provisioned, String>> {
        futures::future::ready(self.pick(request).map(Provisioned::kept)).boxed_local()
    }
}
