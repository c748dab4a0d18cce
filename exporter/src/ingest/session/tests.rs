//! The session driven in memory: bytes and times in, replies and events out. A stand-in
//! answers the store's verdicts with plain numbers; there is no store, socket or clock
//! (every time is one base instant plus a duration).

use std::sync::Arc;
use std::time::{Duration, Instant};

use dawn_proto::{
    Batch, Define, ErrorReport, Frame, Health, HealthStatus, Heartbeat, Hello, HistogramValue,
    MetricKind, Reject, Retire, SeriesDef, Update, Value, Welcome, encode_frame,
};

use super::{End, Event, Handles, Session, SessionLimits, Sink, Warning};
use crate::metrics::{Eviction, HealthLimit, IgnoredUpdate, ProtocolError, SeriesRejection};

/// Handles as plain numbers: metric id `m` is held as family `100 + m`, series id `s` as
/// series `1000 + s`, so a test sees which hold an event carries.
#[derive(Debug, PartialEq)]
enum Plain {}

impl Handles for Plain {
    type Family = u32;
    type Series = u32;
}

const LIMITS: SessionLimits = SessionLimits {
    max_frame_bytes: 1024,
    handshake_timeout: Duration::from_secs(5),
    idle_timeout: Duration::from_secs(30),
    frame_timeout: Duration::from_secs(2),
    max_metric_ids: 4,
    max_series_ids: 8,
    max_error_frames: 100,
    max_client_bytes: 1 << 20,
    max_checks: 3,
    max_check_bytes: 256,
    max_version: dawn_proto::MAX_SUPPORTED_VERSION,
};

/// The stand-in store's record of a batch: (series, value, wire series id).
#[derive(Default)]
struct Record(Vec<(u32, Value, u32)>);

impl Sink<Plain> for Record {
    fn update(&mut self, series: u32, value: &dawn_proto::ValueRef<'_>, wire_id: u32) {
        self.0.push((series, value.to_value(), wire_id));
    }
}

/// How the stand-in admission and store answer.
#[derive(Default)]
struct Verdicts {
    /// Every client slot is taken by an active client.
    full: bool,
    /// Metric names it refuses, and the reason.
    refused_names: Vec<(&'static str, ProtocolError)>,
    /// Series it admits before its per-metric cap refuses the rest.
    series_room: Option<usize>,
    /// Wire series ids whose updates it keeps back as going backwards.
    decreasing: Vec<u32>,
    /// Wire series ids whose first value it does not keep, over its sample cap.
    over_sample_cap: Vec<u32>,
    /// The applier does not store batches (`Apply` is left unanswered).
    no_store: bool,
}

/// A session, a clock that only moves when told, and the stand-in applier's record.
struct Harness {
    session: Session<Plain>,
    base: Instant,
    now: Instant,
    verdicts: Verdicts,
    admitted_series: usize,
    /// Every event polled, in order.
    events: Vec<Event<Plain>>,
    /// The updates of every `Apply`, as the applier saw them.
    applied: Vec<(u32, Value, u32)>,
}

impl Harness {
    fn new() -> Harness {
        Harness::with(LIMITS)
    }

    fn with(limits: SessionLimits) -> Harness {
        let base = Instant::now();
        Harness {
            session: Session::new(1, limits, base),
            base,
            now: base,
            verdicts: Verdicts::default(),
            admitted_series: 0,
            events: Vec::new(),
            applied: Vec::new(),
        }
    }

    /// A session past its handshake, with the record cleared.
    fn attached() -> Harness {
        let mut h = Harness::new();
        h.attach();
        h
    }

    #[track_caller]
    fn attach(&mut self) {
        let replies = self.send(Frame::Hello(hello()));
        assert!(
            matches!(replies.as_slice(), [Frame::Welcome(_)]),
            "{replies:?}"
        );
        self.events.clear();
    }

    /// Moves the clock to `base + after`.
    fn at(&mut self, after: Duration) {
        self.now = self.base + after;
    }

    /// Sends one frame; returns the replies.
    fn send(&mut self, frame: Frame) -> Vec<Frame> {
        self.bytes(&wire(&frame))
    }

    /// Sends raw bytes; returns the replies.
    fn bytes(&mut self, bytes: &[u8]) -> Vec<Frame> {
        self.session.handle_bytes(self.now, bytes);
        self.drive()
    }

    /// Polls every event, answering verdicts as the stand-in store; returns the replies.
    fn drive(&mut self) -> Vec<Frame> {
        while let Some(event) = self.session.poll() {
            match &event {
                Event::Attach { .. } if self.verdicts.full => {
                    self.session.refuse_over_limit(64, Duration::from_secs(1));
                }
                Event::Attach { .. } => self.session.admitted(),
                Event::Define { id, def } => {
                    match self
                        .verdicts
                        .refused_names
                        .iter()
                        .find(|(n, _)| *n == def.name)
                    {
                        Some((name, reason)) => {
                            let message = format!("metric {name} refused by the stand-in");
                            self.session.define_refused(*id, *reason, message);
                        }
                        None => self.session.define_held(*id, 100 + id),
                    }
                }
                Event::Series { id, .. } => {
                    if self.verdicts.series_room == Some(self.admitted_series) {
                        let message = format!("series id {id} over the stand-in's cap");
                        let reason = SeriesRejection::MaxSeriesPerMetric;
                        self.session.series_refused(*id, reason, message);
                    } else {
                        self.admitted_series += 1;
                        self.session.series_held(*id, 1000 + id);
                    }
                }
                Event::Apply if self.verdicts.no_store => {}
                Event::Apply => {
                    let mut record = Record::default();
                    self.session.store_batch(&mut record);
                    let batch = record.0;
                    for (_, _, tag) in &batch {
                        if self.verdicts.decreasing.contains(tag) {
                            self.session.counter_decreased(*tag);
                        }
                        if self.verdicts.over_sample_cap.contains(tag) {
                            let message = "the stand-in holds its maximum of samples";
                            self.session
                                .sample_refused(*tag, IgnoredUpdate::MaxSamples, message);
                        }
                    }
                    self.applied.extend(batch);
                }
                _ => {}
            }
            self.events.push(event);
        }
        self.session.replies().collect()
    }

    /// The events since the last call, without the frame counts, liveness marks and log
    /// lines (`Received`, `Seen`, `Warn`) that frames give.
    fn effects(&mut self) -> Vec<Event<Plain>> {
        std::mem::take(&mut self.events)
            .into_iter()
            .filter(|e| {
                !matches!(
                    e,
                    Event::Received { .. } | Event::Seen { .. } | Event::Warn(_)
                )
            })
            .collect()
    }

    /// The warnings since the last call to `effects`.
    fn warnings(&self) -> Vec<&Warning> {
        let warnings = self.events.iter().filter_map(|e| match e {
            Event::Warn(w) => Some(w),
            _ => None,
        });
        warnings.collect()
    }

    /// The protocol errors counted since the last call to `effects`.
    fn counted(&self) -> Vec<ProtocolError> {
        let reasons = self.events.iter().filter_map(|e| match e {
            Event::ProtocolError(r) => Some(*r),
            _ => None,
        });
        reasons.collect()
    }

