//! What the pages and the JSON API show, built from the actors' snapshots: counts per
//! state, the adapters' rows, the queue with why each case waits, a case in full.

use super::Script;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use trafficlight_actors::allocator::{QueuedCase, Status, StatusSnapshot};
use trafficlight_actors::snapshot::{AdapterSnapshot, CaseSnapshot, CaseState};

/// Every case state, in the order pages list them.
pub const CASE_STATES: [CaseState; 7] = [
    CaseState::Waiting,
    CaseState::Preparing,
    CaseState::Running,
    CaseState::Success,
    CaseState::Failed,
    CaseState::Error,
    CaseState::Skipped,
];
/// Adapters listed per page.
pub use trafficlight_actors::allocator::ADAPTERS_PER_PAGE;
/// Every adapter state, in the order pages list them.
pub use trafficlight_actors::metrics::ADAPTER_STATES;

/// `state → count` for every state, zeros included, in display order.
#[derive(Clone, Debug, Serialize)]
pub struct Count {
    pub state: String,
    pub count: usize,
}

fn case_counts<'a>(cases: impl Iterator<Item = &'a CaseSnapshot>) -> Vec<Count> {
    let mut counts: BTreeMap<CaseState, usize> = BTreeMap::new();
    for case in cases {
        *counts.entry(case.state).or_default() += 1;
    }
    CASE_STATES.iter().map(|s| Count { state: s.to_string(), count: counts.get(s).copied().unwrap_or(0) }).collect()
}

/// One test and its cases' counts.
#[derive(Serialize)]
pub struct TestRow {
    pub name: String,
    pub total: usize,
    pub counts: Vec<Count>,
}

/// The tests of a run, in the order their first case was listed.
pub fn tests(cases: &[CaseSnapshot]) -> Vec<TestRow> {
    let mut names: Vec<&str> = Vec::new();
    for case in cases {
        if !names.contains(&case.test.as_str()) {
            names.push(&case.test);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let of_test: Vec<&CaseSnapshot> = cases.iter().filter(|c| c.test == name).collect();
            TestRow { name: name.to_string(), total: of_test.len(), counts: case_counts(of_test.into_iter()) }
        })
        .collect()
}

/// One case in a list.
#[derive(Serialize)]
pub struct CaseRow {
    pub id: String,
    pub test: String,
    pub label: String,
    pub state: CaseState,
    pub started_at: Option<u64>,
    pub duration_secs: Option<f64>,
    /// The first line of its first error.
    pub error: Option<String>,
    /// What it is doing now, for a case that has not ended.
    pub doing: Option<String>,
}

fn case_row(case: &CaseSnapshot, adapters: &[AdapterSnapshot], now: u64) -> CaseRow {
    let doing = match case.state {
        CaseState::Preparing => Some("provisioning its homeservers".to_string()),
        CaseState::Running => {
            let busy: Vec<String> = adapters
                .iter()
                .filter(|a| a.case_id.as_deref() == Some(&case.id))
                .filter_map(|a| {
                    let action = a.current_action.as_ref()?;
                    let secs = a.action_since.map(|t| now.saturating_sub(t) / 1000).unwrap_or(0);
                    Some(format!("{} busy with {action} for {secs} s", a.client.as_deref().unwrap_or("?")))
                })
                .collect();
            Some(if busy.is_empty() { "running its script".to_string() } else { busy.join("; ") })
        }
        _ => None,
    };
    CaseRow {
        id: case.id.clone(),
        test: case.test.clone(),
        label: case.label(),
        state: case.state,
        started_at: case.started_at,
        duration_secs: case.duration_secs(),
        error: case.errors.first().and_then(|e| e.lines().next()).map(str::to_string),
        doing,
    }
}

/// A waiting case, and in words why it has not started.
#[derive(Serialize)]
pub struct QueueRow {
    pub position: usize,
    pub id: String,
    pub test: String,
    pub label: String,
    pub waiting_since: u64,
    pub slots: Vec<trafficlight_actors::allocator::SlotWait>,
    pub why: String,
}

