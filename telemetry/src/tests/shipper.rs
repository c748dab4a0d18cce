use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::specs::PEERS;
use dawn_proto::{Frame, HealthStatus, MetricKind, Value};

use crate::testing::{Answer, FakeExporter, PATIENCE, TempDir, View, eventually, fast_config};
use crate::{
    DEFAULT_SECONDS_BUCKETS, MetricSpec, OVERFLOW_LABEL_VALUE, ShutdownOutcome, Telemetry,
    TelemetryConfig,
};

const EVENTS: MetricSpec = MetricSpec {
    name: "test_events_total",
    help: "Test events.",
    kind: MetricKind::Counter,
    labels: &["kind"],
    buckets: &[],
    native: None,
};

const DURATIONS: MetricSpec = MetricSpec {
    name: "test_duration_seconds",
    help: "Test durations.",
    kind: MetricKind::Histogram,
    labels: &[],
    buckets: DEFAULT_SECONDS_BUCKETS,
    native: None,
};

fn view() -> Arc<Mutex<View>> {
    Arc::new(Mutex::new(View::default()))
}

#[test]
fn handshake_then_definitions_snapshot_and_cumulative_batches() {
    let dir = TempDir::new();
    let exporter = FakeExporter::start(&dir.socket(), Answer::Welcome, view());
    let t = Telemetry::start(fast_config(&dir.socket(), "node-a")).unwrap();
    let events = t.counter(&EVENTS);
    let a = events.with_labels(&["a"]);
    a.add(5);
    t.gauge(&PEERS).handle().set(3.0);
    t.set_health("storage", HealthStatus::Healthy, "ok", vec![])
        .unwrap();

    exporter.wait("snapshot", |v| {
        v.counter("test_events_total", &["a"]) == Some(5) && v.health.contains_key("storage")
    });
    assert!(t.is_connected());
    {
        let v = exporter.view();
        let hello = &v.hellos[0];
        assert_eq!(hello.node_id, "node-a");
        assert_eq!(hello.client_name, "dawn-node");
        assert_eq!(hello.incarnation, t.incarnation());
        assert_eq!(hello.pid, std::process::id());
        assert_eq!(hello.flush_interval_ms, 20);
        assert_eq!(v.value("test_peers", &[]), Some(&Value::Gauge(3.0)));
        assert_eq!(v.ready, Some(false));
        let conn = v.frames[0].0;
        let kinds = v.kinds_of_frames(conn);
        assert_eq!(
            &kinds[..6],
            &["hello", "define", "series", "define", "series", "batch"],
            "{kinds:?}"
        );
    }

    for _ in 0..10 {
        a.inc();
    }
    events.with_labels(&["b"]).inc();
    exporter.wait("cumulative totals", |v| {
        v.counter("test_events_total", &["a"]) == Some(15)
            && v.counter("test_events_total", &["b"]) == Some(1)
            && v.last_heartbeat.is_some()
    });
    assert_eq!(t.shutdown(), ShutdownOutcome::Delivered);
    exporter.wait("goodbye", |v| v.goodbyes == 1);
    let v = exporter.view();
    assert!(v.violations.is_empty(), "{:?}", v.violations);
    assert_eq!(v.hellos.len(), 1);
}

