//! The protobuf exposition decoded with prost and compared, sample for sample, with the text
//! exposition of the same store.

use prost::Message;

use super::*;
use crate::exposition::{Encoder, Format, render_labels};
use crate::store::fixture;

/// Every family of a delimited body.
fn decode(mut body: &[u8]) -> Vec<pb::MetricFamily> {
    let mut families = Vec::new();
    while !body.is_empty() {
        families.push(pb::MetricFamily::decode_length_delimited(&mut body).expect("a family"));
    }
    families
}

/// The text exposition a decoded body stands for, written by the text encoder: equal to the
/// store's own text when the protobuf carries the same names, help, types, labels and values.
fn as_text(families: &[pb::MetricFamily]) -> String {
    let mut out = String::new();
    let mut e = Encoder::new(&mut out, Format::Text);
    for mf in families {
        let kind = match mf.r#type() {
            pb::MetricType::Counter => FamilyKind::Counter,
            pb::MetricType::Gauge => FamilyKind::Gauge,
            pb::MetricType::Histogram => FamilyKind::Histogram,
            other => panic!("unexpected type {other:?}"),
        };
        e.family(mf.name(), mf.help(), kind);
        for m in &mf.metric {
            let labels = render_labels(m.label.iter().map(|l| (l.name(), l.value())));
            match kind {
                FamilyKind::Counter => {
                    let v = m.counter.as_ref().expect("counter").value();
                    e.sample_u64(mf.name(), &labels, v as u64);
                }
                FamilyKind::Gauge => {
                    e.sample(mf.name(), &labels, m.gauge.as_ref().expect("gauge").value());
                }
                _ => {
                    let h = m.histogram.as_ref().expect("histogram");
                    let bounds: Vec<f64> = h.bucket.iter().map(|b| b.upper_bound()).collect();
                    assert!(bounds.iter().all(|b| b.is_finite()), "+Inf is the count");
                    let mut previous = 0;
                    let mut per_bucket: Vec<u64> = h
                        .bucket
                        .iter()
                        .map(|b| {
                            let n = b.cumulative_count() - previous;
                            previous = b.cumulative_count();
                            n
                        })
                        .collect();
                    per_bucket.push(h.sample_count() - previous);
                    let bounds = BucketBounds::new(&bounds);
                    SeriesWriter::histogram(
                        &mut e,
                        mf.name(),
                        &labels,
                        Some(&bounds),
                        &per_bucket,
                        h.sample_count(),
                        h.sample_sum(),
                    );
                }
            }
        }
    }
    e.finish();
    out
}

fn text(store: &crate::store::Store) -> String {
    let mut out = String::new();
    let mut e = Encoder::new(&mut out, Format::Text);
    store.render(&mut e, &[]);
    e.finish();
    out
}

fn protobuf(store: &crate::store::Store) -> Vec<u8> {
    let mut out = Vec::new();
    let mut e = ProtoEncoder::new(&mut out);
    store.render_to(&mut e, &[]);
    e.finish();
    out
}

#[test]
fn store_decodes_to_the_same_samples_as_its_text() {
    for n in [0, 1, 7, 300] {
        let store = fixture::store(n);
        let families = decode(&protobuf(&store));
        assert_eq!(families.len(), if n == 0 { 0 } else { 4 }, "{n} series");
        assert_eq!(as_text(&families), text(&store), "{n} series");
    }
}

