//! The HTTP limits at work (`--web.read-header-timeout`, `--web.idle-timeout`,
//! `--web.max-connections`): the [`ConnTable`] behind a lock, a [`Slot`] per connection that
//! tells its task when to close, request guards that mark a connection busy, and a sweeper
//! that closes connections past their timeout. Each close is counted in
//! `dawn_exporter_http_connections_closed_total{reason}` and logged through the
//! [`AbuseLog`] (the first of a kind in full, then a count per interval).
//!
//! hyper's own `header_read_timeout` is not used: it runs from the moment a connection
//! waits for a request, so on a keep-alive connection it would also be the idle timeout,
//! and it covers HTTP/1 only.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tracing::{debug, warn};

use super::conn_table::{Admit, ConnId, ConnTable, Timeouts};
use crate::abuse_log::{Abuse, AbuseLog};
use crate::metrics::{ExporterMetrics, HttpClose};
use crate::periodic;

/// Default `--web.read-header-timeout`: scrapers and probes send their request at once;
/// Go servers and their security linters use 5-10 s.
pub(crate) const DEFAULT_READ_HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Default `--web.idle-timeout`: above a one-minute scrape interval, so that a scraper's
/// keep-alive connection is reused.
pub(crate) const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Default `--web.max-connections`, as Prometheus' own.
pub(crate) const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// Shortest and longest pause between two sweeps for timeouts.
const SWEEP_MIN: Duration = Duration::from_millis(50);
const SWEEP_MAX: Duration = Duration::from_secs(1);

/// The HTTP server's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// From accept (TLS handshake included) to the first complete request head.
    pub read_header_timeout: Duration,
    /// From an answer to the next complete request head.
    pub idle_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            read_header_timeout: DEFAULT_READ_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// How a connection is told to close, and who it is (for the log).
#[derive(Debug)]
struct Closer {
    tx: oneshot::Sender<HttpClose>,
    peer: SocketAddr,
}

/// Every open connection, shared by the accept loop, the connections and the sweeper.
#[derive(Debug)]
pub(crate) struct Connections {
    table: Mutex<ConnTable<Closer>>,
    limits: HttpLimits,
    metrics: Arc<ExporterMetrics>,
    log: Arc<AbuseLog>,
}

impl Connections {
    /// Connections under `limits`.
    pub(crate) fn new(
        limits: HttpLimits,
        metrics: Arc<ExporterMetrics>,
        log: Arc<AbuseLog>,
    ) -> Self {
        let timeouts = Timeouts {
            read_header: limits.read_header_timeout,
            idle: limits.idle_timeout,
        };
        Connections {
            table: Mutex::new(ConnTable::new(limits.max_connections, timeouts)),
            limits,
            metrics,
            log,
        }
    }

    fn table(&self) -> MutexGuard<'_, ConnTable<Closer>> {
        // Each table operation completes before the lock is released, and none panics
        // halfway, so a poisoned lock still guards a consistent table.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits a connection from `peer`, evicting another at the limit (see
    /// [`super::conn_table`] for which); `None` if it must be closed at once.
    pub(crate) fn admit(self: &Arc<Self>, peer: SocketAddr) -> Option<Slot> {
        let (tx, closed) = oneshot::channel();
        let (admit, open) = {
            let mut table = self.table();
            let admit = table.accept(Closer { tx, peer }, Instant::now());
            (admit, table.len())
        };
        self.metrics.set_http_connections(open as u64);
        let id = match admit {
            Admit::Admitted(id) => id,
            Admit::Evicting(id, victim) => {
                self.close(victim, HttpClose::Evicted);
                id
            }
            Admit::Refused => {
                self.count(HttpClose::Refused, peer);
                return None;
            }
        };
        Some(Slot {
            conn: SlotRef {
                conns: Arc::clone(self),
                id,
            },
            closed,
        })
    }

    /// Tells a connection to close, and counts and logs why.
    fn close(&self, closer: Closer, why: HttpClose) {
        self.count(why, closer.peer);
        // The connection may have ended meanwhile; then there is nothing to close.
        let _ = closer.tx.send(why);
    }

