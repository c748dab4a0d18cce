//! Agents: named sets of tools (operations) that peers call with `agent/call` and discover
//! with `agent/list` (docs/node-internals.md, "Agents").
//!
//! The [`AgentRegistry`] refuses unknown agents and tools before anything runs, and every
//! failure is an [`AgentError`] that maps onto the JSON-RPC code of the reply (-32601
//! unknown agent or tool, -32602 bad params, -32001 store full, -32603 internal). Built-ins:
//! [`EchoAgent`] (`echo`, `reverse`) and the persistent [`KvAgent`] (`get`, `put`,
//! `delete`, `list`).
//!
//! ```
//! use dawn_node::agents::{AgentCall, AgentRegistry};
//! use dawn_node::storage::DataRoot;
//! use serde_json::json;
//!
//! # let dir = std::env::temp_dir().join(format!("dawn-agents-doc-{}", std::process::id()));
//! let root = DataRoot::open(&dir)?;
//! let registry = AgentRegistry::with_builtins(&root)?;
//! assert_eq!(registry.len(), 2);
//!
//! let call = AgentCall::from_params(Some(json!({"agent": "echo", "tool": "reverse", "params": {"text": "dawn"}})))?;
//! assert_eq!(registry.call(&call.agent, &call.tool, call.params)?, json!({"text": "nwad"}));
//!
//! let err = registry.call("kv", "put", json!({"key": ""})).unwrap_err();
//! assert_eq!(err.code().code(), -32602);
//! # drop(root);
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod agent;
mod echo;
mod error;
mod kv;
mod params;
mod registry;

#[cfg(test)]
mod tests;

pub use agent::{Agent, AgentInfo, ToolSpec};
pub use echo::{ECHO_AGENT_ID, EchoAgent, MAX_ECHO_DELAY_MS};
pub use error::AgentError;
pub use kv::{DEFAULT_LIST_LIMIT, KV_AGENT_ID, KV_FILE, KvAgent, KvLimits, MAX_LIST_LIMIT};
pub use registry::{AgentCall, AgentRegistry, DuplicateAgent, UNKNOWN_LABEL};
