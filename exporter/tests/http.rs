//! The whole exporter in-process: a client on the socket, HTTP on an ephemeral port.

mod support;

use std::io::Read;
use std::time::Duration;

use dawn_daemon::http_get::{self, Response};
use dawn_exporter::{Exporter, ExporterConfig, IngestConfig};
use dawn_proto::{Frame, Health, HealthStatus, Heartbeat, Hello, HistogramValue, Value};
use serde_json::Value as Json;
use support::{Client, NODE_LIKE_CHECKS, TempDir, eventually, node_like_definitions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Running {
    _dir: TempDir,
    exporter: Exporter,
}

impl Running {
    async fn start(tweak: impl FnOnce(&mut ExporterConfig)) -> Running {
        let dir = TempDir::new("http");
        let mut config = ExporterConfig {
            ingest: IngestConfig {
                socket: dir.path().join("t.sock"),
                ..IngestConfig::default()
            },
            listen_address: "127.0.0.1:0".parse().expect("address"),
            ..ExporterConfig::default()
        };
        tweak(&mut config);
        let exporter = Exporter::start(config).await.expect("start");
        Running {
            _dir: dir,
            exporter,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.exporter.http_addr())
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        http_get::get(&self.url(path), headers, Duration::from_secs(5))
            .await
            .expect("GET")
    }

    async fn json(&self, path: &str) -> (u16, Json) {
        let r = self.get(path, &[]).await;
        assert_eq!(r.header("content-type"), Some("application/json"));
        (
            r.status,
            serde_json::from_slice(&r.body).expect("JSON body"),
        )
    }

    /// A node that defines eleven metrics and reports one value of each.
    async fn node(&self) -> Client {
        let mut c = Client::connect(self.exporter.socket_path()).await;
        c.hello(Hello::new("dawn-node", "0.1.0", "node-1", 7, 42, 1000))
            .await;
        let defs = node_like_definitions();
        for def in &defs {
            c.define(def.clone()).await;
            let labels: Vec<&str> = def.label_names.iter().map(|_| "x").collect();
            c.series(def.id, def.id, &labels).await;
        }
        let updates = defs
            .iter()
            .map(|spec| {
                let value = match spec.kind {
                    dawn_proto::MetricKind::Counter => Value::Counter(3),
                    dawn_proto::MetricKind::Gauge => Value::Gauge(0.0),
                    dawn_proto::MetricKind::Histogram => {
                        let mut buckets = vec![0; spec.buckets.len() + 1];
                        buckets[0] = 2;
                        Value::Histogram(HistogramValue {
                            count: 2,
                            sum: 0.003,
                            buckets,
                        })
                    }
                };
                (spec.id, value)
            })
            .collect();
        c.batch(updates).await;
        for check in NODE_LIKE_CHECKS {
            c.send(Frame::Health(Health {
                check: (*check).into(),
                status: HealthStatus::Healthy,
                message: "ok".into(),
                details: vec![],
            }))
            .await;
        }
        c.send(Frame::Heartbeat(Heartbeat {
            uptime_ms: 1,
            dropped: 0,
        }))
        .await;
        c.send(Frame::Ready(true)).await;
        c
    }
}

#[tokio::test]
async fn metrics_in_both_formats_with_gzip() {
    let r = Running::start(|c| c.compat_seed_names = true).await;
    let node = r.node().await;
    let m = r.exporter.metrics().clone();
    eventually("the batch applied", || {
        m.records_applied() == node_like_definitions().len() as u64
    })
    .await;

    let text = r.get("/metrics", &[]).await;
    assert_eq!(text.status, 200);
    assert_eq!(
        text.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let body = text.text();
    for line in [
        "p2p_peers 0",
        "p2p_peers_total 0",
        "# TYPE p2p_peers_total gauge",
        "# TYPE p2p_connections_total counter",
        "p2p_connections_total{status=\"x\"} 3",
        "p2p_message_latency_seconds_bucket{type=\"x\",le=\"0.005\"} 2",
        "p2p_message_size_bytes_bucket{type=\"x\",le=\"1.048576e+06\"} 2",
        "dawn_node_up 1",
        "dawn_exporter_clients 1",
        "dawn_exporter_series 11",
        "dawn_exporter_records_total 11",
        "dawn_exporter_decode_errors_total{reason=\"malformed\"} 0",
        "dawn_health_check_status{check=\"telemetry\"} 0",
        "dawn_health_check_status{check=\"peers\"} 0",
        "dawn_node_build_info{node_id=\"node-1\",version=\"0.1.0\"} 1",
        "dawn_exporter_build_info{version=\"0.1.0\"} 1",
    ] {
        assert!(
            body.lines().any(|l| l == line),
            "missing {line:?} in\n{body}"
        );
    }
    assert!(!body.contains("# EOF"));

    let om = r
        .get(
            "/metrics",
            &[("Accept", "application/openmetrics-text; version=1.0.0")],
        )
        .await;
    assert_eq!(
        om.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let body = om.text();
    assert!(body.ends_with("# EOF\n"), "{body}");
    assert!(body.contains("# TYPE p2p_connections counter\n"));
    assert!(body.contains("p2p_connections_total{status=\"x\"} 3\n"));
    assert!(body.contains("le=\"1.0\"} 2\n"), "{body}");
    assert!(body.contains("# TYPE dawn_exporter_decode_errors counter\n"));

    let gz = r.get("/metrics", &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_string(&mut plain)
        .expect("valid gzip");
    assert!(plain.contains("p2p_peers 0\n"));

    node.goodbye_clean().await;
    r.exporter.shutdown().await;
}

#[tokio::test]
async fn health_endpoints_follow_the_node() {
    let r = Running::start(|_| {}).await;
    let (status, body) = r.json("/health/ready").await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["reason"], "no node connected");
    let (status, body) = r.json("/health/live").await;
    assert_eq!(
        (status, &body),
        (200, &serde_json::json!({"status": "alive"}))
    );
    let (status, body) = r.json("/health").await;
    assert_eq!(status, 200, "degraded while waiting for the node");
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["details"]["checks"]["telemetry"], "degraded");

    let node = r.node().await;
    let health = r.exporter.health().clone();
    eventually("ready", || {
        health.readiness(std::time::Instant::now()) == dawn_exporter::Readiness::Ready
    })
    .await;
    let (status, body) = r.json("/health/ready").await;
    assert_eq!(
        (status, &body),
        (200, &serde_json::json!({"status": "ready"}))
    );
    let (status, body) = r.json("/health").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "healthy");
    assert!(body["details"]["uptime"].is_number());
    let timestamp = body["timestamp"].as_str().unwrap();
    assert!(
        timestamp.ends_with('Z') && timestamp.len() == 24,
        "{timestamp}"
    );
    for check in ["peers", "agents", "storage", "discovery", "telemetry"] {
        assert_eq!(body["details"]["checks"][check], "healthy", "{body}");
        assert_eq!(body["details"]["check_details"][check]["status"], "healthy");
        assert!(body["details"]["check_details"][check]["details"].is_object());
    }

    node.goodbye_clean().await;
    eventually("not ready after Goodbye", || {
        health.readiness(std::time::Instant::now()) != dawn_exporter::Readiness::Ready
    })
    .await;
    let metrics = r.get("/metrics", &[]).await.text();
    assert!(metrics.contains("\ndawn_node_up 0\n"), "{metrics}");
    assert!(!metrics.contains("dawn_node_build_info{"), "{metrics}");
    assert!(!metrics.contains("check=\"peers\""), "{metrics}");
    assert!(
        metrics.contains("dawn_health_check_status{check=\"telemetry\"} 2\n"),
        "{metrics}"
    );
    let (status, body) = r.json("/health").await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "unhealthy");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("node dawn-node/node-1 disconnected"),
        "{body}"
    );
    r.exporter.shutdown().await;
}

