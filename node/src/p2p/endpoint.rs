//! One QUIC endpoint on one UDP socket, both accepting and dialing, that only ever hands
//! out connections whose peer is authenticated.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use quinn::crypto::rustls::HandshakeData;
use rustls::pki_types::CertificateDer;
use tokio::time::timeout;

use super::cert::{CERT_SERVER_NAME, node_id_from_cert};
use super::codes::CloseCode;
use super::connection::{Direction, PeerConnection, Role};
use super::error::TransportError;
use super::identity::Identity;
use super::node_id::NodeId;
use super::settings::TransportSettings;
use super::tls::{ALPN, CLIENT_ALPN, TlsContext};
use super::verify::PresentedId;

/// A bound QUIC endpoint. Cheap to clone (a handle).
#[derive(Clone, Debug)]
pub struct Endpoint {
    inner: quinn::Endpoint,
    tls: Arc<TlsContext>,
    node_id: NodeId,
    local_addr: SocketAddr,
    settings: Arc<TransportSettings>,
    /// What this endpoint is when it dials.
    role: Role,
}

impl Endpoint {
    /// Binds `addr` (UDP) and starts serving handshakes with `identity`'s certificate.
    ///
    /// Must run inside a tokio runtime. Port 0 picks a free port (see
    /// [`Endpoint::local_addr`]). A port in use is [`TransportError::AddressInUse`].
    pub fn bind(
        addr: SocketAddr,
        identity: &Identity,
        settings: TransportSettings,
    ) -> Result<Self, TransportError> {
        let transport = settings.quinn_transport()?;
        let tls = TlsContext::new(identity, transport)?;
        Self::bind_with(
            addr,
            identity.node_id(),
            tls,
            settings,
            restart_stable_config(identity),
        )
    }

    /// Binds `addr` as a **client**: its dials speak [`CLIENT_ALPN`], so nodes serve its
    /// requests without taking it as a peer (used by `dawn-node call` and tools).
    pub fn bind_client(
        addr: SocketAddr,
        identity: &Identity,
        settings: TransportSettings,
    ) -> Result<Self, TransportError> {
        let mut endpoint = Self::bind(addr, identity, settings)?;
        endpoint.role = Role::Client;
        Ok(endpoint)
    }

    /// Binds with a prepared TLS context (tests use it to present a forged certificate).
    pub(crate) fn bind_with(
        addr: SocketAddr,
        node_id: NodeId,
        tls: TlsContext,
        settings: TransportSettings,
        config: quinn::EndpointConfig,
    ) -> Result<Self, TransportError> {
        let server_config = tls.server_config()?;
        let socket = std::net::UdpSocket::bind(addr).map_err(|source| bind_error(addr, source))?;
        let inner = quinn::Endpoint::new(
            config,
            Some(server_config),
            socket,
            Arc::new(quinn::TokioRuntime),
        )
        .map_err(|source| bind_error(addr, source))?;
        let local_addr = inner
            .local_addr()
            .map_err(|source| bind_error(addr, source))?;
        Ok(Self {
            inner,
            tls: Arc::new(tls),
            node_id,
            local_addr,
            settings: Arc::new(settings),
            role: Role::Peer,
        })
    }

    /// The bound address (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// This node's id, as peers see it.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The settings this endpoint was bound with.
    pub fn settings(&self) -> &TransportSettings {
        &self.settings
    }

    /// Waits for the next incoming connection attempt; `None` once the endpoint is closed.
    ///
    /// The handshake is not done here so that one slow peer cannot hold up the accept loop:
    /// call [`IncomingPeer::handshake`] (typically in a spawned task).
    pub async fn accept(&self) -> Option<IncomingPeer> {
        let incoming = self.inner.accept().await?;
        Some(IncomingPeer {
            incoming,
            settings: Arc::clone(&self.settings),
        })
    }

    /// Dials `addr` and authenticates the peer; when `expected` is given, a peer with any
    /// other id is refused with [`TransportError::IdMismatch`] naming both ids.
    pub async fn connect(
        &self,
        addr: SocketAddr,
        expected: Option<NodeId>,
    ) -> Result<PeerConnection, TransportError> {
        let protocol = match self.role {
            Role::Peer => ALPN,
            Role::Client => CLIENT_ALPN,
        };
        let (config, presented) = self.tls.client_config(expected, protocol)?;
        let connecting = self
            .inner
            .connect_with(config, addr, CERT_SERVER_NAME)
            .map_err(|source| match source {
                quinn::ConnectError::EndpointStopping => TransportError::EndpointClosed,
                source => TransportError::Connect { addr, source },
            })?;
        let limit = self.settings.handshake_timeout;
        let connection = match timeout(limit, connecting).await {
            Err(_) => {
                return Err(TransportError::HandshakeTimeout {
                    addr,
                    timeout: limit,
                });
            }
            Ok(Err(source)) => return Err(dial_failure(addr, expected, &presented, source)),
            Ok(Ok(connection)) => connection,
        };
        authenticated(connection, Direction::Outbound, protocol, &self.settings)
    }

    /// Closes every connection with `code` and stops accepting; pending `accept` calls
    /// return `None`.
    pub fn close(&self, code: CloseCode) {
        self.inner.close(
            quinn::VarInt::from_u32(code.code()),
            code.reason().as_bytes(),
        );
    }

    /// Waits until every connection's close has been delivered (or timed out), so peers
    /// learn the close reason instead of waiting for their idle timeout.
    pub async fn wait_idle(&self) {
        self.inner.wait_idle().await;
    }
}

