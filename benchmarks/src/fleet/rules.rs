//! The shipped `dawn-fleet` rules checked live against the 100-node fleet: the group's
//! Prometheus loads deploy/prometheus/rules/dawn.rules.yml, and these checks query its
//! recorded series and `ALERTS` before, during and after the churn, plus every query of the
//! dashboard's Fleet row. Each check waits on the query with a deadline (a rule evaluation
//! follows a scrape by up to one interval), and records what it last saw.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::prometheus::{Prometheus, RULES, SCRAPE_INTERVAL, Sample};
use super::spec;
use crate::summary::{Spec, Summary, Target};

const NODES_BEFORE: Spec = spec("fleet_rules_nodes_before", "nodes", Target::Exactly(100.0));
const DOWN_BEFORE: Spec = spec(
    "fleet_rules_nodes_down_before",
    "nodes",
    Target::Exactly(0.0),
);
const ALERTS_BEFORE: Spec = spec(
    "fleet_rules_fleet_alerts_before",
    "alerts",
    Target::Exactly(0.0),
);
const DOWN_DURING: Spec = spec(
    "fleet_rules_nodes_down_during",
    "nodes",
    Target::Exactly(20.0),
);
const RATIO_DURING: Spec = spec("fleet_rules_nodes_down_ratio_during", "ratio", Target::Info);
/// Prometheus' `avg` is an incremental mean: 20 ones among 100 series can come out as
/// 0.19999999999999998, so the ratio is held to the down count over the fleet to within
/// float rounding, not compared with `==`.
const RATIO_ERROR: Spec = spec(
    "fleet_rules_nodes_down_ratio_error",
    "ratio",
    Target::AtMost(1e-12),
);
const WRONG_DURING: Spec = spec(
    "fleet_rules_down_not_killed_during",
    "nodes",
    Target::Exactly(0.0),
);
const DOWN_SEEN_S: Spec = spec("fleet_rules_down_seen_s", "s", Target::Info);
const PENDING: Spec = spec(
    "fleet_rules_nodes_down_alert_pending",
    "alerts",
    Target::Exactly(1.0),
);
const PENDING_S: Spec = spec("fleet_rules_nodes_down_alert_pending_s", "s", Target::Info);
const DOWN_AFTER: Spec = spec(
    "fleet_rules_nodes_down_after",
    "nodes",
    Target::Exactly(0.0),
);
const DOWN_AFTER_S: Spec = spec("fleet_rules_nodes_down_after_s", "s", Target::Info);
const ALERTS_AFTER: Spec = spec(
    "fleet_rules_fleet_alerts_after",
    "alerts",
    Target::Exactly(0.0),
);
const ALERTS_AFTER_S: Spec = spec("fleet_rules_fleet_alerts_after_s", "s", Target::Info);
const DASHBOARD_EMPTY: Spec = spec(
    "fleet_rules_dashboard_fleet_queries_empty",
    "queries",
    Target::Exactly(0.0),
);

/// The alerts of the `dawn-fleet` group, as a regex for `ALERTS{alertname=~...}`.
const FLEET_ALERTS: &str = "DawnFleetNodesDown|DawnNodeIsolated|DawnFleetPeersLow";
/// The Grafana dashboard whose Fleet row is queried.
const DASHBOARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../deploy/grafana/dashboards/dawn.json"
);
/// What Grafana makes of `$__rate_interval` at a 5 s scrape interval: four intervals.
const RATE_INTERVAL: &str = "20s";

/// How long a recorded series may lag what it records: a scrape, then an evaluation.
fn lag() -> Duration {
    SCRAPE_INTERVAL * 3
}

/// The one value of a one-series answer (NaN when it has none or several).
fn single(answer: &[Sample]) -> f64 {
    match answer {
        [s] => s.value,
        _ => f64::NAN,
    }
}

