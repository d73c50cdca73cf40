//! Allocator: the supervisor. Knows every adapter and case of the run, gives idle
//! adapters to waiting cases, drops adapters that stopped polling, routes requests to
//! adapters, and notices when every case has ended.

mod allocate;
mod idle;
mod run;

use crate::adapter::{self, AdapterActor};
use crate::case::{self, CaseActor, CaseSpec};
use crate::config::Timeouts;
use crate::events::EventBus;
use crate::matching::maximum_matching;
use crate::provision::Provisioner;
use crate::report::{CaseReport, RunReport};
use crate::requirement::Registration;
use crate::snapshot::{AdapterSnapshot, CaseSnapshot};
use actix::prelude::*;
use futures::future::join_all;
use idle::IdleIndex;
use run::{CaseEntry, Run};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::oneshot;

/// How many of the oldest blocked cases hold adapters back from younger cases.
pub const RESERVING_CASES: usize = 16;

/// An adapter registers (or registers again, which changes nothing while it is idle).
#[derive(Message)]
#[rtype(result = "Result<(), RegisterError>")]
pub struct Register {
    pub uuid: String,
    pub registration: Registration,
}

/// A message for the adapter `uuid`, routed by the allocator.
pub struct Forward<M>(pub String, pub M);

impl<M> Message for Forward<M>
where
    M: Message + Send + 'static,
    M::Result: Send,
{
    type Result = Result<M::Result, UnknownAdapter>;
}

/// Starts a run: one case actor per spec, waiting for adapters.
#[derive(Message)]
#[rtype(result = "Result<(), RunError>")]
pub struct StartRun {
    pub id: String,
    pub cases: Vec<CaseSpec>,
}

/// Waits until the run has ended and its adapters were told to exit.
#[derive(Message)]
#[rtype(result = "RunReport")]
pub struct RunEnded;

/// Ends the run now: cases still running error with "shutdown".
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

/// An idle adapter has not polled for the idle timeout.
#[derive(Message)]
#[rtype(result = "()")]
pub struct IdleExpired {
    pub uuid: String,
}

/// An adapter reports an error. Routed through the allocator (not [`Forward`]) so an
/// idle adapter leaves the idle index before any case can be given it.
#[derive(Message)]
#[rtype(result = "Result<(), UnknownAdapter>")]
pub struct ReportError {
    pub uuid: String,
    pub report: adapter::ReportError,
}

/// A case has ended and released what it held.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CaseEnded {
    pub report: CaseReport,
}

/// A snapshot of everything, for the dashboard and the JSON status API.
#[derive(Message)]
#[rtype(result = "StatusSnapshot")]
pub struct Status;

/// Every case's snapshot, in run order, without asking the adapters (cheap at any number
/// of adapters: the reports rewritten after each case use it).
#[derive(Message)]
#[rtype(result = "(Option<String>, Vec<CaseSnapshot>)")]
pub struct Cases;

/// The waiting cases in the order they are served, and what their slots can find.
#[derive(Message)]
#[rtype(result = "Vec<QueuedCase>")]
pub struct Queue;

/// One case's snapshot, if the run has that case.
#[derive(Message)]
#[rtype(result = "Option<CaseSnapshot>")]
pub struct CaseStatus(pub String);

/// The whole picture at one moment.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StatusSnapshot {
    pub run_id: Option<String>,
    pub finished: bool,
    pub cases: Vec<CaseSnapshot>,
    pub adapters: Vec<AdapterSnapshot>,
    /// The cases waiting for adapters, in the order the allocator serves them.
    pub queue: Vec<QueuedCase>,
    /// Adapters dropped for not polling before they were given a case.
    pub dropped: u64,
}

/// A case waiting for adapters, and what each of its slots can find among idle adapters.
#[derive(Clone, Debug, serde::Serialize)]
pub struct QueuedCase {
    pub id: String,
    pub slots: Vec<SlotWait>,
}

