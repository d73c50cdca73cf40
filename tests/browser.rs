//! A real browser: headless Chromium, driven by Debian's chromedriver over WebDriver's plain
//! HTTP JSON protocol, opens /status while a case runs and sees the case go from running to
//! success without a reload (live.js applying the server's events); then a screenshot of
//! the case page is taken and decoded as a PNG.
//!
//! Needs `chromium` and `chromium-driver` (scripts/test.sh installs them with apt-get). If
//! they are missing the test fails, it does not skip: CI must run it.

mod common;

use awc::http::Method;
use common::{case, steps, TestApp};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long the page may take to show a change the server has made.
const DEADLINE: Duration = Duration::from_secs(30);

/// `name` on the PATH, or a clear failure saying how to install it.
fn find_program(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file()).unwrap_or_else(|| {
        panic!(
            "{name} is not installed: the browser test needs Debian's chromium and chromium-driver \
             (`apt-get install -y chromium chromium-driver`; scripts/test.sh does it when run as root)"
        )
    })
}

/// chromedriver and the Chromium it starts: killed, whatever happens, when dropped.
struct Driver {
    child: Child,
    /// The browser's profile, fresh for this test; every Chromium process names it.
    profile: tempfile::TempDir,
    url: String,
}

impl Driver {
    /// Starts chromedriver on a free port in its own process group and waits until it
    /// says it is listening.
    fn start() -> Driver {
        let chromedriver = find_program("chromedriver");
        find_program("chromium");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = {
            use std::os::unix::process::CommandExt;
            Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()))
        };
        let stdout = child.stdout.take().unwrap();
        let driver = Driver { child, profile: tempfile::tempdir().unwrap(), url: format!("http://127.0.0.1:{port}") };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Reads every line (so chromedriver never blocks on a full pipe); tells the
            // test once it is ready.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("started successfully") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(60)).expect("chromedriver says it started within 60 s");
        driver
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole process group (chromedriver and what it started), then any Chromium
        // process that left the group: found by our fresh profile's path, killed by pid.
        let pgid = self.child.id();
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pgid}")]).status();
        let _ = self.child.wait();
        let profile = self.profile.path().to_string_lossy().into_owned();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&profile) {
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            }
        }
    }
}

/// A WebDriver session over plain HTTP JSON.
struct Session {
    http: awc::Client,
    base: String,
}

impl Session {
    async fn new(driver: &Driver) -> Session {
        let http = awc::Client::builder().timeout(Duration::from_secs(120)).finish();
        let mut session = Session { http, base: driver.url.clone() };
        let profile = format!("--user-data-dir={}", driver.profile.path().display());
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": find_program("chromium"),
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", "--window-size=1280,900", profile],
            },
        }}});
        let created = session.call(Method::POST, "/session", Some(capabilities)).await;
        let id = created["sessionId"].as_str().unwrap_or_else(|| panic!("no session id in {created}"));
        session.base = format!("{}/session/{id}", driver.url);
        let timeouts = json!({ "script": DEADLINE.as_millis() as u64, "pageLoad": 60_000 });
        session.call(Method::POST, "/timeouts", Some(timeouts)).await;
        session
    }

    /// Calls the WebDriver endpoint `path` (under the session once there is one) and
    /// answers its `value`; fails on a WebDriver error.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let req = self.http.request(method.clone(), format!("{}{path}", self.base));
        let sent = match body {
            Some(body) => req.send_json(&body).await,
            None => req.send().await,
        };
        let mut resp = sent.unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let bytes = resp.body().limit(64 * 1024 * 1024).await.expect("WebDriver answer read");
        let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert!(resp.status().is_success(), "WebDriver {method} {path}: {} {answer}", resp.status());
        answer["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.call(Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    async fn run(&self, script: &str) -> Value {
        self.call(Method::POST, "/execute/sync", Some(json!({ "script": script, "args": [] }))).await
    }

    /// Runs `script` with a `done` callback in the page; answers what it passes to `done`
    /// (within the script timeout, [`DEADLINE`]).
    async fn run_async(&self, script: &str) -> Value {
        let script = format!("var done = arguments[arguments.length - 1];\n{script}");
        self.call(Method::POST, "/execute/async", Some(json!({ "script": script, "args": [] }))).await
    }

    async fn quit(&self) {
        self.call(Method::DELETE, "", None).await;
    }
}

