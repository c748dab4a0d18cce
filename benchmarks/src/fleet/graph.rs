//! The fleet's peer graph: [`dawn_daemon::peer_graph`] (the cluster launcher and the
//! discovery test read the same one) over the nodes' `node/peers` answers as node ids, with
//! the figures the fleet group records and its own wording of why a poll found the graph
//! not connected (which nodes, for the trace and the summary's notes).

use std::collections::BTreeSet;
use std::fmt;

use dawn_daemon::peer_graph::{self, PeerGraph};

/// Every node's peers as node ids, by node index (`None`: the node did not answer).
pub(super) type Views = Vec<Option<BTreeSet<String>>>;

/// The graph of mutual links.
#[derive(Debug)]
pub(super) struct Graph(PeerGraph);

/// Why the views do not make one connected graph (yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NotConnected(peer_graph::NotConnected);

impl fmt::Display for NotConnected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            peer_graph::NotConnected::Silent(n) => {
                write!(f, "{} nodes did not answer: {n:?}", n.len())
            }
            peer_graph::NotConnected::Split { apart, .. } => {
                write!(
                    f,
                    "{} nodes unreachable from node 0: {apart:?}",
                    apart.len()
                )
            }
        }
    }
}

impl Graph {
    /// The graph of `views`, where `ids[i]` is node `i`'s id; ids of nodes outside the
    /// fleet are ignored.
    pub(super) fn of(views: &Views, ids: &[String]) -> Result<Graph, NotConnected> {
        PeerGraph::of_ids(views, ids)
            .map(Graph)
            .map_err(NotConnected)
    }

    /// The diameter when the graph is connected; otherwise the nodes node 0 cannot reach.
    pub(super) fn diameter(&self) -> Result<usize, NotConnected> {
        self.0.connected().map(|s| s.diameter).map_err(NotConnected)
    }

    /// Mutual peer counts: (least, mean, most).
    pub(super) fn degrees(&self) -> (usize, f64, usize) {
        let c = self.0.mutual_counts();
        (c.min, c.mean, c.max)
    }

    /// How many peers node `i` lists (one-sided links included).
    pub(super) fn listed(&self, i: usize) -> usize {
        self.0.listed(i)
    }

    /// The most peers any node lists.
    pub(super) fn max_listed(&self) -> usize {
        self.0.listed_counts().max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reasons_name_the_nodes() {
        let ids: Vec<String> = (0..3).map(|i| format!("n{i}")).collect();
        let view = |peers: &[usize]| Some(peers.iter().map(|&j| ids[j].clone()).collect());
        // 2 lists 1, but 1 does not list 2.
        let g = Graph::of(&vec![view(&[1]), view(&[0]), view(&[1])], &ids).unwrap();
        assert_eq!(
            g.diameter().map_err(|e| e.to_string()),
            Err("1 nodes unreachable from node 0: [2]".to_string())
        );
        assert_eq!((g.listed(2), g.max_listed(), g.degrees().2), (1, 1, 1));
        let silent = Graph::of(&vec![view(&[1]), None, None], &ids).map(|_| ());
        assert_eq!(
            silent.map_err(|e| e.to_string()),
            Err("2 nodes did not answer: [1, 2]".to_string())
        );
    }
}
