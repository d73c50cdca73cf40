//! Allocator: the supervisor. Knows every adapter and case of the run, gives idle
//! adapters to waiting cases, publishes who is registered (the [`Registry`] the HTTP
//! handlers read to reach adapters directly), and notices when every case has ended. An
//! adapter's lifecycle is its own actor's: the allocator only proposes assignments, which
//! the adapter confirms or refuses.

mod allocate;
mod idle;
mod run;

use crate::adapter::{self, AdapterActor};
use crate::case::{self, CaseActor, CaseSpec};
use crate::config::Timeouts;
use crate::events::EventBus;
use crate::matching::maximum_matching;
use crate::metrics::{AdapterCell, RunMetrics, StateCounts};
use crate::provision::Provisioner;
use crate::registry::{Entry, Registry};
use crate::report::{CaseReport, RunReport};
use crate::requirement::Registration;
use crate::snapshot::{AdapterSnapshot, CaseSnapshot, CaseState};
use actix::prelude::*;
use futures::future::join_all;
use idle::IdleIndex;
use run::{CaseEntry, Run};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;

/// How many of the oldest blocked cases hold adapters back from younger cases.
pub const RESERVING_CASES: usize = 16;

/// An adapter registers (or registers again, which changes nothing while it is idle).
#[derive(Message)]
#[rtype(result = "Result<(), RegisterError>")]
pub struct Register {
    pub uuid: String,
    pub registration: Registration,
    /// Where the adapter's actor runs: the HTTP worker's arbiter that took the
    /// registration, so that actors spread over the workers' threads. `None`: the
    /// allocator's own.
    pub arbiter: Option<ArbiterHandle>,
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

/// An idle adapter is no longer available: it reported an error (it is finished), or it
/// was silent for the idle timeout (`dropped`, with its last view: its actor has stopped,
/// it is forgotten).
#[derive(Message)]
#[rtype(result = "()")]
pub struct AdapterLeft {
    pub uuid: String,
    pub dropped: Option<Box<AdapterSnapshot>>,
}

/// Files an adapter uploaded for case `case_id` (names as stored). Routed through the
/// allocator, which keeps them in the case's record also after the case has ended and
/// its actor has stopped (adapters upload their logs after they are told to exit).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CaseFiles {
    pub case_id: String,
    pub names: Vec<String>,
}

/// A case has ended and released what it held.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CaseEnded {
    pub report: CaseReport,
}

/// The run at one moment, for the dashboard and the JSON status API: every case, the
/// adapters' counts by state and type (from the states their actors publish, so no adapter
/// is asked), the adapters of the cases in progress, and one page of the adapters' list
/// (only those adapters are asked for their view). Cheap at 10,000 adapters.
#[derive(Message, Clone, Debug)]
#[rtype(result = "StatusSnapshot")]
pub struct Status {
    /// List only adapters in this state (`idle`, `reserved`, `busy`, `finished`, `dropped`).
    pub adapter_state: Option<String>,
    /// 1-based page of the list (clamped to the pages there are).
    pub page: usize,
    /// Adapters per page; 0 lists none (counts only).
    pub per_page: usize,
}

impl Default for Status {
    /// The first page of [`ADAPTERS_PER_PAGE`] adapters, any state.
    fn default() -> Self {
        Status { adapter_state: None, page: 1, per_page: ADAPTERS_PER_PAGE }
    }
}

impl Status {
    /// Counts, cases and the queue, without listing adapters.
    pub fn counts_only() -> Self {
        Status { per_page: 0, ..Status::default() }
    }
}

/// Adapters listed per page by default.
pub const ADAPTERS_PER_PAGE: usize = 100;

