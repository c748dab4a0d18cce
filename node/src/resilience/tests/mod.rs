//! Fake-clock tests of every breaker transition, of the rate limiter's window and memory
//! bounds, and of the chain of limits (sender, address, global).

mod breaker;
mod breakers;
mod limits;
mod rate_limit;

use std::time::{Duration, Instant};

/// A fake clock: `at(ms)` is `ms` milliseconds after a fixed start.
struct Clock(Instant);

impl Clock {
    fn new() -> Self {
        Clock(Instant::now())
    }

    fn at(&self, ms: u64) -> Instant {
        self.0 + Duration::from_millis(ms)
    }
}
