//! Discovery that scales, with the real processes: 30 nodes with a peer limit of 4, every
//! one bootstrapped from node 0 only (a star), must form one connected graph, node 0
//! included and never above its limit; then 20% of them are killed and restarted, and the
//! graph must be whole again. Nodes run without exporters (nothing here reads a metric);
//! the test reads every node's `node/peers` as a client and waits for the graph it makes.
//!
//! `DAWN_DISCOVERY_NODES` and `DAWN_DISCOVERY_MAX_PEERS` change the size (docs/p2p.md
//! quotes a run with 100 nodes and a limit of 8).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use dawn_tests::support::process::{Node, temp_dir};
use dawn_tests::support::{Caller, patience};

/// Nodes, unless `DAWN_DISCOVERY_NODES` says otherwise.
const NODES: usize = 30;
/// The peer limit of every node, unless `DAWN_DISCOVERY_MAX_PEERS` says otherwise.
const MAX_PEERS: usize = 4;
/// The gossip period.
const GOSSIP: Duration = Duration::from_secs(1);

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Every node's peers as node ids (`None` for a node that did not answer).
type Views = Vec<Option<BTreeSet<String>>>;

fn views(caller: &mut Caller, addrs: &[String]) -> Views {
    addrs
        .iter()
        .map(|addr| {
            let reply = caller.try_call(addr, "node/peers", None).ok()?.ok()?;
            let peers = reply["peers"].as_array()?;
            peers
                .iter()
                .map(|p| p["node_id"].as_str().map(str::to_owned))
                .collect()
        })
        .collect()
}

/// What the views show: the graph of connections both ends list, its size and diameter.
#[derive(Debug)]
struct Graph {
    /// Peers of each node, by index, counting only links both ends list.
    links: Vec<BTreeSet<usize>>,
    /// The largest peer count any node reports (one-sided links included).
    max_listed: usize,
}

impl Graph {
    fn of(views: &Views, ids: &[String]) -> Result<Graph, String> {
        let index: BTreeMap<&str, usize> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        let mut listed = Vec::with_capacity(views.len());
        for (i, view) in views.iter().enumerate() {
            let view = view
                .as_ref()
                .ok_or_else(|| format!("node {i} did not answer node/peers"))?;
            let peers: BTreeSet<usize> = view
                .iter()
                .filter_map(|id| index.get(id.as_str()).copied())
                .collect();
            listed.push(peers);
        }
        let links = listed
            .iter()
            .enumerate()
            .map(|(i, peers)| {
                peers
                    .iter()
                    .copied()
                    .filter(|j| listed[*j].contains(&i))
                    .collect()
            })
            .collect();
        let max_listed = views.iter().flatten().map(BTreeSet::len).max().unwrap_or(0);
        Ok(Graph { links, max_listed })
    }

    /// Hops from `from` to every node (`None`: unreachable).
    fn distances(&self, from: usize) -> Vec<Option<usize>> {
        let mut dist = vec![None; self.links.len()];
        dist[from] = Some(0);
        let mut queue = VecDeque::from([from]);
        while let Some(n) = queue.pop_front() {
            let d = dist[n].unwrap_or(0);
            for &m in &self.links[n] {
                if dist[m].is_none() {
                    dist[m] = Some(d + 1);
                    queue.push_back(m);
                }
            }
        }
        dist
    }

    /// `Ok(diameter)` when connected; otherwise the nodes node 0 cannot reach.
    fn diameter(&self) -> Result<usize, String> {
        let mut diameter = 0;
        for from in 0..self.links.len() {
            let dist = self.distances(from);
            let unreachable: Vec<usize> = (0..dist.len()).filter(|i| dist[*i].is_none()).collect();
            if !unreachable.is_empty() {
                let degrees: Vec<usize> = self.links.iter().map(BTreeSet::len).collect();
                return Err(format!(
                    "from node {from}, nodes {unreachable:?} are unreachable; mutual peer counts: {degrees:?}"
                ));
            }
            diameter = diameter.max(dist.into_iter().flatten().max().unwrap_or(0));
        }
        Ok(diameter)
    }
}

