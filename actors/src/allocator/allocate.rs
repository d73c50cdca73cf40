//! The allocation pass and the end of the run: who runs what, and when it is all over.

use super::*;
use std::time::Instant;

impl Allocator {
    /// Gives idle adapters to waiting cases, oldest case first. The oldest cases that cannot
    /// start yet for want of more adapters (up to [`RESERVING_CASES`]) keep those of their
    /// best partial matching from younger cases, so a case needing three adapters is not
    /// starved by a stream of one-adapter cases. A case with a slot that no idle adapter can
    /// fill at all holds nothing back: it could not start anyway, and must not stall cases
    /// that can. Bounding the reserving cases keeps one event's cost linear in the waiting
    /// cases rather than quadratic in the adapters. Such a case is parked by the client
    /// type it lacks until an adapter of that type is idle, so the cases a pass looks at are
    /// only those that might start.
    ///
    /// Answers, per case it proposed adapters to, a receiver that fires once those have
    /// answered and the case has started (or gone back to the queue).
    pub(super) fn allocate(&mut self, ctx: &mut Context<Self>) -> Vec<oneshot::Receiver<()>> {
        let Some(run) = self.run.as_ref() else { return Vec::new() };
        if run.ready.is_empty() || self.idle.len() == 0 {
            return Vec::new();
        }
        // Adapters held back for older cases, or given to a case earlier in this pass.
        let mut taken: HashSet<String> = HashSet::new();
        let mut known_unmet: HashSet<String> = HashSet::new();
        let mut reserving = 0;
        let mut starting: Vec<(String, Vec<String>)> = Vec::new();
        let mut blocked: Vec<(usize, String)> = Vec::new();
        for rank in &run.ready {
            if self.idle.len() <= taken.len() {
                break;
            }
            let case_id = &run.waiting[rank];
            let slots = &run.cases[case_id].slots;
            if let Some(unmet) =
                slots.iter().find(|slot| !self.idle.can_meet(&slot.requirement, &self.adapters, &mut known_unmet))
            {
                blocked.push((*rank, idle::pool_key(&unmet.requirement).to_string()));
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
        if let Some(run) = self.run.as_mut() {
            for (rank, key) in blocked {
                run.block(rank, key);
            }
        }
        starting.into_iter().map(|(case_id, uuids)| self.start_case(&case_id, uuids, ctx)).collect()
    }

    /// Puts a known, running adapter into the idle index, and looks again at the cases
    /// parked for want of its type.
    pub(super) fn make_idle(&mut self, uuid: &str) {
        let Some(entry) = self.adapters.get(uuid).filter(|e| !e.retiring) else { return };
        self.idle.insert(entry.seq, uuid, &entry.registration);
        if let (Some(run), Some(key)) = (self.run.as_mut(), entry.registration.get("type").and_then(Value::as_str)) {
            run.unblock(key);
        }
    }

    /// Retires a finished adapter: its actor hands over its record, which replaces it in
    /// the registry (late polls are answered `exit`, late uploads still stored), and stops.
    pub(super) fn retire_adapter(&mut self, uuid: &str, ctx: &mut Context<Self>) {
        let Some(entry) = self.adapters.get_mut(uuid).filter(|e| !e.retiring) else { return };
        entry.retiring = true;
        self.idle.remove(entry.seq, &entry.registration);
        let (uuid, addr) = (uuid.to_string(), entry.addr.clone());
        let retired = addr.send(adapter::Retire).into_actor(self).map(move |record, act, _| {
            match record {
                Ok(record) => {
                    // Registry first: a request that finds the actor stopped reads it again.
                    act.registry.insert(uuid.clone(), Entry::Retired(Arc::new(record)));
                    addr.do_send(adapter::Stop);
                }
                // It stopped on its own (dropped for silence): it is forgotten already.
                Err(_) => {
                    if matches!(act.registry.get(&uuid), Some(Entry::Live(_))) {
                        act.registry.remove(&uuid);
                    }
                }
            }
            act.adapters.remove(&uuid);
        });
        ctx.spawn(retired);
    }

    /// Keeps one timer, for the earliest queue deadline of a waiting case.
    pub(super) fn arm_queue_timer(&mut self, ctx: &mut Context<Self>) {
        if let Some(timer) = self.queue_timer.take() {
            ctx.cancel_future(timer);
        }
        let Some((deadline, _)) = self.queue_deadlines.front() else { return };
        let after = deadline.saturating_duration_since(Instant::now());
        self.queue_timer = Some(ctx.run_later(after, |act, ctx| {
            act.queue_timer = None;
            let now = Instant::now();
            let mut skipped = false;
            while act.queue_deadlines.front().is_some_and(|(d, _)| *d <= now) {
                let (_, case_id) = act.queue_deadlines.pop_front().expect("checked");
                if act.run.as_ref().is_some_and(|r| r.is_waiting(&case_id)) {
                    act.skip_for_queue(&case_id);
                    skipped = true;
                }
            }
            if skipped {
                // What those cases held back from younger cases is free again.
                act.allocate(ctx);
            }
            act.arm_queue_timer(ctx);
        }));
    }

    /// A case as views show it: its record once ended, else its actor's view.
    pub(super) fn case_view(&self, run: &Run, id: &str) -> futures::future::BoxFuture<'static, Option<CaseSnapshot>> {
        use futures::FutureExt;
        let Some(entry) = run.cases.get(id) else { return futures::future::ready(None).boxed() };
        if let Some(report) = &entry.report {
            return futures::future::ready(Some(report.clone())).boxed();
        }
        let request = entry.addr.send(case::Snapshot);
        async move { request.await.ok() }.boxed()
    }

    /// Proposes the matched adapters to the case: each confirms or refuses (it may have
    /// left since the allocator chose it). The case starts if all confirm; otherwise those
    /// that confirmed are idle again and the case goes back to its place in the queue.
    pub(super) fn start_case(
        &mut self,
        case_id: &str,
        uuids: Vec<String>,
        ctx: &mut Context<Self>,
    ) -> oneshot::Receiver<()> {
        let (done, answered) = oneshot::channel();
        let Some(run) = self.run.as_mut() else { return answered };
        run.stop_waiting(case_id);
        let entry = &run.cases[case_id];
        let files_dir = self.output_dir.join(case_id);
        let mut clients = Vec::new();
        let mut answers = Vec::new();
        for (slot, uuid) in entry.slots.iter().zip(uuids) {
            let adapter = self.adapters.get(&uuid).expect("matched adapters are known");
            self.idle.remove(adapter.seq, &adapter.registration);
            answers.push(adapter.addr.send(adapter::Assign {
                case: entry.addr.clone(),
                case_id: case_id.to_string(),
                client: slot.name.clone(),
                files_dir: files_dir.clone(),
            }));
            clients.push(case::AssignedClient {
                name: slot.name.clone(),
                uuid,
                registration: adapter.registration.clone(),
                adapter: adapter.addr.clone(),
                registry: self.registry.clone(),
            });
        }
        let case_id = case_id.to_string();
        let confirmed = join_all(answers).into_actor(self).map(move |answers, act, ctx| {
            let confirmed: Vec<bool> = answers.into_iter().map(|a| a.unwrap_or(false)).collect();
            act.assignments_answered(case_id, clients, confirmed, ctx);
            let _ = done.send(());
        });
        ctx.spawn(confirmed);
        answered
    }

    /// The waiting cases in the order they are served, each slot with its idle matches.
    pub(super) fn queue(&self) -> Vec<QueuedCase> {
        let Some(run) = self.run.as_ref() else { return Vec::new() };
        let none = HashSet::new();
        run.waiting
            .values()
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

    fn assignments_answered(
        &mut self,
        case_id: String,
        clients: Vec<case::AssignedClient>,
        confirmed: Vec<bool>,
        ctx: &mut Context<Self>,
    ) {
        let Some(run) = self.run.as_mut() else { return };
        let Some(entry) = run.cases.get(&case_id) else { return };
        if confirmed.iter().all(|c| *c) {
            log::info!(
                "case {case_id} starts with {}",
                clients.iter().map(|c| format!("{}={}", c.name, c.uuid)).collect::<Vec<_>>().join(", ")
            );
            entry.addr.do_send(case::Start { clients });
            return;
        }
        let refused: Vec<&str> =
            clients.iter().zip(&confirmed).filter(|(_, c)| !**c).map(|(c, _)| c.uuid.as_str()).collect();
        log::info!("case {case_id}: adapters {} left before the case could start; it waits again", refused.join(", "));
        let back_in_queue = entry.report.is_none() && !self.stopping;
        let queue_expired = entry.queue_deadline.is_some_and(|d| d <= Instant::now());
        for (client, ok) in clients.iter().zip(&confirmed) {
            if *ok {
                client.adapter.do_send(adapter::Unassign);
                self.make_idle(&client.uuid);
            }
        }
        if back_in_queue && queue_expired {
            self.skip_for_queue(&case_id);
        } else if let (true, Some(run)) = (back_in_queue, self.run.as_mut()) {
            run.wait_again(&case_id);
        }
        self.allocate(ctx);
    }

    pub(super) fn skip_for_queue(&mut self, case_id: &str) {
        let Some(run) = self.run.as_mut() else { return };
        run.stop_waiting(case_id);
        let waited = self.timeouts.queue.unwrap_or_default().as_secs_f64();
        run.cases[case_id].addr.do_send(case::Skip {
            reason: format!("no matching adapters registered within the queue timeout ({waited} s)"),
        });
    }

    pub(super) fn check_run_end(&mut self, ctx: &mut Context<Self>) {
        let Some(run) = self.run.as_mut() else { return };
        if !run.conclude_if_done() {
            return;
        }
        log::info!("run {} has ended; telling every adapter to exit", run.id);
        // Adapters already finished ignore this: their first reason stays.
        let running: Vec<String> = self.adapters.keys().cloned().collect();
        for uuid in running {
            self.adapters[&uuid].addr.do_send(adapter::Finish { reason: "all test cases have ended".into() });
            self.retire_adapter(&uuid, ctx);
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

    /// Hands the report to whoever waits for the end of the run, once, with the cases'
    /// records as they are now: files uploaded during the exit grace belong in it.
    pub(super) fn release_report(&mut self, _ctx: &mut Context<Self>) {
        let Some(run) = self.run.as_mut() else { return };
        if run.report.is_none() || run.releasing {
            return;
        }
        run.releasing = true;
        let cases = run.current_reports();
        let Some(report) = run.report.as_mut() else { return };
        report.cases = cases;
        run.released = true;
        for waiter in self.run_end_waiters.drain(..) {
            let _ = waiter.send(report.clone());
        }
    }
}
