//! Length-prefixed framing: a little-endian `u32` length, then one bincode-2 `Frame`.

use crate::batch::BatchBuf;
use crate::frame::Frame;
use crate::read::{Claims, Reader};

/// Bytes of the length prefix in front of every frame.
pub const LENGTH_PREFIX_LEN: usize = 4;

/// Default largest frame body accepted, in bytes.
pub const DEFAULT_MAX_FRAME_LEN: usize = 1 << 20;

/// Largest frame limit a decoder can be configured with (limits can only be lowered).
pub const MAX_FRAME_LEN_LIMIT: usize = DEFAULT_MAX_FRAME_LEN;

/// Ceiling on the memory bincode may reserve for containers while decoding one frame.
///
/// bincode reserves a container's capacity from its length field before reading the
/// elements, so a tiny hostile frame could otherwise reserve gigabytes. The ceiling equals
/// the frame limit, so decoding never reserves more than the frame limit (docs/wire.md). A
/// frame's decoded form can be larger than its encoding (a three-byte update becomes a
/// 48-byte `Update`), so senders keep frames far smaller than the limit: the telemetry client
/// cuts batches at 16 KiB of updates ([`crate::Update::encoded_len`]), whose decoded form
/// stays under 300 KiB.
pub(crate) const DECODE_MEMORY_LIMIT: usize = MAX_FRAME_LEN_LIMIT;

/// `Frame::Batch`'s tag: its position in `Frame`, and so its [`Frame::kind_index`].
const BATCH_TAG: u32 = 5;

fn encode_config() -> bincode::config::Configuration {
    bincode::config::standard()
}

fn decode_config() -> bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<DECODE_MEMORY_LIMIT>,
> {
    bincode::config::standard().with_limit::<DECODE_MEMORY_LIMIT>()
}

/// Why a frame could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The frame body is larger than the wire allows.
    #[error("frame of {len} bytes exceeds the {max}-byte wire limit")]
    TooLarge {
        /// Encoded body length.
        len: usize,
        /// [`MAX_FRAME_LEN_LIMIT`].
        max: usize,
    },
    /// bincode refused the value.
    #[error("cannot encode frame: {0}")]
    Bincode(#[from] bincode::error::EncodeError),
}

/// Why bytes from the socket are not a valid frame stream.
///
/// Every variant is fatal to the stream: framing is lost, so the connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The length prefix announces more than the configured limit.
    #[error("frame length {len} exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// Announced body length.
        len: usize,
        /// Configured limit.
        max: usize,
    },
    /// The body is not a bincode-encoded `Frame`.
    #[error("malformed frame of {len} bytes: {detail}")]
    Malformed {
        /// Body length.
        len: usize,
        /// What bincode reported.
        detail: String,
    },
    /// The body decoded but did not use all of its bytes.
    #[error("frame of {len} bytes has {trailing} trailing bytes")]
    TrailingBytes {
        /// Body length.
        len: usize,
        /// Unused bytes at its end.
        trailing: usize,
    },
    /// The stream ended in the middle of a frame.
    #[error("stream ended inside a frame ({buffered} bytes of an unfinished frame)")]
    Truncated {
        /// Bytes of the unfinished frame that had arrived.
        buffered: usize,
    },
}

impl DecodeError {
    /// Stable reason label for metrics, e.g. `dawn_exporter_decode_errors_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::FrameTooLarge { .. } => "frame_too_large",
            DecodeError::Malformed { .. } => "malformed",
            DecodeError::TrailingBytes { .. } => "trailing_bytes",
            DecodeError::Truncated { .. } => "truncated",
        }
    }
}

/// Appends `frame`, length prefix included, to `out`; returns the bytes appended.
pub fn encode_frame(frame: &Frame, out: &mut Vec<u8>) -> Result<usize, EncodeError> {
    let start = out.len();
    out.extend_from_slice(&[0; LENGTH_PREFIX_LEN]);
    let written = match bincode::encode_into_std_write(frame, out, encode_config()) {
        Ok(n) => n,
        Err(e) => {
            out.truncate(start);
            return Err(e.into());
        }
    };
    if written > MAX_FRAME_LEN_LIMIT {
        out.truncate(start);
        return Err(EncodeError::TooLarge {
            len: written,
            max: MAX_FRAME_LEN_LIMIT,
        });
    }
    // `written` fits in u32: it is at most MAX_FRAME_LEN_LIMIT.
    let prefix = (written as u32).to_le_bytes();
    out[start..start + LENGTH_PREFIX_LEN].copy_from_slice(&prefix);
    Ok(LENGTH_PREFIX_LEN + written)
}

