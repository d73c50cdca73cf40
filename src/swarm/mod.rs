//! `trafficlight swarm`: many simulated adapters against a running server, over real HTTP.
//!
//! Each simulated adapter registers as one of the given client types, polls for actions
//! (long poll, respond-and-wait, or the classic way honouring `delay`), answers every
//! action with a plausible response, and after `exit` registers again under a new uuid,
//! as a real adapter restarted by its supervisor does. Shares of actions can be failed,
//! hung on or died on, to see how a deployment copes. At the end it prints actions per
//! second, the round trip (from an adapter's answer to its next action in hand) and the
//! errors. A subcommand of the server's binary rather than an example, so that users point
//! it at their own deployment without a checkout or cargo.

mod adapter;
mod progress;
mod rng;
mod stats;

pub use stats::{Latency, Summary};

use clap::{Args, ValueEnum};
use stats::Counters;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The longest wait a server accepts on `?wait=S`, in seconds.
const MAX_WAIT_SECS: f64 = 60.0;

/// How a simulated adapter asks for its next action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// `GET poll?wait=S` held until an action is pending; answers with a plain `respond`.
    LongPoll,
    /// `POST respond?wait=S`: the answer to an action brings back the next one.
    RespondAndWait,
    /// Plain polls, sleeping the `delay` each `idle` asks for (as the original adapters do).
    Classic,
    /// No adapter protocol at all: one trivial request after another (a 404 of the
    /// server), the ceiling of what one client connection can do.
    Bare,
}

/// Flags of `swarm`.
#[derive(Debug, Args, Clone)]
pub struct SwarmArgs {
    /// Base URL of the server (without `/client`).
    #[arg(long, env = "TRAFFICLIGHT_URL", default_value = "http://127.0.0.1:5000")]
    pub url: String,
    /// Number of simulated adapters running at once.
    #[arg(short = 'n', long, default_value_t = 10)]
    pub adapters: usize,
    /// Client types to register as, comma separated; adapter i takes type i mod count.
    #[arg(long, value_delimiter = ',', default_value = "element-web")]
    pub types: Vec<String>,
    /// How adapters poll.
    #[arg(long, value_enum, default_value_t = Mode::LongPoll)]
    pub mode: Mode,
    /// Seconds a long poll or respond-and-wait may be held (0 < S <= 60).
    #[arg(long, default_value_t = 30.0)]
    pub wait: f64,
    /// In classic mode, sleep at most this many ms on `idle` (0: poll again at once).
    #[arg(long)]
    pub max_delay: Option<u64>,
    /// Share of actions (0 to 1) answered with an `action` error: their cases fail.
    #[arg(long, default_value_t = 0.0)]
    pub fail: f64,
    /// Share of actions on which the adapter hangs: it stops talking for --hang-for
    /// seconds, then polls again (the server should have timed it out: its case errors).
    #[arg(long, default_value_t = 0.0)]
    pub hang: f64,
    /// Seconds a hung adapter stays silent.
    #[arg(long, default_value_t = 300.0)]
    pub hang_for: f64,
    /// Share of actions on which the adapter dies: it never answers and registers again
    /// under a new uuid (its case errors once the server notices).
    #[arg(long, default_value_t = 0.0)]
    pub die: f64,
    /// Registrations per adapter before it stops (default: no limit).
    #[arg(long)]
    pub lives: Option<u32>,
    /// Stop after this many actions answered, in all.
    #[arg(long)]
    pub actions: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Seed of the random choices of faults; printed at the end, so a run repeats.
    #[arg(long)]
    pub seed: Option<u64>,
    /// OS threads the adapters are spread over (each with its own HTTP client).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Print the figures at the end as JSON.
    #[arg(long)]
    pub json: bool,
    /// No progress while it runs.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

impl Default for SwarmArgs {
    fn default() -> Self {
        SwarmArgs {
            url: "http://127.0.0.1:5000".into(),
            adapters: 10,
            types: vec!["element-web".into()],
            mode: Mode::LongPoll,
            wait: 30.0,
            max_delay: None,
            fail: 0.0,
            hang: 0.0,
            hang_for: 300.0,
            die: 0.0,
            lives: None,
            actions: None,
            duration: None,
            seed: None,
            threads: 1,
            json: false,
            quiet: true,
        }
    }
}

/// A checked swarm: what every adapter reads.
#[derive(Debug, Clone)]
pub struct Options {
    pub url: String,
    pub adapters: usize,
    pub types: Vec<String>,
    pub mode: Mode,
    pub wait: f64,
    pub max_delay: Option<Duration>,
    pub fail: f64,
    pub hang: f64,
    pub hang_for: Duration,
    pub die: f64,
    pub lives: Option<u32>,
    pub actions: Option<u64>,
    pub duration: Option<Duration>,
    pub seed: u64,
    pub threads: usize,
    pub progress: bool,
}

impl SwarmArgs {
    /// Checks the flags; the message names the one that is wrong.
    pub fn options(&self) -> Result<Options, String> {
        let share = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(v)
            } else {
                Err(format!("--{name} must be a share between 0 and 1, not {v}"))
            }
        };
        let (fail, hang, die) = (share("fail", self.fail)?, share("hang", self.hang)?, share("die", self.die)?);
        if fail + hang + die > 1.0 {
            return Err(format!("--fail, --hang and --die add up to {}, more than 1", fail + hang + die));
        }
        let url = self.url.trim_end_matches('/').to_string();
        // The HTTP client is built without TLS: the swarm runs beside the server.
        if !url.starts_with("http://") {
            return Err(format!("--url must start with http:// (no TLS support), not {:?}", self.url));
        }
        if self.adapters == 0 {
            return Err("--adapters must be at least 1".into());
        }
        if self.threads == 0 {
            return Err("--threads must be at least 1".into());
        }
        let types: Vec<String> = self.types.iter().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect();
        if types.is_empty() {
            return Err("--types needs at least one client type".into());
        }
        if !(self.wait > 0.0 && self.wait <= MAX_WAIT_SECS) {
            return Err(format!("--wait must be seconds, 0 < wait <= {MAX_WAIT_SECS}, not {}", self.wait));
        }
        let seconds = |name: &str, v: f64| {
            Duration::try_from_secs_f64(v)
                .map_err(|_| format!("--{name} must be a positive number of seconds, not {v}"))
        };
        let seed = self.seed.unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
        });
        Ok(Options {
            url,
            adapters: self.adapters,
            types,
            mode: self.mode,
            wait: self.wait,
            max_delay: self.max_delay.map(Duration::from_millis),
            fail,
            hang,
            hang_for: seconds("hang-for", self.hang_for)?,
            die,
            lives: self.lives.filter(|&n| n > 0),
            actions: self.actions,
            duration: self.duration.map(|d| seconds("duration", d)).transpose()?,
            seed,
            threads: self.threads.min(self.adapters),
            progress: !self.quiet && !self.json,
        })
    }
}

