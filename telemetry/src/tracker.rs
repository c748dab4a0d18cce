//! The shipper's memory of every series: the last value it saw and when that value last
//! changed. Changes are found by comparison, so recording needs no dirty flag; idleness for
//! the TTL is measured here too, with time as an input.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::cell::Reading;

/// How a reading compares with the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// The series was not known.
    New,
    /// Its value changed.
    Changed,
    /// Same value as last time.
    Same,
}

#[derive(Debug)]
struct Tracked {
    last: Reading,
    changed_at: Instant,
}

/// Keyed by series uid; one entry per live series.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    entries: HashMap<u64, Tracked>,
}

impl Tracker {
    /// Records `reading` for series `uid` as seen at `now`.
    pub(crate) fn observe(&mut self, uid: u64, reading: Reading, now: Instant) -> Seen {
        match self.entries.get_mut(&uid) {
            None => {
                self.entries.insert(
                    uid,
                    Tracked {
                        last: reading,
                        changed_at: now,
                    },
                );
                Seen::New
            }
            Some(t) if t.last == reading => Seen::Same,
            Some(t) => {
                t.last = reading;
                t.changed_at = now;
                Seen::Changed
            }
        }
    }

    /// Whether series `uid` has kept the same value for at least `ttl` as of `now`.
    pub(crate) fn idle_for(&self, uid: u64, ttl: Duration, now: Instant) -> bool {
        self.entries
            .get(&uid)
            .is_some_and(|t| now.saturating_duration_since(t.changed_at) >= ttl)
    }

    /// Whether `reading` is what was last seen of series `uid`.
    pub(crate) fn is_unchanged(&self, uid: u64, reading: &Reading) -> bool {
        self.entries.get(&uid).is_some_and(|t| t.last == *reading)
    }

    /// Forgets a retired series.
    pub(crate) fn forget(&mut self, uid: u64) {
        self.entries.remove(&uid);
    }

    /// Number of series tracked.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idleness_is_measured_from_the_last_change() {
        let t0 = Instant::now();
        let ttl = Duration::from_secs(10);
        let mut t = Tracker::default();
        assert_eq!(t.observe(1, Reading::Counter(0), t0), Seen::New);
        assert_eq!(t.observe(1, Reading::Counter(0), t0 + ttl / 2), Seen::Same);
        assert!(!t.idle_for(1, ttl, t0 + ttl / 2));
        assert!(t.idle_for(1, ttl, t0 + ttl));
        assert_eq!(t.observe(1, Reading::Counter(5), t0 + ttl), Seen::Changed);
        assert!(!t.idle_for(1, ttl, t0 + ttl + ttl / 2));
        assert!(t.is_unchanged(1, &Reading::Counter(5)));
        assert!(!t.is_unchanged(1, &Reading::Counter(6)));
        t.forget(1);
        assert_eq!(t.len(), 0);
        assert!(!t.idle_for(1, ttl, t0 + ttl * 9));
    }
}
