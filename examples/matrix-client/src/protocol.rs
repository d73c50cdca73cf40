//! The trafficlight side: register, long poll, respond-and-wait and error reports over
//! HTTP (docs/protocol.md). Knows nothing of Matrix.

use anyhow::{anyhow, Context, Result};
use serde_json::{json, Value};
use std::time::Duration;

/// How long the server may hold a poll or a respond (`?wait=`), in seconds.
pub const DEFAULT_POLL_WAIT: u64 = 30;
/// Margin over the poll wait before the HTTP request itself gives up.
const REQUEST_MARGIN: Duration = Duration::from_secs(30);
/// Pause before retrying a request that did not reach the server.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// How many times in a row a request may fail to reach the server before the adapter gives up.
const MAX_RETRIES: u32 = 30;

/// One action sent by the server: its name, data, and the id to echo back when present.
#[derive(Debug, Clone)]
pub struct Action {
    pub name: String,
    pub data: Value,
    pub id: Value,
}

impl Action {
    /// Reads a poll answer: `{"action": NAME, "data": {...}, "id": ...}`.
    pub fn from_answer(answer: &Value) -> Action {
        Action {
            name: answer["action"].as_str().unwrap_or("exit").to_string(),
            data: answer.get("data").cloned().unwrap_or(Value::Null),
            id: answer.get("id").cloned().unwrap_or(Value::Null),
        }
    }
}

/// An adapter's connection to trafficlight: the base URL, its uuid, an HTTP client.
#[derive(Clone)]
pub struct Trafficlight {
    base: String,
    uuid: String,
    wait: u64,
    http: reqwest::Client,
}

impl Trafficlight {
    /// A connection for the adapter `uuid` at `base` (without `/client`).
    pub fn new(base: &str, uuid: String, wait: u64) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(wait) + REQUEST_MARGIN)
            .build()
            .context("building the HTTP client")?;
        Ok(Trafficlight { base: base.trim_end_matches('/').to_string(), uuid, wait, http })
    }

    /// This adapter's uuid.
    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    fn url(&self, what: &str) -> String {
        format!("{}/client/{}/{what}", self.base, self.uuid)
    }

    /// Registers with `registration` (must carry `type`); waits for a server that is not up
    /// yet (started at the same moment, say).
    pub async fn register(&self, registration: &Value) -> Result<()> {
        let mut failures = 0;
        let response = loop {
            match self.http.post(self.url("register")).json(registration).send().await {
                Ok(response) => break response,
                Err(e) if failures < MAX_RETRIES => {
                    failures += 1;
                    log::debug!("{}: trafficlight not reachable yet ({e}); retrying", self.uuid);
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                Err(e) => return Err(anyhow!("cannot reach trafficlight at {}: {e}", self.base)),
            }
        };
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(anyhow!("registration refused: {status} {body}"));
        }
        Ok(())
    }

    /// Long-polls for the next action (retrying while the server is unreachable).
    pub async fn poll(&self) -> Result<Action> {
        let url = format!("{}?wait={}", self.url("poll"), self.wait);
        self.retrying(|| self.http.get(&url).send()).await
    }

    /// A quick poll without waiting: tells the server this adapter is alive while a long
    /// action runs (the pending action is simply answered again).
    pub async fn keep_alive(&self) {
        if let Err(e) = self.http.get(self.url("poll")).send().await {
            log::warn!("{}: keep-alive poll failed: {e}", self.uuid);
        }
    }

    /// Completes `action` with `response` and waits for the next action.
    pub async fn respond(&self, action: &Action, mut response: Value) -> Result<Action> {
        if !action.id.is_null() {
            response["id"] = action.id.clone();
        }
        let url = format!("{}?wait={}", self.url("respond"), self.wait);
        self.retrying(|| self.http.post(&url).json(&response).send()).await
    }

    /// Reports a failed action (`kind` "action") or a broken adapter (anything else).
    pub async fn error(&self, kind: &str, details: &str, path: &str) -> Result<()> {
        let body = json!({"error": {"type": kind, "details": details, "path": path}});
        self.http.post(self.url("error")).json(&body).send().await.context("reporting an error")?;
        Ok(())
    }

    /// Sends a request until it reaches the server, and reads the answer as an action.
    async fn retrying<F, Fut>(&self, send: F) -> Result<Action>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = reqwest::Result<reqwest::Response>>,
    {
        let mut failures = 0;
        loop {
            match send().await {
                Ok(response) if response.status().is_success() => {
                    let answer: Value = response.json().await.context("reading trafficlight's answer")?;
                    return Ok(Action::from_answer(&answer));
                }
                Ok(response) => {
                    let status = response.status();
                    let body = response.text().await.unwrap_or_default();
                    return Err(anyhow!("trafficlight answered {status}: {body}"));
                }
                Err(e) if failures < MAX_RETRIES => {
                    failures += 1;
                    log::warn!("{}: request to trafficlight failed ({e}); retrying", self.uuid);
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                Err(e) => return Err(anyhow!("trafficlight unreachable: {e}")),
            }
        }
    }
}
