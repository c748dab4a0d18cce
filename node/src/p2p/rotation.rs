//! Outbound rotation: a node at its target now and then dials one extra peer far from it
//! and, once connected, closes one of its outbound peers that it can reach another way.
//! Sans-IO: announcements heard, peers, time and randomness go in; the peer to dial and the
//! peer to close come out; the gossip task does the dialing and closing (docs/p2p.md,
//! *Rotation*).
//!
//! Without it, the graph formed in the rush of a star start keeps its layers: every node
//! stops dialing at its target, and nothing rewires it. This is Bitcoin's extra outbound
//! peer (dial one more, then evict one to stay within the target) with libp2p's idea of
//! dialing towards the parts of the network a node does not cover yet: the extra peer is an
//! address that no connected peer listed among its own peers (not within two hops, as far
//! as the node knows), and the peer closed is one whose links the node reaches through its
//! other peers, so closing it never cuts the node off and lengthens no path by more than
//! two hops.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use super::connection::Direction;
use super::node_id::NodeId;
use super::peer_table::{PeerInfo, PeerPolicy};

/// How often a node rotates, and how long what its peers announced counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationConfig {
    /// The first rotation is due this long after the start; after a rotation that
    /// connected, the wait doubles, up to `max_wait`.
    pub first: Duration,
    /// The longest wait between two rotations.
    pub max_wait: Duration,
    /// What a peer listed among its peers counts as its neighbour for this long.
    pub view_ttl: Duration,
    /// A peer is closed by a rotation only once connected for this long (time for it to
    /// have announced its own peers and learned others).
    pub min_age: Duration,
}

impl RotationConfig {
    /// The node's settings for a gossip period: the first rotation one round after the
    /// start, then after 1, 2, 4, ... rounds, at most every 64 rounds or 5 minutes (Bitcoin
    /// rotates its extra outbound peers every few minutes); a peer's announced peers count
    /// for three rounds; a peer is closed after half a round at least, so that the first
    /// rotation can start at the first round, while the graph of a start is still forming.
    pub fn for_gossip(interval: Duration) -> Self {
        Self {
            first: interval,
            max_wait: interval
                .saturating_mul(64)
                .min(Duration::from_secs(300))
                .max(interval),
            view_ttl: interval.saturating_mul(3),
            min_age: interval / 2,
        }
    }
}

/// The rotation state of one node: its peers' announced peers, and when to rotate next.
#[derive(Debug)]
pub struct Rotation {
    local: NodeId,
    config: RotationConfig,
    /// Per peer, the peers it listed and when it last listed each.
    views: HashMap<NodeId, HashMap<NodeId, Instant>>,
    next_at: Instant,
    wait: Duration,
    /// The extra dial in flight, since then.
    dialing: Option<Instant>,
    /// The extra peer connected by the last dial, until its rotation closes another.
    pending: Option<NodeId>,
}

/// A rotation dial not reported back within this long no longer blocks the next one.
const DIAL_STALE: Duration = Duration::from_secs(60);

/// Most node ids kept per peer as its listed peers: what one announcement may list
/// (`node/announce`'s `peers`). A peer announcing again and again with made-up ids cannot
/// grow the view past it; new ids wait for old ones to age out, and those dropped meanwhile
/// are reported by [`Rotation::heard`].
const MAX_VIEW: usize = 256;

impl Rotation {
    /// The rotation state of the node `local` started at `now`.
    pub fn new(local: NodeId, config: RotationConfig, now: Instant) -> Self {
        Self {
            local,
            config,
            views: HashMap::new(),
            next_at: now + config.first,
            wait: config.first,
            dialing: None,
            pending: None,
        }
    }

    /// The settings.
    pub fn config(&self) -> &RotationConfig {
        &self.config
    }

    /// Records that the connected peer `from` listed `listed` among its own peers at `now`;
    /// at most [`MAX_VIEW`] ids per peer are kept (those listed again are refreshed).
    /// Returns how many new ids were dropped because the peer's view was full, for the
    /// caller to count (`p2p_errors_total{error_type="view_full",component="discovery"}`).
    pub fn heard(
        &mut self,
        from: NodeId,
        listed: impl IntoIterator<Item = NodeId>,
        now: Instant,
    ) -> usize {
        let view = self.views.entry(from).or_default();
        let mut dropped = 0;
        for id in listed {
            if id == self.local || id == from {
                continue;
            }
            if let Some(at) = view.get_mut(&id) {
                *at = now;
            } else if view.len() < MAX_VIEW {
                view.insert(id, now);
            } else {
                dropped += 1;
            }
        }
        dropped
    }

