//! Prometheus naming rules and the consistency checks every received record must pass.

use crate::batch::{NativeRef, ValueRef};
use crate::frame::BucketSpan;
use crate::frame::{Define, Health, Hello, MetricKind, SeriesDef, Value};

/// Longest metric or label name accepted.
pub const MAX_NAME_LEN: usize = 200;
/// Longest `# HELP` text accepted.
pub const MAX_HELP_LEN: usize = 1024;
/// Longest label value accepted.
pub const MAX_LABEL_VALUE_LEN: usize = 1024;
/// Most labels a metric may have.
pub const MAX_LABELS: usize = 16;
/// Most histogram buckets a metric may have.
pub const MAX_BUCKETS: usize = 64;
/// Longest free text (names in `Hello`, health messages and details) accepted.
pub const MAX_TEXT_LEN: usize = 4096;
/// Lowest native histogram schema accepted (16 powers of two per bucket), as Prometheus.
pub const MIN_NATIVE_SCHEMA: i32 = -4;
/// Highest native histogram schema accepted (256 buckets per power of two), as Prometheus.
pub const MAX_NATIVE_SCHEMA: i32 = 8;
/// Most native buckets (positive and negative together) a histogram value may carry: a
/// client reduces its schema to stay below it (`dawn-telemetry` keeps 160 by default).
pub const MAX_NATIVE_BUCKETS: usize = 4096;
/// Largest magnitude of a native bucket key: every finite `f64` has a key within
/// ±275 200 at schema 8 (`1075 × 2^8`), so this leaves room and keeps key arithmetic far
/// from overflowing.
pub const MAX_NATIVE_KEY: i64 = 1 << 20;

/// Why a record breaks the protocol's rules; each names what it refers to.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValidationError {
    /// Not a valid Prometheus metric name.
    #[error("invalid metric name {name:?}: {why}")]
    MetricName {
        /// The name.
        name: String,
        /// The rule it breaks.
        why: &'static str,
    },
    /// Not a valid Prometheus label name.
    #[error("invalid label name {label:?}: {why}")]
    LabelName {
        /// The label.
        label: String,
        /// The rule it breaks.
        why: &'static str,
    },
    /// The metric definition is inconsistent.
    #[error("invalid definition of {metric}: {why}")]
    Definition {
        /// The metric.
        metric: String,
        /// What is wrong.
        why: String,
    },
    /// The series gives the wrong number of label values, or one is too long.
    #[error("invalid series of {metric}: {why}")]
    LabelValues {
        /// The metric.
        metric: String,
        /// What is wrong.
        why: String,
    },
    /// A value that does not fit the series' metric.
    #[error("invalid value for {metric}: {why}")]
    Value {
        /// The metric.
        metric: String,
        /// What is wrong.
        why: String,
    },
    /// Free text that is too long or empty where it must not be.
    #[error("invalid {field}: {why}")]
    Text {
        /// The field.
        field: &'static str,
        /// What is wrong.
        why: String,
    },
}

impl ValidationError {
    /// Stable reason label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            ValidationError::MetricName { .. } => "invalid_metric_name",
            ValidationError::LabelName { .. } => "invalid_label_name",
            ValidationError::Definition { .. } => "invalid_definition",
            ValidationError::LabelValues { .. } => "label_mismatch",
            ValidationError::Value { .. } => "invalid_value",
            ValidationError::Text { .. } => "invalid_text",
        }
    }
}

fn check_name(name: &str, allow_colon: bool) -> Result<(), &'static str> {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return Err("must not be empty");
    };
    if name.len() > MAX_NAME_LEN {
        return Err("longer than 200 bytes");
    }
    let ok_first = first.is_ascii_alphabetic() || first == '_' || (allow_colon && first == ':');
    if !ok_first {
        return Err(if allow_colon {
            "must start with a letter, '_' or ':'"
        } else {
            "must start with a letter or '_'"
        });
    }
    let ok_rest = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (allow_colon && c == ':'));
    if !ok_rest {
        return Err(if allow_colon {
            "may contain only letters, digits, '_' and ':'"
        } else {
            "may contain only letters, digits and '_'"
        });
    }
    Ok(())
}

/// Checks `name` against `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn validate_metric_name(name: &str) -> Result<(), ValidationError> {
    check_name(name, true).map_err(|why| ValidationError::MetricName {
        name: name.to_owned(),
        why,
    })
}

