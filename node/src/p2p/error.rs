//! The transport's error type.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use super::codes::RejectReason;
use super::node_id::NodeId;
use super::tls::TlsError;

/// Everything that can go wrong binding, dialing, accepting or exchanging messages.
///
/// Each variant names the address, peer or limit involved, so a log line or a CLI error is
/// enough to act on; [`TransportError::kind`] gives a stable label for metrics.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Another process already uses the UDP port.
    #[error("UDP address {addr} is already in use (is another node running on this port?)")]
    AddressInUse {
        /// The address that could not be bound.
        addr: SocketAddr,
    },
    /// Binding the UDP socket failed for another reason (permissions, no such address).
    #[error("cannot bind UDP address {addr}: {source}")]
    Bind {
        /// The address that could not be bound.
        addr: SocketAddr,
        /// The underlying error.
        source: io::Error,
    },
    /// The settings are inconsistent (e.g. keep-alive not below the idle timeout).
    #[error("invalid transport settings: {0}")]
    InvalidSettings(String),
    /// The TLS configuration could not be built.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A dial could not even start (endpoint stopping, address of the wrong family).
    #[error("cannot dial {addr}: {source}")]
    Connect {
        /// The address dialed.
        addr: SocketAddr,
        /// quinn's reason.
        source: quinn::ConnectError,
    },
    /// The QUIC/TLS handshake failed: unreachable peer, bad certificate, forged signature,
    /// wrong protocol.
    #[error("handshake with {addr} failed: {source}")]
    Handshake {
        /// The peer's address.
        addr: SocketAddr,
        /// quinn's reason, including the TLS alert text.
        source: quinn::ConnectionError,
    },
    /// The handshake did not finish within the handshake timeout.
    #[error("handshake with {addr} timed out after {timeout:?}")]
    HandshakeTimeout {
        /// The peer's address.
        addr: SocketAddr,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// The peer authenticated as another node than the one expected.
    #[error("peer at {addr} is node {actual}, not the expected node {expected}")]
    IdMismatch {
        /// The peer's address.
        addr: SocketAddr,
        /// The id the dialer expected (bootstrap entry, gossip).
        expected: NodeId,
        /// The id the peer's certificate holds.
        actual: NodeId,
    },
    /// The peer presented a node's certificate but could not sign with that node's key:
    /// an impostor (or a peer with a corrupted identity).
    #[error(
        "peer at {addr} presents the certificate of node {claimed} but cannot sign with its \
         key; refused"
    )]
    ForgedCertificate {
        /// The peer's address.
        addr: SocketAddr,
        /// The id in the certificate it presented.
        claimed: NodeId,
    },
    /// The peer completed TLS but did not negotiate the `dawn/1` protocol.
    #[error("peer at {addr} does not speak the dawn/1 protocol")]
    WrongProtocol {
        /// The peer's address.
        addr: SocketAddr,
    },
    /// A peer address (host name) could not be resolved.
    #[error("cannot resolve {peer}: {source}")]
    Resolve {
        /// The peer entry as written.
        peer: String,
        /// The resolver's error.
        source: io::Error,
    },
    /// A peer address resolved, but to no address this endpoint can reach (e.g. only IPv6
    /// addresses while bound to IPv4).
    #[error("{peer} resolves to no address reachable from {local}")]
    NoAddress {
        /// The peer entry as written.
        peer: String,
        /// This endpoint's address.
        local: SocketAddr,
    },
    /// This node refused the authenticated peer (peer limit, untrusted, itself).
    #[error("refused peer {node_id} at {addr}: {reason}")]
    Rejected {
        /// The refused peer.
        node_id: NodeId,
        /// Its address.
        addr: SocketAddr,
        /// Why.
        reason: RejectReason,
    },
    /// No connection to that peer.
    #[error("not connected to node {0}")]
    NotConnected(NodeId),
    /// The connection ended while a message was in flight.
    #[error("connection lost: {0}")]
    ConnectionLost(#[source] quinn::ConnectionError),
    /// A message to send (or a reply to give) is larger than this node's limit.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    MessageTooLarge {
        /// The message size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// An incoming message exceeded this node's limit; it was not read past the limit and
    /// its stream was refused with [`StreamCode::TooLarge`](super::StreamCode::TooLarge).
    #[error("incoming message exceeds the limit of {limit} bytes")]
    IncomingTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The peer refused our message as larger than its limit.
    #[error("the peer refused the message as larger than its size limit")]
    RefusedTooLarge,
    /// The peer's reply is larger than this node's limit.
    #[error("the reply exceeds the limit of {limit} bytes")]
    ReplyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The peer reset or stopped the stream with a code this version does not expect.
    #[error("the peer aborted the stream (code {0})")]
    StreamAborted(u64),
    /// The caller stopped waiting for this node's reply (its timeout expired or it was
    /// cancelled) before the reply could be written.
    #[error("the caller stopped waiting for the reply")]
    ReplyAbandoned,
    /// A request or notification did not complete in time (the stream was cancelled).
    #[error("no complete exchange within {0:?}")]
    Timeout(Duration),
    /// The endpoint is shut down.
    #[error("the endpoint is shut down")]
    EndpointClosed,
}

impl TransportError {
    /// A stable snake_case label, e.g. for `p2p_errors_total{error_type}`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::AddressInUse { .. } => "address_in_use",
            Self::Bind { .. } => "bind",
            Self::InvalidSettings(_) => "invalid_settings",
            Self::Tls(_) => "tls_config",
            Self::Connect { .. } => "connect",
            Self::Handshake { .. } => "handshake",
            Self::HandshakeTimeout { .. } => "handshake_timeout",
            Self::IdMismatch { .. } => "id_mismatch",
            Self::ForgedCertificate { .. } => "forged_certificate",
            Self::WrongProtocol { .. } => "wrong_protocol",
            Self::Resolve { .. } => "resolve",
            Self::NoAddress { .. } => "no_address",
            Self::Rejected { .. } => "rejected",
            Self::NotConnected(_) => "not_connected",
            Self::ConnectionLost(_) => "connection_lost",
            Self::MessageTooLarge { .. } | Self::IncomingTooLarge { .. } => "message_too_large",
            Self::RefusedTooLarge => "refused_too_large",
            Self::ReplyTooLarge { .. } => "reply_too_large",
            Self::StreamAborted(_) => "stream_aborted",
            Self::ReplyAbandoned => "reply_abandoned",
            Self::Timeout(_) => "timeout",
            Self::EndpointClosed => "endpoint_closed",
        }
    }
}