#[tokio::test]
async fn landing_page_404_405_and_own_liveness() {
    let r = Running::start(|c| c.telemetry_path = "/m".into()).await;
    let page = r.get("/", &[]).await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    for path in [
        "/m",
        "/health",
        "/health/ready",
        "/health/live",
        "/-/healthy",
    ] {
        assert!(page.text().contains(&format!("href=\"{path}\"")), "{path}");
    }
    assert_eq!(r.get("/-/healthy", &[]).await.status, 200);
    assert_eq!(r.get("/m", &[]).await.status, 200);

    let (status, body) = r.json("/metrics").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "not found");
    assert_eq!(body["path"], "/metrics");
    assert_eq!(
        body["available_endpoints"],
        serde_json::json!([
            "/",
            "/m",
            "/health",
            "/health/ready",
            "/health/live",
            "/-/healthy"
        ])
    );

    let mut s = tokio::net::TcpStream::connect(r.exporter.http_addr())
        .await
        .unwrap();
    s.write_all(b"POST /m HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    assert!(raw.starts_with("HTTP/1.1 405"), "{raw}");
    assert!(
        raw.to_ascii_lowercase().contains("allow: get, head"),
        "{raw}"
    );
    assert!(raw.contains("\"error\":\"method not allowed\""), "{raw}");
    r.exporter.shutdown().await;
}

#[tokio::test]
async fn shutdown_removes_the_socket_and_closes_clients() {
    let r = Running::start(|_| {}).await;
    let path = r.exporter.socket_path().to_owned();
    let mut node = r.node().await;
    assert!(path.exists());
    let addr = r.exporter.http_addr();
    r.exporter.shutdown().await;
    assert!(!path.exists(), "socket removed");
    // The client sees its connection end.
    loop {
        match node.recv().await {
            None => break,
            Some(Frame::Error(_)) => continue,
            Some(other) => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "HTTP closed"
    );
}
