//! start_crosssign, accept_crosssign, verify_crosssign_emoji (SAS by emoji between two
//! devices of one user, or two users in a DM) and verify_trusted_device.
//!
//! The script plays the person comparing the emoji: each side answers
//! verify_crosssign_emoji with the emoji it showed, so a test can check they are equal.

use super::{user_id, Device, Failure, Outcome};
use matrix_sdk::encryption::verification::{SasState, SasVerification, Verification, VerificationRequestState};
use serde_json::{json, Value};

impl Device {
    /// Asks another device of our own user (no `userId`), or the user `userId`, to verify.
    pub(super) async fn start_crosssign(&mut self, data: &Value) -> Outcome {
        let target = data.get("userId").and_then(Value::as_str).map(user_id).transpose()?;
        let session = self.session()?;
        let client = session.client.clone();
        let own = client.user_id().ok_or_else(|| Failure::Action("not logged in".into()))?.to_owned();
        let request = match target {
            Some(other) if other != own => {
                if client.get_dm_room(&other).is_none() {
                    // The open room is our conversation with them: make it the DM the
                    // request goes to (once our sync shows it as one), rather than letting
                    // the SDK create another room the other side has not joined.
                    if let Ok(room) = self.room() {
                        room.set_is_direct(true).await?;
                        let dm_client = client.clone();
                        let dm_user = other.clone();
                        session
                            .wait_for(self.deadline, &format!("the DM with {other}"), || {
                                let found = dm_client.get_dm_room(&dm_user).is_some();
                                async move { Ok(found.then_some(())) }
                            })
                            .await?;
                    }
                }
                let encryption = client.encryption();
                let identity = session
                    .wait_for(self.deadline, &format!("the cross-signing identity of {other}"), || {
                        let encryption = encryption.clone();
                        let other = other.clone();
                        async move { Ok(encryption.request_user_identity(&other).await?) }
                    })
                    .await?;
                identity
                    .request_verification()
                    .await
                    .map_err(|e| Failure::Action(format!("requesting verification of {other}: {e}")))?
            }
            _ => {
                let own_device = client.device_id().map(|d| d.to_owned());
                let encryption = client.encryption();
                let devices = session
                    .wait_for(self.deadline, "another device of our own user", || {
                        let encryption = encryption.clone();
                        let own = own.clone();
                        let own_device = own_device.clone();
                        async move {
                            let devices = encryption.get_user_devices(&own).await?;
                            let others: Vec<_> =
                                devices.devices().filter(|d| Some(d.device_id()) != own_device.as_deref()).collect();
                            Ok((!others.is_empty()).then_some(others))
                        }
                    })
                    .await?;
                match devices.as_slice() {
                    [device] => device.request_verification().await?,
                    _ => {
                        let identity = encryption
                            .get_user_identity(&own)
                            .await?
                            .ok_or_else(|| Failure::Action("our own cross-signing identity is unknown".into()))?;
                        identity
                            .request_verification()
                            .await
                            .map_err(|e| Failure::Action(format!("requesting verification: {e}")))?
                    }
                }
            }
        };
        let flow_id = request.flow_id().to_string();
        self.request = Some(request);
        self.sas = None;
        Ok(json!({"response": "started_crosssign", "flow_id": flow_id}))
    }

    /// Waits for a verification request from another device or user, and accepts it.
    pub(super) async fn accept_crosssign(&mut self) -> Outcome {
        let session = self.session()?;
        let encryption = session.client.encryption();
        let requests = session.requests.clone();
        let handled = self.handled_requests.clone();
        let request = session
            .wait_for(self.deadline, "a verification request", || {
                let pending: Vec<_> =
                    requests.lock().unwrap().iter().filter(|r| !handled.contains(&r.flow_id)).cloned().collect();
                let encryption = encryption.clone();
                async move {
                    for incoming in pending {
                        if let Some(request) =
                            encryption.get_verification_request(&incoming.sender, &incoming.flow_id).await
                        {
                            if !request.is_cancelled() && !request.is_done() {
                                return Ok(Some(request));
                            }
                        }
                    }
                    Ok(None)
                }
            })
            .await?;
        request.accept().await?;
        let flow_id = request.flow_id().to_string();
        self.handled_requests.push(flow_id.clone());
        self.request = Some(request);
        self.sas = None;
        Ok(json!({"response": "accepted_crosssign", "flow_id": flow_id}))
    }