/// One adapter's view (running or finished), if the server knows it (not once dropped).
#[derive(Message)]
#[rtype(result = "Option<AdapterSnapshot>")]
pub struct AdapterStatus(pub String);

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
    /// The page asked for of the registered adapters (running or finished) in registration
    /// order, or of the last dropped ones (oldest first) for state `dropped`.
    pub adapters: Vec<AdapterSnapshot>,
    /// The page listed (1-based, clamped), and how many pages of `per_page` there are.
    pub page: usize,
    pub pages: usize,
    pub per_page: usize,
    /// How many adapters match the list's state filter (all pages).
    pub adapters_listed: usize,
    /// Registered adapters, running or finished (dropped ones are forgotten).
    pub adapters_total: usize,
    /// Adapters per state, in the order of [`ADAPTER_STATES`](crate::metrics::ADAPTER_STATES).
    pub adapter_counts: [u64; 5],
    /// The same per client type, by type.
    pub adapter_types: Vec<(String, [u64; 5])>,
    /// The adapters of the cases preparing or running (what those cases are doing).
    pub active_adapters: Vec<AdapterSnapshot>,
    /// The cases waiting for adapters, in the order the allocator serves them.
    pub queue: Vec<QueuedCase>,
    /// Adapters dropped for not polling before they were given a case.
    pub dropped: u64,
}

/// How many dropped adapters the allocator remembers for the dashboard.
pub const DROPPED_KEPT: usize = 1000;

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

/// A registered adapter as the allocator knows it: who it is, not what it is doing (that
/// is its actor's to know).
pub(crate) struct AdapterEntry {
    addr: Addr<AdapterActor>,
    registration: Arc<Registration>,
    seq: u64,
    /// Asked to retire: its record will replace it in the registry.
    retiring: bool,
}

/// The supervisor of one run's adapters and cases.
pub struct Allocator {
    timeouts: Timeouts,
    provisioner: Arc<dyn Provisioner>,
    output_dir: PathBuf,
    /// Adapters whose actors run.
    adapters: HashMap<String, AdapterEntry>,
    registry: Registry,
    /// Every registered adapter (running or retired) by registration order, with the state
    /// its actor publishes, for views.
    listing: BTreeMap<u64, (String, Arc<AdapterCell>)>,
    /// Adapters per state, per client type (their cells move these).
    type_counts: BTreeMap<String, Arc<StateCounts>>,
    metrics: Arc<RunMetrics>,
    dropped_adapters: VecDeque<AdapterSnapshot>,
    idle: IdleIndex,
    next_seq: u64,
    /// Queue deadlines of waiting cases, earliest first (one timer for all of them).
    queue_deadlines: VecDeque<(Instant, String)>,
    queue_timer: Option<SpawnHandle>,
    run: Option<Run>,
    run_end_waiters: Vec<oneshot::Sender<RunReport>>,
    /// Set by [`Shutdown`]: the run ends without its exit grace.
    stopping: bool,
    events: EventBus,
    dropped: u64,
    /// The case actors' threads: one arbiter per core, cases dealt round-robin, so no
    /// single thread carries every case's messages (adapters run on the HTTP workers').
    case_arbiters: Vec<Arbiter>,
}

impl Allocator {
    /// An allocator whose cases get servers from `provisioner` and store files under `output_dir`.
    pub fn new(timeouts: Timeouts, provisioner: Arc<dyn Provisioner>, output_dir: PathBuf) -> Self {
        Allocator {
            timeouts,
            provisioner,
            output_dir,
            adapters: HashMap::new(),
            registry: Registry::default(),
            listing: BTreeMap::new(),
            type_counts: BTreeMap::new(),
            metrics: Arc::default(),
            dropped_adapters: VecDeque::new(),
            idle: IdleIndex::default(),
            next_seq: 0,
            queue_deadlines: VecDeque::new(),
            queue_timer: None,
            run: None,
            run_end_waiters: Vec::new(),
            stopping: false,
            events: EventBus::default(),
            dropped: 0,
            case_arbiters: Vec::new(),
        }
    }

    /// Where this allocator and its adapters and cases publish their events.
    pub fn events(&self) -> EventBus {
        self.events.clone()
    }

    /// The run's figures, which adapters and cases record as things happen.
    pub fn metrics(&self) -> Arc<RunMetrics> {
        self.metrics.clone()
    }

