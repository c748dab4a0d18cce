//! Dawn's sidecar exporter: ingests node telemetry from a Unix socket, serves Prometheus
//! metrics and health endpoints.
//!
//! The layers, each its own module joined by small types (as in statsd_exporter):
//!
//! - `ingest`: the socket, per-connection I/O, a side-effect-free session (bytes and time
//!   in, replies and events out) and the applier of its events (docs/architecture.md);
//! - `store`: aggregated series, one cumulative sample per source, summed at scrape
//!   time, with cardinality caps and a TTL for departed sources;
//! - `health`: checks reported by the node plus the exporter's own `telemetry` check,
//!   liveness and readiness, with time as an input;
//! - `metrics`: the exporter's own counters, exposed through OpenTelemetry;
//! - `exposition`: the text 0.0.4, OpenMetrics 1.0.0 and protobuf encoders;
//! - `http`: the warp routes and the connection loop;
//! - `web_config`: `--web.config.file` (TLS, basic auth), exporter-toolkit's format.

#![forbid(unsafe_code)]

mod abuse_log;
mod app;
mod cli;
mod config;
mod exposition;
mod health;
mod healthcheck;
mod http;
mod ingest;
mod metrics;
mod periodic;
mod settings;
mod store;
pub mod web_config;

pub use app::{Exporter, StartError};
pub use cli::{Cli, Command, HealthcheckArgs, RunArgs};
pub use config::{ExporterConfig, healthcheck_target, ready_url};
pub use exposition::{Encoder, Format};
pub use health::{HealthModel, Readiness};
pub use healthcheck::{Credentials, https_get, probe as healthcheck_probe};

pub use ingest::{Ingest, IngestConfig, IngestError};
pub use metrics::{
    ConnectionResult, Eviction, ExporterMetrics, HealthLimit, IgnoredUpdate, ProtocolError,
    SeriesRejection,
};
pub use settings::ENV_SOCKET;
pub use store::{Store, StoreLimits};
