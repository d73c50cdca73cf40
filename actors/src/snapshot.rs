//! Immutable views of actors' state, for the dashboard, the JSON API and reports.

use crate::provision::Homeserver;
use crate::requirement::Registration;
use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// A test case's state: waiting → preparing → running → success | failed | error, or skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum CaseState {
    Waiting,
    Preparing,
    Running,
    Success,
    Failed,
    Error,
    Skipped,
}

impl CaseState {
    /// Whether the case has ended.
    pub fn is_final(self) -> bool {
        matches!(self, CaseState::Success | CaseState::Failed | CaseState::Error | CaseState::Skipped)
    }
    /// The lowercase name used on the wire and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::Waiting => "waiting",
            CaseState::Preparing => "preparing",
            CaseState::Running => "running",
            CaseState::Success => "success",
            CaseState::Failed => "failed",
            CaseState::Error => "error",
            CaseState::Skipped => "skipped",
        }
    }
}

impl fmt::Display for CaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One adapter as the dashboard shows it.
#[derive(Clone, Debug, Serialize)]
pub struct AdapterSnapshot {
    pub uuid: String,
    pub registration: Arc<Registration>,
    /// `idle`, `allocated` or `finished`.
    pub state: &'static str,
    pub case_id: Option<String>,
    pub client: Option<String>,
    pub current_action: Option<String>,
    /// When the current action was given (Unix milliseconds).
    pub action_since: Option<u64>,
    pub finish_reason: Option<String>,
    pub actions_done: u64,
    /// Unix milliseconds.
    pub registered_at: u64,
    pub last_poll: Option<u64>,
    pub last_response: Option<u64>,
    /// Unix milliseconds of its last sign of life (poll, respond, error, upload).
    pub last_heard: u64,
    /// How long its oldest held poll has been held, in milliseconds, if one is held.
    pub held_for: Option<u64>,
}

/// A case entered `state` at `at` (Unix milliseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct StateChange {
    pub state: CaseState,
    pub at: u64,
}

/// One action a case's client was asked for, and how it ended.
#[derive(Clone, Debug, Serialize)]
pub struct ActionRecord {
    /// The client slot (`alice`).
    pub client: String,
    pub uuid: String,
    pub action: String,
    pub data: serde_json::Value,
    /// When it was given to the adapter (Unix milliseconds).
    pub sent_at: u64,
    /// How long until it was answered or failed, in milliseconds.
    pub duration_ms: u64,
    /// The adapter's response, if it answered.
    pub response: Option<serde_json::Value>,
    /// Why it did not produce a response, if it did not.
    pub error: Option<String>,
}

/// One slot of a case and the adapter that fills it, if any yet.
#[derive(Clone, Debug, Serialize)]
pub struct SlotSnapshot {
    pub name: String,
    pub requirement: String,
    pub uuid: Option<String>,
}

/// One test case as the dashboard and the reports show it.
#[derive(Clone, Debug, Serialize)]
pub struct CaseSnapshot {
    pub id: String,
    pub test: String,
    pub state: CaseState,
    pub slots: Vec<SlotSnapshot>,
    pub servers: Vec<Homeserver>,
    pub errors: Vec<String>,
    pub log: Vec<String>,
    pub files: Vec<String>,
    /// Every state the case has been in, with when it entered it.
    pub history: Vec<StateChange>,
    /// Every action its clients were asked for, in the order they completed.
    pub actions: Vec<Arc<ActionRecord>>,
    /// Unix milliseconds.
    pub created_at: u64,
    pub started_at: Option<u64>,
    pub ended_at: Option<u64>,
}

impl CaseSnapshot {
    /// `alice=element-web, bob=hydrogen-web`: the matrix point this case covers.
    pub fn label(&self) -> String {
        self.slots.iter().map(|s| format!("{}={}", s.name, s.requirement)).collect::<Vec<_>>().join(", ")
    }
    /// Seconds from allocation to end, when both happened.
    pub fn duration_secs(&self) -> Option<f64> {
        Some((self.ended_at?.saturating_sub(self.started_at?)) as f64 / 1000.0)
    }
}
