//! The messages that travel on the telemetry socket.

use bincode::{Decode, Encode};

/// One message on the telemetry socket, in either direction.
///
/// The client (a node) sends everything but [`Frame::Welcome`], [`Frame::Reject`] and
/// [`Frame::Error`], which are the exporter's answers.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub enum Frame {
    /// First frame of every connection, client → exporter.
    Hello(Hello),
    /// Handshake accepted, with the protocol version both sides will speak.
    Welcome(Welcome),
    /// Handshake or session refused; the exporter closes the connection after sending it.
    Reject(Reject),
    /// Defines a metric family once per connection.
    Define(Define),
    /// Defines one label set of a metric once per connection.
    Series(SeriesDef),
    /// Cumulative values of the series that changed since the last flush.
    Batch(Batch),
    /// Status of one of the node's health checks.
    Health(Health),
    /// Whether the node is ready to serve.
    Ready(bool),
    /// Sent every flush so the exporter can tell a live node from a silent one.
    Heartbeat(Heartbeat),
    /// Series the client no longer keeps (expired label sets, e.g. of departed peers).
    Retire(Retire),
    /// A non-fatal problem with something the client sent; the session goes on.
    Error(ErrorReport),
    /// Clean shutdown of the client.
    Goodbye,
}

impl Frame {
    /// The name of every frame kind, in variant order: `KIND_NAMES[f.kind_index()]` is
    /// `f.kind_name()`. A consumer counting frames by kind (the exporter's
    /// `dawn_exporter_frames_total{kind}`) sizes and labels its counters from this list.
    pub const KIND_NAMES: [&'static str; 12] = [
        "hello",
        "welcome",
        "reject",
        "define",
        "series",
        "batch",
        "health",
        "ready",
        "heartbeat",
        "retire",
        "error",
        "goodbye",
    ];

    /// Position of the frame's kind in [`Frame::KIND_NAMES`] (its variant's position).
    pub fn kind_index(&self) -> usize {
        match self {
            Frame::Hello(_) => 0,
            Frame::Welcome(_) => 1,
            Frame::Reject(_) => 2,
            Frame::Define(_) => 3,
            Frame::Series(_) => 4,
            Frame::Batch(_) => 5,
            Frame::Health(_) => 6,
            Frame::Ready(_) => 7,
            Frame::Heartbeat(_) => 8,
            Frame::Retire(_) => 9,
            Frame::Error(_) => 10,
            Frame::Goodbye => 11,
        }
    }

    /// Short, stable name of the frame's kind, for logs and metric labels.
    pub fn kind_name(&self) -> &'static str {
        Self::KIND_NAMES[self.kind_index()]
    }
}

/// The client's introduction; see [`crate::negotiate`].
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Hello {
    /// Must be [`crate::MAGIC`]; anything else is not a Dawn client.
    pub magic: u32,
    /// Oldest protocol version the client can speak.
    pub min_version: u16,
    /// Newest protocol version the client can speak.
    pub max_version: u16,
    /// Program name, e.g. `dawn-node`.
    pub client_name: String,
    /// Program version, exported as `dawn_node_build_info`.
    pub client_version: String,
    /// The node's id; with `client_name` it keys the client's series in the exporter.
    pub node_id: String,
    /// Random per process start: a new incarnation is a genuine counter reset.
    pub incarnation: u64,
    /// Client process id, for logs.
    pub pid: u32,
    /// How often the client flushes; the exporter derives staleness from it.
    pub flush_interval_ms: u32,
}

impl Hello {
    /// A `Hello` offering every version this crate supports.
    pub fn new(
        client_name: impl Into<String>,
        client_version: impl Into<String>,
        node_id: impl Into<String>,
        incarnation: u64,
        pid: u32,
        flush_interval_ms: u32,
    ) -> Self {
        Hello {
            magic: crate::MAGIC,
            min_version: crate::MIN_SUPPORTED_VERSION,
            max_version: crate::MAX_SUPPORTED_VERSION,
            client_name: client_name.into(),
            client_version: client_version.into(),
            node_id: node_id.into(),
            incarnation,
            pid,
            flush_interval_ms,
        }
    }
}

/// The exporter's acceptance of a [`Hello`].
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Welcome {
    /// The negotiated protocol version.
    pub version: u16,
    /// Exporter name and version, for the client's logs.
    pub server: String,
}

