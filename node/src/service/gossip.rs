//! Discovery: the peer exchange and the dial plan, around the p2p layer's
//! [`AddressBook`](crate::p2p::AddressBook) (docs/p2p.md, *Discovery*).
//!
//! - Every gossip interval the node sends each connected peer a `node/announce`
//!   notification with a random sample of its book drawn for that peer: up to
//!   [`SAMPLE_PEERS`] connected peers (`peers`) and up to [`SAMPLE`] addresses it knows,
//!   connected or not, each with the age of its last first-hand news (`known`).
//! - A node about to close a peer for lack of room (refused at the limit, or shed to make
//!   room) first sends it the same sample as a `node/announce` request, so a newcomer
//!   refused by a full bootstrap node still learns where else to go.
//! - A node below its target dials addresses from its book, a few at a time, with backoff
//!   per address; the dial task is woken at once by news of addresses and by a lost peer.
//! - A full node that knows other addresses sheds its oldest inbound peers down to its
//!   target each round ([`Network::shed`](crate::p2p::Network::shed)).
//! - A node at its target now and then dials one far address as an extra peer, then closes
//!   an outbound peer it reaches another way ([`Rotation`](crate::p2p::Rotation)).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;
use serde_json::{Value, json};

use super::methods::ANNOUNCE;
use super::{Shared, lock};
use crate::catalogue::{Component, MessageStatus, NodeFailure};
use crate::p2p::{DialOutcome, Network, NodeId, PeerAddr, Role, Sender, TransportError};
use crate::rpc::{self, Message, MessageType};

/// Most peers listed in `peers` of one announcement read.
pub(super) const MAX_ANNOUNCED: usize = 256;
/// Most entries of `known` in one announcement read.
pub(super) const MAX_KNOWN: usize = 64;
/// Largest `age` of a `known` entry accepted, in seconds (a day).
pub(super) const MAX_AGE_SECS: u64 = 86_400;
/// Connected peers listed in `peers` of one announcement sent.
///
/// With [`SAMPLE`], small enough that a network of 10 nodes fills the sample as a network
/// of 100 does, so that a node's gossip costs the same per round whatever the network's
/// size (docs/scale.md: with 8 and 16, an announcement took 1.4 KB at 10 nodes and 2.2 KB
/// from 30 on, and the cost per node at 100 nodes was up to 1.59 times the 10-node cost).
const SAMPLE_PEERS: usize = 4;
/// Addresses listed in `known` of one announcement sent (Bitcoin's reply to `getaddr` is
/// a random part of the book too; gossipsub's peer exchange on prune sends up to 16).
const SAMPLE: usize = 8;
/// Dials in flight at once from the book.
const MAX_DIALS: usize = 4;

/// The params of `node/announce` sent to `recipient`: a fresh random sample for it.
pub(super) fn announcement(
    shared: &Shared,
    network: &Network,
    recipient: Option<&NodeId>,
) -> Value {
    let mut rng = rand::rng();
    let now = Instant::now();
    let peers: Vec<String> = {
        use rand::seq::IteratorRandom;
        network
            .peers()
            .into_iter()
            .filter(|p| Some(&p.node_id) != recipient)
            .choose_multiple(&mut rng, SAMPLE_PEERS)
            .into_iter()
            .map(|p| PeerAddr::from_socket_addr(p.remote_addr, Some(p.node_id)).to_string())
            .collect()
    };
    let known: Vec<Value> = lock(&shared.book)
        .sample(now, SAMPLE, recipient, &mut rng)
        .into_iter()
        .map(|(addr, age)| json!({ "peer": addr.to_string(), "age": age.as_secs() }))
        .collect();
    json!({ "peers": peers, "known": known })
}

/// The gossip loop: one announcement round per interval.
pub(super) async fn run(shared: Arc<Shared>) {
    let interval = shared.config.gossip_interval;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        round(&shared).await;
    }
}