    /// Who is registered, for the HTTP handlers to reach adapters directly.
    pub fn registry(&self) -> Registry {
        self.registry.clone()
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

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        for arbiter in &self.case_arbiters {
            arbiter.stop();
        }
    }
}

impl Handler<Register> for Allocator {
    type Result = ResponseFuture<Result<(), RegisterError>>;

    fn handle(&mut self, msg: Register, ctx: &mut Context<Self>) -> Self::Result {
        if msg.registration.get("type").and_then(Value::as_str).is_none_or(|t| t.trim().is_empty()) {
            return Box::pin(futures::future::ready(Err(RegisterError::MissingType)));
        }
        match self.registry.get(&msg.uuid) {
            // Registering again changes nothing while the adapter is idle; its actor knows.
            Some(Entry::Live(addr)) => {
                let uuid = msg.uuid;
                return Box::pin(async move {
                    addr.send(adapter::Reregister).await.unwrap_or(Err(RegisterError::Finished(uuid)))
                });
            }
            Some(Entry::Retired(_)) => return Box::pin(futures::future::ready(Err(RegisterError::Finished(msg.uuid)))),
            None => {}
        }
        let registration = Arc::new(msg.registration);
        let client_type = registration.get("type").and_then(Value::as_str).unwrap_or_default();
        let counts = match self.type_counts.get(client_type) {
            Some(counts) => counts.clone(),
            None => self.type_counts.entry(client_type.to_string()).or_default().clone(),
        };
        let cell = Arc::new(AdapterCell::new(counts));
        let actor = {
            let (uuid, registration, timeouts) = (msg.uuid.clone(), registration.clone(), self.timeouts.clone());
            let (allocator, events) = (ctx.address(), self.events.clone());
            let (cell, metrics) = (cell.clone(), self.metrics.clone());
            move |_: &mut Context<AdapterActor>| {
                AdapterActor::new(uuid, registration, allocator, timeouts, events, cell, metrics)
            }
        };
        let addr = match &msg.arbiter {
            Some(arbiter) => AdapterActor::start_in_arbiter(arbiter, actor),
            None => AdapterActor::create(actor),
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        log::info!("adapter {} registered: {}", msg.uuid, Value::Object((*registration).clone()));
        self.registry.insert(msg.uuid.clone(), Entry::Live(addr.clone()));
        self.listing.insert(seq, (msg.uuid.clone(), cell));
        self.adapters.insert(msg.uuid.clone(), AdapterEntry { addr: addr.clone(), registration, seq, retiring: false });
        if self.run_is_over() {
            addr.do_send(adapter::Finish { reason: "all test cases have ended".into() });
            self.retire_adapter(&msg.uuid, ctx);
        } else {
            self.make_idle(&msg.uuid);
        }
        // The registration is answered once a case it completed has started: an adapter
        // (or a test) that polls next finds itself allocated.
        let started = self.allocate(ctx);
        Box::pin(async move {
            join_all(started).await;
            Ok(())
        })
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
        let queue_deadline = self.timeouts.queue.map(|queue| Instant::now() + queue);
        if self.case_arbiters.is_empty() {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            self.case_arbiters = (0..cores).map(|_| Arbiter::new()).collect();
        }
        for (rank, spec) in msg.cases.into_iter().enumerate() {
            let id = spec.id.clone();
            let slots = spec.slots.clone();
            let files_dir = self.output_dir.join(&id);
            let (allocator, provisioner, timeouts, events, metrics) = (
                ctx.address(),
                self.provisioner.clone(),
                self.timeouts.clone(),
                self.events.clone(),
                self.metrics.clone(),
            );
            let arbiter = self.case_arbiters[rank % self.case_arbiters.len()].handle();
            let addr = CaseActor::start_in_arbiter(&arbiter, move |_| {
                CaseActor::new(spec, allocator, provisioner, timeouts, files_dir, events).with_metrics(metrics)
            });
            if let Some(deadline) = queue_deadline {
                self.queue_deadlines.push_back((deadline, id.clone()));
            }
            let entry = CaseEntry {
                addr,
                slots,
                rank,
                queue_deadline,
                blocked_on: None,
                files: Default::default(),
                report: None,
            };
            run.add(id, entry);
        }
        self.arm_queue_timer(ctx);
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
                run.clear_waiting();
                for entry in run.cases.values().filter(|c| c.report.is_none()) {
                    entry.addr.do_send(case::Shutdown);
                }
            }
        }
    }
}

