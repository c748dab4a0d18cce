//! Strategies shared by the proto integration tests: arbitrary frames of every variant.

#![allow(dead_code)] // each test file uses a different subset

use dawn_proto::{
    Batch, Define, Detail, DetailValue, ErrorReport, Frame, FrameDecoder, Health, HealthStatus,
    Heartbeat, Hello, HistogramValue, MetricKind, Reject, Retire, SeriesDef, Update, Value,
    Welcome, encode_frame,
};
use dawn_proto::{BucketSpan, NativeBuckets, NativeHistogramValue};
use proptest::collection::vec;
use proptest::prelude::*;

/// Any `f64`, NaN, infinities, subnormals and both zeros included.
pub(crate) fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        prop::num::f64::ANY,
        Just(f64::NAN),
        Just(-0.0),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::MIN_POSITIVE / 2.0),
    ]
}

/// Short arbitrary Unicode text (names, help, label values, messages).
pub(crate) fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z_][a-z0-9_]{0,12}",
        1 => any::<String>().prop_map(|s| s.chars().take(40).collect()),
    ]
}

fn hello() -> impl Strategy<Value = Hello> {
    (
        any::<u32>(),
        any::<u16>(),
        any::<u16>(),
        (text(), text(), text()),
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(
                magic,
                min_version,
                max_version,
                (client_name, client_version, node_id),
                incarnation,
                pid,
                flush_interval_ms,
            )| Hello {
                magic,
                min_version,
                max_version,
                client_name,
                client_version,
                node_id,
                incarnation,
                pid,
                flush_interval_ms,
            },
        )
}

fn kind() -> impl Strategy<Value = MetricKind> {
    prop_oneof![
        Just(MetricKind::Counter),
        Just(MetricKind::Gauge),
        Just(MetricKind::Histogram),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u64>().prop_map(Value::Counter),
        any_f64().prop_map(Value::Gauge),
        (any::<u64>(), any_f64(), vec(any::<u64>(), 0..14)).prop_map(|(count, sum, buckets)| {
            Value::Histogram(HistogramValue {
                count,
                sum,
                buckets,
            })
        }),
        native(any::<u64>(), vec(any::<u64>(), 0..14)),
    ]
}

/// Arbitrary native histogram values (`Value` tag 3), not necessarily valid ones: any
/// schema, threshold, spans and counts, of varied widths.
pub(crate) fn native(
    ints: impl Strategy<Value = u64> + Clone,
    counts: impl Strategy<Value = Vec<u64>> + Clone,
) -> impl Strategy<Value = Value> {
    let spans = vec(
        (any::<i32>(), any::<u32>()).prop_map(|(offset, length)| BucketSpan { offset, length }),
        0..5,
    );
    (
        (ints.clone(), any_f64(), counts.clone()),
        (any::<i32>(), any_f64(), ints),
        (spans.clone(), counts.clone(), spans, counts),
    )
        .prop_map(
            |((count, sum, buckets), (schema, zero_threshold, zero_count), (ps, pc, ns, nc))| {
                Value::NativeHistogram(Box::new(NativeHistogramValue {
                    classic: HistogramValue {
                        count,
                        sum,
                        buckets,
                    },
                    native: NativeBuckets {
                        schema,
                        zero_threshold,
                        zero_count,
                        positive_spans: ps,
                        positive_counts: pc,
                        negative_spans: ns,
                        negative_counts: nc,
                    },
                }))
            },
        )
}

fn status() -> impl Strategy<Value = HealthStatus> {
    prop_oneof![
        Just(HealthStatus::Healthy),
        Just(HealthStatus::Degraded),
        Just(HealthStatus::Unhealthy),
    ]
}

fn detail() -> impl Strategy<Value = Detail> {
    let value = prop_oneof![
        text().prop_map(DetailValue::Text),
        any::<i64>().prop_map(DetailValue::Int),
        any_f64().prop_map(DetailValue::Float),
        any::<bool>().prop_map(DetailValue::Bool),
    ];
    (text(), value).prop_map(|(key, value)| Detail { key, value })
}

