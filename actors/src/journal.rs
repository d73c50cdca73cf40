//! A case's journal: its log lines and its action log, written where they happen (the
//! script's thread appends its log lines, an adapter's actor its actions) instead of
//! through the case's mailbox. A message per line and per action woke the case's thread
//! twice for every action, on a machine whose cores the HTTP workers, the scripts and
//! the adapters share; a short uncontended lock wakes nobody.
//!
//! This is a deliberate exception to "no shared state beside the actors" (ARCHITECTURE.md),
//! as are the adapters' state cells (adapter/state.rs): it is append-only, it holds what
//! happened and nothing that decides what happens next (the case's state machine stays in
//! its actor), and its only writers are the case's own body and adapters. Decision state
//! does not belong here.

use crate::events::{Event, EventBus};
use crate::snapshot::ActionRecord;
use std::sync::{Arc, Mutex, MutexGuard};

/// Actions kept in a case's action log; a script that acts in a loop must not eat the memory.
pub const MAX_ACTIONS: usize = 10_000;
/// Log lines kept per case; a script that logs in a loop must not eat the memory.
pub const MAX_LOG_LINES: usize = 10_000;
/// Longest log line kept, in bytes; longer ones are cut (a whole timeline is not a line).
pub const MAX_LOG_LINE: usize = 4096;

/// One case's log and action log; clones share them.
#[derive(Clone, Debug)]
pub struct Journal(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    case_id: String,
    events: EventBus,
    record: Mutex<Record>,
}

#[derive(Debug, Default)]
struct Record {
    log: Vec<String>,
    actions: Vec<Arc<ActionRecord>>,
}

impl Journal {
    /// An empty journal for case `case_id`, whose actions are published on `events`.
    pub fn new(case_id: String, events: EventBus) -> Self {
        Journal(Arc::new(Inner { case_id, events, record: Mutex::default() }))
    }

    fn record(&self) -> MutexGuard<'_, Record> {
        self.0.record.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a line to the log (cut at [`MAX_LOG_LINE`] bytes; beyond [`MAX_LOG_LINES`]
    /// lines, dropped).
    pub fn log(&self, mut line: String) {
        if line.len() > MAX_LOG_LINE {
            let cut = (0..=MAX_LOG_LINE).rev().find(|i| line.is_char_boundary(*i)).unwrap_or(0);
            line.truncate(cut);
            line.push_str(" [...]");
        }
        let mut record = self.record();
        if record.log.len() < MAX_LOG_LINES {
            record.log.push(line);
        }
    }

    /// Adds an action that has ended to the action log (up to [`MAX_ACTIONS`]) and
    /// publishes it. Published under the lock, so the event stream tells a case's actions
    /// in the order its record holds them.
    pub fn action(&self, action: Arc<ActionRecord>) {
        let mut record = self.record();
        if record.actions.len() < MAX_ACTIONS {
            if self.0.events.listeners() > 0 {
                self.0.events.publish(Event::Action { case_id: self.0.case_id.clone(), action: action.clone() });
            }
            record.actions.push(action);
        }
    }

    /// The log so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.record().log.clone()
    }

    /// The action log so far.
    pub fn actions(&self) -> Vec<Arc<ActionRecord>> {
        self.record().actions.clone()
    }
}
