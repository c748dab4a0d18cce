//! Why an agent call failed, mapped onto the JSON-RPC codes the caller replies with.

use crate::rpc::{ErrorCode, ErrorObject};

/// A failed `agent/call`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    /// No agent with this id is registered (-32601).
    #[error("unknown agent {agent:?}")]
    UnknownAgent {
        /// The id asked for.
        agent: String,
    },
    /// The agent has no tool with this name (-32601).
    #[error("agent {agent:?} has no tool {tool:?}")]
    UnknownTool {
        /// The agent.
        agent: String,
        /// The tool asked for.
        tool: String,
    },
    /// The params are missing, of the wrong type, or over a limit (-32602).
    #[error("invalid params: {reason}")]
    InvalidParams {
        /// What is wrong, naming the field.
        reason: String,
    },
    /// The agent cannot take more right now, e.g. its store is full (-32001).
    #[error("unavailable: {reason}")]
    Unavailable {
        /// What is exhausted and what would help.
        reason: String,
    },
    /// The agent failed (e.g. its state could not be saved) (-32603).
    #[error("internal error: {reason}")]
    Internal {
        /// What failed.
        reason: String,
    },
}

impl AgentError {
    /// An [`AgentError::InvalidParams`].
    pub fn invalid_params(reason: impl Into<String>) -> Self {
        AgentError::InvalidParams {
            reason: reason.into(),
        }
    }

    /// An [`AgentError::Internal`].
    pub fn internal(reason: impl std::fmt::Display) -> Self {
        AgentError::Internal {
            reason: reason.to_string(),
        }
    }

    /// The JSON-RPC code of the error reply.
    pub fn code(&self) -> ErrorCode {
        match self {
            AgentError::UnknownAgent { .. } | AgentError::UnknownTool { .. } => {
                ErrorCode::MethodNotFound
            }
            AgentError::InvalidParams { .. } => ErrorCode::InvalidParams,
            AgentError::Unavailable { .. } => ErrorCode::ServerError,
            AgentError::Internal { .. } => ErrorCode::InternalError,
        }
    }

    /// The `error` member of the reply: the code and this error's description.
    pub fn to_error_object(&self) -> ErrorObject {
        let code = self.code();
        ErrorObject::new(code, format!("{}: {self}", code.default_message()))
    }

    /// A stable snake_case name for the `error_type` label of `p2p_errors_total`.
    pub fn as_str(&self) -> &'static str {
        match self {
            AgentError::UnknownAgent { .. } => "unknown_agent",
            AgentError::UnknownTool { .. } => "unknown_tool",
            AgentError::InvalidParams { .. } => "invalid_params",
            AgentError::Unavailable { .. } => "unavailable",
            AgentError::Internal { .. } => "internal",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_rpc_codes() {
        let table = [
            (
                AgentError::UnknownAgent { agent: "x".into() },
                -32601,
                "unknown_agent",
            ),
            (
                AgentError::UnknownTool {
                    agent: "kv".into(),
                    tool: "x".into(),
                },
                -32601,
                "unknown_tool",
            ),
            (AgentError::invalid_params("key"), -32602, "invalid_params"),
            (
                AgentError::Unavailable {
                    reason: "full".into(),
                },
                -32001,
                "unavailable",
            ),
            (AgentError::internal("disk"), -32603, "internal"),
        ];
        for (error, code, label) in table {
            assert_eq!(error.code().code(), code);
            assert_eq!(error.as_str(), label);
            let object = error.to_error_object();
            assert_eq!(object.code, code);
            assert!(
                object.message.ends_with(&error.to_string()),
                "{}",
                object.message
            );
        }
    }
}
