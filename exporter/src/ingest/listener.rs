//! The accept loop: one task per client, at most `max_clients` at a time.

use std::sync::Arc;
use std::time::Duration;

use dawn_proto::{Frame, Reject, encode_frame};
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{debug, warn};

use super::connection::{self, ConnectionLimits};
use super::session::{Session, Shared};
use crate::metrics::{ConnectionResult, ProtocolError};

/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Tells a client over the limit why it is turned away, then closes.
async fn reject_over_limit(mut stream: UnixStream, max_clients: usize, timeout: Duration) {
    let mut bytes = Vec::new();
    let reject = Frame::Reject(Reject {
        reason: format!(
            "{}: the exporter already serves its maximum of {max_clients} clients (--ingest.max-clients)",
            ProtocolError::ClientLimit
        ),
    });
    if encode_frame(&reject, &mut bytes).is_ok() {
        let _ = tokio::time::timeout(timeout, stream.write_all(&bytes)).await;
    }
    let _ = stream.shutdown().await;
}

/// Accepts clients until `shutdown` turns true, then waits for their tasks to end.
pub(crate) async fn run(
    listener: UnixListener,
    shared: Arc<Shared>,
    max_clients: usize,
    limits: ConnectionLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(max_clients));
    let mut tasks = JoinSet::new();
    let mut next_conn = 0u64;
    loop {
        tokio::select! {
            biased;
            () = connection::stopped(&mut shutdown) => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        warn!("cannot accept a telemetry client: {e}");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                };
                next_conn += 1;
                match Arc::clone(&slots).try_acquire_owned() {
                    Ok(permit) => {
                        let session = Session::new(Arc::clone(&shared), next_conn);
                        let stop = shutdown.clone();
                        tasks.spawn(connection::serve(stream, session, limits, stop, permit));
                    }
                    Err(_) => {
                        shared.metrics.protocol_error(ProtocolError::ClientLimit);
                        shared.metrics.connection(ConnectionResult::Rejected);
                        warn!(
                            conn = next_conn,
                            max_clients,
                            "client rejected: the exporter already serves its maximum of clients"
                        );
                        tasks.spawn(reject_over_limit(stream, max_clients, limits.write_timeout));
                    }
                }
            }
        }
    }
    drop(listener);
    debug!(
        clients = tasks.len(),
        "stopped accepting; closing client connections"
    );
    while tasks.join_next().await.is_some() {}
}
