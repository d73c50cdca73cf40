//! AdapterActor: one per registered adapter. Owns its registration, its pending action
//! and whoever waits for it, held long polls, liveness and a remembered error.

use crate::allocator::{self, Allocator};
use crate::body::ActionError;
use crate::case::{self, CaseActor};
use crate::config::Timeouts;
use crate::requirement::Registration;
use crate::snapshot::AdapterSnapshot;
use crate::unix_millis;
use actix::prelude::*;
use serde::Serialize;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::oneshot;

/// `delay` told to an adapter that waits for a test case, in milliseconds.
pub const UNALLOCATED_POLL_DELAY_MS: u64 = 30_000;
/// `delay` told to an allocated adapter with no pending action, in milliseconds.
pub const ALLOCATED_POLL_DELAY_MS: u64 = 5_000;

/// Action ids are `act-1`, `act-2`, ...: distinct enough that a respond body's own `id`
/// field (an adapter's data) is not taken for one.
pub const ACTION_ID_PREFIX: &str = "act-";

/// Whether `id` has the form of an action id.
pub fn is_action_id(id: &str) -> bool {
    id.strip_prefix(ACTION_ID_PREFIX).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The adapter asks for its next action, holding the request up to `wait` for one.
#[derive(Message)]
#[rtype(result = "PollReply")]
pub struct Poll {
    pub wait: Option<Duration>,
}

/// The adapter completes its pending action; with `wait`, then polls like [`Poll`].
#[derive(Message)]
#[rtype(result = "Result<Option<PollReply>, RespondError>")]
pub struct Respond {
    /// The action id the adapter answers, if it names one.
    pub id: Option<String>,
    pub body: Value,
    pub wait: Option<Duration>,
}

/// The adapter reports that an action, or the adapter itself, broke.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReportError {
    /// `action` for a failed action, anything else for a broken adapter.
    pub kind: String,
    pub details: String,
    pub path: String,
}

/// Where the adapter's uploads go: its case and client name.
#[derive(Message)]
#[rtype(result = "Result<UploadTarget, UploadRefused>")]
pub struct Upload;

/// The allocator gives the adapter to a case.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Assign {
    pub case: Addr<CaseActor>,
    pub case_id: String,
    pub client: String,
    pub files_dir: PathBuf,
}

/// The test asks the adapter to perform an action and waits for the response.
#[derive(Message)]
#[rtype(result = "Result<Value, ActionError>")]
pub struct Perform {
    pub action: String,
    pub data: Value,
}

/// The adapter is done: every poll from now on answers `exit`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Finish {
    pub reason: String,
}

/// The allocator drops the adapter: the actor stops.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Dismiss;

/// A view of the adapter for the dashboard.
#[derive(Message)]
#[rtype(result = "AdapterSnapshot")]
pub struct Snapshot;

/// What a poll answers: `{"action": ..., "data": ..., "id"?: ...}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PollAnswer {
    pub action: String,
    pub data: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl PollAnswer {
    /// `exit` with a reason.
    pub fn exit(reason: &str) -> Self {
        PollAnswer { action: "exit".into(), data: json!({ "reason": reason }), id: None }
    }
    fn idle(delay_ms: u64, reason: &str) -> Self {
        PollAnswer { action: "idle".into(), data: json!({ "delay": delay_ms, "reason": reason }), id: None }
    }
}

/// What a poll gets: an answer now, or one held until there is something to say. The
/// caller owns the hold: when it drops the reply (its HTTP client went away), the adapter
/// sees the hold released, so an abandoned long poll is not taken for a live adapter.
#[derive(Debug)]
pub enum PollReply {
    Now(PollAnswer),
    Held { answer: oneshot::Receiver<PollAnswer>, fallback: PollAnswer },
}

impl PollReply {
    /// Waits for the answer.
    pub async fn answer(self) -> PollAnswer {
        match self {
            PollReply::Now(answer) => answer,
            PollReply::Held { answer, fallback } => answer.await.unwrap_or(fallback),
        }
    }
}

/// Why a respond was refused; nothing changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RespondError {
    #[error("adapter {0} is not allocated to a test case: there is nothing to respond to")]
    NotAllocated(String),
    #[error("adapter {0} has no pending action")]
    NothingPending(String),
    #[error("adapter {uuid} responded to action '{given}', but the pending action is '{pending}'")]
    StaleId { uuid: String, given: String, pending: String },
    #[error("adapter {uuid} has finished ({reason})")]
    Finished { uuid: String, reason: String },
}

