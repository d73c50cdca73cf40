//! The generated `homeserver.yaml` of a local Synapse: loopback only, SQLite, registration
//! open without verification, no key servers, no stats, rate limits out of the way, and a
//! TLS federation listener so servers of one case federate over loopback.
//!
//! YAML is a superset of JSON, so the file is written as JSON.

use serde_json::{json, Map, Value};
use std::path::Path;

/// Requests per second and burst that no test reaches: Synapse's defaults refuse a third
/// registration from one address within seconds.
fn unlimited() -> Value {
    json!({ "per_second": 100_000, "burst_count": 100_000 })
}

/// Where one server listens and keeps its files.
pub struct Layout<'a> {
    pub dir: &'a Path,
    /// Plain HTTP, client-server API.
    pub client_port: u16,
    /// TLS, federation; also the port in the server name.
    pub federation_port: u16,
}

/// The server name of a server laid out so: `localhost:FEDERATION_PORT`.
pub fn server_name(layout: &Layout) -> String {
    format!("localhost:{}", layout.federation_port)
}

/// The configuration, with `extra` (the server type's `config` table) merged over it.
pub fn generate(layout: &Layout, secret: &str, extra: &Map<String, Value>) -> Value {
    let dir = layout.dir;
    let path = |name: &str| dir.join(name).display().to_string();
    let loopback = ["127.0.0.1"];
    let mut config = json!({
        "server_name": server_name(layout),
        "public_baseurl": format!("http://127.0.0.1:{}/", layout.client_port),
        "pid_file": path("homeserver.pid"),
        "listeners": [
            {
                "port": layout.client_port, "bind_addresses": loopback, "type": "http",
                "tls": false, "x_forwarded": false,
                "resources": [{ "names": ["client"], "compress": false }],
            },
            {
                "port": layout.federation_port, "bind_addresses": loopback, "type": "http",
                "tls": true,
                "resources": [{ "names": ["federation", "keys"], "compress": false }],
            },
        ],
        "tls_certificate_path": path("tls.crt"),
        "tls_private_key_path": path("tls.key"),
        "database": { "name": "sqlite3", "args": { "database": path("homeserver.db") } },
        "media_store_path": path("media_store"),
        "signing_key_path": path("signing.key"),
        "report_stats": false,
        "enable_metrics": false,
        "trusted_key_servers": [],
        "suppress_key_server_warning": true,
        "enable_registration": true,
        "enable_registration_without_verification": true,
        "registration_shared_secret": secret,
        "macaroon_secret_key": format!("{secret}-macaroon"),
        "form_secret": format!("{secret}-form"),
        "url_preview_enabled": false,
        // Servers of one case federate over loopback with self-signed certificates.
        "federation_verify_certificates": false,
        "ip_range_whitelist": ["127.0.0.0/8", "::1/128"],
        "federation_ip_range_blacklist": [],
    });
    if let (Value::Object(map), Value::Object(limits)) = (&mut config, rate_limits()) {
        map.extend(limits);
    }
    if let Value::Object(map) = &mut config {
        for (key, value) in extra {
            map.insert(key.clone(), value.clone());
        }
    }
    config
}

/// Every `rc_*` limit Synapse has, out of the way.
fn rate_limits() -> Value {
    json!({
        "rc_message": unlimited(),
        "rc_registration": unlimited(),
        "rc_registration_token_validity": unlimited(),
        "rc_login": { "address": unlimited(), "account": unlimited(), "failed_attempts": unlimited() },
        "rc_joins": { "local": unlimited(), "remote": unlimited() },
        "rc_joins_per_room": unlimited(),
        "rc_invites": { "per_room": unlimited(), "per_user": unlimited(), "per_issuer": unlimited() },
        "rc_room_creation": unlimited(),
        "rc_3pid_validation": unlimited(),
        "rc_admin_redaction": unlimited(),
        "rc_key_requests": unlimited(),
        "rc_third_party_invite": unlimited(),
        "rc_media_create": unlimited(),
        "rc_presence": { "per_user": unlimited() },
        "rc_delayed_event_mgmt": unlimited(),
        "rc_reports": unlimited(),
        "rc_federation": {
            "window_size": 1000, "sleep_limit": 10_000, "sleep_delay": 1,
            "reject_limit": 10_000, "concurrent": 100,
        },
    })
}
