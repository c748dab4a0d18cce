//! `dawn-cluster`: starts a real local Dawn cluster — N nodes, each with its own exporter
//! sidecar and socket, meshed via bootstrap — prints where to look, writes a `prometheus.yml`
//! for them (and starts Prometheus when it is installed), waits until the nodes have meshed
//! (see `mesh`), then shows a live summary, and stops everything cleanly on Ctrl-C (also
//! during start-up) or after `--duration`. Meanwhile it generates traffic that moves every
//! metric of the node's catalogue, failures included (see `traffic`). docs/cluster.md shows
//! what it prints; `tests/tests/cluster.rs` holds the two to each other.

mod capacity;
mod fanout;
mod member;
mod mesh;
mod prometheus;
mod shape;
mod summary;
mod traffic;
mod tuning;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use dawn_daemon::config::{HumanDuration, within};
use dawn_daemon::shutdown::Signals;
use dawn_node::app::MAX_MAX_PEERS;

use member::{Binaries, Member, MemberPorts};
use shape::Shape;
use summary::Summary;
use traffic::Traffic;
use tuning::Peering;

/// Most nodes a cluster may have: twice the hundred this launcher is measured with on a
/// 2-core machine (docs/cluster.md, *Large clusters*), a margin rather than a measured
/// ceiling. Larger sizes risk the start-up (a hundred debug nodes started at once on two
/// cores answered nothing for 13 s, longer than a QUIC handshake waits), and 200 members
/// already take 8 GiB by `capacity`'s memory estimate.
const MAX_NODES: u16 = 200;
/// Prometheus' port unless `--prometheus-port` says otherwise (see `Cli::prometheus_port`).
const PROMETHEUS_PORT: u16 = 9190;

/// Start a local Dawn cluster: nodes with exporter sidecars, and Prometheus if installed.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Number of nodes, 1 to 200 (each gets its own exporter and telemetry socket).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = node_count)]
    nodes: u16,
    /// Peer limit of every node, 1 to 10000 (default: the node's, 50; node-0's is at most
    /// the rest of the cluster, so that it is full).
    #[arg(long, value_name = "N", value_parser = max_peers)]
    max_peers: Option<usize>,
    /// Gossip period of every node (e.g. 2s; 100ms to 10m).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = gossip_interval)]
    gossip_interval: HumanDuration,
    /// Whom each node knows at start: chain (node i-1), star (node-0) or random (up to 3
    /// earlier nodes).
    #[arg(long, value_name = "SHAPE", default_value = "chain", value_parser = Shape::parse)]
    bootstrap: Shape,
    /// Directory for sockets, data roots, logs and prometheus.yml (reused across runs).
    #[arg(long, value_name = "DIR", default_value = ".dawn-cluster")]
    dir: PathBuf,
    /// First exporter HTTP port; node i's exporter listens on this plus i.
    #[arg(long, value_name = "PORT", default_value_t = 9101, value_parser = port)]
    metrics_port: u16,
    /// First node P2P (UDP) port; node i listens on this plus i.
    #[arg(long, value_name = "PORT", default_value_t = 8001, value_parser = port)]
    p2p_port: u16,
    /// Port for Prometheus when it is installed [default: 9190, or the port after the last
    /// exporter's when 9190 is one of them]
    #[arg(long, value_name = "PORT", value_parser = port)]
    prometheus_port: Option<u16>,
    /// Stop after this long (e.g. 90s, 10m); without it, run until Ctrl-C.
    #[arg(long, value_name = "DURATION")]
    duration: Option<HumanDuration>,
    /// Time between two summaries, one line per node, or one for the fleet above 16 nodes
    /// (e.g. 10s; 200ms at least).
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
    within(text.trim(), 1..=MAX_NODES)
        .map_err(|_| format!("expected a number of nodes from 1 to {MAX_NODES}"))
}

/// `--max-peers`: the node's own range (see [`node_count`]).
fn max_peers(text: &str) -> Result<usize, String> {
    within(text.trim(), 1..=MAX_MAX_PEERS)
        .map_err(|_| format!("expected a peer limit from 1 to {MAX_MAX_PEERS}, for example 8"))
}

/// Shortest and longest `--gossip-interval`: a quicker gossip only loads the machine, a
/// slower one keeps the launcher waiting for the mesh for an hour.
const GOSSIP_RANGE: std::ops::RangeInclusive<Duration> =
    Duration::from_millis(100)..=Duration::from_secs(600);

/// `--gossip-interval` (see [`node_count`]).
fn gossip_interval(text: &str) -> Result<HumanDuration, String> {
    text.parse::<HumanDuration>()
        .ok()
        .filter(|d| GOSSIP_RANGE.contains(&d.0))
        .ok_or_else(|| "expected a duration from 100ms to 10m, for example 2s".to_owned())
}

/// A port flag (see [`node_count`]).
fn port(text: &str) -> Result<u16, String> {
    within(text.trim(), 1..=65535)
        .map_err(|_| "expected a port 1-65535, for example 9101".to_owned())
}

