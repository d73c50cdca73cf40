//! The interface a test case runs: a body that, given its clients and homeservers,
//! returns an outcome. Bodies may be async Rust or block on a thread of their own
//! (the script engine); both reach their clients through [`ClientHandle`].

use crate::adapter::{self, AdapterActor};
use crate::case::{self, CaseActor};
use crate::provision::Homeserver;
use crate::requirement::Registration;
use actix::Addr;
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::Value;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// The stack of a body's own thread (and of a script's `parallel` branches): set
/// explicitly, large enough for deep script recursion to reach the engine's own limit and
/// error the case, never to overflow and abort the process. Only the pages touched count
/// against memory.
pub const SCRIPT_STACK_SIZE: usize = 16 << 20;

/// How a test case ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every step worked.
    Success,
    /// An assertion in the test, or an adapter's `action` error.
    Failed(String),
    /// Anything else: an adapter broke, a timeout, a broken test, shutdown.
    Error(String),
    /// The case never started (no adapters in time, or the run ended first).
    Skipped(String),
}

/// Why an action did not produce a response.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// The adapter tried the action and it did not work (error type `action`).
    #[error("{client} failed: {details}{}", at(path))]
    Failed { client: String, details: String, path: String },
    /// The adapter itself broke (any other error type).
    #[error("{client} reported an adapter error ({kind}): {details}{}", at(path))]
    Adapter { client: String, kind: String, details: String, path: String },
    /// The adapter stopped polling, or the action took longer than allowed.
    #[error("{client} timed out: {reason}")]
    Timeout { client: String, reason: String },
    /// The client was asked for an action while another was still pending.
    #[error("{client} is still performing '{pending}': a client performs one action at a time")]
    Busy { client: String, pending: String },
    /// The case ended (or the adapter went away) before the action completed.
    #[error("{client}: {reason}")]
    Cancelled { client: String, reason: String },
}

fn at(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(" (at {path})")
    }
}

impl ActionError {
    /// The outcome of a case that ends with this error: `action` errors fail, others error.
    pub fn outcome(&self) -> Outcome {
        match self {
            ActionError::Failed { .. } => Outcome::Failed(self.to_string()),
            _ => Outcome::Error(self.to_string()),
        }
    }
}

/// Set when a case ends, so a body blocked on its own thread can stop early.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<CancelInner>);