/// `trafficlight swarm`: runs the swarm, prints the figures, answers the exit status
/// (0; 1 if requests went wrong in ways nobody asked for; 2 for bad flags).
pub fn main(args: SwarmArgs) -> i32 {
    let options = match args.options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let summary = run(options);
    if args.json {
        println!("{}", summary.to_json());
    } else {
        print!("{summary}");
    }
    if summary.errors > 0 {
        1
    } else {
        0
    }
}

/// Runs the swarm on `options.threads` threads of its own until it ends (every adapter
/// out of lives, `--actions` or `--duration` reached, or the server gone).
pub fn run(options: Options) -> Summary {
    start(options).join()
}

/// Starts the swarm on threads of its own; the caller watches it, stops it, joins it.
pub fn start(options: Options) -> Swarm {
    let options = Arc::new(options);
    let counters = Arc::new(Counters::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let progress = options.progress.then(|| progress::start(options.clone(), counters.clone()));
    let threads = (0..options.threads)
        .map(|t| {
            let (options, counters, stop_tx, stop_rx) =
                (options.clone(), counters.clone(), stop_tx.clone(), stop_rx.clone());
            std::thread::Builder::new()
                .name(format!("swarm-{t}"))
                .spawn(move || {
                    actix_web::rt::System::new().block_on(adapter::run_thread(t, options, counters, stop_tx, stop_rx))
                })
                .expect("a swarm thread starts")
        })
        .collect();
    Swarm { options, counters, stop_tx, threads, progress }
}

/// A swarm running on its own threads.
pub struct Swarm {
    options: Arc<Options>,
    counters: Arc<Counters>,
    stop_tx: Arc<watch::Sender<bool>>,
    threads: Vec<std::thread::JoinHandle<Vec<u64>>>,
    progress: Option<progress::Progress>,
}

impl Swarm {
    /// Registrations accepted so far.
    pub fn registrations(&self) -> u64 {
        self.counters.registrations.load(Relaxed)
    }

    /// Registrations whose adapter has been told `idle` at least once (registered and
    /// waiting for a case, as far as the server is concerned).
    pub fn idle(&self) -> u64 {
        self.counters.idle.load(Relaxed)
    }

    /// Actions dealt with so far.
    pub fn actions(&self) -> u64 {
        self.counters.actions.load(Relaxed)
    }

    /// Asks every adapter to stop (held requests are dropped).
    pub fn stop(&self) {
        let _ = self.stop_tx.send(true);
    }

    /// Waits for every adapter to stop; answers the figures.
    pub fn join(self) -> Summary {
        let mut round_trips = Vec::new();
        for thread in self.threads {
            round_trips.extend(thread.join().unwrap_or_default());
        }
        let _ = self.stop_tx.send(true);
        if let Some(progress) = self.progress {
            progress.finish();
        }
        Summary::new(&self.options, &self.counters, self.counters.started.elapsed(), round_trips)
    }
}

/// Like [`run`], but on the calling thread's actix System (tests run the swarm beside
/// their server this way).
pub async fn run_here(options: Options) -> Summary {
    let options = Arc::new(Options { threads: 1, progress: false, ..options });
    let counters = Arc::new(Counters::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let round_trips = adapter::run_thread(0, options.clone(), counters.clone(), Arc::new(stop_tx), stop_rx).await;
    Summary::new(&options, &counters, counters.started.elapsed(), round_trips)
}