#[test]
fn a_family_as_client_golang_writes_it() {
    let store = fixture::store(2);
    let families = decode(&protobuf(&store));
    let h = families
        .iter()
        .find(|f| f.name() == "c_latency_seconds")
        .expect("the histogram");
    assert_eq!(h.help(), "Test family c_latency_seconds.");
    assert_eq!(h.r#type(), pb::MetricType::Histogram);
    let m = &h.metric[1];
    let labels: Vec<(&str, &str)> = m.label.iter().map(|l| (l.name(), l.value())).collect();
    // Label values unescaped: the text's `k\"1\\` is `k"1\`.
    assert_eq!(labels, [("peer", "peer-000001"), ("kind", "k\"1\\")]);
    let hist = m.histogram.as_ref().expect("histogram");
    assert_eq!(hist.bucket.len(), 11, "the finite bounds only");
    assert_eq!(hist.sample_count(), 4);
    assert_eq!(hist.bucket[0].upper_bound(), 0.005);
    // No native part: Prometheus reads it as a classic histogram.
    assert!(hist.schema.is_none() && hist.zero_threshold.is_none());
    assert!(hist.positive_span.is_empty() && hist.positive_delta.is_empty());
    let counter = families
        .iter()
        .find(|f| f.name() == "a_requests_total")
        .expect("the counter");
    assert_eq!(counter.r#type(), pb::MetricType::Counter);
    assert_eq!(
        counter.metric[1].counter.as_ref().map(|c| c.value()),
        Some(8919.0)
    );
}

#[test]
fn registry_families_keep_their_names_types_and_values() {
    use prometheus::proto as reg;
    let mut c = reg::MetricFamily::default();
    c.set_name("dawn_exporter_frames_total".into());
    c.set_help("Frames.".into());
    c.set_field_type(reg::MetricType::COUNTER);
    let mut m = reg::Metric::default();
    let mut lp = reg::LabelPair::default();
    lp.set_name("kind".into());
    lp.set_value("batch".into());
    m.set_label(vec![lp]);
    let mut cv = reg::Counter::default();
    cv.set_value(4.0);
    m.set_counter(cv);
    c.set_metric(vec![m]);

    let mut h = reg::MetricFamily::default();
    h.set_name("dawn_exporter_scrape_duration_seconds".into());
    h.set_help("Scrape time.".into());
    h.set_field_type(reg::MetricType::HISTOGRAM);
    let mut b = reg::Bucket::default();
    b.set_upper_bound(0.01);
    b.set_cumulative_count(1);
    let mut hv = reg::Histogram::default();
    hv.set_bucket(vec![b]);
    hv.set_sample_count(3);
    hv.set_sample_sum(2.5);
    let mut m = reg::Metric::default();
    m.set_histogram(hv);
    h.set_metric(vec![m]);
    // A family without series is left out, as in the text.
    let mut empty = reg::MetricFamily::default();
    empty.set_name("dawn_exporter_empty".into());
    empty.set_field_type(reg::MetricType::GAUGE);

    let mut out = Vec::new();
    let mut e = ProtoEncoder::new(&mut out);
    encode_registry(&mut e, &[c, h, empty]);
    e.finish();
    let families = decode(&out);
    assert_eq!(families.len(), 2);
    assert_eq!(families[0].name(), "dawn_exporter_frames_total");
    assert_eq!(families[0].r#type(), pb::MetricType::Counter);
    let m = &families[0].metric[0];
    assert_eq!((m.label[0].name(), m.label[0].value()), ("kind", "batch"));
    assert_eq!(m.counter.as_ref().map(|c| c.value()), Some(4.0));
    let hist = families[1].metric[0].histogram.as_ref().expect("histogram");
    assert_eq!(families[1].r#type(), pb::MetricType::Histogram);
    assert_eq!((hist.sample_count(), hist.sample_sum()), (3, 2.5));
    assert_eq!(
        (
            hist.bucket[0].upper_bound(),
            hist.bucket[0].cumulative_count()
        ),
        (0.01, 1)
    );
}

/// A native histogram from each of two sources, at schemas 3 and 2: the protobuf
/// exposition has the classic buckets summed and the native ones added at schema 2 (spans
/// and deltas as Prometheus reads them), the text exposition the classic part alone, as
/// without native buckets.
#[test]
fn native_buckets_of_two_sources_are_added_beside_the_classic_ones() {
    use crate::store::{SourceKey, Store, StoreLimits};
    use dawn_proto::{
        BucketSpan, Define, HistogramValue, MetricKind, NativeBuckets, NativeHistogramValue, Value,
    };
    let store = Store::new(StoreLimits::default());
    let def = Define {
        id: 1,
        name: "lat_seconds".into(),
        help: "Latency.".into(),
        kind: MetricKind::Histogram,
        label_names: vec![],
        buckets: vec![1.0],
    };
    let family = store.define(&def).expect("define");
    let series = store.series(family, &[]).expect("series");
    let native = |schema, offset, counts: Vec<u64>, zero_count| {
        let n: u64 = counts.iter().sum::<u64>() + zero_count;
        Value::NativeHistogram(Box::new(NativeHistogramValue {
            classic: HistogramValue {
                count: n,
                sum: n as f64 * 0.5,
                buckets: vec![n, 0],
            },
            native: NativeBuckets {
                schema,
                zero_threshold: 1e-9,
                zero_count,
                positive_spans: vec![BucketSpan {
                    offset,
                    length: counts.len() as u32,
                }],
                positive_counts: counts,
                negative_spans: vec![],
                negative_counts: vec![],
            },
        }))
    };
    // Keys 5, 6, 7 at schema 3 are 3, 3, 4 at schema 2.
    let a = native(3, 5, vec![1, 2, 4], 1);
    let b = native(2, 4, vec![10, 0, 1], 0);
    for (node, value) in [("n1", &a), ("n2", &b)] {
        let source = store.attach(&SourceKey::new("dawn-node", node), 1).source;
        store.apply(source, 1, [(series, value, 0)]);
    }
    let families = decode(&protobuf(&store));
    let h = families[0].metric[0].histogram.as_ref().expect("histogram");
    assert_eq!((h.sample_count(), h.sample_sum()), (19, 9.5));
    assert_eq!(h.bucket.len(), 1);
    assert_eq!(h.bucket[0].cumulative_count(), 19);
    assert_eq!(
        (h.schema(), h.zero_threshold(), h.zero_count()),
        (2, 1e-9, 1)
    );
    let spans: Vec<(i32, u32)> = h
        .positive_span
        .iter()
        .map(|s| (s.offset(), s.length()))
        .collect();
    // Keys 3 (1 + 2), 4 (4 + 10), 5 (0), 6 (1): one span of 4 from key 3.
    assert_eq!(spans, vec![(3, 4)]);
    assert_eq!(h.positive_delta, vec![3, 11, -14, 1]);
    assert!(h.negative_span.is_empty());
    // The text exposition is the classic part only, as it always was.
    assert_eq!(
        text(&store),
        "# HELP lat_seconds Latency.\n# TYPE lat_seconds histogram\n\
         lat_seconds_bucket{le=\"1\"} 19\nlat_seconds_bucket{le=\"+Inf\"} 19\n\
         lat_seconds_sum 9.5\nlat_seconds_count 19\n"
    );
}
