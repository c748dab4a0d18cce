//! One source's cumulative value of one series, and how values from several sources add up.

use dawn_proto::{HistogramRef, ValueRef};

use super::native::NativeSample;

/// A source's current value of a series.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Sample {
    /// Counter total.
    Counter(u64),
    /// Gauge value.
    Gauge(f64),
    /// Histogram state in one allocation: its count, its sum's bits, then the per-bucket
    /// (not cumulative) counts, `+Inf` last (see [`Sample::histogram`]). Kept together so
    /// that a sample is 24 bytes and a series one cache line ([`super::family::Series`]).
    Histogram(Box<[u64]>),
    /// A histogram with native buckets (protocol version 2): its classic words as
    /// `Histogram`'s, and its native buckets, behind one pointer.
    NativeHistogram(Box<NativeHistogramSample>),
}

/// A histogram sample with native buckets.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NativeHistogramSample {
    /// Count, sum's bits, per-bucket counts, as [`Sample::Histogram`] holds them.
    cells: Box<[u64]>,
    native: NativeSample,
}

/// Whether `h`'s classic part moves the one held in `cells` backwards; `cells` and `h`
/// have the same number of buckets.
fn classic_backwards(cells: &[u64], h: &HistogramRef<'_>) -> bool {
    match cells {
        [count, _, buckets @ ..] => {
            h.count < *count || h.buckets.iter().zip(buckets.iter()).any(|(n, o)| n < o)
        }
        [] | [_] => false,
    }
}

/// A histogram's classic words: count, sum's bits, buckets.
fn classic_cells(h: &HistogramRef<'_>) -> Box<[u64]> {
    let mut cells = Vec::with_capacity(HISTOGRAM_HEAD + h.buckets.len());
    cells.extend_from_slice(&[h.count, h.sum.to_bits()]);
    cells.extend_from_slice(h.buckets);
    cells.into_boxed_slice()
}

/// Words of a histogram sample ahead of its buckets: count, sum's bits.
const HISTOGRAM_HEAD: usize = 2;

/// The samples of one series, one per source that reported a value, keyed by source slot.
///
/// The first is held inline: most series have a single source, and applying an update to
/// one then reads no memory beyond the series itself (the ingest path's cost is mostly
/// such reads). The others, rare, are behind one pointer, which keeps the series small.
#[derive(Debug, Default)]
pub(crate) struct Samples {
    /// Empty only when `more` is.
    first: Option<(u32, Sample)>,
    /// `None` when empty.
    #[allow(
        clippy::box_collection,
        reason = "a thin pointer: a boxed slice or a vector here would take a series past one cache line"
    )]
    more: Option<Box<Vec<(u32, Sample)>>>,
}

impl Samples {
    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// The samples, each with its source.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &(u32, Sample)> {
        self.first
            .iter()
            .chain(self.more.iter().flat_map(|more| more.iter()))
    }

    /// `source`'s sample.
    #[inline]
    pub(crate) fn get_mut(&mut self, source: u32) -> Option<&mut Sample> {
        match &mut self.first {
            Some((s, sample)) if *s == source => Some(sample),
            Some(_) => self
                .more
                .as_mut()?
                .iter_mut()
                .find(|(s, _)| *s == source)
                .map(|(_, v)| v),
            None => None,
        }
    }

    /// Adds `source`'s sample (the caller checked it had none).
    pub(crate) fn push(&mut self, source: u32, sample: Sample) {
        match self.first {
            None => self.first = Some((source, sample)),
            Some(_) => self.more.get_or_insert_default().push((source, sample)),
        }
    }

    /// Removes `source`'s sample and gives it back, if it had one.
    pub(crate) fn remove(&mut self, source: u32) -> Option<Sample> {
        if self.first.as_ref().is_some_and(|(s, _)| *s == source) {
            // The next moves up, so that the samples keep their order (gauges are summed
            // in it).
            let next = self.more.as_mut().map(|more| more.remove(0));
            let removed = std::mem::replace(&mut self.first, next).map(|(_, sample)| sample);
            self.drop_more_if_empty();
            return removed;
        }
        let more = self.more.as_mut()?;
        let at = more.iter().position(|(s, _)| *s == source)?;
        let (_, removed) = more.remove(at);
        self.drop_more_if_empty();
        Some(removed)
    }

    fn drop_more_if_empty(&mut self) {
        if self.more.as_ref().is_some_and(|more| more.is_empty()) {
            self.more = None;
        }
    }
}