/// Where an upload goes.
#[derive(Clone, Debug)]
pub struct UploadTarget {
    pub case: Addr<CaseActor>,
    pub case_id: String,
    pub client: String,
    pub dir: PathBuf,
}

/// Why an upload was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UploadRefused {
    #[error("adapter {0} is not allocated to a test case: there is nowhere to store its files")]
    NotAllocated(String),
}

struct Assignment {
    case: Addr<CaseActor>,
    case_id: String,
    client: String,
    files_dir: PathBuf,
}

struct Pending {
    id: String,
    action: String,
    data: Value,
    reply: oneshot::Sender<Result<Value, ActionError>>,
    deadline: Option<SpawnHandle>,
}

/// One registered adapter.
pub struct AdapterActor {
    uuid: String,
    registration: Arc<Registration>,
    allocator: Addr<Allocator>,
    timeouts: Timeouts,
    registered_at: SystemTime,
    last_seen: Instant,
    last_poll: Option<SystemTime>,
    last_response: Option<SystemTime>,
    assignment: Option<Assignment>,
    finished: Option<String>,
    pending: Option<Pending>,
    waiters: Vec<(u64, oneshot::Sender<PollAnswer>)>,
    next_waiter: u64,
    remembered_error: Option<ActionError>,
    actions_done: u64,
    next_action: u64,
    expiry_reported: bool,
    exit_delivered: bool,
}

impl AdapterActor {
    /// A fresh, unallocated adapter.
    pub fn new(uuid: String, registration: Arc<Registration>, allocator: Addr<Allocator>, timeouts: Timeouts) -> Self {
        AdapterActor {
            uuid,
            registration,
            allocator,
            timeouts,
            registered_at: SystemTime::now(),
            last_seen: Instant::now(),
            last_poll: None,
            last_response: None,
            assignment: None,
            finished: None,
            pending: None,
            waiters: Vec::new(),
            next_waiter: 0,
            remembered_error: None,
            actions_done: 0,
            next_action: 0,
            expiry_reported: false,
            exit_delivered: false,
        }
    }

    fn client_name(&self) -> String {
        match &self.assignment {
            Some(a) => format!("{} (adapter {})", a.client, self.uuid),
            None => format!("adapter {}", self.uuid),
        }
    }

    /// The answer a poll gets now, if it need not wait: `exit`, or the pending action.
    fn ready_answer(&self) -> Option<PollAnswer> {
        if let Some(reason) = &self.finished {
            return Some(PollAnswer::exit(reason));
        }
        self.pending.as_ref().map(|p| PollAnswer {
            action: p.action.clone(),
            data: p.data.clone(),
            id: Some(p.id.clone()),
        })
    }

    fn idle_answer(&self) -> PollAnswer {
        if self.assignment.is_some() {
            PollAnswer::idle(ALLOCATED_POLL_DELAY_MS, "waiting for action from test case")
        } else {
            PollAnswer::idle(UNALLOCATED_POLL_DELAY_MS, "waiting for testcase")
        }
    }

    /// The idle answer of a long poll whose wait is over: the adapter has already waited,
    /// so it is told to poll again at once (`delay` 0) rather than sleep on top of it.
    fn waited_idle_answer(&self) -> PollAnswer {
        let mut answer = self.idle_answer();
        answer.data["delay"] = 0.into();
        answer
    }

    /// Answers at once if there is something to say, else holds the request up to `wait`.
    fn answer(&mut self, wait: Option<Duration>, ctx: &mut Context<Self>) -> PollReply {
        if let Some(answer) = self.ready_answer() {
            self.note_delivered(&answer);
            return PollReply::Now(answer);
        }
        let Some(wait) = wait else {
            return PollReply::Now(self.idle_answer());
        };
        let (tx, rx) = oneshot::channel();
        let id = self.next_waiter;
        self.next_waiter += 1;
        // Drop waiters whose HTTP request has gone, so disconnecting clients leak nothing.
        self.waiters.retain(|(_, w)| !w.is_closed());
        self.waiters.push((id, tx));
        ctx.run_later(wait, move |act, _| {
            if let Some(pos) = act.waiters.iter().position(|(w, _)| *w == id) {
                let (_, waiter) = act.waiters.swap_remove(pos);
                let _ = waiter.send(act.waited_idle_answer());
            }
        });
        PollReply::Held { answer: rx, fallback: self.waited_idle_answer() }
    }

