//! One logged-in Matrix device: the matrix-sdk `Client` with its own sqlite store, our own
//! sync loop, and what the event handlers saw (incoming verification requests).
//!
//! The loop calls `sync_once` itself instead of `Client::sync`, which waits a full second
//! between syncs that come quickly one after the other (MATRIX-SDK.md): with our loop an
//! invite is seen in ~20 ms, not ~1 s. Waiters re-check their condition after every sync.

use anyhow::{anyhow, Context, Result};
use matrix_sdk::config::{RequestConfig, SyncSettings};
use matrix_sdk::encryption::{BackupDownloadStrategy, EncryptionSettings};
use matrix_sdk::ruma::events::key::verification::request::ToDeviceKeyVerificationRequestEvent;
use matrix_sdk::ruma::events::room::message::{MessageType, OriginalSyncRoomMessageEvent};
use matrix_sdk::ruma::OwnedUserId;
use matrix_sdk::{AuthSession, Client};
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long the homeserver may hold one /sync when nothing happens.
const SYNC_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed /sync (a homeserver behind a disabled endpoint answers 503).
const SYNC_RETRY: Duration = Duration::from_millis(500);
/// A waiter re-checks at least this often, even when no sync came in.
const RECHECK: Duration = Duration::from_secs(2);
/// How long one request to the homeserver may take. matrix-sdk's default is 30 s, after
/// which the request fails and is not retried; Element Web (matrix-js-sdk) sets no limit.
/// The shipped tests hold requests in a network proxy for 30 s
/// (verification_when_todevice_message_out_of_order) and expect the client to wait.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A verification request another device or user sent us: who, and its flow id.
#[derive(Debug, Clone)]
pub struct IncomingRequest {
    pub sender: OwnedUserId,
    pub flow_id: String,
}

/// How every device of this process is built.
#[derive(Debug, Clone)]
pub struct DeviceOptions {
    /// MSC4268: share room history keys with people we invite (matrix-sdk 0.18's default).
    pub share_history_on_invite: bool,
}

/// A logged-in device and its running sync loop.
pub struct Session {
    pub client: Client,
    /// The store directory; removed when the session is dropped (taken out by `reload`).
    store: Option<tempfile::TempDir>,
    sync_task: JoinHandle<()>,
    /// Counts completed syncs; waiters watch it.
    synced: watch::Receiver<u64>,
    /// Verification requests seen, oldest first.
    pub requests: Arc<Mutex<Vec<IncomingRequest>>>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.sync_task.abort();
    }
}

/// Builds an unauthenticated client for `homeserver` with its own store under `store_root`.
pub async fn build_client(
    homeserver: &str,
    store_root: &Path,
    options: &DeviceOptions,
) -> Result<(Client, tempfile::TempDir)> {
    let store = tempfile::Builder::new()
        .prefix("device-")
        .tempdir_in(store_root)
        .with_context(|| format!("creating a store directory in {}", store_root.display()))?;
    let client = client_with_store(homeserver, store.path(), options).await?;
    Ok((client, store))
}

async fn client_with_store(homeserver: &str, store: &Path, options: &DeviceOptions) -> Result<Client> {
    let encryption = EncryptionSettings {
        // Cross-signing is set up explicitly at registration (with the password if the
        // homeserver asks for it); a second device must never reset it.
        auto_enable_cross_signing: false,
        backup_download_strategy: BackupDownloadStrategy::AfterDecryptionFailure,
        auto_enable_backups: true,
    };
    Client::builder()
        .homeserver_url(homeserver)
        .request_config(RequestConfig::default().timeout(REQUEST_TIMEOUT))
        .sqlite_store(store, None)
        .with_encryption_settings(encryption)
        .with_enable_share_history_on_invite(options.share_history_on_invite)
        .build()
        .await
        .with_context(|| format!("cannot set up a client for {homeserver}"))
}

