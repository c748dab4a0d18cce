//! Resilience with the real processes: a per-peer circuit breaker opened by a dead peer,
//! half-open after its timeout, closed by the first relay after the peer is back; and the
//! per-sender rate limit, which refuses one caller while serving another (the per-address
//! and global limits: `p2p_rate_limits.rs`).

use dawn_node::rpc::{ErrorObject, RATE_LIMITED, RETRY_AFTER_KEY, SERVER_ERROR};
use dawn_tests::support::{Caller, Pair, eventually};
use serde_json::{Value, json};

/// Whether `node/peers` of the node at `addr` lists `peer`.
#[track_caller]
fn lists_peer(caller: &mut Caller, addr: &str, peer: &str) -> Result<(), String> {
    let reply = caller
        .try_call(addr, "node/peers", None)
        .map_err(|e| format!("node/peers failed: {e}"))?
        .map_err(|e| format!("node/peers answered {e:?}"))?;
    let listed = reply["peers"]
        .as_array()
        .is_some_and(|a| a.iter().any(|p| p["node_id"] == peer));
    if listed {
        Ok(())
    } else {
        Err(format!("{peer} not in {reply}"))
    }
}

/// `data.retry_after` of an error reply, which must be a whole number of seconds.
#[track_caller]
fn retry_after(error: &ErrorObject) -> u64 {
    error
        .data
        .as_ref()
        .and_then(|d| d[RETRY_AFTER_KEY].as_u64())
        .unwrap_or_else(|| panic!("no whole-seconds data.{RETRY_AFTER_KEY} in {error:?}"))
}

