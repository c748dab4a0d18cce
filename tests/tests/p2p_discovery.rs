//! Discovery that scales, and the fleet alert that watches it, with the real processes: 30
//! nodes with a peer limit of 4, each with its own exporter (as in a pod), every one
//! bootstrapped from node 0 only (a star), must form one connected graph, node 0 included
//! and never above its limit; then 20% of them are killed and restarted, and the graph must
//! be whole again; then a third of the fleet stops, and a real Prometheus scraping the 30
//! exporters with the shipped rules must page with `DawnFleetNodesDown` (issue "A hundred
//! nodes", at the test's smaller size). The test reads every node's `node/peers` as a
//! client and waits for the graph it makes, and reads Prometheus' query API for the rules.
//!
//! The third that stops is half nodes alone (the exporter stays up and reports
//! `dawn_node_up 0`: a crashed node container beside its sidecar) and half node and exporter
//! together (Prometheus cannot scrape it, `up` is 0 and the exporter's series go stale: a
//! deleted pod, a lost host). `instance:dawn_node_down:bool`, which the alert counts, is the
//! `or` of exactly these two cases, and the promtool unit test (fleet.test.yml) has both;
//! here the second one is live, with Prometheus' own staleness handling instead of `stale`
//! written in a test file. Each stopped node must also get its own page, `DawnNodeDown` or
//! `DawnExporterDown`, and no other node one.
//!
//! It measures, and prints, how long after the last node was started the graph was first
//! connected, and then of diameter at most 6; how long after the restart it was connected
//! again; and how long after the stop the alerts fired. `DAWN_DISCOVERY_NODES`,
//! `DAWN_DISCOVERY_MAX_PEERS` and `DAWN_DISCOVERY_GOSSIP_MS` change the size and the gossip
//! period (docs/p2p.md quotes the figures); `DAWN_DISCOVERY_TRACE=1` prints every poll that
//! found the graph not yet connected.
//!
//! It needs `prometheus`: without it the test is reported as ignored (with the reason after
//! the run), and under `CI=true` it fails.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use dawn_daemon::peer_graph::{NotConnected, PeerGraph};
use dawn_tests::support::deploy::{self, RULES_FROM_CONFIG};
use dawn_tests::support::harness;
use dawn_tests::support::http::get;
use dawn_tests::support::process::{
    Exporter, ExporterOptions, Node, free_port, free_tcp_ports, free_udp_ports,
};
use dawn_tests::support::prometheus::Prometheus;
use dawn_tests::support::tools::PROMETHEUS;
use dawn_tests::support::{Caller, Pair, eventually, patience};
use dawn_tests::trial;
use serde_json::Value;

fn main() -> ExitCode {
    harness::main(vec![
        trial!(a_star_bootstrapped_fleet_connects_heals_after_churn_and_pages_when_a_third_stops)
            .needs(PROMETHEUS),
    ])
}

/// Nodes, unless `DAWN_DISCOVERY_NODES` says otherwise.
const NODES: usize = 30;
/// The peer limit of every node, unless `DAWN_DISCOVERY_MAX_PEERS` says otherwise.
const MAX_PEERS: usize = 4;
/// The gossip period, in milliseconds, unless `DAWN_DISCOVERY_GOSSIP_MS` says otherwise.
const GOSSIP_MS: usize = 1000;
/// The diameter the issue asks of a settled network.
const MAX_DIAMETER: usize = 6;

/// The alerts whose `for:` the test shortens, as (alert, shipped, in the test). The shipped
/// durations (3 minutes for the fleet, 1-2 for a node) would keep the suite waiting minutes;
/// what this test checks live is the expressions, their labels and values against real
/// scrapes, while promtool's unit tests (deploy/prometheus/tests/) hold the durations. The
/// substitution is exact: a rule that no longer has this `for:` fails the test. The fleet
/// alert keeps the longest, as shipped. Every other alert keeps its shipped duration, so the
/// slow warnings (DawnFleetPeersLow, DawnNodeIsolated, DawnNoPeers: 5-10 minutes) cannot
/// fire here while the survivors re-peer.
const SHORTENED_FOR: &[(&str, &str, &str)] = &[
    ("DawnFleetNodesDown", "3m", "4s"),
    ("DawnNodeDown", "1m", "2s"),
    ("DawnExporterDown", "2m", "2s"),
];

