//! `dawn-cluster`: starts a real local Dawn cluster — N nodes, each with its own exporter
//! sidecar and socket, meshed via bootstrap — prints where to look, writes a `prometheus.yml`
//! for them (and starts Prometheus when it is installed), waits until the nodes have meshed
//! (see `mesh`), then shows a live summary, and stops everything cleanly on Ctrl-C (also
//! during start-up) or after `--duration`. Meanwhile it generates traffic that moves every
//! metric of the node's catalogue, failures included (see `traffic`). docs/cluster.md shows
//! what it prints; `tests/tests/cluster.rs` holds the two to each other.

mod member;
mod mesh;
mod prometheus;
mod summary;
mod traffic;
mod tuning;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use dawn_daemon::config::{HumanDuration, within};
use dawn_daemon::shutdown::Signals;

use member::{Binaries, Member, MemberPorts};
use summary::Summary;
use traffic::Traffic;

/// Start a local Dawn cluster: nodes with exporter sidecars, and Prometheus if installed.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Number of nodes, 1 to 50 (each gets its own exporter and telemetry socket).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = node_count)]
    nodes: u16,
    /// Directory for sockets, data roots, logs and prometheus.yml (reused across runs).
    #[arg(long, value_name = "DIR", default_value = ".dawn-cluster")]
    dir: PathBuf,
    /// First exporter HTTP port; node i's exporter listens on this plus i.
    #[arg(long, value_name = "PORT", default_value_t = 9101, value_parser = port)]
    metrics_port: u16,
    /// First node P2P (UDP) port; node i listens on this plus i.
    #[arg(long, value_name = "PORT", default_value_t = 8001, value_parser = port)]
    p2p_port: u16,
    /// Port for Prometheus when it is installed.
    #[arg(long, value_name = "PORT", default_value_t = 9190, value_parser = port)]
    prometheus_port: u16,
    /// Stop after this long (e.g. 90s, 10m); without it, run until Ctrl-C.
    #[arg(long, value_name = "DURATION")]
    duration: Option<HumanDuration>,
    /// Time between two summaries, one line per node (e.g. 10s; 200ms at least).
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    summary_every: HumanDuration,
    /// Use the binaries next to this one as they are instead of running `cargo build`.
    #[arg(long)]
    no_build: bool,
    /// Start the cluster without generating traffic (the nodes only gossip).
    #[arg(long)]
    no_traffic: bool,
}

