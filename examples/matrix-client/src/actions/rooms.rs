//! create_room, create_dm, open_room, invite_user, accept_invite, send_message and
//! change_room_history_visibility.

use super::{field, respond, user_id, Device, Failure, Outcome};
use matrix_sdk::ruma::api::client::room::create_room;
use matrix_sdk::ruma::events::room::encryption::RoomEncryptionEventContent;
use matrix_sdk::ruma::events::room::history_visibility::{HistoryVisibility, RoomHistoryVisibilityEventContent};
use matrix_sdk::ruma::events::room::message::RoomMessageEventContent;
use matrix_sdk::ruma::events::InitialStateEvent;
use matrix_sdk::RoomState;
use serde_json::{json, Value};

impl Device {
    /// Creates an encrypted private room, as Element does, and opens it.
    pub(super) async fn create_room(&mut self, data: &Value) -> Outcome {
        let name = field(data, "name")?;
        let session = self.session()?;
        let mut request = create_room::v3::Request::new();
        request.name = Some(name.to_string());
        request.topic = data.get("topic").and_then(Value::as_str).map(str::to_string);
        request.preset = Some(create_room::v3::RoomPreset::PrivateChat);
        request.initial_state =
            vec![InitialStateEvent::with_empty_state_key(RoomEncryptionEventContent::with_recommended_defaults())
                .to_raw_any()];
        let room = session.client.create_room(request).await?;
        let id = room.room_id().to_owned();
        self.room = Some(id.clone());
        Ok(json!({"response": "room_created", "room_id": id}))
    }

    /// Creates an encrypted direct-message room with `userId` (invited) and opens it.
    pub(super) async fn create_dm(&mut self, data: &Value) -> Outcome {
        let other = user_id(field(data, "userId")?)?;
        let session = self.session()?;
        let room = session.client.create_dm(&other).await?;
        let id = room.room_id().to_owned();
        self.room = Some(id.clone());
        Ok(json!({"response": "dm_created", "room_id": id}))
    }

    /// Opens the joined room named `name` (waiting for it to show up in sync).
    pub(super) async fn open_room(&mut self, data: &Value) -> Outcome {
        let name = field(data, "name")?.to_string();
        let session = self.session()?;
        let client = session.client.clone();
        let id = session
            .wait_for(self.deadline, &format!("a joined room named \"{name}\""), || {
                let client = client.clone();
                let name = name.clone();
                async move {
                    for room in client.joined_rooms() {
                        let display = room.display_name().await.map(|n| n.to_string()).unwrap_or_default();
                        if room.name().as_deref() == Some(name.as_str()) || display == name {
                            return Ok(Some(room.room_id().to_owned()));
                        }
                    }
                    Ok(None)
                }
            })
            .await?;
        self.room = Some(id.clone());
        Ok(json!({"response": "room_opened", "room_id": id}))
    }

    pub(super) async fn invite_user(&mut self, data: &Value) -> Outcome {
        let other = user_id(field(data, "userId")?)?;
        let room = self.room()?;
        room.invite_user_by_id(&other).await?;
        Ok(respond("invited"))
    }

    /// Waits for an invite not taken up yet, joins that room and opens it.
    pub(super) async fn accept_invite(&mut self) -> Outcome {
        let session = self.session()?;
        let client = session.client.clone();
        let taken = self.accepted_invites.clone();
        let room = session
            .wait_for(self.deadline, "an invite", || {
                let rooms = client.invited_rooms();
                let taken = taken.clone();
                async move { Ok(rooms.into_iter().find(|r| !taken.contains(&r.room_id().to_owned()))) }
            })
            .await?;
        let id = room.room_id().to_owned();
        room.join().await?;
        // Joined once our own sync says so: sending before that would miss the room's state.
        let client = session.client.clone();
        let joined_id = id.clone();
        session
            .wait_for(self.deadline, "the join to show in sync", || {
                let state = client.get_room(&joined_id).map(|r| r.state());
                async move { Ok((state == Some(RoomState::Joined)).then_some(())) }
            })
            .await?;
        self.accepted_invites.push(id.clone());
        self.room = Some(id.clone());
        Ok(json!({"response": "accepted", "room_id": id}))
    }

    /// Sends a text message into the open room (encrypted when the room is).
    pub(super) async fn send_message(&mut self, data: &Value) -> Outcome {
        let message = field(data, "message")?;
        let room = self.room()?;
        let sent = room.send(RoomMessageEventContent::text_plain(message)).await?;
        Ok(json!({"response": "message_sent", "event_id": sent.response.event_id}))
    }

    /// `historyVisibility`: `shared`, `invited`, `joined` or `world_readable`.
    pub(super) async fn change_history_visibility(&mut self, data: &Value) -> Outcome {
        let visibility = field(data, "historyVisibility")?;
        let known = ["shared", "invited", "joined", "world_readable"];
        if !known.contains(&visibility) {
            return Err(Failure::Action(format!("unknown history visibility `{visibility}`: one of {known:?}")));
        }
        let room = self.room()?;
        room.send_state_event(RoomHistoryVisibilityEventContent::new(HistoryVisibility::from(visibility))).await?;
        Ok(respond("history_visibility_changed"))
    }
}
