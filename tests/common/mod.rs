//! A real server on port 0 and methods that speak to it over HTTP as adapters do.
#![allow(dead_code)]

use actix::Addr;
use awc::http::StatusCode;
use serde_json::{json, Value};
use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use trafficlight::config::Config;
use trafficlight::startup::{self, Running};
use trafficlight_actors::allocator::{self, Allocator, StatusSnapshot};
use trafficlight_actors::body::{async_body, CaseContext};
use trafficlight_actors::case::{CaseSpec, Slot};
use trafficlight_actors::snapshot::{AdapterSnapshot, CaseSnapshot};
use trafficlight_actors::{ActionError, ClientRequirement, Outcome, RunReport, TestBody};

/// A server under test and an HTTP client to talk to it.
pub struct TestApp {
    pub base: String,
    pub http: awc::Client,
    pub allocator: Addr<Allocator>,
    pub output: tempfile::TempDir,
    pub running: Option<Running>,
}

/// A configuration for tests: short grace, files in a temporary directory.
pub fn test_config(output: &std::path::Path) -> Config {
    let mut config = Config { bind: "127.0.0.1:0".into(), output: output.to_path_buf(), ..Config::default() };
    config.timeouts.exit_grace = Duration::ZERO;
    config
}

impl TestApp {
    /// Starts a server with the test configuration and a run of `cases`.
    pub async fn spawn(cases: Vec<CaseSpec>) -> Self {
        Self::spawn_with(|_| {}, cases).await
    }

