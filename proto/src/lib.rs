//! Dawn's telemetry wire: the records a client (a node, or any program using
//! `dawn-telemetry`) pushes to its sidecar exporter over a Unix stream socket. It knows no
//! metric; docs/wire.md specifies every byte.
//!
//! Like `quinn-proto`, this crate does no I/O: [`encode_frame`] appends bytes to a buffer and
//! [`FrameDecoder`] is fed byte slices as they arrive, so both ends of the socket (and every
//! test) drive the same code without sockets or a runtime. A receiver may also read from its
//! socket straight into the decoder's buffer ([`FrameDecoder::spare`], then
//! [`FrameDecoder::commit`]) instead of copying every byte from a buffer of its own.
//!
//! A session on the wire:
//!
//! 1. client → exporter: [`Frame::Hello`]; exporter → client: [`Frame::Welcome`] or
//!    [`Frame::Reject`] (see [`negotiate`]).
//! 2. client: [`Frame::Define`] once per metric and [`Frame::Series`] once per label set,
//!    then [`Frame::Batch`]es of cumulative values keyed by small integer ids.
//! 3. client: [`Frame::Health`], [`Frame::Ready`] and [`Frame::Heartbeat`] as they change
//!    or every flush; [`Frame::Goodbye`] on a clean shutdown.
//!
//! ```
//! use dawn_proto::{encode_frame, Frame, FrameDecoder, Hello, DEFAULT_MAX_FRAME_LEN};
//!
//! let hello = Hello::new("dawn-node", "0.1.0", "node-1", 7, 42, 1000);
//! let mut wire = Vec::new();
//! encode_frame(&Frame::Hello(hello.clone()), &mut wire).unwrap();
//! encode_frame(&Frame::Ready(true), &mut wire).unwrap();
//!
//! let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_LEN);
//! // Bytes may arrive in any split; frames come out whole.
//! decoder.extend(&wire[..3]);
//! assert_eq!(decoder.next_frame().unwrap(), None);
//! decoder.extend(&wire[3..]);
//! assert_eq!(decoder.next_frame().unwrap(), Some(Frame::Hello(hello)));
//! assert_eq!(decoder.next_frame().unwrap(), Some(Frame::Ready(true)));
//! assert_eq!(decoder.next_frame().unwrap(), None);
//! ```
//!
//! A receiver that wants no allocation per update takes frames with
//! [`FrameDecoder::next_frame_into`]: a `Batch` is decoded into a [`BatchBuf`] it keeps
//! from frame to frame, by the crate's own reader of batch bytes, which checks and refuses
//! exactly what bincode does (every other frame goes through bincode). [`decode_body`] reads
//! batches the same way, so there is one reader of batch bytes.
//!
//! ```
//! use dawn_proto::{encode_frame, Batch, BatchBuf, Decoded, Frame, FrameDecoder, Update, Value};
//!
//! let batch = Batch { seq: 1, updates: vec![Update { series: 3, value: Value::Counter(42) }] };
//! let mut wire = Vec::new();
//! encode_frame(&Frame::Batch(batch.clone()), &mut wire).unwrap();
//!
//! let mut decoder = FrameDecoder::new(dawn_proto::DEFAULT_MAX_FRAME_LEN);
//! let mut buf = BatchBuf::new();
//! decoder.extend(&wire);
//! assert_eq!(decoder.next_frame_into(&mut buf).unwrap(), Some(Decoded::Batch));
//! let update = buf.updates().next().unwrap();
//! assert_eq!((update.series, update.value.to_value()), (3, Value::Counter(42)));
//! assert_eq!(buf.to_batch(), batch);
//! ```

/// Where the node and the exporter meet when nothing else is configured.
pub const DEFAULT_SOCKET_PATH: &str = "/tmp/dawn/telemetry.sock";

/// Environment variable both binaries read for the socket path.
pub const ENV_SOCKET: &str = "PROJECT_DAWN_TELEMETRY_SOCKET";

mod batch;
mod codec;
mod frame;
mod handshake;
mod read;
mod size;
mod validate;

pub use batch::{BatchBuf, HistogramRef, Native, NativeRef, UpdateRef, Updates, ValueRef};
pub use codec::{
    DEFAULT_MAX_FRAME_LEN, DecodeError, Decoded, EncodeError, FrameDecoder, LENGTH_PREFIX_LEN,
    MAX_FRAME_LEN_LIMIT, decode_body, decode_body_into, encode_frame,
};
pub use frame::{
    Batch, BucketSpan, Define, Detail, DetailValue, ErrorReport, Frame, Health, HealthStatus,
    Heartbeat, Hello, HistogramValue, MetricKind, NativeBuckets, NativeHistogramValue, Reject,
    Retire, SeriesDef, Update, Value, Welcome,
};
pub use handshake::{
    HandshakeError, MAGIC, MAX_SUPPORTED_VERSION, MIN_SUPPORTED_VERSION, NATIVE_HISTOGRAM_VERSION,
    negotiate, supported_versions,
};
pub use validate::{
    MAX_BUCKETS, MAX_HELP_LEN, MAX_LABEL_VALUE_LEN, MAX_LABELS, MAX_NAME_LEN, MAX_NATIVE_BUCKETS,
    MAX_NATIVE_KEY, MAX_NATIVE_SCHEMA, MAX_TEXT_LEN, MIN_NATIVE_SCHEMA, ValidationError,
    validate_define, validate_health, validate_hello, validate_label_name, validate_label_values,
    validate_metric_name, validate_value, validate_value_ref,
};
