//! The Prometheus protobuf exposition (delimited `io.prometheus.client.MetricFamily`, as
//! Prometheus 2.42 asks for it with native histograms on), decoded with prost: only the
//! fields the tests read (a histogram's classic and native parts), so that a test can see
//! whether a series carries native buckets without a Prometheus server.

use prost::Message;

use crate::support::process::Exporter;

/// The `Accept` header of Prometheus 2.42 with `--enable-feature=native-histograms`.
pub const ACCEPT_PROTOBUF: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// A metric family (fields 1 and 4 of `MetricFamily`).
#[derive(Clone, PartialEq, Message)]
pub struct Family {
    /// Its name.
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// Its series.
    #[prost(message, repeated, tag = "4")]
    pub metric: Vec<Metric>,
}

/// One series (`Metric`): its labels and, for a histogram, its value.
#[derive(Clone, PartialEq, Message)]
pub struct Metric {
    /// Label pairs.
    #[prost(message, repeated, tag = "1")]
    pub label: Vec<LabelPair>,
    /// A histogram's value.
    #[prost(message, optional, tag = "7")]
    pub histogram: Option<Histogram>,
}

/// A label pair.
#[derive(Clone, PartialEq, Message)]
pub struct LabelPair {
    /// Label name.
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// Label value.
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

/// A histogram: count, sum and classic buckets; `schema`, spans and deltas only when it
/// has native buckets.
#[derive(Clone, PartialEq, Message)]
pub struct Histogram {
    /// Observations.
    #[prost(uint64, optional, tag = "1")]
    pub sample_count: Option<u64>,
    /// Their sum.
    #[prost(double, optional, tag = "2")]
    pub sample_sum: Option<f64>,
    /// Classic buckets (cumulative, `+Inf` left out).
    #[prost(message, repeated, tag = "3")]
    pub bucket: Vec<Bucket>,
    /// Native resolution; absent without native buckets.
    #[prost(sint32, optional, tag = "5")]
    pub schema: Option<i32>,
    /// Native zero bucket's count.
    #[prost(uint64, optional, tag = "7")]
    pub zero_count: Option<u64>,
    /// Native negative spans.
    #[prost(message, repeated, tag = "9")]
    pub negative_span: Vec<BucketSpan>,
    /// Native negative bucket deltas.
    #[prost(sint64, repeated, packed = "false", tag = "10")]
    pub negative_delta: Vec<i64>,
    /// Native positive spans.
    #[prost(message, repeated, tag = "12")]
    pub positive_span: Vec<BucketSpan>,
    /// Native positive bucket deltas.
    #[prost(sint64, repeated, packed = "false", tag = "13")]
    pub positive_delta: Vec<i64>,
}

impl Histogram {
    /// Whether any native field is present.
    pub fn has_native(&self) -> bool {
        self.schema.is_some()
            || self.zero_count.is_some()
            || !self.positive_span.is_empty()
            || !self.negative_span.is_empty()
            || !self.positive_delta.is_empty()
            || !self.negative_delta.is_empty()
    }

    /// The observations the native buckets hold (zero bucket and both signs, deltas
    /// summed up into counts).
    pub fn native_count(&self) -> u64 {
        let counts = |deltas: &[i64]| {
            let mut bucket = 0i64;
            deltas
                .iter()
                .map(|d| {
                    bucket += d;
                    bucket as u64
                })
                .sum::<u64>()
        };
        self.zero_count.unwrap_or(0) + counts(&self.positive_delta) + counts(&self.negative_delta)
    }
}

/// A classic bucket.
#[derive(Clone, PartialEq, Message)]
pub struct Bucket {
    /// Observations at or below `upper_bound`.
    #[prost(uint64, optional, tag = "1")]
    pub cumulative_count: Option<u64>,
    /// Its bound.
    #[prost(double, optional, tag = "2")]
    pub upper_bound: Option<f64>,
}

/// A run of consecutive native bucket keys.
#[derive(Clone, PartialEq, Message)]
pub struct BucketSpan {
    /// Gap to the previous span (the first: the first key).
    #[prost(sint32, optional, tag = "1")]
    pub offset: Option<i32>,
    /// Keys in the run.
    #[prost(uint32, optional, tag = "2")]
    pub length: Option<u32>,
}

/// Every family of a delimited body.
pub fn decode(mut body: &[u8]) -> Result<Vec<Family>, String> {
    let mut families = Vec::new();
    while !body.is_empty() {
        let family = Family::decode_length_delimited(&mut body)
            .map_err(|e| format!("not a delimited MetricFamily stream: {e}"))?;
        families.push(family);
    }
    Ok(families)
}

/// `/metrics` asked for as Prometheus asks with native histograms on, decoded; `Err` when
/// the answer is not protobuf.
pub fn scrape(exporter: &Exporter) -> Result<Vec<Family>, String> {
    let r =
        crate::support::http::get_with(&exporter.url("/metrics"), &[("Accept", ACCEPT_PROTOBUF)])?;
    let kind = r.header("content-type").unwrap_or_default();
    if r.status != 200 || !kind.starts_with("application/vnd.google.protobuf") {
        return Err(format!("/metrics answered {} {kind}", r.status));
    }
    decode(&r.body)
}

/// The histogram `name{labels}` of decoded families (`None` when absent).
pub fn histogram<'f>(
    families: &'f [Family],
    name: &str,
    labels: &[(&str, &str)],
) -> Option<&'f Histogram> {
    families
        .iter()
        .filter(|f| f.name.as_deref() == Some(name))
        .flat_map(|f| &f.metric)
        .find(|m| {
            labels.iter().all(|(n, v)| {
                m.label
                    .iter()
                    .any(|l| l.name.as_deref() == Some(n) && l.value.as_deref() == Some(v))
            })
        })?
        .histogram
        .as_ref()
}
