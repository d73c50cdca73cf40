//! The chat-client actions of ACTIONS.md, performed with matrix-sdk by one device.
//!
//! Each action answers a JSON response (`{"response": word, ...}`) or a [`Failure`]: an
//! `action` failure when the client tried and it did not work (the homeserver's message
//! included), or for an action this client does not support; an `adapter` failure when
//! the adapter itself broke (no store directory, say).

mod account;
mod rooms;
mod timeline;
mod verification;

use crate::session::{DeviceOptions, Session};
use matrix_sdk::encryption::verification::{SasVerification, VerificationRequest};
use matrix_sdk::ruma::OwnedRoomId;
use matrix_sdk::Room;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// Why an action did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// The action was tried and did not work, or is not supported: the test case fails.
    Action(String),
    /// The adapter broke: the test case errors.
    Adapter(String),
}

impl Failure {
    /// The error type reported to trafficlight.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Action(_) => "action",
            Failure::Adapter(_) => "adapter",
        }
    }

    /// What went wrong.
    pub fn details(&self) -> &str {
        match self {
            Failure::Action(m) | Failure::Adapter(m) => m,
        }
    }
}

/// Anything that goes wrong inside an action is the action's failure, with its whole
/// chain of context (a homeserver error keeps the homeserver's own message).
impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Action(format!("{e:#}"))
    }
}

impl From<matrix_sdk::Error> for Failure {
    fn from(e: matrix_sdk::Error) -> Self {
        Failure::Action(e.to_string())
    }
}

impl From<matrix_sdk::encryption::CryptoStoreError> for Failure {
    fn from(e: matrix_sdk::encryption::CryptoStoreError) -> Self {
        Failure::Action(format!("the crypto store: {e}"))
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.details())
    }
}

impl std::error::Error for Failure {}

impl From<matrix_sdk::HttpError> for Failure {
    fn from(e: matrix_sdk::HttpError) -> Self {
        Failure::Action(e.to_string())
    }
}

/// What an action answers.
pub type Outcome = Result<Value, Failure>;

/// Account details remembered between actions: where and as whom this device logged in.
#[derive(Debug, Clone)]
struct Account {
    homeserver: String,
    username: String,
    password: String,
}

/// One headless client: at most one logged-in device at a time, the room it has open,
/// and the verification it is part of.
pub struct Device {
    options: DeviceOptions,
    store_root: PathBuf,
    /// How long an action may wait for something to happen (a message, an invite, ...).
    deadline: Duration,
    session: Option<Session>,
    account: Option<Account>,
    room: Option<OwnedRoomId>,
    request: Option<VerificationRequest>,
    sas: Option<SasVerification>,
    /// Incoming verification requests already accepted (by flow id).
    handled_requests: Vec<String>,
    /// Invites already taken up (accept_invite takes the next one).
    accepted_invites: Vec<OwnedRoomId>,
}

impl Device {
    /// A client that keeps its device stores under `store_root`.
    pub fn new(options: DeviceOptions, store_root: PathBuf, deadline: Duration) -> Self {
        Device {
            options,
            store_root,
            deadline,
            session: None,
            account: None,
            room: None,
            request: None,
            sas: None,
            handled_requests: Vec::new(),
            accepted_invites: Vec::new(),
        }
    }

    /// Performs one action.
    pub async fn perform(&mut self, name: &str, data: &Value) -> Outcome {
        match name {
            "register" => self.register(data).await,
            "login" => self.login(data).await,
            "logout" => self.logout().await,
            "clear_idb_storage" => self.clear_storage().await,
            "reload" => self.reload().await,
            "enable_key_backup" => self.enable_key_backup(data).await,
            "create_room" => self.create_room(data).await,
            "create_dm" => self.create_dm(data).await,
            "open_room" => self.open_room(data).await,
            "invite_user" => self.invite_user(data).await,
            "accept_invite" => self.accept_invite().await,
            "send_message" => self.send_message(data).await,
            "change_room_history_visibility" => self.change_history_visibility(data).await,
            "verify_message_in_timeline" => self.verify_message_in_timeline(data).await,
            "verify_last_message_is_trusted" => self.verify_last_message_is_trusted().await,
            "verify_last_message_is_utd" => self.verify_last_message_is_utd().await,
            "get_timeline" => self.get_timeline().await,
            "start_crosssign" => self.start_crosssign(data).await,
            "accept_crosssign" => self.accept_crosssign().await,
            "verify_crosssign_emoji" => self.verify_crosssign_emoji().await,
            "verify_trusted_device" => self.verify_trusted_device().await,
            "enable_dehydrated_device" => Err(not_supported(
                name,
                "matrix-sdk 0.18 has no dehydrated-device API (0.19 has one, and needs a newer rustc)",
            )),
            "advance_clock" => Err(not_supported(name, "it runs on the machine's real clock")),
            other => Err(not_supported(other, "unknown action")),
        }
    }

    /// Stops the device (on exit): ends its sync loop and removes its store.
    pub fn shut_down(&mut self) {
        self.session = None;
    }

    fn session(&self) -> Result<&Session, Failure> {
        self.session.as_ref().ok_or_else(|| Failure::Action("not logged in: register or login first".into()))
    }

    /// The room this client has open (created, joined or opened last).
    fn room(&self) -> Result<Room, Failure> {
        let session = self.session()?;
        let id = self.room.as_ref().ok_or_else(|| Failure::Action("no room is open".into()))?;
        session.client.get_room(id).ok_or_else(|| Failure::Action(format!("room {id} is not known to this client")))
    }
}

/// The answer to an action this client cannot perform: never a fake success.
fn not_supported(action: &str, why: &str) -> Failure {
    Failure::Action(format!("{action} is not supported by this client (matrix-rust-sdk): {why}"))
}

/// A required string field of an action's data.
fn field<'a>(data: &'a Value, name: &str) -> Result<&'a str, Failure> {
    data.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| Failure::Action(format!("the action's data has no string `{name}`: {data}")))
}

/// `@user:server` from `user:server` or `@user:server` (the original tests leave off the `@`).
fn user_id(text: &str) -> Result<matrix_sdk::ruma::OwnedUserId, Failure> {
    let full = if text.starts_with('@') { text.to_string() } else { format!("@{text}") };
    full.try_into().map_err(|e| Failure::Action(format!("`{text}` is not a Matrix user id: {e}")))
}

/// `{"response": word}`.
fn respond(word: &str) -> Value {
    serde_json::json!({ "response": word })
}
