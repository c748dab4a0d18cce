//! Instructions per `Histogram::observe` with native buckets on and off, for callgrind: the
//! operation of `hot_native_observe_ratio_vs_classic` (the same spec but for `native`, the
//! same 16 values in turn), run `N` times on one side with nothing else in the process.
//!
//! Instruction counts do not depend on the machine's load, unlike the timed figure. Run each
//! side twice, with `N` and with 0 operations, and divide the difference by `N`:
//!
//! ```sh
//! cargo build --release -p dawn-benchmarks --example native_observe
//! for side in native classic; do for n in 0 1000000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/native_observe $side $n 2>&1 | grep 'Collected'
//! done; done
//! ```
//!
//! Without valgrind, it prints the CPU time per observation (with `N` large), which is noisy
//! on a shared machine but needs nothing else.

use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use dawn_node::catalogue::P2P_MESSAGE_LATENCY_SECONDS;
use dawn_telemetry::{Histogram, MetricSpec, NativeConfig, Telemetry, TelemetryConfig};

/// The timed figure's values (`benchmarks/src/hot.rs`): spread over the default seconds
/// buckets, `+Inf` included.
const OBSERVED: [f64; 16] = [
    0.0004, 0.003, 0.007, 0.012, 0.02, 0.04, 0.07, 0.09, 0.15, 0.3, 0.6, 0.8, 1.7, 3.0, 7.5, 12.0,
];

const NATIVE: MetricSpec = MetricSpec {
    name: "bench_native_latency_seconds",
    native: Some(NativeConfig::DEFAULT),
    ..P2P_MESSAGE_LATENCY_SECONDS
};
const CLASSIC: MetricSpec = MetricSpec {
    name: "bench_classic_latency_seconds",
    native: None,
    ..P2P_MESSAGE_LATENCY_SECONDS
};

#[inline(never)]
fn observe(histogram: &Histogram, i: u64) {
    histogram.observe(OBSERVED[(i % OBSERVED.len() as u64) as usize]);
}

fn main() -> anyhow::Result<()> {
    const USAGE: &str = "usage: native_observe native|classic N";
    let mut args = std::env::args().skip(1);
    let side = args.next().context(USAGE)?;
    let n: u64 = args.next().context(USAGE)?.parse().context("N")?;

    // No shipper thread: recording is the same, and the process runs nothing else.
    let dir = std::env::temp_dir().join(format!("dawn-native-{}", std::process::id()));
    let mut config = TelemetryConfig::new(dir.join("absent.sock"), "bench");
    config.ship = false;
    config.flush_interval = Duration::from_secs(60);
    let telemetry = Telemetry::start(config)?;
    let spec = match side.as_str() {
        "native" => &NATIVE,
        "classic" => &CLASSIC,
        other => bail!("unknown side {other:?}: native or classic"),
    };
    let histogram: Histogram = telemetry.histogram(spec).with_labels(&["request"]);
    // Every value once first: its native bucket (and the bucket's group) exists, as in the
    // timed figure's steady state.
    (0..OBSERVED.len() as u64).for_each(|i| observe(&histogram, i));

    let start = Instant::now();
    (0..n).for_each(|i| observe(&histogram, black_box(i)));
    let elapsed = start.elapsed();
    if n > 0 {
        println!(
            "{side}: {:.2} ns per observation",
            elapsed.as_nanos() as f64 / n as f64
        );
    }
    black_box(histogram.get().count);
    telemetry.shutdown();
    Ok(())
}
