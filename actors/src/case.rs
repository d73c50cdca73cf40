//! CaseActor: one per test case. Owns the case's state machine, provisions its
//! homeservers, runs its body, enforces its deadline, collects errors, logs and files,
//! destroys what it provisioned and tells its adapters to finish.

use crate::adapter::{self, AdapterActor};
use crate::allocator::{self, Allocator};
use crate::body::{ActionError, CancelToken, CaseContext, ClientHandle, Outcome, TestBody};
use crate::config::Timeouts;
use crate::events::{Event, EventBus};
use crate::journal::Journal;
use crate::provision::{self, AbortTrigger, Homeserver, ProvisionFor, Provisioner, ServerRequest, Teardown};
use crate::requirement::{ClientRequirement, Registration};
use crate::snapshot::{CaseSnapshot, CaseState, SlotSnapshot, StateChange};
use crate::unix_millis;
use actix::prelude::*;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How long releasing a case's homeservers may take before the case stops waiting for it
/// (the teardown goes on in the background; the case's result is reported without it).
pub const DESTROY_TIMEOUT: Duration = Duration::from_secs(60);
pub use crate::journal::{MAX_ACTIONS, MAX_LOG_LINE, MAX_LOG_LINES};

/// The allocator has found adapters for every slot: prepare and run.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Start {
    pub clients: Vec<AssignedClient>,
}

/// One of the case's adapters failed (error report or timeout): the case ends at once.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AdapterFailed {
    pub client: String,
    pub error: ActionError,
}

/// Files an adapter of the case uploaded (names as stored).
#[derive(Message)]
#[rtype(result = "()")]
pub struct AddFiles(pub Vec<String>);

/// The case waited too long for adapters: it ends as skipped.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Skip {
    pub reason: String,
}

/// The run is being stopped: the case ends now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

/// The body knows its outcome before it has returned (a `parallel` branch failed while
/// others still wait on their adapters): the case ends now with it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Conclude(pub Outcome);

/// A view of the case for the dashboard.
#[derive(Message)]
#[rtype(result = "CaseSnapshot")]
pub struct Snapshot;

/// The case has ended and the allocator holds its record: the actor stops.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Retire;

/// What a case is: its id, its test, its slots, its servers and its body.
#[derive(Clone)]
pub struct CaseSpec {
    /// Stable id (the same test and matrix point give the same id across restarts).
    pub id: String,
    /// The test's name.
    pub test: String,
    /// The client slots, each with the one requirement this matrix point gives it.
    pub slots: Vec<Slot>,
    /// The homeservers the case needs, if any.
    pub servers: Option<ServerRequest>,
    /// How long the case may take; `None` uses the configured default.
    pub timeout: Option<Duration>,
    /// What the case runs.
    pub body: Arc<dyn TestBody>,
}

/// A named client slot.
#[derive(Clone, Debug)]
pub struct Slot {
    pub name: String,
    pub requirement: ClientRequirement,
}

/// An adapter given to a slot.
#[derive(Clone)]
pub struct AssignedClient {
    pub name: String,
    pub uuid: String,
    pub registration: Arc<Registration>,
    pub adapter: Addr<AdapterActor>,
    /// Where the adapter's record is once it has retired.
    pub registry: crate::registry::Registry,
}

/// One test case.
pub struct CaseActor {
    spec: CaseSpec,
    state: CaseState,
    allocator: Addr<Allocator>,
    provisioner: Arc<dyn Provisioner>,
    timeouts: Timeouts,
    files_dir: PathBuf,
    clients: Vec<AssignedClient>,
    servers: Vec<Homeserver>,
    /// Releases the servers; taken when the case ends.
    teardown: Option<Teardown>,
    /// Servers are being made: the case's end waits for them, to release them.
    provisioning: bool,
    /// Tells the provisioner to stop early when the case ends first.
    abort: AbortTrigger,
    errors: Vec<String>,
    /// Its log and action log, written by its body and its adapters where they run.
    journal: Journal,
    files: BTreeSet<String>,
    created_at: SystemTime,
    started_at: Option<SystemTime>,
    ended_at: Option<SystemTime>,
    cancel: CancelToken,
    history: Vec<StateChange>,
    events: EventBus,
    /// Whether its body is still running (it may outlive the case's end a moment).
    body_running: bool,
    /// Retired while its body still ran: the actor stops when the body returns.
    retiring: bool,
    /// Where its waiting and provisioning times are recorded.
    metrics: Arc<crate::metrics::RunMetrics>,
}

