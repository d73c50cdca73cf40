//! The proxy's HTTP side: every request is asked of the [`Rules`](super::rules::Rules),
//! then refused (503, a Matrix error), held (a delay) or forwarded to the homeserver with
//! its method, path, query, headers and body, and the homeserver's answer passed back.

use super::rules::{self, Route, Rules};
use actix::Addr;
use actix_web::http::header::{HeaderName, CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING, UPGRADE};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use std::time::Duration;

/// How long a forwarded request may take: a client's `/sync` long poll takes up to 30 s.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest response body passed back (media downloads).
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;
/// Largest request body forwarded (media uploads).
pub const MAX_REQUEST_BYTES: usize = 256 * 1024 * 1024;

/// What every forwarding handler reaches.
#[derive(Clone)]
pub struct Forwarder {
    pub rules: Addr<Rules>,
    pub http: awc::Client,
}

impl Forwarder {
    /// A forwarder asking `rules`.
    pub fn new(rules: Addr<Rules>) -> Self {
        // No decompression: the body passes through as the homeserver encoded it.
        let http = awc::Client::builder().timeout(FORWARD_TIMEOUT).disable_redirects().finish();
        Forwarder { rules, http }
    }
}

/// A Matrix error body, as a homeserver would answer it.
fn matrix_error(status: actix_web::http::StatusCode, error: String) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "errcode": "M_UNKNOWN", "error": error }))
}

fn hop_by_hop(name: &HeaderName) -> bool {
    [CONNECTION, TRANSFER_ENCODING, UPGRADE, HOST, CONTENT_LENGTH].contains(name)
        || matches!(name.as_str(), "keep-alive" | "te" | "trailer" | "proxy-connection" | "proxy-authorization")
}

/// Handles one request.
pub async fn forward(state: web::Data<Forwarder>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let path = req.path().to_string();
    let route = match state.rules.send(rules::Request(path.clone())).await {
        Ok(route) => route,
        Err(e) => return matrix_error(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR, format!("proxy: {e}")),
    };
    let (target, delay) = match route {
        Route::NoTarget => {
            let why = "trafficlight network proxy: no homeserver to forward to yet (no proxyTo)".to_string();
            return matrix_error(actix_web::http::StatusCode::BAD_GATEWAY, why);
        }
        Route::Disabled => {
            let why = format!("trafficlight network proxy: endpoint {path} is disabled");
            return matrix_error(actix_web::http::StatusCode::SERVICE_UNAVAILABLE, why);
        }
        Route::Forward { target, delay } => (target, delay),
    };
    if let Some(delay) = delay {
        actix_web::rt::time::sleep(delay).await;
    }
    let query = req.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
    let url = format!("{target}{path}{query}");
    let mut outgoing = state.http.request(req.method().clone(), &url).no_decompress();
    for (name, value) in req.headers().iter().filter(|(n, _)| !hop_by_hop(n)) {
        outgoing = outgoing.append_header((name.clone(), value.clone()));
    }
    let mut answer = match outgoing.send_body(body).await {
        Ok(answer) => answer,
        Err(e) => {
            let why = format!("trafficlight network proxy: cannot reach {target}: {e}");
            return matrix_error(actix_web::http::StatusCode::BAD_GATEWAY, why);
        }
    };
    let bytes = match answer.body().limit(MAX_RESPONSE_BYTES).await {
        Ok(bytes) => bytes,
        Err(e) => {
            let why = format!("trafficlight network proxy: the answer of {target} broke off: {e}");
            return matrix_error(actix_web::http::StatusCode::BAD_GATEWAY, why);
        }
    };
    let mut response = HttpResponse::build(answer.status());
    for (name, value) in answer.headers().iter().filter(|(n, _)| !hop_by_hop(n)) {
        response.append_header((name.clone(), value.clone()));
    }
    response.body(bytes)
}