    fn closed(&mut self) -> Vec<Event<Plain>> {
        self.session.close(self.now);
        self.drive();
        self.effects()
    }
}

fn hello() -> Hello {
    Hello::new("worker", "1.2.3", "w1", 7, 42, 1000)
}

fn wire(frame: &Frame) -> Vec<u8> {
    let mut bytes = Vec::new();
    encode_frame(frame, &mut bytes).expect("encodes");
    bytes
}

fn define(id: u32, name: &str, kind: MetricKind, labels: &[&str]) -> Frame {
    Frame::Define(Define {
        id,
        name: name.into(),
        help: "Help.".into(),
        kind,
        label_names: labels.iter().map(|l| (*l).to_owned()).collect(),
        buckets: if kind == MetricKind::Histogram {
            vec![0.5, 1.0]
        } else {
            vec![]
        },
    })
}

fn series(id: u32, metric: u32, values: &[&str]) -> Frame {
    Frame::Series(SeriesDef {
        id,
        metric,
        label_values: values.iter().map(|v| (*v).to_owned()).collect(),
    })
}

fn batch(updates: &[(u32, Value)]) -> Frame {
    Frame::Batch(Batch {
        seq: 1,
        updates: updates
            .iter()
            .map(|(series, value)| Update {
                series: *series,
                value: value.clone(),
            })
            .collect(),
    })
}

fn histogram(sum: f64) -> Value {
    Value::Histogram(HistogramValue {
        count: 1,
        sum,
        buckets: vec![1, 0, 0],
    })
}

fn health(check: &str) -> Health {
    Health {
        check: check.into(),
        status: HealthStatus::Degraded,
        message: "1 of 3 workers".into(),
        details: vec![],
    }
}

/// One frame of every kind, in `Frame::KIND_NAMES` order.
fn one_of_each() -> Vec<Frame> {
    vec![
        Frame::Hello(hello()),
        Frame::Welcome(Welcome {
            version: 1,
            server: "s".into(),
        }),
        Frame::Reject(Reject { reason: "r".into() }),
        define(0, "queue_depth", MetricKind::Gauge, &[]),
        series(0, 0, &[]),
        batch(&[(0, Value::Gauge(1.0))]),
        Frame::Health(health("queue")),
        Frame::Ready(true),
        Frame::Heartbeat(Heartbeat {
            uptime_ms: 1,
            dropped: 0,
        }),
        Frame::Retire(Retire { series: vec![0] }),
        Frame::Error(ErrorReport {
            reason: "r".into(),
            message: "m".into(),
        }),
        Frame::Goodbye,
    ]
}

/// The text of the only `Reject` in `replies`.
#[track_caller]
fn rejected(replies: &[Frame]) -> &str {
    match replies {
        [Frame::Reject(r)] => &r.reason,
        other => panic!("expected one Reject, got {other:?}"),
    }
}

/// The `Error` frames in `replies`, as (reason, message).
fn errors(replies: &[Frame]) -> Vec<(&str, &str)> {
    let errors = replies.iter().filter_map(|f| match f {
        Frame::Error(e) => Some((e.reason.as_str(), e.message.as_str())),
        _ => None,
    });
    errors.collect()
}

/// A session attached with gauge `queue_depth` (metric 0, series 0), counter
/// `jobs_total{status}` (metric 1, series 1 `ok`) and histogram `latency_seconds{step}`
/// (metric 2, series 2 `parse`), all admitted.
fn defined() -> Harness {
    let mut h = Harness::attached();
    for frame in [
        define(0, "queue_depth", MetricKind::Gauge, &[]),
        define(1, "jobs_total", MetricKind::Counter, &["status"]),
        define(2, "latency_seconds", MetricKind::Histogram, &["step"]),
        series(0, 0, &[]),
        series(1, 1, &["ok"]),
        series(2, 2, &["parse"]),
    ] {
        assert_eq!(h.send(frame), vec![]);
    }
    h.events.clear();
    h
}

// --- Every protocol error -------------------------------------------------------------

/// A session that just counted `reason`, once, and the text its `Error` or `Reject` frame
/// carries. The match is exhaustive: a new reason needs a way to provoke it here.
fn provoke(reason: ProtocolError) -> (Harness, Vec<Frame>, &'static str) {
    let mut h = defined();
    let replies = match reason {
        ProtocolError::Malformed => h.bytes(&[3, 0, 0, 0, 200, 1, 2]),
        ProtocolError::FrameTooLarge => h.bytes(&2000u32.to_le_bytes()),
        ProtocolError::Truncated => {
            let bytes = wire(&Frame::Ready(true));
            h.bytes(&bytes[..bytes.len() - 1]);
            h.session.handle_eof();
            h.drive()
        }
        ProtocolError::TrailingBytes => h.bytes(&[3, 0, 0, 0, 7, 1, 0]),
        ProtocolError::BadMagic => {
            h = Harness::new();
            h.send(Frame::Hello(Hello {
                magic: 1,
                ..hello()
            }))
        }
        ProtocolError::UnsupportedVersion => {
            h = Harness::new();
            h.send(Frame::Hello(Hello {
                min_version: 7,
                max_version: 9,
                ..hello()
            }))
        }
        ProtocolError::InvalidMetricName => h.send(define(3, "bad-name", MetricKind::Gauge, &[])),
        ProtocolError::InvalidLabelName => h.send(define(3, "g", MetricKind::Gauge, &["__x"])),
        ProtocolError::InvalidDefinition => h.send(define(3, "jobs", MetricKind::Counter, &[])),
        ProtocolError::LabelMismatch => h.send(series(3, 1, &[])),
        ProtocolError::InvalidValue => h.send(batch(&[(0, Value::Counter(1))])),
        ProtocolError::InvalidText => h.send(Frame::Health(health("bad-check"))),
        ProtocolError::ReservedName => {
            h.verdicts.refused_names = vec![("own_metric", reason)];
            h.send(define(3, "own_metric", MetricKind::Gauge, &[]))
        }
        ProtocolError::UnknownId => h.send(batch(&[(99, Value::Gauge(1.0))])),
        ProtocolError::DuplicateId => h.send(define(0, "other", MetricKind::Gauge, &[])),
        ProtocolError::ConflictingDefinition => {
            h.verdicts.refused_names = vec![("shared", reason)];
            h.send(define(3, "shared", MetricKind::Gauge, &[]))
        }
        ProtocolError::CounterDecrease => {
            h.verdicts.decreasing = vec![1];
            h.send(batch(&[(1, Value::Counter(3))]))
        }
        ProtocolError::HandshakeTimeout => {
            h = Harness::new();
            h.at(LIMITS.handshake_timeout);
            h.session.handle_timeout(h.now);
            h.drive()
        }
        ProtocolError::UnexpectedFrame => h.send(Frame::Welcome(Welcome {
            version: 1,
            server: "s".into(),
        })),
        ProtocolError::ClientLimit => {
            h = Harness::new();
            h.verdicts.full = true;
            h.send(Frame::Hello(hello()))
        }
        ProtocolError::IdleTimeout => {
            h.at(LIMITS.idle_timeout);
            h.session.handle_timeout(h.now);
            h.drive()
        }
        ProtocolError::Stalled => {
            h.bytes(&[10, 0, 0]);
            h.at(LIMITS.idle_timeout);
            h.session.handle_timeout(h.now);
            h.drive()
        }
        ProtocolError::WriteTimeout => {
            h.session.handle_write_timeout(Duration::from_secs(5));
            h.drive()
        }
        ProtocolError::Flood => {
            for id in 3..LIMITS.max_metric_ids as u32 {
                h.send(define(id, &format!("g{id}"), MetricKind::Gauge, &[]));
            }
            h.send(define(9, "one_too_many", MetricKind::Gauge, &[]))
        }
        ProtocolError::MaxClientBytes => {
            h = Harness::with(SessionLimits {
                max_client_bytes: 100,
                ..LIMITS
            });
            h.attach();
            h.send(define(0, "g", MetricKind::Gauge, &[]))
        }
        ProtocolError::MaxDefinitionBytes => {
            h.verdicts.refused_names = vec![("big", reason)];
            h.send(define(3, "big", MetricKind::Gauge, &[]))
        }
    };
    let text = match reason {
        ProtocolError::Malformed => "malformed frame of 3 bytes",
        ProtocolError::FrameTooLarge => "frame length 2000 exceeds the limit of 1024 bytes",
        ProtocolError::Truncated => "stream ended inside a frame (5 bytes",
        ProtocolError::TrailingBytes => "frame of 3 bytes has 1 trailing bytes",
        ProtocolError::BadMagic => "bad magic 0x00000001",
        ProtocolError::UnsupportedVersion => "client speaks 7..=9, exporter speaks 1..=2",
        ProtocolError::InvalidMetricName => "invalid metric name \"bad-name\"",
        ProtocolError::InvalidLabelName => "invalid label name \"__x\"",
        ProtocolError::InvalidDefinition => "counter names must end in '_total'",
        ProtocolError::LabelMismatch => "0 label values for 1 label names (status)",
        ProtocolError::InvalidValue => {
            "a counter value for a gauge (series queue_depth{}); update ignored"
        }
        ProtocolError::InvalidText => "invalid health check name",
        ProtocolError::ReservedName => "own_metric refused by the stand-in; its series are ignored",
        ProtocolError::UnknownId => "update for series id 99, which this connection never defined",
        ProtocolError::DuplicateId => {
            "metric id 0 is already defined as queue_depth on this connection; the new definition (other) is ignored"
        }
        ProtocolError::ConflictingDefinition => "shared refused by the stand-in",
        ProtocolError::CounterDecrease => {
            "jobs_total{status=\"ok\"} went backwards within incarnation 7; the previous total is kept"
        }
        ProtocolError::HandshakeTimeout => "no Hello within 5s",
        ProtocolError::UnexpectedFrame => "a client does not send welcome after the handshake",
        ProtocolError::ClientLimit => {
            "the exporter already serves its maximum of 64 clients (--ingest.max-clients), each with a whole frame within the last 1s"
        }
        ProtocolError::IdleTimeout => "silent for 30s (the liveness timeout)",
        ProtocolError::Stalled => {
            "a frame was not whole within 2s of its first byte (3 bytes buffered)"
        }
        ProtocolError::WriteTimeout => "",
        ProtocolError::Flood => "more than 4 metric definitions on one connection",
        ProtocolError::MaxClientBytes => {
            "metric g (id 0) refused: this client already has 0 of its 100 bytes of definitions (--ingest.max-client-bytes); its series are ignored"
        }
        ProtocolError::MaxDefinitionBytes => "big refused by the stand-in; its series are ignored",
    };
    (h, replies, text)
}

/// Whether `reason` ends the session (a `Reject`) rather than being answered with an
/// `Error` frame.
fn is_fatal(reason: ProtocolError) -> bool {
    !matches!(
        reason,
        ProtocolError::InvalidMetricName
            | ProtocolError::InvalidLabelName
            | ProtocolError::InvalidDefinition
            | ProtocolError::LabelMismatch
            | ProtocolError::InvalidValue
            | ProtocolError::InvalidText
            | ProtocolError::ReservedName
            | ProtocolError::UnknownId
            | ProtocolError::DuplicateId
            | ProtocolError::ConflictingDefinition
            | ProtocolError::CounterDecrease
            | ProtocolError::UnexpectedFrame
            | ProtocolError::MaxClientBytes
            | ProtocolError::MaxDefinitionBytes
    )
}

#[test]
fn every_protocol_error_is_counted_once_and_answered() {
    for &reason in ProtocolError::ALL {
        let (h, replies, text) = provoke(reason);
        assert_eq!(h.counted(), vec![reason], "{reason}: {:?}", h.events);
        if reason == ProtocolError::WriteTimeout {
            // Nothing can be delivered to a client that does not read.
            assert_eq!(replies, vec![], "{reason}");
        } else if is_fatal(reason) {
            let r = rejected(&replies);
            assert!(r.starts_with(&format!("{reason}: ")), "{reason}: {r}");
            assert!(r.contains(text), "{reason}: {r:?} should contain {text:?}");
        } else {
            let errors = errors(&replies);
            assert!(
                matches!(errors.as_slice(), [(r, m)] if *r == reason.as_str() && m.contains(text)),
                "{reason}: {errors:?} should be one Error containing {text:?}"
            );
        }
        let ended = matches!(
            h.session.ended(),
            Some(End::Protocol { reason: r, .. }) if *r == reason
        );
        assert_eq!(ended, is_fatal(reason), "{reason}: {:?}", h.session.ended());
    }
}

#[test]
fn a_session_that_ended_handles_nothing_more() {
    for &reason in ProtocolError::ALL.iter().filter(|r| is_fatal(**r)) {
        let (mut h, _, _) = provoke(reason);
        h.events.clear();
        let replies = h.send(Frame::Ready(true));
        assert_eq!(replies, vec![], "{reason}");
        assert_eq!(h.effects(), vec![], "{reason}");
        h.session.handle_write_timeout(Duration::from_secs(1));
        h.at(Duration::from_secs(3600));
        h.session.handle_timeout(h.now);
        h.drive();
        assert_eq!(h.counted(), vec![], "{reason}: the first reason stays");
        assert!(
            matches!(h.session.ended(), Some(End::Protocol { reason: r, .. }) if *r == reason),
            "{reason}"
        );
    }
}

// --- The handshake ----------------------------------------------------------------------

#[test]
fn hello_is_welcomed_and_attaches() {
    let mut h = Harness::new();
    h.at(Duration::from_secs(1));
    let replies = h.send(Frame::Hello(hello()));
    assert!(
        matches!(replies.as_slice(), [Frame::Welcome(Welcome { version: 2, server })]
            if server.starts_with("dawn-exporter ")),
        "{replies:?}"
    );
    assert_eq!(
        h.events,
        vec![
            Event::Received { kind: 0 },
            Event::Attach {
                hello: Box::new(hello()),
                version: 2,
                now: h.now,
            },
        ]
    );
    assert_eq!(h.session.ended(), None);
    assert_eq!(h.session.deadline(), h.now + LIMITS.idle_timeout);
}

#[test]
fn bad_hellos_are_rejected() {
    let cases: [(Hello, ProtocolError, &str); 5] = [
        (
            Hello {
                magic: 0x1234_5678,
                ..hello()
            },
            ProtocolError::BadMagic,
            "not a Dawn telemetry client",
        ),
        (
            Hello {
                min_version: 7,
                max_version: 9,
                ..hello()
            },
            ProtocolError::UnsupportedVersion,
            "no common protocol version",
        ),
        (
            Hello {
                min_version: 3,
                max_version: 2,
                ..hello()
            },
            ProtocolError::UnsupportedVersion,
            "empty version range 3..=2",
        ),
        (
            Hello {
                node_id: String::new(),
                ..hello()
            },
            ProtocolError::InvalidText,
            "invalid node id",
        ),
        (
            Hello {
                flush_interval_ms: 0,
                ..hello()
            },
            ProtocolError::InvalidText,
            "invalid flush interval",
        ),
    ];
    for (bad, reason, text) in cases {
        let mut h = Harness::new();
        let replies = h.send(Frame::Hello(bad));
        let r = rejected(&replies);
        assert!(
            r.starts_with(&format!("{reason}: ")) && r.contains(text),
            "{r}"
        );
        assert_eq!(
            h.effects(),
            vec![Event::Rejected, Event::ProtocolError(reason)],
            "{text}"
        );
        // Rejected once: closing the rejected session counts nothing more.
        assert_eq!(h.closed(), vec![], "{text}");
    }
}

#[test]
fn every_other_frame_before_hello_is_rejected() {
    for frame in one_of_each().into_iter().skip(1) {
        let kind = frame.kind_name();
        let mut h = Harness::new();
        let replies = h.send(frame);
        assert_eq!(
            rejected(&replies),
            format!("unexpected_frame: the first frame must be Hello, got {kind}")
        );
        assert_eq!(
            h.effects(),
            vec![
                Event::Rejected,
                Event::ProtocolError(ProtocolError::UnexpectedFrame)
            ]
        );
    }
}

#[test]
fn a_connection_gone_before_hello_counts_as_rejected() {
    let mut h = Harness::new();
    h.session.handle_eof();
    assert_eq!(h.drive(), vec![]);
    assert_eq!(h.session.ended(), Some(&End::Eof));
    assert_eq!(h.closed(), vec![Event::Rejected]);
    assert_eq!(h.closed(), vec![], "closing is idempotent");
}

// --- Every frame kind after the handshake ------------------------------------------------

#[test]
fn every_frame_kind_is_received_and_marks_the_client_seen() {
    let mut h = Harness::attached();
    h.at(Duration::from_secs(2));
    let frames = one_of_each();
    let bytes: Vec<u8> = frames.iter().flat_map(wire).collect();
    h.bytes(&bytes);
    let received: Vec<usize> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Received { kind } => Some(*kind),
            _ => None,
        })
        .collect();
    assert_eq!(received, (0..frames.len()).collect::<Vec<_>>());
    let seen = h
        .events
        .iter()
        .filter(|e| **e == Event::Seen { now: h.now });
    assert_eq!(seen.count(), frames.len());
    assert_eq!(h.session.ended(), Some(&End::Goodbye));
}

