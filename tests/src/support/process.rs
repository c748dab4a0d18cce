//! The real processes under test: each gets its own temp dir, socket path and free loopback
//! port; its stdout and stderr go to a log file that is printed when the test fails; it is
//! killed when dropped.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};
use tempfile::TempDir;

use crate::support::binaries::binaries;
use crate::support::eventually::{eventually, patience};
use crate::support::exposition::Exposition;
use crate::support::http::{Response, get, get_with};

/// Variables that would leak the developer's configuration into a test's processes.
const SCRUBBED_ENV: &[&str] = &["RUST_LOG", "LOG_LEVEL", "LOG_FORMAT"];
/// Prefix of the project's variables, all scrubbed.
const PROJECT_ENV_PREFIX: &str = "PROJECT_DAWN_";

/// A free TCP port on 127.0.0.1 (the OS picks it; it is free when this returns).
#[track_caller]
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot bind a loopback TCP port")
}

/// A free UDP port on 127.0.0.1.
#[track_caller]
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("cannot bind a loopback UDP port")
}

/// The first of `count` consecutive free TCP ports on 127.0.0.1, for a program that takes
/// a first port and counts up from it (`dawn-cluster --metrics-port`).
#[track_caller]
pub fn free_tcp_ports(count: u16) -> u16 {
    free_run(count, |port| {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        Ok((listener.local_addr()?.port(), listener))
    })
}

/// The first of `count` consecutive free UDP ports on 127.0.0.1 (`dawn-cluster --p2p-port`).
#[track_caller]
pub fn free_udp_ports(count: u16) -> u16 {
    free_run(count, |port| {
        let socket = UdpSocket::bind(("127.0.0.1", port))?;
        Ok((socket.local_addr()?.port(), socket))
    })
}

/// A port the OS picks (`bind(0)`) whose `count - 1` successors are free too, all of them
/// held until every one is bound; a few tries, as a successor may be taken.
#[track_caller]
fn free_run<T>(count: u16, bind: impl Fn(u16) -> std::io::Result<(u16, T)>) -> u16 {
    for _ in 0..100 {
        let Ok((first, _held)) = bind(0) else {
            continue;
        };
        if first.checked_add(count.saturating_sub(1)).is_none() {
            continue;
        }
        let rest: std::io::Result<Vec<_>> = (1..count).map(|i| bind(first + i)).collect();
        if rest.is_ok() {
            return first;
        }
    }
    panic!("no {count} consecutive free loopback ports found in 100 tries");
}

/// A new temp dir with a short path (Unix socket paths are limited to 107 bytes).
#[track_caller]
pub fn temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("dawn-")
        .tempdir_in(std::env::temp_dir())
        .expect("cannot create a temp dir")
}

/// A command for a program with the developer's Dawn variables scrubbed from its env.
pub fn scrubbed_command(program: &Path) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with(PROJECT_ENV_PREFIX) || SCRUBBED_ENV.contains(&k.as_ref()) {
            cmd.env_remove(&key);
        }
    }
    cmd
}

/// What a process that ran to its end left behind.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

