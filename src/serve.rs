//! `trafficlight serve` as a library: load and check the tests, start the server, run to
//! the end. `trafficlight demo` goes through the same steps and starts adapters in between.

use crate::config::Config;
use crate::dashboard::{Dashboard, Script};
use crate::provision::{self, ServerTypes};
use crate::{scenario, startup};
use std::collections::HashMap;
use std::path::PathBuf;
use trafficlight_actors::case::CaseSpec;

/// Exit status for a start that could not happen (bad flags, broken scripts).
pub const EXIT_BAD_START: i32 = 2;

/// Tells the user what stopped the start; answers [`EXIT_BAD_START`].
pub fn bad_start(error: impl std::fmt::Display) -> i32 {
    eprintln!("error: {error}");
    EXIT_BAD_START
}

/// A run, checked and ready to serve.
pub struct Prepared {
    /// The cases the client set plays.
    pub cases: Vec<CaseSpec>,
    /// The tests' scripts, for the case pages.
    pub scripts: HashMap<String, Script>,
    /// The run's server types.
    pub types: ServerTypes,
    /// Tests that need homerunner.
    pub homerunner_tests: Vec<String>,
}

/// Loads the tests of `config.scenarios` (default `scenarios`), checks the output
/// directory and the server types, expands the cases and keeps those the client set plays.
/// The error is what to tell the user; the start then fails with [`EXIT_BAD_START`].
pub fn prepare(config: &Config) -> Result<Prepared, String> {
    let dir = config.scenarios.clone().unwrap_or_else(|| PathBuf::from("scenarios"));
    let scenarios = match scenario::load_dir(&dir, config.pattern.as_deref()) {
        Ok(s) if s.is_empty() => return Err(format!("no test scripts (*.rhai) found in {}", dir.display())),
        Ok(s) => s,
        Err(e) => return Err(e.to_string()),
    };
    startup::check_output(&config.output)?;
    let types = config.server_types()?;
    types.check(&scenarios).map_err(|e| e.to_string())?;
    let homerunner_tests = types.homerunner_tests(&scenarios);
    let options = scenario::ScriptOptions { sleep_scale: config.script_sleep_scale };
    let (cases, left_out) = config.clients.select(scenario::expand_with(&scenarios, options));
    let scripts = Dashboard::scripts_of(&scenarios);
    log::info!("loaded {} test(s) from {}: {} case(s)", scenarios.len(), dir.display(), cases.len());
    for (case, why) in &left_out {
        log::info!("case {} left out: {why}", case.id);
    }
    if cases.is_empty() {
        return Err("no case left to run: every case needs a client type the client set leaves out".into());
    }
    Ok(Prepared { cases, scripts, types, homerunner_tests })
}

/// Warns once if homerunner, which some loaded tests need, does not answer.
pub async fn warn_if_homerunner_missing(config: &Config, homerunner_tests: &[String]) {
    if homerunner_tests.is_empty() {
        return;
    }
    let url = config.provision.homerunner_url.clone();
    if let Err(e) = provision::homerunner::reachable(&url).await {
        log::warn!(
            "homerunner at {url} is not reachable ({e}); these tests need it and their cases will error until it answers: {} (start homerunner, set --homerunner-url, or use --local-synapse for the Synapse types)",
            homerunner_tests.join(", ")
        );
    }
}

/// `trafficlight serve`: runs every case once and answers the process's exit status.
pub fn serve(config: Config) -> i32 {
    let prepared = match prepare(&config) {
        Ok(p) => p,
        Err(e) => return bad_start(e),
    };
    actix_web::rt::System::new().block_on(async move {
        let listener = match startup::bind(&config) {
            Ok(l) => l,
            Err(e) => return bad_start(e),
        };
        warn_if_homerunner_missing(&config, &prepared.homerunner_tests).await;
        match startup::start_with_scripts(listener, config, prepared.cases, prepared.scripts).await {
            Ok(running) => {
                log::info!("listening on http://{}", running.addr);
                startup::run_to_end(running).await
            }
            Err(e) => bad_start(e),
        }
    })
}
