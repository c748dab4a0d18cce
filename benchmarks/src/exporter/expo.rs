//! Reading expositions: a timed blocking GET (as a scraper does it), and a parser of the
//! text format into canonical sample keys, so that the exporter's output, the `prometheus`
//! crate's and what the wire clients sent can be compared sample by sample.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// `Accept` of every scrape by Prometheus 2.42 (`scrapeAcceptHeader` in its
/// `scrape/scrape.go`; without `--enable-feature=native-histograms`, which asks for protobuf
/// first). It prefers OpenMetrics, so the exporter answers OpenMetrics.
pub(crate) const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// The other headers Prometheus 2.42's `targetScraper.scrape` sets on every scrape
/// (`Accept-Encoding: gzip` unconditionally; the timeout header says the default 10 s).
pub(crate) const PROMETHEUS_HEADERS: &[(&str, &str)] = &[
    ("Accept", PROMETHEUS_ACCEPT),
    ("Accept-Encoding", "gzip"),
    ("User-Agent", "Prometheus/2.42.0"),
    ("X-Prometheus-Scrape-Timeout-Seconds", "10"),
];

/// Times whole `GET`s on 127.0.0.1:`port`, each over a fresh connection and read to the
/// end, into a buffer kept between requests (so the client's own page faults and buffer
/// growth stay out of the times).
#[derive(Debug)]
pub(crate) struct Scraper {
    port: u16,
    raw: Vec<u8>,
}

impl Scraper {
    /// A scraper of `port`.
    pub(crate) fn new(port: u16) -> Scraper {
        Scraper {
            port,
            raw: Vec::new(),
        }
    }

    /// `GET path`: the time from connecting to the last byte; fails unless 200.
    pub(crate) fn time(&mut self, path: &str) -> anyhow::Result<Duration> {
        self.time_with(path, &[])
    }

    /// `GET path` with `headers` added: the time from connecting to the last byte; fails
    /// unless 200.
    pub(crate) fn time_with(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Duration> {
        self.raw.clear();
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n", self.port);
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("Connection: close\r\n\r\n");
        let started = Instant::now();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        stream.write_all(request.as_bytes())?;
        stream.read_to_end(&mut self.raw)?;
        let elapsed = started.elapsed();
        if !self.raw.starts_with(b"HTTP/1.1 200 ") {
            let head = String::from_utf8_lossy(&self.raw[..self.raw.len().min(200)]);
            bail!("GET {path} answered {head:?}");
        }
        Ok(elapsed)
    }

    /// The last response, parsed.
    pub(crate) fn response(&self) -> anyhow::Result<dawn_daemon::http_get::Response> {
        dawn_daemon::http_get::parse_response(&self.raw)
            .map_err(|why| anyhow::anyhow!("malformed response: {why}"))
    }

    /// The body of the last response.
    pub(crate) fn body(&self) -> anyhow::Result<String> {
        String::from_utf8(self.response()?.body).context("exposition is not UTF-8")
    }

    /// `GET path` and its body.
    pub(crate) fn get(&mut self, path: &str) -> anyhow::Result<String> {
        self.time(path)?;
        self.body()
    }
}

/// A gzip body decompressed: its text, and how many gzip members it holds (RFC 1952
/// allows several one after the other; their texts concatenated are the content).
pub(crate) fn gunzip_members(mut body: &[u8]) -> anyhow::Result<(String, usize)> {
    let mut text = String::new();
    let mut members = 0;
    while !body.is_empty() {
        let mut member = flate2::bufread::GzDecoder::new(body);
        member
            .read_to_string(&mut text)
            .with_context(|| format!("gzip member {} is not valid UTF-8 gzip", members + 1))?;
        members += 1;
        // The decoder reads no further than its member's trailer.
        body = member.into_inner();
    }
    if members == 0 {
        bail!("an empty gzip body");
    }
    Ok((text, members))
}

/// The body of `GET /metrics`.
pub(crate) fn metrics(port: u16) -> anyhow::Result<String> {
    Scraper::new(port).get("/metrics")
}

/// A sample's canonical key: `name{a="x",b="y"}` with labels sorted by name and an `le`
/// value normalized through `f64` (so `1`, `1.0` and `1e0` are the same bucket).
pub(crate) fn sample_key(name: &str, labels: &[(&str, &str)]) -> String {
    let mut sorted: Vec<(&str, String)> = labels
        .iter()
        .map(|(k, v)| {
            let v = if *k == "le" {
                normalize_le(v)
            } else {
                (*v).to_owned()
            };
            (*k, v)
        })
        .collect();
    sorted.sort();
    let mut key = String::with_capacity(name.len() + 48);
    key.push_str(name);
    key.push('{');
    for (i, (k, v)) in sorted.iter().enumerate() {
        if i > 0 {
            key.push(',');
        }
        key.push_str(k);
        key.push_str("=\"");
        key.push_str(v);
        key.push('"');
    }
    key.push('}');
    key
}

fn normalize_le(v: &str) -> String {
    match parse_value(v) {
        Some(f) => format!("{f:?}"),
        None => v.to_owned(),
    }
}

fn parse_value(v: &str) -> Option<f64> {
    match v {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => v.parse().ok(),
    }
}

/// Every sample of a text-format exposition, by canonical key (see [`sample_key`]).
pub(crate) fn parse(text: &str) -> anyhow::Result<HashMap<String, f64>> {
    let mut out = HashMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, labels, rest) =
            parse_line(line).with_context(|| format!("bad line {line:?}"))?;
        let value_text = rest.split_whitespace().next().unwrap_or_default();
        let value = parse_value(value_text).with_context(|| format!("bad value in {line:?}"))?;
        let pairs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        out.insert(sample_key(name, &pairs), value);
    }
    Ok(out)
}

