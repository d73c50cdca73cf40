//! Provisioning through Complement's homerunner. Homerunner itself needs a Docker engine,
//! which these machines lack, so the homerunner here is a stand-in: an actix-web server on
//! port 0 that speaks homerunner's exact JSON (`POST /create` with `base_image_uri` and a
//! `blueprint`, answered with `homeservers.{name}.{BaseURL, FedBaseURL, ContainerID,
//! AccessTokens, ApplicationServices}` and `expires`; errors as `{"message": ...}`;
//! `POST /destroy` with `blueprint_name`, answered `{}`), as in
//! matrix-org/complement's cmd/homerunner/route_create.go and route_destroy.go.

mod common;

use actix_web::{web, App, HttpResponse, HttpServer};
use common::{case, TestApp};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use trafficlight::provision::ServerKind;
use trafficlight_actors::allocator;
use trafficlight_actors::case::CaseSpec;
use trafficlight_actors::snapshot::CaseState;
use trafficlight_actors::{Homeserver, Outcome, ServerRequest};

/// How the stand-in answers `/create`.
#[derive(Clone)]
enum Answer {
    Deploy,
    /// Homerunner's own 400, e.g. when Docker cannot pull the image.
    Refuse(&'static str),
    /// Never answers (a create slower than any deadline).
    Hang,
    /// Holds each create until this many are in flight at once.
    Together(usize),
}

#[derive(Default)]
struct Seen {
    creates: Vec<Value>,
    destroys: Vec<String>,
    in_flight: usize,
}

struct FakeHomerunner {
    url: String,
    seen: Arc<Mutex<Seen>>,
}

impl FakeHomerunner {
    async fn start(answer: Answer) -> Self {
        Self::start_on(TcpListener::bind("127.0.0.1:0").unwrap(), answer).await
    }

    async fn start_on(listener: TcpListener, answer: Answer) -> Self {
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Seen::default()));
        let all_here = Arc::new(Notify::new());
        let state = (seen.clone(), answer, all_here);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(state.clone()))
                .route("/create", web::post().to(create))
                .route("/destroy", web::post().to(destroy))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        actix_web::rt::spawn(server);
        FakeHomerunner { url, seen }
    }

    fn creates(&self) -> Vec<Value> {
        self.seen.lock().unwrap().creates.clone()
    }

    fn destroys(&self) -> Vec<String> {
        self.seen.lock().unwrap().destroys.clone()
    }
}

type State = web::Data<(Arc<Mutex<Seen>>, Answer, Arc<Notify>)>;

async fn create(state: State, body: web::Json<Value>) -> HttpResponse {
    let (seen, answer, all_here) = (&state.0, &state.1, &state.2);
    let body = body.into_inner();
    let in_flight = {
        let mut seen = seen.lock().unwrap();
        seen.creates.push(body.clone());
        seen.in_flight += 1;
        seen.in_flight
    };
    match answer {
        Answer::Refuse(message) => return HttpResponse::BadRequest().json(json!({ "message": message })),
        Answer::Hang => std::future::pending::<()>().await,
        Answer::Together(n) if in_flight >= *n => all_here.notify_waiters(),
        Answer::Together(_) => {
            if actix_web::rt::time::timeout(Duration::from_secs(60), all_here.notified()).await.is_err() {
                return HttpResponse::InternalServerError().json(json!({"message": "the creates came one by one"}));
            }
        }
        Answer::Deploy => {}
    }
    seen.lock().unwrap().in_flight -= 1;
    let name = body["blueprint"]["Name"].as_str().unwrap_or("");
    let homeservers: BTreeMap<String, Value> = body["blueprint"]["Homeservers"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, hs)| {
            let hs_name = hs["Name"].as_str().unwrap().to_string();
            let deployment = json!({
                "BaseURL": format!("http://localhost:{}", 32800 + i),
                "FedBaseURL": format!("https://localhost:{}", 32900 + i),
                "ContainerID": format!("container-{name}-{hs_name}"),
                "AccessTokens": {},
                "ApplicationServices": {},
                "DeviceIDs": {},
            });
            (hs_name, deployment)
        })
        .collect();
    HttpResponse::Ok().json(json!({ "homeservers": homeservers, "expires": "2026-12-03T16:22:28.99267Z" }))
}