    /// Forgets the views of peers no longer connected and listings older than the TTL.
    pub fn expire(&mut self, now: Instant, connected: impl Fn(&NodeId) -> bool) {
        let ttl = self.config.view_ttl;
        self.views.retain(|peer, view| {
            view.retain(|_, at| now.saturating_duration_since(*at) < ttl);
            connected(peer) && !view.is_empty()
        });
    }

    /// What `peer` listed among its peers within the TTL.
    fn view(&self, peer: &NodeId, now: Instant) -> impl Iterator<Item = &NodeId> {
        let ttl = self.config.view_ttl;
        self.views.get(peer).into_iter().flat_map(move |view| {
            view.iter()
                .filter(move |(_, at)| now.saturating_duration_since(**at) < ttl)
                .map(|(id, _)| id)
        })
    }

    /// Whether `id` is this node, one of `peers`, or listed by one of them within the TTL:
    /// within two hops as far as this node knows. A rotation dials only addresses that are
    /// not.
    pub fn is_near(&self, id: &NodeId, peers: &[PeerInfo], now: Instant) -> bool {
        *id == self.local
            || peers
                .iter()
                .any(|p| p.node_id == *id || self.view(&p.node_id, now).any(|listed| listed == id))
    }

    /// How many ways `peer` stays within reach without its link: itself and each peer it
    /// listed, counted when another of `peers` is or lists it. At least 1 means the node
    /// reaches `peer` within three hops through its other peers.
    fn redundancy(&self, peer: &NodeId, peers: &[PeerInfo], now: Instant) -> usize {
        let reach = |id: &NodeId| {
            peers.iter().any(|other| {
                other.node_id != *peer
                    && (other.node_id == *id || self.view(&other.node_id, now).any(|l| l == id))
            })
        };
        std::iter::once(peer)
            .chain(self.view(peer, now))
            .filter(|id| **id != self.local && reach(id))
            .count()
    }

    /// The outbound peer a rotation closes: untrusted, not `keep` (the peer just dialed),
    /// connected for at least `min_age` at `wall`, and reachable through the other peers
    /// ([`Rotation::redundancy`] at least 1); the most redundant, then the oldest. `None`
    /// when no peer qualifies: closing would cut a link the node has no other way round.
    pub fn to_close(
        &self,
        policy: &PeerPolicy,
        peers: &[PeerInfo],
        keep: Option<&NodeId>,
        now: Instant,
        wall: SystemTime,
    ) -> Option<NodeId> {
        peers
            .iter()
            .filter(|p| {
                p.direction == Direction::Outbound
                    && Some(&p.node_id) != keep
                    && !policy.is_trusted(&p.node_id)
                    && wall
                        .duration_since(p.connected_at)
                        .is_ok_and(|age| age >= self.config.min_age)
            })
            .map(|p| (self.redundancy(&p.node_id, peers, now), p))
            .filter(|(redundancy, _)| *redundancy > 0)
            .max_by(|(ra, a), (rb, b)| ra.cmp(rb).then(b.connected_at.cmp(&a.connected_at)))
            .map(|(_, p)| p.node_id)
    }

    /// Whether to dial an extra peer now: the rotation is due, none is in flight or waiting
    /// to close its counterpart, the node is at or above its target with room for one
    /// more, and it has an outbound peer it could close afterwards. The caller then picks a
    /// far address (not [`Rotation::is_near`]) and, when there is one, calls
    /// [`Rotation::started`].
    pub fn wants_extra(
        &self,
        policy: &PeerPolicy,
        peers: &[PeerInfo],
        now: Instant,
        wall: SystemTime,
    ) -> bool {
        let in_flight = self
            .dialing
            .is_some_and(|since| now.saturating_duration_since(since) < DIAL_STALE);
        now >= self.next_at
            && !in_flight
            && self.pending.is_none()
            && peers.len() >= policy.target()
            && peers.len() < policy.max_peers
            && self.to_close(policy, peers, None, now, wall).is_some()
    }

