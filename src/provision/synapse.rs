//! Local Synapse: one fresh process and directory per homeserver of a case, started from a
//! configured Python environment (see `scripts/install-synapse.sh`), no Docker needed.
//! When the case ends each process is stopped and its directory removed.

use super::process::Guarded;
use super::synapse_config::{self, Layout};
use futures::future::{self, Either, LocalBoxFuture};
use futures::FutureExt;
use serde_json::{json, Map, Value};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use trafficlight_actors::{AbortSignal, Homeserver, ProvisionFor, Provisioned, Provisioner, ServerRequest};

/// The launcher script, written beside each server's config.
const LAUNCHER: &str = include_str!("synapse_launcher.py");
/// How often a starting server is asked whether it answers yet.
const READY_CHECK: Duration = Duration::from_millis(100);
/// How long one readiness request may take.
const READY_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Starts tried when a port picked as free was taken before Synapse bound it.
const PORT_ATTEMPTS: usize = 3;
/// Lines of a failed server's log quoted in the error.
const LOG_TAIL_LINES: usize = 15;
/// The Synapse version `scripts/install-synapse.sh` installs by default.
pub const SYNAPSE_VERSION: &str = "1.163.2";

/// How local Synapse servers are made.
#[derive(Clone, Debug)]
pub struct SynapseSettings {
    /// The Python that has Synapse installed.
    pub python: PathBuf,
    /// Where server directories are made (one per server, removed after its case).
    pub base_dir: PathBuf,
    /// Settings merged over the generated `homeserver.yaml`.
    pub config: Map<String, Value>,
}

/// The Python of the virtualenv `scripts/install-synapse.sh` makes, where it makes it.
pub fn default_python() -> PathBuf {
    let venv = std::env::var_os("TRAFFICLIGHT_SYNAPSE_VENV").map(PathBuf::from).unwrap_or_else(|| {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        cache.join("trafficlight").join(format!("synapse-{SYNAPSE_VERSION}"))
    });
    venv.join("bin").join("python")
}

/// Where server directories go by default.
pub fn default_base_dir() -> PathBuf {
    std::env::temp_dir().join("trafficlight-synapse")
}

/// A provisioner of local Synapse processes.
#[derive(Clone, Debug)]
pub struct LocalSynapse {
    settings: Arc<SynapseSettings>,
}

impl LocalSynapse {
    pub fn new(settings: SynapseSettings) -> Self {
        LocalSynapse { settings: Arc::new(settings) }
    }
}

impl Provisioner for LocalSynapse {
    fn provision(
        &self,
        case: &ProvisionFor,
        request: &ServerRequest,
        abort: AbortSignal,
    ) -> LocalBoxFuture<'static, Result<Provisioned, String>> {
        let settings = self.settings.clone();
        let (case_id, kind, names) = (case.case_id.clone(), request.kind.clone(), request.names.clone());
        async move {
            let starts = names.iter().map(|name| start(&settings, &case_id, &kind, name));
            // Dropping the starts (on abort) kills their processes and removes their directories.
            let started =
                match future::select(future::join_all(starts).boxed_local(), abort.aborted().boxed_local()).await {
                    Either::Left((started, _)) => started,
                    Either::Right(_) => return Err("the case ended while its Synapse servers were starting".into()),
                };
            let mut servers = Vec::new();
            let mut errors = Vec::new();
            for result in started {
                match result {
                    Ok(server) => servers.push(server),
                    Err(e) => errors.push(e),
                }
            }
            if !errors.is_empty() {
                future::join_all(servers.into_iter().map(LocalServer::stop)).await;
                return Err(errors.join("; "));
            }
            let homeservers = servers.iter().map(|s| s.homeserver.clone()).collect();
            let teardown = async move {
                future::join_all(servers.into_iter().map(LocalServer::stop)).await;
            };
            Ok(Provisioned { servers: homeservers, teardown: teardown.boxed_local() })
        }
        .boxed_local()
    }
}

/// One running server. Dropped without [`stop`](Self::stop), it is killed and its
/// directory removed at once.
#[derive(Debug)]
struct LocalServer {
    process: Option<Guarded>,
    dir: PathBuf,
    homeserver: Homeserver,
}

