//! The node's health rules, as pure functions from facts to a status, message and details
//! (`docs/node.md` lists them for operators).

use std::path::{Path, PathBuf};
use std::time::Duration;

use dawn_proto::{Detail, DetailValue, HealthStatus};

/// A health report before it is sent: status, one-line message, details.
pub type Report = (HealthStatus, String, Vec<Detail>);

/// The node's health checks. Each is reported under its name, so the exporter shows it on
/// `/health` and as `dawn_health_check_status{check}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthCheck {
    /// Whether the node has peers: [`peers`].
    Peers,
    /// Whether its agents loaded and their tools work: [`agents`].
    Agents,
    /// Whether its data root is writable: [`StorageCheck`].
    Storage,
    /// Whether it can find peers: [`discovery`].
    Discovery,
}

impl HealthCheck {
    /// Every check a node reports.
    pub const ALL: [HealthCheck; 4] = [
        HealthCheck::Peers,
        HealthCheck::Agents,
        HealthCheck::Storage,
        HealthCheck::Discovery,
    ];

    /// The name the check is reported under.
    pub const fn name(self) -> &'static str {
        match self {
            HealthCheck::Peers => "peers",
            HealthCheck::Agents => "agents",
            HealthCheck::Storage => "storage",
            HealthCheck::Discovery => "discovery",
        }
    }
}

/// What the checks recomputed on every change and tick are judged on (`storage` is probed
/// on its own schedule by [`StorageCheck`]).
#[derive(Debug, Clone)]
pub struct NodeFacts {
    /// Connected peers now.
    pub peers: usize,
    /// The agents' state.
    pub agents: AgentFacts,
    /// Discovery's state.
    pub discovery: DiscoveryFacts,
}

/// The reports of every check judged on [`NodeFacts`]: a new such check is a variant, its
/// rule below and one line here.
pub(super) fn evaluate(facts: &NodeFacts) -> [(HealthCheck, Report); 3] {
    [
        (HealthCheck::Peers, peers(facts.peers)),
        (HealthCheck::Agents, agents(&facts.agents)),
        (HealthCheck::Discovery, discovery(&facts.discovery)),
    ]
}

fn detail(key: &str, value: DetailValue) -> Detail {
    Detail {
        key: key.to_owned(),
        value,
    }
}

/// `storage`: healthy when the data root is writable, unhealthy with the error otherwise.
pub fn storage(path: &Path, result: Result<(), String>) -> Report {
    let path = detail("path", DetailValue::Text(path.display().to_string()));
    match result {
        Ok(()) => (
            HealthStatus::Healthy,
            "data root is writable".to_owned(),
            vec![path],
        ),
        Err(error) => (
            HealthStatus::Unhealthy,
            error.clone(),
            vec![path, detail("error", DetailValue::Text(error))],
        ),
    }
}

/// `storage` over time: [`storage`] applied to each probe of the data root, remembering
/// whether the root was writable so that a change comes out once, for the caller to act on
/// (readiness, a log line, an error count), as the breaker returns its transitions.
#[derive(Debug, Clone)]
pub struct StorageCheck {
    path: PathBuf,
    writable: bool,
}

impl StorageCheck {
    /// The check of the data root at `path` (as shown to the operator), which was writable
    /// when it was opened.
    pub fn new(path: PathBuf) -> StorageCheck {
        StorageCheck {
            path,
            writable: true,
        }
    }

    /// The report for a probe's `result`, and whether the root is now writable when that
    /// changed since the previous probe.
    pub fn observe(&mut self, result: Result<(), String>) -> (Report, Option<bool>) {
        let writable = result.is_ok();
        let changed = (writable != self.writable).then_some(writable);
        self.writable = writable;
        (storage(&self.path, result), changed)
    }
}

/// `peers`: degraded with no peer (the node works but is isolated, so it is not unhealthy
/// and stays ready), healthy with at least one.
pub(super) fn peers(connected: usize) -> Report {
    let count = detail(
        "connected",
        DetailValue::Int(i64::try_from(connected).unwrap_or(i64::MAX)),
    );
    match connected {
        0 => (
            HealthStatus::Degraded,
            "no peers connected".to_owned(),
            vec![count],
        ),
        1 => (
            HealthStatus::Healthy,
            "1 peer connected".to_owned(),
            vec![count],
        ),
        n => (
            HealthStatus::Healthy,
            format!("{n} peers connected"),
            vec![count],
        ),
    }
}