/// Refreshes and ages the book, announces a sample to each peer, and sheds peers when
/// full and other addresses are known.
async fn round(shared: &Arc<Shared>) {
    let Some(network) = shared.network() else {
        return;
    };
    let interval = shared.config.gossip_interval;
    let gone = lock(&shared.book).expire(Instant::now(), |id| network.is_connected(id));
    for addr in gone {
        tracing::debug!(peer = %addr, "no news of peer for a while; address forgotten");
    }
    let timeout = interval.min(Duration::from_secs(10));
    for peer in network.peers() {
        let params = announcement(shared, network, Some(&peer.node_id));
        let message = rpc::encode(&Message::notification(ANNOUNCE, Some(params)));
        let status = match network.notify(&peer.node_id, &message, timeout).await {
            Ok(()) => MessageStatus::Success,
            Err(error) => {
                tracing::debug!(peer = %peer.node_id.short(), error = %error, "announcement not delivered");
                shared.metrics.error(error.kind(), Component::Discovery);
                MessageStatus::Error
            }
        };
        shared
            .metrics
            .message(MessageType::Notification, status, message.len());
    }
    let others_known = lock(&shared.book).knows_others(|id| network.is_connected(id));
    if network.is_full() && others_known {
        network.shed(interval * 2);
    }
    rotate(shared, network);
}

/// Rotation (docs/p2p.md, *Rotation*), once a round: closes the counterpart of the extra
/// peer connected since the last round, or, when due, dials one far address (listed by no
/// peer as one of its own) as the extra peer.
fn rotate(shared: &Arc<Shared>, network: &Network) {
    let now = Instant::now();
    let wall = SystemTime::now();
    let peers = network.peers();
    let policy = network.policy();
    let addr = {
        let mut rotation = lock(&shared.rotation);
        rotation.expire(now, |id| network.is_connected(id));
        if let Some(peer) = rotation.close_due(policy, &peers, now, wall) {
            network.rotate_out(&peer);
            return;
        }
        if !rotation.wants_extra(policy, &peers, now, wall) {
            return;
        }
        let far = |id: &NodeId| !rotation.is_near(id, &peers, now);
        let Some(addr) = lock(&shared.book)
            .plan_dials_where(now, 1, far, &mut rand::rng())
            .pop()
        else {
            return;
        };
        rotation.started(now);
        addr
    };
    let (shared, network) = (Arc::clone(shared), network.clone());
    tokio::spawn(async move {
        let outcome = dial_outcome(&network, &addr).await;
        let now = Instant::now();
        if let Some(id) = addr.node_id {
            lock(&shared.book).dial_ended(&id, outcome, now, rand::random());
        }
        let connected = addr.node_id.filter(|_| outcome == DialOutcome::Connected);
        tracing::debug!(peer = %addr, ?outcome, "rotation: extra outbound peer dialed");
        lock(&shared.rotation).ended(connected, now);
    });
}

/// Dials `addr` and says how it went, as the book records it.
async fn dial_outcome(network: &Network, addr: &PeerAddr) -> DialOutcome {
    match network.connect_peer(addr).await {
        Ok(_) => DialOutcome::Connected,
        // Refused by this node itself (it filled up meanwhile): try later.
        Err(TransportError::Rejected { .. }) => DialOutcome::Refused,
        Err(error) => {
            tracing::debug!(peer = %addr, error = %error, "dial of a known address failed");
            DialOutcome::Failed
        }
    }
}

/// The dial loop: while below its target, the node dials addresses from its book, at most
/// [`MAX_DIALS`] at once, every half gossip interval (0.1-5 s) or at once when woken.
pub(super) async fn dial(shared: Arc<Shared>) {
    let tick = (shared.config.gossip_interval / 2)
        .clamp(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            () = shared.dial_now.notified() => {}
        }
        plan_dials(&shared);
    }
}

