//! A minimal telemetry client written against the wire contract alone: it keeps cumulative
//! totals, and after every reconnect resends its handshake, definitions and a full snapshot,
//! as docs/wire.md says every client must. The end-to-end tests use it where they need many
//! independent clients or exact control over when flushes happen.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use dawn_proto::{
    Batch, Define, Frame, Hello, HistogramValue, MetricKind, SeriesDef, Update, Value, encode_frame,
};
use std::io::Write;

/// Bucket bounds of [`ResyncClient`]'s histogram.
pub const BOUNDS: &[f64] = &[0.5, 1.0, 2.5];

/// A client with one counter and one histogram, both labelled `client=<node id>`.
#[derive(Debug)]
pub struct ResyncClient {
    socket: PathBuf,
    hello: Hello,
    counter_name: String,
    histogram_name: String,
    stream: Option<UnixStream>,
    seq: u64,
    counter: u64,
    hist: HistogramValue,
    /// Connections made so far.
    pub connects: u32,
}

impl ResyncClient {
    /// A client for `socket` as `node_id`, recording into `counter_name` (a `_total` name)
    /// and `histogram_name`. Connects lazily, on the first flush.
    pub fn new(socket: &Path, node_id: &str, counter_name: &str, histogram_name: &str) -> Self {
        ResyncClient {
            socket: socket.to_owned(),
            hello: Hello::new(
                "dawn-tests",
                "0.0.0-test",
                node_id,
                7,
                std::process::id(),
                100,
            ),
            counter_name: counter_name.to_owned(),
            histogram_name: histogram_name.to_owned(),
            stream: None,
            seq: 0,
            counter: 0,
            hist: HistogramValue {
                count: 0,
                sum: 0.0,
                buckets: vec![0; BOUNDS.len() + 1],
            },
            connects: 0,
        }
    }

    /// Counts `n` events.
    pub fn count(&mut self, n: u64) {
        self.counter += n;
    }

    /// Observes `v`.
    pub fn observe(&mut self, v: f64) {
        let i = BOUNDS.iter().position(|b| v <= *b).unwrap_or(BOUNDS.len());
        self.hist.buckets[i] += 1;
        self.hist.count += 1;
        self.hist.sum += v;
    }

    /// The counter's total.
    pub fn counter_total(&self) -> u64 {
        self.counter
    }

    /// The histogram's state.
    pub fn histogram(&self) -> &HistogramValue {
        &self.hist
    }

    fn define_frames(&self) -> Vec<Frame> {
        let label = vec![self.hello.node_id.clone()];
        vec![
            Frame::Define(Define {
                id: 1,
                name: self.counter_name.clone(),
                help: "Events counted by a test client.".into(),
                kind: MetricKind::Counter,
                label_names: vec!["client".into()],
                buckets: vec![],
            }),
            Frame::Define(Define {
                id: 2,
                name: self.histogram_name.clone(),
                help: "Values observed by a test client.".into(),
                kind: MetricKind::Histogram,
                label_names: vec!["client".into()],
                buckets: BOUNDS.to_vec(),
            }),
            Frame::Series(SeriesDef {
                id: 1,
                metric: 1,
                label_values: label.clone(),
            }),
            Frame::Series(SeriesDef {
                id: 2,
                metric: 2,
                label_values: label,
            }),
        ]
    }

    /// Sends the current totals, (re)connecting first if needed. Returns whether the bytes
    /// were written; a failure drops the connection, and the next flush resyncs. A write can
    /// succeed into a dead exporter's buffer: cumulative values make that harmless.
    pub fn flush(&mut self) -> bool {
        let mut bytes = Vec::new();
        if self.stream.is_none() {
            let Ok(stream) = UnixStream::connect(&self.socket) else {
                return false;
            };
            self.stream = Some(stream);
            self.connects += 1;
            self.seq = 0;
            let _ = encode_frame(&Frame::Hello(self.hello.clone()), &mut bytes);
            for f in self.define_frames() {
                let _ = encode_frame(&f, &mut bytes);
            }
        }
        self.seq += 1;
        let batch = Frame::Batch(Batch {
            seq: self.seq,
            updates: vec![
                Update {
                    series: 1,
                    value: Value::Counter(self.counter),
                },
                Update {
                    series: 2,
                    value: Value::Histogram(self.hist.clone()),
                },
            ],
        });
        let _ = encode_frame(&batch, &mut bytes);
        let _ = encode_frame(
            &Frame::Heartbeat(dawn_proto::Heartbeat {
                uptime_ms: 1,
                dropped: 0,
            }),
            &mut bytes,
        );
        let ok = self
            .stream
            .as_mut()
            .is_some_and(|s| s.write_all(&bytes).is_ok());
        if !ok {
            self.stream = None;
        }
        ok
    }
}

/// Fails the test unless `/metrics` shows exactly `client`'s totals, labelled
/// `client=<node_id>`.
pub fn check_totals(m: &crate::support::Exposition, client: &ResyncClient) -> Result<(), String> {
    let labels = [("client", client.hello.node_id.as_str())];
    let got = m.get(&client.counter_name, &labels);
    let want = client.counter_total() as f64;
    if got != Some(want) {
        return Err(format!(
            "{} {labels:?} is {got:?}, want {want}",
            client.counter_name
        ));
    }
    check_histogram(
        m,
        &client.histogram_name,
        &labels,
        BOUNDS,
        &client.hist.buckets,
        client.hist.sum,
    )
}

/// Checks histogram `name` with `labels` on `/metrics`: `_count`, `_sum` (exactly) and every
/// cumulative `_bucket`, given the per-bucket counts (`bounds` plus `+Inf`).
pub fn check_histogram(
    m: &crate::support::Exposition,
    name: &str,
    labels: &[(&str, &str)],
    bounds: &[f64],
    buckets: &[u64],
    sum: f64,
) -> Result<(), String> {
    let count: u64 = buckets.iter().sum();
    let got_count = m.get(&format!("{name}_count"), labels);
    let got_sum = m.get(&format!("{name}_sum"), labels);
    if got_count != Some(count as f64) || got_sum != Some(sum) {
        return Err(format!(
            "{name}{labels:?} count {got_count:?} sum {got_sum:?}, want {count} and {sum}"
        ));
    }
    let mut cumulative = 0;
    for (i, n) in buckets.iter().enumerate() {
        cumulative += n;
        let le = match bounds.get(i) {
            Some(b) => le_text(*b),
            None => "+Inf".to_owned(),
        };
        let mut with_le = labels.to_vec();
        with_le.push(("le", le.as_str()));
        let got = m.get(&format!("{name}_bucket"), &with_le);
        if got != Some(cumulative as f64) {
            return Err(format!(
                "{name}_bucket{with_le:?} is {got:?}, want {cumulative}"
            ));
        }
    }
    Ok(())
}

/// How the text format writes a bucket bound (Go's `%g`-like shortest form, as client_golang
/// and the Prometheus text format do: `0.5`, `1`, `2.5`).
pub fn le_text(b: f64) -> String {
    let s = format!("{b}");
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}