/// Any frame, every variant reachable.
pub(crate) fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        hello().prop_map(Frame::Hello),
        (any::<u16>(), text())
            .prop_map(|(version, server)| Frame::Welcome(Welcome { version, server })),
        text().prop_map(|reason| Frame::Reject(Reject { reason })),
        (
            any::<u32>(),
            text(),
            text(),
            kind(),
            vec(text(), 0..5),
            vec(any_f64(), 0..12)
        )
            .prop_map(
                |(id, name, help, kind, label_names, buckets)| Frame::Define(Define {
                    id,
                    name,
                    help,
                    kind,
                    label_names,
                    buckets,
                })
            ),
        (any::<u32>(), any::<u32>(), vec(text(), 0..5)).prop_map(|(id, metric, label_values)| {
            Frame::Series(SeriesDef {
                id,
                metric,
                label_values,
            })
        }),
        (
            any::<u64>(),
            vec(
                (any::<u32>(), value()).prop_map(|(series, value)| Update { series, value }),
                0..8
            )
        )
            .prop_map(|(seq, updates)| Frame::Batch(Batch { seq, updates })),
        (text(), status(), text(), vec(detail(), 0..5)).prop_map(
            |(check, status, message, details)| Frame::Health(Health {
                check,
                status,
                message,
                details,
            })
        ),
        any::<bool>().prop_map(Frame::Ready),
        (any::<u64>(), any::<u64>())
            .prop_map(|(uptime_ms, dropped)| Frame::Heartbeat(Heartbeat { uptime_ms, dropped })),
        vec(any::<u32>(), 0..10).prop_map(|series| Frame::Retire(Retire { series })),
        (text(), text())
            .prop_map(|(reason, message)| Frame::Error(ErrorReport { reason, message })),
        Just(Frame::Goodbye),
    ]
}

/// A small fixed sample with one frame of every variant, for exhaustive (non-random) loops.
pub(crate) fn one_of_each() -> Vec<Frame> {
    vec![
        Frame::Hello(Hello::new("dawn-node", "0.1.0", "node-1", 7, 42, 1000)),
        Frame::Welcome(Welcome {
            version: 1,
            server: "dawn-exporter 0.1.0".into(),
        }),
        Frame::Reject(Reject {
            reason: "bad magic".into(),
        }),
        Frame::Define(Define {
            id: 3,
            name: "request_latency_seconds".into(),
            help: "Request latency, in seconds.".into(),
            kind: MetricKind::Histogram,
            label_names: vec!["type".into()],
            buckets: vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ],
        }),
        Frame::Series(SeriesDef {
            id: 9,
            metric: 3,
            label_values: vec!["request".into()],
        }),
        Frame::Batch(Batch {
            seq: 1,
            updates: vec![
                Update {
                    series: 1,
                    value: Value::Counter(12),
                },
                Update {
                    series: 2,
                    value: Value::Gauge(-0.5),
                },
                Update {
                    series: 9,
                    value: Value::Histogram(HistogramValue {
                        count: 3,
                        sum: 0.25,
                        buckets: vec![1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0],
                    }),
                },
            ],
        }),
        Frame::Health(Health {
            check: "peers".into(),
            status: HealthStatus::Degraded,
            message: "no peers yet".into(),
            details: vec![
                Detail {
                    key: "connected".into(),
                    value: DetailValue::Int(0),
                },
                Detail {
                    key: "ratio".into(),
                    value: DetailValue::Float(0.5),
                },
                Detail {
                    key: "bootstrap".into(),
                    value: DetailValue::Bool(true),
                },
                Detail {
                    key: "note".into(),
                    value: DetailValue::Text("ünïcødé".into()),
                },
            ],
        }),
        Frame::Ready(true),
        Frame::Heartbeat(Heartbeat {
            uptime_ms: 1234,
            dropped: 5,
        }),
        Frame::Retire(Retire {
            series: vec![1, 2, 3],
        }),
        Frame::Error(ErrorReport {
            reason: "unknown_id".into(),
            message: "series 77 was never defined".into(),
        }),
        Frame::Goodbye,
    ]
}

/// The wire bytes of `frames`, back to back.
pub(crate) fn encode_all(frames: &[Frame]) -> Vec<u8> {
    let mut wire = Vec::new();
    for f in frames {
        encode_frame(f, &mut wire).expect("test frames are far below the size limit");
    }
    wire
}

/// Re-encoding is byte-identical: equality that also holds for NaNs, compared bitwise.
pub(crate) fn same_bits(a: &Frame, b: &Frame) -> bool {
    encode_all(std::slice::from_ref(a)) == encode_all(std::slice::from_ref(b))
}

/// Everything the decoder yields until it needs more bytes; panics on a decode error.
pub(crate) fn drain(decoder: &mut FrameDecoder) -> Vec<Frame> {
    let mut out = Vec::new();
    while let Some(f) = decoder.next_frame().expect("valid wire bytes must decode") {
        out.push(f);
    }
    out
}
