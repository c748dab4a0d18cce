//! The wire, frozen: every file under `tests/vectors/` is one framed message, checked in both
//! directions (the frame encodes to exactly the file's bytes, the bytes decode to exactly the
//! frame), and every `Frame` variant has one. The files are data for other implementations;
//! docs/wire.md describes them.
//!
//! `DAWN_BLESS=1 cargo test -p dawn-proto --test vectors` rewrites the files from the cases.
//! A changed vector file is a changed wire: it needs a protocol version (docs/wire.md,
//! "Evolution").

mod wire_vectors;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use dawn_proto::{DEFAULT_MAX_FRAME_LEN, DecodeError, Frame, FrameDecoder, encode_frame};
use wire_vectors::annotate::FRAME_TAGS;
use wire_vectors::cases::{self, Case, Expect};
use wire_vectors::hexfile::{hex, parse, render};

/// Set to `1` to rewrite the vector files instead of comparing them.
const BLESS_VAR: &str = "DAWN_BLESS";

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn path_of(case: &Case) -> PathBuf {
    vectors_dir().join(format!("{}.hex", case.name))
}

/// The comment lines at the top of a vector file.
fn header(case: &Case) -> Vec<String> {
    let rule = match &case.expect {
        Expect::Exact(_) => "Both directions: the frame encodes to exactly these bytes, and these \
                             bytes decode to exactly the frame."
            .to_owned(),
        Expect::DecodesTo(_) => "Decode only: these bytes decode to the frame, but an encoder \
                                 writes the frame in fewer bytes."
            .to_owned(),
        Expect::Refused(reason) => format!(
            "Refused: a decoder rejects these bytes (reason \"{reason}\") and closes the connection."
        ),
    };
    vec![
        format!("{}: {}", case.name, case.about),
        rule,
        String::new(),
        "The bytes are one whole message: the 4-byte length prefix, then the body. Each line is"
            .to_owned(),
        "hex bytes and, after '#', what they mean. docs/wire.md describes the format; regenerate"
            .to_owned(),
        "with: DAWN_BLESS=1 cargo test -p dawn-proto --test vectors".to_owned(),
    ]
}

/// The text the file of `case` must have.
fn file_text(case: &Case) -> String {
    render(&header(case), &case.lines())
}

/// The annotated bytes of `case` (docs/wire.md's encoding, written out by hand).
fn annotated_bytes(case: &Case) -> Vec<u8> {
    case.lines().into_iter().flat_map(|l| l.bytes).collect()
}

fn encode(frame: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(frame, &mut out).expect("vector frames encode");
    out
}

/// Decodes `bytes` as a stream holding exactly one frame.
fn decode(bytes: &[u8]) -> Result<Frame, String> {
    let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_LEN);
    decoder.extend(bytes);
    match decoder.next_frame() {
        Ok(Some(frame)) if decoder.buffered() == 0 => Ok(frame),
        Ok(Some(frame)) => Err(format!("{} bytes left after {frame:?}", decoder.buffered())),
        Ok(None) => Err(format!("{:?}", decoder.finish().err())),
        Err(e) => Err(describe(&e)),
    }
}

fn describe(e: &DecodeError) -> String {
    format!("refused ({}): {e}", e.reason())
}

/// Where `got` and `want` part, both shown in full.
fn byte_diff(got_what: &str, got: &[u8], want_what: &str, want: &[u8]) -> String {
    let at = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    format!(
        "{got_what} ({} bytes) differs from {want_what} ({} bytes) from byte {at} on\n    \
         {got_what}: {}\n    {want_what}: {}",
        got.len(),
        want.len(),
        hex(got),
        hex(want)
    )
}

/// Same value and same float bits where `==` cannot tell (-0.0); the vectors hold no NaN.
fn same(a: &Frame, b: &Frame) -> bool {
    a == b && format!("{a:?}") == format!("{b:?}")
}

