//! Waiting for the mesh. A small cluster becomes a full mesh: whatever the bootstrap shape,
//! gossip connects every node to every other within a few gossip rounds, and the launcher
//! waits until every exporter shows the node with all the others as peers. A large one, or
//! one with a small `--max-peers`, cannot: each node dials only up to its target (docs/p2p.md,
//! *Discovery*) and has a partial view; it has formed once the peer graph is connected, as
//! the nodes' `node/peers` answers show it. Until then a node has fewer peers and may report
//! itself degraded, which is start-up, not a fault; so the launcher says that the mesh is
//! forming, waits, and only then starts the traffic and the summary.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dawn_daemon::config::HumanDuration;
use dawn_daemon::peer_graph::PeerGraph;
use dawn_node::client::Client;
use dawn_node::p2p::{CloseCode, PeerAddr, PeerConnection};
use serde_json::Value;

use crate::fanout;
use crate::member::Member;
use crate::shape::Shape;
use crate::summary;
use crate::tuning::Peering;

/// The least time the mesh may take before the launcher goes on without it; more with a
/// slow gossip (see [`patience`]).
const MIN_PATIENCE: Duration = Duration::from_secs(60);
/// Gossip rounds the mesh may take: far more than a chain of 40 nodes, or 100 nodes
/// bootstrapped from one, need.
const PATIENCE_ROUNDS: u32 = 12;
/// Time between two looks at the exporters (full mesh).
const POLL: Duration = Duration::from_millis(500);
/// Time between two rounds of `node/peers` calls (partial views): a round is one call per
/// node, which a hundred starting nodes on two cores feel.
const GRAPH_POLL: Duration = Duration::from_secs(1);
/// Time allowed for one `node/info` or `node/peers` call, connecting included.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// What the mesh is formed from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) peering: Peering,
    pub(crate) shape: Shape,
    /// When the first node was started: the connected line counts from it, since a large
    /// cluster spends most of its start-up before the wait (starting and readying the
    /// members) and is often connected by the time the wait begins.
    pub(crate) nodes_started: Instant,
}

/// How long the mesh may take.
fn patience(gossip: Duration) -> Duration {
    (gossip * PATIENCE_ROUNDS).max(MIN_PATIENCE)
}

/// Waits until the mesh has formed, saying so before and after; after [`patience`] says
/// what is missing and returns all the same. Fails when a member exits meanwhile.
pub(crate) async fn wait(members: &mut [Member], plan: Plan) -> anyhow::Result<()> {
    if members.len() < 2 {
        return Ok(());
    }
    match plan.peering.full_mesh(members.len()) {
        true => full(members, plan).await,
        false => connected(members, plan).await,
    }
}

