//! A parser for the Prometheus text format 0.0.4 and OpenMetrics 1.0, good enough to read a
//! sample's value by name and labels. Format conformance is promtool's and Prometheus' job
//! (see the `prometheus` tests); this only has to read what they accept.

use std::collections::BTreeMap;
use std::fmt;

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name as written on the line (with `_total`, `_bucket`, ... suffixes).
    pub name: String,
    /// Labels in the order written.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

impl Sample {
    /// The value of label `name`.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Display for Sample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{{", self.name)?;
        for (i, (n, v)) in self.labels.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{n}={v:?}")?;
        }
        write!(f, "}} {}", self.value)
    }
}

/// A parsed exposition.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    /// Every sample, in order.
    pub samples: Vec<Sample>,
    /// `# TYPE` per family name.
    pub types: BTreeMap<String, String>,
    /// `# HELP` per family name.
    pub helps: BTreeMap<String, String>,
    /// Whether the text ended with OpenMetrics' `# EOF`.
    pub eof: bool,
    /// The text it was parsed from.
    pub text: String,
}

impl Exposition {
    /// Parses `text`; an error names the offending line.
    pub fn parse(text: &str) -> Result<Exposition, String> {
        let mut out = Exposition {
            text: text.to_owned(),
            ..Exposition::default()
        };
        for (i, line) in text.lines().enumerate() {
            let bad = |why: &str| format!("line {}: {why}: {line:?}", i + 1);
            if out.eof {
                return Err(bad("content after # EOF"));
            }
            if line.trim().is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                let comment = comment.trim_start();
                if comment == "EOF" {
                    out.eof = true;
                } else if let Some(rest) = comment.strip_prefix("TYPE ") {
                    let (name, kind) = rest.split_once(' ').ok_or_else(|| bad("bad TYPE"))?;
                    out.types.insert(name.to_owned(), kind.trim().to_owned());
                } else if let Some(rest) = comment.strip_prefix("HELP ") {
                    let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                    out.helps.insert(name.to_owned(), help.to_owned());
                }
                continue;
            }
            out.samples
                .push(parse_sample(line).map_err(|why| bad(&why))?);
        }
        Ok(out)
    }

    /// Samples called `name` whose labels include every pair of `labels`.
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| labels.iter().all(|(n, v)| s.label(n) == Some(*v)))
            .collect()
    }

    /// The value of the one sample matching `name` and `labels` (a subset of its labels);
    /// `None` if there is none. Panics if several match: the test must say which it means.
    #[track_caller]
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found = self.find(name, labels);
        match found.as_slice() {
            [] => None,
            [one] => Some(one.value),
            many => panic!(
                "{} samples match {name} {labels:?}, be more specific:\n{}",
                many.len(),
                many.iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        }
    }

    /// Like [`Exposition::get`], but fails the test (showing what there is) when absent.
    #[track_caller]
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.get(name, labels) {
            Some(v) => v,
            None => panic!(
                "no sample {name} {labels:?} in the exposition; samples of that name:\n{}\n\
                 --- whole exposition ---\n{}",
                self.find(name, &[])
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
                self.text
            ),
        }
    }

    /// [`Exposition::get`] with absence read as 0 (a counter not yet created).
    #[track_caller]
    pub fn get_or_zero(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or(0.0)
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if name.is_empty() {
        return Err("empty metric name".into());
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        let (parsed, tail) = parse_labels(after)?;
        labels = parsed;
        rest = tail;
    }
    // Value, then an optional timestamp, then an optional OpenMetrics exemplar (` # {...}`).
    let rest = rest.split(" # ").next().unwrap_or(rest);
    let mut fields = rest.split_whitespace();
    let value_text = fields.next().ok_or("no value")?;
    let value = parse_value(value_text)?;
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// Label pairs in order.
type Labels = Vec<(String, String)>;

/// Parses `a="x",b="y"}` and returns the labels and the text after `}`.
fn parse_labels(mut s: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start_matches([' ', ',']);
        if let Some(tail) = s.strip_prefix('}') {
            return Ok((labels, tail));
        }
        let eq = s.find('=').ok_or("label without '='")?;
        let name = s[..eq].trim().to_owned();
        s = s[eq + 1..]
            .strip_prefix('"')
            .ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err("unterminated label value".into()),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err("dangling escape".into()),
                },
                Some((_, c)) => value.push(c),
            }
        };
        labels.push((name, value));
        s = &s[end + 1..];
    }
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s.parse().map_err(|_| format!("bad value {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_text_and_openmetrics() {
        let text = "# HELP a_total Things.\n# TYPE a_total counter\n\
                    a_total{x=\"1\",y=\"q\\\"uo\\\\te\\n\"} 3\n\
                    a_total{x=\"2\"} 4 1700000000000\n\
                    h_bucket{le=\"+Inf\"} 7\nh_sum 1.5e-3\ng NaN\n\
                    c_total 1 # {trace_id=\"x\"} 1\n# EOF\n";
        let e = Exposition::parse(text).expect("valid");
        assert!(e.eof);
        assert_eq!(e.types["a_total"], "counter");
        assert_eq!(e.value("a_total", &[("x", "1")]), 3.0);
        assert_eq!(
            e.find("a_total", &[("x", "1")])[0].label("y"),
            Some("q\"uo\\te\n")
        );
        assert_eq!(e.value("a_total", &[("x", "2")]), 4.0);
        assert_eq!(e.value("h_bucket", &[("le", "+Inf")]), 7.0);
        assert_eq!(e.value("h_sum", &[]), 0.0015);
        assert!(e.value("g", &[]).is_nan());
        assert_eq!(e.value("c_total", &[]), 1.0);
        assert_eq!(e.get("missing", &[]), None);
        assert!(Exposition::parse("x{a=\"1} 2\n").is_err());
        assert!(Exposition::parse("# EOF\nx 1\n").is_err());
    }

    #[test]
    #[should_panic(expected = "2 samples match")]
    fn ambiguous_lookup_fails() {
        let e = Exposition::parse("a{x=\"1\"} 1\na{x=\"2\"} 2\n").expect("valid");
        e.get("a", &[]);
    }
}
