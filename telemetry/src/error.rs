//! Why a telemetry instance cannot start.

/// Why [`crate::Telemetry::start`] failed.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The configuration is unusable; every problem is listed.
    #[error("invalid telemetry configuration: {}", .0.join("; "))]
    Config(Vec<String>),
    /// The shipper's runtime or thread could not be created.
    #[error("cannot start the telemetry shipper: {0}")]
    Spawn(#[source] std::io::Error),
}
