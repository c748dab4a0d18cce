//! The background task behind [`Network::maintain`]: keep one peer connected, redialing
//! with backoff while it is unreachable.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Instant, sleep};

use super::backoff::{Backoff, BackoffPolicy};
use super::bootstrap::PeerAddr;
use super::codes::RejectReason;
use super::error::TransportError;
use super::network::Network;

/// A connection that lasted this long resets the backoff; one that dies sooner (e.g. the
/// peer refuses us right after the handshake because it is full) keeps backing off, so a
/// full peer is not hammered.
const STABLE_CONNECTION: Duration = Duration::from_secs(30);

/// Runs until shutdown, or until `target` turns out to be this node.
pub(super) async fn maintain(
    network: Network,
    target: PeerAddr,
    policy: BackoffPolicy,
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
            None if network.is_full() => {
                tracing::debug!(peer = %target, "peer limit reached; not dialing");
                None
            }
            None => match network.connect_peer(&target).await {
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
            },
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
