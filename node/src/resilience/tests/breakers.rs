use std::time::Duration;

use super::Clock;
use crate::resilience::{BreakerConfig, BreakerState, Breakers, BreakersLimits, Transition};

fn config(threshold: u32) -> BreakerConfig {
    BreakerConfig {
        threshold,
        open_for: Duration::from_secs(10),
    }
}

fn limits(max_tracked: usize) -> BreakersLimits {
    BreakersLimits {
        max_tracked,
        idle_ttl: Duration::from_secs(60),
    }
}

#[test]
fn untracked_peers_are_closed_and_cost_nothing() {
    let clock = Clock::new();
    let mut b: Breakers<String> = Breakers::new(config(2));
    let peer = "a".to_string();
    assert_eq!(b.allow(&peer, clock.at(0)), Ok(None));
    assert_eq!(b.on_success(&peer, clock.at(0)), None);
    assert_eq!(b.state(&peer), BreakerState::Closed);
    assert!(b.is_empty());

    assert_eq!(b.on_failure(&peer, clock.at(1)), None);
    assert_eq!(b.len(), 1);
    // A success resets the breaker, which is then the same as no breaker.
    assert_eq!(b.on_success(&peer, clock.at(2)), None);
    assert!(b.is_empty());
}

#[test]
fn peers_are_independent_and_counted_by_state() {
    let clock = Clock::new();
    let mut b = Breakers::new(config(1));
    let opened = Transition {
        from: BreakerState::Closed,
        to: BreakerState::Open,
    };
    assert_eq!(b.on_failure(&"a", clock.at(0)), Some(opened));
    assert_eq!(b.on_failure(&"b", clock.at(5000)), Some(opened));
    assert!(b.allow(&"a", clock.at(6000)).is_err());
    assert_eq!(b.allow(&"c", clock.at(6000)), Ok(None));
    assert_eq!((b.open_count(), b.half_open_count()), (2, 0));

    assert_eq!(b.poll_timeout(), Some(clock.at(10_000)));
    let half = Transition {
        from: BreakerState::Open,
        to: BreakerState::HalfOpen,
    };
    assert_eq!(b.handle_timeout(clock.at(10_000)), vec![("a", half)]);
    assert_eq!((b.open_count(), b.half_open_count()), (1, 1));
    assert_eq!(b.poll_timeout(), Some(clock.at(15_000)));

    // The probe to `a` succeeds: closed, and no longer tracked.
    assert_eq!(b.allow(&"a", clock.at(10_001)), Ok(None));
    let closed = Transition {
        from: BreakerState::HalfOpen,
        to: BreakerState::Closed,
    };
    assert_eq!(b.on_success(&"a", clock.at(10_002)), Some(closed));
    assert_eq!(b.state(&"a"), BreakerState::Closed);
    assert_eq!(b.len(), 1);
    let states: Vec<_> = b.iter().collect();
    assert_eq!(states, vec![(&"b", BreakerState::Open)]);
    assert_eq!(b.remove(&"b"), Some(BreakerState::Open));
    assert_eq!(b.remove(&"b"), None);
    assert!(b.is_empty());
}

#[test]
fn idle_closed_breakers_are_forgotten_open_ones_are_kept() {
    let clock = Clock::new();
    let mut b = Breakers::with_limits(config(2), limits(100));
    b.on_failure(&"flaky", clock.at(0));
    b.on_failure(&"dead", clock.at(0));
    b.on_failure(&"dead", clock.at(0));
    assert_eq!(b.poll_timeout(), Some(clock.at(10_000)));
    b.handle_timeout(clock.at(10_000));
    assert_eq!(b.poll_timeout(), Some(clock.at(60_000)));
    assert!(b.handle_timeout(clock.at(59_999)).is_empty());
    assert_eq!(b.len(), 2);
    assert!(b.handle_timeout(clock.at(60_000)).is_empty());
    assert_eq!(b.len(), 1);
    assert_eq!(b.state(&"dead"), BreakerState::HalfOpen);
    // The forgotten peer's count restarted: one more failure does not open it.
    assert_eq!(b.on_failure(&"flaky", clock.at(60_001)), None);
}

#[test]
fn memory_is_bounded() {
    let clock = Clock::new();
    let mut b = Breakers::with_limits(config(2), limits(2));
    b.on_failure(&"a", clock.at(0));
    b.on_failure(&"b", clock.at(1));
    // Full of closed breakers: the least recently active one (a) makes way.
    b.on_failure(&"c", clock.at(2));
    assert_eq!(b.len(), 2);
    assert_eq!(
        b.on_failure(&"a", clock.at(3)),
        None,
        "a restarted from zero"
    );
    assert_eq!(b.len(), 2);

    // Full of open breakers: a new failing peer is not tracked, the open ones stay.
    let mut b = Breakers::with_limits(config(1), limits(2));
    assert!(b.on_failure(&"a", clock.at(0)).is_some());
    assert!(b.on_failure(&"b", clock.at(0)).is_some());
    assert_eq!(b.on_failure(&"c", clock.at(1)), None);
    assert_eq!(b.allow(&"c", clock.at(1)), Ok(None));
    assert_eq!(b.open_count(), 2);
    assert_eq!(b.len(), 2);

    // Idle closed entries are swept to make room before anything else.
    let mut b = Breakers::with_limits(config(2), limits(1));
    b.on_failure(&"a", clock.at(0));
    b.on_failure(&"b", clock.at(60_000));
    assert_eq!(b.iter().map(|(k, _)| *k).collect::<Vec<_>>(), vec!["b"]);
}
