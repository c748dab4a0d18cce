//! The ingest side over a real Unix socket: every kind of misbehaviour gets a clear
//! `Reject` or `Error` frame and a counter, and a well-behaved client alongside carries on.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use dawn_exporter::{
    ConnectionResult, Eviction, IgnoredUpdate, Ingest, IngestConfig, IngestError, ProtocolError,
    SeriesRejection,
};
use dawn_proto::{
    Define, Frame, Health, HealthStatus, Heartbeat, Hello, HistogramValue, MetricKind, Value,
    encode_frame,
};
use support::{Client, Harness, TempDir, eventually};

/// The metrics these tests define, as any client might: the exporter knows no names.
mod defs {
    use dawn_proto::{Define, MetricKind};

    fn define(id: u32, name: &str, kind: MetricKind, labels: &[&str], buckets: &[f64]) -> Define {
        Define {
            id,
            name: name.into(),
            help: format!("Test metric {name}."),
            kind,
            label_names: labels.iter().map(|l| (*l).to_owned()).collect(),
            buckets: buckets.to_vec(),
        }
    }

    /// `jobs_total{status}`, a counter.
    pub(super) fn jobs_total(id: u32) -> Define {
        define(id, "jobs_total", MetricKind::Counter, &["status"], &[])
    }

    /// `tasks_total{kind, status}`, a counter with two labels.
    pub(super) fn tasks_total(id: u32) -> Define {
        define(
            id,
            "tasks_total",
            MetricKind::Counter,
            &["kind", "status"],
            &[],
        )
    }

    /// `queue_depth`, a gauge without labels.
    pub(super) fn queue_depth(id: u32) -> Define {
        define(id, "queue_depth", MetricKind::Gauge, &[], &[])
    }

    /// `worker_state{worker}`, a gauge with one label.
    pub(super) fn worker_state(id: u32) -> Define {
        define(id, "worker_state", MetricKind::Gauge, &["worker"], &[])
    }

    /// `job_duration_seconds{kind}`, a histogram of 11 bounds (12 buckets with +Inf).
    pub(super) fn job_duration_seconds(id: u32) -> Define {
        let bounds = [
            0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ];
        define(
            id,
            "job_duration_seconds",
            MetricKind::Histogram,
            &["kind"],
            &bounds,
        )
    }
}

/// A client that defines `jobs_total{status="success"}` = 1.
async fn bystander(h: &Harness) -> Client {
    let mut c = h.node("bystander").await;
    c.define(defs::jobs_total(0)).await;
    c.series(0, 0, &["success"]).await;
    c.batch(vec![(0, Value::Counter(1))]).await;
    eventually("the bystander's first value", || {
        h.render().contains("jobs_total{status=\"success\"} 1\n")
    })
    .await;
    c
}

/// The bystander still gets through, and nothing it sent was refused.
async fn bystander_unaffected(h: &Harness, mut c: Client) {
    c.batch(vec![(0, Value::Counter(2))]).await;
    eventually("the bystander's next value", || {
        h.render().contains("jobs_total{status=\"success\"} 2\n")
    })
    .await;
    c.goodbye_clean().await;
}

fn hello(node: &str) -> Hello {
    Hello::new("dawn-node", "0.1.0", node, 1, 1, 1000)
}

#[tokio::test]
async fn garbage_bytes_are_malformed() {
    let h = Harness::start().await;
    let good = bystander(&h).await;
    let mut bad = h.connect().await;
    // A plausible length, then a body that is no Frame (variant index 200).
    bad.send_raw(&[3, 0, 0, 0, 200, 1, 2]).await;
    bad.expect_reject("malformed").await;
    assert_eq!(h.metrics.protocol_errors(ProtocolError::Malformed), 1);
    assert_eq!(h.metrics.connections(ConnectionResult::Rejected), 1);
    bystander_unaffected(&h, good).await;
    h.stop().await;
}