/// Before the churn, every target scraped: the fleet counted whole, none down, no fleet
/// alert in any state.
pub(super) fn before(p: &Prometheus, summary: &mut Summary, n: usize) -> anyhow::Result<()> {
    let start = Instant::now();
    let deadline = start + lag();
    let (at, nodes) = p.wait("job:dawn_fleet_nodes:count", start, deadline, |a| {
        single(a) == n as f64
    })?;
    let (_, down) = p.wait("job:dawn_fleet_nodes_down:count", start, deadline, |a| {
        single(a) == 0.0
    })?;
    let alerts = p.query(&format!("ALERTS{{alertname=~\"{FLEET_ALERTS}\"}}"))?;
    summary.put(
        &NODES_BEFORE,
        single(&nodes),
        format!(
            "job:dawn_fleet_nodes:count of the shipped rules ({}), every target up, before the churn ({})",
            RULES.rsplit("/../").next().unwrap_or(RULES),
            seen(at)
        ),
    );
    summary.put(
        &DOWN_BEFORE,
        single(&down),
        "job:dawn_fleet_nodes_down:count, same moment",
    );
    summary.put(
        &ALERTS_BEFORE,
        alerts.len() as f64,
        format!(
            "ALERTS{{alertname=~\"{FLEET_ALERTS}\"}} series, any state, same moment{}",
            names(&alerts)
        ),
    );
    Ok(())
}

/// While the churned nodes are down: waits (until `deadline`, inside their downtime) for
/// the down count to reach them all, then for `DawnFleetNodesDown` to be pending. Its `for`
/// is 3m, so it cannot fire within the downtime: pending is all there is to see.
pub(super) fn during(
    p: &Prometheus,
    summary: &mut Summary,
    nodes: usize,
    killed_instances: &BTreeSet<String>,
    killed: Instant,
    deadline: Instant,
) -> anyhow::Result<()> {
    let want = killed_instances.len() as f64;
    let (at, down) = p.wait("job:dawn_fleet_nodes_down:count", killed, deadline, |a| {
        single(a) == want
    })?;
    let ratio = p.query("job:dawn_fleet_nodes_down:ratio")?;
    let listed = p.query("instance:dawn_node_down:bool == 1")?;
    let listed: BTreeSet<String> = listed.iter().map(|s| s.label("instance").into()).collect();
    let wrong = listed.difference(killed_instances).count();
    let missing = killed_instances.difference(&listed).count();
    summary.put(
        &DOWN_DURING,
        single(&down),
        format!(
            "job:dawn_fleet_nodes_down:count while the killed nodes were down ({})",
            seen(at)
        ),
    );
    summary.put(
        &DOWN_SEEN_S,
        at.map_or(f64::NAN, |d| d.as_secs_f64()),
        format!(
            "after the kill, until job:dawn_fleet_nodes_down:count showed them all (scrape and evaluation every {SCRAPE_INTERVAL:?})"
        ),
    );
    let ratio = single(&ratio);
    let fleet = nodes as f64;
    summary.put(
        &RATIO_DURING,
        ratio,
        format!("job:dawn_fleet_nodes_down:ratio, right after ({ratio:?})"),
    );
    summary.put(
        &RATIO_ERROR,
        (ratio - want / fleet).abs(),
        format!(
            "|job:dawn_fleet_nodes_down:ratio - {want}/{nodes}|, right after: avg is an incremental mean in Prometheus, exact only to float rounding"
        ),
    );
    summary.put(
        &WRONG_DURING,
        wrong as f64,
        format!(
            "instances with instance:dawn_node_down:bool 1 that were not killed, right after ({missing} killed ones not listed)"
        ),
    );
    let (at, pending) = p.wait(
        "ALERTS{alertname=\"DawnFleetNodesDown\",alertstate=\"pending\"}",
        killed,
        deadline,
        |a| !a.is_empty(),
    )?;
    let firing = p.query("ALERTS{alertname=\"DawnFleetNodesDown\",alertstate=\"firing\"}")?;
    summary.put(
        &PENDING,
        pending.len() as f64,
        format!(
            "ALERTS{{alertname=\"DawnFleetNodesDown\",alertstate=\"pending\"}} series while the nodes were down ({}; firing: {} series, as it must be: its for is 3m, the nodes are down for 30 s)",
            seen(at),
            firing.len()
        ),
    );
    summary.put(
        &PENDING_S,
        at.map_or(f64::NAN, |d| d.as_secs_f64()),
        "after the kill, until DawnFleetNodesDown was pending",
    );
    Ok(())
}