impl Finished {
    /// Exit code (`None` when killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Runs `program` to its end (killing it after the patience) and collects its output.
#[track_caller]
pub fn run_to_end(program: &Path, args: &[&str], envs: &[(&str, &str)]) -> Finished {
    let dir = temp_dir();
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut cmd = scrubbed_command(program);
    cmd.args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("create stdout file"))
        .stderr(File::create(&err_path).expect("create stderr file"));
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let status = match wait_within(&mut child, patience()) {
        Some(s) => s,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} {args:?} did not exit within {:?}; stderr:\n{}",
                program.display(),
                patience(),
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
    };
    Finished {
        status,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

fn wait_within(child: &mut Child, wait: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + wait;
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A long-running process that can be killed, signalled and restarted with the same command.
#[derive(Debug)]
pub struct Proc {
    name: String,
    program: PathBuf,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    log: PathBuf,
    /// The log's length when the running process started: what it wrote comes after.
    log_start: u64,
    child: Option<Child>,
    exited: Option<ExitStatus>,
}

impl Proc {
    /// Starts `program`; its stdout and stderr are appended to `log`.
    #[track_caller]
    pub fn start(
        name: &str,
        program: &Path,
        args: Vec<OsString>,
        envs: Vec<(OsString, OsString)>,
        log: PathBuf,
    ) -> Proc {
        let mut p = Proc {
            name: name.to_owned(),
            program: program.to_owned(),
            args,
            envs,
            log,
            log_start: 0,
            child: None,
            exited: None,
        };
        p.restart();
        p
    }

    /// Starts the same command again (after a kill or exit).
    #[track_caller]
    pub fn restart(&mut self) {
        assert!(
            self.child.is_none(),
            "{} is still running; kill it before restarting",
            self.name
        );
        let open = || {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)
                .unwrap_or_else(|e| panic!("cannot open {}: {e}", self.log.display()))
        };
        self.log_start = std::fs::metadata(&self.log).map_or(0, |m| m.len());
        let child = scrubbed_command(&self.program)
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(open())
            .stderr(open())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.program.display()));
        self.child = Some(child);
        self.exited = None;
    }

    /// The process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends `signal`; fails the test if the process is not running.
    #[track_caller]
    pub fn signal(&self, signal: Signal) {
        let child = self
            .child
            .as_ref()
            .unwrap_or_else(|| panic!("{} is not running", self.name));
        kill_process(Pid::from_child(child), signal)
            .unwrap_or_else(|e| panic!("cannot signal {}: {e}", self.name));
    }

    /// SIGKILL, and reap it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            self.exited = c.wait().ok();
        }
    }

    /// Sends SIGTERM and waits for the exit; fails the test if it does not exit in time.
    #[track_caller]
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal(Signal::TERM);
        self.wait_exit()
    }

    /// Waits for the process to exit by itself; fails the test if it does not within the
    /// patience.
    #[track_caller]
    pub fn wait_exit(&mut self) -> ExitStatus {
        if let Some(s) = self.exited {
            return s;
        }
        let mut child = self
            .child
            .take()
            .unwrap_or_else(|| panic!("{} was never started", self.name));
        match wait_within(&mut child, patience()) {
            Some(s) => {
                self.exited = Some(s);
                s
            }
            None => {
                self.child = Some(child);
                panic!("{} did not exit within {:?}", self.name, patience());
            }
        }
    }

    /// The exit status if it has exited (reaping it), `None` while running.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        if let Some(c) = self.child.as_mut()
            && let Ok(Some(s)) = c.try_wait()
        {
            self.exited = Some(s);
            self.child = None;
        }
        self.exited
    }

    /// Fails the test if the process has exited.
    #[track_caller]
    pub fn assert_running(&mut self) {
        if let Some(s) = self.exit_status() {
            panic!(
                "{} exited unexpectedly ({s}); its log:\n{}",
                self.name,
                self.log()
            );
        }
    }

    /// Everything it wrote to stdout and stderr so far, over all its starts.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// What the running (or last) process logged: the log without earlier starts' lines,
    /// which would otherwise answer a wait for the new process.
    pub fn current_log(&self) -> String {
        let log = std::fs::read(&self.log).unwrap_or_default();
        let start = usize::try_from(self.log_start).map_or(log.len(), |s| s.min(log.len()));
        String::from_utf8_lossy(&log[start..]).into_owned()
    }

    /// Name for messages.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(80)..];
            eprintln!(
                "----- last {} lines of {} ({}) -----\n{}\n----- end of {} -----",
                tail.len(),
                self.name,
                self.log.display(),
                tail.join("\n"),
                self.name
            );
        }
    }
}

/// How to start an exporter; [`Default`] gives a fresh socket and port in a new temp dir.
#[derive(Debug, Default, Clone)]
pub struct ExporterOptions {
    /// The socket path; default `<temp dir>/telemetry.sock`.
    pub socket: Option<PathBuf>,
    /// The HTTP port on 127.0.0.1; default a free one.
    pub port: Option<u16>,
    /// Extra command-line arguments (after `--socket` and `--web.listen-address`).
    pub args: Vec<String>,
    /// Extra environment variables.
    pub envs: Vec<(String, String)>,
    /// A command the exporter runs under, e.g. `prlimit --nofile=1024 --` or `setpriv
    /// --reuid=65534 ...` (empty: none).
    pub under: Vec<String>,
}