/// One slot of a waiting case: what it accepts and how many idle adapters would do.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SlotWait {
    pub name: String,
    pub requirement: String,
    /// Idle adapters that meet the requirement (counted up to [`QUEUE_COUNT_LIMIT`]);
    /// 0 names the missing client type.
    pub idle_matching: usize,
}

/// Idle adapters counted per waiting slot at most, so a status of a huge queue stays cheap.
pub const QUEUE_COUNT_LIMIT: usize = 1000;

/// Why a registration was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    #[error("adapter {0} is already allocated to a test case; adapters are single use, register a new uuid")]
    AlreadyAllocated(String),
    #[error("adapter {0} has finished; adapters are single use, register a new uuid")]
    Finished(String),
    #[error(
        "the registration has no field 'type' naming the client type (a non-empty string, such as \"element-web\")"
    )]
    MissingType,
}

/// The uuid names no adapter (never registered, or dropped).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no record of this UUID")]
pub struct UnknownAdapter;

/// Why a run could not start.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error("a run is already in progress")]
    AlreadyRunning,
    #[error("two cases share the id {0}")]
    DuplicateCase(String),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum AdapterStatus {
    Idle,
    Allocated,
    Finished,
}

/// An adapter as the allocator tracks it.
pub(crate) struct AdapterEntry {
    addr: Addr<AdapterActor>,
    registration: Arc<Registration>,
    seq: u64,
    status: AdapterStatus,
}

/// The supervisor of one run's adapters and cases.
pub struct Allocator {
    timeouts: Timeouts,
    provisioner: Arc<dyn Provisioner>,
    output_dir: PathBuf,
    adapters: HashMap<String, AdapterEntry>,
    idle: IdleIndex,
    next_seq: u64,
    run: Option<Run>,
    run_end_waiters: Vec<oneshot::Sender<RunReport>>,
    /// Set by [`Shutdown`]: the run ends without its exit grace.
    stopping: bool,
    events: EventBus,
    dropped: u64,
}

impl Allocator {
    /// An allocator whose cases get servers from `provisioner` and store files under `output_dir`.
    pub fn new(timeouts: Timeouts, provisioner: Arc<dyn Provisioner>, output_dir: PathBuf) -> Self {
        Allocator {
            timeouts,
            provisioner,
            output_dir,
            adapters: HashMap::new(),
            idle: IdleIndex::default(),
            next_seq: 0,
            run: None,
            run_end_waiters: Vec::new(),
            stopping: false,
            events: EventBus::default(),
            dropped: 0,
        }
    }

    /// Where this allocator and its adapters and cases publish their events.
    pub fn events(&self) -> EventBus {
        self.events.clone()
    }

    fn run_is_over(&self) -> bool {
        self.run.as_ref().is_some_and(|r| r.report.is_some())
    }
}

impl Actor for Allocator {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(crate::MAILBOX_CAPACITY);
    }
}

impl Handler<Register> for Allocator {
    type Result = Result<(), RegisterError>;

    fn handle(&mut self, msg: Register, ctx: &mut Context<Self>) -> Self::Result {
        if msg.registration.get("type").and_then(Value::as_str).is_none_or(|t| t.trim().is_empty()) {
            return Err(RegisterError::MissingType);
        }
        if let Some(entry) = self.adapters.get(&msg.uuid) {
            return match entry.status {
                AdapterStatus::Idle => Ok(()),
                AdapterStatus::Allocated => Err(RegisterError::AlreadyAllocated(msg.uuid)),
                AdapterStatus::Finished => Err(RegisterError::Finished(msg.uuid)),
            };
        }
        let registration = Arc::new(msg.registration);
        let addr = AdapterActor::new(
            msg.uuid.clone(),
            registration.clone(),
            ctx.address(),
            self.timeouts.clone(),
            self.events.clone(),
        )
        .start();
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut status = AdapterStatus::Idle;
        if self.run_is_over() {
            addr.do_send(adapter::Finish { reason: "all test cases have ended".into() });
            status = AdapterStatus::Finished;
        } else {
            self.idle.insert(seq, &msg.uuid, &registration);
        }
        log::info!("adapter {} registered: {}", msg.uuid, Value::Object((*registration).clone()));
        self.adapters.insert(msg.uuid, AdapterEntry { addr, registration, seq, status });
        self.allocate();
        Ok(())
    }
}

