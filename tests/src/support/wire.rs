//! A raw telemetry client: frames encoded with `dawn_proto::encode_frame` over a
//! `std::os::unix::net::UnixStream`, for tests that must send what no well-behaved client
//! would.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use dawn_proto::{DEFAULT_MAX_FRAME_LEN, Frame, FrameDecoder, Hello, encode_frame};

use crate::support::eventually::patience;

/// One raw connection to an exporter's socket.
#[derive(Debug)]
pub struct RawClient {
    stream: UnixStream,
    decoder: FrameDecoder,
    closed: bool,
}

/// What reading from the exporter gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// A frame.
    Frame(Frame),
    /// The exporter closed the connection.
    Closed,
}

impl RawClient {
    /// Connects to `socket`.
    #[track_caller]
    pub fn connect(socket: &Path) -> RawClient {
        let stream = UnixStream::connect(socket)
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", socket.display()));
        RawClient {
            stream,
            decoder: FrameDecoder::new(DEFAULT_MAX_FRAME_LEN),
            closed: false,
        }
    }

    /// A `Hello` for `node_id` offering every version this build supports.
    pub fn hello_frame(node_id: &str, incarnation: u64) -> Hello {
        Hello::new(
            "dawn-tests",
            "0.0.0-test",
            node_id,
            incarnation,
            std::process::id(),
            100,
        )
    }

    /// Connects and completes a handshake as `node_id`; fails the test unless `Welcome`.
    #[track_caller]
    pub fn handshake(socket: &Path, node_id: &str, incarnation: u64) -> RawClient {
        RawClient::handshake_with(socket, RawClient::hello_frame(node_id, incarnation))
    }

    /// Connects and completes a handshake with `hello`; fails the test unless `Welcome`.
    #[track_caller]
    pub fn handshake_with(socket: &Path, hello: Hello) -> RawClient {
        let mut c = RawClient::connect(socket);
        let node_id = hello.node_id.clone();
        c.send(&Frame::Hello(hello));
        match c.recv() {
            Received::Frame(Frame::Welcome(_)) => c,
            other => panic!("expected Welcome for {node_id}, got {other:?}"),
        }
    }

    /// Sends one frame. A write error (the exporter already closed) is ignored: the test
    /// checks what the exporter answered instead.
    pub fn send(&mut self, frame: &Frame) {
        let mut bytes = Vec::new();
        encode_frame(frame, &mut bytes).expect("test frames encode");
        self.send_bytes(&bytes);
    }

    /// Sends raw bytes; write errors are ignored, as in [`RawClient::send`].
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    /// Half-closes the connection: the exporter sees end of stream.
    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
    }

    /// The next frame from the exporter, or `Closed`; fails the test if neither comes within
    /// the patience.
    #[track_caller]
    pub fn recv(&mut self) -> Received {
        match self.recv_within(patience()) {
            Some(r) => r,
            None => panic!("the exporter sent nothing and kept the connection open"),
        }
    }

    /// Like [`RawClient::recv`], but `None` after `wait` without anything.
    pub fn recv_within(&mut self, wait: Duration) -> Option<Received> {
        let deadline = Instant::now() + wait;
        let mut tried = false;
        loop {
            match self.decoder.next_frame() {
                Ok(Some(f)) => return Some(Received::Frame(f)),
                Ok(None) => {}
                Err(e) => panic!("the exporter sent an undecodable stream: {e}"),
            }
            if self.closed {
                return Some(Received::Closed);
            }
            // Always read once, even with no time left, so that `wait == 0` still sees what
            // has already arrived.
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() && tried {
                return None;
            }
            tried = true;
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(10))))
                .expect("set_read_timeout");
            let mut buf = [0u8; 8192];
            match self.stream.read(&mut buf) {
                Ok(0) => self.closed = true,
                Ok(n) => self.decoder.extend(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // Reset by the exporter: it closed on us.
                Err(_) => self.closed = true,
            }
        }
    }

    /// Reads until the exporter closes the connection; returns every frame it sent before.
    /// Fails the test if the connection stays open past the patience.
    #[track_caller]
    pub fn frames_until_closed(&mut self) -> Vec<Frame> {
        let mut frames = Vec::new();
        loop {
            match self.recv() {
                Received::Frame(f) => frames.push(f),
                Received::Closed => return frames,
            }
        }
    }

    /// Every frame that arrives within `wait` (the connection may stay open).
    pub fn frames_within(&mut self, wait: Duration) -> Vec<Frame> {
        let deadline = Instant::now() + wait;
        let mut frames = Vec::new();
        while let Some(Received::Frame(f)) =
            self.recv_within(deadline.saturating_duration_since(Instant::now()))
        {
            frames.push(f);
        }
        frames
    }

    /// Whether the exporter has closed the connection (as far as seen so far).
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