/// Decodes one frame body (without its length prefix).
pub fn decode_body(body: &[u8]) -> Result<Frame, DecodeError> {
    let mut batch = BatchBuf::new();
    match decode_body_into(body, &mut batch)? {
        Decoded::Batch => Ok(Frame::Batch(batch.to_batch())),
        Decoded::Frame(frame) => Ok(frame),
    }
}

/// Decodes one frame body (without its length prefix); a `Batch` goes into `batch`, whose
/// buffers are reused, every other frame comes back owned.
///
/// The same bytes give the same frame, or the same error, as [`decode_body`], which is this
/// function with a fresh buffer. Unless it returns [`Decoded::Batch`], `batch` is left
/// empty.
pub fn decode_body_into(body: &[u8], batch: &mut BatchBuf) -> Result<Decoded, DecodeError> {
    batch.clear();
    let mut reader = Reader::new(body);
    if reader.u32().ok() == Some(BATCH_TAG) {
        // The tag was claimed as the `u32` it is, as bincode does.
        let mut claims = Claims::after(size_of::<u32>());
        batch
            .read(&mut reader, &mut claims)
            .map_err(|e| malformed(body, &bincode::error::DecodeError::from(e)))?;
        return match reader.rest().len() {
            0 => Ok(Decoded::Batch),
            trailing => {
                batch.clear();
                Err(DecodeError::TrailingBytes {
                    len: body.len(),
                    trailing,
                })
            }
        };
    }
    match bincode::decode_from_slice::<Frame, _>(body, decode_config()) {
        Ok((frame, used)) if used == body.len() => Ok(Decoded::Frame(frame)),
        Ok((_, used)) => Err(DecodeError::TrailingBytes {
            len: body.len(),
            trailing: body.len() - used,
        }),
        Err(e) => Err(malformed(body, &e)),
    }
}

fn malformed(body: &[u8], e: &bincode::error::DecodeError) -> DecodeError {
    DecodeError::Malformed {
        len: body.len(),
        detail: e.to_string(),
    }
}

/// What [`decode_body_into`] and [`FrameDecoder::next_frame_into`] decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A `Batch`, now in the buffer passed (the receiver's hot path, which then allocates
    /// nothing per update).
    Batch,
    /// Any other frame; never a [`Frame::Batch`].
    Frame(Frame),
}

impl Decoded {
    /// Position of the frame's kind in [`Frame::KIND_NAMES`].
    pub fn kind_index(&self) -> usize {
        match self {
            Decoded::Batch => BATCH_TAG as usize,
            Decoded::Frame(frame) => frame.kind_index(),
        }
    }
}

/// Incremental decoder: feed it bytes as they arrive, take whole frames out.
///
/// Bytes come in either copied ([`FrameDecoder::extend`]) or read straight into the
/// decoder's own buffer ([`FrameDecoder::spare`], then [`FrameDecoder::commit`]), which
/// spares the receiver a buffer of its own and a copy of every byte.
///
/// Memory stays bounded by the frame limit plus whatever was fed since the last
/// [`FrameDecoder::next_frame`] returned `None` (and the last space asked of
/// [`FrameDecoder::spare`]): an oversized length prefix is refused as soon as its four bytes
/// are in, before any of the body is kept.
#[derive(Debug)]
pub struct FrameDecoder {
    /// Bytes received in `pos..end`; `end..` is space already initialised for the next read
    /// (kept, so that reading into it writes no zeros first).
    buf: Vec<u8>,
    /// Start of unconsumed bytes in `buf`.
    pos: usize,
    /// End of the bytes received in `buf`.
    end: usize,
    /// End of the space last given by [`FrameDecoder::spare`] and not yet committed
    /// (`end` when there is none).
    room: usize,
    max_frame_len: usize,
    failed: Option<DecodeError>,
}

