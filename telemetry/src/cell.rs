//! The atomic cells behind metric handles: recording is one relaxed atomic operation (two for
//! a histogram), with no lock, allocation, syscall or await.
//!
//! Cells only record and read; deciding what changed and encoding it is the shipper's job.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::spec::MetricSpec;
use dawn_proto::{BucketSpan, HistogramValue, MetricKind, NativeHistogramValue, Value};

use super::bounds::BucketIndex;
use super::lookup::{LookupCache, lookup_cache};
use super::native::{NativeBuckets, NativeSnapshot};
use super::slot::{self, Stripe, Striped};

/// A value read from a cell, compared by the shipper with the last one it sent.
///
/// Floats are kept as their bit patterns so that comparison is exact (a gauge stuck at NaN is
/// "unchanged", `-0.0` and `0.0` differ).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reading {
    /// A counter's total.
    Counter(u64),
    /// A gauge's `f64` bits.
    Gauge(u64),
    /// A histogram's sum (`f64` bits) and per-bucket counts, `+Inf` last; and its native
    /// buckets when it records them and they were read consistent with the classic ones.
    Histogram {
        sum: u64,
        buckets: Vec<u64>,
        native: Option<Box<NativeReading>>,
    },
}

impl Reading {
    /// The wire value: for a histogram, `count` is the sum of the bucket counts read, so
    /// `count == sum(buckets)` always holds on the wire. With `native` (a connection at
    /// protocol version 2 or later) a histogram with native buckets is sent with them
    /// (`Value::NativeHistogram`), else its classic part alone.
    pub(crate) fn to_value(&self, native: bool) -> Value {
        match self {
            Reading::Counter(v) => Value::Counter(*v),
            Reading::Gauge(bits) => Value::Gauge(f64::from_bits(*bits)),
            Reading::Histogram {
                sum,
                buckets,
                native: n,
            } => {
                let classic = histogram_value(*sum, buckets);
                match n {
                    Some(n) if native => Value::NativeHistogram(Box::new(NativeHistogramValue {
                        classic,
                        native: n.to_wire(),
                    })),
                    _ => Value::Histogram(classic),
                }
            }
        }
    }
}

/// Native buckets as read, compared by the shipper like the rest of a [`Reading`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NativeReading(NativeSnapshot);

// The zero threshold, the only float, is finite (checked when the metric is registered),
// so equality is reflexive.
impl Eq for NativeReading {}

impl NativeReading {
    /// The wire's form: runs of consecutive keys as spans, counts in key order.
    fn to_wire(&self) -> dawn_proto::NativeBuckets {
        let s = &self.0;
        let (positive_spans, positive_counts) = spans(&s.positive);
        let (negative_spans, negative_counts) = spans(&s.negative);
        dawn_proto::NativeBuckets {
            schema: i32::from(s.schema),
            zero_threshold: s.zero_threshold,
            zero_count: s.zero_count,
            positive_spans,
            positive_counts,
            negative_spans,
            negative_counts,
        }
    }
}

/// Spans and counts of ascending `(key, count)` buckets: a span per run of consecutive keys,
/// the first at its key, each later one at its gap after the previous run.
fn spans(buckets: &[(i32, u64)]) -> (Vec<BucketSpan>, Vec<u64>) {
    let mut spans: Vec<BucketSpan> = Vec::new();
    let mut next: Option<i32> = None;
    for &(key, _) in buckets {
        match (next, spans.last_mut()) {
            (Some(n), Some(last)) if n == key => last.length += 1,
            _ => spans.push(BucketSpan {
                offset: next.map_or(key, |n| key - n),
                length: 1,
            }),
        }
        next = Some(key + 1);
    }
    (spans, buckets.iter().map(|&(_, c)| c).collect())
}

fn histogram_value(sum_bits: u64, buckets: &[u64]) -> HistogramValue {
    let count = buckets.iter().fold(0u64, |acc, b| acc.wrapping_add(*b));
    // Only finite values are observed, but a sum of huge ones can still overflow to ±inf,
    // which the wire refuses; clamp so the series stays valid.
    let sum = f64::from_bits(sum_bits).clamp(f64::MIN, f64::MAX);
    HistogramValue {
        count,
        sum,
        buckets: buckets.to_vec(),
    }
}

