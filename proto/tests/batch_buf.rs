//! `Batch` frames are decoded by the crate's own reader into a reused `BatchBuf` (the hot
//! path of the exporter), every other frame through bincode's derived decoder. These tests
//! hold the batch reader to bincode's: for arbitrary batches, for every vector file, and for
//! the same bytes cut short, damaged or over the decode limit, `decode_body` and
//! `decode_body_into` give exactly what bincode decoding the whole `Frame` gives: the same
//! frame, or the same error with the same text. And the buffer's updates are the owned
//! batch's updates, whatever it held before.

mod common;

use std::path::Path;

use common::same_bits;
use dawn_proto::{
    Batch, BatchBuf, DecodeError, Decoded, Frame, FrameDecoder, HistogramValue, LENGTH_PREFIX_LEN,
    MAX_FRAME_LEN_LIMIT, Update, UpdateRef, Value, ValueRef, decode_body, decode_body_into,
    encode_frame,
};
use proptest::collection::vec;
use proptest::prelude::*;

/// How the codec decoded every frame before batches had a reader of their own: bincode's
/// derived decoder for the whole `Frame`, with the codec's configuration and memory limit.
fn bincode_decode(body: &[u8]) -> Result<Frame, DecodeError> {
    let config = bincode::config::standard().with_limit::<MAX_FRAME_LEN_LIMIT>();
    match bincode::decode_from_slice::<Frame, _>(body, config) {
        Ok((frame, used)) if used == body.len() => Ok(frame),
        Ok((_, used)) => Err(DecodeError::TrailingBytes {
            len: body.len(),
            trailing: body.len() - used,
        }),
        Err(e) => Err(DecodeError::Malformed {
            len: body.len(),
            detail: e.to_string(),
        }),
    }
}

/// Whether the two results are the same frame (floats bitwise) or the same error.
fn same_result(a: &Result<Frame, DecodeError>, b: &Result<Frame, DecodeError>) -> bool {
    match (a, b) {
        (Ok(a), Ok(b)) => same_bits(a, b),
        (Err(a), Err(b)) => a == b,
        _ => false,
    }
}

/// A buffer that already holds a batch, to show that decoding into it replaces it whole.
fn used_buffer() -> BatchBuf {
    let mut buf = BatchBuf::new();
    let body = body_of(&Frame::Batch(Batch {
        seq: 99,
        updates: vec![
            Update {
                series: 7,
                value: Value::Histogram(HistogramValue {
                    count: 3,
                    sum: 1.0,
                    buckets: vec![1, 2, 0],
                }),
            },
            counter(8, 5),
        ],
    }));
    assert_eq!(decode_body_into(&body, &mut buf), Ok(Decoded::Batch));
    buf
}

/// `body` decodes, owned and into a used buffer, exactly as bincode decodes it; a batch
/// comes out in the buffer, with the owned batch's updates; anything else leaves it empty.
fn check_body(body: &[u8]) -> Result<(), TestCaseError> {
    let want = bincode_decode(body);
    let owned = decode_body(body);
    prop_assert!(
        same_result(&owned, &want),
        "decode_body {owned:?}, bincode {want:?}, body {body:02x?}"
    );
    let mut buf = used_buffer();
    let into = decode_body_into(body, &mut buf);
    match (&into, &want) {
        (Ok(Decoded::Batch), Ok(Frame::Batch(batch))) => check_buf(&buf, batch)?,
        (Ok(Decoded::Frame(frame)), Ok(want)) => {
            prop_assert!(!matches!(frame, Frame::Batch(_)), "a batch decoded owned");
            prop_assert!(
                buf.is_empty() && buf.seq() == 0,
                "left after a frame: {buf:?}"
            );
            prop_assert!(same_bits(frame, want), "{frame:?}, bincode {want:?}");
        }
        (Err(got), Err(want)) => {
            prop_assert_eq!(got, want);
            prop_assert!(
                buf.is_empty() && buf.seq() == 0,
                "left after an error: {buf:?}"
            );
        }
        _ => prop_assert!(
            false,
            "decode_body_into {into:?}, bincode {want:?}, body {body:02x?}"
        ),
    }
    Ok(())
}