fn plan_dials(shared: &Arc<Shared>) {
    let Some(network) = shared.network() else {
        return;
    };
    if !network.wants_peers() {
        return;
    }
    let now = Instant::now();
    let plan = {
        let mut book = lock(&shared.book);
        let room = MAX_DIALS.saturating_sub(book.dials_in_progress(now));
        let want = network
            .policy()
            .target()
            .saturating_sub(network.peer_count())
            .min(room);
        book.plan_dials(now, want, |id| network.is_connected(id), &mut rand::rng())
    };
    for addr in plan {
        let (shared, network) = (Arc::clone(shared), network.clone());
        tokio::spawn(async move {
            let outcome = dial_outcome(&network, &addr).await;
            if let Some(id) = addr.node_id {
                lock(&shared.book).dial_ended(&id, outcome, Instant::now(), rand::random());
            }
            if outcome != DialOutcome::Connected {
                shared.dial_now.notify_one();
            }
        });
    }
}

/// One entry of `known`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Known {
    peer: String,
    age: u64,
}

/// The params of `node/announce`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Announce {
    #[serde(default)]
    peers: Vec<String>,
    #[serde(default)]
    known: Vec<Known>,
}

/// Parses one listed address, which must name its node.
fn listed(entry: &str) -> Result<PeerAddr, String> {
    let addr: PeerAddr = entry.parse().map_err(|e| format!("{e}"))?;
    if addr.node_id.is_none() {
        return Err(format!("peer `{entry}` lacks its @NODE_ID"));
    }
    Ok(addr)
}

/// An announcement read.
#[derive(Debug)]
struct Parsed {
    /// Every listed address with the age of its news (`peers` first, at age 0).
    addrs: Vec<(PeerAddr, Duration)>,
    /// How many of `addrs` the sender listed among its connected peers (`peers`).
    peers: usize,
}

/// Reads the params of `node/announce`: every listed address with the age of its news,
/// or why they are not an announcement (a bound exceeded, an age out of range, an address
/// without its id).
fn parse(params: Option<Value>) -> Result<Parsed, String> {
    let announce: Announce = params
        .ok_or_else(|| "missing params {\"peers\": [...], \"known\": [...]}".to_owned())
        .and_then(|p| serde_json::from_value(p).map_err(|e| format!("invalid params: {e}")))?;
    if announce.peers.len() > MAX_ANNOUNCED {
        return Err(format!(
            "{} peers listed; at most {MAX_ANNOUNCED} are accepted",
            announce.peers.len()
        ));
    }
    if announce.known.len() > MAX_KNOWN {
        return Err(format!(
            "{} known addresses listed; at most {MAX_KNOWN} are accepted",
            announce.known.len()
        ));
    }
    let mut addrs = Vec::with_capacity(announce.peers.len() + announce.known.len());
    for entry in &announce.peers {
        addrs.push((listed(entry)?, Duration::ZERO));
    }
    for entry in &announce.known {
        if entry.age > MAX_AGE_SECS {
            return Err(format!(
                "age {} of `{}` is out of range 0-{MAX_AGE_SECS} seconds",
                entry.age, entry.peer
            ));
        }
        addrs.push((listed(&entry.peer)?, Duration::from_secs(entry.age)));
    }
    Ok(Parsed {
        addrs,
        peers: announce.peers.len(),
    })
}

