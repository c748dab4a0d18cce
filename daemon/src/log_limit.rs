//! Rate-limited logging of events an outsider can repeat at will (rejected clients, refused
//! connections, failed requests): the first event of a kind is logged in full, the next ones
//! in the same interval are only counted, and one summary line per interval says how many
//! there were ("12 more clients rejected for flood in the last 10 s"). A flood then costs
//! the log two lines per interval and kind instead of one line per event.
//!
//! [`LogLimiter`] decides and counts; it logs nothing and reads no clock (time is an input,
//! as in the node's rate limiter), so the caller keeps its own log lines and fields, and
//! tests move a fake clock.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Default interval between summaries.
pub const DEFAULT_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Events of one kind that were counted instead of logged, reported by
/// [`LogLimiter::summaries`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppressed<K> {
    /// The kind.
    pub kind: K,
    /// How many were not logged.
    pub count: u64,
    /// The span of time they fell in (for "in the last 10 s").
    pub over: Duration,
}

/// One kind's current interval.
#[derive(Debug, Clone, Copy)]
struct Window {
    since: Instant,
    suppressed: u64,
}

/// Decides which events to log: per kind, the first in full, then a count per interval.
///
/// Kinds must come from a small fixed set (an enum of reasons), never from what a peer
/// sends: the limiter keeps one entry per kind with events in the last interval.
#[derive(Debug, Clone)]
pub struct LogLimiter<K> {
    interval: Duration,
    windows: HashMap<K, Window>,
}

impl<K: Eq + Hash + Clone> LogLimiter<K> {
    /// A limiter summarising every `interval` (at least 1 ms).
    pub fn new(interval: Duration) -> Self {
        LogLimiter {
            interval: interval.max(Duration::from_millis(1)),
            windows: HashMap::new(),
        }
    }

    /// The interval between summaries.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// An event of `kind` at `now`: `true` if the caller should log it in full (the first
    /// of its kind since that kind was last quiet for a whole interval), `false` if it was
    /// counted for the next summary.
    pub fn admit(&mut self, kind: K, now: Instant) -> bool {
        match self.windows.get_mut(&kind) {
            None => {
                self.windows.insert(
                    kind,
                    Window {
                        since: now,
                        suppressed: 0,
                    },
                );
                true
            }
            // Quiet for a whole interval, and nothing left to report: a new first.
            Some(w) if w.suppressed == 0 && now >= w.since + self.interval => {
                w.since = now;
                true
            }
            Some(w) => {
                w.suppressed = w.suppressed.saturating_add(1);
                false
            }
        }
    }

    /// The counts of intervals that ended by `now`, one per kind with events not logged;
    /// the caller logs one line each. Call it every [`Self::interval`] (and once at
    /// shutdown with [`Self::drain`]). A kind still busy starts a new interval and keeps
    /// being counted; a kind quiet for a whole interval is forgotten, so its next event is
    /// logged in full again.
    pub fn summaries(&mut self, now: Instant) -> Vec<Suppressed<K>> {
        let interval = self.interval;
        let mut out = Vec::new();
        self.windows.retain(|kind, w| {
            if now < w.since + interval {
                return true;
            }
            if w.suppressed == 0 {
                return false;
            }
            out.push(Suppressed {
                kind: kind.clone(),
                count: w.suppressed,
                over: now.saturating_duration_since(w.since),
            });
            *w = Window {
                since: now,
                suppressed: 0,
            };
            true
        });
        out
    }

    /// Every count not reported yet, whatever the time (at shutdown).
    pub fn drain(&mut self, now: Instant) -> Vec<Suppressed<K>> {
        self.windows
            .drain()
            .filter(|(_, w)| w.suppressed > 0)
            .map(|(kind, w)| Suppressed {
                kind,
                count: w.suppressed,
                over: now.saturating_duration_since(w.since),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEN: Duration = Duration::from_secs(10);

    fn secs(t0: Instant, s: u64) -> Instant {
        t0 + Duration::from_secs(s)
    }

    #[test]
    fn first_of_a_kind_is_logged_the_rest_counted_per_interval() {
        let t0 = Instant::now();
        let mut l = LogLimiter::new(TEN);
        assert!(l.admit("flood", t0));
        assert!(!l.admit("flood", secs(t0, 1)));
        assert!(!l.admit("flood", secs(t0, 2)));
        assert!(
            l.admit("uid", secs(t0, 2)),
            "another kind has its own first"
        );
        assert!(
            l.summaries(secs(t0, 9)).is_empty(),
            "the interval is not over"
        );
        assert_eq!(
            l.summaries(secs(t0, 10)),
            vec![Suppressed {
                kind: "flood",
                count: 2,
                over: TEN
            }]
        );
        // Still flooding: counted, not logged, summarised again an interval later.
        assert!(!l.admit("flood", secs(t0, 11)));
        assert_eq!(l.summaries(secs(t0, 20))[0].count, 1);
    }

    #[test]
    fn a_kind_quiet_for_an_interval_is_logged_in_full_again() {
        let t0 = Instant::now();
        let mut l = LogLimiter::new(TEN);
        assert!(l.admit("flood", t0));
        assert!(!l.admit("flood", secs(t0, 1)));
        assert_eq!(l.summaries(secs(t0, 10)).len(), 1);
        // Nothing during the next interval: no summary, and the kind is forgotten.
        assert!(l.summaries(secs(t0, 20)).is_empty());
        assert!(l.admit("flood", secs(t0, 21)));
        // Without anyone calling `summaries`, a single event an interval later is a first.
        assert!(l.admit("other", secs(t0, 21)));
        assert!(l.admit("other", secs(t0, 40)));
    }

    #[test]
    fn an_unreported_count_is_never_lost() {
        let t0 = Instant::now();
        let mut l = LogLimiter::new(TEN);
        assert!(l.admit("flood", t0));
        assert!(!l.admit("flood", secs(t0, 1)));
        // Late: the interval ended long ago, but its count was not reported yet, so the
        // event joins it instead of being logged as a first.
        assert!(!l.admit("flood", secs(t0, 30)));
        assert_eq!(
            l.summaries(secs(t0, 30)),
            vec![Suppressed {
                kind: "flood",
                count: 2,
                over: Duration::from_secs(30)
            }]
        );
        assert!(!l.admit("flood", secs(t0, 31)));
        assert_eq!(
            l.drain(secs(t0, 32)),
            vec![Suppressed {
                kind: "flood",
                count: 1,
                over: Duration::from_secs(2)
            }]
        );
        assert!(l.drain(secs(t0, 33)).is_empty());
        assert!(l.admit("flood", secs(t0, 33)));
    }
}