/// Full mesh: every member's exporter shows `p2p_peers` of at least the rest of the cluster.
async fn full(members: &mut [Member], plan: Plan) -> anyhow::Result<()> {
    let others = members.len() - 1;
    let patience = patience(plan.peering.gossip);
    println!(
        "mesh: forming: each node connects to the {others} others through gossip (every {}); \
         traffic and summary start once it has formed",
        HumanDuration(plan.peering.gossip)
    );
    let started = Instant::now();
    loop {
        if let Some(dead) = members.iter_mut().find_map(|m| m.exited()) {
            anyhow::bail!(dead);
        }
        let urls = members.iter().map(|m| format!("{}/metrics", m.base_url()));
        let peers: Vec<Option<f64>> = fanout::map(urls.collect(), peers_of)
            .await
            .into_iter()
            .map(Option::flatten)
            .collect();
        if peers.iter().all(|p| p.is_some_and(|n| n >= others as f64)) {
            println!(
                "mesh: formed in {}s: every node has {others} peers",
                started.elapsed().as_secs()
            );
            return Ok(());
        }
        if started.elapsed() >= patience {
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
                patience.as_secs(),
                seen.join(", ")
            );
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `p2p_peers` as the exporter at `url` shows it, if it answers.
async fn peers_of(url: String) -> Option<f64> {
    let r = dawn_daemon::http_get::get(&url, &[], CALL_TIMEOUT)
        .await
        .ok()?;
    (r.status == 200).then(|| summary::sum(&r.text(), "p2p_peers"))
}

/// Partial views: the links both ends list in `node/peers` form one connected graph.
async fn connected(members: &mut [Member], plan: Plan) -> anyhow::Result<()> {
    let nodes = members.len();
    let patience = patience(plan.peering.gossip);
    println!(
        "mesh: forming: each node finds up to {} of the {} others through gossip (every {}) \
         from a {} bootstrap; traffic and summary start once the peer graph is connected",
        plan.peering.limit().min(nodes - 1),
        nodes - 1,
        HumanDuration(plan.peering.gossip),
        plan.shape
    );
    let client = match Client::new(None) {
        Ok(c) => Arc::new(c.with_timeout(CALL_TIMEOUT)),
        Err(e) => {
            println!("mesh: cannot start a client ({e}); going on without waiting");
            return Ok(());
        }
    };
    let mut asked: Vec<Asked> = members.iter().map(|m| Asked::new(m.p2p_addr())).collect();
    let started = Instant::now();
    let outcome = loop {
        if let Some(dead) = members.iter_mut().find_map(|m| m.exited()) {
            break Err(anyhow::anyhow!(dead));
        }
        let polled = fanout::map(asked, {
            let client = Arc::clone(&client);
            move |a| a.poll(Arc::clone(&client))
        })
        .await;
        // A poll only panics on a bug; its node is asked afresh next time.
        asked = polled
            .into_iter()
            .zip(members.iter())
            .map(|(a, m)| a.unwrap_or_else(|| Asked::new(m.p2p_addr())))
            .collect();
        let ids: Vec<Option<&str>> = asked.iter().map(|a| a.id.as_deref()).collect();
        let views: Vec<Option<Vec<usize>>> = asked
            .iter()
            .map(|a| {
                let peers = a.peers.as_ref()?;
                Some(
                    peers
                        .iter()
                        .filter_map(|p| ids.iter().position(|id| *id == Some(p.as_str())))
                        .collect(),
                )
            })
            .collect();
        let shape = PeerGraph::of(&views).and_then(|g| g.connected());
        match shape {
            Ok(shape) => {
                println!(
                    "mesh: connected in {}s: {nodes} nodes, peers per node {}-{}, diameter {}",
                    plan.nodes_started.elapsed().as_secs(),
                    shape.listed.min,
                    shape.listed.max,
                    shape.diameter
                );
                break Ok(());
            }
            Err(apart) if started.elapsed() >= patience => {
                println!(
                    "mesh: not connected after {}s ({apart}); going on, see the nodes' logs",
                    patience.as_secs()
                );
                break Ok(());
            }
            Err(_) => {}
        }
        tokio::time::sleep(GRAPH_POLL).await;
    };
    for a in &asked {
        if let Some(c) = &a.connection {
            c.close(CloseCode::Normal);
        }
    }
    outcome
}

/// One node as the mesh wait asks it: its id once known, its peers' ids at the last poll.
struct Asked {
    addr: SocketAddr,
    connection: Option<PeerConnection>,
    id: Option<String>,
    peers: Option<Vec<String>>,
}

impl Asked {
    fn new(addr: SocketAddr) -> Asked {
        Asked {
            addr,
            connection: None,
            id: None,
            peers: None,
        }
    }

    /// Asks the node for its id (once) and its peers; a failed call leaves `peers` empty
    /// and drops the connection, to redial next time.
    async fn poll(mut self, client: Arc<Client>) -> Asked {
        self.peers = None;
        let connection = match self
            .connection
            .take()
            .filter(|c| c.close_reason().is_none())
        {
            Some(c) => c,
            None => {
                let addr = PeerAddr::from_socket_addr(self.addr, None);
                match tokio::time::timeout(CALL_TIMEOUT, client.connect(&addr)).await {
                    Ok(Ok(c)) => c,
                    _ => return self,
                }
            }
        };
        if self.id.is_none() {
            let Ok(Ok(info)) = client.call(&connection, "node/info", None).await else {
                connection.close(CloseCode::Normal);
                return self;
            };
            self.id = info
                .get("node_id")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        let Ok(Ok(reply)) = client.call(&connection, "node/peers", None).await else {
            connection.close(CloseCode::Normal);
            return self;
        };
        self.peers = reply.get("peers").and_then(Value::as_array).map(|peers| {
            peers
                .iter()
                .filter_map(|p| p.get("node_id")?.as_str().map(str::to_owned))
                .collect()
        });
        self.connection = Some(connection);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patience_is_a_minute_or_a_dozen_gossip_rounds() {
        assert_eq!(patience(Duration::from_secs(2)), Duration::from_secs(60));
        assert_eq!(patience(Duration::from_secs(5)), Duration::from_secs(60));
        assert_eq!(patience(Duration::from_secs(10)), Duration::from_secs(120));
    }
}
