//! The health model: checks the node reports plus the exporter's own `telemetry` check,
//! and the verdicts of `/health`, `/health/ready` and `/health/live`.
//!
//! - Checks: per client; the same check name from several clients: the worst wins.
//! - `telemetry`: healthy while a client is connected with fresh heartbeats (a client is
//!   stale after 3 flush intervals without a frame); degraded "waiting for node" during the
//!   start-up grace (the liveness timeout since start) while none ever connected;
//!   unhealthy otherwise, saying why.
//! - Liveness: alive while some client's frames are fresh within the liveness timeout, or
//!   during the start-up grace while none ever connected; dead once silent past it.
//! - Readiness: ready while a connected, fresh client's last `Ready` was true.

mod model;
mod report;

pub(crate) use model::Liveness;
pub use model::{HealthModel, Readiness};

#[cfg(test)]
mod tests;