/// What applying a value to a stored sample did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    /// The value replaced the old one.
    Updated,
    /// A counter or histogram went backwards; the old value stays.
    Decreased,
}

impl Sample {
    /// A new sample from a (validated) wire value.
    pub(crate) fn from_value(value: &ValueRef<'_>) -> Sample {
        match *value {
            ValueRef::Counter(c) => Sample::Counter(c),
            ValueRef::Gauge(g) => Sample::Gauge(g),
            ValueRef::Histogram(h) => match h.native {
                None => Sample::Histogram(classic_cells(&h)),
                Some(n) => Sample::NativeHistogram(Box::new(NativeHistogramSample {
                    cells: classic_cells(&h),
                    native: NativeSample::from_ref(n.get()),
                })),
            },
        }
    }

    /// Whether this sample keeps native buckets.
    pub(crate) fn is_native(&self) -> bool {
        matches!(self, Sample::NativeHistogram(_))
    }

    /// Native buckets this sample keeps (positive and negative), which
    /// `--store.max-native-buckets` counts.
    pub(crate) fn native_buckets(&self) -> usize {
        self.native()
            .map_or(0, |n| n.positive.len() + n.negative.len())
    }

    /// A histogram sample's native buckets, when it has them.
    pub(crate) fn native(&self) -> Option<&NativeSample> {
        match self {
            Sample::NativeHistogram(s) => Some(&s.native),
            Sample::Counter(_) | Sample::Gauge(_) | Sample::Histogram(_) => None,
        }
    }

    /// A histogram sample's count, sum and buckets; `None` for other kinds.
    pub(crate) fn histogram(&self) -> Option<(u64, f64, &[u64])> {
        let cells = match self {
            Sample::Histogram(cells) => cells,
            Sample::NativeHistogram(s) => &s.cells,
            Sample::Counter(_) | Sample::Gauge(_) => return None,
        };
        {
            match &**cells {
                [count, sum, buckets @ ..] => Some((*count, f64::from_bits(*sum), buckets)),
                // Unreachable: `from_value` wrote both words.
                [] | [_] => None,
            }
        }
    }

    /// Replaces this sample with `value` unless that would move a counter or histogram
    /// backwards (which, within one incarnation, only a client bug can do). Allocates
    /// nothing unless the value's kind or shape changes, which validation rules out.
    #[inline(always)]
    pub(crate) fn apply(&mut self, value: &ValueRef<'_>) -> Applied {
        match (&mut *self, value) {
            (Sample::Counter(old), &ValueRef::Counter(new)) => {
                if new < *old {
                    return Applied::Decreased;
                }
                *old = new;
            }
            (Sample::Gauge(old), &ValueRef::Gauge(new)) => *old = new,
            // Native buckets: the classic part must not go backwards; the native part
            // follows it (its schema may go down, so its buckets are not compared). A
            // classic-only update (a client's read that raced an observation) keeps the
            // native buckets held, so that the series stays a native histogram.
            (Sample::NativeHistogram(s), ValueRef::Histogram(h))
                if s.cells.len() == HISTOGRAM_HEAD + h.buckets.len() =>
            {
                if classic_backwards(&s.cells, h) {
                    return Applied::Decreased;
                }
                if let [count, sum, buckets @ ..] = &mut *s.cells {
                    (*count, *sum) = (h.count, h.sum.to_bits());
                    buckets.copy_from_slice(h.buckets);
                }
                if let Some(n) = h.native {
                    s.native = NativeSample::from_ref(n.get());
                }
            }
            (Sample::Histogram(cells), ValueRef::Histogram(h))
                if h.native.is_some() && cells.len() == HISTOGRAM_HEAD + h.buckets.len() =>
            {
                if classic_backwards(cells, h) {
                    return Applied::Decreased;
                }
                *self = Sample::from_value(value);
            }
            (Sample::Histogram(cells), ValueRef::Histogram(h))
                if cells.len() == HISTOGRAM_HEAD + h.buckets.len() =>
            {
                if let [count, sum, buckets @ ..] = &mut **cells {
                    let backwards = h.count < *count
                        || h.buckets.iter().zip(buckets.iter()).any(|(n, o)| n < o);
                    if backwards {
                        return Applied::Decreased;
                    }
                    (*count, *sum) = (h.count, h.sum.to_bits());
                    buckets.copy_from_slice(h.buckets);
                }
            }
            // A kind change cannot pass validation against the family; replace to be safe.
            (slot, value) => *slot = Sample::from_value(value),
        }
        Applied::Updated
    }
}

