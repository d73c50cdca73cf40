//! The coordinator's own latencies, measured where they happen and kept in atomic
//! histograms (no lock, no actor: recording is a few relaxed atomic adds). Read with
//! [`snapshot`]; served as JSON at `GET /status/metrics.json`.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in microseconds; a last bucket takes everything above.
pub const BOUNDS_US: [u64; 20] = [
    10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000,
    2_000_000, 5_000_000, 10_000_000, 60_000_000,
];
const BUCKETS: usize = BOUNDS_US.len() + 1;

/// A latency histogram.
pub struct Histogram {
    pub name: &'static str,
    pub help: &'static str,
    buckets: [AtomicU64; BUCKETS],
    count: AtomicU64,
    sum_us: AtomicU64,
    max_us: AtomicU64,
}

impl Histogram {
    const fn new(name: &'static str, help: &'static str) -> Self {
        Histogram {
            name,
            help,
            buckets: [const { AtomicU64::new(0) }; BUCKETS],
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn record(&self, took: Duration) {
        let us = took.as_micros().min(u64::MAX as u128) as u64;
        let at = BOUNDS_US.iter().position(|b| us <= *b).unwrap_or(BOUNDS_US.len());
        self.buckets[at].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// The histogram as it stands.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
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
                    return Some(BOUNDS_US.get(i).copied().unwrap_or(self.max_us.load(Ordering::Relaxed)));
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
            buckets: BOUNDS_US
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
}