#[test]
fn definitions_are_offered_to_the_store_once() {
    let mut h = Harness::attached();
    let frame = define(0, "queue_depth", MetricKind::Gauge, &[]);
    assert_eq!(h.send(frame.clone()), vec![]);
    let Frame::Define(def) = frame.clone() else {
        unreachable!()
    };
    assert_eq!(
        h.effects(),
        vec![Event::Define {
            id: 0,
            def: Arc::new(def)
        }]
    );
    // The same definition again (a client resending after a hiccup) is no news.
    assert_eq!(h.send(frame), vec![]);
    assert_eq!(h.effects(), vec![]);
}

#[test]
fn invalid_definitions_are_refused_without_asking_the_store() {
    let cases = [
        (
            define(0, "9lives", MetricKind::Gauge, &[]),
            ProtocolError::InvalidMetricName,
        ),
        (
            define(0, "g", MetricKind::Gauge, &["a-b"]),
            ProtocolError::InvalidLabelName,
        ),
        (
            define(0, "g", MetricKind::Gauge, &["a", "a"]),
            ProtocolError::InvalidDefinition,
        ),
        (
            define(0, "h_total", MetricKind::Histogram, &[]),
            ProtocolError::InvalidDefinition,
        ),
    ];
    for (frame, reason) in cases {
        let mut h = Harness::attached();
        let replies = h.send(frame);
        assert_eq!(errors(&replies).first().map(|e| e.0), Some(reason.as_str()));
        assert_eq!(h.effects(), vec![Event::ProtocolError(reason)]);
        // Its series are refused quietly, and their updates dropped and counted.
        assert_eq!(h.send(series(0, 0, &[])), vec![]);
        assert_eq!(h.send(batch(&[(0, Value::Gauge(1.0))])), vec![]);
        assert_eq!(
            h.effects(),
            vec![
                Event::SeriesRejected(SeriesRejection::RefusedMetric),
                Event::Apply,
                Event::IgnoredUpdates {
                    reason: IgnoredUpdate::RefusedSeries,
                    n: 1
                },
            ]
        );
    }
}

