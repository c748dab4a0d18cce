//! The peer graph of a Dawn network as its nodes' `node/peers` answers show it: which
//! links both ends list, whether they make one connected graph, how wide it is (its
//! diameter, by breadth-first search) and how the peer counts spread.
//!
//! The cluster launcher waits on it before starting traffic, the fleet benchmark measures
//! it and the discovery test asserts on it; they read it here, from one implementation, so
//! that "connected" and "diameter" mean the same thing in all three.
//!
//! Only mutual links count: a node may list a peer for a moment after that peer dropped it
//! (or before it accepted), and such a one-sided link carries no gossip both ways. The
//! nodes are indexed `0..n`, as the caller numbers them; a view is `None` when its node
//! did not answer, and then the graph is not known at all ([`NotConnected::Silent`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

/// How many silent nodes [`NotConnected`]'s message names before it only counts them.
const SILENT_NAMED: usize = 5;

/// The links both ends list, by node index, and how many peers each node listed.
#[derive(Debug, Clone)]
pub struct PeerGraph {
    /// Each node's mutual peers, sorted, without itself.
    links: Vec<Vec<usize>>,
    /// How many peers each node listed, one-sided links included: what a node's peer
    /// limit bounds.
    listed: Vec<usize>,
}

/// The least, mean and most of a count over the nodes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Counts {
    /// The fewest.
    pub min: usize,
    /// The mean.
    pub mean: f64,
    /// The most.
    pub max: usize,
}

/// What a connected graph looks like.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    /// The longest shortest path between two nodes, in hops.
    pub diameter: usize,
    /// Peers per node, counting only mutual links.
    pub mutual: Counts,
    /// Peers per node as each listed them (one-sided links included).
    pub listed: Counts,
}

/// Why the answers do not (yet) make one connected graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotConnected {
    /// These nodes did not answer `node/peers`.
    Silent(Vec<usize>),
    /// The mutual links make `components` separate groups.
    Split {
        /// How many groups no mutual link joins.
        components: usize,
        /// How many nodes have no mutual link at all.
        isolated: usize,
        /// The nodes node 0 cannot reach.
        apart: Vec<usize>,
    },
}

impl PeerGraph {
    /// The graph of `views`: node `i`'s listed peers as node indices, `None` when it did
    /// not answer. An index that is not a node (`>= views.len()`) makes no link but counts
    /// as listed.
    pub fn of(views: &[Option<Vec<usize>>]) -> Result<PeerGraph, NotConnected> {
        silent(views)?;
        let peers: Vec<&[usize]> = views.iter().flatten().map(Vec::as_slice).collect();
        let listed = peers.iter().map(|p| p.len()).collect();
        Ok(PeerGraph::keep_mutual(&peers, listed))
    }

