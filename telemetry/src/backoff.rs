//! Exponential reconnection backoff with jitter; the randomness is an input so tests are
//! deterministic.

use std::time::Duration;

/// Delays that double from `min` up to `max`, each drawn from the upper half of the current
/// step ("equal jitter") so that many clients restarted together spread out.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    step: Duration,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max: max.max(min),
            step: min,
        }
    }

    /// The next delay, given `jitter` in `[0, 1)`; doubles the step for the following one.
    pub(crate) fn next_delay(&mut self, jitter: f64) -> Duration {
        let step = self.step;
        self.step = (step * 2).min(self.max);
        let half = step / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }

    /// After a success: the next failure waits the minimum again.
    pub(crate) fn reset(&mut self) {
        self.step = self.min;
    }

    /// After a refusal that will not go away soon (a `Reject`): wait the longest.
    pub(crate) fn saturate(&mut self) {
        self.step = self.max;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_max_with_jitter_in_the_upper_half() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(100), ms(500));
        assert_eq!(b.next_delay(0.0), ms(50));
        assert_eq!(b.next_delay(0.0), ms(100));
        assert_eq!(b.next_delay(1.0), ms(400));
        assert_eq!(b.next_delay(1.0), ms(500));
        assert_eq!(b.next_delay(0.5), ms(375));
        b.reset();
        assert_eq!(b.next_delay(1.0), ms(100));
        b.saturate();
        assert_eq!(b.next_delay(0.0), ms(250));
    }
}