fn count(key: &str, n: usize) -> Detail {
    detail(key, DetailValue::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

/// What the `agents` check looks at.
#[derive(Debug, Clone, Default)]
pub struct AgentFacts {
    /// Ids of the agents serving calls.
    pub agents: Vec<String>,
    /// Why an agent could not be loaded (e.g. a corrupt kv file), if one could not.
    pub load_error: Option<String>,
    /// The last internal failure of a tool (e.g. a kv write that did not reach the disk)
    /// and how long ago it happened.
    pub last_failure: Option<(Duration, String)>,
}

/// How long after an internal tool failure `agents` stays degraded.
pub const AGENT_FAILURE_MEMORY: Duration = Duration::from_secs(60);

/// `agents`: unhealthy when a built-in agent could not be loaded (its persistent state is
/// unusable), degraded for [`AGENT_FAILURE_MEMORY`] after a tool failed internally,
/// healthy otherwise.
pub(super) fn agents(facts: &AgentFacts) -> Report {
    let mut details = vec![
        count("agents", facts.agents.len()),
        detail("ids", DetailValue::Text(facts.agents.join(","))),
    ];
    if let Some(error) = &facts.load_error {
        details.push(detail("error", DetailValue::Text(error.clone())));
        return (
            HealthStatus::Unhealthy,
            format!("agent unavailable: {error}"),
            details,
        );
    }
    match &facts.last_failure {
        Some((ago, error)) if *ago < AGENT_FAILURE_MEMORY => {
            details.push(detail("error", DetailValue::Text(error.clone())));
            (
                HealthStatus::Degraded,
                format!("an agent tool failed {}s ago: {error}", ago.as_secs()),
                details,
            )
        }
        _ => (
            HealthStatus::Healthy,
            format!("{} agents serving", facts.agents.len()),
            details,
        ),
    }
}

/// What the `discovery` check looks at.
#[derive(Debug, Clone, Default)]
pub struct DiscoveryFacts {
    /// Bootstrap entries configured.
    pub bootstrap: usize,
    /// Peers connected now.
    pub peers: usize,
    /// Peer addresses known (bootstrap, connected, learned by gossip).
    pub known: usize,
    /// How long the node has had no peer (since start, or since the last one left).
    pub isolated_for: Duration,
    /// How long isolation may last before it is unhealthy.
    pub grace: Duration,
}

/// `discovery`: healthy while peers are connected, or when there is nothing to discover
/// (no bootstrap list: a seed node waiting for others); degraded while no bootstrap peer
/// has been reached yet; unhealthy when bootstrap peers are configured but the node has
/// had no peer for longer than the grace period (every bootstrap entry unreachable).
pub(super) fn discovery(facts: &DiscoveryFacts) -> Report {
    let details = vec![
        count("bootstrap", facts.bootstrap),
        count("connected", facts.peers),
        count("known", facts.known),
    ];
    if facts.peers > 0 {
        return (
            HealthStatus::Healthy,
            format!(
                "{} peers connected, {} addresses known",
                facts.peers, facts.known
            ),
            details,
        );
    }
    if facts.bootstrap == 0 {
        return (
            HealthStatus::Healthy,
            "no bootstrap peers configured; waiting for peers to connect".to_owned(),
            details,
        );
    }
    if facts.isolated_for < facts.grace {
        (
            HealthStatus::Degraded,
            format!(
                "no bootstrap peer reached yet ({} configured)",
                facts.bootstrap
            ),
            details,
        )
    } else {
        (
            HealthStatus::Unhealthy,
            format!(
                "no peer reachable for {}s: none of the {} bootstrap peers answers",
                facts.isolated_for.as_secs(),
                facts.bootstrap
            ),
            details,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_has_one_name_and_a_rule() {
        let mut names: Vec<_> = HealthCheck::ALL.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), HealthCheck::ALL.len());
        let facts = NodeFacts {
            peers: 0,
            agents: AgentFacts {
                agents: vec![],
                load_error: None,
                last_failure: None,
            },
            discovery: DiscoveryFacts {
                bootstrap: 0,
                peers: 0,
                known: 0,
                isolated_for: Duration::ZERO,
                grace: Duration::from_secs(1),
            },
        };
        let evaluated: Vec<_> = evaluate(&facts).iter().map(|(c, _)| *c).collect();
        for check in HealthCheck::ALL {
            // Storage is probed on its own schedule; every other check is evaluated.
            assert_eq!(
                evaluated.contains(&check),
                check != HealthCheck::Storage,
                "{check:?}"
            );
        }
    }

    #[test]
    fn peer_rule() {
        assert_eq!(peers(0).0, HealthStatus::Degraded);
        assert_eq!(peers(0).1, "no peers connected");
        assert_eq!(peers(1).0, HealthStatus::Healthy);
        assert_eq!(peers(3).1, "3 peers connected");
        assert_eq!(peers(3).2[0].value, DetailValue::Int(3));
    }

    #[test]
    fn storage_rule() {
        let ok = storage(Path::new("/d"), Ok(()));
        assert_eq!(ok.0, HealthStatus::Healthy);
        assert_eq!(ok.2[0].value, DetailValue::Text("/d".into()));
        let bad = storage(Path::new("/d"), Err("read-only file system".into()));
        assert_eq!(bad.0, HealthStatus::Unhealthy);
        assert_eq!(bad.1, "read-only file system");
    }

    #[test]
    fn storage_check_reports_every_probe_and_each_change_once() {
        let mut check = StorageCheck::new(PathBuf::from("/d"));
        let (report, changed) = check.observe(Ok(()));
        assert_eq!((report.0, changed), (HealthStatus::Healthy, None));
        let (report, changed) = check.observe(Err("read-only file system".into()));
        assert_eq!((report.0, changed), (HealthStatus::Unhealthy, Some(false)));
        assert_eq!(report.1, "read-only file system");
        let (report, changed) = check.observe(Err("still read-only".into()));
        assert_eq!((report.0, changed), (HealthStatus::Unhealthy, None));
        assert_eq!(report.1, "still read-only", "every probe is reported");
        let (report, changed) = check.observe(Ok(()));
        assert_eq!((report.0, changed), (HealthStatus::Healthy, Some(true)));
        assert_eq!(report.2[0].value, DetailValue::Text("/d".into()));
    }

    #[test]
    fn agents_rule() {
        let mut facts = AgentFacts {
            agents: vec!["echo".into(), "kv".into()],
            ..AgentFacts::default()
        };
        assert_eq!(agents(&facts).0, HealthStatus::Healthy);
        facts.last_failure = Some((Duration::from_secs(5), "disk full".into()));
        assert_eq!(agents(&facts).0, HealthStatus::Degraded);
        facts.last_failure = Some((AGENT_FAILURE_MEMORY, "disk full".into()));
        assert_eq!(agents(&facts).0, HealthStatus::Healthy);
        facts.load_error = Some("kv.json is corrupt".into());
        let (status, message, _) = agents(&facts);
        assert_eq!(status, HealthStatus::Unhealthy);
        assert!(message.contains("kv.json is corrupt"), "{message}");
    }

    #[test]
    fn discovery_rule() {
        let mut facts = DiscoveryFacts {
            grace: Duration::from_secs(60),
            ..DiscoveryFacts::default()
        };
        assert_eq!(discovery(&facts).0, HealthStatus::Healthy, "seed node");
        facts.bootstrap = 2;
        facts.isolated_for = Duration::from_secs(10);
        assert_eq!(discovery(&facts).0, HealthStatus::Degraded);
        facts.isolated_for = Duration::from_secs(61);
        assert_eq!(discovery(&facts).0, HealthStatus::Unhealthy);
        facts.peers = 1;
        assert_eq!(discovery(&facts).0, HealthStatus::Healthy);
    }
}
