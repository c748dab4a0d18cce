//! A peer flooding the real `dawn-node` with `node/announce` requests, each listing 256 new
//! made-up (well-formed) node ids as its own peers.
//!
//! What a connected peer lists is kept for the outbound rotation, at most 256 ids per peer
//! (docs/p2p.md, *Rotation*; docs/security.md). The hostile peer here is a real peer of the
//! node: it dials with the peer protocol (`Endpoint::bind`, not a client endpoint), so the
//! node admits it and takes its announcements. The test shows the limit holding from the
//! outside: every id beyond the first 256 is counted in
//! `p2p_errors_total{error_type="view_full",component="discovery"}`, the node's resident
//! memory does not grow with the ids sent, and a well-behaved caller is answered throughout.

use std::time::{Duration, Instant};

use dawn_node::p2p::{Role, TransportError, TransportSettings};
use dawn_tests::support::memory::{MIB, PeakRss, rss};
use dawn_tests::support::p2p::RawLink;
use dawn_tests::support::{Caller, Pair, eventually};
use serde_json::{Value, json};
use tokio::task::{JoinError, JoinSet};

/// Announcements the hostile peer sends.
const ANNOUNCEMENTS: usize = 1_000;
/// Sent before the resident size is taken as the baseline: the address book (1,024
/// addresses) fills, the allocator warms up.
const WARM_UP: usize = 50;
/// Ids listed per announcement: the most one announcement may list, and the most the node
/// keeps per peer.
const IDS_PER_ANNOUNCEMENT: usize = 256;
/// A well-behaved call is made after every this many announcements.
const CALL_EVERY: usize = 100;
/// Announcements awaiting their reply at once (a peer may open 64 streams).
const IN_FLIGHT: usize = 16;
/// Most the node's resident size may grow during the flood. Were they kept without a bound,
/// the (ANNOUNCEMENTS - WARM_UP) x 256 ids sent after the baseline (about 243,000, 48 B each
/// in a hash map of up to twice that capacity) would take more: with the cap removed
/// (`MAX_VIEW = usize::MAX`) this test saw +36.1 MiB (a debug build); with it, about +1 MiB.
const RSS_GROWTH_BOUND: u64 = 8 * MIB;
/// How long one announcement may wait for its reply.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// A peer of the node (peer protocol, its own identity) that sends what it is told.
struct HostilePeer(RawLink);

impl HostilePeer {
    #[track_caller]
    fn connect(addr: &str) -> HostilePeer {
        HostilePeer(RawLink::connect(
            addr,
            Role::Peer,
            TransportSettings::default(),
        ))
    }

    /// Sends announcements `from..to` as `node/announce` requests, up to [`IN_FLIGHT`] at
    /// once, each listing [`IDS_PER_ANNOUNCEMENT`] ids of its own; fails the test unless
    /// every one is answered with a result (the request form is answered, so each is known
    /// to be handled).
    #[track_caller]
    fn announce(&self, from: usize, to: usize) {
        let RawLink {
            runtime,
            connection,
            ..
        } = &self.0;
        runtime.block_on(async {
            let mut in_flight = JoinSet::new();
            for n in from..to {
                if in_flight.len() >= IN_FLIGHT {
                    answered(in_flight.join_next().await);
                }
                let connection = connection.clone();
                let bytes = announcement(n);
                in_flight
                    .spawn(async move { (n, connection.request(&bytes, EXCHANGE_TIMEOUT).await) });
            }
            while let Some(joined) = in_flight.join_next().await {
                answered(Some(joined));
            }
        });
    }
}

/// The `node/announce` request `n`, listing [`IDS_PER_ANNOUNCEMENT`] made-up ids no other
/// announcement lists.
fn announcement(n: usize) -> Vec<u8> {
    let peers: Vec<String> = (0..IDS_PER_ANNOUNCEMENT)
        .map(|i| format!("127.0.0.1:1@{}", made_up(n * IDS_PER_ANNOUNCEMENT + i)))
        .collect();
    let request = json!({
        "jsonrpc": "2.0",
        "id": n,
        "method": "node/announce",
        "params": { "peers": peers },
    });
    serde_json::to_vec(&request).expect("JSON")
}

