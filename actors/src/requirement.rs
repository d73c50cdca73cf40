//! What a client slot of a test case accepts, and how that is matched against a registration.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// The JSON object an adapter registered with (`type` plus free-form fields).
pub type Registration = Map<String, Value>;

/// A client slot's requirement: a client type word, or a map of required registration fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ClientRequirement {
    /// `"element-web"`: the registration's `type` must equal it.
    Type(String),
    /// `{"type": "element-web", "version": "2"}`: every field must be present and equal.
    Fields(Map<String, Value>),
}

impl ClientRequirement {
    /// Whether an adapter with this registration can fill the slot.
    pub fn matches(&self, registration: &Registration) -> bool {
        match self {
            ClientRequirement::Type(t) => registration.get("type").and_then(Value::as_str) == Some(t),
            ClientRequirement::Fields(fields) => {
                fields.iter().all(|(k, want)| registration.get(k).is_some_and(|have| loosely_equal(want, have)))
            }
        }
    }

    /// The `type` this requirement pins, used to look up idle adapters by type.
    pub fn type_key(&self) -> Option<&str> {
        match self {
            ClientRequirement::Type(t) => Some(t),
            ClientRequirement::Fields(fields) => fields.get("type").and_then(Value::as_str),
        }
    }
}

impl fmt::Display for ClientRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientRequirement::Type(t) => f.write_str(t),
            ClientRequirement::Fields(fields) => {
                let mut parts = Vec::new();
                if let Some(t) = fields.get("type").and_then(Value::as_str) {
                    parts.push(t.to_string());
                }
                for (k, v) in fields.iter().filter(|(k, _)| *k != "type") {
                    parts.push(format!("{k}={}", scalar_text(v)));
                }
                f.write_str(&parts.join(" "))
            }
        }
    }
}

/// Equal as JSON, or equal as text when both are scalars (`"2"` matches `2`): registrations
/// come from many adapters, and a version number is sent as either.
fn loosely_equal(want: &Value, have: &Value) -> bool {
    want == have || (is_scalar(want) && is_scalar(have) && scalar_text(want) == scalar_text(have))
}

fn is_scalar(v: &Value) -> bool {
    matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reg(v: Value) -> Registration {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_word_matches_the_type_only() {
        let req = ClientRequirement::Type("element-web".into());
        assert!(req.matches(&reg(json!({"type": "element-web", "version": "1"}))));
        assert!(!req.matches(&reg(json!({"type": "hydrogen-web"}))));
        assert!(!req.matches(&reg(json!({"version": "1"}))));
    }

    #[test]
    fn a_map_requires_every_field_and_compares_scalars_as_text() {
        let req: ClientRequirement = serde_json::from_value(json!({"type": "element-web", "version": "2"})).unwrap();
        assert!(req.matches(&reg(json!({"type": "element-web", "version": 2}))));
        assert!(!req.matches(&reg(json!({"type": "element-web", "version": "1"}))));
        assert!(!req.matches(&reg(json!({"type": "element-web"}))));
        assert_eq!(req.to_string(), "element-web version=2");
        assert_eq!(req.type_key(), Some("element-web"));
    }
}
