//! Crash-safe file replacement: after a crash at any point the file holds either its old
//! content or its new content, never a mix or a truncation.
//!
//! The new content goes to a temp file in the same directory (so the rename cannot cross
//! file systems), is fsynced, renamed over the target (atomic on POSIX), and the directory
//! is fsynced so the rename itself survives a power loss. Temp files a crash leaves behind
//! are recognisable by name and removed by [`remove_stale_temp_files`], which
//! [`DataRoot::open`](super::DataRoot::open) runs under the root's lock.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::StorageError;

/// Suffix of every temp file this module creates.
const TEMP_SUFFIX: &str = ".dawn-tmp";

/// Makes temp names unique within the process; the pid makes them unique across processes.
static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

/// Replaces `path` with `bytes`, atomically and durably, with permissions `mode` (e.g.
/// `0o600`) whatever the umask.
///
/// On error the file holds its old content (or does not exist if it did not) — except when
/// only the final directory sync failed, when it may already hold the new content.
pub fn atomic_write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StorageError> {
    let error = |source: io::Error| StorageError::Write {
        path: path.to_owned(),
        source,
    };
    let name = path.file_name().ok_or_else(|| {
        error(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path does not name a file",
        ))
    })?;
    let dir = parent_dir(path);
    let tmp = dir.join(temp_name(name));
    let result = write_synced(&tmp, bytes, mode)
        .and_then(|()| fs::rename(&tmp, path))
        .and_then(|()| sync_dir(dir));
    if result.is_err() {
        // Best effort: if the rename happened the temp file is gone already; otherwise it
        // is garbage, and the next start removes it if this fails too.
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(error)
}

/// Removes temp files left in `dir` by writes a crash interrupted; returns how many.
///
/// Only call it while no other writer can be active in `dir` (under the data root lock).
pub fn remove_stale_temp_files(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() && is_temp_name(&entry.file_name()) {
            fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Fsyncs directory `dir`, making the creation, rename or removal of its entries durable.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A fresh temp file name for writing `name`: `.{name}.{pid}.{n}.dawn-tmp`.
pub(super) fn temp_name(name: &OsStr) -> PathBuf {
    let n = NEXT_TEMP.fetch_add(1, Ordering::Relaxed);
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".{}.{n}{TEMP_SUFFIX}", std::process::id()));
    PathBuf::from(tmp)
}

fn is_temp_name(name: &OsStr) -> bool {
    let name = name.as_encoded_bytes();
    name.starts_with(b".") && name.ends_with(TEMP_SUFFIX.as_bytes())
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

fn write_synced(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    // `mode` on create is filtered by the umask; set it exactly.
    file.set_permissions(Permissions::from_mode(mode))?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_recognised_and_unique() {
        let a = temp_name(OsStr::new("kv.json"));
        let b = temp_name(OsStr::new("kv.json"));
        assert_ne!(a, b);
        for name in [&a, &b] {
            assert!(is_temp_name(name.as_os_str()), "{}", name.display());
            assert!(name.to_string_lossy().starts_with(".kv.json."));
        }
        for other in ["kv.json", "identity.key.tmp", ".hidden", "x.dawn-tmp"] {
            assert!(!is_temp_name(OsStr::new(other)), "{other}");
        }
    }
}
