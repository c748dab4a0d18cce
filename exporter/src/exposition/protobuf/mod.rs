//! The Prometheus protobuf exposition: length-delimited `io.prometheus.client.MetricFamily`
//! messages (client_model's `metrics.proto`), the format Prometheus asks for first when its
//! native histograms are on.
//!
//! The types are prost's, generated from `exporter/client_model/metrics.proto` and checked in
//! as `client_model.rs` (exporter/client_model/README.md gives the command that regenerates
//! them), so a build needs neither `protoc` nor a build script. The store is walked once,
//! through the same [`SeriesWriter`] calls as the text formats: names, help, labels and
//! values come from the one place both formats read.
//!
//! A family is written as it is walked: its header, then each series' `Metric` as field 4,
//! into one buffer that is length-prefixed into the output when the next family opens, so no
//! family's `Metric` structs are ever held together.

#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
mod client_model;

use prost::Message;

pub(crate) use client_model::io_prometheus_client as pb;

use super::escape::parse_labels;
use super::{BucketBounds, ClassicPart, FamilyKind, NativeBuckets, SeriesWriter};

/// The `Content-Type` of a protobuf exposition, as client_golang writes it.
pub(crate) const CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// `MetricFamily.metric`'s field number.
const METRIC_FIELD: u32 = 4;

/// Appends delimited `MetricFamily` messages to a buffer.
#[derive(Debug)]
pub(crate) struct ProtoEncoder<'a> {
    out: &'a mut Vec<u8>,
    /// The open family's message so far; empty when none is open.
    family: Vec<u8>,
}

impl<'a> ProtoEncoder<'a> {
    /// An encoder appending to `out`.
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        ProtoEncoder {
            out,
            family: Vec::new(),
        }
    }

    /// Writes the open family, length-prefixed, to the output.
    fn close_family(&mut self) {
        if self.family.is_empty() {
            return;
        }
        prost::encoding::encode_varint(self.family.len() as u64, self.out);
        self.out.extend_from_slice(&self.family);
        self.family.clear();
    }

    /// Opens a family (closing the one before): its name, help and type.
    fn open_family(&mut self, name: &str, help: &str, kind: pb::MetricType) {
        self.close_family();
        let header = pb::MetricFamily {
            name: Some(name.to_owned()),
            help: Some(help.to_owned()),
            r#type: Some(kind as i32),
            metric: Vec::new(),
            unit: None,
        };
        self.family = header.encode_to_vec();
    }

    /// Adds a series to the open family.
    fn metric(&mut self, metric: &pb::Metric) {
        prost::encoding::message::encode(METRIC_FIELD, metric, &mut self.family);
    }

    /// Ends the exposition: writes the family still open.
    pub(crate) fn finish(mut self) {
        self.close_family();
    }
}

fn metric_type(kind: FamilyKind) -> pb::MetricType {
    match kind {
        FamilyKind::Counter => pb::MetricType::Counter,
        FamilyKind::Gauge => pb::MetricType::Gauge,
        FamilyKind::Histogram => pb::MetricType::Histogram,
        FamilyKind::Summary => pb::MetricType::Summary,
        FamilyKind::Unknown => pb::MetricType::Untyped,
    }
}

fn label_pair(name: &str, value: String) -> pb::LabelPair {
    pb::LabelPair {
        name: Some(name.to_owned()),
        value: Some(value),
    }
}

/// The label pairs of a series from the labels the store rendered for it.
fn labels(rendered: &str) -> Vec<pb::LabelPair> {
    parse_labels(rendered)
        .into_iter()
        .map(|(name, value)| label_pair(name, value))
        .collect()
}

impl SeriesWriter for ProtoEncoder<'_> {
    fn family(&mut self, name: &str, help: &str, kind: FamilyKind) {
        self.open_family(name, help, metric_type(kind));
    }

    fn counter(&mut self, _name: &str, labels: &str, value: u64) {
        self.metric(&pb::Metric {
            label: self::labels(labels),
            counter: Some(pb::Counter {
                value: Some(value as f64),
                ..Default::default()
            }),
            ..Default::default()
        });
    }

    fn gauge(&mut self, _name: &str, labels: &str, value: f64) {
        self.metric(&pb::Metric {
            label: self::labels(labels),
            gauge: Some(pb::Gauge { value: Some(value) }),
            ..Default::default()
        });
    }

    fn histogram(
        &mut self,
        _name: &str,
        labels: &str,
        bounds: Option<&BucketBounds>,
        per_bucket: &[u64],
        count: u64,
        sum: f64,
    ) {
        let metric = classic_metric(labels, (bounds, per_bucket, count, sum));
        self.metric(&metric);
    }

    /// The classic buckets and the native ones in one `Histogram`, as client_golang writes
    /// a histogram that has both.
    fn native_histogram(
        &mut self,
        _name: &str,
        labels: &str,
        classic: ClassicPart<'_>,
        native: NativeBuckets<'_>,
    ) {
        let mut metric = classic_metric(labels, classic);
        if let Some(h) = metric.histogram.as_mut() {
            let (positive_span, positive_delta) = spans_and_deltas(native.positive);
            let (negative_span, negative_delta) = spans_and_deltas(native.negative);
            h.schema = Some(native.schema);
            h.zero_threshold = Some(native.zero_threshold);
            h.zero_count = Some(native.zero_count);
            (h.positive_span, h.positive_delta) = (positive_span, positive_delta);
            (h.negative_span, h.negative_delta) = (negative_span, negative_delta);
        }
        self.metric(&metric);
    }
}

