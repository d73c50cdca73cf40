//! Server types: what a test's `servers.type` names, as the config defines it (Complement
//! images made by homerunner, servers that already run, or local Synapse processes), the
//! built-in defaults, and the load-time check that every type a test names exists.

use crate::scenario::{Scenario, ScenarioError};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use trafficlight_actors::Homeserver;

/// Complement's Synapse image, as the original used it.
pub const SYNAPSE_DEVELOP: &str = "ghcr.io/matrix-org/synapse/complement-synapse:develop";
/// The stable Synapse image.
pub const SYNAPSE_STABLE: &str = "ghcr.io/matrix-org/synapse/complement-synapse:master";
/// Complement's Dendrite image, as the original named it (built locally from Dendrite).
pub const DENDRITE: &str = "complement-dendrite";

/// How servers of one type are made.
#[derive(Clone, Debug, PartialEq)]
pub enum ServerKind {
    /// Homerunner makes one homeserver per image (one image serves every server).
    Images(Vec<String>),
    /// Servers that already run, handed out in order.
    Static(Vec<Homeserver>),
    /// Fresh local Synapse processes, one per server.
    Synapse(SynapseEntry),
}

/// `[server_types.NAME]` in the config file: exactly one of the three keys.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTypeEntry {
    pub images: Option<Vec<String>>,
    #[serde(rename = "static")]
    pub fixed: Option<Vec<Homeserver>>,
    pub synapse: Option<SynapseEntry>,
}

/// `synapse = { ... }`: every key optional.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SynapseEntry {
    /// The Python with Synapse installed (default: `--synapse-python`).
    pub python: Option<PathBuf>,
    /// Settings merged over the generated `homeserver.yaml`.
    #[serde(default)]
    pub config: Map<String, Value>,
}

impl ServerTypeEntry {
    /// The kind this entry defines, or what is wrong with it.
    pub fn kind(self, name: &str) -> Result<ServerKind, String> {
        match (self.images, self.fixed, self.synapse) {
            (Some(images), None, None) if !images.is_empty() && images.iter().all(|i| !i.is_empty()) => {
                Ok(ServerKind::Images(images))
            }
            (Some(_), None, None) => Err(format!("server type '{name}': images must list at least one image name")),
            (None, Some(servers), None) if !servers.is_empty() => Ok(ServerKind::Static(servers)),
            (None, Some(_), None) => Err(format!("server type '{name}': static must list at least one server")),
            (None, None, Some(synapse)) => Ok(ServerKind::Synapse(synapse)),
            _ => Err(format!("server type '{name}' must have exactly one of images, static or synapse")),
        }
    }
}

/// The types every test may name without configuring anything, as the original had them.
pub fn builtin(local_synapse: bool) -> BTreeMap<String, ServerKind> {
    let image = |i: &str| ServerKind::Images(vec![i.to_string()]);
    let local = || ServerKind::Synapse(SynapseEntry::default());
    let synapse = |i: &str| if local_synapse { local() } else { image(i) };
    BTreeMap::from([
        ("synapse".to_string(), synapse(SYNAPSE_DEVELOP)),
        ("synapse-develop".to_string(), synapse(SYNAPSE_DEVELOP)),
        ("synapse-stable".to_string(), synapse(SYNAPSE_STABLE)),
        (
            "synapse-federation".to_string(),
            if local_synapse {
                local()
            } else {
                ServerKind::Images(vec![SYNAPSE_DEVELOP.to_string(), SYNAPSE_DEVELOP.to_string()])
            },
        ),
        ("dendrite".to_string(), image(DENDRITE)),
    ])
}

/// Every server type of a run, and what stands in for the ones not defined.
#[derive(Clone, Debug)]
pub struct ServerTypes {
    pub defined: BTreeMap<String, ServerKind>,
    /// `[[servers]]` from the config: serves every type not defined explicitly.
    pub fallback: Option<Vec<Homeserver>>,
}

impl ServerTypes {
    /// The types from the config: `explicit` over the built-ins. `[[servers]]` (`legacy`)
    /// replaces the built-ins, as the original's SERVER_OVERRIDES replaced homerunner.
    pub fn resolve(
        explicit: &BTreeMap<String, ServerKind>,
        legacy: &[Homeserver],
        local_synapse: bool,
    ) -> Result<Self, String> {
        if legacy.is_empty() {
            let mut defined = builtin(local_synapse);
            defined.extend(explicit.clone());
            return Ok(ServerTypes { defined, fallback: None });
        }
        if local_synapse {
            return Err("--local-synapse and [[servers]] in the config both say where servers come from: \
                 drop [[servers]] (or give its servers a type of their own: [server_types.NAME] static = [...])"
                .into());
        }
        Ok(ServerTypes { defined: explicit.clone(), fallback: Some(legacy.to_vec()) })
    }

    /// What serves type `name`.
    pub fn get(&self, name: &str) -> Option<ServerKind> {
        self.defined.get(name).cloned().or_else(|| self.fallback.clone().map(ServerKind::Static))
    }

    /// Checks that every type a test names is defined and can make as many servers as it
    /// names; the error points at the test's `fn needs()`.
    pub fn check(&self, scenarios: &[Scenario]) -> Result<(), ScenarioError> {
        for scenario in scenarios {
            let Some(needs) = &scenario.needs.servers else { continue };
            let error = |message: String| ScenarioError {
                file: scenario.path.display().to_string(),
                position: Some(scenario.needs_position),
                message,
            };
            for kind in &needs.types {
                let wanted = needs.names.len();
                match self.get(kind) {
                    None => {
                        let known: Vec<&str> = self.defined.keys().map(String::as_str).collect();
                        return Err(error(format!(
                            "server type '{kind}' is not defined (the types are {}): define it in the config under [server_types.{kind}]",
                            known.join(", ")
                        )));
                    }
                    Some(ServerKind::Images(images)) if images.len() > 1 && images.len() != wanted => {
                        return Err(error(format!(
                            "server type '{kind}' makes {} servers (one per image) but the test names {wanted}",
                            images.len()
                        )));
                    }
                    Some(ServerKind::Static(servers)) if servers.len() < wanted => {
                        return Err(error(format!(
                            "server type '{kind}' has {} server(s) configured but the test names {wanted}",
                            servers.len()
                        )));
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }

    /// The tests (by name) that need homerunner, for the start-up check.
    pub fn homerunner_tests(&self, scenarios: &[Scenario]) -> Vec<String> {
        scenarios
            .iter()
            .filter(|s| {
                s.needs
                    .servers
                    .as_ref()
                    .is_some_and(|n| n.types.iter().any(|t| matches!(self.get(t), Some(ServerKind::Images(_)))))
            })
            .map(|s| s.name.clone())
            .collect()
    }
}
