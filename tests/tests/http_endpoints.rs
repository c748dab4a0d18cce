//! The exporter's HTTP side through the real binary: landing page, 404 JSON, the health
//! endpoints' JSON shapes and status codes, exposition formats by `Accept`, gzip, build info,
//! health check gauges and `--compat.seed-names`. The "node" here is a raw client, so each
//! status can be set exactly; `node_exporter.rs` does the same with the real node.

use dawn_exporter::{Eviction, HealthLimit, IgnoredUpdate, ProtocolError, SeriesRejection};
use dawn_proto::{Detail, DetailValue, Frame, Health, HealthStatus, MetricKind, SeriesDef};
use dawn_tests::support::exposition::Exposition;
use dawn_tests::support::{Exporter, ExporterOptions, RawClient, eventually};
use serde_json::{Value, json};

/// A raw client that announces a one-hour flush interval, so it stays fresh without
/// heartbeats while a test looks at it.
fn steady_node(exporter: &Exporter, node_id: &str) -> RawClient {
    let mut hello = RawClient::hello_frame(node_id, 1);
    hello.client_name = "dawn-node".into();
    hello.client_version = "9.8.7".into();
    hello.flush_interval_ms = 3_600_000;
    RawClient::handshake_with(&exporter.socket, hello)
}

fn health(check: &str, status: HealthStatus, message: &str, details: Vec<Detail>) -> Frame {
    Frame::Health(Health {
        check: check.into(),
        status,
        message: message.into(),
        details,
    })
}

/// Polls `path` until its status is `want`; returns the JSON body.
#[track_caller]
fn json_when(exporter: &Exporter, path: &str, want: u16) -> Value {
    eventually(&format!("{path} answers {want}"), || {
        let r = exporter.get(path);
        if r.status != want {
            return Err(format!("{} {}", r.status, r.text()));
        }
        assert_eq!(
            r.header("content-type")
                .map(|c| c.starts_with("application/json")),
            Some(true),
            "{path}: {:?}",
            r.headers
        );
        Ok(r.json())
    })
}

#[test]
fn landing_page_links_every_endpoint() {
    let exporter = Exporter::start();
    let r = exporter.get("/");
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/html")),
        "{:?}",
        r.headers
    );
    let page = r.text();
    for path in [
        "/metrics",
        "/health",
        "/health/ready",
        "/health/live",
        "/-/healthy",
    ] {
        assert!(
            page.contains(&format!("href=\"{path}\"")),
            "the landing page must link {path}:\n{page}"
        );
    }
}

#[test]
fn unknown_paths_get_404_json_listing_the_endpoints() {
    let exporter = Exporter::start();
    let r = exporter.get("/no/such/page");
    assert_eq!(r.status, 404);
    let body = r.json();
    let endpoints: Vec<&str> = body["available_endpoints"]
        .as_array()
        .unwrap_or_else(|| panic!("no available_endpoints array: {body}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for path in ["/", "/metrics", "/health", "/health/ready", "/health/live"] {
        assert!(
            endpoints.contains(&path),
            "{path} missing from {endpoints:?}"
        );
    }
}

#[test]
fn a_custom_telemetry_path_moves_the_metrics() {
    let exporter =
        Exporter::start_with(ExporterOptions::default().arg("--web.telemetry-path", "/stats"));
    let r = exporter.get("/stats");
    assert_eq!(r.status, 200);
    Exposition::parse(&r.text()).expect("parses");
    let gone = exporter.get("/metrics");
    assert_eq!(gone.status, 404);
    assert!(
        gone.json()["available_endpoints"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("/stats")))
    );
    assert!(exporter.get("/").text().contains("href=\"/stats\""));
}

