//! Discovery that scales, with the real processes: 30 nodes with a peer limit of 4, every
//! one bootstrapped from node 0 only (a star), must form one connected graph, node 0
//! included and never above its limit; then 20% of them are killed and restarted, and the
//! graph must be whole again. Nodes run without exporters (nothing here reads a metric);
//! the test reads every node's `node/peers` as a client and waits for the graph it makes.
//!
//! It measures, and prints, how long after the last node was started the graph was first
//! connected, and then of diameter at most 6; and how long after the restart it was
//! connected again. `DAWN_DISCOVERY_NODES`, `DAWN_DISCOVERY_MAX_PEERS` and
//! `DAWN_DISCOVERY_GOSSIP_MS` change the size and the gossip period
//! (docs/p2p.md quotes the figures); `DAWN_DISCOVERY_TRACE=1` prints every poll that found
//! the graph not yet connected.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use dawn_tests::support::process::{Node, free_udp_ports, temp_dir};
use dawn_tests::support::{Caller, patience};

/// Nodes, unless `DAWN_DISCOVERY_NODES` says otherwise.
const NODES: usize = 30;
/// The peer limit of every node, unless `DAWN_DISCOVERY_MAX_PEERS` says otherwise.
const MAX_PEERS: usize = 4;
/// The gossip period, in milliseconds, unless `DAWN_DISCOVERY_GOSSIP_MS` says otherwise.
const GOSSIP_MS: usize = 1000;
/// The diameter the issue asks of a settled network.
const MAX_DIAMETER: usize = 6;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Every node's peers as node ids (`None` for a node that did not answer).
type Views = Vec<Option<BTreeSet<String>>>;

/// Nodes one poller asks in turn: a node slow to answer (100 processes starting on a small
/// machine) holds up only its share of the poll.
const NODES_PER_POLLER: usize = 10;

/// Callers that ask the nodes in parallel, each its share, one client identity each.
struct Pollers(Vec<Caller>);

impl Pollers {
    fn new(nodes: usize) -> Pollers {
        Pollers(
            (0..nodes.div_ceil(NODES_PER_POLLER))
                .map(|_| Caller::new())
                .collect(),
        )
    }

    fn views(&mut self, addrs: &[String]) -> Views {
        std::thread::scope(|scope| {
            let polls: Vec<_> = addrs
                .chunks(NODES_PER_POLLER)
                .zip(self.0.iter_mut())
                .map(|(share, caller)| scope.spawn(move || views(caller, share)))
                .collect();
            polls
                .into_iter()
                .flat_map(|poll| poll.join().expect("a poller panicked"))
                .collect()
        })
    }
}

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
/// answers and the mutual links form one connected graph with a diameter of at most
/// `diameter`; returns it with its diameter and how long it took since `since`.
#[track_caller]
fn wait_connected(
    pollers: &mut Pollers,
    nodes: &mut [Node],
    (addrs, ids): (&[String], &[String]),
    (what, since): (&str, Instant),
    diameter: usize,
) -> (Graph, usize, Duration) {
    let within = diameter;
    let deadline = Instant::now() + patience() * 2;
    loop {
        for (i, node) in nodes.iter_mut().enumerate() {
            if let Some(status) = node.proc.exit_status() {
                panic!("node {i} exited ({status}):\n{}", node.log());
            }
        }
        let views = pollers.views(addrs);
        let last = Graph::of(&views, ids)
            .and_then(|g| g.diameter().map(|d| (g, d)))
            .and_then(|(g, d)| match d <= within {
                true => Ok((g, d)),
                false => Err(format!("connected, diameter {d} above {within}")),
            });
        match last {
            Ok((graph, diameter)) => return (graph, diameter, since.elapsed()),
            Err(last) if Instant::now() > deadline => {
                panic!(
                    "{what}: not one connected graph of diameter at most {within} within {:?}\nlast: {last}",
                    patience() * 2
                )
            }
            Err(e) => {
                if std::env::var("DAWN_DISCOVERY_TRACE").is_ok() {
                    eprintln!("{:?} {}", since.elapsed(), &e[..e.len().min(400)]);
                }
                std::thread::sleep(Duration::from_millis(100))
            }
        }
    }
}

/// The node id a node logged when its endpoint started listening (no call: 100 nodes
/// starting at once on a small machine can take longer than a call's timeout to answer).
#[track_caller]
fn logged_id(node: &Node) -> String {
    const LINE: &str = "p2p endpoint listening node_id=";
    let log = node.log();
    let at = log
        .find(LINE)
        .unwrap_or_else(|| panic!("no `{LINE}` in the node's log:\n{log}"));
    log[at + LINE.len()..].chars().take(64).collect()
}

