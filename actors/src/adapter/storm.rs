//! Poll storms: an adapter that does not know an action may neither answer nor report it,
//! and poll again at once; the pending action is handed out again each time (a repeat
//! after a lost answer is compat), so it would spin until the case's deadline. The same
//! action delivered [`STORM_DELIVERIES`] times within [`STORM_WINDOW`] fails it instead:
//! far more often than an adapter that restarted after a crash, or lost an answer, asks.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Deliveries of one action, within [`STORM_WINDOW`], that make a storm.
pub const STORM_DELIVERIES: usize = 20;
/// The window in which [`STORM_DELIVERIES`] deliveries make a storm.
pub const STORM_WINDOW: Duration = Duration::from_secs(3);

/// Recent deliveries of the pending action.
#[derive(Debug, Default)]
pub(super) struct StormDetector {
    action_id: String,
    deliveries: VecDeque<Instant>,
}

impl StormDetector {
    /// Notes one delivery of action `id`; answers whether it makes a storm.
    pub(super) fn delivered(&mut self, id: &str, now: Instant) -> bool {
        if self.action_id != id {
            self.action_id = id.to_string();
            self.deliveries.clear();
        }
        self.deliveries.push_back(now);
        while self.deliveries.front().is_some_and(|t| now.duration_since(*t) > STORM_WINDOW) {
            self.deliveries.pop_front();
        }
        self.deliveries.len() >= STORM_DELIVERIES
    }

    /// How a storm is reported.
    pub(super) fn message(action: &str, client_type: &str) -> String {
        format!(
            "did not perform {action}: it polled {STORM_DELIVERIES} times within {:.0} s without answering; \
             does {client_type} support this action?",
            STORM_WINDOW.as_secs_f64()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storm_is_many_deliveries_of_one_action_in_a_short_time() {
        let mut storm = StormDetector::default();
        let start = Instant::now();
        for i in 0..STORM_DELIVERIES - 1 {
            assert!(!storm.delivered("act-1", start + Duration::from_millis(i as u64)));
        }
        assert!(storm.delivered("act-1", start + Duration::from_millis(100)));
    }

    #[test]
    fn spread_out_repeats_and_a_new_action_start_over() {
        let mut storm = StormDetector::default();
        let start = Instant::now();
        for i in 0..STORM_DELIVERIES * 3 {
            let at = start + STORM_WINDOW / 5 * i as u32; // five a window: a slow re-poller
            assert!(!storm.delivered("act-1", at));
        }
        for _ in 0..STORM_DELIVERIES - 1 {
            assert!(!storm.delivered("act-2", start));
        }
        assert!(!storm.delivered("act-3", start), "a new action starts a new count");
    }
}