/// The buffer holds `batch`: its seq, length and every update, borrowed and owned.
fn check_buf(buf: &BatchBuf, batch: &Batch) -> Result<(), TestCaseError> {
    prop_assert_eq!(buf.seq(), batch.seq);
    prop_assert_eq!(buf.len(), batch.updates.len());
    prop_assert_eq!(buf.updates().len(), batch.updates.len());
    let natives = batch
        .updates
        .iter()
        .any(|u| matches!(u.value, Value::NativeHistogram(_)));
    prop_assert_eq!(buf.has_native(), natives);
    let mut n = 0;
    for (i, (got, want)) in buf.updates().zip(&batch.updates).enumerate() {
        n += 1;
        // Debug, since NaN gauges are not equal to themselves.
        prop_assert_eq!(format!("{:?}", Some(got)), format!("{:?}", buf.get(i)));
        prop_assert_eq!(got.series, want.series);
        let same = match (got.value, &want.value) {
            (ValueRef::Counter(a), Value::Counter(b)) => a == *b,
            (ValueRef::Gauge(a), Value::Gauge(b)) => a.to_bits() == b.to_bits(),
            (ValueRef::Histogram(a), Value::Histogram(b)) => {
                a.count == b.count
                    && a.sum.to_bits() == b.sum.to_bits()
                    && a.buckets == b.buckets
                    && a.native.is_none()
            }
            (ValueRef::Histogram(a), Value::NativeHistogram(b)) => {
                let (c, n) = (&b.classic, &b.native);
                a.count == c.count
                    && a.sum.to_bits() == c.sum.to_bits()
                    && a.buckets == c.buckets
                    && a.native.map(|a| a.get()).is_some_and(|a| {
                        a.schema == n.schema
                            && a.zero_threshold.to_bits() == n.zero_threshold.to_bits()
                            && a.zero_count == n.zero_count
                            && a.positive_spans == n.positive_spans
                            && a.positive_counts == n.positive_counts
                            && a.negative_spans == n.negative_spans
                            && a.negative_counts == n.negative_counts
                    })
            }
            _ => false,
        };
        prop_assert!(same, "update {n}: buffer {got:?}, owned {want:?}");
        let owned = Frame::Batch(Batch {
            seq: 0,
            updates: vec![got.to_update()],
        });
        let want = Frame::Batch(Batch {
            seq: 0,
            updates: vec![want.clone()],
        });
        prop_assert!(same_bits(&owned, &want), "update {n}: to_update");
    }
    prop_assert_eq!(n, batch.updates.len());
    prop_assert_eq!(buf.get(n), None);
    prop_assert!(same_bits(
        &Frame::Batch(buf.to_batch()),
        &Frame::Batch(batch.clone())
    ));
    Ok(())
}

/// The body of `frame`, without its length prefix.
fn body_of(frame: &Frame) -> Vec<u8> {
    let mut wire = Vec::new();
    encode_frame(frame, &mut wire).expect("test frames encode");
    wire.split_off(LENGTH_PREFIX_LEN)
}

/// Integers of every varint width, the edges of each included.
fn varied_u64() -> impl Strategy<Value = u64> + Clone {
    prop_oneof![
        0u64..=250,
        Just(251u64),
        251u64..=65_535,
        Just(65_536u64),
        65_536u64..=u64::from(u32::MAX),
        any::<u64>(),
    ]
}

fn varied_u32() -> impl Strategy<Value = u32> {
    varied_u64().prop_map(|v| v as u32)
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        varied_u64().prop_map(Value::Counter),
        common::any_f64().prop_map(Value::Gauge),
        (varied_u64(), common::any_f64(), vec(varied_u64(), 0..20)).prop_map(
            |(count, sum, buckets)| Value::Histogram(HistogramValue {
                count,
                sum,
                buckets,
            })
        ),
        common::native(varied_u64(), vec(varied_u64(), 0..20)),
    ]
}

fn batch() -> impl Strategy<Value = Batch> {
    (
        varied_u64(),
        vec(
            (varied_u32(), value()).prop_map(|(series, value)| Update { series, value }),
            0..12,
        ),
    )
        .prop_map(|(seq, updates)| Batch { seq, updates })
}

/// A change to a body: a byte overwritten, inserted or removed.
#[derive(Debug, Clone)]
enum Damage {
    Set(usize, u8),
    Insert(usize, u8),
    Remove(usize),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Damage::Set(at, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Damage::Insert(at, b)),
        any::<usize>().prop_map(Damage::Remove),
    ]
}