    /// The graph of `views` given as node ids, where `ids[i]` is node `i`'s id: what a
    /// `node/peers` answer holds. Ids of nodes outside `ids` make no link but count as
    /// listed.
    pub fn of_ids<S: AsRef<str>>(
        views: &[Option<BTreeSet<String>>],
        ids: &[S],
    ) -> Result<PeerGraph, NotConnected> {
        silent(views)?;
        let index: BTreeMap<&str, usize> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_ref(), i))
            .collect();
        let peers: Vec<Vec<usize>> = views
            .iter()
            .flatten()
            .map(|view| {
                view.iter()
                    .filter_map(|id| index.get(id.as_str()).copied())
                    .collect()
            })
            .collect();
        let peers: Vec<&[usize]> = peers.iter().map(Vec::as_slice).collect();
        let listed = views.iter().flatten().map(BTreeSet::len).collect();
        Ok(PeerGraph::keep_mutual(&peers, listed))
    }

    /// Keeps the links of `peers` that both ends list.
    fn keep_mutual(peers: &[&[usize]], listed: Vec<usize>) -> PeerGraph {
        let links = peers
            .iter()
            .enumerate()
            .map(|(i, mine)| {
                let mut both: Vec<usize> = mine
                    .iter()
                    .copied()
                    .filter(|&j| j != i && peers.get(j).is_some_and(|back| back.contains(&i)))
                    .collect();
                both.sort_unstable();
                both.dedup();
                both
            })
            .collect();
        PeerGraph { links, listed }
    }

    /// How many nodes the graph has.
    pub fn nodes(&self) -> usize {
        self.links.len()
    }

    /// Node `node`'s mutual peers (0 for an index that is not a node).
    pub fn mutual(&self, node: usize) -> usize {
        self.links.get(node).map_or(0, Vec::len)
    }

    /// How many peers node `node` listed, one-sided links included (0 for an index that
    /// is not a node).
    pub fn listed(&self, node: usize) -> usize {
        self.listed.get(node).copied().unwrap_or(0)
    }

    /// The spread of mutual peer counts, connected or not.
    pub fn mutual_counts(&self) -> Counts {
        Counts::of(self.links.iter().map(Vec::len))
    }

    /// The spread of listed peer counts, connected or not.
    pub fn listed_counts(&self) -> Counts {
        Counts::of(self.listed.iter().copied())
    }

    /// Hops from `from` to every node (`None`: unreachable).
    fn distances(&self, from: usize) -> Vec<Option<usize>> {
        let mut dist = vec![None; self.links.len()];
        dist[from] = Some(0);
        let mut queue = VecDeque::from([(from, 0)]);
        while let Some((n, d)) = queue.pop_front() {
            for &m in &self.links[n] {
                if dist[m].is_none() {
                    dist[m] = Some(d + 1);
                    queue.push_back((m, d + 1));
                }
            }
        }
        dist
    }

    /// The shape of the graph when its mutual links connect every node (a graph of no node
    /// or one is connected, of diameter 0); otherwise how it is split.
    pub fn connected(&self) -> Result<Shape, NotConnected> {
        let n = self.links.len();
        let mut component: Vec<Option<usize>> = vec![None; n];
        let mut components = 0;
        let mut diameter = 0;
        for from in 0..n {
            let dist = self.distances(from);
            diameter = diameter.max(dist.iter().flatten().copied().max().unwrap_or(0));
            if component[from].is_none() {
                for (node, d) in dist.iter().enumerate() {
                    if d.is_some() {
                        component[node] = Some(components);
                    }
                }
                components += 1;
            }
        }
        if components > 1 {
            return Err(NotConnected::Split {
                components,
                isolated: self.links.iter().filter(|l| l.is_empty()).count(),
                apart: (0..n).filter(|&i| component[i] != Some(0)).collect(),
            });
        }
        Ok(Shape {
            diameter,
            mutual: self.mutual_counts(),
            listed: self.listed_counts(),
        })
    }
}

/// `Err` naming the nodes whose view is `None`.
fn silent<V>(views: &[Option<V>]) -> Result<(), NotConnected> {
    let silent: Vec<usize> = (0..views.len()).filter(|&i| views[i].is_none()).collect();
    match silent.is_empty() {
        true => Ok(()),
        false => Err(NotConnected::Silent(silent)),
    }
}

impl Counts {
    /// The spread of `counts` (all 0 when there are none).
    fn of(counts: impl Iterator<Item = usize> + Clone) -> Counts {
        let n = counts.clone().count();
        Counts {
            min: counts.clone().min().unwrap_or(0),
            mean: counts.clone().sum::<usize>() as f64 / n.max(1) as f64,
            max: counts.max().unwrap_or(0),
        }
    }
}

impl fmt::Display for NotConnected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotConnected::Silent(nodes) => {
                let shown: Vec<String> = nodes
                    .iter()
                    .take(SILENT_NAMED)
                    .map(|i| format!("node-{i}"))
                    .collect();
                let more = match nodes.len() {
                    n if n > SILENT_NAMED => format!(" and {} more", n - SILENT_NAMED),
                    _ => String::new(),
                };
                write!(f, "{}{more} did not answer node/peers", shown.join(", "))
            }
            NotConnected::Split {
                components,
                isolated,
                ..
            } => write!(
                f,
                "{components} separate groups; nodes without a peer: {isolated}"
            ),
        }
    }
}

