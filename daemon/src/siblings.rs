//! The workspace's binaries as seen from another of its programs (the local cluster, the
//! end-to-end tests, the benchmark driver): where cargo put them, and building them in the
//! caller's own profile so a stale binary is never run.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Why the sibling binaries cannot be found or built.
#[derive(Debug, thiserror::Error)]
pub enum SiblingsError {
    /// This program's own path is unknown or not in a cargo target directory.
    #[error("cannot locate the cargo target directory from {path}: {reason}")]
    Locate {
        /// The path examined.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `cargo build` could not run or failed.
    #[error("{0}")]
    Build(String),
    /// The build succeeded but a binary is missing.
    #[error("{0} was not built")]
    Missing(String),
}

/// The profile directory (`target/<profile>`) this program runs from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Siblings {
    dir: PathBuf,
}

impl Siblings {
    /// The profile directory of the running executable: its own directory, or the parent
    /// of `deps/` for test executables.
    pub fn of_current_exe() -> Result<Siblings, SiblingsError> {
        let exe = std::env::current_exe().map_err(|e| SiblingsError::Locate {
            path: "the running executable".into(),
            reason: e.to_string(),
        })?;
        Siblings::of_exe(&exe)
    }

    /// The profile directory of the executable at `exe`.
    pub(crate) fn of_exe(exe: &Path) -> Result<Siblings, SiblingsError> {
        let locate = |reason: &str| SiblingsError::Locate {
            path: exe.display().to_string(),
            reason: reason.to_owned(),
        };
        let mut dir = exe.parent().ok_or_else(|| locate("no parent directory"))?;
        if dir.file_name() == Some(OsStr::new("deps")) {
            dir = dir.parent().ok_or_else(|| locate("deps/ has no parent"))?;
        }
        if dir.file_name().and_then(OsStr::to_str).is_none() {
            return Err(locate("the profile directory has no name"));
        }
        Ok(Siblings {
            dir: dir.to_owned(),
        })
    }

    /// The profile's name (`debug`, `release`, or a custom profile).
    pub fn profile(&self) -> &str {
        self.dir
            .file_name()
            .and_then(OsStr::to_str)
            .unwrap_or("debug")
    }

    /// Whether this is the release profile.
    pub fn is_release(&self) -> bool {
        self.profile() == "release"
    }

    /// The path of binary `name` in this profile.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The `cargo build` command for the binaries of `packages` in this profile and target
    /// directory (a no-op build when they are fresh).
    ///
    /// Cargo gives a program it runs (`cargo run`, `cargo test`) that package's own
    /// `CARGO_MANIFEST_*`/`CARGO_PKG_*` variables; build scripts that track them (ring's
    /// tracks `CARGO_MANIFEST_DIR`) would see them change between this build and the next
    /// ordinary one and rebuild the TLS stack each time, so they are removed.
    pub(crate) fn build_command(&self, packages: &[&str]) -> Command {
        let mut selection: Vec<&str> = packages.iter().flat_map(|p| ["-p", p]).collect();
        selection.push("--bins");
        self.cargo_build(&selection)
    }

    /// Builds example `name` of `package` (see [`Siblings::build_command`]) and returns its
    /// path: examples are programs too, and their tests must not run a stale one.
    pub fn build_example(&self, package: &str, name: &str) -> Result<PathBuf, SiblingsError> {
        let mut cmd = self.cargo_build(&["-p", package, "--example", name]);
        run_build(&mut cmd)?;
        let path = self.dir.join("examples").join(name);
        if !path.is_file() {
            return Err(SiblingsError::Missing(path.display().to_string()));
        }
        Ok(path)
    }

    /// `cargo build` of `selection` in this profile and target directory.
    fn cargo_build(&self, selection: &[&str]) -> Command {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.arg("build").args(selection);
        match self.profile() {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            other => {
                cmd.args(["--profile", other]);
            }
        }
        if let Some(target_dir) = self.dir.parent() {
            cmd.arg("--target-dir").arg(target_dir);
        }
        for (key, _) in std::env::vars_os() {
            let inherited = key.to_str().is_some_and(|k| {
                k.starts_with("CARGO_MANIFEST_")
                    || k.starts_with("CARGO_PKG_")
                    || k == "CARGO_CRATE_NAME"
            });
            if inherited {
                cmd.env_remove(key);
            }
        }
        cmd
    }

    /// Builds the binaries of `packages` (see [`Siblings::build_command`]) and checks that
    /// each of `binaries` exists afterwards.
    pub fn build(&self, packages: &[&str], binaries: &[&str]) -> Result<(), SiblingsError> {
        run_build(&mut self.build_command(packages))?;
        for name in binaries {
            let path = self.path(name);
            if !path.is_file() {
                return Err(SiblingsError::Missing(path.display().to_string()));
            }
        }
        Ok(())
    }
}

fn run_build(cmd: &mut Command) -> Result<(), SiblingsError> {
    let status = cmd
        .status()
        .map_err(|e| SiblingsError::Build(format!("cannot run {cmd:?}: {e}")))?;
    if !status.success() {
        return Err(SiblingsError::Build(format!(
            "{cmd:?} failed ({status}); see its output above"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_profile_of_binaries_and_test_executables() {
        let bin = Siblings::of_exe(Path::new("/w/target/release/dawn-cluster")).unwrap();
        assert_eq!(bin.profile(), "release");
        assert!(bin.is_release());
        assert_eq!(
            bin.path("dawn-node"),
            Path::new("/w/target/release/dawn-node")
        );
        let test = Siblings::of_exe(Path::new("/w/target/debug/deps/p2p_mesh-0123")).unwrap();
        assert_eq!(test.profile(), "debug");
        assert_eq!(
            test.path("dawn-exporter"),
            Path::new("/w/target/debug/dawn-exporter")
        );
    }

    #[test]
    fn the_build_command_keeps_profile_and_target_dir() {
        let s = Siblings::of_exe(Path::new("/w/target/bench/x")).unwrap();
        let cmd = s.build_command(&["dawn-node"]);
        let args: Vec<_> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "build",
                "-p",
                "dawn-node",
                "--bins",
                "--profile",
                "bench",
                "--target-dir",
                "/w/target"
            ]
        );
    }
}
