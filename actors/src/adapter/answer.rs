//! What an adapter is answered: poll answers, held long polls, refusals, and the
//! constants of the wire protocol they carry.

use serde::Serialize;
use serde_json::{json, Value};
use std::path::PathBuf;
use tokio::sync::oneshot;

/// `delay` told to an adapter that waits for a test case, in milliseconds.
pub const UNALLOCATED_POLL_DELAY_MS: u64 = 30_000;
/// `delay` told to an allocated adapter with no pending action, in milliseconds.
pub const ALLOCATED_POLL_DELAY_MS: u64 = 5_000;

/// An adapter's states as snapshots and events name them.
pub const IDLE: &str = "idle";
pub const RESERVED: &str = "reserved";
pub const BUSY: &str = "busy";
pub const FINISHED: &str = "finished";
/// Dropped: it stopped polling before it was given a case, and is forgotten.
pub const DROPPED: &str = "dropped";

/// Action ids are `act-1`, `act-2`, ...: distinct enough that a respond body's own `id`
/// field (an adapter's data) is not taken for one.
pub const ACTION_ID_PREFIX: &str = "act-";

/// Whether `id` has the form of an action id.
pub fn is_action_id(id: &str) -> bool {
    id.strip_prefix(ACTION_ID_PREFIX).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// What a poll answers: `{"action": ..., "data": ..., "id"?: ...}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PollAnswer {
    pub action: String,
    pub data: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl PollAnswer {
    /// `exit` with a reason.
    pub fn exit(reason: &str) -> Self {
        PollAnswer { action: "exit".into(), data: json!({ "reason": reason }), id: None }
    }
    pub(super) fn idle(delay_ms: u64, reason: &str) -> Self {
        PollAnswer { action: "idle".into(), data: json!({ "delay": delay_ms, "reason": reason }), id: None }
    }
}

/// What a poll gets: an answer now, or one held until there is something to say. The
/// caller owns the hold: when it drops the reply (its HTTP client went away), the adapter
/// sees the hold released, so an abandoned long poll is not taken for a live adapter.
#[derive(Debug)]
pub enum PollReply {
    Now(PollAnswer),
    Held { answer: oneshot::Receiver<PollAnswer>, fallback: PollAnswer },
}

impl PollReply {
    /// Waits for the answer.
    pub async fn answer(self) -> PollAnswer {
        match self {
            PollReply::Now(answer) => answer,
            PollReply::Held { answer, fallback } => answer.await.unwrap_or(fallback),
        }
    }
}

/// Why a respond was refused; nothing changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RespondError {
    #[error("adapter {0} is not allocated to a test case: there is nothing to respond to")]
    NotAllocated(String),
    #[error("adapter {0} has no pending action")]
    NothingPending(String),
    #[error("adapter {uuid} responded to action '{given}', but the pending action is '{pending}'")]
    StaleId { uuid: String, given: String, pending: String },
    #[error("adapter {uuid} responded before it was given its pending action '{pending}': poll for it first")]
    NotDelivered { uuid: String, pending: String },
}

/// Where an upload goes (the stored names go to the allocator, which keeps the case's
/// record: see `allocator::CaseFiles`).
#[derive(Clone, Debug)]
pub struct UploadTarget {
    pub case_id: String,
    pub client: String,
    pub dir: PathBuf,
}

/// Why an upload was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UploadRefused {
    #[error("adapter {0} is not allocated to a test case: there is nowhere to store its files")]
    NotAllocated(String),
}
