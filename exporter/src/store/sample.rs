//! One source's cumulative value of one series, and how values from several sources add up.

use dawn_proto::Value;

/// A source's current value of a series.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Sample {
    /// Counter total.
    Counter(u64),
    /// Gauge value.
    Gauge(f64),
    /// Histogram state: count, sum, per-bucket (not cumulative) counts, `+Inf` last.
    Histogram {
        count: u64,
        sum: f64,
        buckets: Box<[u64]>,
    },
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
    pub(crate) fn from_value(value: &Value) -> Sample {
        match value {
            Value::Counter(c) => Sample::Counter(*c),
            Value::Gauge(g) => Sample::Gauge(*g),
            Value::Histogram(h) => Sample::Histogram {
                count: h.count,
                sum: h.sum,
                buckets: h.buckets.clone().into_boxed_slice(),
            },
        }
    }

    /// Replaces this sample with `value` unless that would move a counter or histogram
    /// backwards (which, within one incarnation, only a client bug can do).
    pub(crate) fn apply(&mut self, value: &Value) -> Applied {
        match (&mut *self, value) {
            (Sample::Counter(old), Value::Counter(new)) => {
                if *new < *old {
                    return Applied::Decreased;
                }
                *old = *new;
            }
            (Sample::Gauge(old), Value::Gauge(new)) => *old = *new,
            (
                Sample::Histogram {
                    count,
                    sum,
                    buckets,
                },
                Value::Histogram(h),
            ) if buckets.len() == h.buckets.len() => {
                let backwards =
                    h.count < *count || h.buckets.iter().zip(buckets.iter()).any(|(n, o)| n < o);
                if backwards {
                    return Applied::Decreased;
                }
                *count = h.count;
                *sum = h.sum;
                buckets.copy_from_slice(&h.buckets);
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
        Sample::Histogram {
            count,
            sum,
            buckets,
        } => {
            scratch.clear();
            scratch.extend_from_slice(buckets);
            let (mut c, mut s) = (*count, *sum);
            for other in samples {
                if let Sample::Histogram {
                    count,
                    sum,
                    buckets,
                } = other
                {
                    c = c.saturating_add(*count);
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
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dawn_proto::HistogramValue;

    fn hist(count: u64, sum: f64, buckets: &[u64]) -> Value {
        Value::Histogram(HistogramValue {
            count,
            sum,
            buckets: buckets.to_vec(),
        })
    }

    #[test]
    fn counters_never_go_backwards() {
        let mut s = Sample::from_value(&Value::Counter(5));
        assert_eq!(s.apply(&Value::Counter(7)), Applied::Updated);
        assert_eq!(s.apply(&Value::Counter(6)), Applied::Decreased);
        assert_eq!(s, Sample::Counter(7));
    }

    #[test]
    fn histograms_never_go_backwards() {
        let mut s = Sample::from_value(&hist(2, 1.0, &[1, 1]));
        assert_eq!(s.apply(&hist(3, 1.5, &[2, 1])), Applied::Updated);
        assert_eq!(s.apply(&hist(3, 1.5, &[1, 2])), Applied::Decreased);
        assert_eq!(s, Sample::from_value(&hist(3, 1.5, &[2, 1])));
    }

    #[test]
    fn gauges_go_anywhere() {
        let mut s = Sample::from_value(&Value::Gauge(5.0));
        assert_eq!(s.apply(&Value::Gauge(-1.0)), Applied::Updated);
        assert_eq!(s, Sample::Gauge(-1.0));
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
            }) => {
                assert_eq!((count, sum), (3, 1.5));
                assert_eq!(buckets, &[1, 2]);
            }
            other => panic!("{other:?}"),
        }
        assert!(total(&[], &mut scratch).is_none());
    }
}
