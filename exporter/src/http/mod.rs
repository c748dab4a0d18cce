//! The HTTP side (warp): the landing page, the telemetry path and the health endpoints;
//! JSON 404 and 405 for anything else; TLS and basic authentication when a web config file
//! says so.
//!
//! Every endpoint is one entry of the route table ([`routes::ROUTES`]): path, methods,
//! description, whether it is a health endpoint, and its handler. One warp filter hands
//! method, path and headers to [`dispatch`], which finds the route, checks credentials and
//! answers 404/405 in JSON; the landing page, the 404 body and the check on
//! `--web.telemetry-path` read the same table. [`serve`] runs the connections under the
//! limits of [`connections`] (timeouts, a connection cap with eviction; the decisions are
//! [`conn_table`]'s).

mod body_buffer;
mod conn_table;
mod connections;
mod dispatch;
mod gzip_body;
mod handler;
mod health_endpoints;
mod landing;
mod metrics_endpoint;
mod response;
mod routes;
mod second_core;
mod serve;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use tokio::net::{TcpListener, TcpSocket};

use crate::health::HealthModel;
use crate::metrics::{ExporterMetrics, SelfTelemetry};
use crate::store::{Alias, Store};
use crate::web_config::LiveWebConfig;

use body_buffer::BodyBuffers;
pub(crate) use connections::HttpLimits;
pub(crate) use serve::serve_http;

pub(crate) use routes::READY_PATH;
pub(crate) use routes::is_reserved_path;

/// What the HTTP handlers read.
#[derive(Debug)]
pub(crate) struct HttpState {
    store: Arc<Store>,
    health: Arc<HealthModel>,
    telemetry: Arc<SelfTelemetry>,
    telemetry_path: String,
    aliases: Vec<Alias>,
    /// TLS, users and headers from `--web.config.file`; `None`: plain, open HTTP.
    web: Option<Arc<LiveWebConfig>>,
    /// Size of the previous exposition, to allocate the next one at once.
    last_len: AtomicUsize,
    /// The plain-text buffer kept between scrapes.
    bodies: Arc<BodyBuffers>,
    /// Timeouts and the connection cap.
    limits: HttpLimits,
    /// Where connections closed by the limits are counted.
    metrics: Arc<ExporterMetrics>,
}

impl HttpState {
    /// State serving `store` and `health`, the exporter's own metrics from `telemetry`,
    /// metrics at `telemetry_path`, with `aliases` (see [`Alias`]).
    pub(crate) fn new(
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
            web: None,
            last_len: AtomicUsize::new(16 * 1024),
            bodies: Arc::default(),
            limits: HttpLimits::default(),
            metrics: Arc::new(ExporterMetrics::new()),
        }
    }

    /// The same, under `limits`, counting what they close in `metrics` (by default the
    /// default limits, counted nowhere visible).
    pub(crate) fn with_limits(mut self, limits: HttpLimits, metrics: Arc<ExporterMetrics>) -> Self {
        self.limits = limits;
        self.metrics = metrics;
        self
    }

    /// The same, secured by a web config.
    pub(crate) fn with_web_config(mut self, web: Arc<LiveWebConfig>) -> Self {
        self.web = Some(web);
        self
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

/// Connections the kernel may hold for the accept loop (capped by `net.core.somaxconn`,
/// 4096 by default). tokio's default of 1024 let a burst of a slowloris' reconnections fill
/// the queue, and a scraper's SYN, dropped, was retried only a second later; at the
/// connection limit the loop accepts each new connection (evicting an older one), so the
/// queue only has to absorb a burst.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds the HTTP listener (address reuse as `TcpListener::bind`, a deeper backlog).
pub(crate) async fn bind_http(addr: SocketAddr) -> Result<TcpListener, HttpBindError> {
    let listen = || {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(LISTEN_BACKLOG)
    };
    listen().map_err(|source| HttpBindError { addr, source })
}
