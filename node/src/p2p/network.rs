//! The node's peer-to-peer network: the endpoint, the peer table, the serving of every
//! admitted connection and the lifecycle events, wired together.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use dawn_telemetry::BackoffPolicy;
use tokio::sync::{Semaphore, watch};

use super::bootstrap::PeerAddr;
use super::codes::CloseCode;
use super::connection::{Direction, PeerConnection, Role};
use super::dialer::{Dial, Dialers};
use super::endpoint::{Endpoint, IncomingPeer};
use super::error::TransportError;
use super::events::{PeerEvent, PeerObserver};
use super::identity::Identity;
use super::node_id::NodeId;
use super::peer_table::{Admission, PeerInfo, PeerPolicy, PeerTable};
use super::serve::{Handler, serve};
use super::settings::TransportSettings;

/// Handshakes in progress at once; more incoming attempts are refused before any crypto
/// work, which bounds what a flood of connection attempts can cost.
const MAX_PENDING_HANDSHAKES: usize = 64;

/// Clients (`dawn-client/1` connections) served at once; more are closed with
/// [`CloseCode::ClientLimit`].
pub const MAX_CLIENTS: usize = 64;

/// How long [`Network::shutdown`] waits for close frames to reach the peers.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The default redial schedule of [`Network::maintain`]: 1 s doubling to 60 s, so a peer
/// that restarts is back within seconds and one down for hours costs a dial a minute.
pub const DEFAULT_REDIAL_BACKOFF: BackoffPolicy = BackoffPolicy {
    initial: Duration::from_secs(1),
    max: Duration::from_secs(60),
};

/// Everything [`Network::start`] needs besides the identity and the callbacks.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// UDP address to bind (`PROJECT_DAWN_HOST`:`PROJECT_DAWN_P2P_PORT`).
    pub listen: SocketAddr,
    /// Message size limit and timeouts.
    pub transport: TransportSettings,
    /// Peer limit and trust.
    pub policy: PeerPolicy,
    /// Redial schedule of [`Network::maintain`].
    pub backoff: BackoffPolicy,
}

impl NetworkConfig {
    /// Defaults for everything but the address.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            transport: TransportSettings::default(),
            policy: PeerPolicy::default(),
            backoff: DEFAULT_REDIAL_BACKOFF,
        }
    }
}

/// A running peer-to-peer network. Cheap to clone (a handle).
///
/// Every admitted connection, inbound or outbound, is served with the [`Handler`] and
/// reported to the [`PeerObserver`]. Call [`Network::shutdown`] to stop; dropping the
/// handles does not stop the background tasks.
#[derive(Clone)]
pub struct Network {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Endpoint,
    table: PeerTable,
    handler: Arc<dyn Handler>,
    observer: Arc<dyn PeerObserver>,
    backoff: BackoffPolicy,
    shutdown: watch::Sender<bool>,
    /// The dialer of each maintained peer address.
    dialers: Dialers,
    /// Slots for clients being served.
    clients: Arc<Semaphore>,
}

impl Network {
    /// Binds the endpoint and starts accepting peers. Must run inside a tokio runtime.
    pub fn start(
        identity: &Identity,
        config: NetworkConfig,
        handler: Arc<dyn Handler>,
        observer: Arc<dyn PeerObserver>,
    ) -> Result<Self, TransportError> {
        let endpoint = Endpoint::bind(config.listen, identity, config.transport)?;
        Ok(Self::with_endpoint(
            endpoint,
            config.policy,
            config.backoff,
            handler,
            observer,
        ))
    }

    /// Starts on an already bound endpoint.
    pub fn with_endpoint(
        endpoint: Endpoint,
        policy: PeerPolicy,
        backoff: BackoffPolicy,
        handler: Arc<dyn Handler>,
        observer: Arc<dyn PeerObserver>,
    ) -> Self {
        let inner = Arc::new(Inner {
            table: PeerTable::new(endpoint.node_id(), policy),
            endpoint,
            handler,
            observer,
            backoff,
            shutdown: watch::channel(false).0,
            dialers: Dialers::default(),
            clients: Arc::new(Semaphore::new(MAX_CLIENTS)),
        });
        tracing::info!(
            node_id = %inner.endpoint.node_id(),
            address = %inner.endpoint.local_addr(),
            "p2p endpoint listening"
        );
        tokio::spawn(accept_loop(Arc::clone(&inner)));
        Self { inner }
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.inner.endpoint.node_id()
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.endpoint.local_addr()
    }

