//! Periods measured against the caller's `now`.

use std::time::{Duration, Instant};

/// Time left of a period of `length` that began at `since`, or `None` once it is over.
/// Comparing elapsed time (rather than adding to an `Instant`) cannot overflow.
pub(super) fn time_left(since: Instant, length: Duration, now: Instant) -> Option<Duration> {
    let elapsed = now.saturating_duration_since(since);
    (elapsed < length).then(|| length - elapsed)
}