/// Name of the counter a [`WellBehaved`] client keeps.
pub const GOOD_COUNTER: &str = "dawn_test_good_events_total";

/// A well-behaved client running beside a misbehaving one: after the misbehaviour, it must
/// still be able to report, and its value must show on `/metrics`.
#[derive(Debug)]
pub struct WellBehaved {
    raw: RawClient,
    node_id: String,
    value: u64,
    seq: u64,
}

impl WellBehaved {
    /// Connects as `node_id`, defines [`GOOD_COUNTER`]`{client=node_id}` and reports 1.
    #[track_caller]
    pub fn connect(exporter: &crate::support::Exporter, node_id: &str) -> WellBehaved {
        use dawn_proto::{Define, MetricKind, SeriesDef};
        let mut raw = RawClient::handshake(&exporter.socket, node_id, 1);
        raw.send(&Frame::Define(Define {
            id: 1,
            name: GOOD_COUNTER.into(),
            help: "Events of the well-behaved test client.".into(),
            kind: MetricKind::Counter,
            label_names: vec!["client".into()],
            buckets: vec![],
        }));
        raw.send(&Frame::Series(SeriesDef {
            id: 1,
            metric: 1,
            label_values: vec![node_id.into()],
        }));
        let mut c = WellBehaved {
            raw,
            node_id: node_id.to_owned(),
            value: 0,
            seq: 0,
        };
        c.bump_and_check(exporter);
        c
    }

    /// Adds one, sends the new total, and waits until `/metrics` shows it; fails the test if
    /// the exporter answered this client with anything or closed it.
    #[track_caller]
    pub fn bump_and_check(&mut self, exporter: &crate::support::Exporter) {
        use dawn_proto::{Batch, Update, Value};
        self.value += 1;
        self.seq += 1;
        self.raw.send(&Frame::Batch(Batch {
            seq: self.seq,
            updates: vec![Update {
                series: 1,
                value: Value::Counter(self.value),
            }],
        }));
        let want = self.value as f64;
        let labels = [("client", self.node_id.as_str())];
        exporter.eventually_metrics(
            &format!("{GOOD_COUNTER}{{client={:?}}} == {want}", self.node_id),
            |m| match m.get(GOOD_COUNTER, &labels) {
                Some(v) if v == want => Ok(()),
                other => Err(format!("got {other:?}")),
            },
        );
        let answers = self.raw.frames_within(Duration::ZERO);
        assert!(
            answers.is_empty() && !self.raw.is_closed(),
            "the well-behaved client {} was answered {answers:?} (closed: {})",
            self.node_id,
            self.raw.is_closed()
        );
    }

    /// Its current total.
    pub fn value(&self) -> u64 {
        self.value
    }
}

/// A label value that exercises every escape of both exposition formats.
pub const TRICKY_LABEL_VALUE: &str = "quote \" backslash \\ newline \n ünïcødé";

/// Defines every metric of the node's catalogue (`dawn_node::catalogue::ALL`) on `raw`, one series
/// each, and reports one batch: counters 7, gauges 2.5, histograms one observation per bucket
/// (`+Inf` included) summing to 12.5. The first label of `p2p_errors_total` is
/// [`TRICKY_LABEL_VALUE`]; other labels take the first value of their closed set, or `x`.
pub fn send_catalogue(raw: &mut RawClient) {
    use dawn_node::catalogue::{self, closed_labels};
    use dawn_proto::{Batch, HistogramValue, MetricKind, SeriesDef, Update, Value};
    let closed = closed_labels();
    let mut updates = Vec::new();
    for (i, spec) in catalogue::ALL.iter().enumerate() {
        let id = i as u32 + 1;
        raw.send(&Frame::Define(spec.to_define(id)));
        let label_values = spec
            .labels
            .iter()
            .enumerate()
            .map(|(j, label)| {
                let closed = closed
                    .iter()
                    .find(|c| c.metric.name == spec.name && c.label == *label);
                if spec.name == catalogue::P2P_ERRORS_TOTAL.name && j == 0 {
                    TRICKY_LABEL_VALUE.to_owned()
                } else {
                    closed
                        .and_then(|c| c.values.first())
                        .copied()
                        .unwrap_or("x")
                        .to_owned()
                }
            })
            .collect();
        raw.send(&Frame::Series(SeriesDef {
            id,
            metric: id,
            label_values,
        }));
        let value = match spec.kind {
            MetricKind::Counter => Value::Counter(7),
            MetricKind::Gauge => Value::Gauge(2.5),
            MetricKind::Histogram => Value::Histogram(HistogramValue {
                count: spec.buckets.len() as u64 + 1,
                sum: 12.5,
                buckets: vec![1; spec.buckets.len() + 1],
            }),
        };
        updates.push(Update { series: id, value });
    }
    raw.send(&Frame::Batch(Batch { seq: 1, updates }));
}
