//! The table of connected peers and the admission rules: self, trust, duplicates, limit.
//!
//! The table is the one source of the peer count: every change publishes the new count
//! while the table is still locked ([`PeerTable::watch_count`]), so whoever records
//! `p2p_peers` from it can never be left with an older count than the table's, whatever
//! order connects and disconnects happen in.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use super::codes::RejectReason;
use super::connection::{Direction, PeerConnection};
use super::node_id::NodeId;
use super::source::SourceAddress;

/// Default for [`PeerPolicy::max_peers`].
pub const DEFAULT_MAX_PEERS: usize = 50;

/// Who may be connected, and how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerPolicy {
    /// Connected peers at most; connections beyond it are closed with
    /// [`CloseCode::PeerLimit`](super::CloseCode::PeerLimit). A new connection from an
    /// already connected peer does not count as an extra peer.
    pub max_peers: usize,
    /// Admit only the nodes in `trusted` (`PROJECT_DAWN_REJECT_UNKNOWN=true`).
    pub reject_unknown: bool,
    /// The trusted node ids: with `reject_unknown`, the only nodes admitted; always exempt
    /// from the client fair share (and, in the node, from the per-address and global rate
    /// limits).
    pub trusted: HashSet<NodeId>,
}

impl PeerPolicy {
    /// Whether `node` is in the trusted list.
    pub fn is_trusted(&self, node: &NodeId) -> bool {
        self.trusted.contains(node)
    }

    /// Peers the node dials towards: `max_peers` less a margin of a quarter (rounded
    /// down), so every node keeps room for newcomers, as Bitcoin keeps most of its slots for
    /// inbound peers and gossipsub dials only up to its D below D_hi. 4 -> 3, 8 -> 6,
    /// 50 -> 38; below 4 there is no margin.
    pub fn target(&self) -> usize {
        self.max_peers - self.max_peers / 4
    }
}

/// The inbound peers a full node closes to get back to its [`PeerPolicy::target`], so
/// that a node everyone bootstraps from takes newcomers again and hands them on instead of
/// staying full (gossipsub prunes down to D with peer exchange the same way).
///
/// Only when the table is full, and at most `wanted` (the newcomers refused meanwhile: room
/// is made on demand, one for one, as Bitcoin evicts an inbound peer only to admit a new
/// one; shedding full nodes without demand makes the shed peers dial others full in turn,
/// and the network never settles); only inbound peers (outbound ones this node chose),
/// never trusted ones, and only those connected for at least `min_age` (time to have
/// learned other addresses); the oldest first.
pub(crate) fn to_shed(
    policy: &PeerPolicy,
    peers: &[PeerInfo],
    now: SystemTime,
    min_age: Duration,
    wanted: usize,
) -> Vec<NodeId> {
    if peers.len() < policy.max_peers {
        return Vec::new();
    }
    let excess = (peers.len() - policy.target()).min(wanted);
    let mut candidates: Vec<&PeerInfo> = peers
        .iter()
        .filter(|p| {
            p.direction == Direction::Inbound
                && !policy.is_trusted(&p.node_id)
                && now
                    .duration_since(p.connected_at)
                    .is_ok_and(|age| age >= min_age)
        })
        .collect();
    candidates.sort_by_key(|p| p.connected_at);
    candidates
        .into_iter()
        .take(excess)
        .map(|p| p.node_id)
        .collect()
}

impl Default for PeerPolicy {
    fn default() -> Self {
        Self {
            max_peers: DEFAULT_MAX_PEERS,
            reject_unknown: false,
            trusted: HashSet::new(),
        }
    }
}

/// What the table knows about a connected peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's authenticated id.
    pub node_id: NodeId,
    /// Its address on the current connection.
    pub remote_addr: SocketAddr,
    /// Who dialed the current connection.
    pub direction: Direction,
    /// Since when the peer has been connected without interruption (a duplicate connection
    /// replacing another keeps this time).
    pub connected_at: SystemTime,
}

/// The table's decision about a new authenticated connection.
#[derive(Debug)]
pub enum Admission {
    /// A new peer; `peers` is the count including it.
    Admitted {
        /// The peer as recorded.
        peer: PeerInfo,
        /// Connected peers now.
        peers: usize,
    },
    /// The peer was already connected and the new connection wins the tie-break: the caller
    /// closes `old` with [`CloseCode::Duplicate`](super::CloseCode::Duplicate).
    Replaced {
        /// The connection that lost.
        old: PeerConnection,
    },
    /// The peer was already connected and the existing connection wins: the caller closes
    /// the new one with [`CloseCode::Duplicate`](super::CloseCode::Duplicate).
    KeptExisting {
        /// The connection that stays.
        existing: PeerConnection,
    },
    /// Refused; the caller closes the new connection with `reason.close_code()`.
    Rejected(RejectReason),
}

