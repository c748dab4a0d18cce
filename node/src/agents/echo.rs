//! The `echo` agent: answers with what it was given. It has no state, so it shows whether
//! the messaging path works independently of storage.

use serde_json::{Value, json};

use super::agent::{Agent, ToolSpec};
use super::error::AgentError;
use super::params::Params;

/// Id of the echo agent.
pub const ECHO_AGENT_ID: &str = "echo";

/// Returns its params (`echo`) or reverses a text (`reverse`).
#[derive(Debug)]
pub struct EchoAgent {
    tools: [ToolSpec; 2],
}

impl EchoAgent {
    /// The echo agent.
    pub fn new() -> Self {
        EchoAgent {
            tools: [
                ToolSpec::new(
                    "echo",
                    "Returns its params unchanged.",
                    json!({"type": "object", "description": "any fields"}),
                ),
                ToolSpec::new(
                    "reverse",
                    "Returns the text with its characters in reverse order.",
                    json!({"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}),
                ),
            ],
        }
    }
}

impl Default for EchoAgent {
    fn default() -> Self {
        Self::new()
    }
}

impl Agent for EchoAgent {
    fn id(&self) -> &str {
        ECHO_AGENT_ID
    }

    fn description(&self) -> &str {
        "Echoes its input; for checking that calls reach the node."
    }

    fn tools(&self) -> &[ToolSpec] {
        &self.tools
    }

    fn call(&self, tool: &str, params: Value) -> Result<Value, AgentError> {
        match tool {
            "echo" => Ok(params),
            "reverse" => {
                let params = Params::new(&params, &["text"])?;
                let text: String = params.required_str("text")?.chars().rev().collect();
                Ok(json!({ "text": text }))
            }
            _ => Err(AgentError::UnknownTool {
                agent: ECHO_AGENT_ID.to_owned(),
                tool: tool.to_owned(),
            }),
        }
    }
}