/// A sample line's name, unescaped labels and the text after them.
type Line<'a> = (&'a str, Vec<(&'a str, String)>, &'a str);

/// Splits `name{a="x",...} value` into its parts.
fn parse_line(line: &str) -> Option<Line<'_>> {
    let end = line.find(['{', ' '])?;
    let name = &line[..end];
    let mut labels = Vec::new();
    let mut rest = &line[end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut s = inner;
        loop {
            s = s.trim_start_matches(',');
            if let Some(after) = s.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = s.find('=')?;
            let key = &s[..eq];
            let mut chars = s[eq + 1..].strip_prefix('"')?.char_indices();
            let mut value = String::new();
            let close = loop {
                let (i, c) = chars.next()?;
                match c {
                    '"' => break i,
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    c => value.push(c),
                }
            };
            labels.push((key, value));
            s = &s[eq + 1 + 1 + close + 1..];
        }
    }
    Some((name, labels, rest.trim_start()))
}

/// The values of every sample `name{...}` of a text exposition whose labels include
/// `labels`, in order (a substring match on `k="v"`: enough for the exporter's own output).
pub(crate) fn values<'a>(
    text: &'a str,
    name: &'a str,
    labels: &'a [(&str, &str)],
) -> impl DoubleEndedIterator<Item = f64> + 'a {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(move |l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(move |l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
}

/// The value of the unlabelled sample `name`, if the exposition has it.
pub(crate) fn unlabelled(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| parse_value(v.split_whitespace().next()?))
}

/// Compares `expected` samples with an exposition's; returns a description of the first
/// few differences (empty when every expected sample is there with its value).
pub(crate) fn differences(expected: &[(String, f64)], got: &HashMap<String, f64>) -> Vec<String> {
    let mut out = Vec::new();
    for (key, want) in expected {
        let ok = got
            .get(key)
            .is_some_and(|v| v == want || (v.is_nan() && want.is_nan()));
        if !ok {
            out.push(format!("{key}: got {:?}, want {want}", got.get(key)));
            if out.len() >= 5 {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_members_are_counted_and_joined() {
        use std::io::Write as _;
        let gz = |text: &str| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(text.as_bytes()).unwrap();
            e.finish().unwrap()
        };
        let mut body = gz("a 1\n");
        body.extend(gz("b 2\n# EOF\n"));
        assert_eq!(
            gunzip_members(&body).unwrap(),
            ("a 1\nb 2\n# EOF\n".to_owned(), 2)
        );
        assert!(gunzip_members(&body[..body.len() - 3]).is_err());
        assert!(gunzip_members(&[]).is_err());
    }

    #[test]
    fn parses_and_canonicalizes() {
        let text = "# HELP x_total h\n# TYPE x_total counter\n\
                    x_total{b=\"2\",a=\"q \\\" \\\\ \\n\"} 3\n\
                    lat_bucket{le=\"1\",t=\"a\"} 4\n\
                    lat_bucket{t=\"a\",le=\"+Inf\"} 5\n\
                    lat_sum{t=\"a\"} 0.30000000000000004\n\
                    up 1\n";
        let m = parse(text).unwrap();
        assert_eq!(
            m[&sample_key("x_total", &[("a", "q \" \\ \n"), ("b", "2")])],
            3.0
        );
        assert_eq!(
            m[&sample_key("lat_bucket", &[("t", "a"), ("le", "1.0")])],
            4.0
        );
        assert_eq!(
            m[&sample_key("lat_bucket", &[("le", "+Inf"), ("t", "a")])],
            5.0
        );
        assert_eq!(m[&sample_key("lat_sum", &[("t", "a")])], 0.1 + 0.2);
        assert_eq!(unlabelled(text, "up"), Some(1.0));
        assert_eq!(unlabelled(text, "x"), None);
        let expected = vec![(sample_key("up", &[]), 2.0)];
        assert_eq!(differences(&expected, &m).len(), 1);
    }
}