/// The pure admission rule, separate from the table so it can be tested exhaustively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Admit,
    Replace,
    KeepExisting,
    Reject(RejectReason),
}

/// Decides about a new connection to `peer` dialed in `direction`, given the direction of
/// the existing connection to that peer, if any.
///
/// Duplicates (both nodes dialed each other at once) must be resolved the same way on both
/// sides without talking: keep the connection dialed by the node with the smaller id. When
/// both connections were dialed by the same side, the newer one wins: the older is most
/// likely a leftover the peer already abandoned (it restarted or changed address).
pub(crate) fn decide(
    local: NodeId,
    policy: &PeerPolicy,
    peer_count: usize,
    peer: NodeId,
    direction: Direction,
    existing: Option<Direction>,
) -> Decision {
    if peer == local {
        return Decision::Reject(RejectReason::SelfConnection);
    }
    if policy.reject_unknown && !policy.trusted.contains(&peer) {
        return Decision::Reject(RejectReason::Untrusted);
    }
    if let Some(existing) = existing {
        if existing == direction {
            return Decision::Replace;
        }
        let dialer = |dir| match dir {
            Direction::Outbound => local,
            Direction::Inbound => peer,
        };
        return if dialer(direction) == local.min(peer) {
            Decision::Replace
        } else {
            Decision::KeepExisting
        };
    }
    if peer_count >= policy.max_peers {
        return Decision::Reject(RejectReason::PeerLimit);
    }
    Decision::Admit
}

struct Entry {
    connection: PeerConnection,
    info: PeerInfo,
}

/// What the lock guards: the peers, and how many untrusted ones each source address has.
#[derive(Default)]
struct Peers {
    by_id: HashMap<NodeId, Entry>,
    untrusted_by_source: HashMap<SourceAddress, usize>,
}

impl Peers {
    /// Counts `info`'s peer in (`+1`) or out (`-1`) of its source address, if untrusted.
    fn count_source(&mut self, policy: &PeerPolicy, info: &PeerInfo, delta: isize) {
        if policy.is_trusted(&info.node_id) {
            return;
        }
        let source = SourceAddress::of(info.remote_addr.ip());
        let n = self.untrusted_by_source.entry(source).or_default();
        *n = n.saturating_add_signed(delta);
        if *n == 0 {
            self.untrusted_by_source.remove(&source);
        }
    }
}

/// Connected peers by id; at most one connection per peer.
///
/// Thread-safe; every method holds the lock only briefly and never across an await.
pub struct PeerTable {
    local: NodeId,
    policy: PeerPolicy,
    peers: Mutex<Peers>,
    count: watch::Sender<usize>,
}

impl PeerTable {
    /// An empty table for the node `local` under `policy`.
    pub fn new(local: NodeId, policy: PeerPolicy) -> Self {
        Self {
            local,
            policy,
            peers: Mutex::new(Peers::default()),
            count: watch::channel(0).0,
        }
    }

    /// The count of connected peers, published at every change while the table is locked:
    /// the receiver always ends on the table's count (the `p2p_peers` gauge reads it).
    pub fn watch_count(&self) -> watch::Receiver<usize> {
        self.count.subscribe()
    }

    /// Untrusted peers connected from `source` now (each brings its own rate-limit budget
    /// to its address).
    pub fn untrusted_from(&self, source: &SourceAddress) -> usize {
        self.lock()
            .untrusted_by_source
            .get(source)
            .copied()
            .unwrap_or(0)
    }

    /// The admission policy.
    pub fn policy(&self) -> &PeerPolicy {
        &self.policy
    }

