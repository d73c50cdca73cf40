//! Allocator: the supervisor. Knows every adapter and case of the run, gives idle
//! adapters to waiting cases, drops adapters that stopped polling, routes requests to
//! adapters, and notices when every case has ended.

use crate::adapter::{self, AdapterActor};
use crate::case::{self, CaseActor, CaseSpec, Slot};
use crate::config::Timeouts;
use crate::matching::maximum_matching;
use crate::provision::Provisioner;
use crate::report::{CaseReport, RunReport};
use crate::requirement::{ClientRequirement, Registration};
use crate::snapshot::{AdapterSnapshot, CaseSnapshot, CaseState};
use actix::prelude::*;
use futures::future::join_all;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
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

/// An unallocated adapter reported an error and is finished.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AdapterLost {
    pub uuid: String,
}

/// An adapter has been answered `exit` for the first time.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ExitDelivered {
    pub uuid: String,
}

/// A case moved to a new (non-final) state.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CaseChanged {
    pub id: String,
    pub state: CaseState,
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

/// One case's snapshot, if the run has that case.
#[derive(Message)]
#[rtype(result = "Option<CaseSnapshot>")]
pub struct CaseStatus(pub String);

/// The address of case `id`, for messages to it (its files, its log).
#[derive(Message)]
#[rtype(result = "Option<Addr<CaseActor>>")]
pub struct FindCase(pub String);

/// The whole picture at one moment.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StatusSnapshot {
    pub run_id: Option<String>,
    pub finished: bool,
    pub cases: Vec<CaseSnapshot>,
    pub adapters: Vec<AdapterSnapshot>,
}

/// Why a registration was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    #[error("adapter {0} is already allocated to a test case; adapters are single use, register a new uuid")]
    AlreadyAllocated(String),
    #[error("adapter {0} has finished; adapters are single use, register a new uuid")]
    Finished(String),
    #[error("the registration has no string field 'type'")]
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

struct AdapterEntry {
    addr: Addr<AdapterActor>,
    registration: Arc<Registration>,
    seq: u64,
    status: AdapterStatus,
    exit_delivered: bool,
}

struct CaseEntry {
    addr: Addr<CaseActor>,
    slots: Vec<Slot>,
    state: CaseState,
    report: Option<CaseReport>,
}

struct Run {
    id: String,
    order: Vec<String>,
    cases: HashMap<String, CaseEntry>,
    /// Case ids still waiting for adapters, oldest first.
    waiting: Vec<String>,
    report: Option<RunReport>,
    released: bool,
}

/// Idle adapters by registration order, indexed by `type` so that matching one slot
/// looks only at adapters of the types it accepts.
#[derive(Default)]
struct IdleIndex {
    by_type: HashMap<String, BTreeMap<u64, String>>,
    all: BTreeMap<u64, String>,
}

impl IdleIndex {
    fn insert(&mut self, seq: u64, uuid: &str, registration: &Registration) {
        if let Some(t) = registration.get("type").and_then(Value::as_str) {
            self.by_type.entry(t.to_string()).or_default().insert(seq, uuid.to_string());
        }
        self.all.insert(seq, uuid.to_string());
    }

    fn remove(&mut self, seq: u64, registration: &Registration) {
        if let Some(t) = registration.get("type").and_then(Value::as_str) {
            if let Some(of_type) = self.by_type.get_mut(t) {
                of_type.remove(&seq);
                if of_type.is_empty() {
                    self.by_type.remove(t);
                }
            }
        }
        self.all.remove(&seq);
    }

    fn len(&self) -> usize {
        self.all.len()
    }

    /// False when no idle adapter can meet `requirement` (no adapter of its type at all).
    fn may_have(&self, requirement: &ClientRequirement) -> bool {
        match requirement.type_key() {
            Some(t) => self.by_type.contains_key(t),
            None => !self.all.is_empty(),
        }
    }