/// What every cell kind offers the generic family and the shipper.
pub(crate) trait Cell: Send + Sync + 'static {
    /// The metric kind the cell records.
    const KIND: MetricKind;
    /// A zeroed cell for a series of `spec`.
    fn new(spec: &MetricSpec) -> Self;
    /// The current value.
    fn read(&self) -> Reading;
    /// Runs `f` on this thread's label-lookup cache for this cell kind; `None` when the
    /// thread's thread-locals are gone ([`lookup_cache`]).
    fn with_lookup_cache<R>(f: impl FnOnce(&mut LookupCache<Self>) -> R) -> Option<R>
    where
        Self: Sized;
}

/// A monotonic `u64` total, one word per recording thread ([`Striped`]): adding is a relaxed
/// load and store of the calling thread's own word, no locked instruction.
#[derive(Debug, Default)]
pub(crate) struct CounterCell(Striped);

impl CounterCell {
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.0.add(n);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.sum()
    }
}

impl Cell for CounterCell {
    const KIND: MetricKind = MetricKind::Counter;

    fn new(_: &MetricSpec) -> Self {
        CounterCell::default()
    }

    fn read(&self) -> Reading {
        Reading::Counter(self.get())
    }

    lookup_cache!(CounterCell);
}

/// An `f64` kept as its bits in an `AtomicU64`.
#[derive(Debug)]
pub(crate) struct GaugeCell(AtomicU64);

impl GaugeCell {
    #[inline]
    pub(crate) fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Relaxed);
    }

    #[inline]
    pub(crate) fn add(&self, delta: f64) {
        slot::add_f64(&self.0, delta);
    }

    pub(crate) fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Relaxed))
    }
}

impl Cell for GaugeCell {
    const KIND: MetricKind = MetricKind::Gauge;

    fn new(_: &MetricSpec) -> Self {
        GaugeCell(AtomicU64::new(0f64.to_bits()))
    }

    fn read(&self) -> Reading {
        Reading::Gauge(self.0.load(Relaxed))
    }

    lookup_cache!(GaugeCell);
}

/// Reads of a histogram with native buckets tried until its native and classic counts
/// agree, before a flush sends its classic part alone.
const NATIVE_READ_ATTEMPTS: usize = 4;

/// Stripes of a histogram: recording threads spread over this many copies of the buckets
/// and the sum ([`slot::stripe`]), so that two threads observing into one series (a node's
/// runtime workers) neither bounce one cache line nor retry one compare-and-swap, and a
/// thread that owns its stripe adds without a locked instruction; readers add the stripes
/// up.
const HISTOGRAM_STRIPES: usize = slot::STRIPES;

/// Words per cache line.
const LINE_WORDS: usize = 8;

/// A cache line of words: a stripe starts on a line of its own.
#[derive(Debug)]
#[repr(align(64))]
struct Line([AtomicU64; LINE_WORDS]);

/// Per-bucket counts (not cumulative) and a sum, in [`HISTOGRAM_STRIPES`] stripes; and,
/// when on, native buckets beside them ([`NativeBuckets`]), which every observation updates
/// too, as client_golang's histograms do.
#[derive(Debug)]
pub(crate) struct HistogramCell {
    /// The bounds and how a value's bucket is found, shared by every series with these
    /// bounds.
    bounds: &'static BucketIndex,
    /// The native buckets, when this series records them.
    native: Option<Box<NativeBuckets>>,
    /// Row `r` is line `r` of every stripe, stripe `s` at `s`; a stripe's lines hold its
    /// sum's `f64` bits (word 0), then its per-bucket counts (one per bound, then `+Inf`).
    /// Rows rather than stripes one after the other: a word is then found with one bounds
    /// check (its row), the stripe being below [`HISTOGRAM_STRIPES`] by construction.
    lines: Box<[[Line; HISTOGRAM_STRIPES]]>,
}

