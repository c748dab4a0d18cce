//! Property tests: every frame survives encoding and decoding, whatever the chunking of
//! the byte stream.

mod common;

use common::{drain, encode_all, frame, same_bits};
use dawn_proto::{DEFAULT_MAX_FRAME_LEN, Frame, FrameDecoder, LENGTH_PREFIX_LEN, decode_body};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// One frame: the length prefix is right, the body decodes to the same frame (bitwise for
    /// floats, so NaN payloads count too), and re-encoding gives the same bytes.
    #[test]
    fn every_frame_round_trips(f in frame()) {
        let wire = encode_all(std::slice::from_ref(&f));
        let len = u32::from_le_bytes(wire[..LENGTH_PREFIX_LEN].try_into().expect("4 bytes")) as usize;
        prop_assert_eq!(len, wire.len() - LENGTH_PREFIX_LEN);

        let back = decode_body(&wire[LENGTH_PREFIX_LEN..]).expect("own encoding must decode");
        prop_assert!(same_bits(&f, &back), "{f:?} came back as {back:?}");
        #[allow(clippy::eq_op)] // a frame unequal to itself holds a NaN
        if f == f {
            prop_assert_eq!(&back, &f);
        }

        let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_LEN);
        decoder.extend(&wire);
        let frames = drain(&mut decoder);
        prop_assert_eq!(frames.len(), 1);
        prop_assert!(same_bits(&frames[0], &f));
        prop_assert_eq!(decoder.buffered(), 0);
        prop_assert!(decoder.finish().is_ok());
    }

    /// Several frames, the stream cut at arbitrary points (several frames per read, frames
    /// split across reads, empty reads): the same frames come out in order.
    #[test]
    fn split_anywhere_gives_the_same_frames(
        frames in vec(frame(), 1..8),
        cuts in vec(any::<Index>(), 0..12),
    ) {
        let wire = encode_all(&frames);
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
        points.push(0);
        points.push(wire.len());
        points.sort_unstable();

        let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_LEN);
        let mut got = Vec::new();
        for pair in points.windows(2) {
            decoder.extend(&wire[pair[0]..pair[1]]);
            got.extend(drain(&mut decoder));
            // Whatever stays buffered is less than one whole frame.
            prop_assert!(decoder.buffered() < LENGTH_PREFIX_LEN + DEFAULT_MAX_FRAME_LEN);
        }
        prop_assert_eq!(got.len(), frames.len());
        for (g, f) in got.iter().zip(&frames) {
            prop_assert!(same_bits(g, f), "{f:?} came back as {g:?}");
        }
        prop_assert!(decoder.finish().is_ok());
    }

    /// Byte-at-a-time is the worst chunking; it must still work.
    #[test]
    fn one_byte_at_a_time(frames in vec(frame(), 1..4)) {
        let wire = encode_all(&frames);
        let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_LEN);
        let mut got = Vec::new();
        for b in &wire {
            decoder.extend(std::slice::from_ref(b));
            got.extend(drain(&mut decoder));
        }
        prop_assert_eq!(got.len(), frames.len());
        for (g, f) in got.iter().zip(&frames) {
            prop_assert!(same_bits(g, f));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Read straight into the decoder (`spare`, then `commit`), as a socket reads: each read
    /// asks for some space, fills part of it (a short read, or none), and scribbles past what
    /// it reports; only the bytes committed count, and the same frames come out in order.
    #[test]
    fn reading_into_spare_gives_the_same_frames(
        frames in vec(frame(), 1..8),
        reads in vec((0usize..64, any::<Index>()), 1..40),
    ) {
        let wire = encode_all(&frames);
        let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_LEN);
        let mut got = Vec::new();
        let mut at = 0;
        let mut turn = 0;
        while at < wire.len() {
            let (ask, short) = reads[turn % reads.len()];
            turn += 1;
            // Never stuck: every fourth read takes at least one byte.
            let ask = if turn % 4 == 0 { ask.max(1) } else { ask };
            let space = decoder.spare(ask);
            prop_assert_eq!(space.len(), ask);
            let least = usize::from(turn % 4 == 0);
            let n = short.index(ask + 1).max(least).min(wire.len() - at);
            space[..n].copy_from_slice(&wire[at..at + n]);
            space[n..].fill(0xA5);
            decoder.commit(n);
            at += n;
            got.extend(drain(&mut decoder));
        }
        prop_assert_eq!(got.len(), frames.len());
        for (g, f) in got.iter().zip(&frames) {
            prop_assert!(same_bits(g, f), "{f:?} came back as {g:?}");
        }
        prop_assert_eq!(decoder.buffered(), 0);
        prop_assert!(decoder.finish().is_ok());
    }
}