/// Takes an announcement (a gossip notification, or the addresses a node hands over when
/// it closes us): records every listed address with its age and wakes the dial task when
/// the node wants peers. Returns how many addresses were new, or the reason the params
/// are not an announcement (nothing is learned then).
pub(super) fn receive(
    shared: &Shared,
    from: &Sender,
    params: Option<Value>,
) -> Result<usize, String> {
    // A client is served, not a peer: it has no say in where peers are.
    if from.role != Role::Peer {
        return Err("node/announce is accepted from peers only, not from clients".to_owned());
    }
    let Parsed { addrs, peers } = parse(params)?;
    let Some(network) = shared.network() else {
        return Ok(0);
    };
    let now = Instant::now();
    // A connected peer's own peers are within two hops: what a rotation dials away from.
    // The ids its full view did not keep are counted, not refused: the rest is learned.
    if network.is_connected(&from.node_id) {
        let listed = addrs[..peers].iter().filter_map(|(addr, _)| addr.node_id);
        let dropped = lock(&shared.rotation).heard(from.node_id, listed, now);
        if dropped > 0 {
            tracing::debug!(from = %from.node_id.short(), dropped, "peer's view full; listed ids dropped");
            shared.metrics.errors(
                NodeFailure::ViewFull.as_str(),
                Component::Discovery,
                dropped as u64,
            );
        }
    }
    let new = {
        let mut book = lock(&shared.book);
        addrs
            .into_iter()
            .filter(|(addr, age)| book.learn(addr.clone(), *age, now))
            .count()
    };
    if new > 0 {
        tracing::debug!(from = %from.node_id.short(), new, "learned peer addresses");
    }
    if network.wants_peers() {
        shared.dial_now.notify_one();
    }
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn announcements_are_bounded_and_validated() {
        let peer = format!("127.0.0.1:9000@{ID}");
        let parsed = parse(Some(json!({
            "peers": [peer],
            "known": [{"peer": format!("[::1]:9001@{ID}"), "age": 30}],
        })))
        .unwrap();
        assert_eq!((parsed.addrs.len(), parsed.peers), (2, 1));
        assert_eq!(parsed.addrs[0], (peer.parse().unwrap(), Duration::ZERO));
        assert_eq!(parsed.addrs[1].1, Duration::from_secs(30));
        // The older form, `peers` only, is still an announcement; so is `known` only.
        let only_peers = parse(Some(json!({ "peers": [peer] }))).unwrap();
        assert_eq!((only_peers.addrs.len(), only_peers.peers), (1, 1));
        assert!(
            parse(Some(json!({ "known": [] })))
                .unwrap()
                .addrs
                .is_empty()
        );

        let many = |n: usize| vec![peer.clone(); n];
        let known = |n: usize, age: u64| vec![json!({"peer": peer, "age": age}); n];
        let cases: Vec<(Option<Value>, &str)> = vec![
            (None, "missing params"),
            (Some(json!("peers")), "invalid params"),
            (
                Some(json!({"peers": [peer], "extra": 1})),
                "unknown field `extra`",
            ),
            (
                Some(json!({ "peers": many(MAX_ANNOUNCED + 1) })),
                "at most 256",
            ),
            (
                Some(json!({ "known": known(MAX_KNOWN + 1, 0) })),
                "at most 64",
            ),
            (
                Some(json!({ "known": known(1, MAX_AGE_SECS + 1) })),
                "out of range 0-86400",
            ),
            (
                Some(json!({ "known": [{"peer": peer, "age": -1}] })),
                "invalid params",
            ),
            (
                Some(json!({ "known": [{"peer": peer}] })),
                "missing field `age`",
            ),
            (
                Some(json!({ "known": [{"peer": "127.0.0.1:9000", "age": 1}] })),
                "lacks its @NODE_ID",
            ),
            (
                Some(json!({ "peers": ["nope"] })),
                "bad peer address `nope`",
            ),
        ];
        for (params, expected) in cases {
            let error = parse(params.clone()).unwrap_err();
            assert!(error.contains(expected), "{params:?}: {error}");
        }
        // The bounds themselves are accepted.
        assert_eq!(
            parse(Some(
                json!({ "peers": many(MAX_ANNOUNCED), "known": known(MAX_KNOWN, MAX_AGE_SECS) })
            ))
            .unwrap()
            .addrs
            .len(),
            MAX_ANNOUNCED + MAX_KNOWN
        );
    }
}
