//! External tools some tests need: `prometheus` and `promtool` (Debian package `prometheus`),
//! Alertmanager and `amtool` (Debian package `prometheus-alertmanager`), Python modules
//! from PyPI (`kubernetes-validate`), Docker with a Compose tool and local images, and root
//! for the tests that act as other users.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Whether this is a CI run (`CI=true`), where missing tools fail tests instead of skipping.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Finds `name` on `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The path of tool `name` for a test that needs it.
///
/// When it is missing: under `CI=true` the test fails; otherwise a loud message says the test
/// was skipped and `None` is returned (the test then returns early).
#[track_caller]
pub fn require(name: &str) -> Option<PathBuf> {
    if let Some(p) = find_on_path(name) {
        return Some(p);
    }
    missing(
        &format!("`{name}` is not on PATH"),
        "install it with `apt-get install -y prometheus` (gives prometheus and promtool)",
    )
}

/// What a test does when something it needs is `what` (e.g. "`promtool` is not on PATH"):
/// under `CI=true` it fails; otherwise a loud message says the test was skipped, and `None`
/// is returned.
#[track_caller]
fn missing(what: &str, hint: &str) -> Option<PathBuf> {
    if in_ci() {
        panic!("{what} and CI=true: this test must run in CI; {hint}");
    }
    eprintln!(
        "\n!!!!!!!! SKIPPED: {what}, so this test did not run; {hint} \
         (with CI=true this is a failure) !!!!!!!!\n"
    );
    None
}

/// The first of `names` found on `PATH`, for a test that needs one of them; `package` is the
/// Debian package that provides it. Missing: fails under `CI=true`, else skips loudly (see
/// [`require`]).
#[track_caller]
pub fn require_one_of(names: &[&str], package: &str) -> Option<PathBuf> {
    if let Some(p) = names.iter().find_map(|n| find_on_path(n)) {
        return Some(p);
    }
    missing(
        &format!("`{}` is not on PATH", names.join("` or `")),
        &format!("install it with `apt-get install -y {package}`"),
    )
}

/// `python3` from `PATH`, for a test that runs Python `modules` (e.g. `python3 -m
/// kubernetes_validate`); `requirement` is what `pip` installs to provide them (e.g.
/// `kubernetes-validate==1.37.0`). When `python3` is missing or cannot import every module:
/// fails under `CI=true`, else skips loudly (see [`require`]).
#[track_caller]
pub fn require_python_modules(modules: &[&str], requirement: &str) -> Option<PathBuf> {
    let hint = format!("install it with `python3 -m pip install {requirement}`");
    let Some(python) = find_on_path("python3") else {
        return missing("`python3` is not on PATH", &hint);
    };
    let imports = Command::new(&python)
        .arg("-c")
        .arg(format!("import {}", modules.join(", ")))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if imports {
        Some(python)
    } else {
        missing(
            &format!(
                "`{}` cannot import the Python module(s) `{}`",
                python.display(),
                modules.join("`, `")
            ),
            &hint,
        )
    }
}

/// Whether this process runs as root, for a test that acts as other users (`chown`,
/// `setpriv`). When it does not: fails under `CI=true` (CI runs as root), else skips loudly
/// and returns `false`.
#[track_caller]
pub fn require_root(why: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    missing(
        &format!("this test is not running as root, which it needs to {why}"),
        "run it as root (as CI does)",
    )
    .is_some()
}

/// Alertmanager: Debian's package `prometheus-alertmanager` installs it as
/// `prometheus-alertmanager`, upstream's release as `alertmanager`.
#[track_caller]
pub fn require_alertmanager() -> Option<PathBuf> {
    require_one_of(
        &["prometheus-alertmanager", "alertmanager"],
        "prometheus-alertmanager",
    )
}

/// `amtool`, Alertmanager's command-line tool (same package).
#[track_caller]
pub fn require_amtool() -> Option<PathBuf> {
    require_one_of(&["amtool"], "prometheus-alertmanager")
}

/// Docker and a Compose tool, found by [`require_docker_compose`].
#[derive(Debug, Clone)]
pub struct DockerCompose {
    /// The `docker` client.
    pub docker: PathBuf,
    /// The Compose command: `docker-compose`, or `docker compose` where the plugin exists.
    pub compose: Vec<PathBuf>,
}

impl DockerCompose {
    /// A `Command` running the Compose tool (its leading words already added).
    pub fn compose_command(&self) -> Command {
        let mut cmd = Command::new(&self.compose[0]);
        cmd.args(&self.compose[1..]);
        cmd
    }
}

/// Whether `program args` runs and exits 0 (output discarded).
fn succeeds(program: &std::path::Path, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A Docker engine this process may use, a Compose tool (the `docker compose` plugin, else
/// `docker-compose`) and the local `images`, for a test that runs containers. Missing any of
/// them: fails under `CI=true`, else skips loudly (see [`require`]).
#[track_caller]
pub fn require_docker_compose(images: &[&str]) -> Option<DockerCompose> {
    let Some(docker) = find_on_path("docker") else {
        return missing(
            "`docker` is not on PATH",
            "install Docker (Debian: `apt-get install -y docker.io docker-compose`)",
        )
        .and(None);
    };
    if !succeeds(&docker, &["info"]) {
        return missing(
            "the Docker engine does not answer `docker info`",
            "start it (`systemctl start docker`) and run the tests as a user allowed to use it",
        )
        .and(None);
    }
    let compose = if succeeds(&docker, &["compose", "version"]) {
        vec![docker.clone(), PathBuf::from("compose")]
    } else if let Some(v1) = find_on_path("docker-compose") {
        vec![v1]
    } else {
        return missing(
            "neither `docker compose` nor `docker-compose` is available",
            "install one (Debian: `apt-get install -y docker-compose`)",
        )
        .and(None);
    };
    let absent: Vec<&str> = images
        .iter()
        .copied()
        .filter(|image| !succeeds(&docker, &["image", "inspect", image]))
        .collect();
    if !absent.is_empty() {
        return missing(
            &format!("the Docker image(s) {} are not present", absent.join(", ")),
            "pull them, or make them without a registry with \
             `sudo deploy/docker/local-base-images.sh` (docs/deploy.md)",
        )
        .and(None);
    }
    Some(DockerCompose { docker, compose })
}
