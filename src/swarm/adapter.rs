//! One thread of the swarm and its simulated adapters, each living one registration
//! after another: register, poll, answer, until `exit`; then again under a new uuid.

use super::rng::Rng;
use super::stats::Counters;
use super::{Mode, Options};
use awc::http::StatusCode;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Time a request may take beyond the wait it asked the server for.
const REQUEST_SLACK: Duration = Duration::from_secs(30);
/// Largest answer read from the server.
const BODY_LIMIT: usize = 4 * 1024 * 1024;
/// Pause before registering again after a life that went wrong, so a server that refuses
/// every registration is not hammered.
const PAUSE_AFTER_ERROR: Duration = Duration::from_secs(1);
/// The `delay` assumed when an `idle` answer gives none (classic mode).
const DEFAULT_DELAY: Duration = Duration::from_secs(1);
/// The path asked for in bare mode: a 404 answered by the server's fallback route.
const BARE_PATH: &str = "/swarm/bare-request";

/// How one life of an adapter ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The server said `exit`.
    Exit,
    /// The adapter died on purpose (`--die`).
    Died,
    /// Something went wrong (counted as an error); the adapter starts a new life.
    Broke,
    /// The swarm is stopping.
    Stopped,
    /// The server cannot be reached.
    ServerGone,
}

/// Runs thread `t`'s share of the adapters (adapter i where i mod threads = t) until each
/// has stopped; answers their round trips in microseconds.
pub(super) async fn run_thread(
    t: usize,
    options: Arc<Options>,
    counters: Arc<Counters>,
    stop_tx: Arc<watch::Sender<bool>>,
    stop: watch::Receiver<bool>,
) -> Vec<u64> {
    let http = awc::Client::builder()
        // The default of 100 connections would queue every adapter beyond the hundredth.
        .connector(awc::Connector::new().limit(0))
        .timeout(Duration::from_secs_f64(options.wait) + REQUEST_SLACK)
        .finish();
    if let (0, Some(limit)) = (t, options.duration) {
        let stop_tx = stop_tx.clone();
        actix_web::rt::spawn(async move {
            actix_web::rt::time::sleep(limit).await;
            let _ = stop_tx.send(true);
        });
    }
    let round_trips = Rc::new(RefCell::new(Vec::new()));
    let adapters: Vec<_> = (t..options.adapters)
        .step_by(options.threads)
        .map(|index| {
            let adapter = SimAdapter {
                index,
                client_type: options.types[index % options.types.len()].clone(),
                rng: Rng::new(options.seed, index as u64),
                http: http.clone(),
                options: options.clone(),
                counters: counters.clone(),
                stop_tx: stop_tx.clone(),
                stop: stop.clone(),
                round_trips: round_trips.clone(),
            };
            actix_web::rt::spawn(adapter.run())
        })
        .collect();
    for adapter in adapters {
        let _ = adapter.await;
    }
    let round_trips = round_trips.borrow().clone();
    round_trips
}

/// Ends the current life with `End` when a request did not give a value.
macro_rules! or_end {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(end) => return end,
        }
    };
}

struct SimAdapter {
    index: usize,
    client_type: String,
    rng: Rng,
    http: awc::Client,
    options: Arc<Options>,
    counters: Arc<Counters>,
    stop_tx: Arc<watch::Sender<bool>>,
    stop: watch::Receiver<bool>,
    round_trips: Rc<RefCell<Vec<u64>>>,
}

impl SimAdapter {
    async fn run(mut self) {
        if self.options.mode == Mode::Bare {
            self.bare().await;
        } else {
            let mut lives = 0;
            while !*self.stop.borrow() && self.options.lives.is_none_or(|max| lives < max) {
                // Not from the seed: two swarms, or two runs of one, must never share a uuid.
                let uuid = uuid::Uuid::new_v4().to_string();
                let end = self.life(&uuid, lives > 0).await;
                lives += 1;
                match end {
                    End::Exit | End::Died => {}
                    End::Broke => {
                        if self.sleep(PAUSE_AFTER_ERROR).await {
                            break;
                        }
                    }
                    End::Stopped | End::ServerGone => break,
                }
            }
        }
        self.counters.finished.fetch_add(1, Relaxed);
    }