    /// Hands what a poll would now answer to every held poll.
    fn wake_waiters(&mut self) {
        let Some(answer) = self.ready_answer() else { return };
        let mut delivered = false;
        for (_, waiter) in self.waiters.drain(..) {
            delivered |= waiter.send(answer.clone()).is_ok();
        }
        if delivered {
            self.note_delivered(&answer);
        }
    }

    /// Tells the allocator the first time the adapter has been told to exit, so the run
    /// can end without waiting out its grace period.
    fn note_delivered(&mut self, answer: &PollAnswer) {
        if answer.action == "exit" && !self.exit_delivered {
            self.exit_delivered = true;
            self.allocator.do_send(allocator::ExitDelivered { uuid: self.uuid.clone() });
        }
    }

    /// Ends the adapter's part: the pending action fails with `error`, polls answer `exit`.
    fn finish(&mut self, reason: String, error_for_pending: ActionError) {
        if let Some(p) = self.pending.take() {
            let _ = p.reply.send(Err(error_for_pending));
        }
        if self.finished.is_none() {
            self.finished = Some(reason);
        }
        self.wake_waiters();
    }

    /// The adapter (or the server on its behalf) reports `error`: its case hears at once.
    fn fail(&mut self, error: ActionError) {
        self.remembered_error = Some(error.clone());
        if let Some(a) = &self.assignment {
            a.case.do_send(case::AdapterFailed { client: a.client.clone(), error: error.clone() });
        }
        self.finish(format!("adapter finished after an error: {error}"), error);
    }

    fn check_liveness(&mut self, _ctx: &mut Context<Self>) {
        if self.finished.is_some() {
            return;
        }
        if self.waiters.iter().any(|(_, w)| !w.is_closed()) {
            self.last_seen = Instant::now(); // a held long poll is an adapter that is alive
        }
        let silent = self.last_seen.elapsed();
        if self.assignment.is_none() {
            if silent > self.timeouts.idle && !self.expiry_reported {
                self.expiry_reported = true;
                self.allocator.do_send(allocator::IdleExpired { uuid: self.uuid.clone() });
            }
        } else if silent > self.timeouts.active {
            let reason = format!("adapter has neither polled nor responded for {:.1} s", silent.as_secs_f64());
            self.fail(ActionError::Timeout { client: self.client_name(), reason });
        }
    }

    fn action_deadline_passed(&mut self, id: &str, after: Duration) {
        if self.pending.as_ref().is_some_and(|p| p.id == id) {
            let action = self.pending.as_ref().map(|p| p.action.clone()).unwrap_or_default();
            let reason = format!("action '{action}' did not complete within {:.1} s", after.as_secs_f64());
            self.fail(ActionError::Timeout { client: self.client_name(), reason });
        }
    }
}

impl Actor for AdapterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(crate::MAILBOX_CAPACITY);
        ctx.run_interval(self.timeouts.liveness_check_period(), Self::check_liveness);
    }
}

impl Handler<Poll> for AdapterActor {
    type Result = MessageResult<Poll>;

    fn handle(&mut self, msg: Poll, ctx: &mut Context<Self>) -> Self::Result {
        self.last_seen = Instant::now();
        self.last_poll = Some(SystemTime::now());
        MessageResult(self.answer(msg.wait, ctx))
    }
}

impl Handler<Respond> for AdapterActor {
    type Result = Result<Option<PollReply>, RespondError>;

    fn handle(&mut self, msg: Respond, ctx: &mut Context<Self>) -> Self::Result {
        self.check_respond(msg.id.as_deref())?;
        self.last_seen = Instant::now();
        self.last_response = Some(SystemTime::now());
        if let Some(pending) = self.pending.take() {
            if let Some(handle) = pending.deadline {
                ctx.cancel_future(handle);
            }
            self.actions_done += 1;
            let _ = pending.reply.send(Ok(msg.body));
        }
        Ok(msg.wait.map(|wait| self.answer(Some(wait), ctx)))
    }
}

impl AdapterActor {
    fn check_respond(&self, id: Option<&str>) -> Result<(), RespondError> {
        if let Some(reason) = &self.finished {
            return Err(RespondError::Finished { uuid: self.uuid.clone(), reason: reason.clone() });
        }
        if self.assignment.is_none() {
            return Err(RespondError::NotAllocated(self.uuid.clone()));
        }
        let Some(pending) = &self.pending else {
            return Err(RespondError::NothingPending(self.uuid.clone()));
        };
        match id {
            Some(given) if given != pending.id => Err(RespondError::StaleId {
                uuid: self.uuid.clone(),
                given: given.to_string(),
                pending: pending.id.clone(),
            }),
            _ => Ok(()),
        }
    }
}

