//! What start-up and serving do with the telemetry client besides recording metrics:
//! report a health check, and the final flush and goodbye.

use dawn_telemetry::{ShutdownOutcome, Telemetry};
use tracing::{info, warn};

use crate::service::Report;

/// Sends `check`'s report (the client sends it only when it changed).
pub(super) fn report(telemetry: &Telemetry, check: &str, (status, message, details): Report) {
    if let Err(e) = telemetry.set_health(check, status, message, details) {
        warn!(check, error = %e, "cannot report a health check");
    }
}

/// The final flush and goodbye to the exporter, off the async threads.
pub(super) async fn stop(telemetry: &Telemetry) {
    let t = telemetry.clone();
    let outcome = tokio::task::spawn_blocking(move || t.shutdown())
        .await
        .unwrap_or(ShutdownOutcome::NotDelivered);
    match outcome {
        ShutdownOutcome::Delivered => info!("telemetry: final flush and goodbye delivered"),
        ShutdownOutcome::NotDelivered if !telemetry.config().ship => {}
        ShutdownOutcome::NotDelivered => {
            info!("telemetry: no exporter reachable for the final flush")
        }
        ShutdownOutcome::TimedOut => warn!("telemetry: final flush timed out"),
    }
}
