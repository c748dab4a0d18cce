//! The Unix socket where clients push telemetry: the socket file, the accept loop, and per
//! connection the I/O, a side-effect-free session and the applier of its events.
//!
//! Layers, each joined to the next by a small type (as statsd_exporter's listener → line →
//! event → exporter):
//!
//! - [`socket_dir`] checks the socket's directory as OpenSSH's `StrictModes` would, and
//!   [`socket_file`] prepares the path (modes without a path race, a stale or live socket, a
//!   symbolic link) and binds;
//! - `listener` accepts, one task per client, after [`peer`] read the client's uid and pid
//!   from the kernel and checked `--ingest.allowed-uids`; `admission` keeps connections
//!   that have not completed their handshake apart (`--ingest.max-pending`) from clients
//!   (`--ingest.max-clients`), and picks who gives way to a newcomer at either limit;
//! - `connection` is the only I/O: it moves bytes from the socket into the session, the
//!   session's replies back out with a write timeout, and wakes the session at its deadline;
//! - `session` is the protocol, pure in the manner of quinn-proto's `Connection`: bytes and
//!   time in, reply frames and typed `Event`s out (attach, define, series, apply, health,
//!   ready, seen, retire, detach, protocol error, ...). It decides everything a client's
//!   frames mean and its tests need no store, socket or clock;
//! - `apply` carries events out on the store, the health model and the exporter's own
//!   metrics, and reports the store's verdicts (a conflicting definition, a series over a
//!   cap, a counter going backwards) back to the session.

mod admission;
mod apply;
mod connection;
mod listener;
mod peer;
mod session;
mod socket_dir;
mod socket_file;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio::sync::watch;

use crate::abuse_log::AbuseLog;
use crate::health::HealthModel;
use crate::metrics::ExporterMetrics;
use crate::store::Store;
use admission::{Admission, AdmissionLimits};
use apply::Shared;
use connection::ConnectionLimits;
use peer::Gate;
use session::SessionLimits;
use socket_file::SocketFile;

pub(crate) use peer::AllowedUids;
pub use socket_file::IngestError;

/// Default socket path.
pub(crate) const DEFAULT_SOCKET: &str = dawn_proto::DEFAULT_SOCKET_PATH;

/// Most metric ids one connection may define before it is disconnected as a flood.
pub(crate) const MAX_METRIC_IDS: usize = 4096;

/// Error frames sent per connection before further problems are only counted.
pub(crate) const MAX_ERROR_FRAMES: u32 = 100;

/// Settings of the ingest side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestConfig {
    /// Socket path (`--socket`).
    pub socket: PathBuf,
    /// Most clients connected at once (`--ingest.max-clients`).
    pub max_clients: usize,
    /// Largest frame body accepted (`--ingest.max-frame-bytes`).
    pub max_frame_bytes: usize,
    /// Time a new connection has to say `Hello` (`--ingest.handshake-timeout`).
    pub handshake_timeout: Duration,
    /// A client silent for this long is disconnected (the liveness timeout).
    pub idle_timeout: Duration,
    /// A client that does not read the exporter's replies for this long is disconnected.
    pub write_timeout: Duration,
    /// Most series ids one connection may hold (admitted or refused) before it is
    /// disconnected as a flood.
    pub max_series_ids: usize,
    /// Users whose clients may connect (`--ingest.allowed-uids`); by default any user who
    /// can open the socket.
    pub allowed_uids: AllowedUids,
    /// Most connections that have not completed their handshake (`--ingest.max-pending`);
    /// the oldest gives way to a new one.
    pub max_pending: usize,
    /// A frame must be whole this long after its first byte (`--ingest.frame-timeout`).
    pub frame_timeout: Duration,
    /// Most bytes of definitions one client may have the exporter keep
    /// (`--ingest.max-client-bytes`).
    pub max_client_bytes: usize,
    /// Most distinct health checks per client (`--health.max-checks-per-client`).
    pub max_checks_per_client: usize,
    /// Largest health check report kept whole (`--health.max-check-bytes`).
    pub max_check_bytes: usize,
    /// Newest wire protocol version a client is welcomed at
    /// (`--ingest.max-protocol-version`): 1 answers exactly as an exporter from before
    /// native histograms, for a staged rollout or to keep native buckets out of the store.
    pub max_protocol_version: u16,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            socket: PathBuf::from(DEFAULT_SOCKET),
            max_clients: 64,
            max_frame_bytes: dawn_proto::DEFAULT_MAX_FRAME_LEN,
            handshake_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(5),
            max_series_ids: 200_000,
            allowed_uids: AllowedUids::default(),
            max_pending: 16,
            frame_timeout: Duration::from_secs(5),
            max_client_bytes: 4 << 20,
            max_checks_per_client: 32,
            max_check_bytes: 2048,
            max_protocol_version: dawn_proto::MAX_SUPPORTED_VERSION,
        }
    }
}

/// The bound telemetry socket, ready to [`Ingest::run`].
#[derive(Debug)]
pub struct Ingest {
    listener: UnixListener,
    file: SocketFile,
    shared: Arc<Shared>,
    config: IngestConfig,
}

impl Ingest {
    /// Creates the socket's directory if needed and refuses one that others could write,
    /// replaces a stale socket, refuses to take a live exporter's socket or to follow a
    /// symbolic link, and binds.
    pub async fn bind(
        config: IngestConfig,
        store: Arc<Store>,
        health: Arc<HealthModel>,
        metrics: Arc<ExporterMetrics>,
    ) -> Result<Ingest, IngestError> {
        let (listener, file) = socket_file::bind(&config.socket).await?;
        let shared = Arc::new(Shared {
            store,
            health,
            metrics,
            log: Arc::new(AbuseLog::default()),
        });
        Ok(Ingest {
            listener,
            file,
            shared,
            config,
        })
    }

    /// The socket's path.
    pub fn socket_path(&self) -> &Path {
        self.file.path()
    }

    /// Serves clients until `shutdown` turns true; then closes every connection and
    /// removes the socket file.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let Ingest {
            listener,
            file,
            shared,
            config,
        } = self;
        let limits = ConnectionLimits {
            session: SessionLimits {
                max_frame_bytes: config.max_frame_bytes,
                handshake_timeout: config.handshake_timeout,
                idle_timeout: config.idle_timeout,
                frame_timeout: config.frame_timeout,
                max_metric_ids: MAX_METRIC_IDS,
                max_series_ids: config.max_series_ids,
                max_error_frames: MAX_ERROR_FRAMES,
                max_client_bytes: config.max_client_bytes,
                max_version: config.max_protocol_version,
                max_checks: config.max_checks_per_client,
                max_check_bytes: config.max_check_bytes,
            },
            write_timeout: config.write_timeout,
        };
        let admission = Admission::new(AdmissionLimits {
            max_pending: config.max_pending,
            max_clients: config.max_clients,
        });
        let log = Arc::clone(&shared.log);
        let gate = Gate {
            allowed: config.allowed_uids,
            metrics: Arc::clone(&shared.metrics),
            log: Arc::clone(&log),
        };
        let stopped = {
            let mut shutdown = shutdown.clone();
            async move { connection::stopped(&mut shutdown).await }
        };
        let accept = listener::run(listener, shared, admission, limits, gate, shutdown);
        tokio::join!(accept, log.run(stopped));
        drop(file);
    }
}
