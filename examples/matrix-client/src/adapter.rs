//! One adapter: registers with trafficlight, then performs each action it is sent on its
//! [`Device`] and answers it, until told to exit.

use crate::actions::Device;
use crate::protocol::{Action, Trafficlight};
use anyhow::Result;
use serde_json::Value;
use std::time::Duration;

/// While a long action runs, a plain poll this often tells trafficlight we are alive
/// (its `active_timeout` is 180 s by default).
const KEEP_ALIVE: Duration = Duration::from_secs(30);

/// Runs one adapter to its end: `Ok` when trafficlight said `exit`.
pub async fn run(trafficlight: Trafficlight, registration: Value, mut device: Device) -> Result<()> {
    let uuid = trafficlight.uuid().to_string();
    trafficlight.register(&registration).await?;
    log::info!("{uuid}: registered as {}", registration["type"]);
    let mut action = trafficlight.poll().await?;
    loop {
        match action.name.as_str() {
            "exit" => {
                log::info!("{uuid}: exit ({})", action.data["reason"]);
                device.shut_down();
                return Ok(());
            }
            "idle" => action = trafficlight.poll().await?,
            _ => action = perform(&trafficlight, &mut device, &action).await?,
        }
    }
}

/// Performs `action` (polling now and then meanwhile), answers it, and returns the next.
async fn perform(trafficlight: &Trafficlight, device: &mut Device, action: &Action) -> Result<Action> {
    let uuid = trafficlight.uuid();
    log::info!("{uuid}: {} {}", action.name, action.data);
    let started = std::time::Instant::now();
    let outcome = {
        let work = device.perform(&action.name, &action.data);
        tokio::pin!(work);
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
        loop {
            tokio::select! {
                outcome = &mut work => break outcome,
                _ = ticks.tick() => trafficlight.keep_alive().await,
            }
        }
    };
    let took = started.elapsed().as_millis();
    match outcome {
        Ok(response) => {
            log::info!("{uuid}: {} done in {took} ms: {response}", action.name);
            trafficlight.respond(action, response).await
        }
        Err(failure) => {
            log::warn!("{uuid}: {} failed after {took} ms: {}", action.name, failure.details());
            let path = format!("trafficlight-matrix-client#{}", action.name);
            trafficlight.error(failure.kind(), failure.details(), &path).await?;
            // The server finishes an adapter that reported an error: its next poll says exit.
            trafficlight.poll().await
        }
    }
}
