//! The network-proxy adapter (`trafficlight proxy`, here in-process through
//! `trafficlight::proxy::run`) against the real server and a stand-in homeserver, over real
//! sockets: it registers as `network-proxy`, takes its actions from a test case, and
//! forwards, refuses (503) or delays requests as told. The homeserver is a small HTTP
//! server that records what reaches it (no Synapse runs in these tests).
//!
//! Bad input tried: an unknown action; `delayEndpoint` without `delay`; `proxyTo` with a
//! URL that is not http(s); a request before any `proxyTo`.

mod common;

use common::{body, TestApp};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use trafficlight::proxy::{self, ProxyConfig, ProxyHandle};
use trafficlight_actors::{ActionError, Outcome};

type Command = (String, Value, oneshot::Sender<Result<Value, ActionError>>);

/// Drives the case's `proxy` client from the test: each [`Remote::act`] is performed by
/// the case body, and its result handed back. The case succeeds when the remote is dropped.
struct Remote(mpsc::UnboundedSender<Command>);

impl Remote {
    /// Sends `action` and returns a receiver of its result (awaited later, or now).
    fn send(&self, action: &str, data: Value) -> oneshot::Receiver<Result<Value, ActionError>> {
        let (tx, rx) = oneshot::channel();
        self.0.send((action.into(), data, tx)).expect("the case body is running");
        rx
    }

    async fn act(&self, action: &str, data: Value) -> Value {
        let result = self.send(action, data).await.expect("the case body answers");
        result.unwrap_or_else(|e| panic!("{action} failed: {e}"))
    }
}

/// A server with one case whose only slot takes a `network-proxy`, driven remotely.
async fn server_with_remote() -> (TestApp, Remote) {
    let (tx, rx) = mpsc::unbounded_channel::<Command>();
    let rx = Arc::new(Mutex::new(Some(rx)));
    let case_body = body(move |ctx| {
        let rx = rx.lock().unwrap().take();
        async move {
            let Some(mut rx) = rx else { return Outcome::Error("the body ran twice".into()) };
            let proxy = ctx.client("proxy").expect("slot exists").clone();
            while let Some((action, data, reply)) = rx.recv().await {
                let _ = reply.send(proxy.perform(&action, data).await);
            }
            Outcome::Success
        }
    });
    let cases = vec![common::case("p.1", &[("proxy", json!("network-proxy"))], case_body)];
    (TestApp::spawn(cases).await, Remote(tx))
}

/// A stand-in homeserver named `name`: answers every request with
/// `{"server": name, "path": ...}` and records (path, when it arrived).
async fn homeserver(name: &'static str) -> (String, std::sync::mpsc::Receiver<(String, Instant)>) {
    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
    let (tx, rx) = std::sync::mpsc::channel();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        let tx = tx.clone();
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((req.path().to_string(), Instant::now()));
                HttpResponse::Ok()
                    .json(json!({"server": name, "path": req.path(), "body": String::from_utf8_lossy(&body)}))
            }
        }))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    (url, rx)
}

async fn start_proxy(app: &TestApp) -> ProxyHandle {
    let config = ProxyConfig { trafficlight_url: app.base.clone(), ..ProxyConfig::default() };
    proxy::run(config).await.expect("the proxy starts")
}

