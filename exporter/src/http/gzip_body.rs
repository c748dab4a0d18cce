//! The gzip body of a scrape, compressed while the exposition renders.
//!
//! Prometheus asks for gzip on every scrape, so this is the scrape it sees. The encoder
//! hands its text to the compressor a chunk at a time ([`CHUNK`]): the exposition never
//! exists whole, and each chunk is compressed while it is still in the cache. A large store
//! is cut into two halves of about equal text, each rendered and deflated on its own thread
//! when a second core is free, as pigz does: the first half's raw deflate stream ends with a
//! sync flush (an empty stored block that byte-aligns it, not the final block), the second
//! is deflated on its own and ends the stream, and the two one after the other are one
//! deflate stream (each half refers back only within itself). One gzip header, and a
//! trailer with the two halves' CRC-32s combined and the total length, make it a single
//! gzip member: every reader reads it, curl included (curl 7.88 stops after the first member
//! of a multi-member body, with an error).
//!
//! The compressor and its level were chosen by measurement on the benchmark's expositions
//! (docs/benchmarks.md, "gzip"): [`LEVEL`] with flate2's zlib-rs backend.

use std::io;

use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use prometheus::proto::MetricFamily;

use super::body_buffer;
use super::second_core::{Placement, SecondCore};
use crate::exposition::{Encoder, Format, Spill, encode_families};
use crate::store::{Part, Snapshot};

/// The deflate level (see the module docs).
pub(super) const LEVEL: u32 = 4;

/// Bytes of text handed to the compressor at a time: small enough to stay in the cache
/// between rendering and compressing, large enough that the calls cost nothing.
const CHUNK: usize = 64 * 1024;

/// Expositions estimated at least this large are compressed in two halves on two threads
/// (when a second core is free); below it a thread costs more than it saves.
const SPLIT_FROM: usize = 512 * 1024;

/// A gzip header without name, comment or time (RFC 1952 section 2.3): deflate, no flags,
/// operating system unknown.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

/// Room kept free at the end of the output while deflating.
const OUT_ROOM: usize = 32 * 1024;

/// The raw deflate stream of one part of the exposition, fed by a streaming [`Encoder`],
/// with the CRC-32 and length of the text it holds.
struct Deflated {
    deflate: Compress,
    out: Vec<u8>,
    crc: Crc,
    failed: Option<io::Error>,
}

impl Deflated {
    /// A stream written after `prefix` in its output vector, which is allocated for about
    /// `capacity` bytes (so that the allocator unmaps it once it is sent, when it is
    /// large: see [`body_buffer`]).
    fn new(prefix: &[u8], capacity: usize) -> Deflated {
        let mut out =
            Vec::with_capacity(body_buffer::capacity(prefix.len() + capacity.max(OUT_ROOM)));
        out.extend_from_slice(prefix);
        Deflated {
            deflate: Compress::new(Compression::new(LEVEL), false),
            out,
            crc: Crc::new(),
            failed: None,
        }
    }

    /// Deflates all of `input`, then flushes as `flush` says.
    fn deflate(&mut self, mut input: &[u8], flush: FlushCompress) -> io::Result<()> {
        loop {
            if self.out.capacity() - self.out.len() < OUT_ROOM {
                self.out.reserve(OUT_ROOM);
            }
            let before = self.deflate.total_in();
            let status = self
                .deflate
                .compress_vec(input, &mut self.out, flush)
                .map_err(io::Error::other)?;
            let taken = usize::try_from(self.deflate.total_in() - before).unwrap_or(input.len());
            input = input.get(taken..).unwrap_or_default();
            // Done once the input is taken and the flush did not fill the output (zlib's rule).
            let done = match flush {
                FlushCompress::Finish => status == Status::StreamEnd,
                _ => input.is_empty() && self.out.len() < self.out.capacity(),
            };
            if done {
                return Ok(());
            }
        }
    }

    /// Ends the stream: with its final block when `last`, else with a sync flush (so that
    /// another part's stream can follow it). Returns the output and the text's CRC-32.
    fn finish(mut self, last: bool) -> io::Result<(Vec<u8>, Crc)> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        let flush = if last {
            FlushCompress::Finish
        } else {
            FlushCompress::Sync
        };
        self.deflate(&[], flush)?;
        Ok((self.out, self.crc))
    }
}