/// The alerts about nodes being down, of a node or of the fleet.
const AVAILABILITY_ALERTS: &str =
    "DawnFleetNodesDown|DawnNodeDown|DawnExporterDown|DawnTelemetryAbsent";

/// `ALERTS` of [`AVAILABILITY_ALERTS`]: pending and firing, or firing only.
fn availability_alerts(firing_only: bool) -> String {
    let state = if firing_only {
        r#"alertstate="firing","#
    } else {
        ""
    };
    format!(r#"ALERTS{{{state}alertname=~"{AVAILABILITY_ALERTS}"}}"#)
}

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

/// Why the views do not make one connected graph, naming the nodes: the first silent one,
/// or those node 0 cannot reach with every node's mutual peer count.
fn reason(e: NotConnected, graph: Option<&PeerGraph>) -> String {
    match (e, graph) {
        (NotConnected::Silent(silent), _) if !silent.is_empty() => {
            format!("node {} did not answer node/peers", silent[0])
        }
        (NotConnected::Split { apart, .. }, Some(graph)) => format!(
            "from node 0, nodes {apart:?} are unreachable; mutual peer counts: {:?}",
            mutual_counts(graph)
        ),
        (e, _) => e.to_string(),
    }
}

/// Every node's mutual peer count, by index.
fn mutual_counts(graph: &PeerGraph) -> Vec<usize> {
    (0..graph.nodes()).map(|i| graph.mutual(i)).collect()
}

/// Waits, up to twice the patience (30 processes on a small machine), until every node
/// answers and the mutual links form one connected graph with a diameter of at most
/// `diameter`; returns it with its diameter and how long it took since `since`.
#[track_caller]
fn wait_connected(
    pollers: &mut Pollers,
    fleet: &mut [Pair],
    (addrs, ids): (&[String], &[String]),
    (what, since): (&str, Instant),
    diameter: usize,
) -> (PeerGraph, usize, Duration) {
    let within = diameter;
    let deadline = Instant::now() + patience() * 2;
    loop {
        for (i, pair) in fleet.iter_mut().enumerate() {
            if let Some(status) = pair.node.proc.exit_status() {
                panic!("node {i} exited ({status}):\n{}", pair.node.log());
            }
            if let Some(status) = pair.exporter.proc.exit_status() {
                panic!("exporter {i} exited ({status}):\n{}", pair.exporter.log());
            }
        }
        let views = pollers.views(addrs);
        let last = PeerGraph::of_ids(&views, ids)
            .map_err(|e| reason(e, None))
            .and_then(|g| match g.connected() {
                Ok(shape) => Ok((g, shape.diameter)),
                Err(e) => Err(reason(e, Some(&g))),
            })
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

/// The exporter's address as Prometheus labels it: its `instance`.
fn instance(pair: &Pair) -> String {
    format!("127.0.0.1:{}", pair.exporter.port)
}

/// A real Prometheus running the shipped `prometheus.yml` (test copy: scrapes and
/// evaluations every second, the exporters at `targets`) and `rules`; waits until it is
/// ready. Nothing listens at the
/// Alertmanager address it is given: the test reads `ALERTS` from Prometheus itself, and
/// the notifications that fail are only logged.
#[track_caller]
fn start_prometheus(binary: &Path, targets: &[String], rules: &str) -> Prometheus {
    let port = deploy::prometheus_port();
    let config = deploy::prometheus_config_for_test(
        targets,
        &format!("127.0.0.1:{}", free_port()),
        &format!("127.0.0.1:{port}"),
    );
    deploy::start_prometheus(binary, port, &config, &[(RULES_FROM_CONFIG, rules)])
}

/// The value of an instant query that must give exactly one series.
fn value(prom: &Prometheus, promql: &str) -> Result<f64, String> {
    let result = prom.query(promql)?;
    let [one] = result.as_slice() else {
        return Err(format!("{promql}: {} series: {result:?}", result.len()));
    };
    one["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{promql}: no value in {one}"))
}

/// `(alertname, instance)` of each `ALERTS` series (instance "" for a fleet alert).
fn alert_keys(alerts: &[Value]) -> BTreeSet<(String, String)> {
    alerts
        .iter()
        .map(|a| {
            let label = |name: &str| a["metric"][name].as_str().unwrap_or_default().to_owned();
            (label("alertname"), label("instance"))
        })
        .collect()
}

/// Checks that Prometheus loaded every shipped rule, with the shortened `for:`s.
#[track_caller]
fn assert_loaded_as_shortened(prom: &Prometheus) {
    let loaded = deploy::loaded_rules(prom);
    let (alerts, records) = deploy::shipped_rule_names();
    assert_eq!(
        loaded.len(),
        alerts.len() + records.len(),
        "Prometheus loaded every shipped rule"
    );
    for (alert, _, test) in SHORTENED_FOR {
        let rule = loaded
            .iter()
            .find(|r| r["name"] == *alert)
            .unwrap_or_else(|| panic!("{alert} is not loaded"));
        let secs: f64 = test
            .strip_suffix('s')
            .and_then(|s| s.parse().ok())
            .expect("SHORTENED_FOR durations are in seconds");
        assert_eq!(
            rule["duration"], secs,
            "{alert}'s `for:` in the test: {rule}"
        );
    }
}

/// What Prometheus says of the fleet at one moment.
#[derive(Debug)]
struct FleetView {
    /// The availability alerts (firing only, or pending too), as `ALERTS` series.
    alerts: Vec<Value>,
    /// `job:dawn_fleet_nodes:count`.
    nodes: f64,
    /// `job:dawn_fleet_nodes_down:count`.
    down: f64,
    /// `job:dawn_fleet_nodes_down:ratio`.
    ratio: f64,
}

impl FleetView {
    fn now(prom: &Prometheus, firing_only: bool) -> Result<FleetView, String> {
        Ok(FleetView {
            alerts: prom.query(&availability_alerts(firing_only))?,
            nodes: value(prom, "job:dawn_fleet_nodes:count")?,
            down: value(prom, "job:dawn_fleet_nodes_down:count")?,
            ratio: value(prom, "job:dawn_fleet_nodes_down:ratio")?,
        })
    }

    fn describe(&self) -> String {
        format!(
            "fleet {} nodes, {} down (ratio {}); alerts {:?}",
            self.nodes,
            self.down,
            self.ratio,
            alert_keys(&self.alerts)
        )
    }
}

/// Waits until Prometheus has scraped every exporter, each with its node up, and the fleet
/// rules count all of them, none down, with no availability alert pending or firing (a
/// scrape that times out on a loaded machine is a node down for the rules, for a moment);
/// then checks that `DawnFleetNodesDown` has never been pending or firing since Prometheus
/// started, which was after every node had reached its exporter.
#[track_caller]
fn assert_quiet_while_all_up(prom: &Prometheus, count: usize) {
    let n = count as f64;
    eventually(
        "Prometheus scrapes every exporter, each with its node up, counts the whole fleet \
         with none down, and no availability alert is pending or firing",
        || {
            let up = value(prom, r#"count(up{job="dawn"} == 1)"#)?;
            let nodes_up = value(prom, r#"count(dawn_node_up{job="dawn"} == 1)"#)?;
            let view = FleetView::now(prom, false)?;
            let quiet = view.nodes == n && view.down == 0.0 && view.ratio == 0.0;
            match up == n && nodes_up == n && quiet && view.alerts.is_empty() {
                true => Ok(()),
                false => Err(format!(
                    "exporters up {up}, nodes up {nodes_up} of {count}; {}",
                    view.describe()
                )),
            }
        },
    );
    let ever = prom
        .query(r#"max_over_time(ALERTS{alertname="DawnFleetNodesDown"}[1h])"#)
        .expect("query ALERTS over time");
    assert!(
        ever.is_empty(),
        "DawnFleetNodesDown was pending or firing while every node was up: {ever:?}"
    );
}

/// The `value` of the fleet alert in Prometheus' `/api/v1/alerts` (the value of its
/// expression when last evaluated) and its summary.
fn fleet_page(prom: &Prometheus) -> Result<(f64, String), String> {
    let api = get(&format!("http://127.0.0.1:{}/api/v1/alerts", prom.port))?.json();
    let page = api["data"]["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["labels"]["alertname"] == "DawnFleetNodesDown")
        .ok_or_else(|| format!("DawnFleetNodesDown is not in /api/v1/alerts: {api}"))?;
    let paged = page["value"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no value in {page}"))?;
    let summary = page["annotations"]["summary"].as_str().unwrap_or_default();
    Ok((paged, summary.to_owned()))
}

fn a_star_bootstrapped_fleet_connects_heals_after_churn_and_pages_when_a_third_stops() {
    let prometheus = PROMETHEUS.path();
    let rules = deploy::rules_with_for(SHORTENED_FOR);
    let count = setting("DAWN_DISCOVERY_NODES", NODES);
    let max_peers = setting("DAWN_DISCOVERY_MAX_PEERS", MAX_PEERS);
    let gossip_ms = setting("DAWN_DISCOVERY_GOSSIP_MS", GOSSIP_MS);
    let gossip = Duration::from_millis(u64::try_from(gossip_ms).expect("a period in ms"));
    let began = Instant::now();
    let max = max_peers.to_string();
    let gossip_env = format!("{}ms", gossip.as_millis());
    let common = [
        ("PROJECT_DAWN_MAX_PEERS", max.as_str()),
        ("PROJECT_DAWN_GOSSIP_INTERVAL", gossip_env.as_str()),
        // The test's one client polls every node's peers many times a minute.
        ("PROJECT_DAWN_RATE_LIMIT_MAX", "10000"),
        // The node's default flush (the test support's 100 ms is for tests that read a
        // metric at once): fewer wake-ups for 30 nodes on a small machine, and heartbeats
        // are stale only after 3 s, so a node slowed down by the start is not taken for
        // down. A node that dies closes its socket, and its exporter knows at once.
        ("PROJECT_DAWN_TELEMETRY_FLUSH_MS", "1000"),
        ("LOG_LEVEL", "info"),
    ];
    let count16 = u16::try_from(count).expect("at most 65535 nodes");
    // The exporters first, all at once; then the nodes reporting to them.
    let first_http = free_tcp_ports(count16);
    let mut exporters: Vec<Exporter> = (0..count16)
        .map(|i| Exporter::spawn(ExporterOptions::default().port(first_http + i)))
        .collect();
    for exporter in &mut exporters {
        exporter.wait_up();
    }
    // One block of ports, all free at once: ports picked one by one can repeat.
    let first_port = free_udp_ports(count16);
    let ports: Vec<String> = (0..count16).map(|i| (first_port + i).to_string()).collect();
    let start = |i: usize, bootstrap: Option<&str>| {
        let mut envs = common.to_vec();
        envs.push(("PROJECT_DAWN_P2P_PORT", ports[i].as_str()));
        if let Some(hub) = bootstrap {
            envs.push(("PROJECT_DAWN_BOOTSTRAP", hub));
        }
        Node::start(&exporters[i].socket, &envs)
    };
    let mut nodes = vec![start(0, None)];
    let hub = nodes[0].p2p_addr();
    nodes[0].wait_listening();
    for i in 1..count {
        nodes.push(start(i, Some(&hub)));
    }
    let spawned = Instant::now();
    let mut fleet: Vec<Pair> = exporters
        .into_iter()
        .zip(nodes)
        .map(|(exporter, node)| Pair { exporter, node })
        .collect();
    for pair in &mut fleet {
        pair.node.wait_listening();
    }
    // Prometheus starts once every node reports to its exporter, so that it never sees a
    // node down while the fleet is whole; it starts beside the discovery below.
    for pair in &fleet {
        pair.eventually_sample("dawn_node_up", &[], "== 1", |v| v == 1.0);
    }
    let targets: Vec<String> = fleet.iter().map(instance).collect();
    let prometheus = std::thread::spawn(move || start_prometheus(&prometheus, &targets, &rules));
    let addrs: Vec<String> = fleet.iter().map(Pair::addr).collect();
    let mut pollers = Pollers::new(count);
    let ids: Vec<String> = fleet.iter().map(|p| logged_id(&p.node)).collect();

    let (graph, diameter, took) = wait_connected(
        &mut pollers,
        &mut fleet,
        (&addrs, &ids),
        ("after the start", spawned),
        usize::MAX,
    );
    eprintln!(
        "{count} nodes, max-peers {max_peers}, gossip {gossip:?}: connected {took:?} after the \
         last was started ({:.1} gossip intervals); diameter {diameter}; hub's peers {}; mutual peer \
         counts {:?}",
        took.as_secs_f64() / gossip.as_secs_f64(),
        graph.mutual(0),
        mutual_counts(&graph)
    );
    assert!(
        graph.listed_counts().max <= max_peers,
        "a node lists {} peers, above the limit {max_peers}",
        graph.listed_counts().max
    );
    // A graph that has just become connected may still be a long chain in places; as the
    // nodes fill up towards their targets it tightens.
    let (graph, diameter, took) = wait_connected(
        &mut pollers,
        &mut fleet,
        (&addrs, &ids),
        ("settling", spawned),
        MAX_DIAMETER,
    );
    eprintln!(
        "diameter {diameter} (at most {MAX_DIAMETER}) {took:?} after the last was started ({:.1} \
         gossip intervals); hub's peers {}",
        took.as_secs_f64() / gossip.as_secs_f64(),
        graph.mutual(0),
    );
    assert!(
        graph.listed_counts().max <= max_peers,
        "a node lists {} peers, above the limit {max_peers}",
        graph.listed_counts().max
    );

    // The whole fleet is up: the fleet alert is quiet.
    let prom = prometheus
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    assert_loaded_as_shortened(&prom);
    assert_quiet_while_all_up(&prom, count);

    // Churn: a fifth of the nodes (never the hub) die and come back on the same port
    // with the same identity.
    let churned: Vec<usize> = (1..count).step_by(5).take(count / 5).collect();
    for &i in &churned {
        fleet[i].node.kill();
    }
    for &i in &churned {
        fleet[i].node.proc.restart();
    }
    let restarted = Instant::now();
    let (graph, diameter, took) = wait_connected(
        &mut pollers,
        &mut fleet,
        (&addrs, &ids),
        ("after the churn", restarted),
        usize::MAX,
    );
    eprintln!(
        "churn of {} nodes: connected again {took:?} after the restart ({:.1} gossip \
         intervals); diameter {diameter}; hub's peers {}",
        churned.len(),
        took.as_secs_f64() / gossip.as_secs_f64(),
        graph.mutual(0)
    );
    assert!(
        graph.listed_counts().max <= max_peers,
        "a node lists {} peers after the churn, above the limit {max_peers}",
        graph.listed_counts().max
    );

    // A third of the fleet stops (never the hub), every other one with its exporter. First
    // the restarted nodes must be back in Prometheus' view, so that every page afterwards
    // is the stop's.
    eventually(
        "Prometheus sees the restarted nodes up again, and no availability alert",
        || {
            let view = FleetView::now(&prom, false)?;
            match view.nodes == count as f64 && view.down == 0.0 && view.alerts.is_empty() {
                true => Ok(()),
                false => Err(view.describe()),
            }
        },
    );
    // Scrapes that failed while no exporter was stopped (timeouts on a loaded machine), for
    // a reader of a slow or failed run.
    let failed = r#"sum(count_over_time(up{job="dawn"}[1h]) - sum_over_time(up{job="dawn"}[1h]))"#;
    eprintln!(
        "  failed scrapes of the exporters before the stop: {:?}",
        value(&prom, failed)
    );
    let stopped: Vec<usize> = (1..count).step_by(3).take(count / 3).collect();
    let mut expected = BTreeSet::from([("DawnFleetNodesDown".to_owned(), String::new())]);
    for (k, &i) in stopped.iter().enumerate() {
        let pair = &mut fleet[i];
        if k % 2 == 0 {
            // The node alone: its exporter answers, with dawn_node_up 0.
            pair.node.kill();
            expected.insert(("DawnNodeDown".to_owned(), instance(pair)));
        } else {
            // Node and exporter, the exporter first (no scrape sees it without its node).
            pair.exporter.kill();
            pair.node.kill();
            expected.insert(("DawnExporterDown".to_owned(), instance(pair)));
        }
    }
    let stopped_at = Instant::now();
    // What fired on the way there, each different set once, with when it was first seen.
    let mut seen: Vec<(Duration, BTreeSet<(String, String)>)> = Vec::new();
    let down = stopped.len() as f64;
    let ratio = down / count as f64;
    // One moment where all of it holds: the alerts, the fleet still counted whole with the
    // stopped nodes down, and the page's value (a scrape that times out on a loaded
    // machine counts a node down for a moment, as the rules mean it to).
    let (firing, summary) = eventually(
        "DawnFleetNodesDown fires with the share of the fleet down as its value, with \
         DawnNodeDown for every node stopped alone and DawnExporterDown for every one \
         stopped with its exporter, and no other availability alert; the fleet still counts \
         every node, and the stopped ones down",
        || {
            let view = FleetView::now(&prom, true)?;
            let got = alert_keys(&view.alerts);
            if seen.last().is_none_or(|(_, last)| *last != got) {
                seen.push((stopped_at.elapsed(), got.clone()));
            }
            if got != expected {
                return Err(format!(
                    "missing {:?}\nextra {:?}\n{}",
                    expected.difference(&got).collect::<Vec<_>>(),
                    got.difference(&expected).collect::<Vec<_>>(),
                    view.describe()
                ));
            }
            let (paged, summary) = fleet_page(&prom)?;
            let counted = view.nodes == count as f64 && view.down == down;
            match counted && (view.ratio - ratio).abs() < 1e-9 && (paged - ratio).abs() < 1e-9 {
                true => Ok((view.alerts, summary)),
                false => Err(format!(
                    "{}; the page's value {paged}; expected {count} nodes, {down} down, ratio \
                     {ratio}",
                    view.describe()
                )),
            }
        },
    );
    let fired = stopped_at.elapsed();
    for (at, set) in &seen {
        let mut by_alert: BTreeMap<&str, usize> = BTreeMap::new();
        for (alert, _) in set {
            *by_alert.entry(alert.as_str()).or_default() += 1;
        }
        eprintln!("  firing {at:?} after the stop: {by_alert:?}");
    }
    let fleet_alert = firing
        .iter()
        .find(|a| a["metric"]["alertname"] == "DawnFleetNodesDown")
        .expect("the fleet alert is among the firing");
    assert_eq!(
        fleet_alert["metric"],
        serde_json::json!({
            "__name__": "ALERTS",
            "alertname": "DawnFleetNodesDown",
            "alertstate": "firing",
            "job": deploy::JOB,
            "severity": "critical",
        }),
        "the fleet alert's labels: the job's, no instance"
    );
    assert!(
        summary.ends_with("% of the Dawn nodes of job dawn are down"),
        "{summary:?}"
    );
    let slowest = r#"max(max_over_time(scrape_duration_seconds{job="dawn"}[1h]))"#;
    eprintln!(
        "  failed scrapes of the exporters up to now (the stopped ones' included): {:?}; the \
         slowest scrape: {:?} s",
        value(&prom, failed),
        value(&prom, slowest)
    );
    eprintln!(
        "{} of {count} nodes stopped ({} alone, {} with their exporter): DawnFleetNodesDown \
         (for {} in the test) and every per-node page firing {fired:?} later: {summary:?}; \
         the whole test {:?}",
        stopped.len(),
        stopped.len().div_ceil(2),
        stopped.len() / 2,
        SHORTENED_FOR[0].2,
        began.elapsed()
    );
}
