//! Discovery: the address book (who is where) and the peer exchange.
//!
//! Every gossip interval the node sends each connected peer a `node/announce` notification
//! listing its connected peers as `HOST:PORT@NODE_ID`. A node receiving one keeps every
//! listed peer it is not yet connected to (within its peer limit) with the same redialing
//! as bootstrap peers. Addresses nobody has mentioned or been connected to for
//! [`forget_after`] are dropped, so a node that left for good stops being redialed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;

use super::methods::ANNOUNCE;
use super::{Shared, lock};
use crate::catalogue::{Component, MessageStatus};
use crate::p2p::{NodeId, PeerAddr};
use crate::rpc::{self, Message, MessageType};

/// Most peers listed in one announcement (sent or read).
pub(super) const MAX_ANNOUNCED: usize = 256;

/// How long a learned address is kept without news of it: five gossip rounds, at least
/// two minutes.
fn forget_after(interval: Duration) -> Duration {
    (interval * 5).max(Duration::from_secs(120))
}

/// Where known peers are: bootstrap entries (kept for good) and addresses learned from
/// connections and announcements (kept while there is news of them).
#[derive(Debug)]
pub(super) struct AddressBook {
    local: NodeId,
    bootstrap: Vec<PeerAddr>,
    learned: HashMap<NodeId, Learned>,
}

#[derive(Debug)]
struct Learned {
    addr: PeerAddr,
    last_seen: Instant,
}

impl AddressBook {
    pub(super) fn new(local: NodeId) -> Self {
        Self {
            local,
            bootstrap: Vec::new(),
            learned: HashMap::new(),
        }
    }

    pub(super) fn add_bootstrap(&mut self, peer: PeerAddr) {
        self.bootstrap.push(peer);
    }

    /// Records news of `addr` (which must carry its node id); returns whether the node was
    /// unknown before. This node's own address is ignored.
    pub(super) fn learn(&mut self, addr: PeerAddr, now: Instant) -> bool {
        let Some(id) = addr.node_id else { return false };
        if id == self.local {
            return false;
        }
        match self.learned.get_mut(&id) {
            Some(entry) => {
                entry.addr = addr;
                entry.last_seen = now;
                false
            }
            None => {
                self.learned.insert(
                    id,
                    Learned {
                        addr,
                        last_seen: now,
                    },
                );
                true
            }
        }
    }

    /// Where to dial `peer`: its last known address, else a bootstrap entry naming it.
    pub(super) fn address(&self, peer: &NodeId) -> Option<PeerAddr> {
        self.learned.get(peer).map(|l| l.addr.clone()).or_else(|| {
            self.bootstrap
                .iter()
                .find(|b| b.node_id.as_ref() == Some(peer))
                .cloned()
        })
    }

    /// Drops learned addresses without news since `now - ttl`, except those of connected
    /// peers; returns them so their dialers can be stopped.
    pub(super) fn expire(
        &mut self,
        now: Instant,
        ttl: Duration,
        connected: impl Fn(&NodeId) -> bool,
    ) -> Vec<PeerAddr> {
        let mut gone = Vec::new();
        self.learned.retain(|id, entry| {
            if connected(id) {
                entry.last_seen = now;
                return true;
            }
            let keep = now.saturating_duration_since(entry.last_seen) < ttl;
            if !keep {
                gone.push(entry.addr.clone());
            }
            keep
        });
        gone
    }

