//! External tools some tests need: `prometheus` and `promtool` (Debian package `prometheus`),
//! Alertmanager and `amtool` (Debian package `prometheus-alertmanager`), `prlimit` and
//! `setpriv` (`util-linux`), Python modules from PyPI (`kubernetes-validate`), Docker with a
//! Compose tool and local images, and root for the tests that act as other users.
//!
//! Each is a [`Need`]: one probe says whether it is there and, when not, what is missing and
//! how to install it ([`Missing`]). The test harness ([`super::harness`]) runs that probe at
//! start-up to decide whether a test runs; the test body then calls the same probe through
//! [`Program::path`], [`PythonModules::python`], [`Root::check`] or [`Docker::tools`],
//! which return what was found or fail the test with the same message.

use std::fmt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Whether this is a CI run (`CI=true`), where a test whose tool is missing runs and fails
/// instead of being reported as ignored.
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

/// What a test needs that is not there, and how to get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// What is missing, e.g. "`promtool` is not on PATH".
    pub what: String,
    /// How to install or provide it, e.g. "install it with `apt-get install -y prometheus`".
    pub hint: String,
}

impl Missing {
    fn new(what: impl Into<String>, hint: impl Into<String>) -> Missing {
        Missing {
            what: what.into(),
            hint: hint.into(),
        }
    }

    /// Fails the running test with what is missing and how to install it. The harness only
    /// runs a test whose need is missing under `CI=true` or when asked to run ignored tests.
    #[track_caller]
    pub fn fail(self) -> ! {
        let Missing { what, hint } = self;
        if in_ci() {
            panic!("{what} and CI=true: this test must run in CI; {hint}");
        }
        panic!("{what}, so this test cannot run; {hint}");
    }
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; {}", self.what, self.hint)
    }
}

/// A program found on `PATH` under one of several names (the first found is used), from the
/// Debian package `package`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Program {
    /// The names it may have, in order of preference.
    pub names: &'static [&'static str],
    /// The Debian package that installs it.
    pub package: &'static str,
}

/// `prometheus`, the server.
pub const PROMETHEUS: Program = Program {
    names: &["prometheus"],
    package: "prometheus",
};
/// `promtool`, Prometheus' command-line tool (same package).
pub const PROMTOOL: Program = Program {
    names: &["promtool"],
    package: "prometheus",
};
/// Alertmanager: Debian's package installs it as `prometheus-alertmanager`, upstream's
/// release as `alertmanager`.
pub const ALERTMANAGER: Program = Program {
    names: &["prometheus-alertmanager", "alertmanager"],
    package: "prometheus-alertmanager",
};
/// `amtool`, Alertmanager's command-line tool (same package).
pub const AMTOOL: Program = Program {
    names: &["amtool"],
    package: "prometheus-alertmanager",
};
/// `openssl`, for an RSA key (ring cannot make one) and `s_client` handshakes.
pub const OPENSSL: Program = Program {
    names: &["openssl"],
    package: "openssl",
};
/// `prlimit`, to start a process under a descriptor limit.
pub const PRLIMIT: Program = Program {
    names: &["prlimit"],
    package: "util-linux",
};
/// `setpriv`, to run a process as another user.
pub const SETPRIV: Program = Program {
    names: &["setpriv"],
    package: "util-linux",
};

impl Program {
    /// Its path, or what is missing.
    pub fn find(&self) -> Result<PathBuf, Missing> {
        self.names
            .iter()
            .find_map(|name| find_on_path(name))
            .ok_or_else(|| {
                Missing::new(
                    format!("`{}` is not on PATH", self.names.join("` or `")),
                    format!("install it with `apt-get install -y {}`", self.package),
                )
            })
    }

    /// Its path, for a test that needs it; fails the test when it is missing.
    #[track_caller]
    pub fn path(&self) -> PathBuf {
        self.find().unwrap_or_else(|missing| missing.fail())
    }
}

/// A `python3` on `PATH` that imports `modules`, which `pip install requirement` provides
/// (e.g. `kubernetes-validate==1.37.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PythonModules {
    /// The modules it must import, e.g. `kubernetes_validate`.
    pub modules: &'static [&'static str],
    /// What `python3 -m pip install` takes to provide them.
    pub requirement: &'static str,
}

impl PythonModules {
    /// The `python3` that imports every module, or what is missing.
    pub fn find(&self) -> Result<PathBuf, Missing> {
        let hint = format!(
            "install it with `python3 -m pip install {}`",
            self.requirement
        );
        let Some(python) = find_on_path("python3") else {
            return Err(Missing::new("`python3` is not on PATH", hint));
        };
        let imports = Command::new(&python)
            .arg("-c")
            .arg(format!("import {}", self.modules.join(", ")))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if imports {
            Ok(python)
        } else {
            Err(Missing::new(
                format!(
                    "`{}` cannot import the Python module(s) `{}`",
                    python.display(),
                    self.modules.join("`, `")
                ),
                hint,
            ))
        }
    }

