//! The exposition checked by the real tools: `promtool check metrics` and a real Prometheus
//! server scraping the real exporter in both formats. Without `prometheus`/`promtool` these
//! tests are reported as ignored (with the reason after the run), and fail under `CI=true`.

use std::process::ExitCode;

use dawn_proto::Frame;
use dawn_tests::support::exposition::Exposition;
use dawn_tests::support::harness;
use dawn_tests::support::prometheus::{Job, Prometheus, ScrapeProxy, promtool_check_metrics};
use dawn_tests::support::tools::{PROMETHEUS, PROMTOOL};
use dawn_tests::support::wire::{TRICKY_LABEL_VALUE, send_catalogue};
use dawn_tests::support::{Exporter, RawClient};
use dawn_tests::trial;

const OPENMETRICS: &str = "application/openmetrics-text;version=1.0.0";
const TEXT: &str = "text/plain;version=0.0.4";

/// An exporter holding every catalogue metric (reported by a raw client that stays fresh),
/// its own metrics, a health check and readiness; `compat` adds `--compat.seed-names`.
fn populated_exporter(compat: bool) -> (Exporter, RawClient) {
    let mut opts = dawn_tests::support::ExporterOptions::default();
    if compat {
        opts = opts.flag("--compat.seed-names");
    }
    let exporter = Exporter::start_with(opts);
    let mut hello = RawClient::hello_frame("node-1", 1);
    hello.client_name = "dawn-node".into();
    hello.flush_interval_ms = 3_600_000;
    let mut node = RawClient::handshake_with(&exporter.socket, hello);
    send_catalogue(&mut node);
    node.send(&Frame::Health(dawn_proto::Health {
        check: "peers".into(),
        status: dawn_proto::HealthStatus::Degraded,
        message: "no peers".into(),
        details: vec![],
    }));
    node.send(&Frame::Ready(true));
    exporter.eventually_metrics("the catalogue is exposed", |m| {
        match m.get("p2p_rate_limit_rejections_total", &[]) {
            Some(7.0) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    (exporter, node)
}

fn main() -> ExitCode {
    harness::main(vec![
        trial!(promtool_finds_nothing_to_report).needs(PROMTOOL),
        trial!(a_real_prometheus_scrapes_both_formats).needs(PROMETHEUS),
    ])
}

fn promtool_finds_nothing_to_report() {
    let promtool = PROMTOOL.path();
    let (exporter, _node) = populated_exporter(false);
    let text = exporter.get_with("/metrics", &[("Accept", TEXT)]).text();
    assert!(
        text.contains("p2p_message_latency_seconds_bucket"),
        "{text}"
    );
    let (code, report) = promtool_check_metrics(&promtool, &text);
    assert!(
        code == Some(0) && report.trim().is_empty(),
        "promtool check metrics (text 0.0.4) exited {code:?} and reported:\n{report}\n--- exposition ---\n{text}"
    );

    // --compat.seed-names exposes the gauge p2p_peers also as p2p_peers_total, the original
    // system's name (docs/exporter.md, `--compat.seed-names`): the one thing promtool may then say is exactly that.
    let (compat, _compat_node) = populated_exporter(true);
    let text = compat.get_with("/metrics", &[("Accept", TEXT)]).text();
    let (_, report) = promtool_check_metrics(&promtool, &text);
    let complaints: Vec<&str> = report.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        complaints,
        ["p2p_peers_total non-counter metrics should not have \"_total\" suffix"],
        "with --compat.seed-names"
    );

    // promtool 2.x reads only the text format: on OpenMetrics it can only say whether the
    // lines parse, not whether the OpenMetrics rules hold (Prometheus' own OpenMetrics
    // parser checks those in the scrape test below). It must at least not fail.
    let om = exporter
        .get_with("/metrics", &[("Accept", OPENMETRICS)])
        .text();
    let (code, report) = promtool_check_metrics(&promtool, &om);
    assert!(
        !report.contains("error while linting") && code != Some(1),
        "promtool could not read the OpenMetrics exposition ({code:?}):\n{report}\n--- exposition ---\n{om}"
    );
}

fn a_real_prometheus_scrapes_both_formats() {
    let prometheus = PROMETHEUS.path();
    let (exporter, _node) = populated_exporter(true);
    // Prometheus 2.42 (Debian 12) has no `scrape_protocols`: it always prefers OpenMetrics.
    // Two proxies pin each job's format and record what the exporter answered.
    let text_proxy = ScrapeProxy::start(exporter.port, Some(TEXT));
    let om_proxy = ScrapeProxy::start(exporter.port, None);
    let jobs = [
        Job {
            name: "dawn-text".into(),
            target: format!("127.0.0.1:{}", text_proxy.port),
            metrics_path: "/metrics".into(),
        },
        Job {
            name: "dawn-openmetrics".into(),
            target: format!("127.0.0.1:{}", om_proxy.port),
            metrics_path: "/metrics".into(),
        },
    ];
    let prom = Prometheus::start(&prometheus, &jobs);

    for job in ["dawn-text", "dawn-openmetrics"] {
        let sel = format!("{{job=\"{job}\"}}");
        prom.eventually_value(&format!("up{sel}"), |v| v == 1.0);
        prom.eventually_value(&format!("dawn_node_up{sel}"), |v| v == 1.0);
        prom.eventually_value(&format!("p2p_peers{sel}"), |v| v == 2.5);
        prom.eventually_value(&format!("p2p_peers_total{sel}"), |v| v == 2.5);
        prom.eventually_value(
            &format!("p2p_connections_total{{job=\"{job}\",status=\"success\"}}"),
            |v| v == 7.0,
        );
        prom.eventually_value(
            &format!("p2p_message_latency_seconds_count{{job=\"{job}\",type=\"request\"}}"),
            |v| v == 12.0,
        );
        prom.eventually_value(
            &format!("p2p_message_latency_seconds_sum{{job=\"{job}\",type=\"request\"}}"),
            |v| v == 12.5,
        );
        // Cumulative buckets: one observation per bucket, so le=0.1 (5th bound) holds 5.
        let result = prom
            .query(&format!(
                "p2p_message_latency_seconds_bucket{{job=\"{job}\",type=\"request\"}}"
            ))
            .expect("bucket query");
        let mut le_counts: Vec<(f64, f64)> = result
            .iter()
            .map(|s| {
                let le = s["metric"]["le"].as_str().expect("le label");
                let le: f64 = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().expect("numeric le")
                };
                let v: f64 = s["value"][1]
                    .as_str()
                    .expect("value")
                    .parse()
                    .expect("number");
                (le, v)
            })
            .collect();
        le_counts.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert_eq!(le_counts.len(), 12, "{job}: {result:?}");
        for (i, (_, v)) in le_counts.iter().enumerate() {
            assert_eq!(*v, (i + 1) as f64, "{job}: {le_counts:?}");
        }
        // The tricky label value survives escaping in both formats.
        let errors = prom
            .query(&format!("p2p_errors_total{sel}"))
            .expect("errors query");
        assert_eq!(errors.len(), 1, "{job}: {errors:?}");
        assert_eq!(
            errors[0]["metric"]["error_type"].as_str(),
            Some(TRICKY_LABEL_VALUE),
            "{job}"
        );
        prom.eventually_value(
            &format!("dawn_health_check_status{{job=\"{job}\",check=\"peers\"}}"),
            |v| v == 1.0,
        );
        prom.eventually_value(&format!("dawn_exporter_build_info{sel}"), |v| v == 1.0);
    }

    // No scrape errors, and each job really got the format it was meant to test.
    for target in prom.targets() {
        assert_eq!(target["health"], "up", "{target}");
        assert_eq!(target["lastError"], "", "{target}");
    }
    let text_types = text_proxy.content_types();
    assert!(
        !text_types.is_empty()
            && text_types
                .iter()
                .all(|t| t.starts_with("text/plain; version=0.0.4")),
        "{text_types:?}"
    );
    let om_types = om_proxy.content_types();
    assert!(
        !om_types.is_empty()
            && om_types
                .iter()
                .all(|t| t.starts_with("application/openmetrics-text; version=1.0.0")),
        "Prometheus should have negotiated OpenMetrics: {om_types:?}"
    );

    // The exporter's view agrees with Prometheus'.
    let m: Exposition = exporter.metrics();
    assert_eq!(m.value("p2p_peers", &[]), 2.5);
}
