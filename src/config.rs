//! The server's configuration: defaults, overridden by a TOML file, overridden by flags
//! and `TRAFFICLIGHT_*` environment variables.

use crate::provision::{self, ServerKind, ServerTypeEntry};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use trafficlight_actors::{Homeserver, Timeouts};

/// Where adapters expect the server by default.
pub const DEFAULT_BIND: &str = "127.0.0.1:5000";
/// Largest upload request accepted, by default.
pub const DEFAULT_UPLOAD_LIMIT: u64 = 512 * 1024 * 1024;
/// How long a request body (upload, register, respond, error) may send nothing, by default.
pub const DEFAULT_BODY_STALL: Duration = Duration::from_secs(30);
/// How long open connections may finish after the run, by default, before they are cut.
pub const DEFAULT_SHUTDOWN_DRAIN: Duration = Duration::from_secs(2);
/// Largest JSON body (register, respond, error) accepted.
pub const JSON_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Everything the server needs to run.
#[derive(Clone, Debug)]
pub struct Config {
    pub bind: String,
    pub scenarios: Option<PathBuf>,
    pub pattern: Option<String>,
    pub output: PathBuf,
    pub timeouts: Timeouts,
    pub upload_limit: u64,
    /// How long a request body may send nothing before it is refused (408).
    pub body_stall: Duration,
    /// How long connections still open when the server stops may finish before they are cut.
    pub shutdown_drain: Duration,
    /// The client types this run plays (`--clients`).
    pub clients: crate::scenario::ClientSet,
    /// Scripts' `sleep(s)` sleeps `s * script_sleep_scale` (1; tests make it small).
    pub script_sleep_scale: f64,
    /// `[[servers]]`: homeservers that already run, for every server type the config does
    /// not define itself (they replace the built-in types).
    pub servers: Vec<Homeserver>,
    /// `[server_types.NAME]` from the config, over the built-in types.
    pub server_types: BTreeMap<String, ServerKind>,
    /// The built-in Synapse types start local Synapse processes instead of using homerunner.
    pub local_synapse: bool,
    /// Homerunner's URL, its limit and deadline, where local Synapse comes from.
    pub provision: provision::Settings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: DEFAULT_BIND.into(),
            scenarios: None,
            pattern: None,
            output: PathBuf::from("output"),
            timeouts: Timeouts::default(),
            upload_limit: DEFAULT_UPLOAD_LIMIT,
            body_stall: DEFAULT_BODY_STALL,
            shutdown_drain: DEFAULT_SHUTDOWN_DRAIN,
            script_sleep_scale: 1.0,
            clients: Default::default(),
            servers: Vec::new(),
            server_types: BTreeMap::new(),
            local_synapse: false,
            provision: provision::Settings::default(),
        }
    }
}

/// The TOML file's shape: every field optional; durations in seconds.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub bind: Option<String>,
    pub scenarios: Option<PathBuf>,
    pub pattern: Option<String>,
    pub output: Option<PathBuf>,
    pub idle_timeout: Option<f64>,
    pub active_timeout: Option<f64>,
    pub action_timeout: Option<f64>,
    pub case_timeout: Option<f64>,
    pub queue_timeout: Option<f64>,
    pub exit_grace: Option<f64>,
    pub upload_limit: Option<u64>,
    pub body_stall: Option<f64>,
    pub shutdown_drain: Option<f64>,
    pub script_sleep_scale: Option<f64>,
    /// Client types to play, as `--clients` (`["all"]` for every type).
    pub clients: Option<Vec<String>>,
    #[serde(default)]
    pub servers: Vec<Homeserver>,
    #[serde(default)]
    pub server_types: BTreeMap<String, ServerTypeEntry>,
    pub homerunner_url: Option<String>,
    pub local_synapse: Option<bool>,
    pub provision_limit: Option<usize>,
    pub provision_timeout: Option<f64>,
    pub synapse_python: Option<PathBuf>,
}

impl FileConfig {
    /// Reads and parses a TOML config file; the error names the file and the problem.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))
    }
}

impl Config {
    /// Every server type of the run: the configured ones over the built-ins.
    pub fn server_types(&self) -> Result<provision::ServerTypes, String> {
        provision::ServerTypes::resolve(&self.server_types, &self.servers, self.local_synapse)
    }
}

/// Seconds as given by a person (flag, env, file) into a duration; must be positive and finite.
pub fn seconds(name: &str, value: f64) -> Result<Duration, String> {
    match Duration::try_from_secs_f64(value) {
        Ok(d) if value > 0.0 => Ok(d),
        _ => Err(format!("{name} must be a positive number of seconds (at most about 1.8e19), not {value}")),
    }
}

/// Like [`seconds`], where 0 means "no limit".
pub fn optional_seconds(name: &str, value: f64) -> Result<Option<Duration>, String> {
    if value == 0.0 {
        Ok(None)
    } else {
        seconds(name, value).map(Some)
    }
}
