//! `Accept` and `Accept-Encoding` negotiation.

use super::{Format, Negotiated};

/// One media range of an `Accept` header: type and the parameters we look at.
struct MediaRange<'a> {
    media: &'a str,
    version: Option<&'a str>,
    /// `proto=` and `encoding=` of the protobuf media type.
    proto: Option<&'a str>,
    encoding: Option<&'a str>,
    q: f32,
}

fn parse_q(v: &str) -> f32 {
    v.trim()
        .parse::<f32>()
        .ok()
        .filter(|q| q.is_finite())
        .map_or(1.0, |q| q.clamp(0.0, 1.0))
}

fn ranges(header: &str) -> impl Iterator<Item = MediaRange<'_>> {
    header.split(',').filter_map(|part| {
        let mut params = part.split(';');
        let media = params.next()?.trim();
        if media.is_empty() {
            return None;
        }
        let mut range = MediaRange {
            media,
            version: None,
            proto: None,
            encoding: None,
            q: 1.0,
        };
        for p in params {
            if let Some((k, v)) = p.split_once('=') {
                match k.trim() {
                    k if k.eq_ignore_ascii_case("q") => range.q = parse_q(v),
                    k if k.eq_ignore_ascii_case("version") => range.version = Some(v.trim()),
                    k if k.eq_ignore_ascii_case("proto") => range.proto = Some(v.trim()),
                    k if k.eq_ignore_ascii_case("encoding") => range.encoding = Some(v.trim()),
                    _ => {}
                }
            }
        }
        Some(range)
    })
}

pub(super) fn format(accept: Option<&str>) -> Format {
    let Some(accept) = accept else {
        return Format::Text;
    };
    let mut q_openmetrics = 0.0f32;
    let mut q_text = 0.0f32;
    for r in ranges(accept) {
        if r.media.eq_ignore_ascii_case("application/openmetrics-text") {
            // 0.0.1 is the draft version Prometheus also asks for; 1.0.0 answers it.
            let known = matches!(r.version, None | Some("1.0.0") | Some("0.0.1"));
            if known {
                q_openmetrics = q_openmetrics.max(r.q);
            }
        } else if r.media.eq_ignore_ascii_case("text/plain")
            || r.media.eq_ignore_ascii_case("text/*")
            || r.media == "*/*"
        {
            q_text = q_text.max(r.q);
        }
    }
    if q_openmetrics > 0.0 && q_openmetrics >= q_text {
        Format::OpenMetrics
    } else {
        Format::Text
    }
}

/// The protobuf format when an `Accept` header names it (the delimited encoding of
/// `io.prometheus.client.MetricFamily`, as Prometheus and client_golang spell it) with a
/// non-zero weight at least that of every text format; else the text format it prefers.
pub(super) fn negotiated(accept: Option<&str>) -> Negotiated {
    let text = format(accept);
    let Some(accept) = accept else {
        return Negotiated::Text(text);
    };
    let mut q_protobuf = 0.0f32;
    let mut q_text = 0.0f32;
    for r in ranges(accept) {
        if r.media
            .eq_ignore_ascii_case("application/vnd.google.protobuf")
        {
            let family = r.proto == Some("io.prometheus.client.MetricFamily");
            let delimited = r
                .encoding
                .is_none_or(|e| e.eq_ignore_ascii_case("delimited"));
            if family && delimited {
                q_protobuf = q_protobuf.max(r.q);
            }
        } else if r.media.eq_ignore_ascii_case("application/openmetrics-text")
            || r.media.eq_ignore_ascii_case("text/plain")
            || r.media.eq_ignore_ascii_case("text/*")
            || r.media == "*/*"
        {
            q_text = q_text.max(r.q);
        }
    }
    if q_protobuf > 0.0 && q_protobuf >= q_text {
        Negotiated::Protobuf
    } else {
        Negotiated::Text(text)
    }
}

/// Whether an `Accept-Encoding` header admits gzip (`gzip` or `*` with a non-zero weight).
pub(crate) fn wants_gzip(accept_encoding: Option<&str>) -> bool {
    let Some(header) = accept_encoding else {
        return false;
    };
    let mut gzip = None;
    let mut star = None;
    for part in header.split(',') {
        let mut params = part.split(';');
        let coding = params.next().unwrap_or("").trim();
        let q = params
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .map_or(1.0, |(_, v)| parse_q(v));
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(q);
        } else if coding == "*" {
            star = Some(q);
        }
    }
    gzip.or(star).is_some_and(|q| q > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_table() {
        let table: &[(Option<&str>, Format)] = &[
            (None, Format::Text),
            (Some("*/*"), Format::Text),
            (Some("text/plain"), Format::Text),
            (Some("application/openmetrics-text"), Format::OpenMetrics),
            (
                Some("application/openmetrics-text; version=1.0.0; charset=utf-8"),
                Format::OpenMetrics,
            ),
            // Prometheus 2.x scrape header.
            (
                Some(
                    "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
                ),
                Format::OpenMetrics,
            ),
            // Prometheus 3.x with text preferred.
            (
                Some(
                    "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;version=1.0.0;q=0.5",
                ),
                Format::Text,
            ),
            (Some("application/openmetrics-text;q=0"), Format::Text),
            (
                Some("application/openmetrics-text;version=9.9.9"),
                Format::Text,
            ),
            (Some(",,;"), Format::Text),
        ];
        for (accept, want) in table {
            assert_eq!(format(*accept), *want, "{accept:?}");
        }
    }

    /// Prometheus 2.42's two scrape headers (scrape.go's `scrapeAcceptHeader` and, with
    /// `--enable-feature=native-histograms`, `scrapeAcceptHeaderWithProtobuf`).
    const PROMETHEUS_2_42: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    const PROMETHEUS_2_42_PROTOBUF: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    #[test]
    fn negotiated_table() {
        let table: &[(Option<&str>, Negotiated)] = &[
            (None, Negotiated::Text(Format::Text)),
            (Some("*/*"), Negotiated::Text(Format::Text)),
            (Some(PROMETHEUS_2_42), Negotiated::Text(Format::OpenMetrics)),
            (Some(PROMETHEUS_2_42_PROTOBUF), Negotiated::Protobuf),
            // client_golang's own spelling, with spaces.
            (
                Some(
                    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
                ),
                Negotiated::Protobuf,
            ),
            // Weighted below the text format.
            (
                Some(
                    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.4,text/plain;q=0.5",
                ),
                Negotiated::Text(Format::Text),
            ),
            // Another message, another encoding, or a zero weight: not ours.
            (
                Some("application/vnd.google.protobuf;proto=other.Message,text/plain;q=0.1"),
                Negotiated::Text(Format::Text),
            ),
            (
                Some(
                    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text",
                ),
                Negotiated::Text(Format::Text),
            ),
            (
                Some("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;q=0"),
                Negotiated::Text(Format::Text),
            ),
        ];
        for (accept, want) in table {
            assert_eq!(negotiated(*accept), *want, "{accept:?}");
        }
    }

    #[test]
    fn gzip_table() {
        let table: &[(Option<&str>, bool)] = &[
            (None, false),
            (Some("gzip"), true),
            (Some("deflate, gzip;q=1.0, *;q=0.5"), true),
            (Some("gzip;q=0"), false),
            (Some("identity"), false),
            (Some("*"), true),
            (Some("br, *;q=0"), false),
        ];
        for (header, want) in table {
            assert_eq!(wants_gzip(*header), *want, "{header:?}");
        }
    }
}
