//! The real binaries under test, built once per test process.
//!
//! `cargo test --workspace` builds every binary of the workspace anyway, but `cargo test -p
//! dawn-tests` would not, and a stale binary would test old code: so the first test that
//! needs a binary runs `$CARGO build -p dawn-node -p dawn-exporter --bins` (a no-op when they
//! are fresh) with the profile and target directory of the running test executable.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Paths of the binaries.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// `dawn-exporter`.
    pub exporter: PathBuf,
    /// `dawn-node`.
    pub node: PathBuf,
}

static BINARIES: OnceLock<Result<Binaries, String>> = OnceLock::new();

/// The built binaries; builds them on first use. Fails the test when the build fails.
#[track_caller]
pub fn binaries() -> &'static Binaries {
    match BINARIES.get_or_init(build) {
        Ok(b) => b,
        Err(e) => panic!("{e}"),
    }
}

/// `target/<profile>` of the running test executable (`target/<profile>/deps/<test>`).
fn profile_dir() -> Result<PathBuf, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find the test executable: {e}"))?;
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_owned)
        .ok_or_else(|| format!("unexpected test executable path {}", exe.display()))
}

fn build() -> Result<Binaries, String> {
    let dir = profile_dir()?;
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("tests/ has no parent directory")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    // Cargo gives the test process its package's variables; build scripts that track
    // them (ring's tracks CARGO_MANIFEST_DIR) would see a change and rebuild, and then
    // rebuild again in the next ordinary build.
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("CARGO_MANIFEST_")
            || k.starts_with("CARGO_PKG_")
            || k == "CARGO_CRATE_NAME"
        {
            cmd.env_remove(&key);
        }
    }
    cmd.current_dir(workspace)
        .args(["build", "-p", "dawn-node", "-p", "dawn-exporter", "--bins"]);
    match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(other) => {
            cmd.args(["--profile", other]);
        }
        None => return Err(format!("unexpected profile directory {}", dir.display())),
    }
    if let Some(target_dir) = dir.parent() {
        cmd.arg("--target-dir").arg(target_dir);
    }
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if !status.success() {
        return Err(format!("{cmd:?} failed ({status}); see its output above"));
    }
    let bins = Binaries {
        exporter: dir.join("dawn-exporter"),
        node: dir.join("dawn-node"),
    };
    for p in [&bins.exporter, &bins.node] {
        if !p.is_file() {
            return Err(format!("{} was not built by {cmd:?}", p.display()));
        }
    }
    Ok(bins)
}
