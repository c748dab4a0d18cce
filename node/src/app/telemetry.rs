//! The final flush and goodbye to the exporter when the node stops.

use dawn_telemetry::{ShutdownOutcome, Telemetry};
use tracing::{info, warn};

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
