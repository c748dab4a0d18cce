//! The data root: created when missing, and proven writable by writing, syncing and removing
//! a probe file (a read-only mount or a full disk fails here, not at the first real write).

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// Why the data root is unusable; names the path and the step that failed.
#[derive(Debug, thiserror::Error)]
#[error("data root {}: cannot {action}: {source}", .path.display())]
pub struct DataRootError {
    /// The directory.
    pub path: PathBuf,
    /// What was being done.
    pub action: &'static str,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

/// Name of the probe file, unique per process so two nodes on one root cannot collide.
fn probe_name() -> String {
    format!(".write-probe-{}", std::process::id())
}

/// Creates `path` (mode 0700, parents included) when missing and checks it is a writable
/// directory; returns its absolute path.
pub fn open(path: &Path) -> Result<PathBuf, DataRootError> {
    let fail = |action, source| DataRootError {
        path: path.to_owned(),
        action,
        source,
    };
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| fail("create the directory", e))?;
    let absolute = fs::canonicalize(path).map_err(|e| fail("resolve the path", e))?;
    probe(&absolute)?;
    Ok(absolute)
}

/// Writes, syncs and removes a small file in `dir`.
pub fn probe(dir: &Path) -> Result<(), DataRootError> {
    let fail = |action, source| DataRootError {
        path: dir.to_owned(),
        action,
        source,
    };
    let file_path = dir.join(probe_name());
    let written = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&file_path)
        .and_then(|mut f| {
            f.write_all(b"dawn")?;
            f.sync_all()
        });
    let removed = fs::remove_file(&file_path);
    written.map_err(|e| fail("write a file", e))?;
    removed.map_err(|e| fail("remove a file", e))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn temp() -> PathBuf {
        std::env::temp_dir().join(format!(
            "dawn-node-root-{}-{:x}",
            std::process::id(),
            rand::random::<u32>()
        ))
    }

    #[test]
    fn creates_missing_directories_private_and_leaves_nothing_behind() {
        let base = temp();
        let root = base.join("a/b");
        let opened = open(&root).unwrap();
        assert!(opened.is_absolute());
        let mode = fs::metadata(&root).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert_eq!(fs::read_dir(&root).unwrap().count(), 0);
        fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn a_file_in_the_way_is_reported_with_its_path() {
        let base = temp();
        fs::create_dir_all(&base).unwrap();
        let file = base.join("f");
        fs::write(&file, b"x").unwrap();
        let err = open(&file).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&file.display().to_string()), "{text}");
        assert!(text.contains("cannot create the directory"), "{text}");
        fs::remove_dir_all(base).unwrap();
    }
}
