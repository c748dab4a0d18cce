use std::time::Duration;

use serde_json::json;

use super::Clock;
use crate::resilience::{RateLimitConfig, RateLimited, RateLimiter};

fn config(max: u32, window_ms: u64) -> RateLimitConfig {
    RateLimitConfig {
        max,
        window: Duration::from_millis(window_ms),
    }
}

#[test]
fn sliding_window() {
    // (at ms, sender, None = allowed, Some(ms) = refused with that retry_after)
    type Step = (u64, &'static str, Option<u64>);
    let table: Vec<(&str, Vec<Step>)> = vec![
        (
            "max per window, then refused until the oldest ages out",
            vec![
                (0, "a", None),
                (1000, "a", None),
                (2000, "a", None),
                (3000, "a", Some(7000)),
                (9999, "a", Some(1)),
                (10_000, "a", None),
                (10_500, "a", Some(500)),
                (11_000, "a", None),
                (12_000, "a", None),
                (12_001, "a", Some(7999)),
            ],
        ),
        (
            "another sender is unaffected",
            vec![
                (0, "a", None),
                (0, "a", None),
                (0, "a", None),
                (1, "a", Some(9999)),
                (1, "b", None),
                (2, "b", None),
                (3, "b", None),
                (4, "b", Some(9997)),
            ],
        ),
        (
            "no double burst across a window boundary (a fixed window would allow it)",
            vec![
                (9000, "a", None),
                (9001, "a", None),
                (9002, "a", None),
                (10_001, "a", Some(8999)),
                (19_000, "a", None),
            ],
        ),
        (
            "refused requests do not count against the sender",
            vec![
                (0, "a", None),
                (0, "a", None),
                (0, "a", None),
                (3000, "a", Some(7000)),
                (6000, "a", Some(4000)),
                (9000, "a", Some(1000)),
                (10_000, "a", None),
                (10_000, "a", None),
                (10_000, "a", None),
                (10_000, "a", Some(10_000)),
            ],
        ),
    ];
    for (name, steps) in table {
        let clock = Clock::new();
        let mut limiter = RateLimiter::new(config(3, 10_000));
        for (i, (at, sender, want)) in steps.into_iter().enumerate() {
            let got = limiter
                .check(&sender, clock.at(at))
                .map_err(|e| e.retry_after.as_millis() as u64)
                .err();
            assert_eq!(got, want, "{name}: step {i} ({sender} at {at} ms)");
        }
    }
}

#[test]
fn rejection_carries_what_the_reply_needs() {
    let clock = Clock::new();
    let mut limiter = RateLimiter::new(config(1, 60_000));
    limiter.check(&1u64, clock.at(0)).unwrap();
    let refused = limiter.check(&1u64, clock.at(100)).unwrap_err();
    assert_eq!(
        refused,
        RateLimited {
            retry_after: Duration::from_millis(59_900),
            limit: 1,
            window: Duration::from_secs(60),
        }
    );
    let error = refused.to_error_object();
    assert_eq!(error.code, -32005);
    assert_eq!(error.data, Some(json!({"retry_after": 60})));
    assert!(refused.to_string().contains("retry after"), "{refused}");
}

#[test]
fn remaining_sweep_and_forget() {
    let clock = Clock::new();
    let mut limiter = RateLimiter::new(config(3, 10_000));
    assert_eq!(limiter.remaining(&"a", clock.at(0)), 3);
    limiter.check(&"a", clock.at(0)).unwrap();
    limiter.check(&"a", clock.at(5000)).unwrap();
    limiter.check(&"b", clock.at(5000)).unwrap();
    assert_eq!(limiter.remaining(&"a", clock.at(5000)), 1);
    assert_eq!(limiter.remaining(&"a", clock.at(10_000)), 2);
    assert_eq!(limiter.len(), 2);
    assert_eq!(limiter.sweep(clock.at(14_999)), 0);
    assert_eq!(limiter.sweep(clock.at(15_000)), 2);
    assert!(limiter.is_empty());

    limiter.check(&"a", clock.at(20_000)).unwrap();
    limiter.forget(&"a");
    assert!(limiter.is_empty());
    assert_eq!(limiter.config().max, 3);
}

#[test]
fn memory_is_bounded() {
    let clock = Clock::new();
    let mut limiter = RateLimiter::with_max_senders(config(1, 10_000), 2);
    limiter.check(&"a", clock.at(0)).unwrap();
    limiter.check(&"b", clock.at(1)).unwrap();
    // Both active: the least recently seen (a) is forgotten to admit c.
    limiter.check(&"c", clock.at(2)).unwrap();
    assert_eq!(limiter.len(), 2);
    assert_eq!(limiter.remaining(&"a", clock.at(2)), 1);
    assert!(limiter.check(&"c", clock.at(3)).is_err());

    // Idle senders are dropped first.
    let mut limiter = RateLimiter::with_max_senders(config(1, 10_000), 2);
    limiter.check(&"a", clock.at(0)).unwrap();
    limiter.check(&"b", clock.at(9000)).unwrap();
    limiter.check(&"c", clock.at(10_000)).unwrap();
    assert!(limiter.check(&"b", clock.at(10_001)).is_err(), "b kept");

    // A flood of distinct senders never grows past the bound.
    let mut limiter = RateLimiter::with_max_senders(config(100, 60_000), 64);
    for sender in 0..10_000u32 {
        limiter.check(&sender, clock.at(u64::from(sender))).unwrap();
    }
    assert_eq!(limiter.len(), 64);
}