impl HistogramCell {
    /// Word `w` of stripe `stripe` (below [`HISTOGRAM_STRIPES`], taken modulo it): the sum
    /// at 0, then the per-bucket counts.
    #[inline]
    fn word(&self, stripe: usize, w: usize) -> Option<&AtomicU64> {
        self.lines
            .get(w / LINE_WORDS)
            .map(|row| &row[stripe % HISTOGRAM_STRIPES].0[w % LINE_WORDS])
    }

    /// Records `v`; returns `false`, recording nothing, when `v` is not finite (NaN or
    /// ±infinity: the wire carries only finite sums).
    #[inline]
    pub(crate) fn observe(&self, v: f64) -> bool {
        let stripe = slot::stripe();
        match self.native.as_deref() {
            None => {
                if !v.is_finite() {
                    return false;
                }
                self.observe_classic(v, stripe);
            }
            Some(native) => {
                // The native counter is found first: its loads would otherwise queue behind
                // the classic part's updates (locked ones on the shared stripe). It is added
                // to after the classic bucket: a reader takes the native buckets first (see
                // `native_snapshot`), so the classic count never falls below their total. A
                // value in the native table's range is finite: only one outside it is checked.
                match native.table_counter(v, stripe) {
                    Some(counter) => {
                        self.observe_classic(v, stripe);
                        stripe.add(counter, 1);
                    }
                    None if !v.is_finite() => return false,
                    None => {
                        let counter = native.outside_table(v, stripe);
                        self.observe_classic(v, stripe);
                        native.count(counter, v, stripe);
                    }
                }
            }
        }
        true
    }

    /// Records finite `v` in the classic buckets and sum of `stripe`, the caller's.
    #[inline(always)]
    fn observe_classic(&self, v: f64, stripe: Stripe) {
        let index = self.bounds.index(v);
        if let Some(bucket) = self.word(stripe.index(), index + 1) {
            stripe.add(bucket, 1);
        }
        if let Some(sum) = self.word(stripe.index(), 0) {
            stripe.add_f64(sum, v);
        }
    }

    /// The native buckets now, when this series records them. Read them before the classic
    /// buckets: `observe` updates the classic ones first, so an observation counted in the
    /// native buckets is then always in the classic count too.
    pub(crate) fn native_snapshot(&self) -> Option<NativeSnapshot> {
        self.native.as_ref().map(|n| n.snapshot())
    }

    /// Per-bucket counts over all stripes, `+Inf` last.
    fn buckets(&self) -> Vec<u64> {
        (1..=self.bounds.bounds().len() + 1)
            .map(|w| {
                (0..HISTOGRAM_STRIPES)
                    .filter_map(|s| self.word(s, w))
                    .fold(0u64, |acc, word| acc.wrapping_add(word.load(Relaxed)))
            })
            .collect()
    }

    /// The sum over all stripes, as `f64` bits.
    fn sum_bits(&self) -> u64 {
        (0..HISTOGRAM_STRIPES)
            .filter_map(|s| self.word(s, 0))
            .map(|word| f64::from_bits(word.load(Relaxed)))
            .sum::<f64>()
            .to_bits()
    }

    /// The classic part now: the sum's bits and the per-bucket counts. Buckets before the
    /// sum: `observe` bumps the bucket first, so a racing observation shows up in the count
    /// no later than in the sum and the next flush settles both.
    fn classic(&self) -> (u64, Vec<u64>) {
        let buckets = self.buckets();
        (self.sum_bits(), buckets)
    }

    pub(crate) fn value(&self) -> HistogramValue {
        // Buckets before the sum, as `read` does.
        let buckets = self.buckets();
        histogram_value(self.sum_bits(), &buckets)
    }
}

impl Cell for HistogramCell {
    const KIND: MetricKind = MetricKind::Histogram;

