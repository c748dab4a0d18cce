//! A source's native histogram buckets, and how several sources' add up: as Prometheus adds
//! native histograms, each taken to the lowest schema among them (neighbouring buckets
//! merged, key `ceil(k / 2^by)`), buckets then added key by key; the widest zero threshold
//! wins, and a bucket lying wholly within it counts in the zero bucket.

use dawn_proto::{BucketSpan, NativeRef};

use crate::exposition::NativeBuckets;

/// The native part of one source's histogram sample, its buckets as ascending
/// `(key, count)` pairs (counts per bucket, not cumulative).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NativeSample {
    pub(crate) schema: i32,
    pub(crate) zero_threshold: f64,
    pub(crate) zero_count: u64,
    pub(crate) positive: Vec<(i32, u64)>,
    pub(crate) negative: Vec<(i32, u64)>,
}

/// The `(key, count)` pairs that `spans` give to `counts` (validated: as many keys as
/// counts, keys ascending).
fn keyed(spans: &[BucketSpan], counts: &[u64]) -> Vec<(i32, u64)> {
    let mut out = Vec::with_capacity(counts.len());
    let mut counts = counts.iter();
    let mut next = 0i64;
    for (i, span) in spans.iter().enumerate() {
        let mut key = if i == 0 {
            i64::from(span.offset)
        } else {
            next + i64::from(span.offset)
        };
        for _ in 0..span.length {
            let Some(&c) = counts.next() else {
                return out;
            };
            // Validated keys are within ±2^20.
            out.push((key as i32, c));
            key += 1;
        }
        next = key;
    }
    out
}

impl NativeSample {
    /// From a validated wire value.
    pub(crate) fn from_ref(n: NativeRef<'_>) -> Self {
        NativeSample {
            schema: n.schema,
            zero_threshold: n.zero_threshold,
            zero_count: n.zero_count,
            positive: keyed(n.positive_spans, n.positive_counts),
            negative: keyed(n.negative_spans, n.negative_counts),
        }
    }

    /// Adds `other` in: both taken to the lower schema, the wider zero threshold.
    pub(crate) fn add(&mut self, other: &NativeSample) {
        let schema = self.schema.min(other.schema);
        self.reduce_to(schema);
        let mut other = other.clone();
        other.reduce_to(schema);
        let threshold = self.zero_threshold.max(other.zero_threshold);
        self.widen_zero(threshold);
        other.widen_zero(threshold);
        self.zero_count = self.zero_count.saturating_add(other.zero_count);
        self.positive = merge(&self.positive, &other.positive);
        self.negative = merge(&self.negative, &other.negative);
    }

    /// Merges neighbouring buckets down to `schema` (not above the current one).
    fn reduce_to(&mut self, schema: i32) {
        let by = self.schema - schema;
        if by <= 0 {
            return;
        }
        for buckets in [&mut self.positive, &mut self.negative] {
            let mut out: Vec<(i32, u64)> = Vec::with_capacity(buckets.len());
            for &(k, n) in buckets.iter() {
                // ceil(k / 2^by), rounding towards +inf with an arithmetic shift.
                let k = (k + (1 << by) - 1) >> by;
                match out.last_mut() {
                    Some((last, total)) if *last == k => *total = total.saturating_add(n),
                    _ => out.push((k, n)),
                }
            }
            *buckets = out;
        }
        self.schema = schema;
    }

    /// Takes the zero threshold up to `threshold`, moving the buckets whose upper bound is
    /// within it into the zero bucket.
    fn widen_zero(&mut self, threshold: f64) {
        if threshold <= self.zero_threshold {
            return;
        }
        let schema = self.schema;
        let mut moved = 0u64;
        for buckets in [&mut self.positive, &mut self.negative] {
            buckets.retain(|&(k, n)| {
                let within = upper_bound(k, schema) <= threshold;
                if within {
                    moved = moved.saturating_add(n);
                }
                !within
            });
        }
        self.zero_count = self.zero_count.saturating_add(moved);
        self.zero_threshold = threshold;
    }

    /// The buckets as the exposition writes them.
    pub(crate) fn exposed(&self) -> NativeBuckets<'_> {
        NativeBuckets {
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            zero_count: self.zero_count,
            positive: &self.positive,
            negative: &self.negative,
        }
    }
}

/// The upper bound of bucket `key` at `schema`: `2^(key / 2^schema)`.
fn upper_bound(key: i32, schema: i32) -> f64 {
    (f64::from(key) * (-f64::from(schema)).exp2()).exp2()
}

/// Two ascending `(key, count)` lists added key by key.
fn merge(a: &[(i32, u64)], b: &[(i32, u64)]) -> Vec<(i32, u64)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.iter().peekable(), b.iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(&&(ka, na)), Some(&&(kb, nb))) => {
                if ka == kb {
                    a.next();
                    b.next();
                    (ka, na.saturating_add(nb))
                } else if ka < kb {
                    a.next();
                    (ka, na)
                } else {
                    b.next();
                    (kb, nb)
                }
            }
            (Some(&&x), None) => {
                a.next();
                x
            }
            (None, Some(&&x)) => {
                b.next();
                x
            }
            (None, None) => return out,
        };
        out.push(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(schema: i32, positive: &[(i32, u64)]) -> NativeSample {
        NativeSample {
            schema,
            zero_threshold: 1e-9,
            zero_count: 1,
            positive: positive.to_vec(),
            negative: vec![],
        }
    }

    #[test]
    fn spans_give_their_keys() {
        let span = |offset, length| BucketSpan { offset, length };
        assert_eq!(
            keyed(&[span(-2, 2), span(3, 1)], &[1, 2, 3]),
            vec![(-2, 1), (-1, 2), (3, 3)]
        );
    }

    /// Two sources at schemas 3 and 2 add up at 2: keys 5 and 6 at 3 are key 3 at 2
    /// (`ceil(5/2)`, `ceil(6/2)`), key 7 is 4; the zero buckets add.
    #[test]
    fn sources_add_at_the_lowest_schema() {
        let mut a = sample(3, &[(5, 1), (6, 2), (7, 4)]);
        a.add(&sample(2, &[(3, 10), (9, 1)]));
        assert_eq!(a.schema, 2);
        assert_eq!(a.zero_count, 2);
        assert_eq!(a.positive, vec![(3, 13), (4, 4), (9, 1)]);
    }

    /// A wider zero threshold takes the buckets wholly within it into the zero bucket.
    #[test]
    fn the_widest_zero_threshold_wins() {
        let mut a = sample(0, &[(-3, 5), (0, 1)]);
        let mut b = sample(0, &[(1, 2)]);
        b.zero_threshold = 0.25;
        a.add(&b);
        // Bucket -3 at schema 0 is (1/16, 1/8]: within 0.25.
        assert_eq!((a.zero_threshold, a.zero_count), (0.25, 7));
        assert_eq!(a.positive, vec![(0, 1), (1, 2)]);
    }
}
