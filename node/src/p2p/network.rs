//! The node's peer-to-peer network: the endpoint, the peer table, the client slots, the
//! serving of every admitted connection and the lifecycle events, wired together.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use dawn_daemon::log_limit::DEFAULT_LOG_INTERVAL;
use dawn_telemetry::BackoffPolicy;
use tokio::sync::{Semaphore, watch};

use super::bootstrap::PeerAddr;
use super::client_slots::{ClientSlots, MAX_CLIENTS};
use super::codes::CloseCode;
use super::codes::RejectReason;
use super::connection::{Direction, PeerConnection, Role};
use super::dialer::{Dial, Dialers};
use super::endpoint::{Endpoint, IncomingPeer};
use super::error::TransportError;
use super::events::{PeerEvent, PeerObserver};
use super::identity::Identity;
use super::node_id::NodeId;
use super::noise::Noise;
use super::peer_table::{Admission, PeerInfo, PeerPolicy, PeerTable, to_shed};
use super::serve::{Handler, Serving, serve};
use super::settings::TransportSettings;
use super::source::SourceAddress;
use crate::limited_log::LimitedLog;

/// Handshakes in progress at once; more incoming attempts are refused before any crypto
/// work, which bounds what a flood of connection attempts can cost.
const MAX_PENDING_HANDSHAKES: usize = 64;

/// With this many handshakes in progress, an attempt from an address not yet proven is
/// answered with a stateless QUIC Retry instead of a handshake: a real sender comes back at
/// once with the token (one more round trip), spoofed Initial packets never do, so they
/// cannot fill the handshake slots (docs/p2p.md).
const RETRY_ABOVE: usize = 8;

/// How long a node about to close a peer for lack of room waits for the reply to its
/// parting request (the addresses it hands over) before closing anyway.
const PARTING_GRACE: Duration = Duration::from_secs(2);