    /// Runs the emoji verification to its end: the side that asked starts it once the other
    /// is ready, the other accepts it; both confirm the emoji and wait until it is done.
    pub(super) async fn verify_crosssign_emoji(&mut self) -> Outcome {
        let request = self.request.clone().ok_or_else(|| Failure::Action("no verification in progress".into()))?;
        let sas = self.find_sas(request).await?;
        self.sas = Some(sas.clone());
        self.confirm_sas(&sas).await
    }

    /// The emoji verification of `request`: started by us once the other side is ready,
    /// or the one the other side started.
    async fn find_sas(
        &self,
        request: matrix_sdk::encryption::verification::VerificationRequest,
    ) -> Result<SasVerification, Failure> {
        let session = self.session()?;
        let sas = match self.sas.clone() {
            Some(sas) => sas,
            None => {
                let we_asked = request.we_started();
                session
                    .wait_for(self.deadline, "the emoji verification to start", || {
                        let request = request.clone();
                        async move {
                            match request.state() {
                                VerificationRequestState::Ready { .. } if we_asked => Ok(request.start_sas().await?),
                                VerificationRequestState::Transitioned { verification: Verification::SasV1(sas) } => {
                                    Ok(Some(sas))
                                }
                                VerificationRequestState::Transitioned { .. } => {
                                    Err(anyhow::anyhow!("the other side started a verification other than emoji"))
                                }
                                VerificationRequestState::Cancelled(info) => {
                                    Err(anyhow::anyhow!("the verification was cancelled: {}", info.reason()))
                                }
                                VerificationRequestState::Done => {
                                    Err(anyhow::anyhow!("the verification ended without emoji"))
                                }
                                _ => Ok(None),
                            }
                        }
                    })
                    .await?
            }
        };
        Ok(sas)
    }

    /// Accepts the other side's verification if it started it, confirms the emoji (the
    /// script compares both sides' answers), and waits until both sides are done.
    async fn confirm_sas(&self, sas: &SasVerification) -> Outcome {
        let session = self.session()?;
        if !sas.we_started() && matches!(sas.state(), SasState::Started { .. }) {
            sas.accept().await?;
        }
        let emoji = session
            .wait_for(self.deadline, "the emoji to show", || {
                let sas = sas.clone();
                async move {
                    match sas.state() {
                        SasState::Cancelled(info) => {
                            Err(anyhow::anyhow!("the verification was cancelled: {}", info.reason()))
                        }
                        _ => Ok(sas.emoji()),
                    }
                }
            })
            .await?;
        let emoji: Vec<Value> =
            emoji.iter().map(|e| json!({"symbol": e.symbol, "description": e.description})).collect();
        sas.confirm().await?;
        session
            .wait_for(self.deadline, "the verification to complete", || {
                let sas = sas.clone();
                async move { sas_done(&sas) }
            })
            .await?;
        Ok(json!({"response": "verified", "emoji": emoji}))
    }

    /// Waits until another device of our own user is verified (cross-signed by us).
    pub(super) async fn verify_trusted_device(&mut self) -> Outcome {
        let session = self.session()?;
        let client = session.client.clone();
        let own = client.user_id().ok_or_else(|| Failure::Action("not logged in".into()))?.to_owned();
        let own_device = client.device_id().map(|d| d.to_owned());
        let encryption = client.encryption();
        let device = session
            .wait_for(self.deadline, "a verified device of our own user", || {
                let encryption = encryption.clone();
                let own = own.clone();
                let own_device = own_device.clone();
                async move {
                    let devices = encryption.get_user_devices(&own).await?;
                    let verified = devices
                        .devices()
                        .find(|d| Some(d.device_id()) != own_device.as_deref() && d.is_verified())
                        .map(|d| d.device_id().to_string());
                    Ok(verified)
                }
            })
            .await?;
        Ok(json!({"response": "verified", "device_id": device}))
    }
}

fn sas_done(sas: &SasVerification) -> anyhow::Result<Option<()>> {
    match sas.state() {
        SasState::Done { .. } => Ok(Some(())),
        SasState::Cancelled(info) => Err(anyhow::anyhow!("the verification was cancelled: {}", info.reason())),
        _ => Ok(None),
    }
}
