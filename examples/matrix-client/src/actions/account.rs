//! register, login (with a key-backup restore), logout, clear_idb_storage, reload and
//! enable_key_backup.

use super::{field, respond, Account, Device, Failure, Outcome};
use crate::session::{build_client, Session};
use matrix_sdk::ruma::api::client::account::register;
use matrix_sdk::ruma::api::client::uiaa::{self, AuthData, MatrixUserIdentifier, UserIdentifier};
use serde_json::{json, Value};

/// The display name of every device this client logs in.
const DEVICE_NAME: &str = "trafficlight matrix-rust-sdk";

/// The homeserver URL of register/login: `homeserver_url.local`, or a plain string.
fn homeserver(data: &Value) -> Result<String, Failure> {
    let url = &data["homeserver_url"];
    url.get("local")
        .and_then(Value::as_str)
        .or_else(|| url.as_str())
        .map(str::to_string)
        .ok_or_else(|| Failure::Action(format!("the action's data has no homeserver_url.local: {data}")))
}

fn account(data: &Value) -> Result<Account, Failure> {
    Ok(Account {
        homeserver: homeserver(data)?,
        username: field(data, "username")?.to_string(),
        password: field(data, "password")?.to_string(),
    })
}

impl Device {
    /// Registers the user (dummy auth, which logs in), sets up cross-signing as Element does
    /// at sign-up, and starts syncing.
    pub(super) async fn register(&mut self, data: &Value) -> Outcome {
        let account = account(data)?;
        self.log_out_quietly().await;
        let (client, store) = build_client(&account.homeserver, &self.store_root, &self.options)
            .await
            .map_err(|e| Failure::Adapter(format!("{e:#}")))?;
        let mut request = register::v3::Request::new();
        request.username = Some(account.username.clone());
        request.password = Some(account.password.clone());
        request.initial_device_display_name = Some(DEVICE_NAME.into());
        request.auth = Some(AuthData::Dummy(uiaa::Dummy::new()));
        client
            .matrix_auth()
            .register(request)
            .await
            .map_err(|e| Failure::Action(format!("registering {} on {}: {e}", account.username, account.homeserver)))?;
        let session = Session::start(client, store);
        session.next_sync().await;
        bootstrap_cross_signing(&session, &account).await?;
        let answer = self.logged_in(session, account);
        Ok(json!({"response": "registered", "user_id": answer.0, "device_id": answer.1}))
    }

    /// Logs in as a new device; with `key_backup_passphrase`, restores secrets and room keys
    /// from the key backup (which also cross-signs this device).
    pub(super) async fn login(&mut self, data: &Value) -> Outcome {
        let account = account(data)?;
        self.log_out_quietly().await;
        let session = self.log_in(&account).await?;
        if let Some(passphrase) = data.get("key_backup_passphrase").and_then(Value::as_str) {
            session.next_sync().await;
            session
                .client
                .encryption()
                .recovery()
                .recover(passphrase)
                .await
                .map_err(|e| Failure::Action(format!("restoring from key backup: {e}")))?;
        }
        let answer = self.logged_in(session, account);
        Ok(json!({"response": "loggedin", "user_id": answer.0, "device_id": answer.1}))
    }

    pub(super) async fn logout(&mut self) -> Outcome {
        let session = self.session.take().ok_or_else(|| Failure::Action("not logged in".into()))?;
        session.client.matrix_auth().logout().await?;
        self.forget_device_state();
        Ok(respond("loggedout"))
    }

    /// Wipes the local store (keys, sync state) and logs in again: a new device of the same
    /// user, as a web client whose IndexedDB was cleared.
    pub(super) async fn clear_storage(&mut self) -> Outcome {
        let account = self.account.clone().ok_or_else(|| Failure::Action("not logged in".into()))?;
        let room = self.room.clone();
        self.session = None; // stops the sync loop and removes the store directory
        self.forget_device_state();
        let session = self.log_in(&account).await?;
        self.logged_in(session, account);
        self.room = room;
        Ok(respond("storage_cleared"))
    }

    /// Restarts the client from its store: the same device, as after reloading a web page.
    pub(super) async fn reload(&mut self) -> Outcome {
        let session = self.session.take().ok_or_else(|| Failure::Action("not logged in".into()))?;
        let homeserver = self.account.as_ref().map(|a| a.homeserver.clone()).unwrap_or_default();
        let session = session.reload(&homeserver, &self.options).await?;
        self.session = Some(session);
        Ok(respond("reloaded"))
    }

    /// Sets up recovery: secret storage with `key_backup_passphrase`, and key backup; waits
    /// until the existing room keys are uploaded.
    pub(super) async fn enable_key_backup(&mut self, data: &Value) -> Outcome {
        let passphrase = field(data, "key_backup_passphrase")?;
        let session = self.session()?;
        session
            .client
            .encryption()
            .recovery()
            .enable()
            .wait_for_backups_to_upload()
            .with_passphrase(passphrase)
            .await
            .map_err(|e| Failure::Action(format!("enabling key backup: {e}")))?;
        Ok(respond("key_backup_enabled"))
    }

    async fn log_in(&mut self, account: &Account) -> Result<Session, Failure> {
        let (client, store) = build_client(&account.homeserver, &self.store_root, &self.options)
            .await
            .map_err(|e| Failure::Adapter(format!("{e:#}")))?;
        client
            .matrix_auth()
            .login_username(&account.username, &account.password)
            .initial_device_display_name(DEVICE_NAME)
            .send()
            .await
            .map_err(|e| {
                Failure::Action(format!("logging in as {} on {}: {e}", account.username, account.homeserver))
            })?;
        let session = Session::start(client, store);
        session.first_sync(self.deadline).await?;
        Ok(session)
    }

    /// Keeps `session` as this client's device; answers its user and device ids.
    fn logged_in(&mut self, session: Session, account: Account) -> (String, String) {
        let ids = (
            session.client.user_id().map(|u| u.to_string()).unwrap_or_default(),
            session.client.device_id().map(|d| d.to_string()).unwrap_or_default(),
        );
        log::info!("{} logged in as device {}", ids.0, ids.1);
        self.session = Some(session);
        self.account = Some(account);
        ids
    }

    /// A register or login on a client that is still logged in replaces its device.
    async fn log_out_quietly(&mut self) {
        if let Some(session) = self.session.take() {
            if let Err(e) = session.client.matrix_auth().logout().await {
                log::warn!("logging out the previous device: {e}");
            }
        }
        self.forget_device_state();
    }

    fn forget_device_state(&mut self) {
        self.room = None;
        self.request = None;
        self.sas = None;
        self.handled_requests.clear();
        self.accepted_invites.clear();
    }
}

/// Creates and uploads cross-signing keys. Synapse lets a new account upload them without
/// authentication; if it asks, authenticate with the password.
async fn bootstrap_cross_signing(session: &Session, account: &Account) -> Result<(), Failure> {
    let encryption = session.client.encryption();
    match encryption.bootstrap_cross_signing(None).await {
        Ok(()) => Ok(()),
        Err(e) => {
            let Some(uiaa) = e.as_uiaa_response() else {
                return Err(Failure::Action(format!("setting up cross-signing: {e}")));
            };
            let mut password = uiaa::Password::new(
                UserIdentifier::Matrix(MatrixUserIdentifier::new(account.username.clone())),
                account.password.clone(),
            );
            password.session = uiaa.session.clone();
            encryption
                .bootstrap_cross_signing(Some(AuthData::Password(password)))
                .await
                .map_err(|e| Failure::Action(format!("setting up cross-signing (with the password): {e}")))
        }
    }
}
