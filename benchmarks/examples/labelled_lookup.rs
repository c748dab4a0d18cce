//! Instructions per labelled lookup and increment, for callgrind: the operation of
//! `hot_labelled_inc_ratio_vs_prometheus` (`CounterFamily::with_labels(&[type, status]).inc()`
//! against the `prometheus` crate's `IntCounterVec::with_label_values(..).inc()`, 4 existing
//! series in turn), run `N` times on one side with nothing else in the process.
//!
//! Instruction counts do not depend on the machine's load, unlike the timed figure. Run each
//! side twice, with `N` and with 0 operations, and divide the difference by `N`:
//!
//! ```sh
//! cargo build --release -p dawn-benchmarks --example labelled_lookup
//! for side in dawn prometheus; do for n in 0 1000000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/labelled_lookup $side $n 2>&1 | grep 'Collected'
//! done; done
//! ```

use std::hint::black_box;
use std::time::Duration;

use anyhow::{Context, bail};
use dawn_node::catalogue::P2P_MESSAGES_TOTAL;
use dawn_telemetry::{CounterFamily, Telemetry, TelemetryConfig};

/// The label sets of the timed figure (`benchmarks/src/hot.rs`), all existing series.
const LABEL_SETS: [[&str; 2]; 4] = [
    ["request", "success"],
    ["response", "success"],
    ["notification", "success"],
    ["request", "error"],
];

fn set(i: u64) -> &'static [&'static str] {
    &LABEL_SETS[(i % LABEL_SETS.len() as u64) as usize]
}

#[inline(never)]
fn dawn(family: &CounterFamily, i: u64) {
    family.with_labels(set(i)).inc();
}

#[inline(never)]
fn prometheus(vec: &prometheus::IntCounterVec, i: u64) {
    vec.with_label_values(set(i)).inc();
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let side = args
        .next()
        .context("usage: labelled_lookup dawn|prometheus N")?;
    let n: u64 = args
        .next()
        .context("usage: labelled_lookup dawn|prometheus N")?
        .parse()
        .context("N")?;

    // No shipper thread: recording is the same, and the process runs nothing else.
    let dir = std::env::temp_dir().join(format!("dawn-lookup-{}", std::process::id()));
    let mut config = TelemetryConfig::new(dir.join("absent.sock"), "bench");
    config.ship = false;
    config.flush_interval = Duration::from_secs(60);
    let telemetry = Telemetry::start(config)?;
    let ours = telemetry.counter(&P2P_MESSAGES_TOTAL);
    let theirs = prometheus::IntCounterVec::new(
        prometheus::Opts::new("bench_messages_total", "bench"),
        P2P_MESSAGES_TOTAL.labels,
    )?;
    // Both sides resolve every set once first (and ours fills this thread's cache), as the
    // timed figure does.
    for set in &LABEL_SETS {
        ours.with_labels(set);
        theirs.with_label_values(set);
    }

    match side.as_str() {
        "dawn" => (0..n).for_each(|i| dawn(&ours, black_box(i))),
        "prometheus" => (0..n).for_each(|i| prometheus(&theirs, black_box(i))),
        other => bail!("unknown side {other:?}: dawn or prometheus"),
    }

    let total = |counts: [u64; 4]| counts.iter().sum::<u64>();
    let ours_total = total(LABEL_SETS.map(|s| ours.with_labels(&s).get()));
    let theirs_total = total(LABEL_SETS.map(|s| theirs.with_label_values(&s).get()));
    black_box((ours_total, theirs_total));
    telemetry.shutdown();
    Ok(())
}