    /// Applies the admission rules to a new connection and records it when it is kept.
    /// The caller closes whichever connection the result says lost.
    pub fn admit(&self, connection: PeerConnection, now: SystemTime) -> Admission {
        let mut guard = self.lock();
        let peers = &mut *guard;
        let count = peers.by_id.len();
        let info = PeerInfo {
            node_id: connection.node_id(),
            remote_addr: connection.remote_addr(),
            direction: connection.direction(),
            connected_at: now,
        };
        let peer = info.node_id;
        match peers.by_id.get_mut(&peer) {
            Some(entry) => {
                let existing = Some(entry.connection.direction());
                match decide(
                    self.local,
                    &self.policy,
                    count,
                    peer,
                    info.direction,
                    existing,
                ) {
                    Decision::Reject(reason) => Admission::Rejected(reason),
                    Decision::KeepExisting => Admission::KeptExisting {
                        existing: entry.connection.clone(),
                    },
                    // `decide` never admits next to an existing entry; replacing is the
                    // only sound reading of it.
                    Decision::Replace | Decision::Admit => {
                        let info = PeerInfo {
                            connected_at: entry.info.connected_at,
                            ..info
                        };
                        let old = std::mem::replace(entry, Entry { connection, info });
                        peers.count_source(&self.policy, &old.info, -1);
                        peers.count_source(&self.policy, &info, 1);
                        Admission::Replaced {
                            old: old.connection,
                        }
                    }
                }
            }
            None => match decide(self.local, &self.policy, count, peer, info.direction, None) {
                Decision::Reject(reason) => Admission::Rejected(reason),
                // Without an existing entry every other decision means: record it.
                Decision::Admit | Decision::Replace | Decision::KeepExisting => {
                    peers.by_id.insert(peer, Entry { connection, info });
                    peers.count_source(&self.policy, &info, 1);
                    let count = peers.by_id.len();
                    self.count.send_replace(count);
                    Admission::Admitted {
                        peer: info,
                        peers: count,
                    }
                }
            },
        }
    }

    /// Removes the peer if `connection` is still its current connection (a connection that
    /// lost a duplicate tie-break is not); returns its info and the remaining count.
    pub fn remove(&self, connection: &PeerConnection) -> Option<(PeerInfo, usize)> {
        let mut guard = self.lock();
        let peers = &mut *guard;
        let current = peers
            .by_id
            .get(&connection.node_id())
            .is_some_and(|e| e.connection.stable_id() == connection.stable_id());
        if !current {
            return None;
        }
        let entry = peers.by_id.remove(&connection.node_id())?;
        peers.count_source(&self.policy, &entry.info, -1);
        let count = peers.by_id.len();
        self.count.send_replace(count);
        Some((entry.info, count))
    }

    /// The connection to `peer`, if connected.
    pub fn get(&self, peer: &NodeId) -> Option<PeerConnection> {
        self.lock().by_id.get(peer).map(|e| e.connection.clone())
    }

    /// Whether `peer` is connected.
    pub fn contains(&self, peer: &NodeId) -> bool {
        self.lock().by_id.contains_key(peer)
    }

    /// All connected peers, ordered by node id (stable output for `node/peers`).
    pub fn peers(&self) -> Vec<PeerInfo> {
        let mut peers: Vec<PeerInfo> = self.lock().by_id.values().map(|e| e.info).collect();
        peers.sort_by_key(|info| info.node_id);
        peers
    }

    /// All current connections (e.g. to close them at shutdown).
    pub fn connections(&self) -> Vec<PeerConnection> {
        self.lock()
            .by_id
            .values()
            .map(|e| e.connection.clone())
            .collect()
    }

    /// Connected peers now (the `p2p_peers` gauge).
    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    /// Whether no peer is connected.
    pub fn is_empty(&self) -> bool {
        self.lock().by_id.is_empty()
    }

    /// Whether a new peer would be refused for the peer limit (dialers skip dialing then).
    pub fn is_full(&self) -> bool {
        self.lock().by_id.len() >= self.policy.max_peers
    }