impl ExporterOptions {
    /// Adds a flag and its value.
    pub fn arg(mut self, flag: &str, value: &str) -> Self {
        self.args.push(flag.to_owned());
        self.args.push(value.to_owned());
        self
    }

    /// Adds a flag without a value.
    pub fn flag(mut self, flag: &str) -> Self {
        self.args.push(flag.to_owned());
        self
    }

    /// Listens on this port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Uses this socket path.
    pub fn socket(mut self, path: &Path) -> Self {
        self.socket = Some(path.to_owned());
        self
    }

    /// Runs the exporter under `command` (its program found on `PATH` or given by path),
    /// the exporter's path and arguments following it.
    pub fn under(mut self, command: &[&str]) -> Self {
        self.under = command.iter().map(|&w| w.to_owned()).collect();
        self
    }
}

/// A running `dawn-exporter`.
#[derive(Debug)]
pub struct Exporter {
    /// The process.
    pub proc: Proc,
    /// Its socket path.
    pub socket: PathBuf,
    /// Its HTTP port on 127.0.0.1.
    pub port: u16,
    /// Its temp dir (logs, default socket).
    pub dir: TempDir,
}

impl Exporter {
    /// Starts an exporter with default options and waits until it serves.
    #[track_caller]
    pub fn start() -> Exporter {
        Exporter::start_with(ExporterOptions::default())
    }

    /// Starts an exporter and waits until it serves HTTP and its socket exists.
    #[track_caller]
    pub fn start_with(opts: ExporterOptions) -> Exporter {
        let mut e = Exporter::spawn(opts);
        e.wait_up();
        e
    }

    /// Starts an exporter without waiting for anything.
    #[track_caller]
    pub fn spawn(opts: ExporterOptions) -> Exporter {
        let dir = temp_dir();
        let socket = opts
            .socket
            .clone()
            .unwrap_or_else(|| dir.path().join("telemetry.sock"));
        let port = opts.port.unwrap_or_else(free_port);
        let mut args: Vec<OsString> = vec![
            "--socket".into(),
            socket.clone().into(),
            "--web.listen-address".into(),
            format!("127.0.0.1:{port}").into(),
        ];
        args.extend(opts.args.iter().map(OsString::from));
        let exporter = binaries().exporter.clone();
        let program = match opts.under.split_first() {
            None => exporter,
            Some((first, rest)) => {
                let mut wrapped: Vec<OsString> = rest.iter().map(OsString::from).collect();
                wrapped.push(exporter.into());
                wrapped.append(&mut args);
                args = wrapped;
                PathBuf::from(first)
            }
        };
        let envs = opts
            .envs
            .iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let proc = Proc::start(
            "dawn-exporter",
            &program,
            args,
            envs,
            dir.path().join("exporter.log"),
        );
        Exporter {
            proc,
            socket,
            port,
            dir,
        }
    }

