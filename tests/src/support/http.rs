//! GETs for the tests through the daemon's loopback client (`dawn_daemon::http_get`, the one
//! `dawn-exporter healthcheck` uses), blocking and within the one patience; responses read
//! the way a test wants them: gunzipped, UTF-8 or JSON, or the test fails.

use std::io::Read;
use std::ops::Deref;

use dawn_daemon::http_get;

use crate::support::eventually::patience;

/// The daemon client's response (status, headers, body as received: de-chunked, still
/// compressed if the server compressed it), with readers that fail the test on a bad body.
#[derive(Debug, Clone)]
pub struct Response(pub http_get::Response);

impl Deref for Response {
    type Target = http_get::Response;

    fn deref(&self) -> &http_get::Response {
        &self.0
    }
}

impl Response {
    /// The body as UTF-8, gunzipped first when `Content-Encoding: gzip` (every member, as
    /// Go's reader and so Prometheus read them: RFC 1952 section 2.2 allows several).
    #[track_caller]
    pub fn text(&self) -> String {
        let bytes = if self.header("content-encoding") == Some("gzip") {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(&self.body[..])
                .read_to_end(&mut out)
                .expect("Content-Encoding: gzip but the body is not valid gzip");
            out
        } else {
            self.body.clone()
        };
        String::from_utf8(bytes).expect("response body is not UTF-8")
    }

    /// The body parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        let text = self.text();
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}) (status {}): {text}", self.status))
    }
}

/// GET `url` (`http://HOST:PORT/PATH`).
pub fn get(url: &str) -> Result<Response, String> {
    get_with(url, &[])
}

/// GET `url` with extra request headers.
pub fn get_with(url: &str, headers: &[(&str, &str)]) -> Result<Response, String> {
    http_get::get_blocking(url, headers, patience())
        .map(Response)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn text_gunzips_when_the_body_is_gzipped() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"hello").expect("compress");
        let raw = [
            &b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n"[..],
            &gz.finish().expect("compress"),
        ]
        .concat();
        let r = Response(http_get::parse_response(&raw).expect("valid"));
        assert_eq!(&r.body[..2], &[0x1f, 0x8b]);
        assert_eq!(r.text(), "hello");
    }

    #[test]
    fn text_reads_every_gzip_member() {
        let member = |text: &[u8]| {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(text).expect("compress");
            gz.finish().expect("compress")
        };
        let raw = [
            &b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n"[..],
            &member(b"hello, "),
            &member(b"world"),
        ]
        .concat();
        let r = Response(http_get::parse_response(&raw).expect("valid"));
        assert_eq!(r.text(), "hello, world");
    }
}
