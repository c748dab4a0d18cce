//! A client of a node's JSON-RPC methods (`dawn-node call`, the local cluster's traffic,
//! tests). It connects as a client (ALPN `dawn-client/1`): the node serves and rate-limits
//! it like any sender, but does not take it as a peer, so calling a node never changes its
//! peer count or what it gossips.
//!
//! ```no_run
//! # async fn demo() -> Result<(), dawn_node::client::ClientError> {
//! use dawn_node::client::Client;
//! let client = Client::new(None)?;
//! let node = client.connect(&"127.0.0.1:8000".parse().expect("address")).await?;
//! let pong = client.call(&node, "node/ping", None).await?;
//! println!("{pong:?}");
//! # Ok(()) }
//! ```

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::p2p::{
    Endpoint, Identity, IdentityError, PeerAddr, PeerConnection, TransportError, TransportSettings,
};
use crate::rpc::{self, ErrorObject, Message, RpcError};

/// Default time allowed for one call (connecting included).
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// Nothing answered the handshake in time.
    #[error("no answer within {timeout:?}: is a node listening on that UDP port?")]
    NoAnswer {
        /// The address dialed.
        peer: String,
        /// The time allowed.
        timeout: Duration,
    },
}

/// A JSON-RPC client with one identity: every call it makes counts against that identity's
/// rate limit on the node.
#[derive(Debug)]
pub struct Client {
    identity: Identity,
    v4: Endpoint,
    v6: std::sync::OnceLock<Endpoint>,
    timeout: Duration,
    next_id: AtomicI64,
}

impl Client {
    /// A client with `identity`, or a fresh one (a new node id per client). Binds an
    /// ephemeral UDP port; must run inside a tokio runtime.
    pub fn new(identity: Option<Identity>) -> Result<Self, ClientError> {
        let identity = match identity {
            Some(identity) => identity,
            None => Identity::generate()?,
        };
        let v4 = bind(&identity, SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))?;
        Ok(Self {
            identity,
            v4,
            v6: std::sync::OnceLock::new(),
            timeout: DEFAULT_CALL_TIMEOUT,
            next_id: AtomicI64::new(1),
        })
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

    fn endpoint_for(&self, addr: SocketAddr) -> Result<&Endpoint, ClientError> {
        if addr.is_ipv4() {
            return Ok(&self.v4);
        }
        if let Some(v6) = self.v6.get() {
            return Ok(v6);
        }
        let v6 = bind(&self.identity, SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)))?;
        Ok(self.v6.get_or_init(|| v6))
    }

    /// Connects to the node at `peer` (checking its id when the address names one) within
    /// the client's timeout.
    pub async fn connect(&self, peer: &PeerAddr) -> Result<PeerConnection, ClientError> {
        tokio::time::timeout(self.timeout, self.dial(peer))
            .await
            .unwrap_or_else(|_| {
                Err(ClientError::NoAnswer {
                    peer: peer.to_string(),
                    timeout: self.timeout,
                })
            })
    }

    async fn dial(&self, peer: &PeerAddr) -> Result<PeerConnection, ClientError> {
        let mut last = TransportError::NoAddress {
            peer: peer.to_string(),
            local: self.v4.local_addr(),
        };
        for addr in peer.resolve().await? {
            match self.endpoint_for(addr)?.connect(addr, peer.node_id).await {
                Ok(connection) => return Ok(connection),
                Err(error) => last = error,
            }
        }
        Err(last.into())
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

fn bind(identity: &Identity, addr: SocketAddr) -> Result<Endpoint, ClientError> {
    Ok(Endpoint::bind_client(
        addr,
        identity,
        TransportSettings::default(),
    )?)
}
