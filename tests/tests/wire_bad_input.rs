//! Bad input on the telemetry socket, sent to the real `dawn-exporter` as raw frames
//! (`dawn_proto::encode_frame` over a `UnixStream`). Each case checks the clear answer (a
//! `Reject` or `Error` frame naming the problem), the `reason` counter on `/metrics`, and that
//! a well-behaved client alongside keeps working.

use dawn_proto::{
    Batch, Define, ErrorReport, Frame, HistogramValue, MetricKind, SeriesDef, Update, Value,
};
use dawn_tests::support::wire::{Received, WellBehaved};
use dawn_tests::support::{Exporter, ExporterOptions, RawClient};

const DECODE_ERRORS: &str = "dawn_exporter_decode_errors_total";

/// Reads until the exporter closes; asserts it sent a `Reject` whose reason starts with
/// `reason:` and contains `text`. Returns the reason text.
#[track_caller]
fn expect_reject(client: &mut RawClient, reason: &str, text: &str) -> String {
    let frames = client.frames_until_closed();
    let rejects: Vec<&str> = frames
        .iter()
        .filter_map(|f| match f {
            Frame::Reject(r) => Some(r.reason.as_str()),
            _ => None,
        })
        .collect();
    match rejects.as_slice() {
        [r] => {
            assert!(
                r.starts_with(&format!("{reason}: ")) && r.contains(text),
                "Reject {r:?} should start with {reason:?} and contain {text:?}"
            );
            (*r).to_owned()
        }
        _ => panic!("expected one Reject ({reason}) before close, got {frames:?}"),
    }
}

/// Waits for an `Error` frame with `reason` whose message contains `text`; the connection
/// must stay open.
#[track_caller]
fn expect_error(client: &mut RawClient, reason: &str, text: &str) -> ErrorReport {
    match client.recv() {
        Received::Frame(Frame::Error(e)) => {
            assert_eq!(e.reason, reason, "{e:?}");
            assert!(e.message.contains(text), "{e:?} should contain {text:?}");
            assert!(
                !client.is_closed(),
                "an Error frame must not close the session"
            );
            e
        }
        other => panic!("expected Error({reason}), got {other:?}"),
    }
}

/// Waits until `dawn_exporter_decode_errors_total{reason}` is `want`.
#[track_caller]
fn expect_counted(exporter: &Exporter, reason: &str, want: f64) {
    exporter.eventually_metrics(
        &format!("{DECODE_ERRORS}{{reason={reason:?}}} == {want}"),
        |m| match m.get_or_zero(DECODE_ERRORS, &[("reason", reason)]) {
            v if v == want => Ok(()),
            v => Err(format!("it is {v}")),
        },
    );
}

fn define(id: u32, name: &str, kind: MetricKind, labels: &[&str], buckets: &[f64]) -> Frame {
    Frame::Define(Define {
        id,
        name: name.into(),
        help: "Test metric.".into(),
        kind,
        label_names: labels.iter().map(|s| (*s).to_owned()).collect(),
        buckets: buckets.to_vec(),
    })
}

fn series(id: u32, metric: u32, values: &[&str]) -> Frame {
    Frame::Series(SeriesDef {
        id,
        metric,
        label_values: values.iter().map(|s| (*s).to_owned()).collect(),
    })
}

fn batch(seq: u64, updates: Vec<(u32, Value)>) -> Frame {
    Frame::Batch(Batch {
        seq,
        updates: updates
            .into_iter()
            .map(|(series, value)| Update { series, value })
            .collect(),
    })
}

/// One framed body.
fn framed(body: &[u8]) -> Vec<u8> {
    let mut wire = (body.len() as u32).to_le_bytes().to_vec();
    wire.extend_from_slice(body);
    wire
}