impl Handler<ReportError> for AdapterActor {
    type Result = ();

    fn handle(&mut self, msg: ReportError, _ctx: &mut Context<Self>) {
        self.last_seen = Instant::now();
        if self.finished.is_some() {
            log::info!("adapter {} reported an error after it finished: {}", self.uuid, msg.details);
            return;
        }
        let client = self.client_name();
        let error = if msg.kind == "action" {
            ActionError::Failed { client, details: msg.details, path: msg.path }
        } else {
            ActionError::Adapter { client, kind: msg.kind, details: msg.details, path: msg.path }
        };
        if self.assignment.is_none() {
            log::warn!("{error} while waiting for a test case; it is finished");
        }
        self.fail(error);
    }
}

impl Handler<Upload> for AdapterActor {
    type Result = Result<UploadTarget, UploadRefused>;

    fn handle(&mut self, _msg: Upload, _ctx: &mut Context<Self>) -> Self::Result {
        self.last_seen = Instant::now();
        let a = self.assignment.as_ref().ok_or_else(|| UploadRefused::NotAllocated(self.uuid.clone()))?;
        Ok(UploadTarget {
            case: a.case.clone(),
            case_id: a.case_id.clone(),
            client: a.client.clone(),
            dir: a.files_dir.clone(),
        })
    }
}

impl Handler<Assign> for AdapterActor {
    type Result = ();

    fn handle(&mut self, msg: Assign, _ctx: &mut Context<Self>) {
        // Allocation is the start of the active period: the idle silence so far does not count.
        self.last_seen = Instant::now();
        self.assignment =
            Some(Assignment { case: msg.case, case_id: msg.case_id, client: msg.client, files_dir: msg.files_dir });
    }
}

impl Handler<Perform> for AdapterActor {
    type Result = ResponseFuture<Result<Value, ActionError>>;

    fn handle(&mut self, msg: Perform, ctx: &mut Context<Self>) -> Self::Result {
        let refused = if self.finished.is_some() {
            Some(self.remembered_error.clone().unwrap_or_else(|| ActionError::Cancelled {
                client: self.client_name(),
                reason: self.finished.clone().unwrap_or_default(),
            }))
        } else {
            self.pending.as_ref().map(|p| ActionError::Busy { client: self.client_name(), pending: p.action.clone() })
        };
        if let Some(error) = refused {
            return Box::pin(futures::future::ready(Err(error)));
        }
        let (tx, rx) = oneshot::channel();
        self.next_action += 1;
        let id = format!("{ACTION_ID_PREFIX}{}", self.next_action);
        let deadline = self.timeouts.action.map(|after| {
            let id = id.clone();
            ctx.run_later(after, move |act, _| act.action_deadline_passed(&id, after))
        });
        self.pending = Some(Pending { id, action: msg.action, data: msg.data, reply: tx, deadline });
        self.wake_waiters();
        let client = self.client_name();
        Box::pin(async move {
            rx.await.unwrap_or_else(|_| Err(ActionError::Cancelled { client, reason: "the adapter is gone".into() }))
        })
    }
}

impl Handler<Finish> for AdapterActor {
    type Result = ();

    fn handle(&mut self, msg: Finish, _ctx: &mut Context<Self>) {
        let error = ActionError::Cancelled { client: self.client_name(), reason: msg.reason.clone() };
        self.finish(msg.reason, error);
    }
}

impl Handler<Dismiss> for AdapterActor {
    type Result = ();

    fn handle(&mut self, _msg: Dismiss, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<Snapshot> for AdapterActor {
    type Result = MessageResult<Snapshot>;

    fn handle(&mut self, _msg: Snapshot, _ctx: &mut Context<Self>) -> Self::Result {
        let state = match (&self.finished, &self.assignment) {
            (Some(_), _) => "finished",
            (None, Some(_)) => "allocated",
            (None, None) => "idle",
        };
        MessageResult(AdapterSnapshot {
            uuid: self.uuid.clone(),
            registration: self.registration.clone(),
            state,
            case_id: self.assignment.as_ref().map(|a| a.case_id.clone()),
            client: self.assignment.as_ref().map(|a| a.client.clone()),
            current_action: self.pending.as_ref().map(|p| p.action.clone()),
            finish_reason: self.finished.clone(),
            actions_done: self.actions_done,
            registered_at: unix_millis(self.registered_at),
            last_poll: self.last_poll.map(unix_millis),
            last_response: self.last_response.map(unix_millis),
        })
    }
}
