//! The `fleet` group: a hundred real nodes, each with its exporter, on one machine
//! (`docs/scale.md`). Not part of `--quick`.
//!
//! - Connectivity with partial views: [`NODES`] nodes at `--max-peers` [`MAX_PEERS`],
//!   every one bootstrapped from node 0 only (a star): how long after the last node was
//!   started every node answers `node/peers` and the links both ends list form one graph
//!   (`fleet_connected_s`), its diameter then (`fleet_diameter`), the most peers the
//!   bootstrap node listed in any poll over its limit (`fleet_max_peer_share_of_bootstrap`),
//!   and the peer-count spread once settled.
//! - Gossip cost: announcements and their bytes per node per gossip round at 10, 30 and
//!   100 nodes ([`cost`]); the 100-node figure over the 10-node one.
//! - Idle cost at 100 nodes: CPU and memory per node and per exporter over the same window,
//!   with one real Prometheus scraping all 100 exporters, and its `scrape_duration_seconds`.
//! - Churn: [`CHURNED`] random nodes (never node 0) are killed and restarted
//!   [`DOWN_FOR`] later with the same identity and port: time from the restart until the
//!   graph is connected again and every exporter reports `dawn_node_up 1`.
//! - The shipped rules live ([`rules`]): the Prometheus evaluates
//!   deploy/prometheus/rules/dawn.rules.yml, and the `dawn-fleet` series and alerts are
//!   queried before, during and after the churn, with every query of the dashboard's Fleet
//!   row (Prometheus keeps running through the churn for that).

mod cost;
mod graph;
mod member;
mod poll;
mod prometheus;
mod rules;
mod watch;

use std::time::{Duration, Instant};

use anyhow::Context;

use crate::node::Rng;
use crate::procs::{Binaries, Workdir};
use crate::summary::{Spec, Summary, Target};
use member::{Fleet, Settings};
use poll::Poller;

/// Nodes of the big fleet.
const NODES: usize = 100;
/// Sizes whose gossip cost is compared (the last is the big fleet).
const SMALL: [usize; 2] = [10, 30];
/// `--max-peers` of every node.
const MAX_PEERS: usize = 8;
/// `--gossip-interval` of every node.
const GOSSIP: Duration = Duration::from_secs(2);
/// The bound on connection and recovery times, in gossip intervals.
const WITHIN_ROUNDS: u32 = 5;
/// The diameter the issue asks of the connected graph.
const MAX_DIAMETER: f64 = 6.0;
/// Nodes killed in the churn.
const CHURNED: usize = 20;
/// How long they stay down.
const DOWN_FOR: Duration = Duration::from_secs(30);
/// Gossip rounds between the graph's connection and the cost window.
const SETTLE_ROUNDS: u32 = 2;
/// Gossip rounds in the cost window.
const WINDOW_ROUNDS: u32 = 8;
/// How long a fleet may take to connect before the figure is reported as a miss.
const PATIENCE: Duration = Duration::from_secs(150);

const fn spec(name: &'static str, unit: &'static str, target: Target) -> Spec {
    Spec { name, unit, target }
}

