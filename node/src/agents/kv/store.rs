//! The key-value map, its size accounting, and its file: every change is written with
//! `atomic_write` before it is acknowledged, and undone in memory if the write fails, so
//! memory and disk never disagree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::limits::KvLimits;
use crate::agents::error::AgentError;
use crate::storage::{StorageError, atomic_write, read_json};

/// Version of the file format written; files of another version are refused.
const FILE_VERSION: u32 = 1;

#[derive(Serialize)]
struct FileRef<'a> {
    version: u32,
    entries: &'a BTreeMap<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KvFile {
    version: u32,
    entries: BTreeMap<String, Value>,
}

/// The map and where it lives.
#[derive(Debug)]
pub(super) struct KvStore {
    path: PathBuf,
    limits: KvLimits,
    entries: BTreeMap<String, Value>,
    total_bytes: usize,
}

impl KvStore {
    /// Loads the store from `path`; empty when the file does not exist yet.
    pub(super) fn load(path: &Path, limits: KvLimits) -> Result<Self, StorageError> {
        let entries = match read_json::<KvFile>(path, limits.max_file_bytes())? {
            None => BTreeMap::new(),
            Some(file) if file.version == FILE_VERSION => file.entries,
            Some(file) => {
                return Err(StorageError::Corrupt {
                    path: path.to_owned(),
                    reason: format!(
                        "format version {} is not the version {FILE_VERSION} this node reads",
                        file.version
                    ),
                });
            }
        };
        let total_bytes = entries.iter().map(|(k, v)| entry_size(k, v)).sum();
        Ok(KvStore {
            path: path.to_owned(),
            limits,
            entries,
            total_bytes,
        })
    }

    pub(super) fn get(&self, key: &str) -> Option<&Value> {
        self.entries.get(key)
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Sets `key`; true when it is new.
    pub(super) fn put(&mut self, key: &str, value: Value) -> Result<bool, AgentError> {
        self.check_key(key)?;
        let value_bytes = encoded_len(&value);
        if value_bytes > self.limits.max_value_bytes {
            return Err(AgentError::invalid_params(format!(
                "value of {value_bytes} bytes (as JSON) exceeds the limit of {} bytes",
                self.limits.max_value_bytes
            )));
        }
        let new_size = entry_size(key, &value);
        let old_size = self.entries.get(key).map(|v| entry_size(key, v));
        if old_size.is_none() && self.entries.len() >= self.limits.max_entries {
            return Err(AgentError::Unavailable {
                reason: format!(
                    "the key-value store is full ({} keys); delete keys first",
                    self.limits.max_entries
                ),
            });
        }
        let total = self.total_bytes - old_size.unwrap_or(0) + new_size;
        if total > self.limits.max_total_bytes {
            return Err(AgentError::Unavailable {
                reason: format!(
                    "the key-value store would hold {total} bytes, over its limit of {} bytes; delete keys first",
                    self.limits.max_total_bytes
                ),
            });
        }
        let previous = self.entries.insert(key.to_owned(), value);
        if let Err(e) = self.save() {
            match previous {
                Some(v) => self.entries.insert(key.to_owned(), v),
                None => self.entries.remove(key),
            };
            return Err(e);
        }
        self.total_bytes = total;
        Ok(previous.is_none())
    }

    /// Removes `key`; true when it existed.
    pub(super) fn delete(&mut self, key: &str) -> Result<bool, AgentError> {
        self.check_key(key)?;
        let Some(previous) = self.entries.remove(key) else {
            return Ok(false);
        };
        if let Err(e) = self.save() {
            self.entries.insert(key.to_owned(), previous);
            return Err(e);
        }
        self.total_bytes -= entry_size(key, &previous);
        Ok(true)
    }

    /// Keys starting with `prefix`, in order, at most `limit`; true when there are more.
    pub(super) fn keys(&self, prefix: &str, limit: usize) -> (Vec<&str>, bool) {
        let mut matching = self
            .entries
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .map(|(k, _)| k.as_str())
            .take_while(|k| k.starts_with(prefix));
        let keys: Vec<&str> = matching.by_ref().take(limit).collect();
        let more = matching.next().is_some();
        (keys, more)
    }

    fn check_key(&self, key: &str) -> Result<(), AgentError> {
        if key.is_empty() {
            return Err(AgentError::invalid_params(
                "field \"key\" must not be empty",
            ));
        }
        if key.len() > self.limits.max_key_bytes {
            return Err(AgentError::invalid_params(format!(
                "key of {} bytes exceeds the limit of {} bytes",
                key.len(),
                self.limits.max_key_bytes
            )));
        }
        Ok(())
    }

    fn save(&self) -> Result<(), AgentError> {
        let file = FileRef {
            version: FILE_VERSION,
            entries: &self.entries,
        };
        let mut bytes = serde_json::to_vec(&file).map_err(AgentError::internal)?;
        bytes.push(b'\n');
        atomic_write(&self.path, &bytes, 0o600).map_err(|e| {
            tracing::error!(error = %e, "key-value agent cannot save its state");
            AgentError::internal(e)
        })
    }
}

/// Bytes `key` and `value` take in the file: both encoded, plus a colon and a comma.
fn entry_size(key: &str, value: &Value) -> usize {
    encoded_len(&Value::String(key.to_owned())) + encoded_len(value) + 2
}

fn encoded_len(value: &Value) -> usize {
    value.to_string().len()
}
