//! Scrape latency, compression and memory at 10k and 100k series (the `scrape` group).
//!
//! Four wire clients load the [`workload`](super::workload) into a fresh exporter (10k:
//! 2,500 series each; 100k: 25,000 each; a quarter histograms). Each sample is a whole
//! `GET /metrics` over a new loopback connection, timed from connect to the last byte, as a
//! scraper sees it, in two kinds taken in alternation:
//!
//! - plain: no `Accept` header, no gzip: the text format, uncompressed;
//! - as Prometheus scrapes: the exact `Accept`, `Accept-Encoding: gzip`, `User-Agent` and
//!   timeout headers Prometheus 2.42 sends ([`PROMETHEUS_HEADERS`]), so OpenMetrics, gzipped.
//!
//! The baselines are the `prometheus` crate holding the same series in a `Registry`:
//! `TextEncoder` of `registry.gather()` in this process, and the same text gzipped by flate2
//! at its default level, timed in alternation with the GETs. Before timing, the expositions
//! are parsed and must hold exactly the same samples (the exporter's own `dawn_*` families
//! aside), the gzip body once decompressed included, which must be one gzip member. The
//! compressed size is compared with flate2's default level on the same (decompressed) body. Memory is the exporter's `VmRSS`
//! after the scrapes, with the clients connected.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use flate2::Compression;
use flate2::write::GzEncoder;
use prometheus::TextEncoder;

use super::expo::{PROMETHEUS_HEADERS, Scraper, gunzip_members, parse};
use super::workload::registry;
use super::{CLIENTS, STORE_ARGS, load, subdir};
use crate::Mode;
use crate::measure::median;
use crate::procs::{Binaries, ExporterProc};
use crate::summary::{Spec, Summary, Target};

/// The figures of this group, each declared once (docs/benchmarks.md describes every one:
/// a test checks that it names them all).
pub(crate) const FIGURES: &[Spec] = &[
    SCRAPE_10K_MS,
    BASELINE_10K_MS,
    RATIO_10K_VS_BASELINE,
    SCRAPE_100K_MS,
    RATIO_100K_VS_10K,
    GZIP_10K_MS,
    GZIP_BASELINE_10K_MS,
    GZIP_10K_VS_PLAIN,
    GZIP_10K_VS_BASELINE,
    GZIP_10K_BYTES,
    GZIP_10K_SIZE_VS_DEFAULT,
    GZIP_100K_MS,
    GZIP_100K_VS_PLAIN,
    GZIP_100K_BYTES,
    GZIP_100K_SIZE_VS_DEFAULT,
    RSS_10K,
    RSS_100K,
];

const fn spec(name: &'static str, unit: &'static str, target: Target) -> Spec {
    Spec { name, unit, target }
}

const SCRAPE_10K_MS: Spec = spec("scrape_10k_series_ms", "ms", Target::Info);
const BASELINE_10K_MS: Spec = spec("scrape_10k_prometheus_text_encoder_ms", "ms", Target::Info);
const RATIO_10K_VS_BASELINE: Spec = spec(
    "scrape_10k_ratio_vs_prometheus_text_encoder",
    "ratio",
    Target::AtMost(1.0),
);
const SCRAPE_100K_MS: Spec = spec("scrape_100k_series_ms", "ms", Target::Info);
const RATIO_100K_VS_10K: Spec = spec("scrape_100k_vs_10k_ratio", "ratio", Target::AtMost(12.0));
const GZIP_10K_MS: Spec = spec("scrape_10k_gzip_ms", "ms", Target::Info);
const GZIP_BASELINE_10K_MS: Spec = spec(
    "scrape_10k_prometheus_text_encoder_gzip_ms",
    "ms",
    Target::Info,
);
const GZIP_10K_VS_PLAIN: Spec = spec(
    "scrape_10k_gzip_ratio_vs_plain",
    "ratio",
    Target::AtMost(2.0),
);
const GZIP_10K_VS_BASELINE: Spec = spec(
    "scrape_10k_gzip_ratio_vs_baseline",
    "ratio",
    Target::AtMost(0.5),
);
const GZIP_10K_BYTES: Spec = spec("scrape_10k_gzip_bytes", "B", Target::Info);
const GZIP_10K_SIZE_VS_DEFAULT: Spec = spec(
    "scrape_10k_gzip_size_vs_flate2_default",
    "ratio",
    Target::AtMost(1.15),
);
const GZIP_100K_MS: Spec = spec("scrape_100k_gzip_ms", "ms", Target::Info);
const GZIP_100K_VS_PLAIN: Spec = spec("scrape_100k_gzip_ratio_vs_plain", "ratio", Target::Info);
const GZIP_100K_BYTES: Spec = spec("scrape_100k_gzip_bytes", "B", Target::Info);
const GZIP_100K_SIZE_VS_DEFAULT: Spec = spec(
    "scrape_100k_gzip_size_vs_flate2_default",
    "ratio",
    Target::AtMost(1.15),
);
const RSS_10K: Spec = spec("exporter_rss_10k_series_mib", "MiB", Target::AtMost(32.0));
const RSS_100K: Spec = spec("exporter_rss_100k_series_mib", "MiB", Target::AtMost(200.0));

