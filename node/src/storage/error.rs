//! Everything that can go wrong with the data root and the files in it, each naming the
//! path concerned so the operator knows what to fix.

use std::io;
use std::path::{Path, PathBuf};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The data root is missing and cannot be created.
    #[error("cannot create data root {}: {source}", .path.display())]
    Create {
        /// The data root.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The data root's metadata cannot be read (e.g. a parent directory is not searchable).
    #[error("cannot access data root {}: {source}", .path.display())]
    Inaccessible {
        /// The data root.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The data root exists and is not a directory.
    #[error("data root {} is not a directory", .path.display())]
    NotADirectory {
        /// The data root.
        path: PathBuf,
    },
    /// The data root cannot be listed.
    #[error("data root {} is not readable: {source}", .path.display())]
    Unreadable {
        /// The data root.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A file cannot be created, written and synced in the data root.
    #[error("data root {} is not writable: {source}", .path.display())]
    NotWritable {
        /// The data root.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Another process holds the data root's lock.
    #[error(
        "data root {} is in use by another dawn-node{} (lock file {}); give each node its own data root",
        .path.display(),
        .holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default(),
        .lock.display()
    )]
    Locked {
        /// The data root.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// The pid the holder wrote into the lock file, if readable.
        holder: Option<u32>,
    },
    /// Locking failed for a reason other than another holder.
    #[error("cannot lock data root {}: {source}", .path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A file cannot be read.
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A file cannot be written atomically.
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A file's content is not what the node wrote.
    #[error("{} is corrupt: {reason}; move it away to start afresh, or restore it from a backup", .path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A value cannot be encoded as JSON (a map with non-string keys, say).
    #[error("cannot encode the contents of {} as JSON: {source}", .path.display())]
    Encode {
        /// The file.
        path: PathBuf,
        /// serde_json's error.
        source: serde_json::Error,
    },
}

impl StorageError {
    /// The path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            StorageError::Create { path, .. }
            | StorageError::Inaccessible { path, .. }
            | StorageError::NotADirectory { path }
            | StorageError::Unreadable { path, .. }
            | StorageError::NotWritable { path, .. }
            | StorageError::Locked { path, .. }
            | StorageError::Lock { path, .. }
            | StorageError::Read { path, .. }
            | StorageError::Write { path, .. }
            | StorageError::Corrupt { path, .. }
            | StorageError::Encode { path, .. } => path,
        }
    }

    /// Whether the OS refused for lack of permission: the fix is `chown`/`chmod`, which
    /// the start-up error and the `storage` health check can say.
    pub fn is_permission_denied(&self) -> bool {
        match self {
            StorageError::Create { source, .. }
            | StorageError::Inaccessible { source, .. }
            | StorageError::Unreadable { source, .. }
            | StorageError::NotWritable { source, .. }
            | StorageError::Lock { source, .. }
            | StorageError::Read { source, .. }
            | StorageError::Write { source, .. } => {
                source.kind() == io::ErrorKind::PermissionDenied
            }
            StorageError::NotADirectory { .. }
            | StorageError::Locked { .. }
            | StorageError::Corrupt { .. }
            | StorageError::Encode { .. } => false,
        }
    }
}
