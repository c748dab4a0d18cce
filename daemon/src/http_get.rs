//! A minimal HTTP/1.1 GET client for loopback probes (`dawn-exporter healthcheck`, the local
//! cluster's summary, the benchmarks and the end-to-end tests), so images need no curl and
//! no binary pulls in an HTTP client stack for one request.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response body read.
const MAX_RESPONSE: usize = 64 << 20;

/// A response: status, headers (names lower-cased) and body.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Headers in order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text, lossily.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Why a GET failed.
#[derive(Debug, thiserror::Error)]
pub enum GetError {
    /// Only `http://host:port/path` URLs (`https://` where the caller sets up TLS) are
    /// understood.
    #[error("unsupported URL {0:?}: expected http://HOST:PORT/PATH")]
    Url(String),
    /// Connecting, writing or reading failed.
    #[error("request to {url} failed: {source}")]
    Io {
        /// The URL.
        url: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No answer within the timeout.
    #[error("request to {0} timed out")]
    Timeout(String),
    /// The answer is not HTTP/1.x.
    #[error("malformed response from {url}: {why}")]
    Malformed {
        /// The URL.
        url: String,
        /// What is wrong.
        why: &'static str,
    },
}

/// GETs `url` (`http://HOST:PORT/PATH`) with extra request `headers`, within `timeout`.
pub async fn get(
    url: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<Response, GetError> {
    match tokio::time::timeout(timeout, get_inner(url, headers)).await {
        Ok(r) => r,
        Err(_) => Err(GetError::Timeout(url.to_owned())),
    }
}

/// [`get`] for a caller with no runtime of its own (the end-to-end tests, the benchmarks):
/// runs the request on a small runtime made for it. Called from inside a tokio runtime,
/// it panics (tokio refuses to block a runtime's thread).
pub fn get_blocking(
    url: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<Response, GetError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| GetError::Io {
            url: url.to_owned(),
            source,
        })?;
    runtime.block_on(get(url, headers, timeout))
}

async fn get_inner(url: &str, headers: &[(&str, &str)]) -> Result<Response, GetError> {
    let (authority, _) = split_url(url, "http")?;
    let stream = TcpStream::connect(authority)
        .await
        .map_err(|source| GetError::Io {
            url: url.to_owned(),
            source,
        })?;
    get_on(stream, url, headers).await
}

/// Splits `SCHEME://HOST:PORT/PATH` into authority and path (`/` when absent).
pub fn split_url<'u>(url: &'u str, scheme: &str) -> Result<(&'u str, &'u str), GetError> {
    let rest = url
        .strip_prefix(scheme)
        .and_then(|r| r.strip_prefix("://"))
        .ok_or_else(|| GetError::Url(url.to_owned()))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(GetError::Url(url.to_owned()));
    }
    Ok((authority, path))
}

/// GETs `url` over `stream`, already connected to its host (plain TCP, or TLS set up by the
/// caller), with extra request `headers`. No timeout: wrap it in one.
pub async fn get_on<S>(
    mut stream: S,
    url: &str,
    headers: &[(&str, &str)],
) -> Result<Response, GetError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (authority, path) = match url.split_once("://") {
        Some((scheme, _)) => split_url(url, scheme)?,
        None => return Err(GetError::Url(url.to_owned())),
    };
    let io = |source| GetError::Io {
        url: url.to_owned(),
        source,
    };
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.map_err(io)?;
    let mut raw = Vec::new();
    let read = (&mut stream)
        .take(MAX_RESPONSE as u64)
        .read_to_end(&mut raw)
        .await;
    // A TLS server may close without close_notify after a complete answer; what was read
    // is judged by parsing it.
    if let Err(e) = read
        && (raw.is_empty() || e.kind() != std::io::ErrorKind::UnexpectedEof)
    {
        return Err(io(e));
    }
    parse(url, &raw)
}

fn parse(url: &str, raw: &[u8]) -> Result<Response, GetError> {
    parse_response(raw).map_err(|why| GetError::Malformed {
        url: url.to_owned(),
        why,
    })
}

/// Parses a whole HTTP/1.x response as read until the server closed the connection:
/// status, headers (names lower-cased), and the body de-chunked; a body shorter or longer
/// than its `Content-Length` is an error. The `Err` says what is malformed.
pub fn parse_response(raw: &[u8]) -> Result<Response, &'static str> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|_| "headers are not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or("no status line")?;
    let mut parts = status_line.split(' ');
    if !parts.next().is_some_and(|v| v.starts_with("HTTP/1.")) {
        return Err("not HTTP/1.x");
    }
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or("bad status code")?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[head_end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body).ok_or("bad chunked encoding")?;
    } else if let Some(len) = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        && body.len() != len
    {
        return Err("body length differs from Content-Length");
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size_text = size_text.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked() {
        let r = parse(
            "u",
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: a/b\r\n\r\nhi",
        )
        .unwrap();
        assert_eq!(r.status, 503);
        assert_eq!(r.header("content-type"), Some("a/b"));
        assert_eq!(r.header("Content-Type"), Some("a/b"));
        assert_eq!(r.text(), "hi");
        let r = parse(
            "u",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.text(), "abcde");
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse("u", b"garbage").is_err());
        assert!(parse("u", b"SMTP 200\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab").is_err());
    }

    #[test]
    fn blocking_get_reads_a_whole_answer() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/x", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut conn, _) = listener.accept().unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap() == 1 {
                head.push(byte[0]);
            }
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .unwrap();
            String::from_utf8(head).unwrap()
        });
        let r = get_blocking(&url, &[("Accept", "a/b")], Duration::from_secs(10)).unwrap();
        assert_eq!((r.status, r.text().as_str()), (200, "ok"));
        let head = server.join().unwrap();
        assert!(head.starts_with("GET /x HTTP/1.1\r\n"), "{head}");
        assert!(head.contains("\r\nAccept: a/b\r\n"), "{head}");
    }

    #[tokio::test]
    async fn refuses_non_http_urls() {
        let err = get("https://x/", &[], Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("expected http://HOST:PORT/PATH"),
            "{err}"
        );
    }
}