impl Handler<AdapterLeft> for Allocator {
    type Result = ();

    fn handle(&mut self, msg: AdapterLeft, ctx: &mut Context<Self>) {
        let Some(entry) = self.adapters.get(&msg.uuid) else { return };
        self.idle.remove(entry.seq, &entry.registration);
        match msg.dropped {
            Some(last) => {
                self.listing.remove(&entry.seq);
                self.adapters.remove(&msg.uuid);
                self.registry.remove(&msg.uuid);
                self.dropped += 1;
                if self.dropped_adapters.len() >= DROPPED_KEPT {
                    self.dropped_adapters.pop_front();
                }
                self.dropped_adapters.push_back(*last);
            }
            // Finished by its own error before any case had it: nothing more will use it.
            None => self.retire_adapter(&msg.uuid, ctx),
        }
    }
}

impl Handler<CaseFiles> for Allocator {
    type Result = ();

    fn handle(&mut self, msg: CaseFiles, _ctx: &mut Context<Self>) {
        let Some(run) = self.run.as_mut() else { return };
        let Some(entry) = run.cases.get_mut(&msg.case_id) else { return };
        entry.files.extend(msg.names.iter().cloned());
        match entry.report.as_mut() {
            Some(report) => report.files = entry.files.iter().cloned().collect(),
            None => entry.addr.do_send(case::AddFiles(msg.names)),
        }
    }
}

impl Handler<CaseEnded> for Allocator {
    type Result = ();

    fn handle(&mut self, msg: CaseEnded, ctx: &mut Context<Self>) {
        let Some(run) = self.run.as_mut() else { return };
        let id = msg.report.id.clone();
        run.stop_waiting(&id);
        let adapters: Vec<String> = msg.report.slots.iter().filter_map(|s| s.uuid.clone()).collect();
        if run.record_end(&id, msg.report) {
            // Its record is all that is left of it: the actor stops.
            run.cases[&id].addr.do_send(case::Retire);
        }
        for uuid in adapters {
            self.retire_adapter(&uuid, ctx);
        }
        self.allocate(ctx);
        self.check_run_end(ctx);
    }
}

impl Handler<Status> for Allocator {
    type Result = ResponseFuture<StatusSnapshot>;

    fn handle(&mut self, msg: Status, _ctx: &mut Context<Self>) -> Self::Result {
        let run_id = self.run.as_ref().map(|r| r.id.clone());
        let finished = self.run_is_over();
        let cases: Vec<_> = match &self.run {
            Some(run) => run.order.iter().map(|id| self.case_view(run, id)).collect(),
            None => Vec::new(),
        };
        let mut adapter_counts = [0u64; 5];
        let adapter_types: Vec<(String, [u64; 5])> = self
            .type_counts
            .iter()
            .map(|(t, counts)| {
                let counts = counts.get();
                for (total, n) in adapter_counts.iter_mut().zip(counts) {
                    *total += n;
                }
                (t.clone(), counts)
            })
            .collect();
        let page = self.adapter_page(&msg);
        let queue = self.queue();
        let dropped = self.dropped;
        let registry = self.registry.clone();
        let adapters_total = self.listing.len();
        Box::pin(async move {
            let cases: Vec<CaseSnapshot> = join_all(cases).await.into_iter().flatten().collect();
            let active: Vec<String> = cases
                .iter()
                .filter(|c| matches!(c.state, CaseState::Preparing | CaseState::Running))
                .flat_map(|c| c.slots.iter().filter_map(|s| s.uuid.clone()))
                .collect();
            let active_adapters = join_all(active.iter().map(|uuid| adapter_view(&registry, uuid))).await;
            let adapters = match page.listed {
                Listed::Known(snapshots) => snapshots,
                Listed::Ask(uuids) => join_all(uuids.iter().map(|uuid| adapter_view(&registry, uuid))).await,
            };
            StatusSnapshot {
                run_id,
                finished,
                cases,
                adapters: adapters.into_iter().flatten().collect(),
                page: page.page,
                pages: page.pages,
                per_page: msg.per_page,
                adapters_listed: page.matching,
                adapters_total,
                adapter_counts,
                adapter_types,
                active_adapters: active_adapters.into_iter().flatten().collect(),
                queue,
                dropped,
            }
        })
    }
}

