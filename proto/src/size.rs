//! Encoded sizes computed without encoding, so a sender can cut batches at a byte budget
//! while it collects updates instead of encoding twice.
//!
//! The sizes are exact, not bounds: they follow the encoding rules of docs/wire.md, and the
//! tests compare them with the real encoder.

use crate::frame::{BucketSpan, HistogramValue, NativeBuckets, Update, Value};

/// Bytes of an `f64` on the wire (IEEE 754 binary64, little-endian).
const F64_LEN: usize = 8;

/// Bytes of an unsigned integer (`u16`, `u32`, `u64`, a length or an enum tag) in the
/// wire's varint encoding: one byte below 251, else a tag byte and 2, 4 or 8 bytes.
pub(crate) const fn varint_len(value: u64) -> usize {
    if value < 251 {
        1
    } else if value <= u16::MAX as u64 {
        3
    } else if value <= u32::MAX as u64 {
        5
    } else {
        9
    }
}

/// Bytes of a container length (a `Vec`'s or a `String`'s), a varint of the length.
const fn len_len(len: usize) -> usize {
    // usize is at most 64 bits on every target Rust supports.
    varint_len(len as u64)
}

impl Update {
    /// Exact bytes this update adds to a [`crate::Batch`]'s encoding.
    ///
    /// A batch is its frame tag, its `seq` and its update count (a few bytes, see docs/wire.md)
    /// plus the sum of this over its updates; a client adds these up to cut batches at a
    /// target size.
    pub fn encoded_len(&self) -> usize {
        varint_len(u64::from(self.series)) + self.value.encoded_len()
    }
}

impl Value {
    /// Exact bytes of this value's encoding: its variant tag, then its payload.
    pub(crate) fn encoded_len(&self) -> usize {
        // Every variant index (0 to 3) is a one-byte varint.
        1 + match self {
            Value::Counter(total) => varint_len(*total),
            Value::Gauge(_) => F64_LEN,
            Value::Histogram(h) => h.encoded_len(),
            Value::NativeHistogram(v) => v.classic.encoded_len() + v.native.encoded_len(),
        }
    }
}

impl HistogramValue {
    /// Exact bytes of this histogram's encoding: count, sum, bucket count, buckets.
    fn encoded_len(&self) -> usize {
        varint_len(self.count)
            + F64_LEN
            + len_len(self.buckets.len())
            + self.buckets.iter().map(|&b| varint_len(b)).sum::<usize>()
    }
}

/// Bytes of an `i32`: its zigzag form as a varint.
const fn i32_len(value: i32) -> usize {
    varint_len(((value << 1) ^ (value >> 31)) as u32 as u64)
}

