//! The HTTP side (warp): `/`, the telemetry path, `/health`, `/health/ready`,
//! `/health/live` and `/-/healthy`; JSON 404 and 405 for anything else.
//!
//! One warp filter hands method, path and headers to [`routes`], which routes by itself so
//! that the telemetry path can be anything and 404/405 answers are JSON.

mod health_endpoints;
mod landing;
mod metrics_endpoint;
mod response;
mod routes;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use tokio::net::TcpListener;
use warp::Filter;
use warp::http::{HeaderMap, Method};

use crate::health::HealthModel;
use crate::metrics::SelfTelemetry;
use crate::store::{Alias, Store};

pub use routes::{EXPORTER_HEALTHY_PATH, FIXED_PATHS, HEALTH_PATH, LIVE_PATH, READY_PATH};

/// What the HTTP handlers read.
#[derive(Debug)]
pub struct HttpState {
    store: Arc<Store>,
    health: Arc<HealthModel>,
    telemetry: Arc<SelfTelemetry>,
    telemetry_path: String,
    aliases: Vec<Alias>,
    /// Size of the previous exposition, to allocate the next one at once.
    last_len: AtomicUsize,
}

impl HttpState {
    /// State serving `store` and `health`, the exporter's own metrics from `telemetry`,
    /// metrics at `telemetry_path`, with `aliases` (see [`Alias`]).
    pub fn new(
        store: Arc<Store>,
        health: Arc<HealthModel>,
        telemetry: Arc<SelfTelemetry>,
        telemetry_path: impl Into<String>,
        aliases: Vec<Alias>,
    ) -> Self {
        HttpState {
            store,
            health,
            telemetry,
            telemetry_path: telemetry_path.into(),
            aliases,
            last_len: AtomicUsize::new(16 * 1024),
        }
    }
}

/// Why the HTTP listener could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr} (--web.listen-address): {source}")]
pub struct HttpBindError {
    /// The address.
    pub addr: SocketAddr,
    /// The I/O error.
    pub source: std::io::Error,
}

/// Binds the HTTP listener.
pub async fn bind_http(addr: SocketAddr) -> Result<TcpListener, HttpBindError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| HttpBindError { addr, source })
}

/// Serves HTTP on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve_http(
    listener: TcpListener,
    state: Arc<HttpState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let routes = warp::method()
        .and(warp::path::full())
        .and(warp::header::headers_cloned())
        .then(
            move |method: Method, path: warp::path::FullPath, headers: HeaderMap| {
                let state = Arc::clone(&state);
                async move { routes::handle(state, method, path.as_str(), &headers).await }
            },
        );
    warp::serve(routes)
        .incoming(listener)
        .graceful(shutdown)
        .run()
        .await;
}
