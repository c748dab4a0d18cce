//! Ingest rate: how many cumulative updates per second one exporter applies from 4
//! concurrent clients holding 10k series.
//!
//! Four wire clients (threads of this process) load 2,500 series each, then send rounds of
//! `Batch` frames (1,000 updates each, every series advanced once per round) as fast as
//! the socket takes them for the measured time. The clock runs from releasing the clients
//! until `dawn_exporter_records_total` on `/metrics` shows every update sent as applied
//! (polled every few ms once the clients stop); afterwards `/metrics` must show each
//! series' last value sent, and no client may have received an `Error` frame. CPU is the
//! exporter process's user + system time from `/proc` over the same window.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::{CLIENTS, Loaded, STORE_ARGS, load, records_total, subdir, verify, wait_records};
use crate::Mode;
use crate::procs::{Binaries, ExporterProc, thread_cpu_time};
use crate::summary::{Summary, Target};

/// Series per client.
const PER_CLIENT: usize = 2_500;

/// What a client thread did.
struct Sent {
    loaded: Loaded,
    updates: u64,
    cpu: Duration,
}

/// Runs the ingest figures.
pub(crate) fn run(
    mode: Mode,
    bins: &Binaries,
    work: &Path,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let run_for = Duration::from_secs(if mode.quick { 3 } else { 10 });
    let dir = subdir(work, "ingest")?;
    let exporter = ExporterProc::start(bins, &dir, STORE_ARGS)?;
    let loaded = load(&exporter, CLIENTS, PER_CLIENT)?;
    let before = records_total(exporter.port)?;

    let stop = Arc::new(AtomicBool::new(false));
    let go = Arc::new(Barrier::new(CLIENTS + 1));
    let threads: Vec<_> = loaded
        .into_iter()
        .map(|loaded| {
            let (stop, go) = (Arc::clone(&stop), Arc::clone(&go));
            std::thread::spawn(move || send_rounds(loaded, &stop, &go))
        })
        .collect();
    let cpu_before = exporter.proc.cpu_time()?;
    let started = Instant::now();
    go.wait();
    std::thread::sleep(run_for);
    stop.store(true, Ordering::Relaxed);
    let mut sent = Vec::new();
    for t in threads {
        sent.push(
            t.join()
                .map_err(|_| anyhow::anyhow!("a client thread panicked"))??,
        );
    }
    let updates: u64 = sent.iter().map(|s| s.updates).sum();
    let done = wait_records(
        exporter.port,
        before + updates,
        Duration::from_secs(60),
        Duration::from_millis(5),
    )?;
    let cpu = exporter.proc.cpu_time()? - cpu_before;
    let elapsed = done - started;
    let client_cpu: Duration = sent.iter().map(|s| s.cpu).sum();

    let mut loaded: Vec<Loaded> = sent.into_iter().map(|s| s.loaded).collect();
    for (client, series) in &mut loaded {
        client.expect_silence(&format!("client {}'s batches", series.client))?;
    }
    let checked = verify(exporter.port, &loaded)?;

    let rate = updates as f64 / elapsed.as_secs_f64();
    let per_million = cpu.as_secs_f64() / (updates as f64 / 1e6);
    summary.record(
        "exporter_ingest_records_per_sec",
        rate,
        "updates/s",
        Target::Info,
        format!(
            "{updates} cumulative updates (10k series: 3/4 counters, 1/4 histograms) from 4 concurrent wire clients in {:.2} s, all applied (records_total) and all {checked} samples checked on /metrics; the exporter averaged {:.2} cores, the clients {:.2} (the machine has {})",
            elapsed.as_secs_f64(),
            cpu.as_secs_f64() / elapsed.as_secs_f64(),
            client_cpu.as_secs_f64() / elapsed.as_secs_f64(),
            std::thread::available_parallelism().map_or(0, usize::from)
        ),
    );
    summary.record(
        "exporter_ingest_cpu_seconds_per_million",
        per_million,
        "s",
        Target::AtMost(0.02),
        format!(
            "exporter user+system CPU ({:.2} s over the same window) per million updates applied",
            cpu.as_secs_f64()
        ),
    );
    Ok(())
}

/// One client: waits for `go`, then sends rounds until `stop`.
fn send_rounds(mut loaded: Loaded, stop: &AtomicBool, go: &Barrier) -> anyhow::Result<Sent> {
    let (client, series) = &mut loaded;
    let mut bytes = Vec::with_capacity(32 * 1024);
    let mut updates = 0u64;
    go.wait();
    let cpu_before = thread_cpu_time()?;
    'rounds: loop {
        for b in 0..series.batch_count() {
            if stop.load(Ordering::Relaxed) {
                break 'rounds;
            }
            series.advance_batch(b);
            bytes.clear();
            updates += series.encode_batch(b, &mut bytes)? as u64;
            client
                .write(&bytes)
                .with_context(|| format!("client {}", series.client))?;
        }
    }
    let cpu = thread_cpu_time()? - cpu_before;
    Ok(Sent {
        loaded,
        updates,
        cpu,
    })
}
