//! Freshness: how long after an event its new value shows on the exporter's `/metrics`, at
//! the default flush interval.
//!
//! A `dawn_telemetry::Telemetry` instance in this process, configured as the node's is
//! by default (`TelemetryConfig::new`: 1 s flush), reports to a real `dawn-exporter`. Each
//! sample waits a random fraction of the flush interval (so that events land at uniformly
//! random phases of the shipper's schedule), increments a counter, and polls `/metrics`
//! every [`POLL`] until the new total appears. The figure is the worst sample; the mean is
//! reported too. The polling adds at most one poll period plus one scrape to each sample.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use dawn_proto::MetricKind;
use dawn_telemetry::MetricSpec;
use dawn_telemetry::{Telemetry, TelemetryConfig};

use super::{Rng, sample};
use crate::Mode;
use crate::procs::{Binaries, ExporterProc};
use crate::summary::{Summary, Target};

/// The counter the samples increment.
const EVENTS: MetricSpec = MetricSpec {
    name: "dawn_bench_freshness_events_total",
    help: "Events recorded by dawn-bench's freshness figure.",
    kind: MetricKind::Counter,
    labels: &[],
    buckets: &[],
    native: None,
};
/// Pause between two scrapes while waiting for a value.
const POLL: Duration = Duration::from_millis(2);

/// The counter's value on `/metrics` now (`None` before its first batch arrives).
fn scrape(rt: &tokio::runtime::Runtime, url: &str) -> anyhow::Result<Option<f64>> {
    let r = rt.block_on(dawn_daemon::http_get::get(url, &[], Duration::from_secs(5)))?;
    if r.status != 200 {
        bail!("{url} answered {}", r.status);
    }
    Ok(sample(&r.text(), EVENTS.name, &[]))
}

/// Polls until the counter shows at least `want`; the time since `since`.
fn wait_for(
    rt: &tokio::runtime::Runtime,
    url: &str,
    want: f64,
    since: Instant,
    within: Duration,
) -> anyhow::Result<Duration> {
    loop {
        if scrape(rt, url)?.is_some_and(|v| v >= want) {
            return Ok(since.elapsed());
        }
        if since.elapsed() > within {
            bail!(
                "{} did not reach {want} on {url} within {within:?}",
                EVENTS.name
            );
        }
        std::thread::sleep(POLL);
    }
}

/// Runs the figure.
pub(super) fn run(
    mode: Mode,
    bins: &Binaries,
    dir: &Path,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let samples = if mode.quick { 10 } else { 50 };
    let home = dir.join("freshness");
    std::fs::create_dir_all(&home)?;
    let exporter = ExporterProc::start(bins, &home, &[])?;
    let url = exporter.url("/metrics");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    // Defaults throughout, as `dawn-node run` uses them: the figure is of the 1 s flush.
    let telemetry = Telemetry::start(TelemetryConfig::new(
        &exporter.socket,
        "dawn-bench-freshness",
    ))?;
    let flush = telemetry.config().flush_interval;
    let events = telemetry.counter(&EVENTS).handle();
    wait_for(&rt, &url, 0.0, Instant::now(), Duration::from_secs(20))
        .context("the telemetry client never reached the exporter")?;

    let mut phases = Rng::new();
    let mut seen = Vec::with_capacity(samples);
    for i in 1..=samples {
        std::thread::sleep(flush.mul_f64(phases.next()));
        events.inc();
        let recorded = Instant::now();
        let latency = wait_for(&rt, &url, i as f64, recorded, flush * 10)?;
        seen.push(latency.as_secs_f64() * 1e3);
    }
    telemetry.shutdown();

    let worst = seen.iter().copied().fold(0.0, f64::max);
    let mean = seen.iter().sum::<f64>() / seen.len() as f64;
    let flush_ms = flush.as_secs_f64() * 1e3;
    summary.record(
        "freshness_ms",
        worst,
        "ms",
        Target::AtMost(1.1 * flush_ms),
        format!(
            "worst of {samples} events at random flush phases, {flush_ms:.0} ms flush, /metrics polled every {} ms",
            POLL.as_millis()
        ),
    );
    summary.record(
        "freshness_mean_ms",
        mean,
        "ms",
        Target::Info,
        format!("mean of the same {samples} (half the flush interval is expected)"),
    );
    Ok(())
}
