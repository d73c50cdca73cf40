//! The coordinator's own latencies, measured where they happen and kept in atomic
//! histograms (no lock, no actor: recording is a few relaxed atomic adds). Read with
//! [`snapshot`]; served as JSON at `GET /status/metrics.json`.

use serde::Serialize;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Upper bounds of the buckets, in microseconds; a last bucket takes everything above.
pub const BOUNDS_US: [u64; 20] = [
    10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000,
    2_000_000, 5_000_000, 10_000_000, 60_000_000,
];
const BUCKETS: usize = BOUNDS_US.len() + 1;

/// Upper bounds, in microseconds, for times people wait on (cases waiting for adapters,
/// homeservers being provisioned): 0.1 s to an hour.
pub const WAIT_BOUNDS_US: [u64; 11] = [
    100_000,
    500_000,
    1_000_000,
    5_000_000,
    10_000_000,
    30_000_000,
    60_000_000,
    300_000_000,
    900_000_000,
    1_800_000_000,
    3_600_000_000,
];

/// A latency histogram.
pub struct Histogram {
    pub name: &'static str,
    pub help: &'static str,
    /// Upper bounds of its buckets, in microseconds (at most [`BOUNDS_US`]'s count).
    bounds: &'static [u64],
    buckets: [AtomicU64; BUCKETS],
    count: AtomicU64,
    sum_us: AtomicU64,
    max_us: AtomicU64,
}

impl Histogram {
    const fn new(name: &'static str, help: &'static str) -> Self {
        Self::with_bounds(name, help, &BOUNDS_US)
    }

