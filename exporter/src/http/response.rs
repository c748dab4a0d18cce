//! Small response builders.

use hyper::body::Bytes;
use warp::http::{HeaderValue, Response, StatusCode, header};

/// A response with `body` and `content_type`.
pub(crate) fn with_body(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Bytes> {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response<Bytes> {
    let mut body = value.to_string().into_bytes();
    body.push(b'\n');
    with_body(status, "application/json", body)
}