/// Checks `label` against `[a-zA-Z_][a-zA-Z0-9_]*`, without the reserved `__` prefix.
pub fn validate_label_name(label: &str) -> Result<(), ValidationError> {
    check_name(label, false).map_err(|why| ValidationError::LabelName {
        label: label.to_owned(),
        why,
    })?;
    if label.starts_with("__") {
        return Err(ValidationError::LabelName {
            label: label.to_owned(),
            why: "names starting with '__' are reserved",
        });
    }
    Ok(())
}

fn text(
    field: &'static str,
    value: &str,
    max: usize,
    allow_empty: bool,
) -> Result<(), ValidationError> {
    if !allow_empty && value.is_empty() {
        return Err(ValidationError::Text {
            field,
            why: "must not be empty".into(),
        });
    }
    if value.len() > max {
        return Err(ValidationError::Text {
            field,
            why: format!("{} bytes, more than the {max} allowed", value.len()),
        });
    }
    Ok(())
}

/// Checks the free-text fields of a `Hello` (magic and versions are [`crate::negotiate`]'s).
pub fn validate_hello(hello: &Hello) -> Result<(), ValidationError> {
    text("client name", &hello.client_name, MAX_NAME_LEN, false)?;
    text("client version", &hello.client_version, MAX_NAME_LEN, true)?;
    text("node id", &hello.node_id, MAX_NAME_LEN, false)?;
    if hello.flush_interval_ms == 0 {
        return Err(ValidationError::Text {
            field: "flush interval",
            why: "must be at least 1 ms".into(),
        });
    }
    Ok(())
}

/// Checks a definition on its own: names, help, label set, kind-specific rules, buckets.
pub fn validate_define(def: &Define) -> Result<(), ValidationError> {
    validate_metric_name(&def.name)?;
    let bad = |why: String| ValidationError::Definition {
        metric: def.name.clone(),
        why,
    };
    if def.help.len() > MAX_HELP_LEN {
        return Err(bad(format!("help text longer than {MAX_HELP_LEN} bytes")));
    }
    if def.label_names.len() > MAX_LABELS {
        return Err(bad(format!(
            "{} labels, more than the {MAX_LABELS} allowed",
            def.label_names.len()
        )));
    }
    for (i, label) in def.label_names.iter().enumerate() {
        validate_label_name(label)?;
        if def.label_names[..i].contains(label) {
            return Err(bad(format!("label {label:?} appears twice")));
        }
    }
    match def.kind {
        MetricKind::Counter => {
            if !def.name.ends_with("_total") {
                return Err(bad("counter names must end in '_total'".into()));
            }
        }
        MetricKind::Gauge => {}
        MetricKind::Histogram => {
            if def.label_names.iter().any(|l| l == "le") {
                return Err(bad("label 'le' is reserved for histogram buckets".into()));
            }
            for suffix in ["_bucket", "_count", "_sum", "_total"] {
                if def.name.ends_with(suffix) {
                    return Err(bad(format!("histogram names must not end in '{suffix}'")));
                }
            }
            if def.buckets.is_empty() {
                return Err(bad("a histogram needs at least one bucket bound".into()));
            }
            if def.buckets.len() > MAX_BUCKETS {
                return Err(bad(format!(
                    "{} buckets, more than the {MAX_BUCKETS} allowed",
                    def.buckets.len()
                )));
            }
            if def.buckets.iter().any(|b| !b.is_finite()) {
                return Err(bad("bucket bounds must be finite (+Inf is implied)".into()));
            }
            if def.buckets.windows(2).any(|w| w[0] >= w[1]) {
                return Err(bad("bucket bounds must be strictly increasing".into()));
            }
        }
    }
    if def.kind != MetricKind::Histogram && !def.buckets.is_empty() {
        return Err(bad(format!("a {} has no buckets", def.kind.as_str())));
    }
    Ok(())
}

