//! How a program describes one of its metrics: a `const` it declares once and hands to
//! [`crate::Telemetry::counter`] and friends, so name, help, labels and buckets live in one
//! place of the program's own catalogue.

use dawn_proto::{Define, MetricKind};

use crate::native::NativeConfig;

/// Prometheus' default buckets, for histograms of seconds.
pub const DEFAULT_SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Label value of the series into which a series cap folds excess label sets.
pub const OVERFLOW_LABEL_VALUE: &str = "__overflow__";

/// A metric's fixed description.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricSpec {
    /// Prometheus name.
    pub name: &'static str,
    /// `# HELP` text.
    pub help: &'static str,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// Label names, in order.
    pub labels: &'static [&'static str],
    /// Histogram bounds; empty for other kinds.
    pub buckets: &'static [f64],
    /// A histogram's native (sparse, exponential) buckets, recorded beside the classic ones
    /// by every observation when set, as client_golang does; `None` for other kinds and for
    /// classic-only histograms.
    pub native: Option<NativeConfig>,
}

impl MetricSpec {
    /// The wire definition of this metric under connection-local `id`.
    pub fn to_define(&self, id: u32) -> Define {
        Define {
            id,
            name: self.name.to_owned(),
            help: self.help.to_owned(),
            kind: self.kind,
            label_names: self.labels.iter().map(|l| (*l).to_owned()).collect(),
            buckets: self.buckets.to_vec(),
        }
    }
}
