//! A client of a node's JSON-RPC methods (`dawn-node call`, the local cluster's traffic,
//! tests). It connects as a client (ALPN `dawn-client/1`): the node serves and rate-limits
//! it like any sender, but does not take it as a peer, so calling a node never changes its
//! peer count or what it gossips.
//!
//! A client holds one of the node's client slots per connection until the node learns the
//! connection closed: [`Client::close`] tells it (and waits, briefly, until it was told),
//! so a program calling a node and exiting gives its slot back at once.
//!
//! ```no_run
//! # async fn demo() -> Result<(), dawn_node::client::ClientError> {
//! use dawn_node::client::Client;
//! let client = Client::new(None)?;
//! let node = client.connect(&"127.0.0.1:8000".parse().expect("address")).await?;
//! let pong = client.call(&node, "node/ping", None).await?;
//! println!("{pong:?}");
//! client.close().await;
//! # Ok(()) }
//! ```

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::net::UdpSocket;
use tokio::time::timeout;

use crate::p2p::{
    CloseCode, Endpoint, Identity, IdentityError, PeerAddr, PeerConnection, TransportError,
    TransportSettings,
};
use crate::rpc::{self, ErrorObject, Message, RpcError};

/// Default time allowed for one call (connecting included).
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest [`Client::close`] waits for its closes to be sent (QUIC's drain after a
/// close lasts three probe timeouts: well under this on any sane path).
pub const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// When the refusal probe (see [`Client::connect`]) sends its datagrams, from the dial on.
const PROBE_AT: [Duration; 4] = [
    Duration::ZERO,
    Duration::from_millis(200),
    Duration::from_secs(1),
    Duration::from_secs(3),
];

/// Why a call produced no reply.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No identity could be made or read.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// Binding, dialing or the exchange failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The node's reply is not JSON-RPC.
    #[error("the node's reply is unreadable: {0}")]
    Reply(#[from] RpcError),
    /// The node answered with something other than a reply.
    #[error("the node answered with a {0}, not a reply")]
    Unexpected(&'static str),
    /// Nothing answered the handshake in time, and no refusal was seen either.
    #[error(
        "nothing answered at {peer} within {timeout:?}: no QUIC reply and no refusal (is a node listening on that UDP port, or does a firewall drop the packets?)"
    )]
    NoAnswer {
        /// The address dialed.
        peer: String,
        /// The time allowed.
        timeout: Duration,
    },
    /// The host refused: an ICMP "port unreachable" came back, so nothing listens there.
    #[error("nothing answered at {addr}: the host refused (no node listens on that UDP port)")]
    Refused {
        /// The address dialed.
        addr: SocketAddr,
    },
}

/// A JSON-RPC client with one identity: every call it makes counts against that identity's
/// rate limit on the node.
#[derive(Debug)]
pub struct Client {
    identity: Identity,
    /// The local address its endpoints bind (any address of the family when `None`).
    local: Option<IpAddr>,
    v4: OnceLock<Endpoint>,
    v6: OnceLock<Endpoint>,
    timeout: Duration,
    next_id: AtomicI64,
    /// Whether a connection was ever made (then [`Client::close`] waits for its close).
    connected: AtomicBool,
}

impl Client {
    /// A client with `identity`, or a fresh one (a new node id per client). Binds an
    /// ephemeral UDP port; must run inside a tokio runtime.
    pub fn new(identity: Option<Identity>) -> Result<Self, ClientError> {
        Self::bound(identity, None)
    }

    /// [`Client::new`] sending from the local address `local` (a source address of its
    /// own on a host with several), so it can only reach nodes of that address family.
    pub fn bound(identity: Option<Identity>, local: Option<IpAddr>) -> Result<Self, ClientError> {
        let identity = match identity {
            Some(identity) => identity,
            None => Identity::generate()?,
        };
        let client = Self {
            identity,
            local,
            v4: OnceLock::new(),
            v6: OnceLock::new(),
            timeout: DEFAULT_CALL_TIMEOUT,
            next_id: AtomicI64::new(1),
            connected: AtomicBool::new(false),
        };
        // Bind now, so that a bad local address is reported before any dial.
        let family = local.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        client.endpoint_for(SocketAddr::new(family, 1))?;
        Ok(client)
    }

    /// The same client with another per-call timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The client's node id (what the node's rate limiter and logs see).
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The local address to send to `addr` from, if this client can reach its family.
    fn local_for(&self, addr: SocketAddr) -> Option<IpAddr> {
        match self.local {
            Some(local) if local.is_ipv4() != addr.is_ipv4() => None,
            Some(local) => Some(local),
            None if addr.is_ipv4() => Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            None => Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        }
    }

    fn endpoint_for(&self, addr: SocketAddr) -> Result<&Endpoint, ClientError> {
        let local = self
            .local_for(addr)
            .ok_or_else(|| TransportError::NoAddress {
                peer: addr.to_string(),
                local: SocketAddr::new(self.local.unwrap_or(Ipv4Addr::UNSPECIFIED.into()), 0),
            })?;
        let cell = if addr.is_ipv4() { &self.v4 } else { &self.v6 };
        if let Some(endpoint) = cell.get() {
            return Ok(endpoint);
        }
        let endpoint = bind(&self.identity, SocketAddr::new(local, 0))?;
        Ok(cell.get_or_init(|| endpoint))
    }

