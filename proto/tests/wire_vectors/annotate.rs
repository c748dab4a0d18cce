//! A second encoder, written from docs/wire.md rather than from bincode: it writes each field
//! as bytes plus a note saying what they mean, which is the text of a vector file.
//!
//! Its bytes must equal the real encoder's for every vector, so it is also an executable
//! check of the document: a change to the wire that is not a change here (and in the
//! document) fails the vector test even after the files are regenerated.

use dawn_proto::{
    Batch, Define, Detail, DetailValue, ErrorReport, Frame, Health, HealthStatus, Heartbeat, Hello,
    HistogramValue, MetricKind, NativeBuckets, Reject, Retire, SeriesDef, Update, Value, Welcome,
};

/// Bytes of one line of a vector file and what they mean.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Line {
    pub(crate) bytes: Vec<u8>,
    pub(crate) note: String,
}

/// Annotated bytes, built field by field; nested values are indented in the notes.
#[derive(Debug, Default)]
pub(crate) struct Notes {
    lines: Vec<Line>,
    depth: usize,
}

impl Notes {
    /// The lines written so far.
    pub(crate) fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// All bytes written so far.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        self.lines.iter().flat_map(|l| l.bytes.clone()).collect()
    }

    /// Writes `bytes` as they are, noted as `note`.
    pub(crate) fn raw(&mut self, bytes: impl Into<Vec<u8>>, note: impl AsRef<str>) {
        self.lines.push(Line {
            bytes: bytes.into(),
            note: format!("{}{}", "  ".repeat(self.depth), note.as_ref()),
        });
    }

    /// Runs `f` with its notes indented one step: the fields of a value.
    pub(crate) fn nested(&mut self, f: impl FnOnce(&mut Notes)) {
        self.depth += 1;
        f(self);
        self.depth -= 1;
    }

    /// An unsigned integer of any width (u16, u32, u64), a length or an enum tag.
    pub(crate) fn varint(&mut self, value: u64, note: impl AsRef<str>) {
        let (bytes, form) = varint(value);
        let note = match form {
            "" => note.as_ref().to_owned(),
            form => format!("{} (varint {form})", note.as_ref()),
        };
        self.raw(bytes, note);
    }

    /// A signed integer: zigzag (0, -1, 1, -2, ... → 0, 1, 2, 3, ...), then a varint.
    pub(crate) fn zigzag(&mut self, value: i64, note: impl AsRef<str>) {
        let folded = ((value << 1) ^ (value >> 63)) as u64;
        self.varint(folded, format!("{} (zigzag {folded})", note.as_ref()));
    }

    /// An `f64`: its 8 IEEE 754 bytes, little-endian.
    pub(crate) fn f64(&mut self, value: f64, note: impl AsRef<str>) {
        self.raw(
            value.to_le_bytes(),
            format!("{} (f64 bits 0x{:016x})", note.as_ref(), value.to_bits()),
        );
    }

    /// A bool: one byte, 0 or 1.
    pub(crate) fn bool(&mut self, value: bool, note: impl AsRef<str>) {
        self.raw([u8::from(value)], note);
    }

    /// A string: its UTF-8 length as a varint, then the UTF-8 bytes (one line for both).
    pub(crate) fn string(&mut self, value: &str, field: &str) {
        let shown = if value.len() > 40 {
            let shortened: String = value.chars().take(40).collect();
            format!("{shortened:?}...")
        } else {
            format!("{value:?}")
        };
        let (mut bytes, form) = varint(value.len() as u64);
        bytes.extend_from_slice(value.as_bytes());
        let length = match form {
            "" => format!("length {}", value.len()),
            form => format!("length {} as varint {form}", value.len()),
        };
        self.raw(bytes, format!("{field}: {shown} ({length}, then UTF-8)"));
    }

    /// A vector's length: a varint, then the items follow.
    pub(crate) fn len(&mut self, len: usize, field: &str) {
        let items = if len == 1 { "item" } else { "items" };
        self.varint(len as u64, format!("{field}: {len} {items}"));
    }

    /// An enum's variant index, a varint.
    pub(crate) fn tag(&mut self, index: u32, enum_name: &str, variant: &str) {
        self.varint(
            u64::from(index),
            format!("{enum_name} tag {index}: {variant}"),
        );
    }
}

