//! Homeservers for test cases: what a case asks for, what it gets, who provides them.

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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

/// Provides homeservers for cases and destroys them afterwards.
pub trait Provisioner: Send + Sync + 'static {
    /// Makes the servers `request` asks for, for case `case_id`.
    fn provision(&self, case_id: &str, request: &ServerRequest) -> BoxFuture<'static, Result<Vec<Homeserver>, String>>;
    /// Releases what `provision` made; errors are logged, never fatal.
    fn destroy(&self, case_id: &str, servers: &[Homeserver]) -> BoxFuture<'static, ()>;
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
}

impl Provisioner for StaticServers {
    fn provision(
        &self,
        _case_id: &str,
        request: &ServerRequest,
    ) -> BoxFuture<'static, Result<Vec<Homeserver>, String>> {
        let result = if request.names.len() > self.servers.len() {
            Err(format!(
                "the test needs {} {} server(s) ({}) but only {} are configured",
                request.names.len(),
                request.kind,
                request.names.join(", "),
                self.servers.len()
            ))
        } else {
            Ok(request
                .names
                .iter()
                .zip(&self.servers)
                .map(|(name, server)| Homeserver { name: name.clone(), ..server.clone() })
                .collect())
        };
        futures::future::ready(result).boxed()
    }

    fn destroy(&self, _case_id: &str, _servers: &[Homeserver]) -> BoxFuture<'static, ()> {
        futures::future::ready(()).boxed()
    }
}
