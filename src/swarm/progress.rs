//! Progress while the swarm runs, on stderr: a bar redrawn in place on a terminal, a
//! plain line every few seconds otherwise (CI logs, pipes).

use super::stats::Counters;
use super::Options;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the bar is redrawn on a terminal.
const TERMINAL_TICK: Duration = Duration::from_millis(200);
/// How often a plain line is printed elsewhere.
const PLAIN_TICK: Duration = Duration::from_secs(5);
/// Width of the bar in characters.
const BAR_WIDTH: usize = 30;

/// The running progress printer.
pub struct Progress {
    done: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// Starts printing progress until [`Progress::finish`].
pub fn start(options: Arc<Options>, counters: Arc<Counters>) -> Progress {
    let done = Arc::new(AtomicBool::new(false));
    let terminal = std::io::stderr().is_terminal();
    let thread = {
        let done = done.clone();
        std::thread::spawn(move || {
            let tick = if terminal { TERMINAL_TICK } else { PLAIN_TICK };
            let mut last_actions = 0;
            while !done.load(Relaxed) {
                // Sleep in short steps, so finishing does not wait a whole plain tick.
                let mut slept = Duration::ZERO;
                while slept < tick && !done.load(Relaxed) {
                    std::thread::sleep(TERMINAL_TICK);
                    slept += TERMINAL_TICK;
                }
                let actions = counters.actions.load(Relaxed);
                let rate = (actions - last_actions) as f64 / slept.as_secs_f64();
                last_actions = actions;
                let line = line(&options, &counters, rate);
                let mut err = std::io::stderr().lock();
                let _ = if terminal { write!(err, "\r{line}\x1b[K") } else { writeln!(err, "{line}") };
                let _ = err.flush();
            }
            if terminal {
                let _ = writeln!(std::io::stderr());
            }
        })
    };
    Progress { done, thread }
}

impl Progress {
    /// Stops printing (after one last update).
    pub fn finish(self) {
        self.done.store(true, Relaxed);
        let _ = self.thread.join();
    }
}

/// `[#####.....] 42% 1234 actions 5678/s  adapters 9/10 running  errors 0`
fn line(options: &Options, counters: &Counters, rate: f64) -> String {
    let actions = counters.actions.load(Relaxed);
    let elapsed = counters.started.elapsed();
    let share = match (options.actions, options.duration) {
        (Some(target), _) => Some(actions as f64 / target as f64),
        (None, Some(limit)) => Some(elapsed.as_secs_f64() / limit.as_secs_f64()),
        (None, None) => None,
    };
    let bar = match share {
        Some(share) => {
            let share = share.clamp(0.0, 1.0);
            let filled = (share * BAR_WIDTH as f64).round() as usize;
            format!("[{}{}] {:3.0}% ", "#".repeat(filled), ".".repeat(BAR_WIDTH - filled), share * 100.0)
        }
        None => String::new(),
    };
    let running = options.adapters as u64 - counters.finished.load(Relaxed);
    format!(
        "{bar}{:.0}s  {actions} actions  {rate:.0}/s  adapters {running}/{} running  {} registrations  errors {}",
        elapsed.as_secs_f64(),
        options.adapters,
        counters.registrations.load(Relaxed),
        counters.errors.load(Relaxed),
    )
}
