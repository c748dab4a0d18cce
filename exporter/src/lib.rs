//! Dawn's sidecar exporter: ingests node telemetry from a Unix socket, serves Prometheus
//! metrics and health endpoints.

#![forbid(unsafe_code)]

pub mod exposition;
pub mod health;
pub mod metrics;
pub mod store;
