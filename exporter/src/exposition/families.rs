//! Encodes the families a `prometheus::Registry` gathers (the exporter's own metrics, from
//! the OpenTelemetry Prometheus exporter) with the same [`Encoder`] as the store.

use prometheus::proto::{LabelPair, MetricFamily, MetricType};

use super::escape::push_label_value;
use super::{Encoder, FamilyKind, Format, le_label};

fn render_pairs(out: &mut String, pairs: &[LabelPair]) {
    out.clear();
    for (i, lp) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(lp.name());
        out.push_str("=\"");
        push_label_value(out, lp.value());
        out.push('"');
    }
}

/// Writes `families` (as `Registry::gather` returns them: one per name, sorted).
pub(crate) fn encode_families(encoder: &mut Encoder<'_>, families: &[MetricFamily]) {
    let om = encoder.format() == Format::OpenMetrics;
    let mut labels = String::new();
    for mf in families {
        if mf.get_metric().is_empty() {
            continue;
        }
        let name = mf.name();
        let kind = match mf.get_field_type() {
            MetricType::COUNTER => FamilyKind::Counter,
            MetricType::GAUGE => FamilyKind::Gauge,
            MetricType::HISTOGRAM => FamilyKind::Histogram,
            MetricType::SUMMARY => FamilyKind::Summary,
            MetricType::UNTYPED => FamilyKind::Unknown,
        };
        // OpenMetrics counters are families without `_total` whose samples add it.
        let counter_sample;
        let sample_name = if kind == FamilyKind::Counter && om && !name.ends_with("_total") {
            counter_sample = format!("{name}_total");
            counter_sample.as_str()
        } else {
            name
        };
        encoder.family(sample_name, mf.help(), kind);
        for m in mf.get_metric() {
            render_pairs(&mut labels, m.get_label());
            match kind {
                FamilyKind::Counter => {
                    encoder.sample(sample_name, &labels, m.get_counter().get_value());
                }
                FamilyKind::Gauge => encoder.sample(name, &labels, m.get_gauge().get_value()),
                FamilyKind::Unknown => {
                    // Nothing in the exporter produces untyped families (OpenTelemetry never
                    // does); the accessor is deprecated because the type only exists for
                    // protobuf compatibility, which is exactly what is handled here.
                    #[allow(deprecated)]
                    let value = m.get_untyped().get_value();
                    encoder.sample(name, &labels, value);
                }
                FamilyKind::Histogram => {
                    let h = m.get_histogram();
                    let mut saw_inf = false;
                    for b in h.get_bucket() {
                        let bound = b.upper_bound();
                        saw_inf |= bound == f64::INFINITY;
                        encoder.bucket(name, &labels, &le_label(bound, om), b.cumulative_count());
                    }
                    if !saw_inf {
                        encoder.bucket(name, &labels, "+Inf", h.get_sample_count());
                    }
                    encoder.sum_and_count(name, &labels, h.get_sample_sum(), h.get_sample_count());
                }
                FamilyKind::Summary => {
                    let s = m.get_summary();
                    for q in s.get_quantile() {
                        let quantile = le_label(q.quantile(), om);
                        encoder.quantile(name, &labels, &quantile, q.value());
                    }
                    encoder.sum_and_count(name, &labels, s.sample_sum(), s.sample_count());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::proto::{Bucket, Counter, Histogram, Metric};

    fn pair(n: &str, v: &str) -> LabelPair {
        let mut lp = LabelPair::default();
        lp.set_name(n.to_owned());
        lp.set_value(v.to_owned());
        lp
    }

    fn families() -> Vec<MetricFamily> {
        let mut c = MetricFamily::default();
        c.set_name("dawn_exporter_frames_total".into());
        c.set_help("Frames.".into());
        c.set_field_type(MetricType::COUNTER);
        let mut m = Metric::default();
        m.set_label(vec![pair("kind", "batch")]);
        let mut cv = Counter::default();
        cv.set_value(4.0);
        m.set_counter(cv);
        c.set_metric(vec![m]);

        let mut h = MetricFamily::default();
        h.set_name("dawn_exporter_scrape_duration_seconds".into());
        h.set_help("Scrape time.".into());
        h.set_field_type(MetricType::HISTOGRAM);
        let mut b1 = Bucket::default();
        b1.set_upper_bound(0.01);
        b1.set_cumulative_count(1);
        let mut b2 = Bucket::default();
        b2.set_upper_bound(1.0);
        b2.set_cumulative_count(2);
        let mut hv = Histogram::default();
        hv.set_bucket(vec![b1, b2]);
        hv.set_sample_count(3);
        hv.set_sample_sum(2.5);
        let mut m = Metric::default();
        m.set_histogram(hv);
        h.set_metric(vec![m]);
        vec![c, h]
    }

    /// The whole expected exposition of [`families`]; the formats differ in the counter's
    /// family name, the spelling of an integral bound and the closing `# EOF`.
    fn expected(format: Format) -> String {
        let (counter_family, le_one, eof) = match format {
            Format::Text => ("dawn_exporter_frames_total", "1", ""),
            Format::OpenMetrics => ("dawn_exporter_frames", "1.0", "# EOF\n"),
        };
        let h = "dawn_exporter_scrape_duration_seconds";
        format!(
            "# HELP {counter_family} Frames.\n\
             # TYPE {counter_family} counter\n\
             dawn_exporter_frames_total{{kind=\"batch\"}} 4\n\
             # HELP {h} Scrape time.\n\
             # TYPE {h} histogram\n\
             {h}_bucket{{le=\"0.01\"}} 1\n\
             {h}_bucket{{le=\"{le_one}\"}} 2\n\
             {h}_bucket{{le=\"+Inf\"}} 3\n\
             {h}_sum 2.5\n\
             {h}_count 3\n\
             {eof}"
        )
    }

    #[test]
    fn renders_registry_families_in_both_formats() {
        for format in [Format::Text, Format::OpenMetrics] {
            let mut out = String::new();
            let mut e = Encoder::new(&mut out, format);
            encode_families(&mut e, &families());
            e.finish();
            assert_eq!(out, expected(format), "{format:?}");
        }
    }
}
