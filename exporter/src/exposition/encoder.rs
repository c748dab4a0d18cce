//! Writes metric families in the text format 0.0.4 or OpenMetrics 1.0.0.
//!
//! The encoder knows nothing of where samples come from: the store hands it pre-rendered
//! label strings and numbers, [`super::families`] adapts `prometheus` registry output.

use super::Format;
use super::escape::{push_help_openmetrics, push_help_text};
use super::number::{write_u64, write_value};

/// Kind of a metric family, as written in `# TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FamilyKind {
    /// Monotonic counter; samples end in `_total`.
    Counter,
    /// Gauge.
    Gauge,
    /// Histogram with `_bucket`, `_sum` and `_count` samples.
    Histogram,
    /// Summary with quantile, `_sum` and `_count` samples.
    Summary,
    /// Untyped (`untyped` in text, `unknown` in OpenMetrics).
    Unknown,
}

impl FamilyKind {
    fn type_word(self, format: Format) -> &'static str {
        match (self, format) {
            (FamilyKind::Counter, _) => "counter",
            (FamilyKind::Gauge, _) => "gauge",
            (FamilyKind::Histogram, _) => "histogram",
            (FamilyKind::Summary, _) => "summary",
            (FamilyKind::Unknown, Format::Text) => "untyped",
            (FamilyKind::Unknown, Format::OpenMetrics) => "unknown",
        }
    }
}

/// Where a streaming [`Encoder`] hands its text each time it holds a chunk's worth, e.g. a
/// compressor: the exposition then never exists whole, and each chunk is still in the
/// cache when it is compressed.
pub(crate) trait Spill {
    /// Takes `text`, whole lines of the exposition in order.
    fn spill(&mut self, text: &str);
}

/// A [`Spill`] and the size of text that triggers it.
struct Spilling<'a> {
    to: &'a mut dyn Spill,
    chunk: usize,
}

impl std::fmt::Debug for Spilling<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spilling")
            .field("chunk", &self.chunk)
            .finish_non_exhaustive()
    }
}

/// Appends exposition text to a `String`, or streams it through one (see
/// [`Encoder::streaming`]).
#[derive(Debug)]
pub struct Encoder<'a> {
    out: &'a mut String,
    format: Format,
    spill: Option<Spilling<'a>>,
}

impl<'a> Encoder<'a> {
    /// An encoder appending to `out`.
    pub fn new(out: &'a mut String, format: Format) -> Self {
        Encoder {
            out,
            format,
            spill: None,
        }
    }

    /// An encoder that writes into `buffer` and hands it to `spill` (then empties it)
    /// whenever it holds at least `chunk` bytes, and at [`Encoder::finish`] or
    /// [`Encoder::end_part`]. `buffer` should have room for `chunk` plus a line.
    pub(crate) fn streaming(
        buffer: &'a mut String,
        format: Format,
        spill: &'a mut dyn Spill,
        chunk: usize,
    ) -> Self {
        Encoder {
            out: buffer,
            format,
            spill: Some(Spilling { to: spill, chunk }),
        }
    }

    /// Ends a line; a streaming encoder spills when its buffer holds a chunk.
    #[inline]
    fn end_line(&mut self) {
        self.out.push('\n');
        if let Some(s) = &mut self.spill
            && self.out.len() >= s.chunk
        {
            s.to.spill(self.out);
            self.out.clear();
        }
    }

    /// Hands what a streaming encoder still holds to its [`Spill`].
    fn flush(&mut self) {
        if let Some(s) = &mut self.spill
            && !self.out.is_empty()
        {
            s.to.spill(self.out);
            self.out.clear();
        }
    }

    /// The format being written.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Writes the `# HELP` and `# TYPE` lines that open a family.
    ///
    /// `name` is the sample name (`p2p_connections_total` for a counter); in OpenMetrics a
    /// counter's family is named without `_total`.
    pub fn family(&mut self, name: &str, help: &str, kind: FamilyKind) {
        let family = match (self.format, kind) {
            (Format::OpenMetrics, FamilyKind::Counter) => {
                name.strip_suffix("_total").unwrap_or(name)
            }
            _ => name,
        };
        if !help.is_empty() {
            self.out.push_str("# HELP ");
            self.out.push_str(family);
            self.out.push(' ');
            match self.format {
                Format::Text => push_help_text(self.out, help),
                Format::OpenMetrics => push_help_openmetrics(self.out, help),
            }
            self.end_line();
        }
        self.out.push_str("# TYPE ");
        self.out.push_str(family);
        self.out.push(' ');
        self.out.push_str(kind.type_word(self.format));
        self.end_line();
    }

