//! Every metric of the catalogue is really recorded (the bug this project exists to fix):
//! a scripted scenario over three node + exporter pairs makes every kind of event happen,
//! after which every metric of `dawn_node::catalogue::ALL` has a non-zero series on the
//! exporters, and every listed value of the closed label sets (`catalogue::values`) appears
//! non-zero in some series.
//!
//! The list of what must appear is derived from the catalogue, not copied: a metric added to
//! the catalogue without being recorded fails this test, and so does a new `type` or
//! `status` label without a listed value set here.
//!
//! The cast:
//! - A: the hub both others bootstrap to; serves every call, relays to B and C through their
//!   breakers (threshold 3, open for 60 s so that B's stays open to the end); a client
//!   expecting another node's id abandons its handshake with A (`handshake_failed`);
//! - B: at most one peer (A), so it refuses C when gossip tells C about it (`rejected`);
//! - C: stopped (A sees `closed`), dialed by A's relay while down (`failed`), restarted;
//! - D: tiny rate limits, so that a few calls from two source addresses meet each of them
//!   (`message`, `source_address`, `global`).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use dawn_node::catalogue::{
    ALL, BreakerState, ClosedLabel, P2P_CIRCUIT_BREAKER_STATE, closed_labels,
};
use dawn_node::client::Client;
use dawn_node::p2p::PeerAddr;
use dawn_node::rpc::{
    ErrorObject, INVALID_PARAMS, METHOD_NOT_FOUND, PARSE_ERROR, RATE_LIMITED, RETRY_AFTER_KEY,
    SERVER_ERROR,
};
use dawn_telemetry::{MetricKind, MetricSpec};
use dawn_tests::support::{Caller, Exposition, Pair, eventually};
use serde_json::{Value, json};

/// Gossip period of the three nodes: short enough for C to hear of B quickly, long enough
/// that gossip stays far below the default rate limit (100 per 60 s per sender).
const GOSSIP: &str = "1s";

/// Label names that always carry a closed set of values (so must be in
/// `catalogue::closed_labels`).
const CLOSED_LABEL_NAMES: &[&str] = &["type", "status"];

/// The sample name that carries a metric's non-zero evidence.
fn evidence_name(spec: &MetricSpec) -> String {
    match spec.kind {
        MetricKind::Histogram => format!("{}_count", spec.name),
        MetricKind::Counter | MetricKind::Gauge => spec.name.to_owned(),
    }
}

fn non_zero(v: f64) -> bool {
    v.is_finite() && v != 0.0
}

/// What is missing from the union of `expositions`: metrics without a non-zero series and
/// closed-set label values without a non-zero series; empty when complete.
fn missing(expositions: &[Exposition]) -> Vec<String> {
    let mut missing = Vec::new();
    let samples = || expositions.iter().flat_map(|e| e.samples.iter());
    for spec in ALL {
        let name = evidence_name(spec);
        if !samples().any(|s| s.name == name && non_zero(s.value)) {
            missing.push(format!("{name}: no non-zero series"));
        }
    }
    for ClosedLabel {
        metric,
        label,
        values,
    } in closed_labels()
    {
        let name = evidence_name(metric);
        let seen: BTreeSet<&str> = samples()
            .filter(|s| s.name == name && non_zero(s.value))
            .filter_map(|s| s.label(label))
            .collect();
        for value in values {
            if !seen.contains(value) {
                missing.push(format!("{name}{{{label}=\"{value}\"}}: no non-zero series"));
            }
        }
    }
    missing
}

/// The catalogue's closed-label list must cover every closed-set label and name only real
/// metrics and labels: a new `status` label, or a renamed one, must not slip past.
#[test]
fn closed_label_list_matches_the_catalogue() {
    let closed = closed_labels();
    for c in &closed {
        assert!(
            ALL.contains(c.metric),
            "{} is not in catalogue::ALL any more",
            c.metric.name
        );
        assert!(
            c.metric.labels.contains(&c.label),
            "{} has no label {} (labels: {:?})",
            c.metric.name,
            c.label,
            c.metric.labels
        );
        assert!(
            !c.values.is_empty(),
            "{}{{{}}}: empty set",
            c.metric.name,
            c.label
        );
    }
    for spec in ALL {
        for label in spec.labels {
            if CLOSED_LABEL_NAMES.contains(label) {
                assert!(
                    closed
                        .iter()
                        .any(|c| c.metric.name == spec.name && c.label == *label),
                    "{}{{{label}}} has a closed set of values: list it in catalogue::closed_labels",
                    spec.name
                );
            }
        }
    }
    // The breaker gauge's values are states, not label values: checked in the scenario.
    assert_eq!(BreakerState::Open.as_gauge(), 1.0);
    assert_eq!(P2P_CIRCUIT_BREAKER_STATE.kind, MetricKind::Gauge);
}