impl NativeBuckets {
    /// Exact bytes of the native part: schema, zero threshold and count, then for each sign
    /// its spans and its counts.
    fn encoded_len(&self) -> usize {
        let spans = |spans: &[BucketSpan]| {
            len_len(spans.len())
                + spans
                    .iter()
                    .map(|s| i32_len(s.offset) + varint_len(u64::from(s.length)))
                    .sum::<usize>()
        };
        let counts = |counts: &[u64]| {
            len_len(counts.len()) + counts.iter().map(|&c| varint_len(c)).sum::<usize>()
        };
        i32_len(self.schema)
            + F64_LEN
            + varint_len(self.zero_count)
            + spans(&self.positive_spans)
            + counts(&self.positive_counts)
            + spans(&self.negative_spans)
            + counts(&self.negative_counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn encoded<T: bincode::Encode>(value: T) -> Vec<u8> {
        bincode::encode_to_vec(value, bincode::config::standard()).expect("encodes")
    }

    /// Every threshold of the varint encoding, on both sides.
    #[test]
    fn varint_len_at_every_threshold() {
        let table: &[(u64, usize)] = &[
            (0, 1),
            (250, 1),
            (251, 3),
            (u64::from(u16::MAX), 3),
            (u64::from(u16::MAX) + 1, 5),
            (u64::from(u32::MAX), 5),
            (u64::from(u32::MAX) + 1, 9),
            (u64::MAX, 9),
        ];
        for &(value, len) in table {
            assert_eq!(varint_len(value), len, "{value}");
            assert_eq!(encoded(value).len(), len, "{value}");
        }
    }

    /// Values spread over every varint width: small ones, and each width's whole range.
    fn any_width_u64() -> impl Strategy<Value = u64> {
        prop_oneof![
            0u64..300,
            any::<u16>().prop_map(u64::from),
            any::<u32>().prop_map(u64::from),
            any::<u64>(),
        ]
    }

    /// Any value; histograms get up to `max_buckets` buckets.
    fn any_value(max_buckets: usize) -> impl Strategy<Value = Value> {
        prop_oneof![
            any_width_u64().prop_map(Value::Counter),
            any::<f64>().prop_map(Value::Gauge),
            (
                any_width_u64(),
                any::<f64>(),
                vec(any_width_u64(), 0..max_buckets)
            )
                .prop_map(|(count, sum, buckets)| Value::Histogram(HistogramValue {
                    count,
                    sum,
                    buckets,
                })),
            (
                any_width_u64(),
                any::<f64>(),
                vec(any_width_u64(), 0..max_buckets),
                any::<i32>(),
                any::<f64>(),
                any_width_u64(),
                vec((any::<i32>(), any::<u32>()), 0..max_buckets),
                vec(any_width_u64(), 0..max_buckets),
            )
                .prop_map(|(count, sum, buckets, schema, zt, zc, spans, counts)| {
                    let spans: Vec<_> = spans
                        .into_iter()
                        .map(|(offset, length)| BucketSpan { offset, length })
                        .collect();
                    Value::NativeHistogram(Box::new(crate::NativeHistogramValue {
                        classic: HistogramValue {
                            count,
                            sum,
                            buckets,
                        },
                        native: NativeBuckets {
                            schema,
                            zero_threshold: zt,
                            zero_count: zc,
                            positive_spans: spans.clone(),
                            positive_counts: counts.clone(),
                            negative_spans: spans,
                            negative_counts: counts,
                        },
                    }))
                }),
        ]
    }

    #[test]
    fn i32_len_at_the_extremes() {
        for v in [0, -1, 1, 125, -126, 126, i32::MIN, i32::MAX] {
            assert_eq!(i32_len(v), encoded(v).len(), "{v}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

        #[test]
        fn varint_len_matches_the_encoder(value in any_width_u64()) {
            prop_assert_eq!(varint_len(value), encoded(value).len());
            if let Ok(small) = u32::try_from(value) {
                prop_assert_eq!(varint_len(value), encoded(small).len());
            }
        }

        #[test]
        fn update_len_matches_the_encoder(
            series in any_width_u64().prop_map(|v| v as u32),
            // Past 250 buckets the bucket count itself takes three bytes.
            value in any_value(300),
        ) {
            let update = Update { series, value };
            prop_assert_eq!(update.encoded_len(), encoded(&update).len());
        }
    }

    proptest! {
        // Each case builds hundreds of updates; fewer cases keep the test quick.
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// The batch arithmetic the `encoded_len` doc promises: tag, seq, count, updates.
        #[test]
        fn batch_body_is_its_header_plus_its_updates(
            seq in any_width_u64(),
            updates in vec(
                (any::<u32>(), any_value(4)).prop_map(|(series, value)| Update { series, value }),
                // Past 250 updates the update count itself takes three bytes.
                0..300,
            ),
        ) {
            let expected = 1
                + varint_len(seq)
                + len_len(updates.len())
                + updates.iter().map(Update::encoded_len).sum::<usize>();
            let frame = crate::Frame::Batch(crate::Batch { seq, updates });
            prop_assert_eq!(expected, encoded(&frame).len());
        }
    }
}