impl Spill for Deflated {
    fn spill(&mut self, text: &str) {
        if self.failed.is_none() {
            self.crc.update(text.as_bytes());
            if let Err(e) = self.deflate(text.as_bytes(), FlushCompress::None) {
                self.failed = Some(e);
            }
        }
    }
}

/// Renders `part` of `snapshot` into a raw deflate stream after `prefix`; the last part
/// (`own` given) ends with the exporter's own families `own`, the end of the exposition and
/// the deflate stream's final block.
fn deflate_part(
    snapshot: &Snapshot<'_>,
    part: Part,
    own: Option<&[MetricFamily]>,
    format: Format,
    prefix: &[u8],
    estimated: usize,
) -> io::Result<(Vec<u8>, Crc)> {
    // Expositions compress 15-20 times; the vector grows if this one does less.
    let mut deflated = Deflated::new(prefix, estimated / 16);
    let mut buffer = String::with_capacity(CHUNK + 4096);
    let mut encoder = Encoder::streaming(&mut buffer, format, &mut deflated, CHUNK);
    snapshot.render_part(&mut encoder, part);
    match own {
        Some(own) => {
            encode_families(&mut encoder, own);
            encoder.finish();
        }
        None => encoder.end_part(),
    }
    deflated.finish(own.is_some())
}

/// Ends a gzip body whose header and deflate stream are in `body`: the text's CRC-32 and
/// its length modulo 2^32 (RFC 1952 section 2.3.1).
fn trailer(mut body: Vec<u8>, crc: &Crc) -> Vec<u8> {
    body.extend_from_slice(&crc.sum().to_le_bytes());
    body.extend_from_slice(&crc.amount().to_le_bytes());
    body
}

/// The exposition of `snapshot` followed by the exporter's own families `own`, in `format`,
/// as a gzip body, deflated in two halves on two threads when it is large and a second core
/// is free.
pub(super) fn render(
    snapshot: &Snapshot<'_>,
    own: &[MetricFamily],
    format: Format,
) -> io::Result<Vec<u8>> {
    let estimated = snapshot.estimated_bytes();
    let second_core = if estimated >= SPLIT_FROM {
        SecondCore::take()
    } else {
        None
    };
    match second_core {
        Some(_core) => in_halves(snapshot, own, format, estimated),
        None => whole(snapshot, own, format, estimated),
    }
}

/// The same on this thread.
fn whole(
    snapshot: &Snapshot<'_>,
    own: &[MetricFamily],
    format: Format,
    estimated: usize,
) -> io::Result<Vec<u8>> {
    let (body, crc) = deflate_part(
        snapshot,
        Part::WHOLE,
        Some(own),
        format,
        &GZIP_HEADER,
        estimated,
    )?;
    Ok(trailer(body, &crc))
}

