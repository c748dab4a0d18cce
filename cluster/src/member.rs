//! One cluster member: a `dawn-node` process and its `dawn-exporter` sidecar.

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use dawn_daemon::siblings::Siblings;
use dawn_node::app::{ENV_BOOTSTRAP, ENV_DATA_ROOT, ENV_HOST, ENV_P2P_PORT, ENV_SOCKET};
use tokio::process::{Child, Command};

/// Paths of the binaries the cluster runs.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    node: PathBuf,
    exporter: PathBuf,
    /// Where they are (the launcher's own profile directory).
    pub(crate) siblings: Siblings,
}

impl Binaries {
    /// The binaries in the same directory as this launcher, as cargo lays them out.
    pub(crate) fn beside_current_exe() -> anyhow::Result<Binaries> {
        let siblings = Siblings::of_current_exe()?;
        Ok(Binaries {
            node: siblings.path("dawn-node"),
            exporter: siblings.path("dawn-exporter"),
            siblings,
        })
    }
}

/// Ports of one member.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MemberPorts {
    /// The exporter's HTTP port.
    pub(crate) metrics: u16,
    /// The node's UDP port.
    pub(crate) p2p: u16,
}

/// A running node and exporter pair.
pub(crate) struct Member {
    pub(crate) index: usize,
    pub(crate) ports: MemberPorts,
    dir: PathBuf,
    socket: PathBuf,
    exporter: Option<Child>,
    node: Option<Child>,
}

impl Member {
    /// Starts the exporter, then the node, under `root/node-INDEX/`, with `env` (the
    /// cluster's node settings) added to the node's environment.
    pub(crate) fn start(
        bins: &Binaries,
        root: &Path,
        index: usize,
        ports: MemberPorts,
        bootstrap: Option<String>,
        env: &[(&'static str, String)],
    ) -> anyhow::Result<Member> {
        let dir = root.join(format!("node-{index}"));
        let data = dir.join("data");
        std::fs::create_dir_all(&data)
            .with_context(|| format!("cannot create {}", data.display()))?;
        // The exporter's socket lives here, and it refuses a directory others may write
        // (a umask of 002 would make it group-writable): private, whatever the umask.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot make {} private", dir.display()))?;
        let socket = dir.join("telemetry.sock");
        let log = |name: &str| -> anyhow::Result<Stdio> {
            let path = dir.join(name);
            let f =
                File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
            Ok(Stdio::from(f))
        };

        // The socket's variable is the one both binaries read.
        let exporter = Command::new(&bins.exporter)
            .env(ENV_SOCKET, &socket)
            .arg("--web.listen-address")
            .arg(format!("127.0.0.1:{}", ports.metrics))
            .stdin(Stdio::null())
            .stdout(log("exporter.out")?)
            .stderr(log("exporter.log")?)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", bins.exporter.display()))?;

        let mut node = Command::new(&bins.node);
        node.arg("run")
            .env(ENV_DATA_ROOT, &data)
            .env(ENV_SOCKET, &socket)
            .env(ENV_HOST, "127.0.0.1")
            .env(ENV_P2P_PORT, ports.p2p.to_string())
            .stdin(Stdio::null())
            .stdout(log("node.out")?)
            .stderr(log("node.log")?)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .kill_on_drop(true);
        if let Some(b) = bootstrap {
            node.env(ENV_BOOTSTRAP, b);
        }
        let node = node
            .spawn()
            .with_context(|| format!("cannot start {}", bins.node.display()))?;

        Ok(Member {
            index,
            ports,
            dir,
            socket,
            exporter: Some(exporter),
            node: Some(node),
        })
    }

    /// The node's p2p address.
    pub(crate) fn p2p_addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.ports.p2p))
    }

    /// The exporter's base URL.
    pub(crate) fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.metrics)
    }

    /// One line telling a user where this member's endpoints are.
    pub(crate) fn describe(&self) -> String {
        let base = self.base_url();
        format!(
            "node-{}: p2p udp 127.0.0.1:{}  metrics {base}/metrics  health {base}/health",
            self.index, self.ports.p2p
        )
    }

    /// Waits until the exporter reports the node ready, or fails with the logs' last lines.
    pub(crate) async fn wait_ready(&mut self, by: Instant) -> anyhow::Result<()> {
        let url = format!("{}/health/ready", self.base_url());
        loop {
            if let Some(dead) = self.exited() {
                bail!(dead);
            }
            if let Ok(r) = dawn_daemon::http_get::get(&url, &[], Duration::from_secs(2)).await
                && r.status == 200
            {
                return Ok(());
            }
            if Instant::now() > by {
                bail!(
                    "node-{} did not become ready within 30 s ({url})\n{}",
                    self.index,
                    self.log_tails()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A description of the process that exited, if one did.
    pub(crate) fn exited(&mut self) -> Option<String> {
        let mut which = None;
        for (name, child) in [("exporter", &mut self.exporter), ("node", &mut self.node)] {
            if let Some(status) = child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                *child = None;
                which = Some((name, status));
                break;
            }
        }
        let (name, status) = which?;
        Some(format!(
            "node-{}'s {name} exited ({status})\n{}",
            self.index,
            self.log_tails()
        ))
    }

    fn log_tails(&self) -> String {
        let mut out = String::new();
        for name in ["node.log", "exporter.log"] {
            let path = self.dir.join(name);
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            out.push_str(&format!("--- last lines of {} ---\n", path.display()));
            for l in &lines[lines.len().saturating_sub(10)..] {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    /// Removes the socket if the exporter could not.
    fn remove_socket(&self) {
        if self.socket.exists() {
            let _ = std::fs::remove_file(&self.socket);
        }
    }
}

/// Stops every member: all the nodes at once, then all the exporters (so each node can
/// say goodbye to its exporter), each group with SIGTERM and SIGKILL for what has not
/// exited within 5 s; then removes the sockets the exporters left. One member after the
/// other took a hundred members most of a minute.
pub(crate) async fn stop_all(members: &mut [Member]) {
    let nodes: Vec<Child> = members.iter_mut().filter_map(|m| m.node.take()).collect();
    terminate_all(nodes).await;
    let exporters: Vec<Child> = members
        .iter_mut()
        .filter_map(|m| m.exporter.take())
        .collect();
    terminate_all(exporters).await;
    for m in members.iter() {
        m.remove_socket();
    }
}

/// SIGTERM to all of `children` at once, then SIGKILL to those that have not exited within
/// 5 s.
async fn terminate_all(mut children: Vec<Child>) {
    let pids: Vec<String> = children
        .iter()
        .filter_map(Child::id)
        .map(|p| p.to_string())
        .collect();
    if !pids.is_empty() {
        // `kill` is the portable way to send SIGTERM without an FFI dependency.
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .args(&pids)
            .status();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    for child in &mut children {
        if tokio::time::timeout_at(deadline, child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
    }
}

/// SIGTERM, then SIGKILL if the process has not exited within 5 s.
pub(crate) async fn terminate(child: &mut Child) {
    if let Some(pid) = child.id() {
        // `kill` is the portable way to send SIGTERM without an FFI dependency.
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        if tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    let _ = child.kill().await;
}