/// A connection attempt from a peer, not yet authenticated.
#[derive(Debug)]
pub struct IncomingPeer {
    incoming: quinn::Incoming,
    settings: Arc<TransportSettings>,
}

impl IncomingPeer {
    /// The address the attempt comes from (not yet validated).
    pub fn remote_addr(&self) -> SocketAddr {
        self.incoming.remote_address()
    }

    /// Refuses the attempt before any handshake work (e.g. too many handshakes in flight).
    pub fn refuse(self) {
        self.incoming.refuse();
    }

    /// Whether the remote address is proven: the attempt came back with the token of a
    /// [`IncomingPeer::retry`], so its source address is not spoofed.
    pub fn is_validated(&self) -> bool {
        self.incoming.remote_address_validated()
    }

    /// Whether [`IncomingPeer::retry`] can be used: the attempt carries no token yet.
    pub fn can_retry(&self) -> bool {
        self.incoming.may_retry()
    }

    /// Answers with a stateless QUIC Retry instead of starting the handshake: this side
    /// keeps no state, and a sender at a real address comes back at once with a token
    /// (one more round trip), while spoofed Initial packets never do. An attempt that
    /// cannot be retried ([`IncomingPeer::can_retry`]) is ignored.
    pub fn retry(self) {
        // Fails only when the attempt already carries a token; dropping it then ignores it.
        let _ = self.incoming.retry();
    }

    /// Completes the handshake (bounded by the handshake timeout) and authenticates the peer.
    pub async fn handshake(self) -> Result<PeerConnection, TransportError> {
        let addr = self.incoming.remote_address();
        let limit = self.settings.handshake_timeout;
        let connecting = self
            .incoming
            .accept()
            .map_err(|source| TransportError::Handshake { addr, source })?;
        let connection = timeout(limit, connecting)
            .await
            .map_err(|_| TransportError::HandshakeTimeout {
                addr,
                timeout: limit,
            })?
            .map_err(|source| TransportError::Handshake { addr, source })?;
        authenticated(connection, Direction::Inbound, ALPN, &self.settings)
    }
}

/// An endpoint configuration whose connection-id and stateless-reset keys derive from the
/// identity, so they are the same after a restart. A restarted node then recognises the
/// connection ids of its previous process and answers their packets with a stateless reset
/// that the peers accept: they drop the dead connection at once (and redial) instead of
/// sending into it until their idle timeout.
fn restart_stable_config(identity: &Identity) -> quinn::EndpointConfig {
    let reset = identity.derive_secret("dawn/1 QUIC stateless reset key");
    let cid = identity.derive_secret("dawn/1 QUIC connection id key");
    let cid_key = u64::from_le_bytes([
        cid[0], cid[1], cid[2], cid[3], cid[4], cid[5], cid[6], cid[7],
    ]);
    let mut config = quinn::EndpointConfig::new(Arc::new(ring::hmac::Key::new(
        ring::hmac::HMAC_SHA256,
        &reset,
    )));
    config.cid_generator(move || {
        Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key))
            as Box<dyn quinn::ConnectionIdGenerator>
    });
    config
}

fn bind_error(addr: SocketAddr, source: io::Error) -> TransportError {
    if source.kind() == io::ErrorKind::AddrInUse {
        TransportError::AddressInUse { addr }
    } else {
        TransportError::Bind { addr, source }
    }
}

/// Turns a failed dial into the clearest error: an id mismatch names both ids, a forged
/// certificate the node it impersonates.
fn dial_failure(
    addr: SocketAddr,
    expected: Option<NodeId>,
    presented: &PresentedId,
    source: quinn::ConnectionError,
) -> TransportError {
    match (expected, presented.id()) {
        (Some(expected), Some(actual)) if expected != actual => TransportError::IdMismatch {
            addr,
            expected,
            actual,
        },
        (_, Some(claimed)) if presented.bad_signature() => {
            TransportError::ForgedCertificate { addr, claimed }
        }
        _ => TransportError::Handshake { addr, source },
    }
}

/// Reads the verified peer id from a finished handshake and checks the protocol: a dial
/// must have negotiated `dialed` (what it offered); an accepted connection may speak
/// [`ALPN`] (a peer) or [`CLIENT_ALPN`] (a client).
fn authenticated(
    connection: quinn::Connection,
    direction: Direction,
    dialed: &[u8],
    settings: &TransportSettings,
) -> Result<PeerConnection, TransportError> {
    let addr = connection.remote_address();
    let protocol = connection
        .handshake_data()
        .and_then(|data| data.downcast::<HandshakeData>().ok())
        .and_then(|data| data.protocol);
    let role = match (direction, protocol.as_deref()) {
        // Whatever this side dialed as, it dialed a node.
        (Direction::Outbound, Some(p)) if p == dialed => Some(Role::Peer),
        (Direction::Inbound, Some(p)) if p == ALPN => Some(Role::Peer),
        (Direction::Inbound, Some(p)) if p == CLIENT_ALPN => Some(Role::Client),
        _ => None,
    };
    let Some(role) = role else {
        CloseCode::Normal.close(&connection);
        return Err(TransportError::WrongProtocol { addr });
    };
    let node_id = connection
        .peer_identity()
        .and_then(|identity| identity.downcast::<Vec<CertificateDer<'static>>>().ok())
        .and_then(|certs| certs.first().and_then(|cert| node_id_from_cert(cert).ok()));
    match node_id {
        Some(node_id) => Ok(PeerConnection::new(
            connection, node_id, direction, role, settings,
        )),
        // Unreachable with our verifiers (they refuse such handshakes), but never trust it.
        None => {
            CloseCode::Normal.close(&connection);
            Err(TransportError::WrongProtocol { addr })
        }
    }
}
