//! The background shipper: a dedicated thread running a small current-thread runtime, so it
//! works the same whether or not the node is inside a tokio runtime, and the node never waits
//! for it.
//!
//! It connects, handshakes, sends the full snapshot, then every flush interval the changed
//! series and a heartbeat; health and readiness changes go out at once. When the exporter is
//! absent it retries with exponential backoff, still running the flush pass so idle series
//! expire; after every reconnect a new session resends everything.
//!
//! The backoff starts over only once a session has lasted (`reconnect_max`): a session
//! that fails sooner, e.g. an exporter that welcomes and then sends garbage, is one more
//! failed attempt, so the waits keep doubling instead of reconnecting in a loop. An
//! exporter that breaks the protocol (unreadable frames, a frame out of place) is treated
//! like one that rejects the session: the next wait is the longest. Failures are logged at
//! warn once, then at debug until a session has lasted.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use dawn_proto::{ErrorReport, Frame, Heartbeat, Hello};
use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until};
use tracing::{debug, error, info, warn};

use super::backoff::{Backoff, BackoffPolicy};
use super::collect::collect;
use super::config::TelemetryConfig;
use super::conn::{Conn, ConnError};
use super::registry::Registry;
use super::session::{Session, SessionError};
use super::signals::Signals;
use super::tracker::Tracker;

/// How a shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownOutcome {
    /// The final batch and `Goodbye` were written to the exporter.
    Delivered,
    /// No exporter could be reached (or the last write failed); nothing more was sent.
    NotDelivered,
    /// The shipper did not finish within the shutdown timeout; it goes on alone and exits
    /// when its current write or handshake times out.
    TimedOut,
}

/// State shared by the [`super::Telemetry`] handles and the shipper thread.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: TelemetryConfig,
    pub(crate) registry: Registry,
    pub(crate) signals: Signals,
    pub(crate) incarnation: u64,
    pub(crate) started: std::time::Instant,
    wake: Notify,
    stopping: AtomicBool,
    connected: AtomicBool,
    sessions: AtomicU64,
    /// Connection attempts that have ended, in success or failure.
    attempts: AtomicU64,
    /// Collection passes run, connected or not (each flush interval, plus snapshots).
    passes: AtomicU64,
}

impl Shared {
    pub(crate) fn new(config: TelemetryConfig, incarnation: u64) -> Self {
        Shared {
            registry: Registry::with_native(config.max_series_per_metric, config.native_histograms),
            config,
            signals: Signals::default(),
            incarnation,
            started: std::time::Instant::now(),
            wake: Notify::new(),
            stopping: AtomicBool::new(false),
            connected: AtomicBool::new(false),
            sessions: AtomicU64::new(0),
            attempts: AtomicU64::new(0),
            passes: AtomicU64::new(0),
        }
    }

    /// Makes the shipper look at the signals (and the stop flag) now.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Asks the shipper to send its final flush and `Goodbye`, then exit.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake();
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    pub(crate) fn sessions(&self) -> u64 {
        self.sessions.load(Ordering::SeqCst)
    }

    pub(crate) fn connect_attempts(&self) -> u64 {
        self.attempts.load(Ordering::SeqCst)
    }

    pub(crate) fn passes(&self) -> u64 {
        self.passes.load(Ordering::SeqCst)
    }
}

/// Starts the shipper thread; it reports how it ended on `done`.
pub(crate) fn spawn(
    shared: Arc<Shared>,
    done: mpsc::Sender<ShutdownOutcome>,
) -> std::io::Result<JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    std::thread::Builder::new()
        .name("dawn-telemetry".into())
        .spawn(move || {
            let outcome = runtime.block_on(Shipper::new(shared).run());
            // Nobody may be waiting any more; that is fine.
            let _ = done.send(outcome);
        })
}

/// How a served connection ended.
enum End {
    Stopped(ShutdownOutcome),
    Failed(ConnError),
}

