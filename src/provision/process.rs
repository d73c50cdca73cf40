//! Child processes that must not outlive the server: each in a process group of its own
//! (so a stop reaches whatever it started), killed by the kernel if the thread that
//! started it dies (PR_SET_PDEATHSIG), stopped with SIGTERM then SIGKILL, and killed when
//! dropped without a stop.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a stopped process may take to exit after SIGTERM before it gets SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// How often a stopping process is checked for its exit.
const EXIT_CHECK: Duration = Duration::from_millis(20);

/// A running child process, its own process group leader.
#[derive(Debug)]
pub struct Guarded {
    child: Option<Child>,
}

impl Guarded {
    /// Starts `command` with stdout and stderr appended to `log`.
    pub fn spawn(mut command: Command, log: &Path) -> std::io::Result<Self> {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
        let err = out.try_clone()?;
        command.stdin(Stdio::null()).stdout(out).stderr(err);
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
            #[cfg(target_os = "linux")]
            // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
            unsafe {
                command.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        Ok(Guarded { child: Some(command.spawn()?) })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// Whether the process has exited, and how.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// SIGTERM to the group, up to [`STOP_GRACE`] for the exit, then SIGKILL. Waits
    /// without blocking the thread.
    pub async fn stop(mut self) {
        let Some(mut child) = self.child.take() else { return };
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        signal_group(&child, Signal::Term);
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            tokio::time::sleep(EXIT_CHECK).await;
        }
        log::warn!("process {} did not exit within {STOP_GRACE:?} of SIGTERM: killing it", child.id());
        kill_now(&mut child);
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_now(&mut child);
        }
    }
}

enum Signal {
    Term,
    Kill,
}

fn signal_group(child: &Child, signal: Signal) {
    #[cfg(unix)]
    {
        let signal = match signal {
            Signal::Term => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
        };
        // The child leads its own group: -pid reaches it and anything it started.
        // SAFETY: kill() with a pid we own; a stale group is harmless (ESRCH).
        unsafe {
            libc::kill(-(child.id() as i32), signal);
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (child, signal);
    }
}

fn kill_now(child: &mut Child) {
    signal_group(child, Signal::Kill);
    let _ = child.kill();
    // SIGKILL is not refused: the wait is short, and it reaps the process.
    let _ = child.wait();
}