/// Parting requests in flight at once (as many as handshakes may be); past it, refused
/// peers are closed at once without addresses, so refusing a flood of peers costs no more
/// than before.
const MAX_PARTINGS: usize = 64;

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
    clients: Arc<ClientSlots>,
    /// Where the events strangers can repeat are logged, rate-limited.
    log: Arc<LimitedLog<Noise>>,
    /// Slots for parting requests in flight ([`MAX_PARTINGS`]).
    partings: Arc<Semaphore>,
    /// Inbound peers refused for the limit since the last [`Network::shed`].
    refused_newcomers: AtomicUsize,
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
            clients: ClientSlots::new(MAX_CLIENTS),
            log: Arc::default(),
            partings: Arc::new(Semaphore::new(MAX_PARTINGS)),
            refused_newcomers: AtomicUsize::new(0),
        });
        tracing::info!(
            node_id = %inner.endpoint.node_id(),
            address = %inner.endpoint.local_addr(),
            "p2p endpoint listening"
        );
        tokio::spawn(accept_loop(Arc::clone(&inner)));
        tokio::spawn(write_log_counts(
            Arc::clone(&inner.log),
            inner.shutdown.subscribe(),
        ));
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

    /// The peer count as the table publishes it at every change: a single reader setting
    /// `p2p_peers` from it always ends on the table's count.
    pub fn watch_peer_count(&self) -> watch::Receiver<usize> {
        self.inner.table.watch_count()
    }

    /// Untrusted peers connected from `source` now.
    pub fn untrusted_peers_from(&self, source: &SourceAddress) -> usize {
        self.inner.table.untrusted_from(source)
    }

    /// Client slots held now, in all and by `source` (tests and logs).
    #[doc(hidden)]
    pub fn clients_held(&self, source: SourceAddress) -> (usize, usize) {
        self.inner.clients.held(source)
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

    /// Whether the node is below its [`PeerPolicy::target`], so it should dial more peers.
    pub fn wants_peers(&self) -> bool {
        self.inner.table.len() < self.inner.table.policy().target()
    }

    /// The peer policy (limit, target, trust).
    pub fn policy(&self) -> &PeerPolicy {
        self.inner.table.policy()
    }

    /// When the node is full and refused newcomers since the last call, closes as many of
    /// its oldest inbound peers connected for at least `min_age`, down to its target at
    /// most (never trusted or outbound ones), each after the handler's parting request
    /// (addresses to go to), with [`CloseCode::Rebalanced`]; returns the peers closed.
    /// Call it each gossip round when other addresses are known, so the node everyone
    /// bootstraps from keeps taking newcomers and handing them on.
    pub fn shed(&self, min_age: Duration) -> Vec<NodeId> {
        let wanted = self.inner.refused_newcomers.swap(0, Ordering::Relaxed);
        let peers = self.inner.table.peers();
        let shed = to_shed(self.policy(), &peers, SystemTime::now(), min_age, wanted);
        for peer in &shed {
            if let Some(connection) = self.connection(peer) {
                tracing::info!(peer = %peer, remote = %connection.remote_addr(), "peer closed to make room for new peers");
                self.inner.part_with(connection, CloseCode::Rebalanced);
            }
        }
        shed
    }

    /// Closes the connection to `peer` as a rotation does (docs/p2p.md, *Rotation*): after
    /// the handler's parting request (addresses to go to), with [`CloseCode::Rebalanced`],
    /// so the peer backs off from this node as from a refusal. `false` when not connected.
    pub fn rotate_out(&self, peer: &NodeId) -> bool {
        let Some(connection) = self.connection(peer) else {
            return false;
        };
        tracing::info!(peer = %peer, remote = %connection.remote_addr(), "outbound peer closed for a farther one (rotation)");
        self.inner.part_with(connection, CloseCode::Rebalanced);
        true
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

    fn has_enough_peers(&self) -> bool {
        !Network::wants_peers(self)
    }

    async fn connect_peer(&self, peer: &PeerAddr) -> Result<PeerConnection, TransportError> {
        Network::connect_peer(self, peer).await
    }
}

impl Inner {
    /// Serves a client connection without admitting it as a peer: only trust, the client
    /// slots (with the fair share per source address) and the client idle timeout apply,
    /// and no peer event is reported.
    fn serve_client(self: &Arc<Self>, connection: PeerConnection) {
        let policy = self.table.policy();
        let trusted = policy.is_trusted(&connection.node_id());
        let source = SourceAddress::of(connection.remote_addr().ip());
        let slot = if policy.reject_unknown && !trusted {
            Err(CloseCode::Untrusted)
        } else {
            self.clients.take(source, trusted)
        };
        match slot {
            Ok(slot) => {
                tracing::debug!(client = %connection.node_id().short(), remote = %connection.remote_addr(), "client connected");
                let serving = self.serving(Some(self.endpoint.settings().client_idle_timeout));
                tokio::spawn(async move {
                    let reason = serve(connection.clone(), serving).await;
                    // The slot is free the moment the connection has ended.
                    drop(slot);
                    tracing::debug!(client = %connection.node_id().short(), reason = %reason, "client disconnected");
                });
            }
            Err(code) => {
                self.log.event(Noise::Client(code), || {
                    tracing::info!(
                        client = %connection.node_id(),
                        remote = %connection.remote_addr(),
                        reason = code.reason(),
                        "client refused"
                    );
                });
                connection.close(code);
            }
        }
    }

    /// How connections are served; `idle` for clients only.
    fn serving(&self, idle: Option<Duration>) -> Serving {
        Serving {
            handler: Arc::clone(&self.handler),
            log: Arc::clone(&self.log),
            idle,
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
                if reason == RejectReason::PeerLimit && direction == Direction::Inbound {
                    self.refused_newcomers.fetch_add(1, Ordering::Relaxed);
                    self.part_with(connection, reason.close_code());
                } else {
                    connection.close(reason.close_code());
                }
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

    /// Closes `connection` with `code` once the handler's parting request (if any) was
    /// answered or [`PARTING_GRACE`] passed; at once when [`MAX_PARTINGS`] are in flight.
    fn part_with(self: &Arc<Self>, connection: PeerConnection, code: CloseCode) {
        let Some(message) = self.handler.parting(&connection.node_id()) else {
            connection.close(code);
            return;
        };
        let Ok(permit) = Arc::clone(&self.partings).try_acquire_owned() else {
            connection.close(code);
            return;
        };
        tokio::spawn(async move {
            if let Err(error) = connection.request(&message, PARTING_GRACE).await {
                tracing::debug!(peer = %connection.node_id().short(), error = %error, "parting addresses not delivered");
            }
            connection.close(code);
            drop(permit);
        });
    }

    /// Serves the connection until it ends, then reports the disconnection (unless the
    /// connection had already been replaced by a duplicate).
    fn spawn_serving(self: &Arc<Self>, connection: PeerConnection) {
        let inner = Arc::clone(self);
        tokio::spawn(async move {
            let reason = serve(connection.clone(), inner.serving(None)).await;
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
                // Spoofed or abandoned Initial packets end here: a stranger can repeat it.
                self.log.event(Noise::HandshakeFailed, || {
                    tracing::warn!(remote = %remote_addr, error = %error, "incoming connection failed");
                });
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
/// Past [`RETRY_ABOVE`] handshakes in progress, attempts from unproven addresses get a
/// stateless Retry; past [`MAX_PENDING_HANDSHAKES`], attempts are refused.
async fn accept_loop(inner: Arc<Inner>) {
    let pending = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    while let Some(incoming) = inner.endpoint.accept().await {
        let in_progress = MAX_PENDING_HANDSHAKES - pending.available_permits();
        if in_progress >= RETRY_ABOVE && !incoming.is_validated() && incoming.can_retry() {
            incoming.retry();
            continue;
        }
        let Ok(permit) = Arc::clone(&pending).try_acquire_owned() else {
            let remote = incoming.remote_addr();
            inner.log.event(Noise::HandshakesBusy, || {
                tracing::warn!(
                    %remote,
                    limit = MAX_PENDING_HANDSHAKES,
                    "too many handshakes in progress; connection attempt refused"
                );
            });
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

/// Writes the counts of the rate-limited log every interval until shutdown, then the rest.
async fn write_log_counts(log: Arc<LimitedLog<Noise>>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(DEFAULT_LOG_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => log.write_due(),
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
    }
    log.write_all();
}