/// What one store size gave.
struct Scraped {
    /// Median plain GET time, ms.
    plain_ms: f64,
    /// Median GET time as Prometheus scrapes (OpenMetrics, gzip), ms.
    gzip_ms: f64,
    /// Median gather + encode time of the `prometheus` crate, ms (`None` when not timed).
    baseline_ms: Option<f64>,
    /// Median gather + encode + flate2 default-level gzip time, ms (`None` when not timed).
    baseline_gzip_ms: Option<f64>,
    /// Plain exposition size in bytes.
    bytes: usize,
    /// The gzip body as Prometheus gets it: its size and the size of the
    /// OpenMetrics text it decompresses to.
    gzip: Gzipped,
    /// flate2's default level on the same OpenMetrics text, bytes.
    flate2_default_bytes: usize,
    /// Exporter VmRSS after the scrapes, MiB.
    rss_mib: f64,
    /// Exporter VmRSS before any client connected, MiB.
    idle_rss_mib: f64,
    /// Exporter VmRSS after loading, before any scrape, MiB.
    loaded_rss_mib: f64,
    /// Samples taken of each kind.
    samples: usize,
}

/// A gzip body and what it holds.
struct Gzipped {
    bytes: usize,
    text_bytes: usize,
}

/// Runs the group.
pub(crate) fn run(mode: Mode, bins: &Binaries, summary: &mut Summary) -> anyhow::Result<()> {
    let work = crate::procs::Workdir::new("scrape")?;
    let work = work.path();
    let (samples_10k, samples_100k) = if mode.quick { (25, 9) } else { (61, 21) };
    let small = measure(bins, work, 2_500, samples_10k, true)?;
    let large = measure(bins, work, 25_000, samples_100k, false)?;
    let baseline = small.baseline_ms.unwrap_or(f64::NAN);
    let baseline_gzip = small.baseline_gzip_ms.unwrap_or(f64::NAN);

    summary.put(
        &SCRAPE_10K_MS,
        small.plain_ms,
        format!(
            "median of {} GET /metrics (text, {:.1} MB) from a real exporter holding 10k series (3/4 counters, 1/4 histograms of 12 buckets) from 4 clients",
            small.samples,
            small.bytes as f64 / 1e6
        ),
    );
    summary.put(
        &BASELINE_10K_MS,
        baseline,
        "baseline: prometheus crate Registry::gather + TextEncoder::encode_to_string of the same 10k series, in process, alternating with the GETs",
    );
    summary.put(
        &RATIO_10K_VS_BASELINE,
        small.plain_ms / baseline,
        format!(
            "exporter GET {:.2} ms (HTTP included) / prometheus crate in-process encode {baseline:.2} ms",
            small.plain_ms
        ),
    );
    summary.put(
        &SCRAPE_100K_MS,
        large.plain_ms,
        format!(
            "median of {} GET /metrics (text, {:.1} MB) holding 100k series (25k per client)",
            large.samples,
            large.bytes as f64 / 1e6
        ),
    );
    summary.put(
        &RATIO_100K_VS_10K,
        large.plain_ms / small.plain_ms,
        "scrape_100k_series_ms / scrape_10k_series_ms: 10 means linear",
    );
    summary.put(
        &GZIP_10K_MS,
        small.gzip_ms,
        format!(
            "median of {} GET /metrics with Prometheus 2.42's Accept and Accept-Encoding: gzip, alternating with the plain GETs: OpenMetrics, {:.1} MB gzipped to {:.0} kB",
            small.samples,
            small.gzip.text_bytes as f64 / 1e6,
            small.gzip.bytes as f64 / 1e3
        ),
    );
    summary.put(
        &GZIP_BASELINE_10K_MS,
        baseline_gzip,
        "baseline: the prometheus crate's TextEncoder output of the same 10k series gzipped by flate2 at Compression::default() (level 6), in process, alternating with the GETs",
    );
    summary.put(
        &GZIP_10K_VS_PLAIN,
        small.gzip_ms / small.plain_ms,
        format!(
            "scrape as Prometheus makes it {:.2} ms / plain scrape {:.2} ms",
            small.gzip_ms, small.plain_ms
        ),
    );
    summary.put(
        &GZIP_10K_VS_BASELINE,
        small.gzip_ms / baseline_gzip,
        format!(
            "exporter gzip GET {:.2} ms (HTTP included) / prometheus crate encode + flate2 default gzip {baseline_gzip:.2} ms",
            small.gzip_ms
        ),
    );
    for (scraped, bytes, size, series) in [
        (&small, &GZIP_10K_BYTES, &GZIP_10K_SIZE_VS_DEFAULT, "10k"),
        (&large, &GZIP_100K_BYTES, &GZIP_100K_SIZE_VS_DEFAULT, "100k"),
    ] {
        summary.put(
            bytes,
            scraped.gzip.bytes as f64,
            format!(
                "gzip body of the {series}-series OpenMetrics exposition ({} bytes, {:.1} times smaller)",
                scraped.gzip.text_bytes,
                scraped.gzip.text_bytes as f64 / scraped.gzip.bytes as f64
            ),
        );
        summary.put(
            size,
            scraped.gzip.bytes as f64 / scraped.flate2_default_bytes as f64,
            format!(
                "{} bytes / {} bytes of flate2 Compression::default() on the same {series} text",
                scraped.gzip.bytes, scraped.flate2_default_bytes
            ),
        );
    }
    summary.put(
        &GZIP_100K_MS,
        large.gzip_ms,
        format!(
            "median of {} GET /metrics as Prometheus makes them holding 100k series: OpenMetrics, {:.1} MB gzipped to {:.2} MB",
            large.samples,
            large.gzip.text_bytes as f64 / 1e6,
            large.gzip.bytes as f64 / 1e6
        ),
    );
    summary.put(
        &GZIP_100K_VS_PLAIN,
        large.gzip_ms / large.plain_ms,
        format!(
            "scrape as Prometheus makes it {:.1} ms / plain scrape {:.1} ms, 100k series",
            large.gzip_ms, large.plain_ms
        ),
    );
    summary.put(
        &RSS_10K,
        small.rss_mib,
        format!(
            "exporter VmRSS holding 10k series, 4 clients connected, after {} plain and {} gzip scrapes (idle {:.1} MiB, loaded before any scrape {:.1} MiB)",
            small.samples, small.samples, small.idle_rss_mib, small.loaded_rss_mib
        ),
    );
    summary.put(
        &RSS_100K,
        large.rss_mib,
        format!(
            "exporter VmRSS holding 100k series, 4 clients connected, after {} plain and {} gzip scrapes (loaded before any scrape {:.1} MiB)",
            large.samples, large.samples, large.loaded_rss_mib
        ),
    );
    let unrecorded: Vec<&str> = FIGURES
        .iter()
        .filter(|f| !summary.figures().iter().any(|r| r.name == f.name))
        .map(|f| f.name)
        .collect();
    if !unrecorded.is_empty() {
        bail!("the scrape group declares figures it did not record: {unrecorded:?}");
    }
    Ok(())
}

