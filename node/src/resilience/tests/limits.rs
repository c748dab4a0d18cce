use std::time::Duration;

use super::Clock;
use crate::resilience::{
    RateLimitConfig, RateLimitResource, Refused, Request, RequestLimits, RequestLimitsConfig,
};

/// 2 per sender, 3 per address (+2 per untrusted peer there), 5 globally, per 10 s.
fn limits() -> RequestLimits<u32, &'static str> {
    RequestLimits::new(RequestLimitsConfig {
        sender: RateLimitConfig {
            max: 2,
            window: Duration::from_secs(10),
        },
        address_max: 3,
        global_max: 5,
    })
}

fn request<'a>(sender: &'a u32, address: &'a &'static str) -> Request<'a, u32, &'static str> {
    Request {
        sender,
        address,
        trusted: false,
        peers_at_address: 0,
    }
}

fn resource(outcome: Result<(), Refused>) -> Option<RateLimitResource> {
    outcome.err().map(|r| r.resource)
}

#[test]
fn fresh_identities_from_one_address_share_its_budget() {
    let clock = Clock::new();
    let mut l = limits();
    let a = "10.0.0.1";
    // A new sender per request: only the address limit can refuse them.
    let refused: Vec<Option<RateLimitResource>> = (0..10)
        .map(|id| resource(l.check(request(&id, &a), clock.at(id.into()))))
        .collect();
    let source = Some(RateLimitResource::SourceAddress);
    assert_eq!(
        refused,
        [
            None, None, None, source, source, source, source, source, source, source
        ]
    );
    // The address's oldest request leaves the window: one more is served.
    let late = l.check(request(&99, &a), clock.at(10_000));
    assert_eq!(resource(late), None);
    // Refused with when to retry: when the address's oldest request leaves its window.
    let refused = l.check(request(&100, &a), clock.at(10_000)).unwrap_err();
    assert_eq!(refused.limited.retry_after, Duration::from_millis(1));
    assert_eq!(refused.limited.limit, 3);
}

#[test]
fn a_sender_is_refused_as_itself_first_and_its_own_budget_is_spent_by_trying() {
    let clock = Clock::new();
    let mut l = limits();
    let a = "10.0.0.1";
    // Another sender of the address takes two of its three.
    for t in 0..2 {
        assert!(l.check(request(&7, &a), clock.at(t)).is_ok());
    }
    let steps: Vec<Option<RateLimitResource>> = (2..6)
        .map(|t| resource(l.check(request(&1, &a), clock.at(t))))
        .collect();
    // One served, one refused by the address (it still spent the sender's budget), then
    // the sender is over its own limit.
    assert_eq!(
        steps,
        [
            None,
            Some(RateLimitResource::SourceAddress),
            Some(RateLimitResource::Message),
            Some(RateLimitResource::Message)
        ]
    );
}

#[test]
fn each_untrusted_peer_at_an_address_brings_its_own_budget() {
    let clock = Clock::new();
    let mut l = limits();
    let a = "10.0.0.1";
    let served = (0..20)
        .filter(|&id| {
            let r = Request {
                peers_at_address: 1,
                ..request(&id, &a)
            };
            l.check(r, clock.at(id.into())).is_ok()
        })
        .count();
    assert_eq!(
        served, 5,
        "3 for the address and 2 for its peer: the global budget too"
    );
}

#[test]
fn the_global_ceiling_holds_over_many_addresses_and_trusted_senders_pass_it() {
    let clock = Clock::new();
    let mut l = limits();
    let addresses = ["a", "b", "c", "d", "e", "f", "g"];
    let outcomes: Vec<Option<RateLimitResource>> = addresses
        .iter()
        .enumerate()
        .map(|(i, addr)| {
            let id = u32::try_from(i).unwrap_or(u32::MAX);
            resource(l.check(request(&id, addr), clock.at(id.into())))
        })
        .collect();
    let global = Some(RateLimitResource::Global);
    assert_eq!(outcomes, [None, None, None, None, None, global, global]);
    // A trusted sender is held to its own limit only.
    let mut trusted = |t| {
        let r = Request {
            trusted: true,
            ..request(&42, &"a")
        };
        resource(l.check(r, clock.at(t)))
    };
    assert_eq!(
        [trusted(10), trusted(11), trusted(12)],
        [None, None, Some(RateLimitResource::Message)]
    );
    // Nor does it use the shared budgets: still full, still refusing strangers.
    assert_eq!(
        resource(l.check(request(&50, &"z"), clock.at(13))),
        Some(RateLimitResource::Global)
    );
}

#[test]
fn a_request_refused_globally_does_not_use_its_address_budget_and_sweep_forgets() {
    let clock = Clock::new();
    let mut l = limits();
    for (id, addr) in [(0, "a"), (1, "b"), (2, "c"), (3, "d"), (4, "e")] {
        assert!(l.check(request(&id, &addr), clock.at(0)).is_ok());
    }
    for id in 10..13 {
        let refused = l.check(request(&id, &"x"), clock.at(1));
        assert_eq!(resource(refused), Some(RateLimitResource::Global));
    }
    // After the window, "x" has its whole budget: the refused ones were not counted.
    let later: Vec<bool> = (20..23)
        .map(|id| l.check(request(&id, &"x"), clock.at(10_001)).is_ok())
        .collect();
    assert_eq!(later, [true, true, true]);
    l.sweep(clock.at(30_000));
    assert_eq!(l.tracked(), (0, 0));
}
