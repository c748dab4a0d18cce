//! The node settings the cluster sets (over any `PROJECT_DAWN_*` in the caller's
//! environment), chosen so that its traffic shows every behaviour within a minute or two:
//! a quick mesh, breakers that open and close again within seconds, a rate limit that a
//! flood exceeds and that recovers fast, and one node that is full.

use std::time::Duration;

use dawn_node::app::{ENV_GOSSIP_INTERVAL, ENV_MAX_PEERS};
use dawn_node::p2p::{DEFAULT_MAX_PEERS, PeerPolicy};
use dawn_node::resilience::{
    BreakerConfig, ENV_CB_THRESHOLD, ENV_CB_TIMEOUT, ENV_RATE_LIMIT_MAX, ENV_RATE_LIMIT_WINDOW,
    RateLimitConfig,
};

/// Gossip period unless `--gossip-interval` says otherwise: a chain of nodes becomes a mesh
/// within a few of these.
pub(crate) const GOSSIP_INTERVAL: Duration = Duration::from_secs(5);
/// Consecutive failed calls that open a breaker (the node's default).
pub(crate) const CB_THRESHOLD: u32 = BreakerConfig::DEFAULT_THRESHOLD;
/// How long an opened breaker stays open before it goes half-open.
pub(crate) const CB_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests and notifications one sender may send per window (the node's default) ...
pub(crate) const RATE_LIMIT_MAX: u32 = RateLimitConfig::DEFAULT_MAX;
/// ... per this sliding window (the node's default is 60 s; 10 s lets the steady traffic
/// run at a few calls per second and a flooded node recover quickly).
pub(crate) const RATE_LIMIT_WINDOW: Duration = Duration::from_secs(10);
/// The node whose peer limit is exactly the rest of the cluster, so that it is full once
/// the mesh has formed and refuses any further peer.
pub(crate) const FULL_NODE: usize = 0;

/// What `--gossip-interval` and `--max-peers` set, for every node of the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Peering {
    /// The gossip period of every node.
    pub(crate) gossip: Duration,
    /// The peer limit of every node (node-0's is at most the rest of the cluster); `None`:
    /// the node's default, [`DEFAULT_MAX_PEERS`].
    pub(crate) max_peers: Option<usize>,
}

impl Default for Peering {
    fn default() -> Self {
        Peering {
            gossip: GOSSIP_INTERVAL,
            max_peers: None,
        }
    }
}

impl Peering {
    /// The peer limit the nodes run with.
    pub(crate) fn limit(&self) -> usize {
        self.max_peers.unwrap_or(DEFAULT_MAX_PEERS)
    }

    /// Whether `nodes` nodes become a full mesh: every node but node-0 dials until it has
    /// its target (the limit less a quarter: docs/p2p.md, *Discovery*), so only a target of
    /// the rest of the cluster or more connects everyone to everyone. Otherwise each node
    /// has a partial view and the cluster is formed once its peer graph is connected.
    pub(crate) fn full_mesh(&self, nodes: usize) -> bool {
        let policy = PeerPolicy {
            max_peers: self.limit(),
            ..PeerPolicy::default()
        };
        policy.target() >= nodes.saturating_sub(1)
    }

    /// The environment of node `index` in a cluster of `nodes`.
    pub(crate) fn node_env(&self, index: usize, nodes: usize) -> Vec<(&'static str, String)> {
        let secs = |d: Duration| format!("{}s", d.as_secs());
        let mut env = vec![
            (
                ENV_GOSSIP_INTERVAL,
                dawn_daemon::config::HumanDuration(self.gossip).to_string(),
            ),
            (ENV_CB_THRESHOLD, CB_THRESHOLD.to_string()),
            (ENV_CB_TIMEOUT, secs(CB_TIMEOUT)),
            (ENV_RATE_LIMIT_MAX, RATE_LIMIT_MAX.to_string()),
            (ENV_RATE_LIMIT_WINDOW, secs(RATE_LIMIT_WINDOW)),
        ];
        if let Some(max) = self.max_peers(index, nodes) {
            env.push((ENV_MAX_PEERS, max.to_string()));
        }
        env
    }

    /// The peer limit of node `index`: for [`FULL_NODE`] (when there is a rest) the rest of
    /// the cluster, or the cluster's limit if that is lower; for the others `--max-peers`,
    /// or the node's default without it.
    pub(crate) fn max_peers(&self, index: usize, nodes: usize) -> Option<usize> {
        match index == FULL_NODE && nodes >= 2 {
            true => Some(self.limit().min(nodes - 1)),
            false => self.max_peers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_full_node_of_a_real_cluster_gets_a_peer_limit() {
        let default = Peering::default();
        assert_eq!(default.max_peers(FULL_NODE, 3), Some(2));
        assert_eq!(default.max_peers(FULL_NODE + 1, 3), None);
        // A node alone cannot have a limit of 0 (the node accepts 1-10000).
        assert_eq!(default.max_peers(FULL_NODE, 1), None);
        let env = default.node_env(FULL_NODE, 3);
        assert!(env.contains(&(ENV_MAX_PEERS, "2".to_owned())));
        assert!(env.contains(&(ENV_CB_TIMEOUT, "10s".to_owned())));
        assert!(env.contains(&(ENV_GOSSIP_INTERVAL, "5s".to_owned())));
    }

    #[test]
    fn max_peers_goes_to_every_node_and_caps_the_full_node() {
        let peering = Peering {
            gossip: Duration::from_millis(1500),
            max_peers: Some(8),
        };
        assert_eq!(peering.max_peers(FULL_NODE, 100), Some(8));
        assert_eq!(peering.max_peers(5, 100), Some(8));
        assert_eq!(peering.max_peers(FULL_NODE, 4), Some(3));
        let env = peering.node_env(7, 100);
        assert!(env.contains(&(ENV_MAX_PEERS, "8".to_owned())));
        assert!(env.contains(&(ENV_GOSSIP_INTERVAL, "1500ms".to_owned())));
    }

    #[test]
    fn a_full_mesh_only_while_the_dial_target_reaches_everyone() {
        let default = Peering::default();
        // The node's default limit of 50 dials up to 38 peers.
        assert!(default.full_mesh(3));
        assert!(default.full_mesh(39));
        assert!(!default.full_mesh(40));
        let eight = Peering {
            max_peers: Some(8),
            ..Peering::default()
        };
        assert!(eight.full_mesh(7));
        assert!(!eight.full_mesh(8));
        assert!(!eight.full_mesh(100));
    }
}
