//! Exposition formats: Prometheus text 0.0.4 and OpenMetrics 1.0.0.
//!
//! Apart from the store, as in client_rust's `encoding/text.rs`: the store walks its
//! series and calls the [`Encoder`]; [`encode_families`] does the same for the families a
//! `prometheus::Registry` gathers (the exporter's own OpenTelemetry metrics). Adding a
//! format touches only this module.

mod encoder;
mod escape;
mod families;
mod negotiate;
mod number;

pub use encoder::Encoder;
pub(crate) use encoder::{FamilyKind, Spill};
pub(crate) use escape::render_labels;
pub(crate) use families::encode_families;
pub(crate) use negotiate::wants_gzip;

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
