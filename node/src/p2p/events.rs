//! Connection lifecycle events, delivered synchronously to an observer so the caller can
//! record `p2p_connections_total{status}` where each event happens. Events of two
//! connections may arrive in either order, so `p2p_peers` follows the peer table's own
//! count instead ([`Network::watch_peer_count`](super::Network::watch_peer_count)).

use std::net::SocketAddr;

use super::codes::{DisconnectReason, RejectReason};
use super::connection::Direction;
use super::error::TransportError;
use super::node_id::NodeId;
use super::peer_table::PeerInfo;

/// Something happened to a connection. Mapping to `p2p_connections_total{status}`:
/// `Connected` → success, `Failed` → failed (a dial) or handshake_failed (an incoming
/// attempt), `Rejected` → rejected, `Disconnected` → closed; `peers` in
/// `Connected`/`Disconnected` is the count right after the change (for logs: a later
/// change may be reported first).
#[derive(Debug)]
pub enum PeerEvent<'a> {
    /// A new peer is connected (authenticated and admitted).
    Connected {
        /// The peer.
        peer: PeerInfo,
        /// Connected peers right after the change.
        peers: usize,
    },
    /// A peer's connection ended and it is no longer connected.
    Disconnected {
        /// The peer, as it was recorded.
        peer: PeerInfo,
        /// Why the connection ended; a peer that refused us right after the handshake
        /// shows up here as [`DisconnectReason::Remote`] with its close code.
        reason: &'a DisconnectReason,
        /// Connected peers right after the change.
        peers: usize,
    },
    /// This node refused an authenticated peer (limit, untrusted, itself).
    Rejected {
        /// The refused peer.
        node_id: NodeId,
        /// Its address.
        remote_addr: SocketAddr,
        /// Who dialed.
        direction: Direction,
        /// Why.
        reason: RejectReason,
    },
    /// A dial or an incoming handshake failed (unreachable, bad certificate, id mismatch,
    /// timeout).
    Failed {
        /// The address involved.
        remote_addr: SocketAddr,
        /// The id expected, for dials that knew it.
        expected: Option<NodeId>,
        /// Who dialed.
        direction: Direction,
        /// What went wrong.
        error: &'a TransportError,
    },
    /// A second connection to an already connected peer was closed by the tie-break; the
    /// peer stays connected, so `p2p_peers` does not change.
    Duplicate {
        /// The peer.
        node_id: NodeId,
        /// Direction of the connection that was closed.
        closed: Direction,
    },
}

/// Receives [`PeerEvent`]s. Called inline on the task where the event happened, so it must
/// be quick and must not block (record a metric, log, send on a channel with `try_send`).
pub trait PeerObserver: Send + Sync + 'static {
    /// Handles one event.
    fn on_event(&self, event: &PeerEvent<'_>);
}

impl<F> PeerObserver for F
where
    F: Fn(&PeerEvent<'_>) + Send + Sync + 'static,
{
    fn on_event(&self, event: &PeerEvent<'_>) {
        self(event);
    }
}

/// An observer that ignores everything, for callers that do not need events.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl PeerObserver for NoObserver {
    fn on_event(&self, _event: &PeerEvent<'_>) {}
}
