//! Results written as they happen: each case that ends is appended to `results.jsonl`
//! (flushed and fsynced before anything else is written; cases that end together share a
//! write), then `junit.xml` and `report.json` are rewritten atomically, at most once a
//! second while the run goes on (and once more at its end). A run killed with SIGKILL
//! keeps every finished case's result and leaves no half-written file.
//!
//! The writer listens to the ends of cases on the allocator's event stream; file I/O runs
//! on tokio's blocking pool, never on an actor's thread.

use crate::reports;
use actix::Addr;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, oneshot};
use tokio::time::Instant;
use trafficlight_actors::allocator::{self, Allocator};
use trafficlight_actors::events::Event;
use trafficlight_actors::snapshot::CaseSnapshot;
use trafficlight_actors::RunReport;

/// One JSON line per ended case, in the order they ended.
pub const RESULTS_FILE: &str = "results.jsonl";

/// The running writer; [`finish`](Self::finish) it before writing the final reports.
pub struct ResultsWriter {
    stop: oneshot::Sender<()>,
    done: tokio::task::JoinHandle<()>,
}

/// Starts writing into `dir` what `events` tells of ended cases.
pub fn spawn(dir: PathBuf, allocator: Addr<Allocator>, events: broadcast::Receiver<Event>) -> ResultsWriter {
    let (stop, stopped) = oneshot::channel();
    let done = actix_web::rt::spawn(run(Writer { dir, allocator, written: HashSet::new() }, events, stopped));
    ResultsWriter { stop, done }
}

impl ResultsWriter {
    /// Writes what is still queued, then stops.
    pub async fn finish(self) {
        let _ = self.stop.send(());
        let _ = self.done.await;
    }
}

struct Writer {
    dir: PathBuf,
    allocator: Addr<Allocator>,
    /// Ids of the cases already in results.jsonl.
    written: HashSet<String>,
}

/// The shortest time between two rewrites of the reports while the run goes on. Each
/// rewrite serialises every case so far: done after every case that ends, a run of
/// 1,000 short cases spent a core on it (quadratic in the cases); the lines of
/// results.jsonl are still on disk as each case ends, and the final reports are written
/// at the run's end.
pub const REPORT_REWRITE_INTERVAL: Duration = Duration::from_secs(1);
/// A rewrite that took `t` waits at least `t` times this before the next one, so that in
/// a long run with many cases the reports take at most about 5 % of the time.
const REWRITE_SPACING: u32 = 20;

/// When the reports may next be rewritten, after a rewrite that started at `started`.
fn next_rewrite_after(started: Instant) -> Instant {
    let now = Instant::now();
    now + REPORT_REWRITE_INTERVAL.max((now - started) * REWRITE_SPACING)
}

async fn run(mut writer: Writer, mut events: broadcast::Receiver<Event>, mut stopped: oneshot::Receiver<()>) {
    // The reports are behind the results: rewrite them at `next_rewrite`.
    let mut stale = false;
    let mut next_rewrite = Instant::now();
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = tokio::time::sleep_until(next_rewrite), if stale => {
                let started = Instant::now();
                writer.rewrite_reports().await;
                stale = false;
                next_rewrite = next_rewrite_after(started);
                continue;
            }
            _ = &mut stopped => {
                // Whatever ended before the stop is still in the channel.
                let mut pending = Vec::new();
                loop {
                    match events.try_recv() {
                        Ok(Event::CaseEnded { case }) => pending.push(case),
                        Ok(_) => {}
                        Err(broadcast::error::TryRecvError::Lagged(_)) => {
                            writer.catch_up().await;
                        }
                        Err(_) => break,
                    }
                }
                writer.append(pending).await;
                return;
            }
        };
        match event {
            Ok(Event::CaseEnded { case }) => {
                // The cases that ended meanwhile go in the same write (and the same fsync).
                let mut ended = vec![case];
                let mut lagged = false;
                loop {
                    match events.try_recv() {
                        Ok(Event::CaseEnded { case }) => ended.push(case),
                        Ok(_) => {}
                        Err(broadcast::error::TryRecvError::Lagged(_)) => lagged = true,
                        Err(_) => break,
                    }
                }
                writer.append(ended).await;
                if lagged {
                    writer.catch_up().await;
                }
                stale = true;
                let started = Instant::now();
                if started >= next_rewrite {
                    writer.rewrite_reports().await;
                    stale = false;
                    next_rewrite = next_rewrite_after(started);
                }
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                log::warn!("the results writer fell {missed} events behind: catching up from the cases");
                let started = Instant::now();
                writer.catch_up().await;
                stale = false;
                next_rewrite = next_rewrite_after(started);
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

impl Writer {
    /// Appends `cases` to results.jsonl (those not there already), in one write.
    async fn append(&mut self, cases: Vec<Arc<CaseSnapshot>>) {
        let cases: Vec<_> = cases.into_iter().filter(|case| self.written.insert(case.id.clone())).collect();
        if cases.is_empty() {
            return;
        }
        let path = self.dir.join(RESULTS_FILE);
        let written = tokio::task::spawn_blocking(move || append_lines(&path, &cases)).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log::error!("cannot append to {}: {e}", self.dir.join(RESULTS_FILE).display()),
            Err(e) => log::error!("the results writer failed: {e}"),
        }
    }

    /// After lost events: appends every ended case not yet written, from the cases themselves.
    async fn catch_up(&mut self) {
        let Ok((_, cases)) = self.allocator.send(allocator::Cases).await else { return };
        let ended = cases.into_iter().filter(|c| c.state.is_final() && c.ended_at.is_some()).map(Arc::new).collect();
        self.append(ended).await;
        self.rewrite_reports().await;
    }

    /// Rewrites junit.xml and report.json with the run as it stands.
    async fn rewrite_reports(&self) {
        let Ok((run_id, cases)) = self.allocator.send(allocator::Cases).await else { return };
        let report = RunReport { id: run_id.unwrap_or_default(), cases };
        let dir = self.dir.clone();
        match tokio::task::spawn_blocking(move || reports::write(&report, &dir, false)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => log::error!("cannot write the reports into {}: {e}", self.dir.display()),
            Err(e) => log::error!("the report writer failed: {e}"),
        }
    }
}

/// Appends one JSON line per case and makes sure they are on disk before answering.
fn append_lines(path: &Path, cases: &[Arc<CaseSnapshot>]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut line = Vec::new();
    for case in cases {
        serde_json::to_writer(&mut line, &**case)?;
        line.push(b'\n');
    }
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(&line)?;
    file.sync_data()
}
