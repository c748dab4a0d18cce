//! What a settled fleet costs while idle, read between two snapshots taken a window apart:
//! gossip messages and bytes per node per round (from the nodes' own counters on their
//! exporters), CPU of every node and exporter (from `/proc`), and their memory at the end.
//!
//! No counter gives gossip bytes on the wire. What the nodes count is every JSON-RPC
//! message's encoded size, sent and received: `p2p_message_size_bytes{type="notification"}`.
//! The only notification in an idle fleet is the gossip round's `node/announce`, counted
//! once by its sender and once by its receiver; so the fleet's sum of
//! `_count` / `_sum` over two is the announcements sent and their payload bytes (QUIC,
//! TLS and UDP framing not included).

use std::time::{Duration, Instant};

use super::member::Fleet;
use super::poll::{scrape_all, sum};

/// The series the figures are read from, and its label.
const SIZE_COUNT: &str = "p2p_message_size_bytes_count";
const SIZE_SUM: &str = "p2p_message_size_bytes_sum";
const NOTIFICATION: [(&str, &str); 1] = [("type", "notification")];

/// The fleet at one moment.
#[derive(Debug)]
pub(super) struct Snapshot {
    at: Instant,
    /// Notifications counted (sent + received) over all exporters that answered.
    messages: f64,
    /// Their bytes.
    bytes: f64,
    /// Exporters that answered with the series.
    answered: usize,
    /// CPU time of each node and each exporter.
    cpu: Vec<(Duration, Duration)>,
}

/// Takes a snapshot of `fleet` (the exporters are scraped concurrently).
pub(super) fn snapshot(rt: &tokio::runtime::Runtime, fleet: &Fleet) -> Snapshot {
    let cpu = fleet
        .members
        .iter()
        .map(|m| {
            let node = m.node.as_ref().and_then(|n| n.cpu_time().ok());
            let exporter = m.exporter.proc.cpu_time().ok();
            (node.unwrap_or_default(), exporter.unwrap_or_default())
        })
        .collect();
    let at = Instant::now();
    let bodies = rt.block_on(scrape_all(&fleet.metrics_urls()));
    let (mut messages, mut bytes, mut answered) = (0.0, 0.0, 0);
    for body in bodies.iter().flatten() {
        if let (Some(n), Some(b)) = (
            sum(body, SIZE_COUNT, &NOTIFICATION),
            sum(body, SIZE_SUM, &NOTIFICATION),
        ) {
            messages += n;
            bytes += b;
            answered += 1;
        }
    }
    Snapshot {
        at,
        messages,
        bytes,
        answered,
        cpu,
    }
}

/// Gossip per node per round between two snapshots.
#[derive(Debug, Clone, Copy)]
pub(super) struct Gossip {
    /// Announcements sent per node per round.
    pub(super) messages: f64,
    /// Their payload bytes per node per round.
    pub(super) bytes: f64,
    /// Exporters that answered both times (all of them, or the figure is partial).
    pub(super) answered: usize,
    /// The window, in gossip rounds.
    pub(super) rounds: f64,
}

/// Gossip between `a` and `b` in a fleet of `n` at `gossip` intervals. A round is taken
/// to be one interval: a round that ran late makes the per-round figure low.
pub(super) fn gossip(a: &Snapshot, b: &Snapshot, n: usize, gossip: Duration) -> Gossip {
    let rounds = (b.at - a.at).as_secs_f64() / gossip.as_secs_f64();
    let per = |delta: f64| delta / 2.0 / n as f64 / rounds;
    Gossip {
        messages: per(b.messages - a.messages),
        bytes: per(b.bytes - a.bytes),
        answered: a.answered.min(b.answered),
        rounds,
    }
}

/// CPU (percent of one core) and resident memory (MiB) of the nodes and of the exporters.
#[derive(Debug, Clone, Copy)]
pub(super) struct Idle {
    /// Mean and largest CPU of a node.
    pub(super) node_cpu: (f64, f64),
    /// Mean and largest CPU of an exporter.
    pub(super) exporter_cpu: (f64, f64),
    /// Mean and largest RSS of a node, at the end.
    pub(super) node_rss: (f64, f64),
    /// Mean and largest RSS of an exporter, at the end.
    pub(super) exporter_rss: (f64, f64),
}

/// CPU between `a` and `b`, memory now.
pub(super) fn idle(a: &Snapshot, b: &Snapshot, fleet: &Fleet) -> Idle {
    let secs = (b.at - a.at).as_secs_f64();
    let pct = |x: Duration, y: Duration| y.saturating_sub(x).as_secs_f64() / secs * 100.0;
    let node_cpu: Vec<f64> = a
        .cpu
        .iter()
        .zip(&b.cpu)
        .map(|(x, y)| pct(x.0, y.0))
        .collect();
    let exporter_cpu: Vec<f64> = a
        .cpu
        .iter()
        .zip(&b.cpu)
        .map(|(x, y)| pct(x.1, y.1))
        .collect();
    let node_rss: Vec<f64> = fleet
        .members
        .iter()
        .filter_map(|m| m.node.as_ref()?.rss_mib().ok())
        .collect();
    let exporter_rss: Vec<f64> = fleet
        .members
        .iter()
        .filter_map(|m| m.exporter.proc.rss_mib().ok())
        .collect();
    Idle {
        node_cpu: mean_max(&node_cpu),
        exporter_cpu: mean_max(&exporter_cpu),
        node_rss: mean_max(&node_rss),
        exporter_rss: mean_max(&exporter_rss),
    }
}

/// (mean, largest) of `v`; NaN when empty.
pub(super) fn mean_max(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    (mean, v.iter().copied().fold(f64::MIN, f64::max))
}

/// The 1-minute load average (`/proc/loadavg`), to say how busy the machine was.
pub(super) fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}
