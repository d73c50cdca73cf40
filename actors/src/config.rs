//! Timeouts of the core, all configurable; the defaults are the original server's.

use std::time::Duration;

/// Every deadline the core enforces.
#[derive(Clone, Debug)]
pub struct Timeouts {
    /// An unallocated adapter that has not polled for this long is dropped.
    pub idle: Duration,
    /// An allocated adapter that has neither polled nor responded for this long errors its case.
    pub active: Duration,
    /// How long one action may stay pending before its case errors; `None` waits forever.
    pub action: Option<Duration>,
    /// How long a case may take from allocation to its end, unless its test says otherwise.
    pub case: Duration,
    /// How long a case may wait for adapters before it ends as skipped; `None` waits forever.
    pub queue: Option<Duration>,
    /// After the run ends, how long the server stays up so adapters learn they must exit
    /// and upload their logs and videos.
    pub exit_grace: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            idle: Duration::from_secs(60),
            active: Duration::from_secs(180),
            action: None,
            case: Duration::from_secs(1800),
            queue: None,
            exit_grace: Duration::from_secs(30),
        }
    }
}
