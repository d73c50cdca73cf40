//! `fn needs()`: what a test declares it needs, checked with messages a test author can act on.

use super::ScenarioError;
use rhai::{CallFnOptions, Engine, Scope, AST};
use serde_json::{Map, Value};
use std::time::Duration;
use trafficlight_actors::ClientRequirement;

/// What a test needs to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Needs {
    /// Overrides the test's name (the file name by default).
    pub name: Option<String>,
    /// Client slots in name order, each with the client types it accepts.
    pub clients: Vec<(String, Vec<ClientRequirement>)>,
    /// Homeservers, if the test uses any.
    pub servers: Option<ServerNeeds>,
    /// How long one case may take.
    pub timeout: Option<Duration>,
}

/// `servers: #{ type: "synapse", names: ["server"] }`; `type` may list several (a matrix dimension).
#[derive(Clone, Debug, PartialEq)]
pub struct ServerNeeds {
    pub types: Vec<String>,
    pub names: Vec<String>,
}

/// Calls `needs()` without running the body, and checks what it returned.
pub fn evaluate(engine: &Engine, file: &str, source: &str, ast: &AST) -> Result<Needs, ScenarioError> {
    let here = needs_position(source);
    let err = |message: String| ScenarioError { file: file.to_string(), position: Some(here), message };
    if !ast.iter_functions().any(|f| f.name == "needs" && f.params.is_empty()) {
        return Err(ScenarioError {
            file: file.to_string(),
            position: Some((1, 1)),
            message: "the script has no `fn needs()`: declare the clients it needs, e.g. fn needs() { #{ clients: #{ alice: [\"element-web\"] } } }".into(),
        });
    }
    let options = CallFnOptions::new().eval_ast(false).rewind_scope(true);
    let value: rhai::Dynamic =
        engine.call_fn_with_options(options, &mut Scope::new(), ast, "needs", ()).map_err(|e| {
            match e.position().is_none() {
                true => err(format!("needs() failed: {e}")),
                false => ScenarioError::at(file, e.position(), format!("needs() failed: {e}")),
            }
        })?;
    let value: Value = rhai::serde::from_dynamic(&value)
        .map_err(|e| err(format!("needs() returned something that is not data: {e}")))?;
    parse(value).map_err(err)
}

/// Line and column of `fn needs`, where shape errors point.
pub fn needs_position(source: &str) -> (usize, usize) {
    for (i, line) in source.lines().enumerate() {
        if let Some(col) = line.find("fn needs") {
            return (i + 1, col + 1);
        }
    }
    (1, 1)
}

fn parse(value: Value) -> Result<Needs, String> {
    let Value::Object(map) = value else {
        return Err(format!("needs() must return a map like #{{ clients: #{{ ... }} }}, not {value}"));
    };
    if let Some(key) = map.keys().find(|k| !["clients", "servers", "timeout", "name"].contains(&k.as_str())) {
        return Err(format!("needs() has an unknown key '{key}': the keys are clients, servers, timeout and name"));
    }
    let clients = parse_clients(map.get("clients"))?;
    let servers = map.get("servers").map(parse_servers).transpose()?;
    if let Some(servers) = &servers {
        if let Some(clash) = servers.names.iter().find(|n| clients.iter().any(|(c, _)| c == *n)) {
            return Err(format!("'{clash}' is both a client slot and a server name"));
        }
    }
    let timeout = match map.get("timeout") {
        None => None,
        Some(value) => match value.as_f64().map(|s| (s, Duration::try_from_secs_f64(s))) {
            Some((s, Ok(d))) if s > 0.0 => Some(d),
            _ => return Err(format!("timeout must be a positive number of seconds, not {value}")),
        },
    };
    let name = match map.get("name") {
        None => None,
        Some(Value::String(s)) if is_test_name(s) => Some(s.clone()),
        Some(other) => return Err(format!("name must be a word of letters, digits, '_', '-' or '.', not {other}")),
    };
    Ok(Needs { name, clients, servers, timeout })
}

