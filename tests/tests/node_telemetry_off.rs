//! `dawn-node run --telemetry off` (`PROJECT_DAWN_TELEMETRY=off`): the node serves as usual
//! but never connects to the exporter's socket, even when an exporter listens there, and
//! logs nothing about a missing one; it still exits 0 on SIGTERM.

use dawn_tests::support::{Caller, Exporter, Node, RawClient, eventually};

/// `dawn_exporter_connections_total{result="accepted"}`: handshakes the exporter accepted.
fn accepted(exporter: &Exporter) -> f64 {
    exporter
        .metrics()
        .get_or_zero("dawn_exporter_connections_total", &[("result", "accepted")])
}

#[test]
fn a_node_with_telemetry_off_serves_and_never_connects() {
    let exporter = Exporter::start();
    // One node pointed at a live exporter, one at a socket nobody serves: with telemetry on,
    // the first would connect and the second would warn that the exporter is unavailable.
    let mut listening = Node::start(
        &exporter.socket,
        &[("PROJECT_DAWN_TELEMETRY", "off"), ("LOG_LEVEL", "debug")],
    );
    let absent = exporter.dir.path().join("nobody.sock");
    let mut alone = Node::start(
        &absent,
        &[("PROJECT_DAWN_TELEMETRY", "off"), ("LOG_LEVEL", "debug")],
    );

    let mut caller = Caller::new();
    for node in [&mut listening, &mut alone] {
        node.wait_listening();
        let pong = caller.call(&node.p2p_addr(), "node/ping", None);
        assert!(pong["node_id"].is_string(), "{pong}");
    }
    // A whole life, start to exit (with telemetry on, the final flush would connect at the
    // latest): once both have exited, nothing of theirs can reach the socket any more.
    for node in [&mut listening, &mut alone] {
        assert!(node.proc.terminate().success(), "{}", node.log());
    }
    assert_eq!(exporter.get("/health/ready").status, 503);
    // A control client connects after them; once the exporter has counted its handshake, it
    // has long taken whatever was queued before it: the control must be the only one.
    let _control = RawClient::handshake(&exporter.socket, "control", 1);
    eventually("the exporter counts the control's handshake", || {
        let n = accepted(&exporter);
        if n > 0.0 {
            Ok(n)
        } else {
            Err(format!("{n} accepted"))
        }
    });
    assert_eq!(accepted(&exporter), 1.0, "{}", exporter.metrics().text);

    for node in [&listening, &alone] {
        let log = node.log();
        assert!(log.contains("telemetry off"), "{log}");
        for word in ["exporter unavailable", "final flush", "telemetry connected"] {
            assert!(!log.contains(word), "{word:?} in:\n{log}");
        }
    }
    assert!(!absent.exists());
}