    /// Connected peers, ordered by id.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.inner.table.peers()
    }

    /// How many peers are connected (the `p2p_peers` gauge).
    pub fn peer_count(&self) -> usize {
        self.inner.table.len()
    }

    /// Whether `peer` is connected.
    pub fn is_connected(&self, peer: &NodeId) -> bool {
        self.inner.table.contains(peer)
    }

    /// The connection to `peer`, if connected.
    pub fn connection(&self, peer: &NodeId) -> Option<PeerConnection> {
        self.inner.table.get(peer)
    }

    /// Whether the peer limit is reached.
    pub fn is_full(&self) -> bool {
        self.inner.table.is_full()
    }

    /// Dials `addr` (expecting `expected` when known) and admits the peer.
    ///
    /// Returns the peer's connection: the new one, or the existing one when the peer was
    /// already connected. Failures and refusals are also reported to the observer.
    pub async fn connect(
        &self,
        addr: SocketAddr,
        expected: Option<NodeId>,
    ) -> Result<PeerConnection, TransportError> {
        if let Some(existing) = expected.and_then(|id| self.connection(&id)) {
            return Ok(existing);
        }
        match self.inner.endpoint.connect(addr, expected).await {
            Ok(connection) => self.inner.install(connection),
            Err(error) => {
                tracing::debug!(%addr, error = %error, "dial failed");
                self.inner.observer.on_event(&PeerEvent::Failed {
                    remote_addr: addr,
                    expected,
                    direction: Direction::Outbound,
                    error: &error,
                });
                Err(error)
            }
        }
    }

    /// Resolves `peer` and dials its addresses in turn until one admits a connection.
    pub async fn connect_peer(&self, peer: &PeerAddr) -> Result<PeerConnection, TransportError> {
        let local = self.local_addr();
        let addrs: Vec<SocketAddr> = peer
            .resolve()
            .await?
            .into_iter()
            .filter(|addr| local.is_ipv6() || addr.is_ipv4())
            .collect();
        let mut last_error = TransportError::NoAddress {
            peer: peer.to_string(),
            local,
        };
        for addr in addrs {
            match self.connect(addr, peer.node_id).await {
                Ok(connection) => return Ok(connection),
                // A refusal concerns the peer, not the address: other addresses won't help.
                Err(error @ TransportError::Rejected { .. }) => return Err(error),
                Err(error) => last_error = error,
            }
        }
        Err(last_error)
    }

    /// Keeps a connection to `peer` in the background: dials it, redials with exponential
    /// backoff and jitter while it is unreachable or after it disconnects, and logs each
    /// failed attempt. Never blocks the caller; stops at [`Network::shutdown`], at
    /// [`Network::forget`], or at once if `peer` turns out to be this node.
    ///
    /// Returns `false` (and changes nothing) when `peer` is already maintained, so gossip
    /// can offer the same address again and again.
    pub fn maintain(&self, peer: PeerAddr) -> bool {
        if self.is_shut_down() {
            return false;
        }
        self.inner.dialers.start(
            self.clone(),
            peer,
            self.inner.backoff,
            self.inner.shutdown.subscribe(),
        )
    }

    /// Stops maintaining `peer` (e.g. gossip says it left for good); an open connection to
    /// it stays open. Returns whether it was maintained.
    pub fn forget(&self, peer: &PeerAddr) -> bool {
        self.inner.dialers.stop(peer)
    }

    /// The peer addresses whose dialers are running.
    pub fn maintained(&self) -> Vec<PeerAddr> {
        self.inner.dialers.peers()
    }

    /// How many dials the dialer of `peer` has started (connected or not); `None` when
    /// `peer` is not maintained. Progress to wait on, e.g. in a test that a forgotten peer
    /// is not redialed while another dialer keeps going.
    #[doc(hidden)]
    pub fn dial_attempts(&self, peer: &PeerAddr) -> Option<u64> {
        self.inner.dialers.dials(peer)
    }

    /// Sends a request to a connected peer and returns its reply.
    pub async fn request(
        &self,
        peer: &NodeId,
        message: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, TransportError> {
        let connection = self
            .connection(peer)
            .ok_or(TransportError::NotConnected(*peer))?;
        connection.request(message, timeout).await
    }

    /// Sends a one-way notification to a connected peer.
    pub async fn notify(
        &self,
        peer: &NodeId,
        message: &[u8],
        timeout: Duration,
    ) -> Result<(), TransportError> {
        let connection = self
            .connection(peer)
            .ok_or(TransportError::NotConnected(*peer))?;
        connection.notify(message, timeout).await
    }

    /// Closes the connection to `peer` (it is then reported as disconnected); `false` when
    /// it was not connected.
    pub fn disconnect(&self, peer: &NodeId) -> bool {
        match self.connection(peer) {
            Some(connection) => {
                connection.close(CloseCode::Normal);
                true
            }
            None => false,
        }
    }

    /// Whether [`Network::shutdown`] has been called.
    pub fn is_shut_down(&self) -> bool {
        *self.inner.shutdown.borrow()
    }

    /// Stops dialers and the accept loop, closes every connection with
    /// [`CloseCode::Shutdown`] and waits briefly so peers receive the close.
    pub async fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
        self.inner.endpoint.close(CloseCode::Shutdown);
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, self.inner.endpoint.wait_idle()).await;
        tracing::info!("p2p endpoint closed");
    }
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("endpoint", &self.inner.endpoint)
            .field("table", &self.inner.table)
            .finish_non_exhaustive()
    }
}