/// The varint bytes of `value`, and the form used (empty for one byte).
fn varint(value: u64) -> (Vec<u8>, &'static str) {
    let mut bytes = Vec::new();
    let form = if value < 251 {
        bytes.push(value as u8);
        ""
    } else if let Ok(v) = u16::try_from(value) {
        bytes.push(0xfb);
        bytes.extend_from_slice(&v.to_le_bytes());
        "fb + u16 LE"
    } else if let Ok(v) = u32::try_from(value) {
        bytes.push(0xfc);
        bytes.extend_from_slice(&v.to_le_bytes());
        "fc + u32 LE"
    } else {
        bytes.push(0xfd);
        bytes.extend_from_slice(&value.to_le_bytes());
        "fd + u64 LE"
    };
    (bytes, form)
}

/// The tag and name of each `Frame` variant, in wire order.
pub(crate) const FRAME_TAGS: [&str; 12] = [
    "Hello",
    "Welcome",
    "Reject",
    "Define",
    "Series",
    "Batch",
    "Health",
    "Ready",
    "Heartbeat",
    "Retire",
    "Error",
    "Goodbye",
];

/// The tag of `frame`'s variant.
pub(crate) fn frame_tag(frame: &Frame) -> u32 {
    match frame {
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

/// Writes the body of `frame` (without the length prefix).
pub(crate) fn frame(n: &mut Notes, frame: &Frame) {
    let tag = frame_tag(frame);
    n.tag(tag, "Frame", FRAME_TAGS[tag as usize]);
    n.nested(|n| match frame {
        Frame::Hello(h) => hello(n, h),
        Frame::Welcome(w) => welcome(n, w),
        Frame::Reject(r) => reject(n, r),
        Frame::Define(d) => define(n, d),
        Frame::Series(s) => series(n, s),
        Frame::Batch(b) => batch(n, b),
        Frame::Health(h) => health(n, h),
        Frame::Ready(ready) => n.bool(*ready, format!("ready: {ready}")),
        Frame::Heartbeat(h) => heartbeat(n, h),
        Frame::Retire(r) => retire(n, r),
        Frame::Error(e) => error(n, e),
        Frame::Goodbye => {}
    });
}

fn hello(n: &mut Notes, h: &Hello) {
    let ascii = String::from_utf8_lossy(&h.magic.to_be_bytes()).into_owned();
    n.varint(
        u64::from(h.magic),
        format!("magic: 0x{:08x} = {ascii:?} as a big-endian u32", h.magic),
    );
    n.varint(
        u64::from(h.min_version),
        format!("min_version: {}", h.min_version),
    );
    n.varint(
        u64::from(h.max_version),
        format!("max_version: {}", h.max_version),
    );
    n.string(&h.client_name, "client_name");
    n.string(&h.client_version, "client_version");
    n.string(&h.node_id, "node_id");
    n.varint(h.incarnation, format!("incarnation: {}", h.incarnation));
    n.varint(u64::from(h.pid), format!("pid: {}", h.pid));
    n.varint(
        u64::from(h.flush_interval_ms),
        format!("flush_interval_ms: {}", h.flush_interval_ms),
    );
}

fn welcome(n: &mut Notes, w: &Welcome) {
    n.varint(u64::from(w.version), format!("version: {}", w.version));
    n.string(&w.server, "server");
}

fn reject(n: &mut Notes, r: &Reject) {
    n.string(&r.reason, "reason");
}

fn define(n: &mut Notes, d: &Define) {
    n.varint(u64::from(d.id), format!("id: {}", d.id));
    n.string(&d.name, "name");
    n.string(&d.help, "help");
    let (tag, kind) = match d.kind {
        MetricKind::Counter => (0, "Counter"),
        MetricKind::Gauge => (1, "Gauge"),
        MetricKind::Histogram => (2, "Histogram"),
    };
    n.tag(tag, "kind: MetricKind", kind);
    n.len(d.label_names.len(), "label_names");
    n.nested(|n| {
        for (i, label) in d.label_names.iter().enumerate() {
            n.string(label, &format!("[{i}]"));
        }
    });
    n.len(d.buckets.len(), "buckets");
    n.nested(|n| {
        for (i, bound) in d.buckets.iter().enumerate() {
            n.f64(*bound, format!("[{i}]: {bound:?}"));
        }
    });
}

fn series(n: &mut Notes, s: &SeriesDef) {
    n.varint(u64::from(s.id), format!("id: {}", s.id));
    n.varint(u64::from(s.metric), format!("metric: {}", s.metric));
    n.len(s.label_values.len(), "label_values");
    n.nested(|n| {
        for (i, value) in s.label_values.iter().enumerate() {
            n.string(value, &format!("[{i}]"));
        }
    });
}

fn batch(n: &mut Notes, b: &Batch) {
    n.varint(b.seq, format!("seq: {}", b.seq));
    n.len(b.updates.len(), "updates");
    n.nested(|n| {
        for (i, u) in b.updates.iter().enumerate() {
            update(n, i, u);
        }
    });
}

fn update(n: &mut Notes, i: usize, u: &Update) {
    n.varint(u64::from(u.series), format!("[{i}] series: {}", u.series));
    n.nested(|n| match &u.value {
        Value::Counter(total) => {
            n.tag(0, "value: Value", "Counter");
            n.nested(|n| n.varint(*total, format!("total: {total}")));
        }
        Value::Gauge(v) => {
            n.tag(1, "value: Value", "Gauge");
            n.nested(|n| n.f64(*v, format!("value: {v:?}")));
        }
        Value::Histogram(h) => {
            n.tag(2, "value: Value", "Histogram");
            n.nested(|n| histogram(n, h));
        }
        Value::NativeHistogram(v) => {
            n.tag(3, "value: Value", "NativeHistogram");
            n.nested(|n| {
                histogram(n, &v.classic);
                native(n, &v.native);
            });
        }
    });
}

fn native(n: &mut Notes, b: &NativeBuckets) {
    n.zigzag(i64::from(b.schema), format!("schema: {}", b.schema));
    n.f64(
        b.zero_threshold,
        format!("zero_threshold: {:?}", b.zero_threshold),
    );
    n.varint(b.zero_count, format!("zero_count: {}", b.zero_count));
    for (sign, spans, counts) in [
        ("positive", &b.positive_spans, &b.positive_counts),
        ("negative", &b.negative_spans, &b.negative_counts),
    ] {
        n.len(spans.len(), &format!("{sign}_spans"));
        n.nested(|n| {
            for (i, s) in spans.iter().enumerate() {
                n.zigzag(i64::from(s.offset), format!("[{i}] offset: {}", s.offset));
                n.varint(u64::from(s.length), format!("[{i}] length: {}", s.length));
            }
        });
        n.len(counts.len(), &format!("{sign}_counts"));
        n.nested(|n| {
            for (i, c) in counts.iter().enumerate() {
                n.varint(*c, format!("[{i}]: {c}"));
            }
        });
    }
}

fn histogram(n: &mut Notes, h: &HistogramValue) {
    n.varint(h.count, format!("count: {}", h.count));
    n.f64(h.sum, format!("sum: {:?}", h.sum));
    n.len(
        h.buckets.len(),
        "buckets (per bucket, not cumulative; the last is +Inf)",
    );
    n.nested(|n| {
        for (i, count) in h.buckets.iter().enumerate() {
            n.varint(*count, format!("[{i}]: {count}"));
        }
    });
}

fn health(n: &mut Notes, h: &Health) {
    n.string(&h.check, "check");
    let (tag, status) = match h.status {
        HealthStatus::Healthy => (0, "Healthy"),
        HealthStatus::Degraded => (1, "Degraded"),
        HealthStatus::Unhealthy => (2, "Unhealthy"),
    };
    n.tag(tag, "status: HealthStatus", status);
    n.string(&h.message, "message");
    n.len(h.details.len(), "details");
    n.nested(|n| {
        for (i, d) in h.details.iter().enumerate() {
            detail(n, i, d);
        }
    });
}

fn detail(n: &mut Notes, i: usize, d: &Detail) {
    n.string(&d.key, &format!("[{i}] key"));
    n.nested(|n| match &d.value {
        DetailValue::Text(t) => {
            n.tag(0, "value: DetailValue", "Text");
            n.nested(|n| n.string(t, "text"));
        }
        DetailValue::Int(v) => {
            n.tag(1, "value: DetailValue", "Int");
            n.nested(|n| n.zigzag(*v, format!("int: {v}")));
        }
        DetailValue::Float(v) => {
            n.tag(2, "value: DetailValue", "Float");
            n.nested(|n| n.f64(*v, format!("float: {v:?}")));
        }
        DetailValue::Bool(v) => {
            n.tag(3, "value: DetailValue", "Bool");
            n.nested(|n| n.bool(*v, format!("bool: {v}")));
        }
    });
}

fn heartbeat(n: &mut Notes, h: &Heartbeat) {
    n.varint(h.uptime_ms, format!("uptime_ms: {}", h.uptime_ms));
    n.varint(h.dropped, format!("dropped: {}", h.dropped));
}

fn retire(n: &mut Notes, r: &Retire) {
    n.len(r.series.len(), "series");
    n.nested(|n| {
        for (i, id) in r.series.iter().enumerate() {
            n.varint(u64::from(*id), format!("[{i}]: {id}"));
        }
    });
}

fn error(n: &mut Notes, e: &ErrorReport) {
    n.string(&e.reason, "reason");
    n.string(&e.message, "message");
}