fn main() -> std::process::ExitCode {
    match launch(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line with the whole chain of causes, whatever RUST_BACKTRACE says.
            eprintln!("dawn-cluster: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `--nodes`: clap says which flag and value; this says what is accepted, in our words
/// (never a parse error's "invalid digit found in string").
fn node_count(text: &str) -> Result<u16, String> {
    within(text.trim(), 1..=50).map_err(|_| "expected a number of nodes from 1 to 50".to_owned())
}

/// A port flag (see [`node_count`]).
fn port(text: &str) -> Result<u16, String> {
    within(text.trim(), 1..=65535)
        .map_err(|_| "expected a port 1-65535, for example 9101".to_owned())
}

fn launch(cli: Cli) -> anyhow::Result<()> {
    let bins = Binaries::beside_current_exe()?;
    if !cli.no_build {
        build(&bins)?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run(cli, bins))
}

/// Builds the node and exporter in the profile this launcher was built with.
///
/// The launcher's own package is in the selection, and it depends on both libraries
/// (cluster/Cargo.toml), so cargo resolves the same features as for the `cargo run` that
/// built this launcher: the shared dependencies are already compiled and only the two
/// binaries are linked. Without that, the different package selection gives some crates
/// (tokio, syn, ...) other features and cargo compiles them a second time.
fn build(bins: &Binaries) -> anyhow::Result<()> {
    eprintln!("dawn-cluster: building dawn-node and dawn-exporter (once; then a no-op) ...");
    bins.siblings
        .build(
            &["dawn-cluster", "dawn-node", "dawn-exporter"],
            &["dawn-node", "dawn-exporter"],
        )
        .context("cannot build the node and the exporter")
}

/// Why the cluster stops when nothing failed.
enum Stop {
    /// SIGINT (Ctrl-C) or SIGTERM, named.
    Signal(&'static str),
    /// The end of `--duration`.
    Deadline,
}

impl Stop {
    /// The line saying why the cluster stops.
    fn announce(&self) {
        match self {
            Stop::Signal(sig) => println!("\n{sig} received: stopping the cluster"),
            Stop::Deadline => println!("--duration reached: stopping the cluster"),
        }
    }
}

/// What runs beside the members and stops before them.
#[derive(Default)]
struct Extras {
    traffic: Option<Traffic>,
    prometheus: Option<prometheus::PrometheusServer>,
}

async fn run(cli: Cli, bins: Binaries) -> anyhow::Result<()> {
    // Installed before anything starts: a signal during start-up stops the cluster cleanly
    // instead of killing the launcher and leaving its nodes behind.
    let mut signals = Signals::install();
    let dir = std::path::absolute(&cli.dir)
        .with_context(|| format!("cannot resolve {}", cli.dir.display()))?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Held until this function returns (the process exits right after): a second launcher
    // on the same directory would truncate this one's logs and fight over its ports.
    let _lock = lock_dir(&dir)?;

    let count = cli.nodes;
    let last_metrics = u32::from(cli.metrics_port) + u32::from(count) - 1;
    let last_p2p = u32::from(cli.p2p_port) + u32::from(count) - 1;
    if last_metrics > 65535 || last_p2p > 65535 {
        bail!("{count} nodes do not fit above --metrics-port/--p2p-port");
    }

    let mut members = Vec::new();
    let mut extras = Extras::default();
    let outcome = operate(&cli, &bins, &dir, &mut signals, &mut members, &mut extras).await;
    if let Some(t) = extras.traffic.take() {
        t.stop().await;
    }
    if let Some(p) = extras.prometheus.as_mut() {
        p.stop().await;
    }
    stop_all(&mut members).await;
    if !members.is_empty() {
        println!("cluster stopped; logs kept under {}", dir.display());
    }
    outcome
}

/// Starts the members (into `members`), Prometheus and the traffic (into `extras`), and
/// shows the summary until a signal, the deadline or a member's exit. `Ok` when the cluster
/// was asked to stop; the caller stops what was started either way.
async fn operate(
    cli: &Cli,
    bins: &Binaries,
    dir: &Path,
    signals: &mut Signals,
    members: &mut Vec<Member>,
    extras: &mut Extras,
) -> anyhow::Result<()> {
    let count = cli.nodes;
    for i in 0..count {
        let ports = MemberPorts {
            metrics: cli.metrics_port + i,
            p2p: cli.p2p_port + i,
        };
        // Each node bootstraps from the one before it: a chain that gossip turns into a mesh.
        let bootstrap = (i > 0).then(|| format!("127.0.0.1:{}", cli.p2p_port + i - 1));
        let env = tuning::node_env(usize::from(i), usize::from(count));
        members.push(Member::start(
            bins,
            dir,
            usize::from(i),
            ports,
            bootstrap,
            &env,
        )?);
    }

    let ready_by = Instant::now() + Duration::from_secs(30);
    let ready = async {
        for m in members.iter_mut() {
            m.wait_ready(ready_by).await?;
        }
        anyhow::Ok(())
    };
    match until_stopped(signals, None, ready).await {
        Ok(ready) => ready?,
        Err(stop) => {
            stop.announce();
            return Ok(());
        }
    }

    let prom = prometheus::write_config(dir, members)?;
    extras.prometheus = prometheus::start_if_installed(dir, &prom, cli.prometheus_port);

    println!();
    println!("Dawn cluster of {count} nodes is up. Where to look:");
    for m in members.iter() {
        println!("  {}", m.describe());
    }
    println!("  prometheus.yml for these exporters: {}", prom.display());
    match &extras.prometheus {
        Some(p) => println!("  Prometheus: {}  (e.g. query dawn_node_up)", p.url),
        None => println!("  Prometheus: not installed (apt-get install prometheus), not started"),
    }
    println!("  logs: {}/node-*/{{node,exporter}}.log", dir.display());
    match cli.duration {
        Some(d) => println!("Stops by itself after {d} (--duration), or earlier with Ctrl-C."),
        None => println!("Stop with Ctrl-C."),
    }
    println!();
    let deadline = cli.duration.map(|d| Instant::now() + d.0);

    // The summary starts once every node has its peers: before that it would show an
    // isolated, degraded node that is only still meeting the others.
    match until_stopped(signals, deadline, mesh::wait(members)).await {
        Ok(formed) => formed?,
        Err(stop) => {
            stop.announce();
            return Ok(());
        }
    }

    if !cli.no_traffic {
        extras.traffic = Traffic::start(members.iter().map(Member::p2p_addr).collect());
    }
    let mut summary = Summary::new(members.len());
    let mut tick = tokio::time::interval(cli.summary_every.0.max(Duration::from_millis(200)));
    loop {
        if let Err(stop) = until_stopped(signals, deadline, tick.tick()).await {
            stop.announce();
            return Ok(());
        }
        if let Some(dead) = members.iter_mut().find_map(|m| m.exited()) {
            bail!(dead);
        }
        for line in summary.lines(members).await {
            println!("{line}");
        }
    }
}

/// Runs `work` unless a signal comes or `deadline` passes first.
async fn until_stopped<T>(
    signals: &mut Signals,
    deadline: Option<Instant>,
    work: impl Future<Output = T>,
) -> Result<T, Stop> {
    let deadline = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d.into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        sig = signals.recv() => Err(Stop::Signal(sig)),
        () = deadline => Err(Stop::Deadline),
        done = work => Ok(done),
    }
}

/// Takes an exclusive lock on `<dir>/dawn-cluster.lock`; refuses when another launcher
/// holds it. The lock goes with the process, however it ends.
fn lock_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let path = dir.join("dawn-cluster.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another dawn-cluster is running on {} (stop it first, or pass another --dir)",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

async fn stop_all(members: &mut [Member]) {
    for m in members.iter_mut() {
        m.stop().await;
    }
}
