//! Why `dawn-node run` stops with an error: only what leaves nothing to serve.

use dawn_telemetry::{RegisterError, TelemetryError};

use crate::p2p::{IdentityError, TransportError};

/// Why `run` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Telemetry could not start.
    #[error(transparent)]
    Telemetry(#[from] TelemetryError),
    /// A catalogue metric could not be registered.
    #[error("cannot register the metric catalogue: {0}")]
    Register(#[from] RegisterError),
    /// Not even a temporary identity could be made.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The peer-to-peer endpoint could not start (port in use, bad address).
    #[error(transparent)]
    Network(#[from] TransportError),
}