/// Checks a series against its (already valid) metric definition.
pub fn validate_label_values(def: &Define, series: &SeriesDef) -> Result<(), ValidationError> {
    let bad = |why: String| ValidationError::LabelValues {
        metric: def.name.clone(),
        why,
    };
    if series.label_values.len() != def.label_names.len() {
        return Err(bad(format!(
            "{} label values for {} label names ({})",
            series.label_values.len(),
            def.label_names.len(),
            def.label_names.join(", ")
        )));
    }
    for (name, value) in def.label_names.iter().zip(&series.label_values) {
        if value.len() > MAX_LABEL_VALUE_LEN {
            return Err(bad(format!(
                "value of label {name:?} is {} bytes, more than the {MAX_LABEL_VALUE_LEN} allowed",
                value.len()
            )));
        }
    }
    Ok(())
}

/// Checks a value against its (already valid) metric definition.
///
/// Monotonicity of counters needs the previous value and is the store's job.
pub fn validate_value(def: &Define, value: &Value) -> Result<(), ValidationError> {
    validate_value_ref(def, ValueRef::from(value))
}

/// [`validate_value`] for a borrowed value (an update of a [`crate::BatchBuf`]).
#[inline]
pub fn validate_value_ref(def: &Define, value: ValueRef<'_>) -> Result<(), ValidationError> {
    // The check of a valid value stays where it is called (every update of a batch passes
    // here); what is wrong with an invalid one is worked out apart.
    let valid = match (def.kind, value) {
        (MetricKind::Counter, ValueRef::Counter(_)) | (MetricKind::Gauge, ValueRef::Gauge(_)) => {
            true
        }
        (MetricKind::Histogram, ValueRef::Histogram(h)) => {
            h.buckets.len() == def.buckets.len() + 1
                && bucket_total(h.buckets) == Some(h.count)
                && h.sum.is_finite()
                && h.native
                    .is_none_or(|n| native_problem(h.count, n.get()).is_none())
        }
        _ => false,
    };
    if valid {
        Ok(())
    } else {
        value_error(def, value)
    }
}

/// The sum of `buckets`, `None` if it overflows a `u64`.
#[inline]
fn bucket_total(buckets: &[u64]) -> Option<u64> {
    let (mut total, mut overflow) = (0u64, false);
    for &b in buckets {
        let (sum, o) = total.overflowing_add(b);
        total = sum;
        overflow |= o;
    }
    (!overflow).then_some(total)
}

/// What is wrong with a native part of a histogram of `count` observations, in the order
/// of the checks: the schema, the zero threshold, each sign's spans (lengths at least 1,
/// offsets after the first at least 0, keys within ±[`MAX_NATIVE_KEY`], as many keys as
/// counts), the number of buckets, and the counts adding up to `count`.
fn native_problem(count: u64, n: NativeRef<'_>) -> Option<String> {
    if !(MIN_NATIVE_SCHEMA..=MAX_NATIVE_SCHEMA).contains(&n.schema) {
        return Some(format!(
            "native schema {} outside {MIN_NATIVE_SCHEMA}..={MAX_NATIVE_SCHEMA}",
            n.schema
        ));
    }
    if !(n.zero_threshold.is_finite() && n.zero_threshold >= 0.0) {
        return Some(format!(
            "native zero threshold {} is not finite and at least 0",
            n.zero_threshold
        ));
    }
    for (sign, spans, counts) in [
        ("positive", n.positive_spans, n.positive_counts),
        ("negative", n.negative_spans, n.negative_counts),
    ] {
        if let Some(why) = spans_problem(spans, counts.len()) {
            return Some(format!("native {sign} buckets: {why}"));
        }
    }
    let buckets = n.positive_counts.len() + n.negative_counts.len();
    if buckets > MAX_NATIVE_BUCKETS {
        return Some(format!(
            "{buckets} native buckets, more than {MAX_NATIVE_BUCKETS}"
        ));
    }
    let total = [n.positive_counts, n.negative_counts]
        .into_iter()
        .try_fold(n.zero_count, |t, c| {
            bucket_total(c).and_then(|c| t.checked_add(c))
        });
    match total {
        None => Some("native bucket counts overflow".into()),
        Some(total) if total != count => Some(format!(
            "count {count} differs from the sum of native bucket counts {total}"
        )),
        Some(_) => None,
    }
}

