//! What an endpoint's handler receives and returns, so that every route in the table has the
//! same shape: `fn(Request) -> Reply`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use hyper::body::Bytes;
use warp::http::{HeaderMap, Response, header};

use super::HttpState;

/// One request that reached its route, with method and credentials already checked.
pub(crate) struct Request {
    /// What the handlers read.
    pub(crate) state: Arc<HttpState>,
    /// The request's headers.
    pub(crate) headers: HeaderMap,
    /// When the request was routed: the time health and liveness are judged at.
    pub(crate) now: Instant,
}

impl Request {
    /// The header `name` when present and visible ASCII.
    pub(crate) fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A handler's answer: at once, or later for work kept off the runtime (the scrape).
pub(crate) enum Reply {
    /// The response.
    Now(Response<Bytes>),
    /// A response still being computed.
    Later(Pin<Box<dyn Future<Output = Response<Bytes>> + Send>>),
}

impl Reply {
    /// The response, awaited when it is not ready yet.
    pub(crate) async fn into_response(self) -> Response<Bytes> {
        match self {
            Reply::Now(r) => r,
            Reply::Later(f) => f.await,
        }
    }
}

/// An endpoint: the request in, the answer out.
pub(crate) type Handler = fn(Request) -> Reply;
