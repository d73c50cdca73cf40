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
#[derive(Clone, Debug)]
pub struct EventBus(broadcast::Sender<Event>);

impl Default for EventBus {
    fn default() -> Self {
        EventBus(broadcast::channel(EVENT_BACKLOG).0)
    }
}

impl EventBus {
    /// Publishes `event` to every listener there is now (none is fine).
    pub fn publish(&self, event: Event) {
        let _ = self.0.send(event);
    }

    /// A new listener, which hears every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.0.subscribe()
    }

    /// How many listeners there are now.
    pub fn listeners(&self) -> usize {
        self.0.receiver_count()
    }
}
