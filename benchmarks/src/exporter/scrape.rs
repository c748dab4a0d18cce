//! Scrape latency and memory at 10k and 100k series.
//!
//! Four wire clients load the [`workload`](super::workload) into a fresh exporter (10k:
//! 2,500 series each; 100k: 25,000 each; a quarter histograms). Each sample is a whole
//! `GET /metrics` (text format, no gzip) over a new loopback connection, timed from connect
//! to the last byte, as a scraper sees it. The baseline is the `prometheus` crate holding
//! the same series in a `Registry`: `TextEncoder::encode_to_string(&registry.gather())` in
//! this process, timed in alternation with the GETs. Before timing, both expositions are
//! parsed and must hold exactly the same samples (the exporter's own `dawn_*` families
//! aside). Memory is the exporter's `VmRSS` after the scrapes, with the clients connected.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;
use prometheus::TextEncoder;

use super::expo::{Scraper, parse};
use super::workload::registry;
use super::{CLIENTS, STORE_ARGS, load, subdir};
use crate::Mode;
use crate::measure::median;
use crate::procs::{Binaries, ExporterProc};
use crate::summary::{Summary, Target};

/// What one store size gave.
struct Scraped {
    /// Median GET time, ms.
    get_ms: f64,
    /// Median gather + encode time of the `prometheus` crate, ms (`None` when not timed).
    baseline_ms: Option<f64>,
    /// Exposition size in bytes.
    bytes: usize,
    /// Exporter VmRSS after the scrapes, MiB.
    rss_mib: f64,
    /// Exporter VmRSS before any client connected, MiB.
    idle_rss_mib: f64,
    /// Exporter VmRSS after loading, before any scrape, MiB.
    loaded_rss_mib: f64,
    /// Samples taken of each side.
    samples: usize,
}

/// Runs the scrape and memory figures.
pub(crate) fn run(
    mode: Mode,
    bins: &Binaries,
    work: &Path,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let (samples_10k, samples_100k) = if mode.quick { (25, 9) } else { (61, 21) };
    let small = measure(bins, work, 2_500, samples_10k, true)?;
    let large = measure(bins, work, 25_000, samples_100k, false)?;
    let baseline = small.baseline_ms.unwrap_or(f64::NAN);

    summary.record(
        "scrape_10k_series_ms",
        small.get_ms,
        "ms",
        Target::Info,
        format!(
            "median of {} GET /metrics (text, {:.1} MB) from a real exporter holding 10k series (3/4 counters, 1/4 histograms of 12 buckets) from 4 clients",
            small.samples,
            small.bytes as f64 / 1e6
        ),
    );
    summary.record(
        "scrape_10k_prometheus_text_encoder_ms",
        baseline,
        "ms",
        Target::Info,
        "baseline: prometheus crate Registry::gather + TextEncoder::encode_to_string of the same 10k series, in process, alternating with the GETs",
    );
    summary.record(
        "scrape_10k_ratio_vs_prometheus_text_encoder",
        small.get_ms / baseline,
        "ratio",
        Target::AtMost(1.0),
        format!(
            "exporter GET {:.2} ms (HTTP included) / prometheus crate in-process encode {baseline:.2} ms",
            small.get_ms
        ),
    );
    summary.record(
        "scrape_100k_series_ms",
        large.get_ms,
        "ms",
        Target::Info,
        format!(
            "median of {} GET /metrics (text, {:.1} MB) holding 100k series (25k per client)",
            large.samples,
            large.bytes as f64 / 1e6
        ),
    );
    summary.record(
        "scrape_100k_vs_10k_ratio",
        large.get_ms / small.get_ms,
        "ratio",
        Target::AtMost(12.0),
        "scrape_100k_series_ms / scrape_10k_series_ms: 10 means linear",
    );
    summary.record(
        "exporter_rss_10k_series_mib",
        small.rss_mib,
        "MiB",
        Target::AtMost(32.0),
        format!(
            "exporter VmRSS holding 10k series, 4 clients connected, after {} scrapes (idle {:.1} MiB, loaded before any scrape {:.1} MiB)",
            small.samples, small.idle_rss_mib, small.loaded_rss_mib
        ),
    );
    summary.record(
        "exporter_rss_100k_series_mib",
        large.rss_mib,
        "MiB",
        Target::AtMost(200.0),
        format!(
            "exporter VmRSS holding 100k series, 4 clients connected, after {} scrapes (loaded before any scrape {:.1} MiB)",
            large.samples, large.loaded_rss_mib
        ),
    );
    Ok(())
}

/// Loads `CLIENTS` × `per_client` series into a fresh exporter and times `samples` scrapes
/// (alternating with the baseline when `baseline`).
fn measure(
    bins: &Binaries,
    work: &Path,
    per_client: usize,
    samples: usize,
    baseline: bool,
) -> anyhow::Result<Scraped> {
    let total = CLIENTS * per_client;
    let dir = subdir(work, &format!("scrape{}k", total / 1000))?;
    let exporter = ExporterProc::start(bins, &dir, STORE_ARGS)?;
    let idle_rss_mib = exporter.proc.rss_mib()?;
    let started = Instant::now();
    let loaded = load(&exporter, CLIENTS, per_client)?;
    eprintln!(
        "  loaded {total} series in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let loaded_rss_mib = exporter.proc.rss_mib()?;
    let checked = super::verify(exporter.port, &loaded)?;

    let registry = if baseline {
        Some(registry(CLIENTS, per_client)?)
    } else {
        None
    };
    let encode = |registry: &prometheus::Registry| -> anyhow::Result<(Duration, String)> {
        let started = Instant::now();
        let families = registry.gather();
        let mut text = String::new();
        TextEncoder::new().encode_utf8(&families, &mut text)?;
        Ok((started.elapsed(), text))
    };
    let mut scraper = Scraper::new(exporter.port);
    let body = scraper.get("/metrics")?;
    if let Some(registry) = &registry {
        same_samples(&body, &encode(registry)?.1, checked)?;
    }
    let bytes = body.len();
    drop(body);

    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..samples {
        ours.push(ms(scraper.time("/metrics")?));
        if let Some(registry) = &registry {
            theirs.push(ms(encode(registry)?.0));
        }
    }
    let rss_mib = exporter.proc.rss_mib()?;
    drop(loaded);
    Ok(Scraped {
        get_ms: median(&mut ours),
        baseline_ms: registry.is_some().then(|| median(&mut theirs)),
        bytes,
        rss_mib,
        idle_rss_mib,
        loaded_rss_mib,
        samples,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Fails unless the exporter's exposition (without its own `dawn_*` samples) and the
/// baseline's hold the same samples with the same values, `expected` of them.
fn same_samples(ours: &str, theirs: &str, expected: usize) -> anyhow::Result<()> {
    let mut ours: HashMap<String, f64> = parse(ours)?;
    ours.retain(|k, _| !k.starts_with("dawn_"));
    let theirs = parse(theirs)?;
    if ours.len() != expected || theirs.len() != expected {
        bail!(
            "the exporter shows {} samples and the prometheus crate {}, expected {expected}",
            ours.len(),
            theirs.len()
        );
    }
    let differ: Vec<String> = ours
        .iter()
        .filter(|(k, v)| theirs.get(*k) != Some(v))
        .take(5)
        .map(|(k, v)| format!("{k}: exporter {v}, prometheus {:?}", theirs.get(k)))
        .collect();
    if !differ.is_empty() {
        bail!(
            "the exporter's and the prometheus crate's expositions differ: {}",
            differ.join("; ")
        );
    }
    Ok(())
}
