//! The agents a node offers, looked up by id for `agent/list` and `agent/call`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::agent::{Agent, AgentInfo};
use super::echo::EchoAgent;
use super::error::AgentError;
use super::kv::KvAgent;
use crate::storage::{DataRoot, StorageError};

/// Label value used for the agent or tool of a call that named an unknown one, so peers
/// cannot create metric series at will.
pub const UNKNOWN_LABEL: &str = "unknown";

/// A second agent registered under an id already taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an agent with id {0:?} is already registered")]
pub struct DuplicateAgent(pub String);

/// The params of `agent/call`: `{"agent": id, "tool": name, "params": {...}}`.
///
/// `agent_id` and `operation` are accepted as aliases, matching the metric labels, and
/// params by position (`[agent, tool, params]`) as JSON-RPC allows.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentCall {
    /// The agent's id.
    #[serde(alias = "agent_id")]
    pub agent: String,
    /// The tool's name.
    #[serde(alias = "operation")]
    pub tool: String,
    /// The tool's params; `{}` when absent or `null`.
    #[serde(default)]
    pub params: Value,
}

impl AgentCall {
    /// Reads the params of an `agent/call` request; an error is -32602.
    pub fn from_params(params: Option<Value>) -> Result<Self, AgentError> {
        let params = params.unwrap_or(Value::Null);
        let mut call: AgentCall = serde_json::from_value(params).map_err(|e| {
            AgentError::invalid_params(format!(
                "agent/call takes {{\"agent\": id, \"tool\": name, \"params\": {{...}}}}: {e}"
            ))
        })?;
        if call.params.is_null() {
            call.params = Value::Object(Map::new());
        }
        Ok(call)
    }
}

/// The registered agents, sorted by id.
#[derive(Clone, Default)]
pub struct AgentRegistry {
    agents: BTreeMap<String, Arc<dyn Agent>>,
}

impl std::fmt::Debug for AgentRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentRegistry")
            .field("agents", &self.agents.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl AgentRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The built-in agents: `echo`, and `kv` persisted under `root`.
    ///
    /// Fails when the key-value file cannot be read or is corrupt, naming it.
    pub fn with_builtins(root: &DataRoot) -> Result<Self, StorageError> {
        let mut registry = Self::new();
        let builtins: [Arc<dyn Agent>; 2] =
            [Arc::new(EchoAgent::new()), Arc::new(KvAgent::open(root)?)];
        for agent in builtins {
            // The built-in ids are distinct constants, so this cannot collide.
            if let Err(DuplicateAgent(id)) = registry.register(agent) {
                tracing::error!(agent = %id, "built-in agent registered twice");
            }
        }
        Ok(registry)
    }

    /// Adds `agent`; refuses an id already taken.
    pub fn register(&mut self, agent: Arc<dyn Agent>) -> Result<(), DuplicateAgent> {
        let id = agent.id().to_owned();
        if self.agents.contains_key(&id) {
            return Err(DuplicateAgent(id));
        }
        self.agents.insert(id, agent);
        Ok(())
    }

    /// The agent with `id`.
    pub fn get(&self, id: &str) -> Option<&Arc<dyn Agent>> {
        self.agents.get(id)
    }

    /// Every agent and its tools, sorted by id.
    pub fn list(&self) -> Vec<AgentInfo> {
        self.agents
            .values()
            .map(|a| AgentInfo::of(a.as_ref()))
            .collect()
    }

    /// The result of `agent/list`: `{"agents": [{"id", "description", "tools"}]}`.
    pub fn list_result(&self) -> Value {
        let agents: Vec<Value> = self.list().iter().map(AgentInfo::to_value).collect();
        json!({ "agents": agents })
    }

    /// Calls `tool` of agent `agent_id`; unknown agents and tools are refused here, before
    /// the agent runs.
    pub fn call(&self, agent_id: &str, tool: &str, params: Value) -> Result<Value, AgentError> {
        let agent = self
            .agents
            .get(agent_id)
            .ok_or_else(|| AgentError::UnknownAgent {
                agent: agent_id.to_owned(),
            })?;
        if !agent.tools().iter().any(|t| t.name == tool) {
            return Err(AgentError::UnknownTool {
                agent: agent_id.to_owned(),
                tool: tool.to_owned(),
            });
        }
        agent.call(tool, params)
    }

    /// The `agent_id` and `operation` label values for a call: the names themselves when
    /// they exist, [`UNKNOWN_LABEL`] otherwise.
    pub fn labels<'a>(&'a self, agent_id: &'a str, tool: &'a str) -> (&'a str, &'a str) {
        match self.agents.get(agent_id) {
            None => (UNKNOWN_LABEL, UNKNOWN_LABEL),
            Some(agent) if agent.tools().iter().any(|t| t.name == tool) => (agent_id, tool),
            Some(_) => (agent_id, UNKNOWN_LABEL),
        }
    }

    /// Agents registered: for the `agents` health check.
    pub fn len(&self) -> usize {
        self.agents.len()
    }

    /// Whether no agent is registered.
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }

    /// The registered ids, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.agents.keys().map(String::as_str)
    }
}
