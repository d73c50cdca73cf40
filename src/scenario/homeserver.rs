//! The one outside call a script may make itself: registering a user through a
//! homeserver's client-server API (the Android and iOS apps no longer offer password
//! registration, so the original server did this for them and sent `login`).
//!
//! Scripts run on threads of their own; the request runs on the outbound arbiter with the
//! shared HTTP client, and is dropped as soon as the script's case ends.

use crate::outbound;
use serde_json::{json, Value};
use std::time::Duration;
use trafficlight_actors::CaseContext;

/// How long a registration request may take.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(30);

/// Registers `localpart` with `password` on the homeserver at `cs_api` (dummy auth),
/// from the script's own thread; answers the homeserver's JSON as a map.
pub fn register(ctx: &CaseContext, cs_api: &str, localpart: &str, password: &str) -> Result<rhai::Map, String> {
    let url = format!("{}/_matrix/client/v3/register", cs_api.trim_end_matches('/'));
    let body = json!({
        "username": localpart,
        "password": password,
        "auth": { "type": "m.login.dummy" },
        "inhibit_login": true,
    });
    let (who, at) = (localpart.to_string(), url.clone());
    let request = move || async move {
        let mut response = outbound::client()
            .post(&url)
            .timeout(REGISTER_TIMEOUT)
            .send_json(&body)
            .await
            .map_err(|e| format!("registering {who} at {url} failed: {e}"))?;
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(value)
        } else {
            Err(format!("registering {who} at {url} failed with {status}: {value}"))
        }
    };
    let answer = outbound::block_on_cancellable(request, &ctx.cancel)
        .ok_or_else(|| format!("registering {localpart} at {at} was cancelled: the test case has ended"))??;
    rhai::serde::to_dynamic(answer)
        .ok()
        .and_then(|d| d.try_cast::<rhai::Map>())
        .ok_or_else(|| "the homeserver's answer is not a JSON object".into())
}