    /// Up to `limit` idle adapters, oldest first, that meet `requirement` and are not
    /// `taken`. A case with k slots never needs more than k candidates per slot: a slot
    /// with k of them always finds one free, whatever the other k-1 slots took.
    fn candidates(
        &self,
        requirement: &ClientRequirement,
        limit: usize,
        taken: &HashSet<String>,
        adapters: &HashMap<String, AdapterEntry>,
    ) -> Vec<String> {
        let pool = match requirement.type_key() {
            Some(t) => match self.by_type.get(t) {
                Some(of_type) => of_type,
                None => return Vec::new(),
            },
            None => &self.all,
        };
        pool.values()
            .filter(|uuid| !taken.contains(*uuid))
            .filter(|uuid| adapters.get(*uuid).is_some_and(|e| requirement.matches(&e.registration)))
            .take(limit)
            .cloned()
            .collect()
    }
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
        }
    }

    fn run_is_over(&self) -> bool {
        self.run.as_ref().is_some_and(|r| r.report.is_some())
    }

    /// Gives idle adapters to waiting cases, oldest case first. The oldest cases that cannot
    /// start yet (up to [`RESERVING_CASES`]) keep the adapters of their best partial
    /// matching from younger cases, so a case needing three adapters is not starved by a
    /// stream of one-adapter cases; bounding them keeps the cost of one event linear in the
    /// waiting cases instead of quadratic in the adapters.
    fn allocate(&mut self, ctx: &mut Context<Self>) {
        let Some(run) = self.run.as_ref() else { return };
        if run.waiting.is_empty() || self.idle.len() == 0 {
            return;
        }
        // Adapters held back for older cases, or given to a case earlier in this pass.
        let mut taken: HashSet<String> = HashSet::new();
        let mut reserving = 0;
        let mut starting: Vec<(String, Vec<String>)> = Vec::new();
        for case_id in &run.waiting {
            if self.idle.len() <= taken.len() {
                break;
            }
            let slots = &run.cases[case_id].slots;
            let fillable = slots.iter().all(|slot| self.idle.may_have(&slot.requirement));
            if !fillable && reserving >= RESERVING_CASES {
                continue; // cheap: most blocked cases stop here, at a hash lookup per slot
            }
            let candidates: Vec<Vec<String>> = slots
                .iter()
                .map(|slot| self.idle.candidates(&slot.requirement, slots.len(), &taken, &self.adapters))
                .collect();
            let matching = maximum_matching(&candidates);
            let complete = matching.iter().all(Option::is_some);
            if complete || reserving < RESERVING_CASES {
                reserving += usize::from(!complete);
                taken.extend(matching.iter().flatten().cloned());
            }
            if complete {
                starting.push((case_id.clone(), matching.into_iter().flatten().collect()));
            }
        }
        for (case_id, uuids) in starting {
            self.start_case(&case_id, uuids, ctx);
        }
    }

    fn start_case(&mut self, case_id: &str, uuids: Vec<String>, ctx: &mut Context<Self>) {
        let Some(run) = self.run.as_mut() else { return };
        run.waiting.retain(|id| id != case_id);
        let entry = &run.cases[case_id];
        let files_dir = self.output_dir.join(case_id);
        let mut clients = Vec::new();
        for (slot, uuid) in entry.slots.iter().zip(uuids) {
            let adapter = self.adapters.get_mut(&uuid).expect("matched adapters are known");
            self.idle.remove(adapter.seq, &adapter.registration);
            adapter.status = AdapterStatus::Allocated;
            adapter.addr.do_send(adapter::Assign {
                case: entry.addr.clone(),
                case_id: case_id.to_string(),
                client: slot.name.clone(),
                files_dir: files_dir.clone(),
            });
            clients.push(case::AssignedClient {
                name: slot.name.clone(),
                uuid,
                registration: adapter.registration.clone(),
                adapter: adapter.addr.clone(),
            });
        }
        log::info!(
            "case {case_id} starts with {}",
            clients.iter().map(|c| format!("{}={}", c.name, c.uuid)).collect::<Vec<_>>().join(", ")
        );
        entry.addr.do_send(case::Start { clients });
        let _ = ctx;
    }

    fn queue_expired(&mut self, case_id: &str, ctx: &mut Context<Self>) {
        let Some(run) = self.run.as_mut() else { return };
        if !run.waiting.iter().any(|id| id == case_id) {
            return;
        }
        run.waiting.retain(|id| id != case_id);
        let waited = self.timeouts.queue.unwrap_or_default().as_secs_f64();
        run.cases[case_id].addr.do_send(case::Skip {
            reason: format!("no matching adapters registered within the queue timeout ({waited} s)"),
        });
        // What this case held back from younger cases is free again.
        self.allocate(ctx);
    }

    fn check_run_end(&mut self, ctx: &mut Context<Self>) {
        let Some(run) = self.run.as_mut() else { return };
        if run.report.is_some() || !run.cases.values().all(|c| c.report.is_some()) {
            return;
        }
        let cases = run.order.iter().filter_map(|id| run.cases[id].report.clone()).collect();
        run.report = Some(RunReport { id: run.id.clone(), cases });
        log::info!("run {} has ended; telling every adapter to exit", run.id);
        for entry in self.adapters.values_mut() {
            if entry.status != AdapterStatus::Finished {
                entry.status = AdapterStatus::Finished;
                entry.addr.do_send(adapter::Finish { reason: "all test cases have ended".into() });
            }
        }
        self.idle = IdleIndex::default();
        if self.adapters.values().all(|e| e.exit_delivered) {
            self.release_report();
        } else {
            ctx.run_later(self.timeouts.exit_grace, |act, _| act.release_report());
        }
    }

    fn release_report(&mut self) {
        let Some(run) = self.run.as_mut() else { return };
        let Some(report) = run.report.clone() else { return };
        if run.released {
            return;
        }
        run.released = true;
        for waiter in self.run_end_waiters.drain(..) {
            let _ = waiter.send(report.clone());
        }
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
        if !msg.registration.get("type").is_some_and(Value::is_string) {
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
        let addr =
            AdapterActor::new(msg.uuid.clone(), registration.clone(), ctx.address(), self.timeouts.clone()).start();
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
        self.adapters.insert(msg.uuid, AdapterEntry { addr, registration, seq, status, exit_delivered: false });
        self.allocate(ctx);
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
        let mut run = Run {
            id: msg.id,
            order: Vec::new(),
            cases: HashMap::new(),
            waiting: Vec::new(),
            report: None,
            released: false,
        };
        for spec in msg.cases {
            let id = spec.id.clone();
            let slots = spec.slots.clone();
            let files_dir = self.output_dir.join(&id);
            let addr =
                CaseActor::new(spec, ctx.address(), self.provisioner.clone(), self.timeouts.clone(), files_dir).start();
            if let Some(queue) = self.timeouts.queue {
                let case_id = id.clone();
                ctx.run_later(queue, move |act, ctx| act.queue_expired(&case_id, ctx));
            }
            run.order.push(id.clone());
            run.waiting.push(id.clone());
            run.cases.insert(id, CaseEntry { addr, slots, state: CaseState::Waiting, report: None });
        }
        log::info!("run {} starts with {} test cases", run.id, run.order.len());
        self.run = Some(run);
        self.allocate(ctx);
        self.check_run_end(ctx);
        Ok(())
    }
}

