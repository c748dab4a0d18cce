//! `/health`, `/health/ready`, `/health/live` and the exporter's own `/-/healthy`.

use serde_json::json;
use warp::http::StatusCode;

use super::handler::{Reply, Request};
use super::response::{json, with_body};
use crate::health::{Liveness, Readiness};

/// `/health`: every check and the worst status; 503 when unhealthy.
pub(crate) fn health(r: Request) -> Reply {
    let report = r.state.health.report_at(r.now);
    let status = if report.http_status() == 200 {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let timestamp = dawn_daemon::time::now_rfc3339();
    Reply::Now(json(status, &report.to_json(&timestamp)))
}

/// `/health/ready`.
pub(crate) fn ready(r: Request) -> Reply {
    let failed = match r.state.health.readiness(r.now) {
        Readiness::Ready => None,
        Readiness::NotReady { reason } => Some(reason),
    };
    probe("ready", "not_ready", failed)
}

/// `/health/live`.
pub(crate) fn live(r: Request) -> Reply {
    let failed = match r.state.health.liveness(r.now) {
        Liveness::Alive => None,
        Liveness::Dead { reason } => Some(reason),
    };
    probe("alive", "dead", failed)
}

/// A probe's answer: 200 `{"status": passed}`, or 503 `{"status": failed, "reason": …}`.
fn probe(passed: &str, failed: &str, reason: Option<String>) -> Reply {
    Reply::Now(match reason {
        None => json(StatusCode::OK, &json!({"status": passed})),
        Some(reason) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"status": failed, "reason": reason}),
        ),
    })
}

/// `/-/healthy`: the exporter's own liveness (as Prometheus spells it), 200 while it runs.
pub(crate) fn exporter_healthy(_: Request) -> Reply {
    Reply::Now(with_body(
        StatusCode::OK,
        "text/plain; charset=utf-8",
        b"dawn-exporter is healthy.\n".to_vec(),
    ))
}
