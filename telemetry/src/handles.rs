//! Recording handles: cheap to clone, resolved once and kept, one relaxed atomic operation per
//! recording.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use dawn_proto::HistogramValue;

use super::cell::{CounterCell, GaugeCell, HistogramCell};
use super::native::NativeSnapshot;
use super::series::Series;

/// A monotonic count on one series.
///
/// Recording is a relaxed load and store of the calling thread's own word of the counter
/// (a relaxed `fetch_add` on a shared word for threads beyond the per-counter words): no
/// lock, locked instruction, allocation, syscall or await. A handle on the overflow series
/// also counts each recording as dropped.
#[derive(Clone)]
pub struct Counter(pub(crate) Arc<Series<CounterCell>>);

impl Counter {
    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n`.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.cell.add(n);
        self.0.note_recording();
    }

    /// The total since the telemetry instance started.
    pub fn get(&self) -> u64 {
        self.0.cell.get()
    }
}

/// A value that goes up and down, on one series.
///
/// `set` is a relaxed store; `add`, `inc` and `dec` are a compare-and-swap loop on the `f64`
/// bits: lock-free, no allocation, syscall or await.
#[derive(Clone)]
pub struct Gauge(pub(crate) Arc<Series<GaugeCell>>);

impl Gauge {
    /// Sets the value.
    #[inline]
    pub fn set(&self, v: f64) {
        self.0.cell.set(v);
        self.0.note_recording();
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.add(1.0);
    }

    /// Subtracts one.
    #[inline]
    pub fn dec(&self) {
        self.add(-1.0);
    }

    /// Adds `delta` (negative to subtract).
    #[inline]
    pub fn add(&self, delta: f64) {
        self.0.cell.add(delta);
        self.0.note_recording();
    }

    /// The current value.
    pub fn get(&self) -> f64 {
        self.0.cell.get()
    }
}

/// Observations counted into the fixed buckets of one series.
///
/// Recording adds to one bucket and the sum (and, when on, one native bucket) in the calling
/// thread's stripe of the series (four, on cache lines of their own, so that threads
/// recording into one series at once do not contend): a relaxed load and store for the first
/// three threads to record, which own their stripes; a `fetch_add` and a compare-and-swap
/// loop on the shared stripe for the others. No lock, allocation (but a native bucket
/// group's first), syscall or await. The shipper sends the count
/// as the sum of the bucket counts it read, so `count` always equals the sum of the buckets
/// on the wire.
#[derive(Clone)]
pub struct Histogram(pub(crate) Arc<Series<HistogramCell>>);

impl Histogram {
    /// Records `v`. A value that is not finite (NaN, ±infinity) is ignored and counted as
    /// dropped: the wire carries only finite sums.
    #[inline]
    pub fn observe(&self, v: f64) {
        if self.0.cell.observe(v) {
            self.0.note_recording();
        } else {
            self.0.note_refused();
        }
    }

    /// Records a duration in seconds.
    #[inline]
    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    /// Count, sum and per-bucket counts (`+Inf` last) since the telemetry instance started.
    pub fn get(&self) -> HistogramValue {
        self.0.cell.value()
    }

    /// The native buckets since the telemetry instance started, at the schema they are read
    /// at (reduced to the spec's bucket limit); `None` when the spec has no native buckets.
    pub fn native(&self) -> Option<NativeSnapshot> {
        self.0.cell.native_snapshot()
    }
}

macro_rules! debug_handle {
    ($($t:ident),*) => {$(
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($t))
                    .field("labels", &self.0.matches_debug())
                    .finish_non_exhaustive()
            }
        }
    )*};
}

debug_handle!(Counter, Gauge, Histogram);

impl<C> Series<C> {
    fn matches_debug(&self) -> (&[Box<str>], super::series::SeriesRole) {
        (self.label_values(), self.role())
    }
}
