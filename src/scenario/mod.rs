//! Test scripts: Rhai scenarios, loaded and checked at start, expanded into the client ×
//! server matrix, and run as case bodies on threads of their own.
//!
//! A scenario declares what it needs in `fn needs()`; its top-level statements are the
//! test body, with one variable per client slot and per server name.

mod client;
mod clients;
mod engine;
mod error;
mod homeserver;
mod matrix;
mod needs;
mod runner;

pub use clients::{ClientSet, OPT_IN_CLIENT_TYPES};
pub use error::ScenarioError;
pub use matrix::{case_id, expand, expand_with};

/// How scripts run, from the server's configuration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScriptOptions {
    /// A script's `sleep(ms)` sleeps `ms * sleep_scale` (tests make it small).
    pub sleep_scale: f64,
}

impl Default for ScriptOptions {
    fn default() -> Self {
        ScriptOptions { sleep_scale: 1.0 }
    }
}
pub use needs::{Needs, ServerNeeds};

use rhai::AST;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The action vocabulary, compiled into the binary; `prelude.rhai` beside the scenarios
/// adds to it or overrides it.
pub const PRELUDE: &str = include_str!("prelude.rhai");
/// How many operations `needs()` may take (it builds a map; a million is plenty).
const NEEDS_MAX_OPERATIONS: u64 = 1_000_000;
/// The name of the optional prelude file at the top of the scenarios directory.
pub const USER_PRELUDE_FILE: &str = "prelude.rhai";

/// One loaded test script.
#[derive(Clone)]
pub struct Scenario {
    /// The test's name: the file name without `.rhai`, unless `needs()` gives `name`.
    pub name: String,
    /// The file, as given (relative to the working directory or absolute).
    pub path: PathBuf,
    /// What `needs()` returned.
    pub needs: Needs,
    /// Line and column of `fn needs`, where errors about what it asks for point.
    pub needs_position: (usize, usize),
    /// The script with the prelude's functions merged in.
    pub ast: Arc<AST>,
    /// The script's text, as the case page shows it.
    pub source: Arc<str>,
}

/// Loads every `*.rhai` below `dir` (but the prelude), optionally only those whose path
/// relative to `dir` matches `pattern`; sorted by path. The first broken script stops it.
pub fn load_dir(dir: &Path, pattern: Option<&str>) -> Result<Vec<Scenario>, ScenarioError> {
    let pattern = match pattern {
        Some(p) => Some(glob::Pattern::new(p).map_err(|e| ScenarioError::plain(p, format!("bad --pattern: {e}")))?),
        None => None,
    };
    let prelude = load_prelude(dir)?;
    let mut files = Vec::new();
    collect_scripts(dir, &mut files).map_err(|e| ScenarioError::plain(&dir.display().to_string(), e))?;
    files.sort();
    let mut scenarios: Vec<Scenario> = Vec::new();
    for file in files {
        let relative = file.strip_prefix(dir).unwrap_or(&file);
        if relative == Path::new(USER_PRELUDE_FILE) {
            continue;
        }
        if pattern.as_ref().is_some_and(|p| !p.matches_path(relative)) {
            continue;
        }
        let source = std::fs::read_to_string(&file)
            .map_err(|e| ScenarioError::plain(&file.display().to_string(), format!("cannot read: {e}")))?;
        let scenario = load_source(&file, &source, &prelude)?;
        if let Some(other) = scenarios.iter().find(|s| s.name == scenario.name) {
            return Err(ScenarioError::plain(
                &file.display().to_string(),
                format!(
                    "a test named '{}' already comes from {}: give one of them a `name` in needs()",
                    scenario.name,
                    other.path.display()
                ),
            ));
        }
        scenarios.push(scenario);
    }
    Ok(scenarios)
}

fn collect_scripts(dir: &Path, into: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read the scenarios directory: {e}"))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            collect_scripts(&path, into)?;
        } else if path.extension().is_some_and(|e| e == "rhai") {
            into.push(path);
        }
    }
    Ok(())
}

/// The built-in prelude merged with `dir/prelude.rhai`, if there is one.
pub fn load_prelude(dir: &Path) -> Result<AST, ScenarioError> {
    let engine = engine::checking_engine();
    let mut prelude = engine::compile(&engine, "prelude.rhai (built in)", PRELUDE)?;
    let user = dir.join(USER_PRELUDE_FILE);
    if user.is_file() {
        let name = user.display().to_string();
        let source =
            std::fs::read_to_string(&user).map_err(|e| ScenarioError::plain(&name, format!("cannot read: {e}")))?;
        prelude = prelude.merge(&engine::compile(&engine, &name, &source)?);
    }
    Ok(prelude)
}

/// Compiles one script against `prelude`, evaluates its `needs()` and checks the body's
/// variables, so a mistyped client name fails the start and not the run.
pub fn load_source(path: &Path, source: &str, prelude: &AST) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let mut engine = engine::checking_engine();
    // needs() runs at start, before any deadline: an endless one must fail, not hang the start.
    engine.set_max_operations(NEEDS_MAX_OPERATIONS);
    let script = engine::compile(&engine, &file, source)?;
    let needs = needs::evaluate(&engine, &file, source, &script)?;
    engine::check_variables(&file, source, &needs)?;
    let ast = Arc::new(prelude.merge(&script));
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = needs.name.clone().unwrap_or(stem);
    Ok(Scenario {
        name,
        path: path.to_path_buf(),
        needs,
        needs_position: needs::needs_position(source),
        ast,
        source: source.into(),
    })
}