    fn new(spec: &MetricSpec) -> Self {
        // The sum, the bucket counts, `+Inf`; 0.0's bits are all zero, so zeroed words are
        // an empty histogram.
        let rows = (spec.buckets.len() + 2).div_ceil(LINE_WORDS);
        HistogramCell {
            bounds: BucketIndex::of(spec.buckets),
            native: spec
                .native
                .map(|config| Box::new(NativeBuckets::new(config))),
            lines: (0..rows)
                .map(|_| std::array::from_fn(|_| Line(std::array::from_fn(|_| AtomicU64::new(0)))))
                .collect(),
        }
    }

    fn read(&self) -> Reading {
        // Native buckets first, as `native_snapshot` says, and kept only when they hold
        // exactly the classic count (the wire requires it): an observation racing the read
        // can make them differ, so a few reads are tried before this flush sends the
        // classic part alone (the next one sends both again).
        for _ in 0..NATIVE_READ_ATTEMPTS {
            let Some(native) = self.native_snapshot() else {
                break;
            };
            let (sum, buckets) = self.classic();
            if native.count() == buckets.iter().fold(0u64, |a, b| a.wrapping_add(*b)) {
                return Reading::Histogram {
                    sum,
                    buckets,
                    native: Some(Box::new(NativeReading(native))),
                };
            }
        }
        let (sum, buckets) = self.classic();
        Reading::Histogram {
            sum,
            buckets,
            native: None,
        }
    }

    lookup_cache!(HistogramCell);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::specs::LATENCY;

    #[test]
    fn histogram_buckets_follow_le_semantics() {
        let h = HistogramCell::new(&LATENCY);
        // Bounds: 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10, then +Inf.
        for v in [0.0, 0.005, 0.0051, 10.0, 10.5, -3.0] {
            assert!(h.observe(v));
        }
        let value = h.value();
        assert_eq!(value.buckets.len(), 12);
        assert_eq!(value.buckets[0], 3, "0.0, 0.005 and -3.0 are <= 0.005");
        assert_eq!(value.buckets[1], 1, "0.0051 is <= 0.01");
        assert_eq!(value.buckets[10], 1, "10.0 is <= 10");
        assert_eq!(value.buckets[11], 1, "10.5 goes to +Inf");
        assert_eq!(value.count, 6);
        assert!((value.sum - 17.5101).abs() < 1e-9, "{}", value.sum);
    }

    #[test]
    fn observations_from_many_threads_all_count() {
        // More threads than stripes and than slots: the first threads own their stripes, the
        // others share one, some of them without a slot; every observation still lands in
        // its bucket, the sum, and the native buckets.
        let spec = MetricSpec {
            native: Some(crate::NativeConfig::DEFAULT),
            ..LATENCY
        };
        let h = HistogramCell::new(&spec);
        let threads = 20;
        std::thread::scope(|s| {
            for t in 0..threads {
                let h = &h;
                s.spawn(move || {
                    for i in 0..1_000 {
                        // 0.004 (first bucket) on even steps, 20.0 (+Inf) on odd ones.
                        assert!(h.observe(if (t + i) % 2 == 0 { 0.004 } else { 20.0 }));
                    }
                });
            }
        });
        let value = h.value();
        assert_eq!(value.count, threads as u64 * 1_000);
        assert_eq!(value.buckets[0], threads as u64 * 500);
        assert_eq!(value.buckets[11], threads as u64 * 500);
        assert_eq!(value.buckets.iter().sum::<u64>(), value.count);
        let want = threads as f64 * 500.0 * (0.004 + 20.0);
        assert!((value.sum - want).abs() < 1e-6, "{} vs {want}", value.sum);
        let native = h.native_snapshot().expect("native on");
        assert_eq!(
            native.positive,
            [
                (crate::native::key(0.004, 3), threads as u64 * 500),
                (crate::native::key(20.0, 3), threads as u64 * 500)
            ]
        );
    }

