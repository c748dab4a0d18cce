//! Dawn's sidecar exporter: ingests node telemetry from a Unix socket, serves Prometheus
//! metrics and health endpoints.
//!
//! The layers, each its own module joined by small types (as in statsd_exporter):
//!
//! - `ingest`: the Unix socket listener; per connection a task feeds a
//!   `dawn_proto::FrameDecoder` and a sans-IO session that validates frames and updates…
//! - `store`: aggregated series, one cumulative sample per source, summed at scrape
//!   time, with cardinality caps and a TTL for departed sources;
//! - `health`: checks reported by the node plus the exporter's own `telemetry` check,
//!   liveness and readiness, with time as an input;
//! - `metrics`: the exporter's own counters, exposed through OpenTelemetry;
//! - `exposition`: the text 0.0.4 and OpenMetrics 1.0.0 encoders;
//! - `http`: the warp routes.

#![forbid(unsafe_code)]

mod exposition;
mod health;
mod ingest;
mod metrics;
mod store;

pub use exposition::{
    BucketBounds, Encoder, FamilyKind, Format, encode_families, render_labels, wants_gzip,
};
pub use health::{
    CheckReport, HealthModel, HealthReport, Liveness, Readiness, STALE_FLUSHES, TELEMETRY_CHECK,
};
pub use ingest::{
    DEFAULT_SOCKET, Ingest, IngestConfig, IngestError, MAX_ERROR_FRAMES, MAX_METRIC_IDS,
    SOCKET_DIR_MODE, SOCKET_MODE,
};
pub use metrics::{
    ClientGuard, ConnectionResult, ExporterMetrics, IgnoredUpdate, ProtocolError, SelfTelemetry,
    SeriesRejection, StateProbe, TelemetryError,
};
pub use store::{
    Alias, ApplyOutcome, Attached, DefineError, FamilyId, RESERVED_PREFIXES, SeriesError, SeriesId,
    SourceId, SourceKey, Store, StoreLimits,
};