#[test]
fn a_star_bootstrapped_network_with_a_small_peer_limit_connects_and_heals_after_churn() {
    let count = setting("DAWN_DISCOVERY_NODES", NODES);
    let max_peers = setting("DAWN_DISCOVERY_MAX_PEERS", MAX_PEERS);
    let gossip_ms = setting("DAWN_DISCOVERY_GOSSIP_MS", GOSSIP_MS);
    let gossip = Duration::from_millis(u64::try_from(gossip_ms).expect("a period in ms"));
    // No exporter: the nodes' shippers keep retrying this absent socket, harmlessly.
    let dir = temp_dir();
    let socket = dir.path().join("no-exporter.sock");
    let max = max_peers.to_string();
    let gossip_env = format!("{}ms", gossip.as_millis());
    let common = [
        ("PROJECT_DAWN_MAX_PEERS", max.as_str()),
        ("PROJECT_DAWN_GOSSIP_INTERVAL", gossip_env.as_str()),
        // The test's one client polls every node's peers many times a minute.
        ("PROJECT_DAWN_RATE_LIMIT_MAX", "10000"),
        ("LOG_LEVEL", "info"),
    ];
    // One block of ports, all free at once: ports picked one by one can repeat.
    let first_port = free_udp_ports(u16::try_from(count).expect("at most 65535 nodes"));
    let ports: Vec<String> = (0..count)
        .map(|i| (usize::from(first_port) + i).to_string())
        .collect();
    let start = |i: usize, bootstrap: Option<&str>| {
        let mut envs = common.to_vec();
        envs.push(("PROJECT_DAWN_P2P_PORT", ports[i].as_str()));
        if let Some(hub) = bootstrap {
            envs.push(("PROJECT_DAWN_BOOTSTRAP", hub));
        }
        Node::start(&socket, &envs)
    };
    let mut nodes = vec![start(0, None)];
    let hub = nodes[0].p2p_addr();
    nodes[0].wait_listening();
    for i in 1..count {
        nodes.push(start(i, Some(&hub)));
    }
    let spawned = Instant::now();
    for node in &mut nodes {
        node.wait_listening();
    }
    let addrs: Vec<String> = nodes.iter().map(Node::p2p_addr).collect();
    let mut pollers = Pollers::new(count);
    let ids: Vec<String> = nodes.iter().map(logged_id).collect();

    let (graph, diameter, took) = wait_connected(
        &mut pollers,
        &mut nodes,
        (&addrs, &ids),
        ("after the start", spawned),
        usize::MAX,
    );
    eprintln!(
        "{count} nodes, max-peers {max_peers}, gossip {gossip:?}: connected {took:?} after the \
         last was started ({:.1} gossip intervals); diameter {diameter}; hub's peers {}; mutual peer \
         counts {:?}",
        took.as_secs_f64() / gossip.as_secs_f64(),
        graph.links[0].len(),
        graph.links.iter().map(BTreeSet::len).collect::<Vec<_>>()
    );
    assert!(
        graph.max_listed <= max_peers,
        "a node lists {} peers, above the limit {max_peers}",
        graph.max_listed
    );
    // A graph that has just become connected may still be a long chain in places; as the
    // nodes fill up towards their targets it tightens.
    let (graph, diameter, took) = wait_connected(
        &mut pollers,
        &mut nodes,
        (&addrs, &ids),
        ("settling", spawned),
        MAX_DIAMETER,
    );
    eprintln!(
        "diameter {diameter} (at most {MAX_DIAMETER}) {took:?} after the last was started ({:.1} \
         gossip intervals); hub's peers {}",
        took.as_secs_f64() / gossip.as_secs_f64(),
        graph.links[0].len(),
    );
    assert!(
        graph.max_listed <= max_peers,
        "a node lists {} peers, above the limit {max_peers}",
        graph.max_listed
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
        &mut pollers,
        &mut nodes,
        (&addrs, &ids),
        ("after the churn", restarted),
        usize::MAX,
    );
    eprintln!(
        "churn of {} nodes: connected again {took:?} after the restart ({:.1} gossip \
         intervals); diameter {diameter}; hub's peers {}",
        churned.len(),
        took.as_secs_f64() / gossip.as_secs_f64(),
        graph.links[0].len()
    );
    assert!(
        graph.max_listed <= max_peers,
        "a node lists {} peers after the churn, above the limit {max_peers}",
        graph.max_listed
    );
}
