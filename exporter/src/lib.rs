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
//! - `exposition`: the text 0.0.4 and OpenMetrics 1.0.0 encoders;
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
pub use exposition::{
    BucketBounds, Encoder, FamilyKind, Format, encode_families, render_labels, wants_gzip,
};
pub use health::{
    CheckReport, HealthModel, HealthReport, Liveness, Readiness, STALE_FLUSHES, TELEMETRY_CHECK,
};
pub use healthcheck::{Credentials, ProbeError, https_get, probe as healthcheck_probe};
pub use http::{
    DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_READ_HEADER_TIMEOUT, HttpBindError,
    HttpLimits, HttpState, READY_PATH, bind_http, serve_http,
};
pub use ingest::{
    AllowedUids, DEFAULT_SOCKET, Ingest, IngestConfig, IngestError, MAX_ERROR_FRAMES,
    MAX_METRIC_IDS, SOCKET_DIR_MODE, SOCKET_MODE, Unsafe,
};
pub use metrics::{
    ClientGuard, ClientRefusal, ConnectionResult, Eviction, ExporterMetrics, HealthLimit,
    HttpClose, IgnoredUpdate, ProtocolError, SelfTelemetry, SeriesRejection, SeriesRoom,
    StateProbe, TelemetryError,
};
pub use settings::{
    DEFAULT_LISTEN_ADDRESS, DEFAULT_TELEMETRY_PATH, ENV_ALLOWED_UIDS, ENV_COMPAT_SEED_NAMES,
    ENV_FRAME_TIMEOUT, ENV_HANDSHAKE_TIMEOUT, ENV_IDLE_TIMEOUT, ENV_LIVENESS_TIMEOUT,
    ENV_MAX_CHECK_BYTES, ENV_MAX_CHECKS_PER_CLIENT, ENV_MAX_CLIENT_BYTES, ENV_MAX_CLIENTS,
    ENV_MAX_CONNECTIONS, ENV_MAX_DEFINITION_BYTES, ENV_MAX_FRAME_BYTES, ENV_MAX_PENDING,
    ENV_MAX_SAMPLES, ENV_MAX_SAMPLES_PER_SOURCE, ENV_MAX_SERIES, ENV_MAX_SERIES_PER_METRIC,
    ENV_METRICS_PATH, ENV_METRICS_PORT, ENV_READ_HEADER_TIMEOUT, ENV_SOCKET, ENV_SOURCE_TTL,
    ENV_WEB_CONFIG_FILE, RunSettings,
};
pub use store::{
    Alias, ApplyOutcome, Attached, DefineError, FamilyId, MAX_DEPARTED_SOURCES, RESERVED_PREFIXES,
    SampleError, SeriesError, SeriesId, SourceId, SourceKey, Store, StoreLimits,
};
