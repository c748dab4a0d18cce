//! A tiny HTTP/1.1 GET client over `std::net::TcpStream`: one request per connection.

use std::io::{Read, Write};
use std::net::TcpStream;

use crate::support::eventually::patience;

/// A response: status, headers (names lower-cased, in order) and the body as received
/// (de-chunked, still compressed if the server compressed it).
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8, gunzipped first when `Content-Encoding: gzip`.
    #[track_caller]
    pub fn text(&self) -> String {
        let bytes = if self.header("content-encoding") == Some("gzip") {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&self.body[..])
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
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("not an http:// URL: {url}"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let err = |e: std::io::Error| format!("GET {url}: {e}");
    let mut stream = TcpStream::connect(authority).map_err(err)?;
    stream.set_read_timeout(Some(patience())).map_err(err)?;
    stream.set_write_timeout(Some(patience())).map_err(err)?;
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).map_err(err)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(err)?;
    parse(&raw).map_err(|why| format!("GET {url}: malformed response: {why}"))
}

fn parse(raw: &[u8]) -> Result<Response, String> {
    let r = dawn_daemon::http_get::parse_response(raw)?;
    Ok(Response {
        status: r.status,
        headers: r.headers,
        body: r.body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_chunked_and_checks_length() {
        let r =
            parse(b"HTTP/1.1 404 Not Found\r\nContent-Type: a/b\r\ncontent-length: 2\r\n\r\nhi")
                .expect("valid");
        assert_eq!(r.status, 404);
        assert_eq!(r.header("Content-Type"), Some("a/b"));
        assert_eq!(r.text(), "hi");
        let r = parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .expect("valid");
        assert_eq!(r.text(), "abcde");
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab").is_err());
        assert!(parse(b"garbage").is_err());
    }
}