/// Why `queued` waits: the slots no idle adapter can fill, or the older cases ahead.
pub fn why_waiting(queued: &QueuedCase) -> String {
    let missing: Vec<String> = queued
        .slots
        .iter()
        .filter(|s| s.idle_matching == 0)
        .map(|s| format!("slot {} needs a client of type {}: no idle adapter of that type", s.name, s.requirement))
        .collect();
    if missing.is_empty() {
        "idle adapters match every slot, but they are held for older cases in the queue".into()
    } else {
        missing.join("; ")
    }
}

/// One adapter as a row of the adapters' table.
#[derive(Serialize)]
pub struct AdapterRow {
    pub uuid: String,
    pub client_type: String,
    pub registration: String,
    pub state: String,
    pub case_id: Option<String>,
    pub client: Option<String>,
    pub action: Option<String>,
    pub action_since: Option<u64>,
    pub last_poll: Option<u64>,
    pub last_heard: Option<u64>,
    pub finish_reason: Option<String>,
}

fn adapter_row(a: &AdapterSnapshot) -> AdapterRow {
    AdapterRow {
        uuid: a.uuid.clone(),
        client_type: a.registration.get("type").and_then(Value::as_str).unwrap_or("").to_string(),
        registration: Value::Object((*a.registration).clone()).to_string(),
        state: a.state.to_string(),
        case_id: a.case_id.clone(),
        client: a.client.clone(),
        action: a.current_action.clone(),
        action_since: a.action_since,
        last_poll: a.last_poll,
        last_heard: a.last_poll.max(a.last_response),
        finish_reason: a.finish_reason.clone(),
    }
}

/// Which adapters a page lists.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct AdapterQuery {
    /// Only adapters in this state.
    pub state: Option<String>,
    /// 1-based page of [`ADAPTERS_PER_PAGE`] adapters.
    pub page: Option<usize>,
}

impl AdapterQuery {
    /// What to ask the allocator for: counts, and this page of the adapters only.
    pub fn status(&self) -> Status {
        Status { adapter_state: self.state.clone(), page: self.page.unwrap_or(1), per_page: ADAPTERS_PER_PAGE }
    }
}

/// `state → count` in the order of [`ADAPTER_STATES`].
pub fn adapter_counts(counts: &[u64; 5]) -> Vec<Count> {
    ADAPTER_STATES.iter().zip(counts).map(|(s, n)| Count { state: s.to_string(), count: *n as usize }).collect()
}

/// Everything the status page and `/api/status` show.
#[derive(Serialize)]
pub struct StatusView {
    pub run_id: Option<String>,
    pub finished: bool,
    pub now: u64,
    pub case_counts: Vec<Count>,
    pub adapter_counts: Vec<Count>,
    /// `type → state counts`.
    pub adapter_types: Vec<(String, Vec<Count>)>,
    pub tests: Vec<TestRow>,
    /// Cases that are preparing or running.
    pub active: Vec<CaseRow>,
    pub queue: Vec<QueueRow>,
    pub adapters_total: usize,
    pub adapters: Vec<AdapterRow>,
    pub adapter_state: Option<String>,
    pub page: usize,
    pub pages: usize,
}

/// Builds the status view of `status` at `now`, with the page of adapters it lists.
pub fn status(status: &StatusSnapshot, now: u64, query: &AdapterQuery) -> StatusView {
    let by_id: BTreeMap<&str, &CaseSnapshot> = status.cases.iter().map(|c| (c.id.as_str(), c)).collect();
    let queue = status
        .queue
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let case = by_id.get(q.id.as_str());
            QueueRow {
                position: i + 1,
                id: q.id.clone(),
                test: case.map(|c| c.test.clone()).unwrap_or_default(),
                label: case.map(|c| c.label()).unwrap_or_default(),
                waiting_since: case.map(|c| c.created_at).unwrap_or(now),
                slots: q.slots.clone(),
                why: why_waiting(q),
            }
        })
        .collect();
    StatusView {
        run_id: status.run_id.clone(),
        finished: status.finished,
        now,
        case_counts: case_counts(status.cases.iter()),
        adapter_counts: adapter_counts(&status.adapter_counts),
        adapter_types: status.adapter_types.iter().map(|(t, c)| (t.clone(), adapter_counts(c))).collect(),
        tests: tests(&status.cases),
        active: status
            .cases
            .iter()
            .filter(|c| matches!(c.state, CaseState::Preparing | CaseState::Running))
            .map(|c| case_row(c, &status.active_adapters, now))
            .collect(),
        queue,
        adapters_total: status.adapters_total,
        adapters: status.adapters.iter().map(adapter_row).collect(),
        adapter_state: query.state.clone(),
        page: status.page,
        pages: status.pages,
    }
}