#[tokio::test]
async fn four_gib_length_prefix_is_refused_at_once() {
    let h = Harness::start().await;
    let good = bystander(&h).await;
    let mut bad = h.node("big").await;
    bad.send_raw(&u32::MAX.to_le_bytes()).await;
    let reason = bad.expect_reject("frame_too_large").await;
    assert!(
        reason.contains("4294967295 exceeds the limit of 1048576"),
        "{reason}"
    );
    assert_eq!(h.metrics.protocol_errors(ProtocolError::FrameTooLarge), 1);
    bystander_unaffected(&h, good).await;
    h.stop().await;
}

#[tokio::test]
async fn configured_frame_limit_applies() {
    let h = Harness::with(|c, _| c.max_frame_bytes = 64).await;
    let mut c = h.node("n").await;
    let long = Define {
        help: "x".repeat(100),
        ..defs::queue_depth(0)
    };
    c.define(long).await;
    c.expect_reject("frame_too_large").await;
    h.stop().await;
}

#[tokio::test]
async fn truncated_frame_at_eof_is_counted() {
    let h = Harness::start().await;
    let good = bystander(&h).await;
    let mut bad = h.node("cut").await;
    let mut bytes = Vec::new();
    encode_frame(&Frame::Define(defs::queue_depth(0)), &mut bytes).unwrap();
    bad.send_raw(&bytes[..bytes.len() - 3]).await;
    bad.stream.shutdown().await.unwrap();
    // The exporter still answers on the open half.
    bad.expect_reject("truncated").await;
    assert_eq!(h.metrics.protocol_errors(ProtocolError::Truncated), 1);
    bystander_unaffected(&h, good).await;
    h.stop().await;
}

#[tokio::test]
async fn wrong_magic_and_unsupported_version_are_rejected() {
    let h = Harness::start().await;
    let good = bystander(&h).await;

    let mut c = h.connect().await;
    c.send(Frame::Hello(Hello {
        magic: 0x1234_5678,
        ..hello("m")
    }))
    .await;
    c.expect_reject("bad_magic").await;

    let mut c = h.connect().await;
    c.send(Frame::Hello(Hello {
        min_version: 7,
        max_version: 9,
        ..hello("v")
    }))
    .await;
    let reason = c.expect_reject("unsupported_version").await;
    assert!(reason.contains("client speaks 7..=9"), "{reason}");

    assert_eq!(h.metrics.protocol_errors(ProtocolError::BadMagic), 1);
    assert_eq!(
        h.metrics.protocol_errors(ProtocolError::UnsupportedVersion),
        1
    );
    assert_eq!(h.metrics.connections(ConnectionResult::Rejected), 2);
    assert_eq!(h.metrics.connections(ConnectionResult::Accepted), 1);
    bystander_unaffected(&h, good).await;
    h.stop().await;
}

#[tokio::test]
async fn first_frame_must_be_hello() {
    let h = Harness::start().await;
    let mut c = h.connect().await;
    c.send(Frame::Ready(true)).await;
    c.expect_reject("the first frame must be Hello, got ready")
        .await;
    assert_eq!(h.metrics.protocol_errors(ProtocolError::UnexpectedFrame), 1);
    h.stop().await;
}

#[tokio::test]
async fn updates_for_undefined_ids_get_errors_and_the_session_goes_on() {
    let h = Harness::start().await;
    let mut c = h.node("n").await;
    c.batch(vec![(42, Value::Counter(1))]).await;
    c.expect_error("unknown_id", "series id 42").await;
    c.series(1, 9, &[]).await;
    c.expect_error("unknown_id", "metric id 9").await;
    assert_eq!(h.metrics.protocol_errors(ProtocolError::UnknownId), 2);
    // Still served.
    c.define(defs::queue_depth(0)).await;
    c.series(0, 0, &[]).await;
    c.batch(vec![(0, Value::Gauge(3.0))]).await;
    eventually("queue_depth 3", || h.render().contains("queue_depth 3\n")).await;
    c.goodbye_clean().await;
    h.stop().await;
}

