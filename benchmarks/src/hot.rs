//! The node's recording hot path (`dawn_telemetry` handles) against the `prometheus`
//! crate's equivalents and the OpenTelemetry SDK, measured alternately in the same process.
//!
//! Every pair records the same inputs (same label values, same observed values) on both
//! sides, so the ratio compares the libraries, not the workloads.

use std::hint::black_box;
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dawn_node::catalogue::{
    P2P_CONNECTIONS_TOTAL, P2P_MESSAGE_LATENCY_SECONDS, P2P_MESSAGES_TOTAL,
};
use dawn_telemetry::DEFAULT_SECONDS_BUCKETS as SECONDS_BUCKETS;
use dawn_telemetry::{Counter, Histogram, MetricSpec, NativeConfig, Telemetry, TelemetryConfig};
use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::{ManualReader, SdkMeterProvider};

use crate::Mode;
use crate::measure::{Comparison, Plan, compare};
use crate::procs::Workdir;
use crate::summary::{Summary, Target};

/// The label sets the labelled figure rotates through (`type`, `status`), all existing
/// series on both sides: the lookup is a hit, as on a node's hot path.
const LABEL_SETS: [[&str; 2]; 4] = [
    ["request", "success"],
    ["response", "success"],
    ["notification", "success"],
    ["request", "error"],
];

/// Observed values: a cycle spread over the default seconds buckets, `+Inf` included.
const OBSERVED: [f64; 16] = [
    0.0004, 0.003, 0.007, 0.012, 0.02, 0.04, 0.07, 0.09, 0.15, 0.3, 0.6, 0.8, 1.7, 3.0, 7.5, 12.0,
];

/// Increments per thread in one sample of the contended figure.
const CONTENDED_PER_THREAD: u64 = 1_000_000;
/// Threads of the contended figure.
const CONTENDED_THREADS: usize = 2;

/// A telemetry instance with no exporter listening: recording is the same whether or not
/// one is (the shipper runs on its own thread), and nothing is shipped mid-measurement.
pub(crate) fn telemetry(dir: &Workdir) -> anyhow::Result<Telemetry> {
    let mut config = TelemetryConfig::new(dir.path().join("absent.sock"), "bench");
    config.flush_interval = Duration::from_secs(60);
    Ok(Telemetry::start(config)?)
}

/// Runs the group.
pub(crate) fn run(mode: Mode, summary: &mut Summary) -> anyhow::Result<()> {
    let plan = if mode.quick { Plan::QUICK } else { Plan::FULL };
    let dir = Workdir::new("hot")?;
    let telemetry = telemetry(&dir)?;

    ratio_figure(
        summary,
        "hot_counter_inc_ratio_vs_prometheus",
        1.0,
        counter_inc(plan, &telemetry)?,
        "Counter::inc (load + store on the thread's own word) vs prometheus IntCounter::inc (locked add)",
    );
    ratio_figure(
        summary,
        "hot_histogram_observe_ratio_vs_prometheus",
        1.0,
        histogram_observe(plan, &telemetry)?,
        "Histogram::observe (bucket and sum, load + store on the thread's own stripe) vs prometheus Histogram::observe (shard count, bucket, sum CAS, count), default seconds buckets, 16 values in turn",
    );
    ratio_figure(
        summary,
        "hot_native_observe_ratio_vs_classic",
        1.5,
        native_observe(plan, &telemetry)?,
        "Histogram::observe with native buckets on (schema 3, zero threshold 2^-128, limit 160: classic bucket, sum and native bucket, load + store on the thread's own stripe) vs the same histogram classic only, default seconds buckets, 16 values in turn",
    );
    ratio_figure(
        summary,
        "hot_labelled_inc_ratio_vs_prometheus",
        1.0,
        labelled_inc(plan, &telemetry)?,
        "CounterFamily::with_labels(&[type, status]).inc() vs IntCounterVec::with_label_values(..).inc(), 4 existing series in turn",
    );
    counter_vs_otel(plan, &telemetry, summary);
    contended_inc(plan, &telemetry, summary)?;
    contended_observe(plan, &telemetry, summary)?;

    telemetry.shutdown();
    Ok(())
}

fn ratio_figure(summary: &mut Summary, name: &str, target: f64, c: Comparison, what: &str) {
    summary.record(
        name,
        c.ratio(),
        "ratio",
        Target::AtMost(target),
        format!(
            "{what}: {:.2} ns vs {:.2} ns",
            c.candidate_ns, c.baseline_ns
        ),
    );
}

/// `Counter::inc` on a cached handle vs `IntCounter::inc`.
pub(crate) fn counter_inc(plan: Plan, telemetry: &Telemetry) -> anyhow::Result<Comparison> {
    let ours = telemetry
        .counter(&P2P_CONNECTIONS_TOTAL)
        .with_labels(&["success"]);
    let theirs = prometheus::IntCounter::new("bench_total", "bench")?;
    let c = compare(plan, |_| ours.inc(), |_| theirs.inc());
    black_box((ours.get(), theirs.get()));
    Ok(c)
}