    #[test]
    fn one_observation_updates_classic_and_native_buckets() {
        let spec = MetricSpec {
            native: Some(crate::NativeConfig::DEFAULT),
            ..LATENCY
        };
        let h = HistogramCell::new(&spec);
        for v in [0.0, 0.003, 0.2, 0.2, 7.0] {
            assert!(h.observe(v));
        }
        assert!(!h.observe(f64::NAN), "refused by both");
        let native = h.native_snapshot().expect("native on");
        let classic = h.value();
        assert_eq!(native.count(), classic.count);
        assert_eq!(native.zero_count, 1);
        assert_eq!(
            native.positive,
            [
                (crate::native::key(0.003, 3), 1),
                (crate::native::key(0.2, 3), 2),
                (crate::native::key(7.0, 3), 1)
            ]
        );
        assert_eq!(classic.buckets[0], 2, "0 and 0.003 are <= 0.005");
        assert!(HistogramCell::new(&LATENCY).native_snapshot().is_none());
    }

    #[test]
    fn histogram_refuses_non_finite_values() {
        let h = HistogramCell::new(&LATENCY);
        assert!(!h.observe(f64::NAN));
        assert!(!h.observe(f64::INFINITY));
        assert!(!h.observe(f64::NEG_INFINITY));
        assert_eq!(h.value().count, 0);
        assert_eq!(h.value().sum, 0.0);
    }

    #[test]
    fn huge_sums_are_clamped_to_stay_finite() {
        let h = HistogramCell::new(&LATENCY);
        h.observe(f64::MAX);
        h.observe(f64::MAX);
        assert_eq!(h.value().sum, f64::MAX);
    }

    #[test]
    fn gauge_add_is_exact_under_contention() {
        let g = std::sync::Arc::new(GaugeCell::new(&crate::tests::specs::PEERS));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let g = g.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        g.add(1.0);
                        g.add(-0.5);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        assert_eq!(g.get(), 20_000.0);
    }

    #[test]
    fn readings_compare_bits_and_convert_to_wire_values() {
        let g = GaugeCell::new(&crate::tests::specs::PEERS);
        g.set(f64::NAN);
        assert_eq!(g.read(), g.read(), "NaN reads as unchanged");
        let h = HistogramCell::new(&LATENCY);
        h.observe(0.2);
        match h.read().to_value(false) {
            Value::Histogram(v) => {
                assert_eq!(v.count, v.buckets.iter().sum::<u64>());
                assert_eq!(v.sum, 0.2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn native_buckets_become_spans_of_consecutive_keys() {
        assert_eq!(spans(&[]), (vec![], vec![]));
        let (spans, counts) = spans(&[(-2, 1), (-1, 4), (3, 2), (4, 1), (5, 7), (9, 1)]);
        let span = |offset, length| BucketSpan { offset, length };
        assert_eq!(spans, vec![span(-2, 2), span(3, 3), span(3, 1)]);
        assert_eq!(counts, vec![1, 4, 2, 1, 7, 1]);
    }

    /// A histogram with native buckets goes as tag 3 only when the connection allows it,
    /// and the value passes the wire's checks (counts add up, spans match).
    #[test]
    fn native_buckets_are_sent_only_when_asked_for() {
        const NATIVE: MetricSpec = MetricSpec {
            native: Some(crate::NativeConfig::DEFAULT),
            ..LATENCY
        };
        let h = HistogramCell::new(&NATIVE);
        for v in [0.0, 0.001, 0.0011, 0.5, 3.0, -2.0] {
            h.observe(v);
        }
        let define = NATIVE.to_define(0);
        let reading = h.read();
        let Value::Histogram(classic) = reading.to_value(false) else {
            panic!("classic expected");
        };
        match reading.to_value(true) {
            Value::NativeHistogram(v) => {
                assert_eq!(v.classic, classic);
                assert_eq!(v.native.schema, 3);
                assert_eq!(v.native.zero_count, 1);
                assert_eq!(v.native.negative_counts, vec![1]);
                assert_eq!(v.native.positive_counts.iter().sum::<u64>(), 4);
                dawn_proto::validate_value(&define, &Value::NativeHistogram(v))
                    .expect("valid on the wire");
            }
            other => panic!("{other:?}"),
        }
        // Without native buckets, tag 2 whatever the connection.
        let plain = HistogramCell::new(&LATENCY);
        plain.observe(0.2);
        assert!(matches!(plain.read().to_value(true), Value::Histogram(_)));
    }
}
