//! The real binaries under test, built once per test process.
//!
//! `cargo test --workspace` builds every binary of the workspace anyway, but `cargo test -p
//! dawn-tests` would not, and a stale binary would test old code: so the first test that
//! needs a binary runs `$CARGO build -p dawn-node -p dawn-exporter --bins` (a no-op when they
//! are fresh) with the profile and target directory of the running test executable.
//! [`cluster`] builds the local cluster launcher the same way, with the two binaries it runs,
//! and [`bench`] the benchmark driver.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use dawn_daemon::siblings::Siblings;

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

fn build() -> Result<Binaries, String> {
    let siblings = Siblings::of_current_exe().map_err(|e| e.to_string())?;
    siblings
        .build(
            &["dawn-node", "dawn-exporter"],
            &["dawn-node", "dawn-exporter"],
        )
        .map_err(|e| e.to_string())?;
    Ok(Binaries {
        exporter: siblings.path("dawn-exporter"),
        node: siblings.path("dawn-node"),
    })
}

static CLUSTER: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// `dawn-cluster`, built on first use together with the node and exporter it runs (in one
/// `cargo build`, the selection the launcher's own build uses), so that `dawn-cluster
/// --no-build` finds fresh binaries beside it. Fails the test when the build fails.
#[track_caller]
pub fn cluster() -> &'static Path {
    match CLUSTER.get_or_init(build_cluster) {
        Ok(path) => path,
        Err(e) => panic!("{e}"),
    }
}

fn build_cluster() -> Result<PathBuf, String> {
    let siblings = Siblings::of_current_exe().map_err(|e| e.to_string())?;
    let all = ["dawn-cluster", "dawn-node", "dawn-exporter"];
    siblings.build(&all, &all).map_err(|e| e.to_string())?;
    Ok(siblings.path("dawn-cluster"))
}

static BENCH: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// `dawn-bench`, built on first use. Fails the test when the build fails.
#[track_caller]
pub fn bench() -> &'static Path {
    match BENCH.get_or_init(build_bench) {
        Ok(path) => path,
        Err(e) => panic!("{e}"),
    }
}

fn build_bench() -> Result<PathBuf, String> {
    let siblings = Siblings::of_current_exe().map_err(|e| e.to_string())?;
    siblings
        .build(&["dawn-benchmarks"], &["dawn-bench"])
        .map_err(|e| e.to_string())?;
    Ok(siblings.path("dawn-bench"))
}
