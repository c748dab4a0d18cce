//! The `id` of a JSON-RPC request, echoed in its response so the caller can match them.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A request id: an integer or a string, as JSON-RPC 2.0 allows.
///
/// Fractional numbers and integers outside `i64` are refused (the specification says ids
/// should not be fractional, and refusing them keeps the echo exact). A `null` id is
/// represented as `Option<Id>::None` where it is allowed (error replies that cannot name
/// their request).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Id {
    /// An integer id, the usual choice of this node's own client.
    Number(i64),
    /// A string id.
    String(String),
}

impl Id {
    /// The id a JSON value denotes, or `None` when the value is not a valid id (including
    /// `null`).
    pub fn from_value(value: &Value) -> Option<Id> {
        match value {
            Value::Number(n) => n.as_i64().map(Id::Number),
            Value::String(s) => Some(Id::String(s.clone())),
            _ => None,
        }
    }
}

impl From<i64> for Id {
    fn from(n: i64) -> Self {
        Id::Number(n)
    }
}

impl From<String> for Id {
    fn from(s: String) -> Self {
        Id::String(s)
    }
}

impl From<&str> for Id {
    fn from(s: &str) -> Self {
        Id::String(s.to_owned())
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Number(n) => write!(f, "{n}"),
            Id::String(s) => write!(f, "{s:?}"),
        }
    }
}