/// The node's latency histogram with classic buckets only, as the `prometheus` crate's
/// histograms have them: the figures against it compare like with like (the node records
/// native buckets too by default; what they add is `hot_native_observe_ratio_vs_classic`).
const CLASSIC: MetricSpec = MetricSpec {
    name: "bench_classic_latency_seconds",
    native: None,
    ..P2P_MESSAGE_LATENCY_SECONDS
};

/// `Histogram::observe` vs prometheus `Histogram::observe`, same buckets and values.
pub(crate) fn histogram_observe(plan: Plan, telemetry: &Telemetry) -> anyhow::Result<Comparison> {
    let ours = telemetry.histogram(&CLASSIC).with_labels(&["request"]);
    let theirs = prometheus::Histogram::with_opts(
        prometheus::HistogramOpts::new("bench_seconds", "bench").buckets(SECONDS_BUCKETS.to_vec()),
    )?;
    let value = |i: u64| OBSERVED[(i % OBSERVED.len() as u64) as usize];
    let c = compare(
        plan,
        |i| ours.observe(value(i)),
        |i| theirs.observe(value(i)),
    );
    black_box((ours.get().count, theirs.get_sample_count()));
    Ok(c)
}

/// `Histogram::observe` with native buckets beside the classic ones vs classic only: the same
/// spec but for `native`, the same values (their native buckets exist after the first turn,
/// so this is the steady state the issue bounds, no allocation per observation).
pub(crate) fn native_observe(plan: Plan, telemetry: &Telemetry) -> anyhow::Result<Comparison> {
    const NATIVE: MetricSpec = MetricSpec {
        name: "bench_native_latency_seconds",
        native: Some(NativeConfig::DEFAULT),
        ..P2P_MESSAGE_LATENCY_SECONDS
    };
    let native: Histogram = telemetry.histogram(&NATIVE).with_labels(&["request"]);
    let classic: Histogram = telemetry.histogram(&CLASSIC).with_labels(&["request"]);
    let value = |i: u64| OBSERVED[(i % OBSERVED.len() as u64) as usize];
    let c = compare(
        plan,
        |i| native.observe(value(i)),
        |i| classic.observe(value(i)),
    );
    let buckets = native.native().map_or(0, |n| n.positive.len());
    black_box((native.get().count, classic.get().count, buckets));
    Ok(c)
}

/// `with_labels(..).inc()` vs `with_label_values(..).inc()`, 2 labels, existing series.
pub(crate) fn labelled_inc(plan: Plan, telemetry: &Telemetry) -> anyhow::Result<Comparison> {
    let ours = telemetry.counter(&P2P_MESSAGES_TOTAL);
    let theirs = prometheus::IntCounterVec::new(
        prometheus::Opts::new("bench_messages_total", "bench"),
        P2P_MESSAGES_TOTAL.labels,
    )?;
    for set in &LABEL_SETS {
        ours.with_labels(set);
        theirs.with_label_values(set);
    }
    let set = |i: u64| &LABEL_SETS[(i % LABEL_SETS.len() as u64) as usize];
    let c = compare(
        plan,
        |i| ours.with_labels(set(i)).inc(),
        |i| theirs.with_label_values(set(i)).inc(),
    );
    Ok(c)
}

/// A cached handle's `add(1)` vs an OpenTelemetry SDK counter's `add(1, &[2 attributes])`.
///
/// OpenTelemetry has no bound instruments: every `add` looks its attributes up, which is the
/// cost a node pays per event with it.
fn counter_vs_otel(plan: Plan, telemetry: &Telemetry, summary: &mut Summary) {
    let ours = telemetry
        .counter(&P2P_MESSAGES_TOTAL)
        .with_labels(&["request", "success"]);
    let provider = SdkMeterProvider::builder()
        .with_reader(ManualReader::builder().build())
        .build();
    let theirs = provider
        .meter("dawn-bench")
        .u64_counter("bench_messages")
        .build();
    let attributes = [
        KeyValue::new("type", "request"),
        KeyValue::new("status", "success"),
    ];
    let c = compare(plan, |_| ours.add(1), |_| theirs.add(1, &attributes));
    ratio_figure(
        summary,
        "hot_counter_inc_ratio_vs_otel",
        0.2,
        c,
        "Counter::add(1) vs opentelemetry_sdk 0.33 Counter<u64>::add(1, [type, status]) (SdkMeterProvider + ManualReader)",
    );
    let _ = provider.shutdown();
}

/// An operation run by every worker: it gets the worker's index and the operation's.
type WorkerOp<'a> = &'a (dyn Fn(usize, u64) + Sync);

