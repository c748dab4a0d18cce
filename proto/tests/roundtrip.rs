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