    /// Like [`spawn`](Self::spawn), after `tune` has changed the configuration.
    pub async fn spawn_with(tune: impl FnOnce(&mut Config), cases: Vec<CaseSpec>) -> Self {
        let output = tempfile::tempdir().unwrap();
        let mut config = test_config(output.path());
        tune(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let running = startup::start(listener, config, cases).await.expect("server starts");
        let http = awc::Client::builder().timeout(Duration::from_secs(90)).finish();
        TestApp {
            base: format!("http://{}", running.addr),
            http,
            allocator: running.allocator.clone(),
            output,
            running: Some(running),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// POST with a raw body and an optional content type.
    pub async fn post_raw(&self, path: &str, content_type: Option<&str>, body: Vec<u8>) -> (StatusCode, Value) {
        let mut req = self.http.post(self.url(path));
        if let Some(ct) = content_type {
            req = req.insert_header(("Content-Type", ct));
        }
        let mut resp = req.send_body(body).await.expect("request sent");
        let status = resp.status();
        let bytes = resp.body().limit(64 * 1024 * 1024).await.expect("body read");
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    pub async fn post_json(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.post_raw(path, Some("application/json"), body.to_string().into_bytes()).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let mut resp = self.http.get(self.url(path)).send().await.expect("request sent");
        let status = resp.status();
        let bytes = resp.body().limit(64 * 1024 * 1024).await.expect("body read");
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    pub async fn register(&self, uuid: &str, registration: Value) -> (StatusCode, Value) {
        self.post_json(&format!("/client/{uuid}/register"), registration).await
    }

    /// Registers an adapter of `client_type` and asserts it was accepted.
    pub async fn register_type(&self, uuid: &str, client_type: &str) {
        let (status, body) = self.register(uuid, json!({ "type": client_type })).await;
        assert_eq!(status, StatusCode::OK, "register {uuid}: {body}");
    }

    /// A plain poll; asserts 200, as every poll must be.
    pub async fn poll(&self, uuid: &str) -> Value {
        let (status, body) = self.get(&format!("/client/{uuid}/poll")).await;
        assert_eq!(status, StatusCode::OK, "poll {uuid}: {body}");
        body
    }

    /// A long poll of up to `secs` seconds.
    pub async fn poll_wait(&self, uuid: &str, secs: f64) -> Value {
        let (status, body) = self.get(&format!("/client/{uuid}/poll?wait={secs}")).await;
        assert_eq!(status, StatusCode::OK, "poll {uuid}: {body}");
        body
    }

    /// Long-polls until the answer is not `idle` (at most 20 s).
    pub async fn next_action(&self, uuid: &str) -> Value {
        for _ in 0..20 {
            let answer = self.poll_wait(uuid, 1.0).await;
            if answer["action"] != "idle" {
                return answer;
            }
        }
        panic!("adapter {uuid} was given no action within 20 s");
    }

    pub async fn respond(&self, uuid: &str, body: Value) -> (StatusCode, Value) {
        self.post_json(&format!("/client/{uuid}/respond"), body).await
    }

    pub async fn report_error(&self, uuid: &str, kind: &str, details: &str) -> (StatusCode, Value) {
        let body = json!({ "error": { "type": kind, "details": details, "path": "adapter.js#12" } });
        self.post_json(&format!("/client/{uuid}/error"), body).await
    }

    /// Uploads files as multipart/form-data.
    pub async fn upload(&self, uuid: &str, files: &[(&str, &[u8])]) -> (StatusCode, Value) {
        let (content_type, body) = multipart(files);
        self.post_raw(&format!("/client/{uuid}/upload"), Some(&content_type), body).await
    }

    /// Responds with a raw body: `query` is appended to the path (`?id=...`, `?wait=...`).
    pub async fn respond_raw(
        &self,
        uuid: &str,
        query: &str,
        content_type: Option<&str>,
        body: &str,
    ) -> (StatusCode, Value) {
        self.post_raw(&format!("/client/{uuid}/respond{query}"), content_type, body.as_bytes().to_vec()).await
    }

    pub async fn status(&self) -> StatusSnapshot {
        self.allocator.send(allocator::Status::default()).await.unwrap()
    }

    /// The state of case `id` (`waiting`, `running`, ...).
    pub async fn case_state(&self, id: &str) -> String {
        let snapshot = self.allocator.send(allocator::CaseStatus(id.into())).await.unwrap().expect("case exists");
        snapshot.state.to_string()
    }

    /// The snapshot of case `id`.
    pub async fn case_snapshot(&self, id: &str) -> CaseSnapshot {
        self.allocator.send(allocator::CaseStatus(id.into())).await.unwrap().expect("case exists")
    }

    /// The adapter `uuid` as the dashboard sees it, if the server knows it.
    pub async fn adapter(&self, uuid: &str) -> Option<AdapterSnapshot> {
        self.allocator.send(allocator::AdapterStatus(uuid.into())).await.unwrap()
    }

    /// Waits (at most 20 s) until the adapter's snapshot (`None`: unknown) satisfies `ok`.
    pub async fn wait_for_adapter(&self, uuid: &str, what: &str, ok: impl Fn(Option<&AdapterSnapshot>) -> bool) {
        for _ in 0..400 {
            if ok(self.adapter(uuid).await.as_ref()) {
                return;
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("adapter {uuid}: {what} did not happen within 20 s; it is {:?}", self.adapter(uuid).await);
    }

    /// Every file under the output directory, as paths relative to it, sorted; the run's
    /// own reports (results.jsonl, junit.xml, report.json) left out.
    pub fn files_on_disk(&self) -> Vec<String> {
        fn walk(dir: &std::path::Path, root: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, root, out);
                } else {
                    out.push(path.strip_prefix(root).unwrap().to_string_lossy().into_owned());
                }
            }
        }
        let mut out = Vec::new();
        walk(self.output.path(), self.output.path(), &mut out);
        let reports =
            [trafficlight::results::RESULTS_FILE, trafficlight::reports::JUNIT_FILE, trafficlight::reports::JSON_FILE];
        out.retain(|f| !reports.contains(&f.as_str()) && !f.ends_with(".tmp"));
        out.sort();
        out
    }

    /// Waits (at most 20 s) until case `id` is in `state`.
    pub async fn wait_for_case(&self, id: &str, state: &str) {
        for _ in 0..400 {
            if self.case_state(id).await == state {
                return;
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("case {id} did not reach {state}; it is {}", self.case_state(id).await);
    }

    /// Waits (at most 20 s) until adapter `uuid` has an action pending, without polling
    /// for it (which would deliver it).
    pub async fn wait_for_pending(&self, uuid: &str) {
        for _ in 0..400 {
            if self.adapter(uuid).await.is_some_and(|a| a.current_action.is_some()) {
                return;
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("adapter {uuid} was given no action within 20 s");
    }

    /// Waits for the end of the run and its report.
    pub async fn run_ended(&self) -> RunReport {
        let ended = self.allocator.send(allocator::RunEnded);
        actix_web::rt::time::timeout(Duration::from_secs(30), ended).await.expect("run ends within 30 s").unwrap()
    }
}

/// A case `id` of test `test` with `slots` (name, requirement) running `body`.
pub fn case(id: &str, slots: &[(&str, Value)], body: Arc<dyn TestBody>) -> CaseSpec {
    CaseSpec {
        id: id.into(),
        test: id.split('.').next().unwrap_or(id).into(),
        slots: slots
            .iter()
            .map(|(name, req)| Slot {
                name: name.to_string(),
                requirement: serde_json::from_value::<ClientRequirement>(req.clone()).unwrap(),
            })
            .collect(),
        servers: None,
        timeout: None,
        body,
    }
}

/// A run of one case `t.1` whose only slot, `alice`, takes any `element-web` adapter.
pub fn alice(body: Arc<dyn TestBody>) -> Vec<CaseSpec> {
    vec![case("t.1", &[("alice", json!("element-web"))], body)]
}

/// Lets a test decide when its body goes on: the body waits in [`passed`](Gate::passed)
/// until the test calls [`open`](Gate::open).
#[derive(Clone, Default)]
pub struct Gate(Arc<Notify>);

impl Gate {
    pub fn open(&self) {
        self.0.notify_one();
    }
    pub async fn passed(&self) {
        self.0.notified().await;
    }
}

/// What a test body hands back to the test, in order.
pub struct Inbox<T>(mpsc::UnboundedReceiver<T>);

impl<T> Inbox<T> {
    /// The next item (at most 20 s away).
    pub async fn next(&mut self) -> T {
        let item = actix_web::rt::time::timeout(Duration::from_secs(20), self.0.recv());
        item.await.expect("the body reported within 20 s").expect("the body is still running")
    }
}

/// A channel from a test body to the test.
pub fn inbox<T>() -> (mpsc::UnboundedSender<T>, Inbox<T>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (tx, Inbox(rx))
}

/// A body that asks `client` for `actions` one after another and hands every result to
/// the test; it stops at the first error and ends as that error says.
pub fn recording(
    client: &'static str,
    actions: Vec<(&'static str, Value)>,
) -> (Arc<dyn TestBody>, Inbox<Result<Value, ActionError>>) {
    let (tx, results) = inbox();
    let actions = Arc::new(actions);
    let body = async_body(move |ctx: CaseContext| {
        let (actions, tx) = (actions.clone(), tx.clone());
        async move {
            let handle = ctx.client(client).expect("slot exists").clone();
            for (action, data) in actions.iter() {
                let result = handle.perform(action, data.clone()).await;
                let _ = tx.send(result.clone());
                if let Err(e) = result {
                    return e.outcome();
                }
            }
            Outcome::Success
        }
    });
    (body, results)
}

/// A body that waits for `gate`, then performs `steps` like [`steps`].
pub fn gated(gate: &Gate, then: Vec<(&'static str, &'static str, Value)>) -> Arc<dyn TestBody> {
    let (gate, then) = (gate.clone(), steps(then));
    async_body(move |ctx: CaseContext| {
        let (gate, then) = (gate.clone(), then.clone());
        async move {
            gate.passed().await;
            then.run(ctx).await
        }
    })
}

/// A body that waits for `gate`, asks `client` for `action` once, hands the result to the
/// test and succeeds.
pub fn gated_action(
    gate: &Gate,
    client: &'static str,
    action: &'static str,
) -> (Arc<dyn TestBody>, Inbox<Result<Value, ActionError>>) {
    let (tx, results) = inbox();
    let gate = gate.clone();
    let body = async_body(move |ctx: CaseContext| {
        let (gate, tx) = (gate.clone(), tx.clone());
        async move {
            gate.passed().await;
            let _ = tx.send(ctx.client(client).expect("slot exists").perform(action, json!({})).await);
            Outcome::Success
        }
    });
    (body, results)
}

/// A body that performs `steps` (client, action, data) one after another and succeeds.
pub fn steps(steps: Vec<(&'static str, &'static str, Value)>) -> Arc<dyn TestBody> {
    let steps = Arc::new(steps);
    async_body(move |ctx: CaseContext| {
        let steps = steps.clone();
        async move {
            for (client, action, data) in steps.iter() {
                let handle = ctx.client(client).expect("slot exists").clone();
                if let Err(e) = handle.perform(action, data.clone()).await {
                    return e.outcome();
                }
            }
            Outcome::Success
        }
    })
}

/// A body defined by an async closure over the context.
pub fn body<F, Fut>(f: F) -> Arc<dyn TestBody>
where
    F: Fn(CaseContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    async_body(f)
}

/// A test with one step: alice (Element Web) is asked to `check` and must answer `good`.
pub const ONE_STEP: &str = "fn needs() { #{ clients: #{ alice: [\"element-web\"] } } }\nlet r = alice.act(\"check\", #{});\nassert_eq(r.response, \"good\");\n";

/// The lines of `pipe` (a child's stdout or stderr) as they come, read on a thread of their
/// own to the end, so the child never blocks on a full pipe; the channel closes at its end.
pub fn lines_of(pipe: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// The first line `lines` gives within `wait` of each other that satisfies `ok`.
pub fn first_line(
    lines: &std::sync::mpsc::Receiver<String>,
    wait: Duration,
    ok: impl Fn(&str) -> bool,
) -> Option<String> {
    std::iter::from_fn(|| lines.recv_timeout(wait).ok()).find(|l| ok(l))
}

/// Writes `scripts` (file name, source) into a fresh directory.
pub fn script_dir(scripts: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, source) in scripts {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, source).unwrap();
    }
    dir
}

/// The cases of `scripts`, loaded and expanded as `serve` does.
pub fn script_cases(scripts: &[(&str, &str)]) -> Vec<CaseSpec> {
    let dir = script_dir(scripts);
    let scenarios = trafficlight::scenario::load_dir(dir.path(), None).expect("scripts load");
    trafficlight::scenario::expand(&scenarios)
}

/// A stand-in for a homeserver's registration endpoint (no Synapse runs in these tests):
/// it records each `POST /_matrix/client/v3/register` body and answers as Synapse does.
pub async fn fake_homeserver() -> (String, std::sync::mpsc::Receiver<serde_json::Value>) {
    use actix_web::{web, App, HttpResponse, HttpServer};
    let (tx, rx) = std::sync::mpsc::channel();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        let tx = tx.clone();
        App::new().route(
            "/_matrix/client/v3/register",
            web::post().to(move |body: web::Json<serde_json::Value>| {
                let tx = tx.clone();
                async move {
                    let user = body["username"].as_str().unwrap_or("").to_string();
                    let _ = tx.send(body.into_inner());
                    HttpResponse::Ok().json(json!({"user_id": format!("@{user}:hs1")}))
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    (url, rx)
}

/// A multipart/form-data body with one file part per (name, content): its content type and bytes.
pub fn multipart(files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "trafficlight-test-boundary";
    let mut body = Vec::new();
    for (name, content) in files {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A raw HTTP/1.1 exchange on its own connection: sends `first`, then (once `between`
/// has returned) `rest`, and answers everything the server sent back (it closes the
/// connection after the answer: `Connection: close` is expected in `first`).
pub async fn raw_exchange<F>(addr: &str, first: Vec<u8>, between: F, rest: Vec<u8>) -> String
where
    F: std::future::Future<Output = ()>,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(&first).await.unwrap();
    stream.flush().await.unwrap();
    between.await;
    stream.write_all(&rest).await.unwrap();
    let read = async {
        let mut answer = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = stream.read(&mut buf).await.unwrap_or(0);
            answer.extend_from_slice(&buf[..n]);
            if n == 0 || answer_complete(&answer) {
                return answer;
            }
        }
    };
    let answer = actix_web::rt::time::timeout(Duration::from_secs(30), read).await;
    String::from_utf8_lossy(&answer.expect("the server answers within 30 s")).into_owned()
}

/// Whether `answer` holds a whole HTTP response (head, and a body of its Content-Length).
fn answer_complete(answer: &[u8]) -> bool {
    let text = String::from_utf8_lossy(answer);
    let Some(end) = text.find("\r\n\r\n") else { return false };
    let length = text[..end]
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    answer.len() >= end + 4 + length
}

/// The head of an upload request of `body_len` bytes, `Connection: close`.
pub fn upload_head(uuid: &str, body_len: usize) -> String {
    format!(
        "POST /client/{uuid}/upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {body_len}\r\n\
         Content-Type: multipart/form-data; boundary=trafficlight-test-boundary\r\n\r\n"
    )
}