    /// Connects to the node at `peer` (checking its id when the address names one) within
    /// the client's timeout.
    ///
    /// Beside the QUIC dial, a probe sends empty datagrams from a connected UDP socket, whose
    /// only use is to hear an ICMP "port unreachable": a port where nothing listens is then
    /// reported at once ([`ClientError::Refused`]) instead of after the timeout. Where no
    /// refusal comes back (a firewall drops the packets), the timeout says so
    /// ([`ClientError::NoAnswer`]).
    pub async fn connect(&self, peer: &PeerAddr) -> Result<PeerConnection, ClientError> {
        let no_answer = |timeout| ClientError::NoAnswer {
            peer: peer.to_string(),
            timeout,
        };
        match timeout(self.timeout, self.dial(peer)).await {
            Err(_) => Err(no_answer(self.timeout)),
            Ok(Err(ClientError::Transport(TransportError::HandshakeTimeout {
                timeout, ..
            }))) => Err(no_answer(timeout)),
            Ok(result) => result,
        }
    }

    async fn dial(&self, peer: &PeerAddr) -> Result<PeerConnection, ClientError> {
        let mut last = ClientError::Transport(TransportError::NoAddress {
            peer: peer.to_string(),
            local: SocketAddr::new(self.local.unwrap_or(Ipv4Addr::UNSPECIFIED.into()), 0),
        });
        for addr in peer.resolve().await? {
            let Some(local) = self.local_for(addr) else {
                continue;
            };
            let endpoint = self.endpoint_for(addr)?;
            tokio::select! {
                dialed = endpoint.connect(addr, peer.node_id) => match dialed {
                    Ok(connection) => {
                        self.connected.store(true, Ordering::Relaxed);
                        return Ok(connection);
                    }
                    Err(error) => last = error.into(),
                },
                () = refusal(local, addr) => last = ClientError::Refused { addr },
            }
        }
        Err(last)
    }

    /// Closes every connection of this client (code 0, "closed") and waits, at most
    /// [`CLOSE_GRACE`], until the closes have been sent, so each node frees the client's
    /// slot at once instead of after its idle timeout. Call it before dropping the client
    /// (or before the runtime ends).
    pub async fn close(&self) {
        let endpoints: Vec<&Endpoint> = [self.v4.get(), self.v6.get()]
            .into_iter()
            .flatten()
            .collect();
        for endpoint in &endpoints {
            endpoint.close(CloseCode::Normal);
        }
        // Only dials that never answered: nobody to tell, nothing to wait for.
        if !self.connected.load(Ordering::Relaxed) {
            return;
        }
        let _ = timeout(CLOSE_GRACE, async {
            for endpoint in &endpoints {
                endpoint.wait_idle().await;
            }
        })
        .await;
    }

    /// Calls `method` with `params` on a connected node: `Ok(Ok(result))` on success,
    /// `Ok(Err(error))` when the node replied with a JSON-RPC error.
    pub async fn call(
        &self,
        node: &PeerConnection,
        method: &str,
        params: Option<Value>,
    ) -> Result<Result<Value, ErrorObject>, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let request = rpc::encode(&Message::request(id, method, params));
        self.call_raw(node, &request).await
    }

    /// Sends `bytes` as they are on a request stream and reads the reply; for tools and
    /// tests that need to send what [`Client::call`] never would (malformed JSON).
    pub async fn call_raw(
        &self,
        node: &PeerConnection,
        bytes: &[u8],
    ) -> Result<Result<Value, ErrorObject>, ClientError> {
        let reply = node.request(bytes, self.timeout).await?;
        match rpc::decode(&reply, node.max_message_size())? {
            Message::Response(response) => Ok(Ok(response.result)),
            Message::Error(error) => Ok(Err(error.error)),
            other => Err(ClientError::Unexpected(other.message_type().as_str())),
        }
    }

    /// Sends `message` as a notification (no reply).
    pub async fn notify(
        &self,
        node: &PeerConnection,
        method: &str,
        params: Option<Value>,
    ) -> Result<(), ClientError> {
        let bytes = rpc::encode(&Message::notification(method, params));
        Ok(node.notify(&bytes, self.timeout).await?)
    }
}

/// Resolves once `addr` is seen to refuse UDP (an ICMP "port unreachable" reported on a
/// connected socket), sending an empty datagram at each of [`PROBE_AT`]; never resolves
/// otherwise. An empty datagram is not a QUIC packet: a node listening there ignores it.
async fn refusal(local: IpAddr, addr: SocketAddr) {
    let probe = async {
        let socket = UdpSocket::bind(SocketAddr::new(local, 0)).await?;
        socket.connect(addr).await?;
        let start = tokio::time::Instant::now();
        let mut buf = [0u8; 1];
        for (i, at) in PROBE_AT.iter().enumerate() {
            tokio::time::sleep_until(start + *at).await;
            socket.send(&[]).await?;
            let next = PROBE_AT.get(i + 1).map_or(Duration::MAX, |n| *n - *at);
            let until = tokio::time::Instant::now() + next.min(Duration::from_secs(3600));
            while let Ok(received) = tokio::time::timeout_at(until, socket.recv(&mut buf)).await {
                received?;
            }
        }
        std::future::pending::<io::Result<()>>().await
    };
    match probe.await {
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
        // No probe possible, or another error: no conclusion, leave it to the dial.
        _ => std::future::pending().await,
    }
}

fn bind(identity: &Identity, addr: SocketAddr) -> Result<Endpoint, ClientError> {
    Ok(Endpoint::bind_client(
        addr,
        identity,
        TransportSettings::default(),
    )?)
}
