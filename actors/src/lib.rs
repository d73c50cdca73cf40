//! The coordination core of trafficlight: one actor per adapter, one per test case, and
//! the allocator that supervises them. Nothing here knows HTTP, templates or scripts.

pub mod adapter;
pub mod allocator;
pub mod body;
pub mod case;
pub mod config;
pub mod events;
pub mod journal;
pub mod matching;
pub mod metrics;
pub mod provision;
pub mod registry;
pub mod report;
pub mod requirement;
pub mod snapshot;

pub use body::{ActionError, CancelToken, CaseContext, ClientHandle, Outcome, TestBody};
pub use config::Timeouts;
pub use provision::{
    AbortSignal, Homeserver, ProvisionFor, Provisioned, Provisioner, ServerRequest, StaticServers, Teardown,
};
pub use report::{CaseReport, RunReport};
pub use requirement::{ClientRequirement, Registration};

/// Milliseconds since the Unix epoch, the time format of snapshots and reports.
pub fn unix_millis(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Messages an actor queues before `send` makes its callers wait: large, because a burst
/// of thousands of adapters polling at once is normal, not overload.
pub const MAILBOX_CAPACITY: usize = 1 << 20;
