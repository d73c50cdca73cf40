//! The proxy as a trafficlight adapter: registers as `network-proxy` with its endpoint,
//! long-polls for actions, performs them on the [`Rules`](super::rules::Rules) and answers
//! with the response words of the original trafficlight-proxy.

use super::rules::{self, Rules};
use actix::Addr;
use serde_json::{json, Value};
use std::time::Duration;

/// How long one long poll is held by the server, in seconds.
const POLL_WAIT_SECS: u32 = 30;
/// How long to wait before retrying after trafficlight could not be reached.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How many failed polls in a row end the adapter (trafficlight has gone).
const MAX_POLL_FAILURES: u32 = 30;
/// The actions this proxy knows, named in the answer to an unknown one.
pub const ACTIONS: &[&str] =
    &["proxyTo", "disableEndpoint", "enableEndpoint", "delayEndpoint", "undelayEndpoint", "waitUntilEndpointAccessed"];

/// Performs `action` with `data`: the body of the respond (`{"response": word}`, or
/// `{"response": "error", "error": why}` as the original proxy answers a failed action).
pub async fn perform(rules: &Addr<Rules>, action: &str, data: &Value) -> Value {
    match perform_checked(rules, action, data).await {
        Ok(word) => json!({ "response": word }),
        Err(why) => json!({ "response": "error", "error": why }),
    }
}

async fn perform_checked(rules: &Addr<Rules>, action: &str, data: &Value) -> Result<&'static str, String> {
    let text = |key: &str| {
        data.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| format!("{action} needs a string field '{key}' in its data, got {data}"))
    };
    let millis = |key: &str| -> Result<Option<Duration>, String> {
        match data.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok())) {
                Some(ms) if ms >= 0.0 && ms.is_finite() => Ok(Some(Duration::from_secs_f64(ms / 1000.0))),
                _ => Err(format!("{action}: '{key}' must be a number of milliseconds, not {v}")),
            },
        }
    };
    let gone = |e: actix::MailboxError| format!("{action}: the proxy's rules are gone: {e}");
    match action {
        "proxyTo" => {
            let url = text("url")?;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("proxyTo: url must be an http(s) URL, not {url:?}"));
            }
            rules.send(rules::SetTarget(url)).await.map_err(gone)?;
            Ok("proxyToSet")
        }
        "disableEndpoint" => {
            rules.send(rules::Disable(text("endpoint")?)).await.map_err(gone)?;
            Ok("endpointDisabled")
        }
        "enableEndpoint" => {
            rules.send(rules::Enable(text("endpoint")?)).await.map_err(gone)?;
            Ok("endpointEnabled")
        }
        "delayEndpoint" => {
            let endpoint = text("endpoint")?;
            let delay = millis("delay")?.ok_or_else(|| format!("delayEndpoint needs 'delay' (ms), got {data}"))?;
            rules.send(rules::Delay(endpoint, Some(delay))).await.map_err(gone)?;
            Ok("endpointDelayed")
        }
        "undelayEndpoint" => {
            rules.send(rules::Delay(text("endpoint")?, None)).await.map_err(gone)?;
            Ok("endpointUndelayed")
        }
        "waitUntilEndpointAccessed" => {
            let endpoint = text("endpoint")?;
            let timeout = millis("timeout")?;
            let accessed = rules.send(rules::WaitAccessed(endpoint.clone())).await.map_err(gone)?;
            match timeout {
                None => accessed.await.map_err(|_| "the proxy stopped while waiting".to_string())?,
                Some(limit) => actix_web::rt::time::timeout(limit, accessed)
                    .await
                    .map_err(|_| format!("{endpoint} was not accessed within {} ms", limit.as_millis()))?
                    .map_err(|_| "the proxy stopped while waiting".to_string())?,
            }
            Ok("endpointAccessed")
        }
        other => Err(format!("unknown action '{other}': this network proxy knows {}", ACTIONS.join(", "))),
    }
}

/// Registers, then serves actions until trafficlight says `exit` (its reason is returned).
pub async fn run(rules: Addr<Rules>, base: String, uuid: String, endpoint: String) -> Result<String, String> {
    let http = awc::Client::builder().timeout(Duration::from_secs(u64::from(POLL_WAIT_SECS) + 30)).finish();
    let registration = json!({ "type": "network-proxy", "endpoint": endpoint, "version": env!("CARGO_PKG_VERSION") });
    let mut registered = http
        .post(format!("{base}/client/{uuid}/register"))
        .send_json(&registration)
        .await
        .map_err(|e| format!("cannot register with trafficlight at {base}: {e}"))?;
    if !registered.status().is_success() {
        let body = registered.body().await.unwrap_or_default();
        return Err(format!(
            "trafficlight refused the registration: {} {}",
            registered.status(),
            String::from_utf8_lossy(&body)
        ));
    }
    log::info!("network proxy {uuid} registered at {base}, endpoint {endpoint}");
    let mut failures = 0;
    loop {
        let answer: Value = match http.get(format!("{base}/client/{uuid}/poll?wait={POLL_WAIT_SECS}")).send().await {
            Ok(mut r) => r.json().await.unwrap_or_else(|_| json!({"action": "idle", "data": {"delay": 1000}})),
            Err(e) => {
                failures += 1;
                if failures >= MAX_POLL_FAILURES {
                    return Err(format!("trafficlight at {base} is gone: {e}"));
                }
                actix_web::rt::time::sleep(RETRY_AFTER).await;
                continue;
            }
        };
        failures = 0;
        let action = answer["action"].as_str().unwrap_or("idle");
        match action {
            "exit" => return Ok(answer["data"]["reason"].as_str().unwrap_or("").to_string()),
            "idle" => {
                // Honour `delay`: 0 after a long poll, longer when trafficlight says so.
                let delay = answer["data"]["delay"].as_u64().unwrap_or(0);
                actix_web::rt::time::sleep(Duration::from_millis(delay)).await;
            }
            _ => {
                log::info!("network proxy {uuid}: {action} {}", answer["data"]);
                let mut body = perform(&rules, action, &answer["data"]).await;
                if let Some(id) = answer.get("id") {
                    body["id"] = id.clone();
                }
                if let Err(e) = http.post(format!("{base}/client/{uuid}/respond")).send_json(&body).await {
                    log::warn!("network proxy {uuid}: respond to {action} failed: {e}");
                }
            }
        }
    }
}