/// The dialers' view: [`Network`]'s own methods.
impl Dial for Network {
    fn connection(&self, peer: &NodeId) -> Option<PeerConnection> {
        Network::connection(self, peer)
    }

    fn is_full(&self) -> bool {
        Network::is_full(self)
    }

    async fn connect_peer(&self, peer: &PeerAddr) -> Result<PeerConnection, TransportError> {
        Network::connect_peer(self, peer).await
    }
}

impl Inner {
    /// Serves a client connection without admitting it as a peer: only trust and the client
    /// limit apply, and no peer event is reported.
    fn serve_client(self: &Arc<Self>, connection: PeerConnection) {
        let policy = self.table.policy();
        let refusal = if policy.reject_unknown && !policy.trusted.contains(&connection.node_id()) {
            Some(CloseCode::Untrusted)
        } else {
            None
        };
        let permit = match refusal {
            Some(code) => Err(code),
            None => Arc::clone(&self.clients)
                .try_acquire_owned()
                .map_err(|_| CloseCode::ClientLimit),
        };
        match permit {
            Ok(permit) => {
                tracing::debug!(client = %connection.node_id().short(), remote = %connection.remote_addr(), "client connected");
                let handler = Arc::clone(&self.handler);
                tokio::spawn(async move {
                    let reason = serve(connection.clone(), handler).await;
                    tracing::debug!(client = %connection.node_id().short(), reason = %reason, "client disconnected");
                    drop(permit);
                });
            }
            Err(code) => {
                tracing::info!(
                    client = %connection.node_id(),
                    remote = %connection.remote_addr(),
                    reason = code.reason(),
                    "client refused"
                );
                connection.close(code);
            }
        }
    }

