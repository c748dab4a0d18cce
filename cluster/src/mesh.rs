//! Waiting for the mesh: the nodes start as a chain (each bootstraps from the one before)
//! and gossip connects every node to every other within a few gossip rounds. Until then a
//! node has fewer peers and may report itself degraded, which is start-up, not a fault; so
//! the launcher says that the mesh is forming, waits until every exporter shows the node
//! with all the others as peers, and only then starts the traffic and the summary.

use std::time::{Duration, Instant};

use crate::member::Member;
use crate::summary;
use crate::tuning::GOSSIP_INTERVAL;

/// How long the mesh may take before the launcher goes on without it: a dozen gossip
/// rounds, far more than a chain of 50 nodes needs.
const PATIENCE: Duration = Duration::from_secs(12 * GOSSIP_INTERVAL.as_secs());
/// Time between two looks at the exporters.
const POLL: Duration = Duration::from_millis(500);

/// Waits until every member's exporter shows `p2p_peers` of at least the rest of the
/// cluster, saying so before and after; after [`PATIENCE`] says which nodes lack peers and
/// returns all the same. Fails when a member exits meanwhile.
pub(crate) async fn wait(members: &mut [Member]) -> anyhow::Result<()> {
    let others = members.len().saturating_sub(1);
    if others == 0 {
        return Ok(());
    }
    println!(
        "mesh: forming: each node connects to the {others} others through gossip (every {}s); \
         traffic and summary start once it has formed",
        GOSSIP_INTERVAL.as_secs()
    );
    let started = Instant::now();
    loop {
        if let Some(dead) = members.iter_mut().find_map(|m| m.exited()) {
            anyhow::bail!(dead);
        }
        let mut peers = Vec::with_capacity(members.len());
        for m in members.iter() {
            peers.push(peers_of(m).await);
        }
        if peers.iter().all(|p| p.is_some_and(|n| n >= others as f64)) {
            println!(
                "mesh: formed in {}s: every node has {others} peers",
                started.elapsed().as_secs()
            );
            return Ok(());
        }
        if started.elapsed() >= PATIENCE {
            let seen: Vec<String> = members
                .iter()
                .zip(&peers)
                .map(|(m, p)| match p {
                    Some(n) => format!("node-{} {n}", m.index),
                    None => format!("node-{} ?", m.index),
                })
                .collect();
            println!(
                "mesh: not formed after {}s (peers: {}); going on, see the nodes' logs",
                PATIENCE.as_secs(),
                seen.join(", ")
            );
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `p2p_peers` as the member's exporter shows it, if it answers.
async fn peers_of(m: &Member) -> Option<f64> {
    let url = format!("{}/metrics", m.base_url());
    let r = dawn_daemon::http_get::get(&url, &[], Duration::from_secs(2))
        .await
        .ok()?;
    (r.status == 200).then(|| summary::sum(&r.text(), "p2p_peers"))
}
