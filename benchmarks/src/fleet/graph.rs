//! The peer graph the nodes' `node/peers` answers make: connections both ends list, whether
//! they form one graph, its diameter and the spread of peer counts (ported from
//! `tests/tests/p2p_discovery.rs`, which the benchmarks cannot depend on).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Every node's peers as node ids, by node index (`None`: the node did not answer).
pub(super) type Views = Vec<Option<BTreeSet<String>>>;

/// The graph of mutual links.
#[derive(Debug)]
pub(super) struct Graph {
    /// Peers of each node, by index, counting only links both ends list.
    links: Vec<BTreeSet<usize>>,
    /// Peers each node lists (one-sided links included), by index.
    listed: Vec<usize>,
}

/// Why the views do not make one connected graph (yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum NotConnected {
    /// These nodes did not answer `node/peers`.
    Silent(Vec<usize>),
    /// These nodes cannot be reached from node 0.
    Apart(Vec<usize>),
}

impl std::fmt::Display for NotConnected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotConnected::Silent(n) => write!(f, "{} nodes did not answer: {n:?}", n.len()),
            NotConnected::Apart(n) => write!(f, "{} nodes unreachable from node 0: {n:?}", n.len()),
        }
    }
}

impl Graph {
    /// The graph of `views`, where `ids[i]` is node `i`'s id; ids of nodes outside the
    /// fleet are ignored.
    pub(super) fn of(views: &Views, ids: &[String]) -> Result<Graph, NotConnected> {
        let silent: Vec<usize> = (0..views.len()).filter(|i| views[*i].is_none()).collect();
        if !silent.is_empty() {
            return Err(NotConnected::Silent(silent));
        }
        let index: BTreeMap<&str, usize> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        let sets: Vec<BTreeSet<usize>> = views
            .iter()
            .flatten()
            .map(|view| {
                view.iter()
                    .filter_map(|id| index.get(id.as_str()).copied())
                    .collect()
            })
            .collect();
        let links = sets
            .iter()
            .enumerate()
            .map(|(i, peers)| {
                peers
                    .iter()
                    .copied()
                    .filter(|j| sets[*j].contains(&i))
                    .collect()
            })
            .collect();
        let listed = views.iter().flatten().map(BTreeSet::len).collect();
        Ok(Graph { links, listed })
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

    /// The diameter when the graph is connected; otherwise the nodes node 0 cannot reach.
    pub(super) fn diameter(&self) -> Result<usize, NotConnected> {
        let apart: Vec<usize> = self
            .distances(0)
            .iter()
            .enumerate()
            .filter_map(|(i, d)| d.is_none().then_some(i))
            .collect();
        if !apart.is_empty() {
            return Err(NotConnected::Apart(apart));
        }
        Ok((0..self.links.len())
            .flat_map(|from| self.distances(from))
            .flatten()
            .max()
            .unwrap_or(0))
    }

    /// Mutual peer counts: (least, mean, most).
    pub(super) fn degrees(&self) -> (usize, f64, usize) {
        let d: Vec<usize> = self.links.iter().map(BTreeSet::len).collect();
        let mean = d.iter().sum::<usize>() as f64 / d.len().max(1) as f64;
        (
            d.iter().copied().min().unwrap_or(0),
            mean,
            d.iter().copied().max().unwrap_or(0),
        )
    }

    /// How many peers node `i` lists (one-sided links included).
    pub(super) fn listed(&self, i: usize) -> usize {
        self.listed.get(i).copied().unwrap_or(0)
    }

    /// The most peers any node lists.
    pub(super) fn max_listed(&self) -> usize {
        self.listed.iter().copied().max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn views(lists: &[&[usize]]) -> (Views, Vec<String>) {
        let ids: Vec<String> = (0..lists.len()).map(|i| format!("n{i}")).collect();
        let views = lists
            .iter()
            .map(|l| Some(l.iter().map(|j| ids[*j].clone()).collect()))
            .collect();
        (views, ids)
    }

    #[test]
    fn a_chain_is_connected_with_its_length_as_diameter() {
        let (v, ids) = views(&[&[1], &[0, 2], &[1, 3], &[2]]);
        let g = Graph::of(&v, &ids).unwrap();
        assert_eq!(g.diameter(), Ok(3));
        assert_eq!(g.degrees(), (1, 1.5, 2));
        assert_eq!(g.listed(1), 2);
        assert_eq!(g.max_listed(), 2);
    }

    #[test]
    fn one_sided_links_and_silent_nodes_do_not_connect() {
        // 2 lists 1, but 1 does not list 2.
        let (v, ids) = views(&[&[1], &[0], &[1]]);
        let g = Graph::of(&v, &ids).unwrap();
        assert_eq!(g.diameter(), Err(NotConnected::Apart(vec![2])));
        let (mut v, ids) = views(&[&[1], &[0]]);
        v[1] = None;
        assert_eq!(
            Graph::of(&v, &ids).err(),
            Some(NotConnected::Silent(vec![1]))
        );
    }
}