    /// An extra dial started at `now`.
    pub fn started(&mut self, now: Instant) {
        self.dialing = Some(now);
    }

    /// The extra dial ended at `now`, connected to `peer` or not. After a connection the
    /// next rotation waits twice as long as the last (up to `max_wait`), and
    /// [`Rotation::close_due`] closes the counterpart; after a refusal or a failure it waits
    /// as long as the last.
    pub fn ended(&mut self, peer: Option<NodeId>, now: Instant) {
        self.dialing = None;
        self.next_at = now + self.wait;
        if peer.is_some() {
            self.wait = self.wait.saturating_mul(2).min(self.config.max_wait);
        }
        self.pending = peer;
    }

    /// The peer to close now for the extra peer connected last, if any: called a round
    /// after the dial (a full node refuses right after the handshake, so an extra peer that
    /// is still there was admitted). Only when the extra peer is still connected and the
    /// node is above its target, and only a peer [`Rotation::to_close`] allows; either way
    /// the rotation is over.
    pub fn close_due(
        &mut self,
        policy: &PeerPolicy,
        peers: &[PeerInfo],
        now: Instant,
        wall: SystemTime,
    ) -> Option<NodeId> {
        let extra = self.pending.take()?;
        if peers.len() <= policy.target() || !peers.iter().any(|p| p.node_id == extra) {
            return None;
        }
        self.to_close(policy, peers, Some(&extra), now, wall)
    }