async fn destroy(state: State, body: web::Json<Value>) -> HttpResponse {
    let name = body["blueprint_name"].as_str().unwrap_or("").to_string();
    if name.is_empty() {
        return HttpResponse::BadRequest().json(json!({"message": "missing blueprint name"}));
    }
    state.0.lock().unwrap().destroys.push(name);
    HttpResponse::Ok().json(json!({}))
}

/// A case `id` of one element-web client needing `names` servers of type `kind`.
fn server_case(id: &str, kind: &str, names: &[&str], body: Arc<dyn trafficlight_actors::TestBody>) -> CaseSpec {
    let mut spec = case(id, &[("alice", json!("element-web"))], body);
    spec.servers = Some(ServerRequest { kind: kind.into(), names: names.iter().map(|n| n.to_string()).collect() });
    spec
}

fn pointing_at(url: &str) -> impl FnOnce(&mut trafficlight::config::Config) + '_ {
    move |c| c.provision.homerunner_url = url.to_string()
}

#[actix_web::test]
async fn a_case_gets_homerunners_servers_and_destroys_them_at_its_end() {
    let homerunner = FakeHomerunner::start(Answer::Deploy).await;
    let (tx, rx) = std::sync::mpsc::channel::<Vec<Homeserver>>();
    let body = common::body(move |ctx| {
        let _ = tx.send(ctx.servers.clone());
        async { Outcome::Success }
    });
    let cases = vec![server_case("fed.one", "synapse-federation", &["server1", "server2"], body)];
    let app = TestApp::spawn_with(pointing_at(&homerunner.url), cases).await;
    app.register_type("a", "element-web").await;
    let report = app.run_ended().await;
    assert!(report.succeeded(), "{}", report.summary());

    let creates = homerunner.creates();
    assert_eq!(creates.len(), 1);
    let create = &creates[0];
    let name = create["blueprint"]["Name"].as_str().unwrap().to_string();
    assert!(name.contains("fed.one"), "the name says which case: {name}");
    let image = "ghcr.io/matrix-org/synapse/complement-synapse:develop";
    assert_eq!(
        create,
        &json!({
            "base_image_uri": image,
            "blueprint": {
                "Name": name,
                "Homeservers": [
                    {"Name": "hs1", "Users": [], "Rooms": [], "BaseImageURI": image},
                    {"Name": "hs2", "Users": [], "Rooms": [], "BaseImageURI": image},
                ],
            },
        })
    );
    let servers = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(servers.len(), 2);
    assert_eq!((servers[0].name.as_str(), servers[0].server_name.as_str()), ("server1", "hs1"));
    assert_eq!(servers[0].cs_api, "http://localhost:32800", "BaseURL becomes cs_api");
    assert_eq!(servers[1].cs_api, "http://localhost:32801");
    assert_eq!(servers[0].extra["FedBaseURL"], "https://localhost:32900");
    assert_eq!(servers[0].extra["ContainerID"], format!("container-{name}-hs1"));
    assert_eq!(servers[0].extra["AccessTokens"], json!({}));
    assert_eq!(servers[0].extra["expires"], "2026-12-03T16:22:28.99267Z");
    assert_eq!(homerunner.destroys(), vec![name]);
}