/// Gathers and encodes `registry` as the `prometheus` crate does; the time and the text.
fn encode(registry: &prometheus::Registry) -> anyhow::Result<(Duration, String)> {
    let started = Instant::now();
    let families = registry.gather();
    let mut text = String::new();
    TextEncoder::new().encode_utf8(&families, &mut text)?;
    Ok((started.elapsed(), text))
}

/// `text` gzipped by flate2 at its default level.
fn gzip_default(text: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(text)?;
    Ok(gz.finish()?)
}

/// [`encode`] then [`gzip_default`]: the time of both.
fn encode_gzip(registry: &prometheus::Registry) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let (_, text) = encode(registry)?;
    std::hint::black_box(gzip_default(text.as_bytes())?);
    Ok(started.elapsed())
}

/// Loads `CLIENTS` × `per_client` series into a fresh exporter and times `samples` scrapes
/// of each kind (alternating with the baselines when `baseline`).
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
    let mut scraper = Scraper::new(exporter.port);
    let body = scraper.get("/metrics")?;
    if let Some(registry) = &registry {
        same_samples(&body, &encode(registry)?.1, checked)?;
    }
    let (gzip, flate2_default_bytes) = check_gzip(&mut scraper, &body)?;
    let bytes = body.len();
    drop(body);

    let (mut plain, mut gzipped) = (Vec::new(), Vec::new());
    let (mut theirs, mut theirs_gzip) = (Vec::new(), Vec::new());
    for _ in 0..samples {
        plain.push(ms(scraper.time("/metrics")?));
        gzipped.push(ms(scraper.time_with("/metrics", PROMETHEUS_HEADERS)?));
        if let Some(registry) = &registry {
            theirs.push(ms(encode(registry)?.0));
            theirs_gzip.push(ms(encode_gzip(registry)?));
        }
    }
    let rss_mib = exporter.proc.rss_mib()?;
    drop(loaded);
    Ok(Scraped {
        plain_ms: median(&mut plain),
        gzip_ms: median(&mut gzipped),
        baseline_ms: registry.is_some().then(|| median(&mut theirs)),
        baseline_gzip_ms: registry.is_some().then(|| median(&mut theirs_gzip)),
        bytes,
        gzip,
        flate2_default_bytes,
        rss_mib,
        idle_rss_mib,
        loaded_rss_mib,
        samples,
    })
}