#[test]
fn a_definition_the_store_refuses_takes_its_series_with_it() {
    let mut h = Harness::attached();
    h.verdicts.refused_names = vec![("shared", ProtocolError::ConflictingDefinition)];
    let replies = h.send(define(0, "shared", MetricKind::Gauge, &[]));
    assert_eq!(
        errors(&replies),
        vec![(
            "conflicting_definition",
            "metric shared refused by the stand-in; its series are ignored"
        )]
    );
    assert_eq!(h.send(series(0, 0, &[])), vec![]);
    assert_eq!(h.send(batch(&[(0, Value::Gauge(1.0))])), vec![]);
    let effects = h.effects();
    assert!(
        matches!(effects.first(), Some(Event::Define { id: 0, .. })),
        "{effects:?}"
    );
    assert_eq!(
        effects[1..],
        [
            Event::ProtocolError(ProtocolError::ConflictingDefinition),
            Event::SeriesRejected(SeriesRejection::RefusedMetric),
            Event::Apply,
            Event::IgnoredUpdates {
                reason: IgnoredUpdate::RefusedSeries,
                n: 1
            },
        ]
    );
    assert_eq!(h.applied, vec![]);
}

#[test]
fn series_of_a_held_metric_are_offered_with_its_family() {
    let mut h = Harness::attached();
    h.send(define(3, "jobs_total", MetricKind::Counter, &["status"]));
    h.effects();
    assert_eq!(h.send(series(5, 3, &["ok"])), vec![]);
    assert_eq!(
        h.effects(),
        vec![Event::Series {
            id: 5,
            family: 103,
            label_values: vec!["ok".into()]
        }]
    );
    h.send(batch(&[(5, Value::Counter(4))]));
    assert_eq!(h.applied, vec![(1005, Value::Counter(4), 5)]);
}

#[test]
fn refused_series_are_counted_with_their_reason() {
    let mut h = defined();
    // Unknown metric: an error; wrong label count: an error; over the store's cap: the
    // store's reason, not a protocol error.
    let replies = h.send(series(7, 9, &[]));
    assert_eq!(
        errors(&replies),
        vec![(
            "unknown_id",
            "series id 7 refers to metric id 9, which this connection never defined; the series is not kept"
        )]
    );
    let replies = h.send(series(8, 1, &["ok", "extra"]));
    assert_eq!(errors(&replies)[0].0, "label_mismatch");
    h.verdicts.series_room = Some(3);
    let replies = h.send(series(9, 1, &["failed"]));
    assert_eq!(
        errors(&replies),
        vec![(
            "max_series_per_metric",
            "series id 9 over the stand-in's cap"
        )]
    );
    assert_eq!(
        h.effects(),
        vec![
            Event::SeriesRejected(SeriesRejection::UnknownMetric),
            Event::ProtocolError(ProtocolError::UnknownId),
            Event::SeriesRejected(SeriesRejection::InvalidLabels),
            Event::ProtocolError(ProtocolError::LabelMismatch),
            Event::Series {
                id: 9,
                family: 101,
                label_values: vec!["failed".into()]
            },
            Event::SeriesRejected(SeriesRejection::MaxSeriesPerMetric),
        ]
    );
    // Updates of refused series are dropped without a word; a series of an unknown metric
    // was not kept at all, so its id stays unknown.
    let updates = [
        (7, Value::Counter(1)),
        (8, Value::Counter(1)),
        (9, Value::Counter(1)),
    ];
    let replies = h.send(batch(&updates));
    assert_eq!(errors(&replies)[0].0, "unknown_id");
    assert_eq!(
        h.effects(),
        vec![
            Event::Apply,
            Event::ProtocolError(ProtocolError::UnknownId),
            Event::IgnoredUpdates {
                reason: IgnoredUpdate::RefusedSeries,
                n: 2
            }
        ]
    );
}

#[test]
fn a_series_id_defined_twice_differently_is_a_duplicate() {
    let mut h = defined();
    assert_eq!(
        h.send(series(1, 1, &["ok"])),
        vec![],
        "the same again is fine"
    );
    let replies = h.send(series(1, 1, &["failed"]));
    assert_eq!(
        errors(&replies),
        vec![(
            "duplicate_id",
            "series id 1 is already defined as jobs_total{status=\"ok\"} on this connection; the new definition is ignored"
        )]
    );
    h.send(batch(&[(1, Value::Counter(2))]));
    assert_eq!(
        h.applied,
        vec![(1001, Value::Counter(2), 1)],
        "the first one stands"
    );
}

