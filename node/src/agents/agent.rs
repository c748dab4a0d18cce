//! What an agent is: a named set of tools that peers call through `agent/call`.

use serde::Serialize;
use serde_json::{Value, json};

use super::error::AgentError;

/// An agent: named tools (operations) that take JSON params and return a JSON result.
///
/// `call` is synchronous and may block briefly (the key-value agent fsyncs its file), so an
/// async caller runs it on a blocking thread. Implementations are shared between
/// connections, hence `Send + Sync` and `&self`.
pub trait Agent: Send + Sync {
    /// The id peers name in `agent/call` and the `agent_id` metric label: short, stable,
    /// lowercase.
    fn id(&self) -> &str;

    /// One line saying what the agent is for, shown by `agent/list`.
    fn description(&self) -> &str;

    /// The tools the agent offers; the registry refuses calls to any other name.
    fn tools(&self) -> &[ToolSpec];

    /// Runs `tool` with `params` (an object; `{}` when the caller sent none).
    fn call(&self, tool: &str, params: Value) -> Result<Value, AgentError>;
}

/// A tool as `agent/list` describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSpec {
    /// The name given as `tool` in `agent/call`, and the `operation` metric label.
    pub name: String,
    /// One line saying what the tool does.
    pub description: String,
    /// A JSON-Schema-like hint of the params object, for people and generic clients.
    pub params: Value,
}

impl ToolSpec {
    /// A tool description.
    pub fn new(name: &str, description: &str, params: Value) -> Self {
        ToolSpec {
            name: name.to_owned(),
            description: description.to_owned(),
            params,
        }
    }
}

/// An agent as `agent/list` describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentInfo {
    /// The agent's id.
    pub id: String,
    /// What the agent is for.
    pub description: String,
    /// Its tools.
    pub tools: Vec<ToolSpec>,
}

impl AgentInfo {
    /// The description of `agent`.
    pub fn of(agent: &dyn Agent) -> Self {
        AgentInfo {
            id: agent.id().to_owned(),
            description: agent.description().to_owned(),
            tools: agent.tools().to_vec(),
        }
    }

    /// As a JSON value: `{"id", "description", "tools": [{"name", "description",
    /// "params"}]}`.
    pub fn to_value(&self) -> Value {
        let tools: Vec<Value> = self
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "params": t.params}))
            .collect();
        json!({"id": self.id, "description": self.description, "tools": tools})
    }
}
