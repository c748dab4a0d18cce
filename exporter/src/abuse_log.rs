//! Log lines about what an outsider can repeat at will (refused clients, failed accepts,
//! HTTP connections closed for a timeout or at the connection limit), rate-limited: the
//! first of a kind in full, then one count per interval ("37 more HTTP connections closed
//! (header_timeout) in the last 10 s"). A flood of bad clients then costs the log a few
//! lines per interval instead of one per client (docs/security.md).
//!
//! The decisions are [`dawn_daemon::log_limit::LogLimiter`]'s; this module adds the kinds,
//! a lock, and the task that writes the counts.

use std::fmt;
use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use dawn_daemon::log_limit::{DEFAULT_LOG_INTERVAL, LogLimiter, Suppressed};
use tracing::warn;

use crate::metrics::{ClientRefusal, HttpClose};
use crate::periodic;

/// What kind of repeatable event a line is about; each kind is limited on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Abuse {
    /// A telemetry client turned away before its handshake.
    Refused(ClientRefusal),
    /// `accept` on the telemetry socket failed (out of file descriptors, ...).
    IngestAccept,
    /// The HTTP server closed a connection on its own.
    Http(HttpClose),
    /// `accept` on the HTTP port failed.
    HttpAccept,
    /// A telemetry client's problem or the exporter's refusal of it (rejected, evicted, an
    /// `Error` frame), by the label of its reason.
    Client(&'static str),
}

impl fmt::Display for Abuse {
    /// What the summary line counts: "N more {self} in the last 10 s".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Abuse::Refused(reason) => write!(f, "telemetry clients refused ({reason})"),
            Abuse::IngestAccept => f.write_str("failed accepts on the telemetry socket"),
            Abuse::Http(reason) => write!(f, "HTTP connections closed ({reason})"),
            Abuse::HttpAccept => f.write_str("failed accepts on the HTTP port"),
            Abuse::Client(reason) => write!(f, "telemetry client problems ({reason})"),
        }
    }
}

/// The exporter's rate-limited log of abuse, shared by the ingest and HTTP sides.
#[derive(Debug)]
pub(crate) struct AbuseLog {
    limiter: Mutex<LogLimiter<Abuse>>,
}

impl Default for AbuseLog {
    fn default() -> Self {
        AbuseLog::new(DEFAULT_LOG_INTERVAL)
    }
}

impl AbuseLog {
    /// Counts are written every `interval`.
    pub(crate) fn new(interval: Duration) -> Self {
        AbuseLog {
            limiter: Mutex::new(LogLimiter::new(interval)),
        }
    }

    fn limiter(&self) -> MutexGuard<'_, LogLimiter<Abuse>> {
        // The limiter holds only counts, each update a single step: a panic elsewhere
        // while the lock was held cannot leave it inconsistent, so a poisoned lock is used
        // as it is.
        self.limiter.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An event of `kind`: `log` writes its full line if it is the first of its kind in
    /// the interval; otherwise it is only counted for the next summary.
    pub(crate) fn event(&self, kind: Abuse, log: impl FnOnce()) {
        let first = self.limiter().admit(kind, Instant::now());
        if first {
            log();
        }
    }

    /// Writes the counts every interval until `stop` resolves, then whatever is left.
    pub(crate) async fn run(&self, stop: impl Future<Output = ()>) {
        let interval = self.limiter().interval();
        periodic::every(interval, stop, || {
            let due = self.limiter().summaries(Instant::now());
            due.iter().for_each(write_summary);
        })
        .await;
        let rest = self.limiter().drain(Instant::now());
        rest.iter().for_each(write_summary);
    }
}

fn write_summary(s: &Suppressed<Abuse>) {
    let kind = s.kind;
    warn!(
        kind = %kind,
        count = s.count,
        "{} more {kind} in the last {} s",
        s.count,
        s.over.as_secs().max(1)
    );
}
