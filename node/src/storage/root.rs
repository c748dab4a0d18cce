//! The data root: the one directory a node keeps its state in, checked at start-up and
//! held exclusively while the node runs.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::atomic::{remove_stale_temp_files, sync_dir, temp_name};
use super::error::StorageError;

/// Variable naming the data root.
pub const ENV_DATA_ROOT: &str = "PROJECT_DAWN_DATA_ROOT";

/// The lock file inside the data root; it holds the owner's pid, for the error message.
pub const LOCK_FILE: &str = "dawn-node.lock";

/// How deep [`DataRoot::open`] looks for temp files left by a crash.
const CLEANUP_DEPTH: usize = 3;

/// An open, locked, writable data root.
///
/// Dropping it releases the lock (the lock file stays: removing it would let a third
/// process lock a file another is about to open).
#[derive(Debug)]
pub struct DataRoot {
    path: PathBuf,
    // Holds the exclusive advisory lock for the lifetime of the value.
    _lock: File,
}

impl DataRoot {
    /// Opens the data root at `path`, creating it (mode 0700) when missing.
    ///
    /// Fails with an error naming the path when it is not a directory, cannot be listed,
    /// cannot be written (a probe file is created, fsynced and removed), or is locked by
    /// another process (two nodes sharing one root would corrupt each other's state).
    /// Then removes temp files that interrupted writes left behind.
    pub fn open(path: impl AsRef<Path>) -> Result<DataRoot, StorageError> {
        let path = path.as_ref().to_owned();
        match fs::metadata(&path) {
            Ok(metadata) if metadata.is_dir() => {}
            Ok(_) => return Err(StorageError::NotADirectory { path }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => create_dir(&path)?,
            Err(source) => return Err(StorageError::Inaccessible { path, source }),
        }
        if let Err(source) = fs::read_dir(&path) {
            return Err(StorageError::Unreadable { path, source });
        }
        let lock = lock(&path)?;
        let root = DataRoot { path, _lock: lock };
        root.check_writable()?;
        root.remove_stale_temp_files();
        Ok(root)
    }

    /// The data root's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `relative` inside the data root.
    pub fn join(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.path.join(relative)
    }

    /// The subdirectory `name` of the data root, created (mode 0700) when missing.
    pub fn subdir(&self, name: impl AsRef<Path>) -> Result<PathBuf, StorageError> {
        let dir = self.path.join(name);
        if !dir.is_dir() {
            create_dir(&dir)?;
        }
        Ok(dir)
    }

    /// Creates, writes, fsyncs and removes a probe file: the `storage` health check, which
    /// fails when the disk is full, read-only, or the directory was removed or chmodded.
    pub fn check_writable(&self) -> Result<(), StorageError> {
        let probe = self.path.join(temp_name(std::ffi::OsStr::new("probe")));
        let result = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&probe)?;
            file.write_all(b"dawn")?;
            file.sync_all()?;
            fs::remove_file(&probe)
        })();
        result.map_err(|source| {
            let _ = fs::remove_file(&probe);
            StorageError::NotWritable {
                path: self.path.clone(),
                source,
            }
        })
    }

    fn remove_stale_temp_files(&self) {
        let mut dirs = vec![(self.path.clone(), 0)];
        while let Some((dir, depth)) = dirs.pop() {
            match remove_stale_temp_files(&dir) {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(dir = %dir.display(), removed = n, "removed temp files left by an interrupted write")
                }
                Err(error) => {
                    tracing::warn!(dir = %dir.display(), %error, "cannot clean up temp files")
                }
            }
            if depth + 1 >= CLEANUP_DEPTH {
                continue;
            }
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    dirs.push((entry.path(), depth + 1));
                }
            }
        }
    }
}

fn create_dir(path: &Path) -> Result<(), StorageError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| StorageError::Create {
            path: path.to_owned(),
            source,
        })?;
    // Make the new directory's entry durable too; failing that is not worth refusing to
    // start over.
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let _ = sync_dir(parent);
    }
    Ok(())
}

/// Opens and exclusively locks the lock file, then records this process's pid in it.
fn lock(root: &Path) -> Result<File, StorageError> {
    let lock_path = root.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|source| StorageError::NotWritable {
            path: root.to_owned(),
            source,
        })?;
    // `File::try_lock` (flock, std since 1.89) needs neither unsafe nor libc.
    let locked = file.try_lock();
    match locked {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            return Err(StorageError::Locked {
                path: root.to_owned(),
                holder: read_pid(&mut file),
                lock: lock_path,
            });
        }
        Err(fs::TryLockError::Error(source)) => {
            return Err(StorageError::Lock {
                path: lock_path,
                source,
            });
        }
    }
    let pid = format!("{}\n", std::process::id());
    file.set_len(0)
        .and_then(|()| file.write_all(pid.as_bytes()))
        .map_err(|source| StorageError::NotWritable {
            path: root.to_owned(),
            source,
        })?;
    Ok(file)
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}
