//! Serving a started node until the shutdown signal: the [`Service`](crate::service::Service)
//! works on its own tasks; this loop re-probes the data root for the `storage` check,
//! which readiness follows. Then the node stops in order: not ready, peers closed, the
//! final flush and goodbye, and only then the data root's lock.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::{error, info};

use super::start::Running;
use super::telemetry;
use crate::catalogue::{Component, NodeFailure};
use crate::service::{HealthCheck, report_check};

impl Running {
    /// Serves until `shutdown` ends (with the name of what stopped it), probing the data
    /// root every `probe_every`, then stops.
    pub(super) async fn serve(
        mut self,
        mut shutdown: JoinHandle<&'static str>,
        probe_every: Duration,
    ) {
        let mut probe = tokio::time::interval(probe_every);
        probe.tick().await;
        let signal = loop {
            tokio::select! {
                joined = &mut shutdown => break joined.unwrap_or("shutdown watcher failed"),
                _ = probe.tick(), if self.storage.is_some() => self.probe_storage().await,
            }
        };
        self.stop(signal).await;
    }

    /// One probe of the data root (a write, off the async threads): the `storage` report,
    /// and readiness when writability changed.
    async fn probe_storage(&mut self) {
        let Some((root, check)) = &mut self.storage else {
            return;
        };
        let dir = Arc::clone(root);
        let result = match tokio::task::spawn_blocking(move || dir.check_writable()).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(e) => Err(format!("storage probe failed: {e}")),
        };
        let (report, changed) = check.observe(result.clone());
        if let Some(writable) = changed {
            match &result {
                Ok(()) => info!("data root writable again; node ready"),
                Err(e) => {
                    let failure = NodeFailure::StorageNotWritable.as_str();
                    self.metrics.error(failure, Component::Storage);
                    error!(error = %e, "data root no longer writable; node not ready");
                }
            }
            self.telemetry.set_ready(writable);
        }
        report_check(&self.telemetry, HealthCheck::Storage, report);
    }

    /// Reports not ready, closes the peer connections, flushes and says goodbye to the
    /// exporter; the data root's lock is released last, after the last word to the exporter.
    async fn stop(self, signal: &'static str) {
        info!(signal, "shutting down");
        self.telemetry.set_ready(false);
        self.service.shutdown().await;
        telemetry::stop(&self.telemetry).await;
        drop(self.storage);
        info!("dawn-node stopped");
    }
}