/// Spans and count deltas of ascending `(key, count)` buckets, as Prometheus reads them: a
/// span per run of consecutive keys (the first at its key, each later one at its gap after
/// the run before), the first count itself and then each one's difference from the one
/// before.
fn spans_and_deltas(buckets: &[(i32, u64)]) -> (Vec<pb::BucketSpan>, Vec<i64>) {
    let mut spans: Vec<pb::BucketSpan> = Vec::new();
    let mut next: Option<i32> = None;
    let (mut deltas, mut previous) = (Vec::with_capacity(buckets.len()), 0i64);
    for &(key, count) in buckets {
        match (next, spans.last_mut()) {
            (Some(n), Some(last)) if n == key => {
                last.length = Some(last.length.unwrap_or(0) + 1);
            }
            _ => spans.push(pb::BucketSpan {
                offset: Some(next.map_or(key, |n| key - n)),
                length: Some(1),
            }),
        }
        next = Some(key + 1);
        // A count fits an i64 in any histogram that can exist; the wrapping difference is
        // what the reader's wrapping sum undoes.
        let count = count as i64;
        deltas.push(count.wrapping_sub(previous));
        previous = count;
    }
    (spans, deltas)
}

/// A histogram `Metric` with its classic buckets.
fn classic_metric(labels: &str, classic: ClassicPart<'_>) -> pb::Metric {
    let (bounds, per_bucket, count, sum) = classic;
    {
        // The finite bounds only: the `+Inf` bucket is the count, which is how client_golang
        // writes it and how Prometheus reads it.
        let bounds = bounds.map_or(&[][..], BucketBounds::bounds);
        let mut cumulative = 0u64;
        let bucket = bounds
            .iter()
            .zip(per_bucket)
            .map(|(bound, n)| {
                cumulative = cumulative.saturating_add(*n);
                pb::Bucket {
                    cumulative_count: Some(cumulative),
                    upper_bound: Some(*bound),
                    ..Default::default()
                }
            })
            .collect();
        pb::Metric {
            label: self::labels(labels),
            histogram: Some(pb::Histogram {
                sample_count: Some(count),
                sample_sum: Some(sum),
                bucket,
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// Writes `families` as a `prometheus::Registry` gathers them (the exporter's own metrics),
/// with the names, types and values [`super::encode_families`] writes as text.
pub(crate) fn encode_registry(
    encoder: &mut ProtoEncoder<'_>,
    families: &[prometheus::proto::MetricFamily],
) {
    use prometheus::proto::MetricType as Registry;
    for mf in families {
        if mf.get_metric().is_empty() {
            continue;
        }
        let kind = match mf.get_field_type() {
            Registry::COUNTER => pb::MetricType::Counter,
            Registry::GAUGE => pb::MetricType::Gauge,
            Registry::HISTOGRAM => pb::MetricType::Histogram,
            Registry::SUMMARY => pb::MetricType::Summary,
            Registry::UNTYPED => pb::MetricType::Untyped,
        };
        encoder.open_family(mf.name(), mf.help(), kind);
        for m in mf.get_metric() {
            let mut metric = pb::Metric {
                label: m
                    .get_label()
                    .iter()
                    .map(|lp| label_pair(lp.name(), lp.value().to_owned()))
                    .collect(),
                ..Default::default()
            };
            match kind {
                pb::MetricType::Counter => {
                    metric.counter = Some(pb::Counter {
                        value: Some(m.get_counter().get_value()),
                        ..Default::default()
                    });
                }
                pb::MetricType::Gauge => {
                    metric.gauge = Some(pb::Gauge {
                        value: Some(m.get_gauge().get_value()),
                    });
                }
                pb::MetricType::Untyped => {
                    // As in `encode_families`: the accessor exists for protobuf, which this is.
                    #[allow(deprecated)]
                    let value = m.get_untyped().get_value();
                    metric.untyped = Some(pb::Untyped { value: Some(value) });
                }
                pb::MetricType::Histogram | pb::MetricType::GaugeHistogram => {
                    let h = m.get_histogram();
                    metric.histogram = Some(pb::Histogram {
                        sample_count: Some(h.get_sample_count()),
                        sample_sum: Some(h.get_sample_sum()),
                        bucket: h
                            .get_bucket()
                            .iter()
                            .map(|b| pb::Bucket {
                                cumulative_count: Some(b.cumulative_count()),
                                upper_bound: Some(b.upper_bound()),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    });
                }
                pb::MetricType::Summary => {
                    let s = m.get_summary();
                    metric.summary = Some(pb::Summary {
                        sample_count: Some(s.sample_count()),
                        sample_sum: Some(s.sample_sum()),
                        quantile: s
                            .get_quantile()
                            .iter()
                            .map(|q| pb::Quantile {
                                quantile: Some(q.quantile()),
                                value: Some(q.value()),
                            })
                            .collect(),
                        ..Default::default()
                    });
                }
            }
            encoder.metric(&metric);
        }
    }
}

#[cfg(test)]
mod tests;