#[tokio::test]
async fn conflicting_definition_is_refused_and_its_updates_ignored() {
    let h = Harness::start().await;
    let mut first = h.node("a").await;
    first.define(defs::queue_depth(0)).await;
    first.series(0, 0, &[]).await;
    first.batch(vec![(0, Value::Gauge(2.0))]).await;
    eventually("queue_depth 2", || h.render().contains("queue_depth 2\n")).await;

    let mut second = h.node("b").await;
    second
        .define(Define {
            label_names: vec!["zone".into()],
            ..defs::queue_depth(0)
        })
        .await;
    let message = second
        .expect_error("conflicting_definition", "queue_depth")
        .await;
    assert!(message.contains("labels [zone] differ"), "{message}");
    second.series(0, 0, &["eu"]).await;
    second.batch(vec![(0, Value::Gauge(100.0))]).await;
    eventually("the ignored update is counted", || {
        h.metrics
            .ignored_updates_count(IgnoredUpdate::RefusedSeries)
            == 1
    })
    .await;
    assert_eq!(
        h.metrics
            .protocol_errors(ProtocolError::ConflictingDefinition),
        1
    );
    assert_eq!(
        h.metrics
            .rejected_series_count(SeriesRejection::RefusedMetric),
        1
    );
    assert!(h.render().contains("queue_depth 2\n"));
    second.goodbye_clean().await;
    bystander_unaffected_gauge(&h, first).await;
    h.stop().await;
}

async fn bystander_unaffected_gauge(h: &Harness, mut c: Client) {
    c.batch(vec![(0, Value::Gauge(5.0))]).await;
    eventually("queue_depth 5", || h.render().contains("queue_depth 5\n")).await;
    c.goodbye_clean().await;
}

#[tokio::test]
async fn invalid_names_and_reserved_names_are_refused() {
    let h = Harness::start().await;
    let mut c = h.node("n").await;
    c.define(Define {
        name: "bad-name".into(),
        ..defs::queue_depth(0)
    })
    .await;
    c.expect_error("invalid_metric_name", "\"bad-name\"").await;
    c.define(Define {
        label_names: vec!["__x".into()],
        ..defs::queue_depth(1)
    })
    .await;
    c.expect_error("invalid_label_name", "reserved").await;
    c.define(Define {
        name: "dawn_exporter_clients".into(),
        ..defs::queue_depth(2)
    })
    .await;
    c.expect_error("reserved_name", "dawn_exporter_clients")
        .await;
    assert_eq!(
        h.metrics.protocol_errors(ProtocolError::InvalidMetricName),
        1
    );
    assert_eq!(
        h.metrics.protocol_errors(ProtocolError::InvalidLabelName),
        1
    );
    assert_eq!(h.metrics.protocol_errors(ProtocolError::ReservedName), 1);
    c.goodbye_clean().await;
    h.stop().await;
}

#[tokio::test]
async fn label_count_mismatch_is_refused() {
    let h = Harness::start().await;
    let good = bystander(&h).await;
    let mut c = h.node("n").await;
    c.define(defs::tasks_total(0)).await;
    c.series(0, 0, &["request"]).await;
    c.expect_error(
        "label_mismatch",
        "1 label values for 2 label names (kind, status)",
    )
    .await;
    assert_eq!(h.metrics.protocol_errors(ProtocolError::LabelMismatch), 1);
    assert_eq!(
        h.metrics
            .rejected_series_count(SeriesRejection::InvalidLabels),
        1
    );
    c.goodbye_clean().await;
    bystander_unaffected(&h, good).await;
    h.stop().await;
}

#[tokio::test]
async fn nan_histogram_sum_is_refused() {
    let h = Harness::start().await;
    let mut c = h.node("n").await;
    c.define(defs::job_duration_seconds(0)).await;
    c.series(0, 0, &["parse"]).await;
    let mut buckets = vec![0; 12];
    buckets[0] = 1;
    c.batch(vec![(
        0,
        Value::Histogram(HistogramValue {
            count: 1,
            sum: f64::NAN,
            buckets,
        }),
    )])
    .await;
    let message = c
        .expect_error("invalid_value", "histogram sum is NaN")
        .await;
    assert!(
        message.contains("job_duration_seconds{kind=\"parse\"}"),
        "{message}"
    );
    assert_eq!(h.metrics.protocol_errors(ProtocolError::InvalidValue), 1);
    assert!(!h.render().contains("job_duration_seconds"));
    c.goodbye_clean().await;
    h.stop().await;
}