fn apply(body: &mut Vec<u8>, damage: &Damage) {
    if body.is_empty() {
        return;
    }
    match *damage {
        Damage::Set(at, b) => {
            let at = at % body.len();
            body[at] = b;
        }
        Damage::Insert(at, b) => body.insert(at % (body.len() + 1), b),
        Damage::Remove(at) => {
            body.remove(at % body.len());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Arbitrary batches decode into the buffer as themselves, as bincode decodes them.
    #[test]
    fn arbitrary_batches_decode_into_a_buffer_as_bincode_decodes_them(batch in batch()) {
        let frame = Frame::Batch(batch);
        let body = body_of(&frame);
        prop_assert_eq!(decode_body_into(&body, &mut BatchBuf::new()), Ok(Decoded::Batch));
        check_body(&body)?;
        prop_assert!(same_bits(&decode_body(&body).expect("decodes"), &frame));
    }

    /// Every cut of a batch's body, with one byte appended or not, gives bincode's error.
    #[test]
    fn cut_batches_give_bincode_s_errors(batch in batch(), extra in any::<u8>()) {
        let body = body_of(&Frame::Batch(batch));
        for cut in 0..body.len() {
            check_body(&body[..cut])?;
        }
        let mut longer = body.clone();
        longer.push(extra);
        check_body(&longer)?;
    }

    /// Batches with a few bytes overwritten, inserted or removed give bincode's frame or
    /// bincode's error.
    #[test]
    fn damaged_batches_give_bincode_s_results(batch in batch(), damages in vec(damage(), 1..4)) {
        let mut body = body_of(&Frame::Batch(batch));
        for d in &damages {
            apply(&mut body, d);
        }
        check_body(&body)?;
    }

    /// A batch tag followed by random bytes.
    #[test]
    fn random_bytes_after_a_batch_tag(tail in vec(any::<u8>(), 0..64)) {
        let mut body = vec![5];
        body.extend_from_slice(&tail);
        check_body(&body)?;
        // The tag in its 3-byte form is a batch too.
        let mut wide = vec![0xfb, 5, 0];
        wide.extend_from_slice(&tail);
        check_body(&wide)?;
    }

    /// Whole streams give the same frames and the same sticky error from both decoder calls.
    #[test]
    fn the_stream_decoder_decodes_into_a_buffer_what_it_decodes_owned(
        batches in vec(batch(), 1..4),
        cut in any::<usize>(),
    ) {
        let mut wire = Vec::new();
        for b in &batches {
            encode_frame(&Frame::Batch(b.clone()), &mut wire).expect("encodes");
        }
        // One byte changed somewhere, sometimes none.
        let cut = cut % (wire.len() + 1);
        if let Some(b) = wire.get_mut(cut) {
            *b = b.wrapping_add(1);
        }
        let (mut owned, mut into) = (
            FrameDecoder::new(MAX_FRAME_LEN_LIMIT),
            FrameDecoder::new(MAX_FRAME_LEN_LIMIT),
        );
        owned.extend(&wire);
        into.extend(&wire);
        let mut buf = used_buffer();
        loop {
            let a = owned.next_frame();
            let b = into.next_frame_into(&mut buf).map(|f| {
                f.map(|d| match d {
                    Decoded::Batch => Frame::Batch(buf.to_batch()),
                    Decoded::Frame(frame) => frame,
                })
            });
            match (&a, &b) {
                (Ok(Some(a)), Ok(Some(b))) => prop_assert!(same_bits(a, b)),
                (Ok(None), Ok(None)) => break,
                (Err(x), Err(y)) => {
                    prop_assert_eq!(x, y);
                    prop_assert_eq!(into.next_frame_into(&mut buf), Err(y.clone()));
                    break;
                }
                _ => prop_assert!(false, "owned {a:?}, into a buffer {b:?}"),
            }
        }
        prop_assert_eq!(owned.buffered(), into.buffered());
    }
}

/// The bytes of a vector file, comments ignored.
fn vector_bytes(path: &Path) -> Vec<u8> {
    let text = std::fs::read_to_string(path).expect("readable vector");
    text.lines()
        .flat_map(|l| l.split('#').next().unwrap_or_default().split_whitespace())
        .map(|t| u8::from_str_radix(t, 16).expect("hex byte"))
        .collect()
}

#[test]
fn every_vector_cut_and_damaged_decodes_as_bincode_decodes_it() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut batches = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/vectors") {
        let path = entry.expect("entry").path();
        let wire = vector_bytes(&path);
        let body = wire.get(LENGTH_PREFIX_LEN..).unwrap_or_default();
        let name = path.display();
        if decode_body_into(body, &mut BatchBuf::new()) == Ok(Decoded::Batch) {
            batches += 1;
        }
        check_body(body).unwrap_or_else(|e| panic!("{name}: {e}"));
        for cut in 0..body.len() {
            check_body(&body[..cut]).unwrap_or_else(|e| panic!("{name} cut at {cut}: {e}"));
        }
        for at in 0..body.len() {
            for b in [0x00, 0x01, 0x02, 0x03, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff] {
                let mut damaged = body.to_vec();
                damaged[at] = b;
                check_body(&damaged)
                    .unwrap_or_else(|e| panic!("{name} with byte {at} = {b:02x}: {e}"));
            }
        }
    }
    assert!(batches >= 4, "the vectors hold {batches} batches");
}

