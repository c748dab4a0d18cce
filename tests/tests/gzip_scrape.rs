//! A real Prometheus scrapes the exporter's gzip body at 100k series: the exposition is then
//! deflated in two halves on two threads, joined into one deflate stream in one gzip member,
//! and Prometheus must read all of it. Without `prometheus` this test is reported as ignored
//! (with the reason after the run), and fails under `CI=true`.

use std::io::Read;
use std::process::ExitCode;

use dawn_proto::{Batch, Define, Frame, MetricKind, SeriesDef, Update, Value, encode_frame};
use dawn_tests::support::harness;
use dawn_tests::support::process::temp_dir;
use dawn_tests::support::prometheus::{Prometheus, Relayed, ScrapeProxy};
use dawn_tests::support::tools::PROMETHEUS;
use dawn_tests::support::{Exporter, ExporterOptions, RawClient, eventually, free_port};
use dawn_tests::trial;

/// Series per family; four families make 100k series.
const PER_FAMILY: u64 = 25_000;

/// The families: three counters and a gauge, labelled by peer.
const FAMILIES: [(&str, MetricKind); 4] = [
    ("gz_messages_total", MetricKind::Counter),
    ("gz_bytes_total", MetricKind::Counter),
    ("gz_errors_total", MetricKind::Counter),
    ("gz_queue_depth", MetricKind::Gauge),
];

/// Series `i`'s value in family `f` (all exact in an `f64`, sums included).
fn value(f: usize, i: u64) -> f64 {
    match f {
        0 => (1_000 + 7 * i) as f64,
        1 => (i * i) as f64,
        2 => (i % 13) as f64,
        _ => i as f64 / 4.0 - 100.0,
    }
}

fn peer(i: u64) -> String {
    format!("peer-{i:06}")
}

/// Every definition, series and value of the 100k series, as wire frames.
fn frames() -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut push = |frame: Frame| encode_frame(&frame, &mut bytes).expect("test frames encode");
    let mut updates = Vec::new();
    for (f, (name, kind)) in FAMILIES.iter().enumerate() {
        let metric = f as u32 + 1;
        push(Frame::Define(Define {
            id: metric,
            name: (*name).to_owned(),
            help: format!("Test series of {name}."),
            kind: *kind,
            label_names: vec!["peer".to_owned()],
            buckets: vec![],
        }));
        for i in 0..PER_FAMILY {
            let id = (f as u64 * PER_FAMILY + i + 1) as u32;
            push(Frame::Series(SeriesDef {
                id,
                metric,
                label_values: vec![peer(i)],
            }));
            let v = value(f, i);
            updates.push(Update {
                series: id,
                value: match kind {
                    MetricKind::Gauge => Value::Gauge(v),
                    _ => Value::Counter(v as u64),
                },
            });
        }
    }
    for (seq, chunk) in updates.chunks(1_000).enumerate() {
        push(Frame::Batch(Batch {
            seq: seq as u64 + 1,
            updates: chunk.to_vec(),
        }));
    }
    bytes
}

/// The members of a gzip body, each decompressed on its own (the decoder checks each
/// member's CRC-32 and length).
fn gzip_members(mut body: &[u8]) -> Vec<String> {
    let mut members = Vec::new();
    while !body.is_empty() {
        let mut member = flate2::bufread::GzDecoder::new(body);
        let mut text = String::new();
        member
            .read_to_string(&mut text)
            .unwrap_or_else(|e| panic!("gzip member {} is not valid: {e}", members.len() + 1));
        members.push(text);
        body = member.into_inner();
    }
    members
}

fn main() -> ExitCode {
    harness::main(vec![
        trial!(a_real_prometheus_reads_the_gzip_body_deflated_in_halves).needs(PROMETHEUS),
    ])
}

