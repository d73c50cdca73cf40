//! A run: the cases expanded from the scenarios at one moment, and their report. Today a
//! process serves one run; the allocator holds it as a value so that runs on demand can
//! come later without touching the actors.
//!
//! Nothing here costs more per event as the run goes on: waiting cases are kept in queue
//! order with those known to lack a client type parked by that type (an allocation pass
//! looks only at the others), and ended cases are counted, not scanned.

use crate::case::{CaseActor, Slot};
use crate::report::{CaseReport, RunReport};
use actix::Addr;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

/// One case of the run as the allocator tracks it.
pub(super) struct CaseEntry {
    pub(super) addr: Addr<CaseActor>,
    pub(super) slots: Vec<Slot>,
    /// Its place in the run's order (and in the queue).
    pub(super) rank: usize,
    /// When it is skipped if it has not started by then (the queue timeout).
    pub(super) queue_deadline: Option<Instant>,
    /// The client type (pool key) it waits for while parked as blocked.
    pub(super) blocked_on: Option<String>,
    /// Files its adapters uploaded, as the allocator routed them (also after the end).
    pub(super) files: BTreeSet<String>,
    /// Set once the case has ended and released what it held: its record (the actor is
    /// stopped then).
    pub(super) report: Option<CaseReport>,
}

/// The cases of one run, the order they were listed in, and which still wait.
pub(super) struct Run {
    pub(super) id: String,
    pub(super) order: Vec<String>,
    pub(super) cases: HashMap<String, CaseEntry>,
    /// Case ids still waiting for adapters, by rank (oldest first).
    pub(super) waiting: BTreeMap<usize, String>,
    /// The waiting cases an allocation pass looks at: not known to lack a client type.
    pub(super) ready: BTreeSet<usize>,
    /// Waiting cases parked until an adapter of a type (pool key) becomes idle.
    pub(super) blocked: HashMap<String, BTreeSet<usize>>,
    /// How many cases have ended.
    pub(super) ended: usize,
    /// When the run started.
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
            waiting: BTreeMap::new(),
            ready: BTreeSet::new(),
            blocked: HashMap::new(),
            ended: 0,
            report: None,
            releasing: false,
            released: false,
        }
    }

    pub(super) fn add(&mut self, id: String, entry: CaseEntry) {
        let rank = entry.rank;
        self.order.push(id.clone());
        self.waiting.insert(rank, id.clone());
        self.ready.insert(rank);
        self.cases.insert(id, entry);
    }

    pub(super) fn is_waiting(&self, id: &str) -> bool {
        self.cases.get(id).is_some_and(|c| self.waiting.contains_key(&c.rank))
    }

    pub(super) fn stop_waiting(&mut self, id: &str) {
        let Some(entry) = self.cases.get_mut(id) else { return };
        self.waiting.remove(&entry.rank);
        self.ready.remove(&entry.rank);
        if let Some(key) = entry.blocked_on.take() {
            if let Some(parked) = self.blocked.get_mut(&key) {
                parked.remove(&entry.rank);
                if parked.is_empty() {
                    self.blocked.remove(&key);
                }
            }
        }
    }

    /// Every waiting case goes: the run is being stopped.
    pub(super) fn clear_waiting(&mut self) {
        for id in std::mem::take(&mut self.waiting).into_values() {
            if let Some(entry) = self.cases.get_mut(&id) {
                entry.blocked_on = None;
            }
        }
        self.ready.clear();
        self.blocked.clear();
    }

    /// Puts a case whose start fell through back into the queue, in its original place.
    pub(super) fn wait_again(&mut self, id: &str) {
        let Some(entry) = self.cases.get(id) else { return };
        self.waiting.insert(entry.rank, id.to_string());
        self.ready.insert(entry.rank);
    }

    /// Parks a waiting case until an adapter of pool `key` becomes idle.
    pub(super) fn block(&mut self, rank: usize, key: String) {
        let Some(id) = self.waiting.get(&rank) else { return };
        let Some(entry) = self.cases.get_mut(id) else { return };
        self.ready.remove(&rank);
        self.blocked.entry(key.clone()).or_default().insert(rank);
        entry.blocked_on = Some(key);
    }

    /// An adapter of pool `key` became idle: the cases parked for it (and for any
    /// adapter at all, pool "") are looked at again.
    pub(super) fn unblock(&mut self, key: &str) {
        for k in [key, super::idle::ANY_TYPE] {
            if let Some(parked) = self.blocked.remove(k) {
                for rank in parked {
                    if let Some(entry) = self.waiting.get(&rank).and_then(|id| self.cases.get_mut(id)) {
                        entry.blocked_on = None;
                        self.ready.insert(rank);
                    }
                }
            }
        }
    }

    /// Records that case `id` ended with `report`; answers whether it had not before.
    pub(super) fn record_end(&mut self, id: &str, mut report: CaseReport) -> bool {
        let Some(entry) = self.cases.get_mut(id) else { return false };
        for file in &report.files {
            entry.files.insert(file.clone());
        }
        report.files = entry.files.iter().cloned().collect();
        let first = entry.report.is_none();
        entry.report = Some(report);
        if first {
            self.ended += 1;
        }
        first
    }

    /// Builds the report once every case has ended; answers whether it did just now.
    pub(super) fn conclude_if_done(&mut self) -> bool {
        if self.report.is_some() || self.ended < self.cases.len() {
            return false;
        }
        self.report = Some(RunReport { id: self.id.clone(), cases: self.current_reports() });
        true
    }

    /// The ended cases' records, in run order.
    pub(super) fn current_reports(&self) -> Vec<CaseReport> {
        self.order.iter().filter_map(|id| self.cases.get(id).and_then(|c| c.report.clone())).collect()
    }
}