    /// One registration, from `register` to `exit` (or a death, an error, the stop).
    async fn life(&mut self, uuid: &str, again: bool) -> End {
        let registration = json!({"type": self.client_type, "version": "swarm", "swarm_adapter": self.index});
        let url = format!("{}/client/{uuid}/register", self.options.url);
        match self.send(self.http.post(url), Some(&registration)).await {
            Ok((StatusCode::OK, _)) => self.counters.registrations.fetch_add(1, Relaxed),
            Ok((status, body)) => return self.broke(format!("adapter {uuid}: register answered {status}: {body}")),
            Err(End::ServerGone) if !again => {
                return self.broke_for_good(format!("adapter {uuid}: cannot reach {}", self.options.url))
            }
            Err(end) => return end,
        };
        let mut answer = or_end!(self.poll(uuid).await);
        let mut answered_at: Option<Instant> = None;
        let mut told_idle = false;
        loop {
            let action = answer["action"].as_str().unwrap_or_default().to_string();
            answer = match action.as_str() {
                "exit" => {
                    self.counters.exits.fetch_add(1, Relaxed);
                    return End::Exit;
                }
                "idle" => {
                    if !told_idle {
                        told_idle = true;
                        self.counters.idle.fetch_add(1, Relaxed);
                    }
                    if self.options.mode == Mode::Classic {
                        let asked = answer["data"]["delay"].as_u64().map(Duration::from_millis);
                        let delay = asked.unwrap_or(DEFAULT_DELAY).min(self.options.max_delay.unwrap_or(Duration::MAX));
                        if !delay.is_zero() && self.sleep(delay).await {
                            return End::Stopped;
                        }
                    }
                    or_end!(self.poll(uuid).await)
                }
                "" => return self.broke(format!("adapter {uuid}: a poll answered no action: {answer}")),
                _ => {
                    if let Some(at) = answered_at.take() {
                        self.round_trips.borrow_mut().push(at.elapsed().as_micros() as u64);
                    }
                    let roll = self.rng.share();
                    let (die, hang, fail) = (self.options.die, self.options.hang, self.options.fail);
                    if roll < die {
                        self.counters.died.fetch_add(1, Relaxed);
                        return End::Died;
                    } else if roll < die + hang {
                        self.counters.hung.fetch_add(1, Relaxed);
                        self.action_done();
                        if self.sleep(self.options.hang_for).await {
                            return End::Stopped;
                        }
                        or_end!(self.poll(uuid).await)
                    } else if roll < die + hang + fail {
                        self.counters.failed.fetch_add(1, Relaxed);
                        self.action_done();
                        or_end!(self.fail(uuid, &action).await);
                        or_end!(self.poll(uuid).await)
                    } else {
                        answered_at = Some(Instant::now());
                        let next = or_end!(self.respond(uuid, &action, &answer).await);
                        self.action_done();
                        next
                    }
                }
            };
        }
    }

    /// Asks for the next action as the mode says.
    async fn poll(&mut self, uuid: &str) -> Result<Value, End> {
        let url = match self.options.mode {
            Mode::Classic => format!("{}/client/{uuid}/poll", self.options.url),
            _ => format!("{}/client/{uuid}/poll?wait={}", self.options.url, self.options.wait),
        };
        self.expect_ok(uuid, "poll", self.http.get(url), None).await
    }

    /// Answers `action`; answers the next action (respond-and-wait brings it back,
    /// the other modes poll for it).
    async fn respond(&mut self, uuid: &str, action: &str, answer: &Value) -> Result<Value, End> {
        let mut query = Vec::new();
        if self.options.mode == Mode::RespondAndWait {
            query.push(format!("wait={}", self.options.wait));
        }
        if let Some(id) = answer["id"].as_str() {
            query.push(format!("id={id}"));
        }
        let url = format!("{}/client/{uuid}/respond?{}", self.options.url, query.join("&"));
        let body = plausible_response(action, &answer["data"]);
        let reply = self.expect_ok(uuid, "respond", self.http.post(url), Some(&body)).await?;
        match self.options.mode {
            Mode::RespondAndWait => Ok(reply),
            _ => self.poll(uuid).await,
        }
    }