impl std::error::Error for NotConnected {}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(views: &[&[usize]]) -> PeerGraph {
        let views: Vec<Option<Vec<usize>>> = views.iter().map(|v| Some(v.to_vec())).collect();
        PeerGraph::of(&views).expect("every node answered")
    }

    fn counts(min: usize, mean: f64, max: usize) -> Counts {
        Counts { min, mean, max }
    }

    #[test]
    fn a_connected_graph_has_a_diameter_and_peer_counts() {
        // 0 - 1 - 2 - 3, and 0 - 2.
        let g = graph(&[&[1, 2], &[0, 2], &[1, 3, 0], &[2]]);
        assert_eq!(
            g.connected(),
            Ok(Shape {
                diameter: 2,
                mutual: counts(1, 2.0, 3),
                listed: counts(1, 2.0, 3),
            })
        );
        assert_eq!(graph(&[&[]]).connected().map(|s| s.diameter), Ok(0));
        assert_eq!(graph(&[]).connected().map(|s| s.diameter), Ok(0));
    }

    #[test]
    fn a_chain_has_its_length_as_diameter() {
        let g = graph(&[&[1], &[0, 2], &[1, 3], &[2]]);
        let shape = g.connected().expect("a chain is connected");
        assert_eq!(shape.diameter, 3);
        assert_eq!(shape.mutual, counts(1, 1.5, 2));
        assert_eq!((g.mutual(1), g.listed(1)), (2, 2));
    }

    #[test]
    fn only_links_both_ends_list_count() {
        // 2 lists 0, but 0 does not list 2: 2 is apart, though it listed a peer.
        let g = graph(&[&[1], &[0], &[0]]);
        let split = NotConnected::Split {
            components: 2,
            isolated: 1,
            apart: vec![2],
        };
        assert_eq!(g.connected(), Err(split.clone()));
        assert_eq!(
            split.to_string(),
            "2 separate groups; nodes without a peer: 1"
        );
        assert_eq!((g.mutual(2), g.listed(2)), (0, 1));
        assert_eq!(g.mutual_counts(), counts(0, 2.0 / 3.0, 1));
        assert_eq!(g.listed_counts().max, 1);
    }

    #[test]
    fn a_self_link_or_an_index_outside_the_graph_makes_no_link() {
        let g = graph(&[&[0, 1, 7], &[0, 1]]);
        assert_eq!((g.mutual(0), g.listed(0)), (1, 3));
        assert_eq!(g.connected().map(|s| s.diameter), Ok(1));
    }

    #[test]
    fn a_silent_node_is_named() {
        let views = vec![Some(vec![1]), None, Some(vec![0])];
        let silent = PeerGraph::of(&views).map(|_| ()).unwrap_err();
        assert_eq!(silent, NotConnected::Silent(vec![1]));
        assert_eq!(silent.to_string(), "node-1 did not answer node/peers");
        let many = NotConnected::Silent((0..8).collect());
        assert_eq!(
            many.to_string(),
            "node-0, node-1, node-2, node-3, node-4 and 3 more did not answer node/peers"
        );
    }

    #[test]
    fn ids_are_mapped_to_indices_and_strangers_only_listed() {
        let ids = ["a", "b", "c"];
        let view = |peers: &[&str]| Some(peers.iter().map(|p| p.to_string()).collect());
        let views = vec![view(&["b", "x"]), view(&["a", "c"]), view(&["b"])];
        let g = PeerGraph::of_ids(&views, &ids).expect("every node answered");
        assert_eq!((g.mutual(0), g.listed(0)), (1, 2));
        assert_eq!(g.connected().map(|s| s.diameter), Ok(2));
        let mut views = views;
        views[0] = None;
        assert_eq!(
            PeerGraph::of_ids(&views, &ids).map(|_| ()),
            Err(NotConnected::Silent(vec![0]))
        );
    }
}