/// Why the exporter refuses the session; it closes the connection after this frame.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Reject {
    /// One human-readable line naming the problem.
    pub reason: String,
}

/// Kind of a metric family, as in Prometheus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
pub enum MetricKind {
    /// Monotonic count; the name must end in `_total`.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Observations counted into fixed buckets.
    Histogram,
}

impl MetricKind {
    /// The Prometheus `# TYPE` word.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// Definition of a metric family; sent once per connection before any of its series.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub struct Define {
    /// Connection-local id that [`SeriesDef::metric`] refers to.
    pub id: u32,
    /// Prometheus metric name.
    pub name: String,
    /// `# HELP` text.
    pub help: String,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// Label names, in the order [`SeriesDef::label_values`] gives values.
    pub label_names: Vec<String>,
    /// Histogram upper bounds, strictly increasing and finite (`+Inf` is implied); empty for
    /// other kinds.
    pub buckets: Vec<f64>,
}

/// One label set of a metric; sent once per connection before its first update.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct SeriesDef {
    /// Connection-local id that [`Update::series`] refers to.
    pub id: u32,
    /// The [`Define::id`] of its metric.
    pub metric: u32,
    /// One value per label name of the metric, in the same order.
    pub label_values: Vec<String>,
}

/// Cumulative values of changed series; resending a batch is harmless.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub struct Batch {
    /// Increases by one per batch within a connection.
    pub seq: u64,
    /// The changed series and their current totals.
    pub updates: Vec<Update>,
}

/// The current total of one series.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub struct Update {
    /// A [`SeriesDef::id`] of this connection.
    pub series: u32,
    /// The series' cumulative value.
    pub value: Value,
}

/// A cumulative value, matching the kind of the series' metric.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub enum Value {
    /// Total count since the client's incarnation began.
    Counter(u64),
    /// Current value.
    Gauge(f64),
    /// Histogram state since the client's incarnation began.
    Histogram(HistogramValue),
    /// Histogram state with native (exponential) buckets beside the classic ones; protocol
    /// version 2 and later only (`Value` tag 3). Boxed so that the other values stay small:
    /// a batch claims the size of a whole [`Update`] per update from the decode limit.
    NativeHistogram(Box<NativeHistogramValue>),
}

/// A histogram with both bucket layouts (`Value` tag 3, protocol version 2): the classic
/// part exactly as tag 2 carries it, then the native part in Prometheus' own form.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub struct NativeHistogramValue {
    /// Count, sum and classic buckets, as [`Value::Histogram`] carries them.
    pub classic: HistogramValue,
    /// The same observations counted in native buckets.
    pub native: NativeBuckets,
}

/// The native buckets of a histogram, cumulative since the client's incarnation began, as
/// Prometheus' protobuf exposition lays them out except that bucket counts are absolute
/// (not deltas): bucket `k` holds the values `v` with `2^((k-1)/2^schema) < |v| <=
/// 2^(k/2^schema)`, spans give the keys of the counts that follow.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub struct NativeBuckets {
    /// Resolution: `2^schema` buckets per power of two, -4 to 8.
    pub schema: i32,
    /// Values with `|v|` at most this count in the zero bucket; finite, at least 0.
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    pub zero_count: u64,
    /// Runs of consecutive keys of the positive buckets, in increasing key order.
    pub positive_spans: Vec<BucketSpan>,
    /// One count per key of `positive_spans`, in order.
    pub positive_counts: Vec<u64>,
    /// Runs of consecutive keys of the negative buckets (keyed by `|v|`).
    pub negative_spans: Vec<BucketSpan>,
    /// One count per key of `negative_spans`, in order.
    pub negative_counts: Vec<u64>,
}

/// A run of `length` consecutive bucket keys: the first span's first key is its `offset`,
/// a later span's first key is `offset` after the previous span's last key plus one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct BucketSpan {
    /// Key of the first bucket (first span) or gap after the previous span (later spans).
    pub offset: i32,
    /// Number of consecutive keys, at least 1.
    pub length: u32,
}