#[tokio::test]
async fn counter_going_backwards_is_refused() {
    let h = Harness::start().await;
    let mut c = h.node("n").await;
    c.define(defs::jobs_total(0)).await;
    c.series(0, 0, &["failed"]).await;
    c.batch(vec![(0, Value::Counter(9))]).await;
    c.batch(vec![(0, Value::Counter(4))]).await;
    c.expect_error(
        "counter_decrease",
        "jobs_total{status=\"failed\"} went backwards",
    )
    .await;
    assert_eq!(h.metrics.protocol_errors(ProtocolError::CounterDecrease), 1);
    assert!(h.render().contains("jobs_total{status=\"failed\"} 9\n"));
    assert_eq!(h.metrics.records_applied(), 1);
    c.goodbye_clean().await;
    h.stop().await;
}

#[tokio::test]
async fn series_over_the_cap_are_refused() {
    let h = Harness::with(|_, limits| {
        limits.max_series = 2;
        limits.max_series_per_metric = 10;
    })
    .await;
    let mut c = h.node("n").await;
    c.define(defs::jobs_total(0)).await;
    for (id, status) in ["success", "failed", "rejected"].iter().enumerate() {
        c.series(id as u32, 0, &[status]).await;
    }
    c.expect_error("max_series", "--store.max-series").await;
    c.batch(vec![
        (0, Value::Counter(1)),
        (1, Value::Counter(1)),
        (2, Value::Counter(1)),
    ])
    .await;
    eventually("two values applied", || h.metrics.records_applied() == 2).await;
    assert_eq!(
        h.metrics.rejected_series_count(SeriesRejection::MaxSeries),
        1
    );
    assert_eq!(
        h.metrics
            .ignored_updates_count(IgnoredUpdate::RefusedSeries),
        1
    );
    assert_eq!(h.store.series_count(), 2);
    c.goodbye_clean().await;
    h.stop().await;
}

/// A `Hello` for node `node`.
fn hello_of(node: &str) -> Frame {
    Frame::Hello(Hello::new("dawn-node", "0.1.0", node, 1, 1, 1000))
}

#[tokio::test]
async fn clients_over_the_limit_are_rejected_while_all_are_active() {
    let h = Harness::with(|c, _| c.max_clients = 2).await;
    let mut a = h.node("a").await;
    let mut b = h.node("b").await;
    // Both have sent a whole frame since their Hello, just now.
    a.send(Frame::Ready(true)).await;
    b.send(Frame::Ready(true)).await;
    eventually("both frames read", || h.metrics.frames("ready") == 2).await;
    // Connecting takes no slot; saying Hello does.
    let mut c = h.connect().await;
    c.send(hello_of("c")).await;
    c.expect_reject("client_limit").await;
    assert_eq!(h.metrics.protocol_errors(ProtocolError::ClientLimit), 1);
    assert_eq!(h.metrics.connections(ConnectionResult::Rejected), 1);
    a.goodbye_clean().await;
    // A slot is free again.
    eventually("a's slot freed", || h.metrics.clients() == 1).await;
    let d = h.node("d").await;
    d.goodbye_clean().await;
    b.goodbye_clean().await;
    h.stop().await;
}

#[tokio::test]
async fn at_the_limit_a_client_silent_since_its_hello_gives_way() {
    let h = Harness::with(|c, _| c.max_clients = 2).await;
    let mut active = h.node("active").await;
    active.send(Frame::Ready(true)).await;
    eventually("its frame read", || h.metrics.frames("ready") == 1).await;
    let mut idle = h.node("idle").await;
    let newcomer = h.node("newcomer").await;
    idle.expect_reject("client_limit: no whole frame for").await;
    assert_eq!(h.metrics.evicted_count(Eviction::ClientLimit), 1);
    eventually("two clients", || h.metrics.clients() == 2).await;
    newcomer.goodbye_clean().await;
    active.goodbye_clean().await;
    h.stop().await;
}

