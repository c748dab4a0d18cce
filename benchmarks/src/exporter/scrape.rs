//! Scrape latency, compression and memory at 10k, 100k and 1M series (the `scrape` group).
//!
//! Four wire clients load the [`workload`](super::workload) into a fresh exporter (10k:
//! 2,500 series each; 100k: 25,000 each; 1M: 250,000 each; a quarter histograms). Each
//! sample is a whole `GET /metrics` over a new loopback connection, timed from connect to
//! the last byte, as a scraper sees it, in two kinds taken in alternation:
//!
//! - plain: no `Accept` header, no gzip: the text format, uncompressed;
//! - as Prometheus scrapes: the exact `Accept`, `Accept-Encoding: gzip`, `User-Agent` and
//!   timeout headers Prometheus 2.42 sends ([`PROMETHEUS_HEADERS`]), so OpenMetrics, gzipped.
//!
//! The baselines (at 10k) are the `prometheus` crate holding the same series in a
//! `Registry`: `TextEncoder` of `registry.gather()` in this process, and the same text
//! gzipped by flate2 at its default level, timed in alternation with the GETs. Before
//! timing, at every size, the plain exposition is parsed and must hold exactly the samples
//! the clients sent with their values (the exporter's own `dawn_*` families aside), and the
//! gzip body, which must be one gzip member, must decompress to the same samples; at 10k the
//! baseline's exposition must hold them too. The compressed size is compared with flate2's
//! default level on the same (decompressed) body. Meanwhile the clients send a `Heartbeat`
//! every second, as a node does, since the checks at 1M outlast the exporter's liveness
//! timeout.
//!
//! Memory is the exporter's `VmRSS` after the scrapes, with the clients connected; per
//! series, that less the same exporter's `VmRSS` before any client connected. The notes
//! give it before any scrape too, and the peak (`VmHWM`) during each kind of scrape.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use flate2::Compression;
use flate2::write::GzEncoder;
use prometheus::TextEncoder;

use super::expo::{PROMETHEUS_HEADERS, Scraper, gunzip_members, parse};
use super::wire::Pulse;
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
    SCRAPE_1M_MS,
    GZIP_1M_MS,
    RSS_1M,
    BYTES_PER_SERIES_10K,
    BYTES_PER_SERIES_100K,
    BYTES_PER_SERIES_1M,
    RSS_1M_VS_100K,
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
const SCRAPE_1M_MS: Spec = spec("scrape_1m_series_ms", "ms", Target::Info);
const GZIP_1M_MS: Spec = spec("scrape_1m_gzip_ms", "ms", Target::AtMost(2000.0));
const RSS_1M: Spec = spec("exporter_rss_1m_series_mib", "MiB", Target::AtMost(700.0));
const BYTES_PER_SERIES_10K: Spec = spec("exporter_bytes_per_series_10k", "B", Target::Info);
const BYTES_PER_SERIES_100K: Spec = spec("exporter_bytes_per_series_100k", "B", Target::Info);
const BYTES_PER_SERIES_1M: Spec = spec("exporter_bytes_per_series_1m", "B", Target::Info);
const RSS_1M_VS_100K: Spec = spec(
    "exporter_rss_1m_vs_100k_ratio",
    "ratio",
    Target::AtMost(11.0),
);

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
    /// Exporter VmHWM over each timed plain scrape (from VmRSS before it), the most of
    /// them, MiB.
    plain_peak_mib: f64,
    /// The same over the gzip scrapes, MiB.
    gzip_peak_mib: f64,
    /// Samples taken of each kind.
    samples: usize,
    /// Series held.
    series: usize,
}

impl Scraped {
    /// What the exporter holds for the series: VmRSS after the scrapes less VmRSS before
    /// any client connected, in bytes.
    fn net_rss_bytes(&self) -> f64 {
        (self.rss_mib - self.idle_rss_mib) * MIB
    }

    /// [`Scraped::net_rss_bytes`] per series.
    fn bytes_per_series(&self) -> f64 {
        self.net_rss_bytes() / self.series as f64
    }

    /// How the memory figure of `series` series was taken, and the memory of the other
    /// phases.
    fn memory_note(&self, series: &str) -> String {
        format!(
            "exporter VmRSS holding {series} series, 4 clients connected, after {n} plain and {n} gzip scrapes (idle {:.1} MiB; loaded, before any scrape {:.1} MiB; peak during a plain scrape {:.1} MiB, during a gzip scrape {:.1} MiB)",
            self.idle_rss_mib,
            self.loaded_rss_mib,
            self.plain_peak_mib,
            self.gzip_peak_mib,
            n = self.samples,
        )
    }
}

/// Bytes in a MiB.
const MIB: f64 = 1024.0 * 1024.0;

/// A gzip body and what it holds.
struct Gzipped {
    bytes: usize,
    text_bytes: usize,
}