#[test]
fn exact_totals_survive_exporter_restarts() {
    let dir = TempDir::new();
    let shared = view();
    let mut exporter = FakeExporter::start(&dir.socket(), Answer::Welcome, shared.clone());
    let t = Telemetry::start(fast_config(&dir.socket(), "node-r")).unwrap();
    let counter = t.counter(&EVENTS).with_labels(&["x"]);
    let histogram = t.histogram(&DURATIONS).handle();

    let stop = Arc::new(AtomicBool::new(false));
    let recorder = {
        let (counter, histogram, stop) = (counter.clone(), histogram.clone(), stop.clone());
        std::thread::spawn(move || {
            let (mut n, mut sum) = (0u64, 0f64);
            while !stop.load(Ordering::SeqCst) {
                let v = (n % 7) as f64 * 0.01;
                counter.inc();
                histogram.observe(v);
                n += 1;
                sum += v;
                if n % 100 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            (n, sum)
        })
    };
    for round in 0..4 {
        eventually("connected", || t.sessions() > round);
        exporter.kill();
        let tried = t.connect_attempts();
        eventually("a reconnect attempt while the exporter is down", || {
            t.connect_attempts() > tried
        });
        exporter = FakeExporter::start(&dir.socket(), Answer::Welcome, shared.clone());
    }
    eventually("fifth session", || t.sessions() == 5);
    stop.store(true, Ordering::SeqCst);
    let (n, expected_sum) = recorder.join().unwrap();
    assert!(n > 1000, "recorded only {n}");

    exporter.wait("exact totals after restarts", |v| {
        let h = match v.value("test_duration_seconds", &[]) {
            Some(Value::Histogram(h)) => h.clone(),
            _ => return false,
        };
        v.counter("test_events_total", &["x"]) == Some(n)
            && h.count == n
            && (h.sum - expected_sum).abs() < 1e-6
    });
    let v = exporter.view();
    assert!(v.violations.is_empty(), "{:?}", v.violations);
    assert_eq!(v.hellos.len(), 5);
    assert!(v.hellos.iter().all(|h| h.incarnation == t.incarnation()));
    drop(v);
    assert_eq!(t.dropped(), 0);
}

#[test]
fn idle_unreferenced_series_are_retired_and_held_ones_kept() {
    let dir = TempDir::new();
    let exporter = FakeExporter::start(&dir.socket(), Answer::Welcome, view());
    let t = Telemetry::start(TelemetryConfig {
        series_ttl: Duration::from_millis(200),
        ..fast_config(&dir.socket(), "node-ttl")
    })
    .unwrap();
    let events = t.counter(&EVENTS);
    let held = events.with_labels(&["held"]);
    held.inc();
    events.with_labels(&["gone"]).add(2);
    exporter.wait("retired", |v| !v.retired.is_empty());
    // Two more passes: the held series, as idle as the retired one, had its chances too.
    let passes = t.flush_passes();
    eventually("two more passes", || t.flush_passes() >= passes + 2);
    let v = exporter.view();
    assert!(v.had("test_events_total", &["gone"], &Value::Counter(2)));
    assert_eq!(
        v.retired,
        vec![("test_events_total".to_owned(), vec!["gone".to_owned()])]
    );
    assert_eq!(v.counter("test_events_total", &["held"]), Some(1));
    assert!(v.violations.is_empty(), "{:?}", v.violations);
    drop(v);
    assert_eq!(events.series_count(), 1);

    // A retired label set used again starts a fresh series, which expires in turn.
    events.with_labels(&["gone"]).inc();
    exporter.wait("fresh series retired again", |v| v.retired.len() == 2);
    assert!(
        exporter
            .view()
            .had("test_events_total", &["gone"], &Value::Counter(1))
    );
}

#[test]
fn overflow_is_folded_into_marker_series_and_counted_in_heartbeats() {
    let dir = TempDir::new();
    let exporter = FakeExporter::start(&dir.socket(), Answer::Welcome, view());
    let t = Telemetry::start(TelemetryConfig {
        max_series_per_metric: 2,
        ..fast_config(&dir.socket(), "node-o")
    })
    .unwrap();
    let events = t.counter(&EVENTS);
    for label in ["a", "b", "c", "d", "e"] {
        events.with_labels(&[label]).add(10);
    }
    let histogram = t.histogram(&DURATIONS).handle();
    histogram.observe(f64::NAN);
    histogram.observe(0.5);
    assert_eq!(t.dropped(), 4);
    exporter.wait("overflow series and dropped count", |v| {
        v.counter("test_events_total", &[OVERFLOW_LABEL_VALUE]) == Some(30)
            && v.last_heartbeat.is_some_and(|h| h.dropped == 4)
    });
    let v = exporter.view();
    assert_eq!(v.counter("test_events_total", &["a"]), Some(10));
    assert_eq!(v.counter("test_events_total", &["c"]), None);
    match v.value("test_duration_seconds", &[]) {
        Some(Value::Histogram(h)) => assert_eq!((h.count, h.sum), (1, 0.5)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn health_and_ready_changes_are_sent_without_waiting_for_a_flush() {
    let dir = TempDir::new();
    let exporter = FakeExporter::start(&dir.socket(), Answer::Welcome, view());
    let t = Telemetry::start(TelemetryConfig {
        flush_interval: Duration::from_secs(60),
        ..fast_config(&dir.socket(), "node-h")
    })
    .unwrap();
    eventually("connected", || t.is_connected());
    let start = Instant::now();
    t.set_ready(true);
    t.set_health(
        "peers",
        HealthStatus::Degraded,
        "no peers connected",
        vec![],
    )
    .unwrap();
    exporter.wait("health and ready", |v| {
        v.ready == Some(true)
            && v.health
                .get("peers")
                .is_some_and(|h| h.status == HealthStatus::Degraded)
    });
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(
        t.set_health("not a name", HealthStatus::Healthy, "", vec![])
            .is_err(),
        "invalid check names are refused"
    );

    // Shutdown delivers what changed since the last flush, then Goodbye.
    let counter = t.counter(&EVENTS).with_labels(&["late"]);
    counter.add(7);
    t.set_ready(false);
    assert_eq!(t.shutdown(), ShutdownOutcome::Delivered);
    assert_eq!(t.shutdown(), ShutdownOutcome::Delivered, "idempotent");
    exporter.wait("final state", |v| {
        v.goodbyes == 1
            && v.ready == Some(false)
            && v.counter("test_events_total", &["late"]) == Some(7)
    });
    let v = exporter.view();
    let last = v.frames.last().map(|(_, f)| f.clone());
    assert_eq!(last, Some(Frame::Goodbye));
}

#[test]
fn reject_backs_off_and_a_later_exporter_is_joined() {
    let dir = TempDir::new();
    let shared = view();
    let exporter = FakeExporter::start(
        &dir.socket(),
        Answer::Reject("go away".into()),
        shared.clone(),
    );
    let t = Telemetry::start(fast_config(&dir.socket(), "node-x")).unwrap();
    t.counter(&EVENTS).with_labels(&["a"]).inc();
    exporter.wait("hello rejected", |v| !v.hellos.is_empty());
    eventually("the rejected attempt ended", || t.connect_attempts() >= 1);
    assert!(!t.is_connected());
    assert_eq!(t.sessions(), 0);
    exporter.kill();

    let exporter = FakeExporter::start(&dir.socket(), Answer::Welcome, shared);
    eventually("connected after reject", || t.is_connected());
    exporter.wait("snapshot", |v| {
        v.counter("test_events_total", &["a"]) == Some(1)
    });
}

#[test]
fn without_an_exporter_recording_works_and_nothing_blocks() {
    let dir = TempDir::new();
    let t = Telemetry::start(fast_config(&dir.socket(), "node-alone")).unwrap();
    let events = t.counter(&EVENTS);
    let start = Instant::now();
    let handle = events.with_labels(&["a"]);
    for _ in 0..1_000_000 {
        handle.inc();
    }
    for i in 0..1000 {
        events.with_labels(&[&format!("l{}", i % 10)]).inc();
    }
    t.set_health("storage", HealthStatus::Healthy, "ok", vec![])
        .unwrap();
    t.set_ready(true);
    assert!(start.elapsed() < PATIENCE);
    assert_eq!(handle.get(), 1_000_000);
    assert!(!t.is_connected());

    let start = Instant::now();
    assert_eq!(t.shutdown(), ShutdownOutcome::NotDelivered);
    assert!(start.elapsed() < Duration::from_secs(3));
    handle.inc();
    assert_eq!(handle.get(), 1_000_001, "handles outlive the shipper");
}

#[test]
fn a_silent_exporter_cannot_hold_up_shutdown() {
    let dir = TempDir::new();
    let _exporter = FakeExporter::start(&dir.socket(), Answer::Silent, view());
    let t = Telemetry::start(TelemetryConfig {
        handshake_timeout: Duration::from_millis(100),
        shutdown_timeout: Duration::from_millis(300),
        ..fast_config(&dir.socket(), "node-s")
    })
    .unwrap();
    t.counter(&EVENTS).with_labels(&["a"]).inc();
    eventually("the handshake timed out", || t.connect_attempts() >= 1);
    assert!(!t.is_connected());
    let start = Instant::now();
    let outcome = t.shutdown();
    assert_ne!(outcome, ShutdownOutcome::Delivered);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn independent_instances_each_keep_their_own_connection_and_totals() {
    let dir = TempDir::new();
    let exporter = FakeExporter::start(&dir.socket(), Answer::Welcome, view());
    let instances: Vec<Telemetry> = (0..20)
        .map(|i| Telemetry::start(fast_config(&dir.socket(), &format!("node-{i}"))).unwrap())
        .collect();
    for (i, t) in instances.iter().enumerate() {
        t.counter(&EVENTS).with_labels(&["a"]).add(i as u64 + 1);
    }
    for t in &instances {
        eventually("all connected", || t.is_connected());
    }
    exporter.wait("twenty hellos", |v| {
        let mut nodes: Vec<_> = v.hellos.iter().map(|h| h.node_id.clone()).collect();
        nodes.sort();
        nodes.dedup();
        nodes.len() == 20
    });
    for (i, t) in instances.iter().enumerate() {
        assert_eq!(t.counter(&EVENTS).with_labels(&["a"]).get(), i as u64 + 1);
        assert_eq!(t.sessions(), 1);
    }
    let mut incarnations: Vec<_> = instances.iter().map(Telemetry::incarnation).collect();
    incarnations.sort();
    incarnations.dedup();
    assert_eq!(incarnations.len(), 20);
    for t in &instances {
        assert_eq!(t.shutdown(), ShutdownOutcome::Delivered);
    }
    exporter.wait("twenty goodbyes", |v| v.goodbyes == 20);
}

#[test]
fn invalid_configuration_is_refused_with_every_problem() {
    let err = Telemetry::start(TelemetryConfig {
        flush_interval: Duration::ZERO,
        ..TelemetryConfig::new("/tmp/x.sock", "")
    })
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("node_id must not be empty"), "{text}");
    assert!(text.contains("flush_interval"), "{text}");
}

const NATIVE_DURATIONS: MetricSpec = MetricSpec {
    name: "test_native_duration_seconds",
    native: Some(crate::NativeConfig::DEFAULT),
    ..DURATIONS
};

/// The shipper sends a histogram's native buckets only to an exporter that chose protocol
/// version 2: a version 1 exporter (one from before native histograms) gets the classic
/// part alone, as tag 2, with the same count, sum and buckets, and no frame it cannot read.
/// With `native_histograms` off, none are recorded, so even version 2 gets tag 2.
#[test]
fn native_buckets_go_only_to_an_exporter_at_version_2() {
    for (answer, on, native) in [
        (Answer::WelcomeAt(2), true, true),
        (Answer::Welcome, true, false),
        (Answer::WelcomeAt(2), false, false),
    ] {
        let dir = TempDir::new();
        let exporter = FakeExporter::start(&dir.socket(), answer, view());
        let config = TelemetryConfig {
            native_histograms: on,
            ..fast_config(&dir.socket(), "node-n")
        };
        let t = Telemetry::start(config).unwrap();
        let h = t.histogram(&NATIVE_DURATIONS);
        for v in [0.001, 0.002, 0.25, 1.5] {
            h.handle().observe(v);
        }
        exporter.wait("the histogram", |v| {
            match v.value("test_native_duration_seconds", &[]) {
                Some(Value::NativeHistogram(n)) => native && n.classic.count == 4,
                Some(Value::Histogram(c)) => !native && c.count == 4,
                _ => false,
            }
        });
        let v = exporter.view();
        assert!(v.violations.is_empty(), "{:?}", v.violations);
        if let Some(Value::NativeHistogram(n)) = v.value("test_native_duration_seconds", &[]) {
            assert_eq!(n.native.schema, 3);
            assert_eq!(n.native.positive_counts.iter().sum::<u64>(), 4);
            assert_eq!(n.classic.sum, 0.001 + 0.002 + 0.25 + 1.5);
        }
    }
}

/// `max_protocol_version: 1` offers version 1 alone: welcomed at 1, the native histogram
/// goes classic only (tag 2). An exporter that welcomes such a client at 2 anyway broke the
/// protocol: no session starts and nothing is sent.
#[test]
fn a_client_capped_at_version_1_offers_it_alone() {
    let dir = TempDir::new();
    let exporter = FakeExporter::start(&dir.socket(), Answer::Welcome, view());
    let t = Telemetry::start(TelemetryConfig {
        max_protocol_version: 1,
        ..fast_config(&dir.socket(), "node-v1")
    })
    .unwrap();
    t.histogram(&NATIVE_DURATIONS).handle().observe(0.25);
    exporter.wait("the classic histogram", |v| {
        matches!(
            v.value("test_native_duration_seconds", &[]),
            Some(Value::Histogram(c)) if c.count == 1
        )
    });
    {
        let v = exporter.view();
        assert!(v.violations.is_empty(), "{:?}", v.violations);
        assert!(
            v.hellos.iter().all(|h| h.max_version == 1),
            "{:?}",
            v.hellos
        );
    }
    drop(t);

    let dir = TempDir::new();
    let exporter = FakeExporter::start(&dir.socket(), Answer::WelcomeAt(2), view());
    let t = Telemetry::start(TelemetryConfig {
        max_protocol_version: 1,
        ..fast_config(&dir.socket(), "node-v1")
    })
    .unwrap();
    eventually("two refused welcomes", || t.connect_attempts() >= 2);
    assert_eq!(t.sessions(), 0);
    let v = exporter.view();
    assert!(
        v.frames.iter().all(|(_, f)| matches!(f, Frame::Hello(_))),
        "{:?}",
        v.kinds_of_frames(0)
    );
}