impl<M> Handler<Forward<M>> for Allocator
where
    M: Message + Send + 'static,
    M::Result: Send,
    AdapterActor: Handler<M>,
{
    type Result = ResponseFuture<Result<M::Result, UnknownAdapter>>;

    fn handle(&mut self, Forward(uuid, msg): Forward<M>, _ctx: &mut Context<Self>) -> Self::Result {
        match self.adapters.get(&uuid) {
            None => Box::pin(futures::future::ready(Err(UnknownAdapter))),
            Some(entry) => {
                let request = entry.addr.send(msg);
                Box::pin(async move { request.await.map_err(|_| UnknownAdapter) })
            }
        }
    }
}

impl Handler<StartRun> for Allocator {
    type Result = Result<(), RunError>;

    fn handle(&mut self, msg: StartRun, ctx: &mut Context<Self>) -> Self::Result {
        if self.run.is_some() {
            return Err(RunError::AlreadyRunning);
        }
        let mut seen = HashSet::new();
        if let Some(dup) = msg.cases.iter().find(|c| !seen.insert(c.id.clone())) {
            return Err(RunError::DuplicateCase(dup.id.clone()));
        }
        let mut run = Run::new(msg.id);
        for spec in msg.cases {
            let id = spec.id.clone();
            let slots = spec.slots.clone();
            let files_dir = self.output_dir.join(&id);
            let addr = CaseActor::new(
                spec,
                ctx.address(),
                self.provisioner.clone(),
                self.timeouts.clone(),
                files_dir,
                self.events.clone(),
            )
            .start();
            if let Some(queue) = self.timeouts.queue {
                let case_id = id.clone();
                ctx.run_later(queue, move |act, _| act.queue_expired(&case_id));
            }
            run.add(id, CaseEntry { addr, slots, report: None });
        }
        log::info!("run {} starts with {} test cases", run.id, run.order.len());
        self.run = Some(run);
        self.allocate();
        self.check_run_end(ctx);
        Ok(())
    }
}

impl Handler<RunEnded> for Allocator {
    type Result = ResponseFuture<RunReport>;

    fn handle(&mut self, _msg: RunEnded, _ctx: &mut Context<Self>) -> Self::Result {
        if let Some(report) = self.run.as_ref().filter(|r| r.released).and_then(|r| r.report.clone()) {
            return Box::pin(futures::future::ready(report));
        }
        let (tx, rx) = oneshot::channel();
        self.run_end_waiters.push(tx);
        Box::pin(async move { rx.await.unwrap_or_default() })
    }
}

impl Handler<Shutdown> for Allocator {
    type Result = ();

    fn handle(&mut self, _msg: Shutdown, ctx: &mut Context<Self>) {
        self.stopping = true;
        if self.run_is_over() {
            self.release_report(ctx); // cut the exit grace short
            return;
        }
        match self.run.as_mut() {
            None => {
                self.run = Some(Run::new("none".into()));
                self.check_run_end(ctx);
            }
            Some(run) => {
                run.waiting.clear();
                for entry in run.cases.values().filter(|c| c.report.is_none()) {
                    entry.addr.do_send(case::Shutdown);
                }
            }
        }
    }
}

impl Handler<IdleExpired> for Allocator {
    type Result = ();

