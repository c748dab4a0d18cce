//! The exporter's own metrics.
//!
//! Events are counted in atomics ([`ExporterMetrics`]); OpenTelemetry instruments read them
//! at scrape time and the OpenTelemetry Prometheus exporter puts them into the
//! `prometheus::Registry` that `/metrics` renders with the store ([`SelfTelemetry`]).

mod counters;
mod otel;
mod reason;

pub(crate) use counters::ClientGuard;
pub use counters::ExporterMetrics;
pub(crate) use otel::{SelfTelemetry, SeriesRoom, StateProbe, TelemetryError};
pub(crate) use reason::{ClientRefusal, HttpClose};
pub use reason::{
    ConnectionResult, Eviction, HealthLimit, IgnoredUpdate, ProtocolError, SeriesRejection,
};
