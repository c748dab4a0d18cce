//! The rate limits with the real node (issue 14): a client making a fresh identity per call
//! is limited by its source address, many addresses together by the global ceiling, each
//! refusal is answered -32005 and counted under the limit that refused it, and a trusted
//! peer is never slowed by the strangers' flood (docs/node-internals.md, "Rate limits").

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use dawn_node::client::Client;
use dawn_node::p2p::{Identity, PeerAddr};
use dawn_node::rpc::{ErrorObject, RATE_LIMITED};
use dawn_tests::support::{Caller, Pair};
use serde_json::{Value, json};

/// Fresh-identity calls of the flood.
const FLOOD: usize = 200;
/// The per-sender limit of the flooded node; its address budget is 1.5 times that.
const MAX: &str = "20";

/// One call of `method` on `node` by a client with a fresh identity sending from `local`,
/// which then closes: what `dawn-node call` does.
fn fresh_call(
    runtime: &tokio::runtime::Runtime,
    node: &PeerAddr,
    local: Option<IpAddr>,
) -> Result<Value, ErrorObject> {
    runtime.block_on(async {
        let client = Client::bound(None, local)
            .expect("a client")
            .with_timeout(Duration::from_secs(10));
        let connection = client.connect(node).await.expect("the node answers");
        let reply = client
            .call(&connection, "node/ping", None)
            .await
            .expect("a reply");
        client.close().await;
        reply
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

#[test]
fn fresh_identities_from_one_address_are_refused_and_a_trusted_peer_is_not_slowed() {
    // B is trusted by A, and A dials it: B is A's peer, and B's calls reach A over it.
    let b = Pair::start(&[]);
    let mut caller = Caller::new();
    let b_id = caller.node_id_of(&b.addr());
    let a = Pair::start(&[
        ("PROJECT_DAWN_RATE_LIMIT_MAX", MAX),
        ("PROJECT_DAWN_TRUSTED_PEERS", &b_id),
        ("PROJECT_DAWN_BOOTSTRAP", &b.addr()),
    ]);
    a.eventually_sample("p2p_peers", &[], "== 1 on A", |v| v == 1.0);
    b.eventually_sample("p2p_peers", &[], "== 1 on B", |v| v == 1.0);
    let a_id = caller.node_id_of(&a.addr());
    let relay = json!({"peer": a_id, "method": "node/ping", "timeout_ms": 5000});

    let node: PeerAddr = a.addr().parse().expect("an address");
    let runtime = runtime();
    let (mut served, mut refused, mut trusted_calls) = (0usize, 0usize, 0usize);
    for n in 0..FLOOD {
        match fresh_call(&runtime, &node, None) {
            Ok(_) => served += 1,
            Err(e) if e.code == RATE_LIMITED => refused += 1,
            Err(e) => panic!("flood call {n}: {e:?}"),
        }
        // The trusted peer B calls A in the middle of the flood (relayed for the test).
        if n % 20 == 10 {
            let pong = caller.call(&b.addr(), "node/relay", Some(relay.clone()));
            assert_eq!(pong["node_id"], a_id.as_str(), "B's call {n} to A: {pong}");
            trusted_calls += 1;
        }
    }
    eprintln!(
        "{FLOOD} fresh-identity calls from 127.0.0.1 at RATE_LIMIT_MAX={MAX}: {served} served, \
         {refused} refused with -32005; the trusted peer's {trusted_calls} calls all served"
    );
    assert!(refused >= 170, "{refused} of {FLOOD} refused");
    assert_eq!(served + refused, FLOOD);

    // Counted under the limit that refused them, once each.
    let want = refused as f64;
    a.eventually_sample(
        "p2p_rate_limit_rejections_total",
        &[("resource", "source_address")],
        &format!("== {want}"),
        |v| v == want,
    );
    a.eventually_sample(
        "p2p_messages_total",
        &[("type", "request"), ("status", "rate_limited")],
        &format!("== {want}"),
        |v| v == want,
    );
    let m = a.exporter.metrics();
    assert_eq!(
        m.get_or_zero(
            "p2p_rate_limit_rejections_total",
            &[("peer_id", b_id.as_str())]
        ),
        0.0,
        "the trusted peer was never refused"
    );
    assert_eq!(
        m.get_or_zero("p2p_rate_limit_rejections_total", &[("resource", "global")]),
        0.0
    );
}

#[test]
fn the_global_ceiling_holds_over_many_addresses_and_spares_the_trusted() {
    const GLOBAL: usize = 10;
    const ADDRESSES: u8 = 20;
    let trusted = Identity::generate().expect("an identity");
    let trusted_id = trusted.node_id().to_string();
    let node = Pair::start(&[
        ("PROJECT_DAWN_RATE_LIMIT_GLOBAL_MAX", "10"),
        ("PROJECT_DAWN_TRUSTED_PEERS", &trusted_id),
    ]);
    let addr: PeerAddr = node.addr().parse().expect("an address");
    let runtime = runtime();
    // One call from each of 127.0.0.2 .. 127.0.0.21: no address is over its own limit.
    let outcomes: Vec<bool> = (2..2 + ADDRESSES)
        .map(|last| {
            let local = IpAddr::V4(Ipv4Addr::new(127, 0, 0, last));
            match fresh_call(&runtime, &addr, Some(local)) {
                Ok(_) => true,
                Err(e) if e.code == RATE_LIMITED => false,
                Err(e) => panic!("a call from {local}: {e:?}"),
            }
        })
        .collect();
    let served = outcomes.iter().filter(|ok| **ok).count();
    eprintln!("{ADDRESSES} addresses, one call each, global ceiling {GLOBAL}: {served} served");
    assert_eq!(served, GLOBAL, "{outcomes:?}");
    assert!(outcomes[..GLOBAL].iter().all(|ok| *ok), "{outcomes:?}");

    // The trusted sender is served all the same.
    let mut trusted = Caller::with_identity(Some(trusted));
    for n in 0..5 {
        let pong = trusted.call(&node.addr(), "node/ping", None);
        assert!(pong["node_id"].is_string(), "trusted call {n}: {pong}");
    }
    let want = f64::from(ADDRESSES) - GLOBAL as f64;
    node.eventually_sample(
        "p2p_rate_limit_rejections_total",
        &[("resource", "global")],
        &format!("== {want}"),
        |v| v == want,
    );
}
