//! One peer's circuit breaker: a sans-IO state machine driven by call outcomes and `now`.
//!
//! Closed, it counts consecutive failures; at `threshold` it opens and refuses calls for
//! `open_for`; then it is half-open and lets exactly one probe call through: success closes
//! it, failure re-opens it for another `open_for`. A probe whose outcome is never reported
//! (the caller dropped it) stops blocking after `open_for`, when another probe is allowed,
//! so a lost outcome cannot wedge the breaker.

use std::time::{Duration, Instant};

use super::clock::time_left;
use super::config::BreakerConfig;
use super::state::{BreakerState, Transition};

/// A call refused because the breaker is open (or half-open with its probe in flight).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("circuit breaker open; retry in {retry_in:?}")]
pub struct Open {
    /// How long until a call may be allowed again.
    pub retry_in: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inner {
    Closed { failures: u32 },
    Open { since: Instant },
    HalfOpen { probe_since: Option<Instant> },
}

/// A circuit breaker for calls to one peer.
///
/// Every method takes `now`, so tests drive it with a fake clock. Every method that can
/// change the state returns the [`Transition`] it made, for the caller to record.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    inner: Inner,
}

impl CircuitBreaker {
    /// A closed breaker with no failures counted.
    pub fn new(config: BreakerConfig) -> Self {
        CircuitBreaker {
            config,
            inner: Inner::Closed { failures: 0 },
        }
    }

    /// The state as of the last call; an open breaker whose period has ended reads `Open`
    /// until [`allow`](Self::allow) or [`handle_timeout`](Self::handle_timeout) moves it.
    pub fn state(&self) -> BreakerState {
        match self.inner {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Consecutive failures counted while closed (0 in the other states).
    pub fn failures(&self) -> u32 {
        match self.inner {
            Inner::Closed { failures } => failures,
            Inner::Open { .. } | Inner::HalfOpen { .. } => 0,
        }
    }

    /// The thresholds this breaker applies.
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// Whether a call may be made now.
    ///
    /// `Ok(Some(open -> half_open))` when the open period has just ended: this call is the
    /// probe. In half-open, the first caller gets the probe and others are refused until
    /// its outcome is reported or its lease (`open_for`) runs out.
    pub fn allow(&mut self, now: Instant) -> Result<Option<Transition>, Open> {
        let open_for = self.config.open_for;
        match self.inner {
            Inner::Closed { .. } => Ok(None),
            Inner::Open { since } => match time_left(since, open_for, now) {
                Some(retry_in) => Err(Open { retry_in }),
                None => {
                    self.inner = Inner::HalfOpen {
                        probe_since: Some(now),
                    };
                    Ok(Some(Transition {
                        from: BreakerState::Open,
                        to: BreakerState::HalfOpen,
                    }))
                }
            },
            Inner::HalfOpen { probe_since } => {
                if let Some(retry_in) = probe_since.and_then(|s| time_left(s, open_for, now)) {
                    return Err(Open { retry_in });
                }
                self.inner = Inner::HalfOpen {
                    probe_since: Some(now),
                };
                Ok(None)
            }
        }
    }

    /// Reports a successful call. Closed: resets the failure count. Half-open: closes.
    /// Open: ignored, since it is the late outcome of a call made before the breaker
    /// opened and says nothing about the peer now.
    pub fn on_success(&mut self, _now: Instant) -> Option<Transition> {
        match self.inner {
            Inner::Closed { .. } => {
                self.inner = Inner::Closed { failures: 0 };
                None
            }
            Inner::HalfOpen { .. } => {
                self.inner = Inner::Closed { failures: 0 };
                Some(Transition {
                    from: BreakerState::HalfOpen,
                    to: BreakerState::Closed,
                })
            }
            Inner::Open { .. } => None,
        }
    }

    /// Reports a failed call. Closed: counts it and opens at the threshold. Half-open:
    /// re-opens for a full period. Open: no change (a late outcome does not extend the
    /// period).
    ///
    /// Every reported failure counts towards `p2p_circuit_breaker_failures_total`,
    /// whatever this returns.
    pub fn on_failure(&mut self, now: Instant) -> Option<Transition> {
        match self.inner {
            Inner::Closed { failures } => {
                let failures = failures.saturating_add(1);
                if failures >= self.config.threshold {
                    self.inner = Inner::Open { since: now };
                    Some(Transition {
                        from: BreakerState::Closed,
                        to: BreakerState::Open,
                    })
                } else {
                    self.inner = Inner::Closed { failures };
                    None
                }
            }
            Inner::HalfOpen { .. } => {
                self.inner = Inner::Open { since: now };
                Some(Transition {
                    from: BreakerState::HalfOpen,
                    to: BreakerState::Open,
                })
            }
            Inner::Open { .. } => None,
        }
    }

    /// Moves an open breaker whose period has ended to half-open, so the state gauge shows
    /// half-open even when no call comes to trigger it. Call it at
    /// [`poll_timeout`](Self::poll_timeout).
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Transition> {
        match self.inner {
            Inner::Open { since } if time_left(since, self.config.open_for, now).is_none() => {
                self.inner = Inner::HalfOpen { probe_since: None };
                Some(Transition {
                    from: BreakerState::Open,
                    to: BreakerState::HalfOpen,
                })
            }
            _ => None,
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) has something to do, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.inner {
            Inner::Open { since } => since.checked_add(self.config.open_for),
            Inner::Closed { .. } | Inner::HalfOpen { .. } => None,
        }
    }
}
