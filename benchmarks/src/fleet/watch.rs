//! Watching a fleet until its peer graph is whole (and, after churn, every exporter reports
//! its node up again), polling every node's `node/peers` and every exporter's `/metrics`.

use std::time::{Duration, Instant};

use super::graph::{Graph, NotConnected};
use super::member::Fleet;
use super::poll::{Poller, scrape_all, sum};

/// Pause between two polls.
const PAUSE: Duration = Duration::from_millis(100);

/// What a watch saw.
#[derive(Debug, Default)]
pub(super) struct Watch {
    /// Since the start, when every node first answered `node/peers`.
    pub(super) all_answered: Option<Duration>,
    /// When the graph was first connected, and its diameter then.
    pub(super) connected: Option<(Duration, usize)>,
    /// How long the poll that first saw it connected took (the figure's resolution).
    pub(super) connecting_poll: Duration,
    /// When every exporter first reported `dawn_node_up 1` (only when asked for).
    pub(super) all_up: Option<Duration>,
    /// The most peers the bootstrap node (node 0) listed in any poll.
    pub(super) hub_max_listed: usize,
    /// The most peers any node listed in any poll.
    pub(super) max_listed: usize,
    /// Polls made.
    pub(super) polls: usize,
    /// Why the last poll before the deadline did not show a connected graph.
    pub(super) last: Option<String>,
}

/// Polls until the graph is connected (and, with `want_up`, every exporter reports
/// `dawn_node_up 1`), or `within` has passed since `since`; also fails if a node exits.
pub(super) fn until_whole(
    rt: &tokio::runtime::Runtime,
    poller: &mut Poller,
    fleet: &mut Fleet,
    since: Instant,
    within: Duration,
    want_up: bool,
) -> anyhow::Result<Watch> {
    let ids = fleet.ids();
    let urls = fleet.metrics_urls();
    let trace = std::env::var_os("DAWN_BENCH_FLEET_TRACE").is_some();
    let mut watch = Watch::default();
    loop {
        fleet.check_alive()?;
        let asked = Instant::now();
        let views = rt.block_on(poller.views());
        let at = since.elapsed();
        watch.polls += 1;
        let graph = Graph::of(&views, &ids);
        if let Ok(g) = &graph {
            watch.all_answered.get_or_insert(at);
            watch.hub_max_listed = watch.hub_max_listed.max(g.listed(0));
            watch.max_listed = watch.max_listed.max(g.max_listed());
        }
        if watch.connected.is_none() {
            match graph.and_then(|g| g.diameter()) {
                Ok(d) => {
                    watch.connected = Some((at, d));
                    watch.connecting_poll = asked.elapsed();
                }
                Err(e) => {
                    if trace {
                        eprintln!("  {at:.1?} {}", brief(&e));
                    }
                    watch.last = Some(brief(&e));
                }
            }
        }
        if want_up && watch.all_up.is_none() {
            let bodies = rt.block_on(scrape_all(&urls));
            let down = bodies
                .iter()
                .filter(|b| b.as_deref().and_then(|t| sum(t, "dawn_node_up", &[])) != Some(1.0))
                .count();
            match down {
                0 => watch.all_up = Some(since.elapsed()),
                _ => watch.last = Some(format!("{down} exporters do not report dawn_node_up 1")),
            }
        }
        if watch.connected.is_some() && (!want_up || watch.all_up.is_some()) {
            return Ok(watch);
        }
        if since.elapsed() > within {
            return Ok(watch);
        }
        std::thread::sleep(PAUSE);
    }
}

/// Polls the exporters of `nodes` until none reports `dawn_node_up 1` (a killed node seen
/// as down), or `within` has passed since `since`; when it was seen.
pub(super) fn until_down(
    rt: &tokio::runtime::Runtime,
    fleet: &Fleet,
    nodes: &[usize],
    since: Instant,
    within: Duration,
) -> Option<Duration> {
    let urls: Vec<String> = nodes
        .iter()
        .map(|&i| fleet.members[i].exporter.url("/metrics"))
        .collect();
    while since.elapsed() < within {
        let bodies = rt.block_on(scrape_all(&urls));
        if bodies
            .iter()
            .all(|b| b.as_deref().and_then(|t| sum(t, "dawn_node_up", &[])) == Some(0.0))
        {
            return Some(since.elapsed());
        }
        std::thread::sleep(PAUSE * 5);
    }
    None
}

/// The reason, cut to a line.
fn brief(e: &NotConnected) -> String {
    let s = e.to_string();
    s.chars().take(200).collect()
}

/// One poll's graph (every node answering), for the settled figures.
pub(super) fn graph_now(
    rt: &tokio::runtime::Runtime,
    poller: &mut Poller,
    fleet: &Fleet,
) -> Result<Graph, NotConnected> {
    let views = rt.block_on(poller.views());
    Graph::of(&views, &fleet.ids())
}
