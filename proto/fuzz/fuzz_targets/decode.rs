//! Feeds arbitrary bytes, in arbitrary chunks, to `FrameDecoder`.
//!
//! Input layout: `data[0]` = k, `data[1..=k]` = chunk sizes (each + 1, used in turn), the rest
//! is the byte stream. The fuzzer mutates both, so it explores splits as well as contents.
//!
//! Checked on every input: no panic; the decoder never holds more than one frame's worth of
//! unconsumed bytes; errors are sticky; `finish()` agrees with `buffered()`; every decoded frame
//! round-trips (encode → decode gives the same bytes when re-encoded, bitwise for floats).

#![no_main]

use dawn_proto::{FrameDecoder, LENGTH_PREFIX_LEN, decode_body, encode_frame};
use libfuzzer_sys::fuzz_target;

/// Small enough that oversized-length paths are reachable, large enough for real frames.
const MAX_FRAME: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&k, rest)) = data.split_first() else {
        return;
    };
    let k = usize::from(k).min(rest.len());
    let (sizes, mut stream) = rest.split_at(k);
    let mut decoder = FrameDecoder::new(MAX_FRAME);
    let mut turn = 0;
    while !stream.is_empty() {
        let size = match sizes.get(turn % sizes.len().max(1)) {
            Some(&s) => usize::from(s) + 1,
            None => stream.len(),
        };
        turn += 1;
        let (chunk, tail) = stream.split_at(size.min(stream.len()));
        stream = tail;
        decoder.extend(chunk);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    let mut wire = Vec::new();
                    encode_frame(&frame, &mut wire).expect("a decoded frame must encode");
                    let back = decode_body(&wire[LENGTH_PREFIX_LEN..])
                        .expect("an encoded frame must decode");
                    let mut again = Vec::new();
                    encode_frame(&back, &mut again).expect("re-encode");
                    assert_eq!(wire, again, "round trip changed {frame:?}");
                }
                Ok(None) => {
                    assert!(decoder.buffered() < LENGTH_PREFIX_LEN + MAX_FRAME);
                    break;
                }
                Err(e) => {
                    assert_eq!(decoder.next_frame(), Err(e), "errors must be sticky");
                    return;
                }
            }
        }
    }
    assert_eq!(decoder.finish().is_ok(), decoder.buffered() == 0);
});
