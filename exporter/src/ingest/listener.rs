//! The accept loop: one task per connection, each with its place in the [`Admission`]
//! table (which may tell an older pending connection to give way).

use std::sync::Arc;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::debug;

use super::admission::Admission;
use super::apply::Shared;
use super::connection::{self, ConnectionLimits};
use super::peer::Gate;

/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Accepts clients until `shutdown` turns true, then waits for their tasks to end.
pub(crate) async fn run(
    listener: UnixListener,
    shared: Arc<Shared>,
    admission: Arc<Admission>,
    limits: ConnectionLimits,
    gate: Gate,
    mut shutdown: watch::Receiver<bool>,
) {
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
                        gate.accept_failed(&e);
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                };
                next_conn += 1;
                let Some(stream) = gate.admit(stream, next_conn) else { continue };
                let ticket = admission.arrive(next_conn);
                let shared = Arc::clone(&shared);
                let stop = shutdown.clone();
                tasks.spawn(connection::serve(stream, shared, next_conn, limits, stop, ticket));
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
