//! One label set of a metric: its label values and its cell, shared by the registry and every
//! handle resolved for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::cell::{Cell, Reading};
use super::labelhash::same_value;

/// What a series is for; only `Labelled` series expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeriesRole {
    /// The only series of an unlabelled metric; lives as long as the registry.
    Fixed,
    /// A label set the caller asked for; expires after the TTL when nobody holds it.
    Labelled,
    /// The series into which a cap folds excess or invalid label sets; every recording into
    /// it is counted as dropped.
    Overflow,
    /// Not registered anywhere (label values given to an unlabelled metric): recordings are
    /// counted as dropped and never shipped.
    Detached,
}

/// A series and its cell.
#[derive(Debug)]
pub(crate) struct Series<C> {
    uid: u64,
    hash: u64,
    labels: Box<[Box<str>]>,
    role: SeriesRole,
    /// `true` for `Overflow` and `Detached`: checked on every recording.
    counts_as_dropped: bool,
    dropped: Arc<AtomicU64>,
    pub(crate) cell: C,
}

impl<C> Series<C> {
    pub(crate) fn new(
        uid: u64,
        hash: u64,
        labels: Box<[Box<str>]>,
        role: SeriesRole,
        cell: C,
        dropped: Arc<AtomicU64>,
    ) -> Self {
        Series {
            uid,
            hash,
            labels,
            role,
            counts_as_dropped: matches!(role, SeriesRole::Overflow | SeriesRole::Detached),
            dropped,
            cell,
        }
    }

    /// Counts the recording just made when this series does not keep records on their own
    /// label set. One predictable branch on the hot path.
    #[inline]
    pub(crate) fn note_recording(&self) {
        if self.counts_as_dropped {
            self.dropped.fetch_add(1, Relaxed);
        }
    }

    /// Counts a record that was refused (a non-finite observation).
    #[inline]
    pub(crate) fn note_refused(&self) {
        self.dropped.fetch_add(1, Relaxed);
    }

    /// Whether these are the label values of this series ([`same_value`]: no `memcmp` for
    /// values of up to 16 bytes).
    #[inline]
    pub(crate) fn matches(&self, values: &[&str]) -> bool {
        self.labels.len() == values.len()
            && self
                .labels
                .iter()
                .zip(values)
                .all(|(a, b)| same_value(a, b))
    }

    pub(crate) fn role(&self) -> SeriesRole {
        self.role
    }

    pub(crate) fn label_values(&self) -> &[Box<str>] {
        &self.labels
    }
}

/// The shipper's view of a series, whatever its kind.
pub(crate) trait ShipSeries: Send + Sync {
    /// Unique for the life of the registry; never reused.
    fn uid(&self) -> u64;
    /// Hash of the label values, to find the series again in its family.
    fn hash(&self) -> u64;
    /// The label values, in the metric's label order.
    fn labels(&self) -> &[Box<str>];
    /// Whether it may expire.
    fn retirable(&self) -> bool;
    /// Its current value.
    fn read(&self) -> Reading;
}

impl<C: Cell> ShipSeries for Series<C> {
    fn uid(&self) -> u64 {
        self.uid
    }

    fn hash(&self) -> u64 {
        self.hash
    }

    fn labels(&self) -> &[Box<str>] {
        &self.labels
    }

    fn retirable(&self) -> bool {
        self.role == SeriesRole::Labelled
    }

    fn read(&self) -> Reading {
        self.cell.read()
    }
}
