//! The result of a run: every case's final snapshot, and the summary printed at the end.

use crate::snapshot::{CaseSnapshot, CaseState};
use std::fmt::Write;

/// How many of a failed case's last log lines the summary shows.
pub const SUMMARY_LOG_LINES: usize = 10;

/// A case as reports see it: its final snapshot.
pub type CaseReport = CaseSnapshot;

/// Every case of a run, in the order the run listed them.
#[derive(Clone, Debug, Default)]
pub struct RunReport {
    pub id: String,
    pub cases: Vec<CaseReport>,
}

impl RunReport {
    /// Whether the run had cases and every one succeeded (the process exits 0 only then).
    pub fn succeeded(&self) -> bool {
        !self.cases.is_empty() && self.cases.iter().all(|c| c.state == CaseState::Success)
    }

    /// The cases grouped per test, tests in order of first appearance.
    pub fn by_test(&self) -> Vec<(&str, Vec<&CaseReport>)> {
        let mut groups: Vec<(&str, Vec<&CaseReport>)> = Vec::new();
        for case in &self.cases {
            match groups.iter_mut().find(|(t, _)| *t == case.test) {
                Some((_, cases)) => cases.push(case),
                None => groups.push((&case.test, vec![case])),
            }
        }
        groups
    }

    /// The end-of-run summary, laid out as the original printed it: per test its
    /// successes, each case with its state and, if it did not succeed, its errors and the
    /// last lines of its log; then `Overall: N/M succeeded`.
    pub fn summary(&self) -> String {
        let mut out = String::from("Results:\n");
        let mut passed = 0;
        for (test, cases) in self.by_test() {
            let ok = cases.iter().filter(|c| c.state == CaseState::Success).count();
            passed += ok;
            let _ = writeln!(out, "\n{test}: {ok}/{} successful", cases.len());
            for case in cases {
                let _ = writeln!(out, "  {} ({}): {}", case.label(), case.id, case.state);
                if case.state != CaseState::Success {
                    for line in case.errors.iter().flat_map(|e| e.lines()) {
                        let _ = writeln!(out, "    {line}");
                    }
                    if !case.log.is_empty() {
                        let tail = &case.log[case.log.len().saturating_sub(SUMMARY_LOG_LINES)..];
                        let _ = writeln!(out, "    last {} of {} log lines:", tail.len(), case.log.len());
                        for line in tail {
                            let _ = writeln!(out, "      {line}");
                        }
                    }
                }
            }
        }
        let _ = writeln!(out, "\nOverall: {passed}/{} succeeded", self.cases.len());
        out
    }
}