    /// Distinct peers known (bootstrap entries without an id count once each).
    pub(super) fn len(&self) -> usize {
        let anonymous = self
            .bootstrap
            .iter()
            .filter(|b| b.node_id.is_none_or(|id| !self.learned.contains_key(&id)))
            .count();
        self.learned.len() + anonymous
    }
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

/// Announces the connected peers to each of them and forgets stale addresses.
async fn round(shared: &Arc<Shared>) {
    let Some(network) = shared.network() else {
        return;
    };
    let peers = network.peers();
    let listed: Vec<String> = peers
        .iter()
        .take(MAX_ANNOUNCED)
        .map(|p| PeerAddr::from_socket_addr(p.remote_addr, Some(p.node_id)).to_string())
        .collect();
    let message = rpc::encode(&Message::notification(
        ANNOUNCE,
        Some(json!({ "peers": listed })),
    ));
    let timeout = shared.config.gossip_interval.min(Duration::from_secs(10));
    for peer in &peers {
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
    let gone = lock(&shared.book).expire(
        Instant::now(),
        forget_after(shared.config.gossip_interval),
        |id| network.is_connected(id),
    );
    for addr in gone {
        if network.forget(&addr) {
            tracing::info!(peer = %addr, "no news of peer for a while; no longer dialing it");
        }
    }
}

/// The params of `node/announce`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Announce {
    peers: Vec<String>,
}

/// Takes an announcement from `sender`: records every listed peer and starts dialing the
/// new ones while there is room. Returns the reason when the params are not an
/// announcement (nothing is learned then).
pub(super) fn receive(
    shared: &Shared,
    sender: NodeId,
    params: Option<serde_json::Value>,
) -> Result<usize, String> {
    let announce: Announce = params
        .ok_or_else(|| "missing params {\"peers\": [...]}".to_owned())
        .and_then(|p| serde_json::from_value(p).map_err(|e| format!("invalid params: {e}")))?;
    if announce.peers.len() > MAX_ANNOUNCED {
        return Err(format!(
            "{} peers listed; at most {MAX_ANNOUNCED} are accepted",
            announce.peers.len()
        ));
    }
    let mut addrs = Vec::with_capacity(announce.peers.len());
    for entry in &announce.peers {
        let addr: PeerAddr = entry.parse().map_err(|e| format!("{e}"))?;
        if addr.node_id.is_none() {
            return Err(format!("peer `{entry}` lacks its @NODE_ID"));
        }
        addrs.push(addr);
    }
    let Some(network) = shared.network() else {
        return Ok(0);
    };
    let now = Instant::now();
    let mut new = 0;
    for addr in addrs {
        let Some(id) = addr.node_id else { continue };
        if id == shared.node_id || network.is_connected(&id) {
            continue;
        }
        lock(&shared.book).learn(addr.clone(), now);
        if !network.is_full() && network.maintain(addr.clone()) {
            tracing::debug!(peer = %addr, from = %sender.short(), "learned peer through gossip");
            new += 1;
        }
    }
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(byte: u8) -> NodeId {
        format!("{byte:02x}").repeat(32).parse().unwrap()
    }

    fn addr(port: u16, node: u8) -> PeerAddr {
        format!("127.0.0.1:{port}@{}", id(node)).parse().unwrap()
    }

    #[test]
    fn learns_forgets_and_ignores_itself() {
        let start = Instant::now();
        let mut book = AddressBook::new(id(1));
        assert!(!book.learn(addr(8001, 1), start), "itself");
        assert!(book.learn(addr(8002, 2), start));
        assert!(!book.learn(addr(8012, 2), start), "known, address updated");
        assert_eq!(book.address(&id(2)).unwrap().port, 8012);
        book.add_bootstrap("10.0.0.9:8000".parse().unwrap());
        assert_eq!(book.len(), 2);

        let ttl = Duration::from_secs(120);
        assert!(book.expire(start + ttl / 2, ttl, |_| false).is_empty());
        let gone = book.expire(start + ttl, ttl, |_| false);
        assert_eq!(gone, vec![addr(8012, 2)]);
        assert_eq!(book.address(&id(2)), None);

        book.learn(addr(8003, 3), start);
        assert!(
            book.expire(start + ttl * 2, ttl, |p| *p == id(3))
                .is_empty(),
            "connected"
        );
    }

    #[test]
    fn bootstrap_entries_with_ids_give_addresses() {
        let mut book = AddressBook::new(id(1));
        book.add_bootstrap(addr(8004, 4));
        assert_eq!(book.address(&id(4)), Some(addr(8004, 4)));
        book.learn(addr(8004, 4), Instant::now());
        assert_eq!(book.len(), 1);
    }
}
