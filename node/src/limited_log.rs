//! Log lines about what a peer or a stranger can repeat at will (failed incoming
//! handshakes, refused clients and streams, bad announcements), rate-limited: the first of
//! a kind is written in full, the next ones in the same interval are only counted, and one
//! line per interval gives the count ("212 more incoming handshakes failed in the last
//! 10 s"). A flood then costs the log a few lines per interval instead of one per packet
//! (docs/security.md).
//!
//! [`dawn_daemon::log_limit::LogLimiter`] decides; this file adds a lock, reads the clock
//! and writes the count lines, at the level of their kind.

use std::fmt::Display;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use dawn_daemon::log_limit::{DEFAULT_LOG_INTERVAL, LogLimiter, Suppressed};

/// A kind of repeatable event; each kind is limited on its own. Kinds come from a small
/// fixed set, never from what a peer sends.
pub(crate) trait Repeatable: Copy + Eq + Hash + Display {
    /// Whether its lines are warnings (else information).
    fn is_warning(&self) -> bool;
}

/// One owner's rate-limited log of repeatable events.
#[derive(Debug)]
pub(crate) struct LimitedLog<K> {
    limiter: Mutex<LogLimiter<K>>,
}

impl<K: Repeatable> Default for LimitedLog<K> {
    fn default() -> Self {
        Self {
            limiter: Mutex::new(LogLimiter::new(DEFAULT_LOG_INTERVAL)),
        }
    }
}

impl<K: Repeatable> LimitedLog<K> {
    /// An event of `kind`: `write` logs it in full if it is the first of its kind in the
    /// interval; otherwise it is counted for the next count line.
    pub(crate) fn event(&self, kind: K, write: impl FnOnce()) {
        if self.limiter().admit(kind, Instant::now()) {
            write();
        }
    }

    /// Writes the counts of the intervals that have ended; call it at least once per
    /// [`DEFAULT_LOG_INTERVAL`].
    pub(crate) fn write_due(&self) {
        let due = self.limiter().summaries(Instant::now());
        due.iter().for_each(write_count);
    }

    /// Writes every count not written yet (at shutdown).
    pub(crate) fn write_all(&self) {
        let left = self.limiter().drain(Instant::now());
        left.iter().for_each(write_count);
    }

    fn limiter(&self) -> MutexGuard<'_, LogLimiter<K>> {
        // Only counts, each update one step: a poisoned lock holds consistent data.
        self.limiter.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn write_count<K: Repeatable>(s: &Suppressed<K>) {
    let (kind, count, secs) = (s.kind, s.count, s.over.as_secs().max(1));
    if kind.is_warning() {
        tracing::warn!(%kind, count, "{count} more {kind} in the last {secs} s");
    } else {
        tracing::info!(%kind, count, "{count} more {kind} in the last {secs} s");
    }
}