#[test]
fn too_many_series_ids_is_a_flood() {
    let mut h = defined();
    for id in 3..LIMITS.max_series_ids as u32 {
        assert_eq!(h.send(series(id, 1, &[&format!("s{id}")])), vec![]);
    }
    let replies = h.send(series(99, 1, &["last"]));
    assert_eq!(
        rejected(&replies),
        "flood: more than 8 series definitions on one connection"
    );
    assert_eq!(h.counted(), vec![ProtocolError::Flood]);
}

#[test]
fn a_batch_applies_its_valid_updates_and_reports_the_rest() {
    let mut h = defined();
    let replies = h.send(batch(&[
        (0, Value::Gauge(1.5)),
        (99, Value::Counter(1)),
        (1, Value::Gauge(2.0)),
        (2, histogram(f64::NAN)),
        (1, Value::Counter(3)),
        (2, histogram(0.25)),
    ]));
    assert_eq!(
        errors(&replies),
        vec![
            (
                "unknown_id",
                "update for series id 99, which this connection never defined"
            ),
            (
                "invalid_value",
                "invalid value for jobs_total: a gauge value for a counter (series jobs_total{status=\"ok\"}); update ignored"
            ),
            (
                "invalid_value",
                "invalid value for latency_seconds: histogram sum is NaN (series latency_seconds{step=\"parse\"}); update ignored"
            ),
        ]
    );
    assert_eq!(
        h.effects(),
        vec![
            Event::Apply,
            Event::ProtocolError(ProtocolError::UnknownId),
            Event::ProtocolError(ProtocolError::InvalidValue),
            Event::ProtocolError(ProtocolError::InvalidValue),
        ]
    );
    assert_eq!(
        h.applied,
        vec![
            (1000, Value::Gauge(1.5), 0),
            (1001, Value::Counter(3), 1),
            (1002, histogram(0.25), 2),
        ]
    );
}

/// The session checks valid values on the fields at hand: every way a histogram can be
/// wrong is still refused, with the full check's explanation, and a valid one applied.
#[test]
fn every_invalid_histogram_is_refused_and_a_valid_one_applied() {
    let mut h = defined();
    let value = |count: u64, sum: f64, buckets: &[u64]| {
        Value::Histogram(HistogramValue {
            count,
            sum,
            buckets: buckets.to_vec(),
        })
    };
    let replies = h.send(batch(&[
        (2, value(1, 0.5, &[1, 0])),
        (2, value(1, 0.5, &[1, 0, 0, 0])),
        (2, value(2, 0.5, &[1, 0, 0])),
        (2, value(0, 0.5, &[u64::MAX, 1, 0])),
        (2, value(1, f64::INFINITY, &[1, 0, 0])),
        (2, value(1, f64::NEG_INFINITY, &[0, 1, 0])),
        (2, Value::Counter(1)),
        (2, Value::Gauge(1.0)),
        (0, value(1, 0.5, &[1, 0, 0])),
        (1, value(1, 0.5, &[1, 0, 0])),
        (2, value(u64::MAX, 0.5, &[u64::MAX - 1, 1, 0])),
    ]));
    let why: Vec<&str> = errors(&replies)
        .into_iter()
        .map(|(_, message)| {
            message
                .split_once(": ")
                .and_then(|(_, rest)| rest.split_once(" (series"))
                .map_or(message, |(why, _)| why)
        })
        .collect();
    assert_eq!(
        why,
        vec![
            "2 bucket counts for 2 bounds plus +Inf",
            "4 bucket counts for 2 bounds plus +Inf",
            "count 2 differs from the sum of bucket counts 1",
            "bucket counts overflow",
            "histogram sum is inf",
            "histogram sum is -inf",
            "a counter value for a histogram",
            "a gauge value for a histogram",
            "a histogram value for a gauge",
            "a histogram value for a counter",
        ]
    );
    assert_eq!(
        h.applied,
        vec![(1002, value(u64::MAX, 0.5, &[u64::MAX - 1, 1, 0]), 2)]
    );
}

#[test]
fn a_batch_the_applier_does_not_store_still_has_its_problems_answered() {
    let mut h = defined();
    h.verdicts.no_store = true;
    let replies = h.send(batch(&[(0, Value::Gauge(1.0)), (99, Value::Counter(1))]));
    assert_eq!(errors(&replies)[0].0, "unknown_id");
    assert_eq!(
        h.effects(),
        vec![Event::Apply, Event::ProtocolError(ProtocolError::UnknownId)]
    );
    assert_eq!(h.applied, vec![]);
    // The next batch is handed over as usual.
    h.verdicts.no_store = false;
    h.send(batch(&[(0, Value::Gauge(2.0))]));
    assert_eq!(h.applied, vec![(1000, Value::Gauge(2.0), 0)]);
}

#[test]
fn a_batch_with_nothing_valid_applies_nothing() {
    let mut h = defined();
    h.send(batch(&[]));
    h.send(batch(&[(99, Value::Counter(1))]));
    // Each batch is handed to the store, which is given no update.
    assert_eq!(
        h.effects(),
        vec![
            Event::Apply,
            Event::Apply,
            Event::ProtocolError(ProtocolError::UnknownId)
        ]
    );
    assert_eq!(h.applied, vec![]);
}

#[test]
fn health_ready_and_heartbeat_are_passed_on() {
    let mut h = Harness::attached();
    assert_eq!(h.send(Frame::Health(health("queue"))), vec![]);
    assert_eq!(h.send(Frame::Ready(true)), vec![]);
    let beat = Heartbeat {
        uptime_ms: 10,
        dropped: 4,
    };
    assert_eq!(h.send(Frame::Heartbeat(beat)), vec![]);
    let replies = h.send(Frame::Health(health("no such-check")));
    assert!(
        matches!(errors(&replies).as_slice(), [("invalid_text", m)] if m.ends_with("; health report ignored")),
        "{replies:?}"
    );
    assert_eq!(
        h.effects(),
        vec![
            Event::Health(health("queue")),
            Event::Ready(true),
            Event::Heartbeat { dropped: 4 },
            Event::ProtocolError(ProtocolError::InvalidText),
        ]
    );
}

#[test]
fn retire_hands_back_held_series_only() {
    let mut h = defined();
    h.verdicts.series_room = Some(3);
    h.send(series(3, 1, &["refused"]));
    h.effects();
    let replies = h.send(Frame::Retire(Retire {
        series: vec![1, 3, 42],
    }));
    assert_eq!(
        errors(&replies),
        vec![(
            "unknown_id",
            "retire of series id 42, which this connection never defined"
        )]
    );
    assert_eq!(
        h.effects(),
        vec![
            Event::Retire { series: 1001 },
            Event::ProtocolError(ProtocolError::UnknownId),
        ]
    );
    // A retired id is unknown until defined again.
    let replies = h.send(batch(&[(1, Value::Counter(5))]));
    assert_eq!(errors(&replies)[0].0, "unknown_id");
    h.verdicts.series_room = None;
    h.send(series(1, 1, &["ok"]));
    h.send(batch(&[(1, Value::Counter(5))]));
    assert_eq!(h.applied, vec![(1001, Value::Counter(5), 1)]);
}

#[test]
fn frames_only_the_exporter_sends_are_errors_after_the_handshake() {
    let mut h = Harness::attached();
    let frames = one_of_each();
    for i in [0, 1, 2, 10] {
        let frame = frames[i].clone();
        let kind = frame.kind_name();
        let replies = h.send(frame);
        assert_eq!(
            errors(&replies),
            vec![(
                "unexpected_frame",
                format!("a client does not send {kind} after the handshake; ignored").as_str()
            )]
        );
    }
    assert_eq!(h.counted(), vec![ProtocolError::UnexpectedFrame; 4]);
    assert_eq!(h.session.ended(), None, "the session goes on");
}

