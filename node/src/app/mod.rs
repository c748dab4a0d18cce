//! `dawn-node run`: configuration ([`NodeConfig`], flags in [`Cli`]), the data root, the
//! node's health rules, and [`run`], which wires them to telemetry and waits for a signal.

mod checks;
mod cli;
mod config;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use dawn_proto::catalogue::{self, P2P_PEERS};
use tracing::{error, info, warn};

use crate::p2p::{Identity, IdentityError};
use crate::storage::DataRoot;
use crate::telemetry::{RegisterError, ShutdownOutcome, Telemetry, TelemetryError};

pub use checks::{Report, peers as peers_health, storage as storage_health};
pub use cli::{Cli, Command, IdArgs, RunArgs};
pub use config::{
    DEFAULT_DATA_ROOT, DEFAULT_FLUSH_MS, DEFAULT_HOST, DEFAULT_P2P_PORT, ENV_DATA_ROOT,
    ENV_FLUSH_MS, ENV_HOST, ENV_NODE_ID, ENV_P2P_PORT, ENV_SOCKET, NodeConfig, resolve_data_root,
};

/// Why `run` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Telemetry could not start.
    #[error(transparent)]
    Telemetry(#[from] TelemetryError),
    /// A catalogue metric could not be registered.
    #[error("cannot register the metric catalogue: {0}")]
    Register(#[from] RegisterError),
    /// Not even a temporary identity could be made.
    #[error(transparent)]
    Identity(#[from] IdentityError),
}

/// The open (and locked) data root with the identity on it, or why they are unusable.
struct Storage {
    root: Result<(Arc<DataRoot>, PathBuf, Identity), String>,
}

impl Storage {
    fn open(config: &NodeConfig) -> Storage {
        let root = DataRoot::open(&config.data_root)
            .map_err(|e| e.to_string())
            .and_then(|root| match Identity::load_or_create(root.path()) {
                Ok(identity) => {
                    // Shown resolved in logs and the storage check.
                    let shown = std::fs::canonicalize(root.path())
                        .unwrap_or_else(|_| root.path().to_owned());
                    Ok((Arc::new(root), shown, identity))
                }
                Err(e) => Err(e.to_string()),
            });
        Storage { root }
    }
}

fn report(telemetry: &Telemetry, check: &str, (status, message, details): Report) {
    if let Err(e) = telemetry.set_health(check, status, message, details) {
        warn!(check, error = %e, "cannot report a health check");
    }
}

/// Runs the node until `shutdown` resolves (with the name of what stopped it): opens the data
/// root and the identity, starts telemetry with every catalogue metric defined, reports the
/// `storage` and `peers` checks and readiness, re-probes the data root every
/// [`NodeConfig::storage_check_interval`], then on shutdown reports not ready, flushes and
/// says goodbye to the exporter.
///
/// An unusable data root does not stop the node: `storage` is reported unhealthy with the
/// error and the node stays not ready, so the operator sees why on `/health`.
pub async fn run<F>(config: NodeConfig, shutdown: F) -> Result<(), RunError>
where
    F: Future<Output = &'static str> + Send + 'static,
{
    // Poll the signal future at once so its handlers are installed before the slow part.
    let mut shutdown = tokio::spawn(shutdown);
    info!(
        version = env!("CARGO_PKG_VERSION"),
        data_root = %config.data_root.display(),
        socket = %config.socket.display(),
        flush_ms = u64::try_from(config.flush_interval.as_millis()).unwrap_or(u64::MAX),
        host = %config.host,
        p2p_port = config.p2p_port,
        "dawn-node starting"
    );

    let storage = Storage::open(&config);
    let node_id = match (&config.node_id, &storage.root) {
        (Some(id), _) => id.clone(),
        (None, Ok((_, _, identity))) => identity.node_id().to_string(),
        (None, Err(_)) => {
            let id = Identity::generate()?.node_id().to_string();
            warn!(node_id = %id, "no usable data root: running with a temporary node id");
            id
        }
    };

    let telemetry = Telemetry::start(config.telemetry(&node_id))?;
    telemetry.register_all(catalogue::ALL)?;
    telemetry.gauge(&P2P_PEERS).handle().set(0.0);
    report(&telemetry, "peers", checks::peers(0));
    info!(
        node_id = %node_id,
        socket = %config.socket.display(),
        metrics = catalogue::ALL.len(),
        "telemetry started (the exporter may come and go; the node does not wait for it)"
    );

    let root = match &storage.root {
        Ok((root, shown, _)) => {
            report(&telemetry, "storage", checks::storage(shown, Ok(())));
            telemetry.set_ready(true);
            info!(data_root = %shown.display(), "storage open; node ready");
            Some((root.clone(), shown.clone()))
        }
        Err(e) => {
            report(
                &telemetry,
                "storage",
                checks::storage(&config.data_root, Err(e.clone())),
            );
            error!(error = %e, "storage unusable: node not ready; fix the data root and restart");
            None
        }
    };
    info!(
        host = %config.host,
        p2p_port = config.p2p_port,
        "peer-to-peer transport not started in this build; no UDP port is bound"
    );

    let mut probe = tokio::time::interval(config.storage_check_interval);
    probe.tick().await;
    let mut storage_ok = root.is_some();
    let signal = loop {
        tokio::select! {
            joined = &mut shutdown => break joined.unwrap_or("shutdown watcher failed"),
            _ = probe.tick(), if root.is_some() => {
                let Some((dir, shown)) = root.clone() else { continue };
                let result = match tokio::task::spawn_blocking(move || dir.check_writable()).await {
                    Ok(r) => r.map_err(|e| e.to_string()),
                    Err(e) => Err(format!("storage probe failed: {e}")),
                };
                if result.is_ok() != storage_ok {
                    storage_ok = result.is_ok();
                    match &result {
                        Ok(()) => info!("data root writable again; node ready"),
                        Err(e) => error!(error = %e, "data root no longer writable; node not ready"),
                    }
                    telemetry.set_ready(storage_ok);
                }
                report(&telemetry, "storage", checks::storage(&shown, result));
            }
        }
    };

    info!(signal, "shutting down");
    telemetry.set_ready(false);
    let t = telemetry.clone();
    let outcome = tokio::task::spawn_blocking(move || t.shutdown())
        .await
        .unwrap_or(ShutdownOutcome::NotDelivered);
    match outcome {
        ShutdownOutcome::Delivered => info!("telemetry: final flush and goodbye delivered"),
        ShutdownOutcome::NotDelivered => {
            info!("telemetry: no exporter reachable for the final flush")
        }
        ShutdownOutcome::TimedOut => warn!("telemetry: final flush timed out"),
    }
    // The data root's lock is released only now, after the last word to the exporter.
    drop(storage);
    info!("dawn-node stopped");
    Ok(())
}
