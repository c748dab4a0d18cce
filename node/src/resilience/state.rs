//! Circuit breaker states and the transitions between them, in the form the metrics need.

use std::fmt;

/// Where a circuit breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls go through; consecutive failures are counted.
    Closed,
    /// Calls are refused until the open period ends.
    Open,
    /// The open period has ended; one probe call may go through to test the peer.
    HalfOpen,
}

impl BreakerState {
    /// The value of the `p2p_circuit_breaker_state` gauge: 0 closed, 1 open, 2 half-open.
    pub const fn as_gauge(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::Open => 1.0,
            BreakerState::HalfOpen => 2.0,
        }
    }

    /// The state's name, for logs and docs (the gauge carries [`BreakerState::as_gauge`]).
    pub const fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change of state, returned by the breaker call that caused it so the caller sets
/// `p2p_circuit_breaker_state` to `to.as_gauge()` and logs it exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transition {
    /// The state before.
    pub from: BreakerState,
    /// The state after.
    pub to: BreakerState,
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.from, self.to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauge_values_follow_the_help_text() {
        // p2p_circuit_breaker_state's help: "0 closed, 1 open, 2 half_open".
        let help = crate::catalogue::P2P_CIRCUIT_BREAKER_STATE.help;
        for state in [
            BreakerState::Closed,
            BreakerState::Open,
            BreakerState::HalfOpen,
        ] {
            let pair = format!("{} {}", state.as_gauge(), state.as_str());
            assert!(help.contains(&pair), "{help:?} lacks {pair:?}");
        }
    }
}
