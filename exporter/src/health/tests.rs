//! The health model driven by a fake clock.

use std::time::{Duration, Instant};

use dawn_proto::{Health, HealthStatus, Hello};

use super::model::{HealthModel, Liveness, Readiness, TELEMETRY_CHECK};

const TIMEOUT: Duration = Duration::from_secs(30);

fn hello(node: &str, flush_ms: u32) -> Hello {
    Hello::new("dawn-node", "0.1.0", node, 7, 1, flush_ms)
}

fn health(check: &str, status: HealthStatus, message: &str) -> Health {
    Health {
        check: check.into(),
        status,
        message: message.into(),
        details: vec![],
    }
}

fn secs(t0: Instant, s: u64) -> Instant {
    t0 + Duration::from_secs(s)
}

fn ms(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

#[test]
fn start_up_grace_then_dead_without_a_node() {
    let t0 = Instant::now();
    let m = HealthModel::new(t0, TIMEOUT);
    assert_eq!(m.liveness(secs(t0, 30)), Liveness::Alive);
    let report = m.report_at(secs(t0, 3));
    assert_eq!(report.status, HealthStatus::Degraded);
    assert_eq!(report.http_status(), 200);
    assert!(
        report.checks[TELEMETRY_CHECK]
            .message
            .contains("waiting for node")
    );
    match m.readiness(secs(t0, 3)) {
        Readiness::NotReady { reason } => assert_eq!(reason, "no node connected"),
        other => panic!("{other:?}"),
    }

    match m.liveness(secs(t0, 31)) {
        Liveness::Dead { reason } => assert!(reason.contains("no node has connected"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let report = m.report_at(secs(t0, 31));
    assert_eq!(report.status, HealthStatus::Unhealthy);
    assert_eq!(report.http_status(), 503);
    assert!(!m.node_up(secs(t0, 31)));
}

#[test]
fn fresh_node_is_up_alive_ready_and_healthy() {
    let t0 = Instant::now();
    let m = HealthModel::new(t0, TIMEOUT);
    m.connect(1, &hello("n1", 1000), secs(t0, 1));
    assert!(m.node_up(secs(t0, 1)));
    match m.readiness(secs(t0, 1)) {
        Readiness::NotReady { reason } => {
            assert_eq!(reason, "node dawn-node/n1 has not reported readiness yet")
        }
        other => panic!("{other:?}"),
    }
    m.set_ready(1, true);
    assert_eq!(m.readiness(secs(t0, 1)), Readiness::Ready);
    m.set_ready(1, false);
    match m.readiness(secs(t0, 1)) {
        Readiness::NotReady { reason } => {
            assert_eq!(reason, "node dawn-node/n1 reported not ready")
        }
        other => panic!("{other:?}"),
    }
    m.set_ready(1, true);
    let report = m.report_at(secs(t0, 1));
    assert_eq!(report.status, HealthStatus::Healthy);
    assert_eq!(report.message, "all 1 checks healthy");
    assert_eq!(m.node_builds(), [("0.1.0".to_owned(), "n1".to_owned())]);
}

#[test]
fn stale_after_three_flush_intervals() {
    let t0 = Instant::now();
    let m = HealthModel::new(t0, TIMEOUT);
    m.connect(1, &hello("n1", 1000), t0);
    m.set_ready(1, true);
    m.seen(1, ms(t0, 500));
    assert!(m.node_up(ms(t0, 3500)));
    assert!(!m.node_up(ms(t0, 3501)));
    let report = m.report_at(ms(t0, 3501));
    assert_eq!(
        report.checks[TELEMETRY_CHECK].status,
        HealthStatus::Unhealthy
    );
    assert!(
        report.checks[TELEMETRY_CHECK]
            .message
            .contains("heartbeats of node dawn-node/n1 are stale"),
        "{}",
        report.checks[TELEMETRY_CHECK].message
    );
    assert!(matches!(
        m.readiness(ms(t0, 3501)),
        Readiness::NotReady { .. }
    ));
    // Stale is not dead: liveness waits for the longer timeout.
    assert_eq!(m.liveness(ms(t0, 30_500)), Liveness::Alive);
    match m.liveness(ms(t0, 30_501)) {
        Liveness::Dead { reason } => assert!(reason.contains("silent for 30.001s"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // A heartbeat revives everything.
    m.seen(1, secs(t0, 40));
    assert!(m.node_up(secs(t0, 40)));
    assert_eq!(m.liveness(secs(t0, 40)), Liveness::Alive);
    assert_eq!(m.readiness(secs(t0, 40)), Readiness::Ready);
}

#[test]
fn disconnect_removes_checks_and_liveness_runs_out() {
    let t0 = Instant::now();
    let m = HealthModel::new(t0, TIMEOUT);
    m.connect(1, &hello("n1", 1000), t0);
    m.report(1, health("storage", HealthStatus::Unhealthy, "disk full"));
    assert_eq!(
        m.report_at(t0).checks["storage"].status,
        HealthStatus::Unhealthy
    );
    m.disconnect(1, secs(t0, 2));
    let report = m.report_at(secs(t0, 3));
    assert!(!report.checks.contains_key("storage"));
    assert_eq!(
        report.checks[TELEMETRY_CHECK].message,
        "node dawn-node/n1 disconnected 1s ago"
    );
    assert_eq!(m.liveness(secs(t0, 32)), Liveness::Alive);
    match m.liveness(secs(t0, 33)) {
        Liveness::Dead { reason } => {
            assert!(
                reason.contains("node dawn-node/n1 disconnected"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn same_check_from_several_clients_worst_wins() {
    let t0 = Instant::now();
    let m = HealthModel::new(t0, TIMEOUT);
    m.connect(1, &hello("a", 1000), t0);
    m.connect(2, &hello("b", 1000), t0);
    m.report(1, health("peers", HealthStatus::Healthy, "5 peers"));
    m.report(2, health("peers", HealthStatus::Degraded, "1 peer"));
    m.report(1, health("agents", HealthStatus::Healthy, "ok"));
    let report = m.report_at(t0);
    assert_eq!(report.checks["peers"].status, HealthStatus::Degraded);
    assert_eq!(report.checks["peers"].message, "1 peer");
    assert_eq!(report.status, HealthStatus::Degraded);
    assert_eq!(report.message, "peers degraded: 1 peer");
    let statuses = m.check_statuses(t0);
    assert_eq!(
        statuses,
        [
            ("agents".to_owned(), HealthStatus::Healthy),
            ("peers".to_owned(), HealthStatus::Degraded),
            (TELEMETRY_CHECK.to_owned(), HealthStatus::Healthy),
        ]
    );
    // A later report replaces the client's earlier one.
    m.report(2, health("peers", HealthStatus::Healthy, "3 peers"));
    assert_eq!(m.report_at(t0).status, HealthStatus::Healthy);
}