#[test]
fn error_frames_are_capped_but_errors_still_counted() {
    let mut h = Harness::with(SessionLimits {
        max_error_frames: 2,
        ..LIMITS
    });
    h.attach();
    let unknown: Vec<(u32, Value)> = (0..5).map(|i| (i, Value::Counter(1))).collect();
    let replies = h.send(batch(&unknown));
    assert_eq!(errors(&replies).len(), 2);
    assert_eq!(h.counted(), vec![ProtocolError::UnknownId; 5]);
}

// --- The end of a session ------------------------------------------------------------------

#[test]
fn goodbye_ends_the_session_and_close_gives_back_every_hold() {
    let mut h = defined();
    h.at(Duration::from_secs(9));
    let mut bytes = wire(&Frame::Goodbye);
    bytes.extend(wire(&Frame::Ready(true)));
    assert_eq!(h.bytes(&bytes), vec![]);
    assert_eq!(h.session.ended(), Some(&End::Goodbye));
    assert_eq!(h.effects(), vec![], "nothing after Goodbye is read");
    let closed = h.closed();
    let [
        Event::Detach {
            end,
            families,
            series,
            now,
        },
    ] = closed.as_slice()
    else {
        panic!("{closed:?}")
    };
    assert_eq!((end, *now), (&End::Goodbye, h.now));
    let (mut families, mut series) = (families.clone(), series.clone());
    families.sort_unstable();
    series.sort_unstable();
    assert_eq!(
        (families, series),
        (vec![100, 101, 102], vec![1000, 1001, 1002])
    );
    assert_eq!(h.closed(), vec![], "closing is idempotent");
}

#[test]
fn the_client_closing_between_frames_is_an_orderly_end() {
    let mut h = Harness::attached();
    h.session.handle_eof();
    assert_eq!(h.drive(), vec![]);
    assert_eq!(h.session.ended(), Some(&End::Eof));
    assert!(matches!(
        h.closed().as_slice(),
        [Event::Detach { end: End::Eof, .. }]
    ));
}

#[test]
fn frames_received_before_the_end_of_stream_are_handled_first() {
    let mut h = Harness::attached();
    h.session.handle_bytes(h.now, &wire(&Frame::Ready(true)));
    h.session.handle_eof();
    h.drive();
    assert_eq!(h.effects(), vec![Event::Ready(true)]);
    assert_eq!(h.session.ended(), Some(&End::Eof));
}

#[test]
fn a_session_closed_before_it_ended_had_its_task_end() {
    let mut h = defined();
    let closed = h.closed();
    assert!(
        matches!(closed.as_slice(), [Event::Detach { end: End::Io(m), .. }] if m == "connection task ended"),
        "{closed:?}"
    );
}

#[test]
fn reasons_from_outside_the_protocol_end_the_session_quietly() {
    for end in [End::Shutdown, End::Io("read failed: reset".into())] {
        let mut h = Harness::attached();
        h.session.abort(end.clone());
        assert_eq!(h.drive(), vec![]);
        h.session.abort(End::Eof);
        assert_eq!(h.session.ended(), Some(&end), "the first reason stays");
        assert!(matches!(h.closed().as_slice(), [Event::Detach { end: e, .. }] if *e == end));
    }
}

#[test]
fn decode_errors_before_the_handshake_reject_the_client() {
    let mut h = Harness::new();
    let replies = h.bytes(&[3, 0, 0, 0, 200, 1, 2]);
    assert!(rejected(&replies).starts_with("malformed: "));
    assert_eq!(
        h.effects(),
        vec![
            Event::Rejected,
            Event::ProtocolError(ProtocolError::Malformed)
        ]
    );
    let mut h = Harness::new();
    h.bytes(&wire(&Frame::Hello(hello()))[..9]);
    h.session.handle_eof();
    let replies = h.drive();
    assert!(rejected(&replies).starts_with("truncated: "));
    assert_eq!(
        h.effects(),
        vec![
            Event::Rejected,
            Event::ProtocolError(ProtocolError::Truncated)
        ]
    );
}

#[test]
fn frames_split_anywhere_are_handled_whole() {
    let mut h = Harness::attached();
    let bytes = wire(&batch(&[(0, Value::Gauge(1.0))]));
    for b in &bytes {
        h.bytes(std::slice::from_ref(b));
    }
    let received = h
        .events
        .iter()
        .filter(|e| matches!(e, Event::Received { .. }));
    assert_eq!(received.count(), 1);
}

// --- Time ------------------------------------------------------------------------------------

#[test]
fn the_deadline_is_the_handshake_timeout_then_the_idle_timeout_after_the_last_read() {
    let mut h = Harness::new();
    assert_eq!(h.session.deadline(), h.base + LIMITS.handshake_timeout);
    // Bytes that are not yet a Hello do not extend the handshake.
    let hello = wire(&Frame::Hello(hello()));
    h.at(Duration::from_secs(1));
    h.bytes(&hello[..1]);
    assert_eq!(h.session.deadline(), h.base + LIMITS.handshake_timeout);
    h.at(Duration::from_secs(4));
    h.session.handle_timeout(h.now);
    assert_eq!(h.session.ended(), None, "not yet");
    h.bytes(&hello[1..]);
    assert_eq!(h.session.deadline(), h.now + LIMITS.idle_timeout);
    h.at(Duration::from_secs(20));
    h.send(Frame::Ready(true));
    let deadline = h.base + Duration::from_secs(20) + LIMITS.idle_timeout;
    assert_eq!(h.session.deadline(), deadline);
    h.session
        .handle_timeout(deadline - Duration::from_millis(1));
    assert_eq!(h.session.ended(), None, "not yet");
    h.session.handle_timeout(deadline);
    assert!(matches!(
        h.session.ended(),
        Some(End::Protocol {
            reason: ProtocolError::IdleTimeout,
            ..
        })
    ));
}

#[test]
fn a_frame_must_be_whole_within_the_frame_timeout_however_its_bytes_trickle() {
    let mut h = Harness::attached();
    let frame = wire(&Frame::Ready(true));
    // One byte a second, each well within the idle timeout: the frame deadline still holds.
    for (i, b) in frame[..2].iter().enumerate() {
        h.at(Duration::from_secs(i as u64));
        assert_eq!(h.bytes(std::slice::from_ref(b)), vec![]);
    }
    assert_eq!(h.session.deadline(), h.base + LIMITS.frame_timeout);
    // Bytes arriving at the deadline do not save the session.
    h.at(LIMITS.frame_timeout);
    let replies = h.bytes(&frame[2..]);
    assert!(
        rejected(&replies).starts_with("stalled: a frame was not whole within 2s"),
        "{replies:?}"
    );
    assert_eq!(h.counted(), vec![ProtocolError::Stalled]);
    assert!(
        !h.events.iter().any(|e| matches!(e, Event::Ready(_))),
        "the late frame is not handled"
    );
}

#[test]
fn the_frame_deadline_starts_with_each_frame_and_leaves_with_it() {
    let mut h = Harness::attached();
    let frame = wire(&Frame::Ready(true));
    let mut two = frame.clone();
    two.extend_from_slice(&frame[..1]);
    h.at(Duration::from_secs(1));
    h.bytes(&two);
    // The second frame began with the read that completed the first.
    assert_eq!(
        h.session.deadline(),
        h.base + Duration::from_secs(1) + LIMITS.frame_timeout
    );
    h.at(Duration::from_secs(2));
    h.bytes(&frame[1..]);
    assert_eq!(
        h.session.deadline(),
        h.now + LIMITS.idle_timeout,
        "between frames only the idle timeout runs"
    );
    assert_eq!(h.session.ended(), None);
}

/// A read of `bytes` into the session's read space, as the connection makes it, with `junk`
/// in the rest of the space (what a read leaves there must not be taken).
fn read_into_decoder(h: &mut Harness, bytes: &[u8], junk: u8) {
    let space = h.session.read_space(64 * 1024);
    space[..bytes.len()].copy_from_slice(bytes);
    space[bytes.len()..].fill(junk);
    h.session.handle_read(h.now, bytes.len());
}