fn launch(cli: Cli) -> anyhow::Result<()> {
    // Before anything is built or started: a size this machine cannot hold is refused in
    // one line.
    capacity_checks(&cli)?;
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

/// The checks of `capacity` that need nothing started: the port ranges, the open-files
/// limit (raised when the hard limit allows), the memory.
fn capacity_checks(cli: &Cli) -> anyhow::Result<()> {
    cli.ports().check().map_err(anyhow::Error::msg)?;
    if let Some(raised) = capacity::open_files(cli.nodes).map_err(anyhow::Error::msg)? {
        eprintln!("dawn-cluster: {raised}");
    }
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok();
    capacity::memory(cli.nodes, meminfo.as_deref()).map_err(anyhow::Error::msg)
}

impl Cli {
    /// The ports asked for.
    fn ports(&self) -> capacity::Ports {
        capacity::Ports {
            nodes: self.nodes,
            metrics: self.metrics_port,
            p2p: self.p2p_port,
            prometheus: self.prometheus_port(),
        }
    }

    /// Prometheus' port: `--prometheus-port`, or [`PROMETHEUS_PORT`] unless a cluster of
    /// more than 89 nodes has an exporter there, then the port after the last exporter's.
    fn prometheus_port(&self) -> u16 {
        let exporters =
            u32::from(self.metrics_port)..u32::from(self.metrics_port) + u32::from(self.nodes);
        match self.prometheus_port {
            Some(port) => port,
            None if !exporters.contains(&u32::from(PROMETHEUS_PORT)) => PROMETHEUS_PORT,
            // Past 65535 only when the exporters' ports are too: that check fails first.
            None => u16::try_from(exporters.end).unwrap_or(PROMETHEUS_PORT),
        }
    }

    /// The peer settings of every node.
    fn peering(&self) -> Peering {
        Peering {
            gossip: self.gossip_interval.0,
            max_peers: self.max_peers,
        }
    }
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

    // After the lock: a second launcher on this directory is told so, not that its ports
    // are taken.
    cli.ports().probe().map_err(anyhow::Error::msg)?;

    let mut members = Vec::new();
    let mut extras = Extras::default();
    let outcome = operate(&cli, &bins, &dir, &mut signals, &mut members, &mut extras).await;
    if let Some(t) = extras.traffic.take() {
        t.stop().await;
    }
    if let Some(p) = extras.prometheus.as_mut() {
        p.stop().await;
    }
    member::stop_all(&mut members).await;
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
    let peering = cli.peering();
    let mut rng = rand::rng();
    let nodes_started = Instant::now();
    for i in 0..count {
        let ports = MemberPorts {
            metrics: cli.metrics_port + i,
            p2p: cli.p2p_port + i,
        };
        // Earlier nodes only (started already); gossip does the rest.
        let known: Vec<String> = cli
            .bootstrap
            .known(usize::from(i), &mut rng)
            .into_iter()
            .map(|k| format!("127.0.0.1:{}", usize::from(cli.p2p_port) + k))
            .collect();
        let bootstrap = (!known.is_empty()).then(|| known.join(","));
        let env = peering.node_env(usize::from(i), usize::from(count));
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
    extras.prometheus = prometheus::start_if_installed(dir, &prom, cli.prometheus_port());

    println!();
    println!("Dawn cluster of {count} nodes is up. Where to look:");
    if summary::fleet(members.len()) {
        // A hundred lines would scroll the rest away: the first and the rule.
        println!("  {}", members[0].describe());
        println!(
            "  ... node-i: p2p udp 127.0.0.1:{}+i, metrics and health on 127.0.0.1:{}+i, up to node-{}",
            cli.p2p_port,
            cli.metrics_port,
            count - 1
        );
    } else {
        for m in members.iter() {
            println!("  {}", m.describe());
        }
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
    let plan = mesh::Plan {
        peering,
        shape: cli.bootstrap,
        nodes_started,
    };
    match until_stopped(signals, deadline, mesh::wait(members, plan)).await {
        Ok(formed) => formed?,
        Err(stop) => {
            stop.announce();
            return Ok(());
        }
    }

    if !cli.no_traffic {
        extras.traffic = Traffic::start(
            members.iter().map(Member::p2p_addr).collect(),
            peering.max_peers(tuning::FULL_NODE, members.len()),
            !peering.full_mesh(members.len()),
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::parse_from(std::iter::once("dawn-cluster").chain(args.iter().copied()))
    }

    #[test]
    fn prometheus_moves_past_the_exporters_only_when_they_take_its_port() {
        assert_eq!(cli(&[]).prometheus_port(), 9190);
        assert_eq!(cli(&["--nodes=89"]).prometheus_port(), 9190);
        assert_eq!(cli(&["--nodes=90"]).prometheus_port(), 9191);
        assert_eq!(cli(&["--nodes=100"]).prometheus_port(), 9201);
        assert_eq!(cli(&["--nodes=200"]).prometheus_port(), 9301);
        assert_eq!(
            cli(&["--nodes=100", "--metrics-port=20000"]).prometheus_port(),
            9190
        );
        assert_eq!(
            cli(&["--nodes=100", "--prometheus-port=9150"]).prometheus_port(),
            9150
        );
        assert!(cli(&["--nodes=200"]).ports().check().is_ok());
    }
}
