//! The allocation pass and the end of the run: who runs what, and when it is all over.

use super::*;

impl Allocator {
    /// Gives idle adapters to waiting cases, oldest case first. The oldest cases that cannot
    /// start yet for want of more adapters (up to [`RESERVING_CASES`]) keep those of their
    /// best partial matching from younger cases, so a case needing three adapters is not
    /// starved by a stream of one-adapter cases. A case with a slot that no idle adapter can
    /// fill at all holds nothing back: it could not start anyway, and must not stall cases
    /// that can. Bounding the reserving cases keeps one event's cost linear in the waiting
    /// cases rather than quadratic in the adapters.
    pub(super) fn allocate(&mut self) {
        let Some(run) = self.run.as_ref() else { return };
        if run.waiting.is_empty() || self.idle.len() == 0 {
            return;
        }
        // Adapters held back for older cases, or given to a case earlier in this pass.
        let mut taken: HashSet<String> = HashSet::new();
        let mut known_unmet: HashSet<String> = HashSet::new();
        let mut reserving = 0;
        let mut starting: Vec<(String, Vec<String>)> = Vec::new();
        for case_id in &run.waiting {
            if self.idle.len() <= taken.len() {
                break;
            }
            let slots = &run.cases[case_id].slots;
            if !slots.iter().all(|slot| self.idle.can_meet(&slot.requirement, &self.adapters, &mut known_unmet)) {
                continue;
            }
            let candidates: Vec<Vec<String>> = slots
                .iter()
                .map(|slot| self.idle.candidates(&slot.requirement, slots.len(), &taken, &self.adapters))
                .collect();
            let matching = maximum_matching(&candidates);
            let complete = matching.iter().all(Option::is_some);
            if complete {
                taken.extend(matching.iter().flatten().cloned());
                starting.push((case_id.clone(), matching.into_iter().flatten().collect()));
            } else if reserving < RESERVING_CASES {
                reserving += 1;
                taken.extend(matching.into_iter().flatten());
            }
        }
        for (case_id, uuids) in starting {
            self.start_case(&case_id, uuids);
        }
    }

    pub(super) fn start_case(&mut self, case_id: &str, uuids: Vec<String>) {
        let Some(run) = self.run.as_mut() else { return };
        run.stop_waiting(case_id);
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
    }

    /// The waiting cases in the order they are served, each slot with its idle matches.
    pub(super) fn queue(&self) -> Vec<QueuedCase> {
        let Some(run) = self.run.as_ref() else { return Vec::new() };
        let none = HashSet::new();
        run.waiting
            .iter()
            .map(|id| QueuedCase {
                id: id.clone(),
                slots: run.cases[id]
                    .slots
                    .iter()
                    .map(|slot| SlotWait {
                        name: slot.name.clone(),
                        requirement: slot.requirement.to_string(),
                        idle_matching: self
                            .idle
                            .candidates(&slot.requirement, QUEUE_COUNT_LIMIT, &none, &self.adapters)
                            .len(),
                    })
                    .collect(),
            })
            .collect()
    }

    pub(super) fn queue_expired(&mut self, case_id: &str) {
        let Some(run) = self.run.as_mut() else { return };
        if !run.is_waiting(case_id) {
            return;
        }
        run.stop_waiting(case_id);
        let waited = self.timeouts.queue.unwrap_or_default().as_secs_f64();
        run.cases[case_id].addr.do_send(case::Skip {
            reason: format!("no matching adapters registered within the queue timeout ({waited} s)"),
        });
        // What this case held back from younger cases is free again.
        self.allocate();
    }

    pub(super) fn check_run_end(&mut self, ctx: &mut Context<Self>) {
        let Some(run) = self.run.as_mut() else { return };
        if !run.conclude_if_done() {
            return;
        }
        log::info!("run {} has ended; telling every adapter to exit", run.id);
        for entry in self.adapters.values_mut() {
            if entry.status != AdapterStatus::Finished {
                entry.status = AdapterStatus::Finished;
                entry.addr.do_send(adapter::Finish { reason: "all test cases have ended".into() });
            }
        }
        self.idle = IdleIndex::default();
        // Adapters upload their logs and videos after they are told to exit (Element Web
        // once Cypress has finished, Element Call in its `finally`): the server stays up
        // for the whole grace period so that those arrive.
        // A run stopped by a signal does not wait: whoever stops it wants the report now.
        if self.timeouts.exit_grace.is_zero() || self.stopping {
            self.release_report(ctx);
        } else {
            ctx.run_later(self.timeouts.exit_grace, |act, ctx| act.release_report(ctx));
        }
    }

    /// Hands the report to whoever waits for the end of the run, once. The cases are
    /// asked again first: files uploaded during the exit grace belong in the report.
    pub(super) fn release_report(&mut self, ctx: &mut Context<Self>) {
        let Some(run) = self.run.as_mut() else { return };
        if run.report.is_none() || run.releasing {
            return;
        }
        run.releasing = true;
        let fresh: Vec<_> =
            run.order.iter().filter_map(|id| run.cases.get(id)).map(|c| c.addr.send(case::Snapshot)).collect();
        ctx.spawn(join_all(fresh).into_actor(self).map(|fresh, act, _| {
            let Some(run) = act.run.as_mut() else { return };
            let Some(report) = run.report.as_mut() else { return };
            for (case, snapshot) in report.cases.iter_mut().zip(fresh) {
                if let Ok(snapshot) = snapshot {
                    *case = snapshot;
                }
            }
            run.released = true;
            for waiter in act.run_end_waiters.drain(..) {
                let _ = waiter.send(report.clone());
            }
        }));
    }
}
