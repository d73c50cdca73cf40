//! Complement's homerunner: `POST /create` with a blueprint naming one image per
//! homeserver, `POST /destroy` with the blueprint's name when the case ends, whatever the
//! ending. Every attempt of a case gets a blueprint name of its own, so a retried case
//! never collides with its previous deployment.

use futures::future::{self, Either, LocalBoxFuture};
use futures::FutureExt;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use trafficlight_actors::{AbortSignal, Homeserver, ProvisionFor, Provisioned, Provisioner, ServerRequest};

/// Complement's own port for homerunner.
pub const DEFAULT_URL: &str = "http://localhost:54321";
/// How long one create may take (homerunner pulls and starts containers: minutes).
const CREATE_REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
/// First wait before retrying a create that could not connect; doubles up to the cap.
const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_CAP: Duration = Duration::from_secs(10);
/// Tries of a destroy before it is logged and given up.
const DESTROY_TRIES: u32 = 3;
/// How long one destroy may take.
const DESTROY_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Makes a server type's homeservers with homerunner.
#[derive(Clone, Debug)]
pub struct Homerunner {
    url: Arc<str>,
    images: Arc<[String]>,
    run_tag: Arc<str>,
}

/// Attempts made by this process, across server types and runs: part of every blueprint
/// name, so no two attempts share one.
static ATTEMPTS: AtomicU64 = AtomicU64::new(0);

/// One homeserver of homerunner's answer, as Complement's `HomeserverDeployment`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Deployment {
    #[serde(rename = "BaseURL")]
    base_url: String,
    #[serde(rename = "FedBaseURL", default)]
    fed_base_url: Option<String>,
    #[serde(rename = "ContainerID", default)]
    container_id: Option<String>,
    #[serde(default)]
    access_tokens: Option<Map<String, Value>>,
}

/// Homerunner's answer to `/create`.
#[derive(Debug, Deserialize)]
struct Created {
    homeservers: HashMap<String, Deployment>,
    #[serde(default)]
    expires: Option<String>,
}

impl Homerunner {
    /// Homerunner at `url`, making one homeserver per image of `images` (or every
    /// homeserver from the one image).
    pub fn new(url: &str, images: Vec<String>) -> Self {
        let started = trafficlight_actors::unix_millis(std::time::SystemTime::now());
        Homerunner {
            url: url.trim_end_matches('/').into(),
            images: images.into(),
            // Two trafficlight processes against one homerunner: the process id tells them apart.
            run_tag: format!("{:x}{:x}", std::process::id(), started / 1000).into(),
        }
    }

    fn blueprint_name(&self, case_id: &str) -> String {
        let attempt = ATTEMPTS.fetch_add(1, Ordering::Relaxed) + 1;
        let case: String = case_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        format!("tl-{case}-{}-{attempt}", self.run_tag)
    }
}

impl Provisioner for Homerunner {
    fn provision(
        &self,
        case: &ProvisionFor,
        request: &ServerRequest,
        abort: AbortSignal,
    ) -> LocalBoxFuture<'static, Result<Provisioned, String>> {
        let name = self.blueprint_name(&case.case_id);
        let hs_names: Vec<String> = (1..=request.names.len()).map(|i| format!("hs{i}")).collect();
        let homeservers: Vec<Value> = hs_names
            .iter()
            .enumerate()
            .map(|(i, hs)| {
                let image = self.images.get(i).unwrap_or(&self.images[0]);
                json!({ "Name": hs, "Users": [], "Rooms": [], "BaseImageURI": image })
            })
            .collect();
        let body = json!({
            "base_image_uri": self.images[0],
            "blueprint": { "Name": name, "Homeservers": homeservers },
        });
        let (url, kind, names) = (self.url.clone(), request.kind.clone(), request.names.clone());
        async move {
            let create = create(&url, &body).boxed_local();
            let created = match future::select(create, abort.aborted().boxed_local()).await {
                Either::Left((created, _)) => created,
                Either::Right(_) => {
                    // The create may still go on in homerunner: ask it to destroy the name anyway.
                    destroy(&url, &name).await;
                    return Err(format!("the case ended while homerunner was creating {name}"));
                }
            };
            let mut created = match created {
                Ok(created) => created,
                Err(e) => return Err(format!("homerunner at {url} could not create {name}: {e}")),
            };
            let mut servers = Vec::new();
            for (hs, variable) in hs_names.iter().zip(&names) {
                let Some(deployment) = created.homeservers.remove(hs) else {
                    destroy(&url, &name).await;
                    return Err(format!("homerunner's answer for {name} has no homeserver {hs}"));
                };
                servers.push(homeserver(variable, hs, &kind, &name, deployment, created.expires.as_deref()));
            }
            let teardown = async move { destroy(&url, &name).await }.boxed_local();
            Ok(Provisioned { servers, teardown })
        }
        .boxed_local()
    }
}