impl Handler<RunEnded> for Allocator {
    type Result = ResponseFuture<RunReport>;

    fn handle(&mut self, _msg: RunEnded, _ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.run_end_waiters.push(tx);
        self.release_report_if_released();
        Box::pin(async move { rx.await.unwrap_or_default() })
    }
}

impl Allocator {
    fn release_report_if_released(&mut self) {
        if self.run.as_ref().is_some_and(|r| r.released) {
            if let Some(report) = self.run.as_ref().and_then(|r| r.report.clone()) {
                for waiter in self.run_end_waiters.drain(..) {
                    let _ = waiter.send(report.clone());
                }
            }
        }
    }
}

impl Handler<Shutdown> for Allocator {
    type Result = ();

    fn handle(&mut self, _msg: Shutdown, ctx: &mut Context<Self>) {
        match self.run.as_mut() {
            None => {
                self.run = Some(Run {
                    id: "none".into(),
                    order: Vec::new(),
                    cases: HashMap::new(),
                    waiting: Vec::new(),
                    report: None,
                    released: false,
                });
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
        }
    }
}

impl Handler<AdapterLost> for Allocator {
    type Result = ();

    fn handle(&mut self, msg: AdapterLost, _ctx: &mut Context<Self>) {
        if let Some(entry) = self.adapters.get_mut(&msg.uuid) {
            if entry.status == AdapterStatus::Idle {
                self.idle.remove(entry.seq, &entry.registration);
            }
            entry.status = AdapterStatus::Finished;
        }
    }
}

impl Handler<ExitDelivered> for Allocator {
    type Result = ();

    fn handle(&mut self, msg: ExitDelivered, _ctx: &mut Context<Self>) {
        if let Some(entry) = self.adapters.get_mut(&msg.uuid) {
            entry.exit_delivered = true;
        }
        if self.run_is_over() && self.adapters.values().all(|e| e.exit_delivered) {
            self.release_report();
        }
    }
}

impl Handler<CaseChanged> for Allocator {
    type Result = ();

    fn handle(&mut self, msg: CaseChanged, _ctx: &mut Context<Self>) {
        if let Some(entry) = self.run.as_mut().and_then(|r| r.cases.get_mut(&msg.id)) {
            if !entry.state.is_final() {
                entry.state = msg.state;
            }
        }
    }
}

impl Handler<CaseEnded> for Allocator {
    type Result = ();

    fn handle(&mut self, msg: CaseEnded, ctx: &mut Context<Self>) {
        let Some(run) = self.run.as_mut() else { return };
        let id = msg.report.id.clone();
        run.waiting.retain(|w| *w != id);
        for slot in msg.report.slots.iter() {
            if let Some(entry) = slot.uuid.as_ref().and_then(|u| self.adapters.get_mut(u)) {
                entry.status = AdapterStatus::Finished;
            }
        }
        if let Some(entry) = run.cases.get_mut(&id) {
            entry.state = msg.report.state;
            entry.report = Some(msg.report);
        }
        self.allocate(ctx);
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
        Box::pin(async move {
            let cases = join_all(cases).await.into_iter().flatten().collect();
            let adapters = join_all(adapters).await.into_iter().flatten().collect();
            StatusSnapshot { run_id, finished, cases, adapters }
        })
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

impl Handler<FindCase> for Allocator {
    type Result = Option<Addr<CaseActor>>;

    fn handle(&mut self, msg: FindCase, _ctx: &mut Context<Self>) -> Self::Result {
        self.run.as_ref().and_then(|r| r.cases.get(&msg.0)).map(|c| c.addr.clone())
    }
}