/// What is wrong with spans meant to give the keys of `counts` buckets.
fn spans_problem(spans: &[BucketSpan], counts: usize) -> Option<String> {
    // Each span holds one key at least: more spans than counts cannot match, and this
    // bounds the walk below by the counts, which the frame's size bounds.
    if spans.len() > counts {
        return Some(format!("{} spans for {counts} counts", spans.len()));
    }
    let (mut keys, mut next) = (0usize, 0i64);
    for (i, span) in spans.iter().enumerate() {
        if span.length == 0 {
            return Some(format!("span {i} has length 0"));
        }
        if i > 0 && span.offset < 0 {
            return Some(format!("span {i} has a negative offset {}", span.offset));
        }
        let first = next + i64::from(span.offset);
        let last = first + i64::from(span.length) - 1;
        if first < -MAX_NATIVE_KEY || last > MAX_NATIVE_KEY {
            return Some(format!(
                "span {i} covers keys {first}..={last}, beyond ±{MAX_NATIVE_KEY}"
            ));
        }
        next = last + 1;
        keys += span.length as usize;
        if keys > counts {
            return Some(format!("spans give more keys than the {counts} counts"));
        }
    }
    (keys != counts).then(|| format!("spans give {keys} keys for {counts} counts"))
}

/// The error of an invalid value: the first check it fails, in the order of the checks.
#[cold]
fn value_error(def: &Define, value: ValueRef<'_>) -> Result<(), ValidationError> {
    let bad = |why: String| ValidationError::Value {
        metric: def.name.clone(),
        why,
    };
    match (def.kind, value) {
        (MetricKind::Counter, ValueRef::Counter(_)) | (MetricKind::Gauge, ValueRef::Gauge(_)) => {
            Ok(())
        }
        (MetricKind::Histogram, ValueRef::Histogram(h)) => {
            if h.buckets.len() != def.buckets.len() + 1 {
                return Err(bad(format!(
                    "{} bucket counts for {} bounds plus +Inf",
                    h.buckets.len(),
                    def.buckets.len()
                )));
            }
            let total =
                bucket_total(h.buckets).ok_or_else(|| bad("bucket counts overflow".into()))?;
            if total != h.count {
                return Err(bad(format!(
                    "count {} differs from the sum of bucket counts {total}",
                    h.count
                )));
            }
            if !h.sum.is_finite() {
                return Err(bad(format!("histogram sum is {}", h.sum)));
            }
            match h.native.and_then(|n| native_problem(h.count, n.get())) {
                Some(why) => Err(bad(why)),
                None => Ok(()),
            }
        }
        (kind, other) => Err(bad(format!(
            "a {} value for a {}",
            match other {
                ValueRef::Counter(_) => "counter",
                ValueRef::Gauge(_) => "gauge",
                ValueRef::Histogram(_) => "histogram",
            },
            kind.as_str()
        ))),
    }
}