/// Waits, up to twice the patience (30 processes on a small machine), until every node
/// answers and the mutual links form one connected graph; returns it with its diameter
/// and how long it took since `since`.
#[track_caller]
fn wait_connected(
    caller: &mut Caller,
    nodes: &mut [Node],
    addrs: &[String],
    ids: &[String],
    (what, since): (&str, Instant),
) -> (Graph, usize, Duration) {
    let deadline = Instant::now() + patience() * 2;
    loop {
        for (i, node) in nodes.iter_mut().enumerate() {
            if let Some(status) = node.proc.exit_status() {
                panic!("node {i} exited ({status}):\n{}", node.log());
            }
        }
        let views = views(caller, addrs);
        let last = Graph::of(&views, ids).and_then(|g| g.diameter().map(|d| (g, d)));
        match last {
            Ok((graph, diameter)) => return (graph, diameter, since.elapsed()),
            Err(last) if Instant::now() > deadline => {
                panic!(
                    "{what}: not one connected graph within {:?}\nlast: {last}",
                    patience() * 2
                )
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

#[test]
fn a_star_bootstrapped_network_with_a_small_peer_limit_connects_and_heals_after_churn() {
    let count = setting("DAWN_DISCOVERY_NODES", NODES);
    let max_peers = setting("DAWN_DISCOVERY_MAX_PEERS", MAX_PEERS);
    // No exporter: the nodes' shippers keep retrying this absent socket, harmlessly.
    let dir = temp_dir();
    let socket = dir.path().join("no-exporter.sock");
    let max = max_peers.to_string();
    let gossip = format!("{}ms", GOSSIP.as_millis());
    let common = [
        ("PROJECT_DAWN_MAX_PEERS", max.as_str()),
        ("PROJECT_DAWN_GOSSIP_INTERVAL", gossip.as_str()),
        // The test's one client polls every node's peers many times a minute.
        ("PROJECT_DAWN_RATE_LIMIT_MAX", "10000"),
        ("LOG_LEVEL", "info"),
    ];
    let mut nodes = vec![Node::start(&socket, &common)];
    let hub = nodes[0].p2p_addr();
    nodes[0].wait_listening();
    for _ in 1..count {
        let mut envs = common.to_vec();
        envs.push(("PROJECT_DAWN_BOOTSTRAP", hub.as_str()));
        nodes.push(Node::start(&socket, &envs));
    }
    let spawned = Instant::now();
    for node in &mut nodes {
        node.wait_listening();
    }
    let addrs: Vec<String> = nodes.iter().map(Node::p2p_addr).collect();
    let mut caller = Caller::new();
    let ids: Vec<String> = addrs.iter().map(|a| caller.node_id_of(a)).collect();

    let (graph, diameter, took) = wait_connected(
        &mut caller,
        &mut nodes,
        &addrs,
        &ids,
        ("after the start", spawned),
    );
    eprintln!(
        "{count} nodes, max-peers {max_peers}, gossip {GOSSIP:?}: connected {took:?} after the \
         last was started ({:.1} gossip intervals); diameter {diameter}; hub's peers {}; mutual peer \
         counts {:?}",
        took.as_secs_f64() / GOSSIP.as_secs_f64(),
        graph.links[0].len(),
        graph.links.iter().map(BTreeSet::len).collect::<Vec<_>>()
    );
    assert!(
        graph.max_listed <= max_peers,
        "a node lists {} peers, above the limit {max_peers}",
        graph.max_listed
    );
    assert!(
        diameter <= 6,
        "diameter {diameter} above 6: {:?}",
        graph.links
    );

    // Churn: a fifth of the nodes (never the hub) die and come back on the same port
    // with the same identity.
    let churned: Vec<usize> = (1..count).step_by(5).take(count / 5).collect();
    for &i in &churned {
        nodes[i].kill();
    }
    for &i in &churned {
        nodes[i].proc.restart();
    }
    let restarted = Instant::now();
    let (graph, diameter, took) = wait_connected(
        &mut caller,
        &mut nodes,
        &addrs,
        &ids,
        ("after the churn", restarted),
    );
    eprintln!(
        "churn of {} nodes: connected again {took:?} after the restart ({:.1} gossip \
         intervals); diameter {diameter}; hub's peers {}",
        churned.len(),
        took.as_secs_f64() / GOSSIP.as_secs_f64(),
        graph.links[0].len()
    );
    assert!(
        graph.max_listed <= max_peers,
        "a node lists {} peers after the churn, above the limit {max_peers}",
        graph.max_listed
    );
}
