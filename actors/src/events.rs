//! The event stream the actors publish as their state changes: what the dashboard's live
//! updates, the results written as cases end, and anyone else watching a run listen to.
//! A broadcast channel: publishing never waits for a listener, and a listener too slow to
//! keep up loses events (it is told how many) instead of slowing the actors down.

use crate::snapshot::{ActionRecord, CaseSnapshot, CaseState};
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Events kept for a listener that has fallen behind, before it starts losing them.
pub const EVENT_BACKLOG: usize = 4096;

/// One change in the run.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A case moved to another state.
    Case { id: String, test: String, from: CaseState, to: CaseState, at: u64 },
    /// A case has ended and released what it held: its final snapshot.
    CaseEnded { case: Arc<CaseSnapshot> },
    /// An action of a case completed (answered, failed or cancelled).
    Action { case_id: String, action: Arc<ActionRecord> },
    /// An adapter's state or current action changed.
    Adapter {
        uuid: String,
        client_type: String,
        /// The state before, `none` for an adapter that has just registered.
        from: &'static str,
        to: &'static str,
        case_id: Option<String>,
        action: Option<String>,
        at: u64,
    },
}

impl Event {
    /// The SSE event name of this event.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Case { .. } => "case",
            Event::CaseEnded { .. } => "case_ended",
            Event::Action { .. } => "action",
            Event::Adapter { .. } => "adapter",
        }
    }
}

/// Where actors publish events; cloning it is cheap and every clone publishes to the same
/// listeners.
///
/// Listeners that want only the ends of cases (the results writer) listen on a channel of
/// their own: on the stream of every event they would be woken several times per action
/// (an adapter's state changes twice, and the action is told) to throw those away.
#[derive(Clone, Debug)]
pub struct EventBus {
    all: broadcast::Sender<Event>,
    case_ends: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus { all: broadcast::channel(EVENT_BACKLOG).0, case_ends: broadcast::channel(EVENT_BACKLOG).0 }
    }
}

impl EventBus {
    /// Publishes `event` to every listener there is now (none is fine).
    pub fn publish(&self, event: Event) {
        if matches!(event, Event::CaseEnded { .. }) && self.case_ends.receiver_count() > 0 {
            let _ = self.case_ends.send(event.clone());
        }
        let _ = self.all.send(event);
    }

    /// A new listener, which hears every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.all.subscribe()
    }

    /// A new listener that hears only [`Event::CaseEnded`], each one published from now on.
    pub fn subscribe_case_ends(&self) -> broadcast::Receiver<Event> {
        self.case_ends.subscribe()
    }

    /// How many listeners of every event there are now (publishers may skip building an
    /// event nobody hears).
    pub fn listeners(&self) -> usize {
        self.all.receiver_count()
    }
}
