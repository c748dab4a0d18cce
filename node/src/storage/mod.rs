//! Persistent state: the data root (`PROJECT_DAWN_DATA_ROOT`) and crash-safe files in it.
//!
//! [`DataRoot::open`] creates the directory (0700) when missing, proves it is a writable
//! directory, and locks it so two nodes cannot share it. Every file is replaced with
//! [`atomic_write`] (temp file, fsync, rename, directory fsync), so a crash or SIGKILL at
//! any moment leaves the old or the new content, never a torn file.
//!
//! ```
//! use dawn_node::storage::{DataRoot, read_json, write_json};
//!
//! # let dir = std::env::temp_dir().join(format!("dawn-storage-doc-{}", std::process::id()));
//! let root = DataRoot::open(&dir)?;
//! let file = root.subdir("agents")?.join("example.json");
//! write_json(&file, &vec!["a", "b"], 0o600)?;
//! let back: Option<Vec<String>> = read_json(&file, 1024)?;
//! assert_eq!(back, Some(vec!["a".to_string(), "b".to_string()]));
//! root.check_writable()?;
//! # drop(root);
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), dawn_node::storage::StorageError>(())
//! ```

mod atomic;
mod error;
mod json;
mod root;

#[cfg(test)]
pub(crate) mod testdir;
#[cfg(test)]
mod tests;

pub use atomic::{atomic_write, remove_stale_temp_files};
pub use error::StorageError;
pub use json::{read_json, write_json};
pub use root::{DataRoot, ENV_DATA_ROOT, LOCK_FILE};
