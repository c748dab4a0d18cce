//! The decoder on hostile input: random bytes, every truncation of valid frames, and a table
//! of the errors each kind of bad stream must give. Errors, never panics, and buffering stays
//! bounded by the frame limit.

mod common;

use common::{drain, encode_all, frame, one_of_each};
use dawn_proto::{
    DEFAULT_MAX_FRAME_LEN, DecodeError, EncodeError, Frame, FrameDecoder, LENGTH_PREFIX_LEN,
    MAX_FRAME_LEN_LIMIT, Reject, decode_body, encode_frame,
};
use proptest::collection::vec;
use proptest::prelude::*;

/// Feeds `chunks` and drains after each; returns the first error, checking on the way that the
/// buffer never holds a whole frame's worth beyond the limit.
fn feed(decoder: &mut FrameDecoder, chunks: &[&[u8]]) -> (Vec<Frame>, Option<DecodeError>) {
    let mut frames = Vec::new();
    for chunk in chunks {
        decoder.extend(chunk);
        loop {
            match decoder.next_frame() {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
        assert!(
            decoder.buffered() < LENGTH_PREFIX_LEN + decoder.max_frame_len(),
            "decoder holds {} bytes waiting for one frame (limit {})",
            decoder.buffered(),
            decoder.max_frame_len()
        );
    }
    (frames, None)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// Random bytes in random chunks: errors or waits, never panics, never buffers more than
    /// one frame. A small limit makes the bound bite.
    #[test]
    fn random_bytes_never_panic(bytes in vec(any::<u8>(), 0..4096), chunk in 1usize..300) {
        let mut decoder = FrameDecoder::new(256);
        let chunks: Vec<&[u8]> = bytes.chunks(chunk).collect();
        let (frames, err) = feed(&mut decoder, &chunks);
        // Whatever did decode is a real frame that re-encodes within the limit.
        for f in &frames {
            let mut out = Vec::new();
            prop_assert!(encode_frame(f, &mut out).is_ok());
        }
        if let Some(e) = err {
            prop_assert!(!e.reason().is_empty());
            // Sticky: the stream has lost its framing.
            prop_assert_eq!(decoder.next_frame(), Err(e));
        }
    }

    /// A correct length prefix around random bytes: the body is a frame or a clean error.
    #[test]
    fn random_body_behind_a_valid_prefix(body in vec(any::<u8>(), 0..512)) {
        let mut wire = (body.len() as u32).to_le_bytes().to_vec();
        wire.extend_from_slice(&body);
        let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_LEN);
        decoder.extend(&wire);
        match decoder.next_frame() {
            Ok(Some(f)) => {
                // Decoding is deterministic and agrees with decode_body.
                let direct = decode_body(&body).expect("decoder accepted it");
                prop_assert!(common::same_bits(&f, &direct));
                prop_assert_eq!(decoder.buffered(), 0);
            }
            Ok(None) => prop_assert!(false, "a whole frame is buffered, it must decode or fail"),
            Err(e) => prop_assert!(matches!(
                e,
                DecodeError::Malformed { .. } | DecodeError::TrailingBytes { .. }
            ), "{e:?}"),
        }
    }

    /// Every prefix of a valid stream of arbitrary frames waits for more, and finish() then
    /// reports exactly the unfinished bytes as Truncated.
    #[test]
    fn every_truncation_of_arbitrary_frames_is_truncated(frames in vec(frame(), 1..3)) {
        check_all_truncations(&frames)?;
    }
}

/// Cuts the stream of `frames` after every byte: the whole frames before the cut come out,
/// the rest waits, and finish() reports exactly the unfinished bytes as Truncated.
fn check_all_truncations(frames: &[Frame]) -> Result<(), TestCaseError> {
    let wire = encode_all(frames);
    // End offset of each frame in the stream.
    let mut ends = Vec::new();
    let mut at = 0;
    for f in frames {
        at += encode_all(std::slice::from_ref(f)).len();
        ends.push(at);
    }
    for cut in 0..=wire.len() {
        let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_LEN);
        decoder.extend(&wire[..cut]);
        let got = drain(&mut decoder);
        let whole = ends.iter().filter(|e| **e <= cut).count();
        prop_assert_eq!(got.len(), whole, "cut at {}", cut);
        let last_end = if whole == 0 { 0 } else { ends[whole - 1] };
        let unfinished = cut - last_end;
        prop_assert_eq!(decoder.buffered(), unfinished);
        match decoder.finish() {
            Ok(()) => prop_assert_eq!(unfinished, 0),
            Err(e) => prop_assert_eq!(
                e,
                DecodeError::Truncated {
                    buffered: unfinished
                }
            ),
        }
    }
    Ok(())
}

#[test]
fn every_truncation_of_every_variant() {
    for f in one_of_each() {
        check_all_truncations(std::slice::from_ref(&f)).unwrap_or_else(|e| panic!("{f:?}: {e}"));
    }
    check_all_truncations(&one_of_each()).expect("whole sample stream");
}

/// A length prefix plus `body`.
fn framed(body: &[u8]) -> Vec<u8> {
    let mut wire = (body.len() as u32).to_le_bytes().to_vec();
    wire.extend_from_slice(body);
    wire
}

