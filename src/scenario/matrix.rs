//! The matrix: one test case per combination of allowed client types over a test's slots
//! (and per server type), each with an id that is stable across restarts.

use super::{runner, Scenario, ScriptOptions};
use trafficlight_actors::case::{CaseSpec, Slot};
use trafficlight_actors::{ClientRequirement, ServerRequest};

/// Every case of every scenario, in scenario order.
pub fn expand(scenarios: &[Scenario]) -> Vec<CaseSpec> {
    expand_with(scenarios, ScriptOptions::default())
}

/// Like [`expand`], with the scripts run under `options`.
pub fn expand_with(scenarios: &[Scenario], options: ScriptOptions) -> Vec<CaseSpec> {
    let mut cases = Vec::new();
    for scenario in scenarios {
        let body = runner::script_body(scenario, options);
        let server_types: Vec<Option<&String>> = match &scenario.needs.servers {
            Some(servers) => servers.types.iter().map(Some).collect(),
            None => vec![None],
        };
        for combination in combinations(&scenario.needs.clients) {
            for server_type in &server_types {
                let slots: Vec<Slot> = combination
                    .iter()
                    .map(|(name, requirement)| Slot { name: name.to_string(), requirement: (*requirement).clone() })
                    .collect();
                cases.push(CaseSpec {
                    id: case_id(&scenario.name, &slots, server_type.map(String::as_str)),
                    test: scenario.name.clone(),
                    slots,
                    servers: scenario
                        .needs
                        .servers
                        .as_ref()
                        .zip(*server_type)
                        .map(|(s, t)| ServerRequest { kind: t.clone(), names: s.names.clone() }),
                    timeout: scenario.needs.timeout,
                    body: body.clone(),
                });
            }
        }
    }
    cases
}

/// The cartesian product of the slots' accepted types, first slot varying slowest.
fn combinations(clients: &[(String, Vec<ClientRequirement>)]) -> Vec<Vec<(&str, &ClientRequirement)>> {
    let mut result: Vec<Vec<(&str, &ClientRequirement)>> = vec![Vec::new()];
    for (name, accepted) in clients {
        result = result
            .into_iter()
            .flat_map(|prefix| {
                accepted.iter().map(move |req| {
                    let mut next = prefix.clone();
                    next.push((name.as_str(), req));
                    next
                })
            })
            .collect();
    }
    result
}

/// `{test}-{8 hex digits}`: the digits hash the test's name, each slot's name and
/// requirement, and the server type (FNV-1a, so they never change between builds).
pub fn case_id(test: &str, slots: &[Slot], server_type: Option<&str>) -> String {
    let mut key = test.to_string();
    for slot in slots {
        key.push_str(&format!("|{}={}", slot.name, serde_json::to_string(&slot.requirement).unwrap_or_default()));
    }
    if let Some(t) = server_type {
        key.push_str(&format!("|server={t}"));
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{test}-{:08x}", hash as u32 ^ (hash >> 32) as u32)
}
