//! verify_message_in_timeline, verify_last_message_is_trusted / _is_utd and get_timeline.
//!
//! They read the open room's recent history from the homeserver (`/messages`), which the
//! SDK decrypts with the keys it holds at that moment: a message that was undecryptable
//! when it arrived reads fine once its key came (late, forwarded, or from the backup).

use super::{field, respond, Device, Failure, Outcome};
use matrix_sdk::deserialized_responses::{ShieldState, TimelineEvent, TimelineEventKind};
use matrix_sdk::room::MessagesOptions;
use matrix_sdk::ruma::UInt;
use matrix_sdk::Room;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// How many of the latest events are looked at.
const HISTORY: u32 = 100;

/// One event of the room's history, as this client shows it.
#[derive(Debug, Clone)]
struct Entry {
    sender: String,
    event_type: String,
    /// The text of a message, when it could be read.
    body: Option<String>,
    /// An encrypted event this client cannot decrypt.
    utd: bool,
    /// For a decrypted message: the warning it is shown with, if any.
    warning: Option<String>,
    encrypted: bool,
}

impl Entry {
    fn from_event(event: &TimelineEvent) -> Entry {
        let raw: Value = serde_json::from_str(event.raw().json().get()).unwrap_or_default();
        let warning = event.encryption_info().and_then(|info| match info.verification_state.to_shield_state_lax() {
            ShieldState::None => None,
            ShieldState::Red { message, .. } => Some(format!("red: {message}")),
            ShieldState::Grey { message, .. } => Some(format!("grey: {message}")),
        });
        Entry {
            sender: raw["sender"].as_str().unwrap_or_default().to_string(),
            event_type: raw["type"].as_str().unwrap_or_default().to_string(),
            body: raw["content"]["body"].as_str().map(str::to_string),
            utd: matches!(event.kind, TimelineEventKind::UnableToDecrypt { .. }),
            warning,
            encrypted: event.encryption_info().is_some(),
        }
    }

    /// A message a person sees: text, or a box saying it could not be decrypted.
    fn is_message(&self) -> bool {
        self.utd || self.event_type == "m.room.message"
    }
}

/// The latest events of `room`, oldest first.
async fn history(room: &Room) -> Result<Vec<Entry>, Failure> {
    let mut options = MessagesOptions::backward();
    options.limit = UInt::from(HISTORY);
    let messages = room.messages(options).await?;
    Ok(messages.chunk.iter().rev().map(Entry::from_event).collect())
}

impl Device {
    /// Waits until a message with exactly this text can be read in the open room.
    pub(super) async fn verify_message_in_timeline(&mut self, data: &Value) -> Outcome {
        let message = field(data, "message")?.to_string();
        let room = self.room()?;
        let session = self.session()?;
        // What the last look showed (for the error message), and whether the key backup
        // was already asked for the keys of undecryptable messages.
        let probe: Arc<Mutex<(Vec<Entry>, bool)>> = Arc::default();
        let found = session
            .wait_for(self.deadline, &format!("the message \"{message}\" in {}", room.room_id()), || {
                let room = room.clone();
                let message = message.clone();
                let probe = probe.clone();
                async move {
                    let entries = history(&room).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                    if let Some(entry) = entries.iter().find(|e| e.body.as_deref() == Some(message.as_str())) {
                        return Ok(Some(entry.clone()));
                    }
                    let ask_backup = entries.iter().any(|e| e.utd) && !probe.lock().unwrap().1;
                    if ask_backup && room.client().encryption().backups().are_enabled().await {
                        probe.lock().unwrap().1 = true;
                        let backups = room.client().encryption().backups();
                        if let Err(e) = backups.download_room_keys_for_room(room.room_id()).await {
                            log::warn!("downloading room keys from the backup: {e}");
                        }
                    }
                    probe.lock().unwrap().0 = entries;
                    Ok(None)
                }
            })
            .await
            .map_err(|e| Failure::Action(format!("{e:#}; the room shows: {}", summary(&probe.lock().unwrap().0))))?;
        Ok(json!({"response": "verified", "sender": found.sender, "encrypted": found.encrypted}))
    }

    /// The last message of the open room was decrypted and shows no warning.
    pub(super) async fn verify_last_message_is_trusted(&mut self) -> Outcome {
        let room = self.room()?;
        let entries = history(&room).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let last = entries
            .iter()
            .rev()
            .find(|e| e.is_message())
            .ok_or_else(|| Failure::Action("the room has no messages".into()))?;
        if last.utd {
            return Err(Failure::Action("the last message cannot be decrypted".into()));
        }
        if !last.encrypted {
            return Err(Failure::Action("the last message was not encrypted".into()));
        }
        match &last.warning {
            None => Ok(respond("trusted")),
            Some(warning) => Err(Failure::Action(format!("the last message is shown with a warning ({warning})"))),
        }
    }

    /// The last message of the open room cannot be decrypted (waits for a message to come).
    pub(super) async fn verify_last_message_is_utd(&mut self) -> Outcome {
        let room = self.room()?;
        let session = self.session()?;
        let verdict = session
            .wait_for(self.deadline, "a message in the room", || {
                let room = room.clone();
                async move {
                    let entries = history(&room).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                    Ok(entries.iter().rev().find(|e| e.is_message()).map(|e| e.utd))
                }
            })
            .await?;
        if verdict {
            Ok(respond("utd"))
        } else {
            Err(Failure::Action("the last message could be decrypted".into()))
        }
    }

    /// The open room's timeline as Element shows it: first the summary of the events that
    /// created the room (Element's "created and configured the room" box), then one item
    /// per message: `{message, user}`, or `{utd: true, user}`.
    pub(super) async fn get_timeline(&mut self) -> Outcome {
        let room = self.room()?;
        let entries = history(&room).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let (messages, others): (Vec<&Entry>, Vec<&Entry>) = entries.iter().partition(|e| e.is_message());
        let mut timeline = vec![json!({
            "summary": "room created and configured",
            "events": others.iter().map(|e| e.event_type.clone()).collect::<Vec<_>>(),
        })];
        for entry in messages {
            if entry.utd {
                timeline.push(json!({"utd": true, "user": entry.sender}));
            } else {
                timeline.push(json!({"message": entry.body, "user": entry.sender, "warning": entry.warning}));
            }
        }
        Ok(json!({"response": "got_timeline", "timeline": timeline}))
    }
}

/// The messages of a room in a line, for an error message.
fn summary(entries: &[Entry]) -> String {
    let items: Vec<String> = entries
        .iter()
        .filter(|e| e.is_message())
        .map(|e| match &e.body {
            _ if e.utd => format!("{}: <unable to decrypt>", e.sender),
            Some(body) => format!("{}: \"{body}\"", e.sender),
            None => format!("{}: <{}>", e.sender, e.event_type),
        })
        .collect();
    if items.is_empty() {
        "no messages".into()
    } else {
        items.join(", ")
    }
}