impl Session {
    /// Starts syncing `client` (logged in), whose store is `store`.
    pub fn start(client: Client, store: tempfile::TempDir) -> Session {
        let requests: Arc<Mutex<Vec<IncomingRequest>>> = Arc::default();
        let to_device = requests.clone();
        client.add_event_handler(move |event: ToDeviceKeyVerificationRequestEvent| {
            let requests = to_device.clone();
            async move {
                let flow_id = event.content.transaction_id.to_string();
                requests.lock().unwrap().push(IncomingRequest { sender: event.sender, flow_id });
            }
        });
        let in_room = requests.clone();
        client.add_event_handler(move |event: OriginalSyncRoomMessageEvent, client: Client| {
            let requests = in_room.clone();
            async move {
                let own = client.user_id().map(|u| u.to_owned());
                if matches!(event.content.msgtype, MessageType::VerificationRequest(_))
                    && own.as_ref() != Some(&event.sender)
                {
                    let flow_id = event.event_id.to_string();
                    requests.lock().unwrap().push(IncomingRequest { sender: event.sender, flow_id });
                }
            }
        });
        let (tick, synced) = watch::channel(0u64);
        let sync_task = tokio::spawn(sync_loop(client.clone(), tick));
        Session { client, store: Some(store), sync_task, synced, requests }
    }

    /// Rebuilds the client from this session's store (a restarted app: same device).
    pub async fn reload(self, homeserver: &str, options: &DeviceOptions) -> Result<Session> {
        let auth = self.client.session().ok_or_else(|| anyhow!("not logged in"))?;
        let AuthSession::Matrix(session) = auth else { return Err(anyhow!("not a password session")) };
        let mut old = self;
        let store = old.store.take().ok_or_else(|| anyhow!("the session has no store"))?;
        drop(old); // stops its sync loop; the store directory stays
        let client = client_with_store(homeserver, store.path(), options).await?;
        client.matrix_auth().restore_session(session, matrix_sdk::store::RoomLoadSettings::default()).await?;
        Ok(Session::start(client, store))
    }

    /// Calls `check` after every sync (and every few seconds) until it gives a value, or
    /// fails with "`what` did not happen within ..." at `deadline`. An error from `check`
    /// ends the wait at once.
    pub async fn wait_for<T, F, Fut>(&self, deadline: Duration, what: &str, mut check: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>>>,
    {
        let until = Instant::now() + deadline;
        let mut synced = self.synced.clone();
        loop {
            synced.borrow_and_update();
            if let Some(value) = check().await? {
                return Ok(value);
            }
            tokio::select! {
                _ = synced.changed() => {}
                _ = tokio::time::sleep(RECHECK) => {}
                _ = tokio::time::sleep_until(until) => {
                    // One last look: the condition may have become true just now.
                    return match check().await? {
                        Some(value) => Ok(value),
                        None => Err(anyhow!("{what} did not happen within {} s", deadline.as_secs())),
                    };
                }
            }
        }
    }

    /// Waits until the loop has completed a /sync. matrix-sdk sends the device's pending
    /// crypto requests before each /sync, a new device's keys upload among them: from then
    /// on other users' clients find the device and encrypt for it. (A client that answered
    /// `login` before that raced the other side's next message: sent without a key for it.)
    pub async fn first_sync(&self, deadline: Duration) -> Result<()> {
        let synced = self.synced.clone();
        self.wait_for(deadline, "the first sync", || {
            let done = *synced.borrow() > 0;
            async move { Ok(done.then_some(())) }
        })
        .await
    }

    /// Waits for the next completed sync (or `RECHECK`, whichever is first).
    pub async fn next_sync(&self) {
        let mut synced = self.synced.clone();
        synced.borrow_and_update();
        tokio::select! {
            _ = synced.changed() => {}
            _ = tokio::time::sleep(RECHECK) => {}
        }
    }
}

async fn sync_loop(client: Client, tick: watch::Sender<u64>) {
    let mut settings = SyncSettings::default().timeout(SYNC_TIMEOUT);
    loop {
        match client.sync_once(settings.clone()).await {
            Ok(response) => {
                settings = settings.token(response.next_batch);
                tick.send_modify(|n| *n += 1);
            }
            Err(e) => {
                log::debug!("{}: sync failed: {e}", client.user_id().map(|u| u.as_str()).unwrap_or("?"));
                // Logged out (or the token revoked): this loop has nothing left to do.
                if matches!(
                    e.client_api_error_kind(),
                    Some(matrix_sdk::ruma::api::error::ErrorKind::UnknownToken { .. })
                ) {
                    return;
                }
                tokio::time::sleep(SYNC_RETRY).await;
            }
        }
    }
}
