//! Start-up, in order: the data root and the identity on it, telemetry with the catalogue
//! defined, the agents, and the [`Service`]. Only what leaves nothing to serve (not even a
//! temporary identity, telemetry that cannot start, a port in use) stops the node; an
//! unusable data root or agent is reported on `/health` and the node runs without it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dawn_telemetry::Telemetry;
use tracing::{error, info, warn};

use super::config::NodeConfig;
use super::error::RunError;
use super::telemetry;
use crate::agents::{AgentRegistry, EchoAgent};
use crate::catalogue::{self, Component, NodeFailure};
use crate::p2p::{Identity, TransportSettings};
use crate::service::{
    Agents, HealthCheck, NodeMetrics, Service, ServiceConfig, StorageCheck, report_check,
    storage_health,
};
use crate::storage::DataRoot;

/// A node that has started: what the serve loop drives, then stops.
pub(super) struct Running {
    pub(super) telemetry: Telemetry,
    pub(super) metrics: Arc<NodeMetrics>,
    pub(super) service: Service,
    /// The open data root (its lock held until this is dropped) with its `storage` check;
    /// `None` when the root is unusable: the node is then not ready, and the root is not
    /// probed again.
    pub(super) storage: Option<(Arc<DataRoot>, StorageCheck)>,
}

/// The data root (open, locked, and its path as shown to the operator) or why it is
/// unusable, and the identity on it, or a temporary one.
struct Storage {
    root: Result<(Arc<DataRoot>, PathBuf), String>,
    identity: Identity,
}

impl Storage {
    fn open(data_root: &Path) -> Result<Storage, RunError> {
        let opened = DataRoot::open(data_root)
            .map_err(|e| e.to_string())
            .and_then(|root| {
                let identity = Identity::load_or_create(root.path()).map_err(|e| e.to_string())?;
                // Shown resolved in logs and the storage check.
                let shown =
                    std::fs::canonicalize(root.path()).unwrap_or_else(|_| root.path().to_owned());
                Ok((Arc::new(root), shown, identity))
            });
        Ok(match opened {
            Ok((root, shown, identity)) => Storage {
                root: Ok((root, shown)),
                identity,
            },
            Err(e) => {
                let identity = Identity::generate()?;
                warn!(node_id = %identity.node_id(), "no usable data root: running with a temporary node id");
                Storage {
                    root: Err(e),
                    identity,
                }
            }
        })
    }
}

/// Starts telemetry as `node_id` with every catalogue metric defined.
fn start_telemetry(
    config: &NodeConfig,
    node_id: &str,
) -> Result<(Telemetry, Arc<NodeMetrics>), RunError> {
    let telemetry = Telemetry::start(config.telemetry(node_id))?;
    telemetry.register_all(catalogue::ALL)?;
    let metrics = Arc::new(NodeMetrics::new(&telemetry));
    metrics.set_peers(0);
    if config.telemetry_enabled {
        info!(
            node_id,
            socket = %config.socket.display(),
            metrics = catalogue::ALL.len(),
            "telemetry started (the exporter may come and go; the node does not wait for it)"
        );
    } else {
        info!(
            node_id,
            metrics = catalogue::ALL.len(),
            "telemetry off: metrics are counted in memory only, nothing is sent to an exporter"
        );
    }
    Ok((telemetry, metrics))
}

/// The first `storage` report: the data root's check when it opened, unhealthy with the
/// reason (and counted) when it did not.
fn first_storage_report(
    telemetry: &Telemetry,
    metrics: &NodeMetrics,
    config: &NodeConfig,
    root: Result<(Arc<DataRoot>, PathBuf), String>,
) -> Option<(Arc<DataRoot>, StorageCheck)> {
    match root {
        Ok((root, shown)) => {
            let mut check = StorageCheck::new(shown);
            let (opened, _) = check.observe(Ok(()));
            report_check(telemetry, HealthCheck::Storage, opened);
            Some((root, check))
        }
        Err(e) => {
            metrics.error(NodeFailure::StorageUnusable.as_str(), Component::Storage);
            let unusable = storage_health(&config.data_root, Err(e.clone()));
            report_check(telemetry, HealthCheck::Storage, unusable);
            error!(error = %e, "storage unusable: node not ready; fix the data root and restart");
            None
        }
    }
}

/// The agents on `root`: the built-ins, or only `echo` (with the reason) when the kv
/// agent's state cannot be loaded, so the node keeps serving what it can.
fn load_agents(root: Option<&DataRoot>, metrics: &NodeMetrics) -> Agents {
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
            metrics.error(NodeFailure::AgentsLoadFailed.as_str(), Component::Agents);
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

/// Starts the node: storage, identity, telemetry, agents, then the [`Service`] (QUIC
/// endpoint, bootstrap, gossip, health checks); reports ready when the endpoint is up and
/// the data root usable.
pub(super) async fn start(config: &NodeConfig) -> Result<Running, RunError> {
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
    let Storage { root, identity } = Storage::open(&config.data_root)?;
    let node_id = config
        .node_id
        .clone()
        .unwrap_or_else(|| identity.node_id().to_string());
    let (telemetry, metrics) = start_telemetry(config, &node_id)?;
    let storage = first_storage_report(&telemetry, &metrics, config, root);
    let agents = load_agents(storage.as_ref().map(|(root, _)| &**root), &metrics);

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
        &identity,
        service_config,
        telemetry.clone(),
        Arc::clone(&metrics),
        agents,
    ) {
        Ok(service) => service,
        Err(e) => {
            metrics.error(e.kind(), Component::P2p);
            telemetry::stop(&telemetry).await;
            return Err(e.into());
        }
    };
    if storage.is_some() {
        telemetry.set_ready(true);
        info!(node_id = %service.node_id(), "endpoint up and storage open; node ready");
    }
    Ok(Running {
        telemetry,
        metrics,
        service,
        storage,
    })
}
