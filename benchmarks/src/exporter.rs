//! The `exporter` and `scrape` groups: one real `dawn-exporter` process fed over its Unix
//! socket.
//!
//! - [`scrape`] (the `scrape` group): `/metrics` latency at 10k, 100k and 1M series, plain and
//!   as Prometheus scrapes (OpenMetrics, gzip), against the `prometheus` crate's
//!   `TextEncoder` (and flate2) on the same series; the gzip body's size; the exporter's
//!   resident memory holding them, and per series.
//! - [`ingest`]: updates per second from 4 concurrent wire clients, and exporter CPU per
//!   million updates.
//! - [`restart`]: records lost across 10 SIGKILL restarts of the exporter under a real
//!   `dawn_telemetry` client.
//! - [`native`]: a native histogram's bytes per update on the wire and the exporter's
//!   resident memory per native series, each beside the classic-only figure.
//!
//! The wire clients ([`wire`]) send the frames a node sends, built with `dawn_proto`; the
//! series they hold ([`workload`]) also exist in a `prometheus::Registry` for the baseline;
//! every figure checks on `/metrics` ([`expo`]) that the exporter shows exactly what was sent.

pub(crate) mod expo;
mod ingest;
mod native;
mod restart;
mod scrape;
mod wire;
mod workload;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::Mode;
use crate::procs::{Binaries, ExporterProc, Workdir};
use crate::summary::Summary;
use wire::WireClient;
use workload::ClientSeries;

/// Concurrent wire clients (each its own source, `client="c<k>"`).
const CLIENTS: usize = 4;

/// Caps with room for the scrape group's largest store, 1M series in four families from
/// four clients (250k each), the byte caps about three times what it needs; the defaults
/// hold 100k series, 10k per metric, 500k samples, 100k per source, 64 MiB of definitions
/// and 4 MiB of one client's id tables:
///
/// - samples: one per series (each client is its own source): 1M, 250k per source;
/// - definitions: about 190 bytes per series as the store counts them (its series slot,
///   lookup entry and rendered labels): 190 MB;
/// - a client's id tables: about 160 bytes per series as the session counts them (its slot
///   and label values): 40 MB for 250k.
///
/// The session's cap on a connection's series ids is twice `--store.max-series` (2M).
const STORE_ARGS: &[&str] = &[
    "--store.max-series",
    "1000000",
    "--store.max-series-per-metric",
    "1000000",
    "--store.max-samples",
    "1000000",
    "--store.max-samples-per-source",
    "1000000",
    "--store.max-definition-bytes",
    "536870912",
    "--ingest.max-client-bytes",
    "134217728",
];

/// Runs the `scrape` group.
pub(crate) fn run_scrape(mode: Mode, bins: &Binaries, summary: &mut Summary) -> anyhow::Result<()> {
    scrape::run(mode, bins, summary)
}

/// Runs the `exporter` group (ingest and restarts).
pub(crate) fn run(mode: Mode, bins: &Binaries, summary: &mut Summary) -> anyhow::Result<()> {
    let work = Workdir::new("exp")?;
    ingest::run(mode, bins, work.path(), summary)?;
    restart::run(mode, bins, work.path(), summary)?;
    native::run(mode, bins, work.path(), summary)?;
    Ok(())
}

/// `work/name`, created.
fn subdir(work: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let dir = work.join(name);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// A wire client and the series it holds.
type Loaded = (WireClient, ClientSeries);

/// Connects `clients` wire clients of `per_client` series each, sends their definitions
/// and initial values, and waits until the exporter has applied them all.
fn load(exporter: &ExporterProc, clients: usize, per_client: usize) -> anyhow::Result<Vec<Loaded>> {
    let before = records_total(exporter.port)?;
    let mut loaded = Vec::with_capacity(clients);
    let mut bytes = Vec::new();
    let mut updates = 0u64;
    for c in 0..clients {
        let mut client = WireClient::handshake(&exporter.socket, &format!("bench-{c}"), 1)?;
        let mut series = ClientSeries::new(c, per_client);
        bytes.clear();
        series.encode_definitions(&mut bytes)?;
        for b in 0..series.batch_count() {
            updates += series.encode_batch(b, &mut bytes)? as u64;
        }
        client.write(&bytes)?;
        loaded.push((client, series));
    }
    // Each poll renders the whole exposition under the store's lock, which holds up the
    // ingest it waits for: the larger the store, the rarer the polls.
    let poll = Duration::from_millis(match per_client {
        0..=10_000 => 20,
        10_001..=100_000 => 100,
        _ => 1000,
    });
    wait_records(
        exporter.port,
        before + updates,
        Duration::from_secs(60),
        poll,
    )?;
    for (client, series) in &mut loaded {
        client.expect_silence(&format!("client {}'s definitions", series.client))?;
    }
    Ok(loaded)
}

/// `dawn_exporter_records_total` now.
fn records_total(port: u16) -> anyhow::Result<u64> {
    let text = expo::metrics(port)?;
    let v = expo::unlabelled(&text, "dawn_exporter_records_total")
        .context("no dawn_exporter_records_total on /metrics")?;
    Ok(v as u64)
}

/// Polls `/metrics` every `poll` until `dawn_exporter_records_total` reaches `want`;
/// returns when it was first seen there. More than `want` is an error (updates nobody sent).
fn wait_records(port: u16, want: u64, within: Duration, poll: Duration) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + within;
    loop {
        let got = records_total(port)?;
        let seen = Instant::now();
        if got == want {
            return Ok(seen);
        }
        if got > want {
            bail!("the exporter applied {got} updates, more than the {want} sent");
        }
        if seen > deadline {
            bail!("the exporter applied {got} of {want} updates within {within:?}");
        }
        std::thread::sleep(poll);
    }
}

/// Fails unless `/metrics` shows every sample of `loaded` with the value last sent.
fn verify(port: u16, loaded: &[Loaded]) -> anyhow::Result<usize> {
    verify_parsed(&expo::parse(&expo::metrics(port)?)?, loaded)
}

/// Fails unless the parsed exposition `got` holds every sample of `loaded` with the value
/// last sent; returns how many were checked.
fn verify_parsed(got: &HashMap<String, f64>, loaded: &[Loaded]) -> anyhow::Result<usize> {
    let mut checked = 0;
    for (_, series) in loaded {
        let expected = series.expected();
        let wrong = expo::differences(&expected, got);
        if !wrong.is_empty() {
            bail!(
                "/metrics does not show what client {} sent: {}",
                series.client,
                wrong.join("; ")
            );
        }
        checked += expected.len();
    }
    Ok(checked)
}