/// A test's page: its cases.
#[derive(Serialize)]
pub struct TestView {
    pub name: String,
    pub now: u64,
    pub counts: Vec<Count>,
    pub cases: Vec<CaseRow>,
}

/// The view of test `name`, if the run has it.
pub fn test(status: &StatusSnapshot, name: &str, now: u64) -> Option<TestView> {
    let cases: Vec<&CaseSnapshot> = status.cases.iter().filter(|c| c.test == name).collect();
    if cases.is_empty() {
        return None;
    }
    Some(TestView {
        name: name.to_string(),
        now,
        counts: case_counts(cases.iter().copied()),
        cases: cases.iter().map(|c| case_row(c, &status.active_adapters, now)).collect(),
    })
}

/// One slot of a case, with the adapter it got.
#[derive(Serialize)]
pub struct SlotView {
    pub name: String,
    pub requirement: String,
    pub adapter: Option<AdapterRow>,
    pub uuid: Option<String>,
}

/// One line of the scenario's source.
#[derive(Serialize)]
pub struct SourceLine {
    pub number: usize,
    pub text: String,
    /// An error names this line.
    pub failing: bool,
}

/// The scenario's source, with the lines errors point at.
#[derive(Serialize)]
pub struct SourceView {
    pub path: String,
    pub failing_lines: Vec<usize>,
    pub lines: Vec<SourceLine>,
}

/// A case's page and `/api/cases/{id}`: everything about it.
#[derive(Serialize)]
pub struct CaseView {
    pub now: u64,
    pub case: CaseSnapshot,
    pub label: String,
    pub slots: Vec<SlotView>,
    /// Why it waits, while it waits.
    pub waiting: Option<QueueRow>,
    pub script: Option<SourceView>,
}

/// The lines of `path` that `errors` point at (`path:LINE` or `path:LINE:COL`).
pub fn failing_lines(path: &str, errors: &[String]) -> Vec<usize> {
    let mut lines = Vec::new();
    for error in errors {
        for (at, _) in error.match_indices(path) {
            let rest = &error[at + path.len()..];
            let Some(digits) = rest.strip_prefix(':') else { continue };
            let number: String = digits.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(n) = number.parse::<usize>() {
                if !lines.contains(&n) {
                    lines.push(n);
                }
            }
        }
    }
    lines
}

/// Builds the view of `case`, with its adapters from `adapters` and its script.
pub fn case(
    case: CaseSnapshot,
    adapters: &[AdapterSnapshot],
    queued: Option<(usize, &QueuedCase)>,
    script: Option<&Script>,
    now: u64,
) -> CaseView {
    let slots = case
        .slots
        .iter()
        .map(|s| SlotView {
            name: s.name.clone(),
            requirement: s.requirement.clone(),
            uuid: s.uuid.clone(),
            adapter: s.uuid.as_ref().and_then(|u| adapters.iter().find(|a| &a.uuid == u)).map(adapter_row),
        })
        .collect();
    let waiting = queued.map(|(position, q)| QueueRow {
        position,
        id: q.id.clone(),
        test: case.test.clone(),
        label: case.label(),
        waiting_since: case.created_at,
        slots: q.slots.clone(),
        why: why_waiting(q),
    });
    let script = script.map(|s| {
        let failing = failing_lines(&s.path, &case.errors);
        SourceView {
            path: s.path.clone(),
            lines: s
                .source
                .lines()
                .enumerate()
                .map(|(i, text)| SourceLine {
                    number: i + 1,
                    text: text.to_string(),
                    failing: failing.contains(&(i + 1)),
                })
                .collect(),
            failing_lines: failing,
        }
    });
    CaseView { now, label: case.label(), slots, waiting, script, case }
}
