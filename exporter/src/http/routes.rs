//! Routing: path and method to handler, with JSON 404 and 405 answers.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use warp::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};

use super::response::{json, with_body};
use super::{HttpState, health_endpoints, landing, metrics_endpoint};
use crate::exposition::{Format, wants_gzip};
use crate::web_config::AuthOutcome;

/// Health report of the node and the exporter.
pub const HEALTH_PATH: &str = "/health";
/// Readiness.
pub const READY_PATH: &str = "/health/ready";
/// Liveness of the node.
pub const LIVE_PATH: &str = "/health/live";
/// The exporter's own liveness.
pub const EXPORTER_HEALTHY_PATH: &str = "/-/healthy";

/// Paths the exporter serves besides the telemetry path (which may not take one of them).
pub const FIXED_PATHS: &[&str] = &[
    "/",
    HEALTH_PATH,
    READY_PATH,
    LIVE_PATH,
    EXPORTER_HEALTHY_PATH,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Landing,
    Metrics,
    Health,
    Ready,
    Live,
    ExporterHealthy,
}

fn route(path: &str, telemetry_path: &str) -> Option<Route> {
    if path == telemetry_path {
        return Some(Route::Metrics);
    }
    Some(match path {
        "/" => Route::Landing,
        HEALTH_PATH => Route::Health,
        READY_PATH => Route::Ready,
        LIVE_PATH => Route::Live,
        EXPORTER_HEALTHY_PATH => Route::ExporterHealthy,
        _ => return None,
    })
}

/// Every endpoint with a description, in the order the landing page and 404s list them.
pub(crate) fn endpoints(telemetry_path: &str) -> Vec<(String, &'static str)> {
    vec![
        ("/".to_owned(), "this page"),
        (
            telemetry_path.to_owned(),
            "Prometheus metrics (text 0.0.4 or OpenMetrics 1.0.0 by Accept; gzip by Accept-Encoding)",
        ),
        (
            HEALTH_PATH.to_owned(),
            "health checks as JSON (503 when unhealthy)",
        ),
        (
            READY_PATH.to_owned(),
            "readiness: 200 once the node is connected and ready",
        ),
        (
            LIVE_PATH.to_owned(),
            "liveness: 200 while the node's heartbeats are fresh",
        ),
        (
            EXPORTER_HEALTHY_PATH.to_owned(),
            "the exporter's own liveness",
        ),
    ]
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl Route {
    /// The endpoints a web config may leave open to probes (`dawn_health_without_auth`).
    fn is_health(self) -> bool {
        matches!(
            self,
            Route::Health | Route::Ready | Route::Live | Route::ExporterHealthy
        )
    }
}

/// Answers one request: checks credentials when the web config asks for them, answers, and
/// adds the web config's headers.
pub(crate) async fn handle(
    state: Arc<HttpState>,
    method: Method,
    path: &str,
    headers: &HeaderMap,
) -> Response<Vec<u8>> {
    let route = route(path, &state.telemetry_path);
    let Some(web) = state.web.as_ref().map(|w| w.current()) else {
        return respond(state, route, method, path, headers).await;
    };
    let is_health = route.is_some_and(Route::is_health);
    let mut response = if web.config.needs_auth(is_health) {
        let given = headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes);
        match web.auth.check(given).await {
            AuthOutcome::Allowed => respond(state, route, method, path, headers).await,
            refused => unauthorized(refused),
        }
    } else {
        respond(state, route, method, path, headers).await
    };
    for (name, value) in &web.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

/// 401 with the challenge that makes browsers and tools ask for basic credentials.
fn unauthorized(outcome: AuthOutcome) -> Response<Vec<u8>> {
    let reason = match outcome {
        AuthOutcome::Missing => "credentials required (HTTP basic authentication)",
        AuthOutcome::Malformed => "the Authorization header is not Basic with base64 user:password",
        AuthOutcome::Rejected | AuthOutcome::Allowed => "wrong user name or password",
    };
    let mut r = json(
        StatusCode::UNAUTHORIZED,
        &json!({"error": "unauthorized", "reason": reason}),
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"dawn-exporter\", charset=\"UTF-8\""),
    );
    r
}

async fn respond(
    state: Arc<HttpState>,
    route: Option<Route>,
    method: Method,
    path: &str,
    headers: &HeaderMap,
) -> Response<Vec<u8>> {
    let Some(route) = route else {
        let available: Vec<String> = endpoints(&state.telemetry_path)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        return json(
            StatusCode::NOT_FOUND,
            &json!({"error": "not found", "path": path, "available_endpoints": available}),
        );
    };
    if method != Method::GET && method != Method::HEAD {
        let mut r = json(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({
                "error": "method not allowed",
                "method": method.as_str(),
                "path": path,
                "allowed_methods": ["GET", "HEAD"],
            }),
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let now = Instant::now();
    match route {
        Route::Landing => with_body(
            StatusCode::OK,
            "text/html; charset=utf-8",
            landing::page(&endpoints(&state.telemetry_path)).into_bytes(),
        ),
        Route::Metrics => {
            let format = Format::negotiate(header_str(headers, header::ACCEPT));
            let gzipped = wants_gzip(header_str(headers, header::ACCEPT_ENCODING));
            metrics_endpoint::scrape(state, format, gzipped).await
        }
        Route::Health => {
            health_endpoints::health(&state.health, now, &dawn_daemon::time::now_rfc3339())
        }
        Route::Ready => health_endpoints::ready(&state.health, now),
        Route::Live => health_endpoints::live(&state.health, now),
        Route::ExporterHealthy => with_body(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            b"dawn-exporter is healthy.\n".to_vec(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_table() {
        let table: &[(&str, &str, Option<Route>)] = &[
            ("/", "/metrics", Some(Route::Landing)),
            ("/metrics", "/metrics", Some(Route::Metrics)),
            ("/custom/m", "/custom/m", Some(Route::Metrics)),
            ("/metrics", "/custom/m", None),
            ("/health", "/metrics", Some(Route::Health)),
            ("/health/ready", "/metrics", Some(Route::Ready)),
            ("/health/live", "/metrics", Some(Route::Live)),
            ("/-/healthy", "/metrics", Some(Route::ExporterHealthy)),
            ("/health/", "/metrics", None),
            ("/nope", "/metrics", None),
        ];
        for (path, telemetry, want) in table {
            assert_eq!(route(path, telemetry), *want, "{path} with {telemetry}");
        }
    }
}