#[test]
fn health_json_shape_worst_status_and_codes() {
    let exporter = Exporter::start();
    let mut node = steady_node(&exporter, "node-a");
    node.send(&health(
        "storage",
        HealthStatus::Healthy,
        "data root writable",
        vec![Detail {
            key: "free_bytes".into(),
            value: DetailValue::Int(1 << 30),
        }],
    ));
    node.send(&health(
        "peers",
        HealthStatus::Degraded,
        "no peers yet",
        vec![
            Detail {
                key: "connected".into(),
                value: DetailValue::Int(0),
            },
            Detail {
                key: "bootstrap".into(),
                value: DetailValue::Bool(false),
            },
        ],
    ));

    let body = eventually("/health lists both checks", || {
        let r = exporter.get("/health");
        let body = r.json();
        if body["details"]["checks"]["peers"] == "degraded"
            && body["details"]["checks"]["storage"] == "healthy"
        {
            assert_eq!(r.status, 200, "degraded is still 200");
            Ok(body)
        } else {
            Err(body.to_string())
        }
    });
    assert_eq!(body["status"], "degraded", "the worst check wins: {body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("peers")),
        "{body}"
    );
    let details = &body["details"];
    assert!(
        details["uptime"].as_f64().is_some_and(|u| u >= 0.0),
        "{body}"
    );
    assert_eq!(details["checks"]["telemetry"], "healthy", "{body}");
    assert_eq!(
        details["check_details"]["peers"],
        json!({
            "status": "degraded",
            "message": "no peers yet",
            "details": {"connected": 0, "bootstrap": false},
        })
    );
    assert_eq!(
        details["check_details"]["storage"]["details"]["free_bytes"],
        json!(1u64 << 30)
    );
    for name in ["storage", "peers", "telemetry"] {
        let d = &details["check_details"][name];
        assert!(
            d["status"].is_string() && d["message"].is_string() && d["details"].is_object(),
            "{name}: {d}"
        );
    }
    let ts = body["timestamp"].as_str().expect("timestamp string");
    assert!(
        ts.len() >= 20
            && ts.as_bytes()[10] == b'T'
            && (ts.ends_with('Z') || ts.ends_with("+00:00")),
        "timestamp must be RFC 3339 UTC: {ts}"
    );

    // The gauges agree: 0 healthy, 1 degraded, 2 unhealthy.
    let m = exporter.metrics();
    assert_eq!(
        m.value("dawn_health_check_status", &[("check", "storage")]),
        0.0
    );
    assert_eq!(
        m.value("dawn_health_check_status", &[("check", "peers")]),
        1.0
    );
    assert_eq!(
        m.value("dawn_health_check_status", &[("check", "telemetry")]),
        0.0
    );

    // One unhealthy check makes the whole report unhealthy: 503.
    node.send(&health(
        "storage",
        HealthStatus::Unhealthy,
        "disk full",
        vec![],
    ));
    let body = json_when(&exporter, "/health", 503);
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(
        body["details"]["check_details"]["storage"]["message"],
        "disk full"
    );
    exporter.eventually_metrics("the storage gauge says unhealthy", |m| {
        match m.get("dawn_health_check_status", &[("check", "storage")]) {
            Some(2.0) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
}

#[test]
fn ready_and_live_shapes() {
    let exporter =
        Exporter::start_with(ExporterOptions::default().arg("--health.liveness-timeout", "1s"));
    // Within the start-up grace, no node yet: alive but not ready.
    let live = exporter.get("/health/live");
    if live.status == 200 {
        assert_eq!(live.json(), json!({"status": "alive"}));
    }
    let not_ready = exporter.get("/health/ready");
    assert_eq!(not_ready.status, 503);
    let body = not_ready.json();
    assert_eq!(body["status"], "not_ready");
    assert!(
        body["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{body}"
    );

    // Past the grace with no node at all: dead, with a reason.
    let body = json_when(&exporter, "/health/live", 503);
    assert!(
        body["reason"]
            .as_str()
            .is_some_and(|r| r.contains("liveness timeout")),
        "{body}"
    );

    let mut node = steady_node(&exporter, "node-a");
    let body = json_when(&exporter, "/health/ready", 503);
    assert!(
        body["reason"]
            .as_str()
            .is_some_and(|r| r.contains("readiness")),
        "{body}"
    );
    node.send(&Frame::Ready(true));
    assert_eq!(
        json_when(&exporter, "/health/ready", 200),
        json!({"status": "ready"})
    );
    assert_eq!(
        json_when(&exporter, "/health/live", 200),
        json!({"status": "alive"})
    );
    node.send(&Frame::Ready(false));
    let body = json_when(&exporter, "/health/ready", 503);
    assert!(
        body["reason"]
            .as_str()
            .is_some_and(|r| r.contains("not ready")),
        "{body}"
    );
}

#[test]
fn text_and_openmetrics_by_accept_with_exact_content_types() {
    let exporter = Exporter::start();
    let mut node = steady_node(&exporter, "node-a");
    node.send(&Frame::Define(dawn_node::catalogue::P2P_PEERS.to_define(1)));
    node.send(&Frame::Series(SeriesDef {
        id: 1,
        metric: 1,
        label_values: vec![],
    }));
    node.send(&Frame::Batch(dawn_proto::Batch {
        seq: 1,
        updates: vec![dawn_proto::Update {
            series: 1,
            value: dawn_proto::Value::Gauge(3.0),
        }],
    }));
    exporter.eventually_metrics("p2p_peers is 3", |m| match m.get("p2p_peers", &[]) {
        Some(3.0) => Ok(()),
        other => Err(format!("{other:?}")),
    });

    let text = exporter.get("/metrics");
    assert_eq!(
        text.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let body = text.text();
    assert!(!body.contains("# EOF"), "text format has no # EOF");
    assert_eq!(
        Exposition::parse(&body)
            .expect("parses")
            .value("p2p_peers", &[]),
        3.0
    );

    let om = exporter.get_with(
        "/metrics",
        &[(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        )],
    );
    assert_eq!(
        om.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let body = om.text();
    assert!(
        body.ends_with("# EOF\n"),
        "OpenMetrics ends with # EOF:\n{body}"
    );
    let parsed = Exposition::parse(&body).expect("parses");
    assert!(parsed.eof);
    assert_eq!(parsed.value("p2p_peers", &[]), 3.0);

    // gzip when asked, for both formats.
    for accept in ["text/plain", "application/openmetrics-text;version=1.0.0"] {
        let gz = exporter.get_with(
            "/metrics",
            &[("Accept", accept), ("Accept-Encoding", "gzip")],
        );
        assert_eq!(gz.status, 200);
        assert_eq!(gz.header("content-encoding"), Some("gzip"), "{accept}");
        assert_eq!(&gz.body[..2], &[0x1f, 0x8b], "{accept}: gzip magic");
        let parsed = Exposition::parse(&gz.text()).expect("gunzipped body parses");
        assert_eq!(parsed.value("p2p_peers", &[]), 3.0);
    }
    // No gzip unless asked.
    assert_eq!(exporter.get("/metrics").header("content-encoding"), None);
}

#[test]
fn build_info_and_node_up() {
    let exporter = Exporter::start();
    let m = exporter.metrics();
    assert_eq!(m.value("dawn_node_up", &[]), 0.0);
    let info = m.find("dawn_exporter_build_info", &[]);
    assert_eq!(info.len(), 1, "{}", m.text);
    assert_eq!(info[0].value, 1.0);
    assert_eq!(info[0].label("version"), Some(env!("CARGO_PKG_VERSION")));

    let _node = steady_node(&exporter, "node-a");
    exporter.eventually_metrics("the node is up and its build is shown", |m| {
        let up = m.get("dawn_node_up", &[]);
        let build = m.get(
            "dawn_node_build_info",
            &[("node_id", "node-a"), ("version", "9.8.7")],
        );
        if up == Some(1.0) && build == Some(1.0) {
            Ok(())
        } else {
            Err(format!("up {up:?}, build {build:?}"))
        }
    });
}

#[test]
fn compat_seed_names_also_expose_p2p_peers_total() {
    for compat in [false, true] {
        let mut opts = ExporterOptions::default();
        if compat {
            opts = opts.flag("--compat.seed-names");
        }
        let exporter = Exporter::start_with(opts);
        let mut node = steady_node(&exporter, "node-a");
        let def = dawn_node::catalogue::P2P_PEERS.to_define(1);
        assert_eq!(def.kind, MetricKind::Gauge);
        node.send(&Frame::Define(def));
        node.send(&Frame::Series(SeriesDef {
            id: 1,
            metric: 1,
            label_values: vec![],
        }));
        node.send(&Frame::Batch(dawn_proto::Batch {
            seq: 1,
            updates: vec![dawn_proto::Update {
                series: 1,
                value: dawn_proto::Value::Gauge(2.0),
            }],
        }));
        let m = exporter.eventually_metrics("p2p_peers is 2", |m| match m.get("p2p_peers", &[]) {
            Some(2.0) => Ok(m.clone()),
            other => Err(format!("{other:?}")),
        });
        let alias = m.get("p2p_peers_total", &[]);
        if compat {
            assert_eq!(alias, Some(2.0), "{}", m.text);
        } else {
            assert_eq!(alias, None, "{}", m.text);
        }
    }
}

#[test]
fn every_self_metric_is_exposed_with_its_labels() {
    let exporter = Exporter::start();
    // One scrape so that the scrape histogram has an observation.
    exporter.metrics();
    let m = exporter.metrics();
    for name in [
        "dawn_exporter_clients",
        "dawn_exporter_records_total",
        "dawn_exporter_series",
        "dawn_exporter_client_dropped_records_total",
        "dawn_node_up",
    ] {
        assert_eq!(m.find(name, &[]).len(), 1, "{name} missing:\n{}", m.text);
    }
    assert!(m.value("dawn_exporter_scrape_duration_seconds_count", &[]) >= 1.0);
    for result in ["accepted", "rejected"] {
        m.value("dawn_exporter_connections_total", &[("result", result)]);
    }
    for kind in [
        "hello",
        "define",
        "series",
        "batch",
        "health",
        "ready",
        "heartbeat",
        "goodbye",
    ] {
        m.value("dawn_exporter_frames_total", &[("kind", kind)]);
    }
    for reason in [
        "malformed",
        "frame_too_large",
        "truncated",
        "trailing_bytes",
        "bad_magic",
        "unsupported_version",
        "invalid_metric_name",
        "invalid_label_name",
        "invalid_definition",
        "label_mismatch",
        "invalid_value",
        "unknown_id",
        "conflicting_definition",
        "counter_decrease",
        "handshake_timeout",
        "client_limit",
    ] {
        assert_eq!(
            m.value("dawn_exporter_decode_errors_total", &[("reason", reason)]),
            0.0,
            "{reason}"
        );
    }
    for reason in ["max_series", "max_series_per_metric"] {
        m.value("dawn_exporter_rejected_series_total", &[("reason", reason)]);
    }
    // The memory budget's and admission's counters, every reason from the start.
    assert_eq!(m.find("dawn_exporter_samples", &[]).len(), 1, "{}", m.text);
    let reasons: [(&str, Vec<&str>); 5] = [
        (
            "dawn_exporter_rejected_series_total",
            SeriesRejection::ALL.iter().map(|r| r.as_str()).collect(),
        ),
        (
            "dawn_exporter_ignored_updates_total",
            IgnoredUpdate::ALL.iter().map(|r| r.as_str()).collect(),
        ),
        (
            "dawn_exporter_decode_errors_total",
            ProtocolError::ALL.iter().map(|r| r.as_str()).collect(),
        ),
        (
            "dawn_exporter_limited_health_checks_total",
            HealthLimit::ALL.iter().map(|r| r.as_str()).collect(),
        ),
        (
            "dawn_exporter_evicted_clients_total",
            Eviction::ALL.iter().map(|r| r.as_str()).collect(),
        ),
    ];
    for (name, labels) in reasons {
        for reason in labels {
            assert_eq!(m.value(name, &[("reason", reason)]), 0.0, "{name} {reason}");
        }
    }
    m.value("dawn_health_check_status", &[("check", "telemetry")]);
    assert_eq!(
        m.types
            .get("dawn_exporter_scrape_duration_seconds")
            .map(String::as_str),
        Some("histogram")
    );
}

#[test]
fn records_and_client_dropped_records_are_counted() {
    let exporter = Exporter::start();
    let mut node = steady_node(&exporter, "node-a");
    dawn_tests::support::wire::send_catalogue(&mut node);
    node.send(&Frame::Heartbeat(dawn_proto::Heartbeat {
        uptime_ms: 10,
        dropped: 5,
    }));
    node.send(&Frame::Heartbeat(dawn_proto::Heartbeat {
        uptime_ms: 20,
        dropped: 12,
    }));
    let n = dawn_node::catalogue::ALL.len() as f64;
    exporter.eventually_metrics("records and dropped records are counted", |m| {
        let records = m.get("dawn_exporter_records_total", &[]);
        let dropped = m.get("dawn_exporter_client_dropped_records_total", &[]);
        let batches = m.get("dawn_exporter_frames_total", &[("kind", "batch")]);
        if records == Some(n) && dropped == Some(12.0) && batches == Some(1.0) {
            Ok(())
        } else {
            Err(format!(
                "records {records:?}, dropped {dropped:?}, batches {batches:?}"
            ))
        }
    });
}