/// Every way the file of `case` fails its case.
fn problems(case: &Case, text: &str) -> Vec<String> {
    let bytes = match parse(text) {
        Ok(bytes) => bytes,
        Err(e) => return vec![e],
    };
    let mut problems = Vec::new();
    let annotated = annotated_bytes(case);
    match &case.expect {
        Expect::Exact(frame) => {
            let encoded = encode(frame);
            if encoded != bytes {
                problems.push(byte_diff("encoder", &encoded, "file", &bytes));
            }
            match decode(&bytes) {
                Ok(decoded) if same(&decoded, frame) => {}
                Ok(decoded) => problems.push(format!(
                    "the file decodes to {decoded:?}, expected {frame:?}"
                )),
                Err(e) => problems.push(format!("the file does not decode: {e}")),
            }
            if annotated != encoded {
                problems.push(byte_diff(
                    "encoder",
                    &encoded,
                    "docs/wire.md's encoding (tests/wire_vectors/annotate.rs)",
                    &annotated,
                ));
            }
        }
        Expect::DecodesTo(frame) => {
            match decode(&bytes) {
                Ok(decoded) if same(&decoded, frame) => {}
                Ok(decoded) => problems.push(format!(
                    "the file decodes to {decoded:?}, expected {frame:?}"
                )),
                Err(e) => problems.push(format!("the file does not decode: {e}")),
            }
            if encode(frame) == bytes {
                problems
                    .push("the encoder writes these very bytes: make it an exact vector".into());
            }
        }
        Expect::Refused(reason) => match decode(&bytes) {
            Err(e) if e.starts_with(&format!("refused ({reason})")) => {}
            other => problems.push(format!("expected a refusal ({reason}), got {other:?}")),
        },
    }
    if problems.is_empty() && annotated != bytes {
        problems.push(byte_diff("the case", &annotated, "file", &bytes));
    }
    if problems.is_empty() && text != file_text(case) {
        problems.push(format!(
            "same bytes, other comments: rerun with {BLESS_VAR}=1 to rewrite them"
        ));
    }
    problems
}

/// Writes every file from its case, refusing (before writing any) when the hand-written
/// encoding and the encoder disagree: then annotate.rs and docs/wire.md need the same change
/// as the wire.
fn bless(cases: &[Case]) {
    for case in cases {
        if let Expect::Exact(frame) = &case.expect {
            let encoded = encode(frame);
            let annotated = annotated_bytes(case);
            assert!(
                encoded == annotated,
                "{}: {}",
                case.name,
                byte_diff(
                    "encoder",
                    &encoded,
                    "docs/wire.md's encoding (tests/wire_vectors/annotate.rs)",
                    &annotated
                )
            );
        }
    }
    std::fs::create_dir_all(vectors_dir()).expect("create tests/vectors");
    for case in cases {
        std::fs::write(path_of(case), file_text(case)).expect("write a vector file");
    }
}

#[test]
fn every_vector_matches_its_file() {
    let cases = cases::all();
    if std::env::var(BLESS_VAR).is_ok_and(|v| v == "1") {
        bless(&cases);
    }
    let mut failures = Vec::new();
    for case in &cases {
        let path = path_of(case);
        let found = match std::fs::read_to_string(&path) {
            Ok(text) => problems(case, &text),
            Err(e) => vec![format!(
                "cannot read {}: {e} (write it with {BLESS_VAR}=1)",
                path.display()
            )],
        };
        failures.extend(found.into_iter().map(|p| format!("{}: {p}", case.name)));
    }
    assert!(
        failures.is_empty(),
        "{} vector problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_frame_kind_has_an_exact_vector() {
    let covered: BTreeSet<&str> = cases::all()
        .iter()
        .filter_map(|c| match &c.expect {
            Expect::Exact(frame) => Some(frame.kind_name()),
            _ => None,
        })
        .collect();
    let missing: Vec<&str> = Frame::KIND_NAMES
        .into_iter()
        .filter(|k| !covered.contains(k))
        .collect();
    assert!(
        missing.is_empty(),
        "frame kinds without a vector: {missing:?}"
    );

    // The hand-written encoding knows the same kinds, in the same order.
    let tags: Vec<String> = FRAME_TAGS.iter().map(|t| t.to_lowercase()).collect();
    assert_eq!(tags, Frame::KIND_NAMES, "annotate.rs FRAME_TAGS");
}

#[test]
fn every_file_belongs_to_a_case() {
    let names: BTreeSet<String> = cases::all()
        .iter()
        .map(|c| format!("{}.hex", c.name))
        .collect();
    assert_eq!(names.len(), cases::all().len(), "two cases share a name");
    let strays: Vec<String> = std::fs::read_dir(vectors_dir())
        .expect("tests/vectors exists")
        .map(|entry| {
            entry
                .expect("readable directory")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| !names.contains(name))
        .collect();
    assert!(strays.is_empty(), "files without a case: {strays:?}");
}
