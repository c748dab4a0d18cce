//! Every vector: its file name, what it shows, and the frame (or the refusal) it stands for.

use dawn_proto::{
    Batch, Define, Detail, DetailValue, ErrorReport, Frame, Health, HealthStatus, Heartbeat, Hello,
    HistogramValue, LENGTH_PREFIX_LEN, MAGIC, MetricKind, Reject, Retire, SeriesDef, Update, Value,
    Welcome,
};
use dawn_proto::{BucketSpan, NativeBuckets, NativeHistogramValue};

use super::annotate::{self, Line, Notes};

/// What a vector's bytes must do.
#[derive(Debug)]
pub(crate) enum Expect {
    /// The frame encodes to exactly these bytes, and the bytes decode to the frame.
    Exact(Frame),
    /// The bytes decode to the frame, which itself encodes to other (shorter) bytes.
    DecodesTo(Frame),
    /// The decoder refuses the bytes with this `DecodeError::reason`.
    Refused(&'static str),
}

/// One vector file.
#[derive(Debug)]
pub(crate) struct Case {
    /// File stem under `proto/tests/vectors/`.
    pub(crate) name: &'static str,
    /// One sentence on what the vector shows.
    pub(crate) about: &'static str,
    pub(crate) expect: Expect,
    body: Notes,
    /// The length prefix when it is not the body's length (an oversized frame).
    prefix: Option<u32>,
}

impl Case {
    /// The whole framed message, line by line: the length prefix, then the body.
    pub(crate) fn lines(&self) -> Vec<Line> {
        let body_len = self.body.bytes().len();
        let len = self
            .prefix
            .unwrap_or_else(|| u32::try_from(body_len).expect("vectors are small"));
        let mut framed = Notes::default();
        framed.raw(
            len.to_le_bytes(),
            format!("length prefix: a {len}-byte body (u32 little-endian)"),
        );
        let mut lines = framed.lines().to_vec();
        lines.extend_from_slice(self.body.lines());
        debug_assert_eq!(lines[0].bytes.len(), LENGTH_PREFIX_LEN);
        lines
    }
}

fn exact(name: &'static str, about: &'static str, frame: Frame) -> Case {
    let mut body = Notes::default();
    annotate::frame(&mut body, &frame);
    Case {
        name,
        about,
        expect: Expect::Exact(frame),
        body,
        prefix: None,
    }
}

fn decodes_to(name: &'static str, about: &'static str, frame: Frame, body: Notes) -> Case {
    Case {
        name,
        about,
        expect: Expect::DecodesTo(frame),
        body,
        prefix: None,
    }
}

fn refused(name: &'static str, about: &'static str, reason: &'static str, body: Notes) -> Case {
    Case {
        name,
        about,
        expect: Expect::Refused(reason),
        body,
        prefix: None,
    }
}

fn update(series: u32, value: Value) -> Update {
    Update { series, value }
}

fn detail(key: &str, value: DetailValue) -> Detail {
    Detail {
        key: key.into(),
        value,
    }
}

/// Every vector, valid ones first.
pub(crate) fn all() -> Vec<Case> {
    let mut cases = valid();
    cases.extend(decode_only());
    cases.extend(invalid());
    cases
}

fn valid() -> Vec<Case> {
    vec![
        exact(
            "hello",
            "Frame::Hello, the client's first frame: magic, version range, names, incarnation.",
            Frame::Hello(Hello {
                magic: MAGIC,
                min_version: 1,
                max_version: 1,
                client_name: "dawn-node".into(),
                client_version: "0.1.0".into(),
                node_id: "node-1".into(),
                incarnation: 0x0123_4567_89ab_cdef,
                pid: 4242,
                flush_interval_ms: 1000,
            }),
        ),
        exact(
            "welcome",
            "Frame::Welcome, the exporter accepting version 1.",
            Frame::Welcome(Welcome {
                version: 1,
                server: "dawn-exporter 0.1.0".into(),
            }),
        ),
        exact(
            "reject",
            "Frame::Reject, the exporter refusing a client whose versions it does not speak.",
            Frame::Reject(Reject {
                reason: "no common protocol version: client speaks 2..=3, exporter speaks 1..=1"
                    .into(),
            }),
        ),
        exact(
            "define_counter",
            "Frame::Define of a counter with one label and no buckets.",
            Frame::Define(Define {
                id: 0,
                name: "p2p_connections_total".into(),
                help: "Connection attempts and ends by outcome".into(),
                kind: MetricKind::Counter,
                label_names: vec!["status".into()],
                buckets: vec![],
            }),
        ),
        exact(
            "define_gauge",
            "Frame::Define of a gauge without labels.",
            Frame::Define(Define {
                id: 1,
                name: "p2p_peers".into(),
                help: "Peers connected now".into(),
                kind: MetricKind::Gauge,
                label_names: vec![],
                buckets: vec![],
            }),
        ),
        exact(
            "define_histogram",
            "Frame::Define of a histogram: bucket bounds are f64, +Inf is implied.",
            Frame::Define(Define {
                id: 2,
                name: "p2p_message_latency_seconds".into(),
                help: "Request round trip and handling time".into(),
                kind: MetricKind::Histogram,
                label_names: vec!["type".into()],
                buckets: vec![0.005, 0.05, 0.5, 5.0],
            }),
        ),
        exact(
            "series",
            "Frame::Series: one label set of metric 0, with an id past the one-byte varints.",
            Frame::Series(SeriesDef {
                id: 300,
                metric: 0,
                label_values: vec!["success".into()],
            }),
        ),
        exact(
            "series_long_label_value",
            "Frame::Series whose label value is 251 bytes: a string length in the 3-byte varint form.",
            Frame::Series(SeriesDef {
                id: 1,
                metric: 3,
                label_values: vec!["a".repeat(251)],
            }),
        ),
        exact(
            "batch",
            "Frame::Batch with a counter and a gauge: cumulative values keyed by series id.",
            Frame::Batch(Batch {
                seq: 1,
                updates: vec![
                    update(0, Value::Counter(42)),
                    update(1, Value::Gauge(-1.5)),
                    update(300, Value::Counter(1000)),
                ],
            }),
        ),
        exact(
            "batch_histogram",
            "Frame::Batch with one histogram value: count, sum, then per-bucket counts with +Inf last.",
            Frame::Batch(Batch {
                seq: 7,
                updates: vec![update(
                    2,
                    Value::Histogram(HistogramValue {
                        count: 6,
                        sum: 0.75,
                        buckets: vec![1, 2, 0, 3, 0],
                    }),
                )],
            }),
        ),
        exact(
            "batch_native_histogram",
            "Frame::Batch with one native histogram value (Value tag 3, protocol version 2): the classic part as tag 2 carries it, then schema 3, zero threshold and count, and the spans and counts of each sign. 6 observations: 1 in the zero bucket, 3 positive at keys -2, -1 and 3, 2 negative at key 0.",
            Frame::Batch(Batch {
                seq: 8,
                updates: vec![update(
                    2,
                    Value::NativeHistogram(Box::new(NativeHistogramValue {
                        classic: HistogramValue {
                            count: 6,
                            sum: 0.75,
                            buckets: vec![3, 1, 0, 0, 2],
                        },
                        native: NativeBuckets {
                            schema: 3,
                            zero_threshold: 1e-9,
                            zero_count: 1,
                            positive_spans: vec![
                                BucketSpan {
                                    offset: -2,
                                    length: 2,
                                },
                                BucketSpan {
                                    offset: 3,
                                    length: 1,
                                },
                            ],
                            positive_counts: vec![1, 1, 1],
                            negative_spans: vec![BucketSpan {
                                offset: 0,
                                length: 1,
                            }],
                            negative_counts: vec![2],
                        },
                    })),
                )],
            }),
        ),
        exact(
            "batch_empty",
            "Frame::Batch with no updates (legal; the client sends none, but a decoder must accept it).",
            Frame::Batch(Batch {
                seq: 0,
                updates: vec![],
            }),
        ),
        exact(
            "batch_largest_varints",
            "Frame::Batch with the largest u64 and u32 values: the 9- and 5-byte varint forms.",
            Frame::Batch(Batch {
                seq: u64::MAX,
                updates: vec![
                    update(u32::MAX, Value::Counter(u64::MAX)),
                    update(
                        0,
                        Value::Histogram(HistogramValue {
                            count: u64::MAX,
                            sum: f64::MAX,
                            buckets: vec![u64::MAX],
                        }),
                    ),
                ],
            }),
        ),
        exact(
            "health",
            "Frame::Health of a degraded check with a detail of every kind.",
            Frame::Health(Health {
                check: "peers".into(),
                status: HealthStatus::Degraded,
                message: "2 of 8 peers connected".into(),
                details: vec![
                    detail("connected", DetailValue::Int(2)),
                    detail("ratio", DetailValue::Float(0.25)),
                    detail("bootstrap", DetailValue::Bool(true)),
                    detail("last_error", DetailValue::Text("timed out".into())),
                ],
            }),
        ),
        exact(
            "health_healthy",
            "Frame::Health of a healthy check with an empty message and no details.",
            Frame::Health(Health {
                check: "storage".into(),
                status: HealthStatus::Healthy,
                message: String::new(),
                details: vec![],
            }),
        ),
        exact(
            "health_signed_extremes",
            "Frame::Health of an unhealthy check: zigzag-encoded i64 extremes, infinity, -0.0, false.",
            Frame::Health(Health {
                check: "agents".into(),
                status: HealthStatus::Unhealthy,
                message: "ünïcødé".into(),
                details: vec![
                    detail("minus_one", DetailValue::Int(-1)),
                    detail("min", DetailValue::Int(i64::MIN)),
                    detail("max", DetailValue::Int(i64::MAX)),
                    detail("inf", DetailValue::Float(f64::INFINITY)),
                    detail("negative_zero", DetailValue::Float(-0.0)),
                    detail("enabled", DetailValue::Bool(false)),
                ],
            }),
        ),
        exact(
            "ready_true",
            "Frame::Ready(true).",
            Frame::Ready(true),
        ),
        exact(
            "ready_false",
            "Frame::Ready(false).",
            Frame::Ready(false),
        ),
        exact(
            "heartbeat",
            "Frame::Heartbeat: one day, one hour, one minute and one second of uptime, nothing dropped.",
            Frame::Heartbeat(Heartbeat {
                uptime_ms: 90_061_000,
                dropped: 0,
            }),
        ),
        exact(
            "heartbeat_largest_varints",
            "Frame::Heartbeat with u64::MAX and 2^32, the largest and the smallest 9-byte varints.",
            Frame::Heartbeat(Heartbeat {
                uptime_ms: u64::MAX,
                dropped: 1 << 32,
            }),
        ),
        exact(
            "retire",
            "Frame::Retire of series ids on both sides of every varint threshold (251, 2^16, u32::MAX).",
            Frame::Retire(Retire {
                series: vec![0, 250, 251, 65_535, 65_536, u32::MAX],
            }),
        ),
        exact(
            "error",
            "Frame::Error, a non-fatal problem the exporter reports; the session goes on.",
            Frame::Error(ErrorReport {
                reason: "label_mismatch".into(),
                message: "invalid series of p2p_connections_total: 2 label values for 1 label names (status)".into(),
            }),
        ),
        exact(
            "goodbye",
            "Frame::Goodbye, a clean shutdown: the tag alone.",
            Frame::Goodbye,
        ),
    ]
}

/// Bytes an encoder never writes that the decoder still accepts.
fn decode_only() -> Vec<Case> {
    let mut wide = Notes::default();
    wide.tag(8, "Frame", "Heartbeat");
    wide.nested(|n| {
        n.raw(
            [0xfb, 0x05, 0x00],
            "uptime_ms: 5 in the 3-byte form (fb + u16 LE)",
        );
        n.raw([0x00], "dropped: 0");
    });
    vec![decodes_to(
        "decode_only_wide_varint",
        "A varint in a longer form than needed still decodes (encoders must write the shortest).",
        Frame::Heartbeat(Heartbeat {
            uptime_ms: 5,
            dropped: 0,
        }),
        wide,
    )]
}

/// Bytes the decoder must refuse, closing the connection.
fn invalid() -> Vec<Case> {
    let mut cases = Vec::new();

    let mut unknown = Notes::default();
    unknown.raw([0xfa], "Frame tag 250: no such frame in protocol version 1");
    cases.push(refused(
        "invalid_unknown_frame_tag",
        "An unknown Frame tag is malformed: a peer cannot skip a frame it does not know.",
        "malformed",
        unknown,
    ));

    let mut bad_bool = Notes::default();
    bad_bool.tag(7, "Frame", "Ready");
    bad_bool.nested(|n| n.raw([0x02], "ready: 2, neither 0 nor 1"));
    cases.push(refused(
        "invalid_bool",
        "A bool byte other than 0 or 1 is malformed.",
        "malformed",
        bad_bool,
    ));

    let mut reserved = Notes::default();
    reserved.tag(8, "Frame", "Heartbeat");
    reserved.nested(|n| {
        n.raw([0xff], "uptime_ms: varint byte 255, reserved");
        n.raw([0x00], "dropped: 0");
    });
    cases.push(refused(
        "invalid_varint_reserved_byte",
        "Varint first byte 255 is reserved: malformed.",
        "malformed",
        reserved,
    ));

    let mut too_wide = Notes::default();
    too_wide.tag(9, "Frame", "Retire");
    too_wide.nested(|n| {
        n.raw([0x01], "series: 1 item");
        n.raw(
            [0xfd, 0x01, 0, 0, 0, 0, 0, 0, 0],
            "  [0]: 1 in the 9-byte form, too wide for a u32 field",
        );
    });
    cases.push(refused(
        "invalid_varint_too_wide",
        "A u32 field in the 9-byte (u64) varint form is malformed, whatever its value.",
        "malformed",
        too_wide,
    ));

    let mut utf8 = Notes::default();
    utf8.tag(2, "Frame", "Reject");
    utf8.nested(|n| {
        n.raw(
            [0x02, 0xc3, 0x28],
            "reason: length 2, then bytes that are not UTF-8",
        )
    });
    cases.push(refused(
        "invalid_utf8",
        "A string that is not UTF-8 is malformed.",
        "malformed",
        utf8,
    ));

    let mut trailing = Notes::default();
    trailing.tag(11, "Frame", "Goodbye");
    trailing.raw([0x00], "one byte after the end of the frame");
    cases.push(refused(
        "invalid_trailing_bytes",
        "A body longer than its frame is refused: the length prefix must be exact.",
        "trailing_bytes",
        trailing,
    ));

    let mut short = Notes::default();
    short.tag(8, "Frame", "Heartbeat");
    short.nested(|n| n.raw([0x01], "uptime_ms: 1, then the body ends before dropped"));
    cases.push(refused(
        "invalid_short_body",
        "A body shorter than its frame is malformed.",
        "malformed",
        short,
    ));

    cases.push(Case {
        prefix: Some(1 << 20 | 1),
        ..refused(
            "invalid_frame_too_large",
            "A length prefix above the 1 MiB limit is refused as soon as its 4 bytes arrive.",
            "frame_too_large",
            Notes::default(),
        )
    });
    cases
}
