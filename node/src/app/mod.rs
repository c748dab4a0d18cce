//! `dawn-node run`: configuration ([`NodeConfig`], from the settings table in
//! `settings.rs`, flags in [`Cli`]) and [`run`]:
//!
//! - `start.rs`: start-up, in order: storage, identity, telemetry, agents, service;
//! - `serve.rs`: the serve loop (the storage probe) and the orderly stop;
//! - `telemetry.rs`: reporting a check, the final flush; `error.rs`: why `run` fails.

mod cli;
mod config;
mod error;
mod serve;
mod settings;
mod start;
mod telemetry;

#[cfg(test)]
mod tests;

use std::future::Future;

pub use cli::{CallArgs, Cli, Command};
pub use config::{NodeConfig, resolve_data_root};
pub use error::RunError;
pub use settings::{
    DEFAULT_DATA_ROOT, DEFAULT_GOSSIP_INTERVAL, DEFAULT_HOST, DEFAULT_P2P_PORT, ENV_BOOTSTRAP,
    ENV_DATA_ROOT, ENV_EXPORTER_UIDS, ENV_FLUSH_MS, ENV_GOSSIP_INTERVAL, ENV_HOST, ENV_MAX_PEERS,
    ENV_NATIVE_HISTOGRAMS, ENV_NODE_ID, ENV_P2P_PORT, ENV_REJECT_UNKNOWN, ENV_SOCKET,
    ENV_TELEMETRY, ENV_TELEMETRY_MAX_PROTOCOL_VERSION, ENV_TRUSTED_PEERS, IdArgs, IdSettings,
    MAX_MAX_PEERS, RunArgs, RunSettings,
};

/// Runs the node until `shutdown` resolves (with the name of what stopped it): opens the data
/// root and the identity, starts telemetry with every catalogue metric defined, loads the
/// agents, starts the [`Service`](crate::service::Service) (QUIC endpoint, bootstrap, gossip, health checks),
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
    let shutdown = tokio::spawn(shutdown);
    let running = start::start(&config).await?;
    running.serve(shutdown, config.storage_check_interval).await;
    Ok(())
}
