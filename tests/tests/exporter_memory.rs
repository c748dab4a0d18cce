//! Acceptance for the exporter's memory budget (issue 13, "Found" 1, 3 and 4): one client
//! flooding definitions that name nothing, one flooding health checks, hundreds of
//! sources reporting the same wide set of series, and (protocol version 2) one client
//! sending native histograms of the most buckets the wire allows. Each attack's memory stays within a bound
//! measured on the real process (`VmRSS`), is given back when the attacker leaves, is
//! counted by reason on `/metrics`, and leaves a good client's values exact.

use std::time::{Duration, Instant};

use dawn_proto::{
    Batch, BucketSpan, Define, Frame, Health, HealthStatus, HistogramValue, MetricKind,
    NativeBuckets, NativeHistogramValue, SeriesDef, Update, Value, encode_frame,
};
use dawn_tests::support::memory::{MIB, PeakRss, rss};
use dawn_tests::support::wire::WellBehaved;
use dawn_tests::support::{Exporter, ExporterOptions, Node, RawClient, eventually};

/// Waits until counter `name{reason}` on `/metrics` is `want`.
#[track_caller]
fn expect_reason(exporter: &Exporter, name: &str, reason: &str, want: f64) {
    exporter.eventually_metrics(
        &format!("{name}{{reason={reason:?}}} == {want}"),
        |m| match m.get_or_zero(name, &[("reason", reason)]) {
            v if v == want => Ok(()),
            v => Err(format!("it is {v}")),
        },
    );
}

/// Lines of the exporter's log that mention `text`.
fn log_lines(exporter: &Exporter, text: &str) -> usize {
    exporter.log().lines().filter(|l| l.contains(text)).count()
}

/// The bytes of `frames`, framed, one after the other.
fn wire(frames: impl IntoIterator<Item = Frame>) -> Vec<u8> {
    let mut bytes = Vec::new();
    for f in frames {
        encode_frame(&f, &mut bytes).expect("test frames encode");
    }
    bytes
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB as f64
}

/// Says what an attack cost: how long it took, the resident size before and at its peak.
fn report(attack: &str, took: Duration, idle: u64, peak: u64) {
    eprintln!(
        "{attack} in {took:?}: idle {:.1} MiB, peak {:.1} MiB (+{:.1})",
        mib(idle),
        mib(peak),
        mib(peak.saturating_sub(idle))
    );
}

// --- Definitions that name nothing ----------------------------------------------------------

/// `Series` frames of about 1 MB, each naming a metric id never defined.
const HUGE_SERIES_FRAMES: u32 = 1_500;
const HUGE_LABEL_BYTES: usize = 1_000_000;