fn homeserver(
    variable: &str,
    hs: &str,
    kind: &str,
    blueprint: &str,
    d: Deployment,
    expires: Option<&str>,
) -> Homeserver {
    let mut extra = Map::new();
    extra.insert("type".into(), kind.into());
    extra.insert("provider".into(), "homerunner".into());
    extra.insert("blueprint".into(), blueprint.into());
    extra.insert("FedBaseURL".into(), d.fed_base_url.map(Value::String).unwrap_or(Value::Null));
    extra.insert("ContainerID".into(), d.container_id.map(Value::String).unwrap_or(Value::Null));
    extra.insert("AccessTokens".into(), Value::Object(d.access_tokens.unwrap_or_default()));
    extra.insert("expires".into(), expires.map(|e| Value::String(e.into())).unwrap_or(Value::Null));
    Homeserver { name: variable.into(), server_name: hs.into(), cs_api: d.base_url, extra }
}

/// `POST /create`, retrying connection failures with backoff (the caller's deadline ends
/// it); an answer other than 200 fails at once with homerunner's message.
async fn create(url: &str, body: &Value) -> Result<Created, String> {
    let endpoint = format!("{url}/create");
    let mut wait = RETRY_FIRST;
    loop {
        let sent = crate::outbound::client().post(&endpoint).timeout(CREATE_REQUEST_TIMEOUT).send_json(body).await;
        match sent {
            Err(e @ (awc::error::SendRequestError::Connect(_) | awc::error::SendRequestError::Timeout)) => {
                log::warn!("homerunner at {url} is not reachable ({e}); retrying in {wait:?}");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(RETRY_CAP);
            }
            Err(e) => return Err(e.to_string()),
            Ok(mut response) => {
                let status = response.status();
                let bytes = response.body().limit(16 * 1024 * 1024).await.map_err(|e| e.to_string())?;
                if !status.is_success() {
                    return Err(format!("{status}: {}", message_of(&bytes)));
                }
                return serde_json::from_slice(&bytes)
                    .map_err(|e| format!("its answer is not a deployment ({e}): {}", String::from_utf8_lossy(&bytes)));
            }
        }
    }
}

/// `POST /destroy`, tried [`DESTROY_TRIES`] times; a failure is logged, never raised.
async fn destroy(url: &str, name: &str) {
    let endpoint = format!("{url}/destroy");
    let mut wait = RETRY_FIRST;
    for attempt in 1..=DESTROY_TRIES {
        let sent = crate::outbound::client()
            .post(&endpoint)
            .timeout(DESTROY_REQUEST_TIMEOUT)
            .send_json(&json!({ "blueprint_name": name }))
            .await;
        let problem = match sent {
            Ok(response) if response.status().is_success() => return,
            Ok(mut response) => {
                let bytes = response.body().await.unwrap_or_default();
                format!("{}: {}", response.status(), message_of(&bytes))
            }
            Err(e) => e.to_string(),
        };
        if attempt == DESTROY_TRIES {
            log::error!("homerunner at {url} did not destroy {name} after {DESTROY_TRIES} tries: {problem}");
            return;
        }
        log::warn!("homerunner at {url} did not destroy {name} ({problem}); retrying");
        tokio::time::sleep(wait).await;
        wait *= 2;
    }
}

/// Homerunner's `{"message": ...}` (matrix-org/util's MessageResponse), or the body as text.
fn message_of(bytes: &[u8]) -> String {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned())
}

/// One cheap request to homerunner: `Err` names why it is unreachable. Any HTTP answer
/// counts as reachable.
pub async fn reachable(url: &str) -> Result<(), String> {
    let url = url.trim_end_matches('/');
    crate::outbound::client()
        .get(format!("{url}/"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
