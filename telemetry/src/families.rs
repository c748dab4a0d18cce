//! Metric families: resolve a label set to a handle once, then record through the handle.

use std::fmt;
use std::sync::Arc;

use crate::spec::MetricSpec;

use super::cell::{CounterCell, GaugeCell, HistogramCell};
use super::family::FamilyCore;
use super::handles::{Counter, Gauge, Histogram};

macro_rules! family {
    ($(#[$doc:meta])* $name:ident, $cell:ty, $handle:ident) => {
        $(#[$doc])*
        ///
        /// Cheap to clone; every clone and every [`crate::Telemetry::counter`]-style
        /// call for the same metric shares the same series.
        #[derive(Clone)]
        pub struct $name(pub(crate) Arc<FamilyCore<$cell>>);

        impl $name {
            /// The handle of the series with these label values, one per label name in the
            /// metric's order; created on first use.
            ///
            /// A hit costs one hash of the values and a look in this thread's cache of recent
            /// lookups, or else one hash-map lookup under a read lock, with no allocation. Beyond the per-metric series cap, and for values that do
            /// not fit the metric (wrong number, longer than the wire's limit), the handle is
            /// that of the metric's single overflow series whose every label value is
            /// [`crate::OVERFLOW_LABEL_VALUE`]; each recording into it is
            /// counted as dropped. Keep the handle where the labels are fixed (e.g. on a
            /// peer's connection) instead of looking it up per event.
            pub fn with_labels(&self, values: &[&str]) -> $handle {
                $handle(self.0.series(values))
            }

            /// The handle of an unlabelled metric's only series (the same as
            /// `with_labels(&[])`).
            pub fn handle(&self) -> $handle {
                self.with_labels(&[])
            }

            /// The metric's description.
            pub fn spec(&self) -> &MetricSpec {
                self.0.spec()
            }

            /// Labelled series now kept, the overflow series not included.
            pub fn series_count(&self) -> usize {
                self.0.labelled_len()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("name", &self.0.spec().name)
                    .field("series", &self.0.labelled_len())
                    .finish()
            }
        }
    };
}

family!(
    /// The series of a counter metric.
    CounterFamily,
    CounterCell,
    Counter
);
family!(
    /// The series of a gauge metric.
    GaugeFamily,
    GaugeCell,
    Gauge
);
family!(
    /// The series of a histogram metric.
    HistogramFamily,
    HistogramCell,
    Histogram
);
