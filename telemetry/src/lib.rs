//! The node's telemetry client: metric handles, health and readiness, and the shipper that
//! pushes them over the exporter's Unix socket (DESIGN, "The node's telemetry client").
//!
//! Recording is an atomic update on a handle resolved ahead of time: no lock, allocation,
//! syscall or await. A background thread compares every series with the value it last sent
//! and ships cumulative values of those that changed each flush interval, so a crashed, slow
//! or absent exporter never slows the node and an exporter restart loses nothing.
//!
//! ```
//! use std::time::Duration;
//! use dawn_node::telemetry::{Telemetry, TelemetryConfig, ShutdownOutcome};
//! use dawn_proto::catalogue::{P2P_CONNECTIONS_TOTAL, P2P_MESSAGE_LATENCY_SECONDS, P2P_PEERS};
//! use dawn_proto::HealthStatus;
//!
//! # let dir = std::env::temp_dir().join(format!("dawn-doc-{}", std::process::id()));
//! // No exporter listens here: recording works all the same and nothing blocks.
//! let telemetry = Telemetry::start(TelemetryConfig::new(dir.join("telemetry.sock"), "node-1"))?;
//!
//! let peers = telemetry.gauge(&P2P_PEERS).handle();
//! let connections = telemetry.counter(&P2P_CONNECTIONS_TOTAL);
//! let latency = telemetry.histogram(&P2P_MESSAGE_LATENCY_SECONDS).with_labels(&["request"]);
//!
//! // Resolve once, keep the handle, record on the hot path.
//! let succeeded = connections.with_labels(&["success"]);
//! succeeded.inc();
//! peers.inc();
//! latency.observe_duration(Duration::from_millis(12));
//!
//! telemetry.set_health("peers", HealthStatus::Healthy, "1 peer connected", vec![])?;
//! telemetry.set_ready(true);
//!
//! assert_eq!(succeeded.get(), 1);
//! assert_eq!(latency.get().count, 1);
//! assert_eq!(telemetry.dropped(), 0);
//! assert_eq!(telemetry.shutdown(), ShutdownOutcome::NotDelivered);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod backoff;
mod cell;
mod collect;
mod config;
mod conn;
mod error;
mod families;
mod family;
mod handle;
mod handles;
mod labelhash;
mod lookup;
mod registry;
mod series;
mod session;
mod shipper;
mod signals;
mod slot;
mod tracker;

#[cfg(test)]
pub(crate) mod tests;

pub use config::{
    DEFAULT_FLUSH_INTERVAL, DEFAULT_MAX_SERIES_PER_METRIC, DEFAULT_SERIES_TTL, DEFAULT_SOCKET_PATH,
    TelemetryConfig,
};
pub use error::TelemetryError;
pub use families::{CounterFamily, GaugeFamily, HistogramFamily};
pub use handle::Telemetry;
pub use handles::{Counter, Gauge, Histogram};
pub use registry::RegisterError;
pub use shipper::ShutdownOutcome;
