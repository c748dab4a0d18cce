//! Dawn's telemetry client: any Rust process records metrics, health and readiness on
//! handles and a background shipper pushes them to a Dawn sidecar exporter over its Unix
//! socket (see docs/telemetry-client.md and, for the bytes, docs/wire.md).
//!
//! Recording is an atomic update on a handle resolved ahead of time: no lock, allocation,
//! syscall or await. A background thread compares every series with the value it last sent
//! and ships cumulative values of those that changed each flush interval, so a crashed, slow
//! or absent exporter never slows the program and an exporter restart loses nothing.
//!
//! A program declares its metrics once, as [`MetricSpec`] constants (its catalogue):
//!
//! ```
//! use std::time::Duration;
//! use dawn_telemetry::{
//!     DEFAULT_SECONDS_BUCKETS, HealthStatus, MetricKind, MetricSpec, ShutdownOutcome, Telemetry,
//!     TelemetryConfig,
//! };
//!
//! const JOBS: MetricSpec = MetricSpec {
//!     name: "worker_jobs_total",
//!     help: "Jobs finished, by outcome.",
//!     kind: MetricKind::Counter,
//!     labels: &["outcome"],
//!     buckets: &[],
//!     native: None,
//! };
//! const JOB_SECONDS: MetricSpec = MetricSpec {
//!     name: "worker_job_duration_seconds",
//!     help: "Time taken by one job, in seconds.",
//!     kind: MetricKind::Histogram,
//!     labels: &[],
//!     buckets: DEFAULT_SECONDS_BUCKETS,
//!     native: None,
//! };
//!
//! # let dir = std::env::temp_dir().join(format!("dawn-doc-{}", std::process::id()));
//! // No exporter listens here: recording works all the same and nothing blocks.
//! let telemetry = Telemetry::start(TelemetryConfig::new(dir.join("telemetry.sock"), "worker-1"))?;
//!
//! // Resolve once, keep the handle, record on the hot path.
//! let done = telemetry.counter(&JOBS).with_labels(&["done"]);
//! let duration = telemetry.histogram(&JOB_SECONDS).handle();
//! done.inc();
//! duration.observe_duration(Duration::from_millis(12));
//!
//! telemetry.set_health("queue", HealthStatus::Healthy, "3 jobs waiting", vec![])?;
//! telemetry.set_ready(true);
//!
//! assert_eq!(done.get(), 1);
//! assert_eq!(duration.get().count, 1);
//! assert_eq!(telemetry.dropped(), 0);
//! assert_eq!(telemetry.shutdown(), ShutdownOutcome::NotDelivered);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod backoff;
mod bounds;
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
mod native;
mod registry;
mod series;
mod session;
mod shipper;
mod signals;
mod slot;
mod spec;
mod tracker;

#[cfg(test)]
mod tests;

/// A fake exporter on a real socket, a temp dir and one patience setting, for this crate's
/// tests and those of programs built on it (feature `testing`); not part of the API.
#[cfg(any(test, feature = "testing"))]
#[doc(hidden)]
pub mod testing;

pub use backoff::{Backoff, BackoffPolicy};
pub use config::{
    DEFAULT_FLUSH_INTERVAL, DEFAULT_MAX_SERIES_PER_METRIC, DEFAULT_SERIES_TTL, DEFAULT_SOCKET_PATH,
    TelemetryConfig,
};
pub use error::TelemetryError;
pub use families::{CounterFamily, GaugeFamily, HistogramFamily};
pub use handle::Telemetry;
pub use handles::{Counter, Gauge, Histogram};
pub use native::{DEFAULT_ZERO_THRESHOLD, MAX_SCHEMA, MIN_SCHEMA, NativeConfig, NativeSnapshot};
pub use registry::RegisterError;
pub use shipper::ShutdownOutcome;
pub use spec::{DEFAULT_SECONDS_BUCKETS, MetricSpec, OVERFLOW_LABEL_VALUE};

/// The wire's own types that appear in this crate's API, so a program needs no other crate to
/// describe its metrics and health.
pub use dawn_proto::{Detail, DetailValue, HealthStatus, HistogramValue, MetricKind};