/// Reading into `spare` across far more bytes than the point where the decoder moves what
/// is left to the front of its buffer, with frames split across reads of several sizes:
/// every frame comes out in order, and what stays buffered is never more than one
/// unfinished frame plus one read.
#[test]
fn reading_into_spare_over_many_frames() {
    use dawn_proto::{Batch, HistogramValue, Update, Value};
    let frames: Vec<Frame> = (0..1000u64)
        .map(|seq| {
            Frame::Batch(Batch {
                seq,
                updates: (0..(seq % 97) as u32)
                    .map(|series| Update {
                        series,
                        value: if series % 4 == 0 {
                            Value::Histogram(HistogramValue {
                                count: 3,
                                sum: 1.5,
                                buckets: vec![1, 0, 2],
                            })
                        } else {
                            Value::Counter(seq * 1000 + u64::from(series))
                        },
                    })
                    .collect(),
            })
        })
        .collect();
    let wire = encode_all(&frames);
    assert!(wire.len() > 4 * 64 * 1024, "{} bytes", wire.len());
    let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_LEN);
    let mut got = Vec::new();
    let mut at = 0;
    let mut largest = 0;
    for read in [7001usize, 65536, 13, 65536, 40000].iter().cycle() {
        if at == wire.len() {
            break;
        }
        let space = decoder.spare(*read);
        let n = (*read).min(wire.len() - at);
        space[..n].copy_from_slice(&wire[at..at + n]);
        decoder.commit(n);
        at += n;
        largest = largest.max(decoder.buffered());
        got.extend(drain(&mut decoder));
    }
    assert_eq!(got, frames);
    assert!(decoder.finish().is_ok());
    let largest_frame = frames
        .iter()
        .map(|f| encode_all(std::slice::from_ref(f)).len())
        .max()
        .unwrap_or(0);
    assert!(largest < largest_frame + 65536, "{largest} bytes buffered");
}

/// A commit is cut to the space `spare` gave, and a commit without one adds nothing.
#[test]
fn commit_counts_only_the_space_given() {
    let wire = encode_all(&[Frame::Ready(true), Frame::Ready(false)]);
    let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_LEN);
    decoder.commit(5);
    assert_eq!(decoder.buffered(), 0);
    let space = decoder.spare(3);
    space.copy_from_slice(&wire[..3]);
    decoder.commit(100);
    assert_eq!(decoder.buffered(), 3);
    decoder.commit(1);
    assert_eq!(decoder.buffered(), 3);
    let space = decoder.spare(wire.len());
    space[..wire.len() - 3].copy_from_slice(&wire[3..]);
    decoder.commit(wire.len() - 3);
    assert_eq!(
        drain(&mut decoder),
        [Frame::Ready(true), Frame::Ready(false)]
    );
    assert_eq!(decoder.buffered(), 0);
    assert!(decoder.finish().is_ok());
}

/// Sanity check that the strategy really reaches every variant (a strategy that silently lost
/// one would make the properties above vacuous for it).
#[test]
fn strategy_reaches_every_variant() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = frame();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..2000 {
        let f: Frame = strategy
            .new_tree(&mut runner)
            .expect("strategy builds")
            .current();
        seen.insert(f.kind_name());
    }
    assert_eq!(seen.len(), 12, "variants seen: {seen:?}");
}