    fn handle(&mut self, msg: IdleExpired, _ctx: &mut Context<Self>) {
        let Some(entry) = self.adapters.get(&msg.uuid) else { return };
        if entry.status == AdapterStatus::Idle {
            log::info!("adapter {} has not polled for {:?}: dropped", msg.uuid, self.timeouts.idle);
            self.idle.remove(entry.seq, &entry.registration);
            entry.addr.do_send(adapter::Dismiss);
            self.adapters.remove(&msg.uuid);
            self.dropped += 1;
        }
    }
}

impl Handler<ReportError> for Allocator {
    type Result = Result<(), UnknownAdapter>;

    fn handle(&mut self, msg: ReportError, _ctx: &mut Context<Self>) -> Self::Result {
        let entry = self.adapters.get_mut(&msg.uuid).ok_or(UnknownAdapter)?;
        if entry.status == AdapterStatus::Idle {
            self.idle.remove(entry.seq, &entry.registration);
            entry.status = AdapterStatus::Finished;
        }
        entry.addr.do_send(msg.report);
        Ok(())
    }
}

impl Handler<CaseEnded> for Allocator {
    type Result = ();

    fn handle(&mut self, msg: CaseEnded, ctx: &mut Context<Self>) {
        let Some(run) = self.run.as_mut() else { return };
        let id = msg.report.id.clone();
        run.stop_waiting(&id);
        for slot in msg.report.slots.iter() {
            if let Some(entry) = slot.uuid.as_ref().and_then(|u| self.adapters.get_mut(u)) {
                entry.status = AdapterStatus::Finished;
            }
        }
        if let Some(entry) = run.cases.get_mut(&id) {
            entry.report = Some(msg.report);
        }
        self.allocate();
        self.check_run_end(ctx);
    }
}

impl Handler<Status> for Allocator {
    type Result = ResponseFuture<StatusSnapshot>;

    fn handle(&mut self, _msg: Status, _ctx: &mut Context<Self>) -> Self::Result {
        let run_id = self.run.as_ref().map(|r| r.id.clone());
        let finished = self.run_is_over();
        let cases: Vec<_> = match &self.run {
            Some(run) => run.order.iter().map(|id| run.cases[id].addr.send(case::Snapshot)).collect(),
            None => Vec::new(),
        };
        let mut adapters: Vec<_> = self.adapters.values().map(|e| (e.seq, e.addr.send(adapter::Snapshot))).collect();
        adapters.sort_by_key(|(seq, _)| *seq);
        let adapters: Vec<_> = adapters.into_iter().map(|(_, a)| a).collect();
        let queue = self.queue();
        let dropped = self.dropped;
        Box::pin(async move {
            let cases = join_all(cases).await.into_iter().flatten().collect();
            let adapters = join_all(adapters).await.into_iter().flatten().collect();
            StatusSnapshot { run_id, finished, cases, adapters, queue, dropped }
        })
    }
}

impl Handler<Queue> for Allocator {
    type Result = MessageResult<Queue>;

    fn handle(&mut self, _msg: Queue, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.queue())
    }
}

impl Handler<Cases> for Allocator {
    type Result = ResponseFuture<(Option<String>, Vec<CaseSnapshot>)>;

    fn handle(&mut self, _msg: Cases, _ctx: &mut Context<Self>) -> Self::Result {
        let run_id = self.run.as_ref().map(|r| r.id.clone());
        let cases: Vec<_> = match &self.run {
            Some(run) => run.order.iter().map(|id| run.cases[id].addr.send(case::Snapshot)).collect(),
            None => Vec::new(),
        };
        Box::pin(async move { (run_id, join_all(cases).await.into_iter().flatten().collect()) })
    }
}

impl Handler<CaseStatus> for Allocator {
    type Result = ResponseFuture<Option<CaseSnapshot>>;

    fn handle(&mut self, msg: CaseStatus, _ctx: &mut Context<Self>) -> Self::Result {
        let request = self.run.as_ref().and_then(|r| r.cases.get(&msg.0)).map(|c| c.addr.send(case::Snapshot));
        Box::pin(async move {
            match request {
                Some(r) => r.await.ok(),
                None => None,
            }
        })
    }
}