    /// Waits until the exporter answers `/-/healthy` and its socket file exists.
    #[track_caller]
    pub fn wait_up(&mut self) {
        eventually("the exporter serves HTTP and its socket", || {
            if let Some(s) = self.proc.exit_status() {
                panic!(
                    "dawn-exporter exited ({s}) during start-up:\n{}",
                    self.proc.log()
                );
            }
            let r = get(&self.url("/-/healthy"))?;
            if r.status != 200 {
                return Err(format!("/-/healthy answered {}", r.status));
            }
            if !self.socket.exists() {
                return Err(format!("{} does not exist", self.socket.display()));
            }
            Ok(())
        })
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// GET `path`; fails the test when the request fails.
    #[track_caller]
    pub fn get(&self, path: &str) -> Response {
        get(&self.url(path)).unwrap_or_else(|e| panic!("{e}"))
    }

    /// GET `path` with request headers.
    #[track_caller]
    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        get_with(&self.url(path), headers).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `/metrics`, parsed; fails the test when the request fails or the text does not parse.
    #[track_caller]
    pub fn metrics(&self) -> Exposition {
        self.try_metrics().unwrap_or_else(|e| panic!("{e}"))
    }

    /// `/metrics`, parsed.
    pub fn try_metrics(&self) -> Result<Exposition, String> {
        let r = get(&self.url("/metrics"))?;
        if r.status != 200 {
            return Err(format!("/metrics answered {}: {}", r.status, r.text()));
        }
        Exposition::parse(&r.text())
    }

    /// Polls `/metrics` until `check` accepts it (see [`eventually`]).
    #[track_caller]
    pub fn eventually_metrics<T>(
        &self,
        what: &str,
        mut check: impl FnMut(&Exposition) -> Result<T, String>,
    ) -> T {
        eventually(what, || check(&self.try_metrics()?))
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        self.proc.kill();
    }

    /// Starts the same command again (same socket, same port) and waits until it serves.
    #[track_caller]
    pub fn restart(&mut self) {
        self.proc.restart();
        self.wait_up();
    }

    /// Everything it logged.
    pub fn log(&self) -> String {
        self.proc.log()
    }
}

/// A running `dawn-node run`.
#[derive(Debug)]
pub struct Node {
    /// The process.
    pub proc: Proc,
    /// Its data root.
    pub data_root: PathBuf,
    /// Its UDP p2p port on 127.0.0.1.
    pub p2p_port: u16,
    /// Its temp dir.
    pub dir: TempDir,
}

impl Node {
    /// Starts `dawn-node run` reporting to `socket`, flushing every 100 ms, on a free UDP
    /// port; `envs` add or override variables.
    #[track_caller]
    pub fn start(socket: &Path, envs: &[(&str, &str)]) -> Node {
        let dir = temp_dir();
        let data_root = dir.path().join("data");
        let mut all: Vec<(OsString, OsString)> = vec![
            ("PROJECT_DAWN_DATA_ROOT".into(), data_root.clone().into()),
            ("PROJECT_DAWN_TELEMETRY_SOCKET".into(), socket.into()),
            ("PROJECT_DAWN_TELEMETRY_FLUSH_MS".into(), "100".into()),
            ("PROJECT_DAWN_HOST".into(), "127.0.0.1".into()),
            (
                "PROJECT_DAWN_P2P_PORT".into(),
                free_udp_port().to_string().into(),
            ),
        ];
        for (k, v) in envs {
            all.retain(|(key, _)| key != k);
            all.push(((*k).into(), (*v).into()));
        }
        let p2p_port = all
            .iter()
            .find(|(k, _)| k == "PROJECT_DAWN_P2P_PORT")
            .and_then(|(_, v)| v.to_str()?.parse().ok())
            .unwrap_or(0);
        let proc = Proc::start(
            "dawn-node",
            &binaries().node,
            vec!["run".into()],
            all,
            dir.path().join("node.log"),
        );
        Node {
            proc,
            data_root,
            p2p_port,
            dir,
        }
    }

    /// Waits until the node's p2p endpoint listens (the running process's log says so): a
    /// call before that is refused by the host at once, not retried.
    #[track_caller]
    pub fn wait_listening(&mut self) {
        eventually("the node's p2p endpoint listens", || {
            if let Some(s) = self.proc.exit_status() {
                panic!("dawn-node exited ({s}):\n{}", self.log());
            }
            if self.proc.current_log().contains("p2p endpoint listening") {
                Ok(())
            } else {
                Err("no 'p2p endpoint listening' line yet".to_owned())
            }
        })
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        self.proc.kill();
    }

    /// Everything it logged.
    pub fn log(&self) -> String {
        self.proc.log()
    }

    /// `127.0.0.1:PORT` of its p2p endpoint, as `--peer` and bootstrap lists take it.
    pub fn p2p_addr(&self) -> String {
        format!("127.0.0.1:{}", self.p2p_port)
    }
}