impl CaseActor {
    /// A waiting case.
    pub fn new(
        spec: CaseSpec,
        allocator: Addr<Allocator>,
        provisioner: Arc<dyn Provisioner>,
        timeouts: Timeouts,
        files_dir: PathBuf,
        events: EventBus,
    ) -> Self {
        let created_at = SystemTime::now();
        let journal = Journal::new(spec.id.clone(), events.clone());
        CaseActor {
            spec,
            state: CaseState::Waiting,
            allocator,
            provisioner,
            timeouts,
            files_dir,
            clients: Vec::new(),
            servers: Vec::new(),
            teardown: None,
            provisioning: false,
            abort: provision::abort_signal().0,
            errors: Vec::new(),
            journal,
            files: BTreeSet::new(),
            created_at,
            started_at: None,
            ended_at: None,
            cancel: CancelToken::default(),
            body_running: false,
            retiring: false,
            history: vec![StateChange { state: CaseState::Waiting, at: unix_millis(created_at) }],
            events,
            metrics: Default::default(),
        }
    }

    /// Records its waiting and provisioning times in `metrics` (the run's) rather than its own.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::RunMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Moves to `state`, remembering when, and tells whoever listens.
    fn set_state(&mut self, state: CaseState) {
        let from = std::mem::replace(&mut self.state, state);
        let at = unix_millis(SystemTime::now());
        let since = self.history.last().map_or(at, |c| c.at);
        let took = std::time::Duration::from_millis(at.saturating_sub(since));
        match from {
            CaseState::Waiting => self.metrics.case_wait.record(took),
            CaseState::Preparing => self.metrics.provisioning.record(took),
            _ => {}
        }
        self.history.push(StateChange { state, at });
        self.events.publish(Event::Case {
            id: self.spec.id.clone(),
            test: self.spec.test.clone(),
            from,
            to: state,
            at,
        });
    }

    fn provisioned(&mut self, result: Result<provision::Provisioned, String>, ctx: &mut Context<Self>) {
        self.provisioning = false;
        match result {
            Ok(made) => {
                self.teardown = Some(made.teardown);
                if self.state.is_final() {
                    // The case ended while its servers were being made: release them now.
                    self.release(ctx);
                } else {
                    self.servers = made.servers;
                    self.run_body(ctx);
                }
            }
            Err(_) if self.state.is_final() => self.release(ctx),
            Err(e) => self.end(Outcome::Error(format!("provisioning homeservers failed: {e}")), ctx),
        }
    }

    fn run_body(&mut self, ctx: &mut Context<Self>) {
        self.set_state(CaseState::Running);
        let context = CaseContext {
            case_id: self.spec.id.clone(),
            test: self.spec.test.clone(),
            clients: self
                .clients
                .iter()
                .map(|c| ClientHandle {
                    name: c.name.clone(),
                    uuid: c.uuid.clone(),
                    registration: c.registration.clone(),
                    adapter: c.adapter.clone(),
                    registry: c.registry.clone(),
                    journal: self.journal.clone(),
                })
                .collect(),
            servers: self.servers.clone(),
            files_dir: self.files_dir.clone(),
            cancel: self.cancel.clone(),
            case: ctx.address(),
            journal: self.journal.clone(),
        };
        let body = self.spec.body.run(context);
        self.body_running = true;
        ctx.spawn(body.into_actor(self).map(|outcome, act, ctx| {
            act.body_running = false;
            act.end(outcome, ctx);
            if act.retiring {
                ctx.stop();
            }
        }));
    }

    /// Ends the case with `outcome` (the first ending wins), releases adapters and servers,
    /// and tells the allocator once the servers are gone.
    fn end(&mut self, outcome: Outcome, ctx: &mut Context<Self>) {
        if self.state.is_final() {
            return;
        }
        let (state, message) = match outcome {
            Outcome::Success => (CaseState::Success, None),
            Outcome::Failed(m) => (CaseState::Failed, Some(m)),
            Outcome::Error(m) => (CaseState::Error, Some(m)),
            Outcome::Skipped(m) => (CaseState::Skipped, Some(m)),
        };
        self.errors.extend(message);
        self.ended_at = Some(SystemTime::now());
        self.cancel.cancel();
        self.set_state(state);
        let reason = format!("test case {} has ended ({state})", self.spec.id);
        // Each adapter writes the action it cancelled, if one was pending, into the journal
        // before it answers: once all have answered, the record is complete and the case
        // may report its end.
        let finished: Vec<_> =
            self.clients.iter().map(|c| c.adapter.send(adapter::Finish { reason: reason.clone() })).collect();
        self.abort.abort();
        let provisioning = self.provisioning;
        ctx.wait(futures::future::join_all(finished).into_actor(self).map(move |_, act, ctx| {
            if !provisioning {
                act.release(ctx);
            }
        }));
    }

