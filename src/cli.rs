//! The command line: `trafficlight serve`, `demo`, `list`, `proxy` and `swarm`.

use crate::config::{optional_seconds, seconds, Config, FileConfig};
use crate::scenario::ClientSet;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// Coordinates tests in which several real clients act together.
#[derive(Debug, Parser)]
#[command(name = "trafficlight", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve adapters, run every test case once, report, exit 0 if all succeeded.
    Serve(Box<ServeArgs>),
    /// Run the demo: a local Synapse per case, the headless Matrix clients and network
    /// proxies as adapters, the demo's tests (takes serve's flags); see docs/matrix-client.md.
    Demo(Box<DemoArgs>),
    /// Print every test and its cases without serving; exit 2 on a broken script.
    List(ListArgs),
    /// Run a network-proxy adapter: a proxy in front of a homeserver that test scripts
    /// drive (disable, delay, watch endpoints); exits when trafficlight says so.
    Proxy(ProxyArgs),
    /// Run simulated adapters against a server (load and fault testing); see docs/swarm.md.
    Swarm(crate::swarm::SwarmArgs),
}

/// Flags of `proxy`.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Where trafficlight listens.
    #[arg(long, env = "TRAFFICLIGHT_URL", default_value = "http://127.0.0.1:5000")]
    pub trafficlight_url: String,
    /// Address the proxy listens on (port 0: a free one).
    #[arg(long, env = "TRAFFICLIGHT_PROXY_BIND", default_value = "127.0.0.1:0")]
    pub bind: String,
    /// The URL clients should use (its registered `endpoint`); by default http://{bound address}.
    #[arg(long, env = "TRAFFICLIGHT_PROXY_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The adapter id to register with; by default a fresh one.
    #[arg(long)]
    pub uuid: Option<String>,
}

impl ProxyArgs {
    /// The proxy's configuration.
    pub fn config(&self) -> crate::proxy::ProxyConfig {
        crate::proxy::ProxyConfig {
            trafficlight_url: self.trafficlight_url.clone(),
            bind: self.bind.clone(),
            public_url: self.public_url.clone(),
            uuid: self.uuid.clone(),
        }
    }
}

/// Flags of `serve`; each also from the environment variable named beside it.
#[derive(Debug, Args, Default, Clone)]
pub struct ServeArgs {
    /// Address to listen on (adapters expect 127.0.0.1:5000).
    #[arg(long, env = "TRAFFICLIGHT_BIND")]
    pub bind: Option<String>,
    /// Directory of test scripts (*.rhai, searched recursively).
    #[arg(long, env = "TRAFFICLIGHT_SCENARIOS")]
    pub scenarios: Option<PathBuf>,
    /// Only scripts whose path below --scenarios matches this glob.
    #[arg(long, env = "TRAFFICLIGHT_PATTERN")]
    pub pattern: Option<String>,
    /// Directory for uploads and reports.
    #[arg(long, env = "TRAFFICLIGHT_OUTPUT")]
    pub output: Option<PathBuf>,
    /// TOML config file; flags and environment override it.
    #[arg(long, env = "TRAFFICLIGHT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Seconds an unallocated adapter may go without polling before it is dropped.
    #[arg(long, env = "TRAFFICLIGHT_IDLE_TIMEOUT")]
    pub idle_timeout: Option<f64>,
    /// Seconds an allocated adapter may go without polling or responding before its case errors.
    #[arg(long, env = "TRAFFICLIGHT_ACTIVE_TIMEOUT")]
    pub active_timeout: Option<f64>,
    /// Seconds one action may stay pending (0: no limit).
    #[arg(long, env = "TRAFFICLIGHT_ACTION_TIMEOUT")]
    pub action_timeout: Option<f64>,
    /// Default seconds one case may take once it has adapters.
    #[arg(long, env = "TRAFFICLIGHT_CASE_TIMEOUT")]
    pub case_timeout: Option<f64>,
    /// Seconds a case may wait for adapters before it is skipped (0: forever).
    #[arg(long, env = "TRAFFICLIGHT_QUEUE_TIMEOUT")]
    pub queue_timeout: Option<f64>,
    /// Seconds the server stays up after the run has ended, so adapters learn they must
    /// exit and upload their logs and videos (0: exit at once).
    #[arg(long, env = "TRAFFICLIGHT_EXIT_GRACE")]
    pub exit_grace: Option<f64>,
    /// Largest upload request in bytes.
    #[arg(long, env = "TRAFFICLIGHT_UPLOAD_LIMIT")]
    pub upload_limit: Option<u64>,
    /// Only the cases whose every client slot these types can fill (TYPE,TYPE,... or
    /// `all`); by default every case but those of opt-in types (matrix-rust-sdk).
    #[arg(long, env = "TRAFFICLIGHT_CLIENTS")]
    pub clients: Option<String>,
    /// Complement's homerunner, which makes the homeservers of image server types
    /// (default http://localhost:54321).
    #[arg(long, env = "TRAFFICLIGHT_HOMERUNNER_URL")]
    pub homerunner_url: Option<String>,
    /// The built-in Synapse server types start local Synapse processes (no Docker); see
    /// scripts/install-synapse.sh.
    #[arg(long, env = "TRAFFICLIGHT_LOCAL_SYNAPSE")]
    pub local_synapse: bool,
    /// The Python that has Synapse installed (default: the one scripts/install-synapse.sh makes).
    #[arg(long, env = "TRAFFICLIGHT_SYNAPSE_PYTHON")]
    pub synapse_python: Option<PathBuf>,
    /// How many cases provision their homeservers at once (default 4).
    #[arg(long, env = "TRAFFICLIGHT_PROVISION_LIMIT")]
    pub provision_limit: Option<usize>,
    /// Seconds one case's homeservers may take to be made (default 300).
    #[arg(long, env = "TRAFFICLIGHT_PROVISION_TIMEOUT")]
    pub provision_timeout: Option<f64>,
}

