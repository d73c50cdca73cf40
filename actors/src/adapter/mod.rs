//! AdapterActor: one per registered adapter. Owns its registration, its pending action
//! and whoever waits for it, held long polls, liveness and a remembered error.

mod answer;
mod state;
mod storm;

pub use answer::*;

use crate::allocator::{self, Allocator};
use crate::body::ActionError;
use crate::case::{self, CaseActor};
use crate::config::Timeouts;
use crate::events::{Event, EventBus};
use crate::journal::Journal;
use crate::metrics::{AdapterCell, RunMetrics};
use crate::requirement::Registration;
use crate::snapshot::{ActionRecord, AdapterSnapshot};
use crate::unix_millis;
use actix::prelude::*;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;

/// Before its first poll, an unallocated adapter may stay silent this many idle timeouts.
const FIRST_POLL_GRACE_FACTOR: u32 = 2;
/// The shortest wait between two liveness checks of one adapter.
const MIN_LIVENESS_CHECK: Duration = Duration::from_millis(10);

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
    /// When the request arrived (for the coordinator's latency metrics).
    pub received_at: Instant,
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

/// The allocator gives the adapter to a case. The adapter confirms (`true`) if it is still
/// idle, or refuses: between the allocator's choice and this message it may have reported
/// an error or been dropped for silence, and its lifecycle is its own to know.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Assign {
    pub case: Addr<CaseActor>,
    pub case_id: String,
    pub client: String,
    pub files_dir: PathBuf,
}

/// The test asks the adapter to perform an action and waits for the response.
#[derive(Message)]
#[rtype(result = "Performed")]
pub struct Perform {
    pub action: String,
    pub data: Value,
    /// When the test asked (for the coordinator's latency metrics).
    pub asked_at: Instant,
    /// Where the adapter records how the action ended: its case's action log.
    pub journal: Journal,
}

/// How a [`Perform`] ended, and when the adapter's respond arrived if it answered.
#[derive(Debug)]
pub struct Performed {
    pub result: Result<Value, ActionError>,
    pub responded_at: Option<Instant>,
}

impl Performed {
    fn failed(error: ActionError) -> Self {
        Performed { result: Err(error), responded_at: None }
    }
}

/// The adapter is done: every poll from now on answers `exit`. The action it cancelled, if
/// one was pending, is in its case's journal by the time it answers.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Finish {
    pub reason: String,
}

/// Another adapter of the same case refused its assignment: the case did not start, and
/// this adapter is idle again.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unassign;

/// The adapter is finished and its case (or the run) has ended: it hands over the record
/// that replaces it in the registry. The allocator then sends [`Stop`].
#[derive(Message)]
#[rtype(result = "crate::registry::Retired")]
pub struct Retire;

/// The actor stops (its record is in the registry).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop;

/// The adapter registers again under the same uuid: fine while it is idle.
#[derive(Message)]
#[rtype(result = "Result<(), allocator::RegisterError>")]
pub struct Reregister;

/// A view of the adapter for the dashboard.
#[derive(Message)]
#[rtype(result = "AdapterSnapshot")]
pub struct Snapshot;

struct Assignment {
    case: Addr<CaseActor>,
    case_id: String,
    client: String,
    files_dir: PathBuf,
}

/// A held long poll: where its answer goes, and the timer that ends its wait.
struct Waiter {
    id: u64,
    since: Instant,
    reply: oneshot::Sender<PollAnswer>,
    timer: SpawnHandle,
}

struct Pending {
    id: String,
    action: String,
    data: Value,
    reply: oneshot::Sender<Performed>,
    asked_at: Instant,
    deadline: Option<SpawnHandle>,
    /// Whether a poll answer has carried it to the adapter yet.
    delivered: bool,
    sent_at: SystemTime,
    /// The case's action log, which hears how it ended.
    journal: Journal,
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
    waiters: Vec<Waiter>,
    next_waiter: u64,
    remembered_error: Option<ActionError>,
    actions_done: u64,
    next_action: u64,
    expiry_reported: bool,
    liveness_timer: Option<SpawnHandle>,
    liveness_generation: u64,
    storm: storm::StormDetector,
    events: EventBus,
    /// The state last published, so that only changes are.
    published_state: &'static str,
    /// Its state as the allocator reads it (for lists and counts without a message).
    cell: Arc<AdapterCell>,
    metrics: Arc<RunMetrics>,
}