/// Bytes read straight into the decoder, as the connection reads: a read fills part of the
/// space it was given and whatever lies beyond what it reports is not taken; an empty read
/// starts no frame; a read after the deadline is not taken either.
#[test]
fn reads_into_the_decoder_take_only_the_bytes_read() {
    let mut h = defined();
    let mut bytes = wire(&batch(&[(0, Value::Gauge(1.5))]));
    bytes.extend(wire(&batch(&[(1, Value::Counter(7))])));
    let (first, rest) = bytes.split_at(5);

    read_into_decoder(&mut h, first, 0xA5);
    assert_eq!(h.drive(), vec![]);
    assert_eq!(
        h.session.deadline(),
        h.base + LIMITS.frame_timeout,
        "the first bytes start the frame's deadline"
    );

    h.at(Duration::from_secs(1));
    h.session.read_space(64 * 1024).fill(0x5A);
    h.session.handle_read(h.now, 0);
    assert_eq!(h.drive(), vec![]);
    assert_eq!(h.session.deadline(), h.base + LIMITS.frame_timeout);

    read_into_decoder(&mut h, rest, 0xFF);
    assert_eq!(h.drive(), vec![]);
    assert_eq!(
        h.applied,
        vec![(1000, Value::Gauge(1.5), 0), (1001, Value::Counter(7), 1)]
    );
    assert_eq!(h.session.deadline(), h.now + LIMITS.idle_timeout);

    // At the idle deadline, bytes read do not count: the session times out instead.
    h.at(Duration::from_secs(1) + LIMITS.idle_timeout);
    let frame = wire(&batch(&[(0, Value::Gauge(2.5))]));
    let space = h.session.read_space(frame.len());
    space.copy_from_slice(&frame);
    h.session.handle_read(h.now, frame.len());
    let replies = h.drive();
    assert!(
        rejected(&replies).starts_with("idle_timeout"),
        "{replies:?}"
    );
    assert_eq!(h.applied.len(), 2, "the late batch is not applied");
}

// --- Admission ---------------------------------------------------------------------------------

#[test]
fn a_client_is_welcomed_only_once_admitted_and_frames_wait_for_the_verdict() {
    let mut h = Harness::new();
    let mut bytes = wire(&Frame::Hello(hello()));
    bytes.extend(wire(&Frame::Ready(true)));
    h.session.handle_bytes(h.now, &bytes);
    assert!(matches!(
        h.session.poll(),
        Some(Event::Received { kind: 0 })
    ));
    assert!(matches!(h.session.poll(), Some(Event::Attach { .. })));
    assert_eq!(h.session.poll(), None, "no frame before the verdict");
    assert_eq!(h.session.replies().count(), 0, "no Welcome yet");
    h.session.admitted();
    assert!(matches!(
        h.session.replies().collect::<Vec<_>>().as_slice(),
        [Frame::Welcome(_)]
    ));
    h.drive();
    assert_eq!(h.effects(), vec![Event::Ready(true)]);
}

#[test]
fn a_client_refused_over_the_limit_is_rejected_and_never_attached() {
    let mut h = Harness::new();
    h.verdicts.full = true;
    let replies = h.send(Frame::Hello(hello()));
    assert!(rejected(&replies).starts_with("client_limit: "));
    let effects = h.effects();
    assert!(matches!(effects[0], Event::Attach { .. }), "{effects:?}");
    assert_eq!(
        effects[1..],
        [
            Event::Rejected,
            Event::ProtocolError(ProtocolError::ClientLimit)
        ]
    );
    assert_eq!(h.closed(), vec![], "no Detach: it never had a slot");
}

#[test]
fn an_evicted_connection_is_told_why_and_counted_by_phase() {
    // Before its handshake: turned away.
    let mut h = Harness::new();
    h.session.evict(h.now);
    let replies = h.drive();
    assert!(rejected(&replies).starts_with("pending_limit: the oldest connection"));
    assert_eq!(
        h.effects(),
        vec![Event::Rejected, Event::Evicted(Eviction::PendingLimit)]
    );
    assert_eq!(h.closed(), vec![]);
    // Attached: it gives its holds back.
    let mut h = defined();
    h.at(Duration::from_secs(7));
    h.session.evict(h.now);
    let replies = h.drive();
    assert!(
        rejected(&replies).starts_with("client_limit: no whole frame for 7.000s"),
        "{replies:?}"
    );
    assert_eq!(h.effects(), vec![Event::Evicted(Eviction::ClientLimit)]);
    assert!(matches!(
        h.session.ended(),
        Some(End::Evicted {
            reason: Eviction::ClientLimit,
            ..
        })
    ));
    assert!(matches!(
        h.closed().as_slice(),
        [Event::Detach { families, .. }] if families.len() == 3
    ));
    h.session.evict(h.now);
    assert_eq!(h.drive(), vec![], "evicted once");
}

// --- Memory budget -----------------------------------------------------------------------------

#[test]
fn a_series_of_an_undefined_metric_keeps_nothing_however_large() {
    let mut h = Harness::with(SessionLimits {
        max_frame_bytes: 1 << 20,
        ..LIMITS
    });
    h.attach();
    let before = h.session.kept_bytes();
    let huge = "x".repeat(500_000);
    for id in 0..LIMITS.max_series_ids as u32 * 4 {
        let replies = h.send(series(id, 77, &[&huge]));
        assert_eq!(errors(&replies)[0].0, "unknown_id");
    }
    assert_eq!(h.session.kept_bytes(), before);
    assert_eq!(h.session.ended(), None, "not a flood: nothing was kept");
    let rejected = h
        .effects()
        .into_iter()
        .filter(|e| *e == Event::SeriesRejected(SeriesRejection::UnknownMetric))
        .count();
    assert_eq!(rejected, LIMITS.max_series_ids * 4);
}

#[test]
fn a_refused_definition_keeps_a_marker_not_its_text() {
    let mut h = Harness::attached();
    h.verdicts.refused_names = vec![("shared", ProtocolError::ConflictingDefinition)];
    h.send(define(0, "shared", MetricKind::Gauge, &["k"]));
    let marker = h.session.kept_bytes();
    assert_eq!(marker, super::tables::SLOT_BYTES);
    h.send(series(0, 0, &[&"v".repeat(900)]));
    assert_eq!(h.session.kept_bytes(), 2 * super::tables::SLOT_BYTES);
    // A new definition of a refused id is judged afresh.
    h.verdicts.refused_names.clear();
    h.send(define(0, "shared", MetricKind::Gauge, &["k"]));
    h.send(series(0, 0, &["v"]));
    h.send(batch(&[(0, Value::Gauge(2.0))]));
    assert_eq!(h.applied, vec![(1000, Value::Gauge(2.0), 0)]);
}

#[test]
fn definitions_beyond_the_client_budget_are_refused_and_retire_frees_room() {
    let mut h = Harness::attached();
    h.send(define(0, "jobs_total", MetricKind::Counter, &["status"]));
    let with_metric = h.session.kept_bytes();
    let budget = with_metric + 2 * super::tables::SLOT_BYTES + 200;
    let mut h = Harness::with(SessionLimits {
        max_client_bytes: budget,
        ..LIMITS
    });
    h.attach();
    h.send(define(0, "jobs_total", MetricKind::Counter, &["status"]));
    assert_eq!(h.send(series(0, 0, &["ok"])), vec![]);
    let replies = h.send(series(1, 0, &[&"f".repeat(150)]));
    assert!(
        matches!(errors(&replies).as_slice(), [("max_client_bytes", m)] if m.contains("--ingest.max-client-bytes")),
        "{replies:?}"
    );
    let effects = h.effects();
    assert!(
        effects.contains(&Event::SeriesRejected(SeriesRejection::MaxClientBytes)),
        "{effects:?}"
    );
    assert!(h.session.kept_bytes() <= budget);
    // Its updates are dropped and counted, not errors.
    assert_eq!(h.send(batch(&[(1, Value::Counter(1))])), vec![]);
    // Retiring the kept series frees its room.
    h.send(Frame::Retire(Retire { series: vec![0] }));
    assert_eq!(h.send(series(1, 0, &[&"f".repeat(150)])), vec![]);
    assert!(h.session.kept_bytes() <= budget);
}