    fn count(&self, why: HttpClose, peer: SocketAddr) {
        self.metrics.http_closed(why);
        let limits = self.limits;
        self.log.event(Abuse::Http(why), || {
            let what = match why {
                HttpClose::HeaderTimeout => format!(
                    "no complete request within {:?} of connecting (--web.read-header-timeout)",
                    limits.read_header_timeout
                ),
                HttpClose::IdleTimeout => format!(
                    "no new request within {:?} (--web.idle-timeout)",
                    limits.idle_timeout
                ),
                HttpClose::Evicted => format!(
                    "made room for a new connection at --web.max-connections ({}); it had waited longest for a request",
                    limits.max_connections
                ),
                HttpClose::Refused => format!(
                    "all {} connections (--web.max-connections) are answering requests",
                    limits.max_connections
                ),
            };
            warn!(
                %peer,
                reason = why.as_str(),
                "HTTP connection closed: {what}; further closes for this reason are counted and summarised"
            );
        });
    }

    /// Closes connections past their timeout, checking often enough for the shorter
    /// timeout, until `stop` resolves.
    pub(crate) async fn sweep(&self, stop: impl std::future::Future<Output = ()>) {
        let shorter = self
            .limits
            .read_header_timeout
            .min(self.limits.idle_timeout);
        let every = (shorter / 10).clamp(SWEEP_MIN, SWEEP_MAX);
        periodic::every(every, stop, || self.close_expired()).await;
    }

    fn close_expired(&self) {
        let (expired, open) = {
            let mut table = self.table();
            let expired = table.expired(Instant::now());
            (expired, table.len())
        };
        if !expired.is_empty() {
            self.metrics.set_http_connections(open as u64);
        }
        for (closer, why) in expired {
            self.close(closer, why);
        }
    }
}

/// A connection's place in the table; removed when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    conn: SlotRef,
    closed: oneshot::Receiver<HttpClose>,
}

impl Slot {
    /// A handle for the connection's requests.
    pub(crate) fn handle(&self) -> SlotRef {
        self.conn.clone()
    }

    /// Resolves when the connection must close, with the reason.
    pub(crate) async fn closed(&mut self) -> HttpClose {
        match (&mut self.closed).await {
            Ok(why) => why,
            // The sender lives in the table until the slot itself removes it.
            Err(_) => std::future::pending().await,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let open = {
            let mut table = self.conn.conns.table();
            table.remove(self.conn.id);
            table.len()
        };
        self.conn.conns.metrics.set_http_connections(open as u64);
    }
}

/// What a connection's requests use to mark it busy.
#[derive(Debug, Clone)]
pub(crate) struct SlotRef {
    conns: Arc<Connections>,
    id: ConnId,
}

impl SlotRef {
    /// Marks the connection busy until the guard is dropped (the answer is ready).
    pub(crate) fn request(&self) -> Busy {
        self.conns.table().request_started(self.id);
        Busy(self.clone())
    }
}

/// A request being answered; its connection is neither timed out nor evicted meanwhile.
#[derive(Debug)]
pub(crate) struct Busy(SlotRef);

impl Drop for Busy {
    fn drop(&mut self) {
        let SlotRef { conns, id } = &self.0;
        conns.table().request_finished(*id, Instant::now());
    }
}

/// `--web.max-connections` within the process' file descriptor limit: at most half of
/// `RLIMIT_NOFILE`, so that the accept loop always has a descriptor left to accept a new
/// connection (and evict an old one) instead of failing with "too many open files", and
/// the telemetry socket keeps its share.
pub(crate) fn within_fd_limit(max_connections: usize) -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    let Some(limit) = limit else {
        return max_connections;
    };
    let cap = usize::try_from(limit / 2).unwrap_or(usize::MAX).max(1);
    if max_connections > cap {
        warn!(
            max_connections,
            fd_limit = limit,
            "--web.max-connections lowered to {cap}, half the file descriptor limit"
        );
        cap
    } else {
        debug!(max_connections, fd_limit = limit, "HTTP connection limit");
        max_connections
    }
}
