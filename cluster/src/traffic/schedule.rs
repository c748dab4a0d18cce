//! What the traffic does in each round (one round a second), as pure functions of the round
//! number and the cluster size, so the plan is testable without a cluster.
//!
//! Every round, each node gets [`STEADY_PER_ROUND`] steady calls and relays one call to the
//! next node; in a cluster of more than [`ACTIVE_PER_ROUND`] nodes, only that many do, a
//! window sliding over the nodes from round to round, so the launcher's calls per second
//! stay the same whatever the size. Every [`BAD_EVERY`] rounds one node gets a bad call. The incidents come on
//! their own periods, staggered so no two share a round, and each time against the next node
//! in turn.

/// Steady calls each node gets per round.
pub(crate) const STEADY_PER_ROUND: usize = 2;
/// Nodes called per round at most.
pub(crate) const ACTIVE_PER_ROUND: usize = 10;
/// Rounds between two bad calls.
pub(crate) const BAD_EVERY: u64 = 3;

/// A well-formed call that succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Steady {
    /// `node/ping`.
    Ping,
    /// `node/info`.
    Info,
    /// `node/peers`.
    Peers,
    /// `agent/list`.
    AgentList,
    /// `kv put` of this node's traffic key.
    KvPut,
    /// `kv get` of it.
    KvGet,
    /// `kv list` of the traffic keys.
    KvList,
    /// `kv delete` of it.
    KvDelete,
    /// `echo echo`.
    Echo,
    /// `echo reverse`.
    Reverse,
}

impl Steady {
    /// In the order they are made (put before get before delete).
    pub(crate) const ALL: [Steady; 10] = [
        Steady::Ping,
        Steady::KvPut,
        Steady::Info,
        Steady::KvGet,
        Steady::Echo,
        Steady::KvList,
        Steady::Peers,
        Steady::KvDelete,
        Steady::AgentList,
        Steady::Reverse,
    ];
}

/// A call the node must refuse with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bad {
    /// A method that does not exist: -32601.
    UnknownMethod,
    /// Params a method does not take: -32602.
    InvalidParams,
    /// Bytes that are not JSON: -32700.
    MalformedJson,
    /// A notification with an unknown method: no reply, counted as a notification error.
    UnknownNotification,
    /// A tool call without its required param: an agent operation with status `error`.
    AgentError,
}

impl Bad {
    /// In the order they are made.
    pub(crate) const ALL: [Bad; 5] = [
        Bad::UnknownMethod,
        Bad::AgentError,
        Bad::InvalidParams,
        Bad::UnknownNotification,
        Bad::MalformedJson,
    ];
}

/// What a node relays to the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Relay {
    /// `node/ping`: the target replies with a result (a response round trip).
    Ping,
    /// `echo echo`: likewise, through an agent.
    Echo,
    /// A method the target does not have: it replies with an error (an error round trip).
    UnknownMethod,
}

impl Relay {
    /// In the order they are made.
    pub(crate) const ALL: [Relay; 3] = [Relay::Ping, Relay::UnknownMethod, Relay::Echo];
}

/// An occasional event that shows a failure path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Incident {
    /// Timed-out relays to a slow peer until the relaying node's breaker for it opens.
    SlowPeer,
    /// A peer that dials a full node (rejected), with the wrong node id (failed), and
    /// properly then hangs up (success, closed).
    RoguePeer,
    /// A fresh client that sends more than the rate limit allows.
    Flood,
}

/// First round and period of an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Every {
    /// The round it first happens in.
    pub(crate) first: u64,
    /// Rounds between two occurrences.
    pub(crate) period: u64,
}

impl Every {
    /// How many times it happened before `round`, if it happens in `round`.
    fn occurrence(self, round: u64) -> Option<u64> {
        let since = round.checked_sub(self.first)?;
        since
            .is_multiple_of(self.period)
            .then(|| since / self.period)
    }
}

/// When each incident happens. The slow peer comes first (its breaker is open, then
/// half-open, then closed again within 25 s), the rogue peer once the mesh has formed and
/// the full node is full, the flood last.
pub(crate) const INCIDENTS: [(Incident, Every); 3] = [
    (
        Incident::SlowPeer,
        Every {
            first: 10,
            period: 60,
        },
    ),
    (
        Incident::RoguePeer,
        Every {
            first: 15,
            period: 30,
        },
    ),
    (
        Incident::Flood,
        Every {
            first: 20,
            period: 60,
        },
    ),
];

/// The incidents of `round`, each with how many times it happened before.
pub(crate) fn incidents(round: u64) -> impl Iterator<Item = (Incident, u64)> {
    INCIDENTS
        .into_iter()
        .filter_map(move |(incident, every)| Some((incident, every.occurrence(round)?)))
}

/// The steady calls node `node` gets in `round`: a window sliding over [`Steady::ALL`].
pub(crate) fn steady(round: u64, node: usize) -> [Steady; STEADY_PER_ROUND] {
    let len = Steady::ALL.len();
    let start = pick(round, len) * STEADY_PER_ROUND + node;
    std::array::from_fn(|j| Steady::ALL[(start + j) % len])
}

/// The nodes called in `round`: every node of a small cluster; in a larger one the next
/// [`ACTIVE_PER_ROUND`] after those of the round before.
pub(crate) fn active(round: u64, nodes: usize) -> impl Iterator<Item = usize> {
    let (start, count) = match nodes <= ACTIVE_PER_ROUND {
        true => (0, nodes),
        false => {
            let start = (u128::from(round) * ACTIVE_PER_ROUND as u128 % nodes as u128) as usize;
            (start, ACTIVE_PER_ROUND)
        }
    };
    (0..count).map(move |k| (start + k) % nodes)
}