    fn sample_start(
        &mut self,
        name: &str,
        suffix: &str,
        labels: &str,
        extra: Option<(&str, &str)>,
    ) {
        let out = &mut *self.out;
        out.push_str(name);
        out.push_str(suffix);
        match (labels.is_empty(), extra) {
            (true, None) => {}
            (false, None) => {
                out.push('{');
                out.push_str(labels);
                out.push('}');
            }
            (empty, Some((label, value))) => {
                out.push('{');
                if !empty {
                    out.push_str(labels);
                    out.push(',');
                }
                out.push_str(label);
                out.push_str("=\"");
                out.push_str(value);
                out.push('"');
                out.push('}');
            }
        }
        out.push(' ');
    }

    /// Writes `name{labels} value`. `labels` is pre-rendered (`a="x",b="y"`, no braces).
    pub fn sample(&mut self, name: &str, labels: &str, value: f64) {
        self.sample_start(name, "", labels, None);
        write_value(self.out, value);
        self.end_line();
    }

    /// Writes `name{labels} value` for an integer value.
    pub fn sample_u64(&mut self, name: &str, labels: &str, value: u64) {
        self.sample_start(name, "", labels, None);
        write_u64(self.out, value);
        self.end_line();
    }

    /// Writes `name_bucket{labels,le="le"} cumulative`; `le` is already formatted for this
    /// encoder's format (see [`super::BucketBounds`]).
    pub fn bucket(&mut self, name: &str, labels: &str, le: &str, cumulative: u64) {
        self.sample_start(name, "_bucket", labels, Some(("le", le)));
        write_u64(self.out, cumulative);
        self.end_line();
    }

    /// Writes `name{labels,quantile="q"} value` of a summary; `quantile` is formatted.
    pub fn quantile(&mut self, name: &str, labels: &str, quantile: &str, value: f64) {
        self.sample_start(name, "", labels, Some(("quantile", quantile)));
        write_value(self.out, value);
        self.end_line();
    }

    /// Writes the `_sum` and `_count` samples closing a histogram or summary series.
    pub fn sum_and_count(&mut self, name: &str, labels: &str, sum: f64, count: u64) {
        self.sample_start(name, "_sum", labels, None);
        write_value(self.out, sum);
        self.end_line();
        self.sample_start(name, "_count", labels, None);
        write_u64(self.out, count);
        self.end_line();
    }

    /// Writes a whole histogram series from per-bucket (not cumulative) counts, one per
    /// entry of `les` (the last being `+Inf`).
    pub fn histogram(
        &mut self,
        name: &str,
        labels: &str,
        les: &[String],
        per_bucket: &[u64],
        count: u64,
        sum: f64,
    ) {
        let mut cumulative = 0u64;
        for (le, n) in les.iter().zip(per_bucket) {
            cumulative = cumulative.saturating_add(*n);
            self.bucket(name, labels, le, cumulative);
        }
        self.sum_and_count(name, labels, sum, count);
    }

    /// Ends the exposition (`# EOF` in OpenMetrics); a streaming encoder spills the rest.
    pub fn finish(mut self) {
        if self.format == Format::OpenMetrics {
            self.out.push_str("# EOF\n");
        }
        self.flush();
    }