impl LocalServer {
    async fn stop(mut self) {
        if let Some(process) = self.process.take() {
            process.stop().await;
        }
        let dir = std::mem::take(&mut self.dir);
        if let Err(e) = tokio::fs::remove_dir_all(&dir).await {
            log::warn!("cannot remove the Synapse directory {}: {e}", dir.display());
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        drop(self.process.take());
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

async fn start(settings: &SynapseSettings, case_id: &str, kind: &str, name: &str) -> Result<LocalServer, String> {
    let mut last = String::new();
    for _ in 0..PORT_ATTEMPTS {
        match start_once(settings, case_id, kind, name).await {
            Ok(server) => return Ok(server),
            Err(Failure::PortTaken(e)) => last = e,
            Err(Failure::Other(e)) => return Err(e),
        }
    }
    Err(last)
}

enum Failure {
    PortTaken(String),
    Other(String),
}

async fn start_once(settings: &SynapseSettings, case_id: &str, kind: &str, name: &str) -> Result<LocalServer, Failure> {
    let other = Failure::Other;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let dir = settings.base_dir.join(format!("{}-{name}-{}", clean(case_id), &tag[..8]));
    std::fs::create_dir_all(&dir).map_err(|e| other(format!("cannot make the directory {}: {e}", dir.display())))?;
    // From here on, dropping `server` removes the directory (and kills the process).
    let mut server = LocalServer {
        process: None,
        dir: dir.clone(),
        homeserver: Homeserver {
            name: name.into(),
            server_name: String::new(),
            cs_api: String::new(),
            extra: Map::new(),
        },
    };
    let (client_port, federation_port) =
        free_ports().map_err(|e| other(format!("cannot find free loopback ports: {e}")))?;
    let layout = Layout { dir: &dir, client_port, federation_port };
    let config = synapse_config::generate(&layout, &tag, &settings.config);
    let written = std::fs::write(dir.join("homeserver.yaml"), config.to_string())
        .and_then(|_| std::fs::write(dir.join("launcher.py"), LAUNCHER));
    written.map_err(|e| other(format!("cannot write the Synapse config into {}: {e}", dir.display())))?;
    let mut command = Command::new(&settings.python);
    command.arg(dir.join("launcher.py")).arg(&dir).current_dir(&dir);
    let log = dir.join("synapse.log");
    let began = Instant::now();
    let process = Guarded::spawn(command, &log).map_err(|e| {
        other(format!(
            "cannot start Synapse with {}: {e} (install it with scripts/install-synapse.sh, or name a Python that has it with --synapse-python)",
            settings.python.display()
        ))
    })?;
    let pid = process.id();
    server.process = Some(process);
    let cs_api = format!("http://127.0.0.1:{client_port}");
    wait_until_ready(&mut server, &cs_api, &log).await?;
    log::info!(
        "local Synapse {name} for case {case_id}: {cs_api} answered after {:.2} s (pid {pid})",
        began.elapsed().as_secs_f64()
    );
    server.homeserver = Homeserver {
        name: name.into(),
        server_name: synapse_config::server_name(&layout),
        cs_api,
        extra: json!({
            "type": kind,
            "provider": "synapse",
            "federation_url": format!("https://localhost:{federation_port}"),
            "pid": pid,
            "dir": dir.display().to_string(),
        })
        .as_object()
        .cloned()
        .unwrap_or_default(),
    };
    Ok(server)
}

/// Asks `/_matrix/client/versions` until it answers 200; fails as soon as the process exits.
async fn wait_until_ready(server: &mut LocalServer, cs_api: &str, log: &Path) -> Result<(), Failure> {
    let url = format!("{cs_api}/_matrix/client/versions");
    let client = crate::outbound::client();
    loop {
        if let Some(status) = server.process.as_mut().and_then(Guarded::exited) {
            let tail = log_tail(log);
            let message = format!(
                "Synapse for {} exited ({status}) before it answered; its log ends:\n{tail}",
                server.homeserver.name
            );
            return Err(if tail.contains("Address already in use") {
                Failure::PortTaken(message)
            } else {
                Failure::Other(message)
            });
        }
        if let Ok(response) = client.get(&url).timeout(READY_REQUEST_TIMEOUT).send().await {
            if response.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(READY_CHECK).await;
    }
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

/// Two loopback ports free right now (held together so they differ).
fn free_ports() -> std::io::Result<(u16, u16)> {
    let a = TcpListener::bind("127.0.0.1:0")?;
    let b = TcpListener::bind("127.0.0.1:0")?;
    Ok((a.local_addr()?.port(), b.local_addr()?.port()))
}

/// A case id as a directory name: letters, digits, `-` and `_` only.
fn clean(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).take(80).collect()
}
