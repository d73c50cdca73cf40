//! A run: the cases expanded from the scenarios at one moment, and their report. Today a
//! process serves one run; the allocator holds it as a value so that runs on demand can
//! come later without touching the actors.

use crate::case::{CaseActor, Slot};
use crate::report::{CaseReport, RunReport};
use actix::Addr;
use std::collections::HashMap;

/// One case of the run as the allocator tracks it.
pub(super) struct CaseEntry {
    pub(super) addr: Addr<CaseActor>,
    pub(super) slots: Vec<Slot>,
    /// Set once the case has ended and released what it held.
    pub(super) report: Option<CaseReport>,
}

/// The cases of one run, the order they were listed in, and which still wait.
pub(super) struct Run {
    pub(super) id: String,
    pub(super) order: Vec<String>,
    pub(super) cases: HashMap<String, CaseEntry>,
    /// Case ids still waiting for adapters, oldest first.
    pub(super) waiting: Vec<String>,
    /// Set when every case has ended.
    pub(super) report: Option<RunReport>,
    /// Set when the report is being made final (after the exit grace).
    pub(super) releasing: bool,
    /// Set when the report has been handed out.
    pub(super) released: bool,
}

impl Run {
    pub(super) fn new(id: String) -> Self {
        Run {
            id,
            order: Vec::new(),
            cases: HashMap::new(),
            waiting: Vec::new(),
            report: None,
            releasing: false,
            released: false,
        }
    }

    pub(super) fn add(&mut self, id: String, entry: CaseEntry) {
        self.order.push(id.clone());
        self.waiting.push(id.clone());
        self.cases.insert(id, entry);
    }

    pub(super) fn is_waiting(&self, id: &str) -> bool {
        self.waiting.iter().any(|w| w == id)
    }

    pub(super) fn stop_waiting(&mut self, id: &str) {
        self.waiting.retain(|w| w != id);
    }

    /// Builds the report once every case has ended; answers whether it did just now.
    pub(super) fn conclude_if_done(&mut self) -> bool {
        if self.report.is_some() || !self.cases.values().all(|c| c.report.is_some()) {
            return false;
        }
        let cases = self.order.iter().filter_map(|id| self.cases.get(id).and_then(|c| c.report.clone())).collect();
        self.report = Some(RunReport { id: self.id.clone(), cases });
        true
    }
}
