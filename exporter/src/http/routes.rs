//! The route table: every endpoint once, with its path, methods, description, access and
//! handler. Routing, the landing page, the 404 body's `available_endpoints` and the check
//! that `--web.telemetry-path` takes no reserved path all read [`ROUTES`], so a new endpoint
//! is one entry here plus its handler.

use warp::http::{Method, StatusCode};

use super::handler::{Handler, Reply, Request};
use super::response::with_body;
use super::{health_endpoints, landing, metrics_endpoint};

/// Readiness, which `dawn-exporter healthcheck` asks.
pub(crate) const READY_PATH: &str = "/health/ready";

/// Where a route is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RoutePath {
    /// A fixed path, reserved: the telemetry path may not take it.
    Fixed(&'static str),
    /// `--web.telemetry-path` (default `/metrics`).
    Telemetry,
}

impl RoutePath {
    /// The path itself, given the configured telemetry path.
    fn resolve(self, telemetry_path: &str) -> &str {
        match self {
            RoutePath::Fixed(path) => path,
            RoutePath::Telemetry => telemetry_path,
        }
    }
}

/// One endpoint.
#[derive(Debug)]
pub(crate) struct Route {
    /// Where it is served.
    path: RoutePath,
    /// The methods it answers; any other gets 405 naming these.
    pub(crate) methods: &'static [Method],
    /// What the landing page says it serves.
    description: &'static str,
    /// A health endpoint: `dawn_health_without_auth: true` in the web config opens it to
    /// probes without credentials.
    pub(crate) health: bool,
    /// Answers it.
    pub(crate) handler: Handler,
}

/// Read-only endpoints answer GET and HEAD (hyper leaves out the body of a HEAD answer).
const READ: &[Method] = &[Method::GET, Method::HEAD];

/// Every endpoint, in the order the landing page and 404 answers list them.
pub(crate) const ROUTES: &[Route] = &[
    Route {
        path: RoutePath::Fixed("/"),
        methods: READ,
        description: "this page",
        health: false,
        handler: landing_page,
    },
    Route {
        path: RoutePath::Telemetry,
        methods: READ,
        description: "Prometheus metrics (text 0.0.4 or OpenMetrics 1.0.0 by Accept; gzip by Accept-Encoding)",
        health: false,
        handler: metrics_endpoint::metrics,
    },
    Route {
        path: RoutePath::Fixed("/health"),
        methods: READ,
        description: "health checks as JSON (503 when unhealthy)",
        health: true,
        handler: health_endpoints::health,
    },
    Route {
        path: RoutePath::Fixed(READY_PATH),
        methods: READ,
        description: "readiness: 200 once the node is connected and ready",
        health: true,
        handler: health_endpoints::ready,
    },
    Route {
        path: RoutePath::Fixed("/health/live"),
        methods: READ,
        description: "liveness: 200 while the node's heartbeats are fresh",
        health: true,
        handler: health_endpoints::live,
    },
    Route {
        path: RoutePath::Fixed("/-/healthy"),
        methods: READ,
        description: "the exporter's own liveness",
        health: true,
        handler: health_endpoints::exporter_healthy,
    },
];

/// The route serving `path`. The telemetry path comes first, so that it wins even over a
/// reserved path given in-process (the configuration refuses one).
pub(crate) fn find(path: &str, telemetry_path: &str) -> Option<&'static Route> {
    ROUTES
        .iter()
        .filter(|r| r.path.resolve(telemetry_path) == path)
        .min_by_key(|r| r.path != RoutePath::Telemetry)
}

/// Every endpoint's path and description, in table order.
pub(crate) fn endpoints(telemetry_path: &str) -> impl Iterator<Item = (&str, &'static str)> {
    ROUTES
        .iter()
        .map(move |r| (r.path.resolve(telemetry_path), r.description))
}

/// Whether `path` is a fixed endpoint's, which the telemetry path may not take.
pub(crate) fn is_reserved_path(path: &str) -> bool {
    ROUTES
        .iter()
        .any(|r| matches!(r.path, RoutePath::Fixed(fixed) if fixed == path))
}

/// `/`: the table itself as a page, so its handler lives beside the table.
fn landing_page(r: Request) -> Reply {
    let endpoints: Vec<_> = endpoints(&r.state.telemetry_path).collect();
    Reply::Now(with_body(
        StatusCode::OK,
        "text/html; charset=utf-8",
        landing::page(&endpoints).into_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_route() {
        let table: &[(&str, &str, Option<RoutePath>)] = &[
            ("/", "/metrics", Some(RoutePath::Fixed("/"))),
            ("/metrics", "/metrics", Some(RoutePath::Telemetry)),
            ("/custom/m", "/custom/m", Some(RoutePath::Telemetry)),
            ("/metrics", "/custom/m", None),
            ("/health", "/metrics", Some(RoutePath::Fixed("/health"))),
            (
                "/health/ready",
                "/metrics",
                Some(RoutePath::Fixed(READY_PATH)),
            ),
            (
                "/health/live",
                "/metrics",
                Some(RoutePath::Fixed("/health/live")),
            ),
            (
                "/-/healthy",
                "/metrics",
                Some(RoutePath::Fixed("/-/healthy")),
            ),
            ("/health/", "/metrics", None),
            ("/nope", "/metrics", None),
            // Refused by the configuration; in-process, the telemetry path wins.
            ("/health", "/health", Some(RoutePath::Telemetry)),
        ];
        for (path, telemetry, want) in table {
            assert_eq!(
                find(path, telemetry).map(|r| r.path),
                *want,
                "{path} with {telemetry}"
            );
        }
    }

    #[test]
    fn every_path_but_the_telemetry_path_is_reserved() {
        for (path, _) in endpoints("/metrics") {
            assert_eq!(is_reserved_path(path), path != "/metrics", "{path}");
        }
        assert!(!is_reserved_path("/health/"));
    }

    #[test]
    fn paths_are_unique_and_health_endpoints_are_the_health_paths() {
        let paths: Vec<&str> = endpoints("/metrics").map(|(p, _)| p).collect();
        let mut unique = paths.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), paths.len(), "{paths:?}");
        let health: Vec<&str> = ROUTES
            .iter()
            .filter(|r| r.health)
            .map(|r| r.path.resolve("/metrics"))
            .collect();
        assert_eq!(
            health,
            ["/health", "/health/ready", "/health/live", "/-/healthy"]
        );
    }
}
