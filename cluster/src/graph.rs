//! The peer graph as the nodes' `node/peers` answers show it, for the mesh wait of a
//! cluster whose nodes have partial views: is it one connected graph, and how wide.

use std::collections::VecDeque;

/// The links both ends list, by node index.
#[derive(Debug)]
pub(crate) struct Graph {
    links: Vec<Vec<usize>>,
    /// Peers each node listed (one-sided links included).
    listed: Vec<usize>,
}

/// What a connected graph looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    /// The fewest and most peers a node listed.
    pub(crate) peers: (usize, usize),
    /// The longest shortest path, in hops.
    pub(crate) diameter: usize,
}

/// Why the graph is not (yet) connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Apart {
    /// These nodes did not answer `node/peers`.
    Silent(Vec<usize>),
    /// The graph has this many components; `isolated` nodes have no mutual link.
    Split { components: usize, isolated: usize },
}

impl Graph {
    /// The graph of `views`: node `i`'s listed peers as node indices (peers that are not
    /// nodes of the cluster left out), `None` when it did not answer.
    pub(crate) fn of(views: &[Option<Vec<usize>>]) -> Result<Graph, Apart> {
        let silent: Vec<usize> = (0..views.len()).filter(|&i| views[i].is_none()).collect();
        if !silent.is_empty() {
            return Err(Apart::Silent(silent));
        }
        let listed: Vec<&Vec<usize>> = views.iter().flatten().collect();
        let links = listed
            .iter()
            .enumerate()
            .map(|(i, peers)| {
                let mut mutual: Vec<usize> = peers
                    .iter()
                    .copied()
                    .filter(|&j| j != i && listed.get(j).is_some_and(|back| back.contains(&i)))
                    .collect();
                mutual.sort_unstable();
                mutual.dedup();
                mutual
            })
            .collect();
        Ok(Graph {
            links,
            listed: listed.iter().map(|p| p.len()).collect(),
        })
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

    /// The shape of the graph when it is connected.
    pub(crate) fn connected(&self) -> Result<Shape, Apart> {
        let n = self.links.len();
        let mut component = vec![None; n];
        let mut components = 0;
        for start in 0..n {
            if component[start].is_some() {
                continue;
            }
            for (node, d) in self.distances(start).into_iter().enumerate() {
                if d.is_some() {
                    component[node] = Some(components);
                }
            }
            components += 1;
        }
        if components > 1 {
            let isolated = self.links.iter().filter(|l| l.is_empty()).count();
            return Err(Apart::Split {
                components,
                isolated,
            });
        }
        let diameter = (0..n)
            .filter_map(|from| self.distances(from).into_iter().flatten().max())
            .max()
            .unwrap_or(0);
        let min = self.listed.iter().copied().min().unwrap_or(0);
        let max = self.listed.iter().copied().max().unwrap_or(0);
        Ok(Shape {
            peers: (min, max),
            diameter,
        })
    }
}

impl std::fmt::Display for Apart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Apart::Silent(nodes) => {
                let shown: Vec<String> =
                    nodes.iter().take(5).map(|i| format!("node-{i}")).collect();
                let more = match nodes.len() {
                    n if n > 5 => format!(" and {} more", n - 5),
                    _ => String::new(),
                };
                write!(f, "{}{more} did not answer node/peers", shown.join(", "))
            }
            Apart::Split {
                components,
                isolated,
            } => write!(
                f,
                "{components} separate groups; nodes without a peer: {isolated}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(views: &[&[usize]]) -> Graph {
        let views: Vec<Option<Vec<usize>>> = views.iter().map(|v| Some(v.to_vec())).collect();
        Graph::of(&views).expect("every node answered")
    }

    #[test]
    fn a_connected_graph_has_a_diameter_and_peer_counts() {
        // 0 - 1 - 2 - 3, and 0 - 2.
        let g = graph(&[&[1, 2], &[0, 2], &[1, 3, 0], &[2]]);
        assert_eq!(
            g.connected(),
            Ok(Shape {
                peers: (1, 3),
                diameter: 2
            })
        );
        assert_eq!(graph(&[&[]]).connected().map(|s| s.diameter), Ok(0));
    }

    #[test]
    fn only_links_both_ends_list_count() {
        // 2 lists 0, but 0 does not list 2: 2 is apart.
        let g = graph(&[&[1], &[0], &[0]]);
        assert_eq!(
            g.connected(),
            Err(Apart::Split {
                components: 2,
                isolated: 1
            })
        );
        assert_eq!(
            Apart::Split {
                components: 2,
                isolated: 1
            }
            .to_string(),
            "2 separate groups; nodes without a peer: 1"
        );
    }

    #[test]
    fn a_silent_node_is_named() {
        let views = vec![Some(vec![1]), None, Some(vec![0])];
        let apart = Graph::of(&views).map(|_| ()).unwrap_err();
        assert_eq!(apart, Apart::Silent(vec![1]));
        assert_eq!(apart.to_string(), "node-1 did not answer node/peers");
        let many = Apart::Silent((0..8).collect());
        assert_eq!(
            many.to_string(),
            "node-0, node-1, node-2, node-3, node-4 and 3 more did not answer node/peers"
        );
    }
}
