//! What the swarm counts while it runs, and the figures it prints at the end.

use super::{Mode, Options};
use serde_json::json;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many error messages are kept to show at the end.
const KEPT_ERRORS: usize = 5;

/// Counters every adapter thread adds to; read by the progress line and the summary.
pub struct Counters {
    pub started: Instant,
    pub registrations: AtomicU64,
    pub actions: AtomicU64,
    pub failed: AtomicU64,
    pub hung: AtomicU64,
    pub died: AtomicU64,
    pub exits: AtomicU64,
    /// Lives that have been told `idle` at least once.
    pub idle: AtomicU64,
    pub errors: AtomicU64,
    /// Adapters that have stopped for good.
    pub finished: AtomicU64,
    /// Nanoseconds after `started` of the first and the last action answered (0: none yet).
    first_action: AtomicU64,
    last_action: AtomicU64,
    error_texts: Mutex<Vec<String>>,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            started: Instant::now(),
            registrations: AtomicU64::new(0),
            actions: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            hung: AtomicU64::new(0),
            died: AtomicU64::new(0),
            exits: AtomicU64::new(0),
            idle: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            first_action: AtomicU64::new(0),
            last_action: AtomicU64::new(0),
            error_texts: Mutex::new(Vec::new()),
        }
    }
}

impl Counters {
    /// One action received and dealt with (answered, failed on purpose, or hung on);
    /// answers the number so far.
    pub fn action_done(&self) -> u64 {
        let at = (self.started.elapsed().as_nanos() as u64).max(1);
        let _ = self.first_action.compare_exchange(0, at, Relaxed, Relaxed);
        self.last_action.fetch_max(at, Relaxed);
        self.actions.fetch_add(1, Relaxed) + 1
    }

    /// Something went wrong that nobody asked for.
    pub fn error(&self, text: String) {
        self.errors.fetch_add(1, Relaxed);
        let mut kept = self.error_texts.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() < KEPT_ERRORS {
            kept.push(text);
        }
    }

    /// Time from the first action to the last (zero before two actions).
    pub fn active(&self) -> Duration {
        let (first, last) = (self.first_action.load(Relaxed), self.last_action.load(Relaxed));
        Duration::from_nanos(last.saturating_sub(first))
    }
}

/// Percentiles of the round trips, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub count: usize,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
    pub mean: f64,
}

impl Latency {
    /// Nearest-rank percentiles of `micros` (sorted here); `None` when empty.
    pub fn of(mut micros: Vec<u64>) -> Option<Latency> {
        if micros.is_empty() {
            return None;
        }
        micros.sort_unstable();
        let rank = |p: f64| micros[((p * micros.len() as f64).ceil() as usize).clamp(1, micros.len()) - 1];
        Some(Latency {
            count: micros.len(),
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            max: micros[micros.len() - 1],
            mean: micros.iter().sum::<u64>() as f64 / micros.len() as f64,
        })
    }
}

/// The figures of a finished swarm.
#[derive(Debug, Clone)]
pub struct Summary {
    pub mode: Mode,
    pub adapters: usize,
    pub seed: u64,
    pub elapsed: Duration,
    /// From the first action answered to the last.
    pub active: Duration,
    pub registrations: u64,
    pub actions: u64,
    pub failed: u64,
    pub hung: u64,
    pub died: u64,
    pub exits: u64,
    pub errors: u64,
    pub error_texts: Vec<String>,
    /// From an adapter's answer (or its first poll) to the next action in its hands.
    pub round_trip: Option<Latency>,
}

impl Summary {
    pub(super) fn new(options: &Options, counters: &Counters, elapsed: Duration, round_trips: Vec<u64>) -> Self {
        Summary {
            mode: options.mode,
            adapters: options.adapters,
            seed: options.seed,
            elapsed,
            active: counters.active(),
            registrations: counters.registrations.load(Relaxed),
            actions: counters.actions.load(Relaxed),
            failed: counters.failed.load(Relaxed),
            hung: counters.hung.load(Relaxed),
            died: counters.died.load(Relaxed),
            exits: counters.exits.load(Relaxed),
            errors: counters.errors.load(Relaxed),
            error_texts: counters.error_texts.lock().map(|t| t.clone()).unwrap_or_default(),
            round_trip: Latency::of(round_trips),
        }
    }

    /// Actions per second between the first action and the last.
    pub fn actions_per_sec(&self) -> f64 {
        let secs = self.active.as_secs_f64();
        if secs > 0.0 {
            self.actions.saturating_sub(1) as f64 / secs
        } else {
            0.0
        }
    }

    /// The figures as one JSON object (latencies in milliseconds).
    pub fn to_json(&self) -> serde_json::Value {
        let ms = |us: u64| us as f64 / 1000.0;
        json!({
            "mode": format!("{:?}", self.mode),
            "adapters": self.adapters,
            "seed": self.seed,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "active_s": self.active.as_secs_f64(),
            "registrations": self.registrations,
            "actions": self.actions,
            "actions_per_s": self.actions_per_sec(),
            "failed": self.failed,
            "hung": self.hung,
            "died": self.died,
            "exits": self.exits,
            "errors": self.errors,
            "error_texts": self.error_texts,
            "round_trip_ms": self.round_trip.map(|l| json!({
                "count": l.count, "p50": ms(l.p50), "p90": ms(l.p90), "p99": ms(l.p99),
                "max": ms(l.max), "mean": l.mean / 1000.0,
            })),
        })
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |us: u64| us as f64 / 1000.0;
        writeln!(f, "swarm: {} adapters, {:?}, seed {}", self.adapters, self.mode, self.seed)?;
        writeln!(
            f,
            "  {} actions in {:.2} s: {:.0} actions/s ({:.2} s in all, {} registrations, {} exits)",
            self.actions,
            self.active.as_secs_f64(),
            self.actions_per_sec(),
            self.elapsed.as_secs_f64(),
            self.registrations,
            self.exits
        )?;
        match &self.round_trip {
            Some(l) => writeln!(
                f,
                "  round trip: p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} samples)",
                ms(l.p50),
                ms(l.p90),
                ms(l.p99),
                ms(l.max),
                l.count
            )?,
            None => writeln!(f, "  round trip: no samples")?,
        }
        writeln!(f, "  faults asked for: {} failed, {} hung, {} died", self.failed, self.hung, self.died)?;
        writeln!(f, "  errors: {}", self.errors)?;
        for text in &self.error_texts {
            writeln!(f, "    {text}")?;
        }
        Ok(())
    }
}