/// Goodbye's body with one byte too many behind it.
fn goodbye_with_trailing_byte() -> Vec<u8> {
    let wire = encode_all(&[Frame::Goodbye]);
    let mut body = wire[LENGTH_PREFIX_LEN..].to_vec();
    body.push(0);
    framed(&body)
}

/// What a decoder with `max` must say when fed `input` (in one piece or byte by byte).
struct Case {
    name: &'static str,
    max: usize,
    input: Vec<u8>,
    /// Frames that decode before the error.
    frames_before: usize,
    want: Want,
}

enum Want {
    /// The stream is fine so far; waits for more.
    Waits { buffered: usize },
    /// This exact error.
    Exactly(DecodeError),
    /// An error with this reason label whose message contains the text.
    Reason(&'static str, &'static str),
}

fn table() -> Vec<Case> {
    let ready = encode_all(&[Frame::Ready(true)]);
    let mut two_then_garbage = encode_all(&[Frame::Ready(true), Frame::Goodbye]);
    two_then_garbage.extend(framed(&[0xff, 0xff, 0xff]));
    vec![
        Case {
            name: "4 GiB length prefix is refused before any body arrives",
            max: DEFAULT_MAX_FRAME_LEN,
            input: vec![0xff; 4],
            frames_before: 0,
            want: Want::Exactly(DecodeError::FrameTooLarge {
                len: u32::MAX as usize,
                max: DEFAULT_MAX_FRAME_LEN,
            }),
        },
        Case {
            name: "one byte above the limit",
            max: 100,
            input: 101u32.to_le_bytes().to_vec(),
            frames_before: 0,
            want: Want::Exactly(DecodeError::FrameTooLarge { len: 101, max: 100 }),
        },
        Case {
            name: "exactly the limit waits for its body",
            max: 100,
            input: 100u32.to_le_bytes().to_vec(),
            frames_before: 0,
            want: Want::Waits { buffered: 4 },
        },
        Case {
            name: "limits above the hard ceiling are clamped",
            max: usize::MAX,
            input: ((MAX_FRAME_LEN_LIMIT + 1) as u32).to_le_bytes().to_vec(),
            frames_before: 0,
            want: Want::Exactly(DecodeError::FrameTooLarge {
                len: MAX_FRAME_LEN_LIMIT + 1,
                max: MAX_FRAME_LEN_LIMIT,
            }),
        },
        Case {
            name: "partial length prefix waits",
            max: DEFAULT_MAX_FRAME_LEN,
            input: vec![0xff; 3],
            frames_before: 0,
            want: Want::Waits { buffered: 3 },
        },
        Case {
            name: "empty body",
            max: DEFAULT_MAX_FRAME_LEN,
            input: framed(&[]),
            frames_before: 0,
            want: Want::Reason("malformed", "malformed frame of 0 bytes"),
        },
        Case {
            name: "garbage body",
            max: DEFAULT_MAX_FRAME_LEN,
            input: framed(&[0xff, 0xff, 0xff]),
            frames_before: 0,
            want: Want::Reason("malformed", "malformed frame of 3 bytes"),
        },
        Case {
            name: "unknown frame variant",
            max: DEFAULT_MAX_FRAME_LEN,
            input: framed(&[200]),
            frames_before: 0,
            want: Want::Reason("malformed", "malformed frame of 1 bytes"),
        },
        Case {
            name: "invalid UTF-8 in a string",
            // Reject { reason: 2 bytes 0xc3 0x28 }
            max: DEFAULT_MAX_FRAME_LEN,
            input: framed(&[2, 2, 0xc3, 0x28]),
            frames_before: 0,
            want: Want::Reason("malformed", "malformed"),
        },
        Case {
            name: "a string claiming 2^64-1 bytes inside a small frame allocates nothing",
            // Reject { reason: u64 length marker 253 then u64::MAX }
            max: DEFAULT_MAX_FRAME_LEN,
            input: framed(&[2, 253, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            frames_before: 0,
            want: Want::Reason("malformed", "malformed"),
        },
        Case {
            name: "a batch claiming 2^40 updates inside a small frame allocates nothing",
            // Batch { seq: 0, updates: len 2^40 }
            max: DEFAULT_MAX_FRAME_LEN,
            input: framed(&[5, 0, 253, 0, 0, 0, 0, 0, 1, 0, 0]),
            frames_before: 0,
            want: Want::Reason("malformed", "malformed"),
        },
        Case {
            name: "trailing bytes after a valid frame body",
            max: DEFAULT_MAX_FRAME_LEN,
            input: goodbye_with_trailing_byte(),
            frames_before: 0,
            want: Want::Exactly(DecodeError::TrailingBytes {
                len: 2,
                trailing: 1,
            }),
        },
        Case {
            name: "good frames before garbage still come out",
            max: DEFAULT_MAX_FRAME_LEN,
            input: two_then_garbage,
            frames_before: 2,
            want: Want::Reason("malformed", "malformed frame of 3 bytes"),
        },
        Case {
            name: "half a frame waits",
            max: DEFAULT_MAX_FRAME_LEN,
            input: ready[..ready.len() - 1].to_vec(),
            frames_before: 0,
            want: Want::Waits {
                buffered: ready.len() - 1,
            },
        },
    ]
}

#[test]
fn decode_error_table() {
    assert_eq!(
        encode_all(&[Frame::Goodbye]).len(),
        LENGTH_PREFIX_LEN + 1,
        "table assumes Goodbye is one byte"
    );
    for case in table() {
        for byte_by_byte in [false, true] {
            let mut decoder = FrameDecoder::new(case.max);
            let chunks: Vec<&[u8]> = if byte_by_byte {
                case.input.chunks(1).collect()
            } else {
                vec![&case.input]
            };
            let (frames, err) = feed(&mut decoder, &chunks);
            let label = format!("{} (byte by byte: {byte_by_byte})", case.name);
            assert_eq!(frames.len(), case.frames_before, "{label}");
            match (&case.want, err) {
                (Want::Waits { buffered }, None) => {
                    assert_eq!(decoder.buffered(), *buffered, "{label}");
                    assert_eq!(
                        decoder.finish(),
                        Err(DecodeError::Truncated {
                            buffered: *buffered
                        }),
                        "{label}"
                    );
                }
                (Want::Exactly(want), Some(got)) => assert_eq!(&got, want, "{label}"),
                (Want::Reason(reason, text), Some(got)) => {
                    assert_eq!(got.reason(), *reason, "{label}: {got}");
                    assert!(got.to_string().contains(text), "{label}: {got}");
                }
                (_, got) => panic!("{label}: got {got:?}"),
            }
        }
    }
}

#[test]
fn oversized_prefix_is_refused_before_the_body_is_kept() {
    let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_LEN);
    decoder.extend(&u32::MAX.to_le_bytes());
    let err = decoder.next_frame().expect_err("4 GiB prefix");
    assert_eq!(err.reason(), "frame_too_large");
    assert_eq!(
        decoder.buffered(),
        LENGTH_PREFIX_LEN,
        "nothing beyond the prefix"
    );
    assert!(
        err.to_string()
            .contains("frame length 4294967295 exceeds the limit of 1048576 bytes"),
        "{err}"
    );
}

#[test]
fn errors_are_sticky_even_when_good_bytes_follow() {
    let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_LEN);
    decoder.extend(&framed(&[0xff]));
    let first = decoder.next_frame().expect_err("garbage");
    decoder.extend(&encode_all(&[Frame::Ready(true)]));
    assert_eq!(decoder.next_frame(), Err(first));
}

