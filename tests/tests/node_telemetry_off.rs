//! `dawn-node run --telemetry off` (`PROJECT_DAWN_TELEMETRY=off`): the node serves as usual
//! but never connects to the exporter's socket, even when an exporter listens there, and
//! logs nothing about a missing one; it still exits 0 on SIGTERM.

use std::time::Duration;

use dawn_tests::support::{Caller, Exporter, Node};

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
    for node in [&listening, &alone] {
        let pong = caller.call(&node.p2p_addr(), "node/ping", None);
        assert!(pong["node_id"].is_string(), "{pong}");
    }
    // Many flush intervals (100 ms) and reconnect attempts (from 100 ms) later: nothing.
    std::thread::sleep(Duration::from_millis(800));
    let m = exporter.metrics();
    assert_eq!(
        m.get_or_zero("dawn_exporter_connections_total", &[("result", "accepted")]),
        0.0,
        "{}",
        m.text
    );
    assert_eq!(exporter.get("/health/ready").status, 503);

    for node in [&mut listening, &mut alone] {
        assert!(node.proc.terminate().success(), "{}", node.log());
        let log = node.log();
        assert!(log.contains("telemetry off"), "{log}");
        for word in ["exporter unavailable", "final flush", "telemetry connected"] {
            assert!(!log.contains(word), "{word:?} in:\n{log}");
        }
    }
    assert!(!absent.exists());
}