/// The sum of several sources' samples of one series, as rendered.
#[derive(Debug)]
pub(crate) enum Total<'a> {
    /// Sum of counter totals.
    Counter(u64),
    /// Sum of gauge values.
    Gauge(f64),
    /// Sum of histograms; `buckets` borrows the caller's scratch buffer.
    Histogram {
        count: u64,
        sum: f64,
        buckets: &'a [u64],
        /// The sum of the native buckets, when every source's sample has them.
        native: Option<NativeSample>,
    },
}

/// Adds up `samples` (all of one kind); `None` when there are none. `scratch` holds the
/// summed histogram buckets so that a scrape allocates nothing per series.
pub(crate) fn total<'s>(
    samples: impl IntoIterator<Item = &'s Sample>,
    scratch: &'s mut Vec<u64>,
) -> Option<Total<'s>> {
    let mut samples = samples.into_iter();
    let first = samples.next()?;
    Some(match first {
        Sample::Counter(c) => {
            let mut t = *c;
            for s in samples {
                if let Sample::Counter(c) = s {
                    t = t.saturating_add(*c);
                }
            }
            Total::Counter(t)
        }
        Sample::Gauge(g) => {
            let mut t = *g;
            for s in samples {
                if let Sample::Gauge(g) = s {
                    t += g;
                }
            }
            Total::Gauge(t)
        }
        Sample::Histogram(_) | Sample::NativeHistogram(_) => {
            let (mut c, mut s, buckets) = first.histogram()?;
            scratch.clear();
            scratch.extend_from_slice(buckets);
            let mut native = first.native().cloned();
            for other in samples {
                native = match (native, other.native()) {
                    (Some(mut n), Some(o)) => {
                        n.add(o);
                        Some(n)
                    }
                    _ => None,
                };
                if let Some((count, sum, buckets)) = other.histogram() {
                    c = c.saturating_add(count);
                    s += sum;
                    for (acc, b) in scratch.iter_mut().zip(buckets.iter()) {
                        *acc = acc.saturating_add(*b);
                    }
                }
            }
            Total::Histogram {
                count: c,
                sum: s,
                buckets: scratch,
                native,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dawn_proto::HistogramRef;

    fn hist(count: u64, sum: f64, buckets: &[u64]) -> ValueRef<'_> {
        ValueRef::Histogram(HistogramRef {
            count,
            sum,
            buckets,
            native: None,
        })
    }

    #[test]
    fn counters_never_go_backwards() {
        let mut s = Sample::from_value(&ValueRef::Counter(5));
        assert_eq!(s.apply(&ValueRef::Counter(7)), Applied::Updated);
        assert_eq!(s.apply(&ValueRef::Counter(6)), Applied::Decreased);
        assert_eq!(s, Sample::Counter(7));
    }

    #[test]
    fn histograms_never_go_backwards() {
        let mut s = Sample::from_value(&hist(2, 1.0, &[1, 1]));
        assert_eq!(s.apply(&hist(3, 1.5, &[2, 1])), Applied::Updated);
        assert_eq!(s.apply(&hist(3, 1.5, &[1, 2])), Applied::Decreased);
        assert_eq!(s, Sample::from_value(&hist(3, 1.5, &[2, 1])));
    }

    /// A histogram with its native buckets: `counts` in positive buckets from key 0, schema 3.
    /// (The native part is leaked: a few bytes per call, in tests only.)
    fn native_hist<'a>(count: u64, buckets: &'a [u64], counts: &[u64]) -> ValueRef<'a> {
        let native = Box::leak(Box::new(dawn_proto::NativeBuckets {
            schema: 3,
            zero_threshold: 0.0,
            zero_count: 0,
            positive_spans: vec![dawn_proto::BucketSpan {
                offset: 0,
                length: 1,
            }],
            positive_counts: counts.to_vec(),
            negative_spans: Vec::new(),
            negative_counts: Vec::new(),
        }));
        ValueRef::Histogram(HistogramRef {
            count,
            sum: 1.0,
            buckets,
            native: Some(dawn_proto::Native::from(&*native)),
        })
    }

    /// A native sample's classic part never goes backwards; a classic-only update moves
    /// the classic part and keeps the native buckets; a classic sample given native buckets
    /// takes them; a series with a classic-only source adds up classic only.
    #[test]
    fn native_samples_follow_their_classic_part() {
        let mut s = Sample::from_value(&native_hist(2, &[1, 1], &[2]));
        assert_eq!(s.native().map(|n| n.positive.clone()), Some(vec![(0, 2)]));
        assert_eq!(s.apply(&native_hist(3, &[2, 1], &[3])), Applied::Updated);
        assert_eq!(s.apply(&native_hist(3, &[1, 2], &[3])), Applied::Decreased);
        assert_eq!(s.apply(&hist(4, 1.0, &[3, 1])), Applied::Updated);
        assert_eq!(s.histogram(), Some((4, 1.0, &[3, 1][..])));
        assert_eq!(s.native().map(|n| n.positive.clone()), Some(vec![(0, 3)]));

        let mut c = Sample::from_value(&hist(1, 1.0, &[1, 0]));
        assert_eq!(c.apply(&native_hist(1, &[0, 1], &[1])), Applied::Decreased);
        assert_eq!(c.apply(&native_hist(2, &[1, 1], &[2])), Applied::Updated);
        assert!(c.native().is_some());

        let mut scratch = Vec::new();
        let mixed = [s.clone(), Sample::from_value(&hist(1, 1.0, &[1, 0]))];
        match total(&mixed, &mut scratch) {
            Some(Total::Histogram { count, native, .. }) => {
                assert_eq!((count, native), (5, None));
            }
            other => panic!("{other:?}"),
        }
        match total(&[s, c], &mut scratch) {
            Some(Total::Histogram { count, native, .. }) => {
                assert_eq!(count, 6);
                assert_eq!(native.map(|n| n.positive), Some(vec![(0, 5)]));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn gauges_go_anywhere() {
        let mut s = Sample::from_value(&ValueRef::Gauge(5.0));
        assert_eq!(s.apply(&ValueRef::Gauge(-1.0)), Applied::Updated);
        assert_eq!(s, Sample::Gauge(-1.0));
    }

    #[test]
    fn samples_keep_one_per_source_whichever_goes() {
        let mut samples = Samples::default();
        assert!(samples.is_empty());
        for source in [4, 7, 9] {
            samples.push(source, Sample::Counter(u64::from(source)));
        }
        let sources = |s: &Samples| s.iter().map(|(src, _)| *src).collect::<Vec<_>>();
        assert_eq!(sources(&samples), [4, 7, 9]);
        assert_eq!(samples.get_mut(7), Some(&mut Sample::Counter(7)));
        assert_eq!(samples.get_mut(5), None);
        assert!(samples.remove(4).is_some(), "the first");
        assert!(samples.remove(4).is_none());
        assert_eq!(sources(&samples), [7, 9], "in order");
        assert_eq!(samples.get_mut(9), Some(&mut Sample::Counter(9)));
        assert!(samples.remove(9).is_some() && samples.remove(7).is_some());
        assert!(samples.is_empty());
        assert_eq!(samples.get_mut(7), None);
    }

    #[test]
    fn totals_add_up_per_kind() {
        let mut scratch = Vec::new();
        let counters = [Sample::Counter(2), Sample::Counter(3)];
        assert!(matches!(
            total(&counters, &mut scratch),
            Some(Total::Counter(5))
        ));
        let hists = [
            Sample::from_value(&hist(2, 1.0, &[1, 1])),
            Sample::from_value(&hist(1, 0.5, &[0, 1])),
        ];
        match total(&hists, &mut scratch) {
            Some(Total::Histogram {
                count,
                sum,
                buckets,
                native: None,
            }) => {
                assert_eq!((count, sum), (3, 1.5));
                assert_eq!(buckets, &[1, 2]);
            }
            other => panic!("{other:?}"),
        }
        assert!(total(&[], &mut scratch).is_none());
    }
}
