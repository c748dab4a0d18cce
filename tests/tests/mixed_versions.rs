//! Mixed protocol versions between real processes: a node and an exporter of different
//! releases meet at the older one's version and lose nothing.
//!
//! An exporter started with `--ingest.max-protocol-version 1` answers exactly as one from
//! before native histograms, and a node started with
//! `PROJECT_DAWN_TELEMETRY_MAX_PROTOCOL_VERSION=1` offers exactly what such a node offered.
//! Either way (new node with old exporter, old node with new exporter) the session is
//! negotiated at version 1 (both logs say so), the node's `p2p_message_latency_seconds`
//! arrives with its classic buckets only (text: `_bucket`, `_count`; protobuf: no native
//! field), nothing is rejected and the node connects once. The third test is their control:
//! the same node and exporter at their defaults, where the same scrape does show native
//! buckets (the accuracy of those buckets is `native_histograms.rs`'s business).

use dawn_tests::support::protobuf::{self, Histogram};
use dawn_tests::support::{Caller, Exporter, ExporterOptions, Node, eventually};

/// Requests made to the node: each one observation of `p2p_message_latency_seconds{type="request"}`.
const CALLS: usize = 20;

const LATENCY: &str = "p2p_message_latency_seconds";
const REQUEST: (&str, &str) = ("type", "request");

/// An exporter with `args`, a node reporting to it with `envs`, ready; `CALLS` requests
/// made to the node; returns them once the exporter shows all `CALLS` observations.
#[track_caller]
fn run(args: &[(&str, &str)], envs: &[(&str, &str)]) -> (Exporter, Node) {
    let opts = args
        .iter()
        .fold(ExporterOptions::default(), |o, (flag, value)| {
            o.arg(flag, value)
        });
    let exporter = Exporter::start_with(opts);
    let mut node = Node::start(&exporter.socket, envs);
    node.wait_listening();
    let mut caller = Caller::new();
    for _ in 0..CALLS {
        caller.call(&node.p2p_addr(), "node/info", None);
    }
    let count = format!("{LATENCY}_count");
    exporter.eventually_metrics("every request observed", |m| {
        match m.get(&count, &[REQUEST]) {
            Some(v) if v == CALLS as f64 => Ok(()),
            other => Err(format!("{count}: {other:?}")),
        }
    });
    (exporter, node)
}

/// The request latency histogram of the protobuf exposition.
#[track_caller]
fn protobuf_latency(exporter: &Exporter) -> Histogram {
    let families = eventually("a protobuf scrape", || protobuf::scrape(exporter));
    protobuf::histogram(&families, LATENCY, &[REQUEST])
        .unwrap_or_else(|| panic!("no {LATENCY}{{type=\"request\"}} in the protobuf scrape"))
        .clone()
}

/// The lines of `log` that contain `needle`.
fn lines<'l>(log: &'l str, needle: &str) -> Vec<&'l str> {
    log.lines().filter(|l| l.contains(needle)).collect()
}

/// Version 1 on both ends of the session, the histogram classic only everywhere, nothing
/// refused, one connection.
#[track_caller]
fn assert_classic_only_at_version_1(exporter: &Exporter, node: &Node) {
    // The text exposition: the classic series, whole.
    let m = exporter.metrics();
    let le_inf = m.get(&format!("{LATENCY}_bucket"), &[REQUEST, ("le", "+Inf")]);
    assert_eq!(le_inf, Some(CALLS as f64), "{}", m.text);
    let buckets = m.find(&format!("{LATENCY}_bucket"), &[REQUEST]);
    assert!(buckets.len() > 1, "classic buckets: {}", m.text);

    // The protobuf exposition: the same count and classic buckets, no native field.
    let h = protobuf_latency(exporter);
    assert_eq!(h.sample_count, Some(CALLS as u64), "{h:?}");
    assert_eq!(h.bucket.len() + 1, buckets.len(), "{h:?}");
    assert!(!h.has_native(), "native buckets at version 1: {h:?}");

    // Negotiated at 1, once, with nothing refused.
    let exporter_log = exporter.log();
    let connected = lines(&exporter_log, "client connected");
    assert_eq!(connected.len(), 1, "{exporter_log}");
    assert!(connected[0].contains("protocol=1"), "{}", connected[0]);
    let node_log = node.log();
    let connected = lines(&node_log, "telemetry connected to the exporter");
    assert_eq!(connected.len(), 1, "{node_log}");
    assert!(connected[0].contains("version=1"), "{}", connected[0]);
    assert!(lines(&node_log, "retrying").is_empty(), "{node_log}");
    assert!(
        lines(&exporter_log, "rejected").is_empty(),
        "{exporter_log}"
    );
    let sum = |name: &str| m.find(name, &[]).iter().map(|s| s.value).sum::<f64>();
    assert_eq!(
        m.get("dawn_exporter_connections_total", &[("result", "accepted")]),
        Some(1.0),
        "{}",
        m.text
    );
    assert_eq!(
        m.get_or_zero("dawn_exporter_connections_total", &[("result", "rejected")]),
        0.0
    );
    assert_eq!(sum("dawn_exporter_decode_errors_total"), 0.0, "{}", m.text);
    assert_eq!(
        sum("dawn_exporter_ignored_updates_total"),
        0.0,
        "{}",
        m.text
    );
    assert_eq!(
        sum("dawn_exporter_rejected_series_total"),
        0.0,
        "{}",
        m.text
    );
}

/// A new node (native histograms on, offering 1..=2) with an exporter that speaks only
/// version 1, as one from before native histograms.
#[test]
fn new_node_with_a_version_1_exporter_ships_classic_only() {
    let (exporter, node) = run(&[("--ingest.max-protocol-version", "1")], &[]);
    assert_classic_only_at_version_1(&exporter, &node);
}

/// A node that offers version 1 alone, as one from before native histograms, with a new
/// exporter.
#[test]
fn version_1_node_with_a_new_exporter_ships_classic_only() {
    let (exporter, node) = run(&[], &[("PROJECT_DAWN_TELEMETRY_MAX_PROTOCOL_VERSION", "1")]);
    assert_classic_only_at_version_1(&exporter, &node);
}

/// The control of the two above: the same processes at their defaults negotiate version 2
/// and the same scrape finds native buckets holding every observation (else the absence
/// of native fields above would prove nothing).
#[test]
fn both_new_ship_native_buckets() {
    let (exporter, node) = run(&[], &[]);
    let h = protobuf_latency(&exporter);
    assert_eq!(h.sample_count, Some(CALLS as u64), "{h:?}");
    assert_eq!(h.schema, Some(3), "{h:?}");
    assert!(!h.positive_span.is_empty(), "{h:?}");
    assert_eq!(h.native_count(), CALLS as u64, "{h:?}");
    let log = exporter.log();
    let connected = lines(&log, "client connected");
    assert_eq!(connected.len(), 1, "{log}");
    assert!(connected[0].contains("protocol=2"), "{}", connected[0]);
    assert!(
        lines(&node.log(), "telemetry connected to the exporter")[0].contains("version=2"),
        "{}",
        node.log()
    );
}