const BOUND_S: f64 = GOSSIP.as_secs_f64() * WITHIN_ROUNDS as f64;
const CONNECTED_S: Spec = spec("fleet_connected_s", "s", Target::AtMost(BOUND_S));
const ANSWERING_S: Spec = spec("fleet_all_answering_s", "s", Target::Info);
const DIAMETER: Spec = spec("fleet_diameter", "hops", Target::AtMost(MAX_DIAMETER));
const DIAMETER_SETTLED: Spec = spec("fleet_diameter_settled", "hops", Target::Info);
const HUB_SHARE: Spec = spec(
    "fleet_max_peer_share_of_bootstrap",
    "ratio",
    Target::AtMost(1.0),
);
const PEERS_MIN: Spec = spec("fleet_peers_min", "peers", Target::Info);
const PEERS_MEAN: Spec = spec("fleet_peers_mean", "peers", Target::Info);
const PEERS_MAX: Spec = spec("fleet_peers_max", "peers", Target::Info);
const CHURN_S: Spec = spec("fleet_churn_recovery_s", "s", Target::AtMost(BOUND_S));
const CHURN_CONNECTED_S: Spec = spec("fleet_churn_connected_s", "s", Target::Info);
const CHURN_UP_S: Spec = spec("fleet_churn_all_up_s", "s", Target::Info);
const CHURN_DOWN_S: Spec = spec("fleet_churn_down_seen_s", "s", Target::Info);
const GOSSIP_RATIO: Spec = spec(
    "fleet_gossip_bytes_per_node_round_100_vs_10",
    "ratio",
    Target::AtMost(1.5),
);
const GOSSIP_RATIO_30: Spec = spec(
    "fleet_gossip_bytes_per_node_round_100_vs_30",
    "ratio",
    Target::Info,
);
const GOSSIP_MSG_RATIO: Spec = spec(
    "fleet_gossip_messages_per_node_round_100_vs_10",
    "ratio",
    Target::Info,
);
const NODE_CPU: Spec = spec("fleet_node_cpu_percent", "% core", Target::Info);
const NODE_RSS: Spec = spec("fleet_node_rss_mib", "MiB", Target::Info);
const EXPORTER_CPU: Spec = spec("fleet_exporter_cpu_percent", "% core", Target::Info);
const EXPORTER_RSS: Spec = spec("fleet_exporter_rss_mib", "MiB", Target::Info);
const SCRAPE_MAX: Spec = spec("fleet_prometheus_scrape_max_ms", "ms", Target::Info);
const SCRAPE_MEAN: Spec = spec("fleet_prometheus_scrape_mean_ms", "ms", Target::Info);
const PROMETHEUS_RSS: Spec = spec("fleet_prometheus_rss_mib", "MiB", Target::Info);
const LOAD: Spec = spec("fleet_load_average_1m", "load", Target::Info);

/// Runs the group.
pub(crate) fn run(bins: &Binaries, summary: &mut Summary) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let work = Workdir::new("fleet")?;
    let load_before = cost::load_average();
    let settings = Settings {
        max_peers: MAX_PEERS,
        gossip: GOSSIP,
    };
    let mut gossip = Vec::new();
    for n in SMALL {
        eprintln!("  {n} nodes: gossip cost");
        let dir = work.path().join(format!("f{n}"));
        let mut fleet = Fleet::exporters(bins, &dir, n, settings)?;
        let mut poller = rt.block_on(async { Poller::new(&fleet.addrs()) })?;
        let watch = start_star(&rt, &mut poller, &mut fleet)?;
        eprintln!(
            "  {n} nodes: connected (time, diameter) {:?}; last not connected: {:?}",
            watch.connected, watch.last
        );
        std::thread::sleep(GOSSIP * SETTLE_ROUNDS);
        let a = cost::snapshot(&rt, &fleet);
        std::thread::sleep(GOSSIP * WINDOW_ROUNDS);
        let b = cost::snapshot(&rt, &fleet);
        let g = cost::gossip(&a, &b, n, GOSSIP);
        record_gossip(summary, n, g);
        gossip.push((n, g));
        rt.block_on(poller.close());
    }
    big(
        &rt,
        bins,
        &work,
        (settings, load_before),
        &mut gossip,
        summary,
    )
}