/// Cumulative histogram state.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub struct HistogramValue {
    /// Number of observations; equals the sum of `buckets`.
    pub count: u64,
    /// Sum of the observed values.
    pub sum: f64,
    /// Observations per bucket (not cumulative): one per bound of the metric, then one for
    /// `+Inf`.
    pub buckets: Vec<u64>,
}

/// Health status, ordered from best to worst so that the worst of several is their `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub enum HealthStatus {
    /// Working as intended.
    Healthy,
    /// Working, but with reduced capacity or redundancy.
    Degraded,
    /// Not doing its job.
    Unhealthy,
}

impl HealthStatus {
    /// The word used in health JSON: `healthy`, `degraded` or `unhealthy`.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }

    /// Numeric value for `dawn_health_check_status`: 0 healthy, 1 degraded, 2 unhealthy.
    pub fn as_gauge(self) -> f64 {
        match self {
            HealthStatus::Healthy => 0.0,
            HealthStatus::Degraded => 1.0,
            HealthStatus::Unhealthy => 2.0,
        }
    }
}

/// Result of one of the node's health checks.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub struct Health {
    /// Check name, e.g. `peers`.
    pub check: String,
    /// Its status.
    pub status: HealthStatus,
    /// One line explaining the status.
    pub message: String,
    /// Facts behind the status, rendered as a JSON object.
    pub details: Vec<Detail>,
}

/// One fact in a health check's details.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub struct Detail {
    /// JSON key.
    pub key: String,
    /// JSON value.
    pub value: DetailValue,
}

/// A JSON scalar.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub enum DetailValue {
    /// A string.
    Text(String),
    /// An integer.
    Int(i64),
    /// A number; non-finite values render as `null`.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

/// Sent every flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct Heartbeat {
    /// Time since the client process started, in milliseconds.
    pub uptime_ms: u64,
    /// Cumulative count of records the client could not keep on their own series (folded into
    /// an overflow series by a series cap, or dropped), since its incarnation began.
    pub dropped: u64,
}

/// Series ids the client has forgotten; the exporter stops exposing them.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Retire {
    /// [`SeriesDef::id`]s of this connection.
    pub series: Vec<u32>,
}

/// A non-fatal problem with what the client sent.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct ErrorReport {
    /// Stable machine-readable reason, as used in the exporter's `reason` labels.
    pub reason: String,
    /// One human-readable line naming the metric, series or frame concerned.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One frame of every kind, in variant order.
    fn one_of_each() -> Vec<Frame> {
        vec![
            Frame::Hello(Hello::new("c", "1", "n", 1, 2, 3)),
            Frame::Welcome(Welcome {
                version: 1,
                server: "s".into(),
            }),
            Frame::Reject(Reject { reason: "r".into() }),
            Frame::Define(Define {
                id: 0,
                name: "g".into(),
                help: "h".into(),
                kind: MetricKind::Gauge,
                label_names: vec![],
                buckets: vec![],
            }),
            Frame::Series(SeriesDef {
                id: 0,
                metric: 0,
                label_values: vec![],
            }),
            Frame::Batch(Batch {
                seq: 0,
                updates: vec![],
            }),
            Frame::Health(Health {
                check: "c".into(),
                status: HealthStatus::Healthy,
                message: String::new(),
                details: vec![],
            }),
            Frame::Ready(true),
            Frame::Heartbeat(Heartbeat {
                uptime_ms: 0,
                dropped: 0,
            }),
            Frame::Retire(Retire { series: vec![] }),
            Frame::Error(ErrorReport {
                reason: "r".into(),
                message: "m".into(),
            }),
            Frame::Goodbye,
        ]
    }

    #[test]
    fn kind_index_is_the_variant_tag_and_names_are_distinct() {
        let frames = one_of_each();
        assert_eq!(frames.len(), Frame::KIND_NAMES.len());
        for (i, frame) in frames.iter().enumerate() {
            assert_eq!(frame.kind_index(), i, "{frame:?}");
            let mut wire = Vec::new();
            crate::encode_frame(frame, &mut wire).expect("encodes");
            // The body's first byte is bincode's variant tag (a one-byte varint below 251).
            assert_eq!(
                wire.get(crate::LENGTH_PREFIX_LEN),
                Some(&(i as u8)),
                "{frame:?}"
            );
        }
        let mut names = Frame::KIND_NAMES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Frame::KIND_NAMES.len());
    }
}
