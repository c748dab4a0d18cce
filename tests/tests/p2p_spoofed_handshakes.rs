//! Spoofed QUIC handshakes against the real node (issue 14): 500 valid Initial packets sent
//! from an address that never answers, as a flood from spoofed sources would arrive. The
//! node answers most with a stateless Retry (no state kept), so only a few handshakes start
//! and time out; they are counted as `p2p_connections_total{status="handshake_failed"}`,
//! never as `failed` (this node's dials) nor as errors, and logged in a few lines, not one
//! each (docs/p2p.md, "Handshakes from strangers").

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Instant;

use dawn_tests::support::binaries::binaries;
use dawn_tests::support::p2p::client_endpoint;
use dawn_tests::support::process::run_to_end;
use dawn_tests::support::{Pair, eventually, patience};

/// Initial packets sent.
const INITIALS: usize = 500;

/// The destination connection id of a QUIC long-header packet (RFC 9000, 17.2): it names
/// the connection the Initial would open.
fn destination_cid(datagram: &[u8]) -> Option<&[u8]> {
    let long_header = datagram.first()? & 0x80 != 0;
    let len = usize::from(*datagram.get(5)?);
    long_header.then(|| datagram.get(6..6 + len)).flatten()
}

/// `count` Initial packets of distinct connection attempts, as a real client sends them:
/// dials of a black hole (a socket that reads and never answers) are captured there.
fn initials(count: usize) -> Vec<Vec<u8>> {
    let hole = UdpSocket::bind("127.0.0.1:0").expect("bind the black hole");
    hole.set_read_timeout(Some(patience()))
        .expect("read timeout");
    let target = hole.local_addr().expect("its address");
    let (runtime, endpoint) = client_endpoint(Ipv4Addr::LOCALHOST.into());
    let dials: Vec<_> = (0..count)
        .map(|_| {
            let endpoint = endpoint.clone();
            runtime.spawn(async move { endpoint.connect(target, None).await })
        })
        .collect();
    let (mut seen, mut out) = (BTreeSet::new(), Vec::new());
    let mut buf = vec![0u8; 65536];
    while out.len() < count {
        let (n, _) = hole
            .recv_from(&mut buf)
            .expect("the dials' Initial packets arrive");
        let datagram = buf[..n].to_vec();
        // A retransmission repeats an attempt already captured.
        if let Some(cid) = destination_cid(&datagram)
            && seen.insert(cid.to_vec())
        {
            out.push(datagram);
        }
    }
    for dial in dials {
        dial.abort();
    }
    out
}

#[test]
fn spoofed_initials_are_counted_as_handshake_failures_in_a_few_log_lines() {
    let pair = Pair::start(&[]);
    let addr = pair.addr();
    let node: SocketAddr = addr.parse().expect("a socket address");
    let counter = |status: &str| {
        pair.exporter
            .metrics()
            .get_or_zero("p2p_connections_total", &[("status", status)])
    };
    let (failed, handshake_failed) = (counter("failed"), counter("handshake_failed"));
    let errors_before = pair
        .exporter
        .metrics()
        .find("p2p_errors_total", &[])
        .iter()
        .map(|s| s.value)
        .sum::<f64>();

    let initials = initials(INITIALS);
    let spoofer = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let started = Instant::now();
    for datagram in &initials {
        spoofer.send_to(datagram, node).expect("send");
    }
    // The node keeps serving during the flood.
    let call = run_to_end(
        &binaries().node,
        &["call", "--peer", &addr, "node/ping"],
        &[],
    );
    assert_eq!(call.code(), Some(0), "a call during the flood: {call:?}");

    // The handshakes that started time out (10 s) and are counted apart.
    let after = pair.eventually_sample(
        "p2p_connections_total",
        &[("status", "handshake_failed")],
        &format!("> {handshake_failed}"),
        |v| v > handshake_failed,
    );
    let summary = eventually("the count line of the failed handshakes", || {
        let log = pair.node.log();
        match log
            .lines()
            .find(|l| l.contains("more incoming handshakes failed"))
        {
            Some(line) => Ok(line.to_owned()),
            None => Err("not yet".to_owned()),
        }
    });
    let log = pair.node.log();
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains(" WARN ")).collect();
    eprintln!(
        "{INITIALS} spoofed Initials: handshake_failed {handshake_failed} -> {after} after \
         {:?}, {} WARN lines:\n{}",
        started.elapsed(),
        warnings.len(),
        warnings.join("\n")
    );
    assert!(warnings.len() <= 3, "{} WARN lines:\n{log}", warnings.len());
    assert!(summary.contains(" WARN "), "{summary}");

    let m = pair.exporter.metrics();
    assert_eq!(
        m.get_or_zero("p2p_connections_total", &[("status", "failed")]),
        failed,
        "failed counts this node's dials only"
    );
    let errors_after = m
        .find("p2p_errors_total", &[])
        .iter()
        .map(|s| s.value)
        .sum::<f64>();
    assert_eq!(errors_after, errors_before, "not counted as errors");
    // Most attempts got a Retry and never held a handshake slot.
    assert!(
        after - handshake_failed < INITIALS as f64 / 10.0,
        "{after} handshakes failed: the Retry did not spare the node"
    );
}
