//! Maintained peers: one background task per peer address keeps that peer connected,
//! redialing with backoff while it is unreachable ([`Network::maintain`]).
//!
//! A dialer sees the network only through [`Dial`], so this file sits below `network.rs`
//! and the network owns its [`Dialers`].
//!
//! [`Network::maintain`]: super::Network::maintain

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use dawn_telemetry::{Backoff, BackoffPolicy};
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio::time::{Instant, sleep};

use super::bootstrap::PeerAddr;
use super::codes::RejectReason;
use super::connection::PeerConnection;
use super::error::TransportError;
use super::node_id::NodeId;

/// A connection that lasted this long resets the backoff; one that dies sooner (e.g. the
/// peer refuses us right after the handshake because it is full) keeps backing off, so a
/// full peer is not hammered.
const STABLE_CONNECTION: Duration = Duration::from_secs(30);

/// What a dialer needs from the network it keeps a peer connected in.
pub(super) trait Dial: Send + Sync + 'static {
    /// The connection to `peer`, if connected.
    fn connection(&self, peer: &NodeId) -> Option<PeerConnection>;

    /// Whether the node has as many peers as it dials towards (its target), so a
    /// maintained peer that is not connected need not be dialed now.
    fn has_enough_peers(&self) -> bool;

    /// Dials `peer` and admits it; returns the peer's connection.
    fn connect_peer(
        &self,
        peer: &PeerAddr,
    ) -> impl Future<Output = Result<PeerConnection, TransportError>> + Send;
}

/// The maintained peer addresses, each with its running dialer.
#[derive(Debug, Default)]
pub(super) struct Dialers(Mutex<HashMap<PeerAddr, Dialer>>);

#[derive(Debug)]
struct Dialer {
    task: AbortHandle,
    /// Dials this dialer has started: its progress, whether or not they connected.
    dials: Arc<AtomicU64>,
}

impl Dialers {
    /// Starts a dialer keeping `peer` connected in `network` until `shutdown`; `false`
    /// (and nothing started) when `peer` is already maintained.
    pub(super) fn start(
        &self,
        network: impl Dial,
        peer: PeerAddr,
        policy: BackoffPolicy,
        shutdown: watch::Receiver<bool>,
    ) -> bool {
        let mut running = self.running();
        if running.contains_key(&peer) {
            return false;
        }
        let dials = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(maintain(
            network,
            peer.clone(),
            policy,
            Arc::clone(&dials),
            shutdown,
        ));
        running.insert(
            peer,
            Dialer {
                task: task.abort_handle(),
                dials,
            },
        );
        true
    }

    /// Stops the dialer of `peer`; returns whether there was one.
    pub(super) fn stop(&self, peer: &PeerAddr) -> bool {
        match self.running().remove(peer) {
            Some(dialer) => {
                dialer.task.abort();
                true
            }
            None => false,
        }
    }

    /// The peer addresses whose dialers are running.
    pub(super) fn peers(&self) -> Vec<PeerAddr> {
        self.running().keys().cloned().collect()
    }

    /// How many dials the dialer of `peer` has started; `None` when it is not running.
    pub(super) fn dials(&self, peer: &PeerAddr) -> Option<u64> {
        self.running()
            .get(peer)
            .map(|dialer| dialer.dials.load(Ordering::Relaxed))
    }

    /// The running dialers; those that ended on their own (shutdown, the address is this
    /// node) are dropped first.
    fn running(&self) -> MutexGuard<'_, HashMap<PeerAddr, Dialer>> {
        // Each update is a single map operation, so a panicked holder leaves it consistent.
        let mut running = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        running.retain(|_, dialer| !dialer.task.is_finished());
        running
    }
}

/// Runs until shutdown, or until `target` turns out to be this node.
async fn maintain(
    network: impl Dial,
    target: PeerAddr,
    policy: BackoffPolicy,
    dials: Arc<AtomicU64>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(policy);
    let mut known = target.node_id;
    loop {
        if *shutdown.borrow_and_update() {
            return;
        }
        let connection = match known.and_then(|id| network.connection(&id)) {
            Some(connection) => Some(connection),
            None if network.has_enough_peers() => {
                tracing::debug!(peer = %target, "enough peers; not dialing");
                None
            }
            None => {
                dials.fetch_add(1, Ordering::Relaxed);
                match network.connect_peer(&target).await {
                    Ok(connection) => {
                        if backoff.attempt() > 0 {
                            tracing::info!(
                                peer = %target,
                                attempts = backoff.attempt() + 1,
                                "peer reachable again"
                            );
                        }
                        known = Some(connection.node_id());
                        Some(connection)
                    }
                    Err(TransportError::Rejected {
                        reason: RejectReason::SelfConnection,
                        ..
                    }) => {
                        tracing::info!(peer = %target, "peer address is this node itself; not dialing it");
                        return;
                    }
                    Err(error) => {
                        tracing::warn!(
                            peer = %target,
                            attempt = backoff.attempt() + 1,
                            error = %error,
                            "cannot connect to peer; retrying with backoff"
                        );
                        None
                    }
                }
            }
        };
        if let Some(connection) = connection {
            let since = Instant::now();
            tokio::select! {
                _ = connection.closed() => {}
                _ = shutdown.changed() => return,
            }
            if since.elapsed() >= STABLE_CONNECTION {
                backoff.reset();
            }
            // Another connection to the same peer (a duplicate that won) took over: follow
            // it without waiting.
            let replaced = known
                .and_then(|id| network.connection(&id))
                .is_some_and(|current| current.stable_id() != connection.stable_id());
            if replaced {
                continue;
            }
        }
        let delay = backoff.next_delay(rand::random::<f64>());
        tracing::debug!(peer = %target, ?delay, "next dial scheduled");
        tokio::select! {
            () = sleep(delay) => {}
            _ = shutdown.changed() => return,
        }
    }
}