#[track_caller]
fn assert_code(e: &ErrorObject, code: i64, what: &str) {
    assert_eq!(e.code, code, "{what}: {e:?}");
}

/// Calls `node/relay` on `addr` from a thread of its own with a call timeout long enough
/// for the node's dial of an unreachable peer to fail (its handshake timeout is 10 s).
fn relay_in_background(
    addr: String,
    params: Value,
) -> std::thread::JoinHandle<Result<Result<Value, ErrorObject>, String>> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async move {
            let client = Client::new(None)
                .map_err(|e| e.to_string())?
                .with_timeout(Duration::from_secs(60));
            let peer = addr.parse().map_err(|e| format!("{e}"))?;
            let node = client.connect(&peer).await.map_err(|e| e.to_string())?;
            client
                .call(&node, "node/relay", Some(params))
                .await
                .map_err(|e| e.to_string())
        })
    })
}

/// D's limits: 2 per sender, 3 per source address, 4 for everyone together.
const D_LIMITS: [(&str, &str); 3] = [
    ("PROJECT_DAWN_RATE_LIMIT_MAX", "2"),
    ("PROJECT_DAWN_RATE_LIMIT_ADDRESS_MAX", "3"),
    ("PROJECT_DAWN_RATE_LIMIT_GLOBAL_MAX", "4"),
];

/// `calls` pings of the node at `addr` by one fresh client sending from `local`: the
/// error code of each refused one, `None` for those served.
fn pings_from(addr: &str, local: Ipv4Addr, calls: usize) -> Vec<Option<i64>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let client = Client::bound(None, Some(IpAddr::V4(local))).expect("a client");
        let peer: PeerAddr = addr.parse().expect("an address");
        let node = client.connect(&peer).await.expect("the node answers");
        let mut codes = Vec::new();
        for _ in 0..calls {
            let reply = client
                .call(&node, "node/ping", None)
                .await
                .expect("a reply");
            codes.push(reply.err().map(|e| e.code));
        }
        client.close().await;
        codes
    })
}

