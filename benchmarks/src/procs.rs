//! The real binaries under measurement: an exporter or a node in a temp directory of its
//! own, on free loopback ports, stopped when dropped; and what `/proc` says of them.

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use dawn_daemon::siblings::Siblings;

/// Where the binaries are (built by the driver before any group runs).
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    /// `dawn-exporter`.
    pub(crate) exporter: PathBuf,
    /// `dawn-node`.
    pub(crate) node: PathBuf,
}

impl Binaries {
    /// Builds `dawn-node` and `dawn-exporter` in this driver's profile (release, under
    /// `cargo run --release`) and returns their paths; `exporter`, when given, is measured
    /// instead of the exporter built (`--exporter`).
    pub(crate) fn build(exporter: Option<&Path>) -> anyhow::Result<Binaries> {
        // Checked before the build, which can take minutes; absolute, because the groups
        // start it in directories of their own.
        let other = match exporter {
            Some(path) => {
                let absolute = std::fs::canonicalize(path)
                    .with_context(|| format!("--exporter {}", path.display()))?;
                if !absolute.is_file() {
                    bail!("--exporter {}: not a file", path.display());
                }
                eprintln!("dawn-bench: measuring the exporter {}", absolute.display());
                Some(absolute)
            }
            None => None,
        };
        let siblings = Siblings::of_current_exe()?;
        if !siblings.is_release() {
            eprintln!(
                "dawn-bench: WARNING: running a {} build; figures are only meaningful from `cargo run --release`",
                siblings.profile()
            );
        }
        siblings.build(
            &["dawn-node", "dawn-exporter"],
            &["dawn-node", "dawn-exporter"],
        )?;
        Ok(Binaries {
            exporter: other.unwrap_or_else(|| siblings.path("dawn-exporter")),
            node: siblings.path("dawn-node"),
        })
    }
}

/// A free TCP port on 127.0.0.1.
pub(crate) fn free_tcp_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A free UDP port on 127.0.0.1.
pub(crate) fn free_udp_port() -> anyhow::Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `count` distinct free ports of one protocol on 127.0.0.1, all bound at once and released
/// together (ports picked one by one can repeat); `bind` binds one (0: any).
pub(crate) fn free_ports<S>(
    count: usize,
    bind: impl Fn(u16) -> std::io::Result<S>,
    port_of: impl Fn(&S) -> std::io::Result<u16>,
) -> anyhow::Result<Vec<u16>> {
    let held: Vec<S> = (0..count)
        .map(|_| bind(0))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("cannot bind {count} free loopback ports"))?;
    Ok(held.iter().map(&port_of).collect::<std::io::Result<_>>()?)
}

/// `count` distinct free TCP ports on 127.0.0.1 (see [`free_ports`]).
pub(crate) fn free_tcp_ports(count: usize) -> anyhow::Result<Vec<u16>> {
    free_ports(
        count,
        |p| TcpListener::bind(("127.0.0.1", p)),
        |s| Ok(s.local_addr()?.port()),
    )
}

/// `count` distinct free UDP ports on 127.0.0.1, all bound at once, below the kernel's
/// ephemeral range (`ip_local_port_range`): a port from that range, free when checked, can
/// be handed to any other program's `bind(0)` before the node binds it, or while a
/// killed node is down and about to be restarted on it.
pub(crate) fn free_udp_ports(count: usize) -> anyhow::Result<Vec<u16>> {
    const LOWEST: u16 = 10_000;
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    let span = ephemeral.saturating_sub(LOWEST);
    anyhow::ensure!(
        usize::from(span) > count * 2,
        "too few ports below the ephemeral range ({LOWEST}..{ephemeral}) for {count}"
    );
    // A start that differs between runs and processes; then every free port upwards.
    let seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
    let start = (seed % u64::from(span)) as u16;
    let mut held = Vec::with_capacity(count);
    for k in 0..span {
        let port = LOWEST + (start + k) % span;
        if let Ok(socket) = UdpSocket::bind(("127.0.0.1", port)) {
            held.push((port, socket));
            if held.len() == count {
                return Ok(held.into_iter().map(|(p, _)| p).collect());
            }
        }
    }
    anyhow::bail!("fewer than {count} free UDP ports in {LOWEST}..{ephemeral}")
}

/// A fresh directory under the system temp dir, removed by [`Workdir::drop`].
#[derive(Debug)]
pub(crate) struct Workdir(PathBuf);

impl Workdir {
    /// Creates `dawn-bench-<pid>-<n>` (short: socket paths are limited to 107 bytes).
    pub(crate) fn new(tag: &str) -> anyhow::Result<Workdir> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dawn-bench-{}-{tag}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Workdir(dir))
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running process, SIGKILLed when dropped; its output goes to `log`.
#[derive(Debug)]
pub(crate) struct Proc {
    child: Child,
    /// Its stdout+stderr.
    pub(crate) log: PathBuf,
}