/// Starts node 0, waits until it answers, starts the others at once and watches until
/// the graph is connected; times are from the last start.
fn start_star(
    rt: &tokio::runtime::Runtime,
    poller: &mut Poller,
    fleet: &mut Fleet,
) -> anyhow::Result<watch::Watch> {
    fleet.start(0)?;
    let hub = fleet.addrs()[..1].to_vec();
    let mut hub_poller = rt.block_on(async { Poller::new(&hub) })?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while rt.block_on(hub_poller.views())[0].is_none() {
        fleet.check_alive()?;
        anyhow::ensure!(
            Instant::now() < deadline,
            "the bootstrap node did not answer within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    rt.block_on(hub_poller.close());
    for i in 1..fleet.len() {
        fleet.start(i)?;
    }
    let started = Instant::now();
    watch::until_whole(rt, poller, fleet, started, PATIENCE, false)
}

/// The 100-node fleet: connectivity, gossip and idle cost, Prometheus, churn.
fn big(
    rt: &tokio::runtime::Runtime,
    bins: &Binaries,
    work: &Workdir,
    (settings, load_before): (Settings, f64),
    gossip: &mut Vec<(usize, cost::Gossip)>,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let n = NODES;
    eprintln!("  {n} nodes: starting {n} exporters");
    let mut fleet = Fleet::exporters(bins, &work.path().join(format!("f{n}")), n, settings)?;
    let mut poller = rt.block_on(async { Poller::new(&fleet.addrs()) })?;
    eprintln!("  {n} nodes: starting the nodes (star bootstrap)");
    let w = start_star(rt, &mut poller, &mut fleet)?;
    let answered = w.all_answered.map_or(f64::NAN, |d| d.as_secs_f64());
    summary.put(
        &ANSWERING_S,
        answered,
        "after the last node was started, until every node answered node/peers",
    );
    let (connected_s, diameter) = match w.connected {
        Some((t, d)) => (t.as_secs_f64(), d as f64),
        None => (f64::NAN, f64::NAN),
    };
    summary.put(
        &CONNECTED_S,
        connected_s,
        format!(
            "{n} nodes, max-peers {MAX_PEERS}, gossip {GOSSIP:?}, star bootstrap: after the last start until every node answers and mutual links form one graph ({:.1} intervals; {} polls, the last took {:.1} s{})",
            connected_s / GOSSIP.as_secs_f64(),
            w.polls,
            w.connecting_poll.as_secs_f64(),
            match (&w.connected, &w.last) {
                (None, Some(last)) => format!("; not within {PATIENCE:?}: {last}"),
                _ => String::new(),
            }
        ),
    );
    summary.put(&DIAMETER, diameter, "of the first connected graph");

    // Settle, then the cost window with Prometheus scraping every exporter.
    let prometheus = match prometheus::binary() {
        Some(binary) => {
            let targets: Vec<String> = fleet
                .members
                .iter()
                .map(|m| format!("127.0.0.1:{}", m.exporter.port))
                .collect();
            Some(prometheus::Prometheus::start(
                &binary,
                &work.path().join("prometheus"),
                &targets,
            )?)
        }
        None => {
            eprintln!("  prometheus not installed: no scrape figures");
            None
        }
    };
    std::thread::sleep(GOSSIP * SETTLE_ROUNDS);
    let settled = watch::graph_now(rt, &mut poller, &fleet);
    record_settled(summary, &settled, n);
    let a = cost::snapshot(rt, &fleet);
    std::thread::sleep(GOSSIP * WINDOW_ROUNDS);
    let b = cost::snapshot(rt, &fleet);
    let load = cost::load_average();
    let g = cost::gossip(&a, &b, n, GOSSIP);
    record_gossip(summary, n, g);
    gossip.push((n, g));
    record_ratio(summary, gossip);
    let idle = cost::idle(&a, &b, &fleet);
    let window = format!(
        "{n} nodes idle, over {WINDOW_ROUNDS} gossip rounds, Prometheus scraping every exporter"
    );
    summary.put(
        &NODE_CPU,
        idle.node_cpu.0,
        format!("mean per node (largest {:.2}); {window}", idle.node_cpu.1),
    );
    summary.put(
        &NODE_RSS,
        idle.node_rss.0,
        format!("mean per node (largest {:.1})", idle.node_rss.1),
    );
    summary.put(
        &EXPORTER_CPU,
        idle.exporter_cpu.0,
        format!(
            "mean per exporter (largest {:.2}); {window}",
            idle.exporter_cpu.1
        ),
    );
    summary.put(
        &EXPORTER_RSS,
        idle.exporter_rss.0,
        format!("mean per exporter (largest {:.1})", idle.exporter_rss.1),
    );
    summary.put(
        &LOAD,
        load,
        format!(
            "1-minute load average (/proc/loadavg) at the end of the 100-node cost window; {load_before:.1} at the group's start"
        ),
    );
    if let Some(p) = &prometheus {
        record_scrapes(summary, p, n)?;
        rules::before(p, summary, n)?;
        rules::dashboard(p, summary)?;
    }

    churn(
        rt,
        &mut poller,
        &mut fleet,
        &w,
        prometheus.as_ref(),
        summary,
    )?;
    rt.block_on(poller.close());
    Ok(())
}

/// Kills [`CHURNED`] random nodes other than node 0, restarts them [`DOWN_FOR`] later,
/// and watches until the graph is whole and every exporter reports its node up; with a
/// Prometheus, checks the fleet rules while they are down and after.
fn churn(
    rt: &tokio::runtime::Runtime,
    poller: &mut Poller,
    fleet: &mut Fleet,
    start: &watch::Watch,
    prometheus: Option<&prometheus::Prometheus>,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let mut rng = Rng::new();
    let mut others: Vec<usize> = (1..fleet.len()).collect();
    // A partial Fisher-Yates shuffle: the first CHURNED are a uniform random choice.
    for i in 0..CHURNED.min(others.len()) {
        let last = others.len() - 1;
        let j = i + (rng.next() * (others.len() - i) as f64) as usize;
        others.swap(i, j.min(last));
    }
    let churned = &others[..CHURNED.min(others.len())];
    eprintln!("  churn: killing nodes {churned:?}");
    let killed = Instant::now();
    for &i in churned {
        fleet.kill(i)?;
    }
    let down = watch::until_down(rt, fleet, churned, killed, DOWN_FOR);
    summary.put(
        &CHURN_DOWN_S,
        down.map_or(f64::NAN, |d| d.as_secs_f64()),
        format!("after the kill, until the {CHURNED} exporters all report dawn_node_up 0"),
    );
    if let Some(p) = prometheus {
        let instances = churned
            .iter()
            .map(|&i| format!("127.0.0.1:{}", fleet.members[i].exporter.port))
            .collect();
        // Leave a second of the downtime for the restart's preparation.
        let deadline = killed + DOWN_FOR.saturating_sub(Duration::from_secs(1));
        rules::during(p, summary, fleet.len(), &instances, killed, deadline)?;
    }
    std::thread::sleep(DOWN_FOR.saturating_sub(killed.elapsed()));
    // The nodes close a client idle for 10 s: redial the poller's connections to the 80
    // that stayed up now, so that the recovery does not include the poller's own dials.
    rt.block_on(poller.views());
    for &i in churned {
        fleet.start(i)?;
    }
    let restarted = Instant::now();
    let w = watch::until_whole(rt, poller, fleet, restarted, PATIENCE, true)?;
    let connected = w.connected.map_or(f64::NAN, |(t, _)| t.as_secs_f64());
    let up = w.all_up.map_or(f64::NAN, |t| t.as_secs_f64());
    summary.put(
        &CHURN_CONNECTED_S,
        connected,
        format!(
            "after the last restart until the graph was connected again (diameter {}; {} polls, the last took {:.1} s)",
            w.connected.map_or("-".to_owned(), |(_, d)| d.to_string()),
            w.polls,
            w.connecting_poll.as_secs_f64()
        ),
    );
    summary.put(
        &CHURN_UP_S,
        up,
        "after the last restart until every exporter reported dawn_node_up 1",
    );
    summary.put(
        &CHURN_S,
        connected.max(up),
        format!(
            "{CHURNED} random nodes (not node 0) SIGKILLed, restarted {DOWN_FOR:?} later: the later of connected and all up ({:.1} intervals){}",
            connected.max(up) / GOSSIP.as_secs_f64(),
            match (w.connected.is_none() || w.all_up.is_none(), &w.last) {
                (true, Some(last)) => format!("; not within {PATIENCE:?}: {last}"),
                _ => String::new(),
            }
        ),
    );
    if let Some(p) = prometheus {
        rules::after(p, summary, restarted)?;
    }
    let hub = start.hub_max_listed.max(w.hub_max_listed);
    let any = start.max_listed.max(w.max_listed);
    summary.put(
        &HUB_SHARE,
        hub as f64 / MAX_PEERS as f64,
        format!(
            "most peers node 0 listed in any poll ({hub}) / max-peers {MAX_PEERS}, start and churn; any node's most: {any}"
        ),
    );
    Ok(())
}

/// The settled graph's diameter and peer counts.
fn record_settled(
    summary: &mut Summary,
    settled: &Result<graph::Graph, graph::NotConnected>,
    n: usize,
) {
    let when = format!("{SETTLE_ROUNDS} gossip rounds after the first connected graph");
    match settled.as_ref().map(|g| (g.diameter(), g.degrees())) {
        Ok((d, (min, mean, max))) => {
            let note = match &d {
                Ok(_) => when.clone(),
                Err(e) => format!("{when}: {e}"),
            };
            summary.put(&DIAMETER_SETTLED, d.map_or(f64::NAN, |d| d as f64), note);
            let of = format!("mutual peer count of the {n} nodes, {when}");
            summary.put(&PEERS_MIN, min as f64, of.clone());
            summary.put(&PEERS_MEAN, mean, of.clone());
            summary.put(&PEERS_MAX, max as f64, of);
        }
        Err(e) => summary.put(&DIAMETER_SETTLED, f64::NAN, format!("{when}: {e}")),
    }
}

/// `fleet_gossip_{messages,bytes}_per_node_round_{n}`.
fn record_gossip(summary: &mut Summary, n: usize, g: cost::Gossip) {
    let how = format!(
        "{n} nodes, {:.1} rounds, {} exporters read: node/announce sent per node per round, from p2p_message_size_bytes{{type=notification}} _count/_sum over all exporters / 2",
        g.rounds, g.answered
    );
    summary.record(
        &format!("fleet_gossip_messages_per_node_round_{n}"),
        g.messages,
        "messages",
        Target::Info,
        how.clone(),
    );
    summary.record(
        &format!("fleet_gossip_bytes_per_node_round_{n}"),
        g.bytes,
        "bytes",
        Target::Info,
        format!("{:.0} bytes per message; {how}", g.bytes / g.messages),
    );
}

/// The 100-node gossip cost over the 10-node one (and over the 30-node one: at 10 nodes an
/// announcement cannot fill its sample, there are too few addresses to list).
fn record_ratio(summary: &mut Summary, gossip: &[(usize, cost::Gossip)]) {
    let at = |n: usize| gossip.iter().find(|(m, _)| *m == n).map(|(_, g)| *g);
    if let (Some(middle), Some(big)) = (at(SMALL[1]), at(NODES)) {
        summary.put(
            &GOSSIP_RATIO_30,
            big.bytes / middle.bytes,
            format!(
                "{:.0} / {:.0} bytes per node per round; {:.0} / {:.0} bytes per message",
                big.bytes,
                middle.bytes,
                big.bytes / big.messages,
                middle.bytes / middle.messages
            ),
        );
    }
    if let (Some(small), Some(big)) = (at(SMALL[0]), at(NODES)) {
        summary.put(
            &GOSSIP_RATIO,
            big.bytes / small.bytes,
            format!(
                "{:.0} / {:.0} bytes per node per round",
                big.bytes, small.bytes
            ),
        );
        summary.put(
            &GOSSIP_MSG_RATIO,
            big.messages / small.messages,
            format!(
                "{:.2} / {:.2} announcements per node per round",
                big.messages, small.messages
            ),
        );
    }
}

/// Prometheus' `scrape_duration_seconds` of the fleet's exporters.
fn record_scrapes(
    summary: &mut Summary,
    p: &prometheus::Prometheus,
    n: usize,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + prometheus::SCRAPE_INTERVAL * 4;
    while p.targets_up()? < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    let up = p.targets_up()?;
    let durations = p
        .scrape_durations()
        .context("Prometheus' scrape durations")?;
    let (mean, max) = cost::mean_max(&durations);
    let how = format!(
        "scrape_duration_seconds of the {} targets Prometheus scraped ({up} up of {n}), every {:?}",
        durations.len(),
        prometheus::SCRAPE_INTERVAL
    );
    summary.put(&SCRAPE_MEAN, mean * 1e3, how.clone());
    summary.put(&SCRAPE_MAX, max * 1e3, how);
    summary.put(
        &PROMETHEUS_RSS,
        p.proc.rss_mib()?,
        "Prometheus 100 targets, after the window",
    );
    Ok(())
}
