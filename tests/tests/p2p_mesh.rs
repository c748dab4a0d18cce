//! Discovery with the real processes: ten node + exporter pairs bootstrapped in a chain form
//! a full mesh through gossip, and a node's peer limit refuses the excess (counted), handing
//! the refused node its addresses first, so that it finds the admitted one.

use std::collections::BTreeSet;

use dawn_tests::support::{Caller, Pair};
use serde_json::Value;

/// Nodes in the mesh.
const MESH: usize = 10;

/// A short gossip period, so that the mesh forms in a few seconds.
const GOSSIP: &str = "500ms";

/// `node/peers` of the node at `addr`, as `(node_id, address)` pairs.
#[track_caller]
fn peers(caller: &mut Caller, addr: &str) -> BTreeSet<(String, String)> {
    let reply = caller.call(addr, "node/peers", None);
    let list = reply["peers"]
        .as_array()
        .unwrap_or_else(|| panic!("node/peers of {addr} has no peers array: {reply}"));
    list.iter()
        .map(|p| {
            let field = |k: &str| {
                p[k].as_str()
                    .unwrap_or_else(|| panic!("peer entry without {k}: {p}"))
                    .to_owned()
            };
            (field("node_id"), field("address"))
        })
        .collect()
}

#[test]
fn ten_nodes_bootstrapped_in_a_chain_form_a_full_mesh() {
    // Spawn everything first (each bootstrap address is known before its node runs: the
    // port is chosen by the test), then wait: the nodes start in parallel.
    let mut pairs: Vec<Pair> = Vec::with_capacity(MESH);
    for i in 0..MESH {
        let bootstrap = pairs.last().map(Pair::addr).unwrap_or_default();
        let mut envs = vec![("PROJECT_DAWN_GOSSIP_INTERVAL", GOSSIP)];
        if i > 0 {
            envs.push(("PROJECT_DAWN_BOOTSTRAP", bootstrap.as_str()));
        }
        pairs.push(Pair::spawn(&envs));
    }
    for pair in &mut pairs {
        pair.wait_ready();
    }

    let want = (MESH - 1) as f64;
    for (i, pair) in pairs.iter().enumerate() {
        pair.eventually_sample("p2p_peers", &[], &format!("== {want} on node {i}"), |v| {
            v == want
        });
    }

    // Every node lists the nine others, each at the address it listens on.
    let mut caller = Caller::new();
    let ids: Vec<String> = pairs.iter().map(|p| caller.node_id_of(&p.addr())).collect();
    let distinct: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), MESH, "node ids are not distinct: {ids:?}");

    // Counter series a first event would otherwise create at 1 (invisible to `rate()`) exist
    // at 0 once a peer is connected, and every agent tool's before any call.
    let peer = [("peer_id", ids[1].as_str())];
    pairs[0].eventually_sample("p2p_circuit_breaker_failures_total", &peer, "== 0", |v| {
        v == 0.0
    });
    pairs[0].eventually_sample(
        "p2p_rate_limit_rejections_total",
        &[("peer_id", ids[1].as_str()), ("resource", "message")],
        "== 0",
        |v| v == 0.0,
    );
    pairs[0].eventually_sample(
        "p2p_agent_operations_total",
        &[
            ("agent_id", "kv"),
            ("operation", "put"),
            ("status", "error"),
        ],
        "== 0",
        |v| v == 0.0,
    );
    for probe in [0, MESH / 2, MESH - 1] {
        let expected: BTreeSet<(String, String)> = pairs
            .iter()
            .zip(&ids)
            .enumerate()
            .filter(|(i, _)| *i != probe)
            .map(|(_, (p, id))| (id.clone(), format!("{}@{id}", p.addr())))
            .collect();
        let listed = peers(&mut caller, &pairs[probe].addr());
        assert_eq!(
            listed, expected,
            "node/peers of node {probe} (left: listed, right: the nine others)"
        );
    }

    // The caller is a client, not a peer: the counts stay at nine everywhere.
    for (i, pair) in pairs.iter().enumerate() {
        let info: Value = caller.call(&pair.addr(), "node/info", None);
        assert_eq!(info["peers"], MESH - 1, "node/info of node {i}: {info}");
        pair.eventually_sample(
            "p2p_peers",
            &[],
            &format!("still == {want} on node {i} after the client's calls"),
            |v| v == want,
        );
    }
}

#[test]
fn a_full_node_refuses_the_excess_peer_and_counts_it() {
    let mut limited = Pair::start(&[
        ("PROJECT_DAWN_MAX_PEERS", "1"),
        ("PROJECT_DAWN_GOSSIP_INTERVAL", GOSSIP),
    ]);
    let envs = |addr: &str| {
        vec![
            ("PROJECT_DAWN_BOOTSTRAP", addr.to_owned()),
            ("PROJECT_DAWN_GOSSIP_INTERVAL", GOSSIP.to_owned()),
        ]
    };
    let spawn = |addr: &str| {
        let e = envs(addr);
        let e: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Pair::spawn(&e)
    };
    let mut x = spawn(&limited.addr());
    let mut y = spawn(&limited.addr());
    for pair in [&mut limited, &mut x, &mut y] {
        pair.wait_ready();
    }

    let rejected = limited.eventually_sample(
        "p2p_connections_total",
        &[("status", "rejected")],
        ">= 1 on the full node",
        |v| v >= 1.0,
    );
    limited.eventually_sample("p2p_peers", &[], "== 1 on the full node", |v| v == 1.0);

    // Exactly one of the two is its peer; the other was refused.
    let mut caller = Caller::new();
    let (x_id, y_id) = (caller.node_id_of(&x.addr()), caller.node_id_of(&y.addr()));
    let listed: Vec<String> = peers(&mut caller, &limited.addr())
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(listed.len(), 1, "node/peers of the full node: {listed:?}");
    let (admitted, refused) = if listed[0] == x_id {
        (&x, &y)
    } else {
        assert_eq!(
            listed[0], y_id,
            "the full node's peer is neither x ({x_id}) nor y"
        );
        (&y, &x)
    };
    // The refused node was let in by the handshake and then closed (docs/node.md: "a node
    // that refuses us shows as success then closed on our side").
    refused.eventually_sample(
        "p2p_connections_total",
        &[("status", "closed")],
        ">= 1 on the refused node",
        |v| v >= 1.0,
    );
    // Before closing it, the full node handed it its addresses (docs/p2p.md, Discovery):
    // the refused node finds the admitted one there, and the two become peers.
    let admitted_id = listed[0].clone();
    admitted.eventually_sample(
        "p2p_peers",
        &[],
        "== 2 on the admitted node (the full node and the refused one)",
        |v| v == 2.0,
    );
    refused.eventually_sample(
        "p2p_peers",
        &[],
        "== 1 on the refused node (the admitted one)",
        |v| v == 1.0,
    );
    let refused_peers: Vec<String> = peers(&mut caller, &refused.addr())
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        refused_peers,
        vec![admitted_id],
        "node/peers of the refused node"
    );

    // Still full, still one peer, whatever the refused node's redials did meanwhile.
    let m = limited.exporter.metrics();
    assert_eq!(
        m.get("p2p_peers", &[]),
        Some(1.0),
        "p2p_peers of the full node"
    );
    assert!(
        m.value("p2p_connections_total", &[("status", "rejected")]) >= rejected,
        "the rejected counter went backwards"
    );
    assert_eq!(
        m.value("p2p_connections_total", &[("status", "success")]),
        1.0,
        "the full node admitted more than one peer"
    );
}