#[test]
fn a_first_value_over_the_sample_cap_is_answered_and_counted() {
    let mut h = defined();
    h.verdicts.over_sample_cap = vec![1];
    let replies = h.send(batch(&[(0, Value::Gauge(1.0)), (1, Value::Counter(2))]));
    assert_eq!(
        errors(&replies),
        vec![(
            "max_samples",
            "the value of jobs_total{status=\"ok\"} is not kept: the stand-in holds its maximum of samples"
        )]
    );
    assert_eq!(
        h.effects(),
        vec![
            Event::Apply,
            Event::IgnoredUpdates {
                reason: IgnoredUpdate::MaxSamples,
                n: 1
            }
        ]
    );
}

// --- Health limits -----------------------------------------------------------------------------

#[test]
fn a_client_reports_at_most_its_checks_each_cut_to_size() {
    let mut h = Harness::attached();
    for check in ["a", "b", "c", "a"] {
        assert_eq!(h.send(Frame::Health(health(check))), vec![]);
    }
    let replies = h.send(Frame::Health(health("d")));
    assert!(
        matches!(errors(&replies).as_slice(), [("max_checks_per_client", m)] if m.contains("\"d\" dropped")),
        "{replies:?}"
    );
    let big = Health {
        message: "m".repeat(1000),
        ..health("b")
    };
    let replies = h.send(Frame::Health(big));
    assert!(
        matches!(errors(&replies).as_slice(), [("max_check_bytes", m)] if m.contains("1001 bytes")),
        "{replies:?}"
    );
    let effects = h.effects();
    let passed: Vec<&Health> = effects
        .iter()
        .filter_map(|e| match e {
            Event::Health(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(passed.len(), 5, "{effects:?}");
    let cut = passed[4];
    assert_eq!(
        (cut.check.as_str(), cut.status),
        ("b", HealthStatus::Degraded)
    );
    assert!(cut.message.len() + cut.check.len() <= LIMITS.max_check_bytes);
    let limited: Vec<&Event<Plain>> = effects
        .iter()
        .filter(|e| matches!(e, Event::HealthLimited(_)))
        .collect();
    assert_eq!(
        limited,
        [
            &Event::HealthLimited(HealthLimit::MaxChecksPerClient),
            &Event::HealthLimited(HealthLimit::MaxCheckBytes)
        ]
    );
}

// --- Warnings ------------------------------------------------------------------------------------

#[test]
fn problems_become_warnings_only_while_error_frames_are_sent() {
    let mut h = Harness::with(SessionLimits {
        max_error_frames: 2,
        ..LIMITS
    });
    h.attach();
    let unknown: Vec<(u32, Value)> = (0..5).map(|i| (i, Value::Counter(1))).collect();
    h.send(batch(&unknown));
    let warnings = h.warnings();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert_eq!(warnings[0].reason, "unknown_id");
    assert!(warnings[0].message.contains("series id 0"), "{warnings:?}");
    // A rejection is a warning too.
    let mut h = Harness::new();
    h.send(Frame::Ready(true));
    let warnings = h.warnings();
    assert!(
        matches!(warnings.as_slice(), [w] if w.reason == "unexpected_frame" && w.message.starts_with("client rejected: ")),
        "{warnings:?}"
    );
}

// --- Native histograms and mixed protocol versions --------------------------------------

/// A histogram of one observation of 0.25 with its native buckets (schema 3: 0.25 is
/// `2^-2`, key -16), `edit` applied to them.
fn native_histogram(edit: impl FnOnce(&mut dawn_proto::NativeBuckets)) -> Value {
    let mut native = dawn_proto::NativeBuckets {
        schema: 3,
        zero_threshold: 2f64.powi(-128),
        zero_count: 0,
        positive_spans: vec![dawn_proto::BucketSpan {
            offset: -16,
            length: 1,
        }],
        positive_counts: vec![1],
        negative_spans: vec![],
        negative_counts: vec![],
    };
    edit(&mut native);
    Value::NativeHistogram(Box::new(dawn_proto::NativeHistogramValue {
        classic: HistogramValue {
            count: 1,
            sum: 0.25,
            buckets: vec![1, 0, 0],
        },
        native,
    }))
}

/// At version 2 a native histogram is applied whole, and one whose native part breaks the
/// wire's rules is refused with the full check's words (the quick check lets no native
/// part through unchecked).
#[test]
fn native_histograms_are_applied_at_version_2_and_checked() {
    let mut h = defined();
    let replies = h.send(batch(&[
        (2, native_histogram(|_| {})),
        (2, native_histogram(|n| n.schema = 9)),
        (2, native_histogram(|n| n.positive_counts = vec![2])),
    ]));
    assert_eq!(
        errors(&replies),
        vec![
            (
                "invalid_value",
                "invalid value for latency_seconds: native schema 9 outside -4..=8 (series latency_seconds{step=\"parse\"}); update ignored"
            ),
            (
                "invalid_value",
                "invalid value for latency_seconds: count 1 differs from the sum of native bucket counts 2 (series latency_seconds{step=\"parse\"}); update ignored"
            ),
        ]
    );
    assert_eq!(h.applied, vec![(1002, native_histogram(|_| {}), 2)]);
}

/// A new client (1..=2) meets an exporter that speaks version 1 only (the session's
/// `max_version`, standing in for an exporter from before native histograms): welcomed at
/// version 1. Its classic histograms are applied; a native one on that connection is what
/// an old exporter could not read, so the session ends as that exporter's would
/// (`malformed`).
#[test]
fn a_new_client_and_an_exporter_capped_at_version_1_speak_1() {
    let mut h = Harness::with(SessionLimits {
        max_version: 1,
        ..LIMITS
    });
    let replies = h.send(Frame::Hello(hello()));
    assert!(
        matches!(
            replies.as_slice(),
            [Frame::Welcome(Welcome { version: 1, .. })]
        ),
        "{replies:?}"
    );
    h.send(define(2, "latency_seconds", MetricKind::Histogram, &[]));
    h.send(series(2, 2, &[]));
    assert_eq!(errors(&h.send(batch(&[(2, histogram(0.25))]))), vec![]);
    assert_eq!(h.applied.len(), 1);
    let replies = h.send(batch(&[(2, native_histogram(|_| {}))]));
    let r = rejected(&replies);
    assert!(
        r.starts_with("malformed: a native histogram (Value tag 3) on a protocol version 1"),
        "{r}"
    );
    assert_eq!(h.applied.len(), 1, "nothing of the native batch applied");
}

/// An old client (1..=1) at a new exporter: welcomed at 1, its classic histograms applied.
#[test]
fn an_old_client_at_a_new_exporter_speaks_1() {
    let mut h = Harness::new();
    let old = Hello {
        max_version: 1,
        ..hello()
    };
    let replies = h.send(Frame::Hello(old));
    assert!(
        matches!(
            replies.as_slice(),
            [Frame::Welcome(Welcome { version: 1, .. })]
        ),
        "{replies:?}"
    );
    h.send(define(2, "latency_seconds", MetricKind::Histogram, &[]));
    h.send(series(2, 2, &[]));
    assert_eq!(errors(&h.send(batch(&[(2, histogram(0.25))]))), vec![]);
    assert_eq!(h.applied, vec![(1002, histogram(0.25), 2)]);
}
