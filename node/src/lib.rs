//! The lean Dawn peer-to-peer node.
//!
//! - [`telemetry`]: metric handles, health and readiness, shipped to the sidecar exporter.

#![forbid(unsafe_code)]

pub mod telemetry;