    /// Applies the admission rules to an authenticated connection and serves it if kept.
    fn install(
        self: &Arc<Self>,
        connection: PeerConnection,
    ) -> Result<PeerConnection, TransportError> {
        let node_id = connection.node_id();
        let remote_addr = connection.remote_addr();
        let direction = connection.direction();
        match self.table.admit(connection.clone(), SystemTime::now()) {
            Admission::Admitted { peer, peers } => {
                tracing::info!(
                    peer = %node_id,
                    remote = %remote_addr,
                    direction = direction.as_str(),
                    peers,
                    "peer connected"
                );
                self.observer
                    .on_event(&PeerEvent::Connected { peer, peers });
                self.spawn_serving(connection.clone());
                Ok(connection)
            }
            Admission::Replaced { old } => {
                tracing::debug!(peer = %node_id.short(), closed = old.direction().as_str(), "duplicate connection closed");
                old.close(CloseCode::Duplicate);
                self.observer.on_event(&PeerEvent::Duplicate {
                    node_id,
                    closed: old.direction(),
                });
                self.spawn_serving(connection.clone());
                Ok(connection)
            }
            Admission::KeptExisting { existing } => {
                tracing::debug!(peer = %node_id.short(), closed = direction.as_str(), "duplicate connection closed");
                connection.close(CloseCode::Duplicate);
                self.observer.on_event(&PeerEvent::Duplicate {
                    node_id,
                    closed: direction,
                });
                Ok(existing)
            }
            Admission::Rejected(reason) => {
                tracing::info!(
                    peer = %node_id,
                    remote = %remote_addr,
                    direction = direction.as_str(),
                    reason = %reason,
                    "peer refused"
                );
                connection.close(reason.close_code());
                self.observer.on_event(&PeerEvent::Rejected {
                    node_id,
                    remote_addr,
                    direction,
                    reason,
                });
                Err(TransportError::Rejected {
                    node_id,
                    addr: remote_addr,
                    reason,
                })
            }
        }
    }

    /// Serves the connection until it ends, then reports the disconnection (unless the
    /// connection had already been replaced by a duplicate).
    fn spawn_serving(self: &Arc<Self>, connection: PeerConnection) {
        let inner = Arc::clone(self);
        tokio::spawn(async move {
            let reason = serve(connection.clone(), Arc::clone(&inner.handler)).await;
            if let Some((peer, peers)) = inner.table.remove(&connection) {
                tracing::info!(
                    peer = %peer.node_id,
                    remote = %peer.remote_addr,
                    reason = %reason,
                    peers,
                    "peer disconnected"
                );
                inner.observer.on_event(&PeerEvent::Disconnected {
                    peer,
                    reason: &reason,
                    peers,
                });
            }
        });
    }

    /// Completes one incoming handshake and admits the peer.
    async fn handshake(self: Arc<Self>, incoming: IncomingPeer) {
        let remote_addr = incoming.remote_addr();
        match incoming.handshake().await {
            Ok(connection) if connection.role() == Role::Client => self.serve_client(connection),
            Ok(connection) => {
                // A refusal is already logged and reported by `install`.
                let _ = self.install(connection);
            }
            Err(error) => {
                tracing::warn!(remote = %remote_addr, error = %error, "incoming connection failed");
                self.observer.on_event(&PeerEvent::Failed {
                    remote_addr,
                    expected: None,
                    direction: Direction::Inbound,
                    error: &error,
                });
            }
        }
    }
}

/// Accepts connection attempts until the endpoint closes, each handshake in its own task.
async fn accept_loop(inner: Arc<Inner>) {
    let pending = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    while let Some(incoming) = inner.endpoint.accept().await {
        let Ok(permit) = Arc::clone(&pending).try_acquire_owned() else {
            tracing::warn!(
                remote = %incoming.remote_addr(),
                limit = MAX_PENDING_HANDSHAKES,
                "too many handshakes in progress; connection attempt refused"
            );
            incoming.refuse();
            continue;
        };
        let inner = Arc::clone(&inner);
        let mut stop = inner.shutdown.subscribe();
        tokio::spawn(async move {
            // A handshake the peer abandoned would otherwise hold the endpoint (and its UDP
            // port) until the handshake timeout, after shutdown too.
            tokio::select! {
                () = inner.handshake(incoming) => {}
                _ = stop.wait_for(|stopped| *stopped) => {}
            }
            drop(permit);
        });
    }
}
