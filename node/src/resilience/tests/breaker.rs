use std::time::Duration;

use super::Clock;
use crate::resilience::{BreakerConfig, BreakerState, CircuitBreaker, Open, Transition};

use BreakerState::{Closed, HalfOpen, Open as Opened};

#[derive(Debug, Clone, Copy)]
enum Call {
    Allow,
    Success,
    Failure,
    Timeout,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    /// The call returned this transition (or none); `allow` returned `Ok`.
    T(Option<(BreakerState, BreakerState)>),
    /// `allow` refused with this many milliseconds to wait.
    Refused(u64),
}

use Call::*;
use Outcome::*;

const NONE: Outcome = T(None);

fn t(from: BreakerState, to: BreakerState) -> Outcome {
    T(Some((from, to)))
}

fn run(breaker: &mut CircuitBreaker, clock: &Clock, at: u64, call: Call) -> Outcome {
    let now = clock.at(at);
    let pair = |t: Option<Transition>| T(t.map(|t| (t.from, t.to)));
    match call {
        Allow => match breaker.allow(now) {
            Ok(t) => pair(t),
            Err(Open { retry_in }) => Refused(retry_in.as_millis() as u64),
        },
        Success => pair(breaker.on_success(now)),
        Failure => pair(breaker.on_failure(now)),
        Timeout => pair(breaker.handle_timeout(now)),
    }
}

#[test]
fn transitions() {
    // Threshold 3, open for 10 s, unless a scenario says otherwise.
    type Step = (u64, Call, Outcome, BreakerState);
    let table: Vec<(&str, u32, Vec<Step>)> = vec![
        (
            "opens at the threshold and refuses until the period ends",
            3,
            vec![
                (0, Allow, NONE, Closed),
                (0, Failure, NONE, Closed),
                (1000, Failure, NONE, Closed),
                (2000, Failure, t(Closed, Opened), Opened),
                (3000, Allow, Refused(9000), Opened),
                (11_999, Allow, Refused(1), Opened),
                (12_000, Allow, t(Opened, HalfOpen), HalfOpen),
            ],
        ),
        (
            "threshold 1 opens on the first failure",
            1,
            vec![
                (0, Failure, t(Closed, Opened), Opened),
                (1, Allow, Refused(9999), Opened),
            ],
        ),
        (
            "a success resets the consecutive count",
            3,
            vec![
                (0, Failure, NONE, Closed),
                (1, Failure, NONE, Closed),
                (2, Success, NONE, Closed),
                (3, Failure, NONE, Closed),
                (4, Failure, NONE, Closed),
                (5, Failure, t(Closed, Opened), Opened),
            ],
        ),
        (
            "one success in half-open closes it",
            3,
            vec![
                (0, Failure, NONE, Closed),
                (0, Failure, NONE, Closed),
                (0, Failure, t(Closed, Opened), Opened),
                (10_000, Allow, t(Opened, HalfOpen), HalfOpen),
                (10_500, Success, t(HalfOpen, Closed), Closed),
                (10_600, Allow, NONE, Closed),
                (10_700, Failure, NONE, Closed),
            ],
        ),
        (
            "a failure in half-open re-opens for a full period",
            3,
            vec![
                (0, Failure, NONE, Closed),
                (0, Failure, NONE, Closed),
                (0, Failure, t(Closed, Opened), Opened),
                (10_000, Allow, t(Opened, HalfOpen), HalfOpen),
                (10_500, Failure, t(HalfOpen, Opened), Opened),
                (20_000, Allow, Refused(500), Opened),
                (20_500, Allow, t(Opened, HalfOpen), HalfOpen),
            ],
        ),
        (
            "half-open lets one probe through at a time, its lease expires",
            1,
            vec![
                (0, Failure, t(Closed, Opened), Opened),
                (10_000, Allow, t(Opened, HalfOpen), HalfOpen),
                (10_001, Allow, Refused(9999), HalfOpen),
                (19_999, Allow, Refused(1), HalfOpen),
                (20_000, Allow, NONE, HalfOpen),
                (20_001, Allow, Refused(9999), HalfOpen),
                (20_002, Success, t(HalfOpen, Closed), Closed),
            ],
        ),
        (
            "the timeout half-opens it without a call, the probe is then free",
            1,
            vec![
                (0, Failure, t(Closed, Opened), Opened),
                (9999, Timeout, NONE, Opened),
                (10_000, Timeout, t(Opened, HalfOpen), HalfOpen),
                (10_001, Timeout, NONE, HalfOpen),
                (10_002, Allow, NONE, HalfOpen),
                (10_003, Allow, Refused(9999), HalfOpen),
            ],
        ),
        (
            "late outcomes while open change nothing and do not extend the period",
            1,
            vec![
                (0, Failure, t(Closed, Opened), Opened),
                (1, Success, NONE, Opened),
                (5000, Failure, NONE, Opened),
                (10_000, Allow, t(Opened, HalfOpen), HalfOpen),
            ],
        ),
        (
            "timeout does nothing while closed",
            3,
            vec![
                (0, Failure, NONE, Closed),
                (100_000, Timeout, NONE, Closed),
                (100_001, Failure, NONE, Closed),
                (100_002, Failure, t(Closed, Opened), Opened),
            ],
        ),
        (
            "a clock that runs backwards is treated as no time passing",
            1,
            vec![
                (10_000, Failure, t(Closed, Opened), Opened),
                (5000, Allow, Refused(10_000), Opened),
                (20_000, Allow, t(Opened, HalfOpen), HalfOpen),
            ],
        ),
    ];
    for (name, threshold, steps) in table {
        let clock = Clock::new();
        let mut breaker = CircuitBreaker::new(BreakerConfig {
            threshold,
            open_for: Duration::from_secs(10),
        });
        for (i, (at, call, want, state)) in steps.into_iter().enumerate() {
            let got = run(&mut breaker, &clock, at, call);
            assert_eq!(got, want, "{name}: step {i} ({call:?} at {at} ms)");
            assert_eq!(breaker.state(), state, "{name}: state after step {i}");
        }
    }
}

#[test]
fn failures_and_poll_timeout() {
    let clock = Clock::new();
    let mut breaker = CircuitBreaker::new(BreakerConfig {
        threshold: 2,
        open_for: Duration::from_secs(10),
    });
    assert_eq!(breaker.poll_timeout(), None);
    breaker.on_failure(clock.at(0));
    assert_eq!(breaker.failures(), 1);
    assert_eq!(breaker.poll_timeout(), None);
    breaker.on_failure(clock.at(500));
    assert_eq!(breaker.failures(), 0);
    assert_eq!(breaker.poll_timeout(), Some(clock.at(10_500)));
    breaker.handle_timeout(clock.at(10_500));
    assert_eq!(breaker.poll_timeout(), None);
    assert_eq!(breaker.config().threshold, 2);
}