/// A batch body of `updates`, each as given, behind `seq` 1.
fn batch_body(updates: Vec<Update>) -> Vec<u8> {
    body_of(&Frame::Batch(Batch { seq: 1, updates }))
}

fn counter(series: u32, v: u64) -> Update {
    Update {
        series,
        value: Value::Counter(v),
    }
}

fn histogram(buckets: usize) -> Update {
    Update {
        series: 1,
        value: Value::Histogram(HistogramValue {
            count: 0,
            sum: 0.0,
            buckets: vec![0; buckets],
        }),
    }
}

/// bincode refuses a frame whose decoded form would claim more than the frame limit: the
/// batch reader refuses the same frames at the same point.
#[test]
fn the_decode_memory_limit_is_bincode_s() {
    // An update claims 48 bytes up front; the batch's own fields 20.
    let most = (MAX_FRAME_LEN_LIMIT - 20) / size_of::<Update>();
    for n in [most - 1, most, most + 1, most + 2] {
        let body = batch_body((0..n).map(|_| counter(1, 1)).collect());
        check_body(&body).unwrap_or_else(|e| panic!("{n} counters: {e}"));
        let refused = decode_body(&body).is_err();
        assert_eq!(refused, n > most, "{n} counters");
    }
    // Buckets claim 8 bytes each, and what each update read stays claimed.
    for buckets in [130_000, 131_065, 131_066, 140_000] {
        let body = batch_body(vec![histogram(buckets)]);
        check_body(&body).unwrap_or_else(|e| panic!("{buckets} buckets: {e}"));
    }
    for (updates, buckets) in [(1_000, 120), (1_000, 131), (3_000, 40), (4_000, 30)] {
        let body = batch_body((0..updates).map(|_| histogram(buckets)).collect());
        check_body(&body).unwrap_or_else(|e| panic!("{updates} x {buckets} buckets: {e}"));
    }
    let refused = batch_body((0..4_000).map(|_| histogram(30)).collect());
    let detail = decode_body(&refused)
        .expect_err("over the limit")
        .to_string();
    assert!(detail.contains("LimitExceeded"), "{detail}");
    // Cut short, a batch over the limit is refused for the limit first, as by bincode.
    let over = batch_body((0..most + 1).map(|_| counter(1, 1)).collect());
    check_body(&over[..10]).expect("cut");
}

/// The reader lays out as many updates as the bytes left could hold (3 bytes each at
/// least), and as many buckets as bytes: batches that announce more than that, and whose
/// bytes are all updates or buckets of the fewest bytes, end where bincode's do.
#[test]
fn lengths_beyond_the_bytes_left_are_refused_as_bincode_refuses_them() {
    for n in 0..8u32 {
        let full = batch_body((1..=n).map(|i| counter(i, u64::from(i))).collect());
        // The tag, the seq and the length (n < 251: a byte each) come first.
        let updates = &full[3..];
        for announced in n..n + 4 {
            for extra in [&[][..], &[5], &[5, 0], &[5, 0, 251]] {
                let mut body = vec![full[0], full[1], announced as u8];
                body.extend_from_slice(updates);
                body.extend_from_slice(extra);
                check_body(&body)
                    .unwrap_or_else(|e| panic!("{n} of {announced} updates, {extra:?}: {e}"));
            }
        }
    }
    for buckets in 0..6usize {
        let full = batch_body(vec![histogram(buckets)]);
        // The buckets' length is the byte before them.
        let at = full.len() - buckets - 1;
        for announced in buckets..buckets + 4 {
            for extra in [&[][..], &[7], &[251, 1]] {
                let mut body = full[..at].to_vec();
                body.push(announced as u8);
                body.extend_from_slice(&full[at + 1..]);
                body.extend_from_slice(extra);
                check_body(&body)
                    .unwrap_or_else(|e| panic!("{buckets} of {announced} buckets, {extra:?}: {e}"));
            }
        }
    }
}