impl Actor for AdapterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(crate::MAILBOX_CAPACITY);
        crate::metrics::LIVE_ADAPTER_ACTORS.up();
        self.publish_state();
        self.watch_liveness(ctx);
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        crate::metrics::LIVE_ADAPTER_ACTORS.down();
        if self.finished.is_none() {
            self.publish_change(DROPPED);
        }
    }
}

impl Handler<Poll> for AdapterActor {
    type Result = MessageResult<Poll>;

    fn handle(&mut self, msg: Poll, ctx: &mut Context<Self>) -> Self::Result {
        self.last_seen = Instant::now();
        let first_poll = self.last_poll.replace(SystemTime::now()).is_none();
        if first_poll {
            self.rewatch_liveness(ctx); // the idle limit shrinks from its first-poll grace
        }
        MessageResult(self.answer(msg.wait, ctx))
    }
}

impl Handler<Respond> for AdapterActor {
    type Result = Result<Option<PollReply>, RespondError>;

    fn handle(&mut self, msg: Respond, ctx: &mut Context<Self>) -> Self::Result {
        if self.finished.is_some() {
            // A late answer from an adapter whose case has ended changes nothing; refusing it
            // would crash real adapters (a non-200 is fatal to them) instead of letting them
            // poll and learn they must exit.
            self.last_seen = Instant::now();
            return Ok(msg.wait.map(|wait| self.answer(Some(wait), ctx)));
        }
        self.check_respond(msg.id.as_deref())?;
        self.last_seen = Instant::now();
        self.last_response = Some(SystemTime::now());
        if let Some(pending) = self.pending.take() {
            if let Some(handle) = pending.deadline {
                ctx.cancel_future(handle);
            }
            self.actions_done += 1;
            self.metrics.action_ended(pending.sent_at.elapsed().unwrap_or_default(), false);
            self.record_action(&pending, Ok(&msg.body));
            let _ = pending.reply.send(Performed { result: Ok(msg.body), responded_at: Some(msg.received_at) });
            self.publish_state();
        }
        Ok(msg.wait.map(|wait| self.answer(Some(wait), ctx)))
    }
}

impl Handler<ReportError> for AdapterActor {
    type Result = ();

    fn handle(&mut self, msg: ReportError, ctx: &mut Context<Self>) {
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
            self.allocator.do_send(allocator::AdapterLeft { uuid: self.uuid.clone(), dropped: None });
        }
        self.fail(error, ctx);
    }
}

impl Handler<Upload> for AdapterActor {
    type Result = Result<UploadTarget, UploadRefused>;

    fn handle(&mut self, _msg: Upload, _ctx: &mut Context<Self>) -> Self::Result {
        self.last_seen = Instant::now();
        self.upload_target().ok_or_else(|| UploadRefused::NotAllocated(self.uuid.clone()))
    }
}

impl Handler<Assign> for AdapterActor {
    type Result = bool;

    fn handle(&mut self, msg: Assign, ctx: &mut Context<Self>) -> bool {
        if self.finished.is_some() || self.assignment.is_some() {
            return false;
        }
        // Allocation is the start of the active period: the idle silence so far does not count.
        self.last_seen = Instant::now();
        self.assignment =
            Some(Assignment { case: msg.case, case_id: msg.case_id, client: msg.client, files_dir: msg.files_dir });
        self.publish_state();
        // From now on the active timeout applies (also to an adapter the allocator gave a
        // case before it heard of its idle expiry).
        self.rewatch_liveness(ctx);
        true
    }
}

impl Handler<Unassign> for AdapterActor {
    type Result = ();

    fn handle(&mut self, _msg: Unassign, ctx: &mut Context<Self>) {
        if self.finished.is_none() && self.pending.is_none() {
            self.assignment = None;
            self.publish_state();
            self.rewatch_liveness(ctx);
        }
    }
}

impl Handler<Reregister> for AdapterActor {
    type Result = Result<(), allocator::RegisterError>;

    fn handle(&mut self, _msg: Reregister, _ctx: &mut Context<Self>) -> Self::Result {
        match (&self.finished, &self.assignment) {
            (Some(_), _) => Err(allocator::RegisterError::Finished(self.uuid.clone())),
            (None, Some(_)) => Err(allocator::RegisterError::AlreadyAllocated(self.uuid.clone())),
            (None, None) => Ok(()),
        }
    }
}