#[test]
fn breaker_opens_on_a_dead_peer_half_opens_and_closes_when_it_is_back() {
    const THRESHOLD: u32 = 3;
    let a = Pair::start(&[
        ("PROJECT_DAWN_CB_THRESHOLD", "3"),
        ("PROJECT_DAWN_CB_TIMEOUT", "2s"),
    ]);
    // B dials A, so that B comes back to A by itself after its restart.
    let mut b = Pair::start(&[("PROJECT_DAWN_BOOTSTRAP", &a.addr())]);
    a.eventually_sample("p2p_peers", &[], "== 1 on A", |v| v == 1.0);

    let mut caller = Caller::new();
    let b_id = caller.node_id_of(&b.addr());
    let relay =
        |timeout_ms: u64| json!({"peer": b_id, "method": "node/ping", "timeout_ms": timeout_ms});

    // A healthy peer: the relay works, the breaker stays closed (no transition, no gauge).
    let pong = caller.call(&a.addr(), "node/relay", Some(relay(5000)));
    assert_eq!(pong["node_id"], b_id.as_str(), "{pong}");

    b.node.kill();

    // Each relay to the dead peer fails on the transport (A still holds the old connection,
    // or dials the last known address) and is counted by B's breaker on A.
    for n in 1..=THRESHOLD {
        let e = caller.call_err(&a.addr(), "node/relay", Some(relay(200)));
        assert_eq!(e.code, SERVER_ERROR, "relay {n} to the dead peer: {e:?}");
        assert!(
            e.message.contains(&b_id),
            "relay {n}: the error names the peer: {e:?}"
        );
    }
    let peer = [("peer_id", b_id.as_str())];
    a.eventually_sample(
        "p2p_circuit_breaker_state",
        &peer,
        "== 1 (open) after the threshold",
        |v| v == 1.0,
    );
    let failures = a.eventually_sample(
        "p2p_circuit_breaker_failures_total",
        &peer,
        &format!(">= {THRESHOLD}"),
        |v| v >= f64::from(THRESHOLD),
    );
    let circuit_open = [("error_type", "circuit_open"), ("component", "resilience")];
    let open_refusals_before = a
        .exporter
        .metrics()
        .get_or_zero("p2p_errors_total", &circuit_open);

    // Open: refused at once with retry_after, without a call to the peer (not counted as
    // a failure again).
    let refused = 3;
    for n in 1..=refused {
        let e = caller.call_err(&a.addr(), "node/relay", Some(relay(200)));
        assert_eq!(e.code, SERVER_ERROR, "relay {n} while open: {e:?}");
        let wait = retry_after(&e);
        assert!(
            (1..=2).contains(&wait),
            "retry_after {wait} s with a 2 s breaker timeout: {e:?}"
        );
        assert_eq!(
            e.data.as_ref().map(|d| d["peer"].clone()),
            Some(Value::from(b_id.as_str())),
            "{e:?}"
        );
    }
    a.eventually_sample(
        "p2p_errors_total",
        &circuit_open,
        &format!("rose by {refused} (refused while open)"),
        |v| v >= open_refusals_before + f64::from(refused),
    );
    let m = a.exporter.metrics();
    assert_eq!(
        m.get("p2p_circuit_breaker_failures_total", &peer),
        Some(failures),
        "relays refused by the open breaker must not reach the peer nor count as failures"
    );
    assert_eq!(
        m.get("p2p_circuit_breaker_state", &peer),
        Some(1.0),
        "still open"
    );

    // After the timeout the gauge shows half-open with nobody calling.
    a.eventually_sample(
        "p2p_circuit_breaker_state",
        &peer,
        "== 2 (half_open) after CB_TIMEOUT",
        |v| v == 2.0,
    );

    // B is back (same data root, same port) and reconnects to A; a probe succeeds and
    // closes the breaker. B lists A once its side of the handshake is done, which can be
    // a moment before A has put B's new connection in place of the dead one: a probe in
    // that moment goes into the dead connection, fails and opens the breaker again for
    // CB_TIMEOUT, and a later probe must then succeed.
    b.restart_node();
    let a_id = caller.node_id_of(&a.addr());
    // (A new caller for B: the old one's connection died with B's first process.)
    let mut b_caller = Caller::new();
    eventually("B, restarted, is connected to A", || {
        lists_peer(&mut b_caller, &b.addr(), &a_id)
    });
    eventually(
        "a relay to the restarted B through the half-open breaker",
        || match caller.try_call(&a.addr(), "node/relay", Some(relay(5000))) {
            Ok(Ok(pong)) if pong["node_id"] == b_id.as_str() => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    a.eventually_sample(
        "p2p_circuit_breaker_state",
        &peer,
        "== 0 (closed) after the successful probe",
        |v| v == 0.0,
    );
    let m = a.exporter.metrics();
    assert!(
        m.value("p2p_circuit_breaker_failures_total", &peer) >= f64::from(THRESHOLD),
        "failures counted for B: {:?}",
        m.find("p2p_circuit_breaker_failures_total", &[])
    );
    // Closed again: relays go through.
    let pong = caller.call(&a.addr(), "node/relay", Some(relay(5000)));
    assert_eq!(pong["node_id"], b_id.as_str(), "{pong}");
}

#[test]
fn rate_limit_refuses_one_sender_and_serves_another() {
    const MAX: u32 = 5;
    // Both callers send from 127.0.0.1: the address's budget is raised out of the way.
    let node = Pair::start(&[
        ("PROJECT_DAWN_RATE_LIMIT_MAX", "5"),
        ("PROJECT_DAWN_RATE_LIMIT_WINDOW", "60s"),
        ("PROJECT_DAWN_RATE_LIMIT_ADDRESS_MAX", "100"),
    ]);
    let addr = node.addr();
    let mut x = Caller::new();
    let mut y = Caller::new();
    let (x_id, y_id) = (x.node_id(), y.node_id());
    assert_ne!(x_id, y_id);

    for n in 1..=MAX {
        let pong = x.call(&addr, "node/ping", None);
        assert!(pong["node_id"].is_string(), "call {n}: {pong}");
    }
    let e = x.call_err(&addr, "node/ping", None);
    assert_eq!(e.code, RATE_LIMITED, "call {}: {e:?}", MAX + 1);
    let wait = retry_after(&e);
    assert!(
        (1..=60).contains(&wait),
        "retry_after {wait} s within a 60 s window: {e:?}"
    );

    // Another sender is served meanwhile, and X is still refused.
    for n in 1..=MAX {
        let pong = y.call(&addr, "node/ping", None);
        assert!(pong["node_id"].is_string(), "Y's call {n}: {pong}");
    }
    let e = x.call_err(&addr, "agent/list", None);
    assert_eq!(e.code, RATE_LIMITED, "X again: {e:?}");

    // X was refused twice, Y never.
    node.eventually_sample(
        "p2p_rate_limit_rejections_total",
        &[("peer_id", x_id.as_str()), ("resource", "message")],
        "== 2 for X",
        |v| v == 2.0,
    );
    node.eventually_sample(
        "p2p_messages_total",
        &[("type", "request"), ("status", "rate_limited")],
        "== 2",
        |v| v == 2.0,
    );
    let m = node.exporter.metrics();
    assert_eq!(
        m.get_or_zero(
            "p2p_rate_limit_rejections_total",
            &[("peer_id", y_id.as_str())]
        ),
        0.0,
        "Y was never refused"
    );
    assert_eq!(
        m.get_or_zero(
            "p2p_messages_total",
            &[("type", "error"), ("status", "rate_limited")]
        ),
        2.0,
        "the two -32005 replies sent"
    );
}

/// The peer that restarted is not the one that dials: A dialed B, B comes back (same
/// identity, same address) without dialing A. A has B's address; once B is up, the breaker's
/// half-open probe must reach it.
///
/// This once failed: A kept the dead QUIC connection of B's first process until its idle
/// timeout (30 s). Now B's stateless-reset key derives from its identity, so the restarted B
/// resets A's old connection at A's first packet and A redials.
#[test]
fn half_open_probe_reaches_a_peer_that_restarted_without_dialing_back() {
    let mut b = Pair::start(&[]);
    let a = Pair::start(&[
        ("PROJECT_DAWN_CB_THRESHOLD", "1"),
        ("PROJECT_DAWN_CB_TIMEOUT", "1s"),
        ("PROJECT_DAWN_BOOTSTRAP", &b.addr()),
    ]);
    a.eventually_sample("p2p_peers", &[], "== 1 on A", |v| v == 1.0);
    let mut caller = Caller::new();
    let b_id = caller.node_id_of(&b.addr());
    let relay =
        |timeout_ms: u64| json!({"peer": b_id, "method": "node/ping", "timeout_ms": timeout_ms});
    let pong = caller.call(&a.addr(), "node/relay", Some(relay(5000)));
    assert_eq!(pong["node_id"], b_id.as_str(), "{pong}");

    b.node.kill();
    b.restart_node();
    let mut b_caller = Caller::new();
    assert_eq!(b_caller.node_id_of(&b.addr()), b_id, "B is back, same id");

    // The first relay may still go into the old connection (A cannot know yet); it fails
    // and opens the breaker (threshold 1).
    let peer = [("peer_id", b_id.as_str())];
    if caller
        .try_call(&a.addr(), "node/relay", Some(relay(300)))
        .is_ok_and(|r| r.is_err())
    {
        a.eventually_sample(
            "p2p_circuit_breaker_state",
            &peer,
            "== 2 (half_open)",
            |v| v == 2.0,
        );
    }
    // B has been up all along since: the probe must reach it.
    let probe = caller.try_call(&a.addr(), "node/relay", Some(relay(5000)));
    assert!(
        matches!(&probe, Ok(Ok(pong)) if pong["node_id"] == b_id.as_str()),
        "the half-open probe to the restarted B failed: {probe:?}"
    );
}