#[test]
fn a_buffer_holds_what_it_was_given_and_only_the_last_batch() {
    let updates = vec![
        counter(3, 70_000),
        Update {
            series: 4,
            value: Value::Gauge(-0.0),
        },
        Update {
            series: 5,
            value: Value::Histogram(HistogramValue {
                count: 300,
                sum: 1.5,
                buckets: vec![0, 251, 49],
            }),
        },
    ];
    let batch = Batch {
        seq: 1,
        updates: updates.clone(),
    };
    let mut buf = used_buffer();
    assert_eq!(
        decode_body_into(&batch_body(updates.clone()), &mut buf),
        Ok(Decoded::Batch)
    );
    assert_eq!(buf, BatchBuf::from(&batch));
    let borrowed: Vec<UpdateRef<'_>> = updates.iter().map(UpdateRef::from).collect();
    assert_eq!(buf.updates().collect::<Vec<_>>(), borrowed);
    assert_eq!(
        format!("{buf:?}"),
        format!("BatchBuf {{ seq: 1, updates: {borrowed:?} }}")
    );
    // A smaller batch replaces it whole.
    let small = counter(9, 1);
    let body = batch_body(vec![small.clone()]);
    assert_eq!(decode_body_into(&body, &mut buf), Ok(Decoded::Batch));
    assert_eq!(buf.updates().collect::<Vec<_>>(), [UpdateRef::from(&small)]);
    assert_eq!(
        Decoded::Batch.kind_index(),
        Frame::Batch(batch).kind_index()
    );
}

/// A native histogram update (tag 3) with `spans` spans and `counts` counts of each sign
/// (half as many negative ones), not necessarily valid: decoding does not check values.
fn native(spans: usize, counts: usize) -> Update {
    Update {
        series: 1,
        value: Value::NativeHistogram(Box::new(dawn_proto::NativeHistogramValue {
            classic: HistogramValue {
                count: 0,
                sum: 0.0,
                buckets: vec![0; 3],
            },
            native: dawn_proto::NativeBuckets {
                schema: -3,
                zero_threshold: 0.0,
                zero_count: 0,
                positive_spans: vec![
                    dawn_proto::BucketSpan {
                        offset: -1,
                        length: 1,
                    };
                    spans
                ],
                positive_counts: vec![0; counts],
                negative_spans: vec![
                    dawn_proto::BucketSpan {
                        offset: 300,
                        length: 70_000,
                    };
                    spans / 2
                ],
                negative_counts: vec![1; counts / 2],
            },
        })),
    }
}

/// Native histograms claim memory as bincode's derived decoder does (an `i32` 4 bytes, a
/// span 8, a count 8, each claim before its read): batches of them on both sides of the
/// decode limit, and one cut at every byte, decode or fail exactly as with bincode.
#[test]
fn native_histograms_claim_and_fail_as_bincode_does() {
    for (spans, counts) in [
        (0, 0),
        (1, 1),
        (40_000, 60_000),
        (60_000, 10_000),
        (65_000, 65_000),
        (87_000, 0),
        (88_000, 0),
        (0, 87_300),
        (0, 87_400),
        (0, 140_000),
    ] {
        let body = batch_body(vec![native(spans, counts)]);
        check_body(&body).unwrap_or_else(|e| panic!("{spans} spans, {counts} counts: {e}"));
    }
    // Both sides of the limit were reached above.
    assert!(decode_body(&batch_body(vec![native(0, 87_300)])).is_ok());
    let refused = decode_body(&batch_body(vec![native(0, 87_400)]));
    assert!(
        refused.is_err_and(|e| e.to_string().contains("LimitExceeded")),
        "87,400 counts"
    );
    for (updates, counts) in [(1_000, 60), (1_000, 80), (2_000, 40), (4_000, 20)] {
        let body = batch_body((0..updates).map(|_| native(2, counts)).collect());
        check_body(&body).unwrap_or_else(|e| panic!("{updates} x {counts} counts: {e}"));
    }
    let body = batch_body(vec![native(3, 5), counter(2, 9), native(1, 2)]);
    for cut in 0..body.len() {
        check_body(&body[..cut]).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
    }
}
