//! The connection lifecycle, recorded where it happens: `p2p_connections_total{status}`,
//! `p2p_peers`, failed handshakes in `p2p_errors_total`, and each connected peer's address
//! in the address book (what gossip passes on).

use std::sync::Arc;
use std::time::Instant;

use super::dispatch::RATE_LIMITED_RESOURCE;
use super::{HealthCheck, Shared, lock};
use crate::catalogue::{Component, ConnectionStatus};
use crate::p2p::{PeerAddr, PeerEvent, PeerObserver};

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
            PeerEvent::Connected { peer, peers } => {
                metrics.connection(ConnectionStatus::Success);
                metrics.set_peers(*peers);
                metrics.peer_connected(&peer.node_id, RATE_LIMITED_RESOURCE);
                // Dials leave from the listening socket, so the remote address of either
                // direction is where the peer listens.
                lock(&self.shared.book).learn(
                    PeerAddr::from_socket_addr(peer.remote_addr, Some(peer.node_id)),
                    Instant::now(),
                );
                self.shared
                    .report(HealthCheck::Peers, super::checks::peers(*peers));
            }
            PeerEvent::Disconnected { peers, .. } => {
                metrics.connection(ConnectionStatus::Closed);
                metrics.set_peers(*peers);
                self.shared
                    .report(HealthCheck::Peers, super::checks::peers(*peers));
            }
            PeerEvent::Rejected { .. } => metrics.connection(ConnectionStatus::Rejected),
            PeerEvent::Failed { error, .. } => {
                metrics.connection(ConnectionStatus::Failed);
                metrics.error(error.kind(), Component::P2p);
            }
            PeerEvent::Duplicate { .. } => {}
        }
    }
}
