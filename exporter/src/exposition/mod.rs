//! Exposition formats: Prometheus text 0.0.4, OpenMetrics 1.0.0 and the Prometheus
//! protobuf format (delimited `io.prometheus.client.MetricFamily` messages).
//!
//! Apart from the store, as in client_rust's `encoding/text.rs`: the store walks its
//! series and calls a [`SeriesWriter`] (the text [`Encoder`] or the [`ProtoEncoder`]);
//! [`encode_families`] and [`protobuf::encode_registry`] do the same for the families a
//! `prometheus::Registry` gathers (the exporter's own OpenTelemetry metrics). Adding a
//! format touches only this module.

mod encoder;
mod escape;
mod families;
mod negotiate;
mod number;
pub(crate) mod protobuf;

pub use encoder::Encoder;
pub(crate) use encoder::{FamilyKind, Spill};
pub(crate) use escape::render_labels;
pub(crate) use families::encode_families;
pub(crate) use negotiate::wants_gzip;
pub(crate) use protobuf::ProtoEncoder;

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0.0 text.
    OpenMetrics,
}

impl Format {
    /// The exact `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// The format a request's `Accept` header prefers: OpenMetrics when it is asked for
    /// explicitly with at least the weight of the text format, text otherwise.
    pub fn negotiate(accept: Option<&str>) -> Format {
        negotiate::format(accept)
    }
}

/// What a scrape is answered with, chosen by its `Accept` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Negotiated {
    /// One of the text formats.
    Text(Format),
    /// The Prometheus protobuf format, which Prometheus asks for first when its native
    /// histograms are on (2.x `--enable-feature=native-histograms`).
    Protobuf,
}

impl Negotiated {
    /// The format a request's `Accept` header prefers: the protobuf format when it is asked
    /// for explicitly (`proto=io.prometheus.client.MetricFamily; encoding=delimited`) with at
    /// least the weight of every text format, else as [`Format::negotiate`].
    pub(crate) fn from_accept(accept: Option<&str>) -> Negotiated {
        negotiate::negotiated(accept)
    }

    /// The exact `Content-Type` of a response in this format.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Negotiated::Text(format) => format.content_type(),
            Negotiated::Protobuf => protobuf::CONTENT_TYPE,
        }
    }
}

/// What the store's rendering writes a family and its series' totals to: the text
/// [`Encoder`] or the [`ProtoEncoder`]. One walk of the store, so both formats expose the
/// same names, labels and values.
pub(crate) trait SeriesWriter {
    /// Opens a family; `name` is the sample name (`p2p_connections_total` for a counter).
    fn family(&mut self, name: &str, help: &str, kind: FamilyKind);
    /// A counter's total; `labels` pre-rendered (`a="x",b="y"`, see [`render_labels`]).
    fn counter(&mut self, name: &str, labels: &str, value: u64);
    /// A gauge's value.
    fn gauge(&mut self, name: &str, labels: &str, value: f64);
    /// A histogram from per-bucket (not cumulative) counts, one per finite bound of
    /// `bounds` and the last for `+Inf`.
    fn histogram(
        &mut self,
        name: &str,
        labels: &str,
        bounds: Option<&BucketBounds>,
        per_bucket: &[u64],
        count: u64,
        sum: f64,
    );
    /// A histogram with native buckets: its classic part as [`SeriesWriter::histogram`]
    /// takes it (bounds, per-bucket counts, count, sum) and the native buckets. The text
    /// formats write the classic part alone.
    fn native_histogram(
        &mut self,
        name: &str,
        labels: &str,
        classic: ClassicPart<'_>,
        native: NativeBuckets<'_>,
    ) {
        let _ = native;
        let (bounds, per_bucket, count, sum) = classic;
        self.histogram(name, labels, bounds, per_bucket, count, sum);
    }
}

/// A histogram's native buckets as exposed: ascending `(key, count)` pairs of each sign.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NativeBuckets<'a> {
    pub(crate) schema: i32,
    pub(crate) zero_threshold: f64,
    pub(crate) zero_count: u64,
    pub(crate) positive: &'a [(i32, u64)],
    pub(crate) negative: &'a [(i32, u64)],
}

/// A histogram's classic part: its bounds, per-bucket counts, count and sum.
pub(crate) type ClassicPart<'a> = (Option<&'a BucketBounds>, &'a [u64], u64, f64);

impl SeriesWriter for Encoder<'_> {
    #[inline]
    fn family(&mut self, name: &str, help: &str, kind: FamilyKind) {
        Encoder::family(self, name, help, kind);
    }

    #[inline]
    fn counter(&mut self, name: &str, labels: &str, value: u64) {
        self.sample_u64(name, labels, value);
    }

    #[inline]
    fn gauge(&mut self, name: &str, labels: &str, value: f64) {
        self.sample(name, labels, value);
    }

    #[inline]
    fn histogram(
        &mut self,
        name: &str,
        labels: &str,
        bounds: Option<&BucketBounds>,
        per_bucket: &[u64],
        count: u64,
        sum: f64,
    ) {
        let les = bounds.map_or(&[][..], |b| b.les(self.format()));
        Encoder::histogram(self, name, labels, les, per_bucket, count, sum);
    }
}

/// A histogram's bucket bounds with their `le` label values pre-rendered for both formats,
/// `+Inf` included, so that a scrape formats no bound.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BucketBounds {
    bounds: Vec<f64>,
    text: Vec<String>,
    openmetrics: Vec<String>,
}

impl BucketBounds {
    /// Bounds from finite, increasing upper bounds (`+Inf` is added).
    pub(crate) fn new(bounds: &[f64]) -> Self {
        let les = |om: bool| {
            bounds
                .iter()
                .map(|b| number::le_label(*b, om))
                .chain(std::iter::once("+Inf".to_owned()))
                .collect()
        };
        BucketBounds {
            bounds: bounds.to_vec(),
            text: les(false),
            openmetrics: les(true),
        }
    }

    /// The finite upper bounds.
    pub(crate) fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    /// The `le` values for `format`, one per finite bound, then `+Inf`.
    pub(crate) fn les(&self, format: Format) -> &[String] {
        match format {
            Format::Text => &self.text,
            Format::OpenMetrics => &self.openmetrics,
        }
    }
}

pub(crate) use number::le_label;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_labels_per_format() {
        let b = BucketBounds::new(&[0.005, 1.0, 1048576.0]);
        assert_eq!(b.les(Format::Text), ["0.005", "1", "1.048576e+06", "+Inf"]);
        assert_eq!(
            b.les(Format::OpenMetrics),
            ["0.005", "1.0", "1.048576e+06", "+Inf"]
        );
    }
}