/// [`compare`] for operations made by [`CONTENDED_THREADS`] threads at once: one sample
/// operation is a round in which every thread makes [`CONTENDED_PER_THREAD`] operations,
/// timed from the moment they are released until the last one is done.
///
/// The threads live for the whole comparison, as a node's runtime workers do, so each keeps
/// its recording slot (and the stripe it gives) from round to round.
fn compare_contended(plan: Plan, candidate: WorkerOp<'_>, baseline: WorkerOp<'_>) -> Comparison {
    /// `which` value that ends the workers.
    const STOP: usize = usize::MAX;
    let ops = [candidate, baseline];
    let start = Barrier::new(CONTENDED_THREADS + 1);
    let done = Barrier::new(CONTENDED_THREADS + 1);
    let which = AtomicUsize::new(STOP);
    std::thread::scope(|s| {
        for thread in 0..CONTENDED_THREADS {
            let (start, done, which, ops) = (&start, &done, &which, &ops);
            s.spawn(move || {
                loop {
                    start.wait();
                    let Some(op) = ops.get(which.load(Ordering::Acquire)) else {
                        return;
                    };
                    for i in 0..CONTENDED_PER_THREAD {
                        op(thread, i);
                    }
                    done.wait();
                }
            });
        }
        let round = |op: usize| {
            which.store(op, Ordering::Release);
            start.wait();
            let started = Instant::now();
            done.wait();
            started.elapsed()
        };
        let c = compare(
            plan,
            |_| {
                black_box(round(0));
            },
            |_| {
                black_box(round(1));
            },
        );
        which.store(STOP, Ordering::Release);
        start.wait();
        c
    })
}

/// 2 threads incrementing the same handle vs 2 threads on the same prometheus `IntCounter`.
fn contended_inc(plan: Plan, telemetry: &Telemetry, summary: &mut Summary) -> anyhow::Result<()> {
    let ours: Counter = telemetry
        .counter(&P2P_CONNECTIONS_TOTAL)
        .with_labels(&["failed"]);
    let theirs = prometheus::IntCounter::new("bench_contended_total", "bench")?;
    // The figure is per increment and thread (a round's wall time / increments per thread).
    let c = compare_contended(plan, &|_, _| ours.inc(), &|_, _| theirs.inc());
    let per = |ns: f64| ns / CONTENDED_PER_THREAD as f64;
    let expected = |v: u64| v.is_multiple_of(CONTENDED_THREADS as u64 * CONTENDED_PER_THREAD);
    anyhow::ensure!(
        expected(ours.get()) && expected(theirs.get()),
        "contended counts are not whole rounds: {} and {}",
        ours.get(),
        theirs.get()
    );
    summary.record(
        "hot_contended_inc_ratio_vs_prometheus",
        c.ratio(),
        "ratio",
        Target::AtMost(1.0),
        format!(
            "{CONTENDED_THREADS} threads x {CONTENDED_PER_THREAD} Counter::inc on one handle vs on one prometheus IntCounter, wall time per increment per thread: {:.2} ns vs {:.2} ns",
            per(c.candidate_ns),
            per(c.baseline_ns)
        ),
    );
    Ok(())
}

/// 2 threads observing into the same histogram handle vs 2 threads on the same prometheus
/// `Histogram`, same buckets, each thread cycling through [`OBSERVED`] from its own offset.
fn contended_observe(
    plan: Plan,
    telemetry: &Telemetry,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let ours: Histogram = telemetry.histogram(&CLASSIC).with_labels(&["response"]);
    let theirs = prometheus::Histogram::with_opts(
        prometheus::HistogramOpts::new("bench_contended_seconds", "bench")
            .buckets(SECONDS_BUCKETS.to_vec()),
    )?;
    // Each thread cycles through the values from its own offset, so the two threads hit
    // different buckets at any moment, as a node's tasks do.
    let value = |thread: usize, i: u64| OBSERVED[(thread * 5 + i as usize) % OBSERVED.len()];
    let c = compare_contended(
        plan,
        &|thread, i| ours.observe(value(thread, i)),
        &|thread, i| theirs.observe(value(thread, i)),
    );
    let per = |ns: f64| ns / CONTENDED_PER_THREAD as f64;
    let round = CONTENDED_THREADS as u64 * CONTENDED_PER_THREAD;
    let (our_count, their_count) = (ours.get().count, theirs.get_sample_count());
    anyhow::ensure!(
        our_count.is_multiple_of(round) && their_count.is_multiple_of(round),
        "contended observation counts are not whole rounds: {our_count} and {their_count}"
    );
    summary.record(
        "hot_contended_observe_ratio_vs_prometheus",
        c.ratio(),
        "ratio",
        Target::AtMost(1.0),
        format!(
            "{CONTENDED_THREADS} threads x {CONTENDED_PER_THREAD} Histogram::observe on one handle vs on one prometheus Histogram (default seconds buckets, 16 values in turn), wall time per observation per thread: {:.2} ns vs {:.2} ns",
            per(c.candidate_ns),
            per(c.baseline_ns)
        ),
    );
    Ok(())
}