#[derive(Debug, Default)]
struct CancelInner {
    cancelled: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

impl CancelToken {
    /// Marks the case as ended, waking whoever sleeps on it.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        let _guard = self.0.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.0.wake.notify_all();
    }
    /// Whether the case has ended.
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }
    /// Blocks the thread for `duration`, or until the case ends; answers whether the whole
    /// time passed with the case still running. The thread sleeps on a condition variable:
    /// nothing wakes it in between (a polling loop here once was most of the server's CPU
    /// with a thousand scripts sleeping between their actions).
    pub fn sleep(&self, duration: Duration) -> bool {
        let deadline = std::time::Instant::now() + duration;
        let mut guard = self.0.lock.lock().unwrap_or_else(|e| e.into_inner());
        while !self.is_cancelled() {
            let now = std::time::Instant::now();
            if now >= deadline {
                return true;
            }
            guard = self.0.wake.wait_timeout(guard, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
        false
    }
}

/// One client of a running case: a named slot filled by an adapter.
#[derive(Clone)]
pub struct ClientHandle {
    /// The slot's name in the test (`alice`).
    pub name: String,
    /// The adapter's uuid.
    pub uuid: String,
    /// What the adapter registered with.
    pub registration: Arc<Registration>,
    pub(crate) adapter: Addr<AdapterActor>,
    pub(crate) registry: crate::registry::Registry,
    /// The case's journal, where the adapter records how each action ended.
    pub(crate) journal: crate::journal::Journal,
}

impl ClientHandle {
    /// Asks the adapter to perform `action` and waits for its response.
    pub async fn perform(&self, action: &str, data: Value) -> Result<Value, ActionError> {
        let request = adapter::Perform {
            action: action.to_string(),
            data,
            asked_at: std::time::Instant::now(),
            journal: self.journal.clone(),
        };
        match self.adapter.send(request).await {
            Ok(performed) => {
                if let Some(at) = performed.responded_at {
                    crate::metrics::RESPOND_TO_RESUMED.record(at.elapsed());
                }
                performed.result
            }
            // Retired since (its case has ended): its record says what an action gets now.
            Err(_) => Err(match self.registry.get(&self.uuid) {
                Some(crate::registry::Entry::Retired(record)) => record.refusal.clone(),
                _ => ActionError::Cancelled { client: self.name.clone(), reason: "the adapter is gone".into() },
            }),
        }
    }

    /// [`perform`](Self::perform) for bodies that run on a thread of their own.
    pub fn perform_blocking(&self, action: &str, data: Value) -> Result<Value, ActionError> {
        futures::executor::block_on(self.perform(action, data))
    }

    /// The registration's `type`.
    pub fn client_type(&self) -> &str {
        self.registration.get("type").and_then(Value::as_str).unwrap_or("")
    }
}

/// Everything a body gets: its clients, its homeservers and a way to talk to its case.
#[derive(Clone)]
pub struct CaseContext {
    /// The case's id.
    pub case_id: String,
    /// The test's name.
    pub test: String,
    /// The clients, in the order of the case's slots.
    pub clients: Vec<ClientHandle>,
    /// The homeservers provisioned for the case.
    pub servers: Vec<Homeserver>,
    /// Where the case's uploaded files are stored.
    pub files_dir: PathBuf,
    /// Set when the case ends.
    pub cancel: CancelToken,
    pub(crate) case: Addr<CaseActor>,
    pub(crate) journal: crate::journal::Journal,
}

impl CaseContext {
    /// The client in slot `name`.
    pub fn client(&self, name: &str) -> Option<&ClientHandle> {
        self.clients.iter().find(|c| c.name == name)
    }

    /// Adds a line to the case's log, shown with its results. Written into the case's
    /// journal from the body's own thread: no message, no wake-up of the case's thread.
    pub fn log(&self, line: impl Into<String>) {
        self.journal.log(line.into());
    }

    /// Ends the case now with `outcome`, before the body has returned: its clients are
    /// told to finish, so whatever the body still waits on is cancelled.
    pub fn conclude(&self, outcome: Outcome) {
        self.case.do_send(case::Conclude(outcome));
    }

    /// Lets the body's own waits (sleeps, polls for files) end as soon as the case does.
    pub fn sleep_cancellable(&self, duration: Duration) -> bool {
        self.cancel.sleep(duration)
    }
}

/// What a test case runs.
pub trait TestBody: Send + Sync + 'static {
    /// Runs the test against the case's clients and servers.
    fn run(&self, ctx: CaseContext) -> BoxFuture<'static, Outcome>;
}

struct AsyncBody<F>(F);

impl<F, Fut> TestBody for AsyncBody<F>
where
    F: Fn(CaseContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    fn run(&self, ctx: CaseContext) -> BoxFuture<'static, Outcome> {
        let fut = (self.0)(ctx);
        AssertUnwindSafe(fut).catch_unwind().map(|r| r.unwrap_or_else(|p| Outcome::Error(panic_text(&p)))).boxed()
    }
}

struct BlockingBody<F>(Arc<F>);

impl<F> TestBody for BlockingBody<F>
where
    F: Fn(CaseContext) -> Outcome + Send + Sync + 'static,
{
    fn run(&self, ctx: CaseContext) -> BoxFuture<'static, Outcome> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let body = self.0.clone();
        let name = format!("case-{}", ctx.case_id);
        let spawned = std::thread::Builder::new().name(name).stack_size(SCRIPT_STACK_SIZE).spawn(move || {
            crate::metrics::LIVE_SCRIPT_THREADS.up();
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| body(ctx)))
                .unwrap_or_else(|p| Outcome::Error(panic_text(&p)));
            crate::metrics::LIVE_SCRIPT_THREADS.down();
            let _ = tx.send(outcome);
        });
        async move {
            if let Err(e) = spawned {
                return Outcome::Error(format!("could not start the test's thread: {e}"));
            }
            rx.await.unwrap_or_else(|_| Outcome::Error("the test's thread vanished".into()))
        }
        .boxed()
    }
}

/// A body written as async Rust.
pub fn async_body<F, Fut>(f: F) -> Arc<dyn TestBody>
where
    F: Fn(CaseContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    Arc::new(AsyncBody(f))
}

/// A body that blocks on a thread of its own (one thread per running case).
pub fn blocking_body<F>(f: F) -> Arc<dyn TestBody>
where
    F: Fn(CaseContext) -> Outcome + Send + Sync + 'static,
{
    Arc::new(BlockingBody(Arc::new(f)))
}

fn panic_text(payload: &Box<dyn std::any::Any + Send>) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("the test body panicked: {text}")
}