/// Flags of `demo`: serve's, and where the headless client is.
#[derive(Debug, Args, Default)]
pub struct DemoArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// The headless Matrix client's binary (default: `trafficlight-matrix-client` next to
    /// this executable; build it with `cargo build -p trafficlight-matrix-client`).
    #[arg(long, env = "TRAFFICLIGHT_CLIENT_BIN")]
    pub client_bin: Option<PathBuf>,
    /// Seconds a client's action may wait for something to happen (its `--deadline`).
    #[arg(long, default_value_t = 60)]
    pub client_deadline: u64,
}

/// Flags of `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Directory of test scripts.
    #[arg(long, env = "TRAFFICLIGHT_SCENARIOS", default_value = "scenarios")]
    pub scenarios: PathBuf,
    /// Only scripts whose path below --scenarios matches this glob.
    #[arg(long, env = "TRAFFICLIGHT_PATTERN")]
    pub pattern: Option<String>,
    /// Only the cases whose every client slot these types can fill (as `serve --clients`).
    #[arg(long, env = "TRAFFICLIGHT_CLIENTS")]
    pub clients: Option<String>,
}

impl ListArgs {
    /// The client set of `--clients`.
    pub fn client_set(&self) -> Result<ClientSet, String> {
        self.clients.as_deref().map(ClientSet::parse).transpose().map(Option::unwrap_or_default)
    }
}

impl ServeArgs {
    /// The configuration: defaults, then the config file, then these flags.
    pub fn resolve(&self) -> Result<Config, String> {
        let file = match &self.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        let mut config = Config::default();
        let pick_f = |flag: Option<f64>, file: Option<f64>| flag.or(file);
        if let Some(bind) = self.bind.clone().or(file.bind) {
            config.bind = bind;
        }
        config.scenarios = self.scenarios.clone().or(file.scenarios);
        config.pattern = self.pattern.clone().or(file.pattern);
        if let Some(output) = self.output.clone().or(file.output) {
            config.output = output;
        }
        let t = &mut config.timeouts;
        if let Some(v) = pick_f(self.idle_timeout, file.idle_timeout) {
            t.idle = seconds("idle timeout", v)?;
        }
        if let Some(v) = pick_f(self.active_timeout, file.active_timeout) {
            t.active = seconds("active timeout", v)?;
        }
        if let Some(v) = pick_f(self.action_timeout, file.action_timeout) {
            t.action = optional_seconds("action timeout", v)?;
        }
        if let Some(v) = pick_f(self.case_timeout, file.case_timeout) {
            t.case = seconds("case timeout", v)?;
        }
        if let Some(v) = pick_f(self.queue_timeout, file.queue_timeout) {
            t.queue = optional_seconds("queue timeout", v)?;
        }
        if let Some(v) = pick_f(self.exit_grace, file.exit_grace) {
            t.exit_grace = if v == 0.0 { Default::default() } else { seconds("exit grace", v)? };
        }
        if let Some(limit) = self.upload_limit.or(file.upload_limit) {
            config.upload_limit = limit;
        }
        if let Some(v) = file.body_stall {
            config.body_stall = seconds("body_stall", v)?;
        }
        match (&self.clients, file.clients) {
            (Some(flag), _) => config.clients = ClientSet::parse(flag)?,
            (None, Some(list)) => config.clients = ClientSet::parse(&list.join(","))?,
            (None, None) => {}
        }
        if let Some(v) = file.script_sleep_scale {
            if !(v.is_finite() && (0.0..=1000.0).contains(&v)) {
                return Err(format!("script_sleep_scale must be a number from 0 to 1000, not {v}"));
            }
            config.script_sleep_scale = v;
        }
        if let Some(v) = file.shutdown_drain {
            config.shutdown_drain = if v == 0.0 { Duration::ZERO } else { seconds("shutdown_drain", v)? };
        }
        config.servers = file.servers;
        for (name, entry) in file.server_types {
            let kind = entry.kind(&name).map_err(|e| format!("config: {e}"))?;
            config.server_types.insert(name, kind);
        }
        config.local_synapse = self.local_synapse || file.local_synapse.unwrap_or(false);
        let p = &mut config.provision;
        if let Some(url) = self.homerunner_url.clone().or(file.homerunner_url) {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("the homerunner URL must start with http:// or https://, not {url:?}"));
            }
            p.homerunner_url = url;
        }
        if let Some(python) = self.synapse_python.clone().or(file.synapse_python) {
            p.synapse_python = python;
        }
        if let Some(limit) = self.provision_limit.or(file.provision_limit) {
            if limit == 0 {
                return Err("the provision limit must be at least 1".into());
            }
            p.limit = limit;
        }
        if let Some(v) = pick_f(self.provision_timeout, file.provision_timeout) {
            p.timeout = seconds("provision timeout", v)?;
        }
        // Refuse [[servers]] with --local-synapse now, not when the first case starts.
        config.server_types()?;
        Ok(config)
    }
}
