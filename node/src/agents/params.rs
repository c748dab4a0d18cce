//! Reading tool params with errors that name the field, for -32602 replies.

use serde_json::{Map, Value};

use super::error::AgentError;

/// The params object of a tool call, checked for unknown fields.
pub(super) struct Params<'a>(&'a Map<String, Value>);

impl<'a> Params<'a> {
    /// `value` as an object whose fields are all in `allowed`.
    pub(super) fn new(value: &'a Value, allowed: &[&str]) -> Result<Self, AgentError> {
        let Value::Object(map) = value else {
            return Err(AgentError::invalid_params(
                "params must be an object with named fields",
            ));
        };
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(AgentError::invalid_params(format!(
                "unknown field {unknown:?}; expected {}",
                allowed.join(", ")
            )));
        }
        Ok(Params(map))
    }

    /// A field that must be present (any JSON value, `null` included).
    pub(super) fn required(&self, key: &str) -> Result<&'a Value, AgentError> {
        self.0
            .get(key)
            .ok_or_else(|| AgentError::invalid_params(format!("missing field {key:?}")))
    }

    /// A string field that must be present.
    pub(super) fn required_str(&self, key: &str) -> Result<&'a str, AgentError> {
        match self.required(key)? {
            Value::String(s) => Ok(s),
            other => Err(wrong_type(key, "a string", other)),
        }
    }

    /// An optional string field (`null` counts as absent).
    pub(super) fn optional_str(&self, key: &str) -> Result<Option<&'a str>, AgentError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(wrong_type(key, "a string", other)),
        }
    }

    /// An optional non-negative integer field (`null` counts as absent).
    pub(super) fn optional_u64(&self, key: &str) -> Result<Option<u64>, AgentError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| wrong_type(key, "a non-negative integer", v)),
        }
    }
}

fn wrong_type(key: &str, expected: &str, found: &Value) -> AgentError {
    let found = match found {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    AgentError::invalid_params(format!("field {key:?} must be {expected}, not {found}"))
}