impl Handler<Perform> for AdapterActor {
    type Result = ResponseFuture<Performed>;

    fn handle(&mut self, msg: Perform, ctx: &mut Context<Self>) -> Self::Result {
        let refused = if self.finished.is_some() {
            Some(self.refusal())
        } else {
            self.pending.as_ref().map(|p| ActionError::Busy { client: self.client_name(), pending: p.action.clone() })
        };
        if let Some(error) = refused {
            return Box::pin(futures::future::ready(Performed::failed(error)));
        }
        let (tx, rx) = oneshot::channel();
        self.next_action += 1;
        let id = format!("{ACTION_ID_PREFIX}{}", self.next_action);
        let deadline = self.timeouts.action.map(|after| {
            let id = id.clone();
            ctx.run_later(after, move |act, ctx| act.action_deadline_passed(&id, after, ctx))
        });
        self.pending = Some(Pending {
            id,
            action: msg.action,
            data: msg.data,
            reply: tx,
            asked_at: msg.asked_at,
            deadline,
            delivered: false,
            sent_at: SystemTime::now(),
            journal: msg.journal,
        });
        self.publish_state();
        self.wake_waiters(ctx);
        let client = self.client_name();
        Box::pin(async move {
            rx.await.unwrap_or_else(|_| {
                Performed::failed(ActionError::Cancelled { client, reason: "the adapter is gone".into() })
            })
        })
    }
}

impl Handler<Finish> for AdapterActor {
    type Result = ();

    fn handle(&mut self, msg: Finish, ctx: &mut Context<Self>) {
        let error = ActionError::Cancelled { client: self.client_name(), reason: msg.reason.clone() };
        self.finish(msg.reason, error, ctx);
    }
}

impl Handler<Snapshot> for AdapterActor {
    type Result = MessageResult<Snapshot>;

    fn handle(&mut self, _msg: Snapshot, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.snapshot())
    }
}

impl Handler<Retire> for AdapterActor {
    type Result = MessageResult<Retire>;

    fn handle(&mut self, _msg: Retire, ctx: &mut Context<Self>) -> Self::Result {
        if self.finished.is_none() {
            let reason = "all test cases have ended".to_string();
            let error = ActionError::Cancelled { client: self.client_name(), reason: reason.clone() };
            self.finish(reason, error, ctx);
        }
        MessageResult(crate::registry::Retired {
            refusal: self.refusal(),
            reason: self.finished.clone().unwrap_or_default(),
            upload: self.upload_target(),
            snapshot: self.snapshot(),
        })
    }
}

impl Handler<Stop> for AdapterActor {
    type Result = ();

    fn handle(&mut self, _msg: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl AdapterActor {
    /// What an action asked of the finished adapter gets.
    fn refusal(&self) -> ActionError {
        self.remembered_error.clone().unwrap_or_else(|| ActionError::Cancelled {
            client: self.client_name(),
            reason: self.finished.clone().unwrap_or_default(),
        })
    }

    fn upload_target(&self) -> Option<UploadTarget> {
        self.assignment.as_ref().map(|a| UploadTarget {
            case_id: a.case_id.clone(),
            client: a.client.clone(),
            dir: a.files_dir.clone(),
        })
    }

    pub(crate) fn snapshot(&self) -> AdapterSnapshot {
        let now = Instant::now();
        let last_heard = SystemTime::now().checked_sub(now - self.last_seen).unwrap_or(UNIX_EPOCH);
        AdapterSnapshot {
            uuid: self.uuid.clone(),
            registration: self.registration.clone(),
            state: self.state_name(),
            case_id: self.assignment.as_ref().map(|a| a.case_id.clone()),
            client: self.assignment.as_ref().map(|a| a.client.clone()),
            current_action: self.pending.as_ref().map(|p| p.action.clone()),
            action_since: self.pending.as_ref().map(|p| unix_millis(p.sent_at)),
            finish_reason: self.finished.clone(),
            actions_done: self.actions_done,
            registered_at: unix_millis(self.registered_at),
            last_poll: self.last_poll.map(unix_millis),
            last_response: self.last_response.map(unix_millis),
            last_heard: unix_millis(last_heard),
            held_for: self
                .waiters
                .iter()
                .filter(|w| !w.reply.is_closed())
                .map(|w| (now - w.since).as_millis() as u64)
                .max(),
        }
    }
}
