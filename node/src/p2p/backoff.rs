//! Exponential backoff with jitter for redialing unreachable peers.
//!
//! Pure: the jitter is an input, so tests need no randomness and no clock.

use std::time::Duration;

/// How redial delays grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// The first delay (before jitter).
    pub initial: Duration,
    /// The cap the doubling stops at: a peer that is down for hours is still retried this
    /// often.
    pub max: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

/// The state of one peer's redial schedule.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    attempt: u32,
}

impl Backoff {
    /// A schedule starting at the first delay.
    pub fn new(policy: BackoffPolicy) -> Self {
        Self { policy, attempt: 0 }
    }

    /// Failed attempts since the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Starts over (after a connection that lasted).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The delay before the next attempt, and counts the attempt.
    ///
    /// The base delay doubles from `initial` up to `max`; `jitter` in `[0, 1]` picks a point
    /// between half and all of it ("equal jitter"), so nodes restarted together do not redial
    /// in lockstep, while the delay never drops below half the schedule.
    pub fn next_delay(&mut self, jitter: f64) -> Duration {
        let factor = 2u32.saturating_pow(self.attempt.min(31));
        let base = self
            .policy
            .initial
            .saturating_mul(factor)
            .min(self.policy.max);
        self.attempt = self.attempt.saturating_add(1);
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        base.mul_f64(0.5 + 0.5 * jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_with_bounded_jitter() {
        let policy = BackoffPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let mut backoff = Backoff::new(policy);
        let full: Vec<u64> = (0..6)
            .map(|_| backoff.next_delay(1.0).as_millis() as u64)
            .collect();
        assert_eq!(full, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff.attempt(), 6);

        backoff.reset();
        assert_eq!(backoff.next_delay(0.0), Duration::from_millis(50));
        assert_eq!(backoff.next_delay(0.5), Duration::from_millis(150));
        // Out-of-range jitter is clamped, never a panic or a zero delay.
        assert_eq!(backoff.next_delay(f64::NAN), Duration::from_millis(200));
        assert_eq!(backoff.next_delay(7.0), Duration::from_millis(800));
    }

    #[test]
    fn many_attempts_do_not_overflow() {
        let mut backoff = Backoff::new(BackoffPolicy::default());
        for _ in 0..1000 {
            assert!(backoff.next_delay(1.0) <= Duration::from_secs(60));
        }
    }
}