/// After the restart, every exporter reporting its node up again: waits for the down count
/// to be back at 0 and `DawnFleetNodesDown` gone.
pub(super) fn after(p: &Prometheus, summary: &mut Summary, since: Instant) -> anyhow::Result<()> {
    let start = Instant::now();
    let (at, down) = p.wait(
        "job:dawn_fleet_nodes_down:count",
        since,
        start + lag(),
        |a| single(a) == 0.0,
    )?;
    let (_, alert) = p.wait(
        "ALERTS{alertname=\"DawnFleetNodesDown\"}",
        since,
        start + lag(),
        |a| a.is_empty(),
    )?;
    let others = p.query(&format!("ALERTS{{alertname=~\"{FLEET_ALERTS}\"}}"))?;
    summary.put(
        &DOWN_AFTER,
        single(&down),
        format!(
            "job:dawn_fleet_nodes_down:count after the restart, every exporter reporting dawn_node_up 1 ({}); DawnFleetNodesDown series left: {}; fleet alerts then{}",
            seen(at),
            alert.len(),
            names(&others)
        ),
    );
    summary.put(
        &DOWN_AFTER_S,
        at.map_or(f64::NAN, |d| d.as_secs_f64()),
        "after the last restart, until job:dawn_fleet_nodes_down:count was 0 again",
    );
    // A restarted node's first reports can say 0 or 1 peer: DawnNodeIsolated or
    // DawnFleetPeersLow may go pending for it, and must clear once it has its peers again.
    let (at, left) = p.wait(
        &format!("ALERTS{{alertname=~\"{FLEET_ALERTS}\"}}"),
        since,
        Instant::now() + SCRAPE_INTERVAL * 6,
        |a| a.is_empty(),
    )?;
    summary.put(
        &ALERTS_AFTER,
        left.len() as f64,
        format!(
            "ALERTS{{alertname=~\"{FLEET_ALERTS}\"}} series, any state, after the restart ({}{})",
            seen(at),
            names(&left)
        ),
    );
    summary.put(
        &ALERTS_AFTER_S,
        at.map_or(f64::NAN, |d| d.as_secs_f64()),
        "after the last restart, until no dawn-fleet alert was pending or firing",
    );
    Ok(())
}

/// Every query of the dashboard's Fleet row (the panels after the row titled "Fleet", up to
/// the next row) as Grafana sends it with every variable at "All": how many return no data.
pub(super) fn dashboard(p: &Prometheus, summary: &mut Summary) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(DASHBOARD)?;
    let board: serde_json::Value = serde_json::from_str(&text)?;
    let mut in_row = false;
    let mut queries = Vec::new();
    for panel in board["panels"].as_array().into_iter().flatten() {
        if panel["type"] == "row" {
            in_row = panel["title"] == "Fleet";
            continue;
        }
        if !in_row {
            continue;
        }
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                queries.push((panel["title"].as_str().unwrap_or("?").to_owned(), expr));
            }
        }
    }
    anyhow::ensure!(!queries.is_empty(), "no Fleet row in {DASHBOARD}");
    let mut empty = Vec::new();
    for (title, expr) in &queries {
        let promql = expr
            .replace("${__rate_interval}", RATE_INTERVAL)
            .replace("$__rate_interval", RATE_INTERVAL)
            .replace("$job", ".+")
            .replace("$instance", ".+");
        anyhow::ensure!(
            !promql.contains('$'),
            "unknown Grafana variable in {expr:?}"
        );
        if p.query(&promql)?.is_empty() {
            empty.push(title.as_str());
        }
    }
    summary.put(
        &DASHBOARD_EMPTY,
        empty.len() as f64,
        format!(
            "of the {} queries of the dashboard's Fleet row ($job and $instance at All, $__rate_interval {RATE_INTERVAL}), before the churn{}",
            queries.len(),
            match empty.as_slice() {
                [] => String::new(),
                e => format!("; empty: {}", e.join(", ")),
            }
        ),
    );
    Ok(())
}

/// "at N s" (from the wait's origin) or "not within the deadline".
fn seen(at: Option<Duration>) -> String {
    match at {
        Some(d) => format!("at {:.1} s", d.as_secs_f64()),
        None => "not within the deadline: the last answer".to_owned(),
    }
}

/// `: NAME/STATE, ...` of `ALERTS` samples (`: none` for none).
fn names(alerts: &[Sample]) -> String {
    if alerts.is_empty() {
        return ": none".to_owned();
    }
    let list: Vec<String> = alerts
        .iter()
        .map(|s| format!("{}/{}", s.label("alertname"), s.label("alertstate")))
        .collect();
    format!(": {}", list.join(", "))
}
