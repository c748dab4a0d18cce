//! `/health`, `/health/ready` and `/health/live`.

use std::time::Instant;

use serde_json::json;
use warp::http::{Response, StatusCode};

use super::response::json;
use crate::health::{HealthModel, Liveness, Readiness};

/// `/health`: every check and the worst status; 503 when unhealthy.
pub(crate) fn health(model: &HealthModel, now: Instant, timestamp: &str) -> Response<Vec<u8>> {
    let report = model.report_at(now);
    let status = if report.http_status() == 200 {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(status, &report.to_json(timestamp))
}

/// `/health/ready`.
pub(crate) fn ready(model: &HealthModel, now: Instant) -> Response<Vec<u8>> {
    match model.readiness(now) {
        Readiness::Ready => json(StatusCode::OK, &json!({"status": "ready"})),
        Readiness::NotReady { reason } => json(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"status": "not_ready", "reason": reason}),
        ),
    }
}

/// `/health/live`.
pub(crate) fn live(model: &HealthModel, now: Instant) -> Response<Vec<u8>> {
    match model.liveness(now) {
        Liveness::Alive => json(StatusCode::OK, &json!({"status": "alive"})),
        Liveness::Dead { reason } => json(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"status": "dead", "reason": reason}),
        ),
    }
}
