//! `dawn-node run`: configuration ([`NodeConfig`], flags in [`Cli`]), the data root, and
//! [`run`], which wires storage, agents, telemetry and the [`Service`] together and waits
//! for a signal.

mod cli;
mod config;
mod settings;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use dawn_telemetry::{RegisterError, ShutdownOutcome, Telemetry, TelemetryError};
use tracing::{error, info, warn};

use crate::agents::{AgentRegistry, EchoAgent};
use crate::catalogue::{self, Component, NodeFailure};
use crate::p2p::{Identity, IdentityError, TransportError, TransportSettings};
use crate::service::{Agents, NodeMetrics, Report, Service, ServiceConfig, storage_health};
use crate::storage::DataRoot;

pub use cli::{CallArgs, Cli, Command};
pub use config::{NodeConfig, resolve_data_root};
pub use settings::{
    DEFAULT_DATA_ROOT, DEFAULT_GOSSIP_INTERVAL, DEFAULT_HOST, DEFAULT_P2P_PORT, ENV_BOOTSTRAP,
    ENV_DATA_ROOT, ENV_FLUSH_MS, ENV_GOSSIP_INTERVAL, ENV_HOST, ENV_MAX_PEERS, ENV_NODE_ID,
    ENV_P2P_PORT, ENV_REJECT_UNKNOWN, ENV_SOCKET, ENV_TELEMETRY, ENV_TRUSTED_PEERS, IdArgs,
    IdSettings, MAX_MAX_PEERS, RunArgs, RunSettings,
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
    /// The peer-to-peer endpoint could not start (port in use, bad address).
    #[error(transparent)]
    Network(#[from] TransportError),
}

/// The open (and locked) data root with the identity on it, or why they are unusable.
struct Storage {
    root: Result<(Arc<DataRoot>, PathBuf, Identity), String>,
}

/// The agents on `root`: the built-ins, or only `echo` (with the reason) when the kv
/// agent's state cannot be loaded, so the node keeps serving what it can.
fn load_agents(root: Option<&DataRoot>) -> Agents {
    let loaded = match root {
        Some(root) => AgentRegistry::with_builtins(root).map_err(|e| e.to_string()),
        None => Err("the data root is unusable (see the storage check)".to_owned()),
    };
    match loaded {
        Ok(registry) => Agents {
            registry: Arc::new(registry),
            load_error: None,
        },
        Err(load_error) => {
            error!(error = %load_error, "kv agent unavailable; serving the echo agent only");
            let mut registry = AgentRegistry::new();
            // A fresh registry has no agent to collide with.
            let _ = registry.register(Arc::new(EchoAgent::new()));
            Agents {
                registry: Arc::new(registry),
                load_error: Some(format!("kv: {load_error}")),
            }
        }
    }
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
/// root and the identity, starts telemetry with every catalogue metric defined, loads the
/// agents, starts the [`Service`] (QUIC endpoint, bootstrap, gossip, health checks),
/// reports readiness, re-probes the data root every
/// [`NodeConfig::storage_check_interval`], then on shutdown reports not ready, closes the
/// peer connections, flushes and says goodbye to the exporter.
///
/// An unusable data root does not stop the node: `storage` is reported unhealthy with the
/// error and the node stays not ready, so the operator sees why on `/health`. A port in use
/// does stop it, with an error naming the address.
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
        telemetry = config.telemetry_enabled,
        flush_ms = u64::try_from(config.flush_interval.as_millis()).unwrap_or(u64::MAX),
        host = %config.host,
        p2p_port = config.p2p_port,
        bootstrap = config.bootstrap.len(),
        "dawn-node starting"
    );

    let storage = Storage::open(&config);
    let temporary;
    let identity = match &storage.root {
        Ok((_, _, identity)) => identity,
        Err(_) => {
            temporary = Identity::generate()?;
            warn!(node_id = %temporary.node_id(), "no usable data root: running with a temporary node id");
            &temporary
        }
    };
    let node_id = config
        .node_id
        .clone()
        .unwrap_or_else(|| identity.node_id().to_string());

    let telemetry = Telemetry::start(config.telemetry(&node_id))?;
    telemetry.register_all(catalogue::ALL)?;
    let metrics = Arc::new(NodeMetrics::new(&telemetry));
    metrics.set_peers(0);
    if config.telemetry_enabled {
        info!(
            node_id = %node_id,
            socket = %config.socket.display(),
            metrics = catalogue::ALL.len(),
            "telemetry started (the exporter may come and go; the node does not wait for it)"
        );
    } else {
        info!(
            node_id = %node_id,
            metrics = catalogue::ALL.len(),
            "telemetry off: metrics are counted in memory only, nothing is sent to an exporter"
        );
    }

    let root = match &storage.root {
        Ok((root, shown, _)) => {
            report(&telemetry, "storage", storage_health(shown, Ok(())));
            Some((root.clone(), shown.clone()))
        }
        Err(e) => {
            metrics.error(NodeFailure::StorageUnusable.as_str(), Component::Storage);
            report(
                &telemetry,
                "storage",
                storage_health(&config.data_root, Err(e.clone())),
            );
            error!(error = %e, "storage unusable: node not ready; fix the data root and restart");
            None
        }
    };
    let agents = load_agents(root.as_ref().map(|(r, _)| &**r));
    if agents.load_error.is_some() {
        metrics.error(NodeFailure::AgentsLoadFailed.as_str(), Component::Agents);
    }

    let service_config = ServiceConfig {
        listen: config.listen_addr(),
        bootstrap: config.bootstrap.clone(),
        gossip_interval: config.gossip_interval,
        policy: config.policy.clone(),
        breaker: config.breaker,
        rate_limit: config.rate_limit,
        transport: TransportSettings::default(),
    };
    let service = match Service::start(
        identity,
        service_config,
        telemetry.clone(),
        Arc::clone(&metrics),
        agents,
    ) {
        Ok(service) => service,
        Err(e) => {
            metrics.error(e.kind(), Component::P2p);
            stop_telemetry(&telemetry).await;
            return Err(e.into());
        }
    };
    if root.is_some() {
        telemetry.set_ready(true);
        info!(node_id = %service.node_id(), "endpoint up and storage open; node ready");
    }

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
                        Err(e) => {
                            metrics.error(NodeFailure::StorageNotWritable.as_str(), Component::Storage);
                            error!(error = %e, "data root no longer writable; node not ready");
                        }
                    }
                    telemetry.set_ready(storage_ok);
                }
                report(&telemetry, "storage", storage_health(&shown, result));
            }
        }
    };

    info!(signal, "shutting down");
    telemetry.set_ready(false);
    service.shutdown().await;
    stop_telemetry(&telemetry).await;
    // The data root's lock is released only now, after the last word to the exporter.
    drop(storage);
    info!("dawn-node stopped");
    Ok(())
}

/// The final flush and goodbye to the exporter, off the async threads.
async fn stop_telemetry(telemetry: &Telemetry) {
    let t = telemetry.clone();
    let outcome = tokio::task::spawn_blocking(move || t.shutdown())
        .await
        .unwrap_or(ShutdownOutcome::NotDelivered);
    match outcome {
        ShutdownOutcome::Delivered => info!("telemetry: final flush and goodbye delivered"),
        ShutdownOutcome::NotDelivered if !telemetry.config().ship => {}
        ShutdownOutcome::NotDelivered => {
            info!("telemetry: no exporter reachable for the final flush")
        }
        ShutdownOutcome::TimedOut => warn!("telemetry: final flush timed out"),
    }
}
