//! The connection lifecycle, recorded where it happens: `p2p_connections_total{status}`,
//! failed dials in `p2p_errors_total`, each connected peer's address in the address book
//! (what gossip passes on); and `p2p_peers` with the `peers` check, from one writer that
//! follows the peer table's own count.
//!
//! Events of two connections can reach the observer in either order, so a count carried by
//! an event may be older than the table by the time it is recorded. The gauge is therefore
//! not set from events: [`record_peer_count`] alone sets it, from the count the table
//! publishes at every change, and always ends on the table's count.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::{HealthCheck, Shared, lock};
use crate::catalogue::{Component, ConnectionStatus};
use crate::p2p::{
    CloseCode, DialOutcome, Direction, DisconnectReason, PeerAddr, PeerEvent, PeerObserver,
};

/// The [`PeerObserver`] of the node's network.
pub(super) struct ConnectionRecorder {
    shared: Arc<Shared>,
}

impl ConnectionRecorder {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl PeerObserver for ConnectionRecorder {
    fn on_event(&self, event: &PeerEvent<'_>) {
        let metrics = &self.shared.metrics;
        match event {
            PeerEvent::Connected { peer, .. } => {
                metrics.connection(ConnectionStatus::Success);
                metrics.peer_connected(&peer.node_id);
                // Dials leave from the listening socket, so the remote address of either
                // direction is where the peer listens.
                lock(&self.shared.book).learn(
                    PeerAddr::from_socket_addr(peer.remote_addr, Some(peer.node_id)),
                    Duration::ZERO,
                    Instant::now(),
                );
            }
            PeerEvent::Disconnected { peer, reason, .. } => {
                metrics.connection(ConnectionStatus::Closed);
                // Closed for lack of room: alive, but not to be redialed at once.
                if let DisconnectReason::Remote {
                    code: Some(CloseCode::PeerLimit | CloseCode::Rebalanced),
                    ..
                } = reason
                {
                    lock(&self.shared.book).dial_ended(
                        &peer.node_id,
                        DialOutcome::Refused,
                        Instant::now(),
                        rand::random(),
                    );
                }
                // A lost peer is a slot to fill.
                self.shared.dial_now.notify_one();
            }
            PeerEvent::Rejected { .. } => metrics.connection(ConnectionStatus::Rejected),
            // Anyone can make an incoming handshake fail (a few spoofed packets do): it is
            // counted apart, and not as an error of this node.
            PeerEvent::Failed {
                direction: Direction::Inbound,
                ..
            } => metrics.connection(ConnectionStatus::HandshakeFailed),
            PeerEvent::Failed { error, .. } => {
                metrics.connection(ConnectionStatus::Failed);
                metrics.error(error.kind(), Component::P2p);
            }
            PeerEvent::Duplicate { .. } => {}
        }
    }
}

/// The one writer of `p2p_peers` and of the `peers` check: sets both from the count the
/// peer table publishes, after every change, until the service stops.
pub(super) async fn record_peer_count(shared: Arc<Shared>, mut count: watch::Receiver<usize>) {
    loop {
        let peers = *count.borrow_and_update();
        shared.metrics.set_peers(peers);
        shared.report(HealthCheck::Peers, super::checks::peers(peers));
        if count.changed().await.is_err() {
            return;
        }
    }
}
