//! A real Prometheus 2.42 with `--enable-feature=native-histograms` asks for the protobuf
//! exposition first (scrape.go's `scrapeAcceptHeaderWithProtobuf`): it gets it, gzipped, and
//! reads from it every series the text exposition holds, with the same values. The same
//! exporter scraped by a Prometheus without the feature still gets OpenMetrics text. Without
//! `prometheus` these tests are reported as ignored (with the reason after the run), and fail
//! under `CI=true`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use dawn_proto::Frame;
use dawn_tests::support::exposition::Exposition;
use dawn_tests::support::harness;
use dawn_tests::support::process::temp_dir;
use dawn_tests::support::prometheus::{Prometheus, ScrapeProxy};
use dawn_tests::support::tools::PROMETHEUS;
use dawn_tests::support::wire::{TRICKY_LABEL_VALUE, send_catalogue};
use dawn_tests::support::{Exporter, ExporterOptions, RawClient, eventually, free_port};
use dawn_tests::trial;

const TEXT: &str = "text/plain;version=0.0.4";
const PROTOBUF: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// A series as both sides name it: metric name and its labels sorted, without the target's
/// `job` and `instance`; `le` and `quantile` as numbers (Prometheus 2.x keeps the text's
/// spelling, `1`, but writes the protobuf's bounds as OpenMetrics does, `1.0`).
type Key = (String, Vec<(String, String)>);

fn key(name: &str, labels: impl IntoIterator<Item = (String, String)>) -> Key {
    let mut labels: Vec<(String, String)> = labels
        .into_iter()
        .filter(|(n, _)| n != "job" && n != "instance" && n != "__name__")
        .map(|(n, v)| {
            let v = match n.as_str() {
                "le" | "quantile" => match v.parse::<f64>() {
                    Ok(x) => format!("{x:?}"),
                    Err(_) => v,
                },
                _ => v,
            };
            (n, v)
        })
        .collect();
    labels.sort();
    (name.to_owned(), labels)
}

/// Values that change from scrape to scrape: the exporter's own counters and timings (their
/// series must still be there, with the same labels).
fn moves(name: &str) -> bool {
    name.starts_with("dawn_exporter_") && name != "dawn_exporter_build_info"
}

/// Every series the exporter's text exposition holds now.
fn text_series(exporter: &Exporter) -> BTreeMap<Key, f64> {
    let text = exporter.get_with("/metrics", &[("Accept", TEXT)]).text();
    let exposition = Exposition::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    exposition
        .samples
        .iter()
        .map(|s| (key(&s.name, s.labels.iter().cloned()), s.value))
        .collect()
}

