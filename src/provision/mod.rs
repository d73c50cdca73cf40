//! Provisioning: the homeservers of each case, made by the provisioner of the server type
//! the case asked for (homerunner, local Synapse, or servers that already run), with a
//! limit on how many cases provision at once and a deadline on each.

pub mod homerunner;
pub(crate) mod process;
pub mod synapse;
mod synapse_config;
pub mod types;

pub use types::{ServerKind, ServerTypeEntry, ServerTypes, SynapseEntry};

use futures::future::{self, Either, LocalBoxFuture};
use futures::FutureExt;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use trafficlight_actors::provision::abort_signal;
use trafficlight_actors::{AbortSignal, ProvisionFor, Provisioned, Provisioner, ServerRequest, StaticServers};

/// How many cases provision at once, by default.
pub const DEFAULT_LIMIT: usize = 4;
/// How long provisioning one case may take, by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// Where servers come from, beside the server types themselves.
#[derive(Clone, Debug)]
pub struct Settings {
    pub homerunner_url: String,
    /// Cases provisioning at once; more wait their turn.
    pub limit: usize,
    /// How long one case's provisioning may take.
    pub timeout: Duration,
    /// The Python with Synapse, for `synapse` types that name none.
    pub synapse_python: PathBuf,
    /// Where local Synapse directories go.
    pub synapse_dir: PathBuf,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            homerunner_url: homerunner::DEFAULT_URL.into(),
            limit: DEFAULT_LIMIT,
            timeout: DEFAULT_TIMEOUT,
            synapse_python: synapse::default_python(),
            synapse_dir: synapse::default_base_dir(),
        }
    }
}

/// The provisioner of a run: picks the server type's own provisioner for each case.
pub struct Provisioners {
    by_type: BTreeMap<String, Arc<dyn Provisioner>>,
    fallback: Option<Arc<dyn Provisioner>>,
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl Provisioners {
    /// One provisioner per server type of `types`.
    pub fn new(types: &ServerTypes, settings: &Settings) -> Self {
        let make = |kind: &ServerKind| -> Arc<dyn Provisioner> {
            match kind {
                ServerKind::Images(images) => {
                    Arc::new(homerunner::Homerunner::new(&settings.homerunner_url, images.clone()))
                }
                ServerKind::Static(servers) => Arc::new(StaticServers::new(servers.clone())),
                ServerKind::Synapse(entry) => Arc::new(synapse::LocalSynapse::new(synapse::SynapseSettings {
                    python: entry.python.clone().unwrap_or_else(|| settings.synapse_python.clone()),
                    base_dir: settings.synapse_dir.clone(),
                    config: entry.config.clone(),
                })),
            }
        };
        Provisioners {
            by_type: types.defined.iter().map(|(name, kind)| (name.clone(), make(kind))).collect(),
            fallback: types.fallback.as_ref().map(|s| make(&ServerKind::Static(s.clone()))),
            permits: Arc::new(Semaphore::new(settings.limit.max(1))),
            timeout: settings.timeout,
        }
    }
}

impl Provisioner for Provisioners {
    fn provision(
        &self,
        case: &ProvisionFor,
        request: &ServerRequest,
        abort: AbortSignal,
    ) -> LocalBoxFuture<'static, Result<Provisioned, String>> {
        let Some(provisioner) = self.by_type.get(&request.kind).or(self.fallback.as_ref()).cloned() else {
            let message = format!("server type '{}' is not defined", request.kind);
            return future::ready(Err(message)).boxed_local();
        };
        let (permits, timeout, case, request) = (self.permits.clone(), self.timeout, case.clone(), request.clone());
        async move {
            let permit = match future::select(permits.acquire_owned().boxed(), abort.aborted().boxed_local()).await {
                Either::Left((Ok(permit), _)) => permit,
                Either::Left((Err(_), _)) => return Err("provisioning is shut down".into()),
                Either::Right(_) => return Err("the case ended while it waited to provision".into()),
            };
            // The provisioner stops at the case's end or at the deadline, whichever is first,
            // and cleans up what it made so far.
            let (trigger, inner) = abort_signal();
            let made = provisioner.provision(&case, &request, inner);
            let deadline = tokio::time::sleep(timeout);
            tokio::pin!(made, deadline);
            let stop = future::select(abort.aborted().boxed_local(), deadline.as_mut());
            let result = match future::select(made.as_mut(), stop).await {
                Either::Left((result, _)) => result,
                Either::Right((stopped, _)) => {
                    trigger.abort();
                    let cleaned = made.await;
                    match (stopped, cleaned) {
                        // Made just as the deadline passed: the case still gets its servers.
                        (Either::Right(_), Ok(made)) => Ok(made),
                        (Either::Right(_), Err(_)) => {
                            Err(format!("provisioning timed out after {} s", timeout.as_secs_f64()))
                        }
                        (Either::Left(_), cleaned) => cleaned,
                    }
                }
            };
            drop(permit);
            result
        }
        .boxed_local()
    }
}
