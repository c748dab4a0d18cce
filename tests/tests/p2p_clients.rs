//! Client slots with the real node (issue 14): `dawn-node call` gives its slot back when it
//! exits, one source address holds at most its fair share of the slots (a quarter: 16 of
//! 64, docs/p2p.md) while other addresses still get in, and an idle client is closed.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use dawn_node::p2p::{
    CloseCode, DisconnectReason, Endpoint, FAIR_SHARE_DIVISOR, MAX_CLIENTS, PeerConnection,
};
use dawn_tests::support::binaries::binaries;
use dawn_tests::support::p2p::client_endpoint;
use dawn_tests::support::process::{Finished, run_to_end};
use dawn_tests::support::{Pair, eventually};

/// Calls made back to back by the first test.
const CALLS: usize = 500;

/// The per-sender limit of these nodes: high enough that the rate limits, per address
/// included (1.5 times it), stay out of the way of tests about slots.
const NO_RATE_LIMIT: (&str, &str) = ("PROJECT_DAWN_RATE_LIMIT_MAX", "10000");

/// `dawn-node call ARGS... node/ping` against `addr`.
#[track_caller]
fn ping(addr: &str, args: &[&str]) -> Finished {
    let mut all = vec!["call", "--peer", addr];
    all.extend_from_slice(args);
    all.push("node/ping");
    run_to_end(&binaries().node, &all, &[])
}

#[test]
fn five_hundred_calls_back_to_back_all_succeed() {
    let pair = Pair::start(&[NO_RATE_LIMIT]);
    let addr = pair.addr();
    let started = Instant::now();
    for n in 1..=CALLS {
        let done = ping(&addr, &[]);
        assert_eq!(done.code(), Some(0), "call {n} of {CALLS}: {done:?}");
    }
    eprintln!(
        "{CALLS} calls back to back: all succeeded in {:?}",
        started.elapsed()
    );
    // Each call closed its connection: the node counted every one served, none refused.
    let want = CALLS as f64;
    pair.eventually_sample(
        "p2p_messages_total",
        &[("type", "request"), ("status", "success")],
        &format!("== {want}"),
        |v| v == want,
    );
    assert!(
        !pair.node.log().contains("client refused"),
        "no client was refused:\n{}",
        pair.node.log()
    );
}

/// A runtime and one client endpoint (one identity) sending from 127.0.0.1.
struct Holder {
    runtime: tokio::runtime::Runtime,
    endpoint: Endpoint,
}

impl Holder {
    fn new() -> Holder {
        let (runtime, endpoint) = client_endpoint(Ipv4Addr::LOCALHOST.into());
        Holder { runtime, endpoint }
    }

    /// A new connection to `addr` and whether the node serves it: `Ok` once a ping on it
    /// is answered, else the code the node closed it with.
    fn open(&self, addr: SocketAddr) -> (PeerConnection, Result<(), Option<CloseCode>>) {
        self.runtime.block_on(async {
            let c = self.endpoint.connect(addr, None).await.expect("handshake");
            let served = self.ping(&c).await;
            (c, served)
        })
    }

    async fn ping(&self, c: &PeerConnection) -> Result<(), Option<CloseCode>> {
        let ping = br#"{"jsonrpc":"2.0","id":1,"method":"node/ping"}"#;
        match c.request(ping, Duration::from_secs(10)).await {
            Ok(_) => Ok(()),
            Err(_) => Err(match c.closed().await {
                DisconnectReason::Remote { code, .. } => code,
                _ => None,
            }),
        }
    }

    /// Pings every connection of `held`; all must be served.
    #[track_caller]
    fn keep_busy(&self, held: &[PeerConnection]) {
        for (i, c) in held.iter().enumerate() {
            let served = self.runtime.block_on(self.ping(c));
            assert_eq!(served, Ok(()), "held connection {i}");
        }
    }
}

#[test]
fn one_address_holds_its_fair_share_and_other_sources_still_get_in() {
    let pair = Pair::start(&[]);
    let addr = pair.addr();
    let node: SocketAddr = addr.parse().expect("a socket address");
    let share = MAX_CLIENTS / FAIR_SHARE_DIVISOR;

    // One process opens as many connections as there are slots, from one address.
    let holder = Holder::new();
    let mut held = Vec::new();
    let mut refused = Vec::new();
    for _ in 0..MAX_CLIENTS {
        match holder.open(node) {
            (c, Ok(())) => held.push(c),
            (_, Err(code)) => refused.push(code),
        }
    }
    eprintln!(
        "one process, {MAX_CLIENTS} connections from 127.0.0.1: {} served, {} refused",
        held.len(),
        refused.len()
    );
    assert_eq!(held.len(), share, "the address holds its fair share");
    assert!(
        refused
            .iter()
            .all(|code| *code == Some(CloseCode::AddressClientLimit)),
        "the rest are closed with code 8: {refused:?}"
    );

    // Another source address is served at once ...
    holder.keep_busy(&held);
    let other = ping(&addr, &["--bind", "127.0.0.2"]);
    assert_eq!(other.code(), Some(0), "a call from 127.0.0.2: {other:?}");
    // ... the same address is not (its share is held) ...
    holder.keep_busy(&held);
    let same = ping(&addr, &["--timeout", "5s"]);
    assert_eq!(same.code(), Some(1), "a call from 127.0.0.1: {same:?}");
    assert!(
        same.stderr.contains(CloseCode::AddressClientLimit.reason()),
        "says why: {}",
        same.stderr
    );
    // ... until one of its connections closes: that slot is free at once.
    held.pop().expect("held").close(CloseCode::Normal);
    let again = eventually("a call from 127.0.0.1 after a close succeeds", || {
        let done = ping(&addr, &[]);
        if done.code() == Some(0) {
            Ok(done)
        } else {
            Err(format!("{done:?}"))
        }
    });
    assert!(again.stdout.contains("node_id"), "{again:?}");

    // Left idle, the held connections are closed by the node (keep-alives do not count).
    let closed = holder.runtime.block_on(async {
        let mut codes = Vec::new();
        for c in &held {
            codes.push(match c.closed().await {
                DisconnectReason::Remote { code, .. } => code,
                other => panic!("a held connection ended otherwise: {other}"),
            });
        }
        codes
    });
    assert!(
        closed.iter().all(|c| *c == Some(CloseCode::ClientIdle)),
        "closed as idle: {closed:?}"
    );
}