/// Every series Prometheus holds for `job`, but the ones it makes itself (`up`, `scrape_*`).
fn prometheus_series(prom: &Prometheus, job: &str) -> Result<BTreeMap<Key, f64>, String> {
    let result = prom.query(&format!("{{job=\"{job}\"}}"))?;
    let mut series = BTreeMap::new();
    for s in result {
        let metric = s["metric"].as_object().ok_or("no metric")?;
        let name = metric["__name__"].as_str().ok_or("no name")?;
        if name == "up" || name.starts_with("scrape_") {
            continue;
        }
        let labels = metric
            .iter()
            .map(|(n, v)| (n.clone(), v.as_str().unwrap_or_default().to_owned()));
        let value: f64 = s["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("no value in {s}"))?;
        series.insert(key(name, labels), value);
    }
    Ok(series)
}

/// Prometheus' series of `job` are exactly the text exposition's, with its values (but for
/// the ones that move).
fn same_series(prom: &Prometheus, job: &str, exporter: &Exporter) -> Result<usize, String> {
    let want = text_series(exporter);
    let got = prometheus_series(prom, job)?;
    let missing: Vec<&Key> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<&Key> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    if !missing.is_empty() || !extra.is_empty() {
        return Err(format!(
            "missing from Prometheus: {missing:?}\nonly in Prometheus: {extra:?}"
        ));
    }
    let differ: Vec<String> = want
        .iter()
        .filter(|(k, _)| !moves(&k.0))
        .filter_map(|(k, v)| {
            let p = got[k];
            let same = p == *v || (p.is_nan() && v.is_nan());
            (!same).then(|| format!("{k:?}: text {v}, Prometheus {p}"))
        })
        .collect();
    if differ.is_empty() {
        Ok(want.len())
    } else {
        Err(differ.join("\n"))
    }
}

/// An exporter holding every catalogue metric (one series each, the tricky label value among
/// them) from a raw client that stays fresh.
fn populated_exporter() -> (Exporter, RawClient) {
    let exporter = Exporter::start_with(ExporterOptions::default().flag("--compat.seed-names"));
    let mut hello = RawClient::hello_frame("node-1", 1);
    hello.client_name = "dawn-node".into();
    hello.flush_interval_ms = 3_600_000;
    let mut node = RawClient::handshake_with(&exporter.socket, hello);
    send_catalogue(&mut node);
    node.send(&Frame::Ready(true));
    exporter.eventually_metrics("the catalogue is exposed", |m| {
        match m.get("p2p_rate_limit_rejections_total", &[]) {
            Some(7.0) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    (exporter, node)
}

fn config(job: &str, port: u16) -> String {
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
    )
}

fn main() -> ExitCode {
    harness::main(vec![
        trial!(prometheus_with_native_histograms_reads_the_protobuf_exposition).needs(PROMETHEUS),
    ])
}

fn prometheus_with_native_histograms_reads_the_protobuf_exposition() {
    let prometheus = PROMETHEUS.path();
    let (exporter, _node) = populated_exporter();
    // Each Prometheus scrapes through a proxy that records what was asked and answered.
    let native_proxy = ScrapeProxy::start(exporter.port, None);
    let classic_proxy = ScrapeProxy::start(exporter.port, None);
    let native = Prometheus::run(
        &prometheus,
        temp_dir(),
        free_port(),
        &config("native", native_proxy.port),
        &["--enable-feature=native-histograms"],
    );
    let classic = Prometheus::run(
        &prometheus,
        temp_dir(),
        free_port(),
        &config("classic", classic_proxy.port),
        &[],
    );

    for (prom, job) in [(&native, "native"), (&classic, "classic")] {
        prom.eventually_value(&format!("up{{job=\"{job}\"}}"), |v| v == 1.0);
        let n = eventually(
            &format!("{job}: Prometheus holds the text exposition's series and values"),
            || same_series(prom, job, &exporter),
        );
        assert!(n > 100, "{job}: only {n} series");
        // The tricky label value came through unchanged.
        let errors = prom
            .query(&format!("p2p_errors_total{{job=\"{job}\"}}"))
            .expect("errors query");
        assert_eq!(errors.len(), 1, "{job}: {errors:?}");
        assert_eq!(
            errors[0]["metric"]["error_type"].as_str(),
            Some(TRICKY_LABEL_VALUE),
            "{job}"
        );
        // A classic histogram stays classic: its buckets are series of their own.
        prom.eventually_value(
            &format!(
                "histogram_quantile(0.5, p2p_message_latency_seconds_bucket{{job=\"{job}\",type=\"request\"}})"
            ),
            |v| v > 0.0,
        );
        for target in prom.targets() {
            assert_eq!(target["health"], "up", "{job}: {target}");
            assert_eq!(target["lastError"], "", "{job}: {target}");
        }
    }

    // With the feature, Prometheus asked for protobuf first and got it, gzipped.
    let relayed = native_proxy.relayed();
    let scrape = relayed.last().expect("the native Prometheus scraped");
    assert!(
        scrape
            .request_header("accept")
            .is_some_and(|a| a.starts_with(
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,"
            )),
        "{}",
        scrape.request
    );
    assert_eq!(scrape.response.status, 200);
    assert!(
        relayed
            .iter()
            .all(|r| r.response.header("content-type") == Some(PROTOBUF)),
        "{:?}",
        native_proxy.content_types()
    );
    assert_eq!(scrape.response.header("content-encoding"), Some("gzip"));
    // Without it, OpenMetrics text as before.
    let classic_types = classic_proxy.content_types();
    assert!(
        !classic_types.is_empty()
            && classic_types
                .iter()
                .all(|t| t == "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        "{classic_types:?}"
    );
}