    /// Reports `action` as failed in the client (an `action` error: the case fails).
    async fn fail(&mut self, uuid: &str, action: &str) -> Result<Value, End> {
        let url = format!("{}/client/{uuid}/error", self.options.url);
        let details = format!("swarm adapter {} was told to fail {action}", self.index);
        let body = json!({"error": {"type": "action", "details": details, "path": "trafficlight swarm --fail"}});
        self.expect_ok(uuid, "error", self.http.post(url), Some(&body)).await
    }

    /// Bare mode: trivial requests one after another, each counted as an action.
    async fn bare(&mut self) {
        let url = format!("{}{BARE_PATH}", self.options.url);
        while !*self.stop.borrow() {
            let sent = Instant::now();
            match self.send(self.http.get(&url), None).await {
                Ok(_) => {
                    self.round_trips.borrow_mut().push(sent.elapsed().as_micros() as u64);
                    self.action_done();
                }
                Err(End::Stopped) => return,
                Err(_) => {
                    self.counters.error(format!("bare request to {url}: cannot reach the server"));
                    return;
                }
            }
        }
    }

    /// Sends a request whose answer must be 200 with a JSON body; anything else breaks the life.
    async fn expect_ok(
        &mut self,
        uuid: &str,
        what: &str,
        request: awc::ClientRequest,
        body: Option<&Value>,
    ) -> Result<Value, End> {
        match self.send(request, body).await? {
            (StatusCode::OK, value) if value.is_object() => Ok(value),
            (status, value) => Err(self.broke(format!("adapter {uuid}: {what} answered {status}: {value}"))),
        }
    }

    /// Sends a request unless the swarm stops first; answers the status and the body as
    /// JSON (`Null` if it is not).
    async fn send(&mut self, request: awc::ClientRequest, body: Option<&Value>) -> Result<(StatusCode, Value), End> {
        let exchange = async {
            let sent = match body {
                Some(body) => request.send_json(body).await,
                None => request.send().await,
            };
            let mut response = sent.map_err(|e| match e {
                awc::error::SendRequestError::Connect(_) => (End::ServerGone, e.to_string()),
                _ => (End::Broke, e.to_string()),
            })?;
            let bytes = response.body().limit(BODY_LIMIT).await.map_err(|e| (End::Broke, e.to_string()))?;
            Ok((response.status(), serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
        };
        let outcome = tokio::select! {
            outcome = exchange => outcome,
            _ = self.stop.wait_for(|stop| *stop) => return Err(End::Stopped),
        };
        outcome.map_err(|(end, text)| match end {
            End::Broke => self.broke(format!("adapter {}: request failed: {text}", self.index)),
            end => end,
        })
    }

    /// Sleeps `time` unless the swarm stops first; answers whether it stopped.
    async fn sleep(&mut self, time: Duration) -> bool {
        tokio::select! {
            _ = actix_web::rt::time::sleep(time) => false,
            _ = self.stop.wait_for(|stop| *stop) => true,
        }
    }

    /// Counts an action dealt with, and stops the swarm at `--actions`.
    fn action_done(&self) {
        let done = self.counters.action_done();
        if self.options.actions.is_some_and(|target| done >= target) {
            let _ = self.stop_tx.send(true);
        }
    }

    fn broke(&self, text: String) -> End {
        self.counters.error(text);
        End::Broke
    }

    /// An error after which this adapter stops (the server was never reachable).
    fn broke_for_good(&self, text: String) -> End {
        self.counters.error(text);
        End::ServerGone
    }
}

/// What a real client would plausibly answer to `action`: the data shapes the prelude
/// reads (a timeline, call data), otherwise `{"response": "<action>_done"}`.
fn plausible_response(action: &str, data: &Value) -> Value {
    match action {
        "get_timeline" => json!({"response": "got", "timeline": []}),
        "get_lobby_data" | "get_call_data" => {
            let call = data["call_name"].as_str().unwrap_or("swarm");
            json!({"response": "ok", "data": {
                "call_name": call,
                "page_url": format!("http://localhost:8080/room/#/{call}"),
                "invite_url": format!("http://localhost:8080/room/#/{call}?password=swarm"),
                "videos": [],
            }})
        }
        _ => json!({"response": format!("{action}_done")}),
    }
}