    /// When the next rotation is due.
    pub fn next_at(&self) -> Instant {
        self.next_at
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;

    fn id(n: u8) -> NodeId {
        NodeId::from_bytes([n; 32])
    }

    const SECOND: Duration = Duration::from_secs(1);

    fn config() -> RotationConfig {
        RotationConfig {
            first: 2 * SECOND,
            max_wait: 8 * SECOND,
            view_ttl: 6 * SECOND,
            min_age: 2 * SECOND,
        }
    }

    fn wall() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000)
    }

    fn peer(n: u8, direction: Direction, age: u64) -> PeerInfo {
        PeerInfo {
            node_id: id(n),
            remote_addr: SocketAddr::from(([127, 0, 0, 1], 9000 + u16::from(n))),
            direction,
            connected_at: wall() - Duration::from_secs(age),
        }
    }

    #[test]
    fn a_peer_listing_ever_new_ids_keeps_a_bounded_view() {
        let t0 = Instant::now();
        let mut rotation = Rotation::new(id(0), config(), t0);
        let made_up = |i: u32| {
            let mut bytes = [7u8; 32];
            bytes[..4].copy_from_slice(&i.to_le_bytes());
            NodeId::from_bytes(bytes)
        };
        // A thousand announcements of 256 new ids each, within one round: the first is
        // kept whole, every id of the others is dropped and reported.
        let dropped: Vec<usize> = (0..1000u32)
            .map(|round| rotation.heard(id(1), (0..256).map(|i| made_up(round * 256 + i)), t0))
            .collect();
        assert_eq!(dropped[0], 0);
        assert!(dropped[1..].iter().all(|d| *d == 256), "{dropped:?}");
        assert_eq!(rotation.views[&id(1)].len(), MAX_VIEW);
        // The ids kept are refreshed when listed again (not dropped); the rest wait for them
        // to age out. This node's id and the sender's own are skipped, not dropped.
        assert_eq!(
            rotation.heard(id(1), [made_up(0), id(9), id(0), id(1)], t0 + 5 * SECOND),
            1
        );
        assert!(!rotation.views[&id(1)].contains_key(&id(9)));
        rotation.expire(t0 + 7 * SECOND, |_| true);
        assert_eq!(rotation.views[&id(1)].len(), 1);
        assert_eq!(rotation.heard(id(1), [id(9)], t0 + 7 * SECOND), 0);
        assert_eq!(rotation.views[&id(1)].len(), 2);
        // A view of its own per peer: another peer's view is not full.
        assert_eq!(rotation.heard(id(2), [made_up(1), made_up(2)], t0), 0);
    }

    fn policy(max_peers: usize) -> PeerPolicy {
        PeerPolicy {
            max_peers,
            ..PeerPolicy::default()
        }
    }

    #[test]
    fn settings_follow_the_gossip_interval() {
        let fast = RotationConfig::for_gossip(2 * SECOND);
        assert_eq!(fast.first, 2 * SECOND);
        assert_eq!(fast.max_wait, 128 * SECOND);
        assert_eq!(fast.view_ttl, 6 * SECOND);
        assert_eq!(fast.min_age, SECOND);
        let slow = RotationConfig::for_gossip(60 * SECOND);
        assert_eq!(slow.max_wait, 300 * SECOND, "five minutes at most");
        let huge = RotationConfig::for_gossip(600 * SECOND);
        assert_eq!(huge.max_wait, 600 * SECOND, "never below one round");
    }

    #[test]
    fn near_is_a_peer_or_a_peer_s_listed_peer_within_the_ttl() {
        let t0 = Instant::now();
        let mut r = Rotation::new(id(0), config(), t0);
        let peers = [peer(1, Direction::Outbound, 10)];
        r.heard(id(1), [id(2), id(0), id(1)], t0);
        r.heard(id(9), [id(3)], t0); // not a peer: its view does not count
        assert!(r.is_near(&id(0), &peers, t0), "itself");
        assert!(r.is_near(&id(1), &peers, t0), "a peer");
        assert!(r.is_near(&id(2), &peers, t0), "listed by a peer");
        assert!(!r.is_near(&id(3), &peers, t0), "listed by a non-peer only");
        assert!(!r.is_near(&id(4), &peers, t0), "unheard of");
        assert!(
            !r.is_near(&id(2), &peers, t0 + 6 * SECOND),
            "listed too long ago"
        );
        // Listed again: near again; expiry drops non-peers and old listings.
        r.heard(id(1), [id(2)], t0 + 5 * SECOND);
        assert!(r.is_near(&id(2), &peers, t0 + 10 * SECOND));
        r.expire(t0 + 10 * SECOND, |p| *p == id(1));
        assert_eq!(r.views.len(), 1);
        assert_eq!(r.views[&id(1)].len(), 1);
        r.expire(t0 + 20 * SECOND, |p| *p == id(1));
        assert!(r.views.is_empty());
    }

    #[test]
    fn closes_the_most_redundant_old_outbound_peer_and_never_a_bridge() {
        let t0 = Instant::now();
        let mut r = Rotation::new(id(0), config(), t0);
        let policy = policy(8);
        let mut peers = vec![
            peer(1, Direction::Outbound, 100),
            peer(2, Direction::Outbound, 50),
            peer(3, Direction::Inbound, 300),
            peer(4, Direction::Outbound, 1),
        ];
        // Nothing heard: every link may be a bridge, none is closed.
        assert_eq!(r.to_close(&policy, &peers, None, t0, wall()), None);
        // 2 lists 3, a peer too: 2 is in a triangle with this node and 3.
        r.heard(id(2), [id(3)], t0);
        assert_eq!(r.to_close(&policy, &peers, None, t0, wall()), Some(id(2)));
        // 1 is listed by 3 and lists 7, which 3 lists too: redundancy 2 beats 1.
        r.heard(id(3), [id(1), id(7)], t0);
        r.heard(id(1), [id(7)], t0);
        assert_eq!(r.to_close(&policy, &peers, None, t0, wall()), Some(id(1)));
        // Never the peer to keep, an inbound one, a trusted one or a young one.
        assert_eq!(
            r.to_close(&policy, &peers, Some(&id(1)), t0, wall()),
            Some(id(2))
        );
        let mut trusting = policy.clone();
        trusting.trusted.insert(id(1));
        assert_eq!(r.to_close(&trusting, &peers, None, t0, wall()), Some(id(2)));
        r.heard(id(3), [id(4)], t0);
        assert_eq!(
            r.to_close(&policy, &peers, Some(&id(1)), t0, wall()),
            Some(id(2)),
            "4 is redundant but connected 1 s ago"
        );
        // Equally redundant: the oldest.
        peers[1].connected_at = wall() - Duration::from_secs(200);
        r.heard(id(2), [id(7)], t0);
        assert_eq!(r.to_close(&policy, &peers, None, t0, wall()), Some(id(2)));
        // Once the listings are too old, nothing is known to be redundant.
        assert_eq!(
            r.to_close(&policy, &peers, None, t0 + 6 * SECOND, wall()),
            None
        );
    }

    #[test]
    fn the_extra_peer_closes_its_counterpart_only_if_admitted_and_above_the_target() {
        let t0 = Instant::now();
        let policy = policy(4); // target 3
        let mut peers = vec![
            peer(1, Direction::Outbound, 100),
            peer(2, Direction::Outbound, 100),
            peer(3, Direction::Inbound, 100),
            peer(4, Direction::Outbound, 1),
        ];
        let mut r = Rotation::new(id(0), config(), t0);
        r.heard(id(2), [id(1), id(4)], t0);
        r.heard(id(4), [id(1), id(2)], t0);
        assert_eq!(r.close_due(&policy, &peers, t0, wall()), None, "no dial");
        // 4 was the extra: 1 and 2 are redundant, 2 more so (it lists 1 and 4); never 4.
        r.ended(Some(id(4)), t0);
        assert_eq!(r.close_due(&policy, &peers, t0, wall()), Some(id(2)));
        assert_eq!(r.close_due(&policy, &peers, t0, wall()), None, "once");
        // Back at the target meanwhile (someone left): nothing to close.
        r.ended(Some(id(4)), t0);
        assert_eq!(r.close_due(&policy, &peers[1..], t0, wall()), None);
        // The extra peer refused us right after the handshake: nothing to close.
        r.ended(Some(id(4)), t0);
        peers.pop();
        peers.push(peer(5, Direction::Inbound, 100));
        assert_eq!(r.close_due(&policy, &peers, t0, wall()), None);
    }

    #[test]
    fn an_extra_dial_waits_for_its_turn_room_and_something_to_close() {
        let t0 = Instant::now();
        let mut r = Rotation::new(id(0), config(), t0);
        let policy = policy(4); // target 3
        let mut peers = vec![
            peer(1, Direction::Outbound, 100),
            peer(2, Direction::Outbound, 100),
            peer(3, Direction::Inbound, 100),
        ];
        r.heard(id(2), [id(1)], t0);
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert!(!r.wants_extra(&policy, &peers, at(1), wall()), "not due");
        assert!(r.wants_extra(&policy, &peers, at(2), wall()));
        // Below the target: the ordinary dial plan fills the node, not a rotation.
        assert!(!r.wants_extra(&policy, &peers[..2], at(2), wall()));
        // Full: no room for the extra peer.
        peers.push(peer(4, Direction::Inbound, 100));
        assert!(!r.wants_extra(&policy, &peers, at(2), wall()));
        peers.pop();
        // Nothing to close afterwards (no listing): none.
        let unheard = Rotation::new(id(0), config(), t0);
        assert!(!unheard.wants_extra(&policy, &peers, at(2), wall()));

        // One in flight at a time; a refusal retries after the same wait, a connection
        // doubles it, up to the most.
        r.started(at(2));
        assert!(!r.wants_extra(&policy, &peers, at(3), wall()));
        r.ended(None, at(3));
        assert_eq!(r.next_at(), at(5));
        assert!(!r.wants_extra(&policy, &peers, at(4), wall()));
        assert!(r.wants_extra(&policy, &peers, at(5), wall()));
        r.started(at(5));
        r.ended(Some(id(5)), at(5));
        assert_eq!(r.next_at(), at(7));
        assert!(
            !r.wants_extra(&policy, &peers, at(7), wall()),
            "the last one has not closed its counterpart yet"
        );
        assert_eq!(
            r.close_due(&policy, &peers, at(7), wall()),
            None,
            "at the target: nothing to close, and the rotation is over"
        );
        r.heard(id(2), [id(1)], at(7));
        assert!(r.wants_extra(&policy, &peers, at(7), wall()));
        r.ended(Some(id(5)), at(7));
        assert_eq!(r.next_at(), at(11));
        r.ended(Some(id(5)), at(11));
        assert_eq!(r.next_at(), at(19));
        r.ended(Some(id(5)), at(19));
        assert_eq!(r.next_at(), at(27), "at most max_wait");
        r.ended(None, at(27));
        // A dial never reported back stops blocking after a while.
        r.heard(id(2), [id(1)], at(100));
        r.started(at(100));
        assert!(!r.wants_extra(&policy, &peers, at(101), wall()));
        r.heard(id(2), [id(1)], at(160));
        assert!(r.wants_extra(&policy, &peers, at(160), wall()));
    }
}