/// A request through the proxy: its status and JSON body.
async fn through(proxy: &ProxyHandle, method: &str, path: &str) -> (u16, Value) {
    let http = awc::Client::builder().timeout(Duration::from_secs(30)).finish();
    let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
    let mut resp = http.request(method, format!("{}{path}", proxy.endpoint)).send_body("{\"k\":1}").await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[actix_web::test]
async fn the_proxy_registers_with_its_endpoint_and_forwards_after_proxy_to() {
    let (app, remote) = server_with_remote().await;
    let (hs, seen) = homeserver("hs1").await;
    let proxy = start_proxy(&app).await;
    app.wait_for_case("p.1", "running").await;
    let registration = app.adapter(&proxy.uuid).await.expect("registered").registration;
    assert_eq!(
        (registration["type"].clone(), registration["endpoint"].clone()),
        (json!("network-proxy"), json!(proxy.endpoint))
    );

    let (status, body) = through(&proxy, "GET", "/_matrix/client/versions").await;
    assert_eq!((status, body["errcode"].clone()), (502, json!("M_UNKNOWN")), "no proxyTo yet: {body}");

    assert_eq!(remote.act("proxyTo", json!({"url": hs})).await, json!({"response": "proxyToSet"}));
    let (status, body) = through(&proxy, "POST", "/_matrix/client/v3/login?x=1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["server"].clone(), body["path"].clone(), body["body"].clone()),
        (json!("hs1"), json!("/_matrix/client/v3/login"), json!("{\"k\":1}"))
    );
    assert_eq!(seen.try_recv().unwrap().0, "/_matrix/client/v3/login");
    drop(remote);
    assert!(app.run_ended().await.succeeded());
    assert!(proxy.finished().await.is_ok(), "the proxy exits when told");
}

#[actix_web::test]
async fn a_disabled_endpoint_answers_503_with_a_matrix_error_until_enabled_any_api_version() {
    let (app, remote) = server_with_remote().await;
    let (hs, seen) = homeserver("hs1").await;
    let proxy = start_proxy(&app).await;
    remote.act("proxyTo", json!({"url": hs})).await;
    let disabled = remote.act("disableEndpoint", json!({"endpoint": "/_matrix/client/r0/sync"})).await;
    assert_eq!(disabled, json!({"response": "endpointDisabled"}));
    for path in ["/_matrix/client/r0/sync", "/_matrix/client/v3/sync?since=s1"] {
        let (status, body) = through(&proxy, "GET", path).await;
        assert_eq!(status, 503, "{path}: {body}");
        assert_eq!(body["errcode"], "M_UNKNOWN", "{path}: {body}");
        assert!(body["error"].as_str().unwrap().contains("disabled"), "{body}");
    }
    assert!(seen.try_recv().is_err(), "nothing reached the homeserver");
    assert_eq!(through(&proxy, "GET", "/_matrix/client/v3/login").await.0, 200, "other endpoints still work");
    let enabled = remote.act("enableEndpoint", json!({"endpoint": "/_matrix/client/r0/sync"})).await;
    assert_eq!(enabled, json!({"response": "endpointEnabled"}));
    assert_eq!(through(&proxy, "GET", "/_matrix/client/v3/sync").await.0, 200);
    drop(remote);
    app.run_ended().await;
    proxy.finished().await.unwrap();
}

#[actix_web::test]
async fn a_delayed_endpoint_reaches_the_homeserver_no_sooner_than_its_delay() {
    let (app, remote) = server_with_remote().await;
    let (hs, seen) = homeserver("hs1").await;
    let proxy = start_proxy(&app).await;
    remote.act("proxyTo", json!({"url": hs})).await;
    let delayed = remote.act("delayEndpoint", json!({"endpoint": "/send/", "delay": 400})).await;
    assert_eq!(delayed, json!({"response": "endpointDelayed"}));
    let sent = Instant::now();
    let (status, _) = through(&proxy, "PUT", "/_matrix/client/v3/rooms/!r:hs/send/m.room.message/1").await;
    assert_eq!(status, 200);
    let (_, arrived) = seen.try_recv().unwrap();
    assert!(arrived.duration_since(sent) >= Duration::from_millis(400), "held {:?}", arrived.duration_since(sent));
    let undelayed = remote.act("undelayEndpoint", json!({"endpoint": "/send/"})).await;
    assert_eq!(undelayed, json!({"response": "endpointUndelayed"}));
    assert_eq!(through(&proxy, "PUT", "/_matrix/client/v3/rooms/!r:hs/send/m.room.message/2").await.0, 200);
    drop(remote);
    app.run_ended().await;
    proxy.finished().await.unwrap();
}

#[actix_web::test]
async fn wait_until_endpoint_accessed_answers_once_a_request_arrives_or_errors_at_its_timeout() {
    let (app, remote) = server_with_remote().await;
    let (hs, _seen) = homeserver("hs1").await;
    let proxy = start_proxy(&app).await;
    remote.act("proxyTo", json!({"url": hs})).await;

    let timed_out = remote.act("waitUntilEndpointAccessed", json!({"endpoint": "/keys/upload", "timeout": 200})).await;
    assert_eq!(timed_out["response"], "error", "{timed_out}");
    assert!(timed_out["error"].as_str().unwrap().contains("not accessed within 200 ms"), "{timed_out}");

    let mut waiting = remote.send("waitUntilEndpointAccessed", json!({"endpoint": "/_matrix/client/r0/keys/upload"}));
    // The proxy has the action once the server shows it pending with it.
    app.wait_for_adapter(&proxy.uuid, "has the wait pending", |a| {
        a.is_some_and(|a| a.current_action.as_deref() == Some("waitUntilEndpointAccessed"))
    })
    .await;
    through(&proxy, "GET", "/_matrix/client/v3/sync").await;
    assert!(waiting.try_recv().is_err(), "another endpoint does not end the wait");
    through(&proxy, "POST", "/_matrix/client/v3/keys/upload").await;
    let accessed = waiting.await.unwrap().unwrap();
    assert_eq!(accessed, json!({"response": "endpointAccessed"}));
    drop(remote);
    app.run_ended().await;
    proxy.finished().await.unwrap();
}

#[actix_web::test]
async fn a_second_proxy_to_moves_the_proxy_to_the_new_homeserver() {
    let (app, remote) = server_with_remote().await;
    let (hs1, _) = homeserver("hs1").await;
    let (hs2, _) = homeserver("hs2").await;
    let proxy = start_proxy(&app).await;
    remote.act("proxyTo", json!({"url": hs1})).await;
    assert_eq!(through(&proxy, "GET", "/_matrix/client/versions").await.1["server"], "hs1");
    assert_eq!(remote.act("proxyTo", json!({"url": hs2})).await, json!({"response": "proxyToSet"}));
    assert_eq!(through(&proxy, "GET", "/_matrix/client/versions").await.1["server"], "hs2");
    drop(remote);
    app.run_ended().await;
    proxy.finished().await.unwrap();
}

#[actix_web::test]
async fn unknown_actions_and_bad_data_are_answered_with_an_error_and_the_proxy_goes_on() {
    let (app, remote) = server_with_remote().await;
    let (hs, _) = homeserver("hs1").await;
    let proxy = start_proxy(&app).await;
    let unknown = remote.act("explode", json!({})).await;
    assert_eq!(unknown["response"], "error", "{unknown}");
    assert!(unknown["error"].as_str().unwrap().contains("unknown action 'explode'"), "{unknown}");
    let no_delay = remote.act("delayEndpoint", json!({"endpoint": "/sync"})).await;
    assert_eq!(no_delay["response"], "error", "{no_delay}");
    let bad_url = remote.act("proxyTo", json!({"url": "ftp://nowhere"})).await;
    assert_eq!(bad_url["response"], "error", "{bad_url}");
    assert_eq!(remote.act("proxyTo", json!({"url": hs})).await, json!({"response": "proxyToSet"}), "it goes on");
    assert_eq!(through(&proxy, "GET", "/_matrix/client/versions").await.0, 200);
    drop(remote);
    app.run_ended().await;
    proxy.finished().await.unwrap();
}