fn parse_clients(value: Option<&Value>) -> Result<Vec<(String, Vec<ClientRequirement>)>, String> {
    let Some(Value::Object(slots)) = value else {
        return Err("needs() must have `clients`, a map from slot name to the client types it accepts, e.g. clients: #{ alice: [\"element-web\"] }".into());
    };
    if slots.is_empty() {
        return Err("clients is empty: a test needs at least one client".into());
    }
    let mut out = Vec::new();
    for (slot, accepts) in slots {
        if !is_identifier(slot) {
            return Err(format!(
                "client slot '{slot}' is not a usable variable name (letters, digits, '_', not starting with a digit)"
            ));
        }
        let list = match accepts {
            Value::Array(list) => list.clone(),
            one @ (Value::String(_) | Value::Object(_)) => vec![one.clone()],
            other => {
                return Err(format!("client slot '{slot}' must list client types, like [\"element-web\"], not {other}"))
            }
        };
        if list.is_empty() {
            return Err(format!("client slot '{slot}' accepts no client type"));
        }
        let requirements = list.iter().map(|t| requirement(slot, t)).collect::<Result<Vec<_>, _>>()?;
        out.push((slot.clone(), requirements));
    }
    Ok(out)
}

fn requirement(slot: &str, value: &Value) -> Result<ClientRequirement, String> {
    match value {
        Value::String(t) if !t.is_empty() => Ok(ClientRequirement::Type(t.clone())),
        Value::Object(fields) if !fields.is_empty() && fields.values().all(is_scalar) => {
            Ok(ClientRequirement::Fields(fields.clone()))
        }
        other => Err(format!(
            "client slot '{slot}': a client type is a word (\"element-web\") or a map of registration fields (#{{type: \"element-web\", version: \"2\"}}), not {other}"
        )),
    }
}

fn parse_servers(value: &Value) -> Result<ServerNeeds, String> {
    let Value::Object(map) = value else {
        return Err(format!("servers must be a map like #{{ type: \"synapse\", names: [\"server\"] }}, not {value}"));
    };
    let fields: &Map<String, Value> = map;
    if let Some(key) = fields.keys().find(|k| !["type", "names"].contains(&k.as_str())) {
        return Err(format!("servers has an unknown key '{key}': the keys are type and names"));
    }
    let types = match fields.get("type") {
        None => vec!["synapse".to_string()],
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(list)) if !list.is_empty() && list.iter().all(Value::is_string) => {
            list.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect()
        }
        Some(other) => return Err(format!("servers.type must be a server type or a list of them, not {other}")),
    };
    let names = match fields.get("names") {
        Some(Value::Array(list)) if !list.is_empty() => list
            .iter()
            .map(|n| match n {
                Value::String(s) if is_identifier(s) => Ok(s.clone()),
                other => Err(format!("server name {other} is not a usable variable name")),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err("servers.names must list one variable name per server, like [\"server\"]".into()),
    };
    Ok(ServerNeeds { types, names })
}

fn is_scalar(v: &Value) -> bool {
    matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_test_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_clients_servers_timeout_and_name() {
        let needs = parse(json!({
            "clients": {"bob": ["element-web", {"type": "element-web", "version": "2"}], "alice": "hydrogen-web"},
            "servers": {"type": ["synapse", "dendrite"], "names": ["hs1", "hs2"]},
            "timeout": 600,
            "name": "custom"
        }))
        .unwrap();
        assert_eq!(needs.clients.len(), 2);
        assert_eq!(needs.clients[0].0, "alice");
        assert_eq!(needs.clients[1].1.len(), 2);
        assert_eq!(needs.servers.unwrap().types, vec!["synapse", "dendrite"]);
        assert_eq!(needs.timeout, Some(Duration::from_secs(600)));
        assert_eq!(needs.name.as_deref(), Some("custom"));
    }

    #[test]
    fn refuses_shapes_a_test_author_could_get_wrong() {
        for (bad, says) in [
            (json!([1]), "must return a map"),
            (json!({}), "must have `clients`"),
            (json!({"clients": {}}), "clients is empty"),
            (json!({"clients": {"alice": []}}), "accepts no client type"),
            (json!({"clients": {"alice": [5]}}), "a client type is a word"),
            (json!({"clients": {"alice": 5}}), "must list client types"),
            (json!({"clients": {"1x": ["a"]}}), "not a usable variable name"),
            (json!({"clients": {"a": ["x"]}, "colour": 1}), "unknown key 'colour'"),
            (json!({"clients": {"a": ["x"]}, "timeout": -1}), "positive number"),
            (json!({"clients": {"a": ["x"]}, "timeout": 1e20}), "positive number"),
            (json!({"clients": {"a": ["x"]}, "timeout": "600"}), "positive number"),
            (json!({"clients": {"a": ["x"]}, "servers": {"names": []}}), "servers.names"),
            (json!({"clients": {"a": ["x"]}, "servers": {"names": ["a"]}}), "both a client slot and a server"),
        ] {
            let err = parse(bad.clone()).unwrap_err();
            assert!(err.contains(says), "{bad} gave {err:?}, expected it to say {says:?}");
        }
    }
}