#[test]
fn garbage_bytes_are_rejected_and_counted_as_malformed() {
    let exporter = Exporter::start();
    let mut good = WellBehaved::connect(&exporter, "good");

    let mut bad = RawClient::connect(&exporter.socket);
    bad.send_bytes(&framed(&[0xff, 0x13, 0x37, 0x00, 0xaa]));
    expect_reject(&mut bad, "malformed", "malformed frame of 5 bytes");
    expect_counted(&exporter, "malformed", 1.0);

    good.bump_and_check(&exporter);
}

#[test]
fn an_http_request_on_the_socket_is_a_frame_too_large() {
    // "GET " read as a little-endian length is 0x20544547 bytes: far above the limit.
    let exporter = Exporter::start();
    let mut good = WellBehaved::connect(&exporter, "good");

    let mut bad = RawClient::connect(&exporter.socket);
    bad.send_bytes(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_reject(&mut bad, "frame_too_large", "exceeds the limit");
    expect_counted(&exporter, "frame_too_large", 1.0);

    good.bump_and_check(&exporter);
}

#[test]
fn a_4_gib_length_prefix_is_refused_at_once() {
    let exporter = Exporter::start();
    let mut good = WellBehaved::connect(&exporter, "good");

    // After a good handshake, so the session is active: still fatal, still answered.
    let mut bad = RawClient::handshake(&exporter.socket, "bad", 1);
    bad.send_bytes(&u32::MAX.to_le_bytes());
    // No body follows: the exporter must not wait for 4 GiB.
    expect_reject(&mut bad, "frame_too_large", "4294967295");
    expect_counted(&exporter, "frame_too_large", 1.0);

    good.bump_and_check(&exporter);
}

#[test]
fn a_frame_cut_off_by_disconnect_is_counted_as_truncated() {
    let exporter = Exporter::start();
    let mut good = WellBehaved::connect(&exporter, "good");

    let mut bad = RawClient::handshake(&exporter.socket, "bad", 1);
    let mut bytes = Vec::new();
    dawn_proto::encode_frame(
        &define(1, "cut_total", MetricKind::Counter, &[], &[]),
        &mut bytes,
    )
    .expect("encode");
    bad.send_bytes(&bytes[..bytes.len() - 3]);
    bad.shutdown_write();
    // The exporter closes its side; the connection's stream ended inside a frame.
    bad.frames_until_closed();
    expect_counted(&exporter, "truncated", 1.0);

    good.bump_and_check(&exporter);
}

#[test]
fn trailing_bytes_in_a_frame_are_rejected() {
    let exporter = Exporter::start();
    let mut good = WellBehaved::connect(&exporter, "good");

    let mut bad = RawClient::handshake(&exporter.socket, "bad", 1);
    let mut bytes = Vec::new();
    dawn_proto::encode_frame(&Frame::Ready(true), &mut bytes).expect("encode");
    let mut body = bytes[4..].to_vec();
    body.extend_from_slice(&[0, 0]);
    bad.send_bytes(&framed(&body));
    expect_reject(&mut bad, "trailing_bytes", "2 trailing bytes");
    expect_counted(&exporter, "trailing_bytes", 1.0);

    good.bump_and_check(&exporter);
}

#[test]
fn wrong_magic_is_rejected_by_name() {
    let exporter = Exporter::start();
    let mut good = WellBehaved::connect(&exporter, "good");

    let mut bad = RawClient::connect(&exporter.socket);
    let mut hello = RawClient::hello_frame("bad", 1);
    hello.magic = 0x4854_5450; // "HTTP"
    bad.send(&Frame::Hello(hello));
    expect_reject(&mut bad, "bad_magic", "not a Dawn telemetry client");
    expect_counted(&exporter, "bad_magic", 1.0);

    good.bump_and_check(&exporter);
}

#[test]
fn an_unsupported_version_is_rejected_naming_both_ranges() {
    let exporter = Exporter::start();
    let mut good = WellBehaved::connect(&exporter, "good");

    let mut bad = RawClient::connect(&exporter.socket);
    let mut hello = RawClient::hello_frame("bad", 1);
    hello.min_version = 90;
    hello.max_version = 99;
    bad.send(&Frame::Hello(hello));
    let reason = expect_reject(&mut bad, "unsupported_version", "client speaks 90..=99");
    assert!(reason.contains("exporter speaks 1..=2"), "{reason}");
    expect_counted(&exporter, "unsupported_version", 1.0);

    good.bump_and_check(&exporter);
}

#[test]
fn updates_for_undefined_ids_are_answered_and_the_session_goes_on() {
    let exporter = Exporter::start();
    let mut good = WellBehaved::connect(&exporter, "good");

    let mut bad = RawClient::handshake(&exporter.socket, "bad", 1);
    bad.send(&batch(1, vec![(999, Value::Counter(5))]));
    expect_error(&mut bad, "unknown_id", "series id 999");
    // A series of a metric never defined.
    bad.send(&series(7, 77, &[]));
    expect_error(&mut bad, "unknown_id", "metric id 77");
    expect_counted(&exporter, "unknown_id", 2.0);

    // The same connection can still define and report.
    bad.send(&define(
        1,
        "dawn_test_after_error_total",
        MetricKind::Counter,
        &[],
        &[],
    ));
    bad.send(&series(1, 1, &[]));
    bad.send(&batch(2, vec![(1, Value::Counter(3))]));
    exporter.eventually_metrics("the erring client's later update is applied", |m| {
        match m.get("dawn_test_after_error_total", &[]) {
            Some(3.0) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    good.bump_and_check(&exporter);
}

#[test]
fn a_conflicting_definition_is_refused_naming_the_metric() {
    let exporter = Exporter::start();
    let mut good = WellBehaved::connect(&exporter, "good");

    let mut first = RawClient::handshake(&exporter.socket, "first", 1);
    first.send(&define(
        1,
        "dawn_test_shared",
        MetricKind::Gauge,
        &["a"],
        &[],
    ));
    first.send(&series(1, 1, &["x"]));
    first.send(&batch(1, vec![(1, Value::Gauge(2.5))]));
    exporter.eventually_metrics("the first definition is used", |m| {
        match m.get("dawn_test_shared", &[("a", "x")]) {
            Some(2.5) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });

    let mut second = RawClient::handshake(&exporter.socket, "second", 1);
    // Same name, other labels: a conflict.
    second.send(&define(
        1,
        "dawn_test_shared",
        MetricKind::Gauge,
        &["b"],
        &[],
    ));
    expect_error(&mut second, "conflicting_definition", "dawn_test_shared");
    // Its series and updates are ignored, not mixed into the first one's.
    second.send(&series(1, 1, &["y"]));
    second.send(&batch(1, vec![(1, Value::Gauge(99.0))]));
    expect_counted(&exporter, "conflicting_definition", 1.0);
    exporter.eventually_metrics("the refused series is counted", |m| {
        match m.get_or_zero(
            "dawn_exporter_rejected_series_total",
            &[("reason", "refused_metric")],
        ) {
            1.0 => Ok(()),
            v => Err(format!("{v}")),
        }
    });
    let m = exporter.metrics();
    assert_eq!(m.find("dawn_test_shared", &[]).len(), 1, "{}", m.text);
    assert_eq!(m.value("dawn_test_shared", &[("a", "x")]), 2.5);

    good.bump_and_check(&exporter);
}

#[test]
fn invalid_metric_and_label_names_are_refused_by_name() {
    let exporter = Exporter::start();
    let mut good = WellBehaved::connect(&exporter, "good");

    let mut bad = RawClient::handshake(&exporter.socket, "bad", 1);
    bad.send(&define(1, "9bad-name", MetricKind::Gauge, &[], &[]));
    expect_error(&mut bad, "invalid_metric_name", "9bad-name");
    bad.send(&define(
        2,
        "dawn_test_labels",
        MetricKind::Gauge,
        &["peer-id"],
        &[],
    ));
    expect_error(&mut bad, "invalid_label_name", "peer-id");
    bad.send(&define(
        3,
        "dawn_test_reserved",
        MetricKind::Gauge,
        &["__name__"],
        &[],
    ));
    expect_error(&mut bad, "invalid_label_name", "__name__");
    expect_counted(&exporter, "invalid_metric_name", 1.0);
    expect_counted(&exporter, "invalid_label_name", 2.0);

    let m = exporter.metrics();
    assert!(m.find("dawn_test_labels", &[]).is_empty(), "{}", m.text);
    good.bump_and_check(&exporter);
}

#[test]
fn a_label_count_mismatch_is_refused() {
    let exporter = Exporter::start();
    let mut good = WellBehaved::connect(&exporter, "good");

    let mut bad = RawClient::handshake(&exporter.socket, "bad", 1);
    bad.send(&define(
        1,
        "dawn_test_pairs_total",
        MetricKind::Counter,
        &["a", "b"],
        &[],
    ));
    bad.send(&series(1, 1, &["only-one"]));
    expect_error(
        &mut bad,
        "label_mismatch",
        "1 label values for 2 label names (a, b)",
    );
    // Updates of the refused series are ignored (and counted as such), not errors again.
    bad.send(&batch(1, vec![(1, Value::Counter(1))]));
    expect_counted(&exporter, "label_mismatch", 1.0);
    exporter.eventually_metrics("the refused series and its update are counted", |m| {
        let rejected = m.get_or_zero(
            "dawn_exporter_rejected_series_total",
            &[("reason", "invalid_labels")],
        );
        let ignored = m.get_or_zero(
            "dawn_exporter_ignored_updates_total",
            &[("reason", "refused_series")],
        );
        if rejected == 1.0 && ignored == 1.0 {
            Ok(())
        } else {
            Err(format!("rejected {rejected}, ignored {ignored}"))
        }
    });
    let m = exporter.metrics();
    assert!(
        m.find("dawn_test_pairs_total", &[]).is_empty(),
        "{}",
        m.text
    );
    good.bump_and_check(&exporter);
}

#[test]
fn a_counter_going_backwards_keeps_the_previous_total() {
    let exporter = Exporter::start();
    let mut good = WellBehaved::connect(&exporter, "good");

    let mut bad = RawClient::handshake(&exporter.socket, "bad", 1);
    bad.send(&define(
        1,
        "dawn_test_mono_total",
        MetricKind::Counter,
        &[],
        &[],
    ));
    bad.send(&series(1, 1, &[]));
    bad.send(&batch(1, vec![(1, Value::Counter(10))]));
    bad.send(&batch(2, vec![(1, Value::Counter(4))]));
    expect_error(&mut bad, "counter_decrease", "dawn_test_mono_total");
    expect_counted(&exporter, "counter_decrease", 1.0);
    assert_eq!(exporter.metrics().value("dawn_test_mono_total", &[]), 10.0);

    // A new incarnation of the same node is a genuine reset, not an error.
    let mut reborn = RawClient::handshake(&exporter.socket, "bad", 2);
    reborn.send(&define(
        1,
        "dawn_test_mono_total",
        MetricKind::Counter,
        &[],
        &[],
    ));
    reborn.send(&series(1, 1, &[]));
    reborn.send(&batch(1, vec![(1, Value::Counter(4))]));
    exporter.eventually_metrics("the new incarnation's total is shown", |m| {
        match m.get("dawn_test_mono_total", &[]) {
            Some(4.0) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    assert!(reborn.frames_within(std::time::Duration::ZERO).is_empty());
    expect_counted(&exporter, "counter_decrease", 1.0);
    good.bump_and_check(&exporter);
}

#[test]
fn a_nan_histogram_sum_is_refused_and_the_histogram_kept() {
    let exporter = Exporter::start();
    let mut good = WellBehaved::connect(&exporter, "good");

    let mut bad = RawClient::handshake(&exporter.socket, "bad", 1);
    bad.send(&define(
        1,
        "dawn_test_latency_seconds",
        MetricKind::Histogram,
        &[],
        &[0.1, 1.0],
    ));
    bad.send(&series(1, 1, &[]));
    let h = |count, sum, buckets: Vec<u64>| {
        Value::Histogram(HistogramValue {
            count,
            sum,
            buckets,
        })
    };
    bad.send(&batch(1, vec![(1, h(3, 1.5, vec![1, 1, 1]))]));
    bad.send(&batch(2, vec![(1, h(4, f64::NAN, vec![1, 2, 1]))]));
    expect_error(&mut bad, "invalid_value", "sum is NaN");
    // A gauge may be NaN-free too, but NaN is a legal gauge value in Prometheus: not tested.
    expect_counted(&exporter, "invalid_value", 1.0);
    let m = exporter.metrics();
    assert_eq!(m.value("dawn_test_latency_seconds_count", &[]), 3.0);
    assert_eq!(m.value("dawn_test_latency_seconds_sum", &[]), 1.5);
    assert_eq!(
        m.value("dawn_test_latency_seconds_bucket", &[("le", "+Inf")]),
        3.0
    );
    good.bump_and_check(&exporter);
}

#[test]
fn series_beyond_the_caps_are_rejected_and_counted() {
    let exporter = Exporter::start_with(
        ExporterOptions::default()
            .arg("--store.max-series-per-metric", "3")
            .arg("--store.max-series", "6"),
    );
    let mut good = WellBehaved::connect(&exporter, "good"); // 1 series

    let mut bad = RawClient::handshake(&exporter.socket, "bad", 1);
    bad.send(&define(1, "dawn_test_wide", MetricKind::Gauge, &["k"], &[]));
    for i in 0..4u32 {
        bad.send(&series(i + 1, 1, &[&format!("v{i}")]));
    }
    expect_error(&mut bad, "max_series_per_metric", "dawn_test_wide");
    bad.send(&batch(
        1,
        (0..4u32)
            .map(|i| (i + 1, Value::Gauge(f64::from(i))))
            .collect(),
    ));
    // 1 + 3 series held; the total cap of 6 leaves room for 2 more of another metric.
    bad.send(&define(
        2,
        "dawn_test_other",
        MetricKind::Gauge,
        &["k"],
        &[],
    ));
    for i in 0..3u32 {
        bad.send(&series(10 + i, 2, &[&format!("w{i}")]));
    }
    expect_error(&mut bad, "max_series", "");
    exporter.eventually_metrics("rejections by cap are counted", |m| {
        let per_metric = m.get_or_zero(
            "dawn_exporter_rejected_series_total",
            &[("reason", "max_series_per_metric")],
        );
        let total = m.get_or_zero(
            "dawn_exporter_rejected_series_total",
            &[("reason", "max_series")],
        );
        if per_metric == 1.0 && total == 1.0 {
            Ok(())
        } else {
            Err(format!("per metric {per_metric}, total {total}"))
        }
    });
    let m = exporter.metrics();
    assert_eq!(m.find("dawn_test_wide", &[]).len(), 3, "{}", m.text);
    assert!(m.get("dawn_test_wide", &[("k", "v3")]).is_none());
    assert_eq!(m.value("dawn_exporter_series", &[]), 6.0);
    good.bump_and_check(&exporter);
}

#[test]
fn clients_beyond_the_limit_are_rejected_and_counted() {
    let exporter =
        Exporter::start_with(ExporterOptions::default().arg("--ingest.max-clients", "2"));
    let mut good = WellBehaved::connect(&exporter, "good");
    let mut second = RawClient::handshake(&exporter.socket, "second", 1);
    // Both clients have just sent a whole frame, so neither gives way to a third.
    second.send(&Frame::Ready(true));
    good.bump_and_check(&exporter);
    exporter.eventually_metrics("the second client's frame is read", |m| {
        match m.get("dawn_exporter_frames_total", &[("kind", "ready")]) {
            Some(1.0) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });

    let mut third = RawClient::connect(&exporter.socket);
    third.send(&Frame::Hello(RawClient::hello_frame("third", 1)));
    expect_reject(&mut third, "client_limit", "--ingest.max-clients");
    expect_counted(&exporter, "client_limit", 1.0);
    exporter.eventually_metrics("two clients are connected", |m| {
        match m.get("dawn_exporter_clients", &[]) {
            Some(2.0) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    good.bump_and_check(&exporter);

    // A freed slot is usable again.
    drop(second);
    exporter.eventually_metrics("the second client's slot is freed", |m| {
        match m.get("dawn_exporter_clients", &[]) {
            Some(1.0) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    let _fourth = RawClient::handshake(&exporter.socket, "fourth", 1);
    good.bump_and_check(&exporter);
}

#[test]
fn a_client_that_never_says_hello_is_disconnected() {
    let exporter =
        Exporter::start_with(ExporterOptions::default().arg("--ingest.handshake-timeout", "300ms"));
    let mut good = WellBehaved::connect(&exporter, "good");

    let mut silent = RawClient::connect(&exporter.socket);
    expect_reject(&mut silent, "handshake_timeout", "no Hello within 0.3s");
    expect_counted(&exporter, "handshake_timeout", 1.0);
    good.bump_and_check(&exporter);
}

#[test]
fn a_frame_before_hello_is_rejected() {
    let exporter = Exporter::start();
    let mut good = WellBehaved::connect(&exporter, "good");

    let mut bad = RawClient::connect(&exporter.socket);
    bad.send(&Frame::Ready(true));
    expect_reject(
        &mut bad,
        "unexpected_frame",
        "the first frame must be Hello",
    );
    expect_counted(&exporter, "unexpected_frame", 1.0);
    good.bump_and_check(&exporter);
}

#[test]
fn a_client_silent_since_its_hello_gives_way_at_the_limit() {
    let exporter =
        Exporter::start_with(ExporterOptions::default().arg("--ingest.max-clients", "2"));
    let mut good = WellBehaved::connect(&exporter, "good");
    let mut silent = RawClient::handshake(&exporter.socket, "silent", 1);
    let _newcomer = RawClient::handshake(&exporter.socket, "newcomer", 1);
    expect_reject(&mut silent, "client_limit", "no whole frame for");
    exporter.eventually_metrics("the eviction is counted", |m| {
        match m.get_or_zero(
            "dawn_exporter_evicted_clients_total",
            &[("reason", "client_limit")],
        ) {
            1.0 => Ok(()),
            v => Err(format!("{v}")),
        }
    });
    good.bump_and_check(&exporter);
}

#[test]
fn a_frame_trickled_in_is_cut_off_at_the_frame_timeout() {
    let exporter =
        Exporter::start_with(ExporterOptions::default().arg("--ingest.frame-timeout", "300ms"));
    let mut good = WellBehaved::connect(&exporter, "good");
    let mut slow = RawClient::handshake(&exporter.socket, "slow", 1);
    let mut bytes = Vec::new();
    dawn_proto::encode_frame(&Frame::Ready(true), &mut bytes).expect("encode");
    // A byte every 100 ms, well within the idle timeout; the frame is never whole in time.
    for b in &bytes[..bytes.len() - 1] {
        slow.send_bytes(std::slice::from_ref(b));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    expect_reject(
        &mut slow,
        "stalled",
        "not whole within 0.3s of its first byte",
    );
    expect_counted(&exporter, "stalled", 1.0);
    good.bump_and_check(&exporter);
}