    /// That `python3`, for a test that runs the modules (e.g. `python3 -m
    /// kubernetes_validate`); fails the test when it cannot import them.
    #[track_caller]
    pub fn python(&self) -> PathBuf {
        self.find().unwrap_or_else(|missing| missing.fail())
    }
}

/// Running as root, for a test that acts as other users (`chown`, `setpriv`); `why` says
/// what for, e.g. "act as other users". CI runs as root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Root {
    /// What the test needs root for.
    pub why: &'static str,
}

impl Root {
    /// `Ok` when this process runs as root, else what is missing.
    pub fn find(&self) -> Result<(), Missing> {
        if rustix::process::geteuid().is_root() {
            return Ok(());
        }
        Err(Missing::new(
            format!(
                "this test is not running as root, which it needs to {}",
                self.why
            ),
            "run it as root (as CI does)",
        ))
    }

    /// Fails the test unless this process runs as root.
    #[track_caller]
    pub fn check(&self) {
        self.find().unwrap_or_else(|missing| missing.fail());
    }
}

/// A Docker engine this process may use, a Compose tool (the `docker compose` plugin, else
/// `docker-compose`) and the local `images`, for a test that runs containers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Docker {
    /// The images that must be present locally (no registry is reachable).
    pub images: Vec<String>,
}

/// Docker and a Compose tool, found by [`Docker::tools`].
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

impl Docker {
    /// Docker and a Compose tool with every image present, or what is missing.
    pub fn find(&self) -> Result<DockerCompose, Missing> {
        let Some(docker) = find_on_path("docker") else {
            return Err(Missing::new(
                "`docker` is not on PATH",
                "install Docker (Debian: `apt-get install -y docker.io docker-compose`)",
            ));
        };
        if !succeeds(&docker, &["info"]) {
            return Err(Missing::new(
                "the Docker engine does not answer `docker info`",
                "start it (`systemctl start docker`) and run the tests as a user allowed to use it",
            ));
        }
        let compose = if succeeds(&docker, &["compose", "version"]) {
            vec![docker.clone(), PathBuf::from("compose")]
        } else if let Some(v1) = find_on_path("docker-compose") {
            vec![v1]
        } else {
            return Err(Missing::new(
                "neither `docker compose` nor `docker-compose` is available",
                "install one (Debian: `apt-get install -y docker-compose`)",
            ));
        };
        let absent: Vec<&str> = self
            .images
            .iter()
            .map(String::as_str)
            .filter(|image| !succeeds(&docker, &["image", "inspect", image]))
            .collect();
        if !absent.is_empty() {
            return Err(Missing::new(
                format!("the Docker image(s) {} are not present", absent.join(", ")),
                "pull them, or make them without a registry with \
                 `deploy/docker/local-base-images.sh`, run as root (docs/deploy.md)",
            ));
        }
        Ok(DockerCompose { docker, compose })
    }

    /// Docker and a Compose tool, for a test that runs containers; fails the test when
    /// anything is missing.
    #[track_caller]
    pub fn tools(&self) -> DockerCompose {
        self.find().unwrap_or_else(|missing| missing.fail())
    }
}

/// Something from outside the workspace that a test needs, declared beside the test in its
/// binary's `main` (see [`super::harness`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Need {
    /// A program on `PATH`.
    Program(Program),
    /// A `python3` that imports some modules.
    PythonModules(PythonModules),
    /// Running as root.
    Root(Root),
    /// Docker, a Compose tool and local images.
    Docker(Docker),
}

impl Need {
    /// What is missing, if anything: the same probe the test body runs.
    pub fn missing(&self) -> Option<Missing> {
        match self {
            Need::Program(p) => p.find().err(),
            Need::PythonModules(m) => m.find().err(),
            Need::Root(r) => r.find().err(),
            Need::Docker(d) => d.find().err(),
        }
    }
}

impl From<Program> for Need {
    fn from(p: Program) -> Need {
        Need::Program(p)
    }
}

impl From<PythonModules> for Need {
    fn from(m: PythonModules) -> Need {
        Need::PythonModules(m)
    }
}

impl From<Root> for Need {
    fn from(r: Root) -> Need {
        Need::Root(r)
    }
}

impl From<Docker> for Need {
    fn from(d: Docker) -> Need {
        Need::Docker(d)
    }
}