#[tokio::test]
async fn a_client_that_never_says_hello_is_disconnected() {
    let h = Harness::with(|c, _| c.handshake_timeout = Duration::from_millis(500)).await;
    let good = bystander(&h).await;
    let mut silent = h.connect().await;
    silent.expect_reject("handshake_timeout").await;
    assert_eq!(
        h.metrics.protocol_errors(ProtocolError::HandshakeTimeout),
        1
    );
    bystander_unaffected(&h, good).await;
    h.stop().await;
}

#[tokio::test]
async fn silent_and_stalled_clients_are_disconnected() {
    let h = Harness::with(|c, _| c.idle_timeout = Duration::from_millis(300)).await;
    let mut idle = h.node("idle").await;
    idle.expect_reject("idle_timeout").await;
    // Hello and the start of a frame in one write, so the stall begins at once.
    let mut stalled = h.connect().await;
    let mut bytes = Vec::new();
    encode_frame(&Frame::Hello(hello("stalled")), &mut bytes).unwrap();
    bytes.extend_from_slice(&[10, 0, 0, 0, 1]);
    stalled.send_raw(&bytes).await;
    assert!(matches!(stalled.recv().await, Some(Frame::Welcome(_))));
    stalled.expect_reject("stalled").await;
    assert_eq!(h.metrics.protocol_errors(ProtocolError::IdleTimeout), 1);
    assert_eq!(h.metrics.protocol_errors(ProtocolError::Stalled), 1);
    eventually("both gone", || h.metrics.clients() == 0).await;
    h.stop().await;
}

#[tokio::test]
async fn health_ready_heartbeat_and_goodbye() {
    let h = Harness::start().await;
    let mut c = h.node("n1").await;
    c.send(Frame::Health(Health {
        check: "peers".into(),
        status: HealthStatus::Degraded,
        message: "1 peer".into(),
        details: vec![],
    }))
    .await;
    c.send(Frame::Ready(true)).await;
    c.send(Frame::Heartbeat(Heartbeat {
        uptime_ms: 10,
        dropped: 4,
    }))
    .await;
    c.send(Frame::Heartbeat(Heartbeat {
        uptime_ms: 20,
        dropped: 6,
    }))
    .await;
    let now = std::time::Instant::now;
    eventually("ready", || {
        h.health.readiness(now()) == dawn_exporter::Readiness::Ready
    })
    .await;
    eventually("dropped records", || {
        h.metrics.client_dropped_records_total() == 6
    })
    .await;
    let report = h.health.report_at(now());
    assert_eq!(report.checks["peers"].status, HealthStatus::Degraded);
    assert!(h.health.node_up(now()));
    assert_eq!(h.metrics.clients(), 1);
    c.goodbye_clean().await;
    eventually("disconnected", || h.metrics.clients() == 0).await;
    assert!(!h.health.node_up(now()));
    h.stop().await;
}

#[tokio::test]
async fn reconnect_of_the_same_incarnation_keeps_totals_new_one_resets() {
    let h = Harness::start().await;
    let mut c = h.node("n1").await;
    c.define(defs::jobs_total(0)).await;
    c.series(0, 0, &["success"]).await;
    c.batch(vec![(0, Value::Counter(10))]).await;
    eventually("10", || h.render().contains("} 10\n")).await;
    drop(c);
    eventually("disconnected", || h.metrics.clients() == 0).await;
    assert!(h.render().contains("} 10\n"), "totals survive a disconnect");

    let c = h.node("n1").await;
    assert!(
        h.render().contains("} 10\n"),
        "same incarnation keeps totals"
    );
    c.goodbye_clean().await;

    let mut c = h.connect().await;
    c.hello(Hello::new("dawn-node", "0.1.0", "n1", 2, 1, 1000))
        .await;
    assert_eq!(h.render(), "", "a new incarnation resets");
    c.goodbye_clean().await;
    h.stop().await;
}

#[tokio::test]
async fn unexpected_frames_after_handshake_are_errors() {
    let h = Harness::start().await;
    let mut c = h.node("n").await;
    c.send(Frame::Hello(hello("n"))).await;
    c.expect_error("unexpected_frame", "hello").await;
    c.define(defs::queue_depth(0)).await;
    c.define(Define {
        name: "other".into(),
        kind: MetricKind::Gauge,
        ..defs::queue_depth(0)
    })
    .await;
    c.expect_error(
        "duplicate_id",
        "metric id 0 is already defined as queue_depth",
    )
    .await;
    c.goodbye_clean().await;
    h.stop().await;
}