#[actix_web::test]
async fn two_attempts_of_one_case_use_two_blueprint_names() {
    let homerunner = FakeHomerunner::start(Answer::Deploy).await;
    for _ in 0..2 {
        let cases =
            vec![server_case("again.one", "synapse", &["server"], common::body(|_| async { Outcome::Success }))];
        let app = TestApp::spawn_with(pointing_at(&homerunner.url), cases).await;
        app.register_type("a", "element-web").await;
        assert!(app.run_ended().await.succeeded());
    }
    let names: Vec<String> =
        homerunner.creates().iter().map(|c| c["blueprint"]["Name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names.len(), 2);
    assert_ne!(names[0], names[1]);
    assert_eq!(homerunner.destroys(), names);
}

/// How a case can end, and what makes it end so.
#[derive(Clone, Copy, Debug)]
enum Ending {
    Success,
    Failure,
    Error,
    AdapterTimeout,
    CaseDeadline,
    Shutdown,
}

#[actix_web::test]
async fn exactly_one_destroy_per_create_however_the_case_ends() {
    use Ending::*;
    for ending in [Success, Failure, Error, AdapterTimeout, CaseDeadline, Shutdown] {
        let homerunner = FakeHomerunner::start(Answer::Deploy).await;
        let body = common::body(move |ctx| async move {
            match ending {
                Success => Outcome::Success,
                Failure => Outcome::Failed("on purpose".into()),
                Error => Outcome::Error("on purpose".into()),
                // The adapter never answers; its silence ends the case.
                AdapterTimeout => match ctx.clients[0].perform("wait", json!({})).await {
                    Ok(_) => Outcome::Success,
                    Err(e) => e.outcome(),
                },
                CaseDeadline | Shutdown => std::future::pending().await,
            }
        });
        let mut spec = server_case("ending.one", "synapse", &["server"], body);
        if let CaseDeadline = ending {
            spec.timeout = Some(Duration::from_millis(500));
        }
        let app = TestApp::spawn_with(
            |c| {
                c.provision.homerunner_url = homerunner.url.clone();
                if let AdapterTimeout = ending {
                    c.timeouts.active = Duration::from_millis(500);
                }
            },
            vec![spec],
        )
        .await;
        app.register_type("a", "element-web").await;
        if let Shutdown = ending {
            app.wait_for_case("ending.one", "running").await;
            app.allocator.do_send(allocator::Shutdown);
        }
        if let AdapterTimeout = ending {
            app.wait_for_pending("a").await;
        } else {
            // Keep the adapter alive through the case: only the intended ending may end it.
            app.poll("a").await;
        }
        let report = app.run_ended().await;
        let state = report.cases[0].state;
        let expected = match ending {
            Success => CaseState::Success,
            Failure => CaseState::Failed,
            _ => CaseState::Error,
        };
        assert_eq!(state, expected, "{ending:?}: {}", report.summary());
        let created: Vec<String> =
            homerunner.creates().iter().map(|c| c["blueprint"]["Name"].as_str().unwrap().to_string()).collect();
        assert_eq!(created.len(), 1, "{ending:?}");
        assert_eq!(homerunner.destroys(), created, "{ending:?}: one destroy, of what was created");
    }
}

#[actix_web::test]
async fn homerunners_refusal_errors_the_case_with_its_message() {
    let homerunner = FakeHomerunner::start(Answer::Refuse("failed to create deployment: no such image")).await;
    let cases = vec![server_case("refused.one", "dendrite", &["server"], common::body(|_| async { Outcome::Success }))];
    let app = TestApp::spawn_with(pointing_at(&homerunner.url), cases).await;
    app.register_type("a", "element-web").await;
    let report = app.run_ended().await;
    let case = &report.cases[0];
    assert_eq!(case.state, CaseState::Error);
    assert!(case.errors[0].contains("failed to create deployment: no such image"), "{:?}", case.errors);
    assert!(case.errors[0].contains("400"), "{:?}", case.errors);
    assert_eq!(homerunner.creates()[0]["base_image_uri"], "complement-dendrite");
    assert!(homerunner.destroys().is_empty(), "nothing was created, nothing to destroy");
}

/// Runs one case of a homerunner server type against `url`, provisioning limited to
/// `timeout`, to the end of the run: the case must error as timed out.
async fn provisioning_times_out(url: String, timeout: Duration) {
    let cases = vec![server_case("slow.one", "synapse", &["server"], common::body(|_| async { Outcome::Success }))];
    let app = TestApp::spawn_with(
        |c| {
            c.provision.homerunner_url = url;
            c.provision.timeout = timeout;
        },
        cases,
    )
    .await;
    app.register_type("a", "element-web").await;
    let report = app.run_ended().await;
    let case = &report.cases[0];
    assert_eq!(case.state, CaseState::Error);
    assert!(case.errors[0].contains("provisioning timed out"), "{:?}", case.errors);
}

#[actix_web::test]
async fn a_create_slower_than_the_deadline_times_out_and_is_destroyed_anyway() {
    let homerunner = FakeHomerunner::start(Answer::Hang).await;
    provisioning_times_out(homerunner.url.clone(), Duration::from_millis(300)).await;
    let name = homerunner.creates()[0]["blueprint"]["Name"].as_str().unwrap().to_string();
    assert_eq!(homerunner.destroys(), vec![name], "a create homerunner may still finish is destroyed by name");
}

#[actix_web::test]
async fn a_homerunner_that_is_down_is_retried_until_it_answers() {
    // A port nothing listens on yet; homerunner comes up there once the case has started.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let cases = vec![server_case("late.one", "synapse", &["server"], common::body(|_| async { Outcome::Success }))];
    let app = TestApp::spawn_with(pointing_at(&url), cases).await;
    app.register_type("a", "element-web").await;
    app.wait_for_case("late.one", "preparing").await;
    let homerunner = FakeHomerunner::start_on(TcpListener::bind(("127.0.0.1", port)).unwrap(), Answer::Deploy).await;
    let report = app.run_ended().await;
    assert!(report.succeeded(), "{}", report.summary());
    assert_eq!(homerunner.creates().len(), 1);
    assert_eq!(homerunner.destroys().len(), 1);
}

#[actix_web::test]
async fn a_homerunner_that_stays_down_errors_the_case() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    provisioning_times_out(format!("http://127.0.0.1:{port}"), Duration::from_secs(1)).await;
}

#[actix_web::test]
async fn static_types_call_no_homerunner() {
    let homerunner = FakeHomerunner::start(Answer::Deploy).await;
    let server = Homeserver {
        name: String::new(),
        server_name: "already.example".into(),
        cs_api: "http://localhost:8008".into(),
        extra: Default::default(),
    };
    let (tx, rx) = std::sync::mpsc::channel::<Vec<Homeserver>>();
    let body = common::body(move |ctx| {
        let _ = tx.send(ctx.servers.clone());
        async { Outcome::Success }
    });
    let cases = vec![server_case("fixed.one", "running", &["server"], body)];
    let app = TestApp::spawn_with(
        |c| {
            c.provision.homerunner_url = homerunner.url.clone();
            c.server_types.insert("running".into(), ServerKind::Static(vec![server]));
        },
        cases,
    )
    .await;
    app.register_type("a", "element-web").await;
    assert!(app.run_ended().await.succeeded());
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap()[0].server_name, "already.example");
    assert!(homerunner.creates().is_empty() && homerunner.destroys().is_empty());
}

#[actix_web::test]
async fn two_cases_provision_at_the_same_time() {
    // Each create is held until both are in flight: one-at-a-time provisioning never gets
    // there and both cases error.
    let homerunner = FakeHomerunner::start(Answer::Together(2)).await;
    let ok = || common::body(|_| async { Outcome::Success });
    let cases = vec![
        server_case("first.one", "synapse", &["server"], ok()),
        server_case("second.one", "synapse", &["server"], ok()),
    ];
    let app = TestApp::spawn_with(pointing_at(&homerunner.url), cases).await;
    app.register_type("a", "element-web").await;
    app.register_type("b", "element-web").await;
    let report = app.run_ended().await;
    assert!(report.succeeded(), "{}", report.summary());
    assert_eq!(homerunner.destroys().len(), 2);
}