/// Checks a health report's names and text sizes.
pub fn validate_health(health: &Health) -> Result<(), ValidationError> {
    validate_label_name(&health.check).map_err(|_| ValidationError::Text {
        field: "health check name",
        why: format!(
            "{:?} is not a valid name ([a-zA-Z_][a-zA-Z0-9_]*)",
            health.check
        ),
    })?;
    text("health message", &health.message, MAX_TEXT_LEN, true)?;
    if health.details.len() > MAX_LABELS * 4 {
        return Err(ValidationError::Text {
            field: "health details",
            why: format!(
                "{} entries, more than the {} allowed",
                health.details.len(),
                MAX_LABELS * 4
            ),
        });
    }
    for d in &health.details {
        text("health detail key", &d.key, MAX_NAME_LEN, false)?;
        if let crate::frame::DetailValue::Text(t) = &d.value {
            text("health detail value", t, MAX_TEXT_LEN, true)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::HistogramValue;

    fn def(name: &str, kind: MetricKind, labels: &[&str], buckets: &[f64]) -> Define {
        Define {
            id: 0,
            name: name.into(),
            help: "h".into(),
            kind,
            label_names: labels.iter().map(|s| s.to_string()).collect(),
            buckets: buckets.to_vec(),
        }
    }

    #[test]
    fn metric_names() {
        for ok in ["a", "_a", ":a", "a_b:c9", "p2p_peers"] {
            assert!(validate_metric_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "9a", "a-b", "a b", "é", &"x".repeat(201)] {
            let err = validate_metric_name(bad).unwrap_err();
            assert_eq!(err.reason(), "invalid_metric_name");
            assert!(err.to_string().contains("invalid metric name"), "{err}");
        }
    }

    #[test]
    fn label_names() {
        for ok in ["a", "_a", "peer_id", "A9"] {
            assert!(validate_label_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "9a", "a:b", "__name__", "a-b"] {
            assert_eq!(
                validate_label_name(bad).unwrap_err().reason(),
                "invalid_label_name",
                "{bad}"
            );
        }
    }

    #[test]
    fn definitions() {
        let table: &[(Define, Option<&str>)] = &[
            (def("x_total", MetricKind::Counter, &["a"], &[]), None),
            (
                def("x", MetricKind::Counter, &[], &[]),
                Some("must end in '_total'"),
            ),
            (
                def("g", MetricKind::Gauge, &["a", "a"], &[]),
                Some("appears twice"),
            ),
            (
                def("g", MetricKind::Gauge, &[], &[1.0]),
                Some("has no buckets"),
            ),
            (
                def("h", MetricKind::Histogram, &[], &[]),
                Some("at least one bucket"),
            ),
            (
                def("h", MetricKind::Histogram, &[], &[1.0, 1.0]),
                Some("strictly increasing"),
            ),
            (
                def("h", MetricKind::Histogram, &[], &[f64::NAN]),
                Some("finite"),
            ),
            (
                def("h", MetricKind::Histogram, &["le"], &[1.0]),
                Some("reserved"),
            ),
            (
                def("h_sum", MetricKind::Histogram, &[], &[1.0]),
                Some("must not end in '_sum'"),
            ),
            (def("h", MetricKind::Histogram, &["x"], &[0.5, 1.0]), None),
        ];
        for (d, expected) in table {
            match (validate_define(d), expected) {
                (Ok(()), None) => {}
                (Err(e), Some(text)) => assert!(e.to_string().contains(text), "{e} / {text}"),
                (got, want) => panic!("{d:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn label_value_count_must_match() {
        let d = def("x_total", MetricKind::Counter, &["a", "b"], &[]);
        let s = SeriesDef {
            id: 1,
            metric: 0,
            label_values: vec!["1".into()],
        };
        let err = validate_label_values(&d, &s).unwrap_err();
        assert_eq!(err.reason(), "label_mismatch");
        assert!(
            err.to_string()
                .contains("1 label values for 2 label names (a, b)"),
            "{err}"
        );
    }

    #[test]
    fn values_must_fit_their_metric() {
        let h = def("h", MetricKind::Histogram, &[], &[1.0]);
        let good = Value::Histogram(HistogramValue {
            count: 3,
            sum: 2.0,
            buckets: vec![1, 2],
        });
        assert!(validate_value(&h, &good).is_ok());
        let nan = Value::Histogram(HistogramValue {
            count: 3,
            sum: f64::NAN,
            buckets: vec![1, 2],
        });
        assert!(
            validate_value(&h, &nan)
                .unwrap_err()
                .to_string()
                .contains("sum is NaN")
        );
        let miscount = Value::Histogram(HistogramValue {
            count: 4,
            sum: 2.0,
            buckets: vec![1, 2],
        });
        assert!(validate_value(&h, &miscount).is_err());
        let short = Value::Histogram(HistogramValue {
            count: 1,
            sum: 2.0,
            buckets: vec![1],
        });
        assert!(validate_value(&h, &short).is_err());
        let wrong_kind = validate_value(&h, &Value::Counter(1)).unwrap_err();
        assert!(
            wrong_kind
                .to_string()
                .contains("a counter value for a histogram"),
            "{wrong_kind}"
        );
    }

    /// A value that breaks several rules is refused for the first, in a fixed order: bucket
    /// count, overflow, count, sum.
    #[test]
    fn a_value_breaking_several_rules_names_the_first() {
        let h = def("h", MetricKind::Histogram, &[], &[1.0]);
        let cases = [
            (
                vec![1],
                5,
                f64::NAN,
                "1 bucket counts for 1 bounds plus +Inf",
            ),
            (vec![u64::MAX, 1], 5, f64::NAN, "bucket counts overflow"),
            (vec![1, 2], 5, f64::INFINITY, "count 5 differs from the sum"),
            (vec![1, 2], 3, f64::NEG_INFINITY, "histogram sum is -inf"),
        ];
        for (buckets, count, sum, why) in cases {
            let value = Value::Histogram(HistogramValue {
                count,
                sum,
                buckets,
            });
            let e = validate_value(&h, &value).unwrap_err().to_string();
            assert!(e.contains(why), "{e} for {value:?}");
            let borrowed = validate_value_ref(&h, ValueRef::from(&value));
            assert_eq!(borrowed.unwrap_err().to_string(), e);
        }
        let gauge = def("g", MetricKind::Gauge, &[], &[]);
        assert!(validate_value_ref(&gauge, ValueRef::Gauge(f64::NAN)).is_ok());
        assert!(validate_value_ref(&gauge, ValueRef::Counter(1)).is_err());
    }

    /// A native histogram of 6 observations: 1 in the zero bucket, 3 positive (keys -2, -1,
    /// 3), 2 negative (key 0).
    fn native(edit: impl FnOnce(&mut crate::NativeBuckets)) -> Value {
        let mut native = crate::NativeBuckets {
            schema: 3,
            zero_threshold: 1e-9,
            zero_count: 1,
            positive_spans: vec![
                BucketSpan {
                    offset: -2,
                    length: 2,
                },
                BucketSpan {
                    offset: 3,
                    length: 1,
                },
            ],
            positive_counts: vec![1, 1, 1],
            negative_spans: vec![BucketSpan {
                offset: 0,
                length: 1,
            }],
            negative_counts: vec![2],
        };
        edit(&mut native);
        Value::NativeHistogram(Box::new(crate::NativeHistogramValue {
            classic: HistogramValue {
                count: 6,
                sum: 2.0,
                buckets: vec![4, 2],
            },
            native,
        }))
    }

    /// Each rule of the native part, broken alone, is refused with its words (borrowed and
    /// owned alike); the good value passes.
    #[test]
    fn native_parts_are_checked_rule_by_rule() {
        let h = def("h", MetricKind::Histogram, &[], &[1.0]);
        assert_eq!(validate_value(&h, &native(|_| {})), Ok(()));
        let span = |offset, length| BucketSpan { offset, length };
        type Edit = Box<dyn FnOnce(&mut crate::NativeBuckets)>;
        let cases: Vec<(Edit, &str)> = vec![
            (Box::new(|n| n.schema = 9), "native schema 9 outside -4..=8"),
            (Box::new(|n| n.schema = -5), "native schema -5 outside"),
            (Box::new(|n| n.zero_threshold = -1.0), "zero threshold -1"),
            (
                Box::new(|n| n.zero_threshold = f64::NAN),
                "zero threshold NaN",
            ),
            (
                Box::new(move |n| n.positive_spans[1] = span(-1, 1)),
                "positive buckets: span 1 has a negative offset -1",
            ),
            (
                Box::new(move |n| n.positive_spans[1] = span(3, 0)),
                "span 1 has length 0",
            ),
            (
                Box::new(move |n| n.positive_spans[1] = span(3, 2)),
                "spans give more keys than the 3 counts",
            ),
            (
                Box::new(move |n| n.positive_spans.truncate(1)),
                "spans give 2 keys for 3 counts",
            ),
            (
                Box::new(move |n| n.negative_spans = vec![span(0, 1), span(0, 1)]),
                "negative buckets: 2 spans for 1 counts",
            ),
            (
                Box::new(move |n| n.negative_spans[0] = span((1 << 20) + 1, 1)),
                "beyond ±1048576",
            ),
            (
                Box::new(move |n| n.positive_spans[0] = span(-(1 << 20) - 1, 2)),
                "beyond ±1048576",
            ),
            (
                Box::new(|n| n.zero_count = 2),
                "count 6 differs from the sum of native bucket counts 7",
            ),
            (
                Box::new(|n| n.negative_counts[0] = u64::MAX),
                "native bucket counts overflow",
            ),
            (
                Box::new(move |n| {
                    n.positive_spans = vec![span(0, 4097)];
                    n.positive_counts = vec![0; 4097];
                }),
                "4098 native buckets, more than 4096",
            ),
        ];
        for (edit, why) in cases {
            let value = native(edit);
            let e = validate_value(&h, &value).unwrap_err().to_string();
            assert!(e.contains(why), "{e} for {value:?}");
            let borrowed = validate_value_ref(&h, ValueRef::from(&value));
            assert_eq!(borrowed.unwrap_err().to_string(), e);
        }
        let gauge = def("g", MetricKind::Gauge, &[], &[]);
        assert!(validate_value(&gauge, &native(|_| {})).is_err());
    }
}