struct Shipper {
    shared: Arc<Shared>,
    tracker: Tracker,
    backoff: Backoff,
    next_flush: Instant,
    /// Failures are logged at warn once, then at debug until a session has lasted.
    quiet: bool,
    /// An untrusted exporter was reported at warn since the last connection.
    untrusted_said: bool,
}

impl Shipper {
    fn new(shared: Arc<Shared>) -> Self {
        let backoff = Backoff::new(BackoffPolicy {
            initial: shared.config.reconnect_min,
            max: shared.config.reconnect_max,
        });
        Shipper {
            next_flush: Instant::now() + shared.config.flush_interval,
            shared,
            tracker: Tracker::default(),
            backoff,
            quiet: false,
            untrusted_said: false,
        }
    }

    fn config(&self) -> &TelemetryConfig {
        &self.shared.config
    }

    async fn run(mut self) -> ShutdownOutcome {
        loop {
            if self.shared.is_stopping() {
                return self.last_attempt().await;
            }
            match self.connect(self.config().handshake_timeout).await {
                Ok((conn, session)) => match self.serve(conn, session).await {
                    End::Stopped(outcome) => return outcome,
                    End::Failed(e) => {
                        self.shared.connected.store(false, Ordering::SeqCst);
                        self.failed(&e, "telemetry connection to the exporter lost");
                    }
                },
                Err(e) => self.failed(&e, "telemetry exporter unavailable"),
            }
            self.wait_before_retry().await;
        }
    }

    fn failed(&mut self, e: &ConnError, what: &str) {
        let socket = self.config().socket_path.display().to_string();
        if let ConnError::Rejected(reason) = e {
            error!(%socket, %reason, "exporter rejected the telemetry session; backing off");
            self.backoff.saturate();
            self.quiet = true;
            return;
        }
        // An exporter that broke the protocol will not mend in 100 ms: wait the longest, as
        // after a rejection.
        let broke_protocol = matches!(e, ConnError::Decode(_) | ConnError::Protocol(_));
        if broke_protocol {
            self.backoff.saturate();
        }
        if matches!(e, ConnError::UntrustedExporter { .. }) && !self.untrusted_said {
            // Why telemetry goes nowhere is said once, even after other failures.
            warn!(
                %socket,
                error = %e,
                "refusing the telemetry exporter; retrying with backoff (further refusals are logged at debug)"
            );
            self.untrusted_said = true;
            self.quiet = true;
        } else if self.quiet {
            debug!(%socket, error = %e, "{what}; still retrying");
        } else {
            let why = if broke_protocol {
                ": the exporter broke the protocol"
            } else {
                ""
            };
            warn!(
                %socket,
                error = %e,
                "{what}{why}; retrying with backoff (further failures are logged at debug)"
            );
            self.quiet = true;
        }
    }

    fn hello(&self) -> Hello {
        let c = self.config();
        Hello {
            max_version: c.max_protocol_version,
            ..Hello::new(
                c.client_name.clone(),
                c.client_version.clone(),
                c.node_id.clone(),
                self.shared.incarnation,
                std::process::id(),
                c.flush_interval_ms(),
            )
        }
    }

    /// Connects, handshakes and sends the full snapshot.
    async fn connect(&mut self, limit: Duration) -> Result<(Conn, Session), ConnError> {
        let result = self.try_connect(limit).await;
        self.shared.attempts.fetch_add(1, Ordering::SeqCst);
        result
    }

    async fn try_connect(&mut self, limit: Duration) -> Result<(Conn, Session), ConnError> {
        // The backoff is not reset here: only a session that lasts resets it (`serve`).
        let hello = self.hello();
        let (mut conn, welcome) = Conn::open(
            &self.config().socket_path,
            &self.config().allowed_exporter_uids,
            &hello,
            limit,
            log_exporter_error,
        )
        .await?;
        let mut session = Session::at_version(welcome.version);
        self.flush(&mut session)?;
        conn.write(&session.take_output(), self.config().write_timeout)
            .await?;
        self.shared.connected.store(true, Ordering::SeqCst);
        self.shared.sessions.fetch_add(1, Ordering::SeqCst);
        let socket = self.config().socket_path.display().to_string();
        let (server, version, series) = (welcome.server, welcome.version, session.series_len());
        if self.quiet {
            // Said at info once the session has lasted (`stable`).
            debug!(%socket, %server, version, series, "telemetry reconnected to the exporter");
        } else {
            info!(%socket, %server, version, series, "telemetry connected to the exporter");
        }
        Ok((conn, session))
    }

