//! The adapter's own bookkeeping: what a poll is answered, holding and waking long
//! polls, finishing, failing, and its liveness.

use super::*;

impl AdapterActor {
    /// A fresh, unallocated adapter.
    pub fn new(
        uuid: String,
        registration: Arc<Registration>,
        allocator: Addr<Allocator>,
        timeouts: Timeouts,
        events: EventBus,
        cell: Arc<AdapterCell>,
        metrics: Arc<RunMetrics>,
    ) -> Self {
        AdapterActor {
            uuid,
            registration,
            allocator,
            timeouts,
            registered_at: SystemTime::now(),
            last_seen: Instant::now(),
            last_poll: None,
            last_response: None,
            assignment: None,
            finished: None,
            pending: None,
            waiters: Vec::new(),
            next_waiter: 0,
            remembered_error: None,
            actions_done: 0,
            next_action: 0,
            expiry_reported: false,
            liveness_timer: None,
            liveness_generation: 0,
            storm: Default::default(),
            events,
            published_state: "none",
            cell,
            metrics,
        }
    }

    /// `idle` (waiting for a case), `reserved` (given to a case, no action pending),
    /// `busy` (an action pending) or `finished`.
    pub(super) fn state_name(&self) -> &'static str {
        match (&self.finished, &self.assignment, &self.pending) {
            (Some(_), _, _) => FINISHED,
            (None, Some(_), Some(_)) => BUSY,
            (None, Some(_), None) => RESERVED,
            (None, None, _) => IDLE,
        }
    }

    /// Publishes the adapter's state if it changed since it was last published.
    pub(super) fn publish_state(&mut self) {
        let state = self.state_name();
        if state != self.published_state || state == BUSY {
            self.publish_change(state);
        }
    }

    pub(super) fn publish_change(&mut self, to: &'static str) {
        let from = std::mem::replace(&mut self.published_state, to);
        self.cell.set(to);
        if self.events.listeners() == 0 {
            return; // nobody watches every event now (the dashboard's live view may later)
        }
        self.events.publish(Event::Adapter {
            uuid: self.uuid.clone(),
            client_type: self.registration.get("type").and_then(Value::as_str).unwrap_or_default().to_string(),
            from,
            to,
            case_id: self.assignment.as_ref().map(|a| a.case_id.clone()),
            action: self.pending.as_ref().map(|p| p.action.clone()),
            at: unix_millis(SystemTime::now()),
        });
    }

    /// Writes how an action ended into its case's action log (the case's journal: no
    /// message to the case, whose thread need not wake for it).
    pub(super) fn record_action(&self, pending: &Pending, result: Result<&Value, &ActionError>) {
        if let Some(record) = self.action_record(pending, result) {
            pending.journal.action(record);
        }
    }

    /// The action log's entry for how `pending` ended.
    pub(super) fn action_record(
        &self,
        pending: &Pending,
        result: Result<&Value, &ActionError>,
    ) -> Option<Arc<ActionRecord>> {
        let a = self.assignment.as_ref()?;
        let duration = pending.sent_at.elapsed().unwrap_or_default();
        Some(Arc::new(ActionRecord {
            client: a.client.clone(),
            uuid: self.uuid.clone(),
            action: pending.action.clone(),
            data: pending.data.clone(),
            sent_at: unix_millis(pending.sent_at),
            duration_ms: duration.as_millis() as u64,
            response: result.ok().cloned(),
            error: result.err().map(ToString::to_string),
        }))
    }

    pub(super) fn client_name(&self) -> String {
        match &self.assignment {
            Some(a) => format!("{} (adapter {})", a.client, self.uuid),
            None => format!("adapter {}", self.uuid),
        }
    }

    /// The answer a poll gets now, if it need not wait: `exit`, or the pending action.
    pub(super) fn ready_answer(&self) -> Option<PollAnswer> {
        if let Some(reason) = &self.finished {
            return Some(PollAnswer::exit(reason));
        }
        self.pending.as_ref().map(|p| PollAnswer {
            action: p.action.clone(),
            data: p.data.clone(),
            id: Some(p.id.clone()),
        })
    }

    pub(super) fn idle_answer(&self) -> PollAnswer {
        if self.assignment.is_some() {
            PollAnswer::idle(ALLOCATED_POLL_DELAY_MS, "waiting for action from test case")
        } else {
            PollAnswer::idle(UNALLOCATED_POLL_DELAY_MS, "waiting for testcase")
        }
    }

    /// The idle answer of a long poll whose wait is over: the adapter has already waited,
    /// so it is told to poll again at once (`delay` 0) rather than sleep on top of it.
    pub(super) fn waited_idle_answer(&self) -> PollAnswer {
        let mut answer = self.idle_answer();
        answer.data["delay"] = 0.into();
        answer
    }

    /// Answers at once if there is something to say, else holds the request up to `wait`.
    pub(super) fn answer(&mut self, wait: Option<Duration>, ctx: &mut Context<Self>) -> PollReply {
        self.check_poll_storm(ctx);
        if let Some(answer) = self.ready_answer() {
            self.note_delivered(&answer);
            return PollReply::Now(answer);
        }
        let Some(wait) = wait else {
            return PollReply::Now(self.idle_answer());
        };
        let (tx, rx) = oneshot::channel();
        let id = self.next_waiter;
        self.next_waiter += 1;
        // Drop waiters whose HTTP request has gone, so disconnecting clients leak nothing.
        self.waiters.retain(|w| {
            let open = !w.reply.is_closed();
            if !open {
                ctx.cancel_future(w.timer);
            }
            open
        });
        let timer = ctx.run_later(wait, move |act, _| {
            if let Some(pos) = act.waiters.iter().position(|w| w.id == id) {
                let waiter = act.waiters.swap_remove(pos);
                let _ = waiter.reply.send(act.waited_idle_answer());
            }
        });
        self.waiters.push(Waiter { id, since: Instant::now(), reply: tx, timer });
        PollReply::Held { answer: rx, fallback: self.waited_idle_answer() }
    }

    /// Hands what a poll would now answer to every held poll, and cancels their timers
    /// (an actor's context polls every pending timer on each message, so spent ones must
    /// not pile up at thousands of actions a second).
    pub(super) fn wake_waiters(&mut self, ctx: &mut Context<Self>) {
        let Some(answer) = self.ready_answer() else { return };
        let mut delivered = false;
        for waiter in self.waiters.drain(..) {
            ctx.cancel_future(waiter.timer);
            delivered |= waiter.reply.send(answer.clone()).is_ok();
        }
        if delivered {
            self.note_delivered(&answer);
        }
    }

    /// Fails the pending action if handing it out once more makes a poll storm (see
    /// [`storm`](super::storm)); the poll is then answered `exit`.
    fn check_poll_storm(&mut self, ctx: &mut Context<Self>) {
        let Some(pending) = self.pending.as_ref().filter(|_| self.finished.is_none()) else { return };
        if !self.storm.delivered(&pending.id, Instant::now()) {
            return;
        }
        let client_type = self.registration.get("type").and_then(Value::as_str).unwrap_or("this client");
        let details = storm::StormDetector::message(&pending.action, client_type);
        log::warn!("{}: {details}", self.client_name());
        self.fail(ActionError::Failed { client: self.client_name(), details, path: String::new() }, ctx);
    }

    /// Marks the pending action as delivered once a poll answer has carried it: only then
    /// may a respond complete it (an adapter that responds to `idle` must not complete an
    /// action it never saw).
    pub(super) fn note_delivered(&mut self, answer: &PollAnswer) {
        if let (Some(id), Some(pending)) = (&answer.id, self.pending.as_mut()) {
            if !pending.delivered && *id == pending.id {
                pending.delivered = true;
                crate::metrics::ACT_TO_DELIVERED.record(pending.asked_at.elapsed());
            }
        }
    }

    /// Ends the adapter's part: the pending action fails with `error` (and is written into
    /// its case's journal so), polls answer `exit`.
    pub(super) fn finish(&mut self, reason: String, error_for_pending: ActionError, ctx: &mut Context<Self>) {
        if let Some(p) = self.pending.take() {
            self.metrics.action_ended(p.sent_at.elapsed().unwrap_or_default(), true);
            self.record_action(&p, Err(&error_for_pending));
            let _ = p.reply.send(Performed { result: Err(error_for_pending), responded_at: None });
        }
        if self.finished.is_none() {
            self.finished = Some(reason);
        }
        self.publish_state();
        self.wake_waiters(ctx);
    }

    /// The adapter is finished by `error`: its case ends at once (its siblings are told to
    /// exit rather than left to their own timeouts), and the error is remembered for a
    /// test that asks this client for something afterwards.
    pub(super) fn fail(&mut self, error: ActionError, ctx: &mut Context<Self>) {
        if matches!(error, ActionError::Timeout { .. }) && self.finished.is_none() {
            self.metrics.adapters_timed_out.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.remembered_error = Some(error.clone());
        // The failed action goes into the case's journal in `finish` below, before the case
        // can have this adapter's answer to the `Finish` its end sends: so before its record
        // is taken.
        let error_for_pending = error.clone();
        if let Some(a) = &self.assignment {
            a.case.do_send(case::AdapterFailed { client: a.client.clone(), error });
        }
        let reason = format!("adapter finished after an error: {error_for_pending}");
        self.finish(reason, error_for_pending, ctx);
    }

    /// Checks the adapter's liveness when its current deadline is due: `idle` after its last
    /// sign of life while unallocated, `active` once allocated. A deadline that moved (the
    /// adapter polled meanwhile) is simply checked again later, so there is one timer per
    /// adapter and an expiry is noticed the moment it happens, not up to a period late.
    pub(super) fn watch_liveness(&mut self, ctx: &mut Context<Self>) {
        self.check_liveness(self.liveness_generation, ctx);
    }

    /// One liveness check of chain `generation`; checks of a chain that was restarted
    /// since do nothing (actix may still run a timer cancelled in the same poll).
    fn check_liveness(&mut self, generation: u64, ctx: &mut Context<Self>) {
        if generation != self.liveness_generation || self.finished.is_some() || self.expiry_reported {
            return;
        }
        if self.waiters.iter().any(|w| !w.reply.is_closed()) {
            self.last_seen = Instant::now(); // a held long poll is an adapter that is alive
        }
        let limit = match (&self.assignment, self.last_poll) {
            (Some(_), _) => self.timeouts.active,
            (None, Some(_)) => self.timeouts.idle,
            // Adapters register before their client has started (Cypress, a browser): the
            // first poll may come well after registration.
            (None, None) => self.timeouts.idle.checked_mul(FIRST_POLL_GRACE_FACTOR).unwrap_or(Duration::MAX),
        };
        let silent = self.last_seen.elapsed();
        if silent <= limit {
            // Held polls are rechecked often enough to notice their client going away.
            let next = (limit - silent).min(limit / 4).max(MIN_LIVENESS_CHECK);
            self.liveness_timer = Some(ctx.run_later(next, move |act, ctx| act.check_liveness(generation, ctx)));
        } else if self.assignment.is_none() {
            // Dropped: the adapter's own decision (an Assign on its way finds the actor
            // gone and counts as a refusal); the allocator forgets it.
            log::info!("adapter {} has not polled for {:?}: dropped", self.uuid, silent);
            self.expiry_reported = true;
            let last = Box::new(self.snapshot());
            self.allocator.do_send(allocator::AdapterLeft { uuid: self.uuid.clone(), dropped: Some(last) });
            ctx.stop();
        } else {
            let reason = format!("adapter has neither polled nor responded for {:.1} s", silent.as_secs_f64());
            self.fail(ActionError::Timeout { client: self.client_name(), reason }, ctx);
        }
    }

    /// Recomputes the liveness deadline now (its limit changed: first poll, allocation),
    /// keeping a single pending check.
    pub(super) fn rewatch_liveness(&mut self, ctx: &mut Context<Self>) {
        if let Some(timer) = self.liveness_timer.take() {
            ctx.cancel_future(timer);
        }
        self.liveness_generation += 1;
        self.expiry_reported = false;
        self.watch_liveness(ctx);
    }

    pub(super) fn action_deadline_passed(&mut self, id: &str, after: Duration, ctx: &mut Context<Self>) {
        if self.pending.as_ref().is_some_and(|p| p.id == id) {
            let action = self.pending.as_ref().map(|p| p.action.clone()).unwrap_or_default();
            let reason = format!("action '{action}' did not complete within {:.1} s", after.as_secs_f64());
            self.fail(ActionError::Timeout { client: self.client_name(), reason }, ctx);
        }
    }
}

impl AdapterActor {
    /// Whether a respond naming `id` (if any) may complete the pending action.
    pub(super) fn check_respond(&self, id: Option<&str>) -> Result<(), RespondError> {
        if self.assignment.is_none() {
            return Err(RespondError::NotAllocated(self.uuid.clone()));
        }
        let Some(pending) = self.pending.as_ref() else {
            return Err(RespondError::NothingPending(self.uuid.clone()));
        };
        if !pending.delivered {
            return Err(RespondError::NotDelivered { uuid: self.uuid.clone(), pending: pending.action.clone() });
        }
        match id {
            Some(given) if given != pending.id => Err(RespondError::StaleId {
                uuid: self.uuid.clone(),
                given: given.to_string(),
                pending: pending.id.clone(),
            }),
            _ => Ok(()),
        }
    }
}