    /// Runs the teardown (if servers were made) and then tells the allocator the case ended.
    fn release(&mut self, ctx: &mut Context<Self>) {
        let teardown = self.teardown.take();
        let case_id = self.spec.id.clone();
        let released = async move {
            if let Some(teardown) = teardown {
                let background = actix::spawn(teardown);
                if tokio::time::timeout(DESTROY_TIMEOUT, background).await.is_err() {
                    log::error!("releasing the homeservers of case {case_id} took over {DESTROY_TIMEOUT:?}; reporting the case without waiting");
                }
            }
        };
        ctx.spawn(released.into_actor(self).map(|_, act, _| {
            let report = act.snapshot();
            act.events.publish(Event::CaseEnded { case: Arc::new(report.clone()) });
            act.allocator.do_send(allocator::CaseEnded { report });
        }));
    }

    fn snapshot(&self) -> CaseSnapshot {
        CaseSnapshot {
            id: self.spec.id.clone(),
            test: self.spec.test.clone(),
            state: self.state,
            slots: self
                .spec
                .slots
                .iter()
                .map(|s| SlotSnapshot {
                    name: s.name.clone(),
                    requirement: s.requirement.to_string(),
                    uuid: self.clients.iter().find(|c| c.name == s.name).map(|c| c.uuid.clone()),
                })
                .collect(),
            servers: self.servers.clone(),
            errors: self.errors.clone(),
            log: self.journal.log_lines(),
            files: self.files.iter().cloned().collect(),
            history: self.history.clone(),
            actions: self.journal.actions(),
            created_at: unix_millis(self.created_at),
            started_at: self.started_at.map(unix_millis),
            ended_at: self.ended_at.map(unix_millis),
        }
    }
}

impl Actor for CaseActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(crate::MAILBOX_CAPACITY);
        crate::metrics::LIVE_CASE_ACTORS.up();
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        crate::metrics::LIVE_CASE_ACTORS.down();
    }
}

impl Handler<Start> for CaseActor {
    type Result = ();

    fn handle(&mut self, msg: Start, ctx: &mut Context<Self>) {
        if self.state != CaseState::Waiting {
            return;
        }
        self.clients = msg.clients;
        self.started_at = Some(SystemTime::now());
        self.set_state(CaseState::Preparing);
        let timeout = self.spec.timeout.unwrap_or(self.timeouts.case);
        ctx.run_later(timeout, move |act, ctx| {
            act.end(Outcome::Error(format!("timed out: the case took longer than {} s", timeout.as_secs_f64())), ctx);
        });
        let Some(request) = self.spec.servers.clone().filter(|r| !r.names.is_empty()) else {
            self.run_body(ctx);
            return;
        };
        let (trigger, signal) = provision::abort_signal();
        self.abort = trigger;
        self.provisioning = true;
        let case = ProvisionFor { case_id: self.spec.id.clone() };
        let provision = self.provisioner.provision(&case, &request, signal);
        ctx.spawn(provision.into_actor(self).map(|result, act, ctx| act.provisioned(result, ctx)));
    }
}

impl Handler<AdapterFailed> for CaseActor {
    type Result = ();

    fn handle(&mut self, msg: AdapterFailed, ctx: &mut Context<Self>) {
        log::info!("case {}: client {} failed: {}", self.spec.id, msg.client, msg.error);
        self.end(msg.error.outcome(), ctx);
    }
}

impl Handler<AddFiles> for CaseActor {
    type Result = ();

    fn handle(&mut self, msg: AddFiles, _ctx: &mut Context<Self>) {
        self.files.extend(msg.0);
    }
}

impl Handler<Skip> for CaseActor {
    type Result = ();

    fn handle(&mut self, msg: Skip, ctx: &mut Context<Self>) {
        if self.state == CaseState::Waiting {
            self.end(Outcome::Skipped(msg.reason), ctx);
        }
    }
}

impl Handler<Shutdown> for CaseActor {
    type Result = ();

    fn handle(&mut self, _msg: Shutdown, ctx: &mut Context<Self>) {
        let outcome = if self.state == CaseState::Waiting {
            Outcome::Skipped("shutdown before adapters were found".into())
        } else {
            Outcome::Error("shutdown".into())
        };
        self.end(outcome, ctx);
    }
}

impl Handler<Conclude> for CaseActor {
    type Result = ();

    fn handle(&mut self, msg: Conclude, ctx: &mut Context<Self>) {
        if self.state == CaseState::Running {
            self.end(msg.0, ctx);
        }
    }
}

impl Handler<Snapshot> for CaseActor {
    type Result = MessageResult<Snapshot>;

    fn handle(&mut self, _msg: Snapshot, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.snapshot())
    }
}

impl Handler<Retire> for CaseActor {
    type Result = ();

    fn handle(&mut self, _msg: Retire, ctx: &mut Context<Self>) {
        if !self.state.is_final() {
            return;
        }
        // A body still running was cancelled with the case; it sees that through on its
        // own (its next action gets the case's end), then the actor stops.
        if self.body_running {
            self.retiring = true;
        } else {
            ctx.stop();
        }
    }
}