/// Consumed bytes beyond which the unconsumed ones are moved to the front of the buffer
/// when they are fewer than the consumed ones.
const COMPACT_AFTER: usize = 64 * 1024;

impl FrameDecoder {
    /// A decoder refusing frame bodies above `max_frame_len` bytes (clamped to
    /// [`MAX_FRAME_LEN_LIMIT`]).
    pub fn new(max_frame_len: usize) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            pos: 0,
            end: 0,
            room: 0,
            max_frame_len: max_frame_len.min(MAX_FRAME_LEN_LIMIT),
            failed: None,
        }
    }

    /// The frame limit in force.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// Adds bytes read from the stream.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.spare(bytes.len()).copy_from_slice(bytes);
        self.commit(bytes.len());
    }

    /// Space for the next `len` bytes of the stream, to read into before
    /// [`FrameDecoder::commit`]ting the bytes read: exactly `len` bytes, at the end of those
    /// received. What is written there counts only once committed; the space is kept from
    /// read to read, so asking for it again costs no allocation and no zeroing.
    pub fn spare(&mut self, len: usize) -> &mut [u8] {
        if self.pos == self.end {
            self.pos = 0;
            self.end = 0;
        } else if self.pos > COMPACT_AFTER && self.pos * 2 > self.end {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        let want = self.end.saturating_add(len);
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        self.room = want;
        self.buf.get_mut(self.end..want).unwrap_or_default()
    }

    /// Takes the first `n` bytes of the space last given by [`FrameDecoder::spare`] as read
    /// from the stream, and ends that space. `n` is cut to the space (what a reader reports
    /// never exceeds the slice it was given), so a commit without a `spare` before it adds
    /// nothing.
    pub fn commit(&mut self, n: usize) {
        self.end = self.end.saturating_add(n).min(self.room);
        self.room = self.end;
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.end - self.pos
    }

    /// The next whole frame, `None` if more bytes are needed.
    ///
    /// After an error the stream has lost its framing; every later call returns the same
    /// error.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, DecodeError> {
        let mut batch = BatchBuf::new();
        Ok(match self.next_frame_into(&mut batch)? {
            Some(Decoded::Batch) => Some(Frame::Batch(batch.to_batch())),
            Some(Decoded::Frame(frame)) => Some(frame),
            None => None,
        })
    }

    /// The next whole frame, `None` if more bytes are needed; a `Batch` goes into `batch`,
    /// whose buffers are reused (the receiver's hot path), and unless it returns
    /// [`Decoded::Batch`], `batch` is left empty.
    ///
    /// Gives the same frames and errors as [`FrameDecoder::next_frame`] (which is this with
    /// a fresh buffer), and the same stickiness of errors.
    pub fn next_frame_into(
        &mut self,
        batch: &mut BatchBuf,
    ) -> Result<Option<Decoded>, DecodeError> {
        batch.clear();
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let pending = self.buf.get(self.pos..self.end).unwrap_or_default();
        let Some(prefix) = pending.first_chunk::<LENGTH_PREFIX_LEN>() else {
            return Ok(None);
        };
        let len = u32::from_le_bytes(*prefix) as usize;
        if len > self.max_frame_len {
            return Err(self.fail(DecodeError::FrameTooLarge {
                len,
                max: self.max_frame_len,
            }));
        }
        let Some(body) = pending.get(LENGTH_PREFIX_LEN..LENGTH_PREFIX_LEN + len) else {
            return Ok(None);
        };
        match decode_body_into(body, batch) {
            Ok(frame) => {
                self.pos += LENGTH_PREFIX_LEN + len;
                Ok(Some(frame))
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    fn fail(&mut self, e: DecodeError) -> DecodeError {
        self.failed = Some(e.clone());
        e
    }

    /// Call at end of stream: an error if it stopped inside a frame.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.buffered() {
            0 => Ok(()),
            buffered => Err(DecodeError::Truncated { buffered }),
        }
    }
}
