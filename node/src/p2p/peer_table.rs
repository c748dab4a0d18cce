//! The table of connected peers and the admission rules: self, trust, duplicates, limit.
//!
//! The table is the one source of the peer count: every change publishes the new count
//! while the table is still locked ([`PeerTable::watch_count`]), so whoever records
//! `p2p_peers` from it can never be left with an older count than the table's, whatever
//! order connects and disconnects happen in.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

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
