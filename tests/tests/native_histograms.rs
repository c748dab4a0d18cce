//! Issue 17's acceptance test: a client records a known latency distribution in the node's
//! `p2p_message_latency_seconds` (the node's own catalogue spec, native buckets on, through
//! the real `dawn-telemetry` shipper: 10,000 observations log-uniform between 1 ms and 2 s)
//! and ships it to the real `dawn-exporter` at protocol version 2. A real Prometheus 2.42
//! with `--enable-feature=native-histograms` scrapes the protobuf exposition:
//! `histogram_quantile(0.99, rate(...[1m]))` on the native series is within 5 % of the true
//! p99, `histogram_count` and `histogram_sum` are exact. Prometheus 2.42 keeps only the
//! native part of a histogram that has one, so the classic buckets' answer comes from a
//! second Prometheus without the feature, which scrapes text; it is printed beside the
//! native one. Both run the shipped recording rules (`deploy/prometheus/rules`), whose
//! latency quantiles must then hold the same answers: the rules read the classic buckets or
//! the native ones, whichever the Prometheus kept. Without `prometheus` the test is reported
//! as ignored (with the reason after the run), and fails under `CI=true`.

use std::process::ExitCode;
use std::time::Duration;

use dawn_node::catalogue::P2P_MESSAGE_LATENCY_SECONDS;
use dawn_telemetry::{Telemetry, TelemetryConfig};
use dawn_tests::support::deploy::{self, RULES};
use dawn_tests::support::harness;
use dawn_tests::support::process::temp_dir;
use dawn_tests::support::prometheus::{Prometheus, promtool_check_metrics};
use dawn_tests::support::tools::{PROMETHEUS, PROMTOOL};
use dawn_tests::support::{Exporter, free_port};
use dawn_tests::trial;

/// Observations recorded.
const N: usize = 10_000;

fn config(job: &str, port: u16) -> String {
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {rules}\nscrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n",
        rules = deploy::path(RULES).display()
    )
}

fn main() -> ExitCode {
    harness::main(vec![
        trial!(native_p99_is_within_5_percent_and_count_and_sum_are_exact)
            .needs(PROMETHEUS)
            .needs(PROMTOOL),
    ])
}

fn native_p99_is_within_5_percent_and_count_and_sum_are_exact() {
    let prometheus = PROMETHEUS.path();
    let exporter = Exporter::start();
    let telemetry = Telemetry::start(TelemetryConfig {
        flush_interval: Duration::from_millis(100),
        ..TelemetryConfig::new(&exporter.socket, "native-node")
    })
    .expect("telemetry starts");
    let latency = telemetry
        .histogram(&P2P_MESSAGE_LATENCY_SECONDS)
        .with_labels(&["request"]);

    let native = Prometheus::run(
        &prometheus,
        temp_dir(),
        free_port(),
        &config("native", exporter.port),
        &["--enable-feature=native-histograms"],
    );
    let classic = Prometheus::run(
        &prometheus,
        temp_dir(),
        free_port(),
        &config("classic", exporter.port),
        &[],
    );
    // Both have scraped the empty histogram, so that `rate` sees the observations arrive.
    let native_count =
        "histogram_count(p2p_message_latency_seconds{job=\"native\",type=\"request\"})";
    let classic_count = "p2p_message_latency_seconds_count{job=\"classic\",type=\"request\"}";
    native.eventually_value(native_count, |v| v == 0.0);
    classic.eventually_value(classic_count, |v| v == 0.0);

    // Log-uniform between 1 ms and 2 s: the quantiles of `1e-3 * 2000^u` for evenly spread
    // `u`, recorded in order (the histogram does not care) from one thread, so that the
    // client's sum adds them in this order and `histogram_sum` can be compared bit for bit.
    let values: Vec<f64> = (0..N)
        .map(|i| 1e-3 * 2000f64.powf((i as f64 + 0.5) / N as f64))
        .collect();
    let mut sum = 0.0;
    for &v in &values {
        latency.observe(v);
        sum += v;
    }
    // The 9,900th smallest of 10,000.
    let true_p99 = values[(N * 99).div_ceil(100) - 1];

    let count = native.eventually_value(native_count, |v| v == N as f64);
    classic.eventually_value(classic_count, |v| v == N as f64);
    let native_sum = native.eventually_value(
        "histogram_sum(p2p_message_latency_seconds{job=\"native\",type=\"request\"})",
        |_| true,
    );
    let native_p99 = native.eventually_value(
        "histogram_quantile(0.99, rate(p2p_message_latency_seconds{job=\"native\",type=\"request\"}[1m]))",
        f64::is_finite,
    );
    let classic_p99 = classic.eventually_value(
        "histogram_quantile(0.99, rate(p2p_message_latency_seconds_bucket{job=\"classic\",type=\"request\"}[1m]))",
        f64::is_finite,
    );
    let error = (native_p99 - true_p99).abs() / true_p99;
    let classic_error = (classic_p99 - true_p99).abs() / true_p99;
    eprintln!(
        "true p99 {true_p99:.6} s; native {native_p99:.6} s ({:.2} % off); classic buckets {classic_p99:.6} s ({:.2} % off); histogram_count {count}, histogram_sum {native_sum} (recorded {sum})",
        100.0 * error,
        100.0 * classic_error
    );
    assert!(error < 0.05, "native p99 {native_p99} vs true {true_p99}");
    // The shipped recording rule gives each Prometheus its own answer: native buckets on
    // one side, classic on the other (a 5-minute rate over the same observations).
    let rule = |job: &str| {
        format!(
            "instance_type:p2p_message_latency_seconds:p99_rate5m{{job=\"{job}\",type=\"request\"}}"
        )
    };
    let native_rule = native.eventually_value(&rule("native"), f64::is_finite);
    let classic_rule = classic.eventually_value(&rule("classic"), f64::is_finite);
    eprintln!("recording rule p99: native {native_rule:.6} s, classic {classic_rule:.6} s");
    assert!(
        (native_rule - true_p99).abs() / true_p99 < 0.05,
        "the rule on native buckets: {native_rule} vs true {true_p99}"
    );
    assert!(
        (classic_rule - classic_p99).abs() / classic_p99 < 0.05,
        "the rule on classic buckets: {classic_rule} vs the classic query's {classic_p99}"
    );
    assert_eq!(count, N as f64);
    assert_eq!(native_sum.to_bits(), sum.to_bits(), "{native_sum} vs {sum}");
    // Prometheus 2.42 keeps the native part only: no classic bucket series on that side.
    let buckets = native
        .query("p2p_message_latency_seconds_bucket{job=\"native\"}")
        .expect("query");
    assert!(buckets.is_empty(), "{buckets:?}");
    // What a Prometheus without the feature gets: the text exposition of the same
    // histogram, classic buckets only, which promtool finds nothing to say about.
    let text = exporter
        .get_with("/metrics", &[("Accept", "text/plain;version=0.0.4")])
        .text();
    let line = format!("p2p_message_latency_seconds_count{{type=\"request\"}} {N}");
    assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    let (code, report) = promtool_check_metrics(&PROMTOOL.path(), &text);
    assert!(
        code == Some(0) && report.trim().is_empty(),
        "promtool check metrics exited {code:?} and reported:\n{report}\n--- exposition ---\n{text}"
    );
    drop(telemetry);
}