    /// The session has lasted: the next failure waits the shortest delay again, and is
    /// said at warn again.
    fn stable(&mut self) {
        self.backoff.reset();
        if self.quiet {
            info!(
                socket = %self.config().socket_path.display(),
                "telemetry connected to the exporter again"
            );
        }
        self.quiet = false;
        self.untrusted_said = false;
    }

    /// One flush pass into `session`: definitions and changed values, retirements, health
    /// and readiness changes, a heartbeat.
    fn flush(&mut self, session: &mut Session) -> Result<(), SessionError> {
        let now = Instant::now();
        collect(
            &self.shared.registry,
            &mut self.tracker,
            Some(session),
            now.into_std(),
            self.shared.config.series_ttl,
        )?;
        self.shared.passes.fetch_add(1, Ordering::SeqCst);
        self.signals(session)?;
        session.heartbeat(Heartbeat {
            uptime_ms: u64::try_from(self.shared.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            dropped: self.shared.registry.dropped(),
        })?;
        self.next_flush = now + self.config().flush_interval;
        Ok(())
    }

    fn signals(&self, session: &mut Session) -> Result<(), SessionError> {
        match self.shared.signals.newer_than(session.seen_version()) {
            Some(board) => session.signals(&board),
            None => Ok(()),
        }
    }

    async fn serve(&mut self, mut conn: Conn, mut session: Session) -> End {
        // A session that lasts this long starts the backoff over.
        let stable_at = Instant::now() + self.config().reconnect_max;
        let mut stable = false;
        loop {
            let step = tokio::select! {
                biased;
                () = sleep_until(stable_at), if !stable => {
                    stable = true;
                    self.stable();
                    Ok(())
                }
                () = self.shared.wake.notified() => {
                    if self.shared.is_stopping() {
                        return End::Stopped(self.finish(conn, session).await);
                    }
                    self.signals(&mut session).map_err(ConnError::from)
                }
                () = sleep_until(self.next_flush) => self.flush(&mut session).map_err(ConnError::from),
                frame = conn.read_frame() => match frame {
                    Ok(Frame::Reject(r)) => Err(ConnError::Rejected(r.reason)),
                    Ok(Frame::Error(report)) => {
                        log_exporter_error(&report);
                        Ok(())
                    }
                    Ok(other) => {
                        debug!(frame = other.kind_name(), "ignoring unexpected frame from the exporter");
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
            };
            let written = match step {
                Ok(()) => {
                    conn.write(&session.take_output(), self.config().write_timeout)
                        .await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                return End::Failed(e);
            }
        }
    }

    /// Final flush and `Goodbye` on an open connection, bounded by the shutdown timeout.
    async fn finish(&mut self, mut conn: Conn, mut session: Session) -> ShutdownOutcome {
        let limit = self
            .config()
            .write_timeout
            .min(self.config().shutdown_timeout);
        let sent = match self.flush(&mut session).and_then(|()| session.goodbye()) {
            Ok(()) => conn.write(&session.take_output(), limit).await,
            Err(e) => Err(e.into()),
        };
        self.shared.connected.store(false, Ordering::SeqCst);
        match sent {
            Ok(()) => {
                conn.close(limit).await;
                info!("telemetry: final flush and goodbye sent");
                ShutdownOutcome::Delivered
            }
            Err(e) => {
                warn!(error = %e, "telemetry: final flush failed");
                ShutdownOutcome::NotDelivered
            }
        }
    }

    /// Stopping while disconnected: one quick try to deliver the final state.
    async fn last_attempt(&mut self) -> ShutdownOutcome {
        let limit = self
            .config()
            .handshake_timeout
            .min(self.config().shutdown_timeout);
        match self.connect(limit).await {
            Ok((conn, session)) => self.finish(conn, session).await,
            Err(e) => {
                debug!(error = %e, "telemetry: no exporter for the final flush");
                ShutdownOutcome::NotDelivered
            }
        }
    }

    /// Sleeps the backoff delay, running the flush pass without a connection on schedule so
    /// idle series still expire, and returning early when asked to stop.
    async fn wait_before_retry(&mut self) {
        let until = Instant::now() + self.backoff.next_delay(rand::random::<f64>());
        loop {
            tokio::select! {
                () = sleep_until(until) => return,
                () = self.shared.wake.notified() => {
                    if self.shared.is_stopping() {
                        return;
                    }
                }
                () = sleep_until(self.next_flush) => {
                    let now = Instant::now();
                    // Without a session nothing is encoded, so this cannot fail.
                    let _ = collect(
                        &self.shared.registry,
                        &mut self.tracker,
                        None,
                        now.into_std(),
                        self.shared.config.series_ttl,
                    );
                    self.shared.passes.fetch_add(1, Ordering::SeqCst);
                    self.next_flush = now + self.config().flush_interval;
                }
            }
        }
    }
}

fn log_exporter_error(report: &ErrorReport) {
    warn!(
        reason = %report.reason,
        message = %report.message,
        "exporter reported a problem with our telemetry"
    );
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixListener;
    use std::path::Path;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    use dawn_proto::{Frame, MAX_SUPPORTED_VERSION, Welcome, encode_frame};

    use super::*;
    use crate::Telemetry;
    use crate::testing::{TempDir, eventually, fast_config};

    /// Bytes that are no frame: a length prefix far above any frame limit.
    const GARBAGE: &[u8] = &[0xff; 8];

    /// An exporter on `path` that welcomes every client and then sends garbage; stops when
    /// `stop` is set.
    fn welcome_then_garbage(path: &Path, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
        let listener = UnixListener::bind(path).expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        std::thread::spawn(move || {
            // Kept open: the client, not this side, ends each session.
            let mut open = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                };
                let _ = stream.set_nonblocking(false);
                let mut hello = [0u8; 512];
                let _ = stream.read(&mut hello);
                let mut out = Vec::new();
                let welcome = Frame::Welcome(Welcome {
                    version: MAX_SUPPORTED_VERSION,
                    server: "garbage".into(),
                });
                encode_frame(&welcome, &mut out).expect("encode");
                out.extend_from_slice(GARBAGE);
                let _ = stream.write_all(&out);
                open.push(stream);
            }
        })
    }

    #[test]
    fn an_exporter_that_breaks_the_protocol_after_welcome_is_retried_at_the_longest_delay() {
        let dir = TempDir::default();
        let stop = Arc::new(AtomicBool::new(false));
        let exporter = welcome_then_garbage(&dir.socket(), Arc::clone(&stop));
        let longest = Duration::from_millis(200);
        let config = TelemetryConfig {
            reconnect_max: longest,
            ..fast_config(&dir.socket(), "n")
        };
        let started = std::time::Instant::now();
        let telemetry = Telemetry::start(config).expect("start");
        eventually("four sessions welcomed", || telemetry.sessions() >= 4);
        let elapsed = started.elapsed();
        // Each session failed at once; the three waits before the later ones were each at
        // least half the longest delay (equal jitter), where a backoff reset by each
        // Welcome would have waited the shortest (10 ms) every time.
        assert!(
            elapsed >= 3 * longest / 2,
            "4 sessions within {elapsed:?}: the shipper did not back off"
        );
        stop.store(true, Ordering::SeqCst);
        exporter.join().expect("exporter thread");
        telemetry.shutdown();
    }
}
