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
    pub finish_reason: Option<String>,
    pub actions_done: u64,
    /// Unix milliseconds.
    pub registered_at: u64,
    pub last_poll: Option<u64>,
    pub last_response: Option<u64>,
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