/// The bad call of `round`, if any, and the node that gets it.
pub(crate) fn bad(round: u64, nodes: usize) -> Option<(Bad, usize)> {
    if !round.is_multiple_of(BAD_EVERY) || nodes == 0 {
        return None;
    }
    let n = round / BAD_EVERY;
    Some((Bad::ALL[pick(n, Bad::ALL.len())], pick(n, nodes)))
}

/// What every node relays to the next one in `round`.
pub(crate) fn relay(round: u64) -> Relay {
    Relay::ALL[pick(round, Relay::ALL.len())]
}

/// The node after `node` (whom it relays to).
pub(crate) fn next(node: usize, nodes: usize) -> usize {
    (node + 1) % nodes
}

/// The slow-peer pair of the `nth` slow-peer incident: (the relaying node, the slow one).
pub(crate) fn slow_pair(nth: u64, nodes: usize) -> Option<(usize, usize)> {
    (nodes >= 2).then(|| {
        let from = pick(nth, nodes);
        (from, next(from, nodes))
    })
}

/// The node the `nth` flood hits.
pub(crate) fn flood_target(nth: u64, nodes: usize) -> usize {
    pick(nth, nodes.max(1))
}

/// Where the `nth` rogue peer goes: the node it dials with a wrong id, and a node that
/// admits it (any node but `full`, the one with a peer limit; `None` if there is no other).
pub(crate) fn rogue_targets(nth: u64, nodes: usize, full: Option<usize>) -> (usize, Option<usize>) {
    let nodes = nodes.max(1);
    let wrong_id = pick(nth, nodes);
    let others: Vec<usize> = (0..nodes).filter(|&n| Some(n) != full).collect();
    let admits = (!others.is_empty()).then(|| others[pick(nth, others.len())]);
    (wrong_id, admits)
}

/// `n` modulo `len`, as an index (`len` > 0).
fn pick(n: u64, len: usize) -> usize {
    // The remainder is below `len`, so it fits.
    (n % len as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_incident_happens_within_the_first_half_minute_and_never_in_the_same_round() {
        for (incident, _) in INCIDENTS {
            assert!(
                (0..30).any(|r| incidents(r).any(|(i, _)| i == incident)),
                "{incident:?} does not happen in the first 30 rounds"
            );
        }
        for round in 0..100_000 {
            assert!(incidents(round).count() <= 1, "round {round}");
        }
        // Nothing before the nodes have had time to mesh.
        assert!((0..10).all(|r| incidents(r).next().is_none()));
    }

    #[test]
    fn incidents_count_their_occurrences() {
        let slow: Vec<(u64, u64)> = (0..200)
            .flat_map(|r| incidents(r).map(move |(i, n)| (i, r, n)))
            .filter(|(i, _, _)| *i == Incident::SlowPeer)
            .map(|(_, r, n)| (r, n))
            .collect();
        assert_eq!(slow, [(10, 0), (70, 1), (130, 2), (190, 3)]);
    }

    #[test]
    fn steady_calls_cover_every_call_on_every_node() {
        for node in 0..4 {
            let seen: Vec<Steady> = (0..Steady::ALL.len() as u64)
                .flat_map(|r| steady(r, node))
                .collect();
            for call in Steady::ALL {
                assert!(seen.contains(&call), "node {node} never gets {call:?}");
            }
        }
    }

    #[test]
    fn bad_calls_cover_every_kind_and_every_node() {
        let made: Vec<(Bad, usize)> = (0..100).filter_map(|r| bad(r, 3)).collect();
        assert_eq!(made.len(), 34);
        for kind in Bad::ALL {
            assert!(made.iter().any(|(b, _)| *b == kind), "{kind:?} never made");
        }
        for node in 0..3 {
            assert!(
                made.iter().any(|(_, n)| *n == node),
                "node {node} never gets one"
            );
        }
        assert_eq!(bad(1, 3), None);
    }

    #[test]
    fn a_large_cluster_is_called_a_window_at_a_time() {
        assert_eq!(active(7, 3).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(active(0, 10).count(), 10);
        assert_eq!(
            active(0, 25).collect::<Vec<_>>(),
            (0..10).collect::<Vec<_>>()
        );
        assert_eq!(
            active(2, 25).collect::<Vec<_>>(),
            [20, 21, 22, 23, 24, 0, 1, 2, 3, 4]
        );
        // Every node of a hundred is called every ten rounds.
        let mut calls = vec![0; 100];
        for round in 0..10 {
            for n in active(round, 100) {
                calls[n] += 1;
            }
        }
        assert!(calls.iter().all(|&c| c == 1), "{calls:?}");
    }

    #[test]
    fn relays_alternate_results_and_errors() {
        let kinds: Vec<Relay> = (0..3).map(relay).collect();
        assert_eq!(kinds, Relay::ALL);
        assert_eq!(next(2, 3), 0);
    }

    #[test]
    fn incident_targets_rotate_and_stay_valid() {
        assert_eq!(slow_pair(0, 1), None);
        let pairs: Vec<_> = (0..3).filter_map(|n| slow_pair(n, 3)).collect();
        assert_eq!(pairs, [(0, 1), (1, 2), (2, 0)]);
        assert_eq!(
            (0..4).map(|n| flood_target(n, 3)).collect::<Vec<_>>(),
            [0, 1, 2, 0]
        );
        for nth in 0..10 {
            let (wrong, admits) = rogue_targets(nth, 3, Some(0));
            assert!(wrong < 3);
            assert!(matches!(admits, Some(1 | 2)), "{admits:?}");
        }
        // A node alone has no peer limit: it admits the rogue.
        assert_eq!(rogue_targets(0, 1, None), (0, Some(0)));
        assert_eq!(rogue_targets(0, 1, Some(0)), (0, None));
    }
}