fn a_real_prometheus_reads_the_gzip_body_deflated_in_halves() {
    let prometheus = PROMETHEUS.path();
    let exporter = Exporter::start_with(
        ExporterOptions::default()
            .arg("--store.max-series", "200000")
            .arg("--store.max-series-per-metric", "200000")
            .arg("--store.max-samples-per-source", "200000")
            // One client defines them all (about 5 MB of definitions) and then stays
            // silent while Prometheus scrapes.
            .arg("--ingest.max-client-bytes", "67108864")
            .arg("--health.liveness-timeout", "10m"),
    );
    let mut hello = RawClient::hello_frame("node-1", 1);
    hello.flush_interval_ms = 3_600_000;
    let mut node = RawClient::handshake_with(&exporter.socket, hello);
    node.send_bytes(&frames());
    let last = peer(PER_FAMILY - 1);
    exporter.eventually_metrics("the exporter holds all 100k series", |m| {
        match m.get("gz_queue_depth", &[("peer", &last)]) {
            Some(v) if v == value(3, PER_FAMILY - 1) => Ok(()),
            other => Err(format!("gz_queue_depth of {last} is {other:?}")),
        }
    });

    // Prometheus scrapes through a proxy that records each request and response as sent.
    let proxy = ScrapeProxy::start(exporter.port, None);
    let config = format!(
        "global:\n  scrape_interval: 5s\n  scrape_timeout: 5s\nscrape_configs:\n  - job_name: gzip\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
        proxy.port
    );
    let prom = Prometheus::run(&prometheus, temp_dir(), free_port(), &config, &[]);

    prom.eventually_value(r#"up{job="gzip"}"#, |v| v == 1.0);
    let series = 4 * PER_FAMILY;
    prom.eventually_value(r#"count({__name__=~"gz_.+",job="gzip"})"#, |v| {
        v == series as f64
    });
    for (f, (name, _)) in FAMILIES.iter().enumerate() {
        let sum: f64 = (0..PER_FAMILY).map(|i| value(f, i)).sum();
        prom.eventually_value(&format!(r#"sum({name}{{job="gzip"}})"#), |v| v == sum);
        prom.eventually_value(&format!(r#"count({name}{{job="gzip"}})"#), |v| {
            v == PER_FAMILY as f64
        });
        for i in [0, 1, PER_FAMILY / 2, PER_FAMILY - 1] {
            prom.eventually_value(
                &format!(r#"{name}{{job="gzip",peer="{}"}}"#, peer(i)),
                |v| v == value(f, i),
            );
        }
    }
    // The last of the exporter's own families is in the second member: it came through.
    prom.eventually_value(r#"dawn_exporter_build_info{job="gzip"}"#, |v| v == 1.0);
    let target = eventually("the target's last scrape has no error", || {
        let targets = prom.targets();
        let [target] = targets.as_slice() else {
            return Err(format!("{} targets: {targets:?}", targets.len()));
        };
        match target["lastError"].as_str() {
            Some("") => Ok(target.clone()),
            other => Err(format!("lastError {other:?}")),
        }
    });
    assert_eq!(target["health"], "up", "{target}");

    // What Prometheus asked for and got: gzip, one member holding the whole exposition.
    let relayed: Vec<Relayed> = proxy.relayed();
    let scrape = relayed
        .last()
        .expect("Prometheus scraped through the proxy");
    assert_eq!(scrape.request_header("accept-encoding"), Some("gzip"));
    assert!(
        scrape
            .request_header("accept")
            .is_some_and(|a| a.starts_with("application/openmetrics-text;version=1.0.0,")),
        "{}",
        scrape.request
    );
    let response = &scrape.response;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-encoding"), Some("gzip"));
    assert_eq!(
        response.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let members = gzip_members(&response.body);
    assert_eq!(
        members.len(),
        1,
        "one gzip member, which every reader takes"
    );
    let text = &members[0];
    assert!(text.ends_with("# EOF\n"), "the exposition is whole");
    let samples = text.lines().filter(|l| l.starts_with("gz_")).count() as u64;
    assert_eq!(samples, series);
    // With a second core the halves were deflated apart: the first half's stream ends with
    // a sync flush, whose empty stored block is the bytes 00 00 ff ff (that some 0.3 MB of
    // deflate data holds them otherwise has a chance of about 1 in 10,000).
    if std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2 {
        assert!(
            response.body.windows(4).any(|w| w == [0, 0, 0xff, 0xff]),
            "no sync flush in the body: it was not deflated in halves"
        );
    }
}