#[test]
fn a_flood_of_series_naming_undefined_metrics_keeps_nothing() {
    let exporter = Exporter::start();
    let mut good = WellBehaved::connect(&exporter, "good");
    let pid = exporter.proc.pid().expect("the exporter runs");
    let idle = rss(pid);
    let peak = PeakRss::start(pid);

    let mut attacker = RawClient::handshake(&exporter.socket, "attacker", 1);
    let value = "x".repeat(HUGE_LABEL_BYTES);
    let started = Instant::now();
    for id in 0..HUGE_SERIES_FRAMES {
        attacker.send(&Frame::Series(SeriesDef {
            id,
            metric: 999_999,
            label_values: vec![value.clone()],
        }));
    }
    let frames = f64::from(HUGE_SERIES_FRAMES);
    expect_reason(
        &exporter,
        "dawn_exporter_rejected_series_total",
        "unknown_metric",
        frames,
    );
    expect_reason(
        &exporter,
        "dawn_exporter_decode_errors_total",
        "unknown_id",
        frames,
    );
    let sent_in = started.elapsed();
    // The good client is exact while the attacker is still connected.
    good.bump_and_check(&exporter);
    let peak = peak.stop();
    let attack = format!("{HUGE_SERIES_FRAMES} series of {HUGE_LABEL_BYTES} B");
    report(&attack, sent_in, idle, peak);
    assert!(
        peak.saturating_sub(idle) < 128 * MIB,
        "RSS grew by {:.1} MiB",
        mib(peak - idle)
    );

    drop(attacker);
    let left = Instant::now();
    // What the connection held (its read buffer and frame decoder) is given back.
    exporter.eventually_metrics("the attacker's connection closed", |m| {
        match m.get("dawn_exporter_clients", &[]) {
            Some(1.0) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    let settled = eventually(
        "RSS back within 16 MiB of idle after the attacker left",
        || {
            let now = rss(pid);
            if now <= idle + 16 * MIB {
                Ok(now)
            } else {
                Err(format!(
                    "RSS {:.1} MiB, idle was {:.1} MiB",
                    mib(now),
                    mib(idle)
                ))
            }
        },
    );
    eprintln!(
        "RSS {:.1} MiB {:?} after the attacker left",
        mib(settled),
        left.elapsed()
    );
    // Each of 1,500 errors answered, but the log has a line or two, not one per frame.
    let lines = log_lines(&exporter, "unknown_id");
    assert!(lines <= 4, "{lines} log lines about unknown_id");
    good.bump_and_check(&exporter);
}

// --- Health checks ------------------------------------------------------------------------------

const FLOOD_CHECKS: usize = 200_000;
/// The node's own checks (`dawn_node::service::checks`).
const NODE_CHECKS: [&str; 4] = ["peers", "agents", "storage", "discovery"];
/// `--health.max-checks-per-client`'s default.
const CHECKS_PER_CLIENT: usize = 32;

/// The node's own checks are on `/metrics`, and nothing overflowed there.
fn node_checks_on_metrics(exporter: &Exporter) -> Result<(), String> {
    let m = exporter.try_metrics()?;
    if m.text.contains("otel_metric_overflow") {
        return Err("dawn_health_check_status overflowed".into());
    }
    for check in NODE_CHECKS {
        if m.get("dawn_health_check_status", &[("check", check)])
            .is_none()
        {
            return Err(format!("no dawn_health_check_status{{check={check:?}}}"));
        }
    }
    Ok(())
}

#[test]
fn a_flood_of_health_checks_cannot_push_out_the_nodes_own() {
    let exporter = Exporter::start();
    let mut good = WellBehaved::connect(&exporter, "good");
    let node = Node::start(&exporter.socket, &[]);
    eventually("the node's checks on /metrics", || {
        node_checks_on_metrics(&exporter)
    });
    let checks_before = exporter.get("/health").json()["details"]["checks"]
        .as_object()
        .map_or(0, |c| c.len());
    let pid = exporter.proc.pid().expect("the exporter runs");
    let idle = rss(pid);
    let peak = PeakRss::start(pid);

    let mut attacker = RawClient::handshake(&exporter.socket, "flood", 1);
    let started = Instant::now();
    let message = "m".repeat(100);
    for chunk in (0..FLOOD_CHECKS).collect::<Vec<_>>().chunks(1000) {
        attacker.send_bytes(&wire(chunk.iter().map(|i| {
            Frame::Health(Health {
                check: format!("check_{i:06}_{}", "x".repeat(80)),
                status: HealthStatus::Unhealthy,
                message: message.clone(),
                details: vec![],
            })
        })));
    }
    let dropped = (FLOOD_CHECKS - CHECKS_PER_CLIENT) as f64;
    expect_reason(
        &exporter,
        "dawn_exporter_limited_health_checks_total",
        "max_checks_per_client",
        dropped,
    );
    let flooded_in = started.elapsed();

    // /health answers fast, with a small body, the node's checks and the flood's first few.
    let mut took = Vec::new();
    let mut body = 0;
    for _ in 0..10 {
        let t = Instant::now();
        let r = exporter.get("/health");
        took.push(t.elapsed());
        body = r.body.len();
        let json = r.json();
        for check in NODE_CHECKS {
            assert!(
                json["details"]["checks"][check].is_string(),
                "{check} missing from /health"
            );
        }
        let checks = json["details"]["checks"].as_object().map_or(0, |c| c.len());
        assert_eq!(checks, checks_before + CHECKS_PER_CLIENT, "{json}");
    }
    took.sort();
    node_checks_on_metrics(&exporter).unwrap_or_else(|e| panic!("{e}"));
    let peak = peak.stop();
    report(&format!("{FLOOD_CHECKS} checks"), flooded_in, idle, peak);
    eprintln!(
        "/health {body} B in {:?} (median) .. {:?} (max)",
        took[took.len() / 2],
        took[took.len() - 1]
    );
    assert!(
        peak.saturating_sub(idle) < 64 * MIB,
        "RSS grew by {:.1} MiB",
        mib(peak - idle)
    );
    // One slow answer on a busy machine is tolerated; the rest are under 50 ms.
    assert!(
        took[took.len() - 2] < Duration::from_millis(50),
        "/health took {took:?}"
    );
    assert!(body < 64 * 1024, "/health is {body} bytes");
    let lines = log_lines(&exporter, "max_checks_per_client");
    assert!(lines <= 4, "{lines} log lines about max_checks_per_client");
    good.bump_and_check(&exporter);
    drop(attacker);
    drop(node);
}

// --- Samples --------------------------------------------------------------------------------

// The attack is 300 sources × 10,000 series against the default caps (500,000 samples
// in all, 100,000 per source): 3 M series definitions, about a minute for a debug build.
// This is the same attack at a tenth of the series and of both caps, same ratios.

/// Sources reporting the same series, each on its own connection.
const SOURCES: usize = 300;
/// Series every source reports.
const SERIES_PER_SOURCE: u32 = 1_000;
/// `--store.max-samples` (a tenth of the default).
const MAX_SAMPLES: usize = 50_000;
/// `--store.max-samples-per-source` (a tenth of the default).
const MAX_SAMPLES_PER_SOURCE: usize = 10_000;
/// Threads the sources are sent from.
const SENDERS: usize = 4;

/// Everything a source sends after its `Hello`: one metric, its series, one value each.
fn wide_source() -> Vec<u8> {
    let define = Frame::Define(Define {
        id: 1,
        name: "dawn_test_wide".into(),
        help: "A metric with many series.".into(),
        kind: MetricKind::Gauge,
        label_names: vec!["k".into()],
        buckets: vec![],
    });
    let series = (0..SERIES_PER_SOURCE).map(|i| {
        Frame::Series(SeriesDef {
            id: i,
            metric: 1,
            label_values: vec![format!("series-{i:05}")],
        })
    });
    let updates = (0..SERIES_PER_SOURCE)
        .map(|i| Update {
            series: i,
            value: Value::Gauge(1.0),
        })
        .collect();
    let batch = Frame::Batch(Batch { seq: 1, updates });
    wire(
        std::iter::once(define)
            .chain(series)
            .chain([batch, Frame::Goodbye]),
    )
}

#[test]
fn samples_of_many_sources_are_capped_and_counted() {
    let exporter = Exporter::start_with(
        ExporterOptions::default()
            .arg("--store.max-samples", &MAX_SAMPLES.to_string())
            .arg(
                "--store.max-samples-per-source",
                &MAX_SAMPLES_PER_SOURCE.to_string(),
            ),
    );
    let mut good = WellBehaved::connect(&exporter, "good");
    let pid = exporter.proc.pid().expect("the exporter runs");
    let idle = rss(pid);
    let peak = PeakRss::start(pid);
    let started = Instant::now();
    let source = std::sync::Arc::new(wide_source());
    let senders: Vec<_> = (0..SENDERS)
        .map(|t| {
            let (socket, source) = (exporter.socket.clone(), std::sync::Arc::clone(&source));
            std::thread::spawn(move || {
                for s in (t..SOURCES).step_by(SENDERS) {
                    let mut c = RawClient::handshake(&socket, &format!("source-{s:03}"), 1);
                    c.send_bytes(&source);
                    // The exporter closes after Goodbye, once it has read everything before.
                    c.frames_until_closed();
                }
            })
        })
        .collect();
    // The good client reports throughout (and so stays within its liveness timeout).
    while senders.iter().any(|s| !s.is_finished()) {
        good.bump_and_check(&exporter);
        std::thread::sleep(Duration::from_millis(500));
    }
    for s in senders {
        s.join().expect("a sender");
    }
    let total = SOURCES * SERIES_PER_SOURCE as usize;
    // The good client holds one sample of the cap.
    let refused = (total - (MAX_SAMPLES - 1)) as f64;
    expect_reason(
        &exporter,
        "dawn_exporter_ignored_updates_total",
        "max_samples",
        refused,
    );
    let sent_in = started.elapsed();
    let m = exporter.metrics();
    assert_eq!(m.value("dawn_exporter_samples", &[]), MAX_SAMPLES as f64);
    assert_eq!(
        m.value("dawn_exporter_series", &[]),
        f64::from(SERIES_PER_SOURCE) + 1.0
    );
    good.bump_and_check(&exporter);
    let peak = peak.stop();
    let attack = format!("{SOURCES} sources x {SERIES_PER_SOURCE} series");
    report(&attack, sent_in, idle, peak);
    // The first refusal in full, then a count every 10 s.
    let lines = log_lines(&exporter, "max_samples");
    let most = 2 + sent_in.as_secs() as usize / 10;
    assert!(lines <= most, "{lines} log lines about max_samples");
}

/// Native buckets the exporter of the native-bucket test may hold.
const MAX_NATIVE_BUCKETS: usize = 100_000;
/// Series of the native-bucket attack, each with [`NATIVE_BUCKETS_PER_SERIES`] buckets: 4.1
/// million buckets, about 65 MB if they were all kept.
const NATIVE_SERIES: u32 = 1_000;
/// The most native buckets a value may carry on the wire (docs/wire.md).
const NATIVE_BUCKETS_PER_SERIES: u32 = 4_096;
/// Updates per batch: 20 × 4,096 counts stay within what a batch may claim when decoded.
const NATIVE_PER_BATCH: u32 = 20;

/// One client at protocol version 2: a histogram metric with `NATIVE_SERIES` series, each
/// sent once with the most native buckets a value may carry.
fn native_flood() -> Vec<u8> {
    let define = Frame::Define(Define {
        id: 1,
        name: "dawn_test_native_seconds".into(),
        help: "Native histograms of the most buckets the wire allows.".into(),
        kind: MetricKind::Histogram,
        label_names: vec!["k".into()],
        buckets: vec![1.0],
    });
    let series = (0..NATIVE_SERIES).map(|i| {
        Frame::Series(SeriesDef {
            id: i,
            metric: 1,
            label_values: vec![format!("series-{i:05}")],
        })
    });
    let n = u64::from(NATIVE_BUCKETS_PER_SERIES);
    let value = Value::NativeHistogram(Box::new(NativeHistogramValue {
        classic: HistogramValue {
            count: n,
            sum: n as f64 * 2.0,
            buckets: vec![0, n],
        },
        native: NativeBuckets {
            schema: 0,
            zero_threshold: 0.0,
            zero_count: 0,
            positive_spans: vec![BucketSpan {
                offset: 1,
                length: NATIVE_BUCKETS_PER_SERIES,
            }],
            positive_counts: vec![1; NATIVE_BUCKETS_PER_SERIES as usize],
            negative_spans: Vec::new(),
            negative_counts: Vec::new(),
        },
    }));
    let batches = (0..NATIVE_SERIES / NATIVE_PER_BATCH).map(|b| {
        let updates = (b * NATIVE_PER_BATCH..(b + 1) * NATIVE_PER_BATCH)
            .map(|series| Update {
                series,
                value: value.clone(),
            })
            .collect();
        Frame::Batch(Batch {
            seq: u64::from(b),
            updates,
        })
    });
    wire(std::iter::once(define).chain(series).chain(batches))
}

#[test]
fn native_buckets_are_capped_and_counted() {
    let exporter = Exporter::start_with(ExporterOptions::default().arg(
        "--store.max-native-buckets",
        &MAX_NATIVE_BUCKETS.to_string(),
    ));
    let mut good = WellBehaved::connect(&exporter, "good");
    let pid = exporter.proc.pid().expect("the exporter runs");
    let idle = rss(pid);
    let peak = PeakRss::start(pid);
    let started = Instant::now();
    // The handshake offers every version this build speaks: 2, with native buckets.
    let mut attacker = RawClient::handshake(&exporter.socket, "native-flood", 1);
    attacker.send_bytes(&native_flood());
    let kept = MAX_NATIVE_BUCKETS / NATIVE_BUCKETS_PER_SERIES as usize;
    let refused = NATIVE_SERIES as usize - kept;
    expect_reason(
        &exporter,
        "dawn_exporter_ignored_updates_total",
        "max_native_buckets",
        refused as f64,
    );
    let sent_in = started.elapsed();
    let m = exporter.metrics();
    // The good client's sample and the attacker's kept ones.
    assert_eq!(m.value("dawn_exporter_samples", &[]), (kept + 1) as f64);
    good.bump_and_check(&exporter);
    let peak = peak.stop();
    report(
        &format!("{NATIVE_SERIES} native histograms of {NATIVE_BUCKETS_PER_SERIES} buckets"),
        sent_in,
        idle,
        peak,
    );
    // Kept: 98,304 buckets, about 1.6 MB; all of them would be about 65 MB.
    assert!(
        peak.saturating_sub(idle) < 24 * MIB,
        "RSS rose by {:.1} MiB",
        mib(peak.saturating_sub(idle))
    );
    // The attacker is still connected and its kept series still update.
    assert!(!attacker.is_closed(), "a refusal is not a reason to close");
}
