//! JSON files in the data root: read with a size bound and a clear error when corrupt,
//! written atomically.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::atomic::atomic_write;
use super::error::StorageError;

/// Reads and parses the JSON file at `path`; `Ok(None)` when it does not exist (first
/// start).
///
/// A file larger than `max_len` bytes, or that is not JSON of type `T`, is
/// [`StorageError::Corrupt`] naming the file and, for bad JSON, the line and column.
pub fn read_json<T: DeserializeOwned>(
    path: &Path,
    max_len: u64,
) -> Result<Option<T>, StorageError> {
    let read_error = |source: io::Error| StorageError::Read {
        path: path.to_owned(),
        source,
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_error(e)),
    };
    let mut bytes = Vec::new();
    file.take(max_len.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > max_len {
        return Err(StorageError::Corrupt {
            path: path.to_owned(),
            reason: format!("larger than the {max_len} bytes the node ever writes"),
        });
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| StorageError::Corrupt {
            path: path.to_owned(),
            reason: format!("not valid JSON for this file: {e}"),
        })
}

/// Writes `value` as pretty JSON (with a final newline, for people reading it) to `path`
/// with [`atomic_write`] and permissions `mode`.
pub fn write_json<T: Serialize + ?Sized>(
    path: &Path,
    value: &T,
    mode: u32,
) -> Result<(), StorageError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| StorageError::Encode {
        path: path.to_owned(),
        source,
    })?;
    bytes.push(b'\n');
    atomic_write(path, &bytes, mode)
}