/// Waits (in the page, on DOM changes, not by polling) until `condition` (a JS expression)
/// holds; answers the page's state as `report` (a JS expression) sees it then.
fn when(condition: &str, report: &str) -> String {
    format!(
        "function ok() {{ return {condition}; }}
         function answer() {{ return {report}; }}
         if (ok()) {{ done(answer()); }} else {{
           var seen = new MutationObserver(function () {{
             if (ok()) {{ seen.disconnect(); done(answer()); }}
           }});
           seen.observe(document.documentElement,
             {{ subtree: true, childList: true, characterData: true, attributes: true }});
         }}"
    )
}

/// The state badge of case t.1 on the page, the success count, the marker and the stream.
const REPORT: &str = "({ state: (document.querySelector('[data-case-state=\"t.1\"]') || {}).textContent, \
    success: (document.querySelector('[data-count=\"case:success\"]') || {}).textContent, \
    marker: window.tlMarker, live: window.tlLive })";

/// Decodes standard base64 (as WebDriver sends screenshots).
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {:?}", c as char),
    };
    let digits: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=').map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, d)| n | (*d as u32) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

#[test]
fn base64_decodes_as_the_standard_says() {
    assert_eq!(base64_decode("aGVsbG8="), b"hello");
    assert_eq!(base64_decode("aGVsbG8gIQ=="), b"hello !");
    assert_eq!(base64_decode("YWJj"), b"abc");
}

#[actix_web::test]
async fn status_page_in_chromium_follows_a_case_from_running_to_success_without_reload() {
    let app = TestApp::spawn(vec![case(
        "t.1",
        &[("alice", json!("element-web"))],
        steps(vec![("alice", "send_message", json!({ "message": "hi" }))]),
    )])
    .await;
    // The adapter takes the action and holds it: the case runs until it responds.
    app.register_type("a", "element-web").await;
    let action = app.next_action("a").await;
    assert_eq!(action["action"], "send_message", "{action}");
    app.wait_for_case("t.1", "running").await;

    let driver = Driver::start();
    let browser = Session::new(&driver).await;
    browser.goto(&app.url("/status")).await;
    // A marker that a reload would wipe out.
    browser.run("window.tlMarker = 'set before the case ended'; return true;").await;
    let page = browser.run_async(&when("window.tlLive === 'open'", REPORT)).await;
    assert_eq!(page["state"], "running", "the status page shows the case running: {page}");
    assert_eq!(page["success"], "0", "{page}");

    assert_eq!(app.respond("a", json!({ "response": "ok" })).await.0, awc::http::StatusCode::OK);
    app.wait_for_case("t.1", "success").await;
    let page = browser
        .run_async(&when(
            "(document.querySelector('[data-case-state=\"t.1\"]') || {}).textContent === 'success'",
            REPORT,
        ))
        .await;
    assert_eq!(page["state"], "success", "the page never showed the case succeed: {page}");
    assert_eq!(page["success"], "1", "the success count followed: {page}");
    assert_eq!(page["marker"], "set before the case ended", "the page was reloaded: {page}");

    browser.goto(&app.url("/status/t.1/status")).await;
    let shown = browser.run("return document.body.innerText;").await;
    assert!(shown.as_str().unwrap_or("").contains("success"), "the case page shows the result: {shown}");
    let screenshot = browser.call(Method::GET, "/screenshot", None).await;
    let png_bytes = base64_decode(screenshot.as_str().expect("the screenshot is a base64 string"));
    let mut reader = png::Decoder::new(std::io::Cursor::new(&png_bytes)).read_info().expect("the screenshot is a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a sane size")];
    let frame = reader.next_frame(&mut pixels).expect("the screenshot decodes");
    assert!(frame.width >= 200 && frame.height >= 200, "{}x{}", frame.width, frame.height);
    assert!(png_bytes.len() > 5_000, "a {} byte screenshot is too small to show a page", png_bytes.len());
    let first = &pixels[..frame.color_type.samples()];
    let varied = pixels[..frame.buffer_size()].chunks(frame.color_type.samples()).any(|px| px != first);
    assert!(varied, "the screenshot is one flat colour: the page did not render");
    browser.quit().await;
    drop(driver);
}