/// The same in two halves, the first deflated on a thread of its own, started on another
/// core than this thread's ([`Placement`]; all on this thread if it cannot start).
fn in_halves(
    snapshot: &Snapshot<'_>,
    own: &[MetricFamily],
    format: Format,
    estimated: usize,
) -> io::Result<Vec<u8>> {
    let &[first, second] = snapshot.split(2).as_slice() else {
        return whole(snapshot, own, format, estimated);
    };
    let placement = Placement::here();
    std::thread::scope(|scope| {
        let helper = std::thread::Builder::new()
            .name("dawn-gzip".into())
            .spawn_scoped(scope, || {
                placement.leave();
                deflate_part(snapshot, first, None, format, &GZIP_HEADER, estimated / 2)
            });
        let Ok(helper) = helper else {
            return whole(snapshot, own, format, estimated);
        };
        placement.wait_for_helper();
        let tail = deflate_part(snapshot, second, Some(own), format, &[], estimated / 2);
        let (mut body, mut crc) = helper
            .join()
            .map_err(|_| io::Error::other("the compressing thread panicked"))??;
        let (tail, tail_crc) = tail?;
        body.extend_from_slice(&tail);
        crc.combine(&tail_crc);
        Ok(trailer(body, &crc))
    })
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use flate2::bufread::GzDecoder;
    use flate2::read::MultiGzDecoder;

    use super::*;
    use crate::store::{Store, fixture};

    /// The exporter's own families, as the OpenTelemetry exporter gathers them.
    fn own() -> Vec<MetricFamily> {
        let registry = prometheus::Registry::new();
        let c = prometheus::IntCounter::new("dawn_exporter_records_total", "Records.").unwrap();
        c.inc_by(42);
        registry.register(Box::new(c)).unwrap();
        registry.gather()
    }

    /// The plain exposition the gzip body must decompress to.
    fn plain(store: &Store, own: &[MetricFamily], format: Format) -> String {
        let mut out = String::new();
        let mut e = Encoder::new(&mut out, format);
        store.render(&mut e, &[]);
        encode_families(&mut e, own);
        e.finish();
        out
    }

    /// The members of a gzip body, each decompressed on its own (the decoder checks each
    /// member's CRC-32 and length).
    fn members(mut body: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        while !body.is_empty() {
            let mut d = GzDecoder::new(body);
            let mut text = String::new();
            d.read_to_string(&mut text).expect("a whole gzip member");
            out.push(text);
            // The decoder reads no further than its member's trailer.
            body = d.into_inner();
        }
        out
    }

    /// What a reader of several members (Go's, so Prometheus') makes of the body.
    fn gunzip(body: &[u8]) -> String {
        let mut text = String::new();
        MultiGzDecoder::new(body)
            .read_to_string(&mut text)
            .expect("valid gzip");
        text
    }

    #[test]
    fn small_bodies_decompress_to_the_plain_exposition() {
        let own = own();
        for n in [0, 1, 40] {
            let store = fixture::store(n);
            for format in [Format::Text, Format::OpenMetrics] {
                let want = plain(&store, &own, format);
                let body = render(&store.snapshot(&[]), &own, format).unwrap();
                assert_eq!(
                    members(&body),
                    std::slice::from_ref(&want),
                    "{n} series, {format:?}"
                );
                assert_eq!(gunzip(&body), want, "{n} series, {format:?}");
            }
        }
    }

    #[test]
    fn halves_make_one_member_of_the_plain_exposition() {
        let own = own();
        // Large enough to be split (and to span many chunks in each half), and small.
        let large = fixture::store(1_500);
        assert!(large.snapshot(&[]).estimated_bytes() >= SPLIT_FROM);
        for store in [&large, &fixture::store(3), &fixture::store(0)] {
            for format in [Format::Text, Format::OpenMetrics] {
                let want = plain(store, &own, format);
                let snapshot = store.snapshot(&[]);
                let estimated = snapshot.estimated_bytes();
                let body = in_halves(&snapshot, &own, format, estimated).unwrap();
                // One member, whose CRC-32 and length cover both halves: any reader takes it.
                assert_eq!(members(&body), std::slice::from_ref(&want), "{format:?}");
                assert_eq!(gunzip(&body), want, "{format:?}");
                // Deflated in two halves, not whole: the split happened.
                let whole = whole(&snapshot, &own, format, estimated).unwrap();
                assert_ne!(body, whole);
            }
        }
        // What a scrape of the large store sends decompresses the same, however many
        // cores were free.
        let body = render(&large.snapshot(&[]), &own, Format::OpenMetrics).unwrap();
        assert_eq!(members(&body), [plain(&large, &own, Format::OpenMetrics)]);
    }

    #[test]
    fn the_deflate_level_keeps_the_size_of_the_default_level() {
        use std::io::Write;
        let store = fixture::store(1_500);
        let own = own();
        let want = plain(&store, &own, Format::OpenMetrics);
        let mut default = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
        default.write_all(want.as_bytes()).unwrap();
        let default = default.finish().unwrap().len() as f64;
        let snapshot = store.snapshot(&[]);
        let estimated = snapshot.estimated_bytes();
        for body in [
            whole(&snapshot, &own, Format::OpenMetrics, estimated).unwrap(),
            in_halves(&snapshot, &own, Format::OpenMetrics, estimated).unwrap(),
        ] {
            let ratio = body.len() as f64 / default;
            assert!(
                ratio < 1.15,
                "{} bytes, {ratio:.3} of the default level's",
                body.len()
            );
        }
    }
}