/// An announcement's number and what came back for it.
type Answer = (usize, Result<Vec<u8>, TransportError>);

/// Fails the test unless the announcement's reply is a result.
#[track_caller]
fn answered(joined: Option<Result<Answer, JoinError>>) {
    let (n, reply) = joined
        .expect("an announcement in flight")
        .expect("the announcement's task");
    let reply = reply.unwrap_or_else(|e| panic!("announcement {n}: no reply: {e}"));
    let reply: Value = serde_json::from_slice(&reply).unwrap_or_else(|e| {
        panic!(
            "announcement {n}: the reply is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&reply)
        )
    });
    assert!(
        reply["result"]["learned"].is_u64(),
        "announcement {n} was not taken: {reply}"
    );
}

/// The `i`-th made-up node id: 64 hex digits, none of them a real node's.
fn made_up(i: usize) -> String {
    format!("d0{i:062x}")
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB as f64
}

#[test]
fn a_peer_announcing_ever_new_ids_is_counted_and_grows_nothing() {
    let pair = Pair::start(&[
        // No gossip round, hence no expiry of what peers listed, while the flood runs: the
        // count of ids dropped is then exact.
        ("PROJECT_DAWN_GOSSIP_INTERVAL", "3600"),
        // The flood is the limit under test, not the rate limits (the good caller shares
        // the hostile peer's source address).
        ("PROJECT_DAWN_RATE_LIMIT_MAX", "10000"),
    ]);
    let addr = pair.addr();
    let pid = pair.node.proc.pid().expect("the node runs");
    let mut good = Caller::new();
    let hostile = HostilePeer::connect(&addr);

    // Admitted as a peer (announcements of a stranger that is not connected feed nothing).
    eventually("the hostile peer is one of the node's peers", || {
        let peers = good.call(&addr, "node/peers", None);
        let listed = peers["peers"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["node_id"] == hostile.0.node_id.as_str()));
        if listed {
            Ok(())
        } else {
            Err(format!("node/peers: {peers}"))
        }
    });
    let labels = [("error_type", "view_full"), ("component", "discovery")];
    let before = pair
        .exporter
        .metrics()
        .get_or_zero("p2p_errors_total", &labels);

    let started = Instant::now();
    hostile.announce(0, WARM_UP);
    let baseline = rss(pid);
    let peak = PeakRss::start(pid);
    for from in (WARM_UP..ANNOUNCEMENTS).step_by(CALL_EVERY) {
        hostile.announce(from, (from + CALL_EVERY).min(ANNOUNCEMENTS));
        let pong = good.call(&addr, "node/ping", None);
        assert!(pong["node_id"].is_string(), "ping during the flood: {pong}");
    }
    let flood_took = started.elapsed();
    let peak = peak.stop();
    let grew = peak.saturating_sub(baseline);
    eprintln!(
        "{ANNOUNCEMENTS} announcements of {IDS_PER_ANNOUNCEMENT} new ids in {flood_took:?}: \
         RSS after {WARM_UP} {:.1} MiB, peak {:.1} MiB (+{:.1})",
        mib(baseline),
        mib(peak),
        mib(grew)
    );
    assert!(
        grew < RSS_GROWTH_BOUND,
        "RSS grew by {:.1} MiB during the flood",
        mib(grew)
    );

    // Every id past the first 256 was dropped and counted, one by one.
    let dropped = ((ANNOUNCEMENTS - 1) * IDS_PER_ANNOUNCEMENT) as f64;
    let after = pair.eventually_sample(
        "p2p_errors_total",
        &labels,
        &format!("== {before} + {dropped}"),
        |v| v == before + dropped,
    );
    eprintln!("p2p_errors_total{labels:?}: {before} -> {after}");
    // The node still serves, and still holds the hostile peer (dropping is not refusing).
    let pong = good.call(&addr, "node/ping", None);
    assert!(pong["node_id"].is_string(), "ping after the flood: {pong}");
    let peers = good.call(&addr, "node/peers", None);
    assert!(
        peers["peers"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["node_id"] == hostile.0.node_id.as_str())),
        "{peers}"
    );
}
