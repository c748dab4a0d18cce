//! Length-prefixed framing: a little-endian `u32` length, then one bincode-2 `Frame`.

use crate::frame::Frame;

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
const DECODE_MEMORY_LIMIT: usize = MAX_FRAME_LEN_LIMIT;

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
    match bincode::decode_from_slice::<Frame, _>(body, decode_config()) {
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

/// Incremental decoder: feed it bytes as they arrive, take whole frames out.
///
/// Memory stays bounded by the frame limit plus whatever was fed since the last
/// [`FrameDecoder::next_frame`] returned `None`: an oversized length prefix is refused as soon
/// as its four bytes are in, before any of the body is kept.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Start of unconsumed bytes in `buf`.
    pos: usize,
    max_frame_len: usize,
    failed: Option<DecodeError>,
}

impl FrameDecoder {
    /// A decoder refusing frame bodies above `max_frame_len` bytes (clamped to
    /// [`MAX_FRAME_LEN_LIMIT`]).
    pub fn new(max_frame_len: usize) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            pos: 0,
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
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 64 * 1024 && self.pos * 2 > self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next whole frame, `None` if more bytes are needed.
    ///
    /// After an error the stream has lost its framing; every later call returns the same
    /// error.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, DecodeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let pending = &self.buf[self.pos..];
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
        match decode_body(body) {
            Ok(frame) => {
                self.pos += LENGTH_PREFIX_LEN + len;
                Ok(Some(frame))
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Call at end of stream: an error if it stopped inside a frame.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.buffered() {
            0 => Ok(()),
            buffered => Err(DecodeError::Truncated { buffered }),
        }
    }

    fn fail(&mut self, e: DecodeError) -> DecodeError {
        self.failed = Some(e.clone());
        e
    }
}