/// Runs the group.
pub(crate) fn run(mode: Mode, bins: &Binaries, summary: &mut Summary) -> anyhow::Result<()> {
    let work = crate::procs::Workdir::new("scrape")?;
    let work = work.path();
    let (samples_10k, samples_100k, samples_1m) = if mode.quick { (25, 9, 3) } else { (61, 21, 5) };
    let small = measure(bins, work, 2_500, samples_10k, true)?;
    let large = measure(bins, work, 25_000, samples_100k, false)?;
    let huge = measure(bins, work, 250_000, samples_1m, false)?;
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
    summary.put(&RSS_10K, small.rss_mib, small.memory_note("10k"));
    summary.put(&RSS_100K, large.rss_mib, large.memory_note("100k"));
    summary.put(
        &SCRAPE_1M_MS,
        huge.plain_ms,
        format!(
            "median of {} GET /metrics (text, {:.0} MB) holding 1M series (250k per client)",
            huge.samples,
            huge.bytes as f64 / 1e6
        ),
    );
    summary.put(
        &GZIP_1M_MS,
        huge.gzip_ms,
        format!(
            "median of {} GET /metrics as Prometheus makes them holding 1M series, alternating with the plain GETs: OpenMetrics, {:.0} MB gzipped to {:.1} MB ({:.3} of flate2's default level)",
            huge.samples,
            huge.gzip.text_bytes as f64 / 1e6,
            huge.gzip.bytes as f64 / 1e6,
            huge.gzip.bytes as f64 / huge.flate2_default_bytes as f64
        ),
    );
    summary.put(&RSS_1M, huge.rss_mib, huge.memory_note("1M"));
    for (scraped, spec) in [
        (&small, &BYTES_PER_SERIES_10K),
        (&large, &BYTES_PER_SERIES_100K),
        (&huge, &BYTES_PER_SERIES_1M),
    ] {
        summary.put(
            spec,
            scraped.bytes_per_series(),
            format!(
                "(VmRSS holding the series after the scrapes {:.1} MiB - VmRSS of the same exporter before any client connected {:.1} MiB) / {} series; loaded, before any scrape: {:.0} B",
                scraped.rss_mib,
                scraped.idle_rss_mib,
                scraped.series,
                (scraped.loaded_rss_mib - scraped.idle_rss_mib) * MIB / scraped.series as f64
            ),
        );
    }
    summary.put(
        &RSS_1M_VS_100K,
        huge.net_rss_bytes() / large.net_rss_bytes(),
        format!(
            "(exporter_rss_1m_series_mib - its idle) / (exporter_rss_100k_series_mib - its idle) = {:.1} MiB / {:.1} MiB, 10 times the series: 10 means linear",
            huge.net_rss_bytes() / MIB,
            large.net_rss_bytes() / MIB
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
    let mut loaded = load(&exporter, CLIENTS, per_client)?;
    eprintln!(
        "  loaded {total} series in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let loaded_rss_mib = exporter.proc.rss_mib()?;
    // The checks below take longer than the exporter's liveness timeout at 1M series.
    let pulse = Pulse::start(loaded.iter().map(|(client, _)| client))?;
    let started = Instant::now();
    let mut scraper = Scraper::new(exporter.port);
    let body = scraper.get("/metrics")?;
    let ours = without_own(parse(&body)?);
    let checked = super::verify_parsed(&ours, &loaded)?;
    if ours.len() != checked {
        bail!(
            "the exporter shows {} samples, {checked} of them sent by the clients",
            ours.len()
        );
    }
    let registry = if baseline {
        Some(registry(CLIENTS, per_client)?)
    } else {
        None
    };
    if let Some(registry) = &registry {
        same_samples(&ours, &encode(registry)?.1, checked)?;
    }
    let bytes = body.len();
    drop(body);
    let (gzip, flate2_default_bytes) = check_gzip(&mut scraper, &ours)?;
    drop(ours);
    eprintln!(
        "  checked {checked} samples in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let (mut plain, mut gzipped) = (Vec::new(), Vec::new());
    let (mut theirs, mut theirs_gzip) = (Vec::new(), Vec::new());
    let (mut plain_peak_mib, mut gzip_peak_mib) = (0.0f64, 0.0f64);
    for _ in 0..samples {
        exporter.proc.reset_peak_rss()?;
        plain.push(ms(scraper.time("/metrics")?));
        plain_peak_mib = plain_peak_mib.max(exporter.proc.peak_rss_mib()?);
        exporter.proc.reset_peak_rss()?;
        gzipped.push(ms(scraper.time_with("/metrics", PROMETHEUS_HEADERS)?));
        gzip_peak_mib = gzip_peak_mib.max(exporter.proc.peak_rss_mib()?);
        if let Some(registry) = &registry {
            theirs.push(ms(encode(registry)?.0));
            theirs_gzip.push(ms(encode_gzip(registry)?));
        }
    }
    let rss_mib = exporter.proc.rss_mib()?;
    pulse.stop()?;
    for (client, series) in &mut loaded {
        client.expect_silence(&format!("client {}'s heartbeats", series.client))?;
    }
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
        plain_peak_mib,
        gzip_peak_mib,
        samples,
        series: total,
    })
}

/// Scrapes as Prometheus does and checks the answer: gzip, OpenMetrics, and once
/// decompressed the same samples as the plain exposition's, `plain` (parsed, without the
/// exporter's own). Returns the body's figures and the size of flate2's default level on
/// the same text.
fn check_gzip(
    scraper: &mut Scraper,
    plain: &HashMap<String, f64>,
) -> anyhow::Result<(Gzipped, usize)> {
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
    if ours != *plain {
        bail!(
            "the gzip body holds {} samples and the plain exposition {}, or their values differ",
            ours.len(),
            plain.len()
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

/// Fails unless the exporter's exposition `ours` (parsed, without its own `dawn_*`
/// samples) and the baseline's hold the same samples with the same values, `expected` of
/// them.
fn same_samples(ours: &HashMap<String, f64>, theirs: &str, expected: usize) -> anyhow::Result<()> {
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