impl Proc {
    /// Starts `program` with `args` and `envs` (the `PROJECT_DAWN_*` and log variables of
    /// the caller are removed first, so the developer's settings do not leak in).
    pub(crate) fn start(
        program: &Path,
        args: &[&str],
        envs: &[(&str, &str)],
        log: PathBuf,
    ) -> anyhow::Result<Proc> {
        let out = std::fs::File::create(&log)?;
        let mut cmd = Command::new(program);
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if k.starts_with("PROJECT_DAWN_")
                || ["RUST_LOG", "LOG_LEVEL", "LOG_FORMAT"].contains(&k.as_ref())
            {
                cmd.env_remove(&key);
            }
        }
        let child = cmd
            .args(args)
            .envs(envs.iter().copied())
            .env("LOG_LEVEL", "warning")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        Ok(Proc { child, log })
    }

    /// Its pid.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGKILL (no chance to clean up, as in a crash) and reaps the process.
    pub(crate) fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// How it ended, if it has (without waiting).
    pub(crate) fn exit_status(&mut self) -> anyhow::Result<Option<std::process::ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// Resident memory now, in MiB (`VmRSS` of `/proc/PID/status`).
    pub(crate) fn rss_mib(&self) -> anyhow::Result<f64> {
        self.status_mib("VmRSS")
    }

    /// The most resident memory since the start or the last [`Proc::reset_peak_rss`], in
    /// MiB (`VmHWM` of `/proc/PID/status`).
    pub(crate) fn peak_rss_mib(&self) -> anyhow::Result<f64> {
        self.status_mib("VmHWM")
    }

    /// Restarts [`Proc::peak_rss_mib`] from the resident memory now (`5` written to
    /// `/proc/PID/clear_refs`, Linux 4.0 and later).
    pub(crate) fn reset_peak_rss(&self) -> anyhow::Result<()> {
        let path = format!("/proc/{}/clear_refs", self.pid());
        std::fs::write(&path, "5").with_context(|| format!("cannot write {path}"))
    }

    /// A `kB` field of `/proc/PID/status`, in MiB.
    fn status_mib(&self, field: &str) -> anyhow::Result<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no {field} in /proc/PID/status"))?;
        Ok(kib / 1024.0)
    }

    /// CPU time used so far (user + system), from `/proc/PID/stat`.
    pub(crate) fn cpu_time(&self) -> anyhow::Result<Duration> {
        stat_cpu_time(&format!("/proc/{}/stat", self.pid()))
    }
}

/// CPU time the calling thread has used so far (user + system), from
/// `/proc/thread-self/stat` (10 ms resolution).
pub(crate) fn thread_cpu_time() -> anyhow::Result<Duration> {
    stat_cpu_time("/proc/thread-self/stat")
}

/// utime + stime of a `/proc/.../stat` file.
fn stat_cpu_time(path: &str) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(path)?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .with_context(|| format!("malformed {path}"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the ')'.
    let ticks: u64 = fields
        .get(11..13)
        .with_context(|| format!("short {path}"))?
        .iter()
        .map(|f| f.parse::<u64>().unwrap_or(0))
        .sum();
    // USER_HZ is 100 on every Linux the benchmarks run on.
    Ok(Duration::from_millis(ticks * 10))
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `dawn-exporter` on a free port with its socket in `dir`.
#[derive(Debug)]
pub(crate) struct ExporterProc {
    /// The process.
    pub(crate) proc: Proc,
    /// Its telemetry socket.
    pub(crate) socket: PathBuf,
    /// Its HTTP port on 127.0.0.1.
    pub(crate) port: u16,
}

impl ExporterProc {
    /// Starts an exporter with extra `args` and waits until `/-/healthy` answers.
    pub(crate) fn start(
        bins: &Binaries,
        dir: &Path,
        args: &[&str],
    ) -> anyhow::Result<ExporterProc> {
        let exporter = ExporterProc::spawn_at(bins, dir, free_tcp_port()?, args)?;
        exporter.wait_healthy(Duration::from_secs(20))?;
        Ok(exporter)
    }

    /// Starts an exporter on `port` with extra `args` without waiting for it (many are
    /// started at once, then waited for with [`ExporterProc::wait_healthy`]).
    pub(crate) fn spawn_at(
        bins: &Binaries,
        dir: &Path,
        port: u16,
        args: &[&str],
    ) -> anyhow::Result<ExporterProc> {
        let socket = dir.join("telemetry.sock");
        let listen = format!("127.0.0.1:{port}");
        let socket_text = socket.to_string_lossy().into_owned();
        let mut all = vec!["--socket", &socket_text, "--web.listen-address", &listen];
        all.extend_from_slice(args);
        let proc = Proc::start(&bins.exporter, &all, &[], dir.join("exporter.log"))?;
        Ok(ExporterProc { proc, socket, port })
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Waits until `/-/healthy` answers 200 and the socket exists.
    pub(crate) fn wait_healthy(&self, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            if self.socket.exists() && get(&self.url("/-/healthy")).is_ok_and(|r| r.status == 200) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the exporter did not come up within {within:?}; see {}",
                    self.proc.log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A blocking loopback HTTP GET (its own small runtime: the figures that use it time whole
/// requests, as Prometheus sees them).
pub(crate) fn get(url: &str) -> anyhow::Result<dawn_daemon::http_get::Response> {
    Ok(dawn_daemon::http_get::get_blocking(
        url,
        &[],
        Duration::from_secs(30),
    )?)
}