    /// A histogram with buckets up to `bounds` (microseconds, ascending, at most 20).
    pub const fn with_bounds(name: &'static str, help: &'static str, bounds: &'static [u64]) -> Self {
        assert!(bounds.len() < BUCKETS, "too many bounds");
        Histogram {
            name,
            help,
            bounds,
            buckets: [const { AtomicU64::new(0) }; BUCKETS],
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn record(&self, took: Duration) {
        let us = took.as_micros().min(u64::MAX as u128) as u64;
        let at = self.bounds.iter().position(|b| us <= *b).unwrap_or(self.bounds.len());
        self.buckets[at].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// The histogram as it stands.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let counts: Vec<u64> = self.buckets[..=self.bounds.len()].iter().map(|b| b.load(Ordering::Relaxed)).collect();
        let count = counts.iter().sum();
        let quantile = |q: f64| -> Option<u64> {
            if count == 0 {
                return None;
            }
            let rank = ((count as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return Some(self.bounds.get(i).copied().unwrap_or(self.max_us.load(Ordering::Relaxed)));
                }
            }
            None
        };
        HistogramSnapshot {
            name: self.name,
            help: self.help,
            count,
            sum_us: self.sum_us.load(Ordering::Relaxed),
            max_us: self.max_us.load(Ordering::Relaxed),
            p50_le_us: quantile(0.5),
            p99_le_us: quantile(0.99),
            buckets: self
                .bounds
                .iter()
                .map(|b| Some(*b))
                .chain([None])
                .zip(counts)
                .map(|(le_us, count)| Bucket { le_us, count })
                .collect(),
        }
    }
}

/// One bucket: how many observations were at most `le_us` microseconds (and above the
/// previous bound); `le_us` is `None` for the last, unbounded one. Not cumulative.
#[derive(Clone, Debug, Serialize)]
pub struct Bucket {
    pub le_us: Option<u64>,
    pub count: u64,
}

/// A histogram at one moment. The quantiles are bucket bounds: "at most this".
#[derive(Clone, Debug, Serialize)]
pub struct HistogramSnapshot {
    pub name: &'static str,
    pub help: &'static str,
    pub count: u64,
    pub sum_us: u64,
    pub max_us: u64,
    pub p50_le_us: Option<u64>,
    pub p99_le_us: Option<u64>,
    pub buckets: Vec<Bucket>,
}

/// From a test's `act()` (the body asking its client) to the action leaving the server in
/// a poll answer to the adapter.
pub static ACT_TO_DELIVERED: Histogram =
    Histogram::new("act_to_delivered", "from a test asking for an action to the action handed to its adapter's poll");
/// From an adapter's respond reaching the server to the test resuming with the response.
pub static RESPOND_TO_RESUMED: Histogram =
    Histogram::new("respond_to_resumed", "from an adapter's respond arriving to the test resuming with the response");
/// A poll's handling: from the request to the adapter's answer (a held poll's wait excluded).
pub static POLL_HANDLING: Histogram =
    Histogram::new("poll_handling", "from a poll request to its adapter's answer, a long poll's hold excluded");
/// A respond's handling: from the request to the adapter's answer (a held wait excluded).
pub static RESPOND_HANDLING: Histogram = Histogram::new(
    "respond_handling",
    "from a respond request to its adapter's answer, a respond-and-wait's hold excluded",
);

/// How many of a kind of thing are alive right now: incremented when one starts, decremented
/// when it ends. Lets tests and `/metrics` see that ended cases and finished adapters really
/// are gone (their actors stopped, their script threads returned), not just hidden.
pub struct Gauge(std::sync::atomic::AtomicI64);

impl Gauge {
    pub const fn new() -> Self {
        Gauge(std::sync::atomic::AtomicI64::new(0))
    }
    pub fn up(&self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    pub fn down(&self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Default for Gauge {
    fn default() -> Self {
        Self::new()
    }
}

/// Case actors running (a retired case's actor has stopped).
pub static LIVE_CASE_ACTORS: Gauge = Gauge::new();
/// Adapter actors running (a retired or dropped adapter's actor has stopped).
pub static LIVE_ADAPTER_ACTORS: Gauge = Gauge::new();
/// Test bodies running on their own threads (script threads, `parallel()` branches excluded).
pub static LIVE_SCRIPT_THREADS: Gauge = Gauge::new();

/// The states an adapter's actor is in, as the dashboard counts them, in display order.
pub const ADAPTER_STATES: [&str; 5] = [
    crate::adapter::IDLE,
    crate::adapter::RESERVED,
    crate::adapter::BUSY,
    crate::adapter::FINISHED,
    crate::adapter::DROPPED,
];
/// A cell's state before its actor has published one.
const NO_STATE: u8 = u8::MAX;

/// How many adapters (of one client type) are in each of [`ADAPTER_STATES`] right now.
#[derive(Default)]
pub struct StateCounts([AtomicI64; ADAPTER_STATES.len()]);

impl StateCounts {
    /// The counts, in the order of [`ADAPTER_STATES`].
    pub fn get(&self) -> [u64; ADAPTER_STATES.len()] {
        std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed).max(0) as u64)
    }
}

/// One adapter's state, set by its actor and read by the allocator without a message: the
/// allocator lists adapters by state and counts them per type from these, so a status page
/// of 10,000 adapters asks none of them but the hundred it shows.
pub struct AdapterCell {
    state: AtomicU8,
    /// The counts of the adapter's client type, which every change moves.
    counts: Arc<StateCounts>,
}

impl AdapterCell {
    /// A cell counted in `counts` once its actor publishes a state.
    pub fn new(counts: Arc<StateCounts>) -> Self {
        AdapterCell { state: AtomicU8::new(NO_STATE), counts }
    }

    /// The adapter is now in `state` (one of [`ADAPTER_STATES`]; others are ignored).
    pub fn set(&self, state: &str) {
        let Some(to) = ADAPTER_STATES.iter().position(|s| *s == state) else { return };
        let from = self.state.swap(to as u8, Ordering::Relaxed);
        if from as usize == to {
            return;
        }
        if let Some(count) = self.counts.0.get(from as usize) {
            count.fetch_sub(1, Ordering::Relaxed);
        }
        self.counts.0[to].fetch_add(1, Ordering::Relaxed);
    }

    /// The state last set, if any.
    pub fn state(&self) -> Option<&'static str> {
        ADAPTER_STATES.get(self.state.load(Ordering::Relaxed) as usize).copied()
    }
}

/// One server's figures of its run, kept in atomics where they happen (adapters, cases)
/// and read by `/metrics` without asking any actor. One per allocator, so that servers in
/// one process (tests) do not mix their figures.
pub struct RunMetrics {
    /// Actions, from given to the adapter to answered, failed or cancelled.
    pub action_round_trip: Histogram,
    /// Cases, from waiting to getting their adapters (or being skipped).
    pub case_wait: Histogram,
    /// Cases, from provisioning their homeservers to running (or ending).
    pub provisioning: Histogram,
    /// Actions that failed, timed out or were cancelled.
    pub actions_failed: AtomicU64,
    /// Adapters that timed out during a case: silent past the active timeout, or an action
    /// past the action timeout (counted where [`ActionError::Timeout`](crate::ActionError)
    /// is made, not from its text).
    pub adapters_timed_out: AtomicU64,
}

impl Default for RunMetrics {
    fn default() -> Self {
        RunMetrics {
            action_round_trip: Histogram::new(
                "action_round_trip",
                "from an action given to its adapter to its answer, failure or cancellation",
            ),
            case_wait: Histogram::with_bounds(
                "case_wait",
                "from a case waiting to its adapters given",
                &WAIT_BOUNDS_US,
            ),
            provisioning: Histogram::with_bounds(
                "provisioning",
                "from a case provisioning its homeservers to it running",
                &WAIT_BOUNDS_US,
            ),
            actions_failed: AtomicU64::new(0),
            adapters_timed_out: AtomicU64::new(0),
        }
    }
}

impl RunMetrics {
    /// An action ended after `took`, failed if `failed`.
    pub fn action_ended(&self, took: Duration, failed: bool) {
        self.action_round_trip.record(took);
        if failed {
            self.actions_failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Every histogram.
pub fn all() -> [&'static Histogram; 4] {
    [&ACT_TO_DELIVERED, &RESPOND_TO_RESUMED, &POLL_HANDLING, &RESPOND_HANDLING]
}

/// Every histogram as it stands.
pub fn snapshot() -> Vec<HistogramSnapshot> {
    all().iter().map(|h| h.snapshot()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_their_buckets_and_quantiles_follow() {
        let h = Histogram::new("t", "test");
        for _ in 0..98 {
            h.record(Duration::from_micros(15));
        }
        h.record(Duration::from_millis(3));
        h.record(Duration::from_secs(100));
        let s = h.snapshot();
        assert_eq!(s.count, 100);
        assert_eq!(s.buckets[1].count, 98, "15 µs is in the ≤20 µs bucket");
        assert_eq!(s.buckets[8].count, 1, "3 ms is in the ≤5 ms bucket");
        assert_eq!(s.buckets[BUCKETS - 1].count, 1, "100 s is above every bound");
        assert_eq!(s.p50_le_us, Some(20));
        assert_eq!(s.p99_le_us, Some(5_000));
        assert_eq!(s.max_us, 100_000_000);
    }

    #[test]
    fn cells_move_their_types_counts() {
        let counts = Arc::new(StateCounts::default());
        let (a, b) = (AdapterCell::new(counts.clone()), AdapterCell::new(counts.clone()));
        assert_eq!(a.state(), None);
        a.set("idle");
        b.set("idle");
        assert_eq!(counts.get(), [2, 0, 0, 0, 0]);
        a.set("busy");
        a.set("busy"); // a busy adapter's next action publishes busy again
        b.set("dropped");
        assert_eq!(counts.get(), [0, 0, 1, 0, 1]);
        assert_eq!(a.state(), Some("busy"));
    }

    #[test]
    fn wait_histograms_use_their_own_bounds() {
        let h = Histogram::with_bounds("w", "test", &WAIT_BOUNDS_US);
        h.record(Duration::from_secs(2));
        h.record(Duration::from_secs(7200));
        let s = h.snapshot();
        assert_eq!(s.buckets.len(), WAIT_BOUNDS_US.len() + 1);
        assert_eq!(s.buckets[3].count, 1, "2 s is in the ≤5 s bucket");
        assert_eq!(s.buckets[WAIT_BOUNDS_US.len()].count, 1, "2 h is above every bound");
    }
}
