//! The node settings the cluster sets (over any `PROJECT_DAWN_*` in the caller's
//! environment), chosen so that its traffic shows every behaviour within a minute or two:
//! a quick mesh, breakers that open and close again within seconds, a rate limit that a
//! flood exceeds and that recovers fast, and one node that is full.

use std::time::Duration;

use dawn_node::app::{ENV_GOSSIP_INTERVAL, ENV_MAX_PEERS};
use dawn_node::resilience::{
    BreakerConfig, ENV_CB_THRESHOLD, ENV_CB_TIMEOUT, ENV_RATE_LIMIT_MAX, ENV_RATE_LIMIT_WINDOW,
    RateLimitConfig,
};

/// Gossip period: a chain of nodes becomes a mesh within a few of these.
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

/// The environment of node `index` in a cluster of `nodes`.
pub(crate) fn node_env(index: usize, nodes: usize) -> Vec<(&'static str, String)> {
    let secs = |d: Duration| format!("{}s", d.as_secs());
    let mut env = vec![
        (ENV_GOSSIP_INTERVAL, secs(GOSSIP_INTERVAL)),
        (ENV_CB_THRESHOLD, CB_THRESHOLD.to_string()),
        (ENV_CB_TIMEOUT, secs(CB_TIMEOUT)),
        (ENV_RATE_LIMIT_MAX, RATE_LIMIT_MAX.to_string()),
        (ENV_RATE_LIMIT_WINDOW, secs(RATE_LIMIT_WINDOW)),
    ];
    if let Some(max) = max_peers(index, nodes) {
        env.push((ENV_MAX_PEERS, max.to_string()));
    }
    env
}

/// The peer limit of node `index`: the rest of the cluster for [`FULL_NODE`] (when there is
/// a rest), the node's default for the others.
pub(crate) fn max_peers(index: usize, nodes: usize) -> Option<usize> {
    (index == FULL_NODE && nodes >= 2).then(|| nodes - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_full_node_of_a_real_cluster_gets_a_peer_limit() {
        assert_eq!(max_peers(FULL_NODE, 3), Some(2));
        assert_eq!(max_peers(FULL_NODE + 1, 3), None);
        // A node alone cannot have a limit of 0 (the node accepts 1-10000).
        assert_eq!(max_peers(FULL_NODE, 1), None);
        let env = node_env(FULL_NODE, 3);
        assert!(env.contains(&(ENV_MAX_PEERS, "2".to_owned())));
        assert!(env.contains(&(ENV_CB_TIMEOUT, "10s".to_owned())));
    }
}
