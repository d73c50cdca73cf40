//! `trafficlight list`: every test and its cases, without serving.

use crate::scenario::{self, ClientSet, Scenario};
use std::fmt::Write;
use std::path::Path;
use trafficlight_actors::case::CaseSpec;

/// The listing of the scenarios in `dir` as `clients` plays them (the cases left out last,
/// with their reasons), or the error a broken script gives.
pub fn listing(dir: &Path, pattern: Option<&str>, clients: &ClientSet) -> Result<String, scenario::ScenarioError> {
    let scenarios = scenario::load_dir(dir, pattern)?;
    let (cases, left_out) = clients.select(scenario::expand(&scenarios));
    let mut out = render(&scenarios, &cases);
    if !left_out.is_empty() {
        let _ = writeln!(out, "{} case(s) left out:", left_out.len());
        for (case, why) in &left_out {
            let _ = writeln!(out, "  {}  {why}", case.id);
        }
    }
    Ok(out)
}

fn render(scenarios: &[Scenario], cases: &[CaseSpec]) -> String {
    let mut out = String::new();
    for scenario in scenarios {
        let own: Vec<&CaseSpec> = cases.iter().filter(|c| c.test == scenario.name).collect();
        let _ = writeln!(out, "{} ({}): {} case(s)", scenario.name, scenario.path.display(), own.len());
        for case in own {
            let clients: Vec<String> = case.slots.iter().map(|s| format!("{}={}", s.name, s.requirement)).collect();
            let servers = case
                .servers
                .as_ref()
                .map(|s| format!("  servers: {} ({})", s.kind, s.names.join(", ")))
                .unwrap_or_default();
            let _ = writeln!(out, "  {}  {}{servers}", case.id, clients.join(" "));
        }
    }
    let _ = writeln!(out, "{} test(s), {} case(s)", scenarios.len(), cases.len());
    out
}