    fn lock(&self) -> MutexGuard<'_, Peers> {
        // The maps stay consistent even if a holder panicked: every update is one call.
        self.peers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for PeerTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerTable")
            .field("local", &self.local.short())
            .field("policy", &self.policy)
            .field("peers", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{Inbound, Outbound};

    fn id(byte: u8) -> NodeId {
        NodeId::from_bytes([byte; 32])
    }

    #[test]
    fn admission_rules_table() {
        let open = PeerPolicy {
            max_peers: 2,
            ..PeerPolicy::default()
        };
        let trusted_only = PeerPolicy {
            max_peers: 2,
            reject_unknown: true,
            trusted: [id(5)].into_iter().collect(),
        };
        let reject = Decision::Reject;
        // (local, policy, count, peer, direction, existing, expected)
        let cases = [
            (id(3), &open, 0, id(5), Inbound, None, Decision::Admit),
            (id(3), &open, 1, id(5), Outbound, None, Decision::Admit),
            (
                id(3),
                &open,
                2,
                id(5),
                Inbound,
                None,
                reject(RejectReason::PeerLimit),
            ),
            (
                id(3),
                &open,
                0,
                id(3),
                Outbound,
                None,
                reject(RejectReason::SelfConnection),
            ),
            (
                id(3),
                &trusted_only,
                0,
                id(5),
                Inbound,
                None,
                Decision::Admit,
            ),
            (
                id(3),
                &trusted_only,
                0,
                id(6),
                Inbound,
                None,
                reject(RejectReason::Untrusted),
            ),
            (
                id(3),
                &trusted_only,
                0,
                id(6),
                Outbound,
                None,
                reject(RejectReason::Untrusted),
            ),
            // Duplicates are resolved before the limit: a full table still takes them.
            (
                id(3),
                &open,
                2,
                id(5),
                Inbound,
                Some(Inbound),
                Decision::Replace,
            ),
            (
                id(3),
                &open,
                2,
                id(5),
                Outbound,
                Some(Outbound),
                Decision::Replace,
            ),
            // Crossing dials: keep the one dialed by the smaller id (3 here).
            (
                id(3),
                &open,
                2,
                id(5),
                Outbound,
                Some(Inbound),
                Decision::Replace,
            ),
            (
                id(3),
                &open,
                2,
                id(5),
                Inbound,
                Some(Outbound),
                Decision::KeepExisting,
            ),
            (
                id(5),
                &open,
                2,
                id(3),
                Inbound,
                Some(Outbound),
                Decision::Replace,
            ),
            (
                id(5),
                &open,
                2,
                id(3),
                Outbound,
                Some(Inbound),
                Decision::KeepExisting,
            ),
        ];
        for (i, (local, policy, count, peer, dir, existing, expected)) in
            cases.into_iter().enumerate()
        {
            assert_eq!(
                decide(local, policy, count, peer, dir, existing),
                expected,
                "case {i}"
            );
        }
    }

    #[test]
    fn targets_keep_a_margin_of_a_quarter() {
        let target = |max_peers| {
            PeerPolicy {
                max_peers,
                ..PeerPolicy::default()
            }
            .target()
        };
        let cases = [(1, 1), (3, 3), (4, 3), (8, 6), (50, 38), (10_000, 7_500)];
        for (max, want) in cases {
            assert_eq!(target(max), want, "max_peers {max}");
        }
    }

    #[test]
    fn a_full_node_sheds_its_oldest_inbound_untrusted_peers_down_to_its_target_on_demand() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let min_age = Duration::from_secs(10);
        let info = |n: u8, direction, age: u64| PeerInfo {
            node_id: id(n),
            remote_addr: SocketAddr::from(([127, 0, 0, 1], 9000 + u16::from(n))),
            direction,
            connected_at: t0 - Duration::from_secs(age),
        };
        let mut policy = PeerPolicy {
            max_peers: 8,
            ..PeerPolicy::default()
        };
        let mut peers = vec![
            info(1, Inbound, 100),
            info(2, Outbound, 500),
            info(3, Inbound, 300),
            info(4, Inbound, 5),
            info(5, Inbound, 200),
            info(6, Inbound, 400),
            info(7, Outbound, 50),
        ];
        assert!(
            to_shed(&policy, &peers, t0, min_age, 5).is_empty(),
            "not full"
        );
        peers.push(info(8, Inbound, 600));
        // Full (8): back to 6, the two oldest inbound ones; 2 is older but outbound.
        assert_eq!(to_shed(&policy, &peers, t0, min_age, 5), vec![id(8), id(6)]);
        policy.trusted.insert(id(8));
        assert_eq!(to_shed(&policy, &peers, t0, min_age, 5), vec![id(6), id(3)]);
        // Only as many as newcomers were refused; none without one.
        assert_eq!(to_shed(&policy, &peers, t0, min_age, 1), vec![id(6)]);
        assert!(to_shed(&policy, &peers, t0, min_age, 0).is_empty());
        // Too young to shed (4 at 5 s) is never picked, even when nothing else is left.
        let young = [info(1, Outbound, 100), info(4, Inbound, 5)];
        let small = PeerPolicy {
            max_peers: 2,
            ..PeerPolicy::default()
        };
        assert!(to_shed(&small, &young, t0, min_age, 5).is_empty());
        // Below 4, the target is the limit: nothing to shed.
        let old = [info(1, Inbound, 100), info(3, Inbound, 300)];
        assert!(to_shed(&small, &old, t0, min_age, 5).is_empty());
    }

    #[test]
    fn both_sides_keep_the_same_connection_of_a_crossing_pair() {
        // Connection A dialed by x, connection B dialed by y; each side sees one as
        // outbound and the other as inbound, in either arrival order.
        for (x, y) in [(id(1), id(2)), (id(2), id(1))] {
            let policy = PeerPolicy::default();
            // x sees A outbound first, then B inbound.
            let x_keeps_b = decide(x, &policy, 1, y, Inbound, Some(Outbound)) == Decision::Replace;
            // y sees B outbound first, then A inbound (the other arrival order).
            let y_keeps_a = decide(y, &policy, 1, x, Inbound, Some(Outbound)) == Decision::Replace;
            assert_ne!(x_keeps_b, y_keeps_a, "both must keep the same connection");
        }
    }
}
