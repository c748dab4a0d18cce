//! The `echo` agent: answers with what it was given. It has no state, so it shows whether
//! the messaging path works independently of storage; `delay` makes it a slow peer on
//! demand.

use serde_json::{Value, json};

use super::agent::{Agent, ToolSpec};
use super::error::AgentError;
use super::params::Params;

/// Id of the echo agent.
pub const ECHO_AGENT_ID: &str = "echo";

/// Longest `delay` the echo agent accepts.
pub const MAX_ECHO_DELAY_MS: u64 = 5_000;

/// Returns its params (`echo`), reverses a text (`reverse`), or answers late (`delay`).
#[derive(Debug)]
pub struct EchoAgent {
    tools: [ToolSpec; 3],
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
                ToolSpec::new(
                    "delay",
                    "Answers {\"slept_ms\"} after waiting ms milliseconds (0-5000): a slow peer on demand, to try timeouts and circuit breakers.",
                    json!({"type": "object", "required": ["ms"], "properties": {"ms": {"type": "integer", "minimum": 0, "maximum": MAX_ECHO_DELAY_MS}}}),
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
            "delay" => {
                let params = Params::new(&params, &["ms"])?;
                let ms = params
                    .optional_u64("ms")?
                    .ok_or_else(|| AgentError::invalid_params("missing field `ms`"))?;
                if ms > MAX_ECHO_DELAY_MS {
                    return Err(AgentError::invalid_params(format!(
                        "ms {ms} is out of range 0-{MAX_ECHO_DELAY_MS}"
                    )));
                }
                // Runs on a blocking thread (agents are called off the async workers).
                std::thread::sleep(std::time::Duration::from_millis(ms));
                Ok(json!({ "slept_ms": ms }))
            }
            _ => Err(AgentError::UnknownTool {
                agent: ECHO_AGENT_ID.to_owned(),
                tool: tool.to_owned(),
            }),
        }
    }
}