#[test]
fn finish_reports_truncation_only_inside_a_frame() {
    let wire = encode_all(&[Frame::Ready(false), Frame::Goodbye]);
    let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_LEN);
    decoder.extend(&wire);
    assert_eq!(drain(&mut decoder).len(), 2);
    assert_eq!(decoder.finish(), Ok(()));

    decoder.extend(&wire[..3]);
    assert_eq!(drain(&mut decoder).len(), 0);
    let err = decoder.finish().expect_err("3 bytes of a prefix");
    assert_eq!(err, DecodeError::Truncated { buffered: 3 });
    assert_eq!(err.reason(), "truncated");
    assert!(
        err.to_string().contains("3 bytes of an unfinished frame"),
        "{err}"
    );
}

#[test]
fn encoder_refuses_frames_above_the_wire_limit_and_leaves_the_buffer_alone() {
    let huge = Frame::Reject(Reject {
        reason: "x".repeat(MAX_FRAME_LEN_LIMIT + 1),
    });
    let mut out = vec![1, 2, 3];
    match encode_frame(&huge, &mut out) {
        Err(EncodeError::TooLarge { len, max }) => {
            assert!(len > MAX_FRAME_LEN_LIMIT);
            assert_eq!(max, MAX_FRAME_LEN_LIMIT);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(out, vec![1, 2, 3]);
}

#[test]
fn frame_above_the_decoder_limit_is_refused_even_if_valid() {
    let big = Frame::Reject(Reject {
        reason: "y".repeat(2000),
    });
    let wire = encode_all(std::slice::from_ref(&big));
    let mut small = FrameDecoder::new(1000);
    small.extend(&wire);
    assert!(matches!(
        small.next_frame(),
        Err(DecodeError::FrameTooLarge { max: 1000, .. })
    ));
    let mut large = FrameDecoder::new(4000);
    large.extend(&wire);
    assert_eq!(large.next_frame(), Ok(Some(big)));
}

#[test]
fn reason_labels_are_the_documented_ones() {
    let reasons = [
        DecodeError::FrameTooLarge { len: 1, max: 0 }.reason(),
        DecodeError::Malformed {
            len: 0,
            detail: String::new(),
        }
        .reason(),
        DecodeError::TrailingBytes {
            len: 1,
            trailing: 1,
        }
        .reason(),
        DecodeError::Truncated { buffered: 1 }.reason(),
    ];
    assert_eq!(
        reasons,
        [
            "frame_too_large",
            "malformed",
            "trailing_bytes",
            "truncated"
        ]
    );
}