    /// Ends a part of an exposition that another encoder continues (no `# EOF`); a
    /// streaming encoder spills the rest.
    pub(crate) fn end_part(mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(f: impl Fn(&mut Encoder<'_>)) -> (String, String) {
        let mut text = String::new();
        let mut e = Encoder::new(&mut text, Format::Text);
        f(&mut e);
        e.finish();
        let mut om = String::new();
        let mut e = Encoder::new(&mut om, Format::OpenMetrics);
        f(&mut e);
        e.finish();
        (text, om)
    }

    #[test]
    fn counter_family_names_differ_by_format() {
        let (text, om) = both(|e| {
            e.family("p2p_connections_total", "Attempts.", FamilyKind::Counter);
            e.sample_u64("p2p_connections_total", r#"status="success""#, 3);
        });
        assert_eq!(
            text,
            "# HELP p2p_connections_total Attempts.\n\
             # TYPE p2p_connections_total counter\n\
             p2p_connections_total{status=\"success\"} 3\n"
        );
        assert_eq!(
            om,
            "# HELP p2p_connections Attempts.\n\
             # TYPE p2p_connections counter\n\
             p2p_connections_total{status=\"success\"} 3\n\
             # EOF\n"
        );
    }

    #[test]
    fn histogram_lines() {
        let les = ["0.5".to_owned(), "1".to_owned(), "+Inf".to_owned()];
        let (text, _) = both(|e| {
            e.family("lat", "", FamilyKind::Histogram);
            e.histogram("lat", "", &les, &[1, 2, 3], 6, 7.5);
            e.histogram("lat", r#"t="a""#, &les, &[0, 0, 1], 1, 99.0);
        });
        assert_eq!(
            text,
            "# TYPE lat histogram\n\
             lat_bucket{le=\"0.5\"} 1\n\
             lat_bucket{le=\"1\"} 3\n\
             lat_bucket{le=\"+Inf\"} 6\n\
             lat_sum 7.5\n\
             lat_count 6\n\
             lat_bucket{t=\"a\",le=\"0.5\"} 0\n\
             lat_bucket{t=\"a\",le=\"1\"} 0\n\
             lat_bucket{t=\"a\",le=\"+Inf\"} 1\n\
             lat_sum{t=\"a\"} 99\n\
             lat_count{t=\"a\"} 1\n"
        );
    }

    /// Collects what a streaming encoder spills.
    #[derive(Default)]
    struct Chunks(Vec<String>);

    impl Spill for Chunks {
        fn spill(&mut self, text: &str) {
            self.0.push(text.to_owned());
        }
    }

    #[test]
    fn streaming_spills_whole_lines_that_make_the_same_text() {
        let les = ["0.5".to_owned(), "1".to_owned(), "+Inf".to_owned()];
        let write = |e: &mut Encoder<'_>| {
            e.family("lat", "Latency.", FamilyKind::Histogram);
            for i in 0..40 {
                e.histogram("lat", &format!("peer=\"p{i}\""), &les, &[1, 2, 3], 6, 7.5);
            }
            e.family("up", "", FamilyKind::Gauge);
            e.sample("up", "", 1.0);
        };
        for format in [Format::Text, Format::OpenMetrics] {
            let mut whole = String::new();
            let mut e = Encoder::new(&mut whole, format);
            write(&mut e);
            e.finish();
            for chunk in [1, 100, 1 << 20] {
                let (mut buffer, mut chunks) = (String::new(), Chunks::default());
                let mut e = Encoder::streaming(&mut buffer, format, &mut chunks, chunk);
                write(&mut e);
                e.finish();
                assert!(buffer.is_empty(), "finish spills everything");
                assert_eq!(chunks.0.concat(), whole, "{format:?}, chunks of {chunk}");
                assert!(chunks.0.iter().all(|c| c.ends_with('\n')), "whole lines");
                let most = chunks.0.iter().map(String::len).max().unwrap_or(0);
                assert!(most < chunk.max(1) + 64, "a chunk of {most} bytes");
                if chunk == 100 {
                    assert!(chunks.0.len() > 10, "{} chunks", chunks.0.len());
                }
            }
            // A part ends without `# EOF`.
            let (mut buffer, mut chunks) = (String::new(), Chunks::default());
            let mut e = Encoder::streaming(&mut buffer, format, &mut chunks, 1 << 20);
            e.sample("up", "", 1.0);
            e.end_part();
            assert_eq!(chunks.0.concat(), "up 1\n");
        }
    }

    #[test]
    fn untyped_is_unknown_in_openmetrics() {
        let (text, om) = both(|e| {
            e.family("x", "h\\", FamilyKind::Unknown);
            e.sample("x", "", f64::NAN);
        });
        assert_eq!(text, "# HELP x h\\\\\n# TYPE x untyped\nx NaN\n");
        assert_eq!(om, "# HELP x h\\\\\n# TYPE x unknown\nx NaN\n# EOF\n");
    }
}