#[test]
fn every_catalogue_metric_and_label_value_is_recorded() {
    let a = Pair::start(&[
        ("PROJECT_DAWN_GOSSIP_INTERVAL", GOSSIP),
        ("PROJECT_DAWN_CB_THRESHOLD", "3"),
        ("PROJECT_DAWN_CB_TIMEOUT", "60s"),
    ]);
    let b = Pair::start(&[
        ("PROJECT_DAWN_GOSSIP_INTERVAL", GOSSIP),
        ("PROJECT_DAWN_BOOTSTRAP", &a.addr()),
        ("PROJECT_DAWN_MAX_PEERS", "1"),
    ]);
    let mut c = Pair::start(&[
        ("PROJECT_DAWN_GOSSIP_INTERVAL", GOSSIP),
        ("PROJECT_DAWN_BOOTSTRAP", &a.addr()),
    ]);
    let d = Pair::start(&D_LIMITS);
    let addr = a.addr();
    let mut r = Caller::new();
    let (b_id, c_id) = (r.node_id_of(&b.addr()), r.node_id_of(&c.addr()));

    // Each rate limit of D refuses a call: a sender over its own limit, another sender of
    // the same address over the address's, a third address over the global ceiling.
    let limited = Some(RATE_LIMITED);
    let local = Ipv4Addr::LOCALHOST;
    assert_eq!(
        pings_from(&d.addr(), local, 3),
        [None, None, limited],
        "message"
    );
    assert_eq!(
        pings_from(&d.addr(), local, 2),
        [None, limited],
        "source_address"
    );
    let other = Ipv4Addr::new(127, 0, 0, 2);
    assert_eq!(pings_from(&d.addr(), other, 2), [None, limited], "global");

    // A client expecting another node's id abandons its handshake with A.
    match r.try_call(&format!("{addr}@{b_id}"), "node/ping", None) {
        Err(e) => assert!(e.to_string().contains("not the expected node"), "{e}"),
        Ok(reply) => panic!("A answered a client expecting B: {reply:?}"),
    }
    a.eventually_sample(
        "p2p_connections_total",
        &[("status", "handshake_failed")],
        ">= 1 on A",
        |v| v >= 1.0,
    );

    // Connections: A takes both; B, full with A, refuses C once gossip tells C about B.
    a.eventually_sample("p2p_peers", &[], "== 2 on A", |v| v == 2.0);
    b.eventually_sample(
        "p2p_connections_total",
        &[("status", "rejected")],
        ">= 1 on B (C refused: peer limit)",
        |v| v >= 1.0,
    );
    assert_eq!(b.sample("p2p_peers", &[]), Some(1.0), "B keeps one peer");

    // C stops: A sees the connection closed. While C is down, a relay to it makes A dial
    // its last known address, which fails (after A's handshake timeout, so in the
    // background while the rest goes on). SIGTERM, so that C closes its connections: after
    // a SIGKILL A would hold the dead connection until its idle timeout (30 s).
    let closed = [("status", "closed")];
    let closed_before = a
        .exporter
        .metrics()
        .get_or_zero("p2p_connections_total", &closed);
    let status = c.node.proc.terminate();
    assert_eq!(status.code(), Some(0), "C's exit: {status}");
    a.eventually_sample("p2p_connections_total", &closed, "rose on A", |v| {
        v > closed_before
    });
    a.eventually_sample("p2p_peers", &[], "== 1 on A without C", |v| v == 1.0);
    let relay_to_c = relay_in_background(
        addr.clone(),
        json!({"peer": c_id, "method": "node/ping", "timeout_ms": 30000}),
    );

    // Requests that succeed, and their responses.
    for method in ["node/ping", "node/info", "node/peers", "agent/list"] {
        r.call(&addr, method, None);
    }
    let agent = |agent: &str, tool: &str, params: Value| {
        Some(json!({"agent": agent, "tool": tool, "params": params}))
    };
    assert_eq!(
        r.call(&addr, "agent/call", agent("echo", "echo", json!({"x": 1}))),
        json!({"x": 1})
    );
    assert_eq!(
        r.call(
            &addr,
            "agent/call",
            agent("echo", "reverse", json!({"text": "dawn"}))
        ),
        json!({"text": "nwad"})
    );
    r.call(
        &addr,
        "agent/call",
        agent("kv", "put", json!({"key": "k", "value": 1})),
    );
    r.call(&addr, "agent/call", agent("kv", "get", json!({"key": "k"})));
    r.call(&addr, "agent/call", agent("kv", "list", json!({})));
    r.call(
        &addr,
        "agent/call",
        agent("kv", "delete", json!({"key": "k"})),
    );

    // Agent operations that fail.
    let e = r.call_err(
        &addr,
        "agent/call",
        agent("echo", "reverse", json!({"text": 5})),
    );
    assert_code(&e, INVALID_PARAMS, "reverse of a number");
    let e = r.call_err(
        &addr,
        "agent/call",
        agent("echo", "no-such-tool", json!({})),
    );
    assert!(e.code < 0, "{e:?}");
    let e = r.call_err(
        &addr,
        "agent/call",
        agent("no-such-agent", "echo", json!({})),
    );
    assert!(e.code < 0, "{e:?}");

    // Bad requests: unknown method, bad params, malformed JSON; an unknown notification.
    let e = r.call_err(&addr, "no/such/method", None);
    assert_code(&e, METHOD_NOT_FOUND, "unknown method");
    let e = r.call_err(&addr, "node/ping", Some(json!({"unexpected": true})));
    assert_code(&e, INVALID_PARAMS, "params to node/ping");
    let e = r.call_err(&addr, "agent/call", Some(json!({"agent": "echo"})));
    assert_code(&e, INVALID_PARAMS, "agent/call without a tool");
    match r.call_raw(&addr, br#"{"jsonrpc":"2.0","id":1,"method":"node/ping""#) {
        Ok(Err(e)) => assert_code(&e, PARSE_ERROR, "malformed JSON"),
        other => panic!("malformed JSON answered {other:?}"),
    }
    r.notify(&addr, "no/such/notification", Some(json!({})))
        .expect("the notification is sent");

    // Relays: a result (response), an error reply from the peer (error), bad params.
    let relay = |method: &str, params: Option<Value>, timeout_ms: u64| {
        let mut p = json!({"peer": b_id, "method": method, "timeout_ms": timeout_ms});
        if let Some(params) = params {
            p["params"] = params;
        }
        Some(p)
    };
    let pong = r.call(&addr, "node/relay", relay("node/ping", None, 5000));
    assert_eq!(pong["node_id"], b_id.as_str(), "{pong}");
    let e = r.call_err(&addr, "node/relay", relay("no/such/method", None, 5000));
    assert_code(
        &e,
        METHOD_NOT_FOUND,
        "relayed unknown method (B's reply, passed back)",
    );
    let e = r.call_err(&addr, "node/relay", Some(json!({"method": "node/ping"})));
    assert_code(&e, INVALID_PARAMS, "relay without a peer");

    // B's breaker on A: relays of a slow tool time out three times and open it.
    let slow = || {
        relay(
            "agent/call",
            agent("echo", "delay", json!({"ms": 500})),
            100,
        )
    };
    for n in 1..=3 {
        let e = r.call_err(&addr, "node/relay", slow());
        assert_code(&e, SERVER_ERROR, &format!("slow relay {n}"));
    }
    let e = r.call_err(&addr, "node/relay", slow());
    assert_code(&e, SERVER_ERROR, "relay while the breaker is open");
    assert!(
        e.data
            .as_ref()
            .is_some_and(|d| d[RETRY_AFTER_KEY].as_u64().is_some()),
        "an open breaker says when to retry: {e:?}"
    );
    a.eventually_sample(
        "p2p_circuit_breaker_state",
        &[("peer_id", b_id.as_str())],
        "== 1 (open) for B on A",
        |v| v == 1.0,
    );

    // A flood from one sender: the default limit (100 per 60 s) is reached, then refused.
    let mut flood = Caller::new();
    for n in 1..=100 {
        match flood.try_call(&addr, "node/ping", None) {
            Ok(Ok(_)) => {}
            other => panic!("flood call {n} (within the limit) answered {other:?}"),
        }
    }
    let e = flood.call_err(&addr, "node/ping", None);
    assert_code(&e, RATE_LIMITED, "call 101 of the flood");

    // The dial of the stopped C failed; C comes back.
    match relay_to_c.join().expect("the relay thread panicked") {
        Ok(Err(e)) => assert_code(&e, SERVER_ERROR, "relay to the stopped C"),
        other => panic!("relay to the stopped C: expected an error reply, got {other:?}"),
    }
    a.eventually_sample(
        "p2p_connections_total",
        &[("status", "failed")],
        ">= 1 on A (dial of the stopped C)",
        |v| v >= 1.0,
    );
    c.restart_node();
    a.eventually_sample("p2p_peers", &[], "== 2 on A with C back", |v| v == 2.0);

    // Everything of the catalogue, on the exporters (telemetry flushes every 100 ms).
    let pairs = [("A", &a), ("B", &b), ("C", &c), ("D", &d)];
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        eventually(
            "every catalogue metric and listed label value is non-zero",
            || {
                let expositions = pairs
                    .iter()
                    .map(|(_, p)| p.exporter.try_metrics())
                    .collect::<Result<Vec<_>, _>>()?;
                let missing = missing(&expositions);
                if missing.is_empty() {
                    Ok(())
                } else {
                    Err(format!("missing:\n  {}", missing.join("\n  ")))
                }
            },
        )
    }));
    if let Err(panic) = result {
        for (name, pair) in pairs {
            let m = pair.exporter.metrics();
            let p2p: Vec<String> = m
                .samples
                .iter()
                .filter(|s| s.name.starts_with("p2p_") && !s.name.ends_with("_bucket"))
                .map(|s| s.to_string())
                .collect();
            eprintln!("----- {name}'s p2p series -----\n{}", p2p.join("\n"));
        }
        std::panic::resume_unwind(panic);
    }
}
