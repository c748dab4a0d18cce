//! The `kv` agent: a small persistent key-value store peers can use, kept in
//! `agents/kv.json` under the data root.
//!
//! Keys are non-empty strings, values any JSON; both are bounded ([`KvLimits`]). Every
//! change is on disk (atomically) before it is acknowledged, so a node restart or a SIGKILL
//! loses nothing acknowledged and never leaves a torn file.

mod limits;
mod store;

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::{Value, json};

pub use limits::KvLimits;
use store::KvStore;

use super::agent::{Agent, ToolSpec};
use super::error::AgentError;
use super::params::Params;
use crate::storage::{DataRoot, StorageError};

/// Id of the key-value agent.
pub const KV_AGENT_ID: &str = "kv";

/// Where the store lives, relative to the data root.
pub const KV_FILE: &str = "agents/kv.json";

/// Keys returned by one `list` call unless the caller asks for fewer.
pub const DEFAULT_LIST_LIMIT: u64 = 1000;
/// Most keys one `list` call returns.
pub const MAX_LIST_LIMIT: u64 = 10_000;

/// The persistent key-value agent, with tools `get`, `put`, `delete` and `list`.
#[derive(Debug)]
pub struct KvAgent {
    store: Mutex<KvStore>,
    tools: [ToolSpec; 4],
}

impl KvAgent {
    /// Opens the store at [`KV_FILE`] under `root` with the default limits.
    pub fn open(root: &DataRoot) -> Result<Self, StorageError> {
        let dir = root.subdir("agents")?;
        Self::open_file(&dir.join("kv.json"), KvLimits::default())
    }

    /// Opens the store kept in `path` with `limits`; an empty store when the file does not
    /// exist, an error naming the file when it cannot be read or is corrupt.
    pub fn open_file(path: &Path, limits: KvLimits) -> Result<Self, StorageError> {
        Ok(KvAgent {
            store: Mutex::new(KvStore::load(path, limits)?),
            tools: tools(),
        })
    }

    /// Keys stored now.
    pub fn len(&self) -> usize {
        self.store().len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The file the store is kept in.
    pub fn path(&self) -> std::path::PathBuf {
        self.store().path().to_owned()
    }

    fn store(&self) -> MutexGuard<'_, KvStore> {
        // Every change is undone on failure before the guard drops, so the map is
        // consistent even if a holder panicked.
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Agent for KvAgent {
    fn id(&self) -> &str {
        KV_AGENT_ID
    }

    fn description(&self) -> &str {
        "A persistent key-value store; every change is on disk before it is acknowledged."
    }

    fn tools(&self) -> &[ToolSpec] {
        &self.tools
    }

    fn call(&self, tool: &str, params: Value) -> Result<Value, AgentError> {
        match tool {
            "get" => {
                let p = Params::new(&params, &["key"])?;
                let key = p.required_str("key")?;
                let store = self.store();
                let value = store.get(key);
                Ok(json!({"key": key, "found": value.is_some(), "value": value}))
            }
            "put" => {
                let p = Params::new(&params, &["key", "value"])?;
                let key = p.required_str("key")?;
                let value = p.required("value")?.clone();
                let created = self.store().put(key, value)?;
                Ok(json!({"key": key, "created": created}))
            }
            "delete" => {
                let p = Params::new(&params, &["key"])?;
                let key = p.required_str("key")?;
                let deleted = self.store().delete(key)?;
                Ok(json!({"key": key, "deleted": deleted}))
            }
            "list" => {
                let p = Params::new(&params, &["prefix", "limit"])?;
                let prefix = p.optional_str("prefix")?.unwrap_or("");
                let limit = p.optional_u64("limit")?.unwrap_or(DEFAULT_LIST_LIMIT);
                if !(1..=MAX_LIST_LIMIT).contains(&limit) {
                    return Err(AgentError::invalid_params(format!(
                        "field \"limit\" must be from 1 to {MAX_LIST_LIMIT}, not {limit}"
                    )));
                }
                let store = self.store();
                // `limit` is at most MAX_LIST_LIMIT, which fits any usize.
                let (keys, truncated) = store.keys(prefix, limit as usize);
                Ok(json!({"keys": keys, "truncated": truncated}))
            }
            _ => Err(AgentError::UnknownTool {
                agent: KV_AGENT_ID.to_owned(),
                tool: tool.to_owned(),
            }),
        }
    }
}

fn tools() -> [ToolSpec; 4] {
    let key = json!({"type": "string", "minLength": 1, "maxLength": 256});
    [
        ToolSpec::new(
            "get",
            "Returns the value stored under key (found: false when none).",
            json!({"type": "object", "required": ["key"], "properties": {"key": key}}),
        ),
        ToolSpec::new(
            "put",
            "Stores value (any JSON, at most 64 KiB encoded) under key.",
            json!({"type": "object", "required": ["key", "value"], "properties": {"key": key, "value": {}}}),
        ),
        ToolSpec::new(
            "delete",
            "Removes key (deleted: false when it was absent).",
            json!({"type": "object", "required": ["key"], "properties": {"key": key}}),
        ),
        ToolSpec::new(
            "list",
            "Lists keys in order, optionally those starting with prefix, at most limit (default 1000).",
            json!({"type": "object", "properties": {"prefix": {"type": "string"}, "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIST_LIMIT}}}),
        ),
    ]
}
