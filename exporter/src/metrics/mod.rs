//! The exporter's own metrics.
//!
//! Events are counted in atomics ([`ExporterMetrics`]); OpenTelemetry instruments read them
//! at scrape time and the OpenTelemetry Prometheus exporter puts them into the
//! `prometheus::Registry` that `/metrics` renders with the store ([`SelfTelemetry`]).

mod counters;
mod otel;
mod reason;

pub use counters::{ClientGuard, ExporterMetrics};
pub use otel::{SelfTelemetry, SeriesRoom, StateProbe, TelemetryError};
pub use reason::{
    ClientRefusal, ConnectionResult, Eviction, HealthLimit, HttpClose, IgnoredUpdate,
    ProtocolError, SeriesRejection,
};
