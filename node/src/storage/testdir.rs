//! A scratch directory per test, removed afterwards, for the storage and agents tests.

use std::fs::{self, File, Permissions};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A unique directory under the system temp dir, deleted on drop.
pub(crate) struct TestDir(PathBuf);

impl TestDir {
    /// A new empty directory whose name contains `label`.
    #[track_caller]
    pub(crate) fn new(label: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("dawn-node-test-{}-{n}-{label}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create test dir");
        TestDir(path)
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        // Restore permissions a test may have removed, so the cleanup can proceed.
        let _ = fs::set_permissions(&self.0, Permissions::from_mode(0o700));
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Whether this process ignores file permissions (root, or CAP_DAC_OVERRIDE): then tests
/// of permission errors cannot provoke them and are skipped.
pub(crate) fn permissions_are_bypassed(dir: &Path) -> bool {
    let probe = dir.join("permission-probe");
    let _ = File::create(&probe);
    let _ = fs::set_permissions(&probe, Permissions::from_mode(0o000));
    let bypassed = File::open(&probe).is_ok();
    let _ = fs::remove_file(&probe);
    bypassed
}