/// The adapters of one page of a status: views already at hand, or uuids to ask.
enum Listed {
    Known(Vec<Option<AdapterSnapshot>>),
    Ask(Vec<String>),
}

struct AdapterPage {
    listed: Listed,
    page: usize,
    pages: usize,
    /// How many match the filter.
    matching: usize,
}

/// The view of adapter `uuid`: its actor's if it runs, its record's if it retired.
fn adapter_view(registry: &Registry, uuid: &str) -> futures::future::BoxFuture<'static, Option<AdapterSnapshot>> {
    use futures::FutureExt;
    match registry.get(uuid) {
        Some(Entry::Live(addr)) => addr.send(adapter::Snapshot).map(Result::ok).boxed(),
        Some(Entry::Retired(r)) => futures::future::ready(Some(r.snapshot.clone())).boxed(),
        None => futures::future::ready(None).boxed(),
    }
}

impl Allocator {
    /// Which adapters page `msg.page` of the list lists: chosen by the states their cells
    /// hold (no actor asked), so only the page's own adapters are asked for their views.
    fn adapter_page(&self, msg: &Status) -> AdapterPage {
        let per_page = msg.per_page;
        let paged = |matching: usize| {
            let pages = if per_page == 0 { 1 } else { matching.div_ceil(per_page).max(1) };
            let page = msg.page.clamp(1, pages);
            (page, pages, (page - 1) * per_page)
        };
        if msg.adapter_state.as_deref() == Some(adapter::DROPPED) {
            let matching = self.dropped_adapters.len();
            let (page, pages, skip) = paged(matching);
            let listed = self.dropped_adapters.iter().skip(skip).take(per_page).cloned().map(Some).collect();
            return AdapterPage { listed: Listed::Known(listed), page, pages, matching };
        }
        let wanted = msg.adapter_state.as_deref();
        let fits = |cell: &AdapterCell| wanted.is_none_or(|w| cell.state() == Some(w));
        let matching = match wanted {
            None => self.listing.len(),
            Some(_) => self.listing.values().filter(|(_, cell)| fits(cell)).count(),
        };
        let (page, pages, skip) = paged(matching);
        let uuids = self
            .listing
            .values()
            .filter(|(_, cell)| fits(cell))
            .skip(skip)
            .take(per_page)
            .map(|(uuid, _)| uuid.clone())
            .collect();
        AdapterPage { listed: Listed::Ask(uuids), page, pages, matching }
    }
}

impl Handler<AdapterStatus> for Allocator {
    type Result = ResponseFuture<Option<AdapterSnapshot>>;

    fn handle(&mut self, msg: AdapterStatus, _ctx: &mut Context<Self>) -> Self::Result {
        adapter_view(&self.registry, &msg.0)
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
            // Ended cases answer from their records (their actors have stopped).
            Some(run) => run.order.iter().map(|id| self.case_view(run, id)).collect(),
            None => Vec::new(),
        };
        Box::pin(async move { (run_id, join_all(cases).await.into_iter().flatten().collect()) })
    }
}

impl Handler<CaseStatus> for Allocator {
    type Result = ResponseFuture<Option<CaseSnapshot>>;

    fn handle(&mut self, msg: CaseStatus, _ctx: &mut Context<Self>) -> Self::Result {
        let view = self.run.as_ref().filter(|r| r.cases.contains_key(&msg.0)).map(|run| self.case_view(run, &msg.0));
        Box::pin(async move {
            match view {
                Some(v) => v.await,
                None => None,
            }
        })
    }
}
