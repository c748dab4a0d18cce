//! Memory bound of the decoder under hostile input, measured with a counting allocator.
//!
//! docs/wire.md: a decoder fed arbitrary bytes returns an error, never panics, and never
//! allocates from a length field more than the frame limit. A tiny frame whose body *claims* a huge string or vector must not
//! make the decoder reserve memory for it. This file holds a single test so that the
//! process-wide allocation peak belongs to it alone.

use std::alloc::System;

use cap::Cap;
use dawn_proto::{DEFAULT_MAX_FRAME_LEN, Frame, FrameDecoder, LENGTH_PREFIX_LEN};

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// A length prefix plus `body`.
fn framed(body: &[u8]) -> Vec<u8> {
    let mut wire = (body.len() as u32).to_le_bytes().to_vec();
    wire.extend_from_slice(body);
    wire
}

/// bincode standard varint for a u64 that needs the 8-byte form.
fn varint_u64(n: u64) -> Vec<u8> {
    let mut v = vec![253];
    v.extend_from_slice(&n.to_le_bytes());
    v
}

#[test]
fn hostile_length_fields_inside_small_frames_allocate_little() {
    // Claimed element counts from small to huge; each frame is under 20 bytes.
    let claims: Vec<u64> = (10..=40).step_by(2).map(|shift| 1u64 << shift).collect();
    let mut worst = (0usize, String::new());
    for claim in claims {
        let hostile: Vec<(&str, Vec<u8>)> = vec![
            // Reject { reason: String of `claim` bytes }
            ("Reject.reason", [vec![2], varint_u64(claim)].concat()),
            // Batch { seq: 0, updates: Vec<Update> of `claim` elements }
            ("Batch.updates", [vec![5, 0], varint_u64(claim)].concat()),
            // Retire { series: Vec<u32> of `claim` elements }
            ("Retire.series", [vec![9], varint_u64(claim)].concat()),
            // Define { id 0, name "", help "", kind Counter, label_names: `claim` strings }
            (
                "Define.label_names",
                [vec![3, 0, 0, 0, 0], varint_u64(claim)].concat(),
            ),
        ];
        for (what, body) in hostile {
            let wire = framed(&body);
            let before_peak = ALLOCATOR.max_allocated();
            let baseline = ALLOCATOR.allocated();
            let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_LEN);
            decoder.extend(&wire);
            let result = decoder.next_frame();
            let peak = ALLOCATOR.max_allocated();
            assert!(
                result.is_err(),
                "{what} claiming {claim}: {:?}",
                result.map(|f| f.map(|f: Frame| f.kind_name()))
            );
            // Only a new peak tells us something about this decode.
            if peak > before_peak {
                let used = peak - baseline;
                if used > worst.0 {
                    worst = (used, format!("{what} claiming {claim} elements"));
                }
            }
        }
    }
    let budget = LENGTH_PREFIX_LEN + DEFAULT_MAX_FRAME_LEN;
    assert!(
        worst.0 <= budget,
        "decoding a frame of under 20 bytes allocated {} bytes ({}); the limit is the frame \
         limit, {budget} bytes",
        worst.0,
        worst.1
    );
}
