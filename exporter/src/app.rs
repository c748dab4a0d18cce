//! Wiring: the store, health model, self-metrics, ingest socket and HTTP server of one
//! running exporter, and their orderly shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dawn_proto::HealthStatus;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::config::ExporterConfig;
use crate::health::HealthModel;
use crate::http::{HttpBindError, HttpState, bind_http, serve_http};
use crate::ingest::{Ingest, IngestError};
use crate::metrics::{ExporterMetrics, SelfTelemetry, SeriesRoom, StateProbe, TelemetryError};
use crate::store::Store;
use crate::web_config::{LiveWebConfig, WebConfigError};

/// How often departed sources past their TTL are dropped.
const EXPIRE_EVERY: Duration = Duration::from_secs(1);

/// Why the exporter could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The telemetry socket.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// The HTTP listener.
    #[error(transparent)]
    Http(#[from] HttpBindError),
    /// The self-metrics.
    #[error(transparent)]
    Telemetry(#[from] TelemetryError),
    /// The web config file (changed since it was checked).
    #[error(transparent)]
    WebConfig(#[from] WebConfigError),
}

/// Gauges read at scrape time from the store and the health model.
struct Probe {
    store: Arc<Store>,
    health: Arc<HealthModel>,
}

impl StateProbe for Probe {
    fn series(&self) -> u64 {
        self.store.series_count() as u64
    }

    fn samples(&self) -> u64 {
        self.store.sample_count() as u64
    }

    fn node_up(&self) -> bool {
        self.health.node_up(Instant::now())
    }

    fn health_checks(&self) -> Vec<(String, HealthStatus)> {
        self.health.check_statuses(Instant::now())
    }

    fn node_builds(&self) -> Vec<(String, String)> {
        self.health.node_builds()
    }
}

/// A running exporter.
#[derive(Debug)]
pub struct Exporter {
    http_addr: SocketAddr,
    socket: PathBuf,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    telemetry: Arc<SelfTelemetry>,
    store: Arc<Store>,
    health: Arc<HealthModel>,
    metrics: Arc<ExporterMetrics>,
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    // An error means the sender is gone, which also means stopping.
    let _ = rx.wait_for(|stop| *stop).await;
}

async fn expire_sources(store: Arc<Store>, rx: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(EXPIRE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop = stopped(rx);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = tick.tick() => {
                for key in store.expire(Instant::now()) {
                    info!(client = %key, "dropped the values of a node gone for longer than the source TTL");
                }
            }
        }
    }
}

impl Exporter {
    /// Binds the socket, then the HTTP listener, and starts serving.
    pub async fn start(config: ExporterConfig) -> Result<Exporter, StartError> {
        let started = Instant::now();
        let store = Arc::new(Store::new(config.store));
        let health = Arc::new(HealthModel::new(started, config.liveness_timeout));
        let metrics = Arc::new(ExporterMetrics::new());
        let probe = Arc::new(Probe {
            store: Arc::clone(&store),
            health: Arc::clone(&health),
        });
        let room = SeriesRoom {
            max_clients: config.ingest.max_clients,
            max_checks_per_client: config.ingest.max_checks_per_client,
        };
        let telemetry = Arc::new(SelfTelemetry::new(Arc::clone(&metrics), probe, room)?);

        let ingest = Ingest::bind(
            config.ingest.clone(),
            Arc::clone(&store),
            Arc::clone(&health),
            Arc::clone(&metrics),
        )
        .await?;
        // Dropping `ingest` on an error below removes the socket again.
        let listener = bind_http(config.listen_address).await?;
        let http_addr = listener.local_addr().map_err(|source| HttpBindError {
            addr: config.listen_address,
            source,
        })?;
        let socket = ingest.socket_path().to_owned();

        let mut state = HttpState::new(
            Arc::clone(&store),
            Arc::clone(&health),
            Arc::clone(&telemetry),
            config.telemetry_path.clone(),
            config.aliases(),
        )
        .with_limits(config.http, Arc::clone(&metrics));
        let web = config
            .web_config
            .clone()
            .map(|c| LiveWebConfig::new(c, Arc::clone(&metrics)))
            .transpose()?
            .map(Arc::new);
        if let Some(web) = &web {
            state = state.with_web_config(Arc::clone(web));
        }
        let (stop, rx) = watch::channel(false);
        let mut tasks = vec![
            tokio::spawn(ingest.run(rx.clone())),
            tokio::spawn(serve_http(listener, Arc::new(state), stopped(rx.clone()))),
            tokio::spawn(expire_sources(Arc::clone(&store), rx.clone())),
        ];
        if let Some(web) = &web {
            tasks.push(tokio::spawn(Arc::clone(web).watch(stopped(rx))));
        }
        let web_config = config.web_config.as_ref();
        info!(
            listen_address = %http_addr,
            socket = %socket.display(),
            telemetry_path = %config.telemetry_path,
            max_clients = config.ingest.max_clients,
            allowed_uids = %config.ingest.allowed_uids,
            max_connections = config.http.max_connections,
            max_series = config.store.max_series,
            compat_seed_names = config.compat_seed_names,
            web_config = web_config.map(|w| w.path.display().to_string()),
            tls = web_config.is_some_and(|w| w.tls.is_some()),
            basic_auth = web_config.is_some_and(|w| !w.users.is_empty()),
            version = env!("CARGO_PKG_VERSION"),
            "dawn-exporter started"
        );
        Ok(Exporter {
            http_addr,
            socket,
            stop,
            tasks,
            telemetry,
            store,
            health,
            metrics,
        })
    }

    /// The HTTP address actually bound (useful with port 0).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The telemetry socket.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The health model.
    pub fn health(&self) -> &Arc<HealthModel> {
        &self.health
    }

    /// The exporter's own counters.
    pub fn metrics(&self) -> &Arc<ExporterMetrics> {
        &self.metrics
    }

    /// Stops accepting clients and requests, finishes in-flight scrapes, closes client
    /// connections and removes the socket.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            if let Err(e) = task.await {
                warn!("a task of the exporter failed while stopping: {e}");
            }
        }
        self.telemetry.shutdown();
        debug!("exporter stopped");
    }
}