#[tokio::test]
async fn stale_socket_file_is_replaced_and_removed_on_shutdown() {
    let dir = TempDir::new("stale");
    let path = dir.path().join("t.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists(), "a dead exporter's socket file");
    let h = Harness::with(|c, _| c.socket = path.clone()).await;
    let c = h.node("n").await;
    c.goodbye_clean().await;
    h.stop().await;
    assert!(!path.exists(), "socket removed on shutdown");
}

#[tokio::test]
async fn a_live_socket_is_not_taken() {
    let h = Harness::start().await;
    let config = IngestConfig {
        socket: h.socket.clone(),
        ..IngestConfig::default()
    };
    let err = Ingest::bind(config, h.store.clone(), h.health.clone(), h.metrics.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, IngestError::InUse { .. }));
    assert!(
        err.to_string().contains(&format!(
            "socket {} is served by a running exporter",
            h.socket.display()
        )),
        "{err}"
    );
    // The first exporter still works.
    let c = h.node("n").await;
    c.goodbye_clean().await;
    h.stop().await;
}

#[tokio::test]
async fn a_regular_file_is_not_replaced() {
    let dir = TempDir::new("file");
    let path = dir.path().join("t.sock");
    std::fs::write(&path, b"keep me").unwrap();
    let h = Harness::start().await;
    let config = IngestConfig {
        socket: path.clone(),
        ..IngestConfig::default()
    };
    let err = Ingest::bind(config, h.store.clone(), h.health.clone(), h.metrics.clone())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is not a socket"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
    h.stop().await;
}

#[tokio::test]
async fn missing_directory_is_created_with_modes() {
    let dir = TempDir::new("mkdir");
    let socket_dir = dir.path().join("a/b");
    let path = socket_dir.join("t.sock");
    let h = Harness::with(|c, _| c.socket = path.clone()).await;
    let dir_mode = std::fs::metadata(&socket_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o750);
    let sock_mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(sock_mode, 0o660);
    h.stop().await;
}

#[tokio::test]
async fn an_impossible_directory_is_a_clear_error() {
    let dir = TempDir::new("nodir");
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"").unwrap();
    let path = blocker.join("sub/t.sock");
    let h = Harness::start().await;
    let config = IngestConfig {
        socket: path,
        ..IngestConfig::default()
    };
    let err = Ingest::bind(config, h.store.clone(), h.health.clone(), h.metrics.clone())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "cannot create the socket directory {}",
            blocker.join("sub").display()
        )),
        "{err}"
    );
    h.stop().await;
}

#[tokio::test]
async fn flood_of_definitions_disconnects() {
    let h = Harness::with(|c, _| c.max_series_ids = 3).await;
    let mut c = h.node("n").await;
    c.define(defs::worker_state(0)).await;
    for i in 0..4 {
        c.series(i, 0, &[&format!("p{i}")]).await;
    }
    c.expect_reject("flood").await;
    assert_eq!(h.metrics.protocol_errors(ProtocolError::Flood), 1);
    eventually("holds released", || h.store.series_count() == 0).await;
    h.stop().await;
}

#[tokio::test]
async fn silent_connections_give_way_to_new_ones_and_take_no_client_slot() {
    let h = Harness::with(|c, _| {
        c.max_pending = 2;
        c.max_clients = 1;
    })
    .await;
    let mut oldest = h.connect().await;
    let _second = h.connect().await;
    let _third = h.connect().await;
    oldest
        .expect_reject("pending_limit: the oldest connection")
        .await;
    assert_eq!(h.metrics.evicted_count(Eviction::PendingLimit), 1);
    // Two silent connections are still pending, yet the one client slot is free.
    let node = h.node("n").await;
    assert_eq!(h.metrics.clients(), 1);
    node.goodbye_clean().await;
    h.stop().await;
}
