//! Resilience: a circuit breaker per peer, and rate limits per sender, per source address
//! and global (docs/node-internals.md, "Resilience").
//!
//! Both are sans-IO state machines in the style of quinn-proto: every call takes `now`,
//! nothing sleeps or spawns, and every state change is returned to the caller, which
//! records it (`p2p_circuit_breaker_state`, `p2p_circuit_breaker_failures_total`,
//! `p2p_rate_limit_rejections_total`) and replies (-32005 with `retry_after`, -32001 for an
//! open breaker). Tests drive them with a fake clock.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use dawn_node::resilience::{BreakerConfig, BreakerState, Breakers, RateLimitConfig, RateLimiter};
//!
//! let start = Instant::now();
//! let mut breakers = Breakers::new(BreakerConfig { threshold: 2, open_for: Duration::from_secs(10) });
//! assert_eq!(breakers.on_failure(&"peer-a", start), None);
//! let opened = breakers.on_failure(&"peer-a", start).expect("opens at the threshold");
//! assert_eq!(opened.to.as_gauge(), 1.0);
//! assert!(breakers.allow(&"peer-a", start + Duration::from_secs(3)).is_err());
//!
//! let mut limiter = RateLimiter::new(RateLimitConfig { max: 1, window: Duration::from_secs(60) });
//! assert!(limiter.check(&"peer-b", start).is_ok());
//! let refused = limiter.check(&"peer-b", start + Duration::from_secs(15)).unwrap_err();
//! assert_eq!(refused.retry_after, Duration::from_secs(45));
//! assert_eq!(refused.to_error_object().code, -32005);
//! ```

mod breaker;
mod breakers;
mod clock;
mod config;
mod limits;
mod rate_limit;
mod state;

#[cfg(test)]
mod tests;

pub use breaker::{CircuitBreaker, Open};
pub use breakers::{Breakers, BreakersLimits};
pub use config::{
    BreakerConfig, Budget, ENV_CB_THRESHOLD, ENV_CB_TIMEOUT, ENV_RATE_LIMIT_ADDRESS_MAX,
    ENV_RATE_LIMIT_GLOBAL_MAX, ENV_RATE_LIMIT_MAX, ENV_RATE_LIMIT_WINDOW, MAX_BUDGET,
    MAX_CB_THRESHOLD, MAX_PERIOD, MAX_RATE_LIMIT, RateLimitConfig, RequestLimitsConfig,
};
pub use limits::{RateLimitResource, Refused, Request, RequestLimits};
pub use rate_limit::{DEFAULT_MAX_SENDERS, RateLimited, RateLimiter};
pub use state::{BreakerState, Transition};