/// Scrapes as Prometheus does and checks the answer: gzip, OpenMetrics, and once
/// decompressed the same samples as the plain exposition `plain`. Returns the body's
/// figures and the size of flate2's default level on the same text.
fn check_gzip(scraper: &mut Scraper, plain: &str) -> anyhow::Result<(Gzipped, usize)> {
    scraper.time_with("/metrics", PROMETHEUS_HEADERS)?;
    let response = scraper.response()?;
    let encoding = response.header("content-encoding");
    if encoding != Some("gzip") {
        bail!("a scrape as Prometheus makes it was answered with Content-Encoding {encoding:?}");
    }
    let content_type = response.header("content-type").unwrap_or_default();
    if !content_type.starts_with("application/openmetrics-text; version=1.0.0") {
        bail!("a scrape as Prometheus makes it was answered with Content-Type {content_type:?}");
    }
    let (text, members) = gunzip_members(&response.body)?;
    if members != 1 {
        // Valid gzip, but curl (7.88) reads only the first member.
        bail!("the gzip body has {members} members, not one");
    }
    if !text.ends_with("# EOF\n") {
        bail!("the decompressed OpenMetrics exposition does not end with # EOF");
    }
    let ours = without_own(parse(&text).context("the decompressed exposition")?);
    let want = without_own(parse(plain)?);
    if ours != want {
        bail!(
            "the gzip body holds {} samples and the plain exposition {}, or their values differ",
            ours.len(),
            want.len()
        );
    }
    let flate2_default_bytes = gzip_default(text.as_bytes())?.len();
    Ok((
        Gzipped {
            bytes: response.body.len(),
            text_bytes: text.len(),
        },
        flate2_default_bytes,
    ))
}

/// The samples of an exposition but the exporter's own (`dawn_*`, which change between
/// scrapes).
fn without_own(mut samples: HashMap<String, f64>) -> HashMap<String, f64> {
    samples.retain(|k, _| !k.starts_with("dawn_"));
    samples
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Fails unless the exporter's exposition (without its own `dawn_*` samples) and the
/// baseline's hold the same samples with the same values, `expected` of them.
fn same_samples(ours: &str, theirs: &str, expected: usize) -> anyhow::Result<()> {
    let ours = without_own(parse(ours)?);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_figure_is_declared_once_and_documented() {
        let docs = include_str!("../../../docs/benchmarks.md");
        let mut names: Vec<&str> = FIGURES.iter().map(|f| f.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a figure is declared twice");
        for name in names {
            assert!(
                docs.contains(&format!("**{name}**")),
                "docs/benchmarks.md does not describe {name}"
            );
        }
    }
}
