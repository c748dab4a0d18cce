//! Acceptance: the real `dawn-node` with the real `dawn-exporter`.
//!
//! Ready → `dawn_node_up 1` and `p2p_peers 0`; SIGKILL → `dawn_node_up 0` and `/health/live`
//! 503 after the (short, configured) liveness timeout; restart → ready again. Plus the node's
//! health checks in `/health`, a clean SIGTERM, and the JSON log lines of docs/operations.md for both binaries.

use dawn_tests::support::{Exporter, ExporterOptions, Node, eventually};
use serde_json::Value;

/// An exporter whose liveness timeout is short, so that a dead node shows quickly.
fn exporter() -> Exporter {
    Exporter::start_with(ExporterOptions::default().arg("--health.liveness-timeout", "2s"))
}

/// Polls `path` until its status is `want`; returns the JSON body.
#[track_caller]
fn json_when(exporter: &Exporter, path: &str, want: u16) -> Value {
    eventually(&format!("{path} answers {want}"), || {
        let r = exporter.get(path);
        if r.status == want {
            Ok(r.json())
        } else {
            Err(format!("{} {}", r.status, r.text()))
        }
    })
}

#[track_caller]
fn metric_is(exporter: &Exporter, name: &str, want: f64) {
    exporter.eventually_metrics(&format!("{name} == {want}"), |m| match m.get(name, &[]) {
        Some(v) if v == want => Ok(()),
        other => Err(format!("{other:?}")),
    });
}

#[test]
fn node_ready_killed_and_restarted() {
    let exporter = exporter();
    let mut node = Node::start(&exporter.socket, &[]);

    assert_eq!(
        json_when(&exporter, "/health/ready", 200),
        serde_json::json!({"status": "ready"})
    );
    metric_is(&exporter, "dawn_node_up", 1.0);
    metric_is(&exporter, "p2p_peers", 0.0);
    let m = exporter.metrics();
    let builds = m.find("dawn_node_build_info", &[]);
    assert_eq!(builds.len(), 1, "{}", m.text);
    assert_eq!(builds[0].label("version"), Some(env!("CARGO_PKG_VERSION")));
    assert_eq!(json_when(&exporter, "/health/live", 200)["status"], "alive");

    // The node's checks and the exporter's own.
    let health = eventually("/health lists the node's checks", || {
        let body = exporter.get("/health").json();
        let checks = &body["details"]["checks"];
        if ["storage", "peers", "telemetry"]
            .iter()
            .all(|c| checks[c].is_string())
        {
            Ok(body)
        } else {
            Err(body.to_string())
        }
    });
    assert_eq!(
        health["details"]["checks"]["telemetry"], "healthy",
        "{health}"
    );
    assert_eq!(
        health["details"]["checks"]["storage"], "healthy",
        "{health}"
    );
    for check in ["storage", "peers", "telemetry"] {
        let d = &health["details"]["check_details"][check];
        assert!(
            d["status"].is_string() && d["message"].is_string() && d["details"].is_object(),
            "{check}: {health}"
        );
    }
    exporter.eventually_metrics("health check gauges for the node's checks", |m| {
        match (
            m.get("dawn_health_check_status", &[("check", "storage")]),
            m.get("dawn_health_check_status", &[("check", "peers")]),
        ) {
            (Some(_), Some(_)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });

    // SIGKILL: no Goodbye. The node is down at once, dead after the liveness timeout.
    node.kill();
    metric_is(&exporter, "dawn_node_up", 0.0);
    let dead = json_when(&exporter, "/health/live", 503);
    assert!(
        dead["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{dead}"
    );
    let not_ready = json_when(&exporter, "/health/ready", 503);
    assert_eq!(not_ready["status"], "not_ready", "{not_ready}");
    assert_eq!(
        exporter.get("/health").status,
        503,
        "telemetry check unhealthy"
    );

    // Restarted (same data root): ready again.
    node.proc.restart();
    assert_eq!(
        json_when(&exporter, "/health/ready", 200)["status"],
        "ready"
    );
    assert_eq!(json_when(&exporter, "/health/live", 200)["status"], "alive");
    metric_is(&exporter, "dawn_node_up", 1.0);
    metric_is(&exporter, "p2p_peers", 0.0);
}

#[test]
fn node_started_before_the_exporter_connects_when_it_comes() {
    let dir = dawn_tests::support::process::temp_dir();
    let socket = dir.path().join("telemetry.sock");
    let mut node = Node::start(&socket, &[]);
    // No exporter yet: the node starts (and logs) regardless.
    eventually("the node logs its start", || {
        node.proc.assert_running();
        if node.log().trim().is_empty() {
            Err("nothing logged yet".to_owned())
        } else {
            Ok(())
        }
    });
    node.proc.assert_running();
    let exporter = Exporter::start_with(
        ExporterOptions::default()
            .socket(&socket)
            .arg("--health.liveness-timeout", "2s"),
    );
    assert_eq!(
        json_when(&exporter, "/health/ready", 200)["status"],
        "ready"
    );
    metric_is(&exporter, "p2p_peers", 0.0);
}

#[test]
fn node_sigterm_says_goodbye_and_exits_0() {
    let exporter = exporter();
    let mut node = Node::start(&exporter.socket, &[]);
    json_when(&exporter, "/health/ready", 200);
    let status = node.proc.terminate();
    assert_eq!(status.code(), Some(0), "{status}\n{}", node.log());
    metric_is(&exporter, "dawn_node_up", 0.0);
    json_when(&exporter, "/health/ready", 503);
}

#[test]
fn both_binaries_write_the_documented_json_log_lines() {
    let exporter = Exporter::start_with(ExporterOptions {
        envs: vec![
            ("LOG_FORMAT".into(), "json".into()),
            ("LOG_LEVEL".into(), "debug".into()),
        ],
        ..ExporterOptions::default()
    });
    let node = Node::start(&exporter.socket, &[("LOG_FORMAT", "json")]);
    json_when(&exporter, "/health/ready", 200);
    for (name, log) in [("dawn-exporter", exporter.log()), ("dawn-node", node.log())] {
        let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(!lines.is_empty(), "{name} logged nothing");
        for line in lines {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{name}: not a JSON line ({e}): {line}"));
            for key in ["timestamp", "level", "logger", "message", "context"] {
                assert!(!v[key].is_null(), "{name}: no {key} in {line}");
            }
            let level = v["level"].as_str().unwrap_or_default();
            assert!(
                ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"].contains(&level),
                "{name}: level {level:?} in {line}"
            );
            let ts = v["timestamp"].as_str().unwrap_or_default();
            assert!(
                ts.as_bytes().get(10) == Some(&b'T')
                    && (ts.ends_with('Z') || ts.ends_with("+00:00")),
                "{name}: timestamp {ts:?} is not RFC 3339 UTC"
            );
        }
    }
}
