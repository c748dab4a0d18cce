//! The reconnection schedule: exponential backoff with equal jitter. The shipper waits by it
//! between attempts to reach the exporter, and `dawn-node`'s dialer between attempts to
//! reach a peer; one implementation, so both spread out and cap alike.
//!
//! Pure: the jitter is an input, so tests need no randomness and no clock.

use std::time::Duration;

/// How the delays grow: from `initial`, doubling after each attempt, capped at `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// The first delay (before jitter), and the one after a [`Backoff::reset`].
    pub initial: Duration,
    /// The cap the doubling stops at: a peer or exporter that is down for hours is still
    /// retried this often.
    pub max: Duration,
}

/// The state of one reconnection schedule: the next delay and the attempts counted since
/// the last success. This crate's shipper waits by it between attempts to reach the
/// exporter, `dawn-node` between redials of a peer; a program reconnecting to anything else
/// can use it too.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    /// The delay before jitter that the next [`Backoff::next_delay`] draws from.
    step: Duration,
    attempt: u32,
}

impl Backoff {
    /// A schedule starting at the first delay.
    pub fn new(policy: BackoffPolicy) -> Self {
        Self {
            policy,
            step: policy.initial.min(policy.max),
            attempt: 0,
        }
    }

    /// Delays handed out since the last reset: the failed attempts so far.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The delay before the next attempt; counts the attempt and doubles the step for the
    /// following one.
    ///
    /// `jitter` in `[0, 1]` picks a point between half and all of the step ("equal
    /// jitter"), so clients restarted together do not retry in lockstep while the delay
    /// never drops below half the schedule. Out-of-range jitter is clamped and NaN counts
    /// as 0, never a panic.
    pub fn next_delay(&mut self, jitter: f64) -> Duration {
        let step = self.step;
        self.step = step.saturating_mul(2).min(self.policy.max);
        self.attempt = self.attempt.saturating_add(1);
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        step.mul_f64(0.5 + 0.5 * jitter)
    }

    /// Starts over after a success (a connection that lasted): the next failure waits the
    /// first delay again.
    pub fn reset(&mut self) {
        self.step = self.policy.initial.min(self.policy.max);
        self.attempt = 0;
    }

    /// After a refusal that will not go away soon (the exporter's `Reject`): the next
    /// delay is the longest.
    pub fn saturate(&mut self) {
        self.step = self.policy.max;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn policy(initial: u64, max: u64) -> BackoffPolicy {
        BackoffPolicy {
            initial: ms(initial),
            max: ms(max),
        }
    }

    #[test]
    fn doubles_to_the_cap_with_bounded_jitter_and_counts_attempts() {
        let mut backoff = Backoff::new(policy(100, 1000));
        let full: Vec<Duration> = (0..6).map(|_| backoff.next_delay(1.0)).collect();
        assert_eq!(
            full,
            [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
        );
        assert_eq!(backoff.attempt(), 6);

        backoff.reset();
        assert_eq!(backoff.attempt(), 0);
        assert_eq!(backoff.next_delay(0.0), ms(50));
        assert_eq!(backoff.next_delay(0.5), ms(150));
        // Out-of-range jitter is clamped, never a panic or a zero delay.
        assert_eq!(backoff.next_delay(f64::NAN), ms(200));
        assert_eq!(backoff.next_delay(7.0), ms(800));
        assert_eq!(backoff.next_delay(-1.0), ms(500));
    }

    #[test]
    fn jitter_stays_in_the_upper_half_and_reset_and_saturate_move_the_step() {
        let mut b = Backoff::new(policy(100, 500));
        assert_eq!(b.next_delay(0.0), ms(50));
        assert_eq!(b.next_delay(0.0), ms(100));
        assert_eq!(b.next_delay(1.0), ms(400));
        assert_eq!(b.next_delay(1.0), ms(500));
        assert_eq!(b.next_delay(0.5), ms(375));
        b.reset();
        assert_eq!(b.next_delay(1.0), ms(100));
        b.saturate();
        assert_eq!(b.next_delay(0.0), ms(250));
        // Saturating does not count an attempt; the delays handed out do.
        assert_eq!(b.attempt(), 2);
    }

    #[test]
    fn a_cap_below_the_first_delay_caps_it_too() {
        let mut b = Backoff::new(policy(800, 300));
        assert_eq!(b.next_delay(1.0), ms(300));
        assert_eq!(b.next_delay(1.0), ms(300));
        b.reset();
        assert_eq!(b.next_delay(1.0), ms(300));
    }

    #[test]
    fn many_attempts_do_not_overflow() {
        let mut backoff = Backoff::new(BackoffPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        });
        for _ in 0..1000 {
            assert!(backoff.next_delay(1.0) <= Duration::from_secs(60));
        }
        assert_eq!(backoff.attempt(), 1000);
    }
}
