//! The telemetry path: the store's families and the exporter's own, in the format the
//! `Accept` header prefers, gzipped when `Accept-Encoding` allows.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use hyper::body::Bytes;
use warp::http::{HeaderValue, Response, StatusCode, header};

use super::HttpState;
use super::body_buffer::BodyBuffers;
use super::gzip_body;
use super::handler::{Reply, Request};
use super::response::{json, with_body};
use crate::exposition::protobuf::encode_registry;
use crate::exposition::{Encoder, Format, Negotiated, ProtoEncoder, encode_families, wants_gzip};

/// Renders the whole exposition into the kept buffer when it is free (see
/// [`super::body_buffer`]); records its duration in `dawn_exporter_scrape_duration_seconds`.
fn render(state: &HttpState, format: Format) -> Bytes {
    let started = Instant::now();
    let expected = state.last_len.load(Ordering::Relaxed) + 1024;
    // Always empty, so always UTF-8.
    let mut out = String::from_utf8(state.bodies.take(expected)).unwrap_or_default();
    let mut encoder = Encoder::new(&mut out, format);
    state.store.render(&mut encoder, &state.aliases);
    let own = state.telemetry.gather();
    encode_families(&mut encoder, &own);
    encoder.finish();
    state.last_len.store(out.len(), Ordering::Relaxed);
    state
        .telemetry
        .observe_scrape(started.elapsed().as_secs_f64());
    BodyBuffers::body(&state.bodies, out.into_bytes())
}

/// Renders the whole exposition as a gzip body, compressed as it renders (see
/// [`gzip_body`]); records its duration, compression included, in
/// `dawn_exporter_scrape_duration_seconds`.
fn render_gzip(state: &HttpState, format: Format) -> std::io::Result<Vec<u8>> {
    let started = Instant::now();
    // Gathered before the store's lock is taken: the exporter's own gauges read the store.
    let own = state.telemetry.gather();
    let body = gzip_body::render(&state.store.snapshot(&state.aliases), &own, format)?;
    state
        .telemetry
        .observe_scrape(started.elapsed().as_secs_f64());
    Ok(body)
}

/// `body` gzipped, in one deflate stream at the level of the text's (the protobuf body is
/// not rendered in parts).
fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::new(gzip_body::LEVEL),
    );
    gz.write_all(body)?;
    gz.finish()
}

/// Builds the scrape response in the protobuf format (blocking work), gzipped when asked;
/// records its duration, compression included, in `dawn_exporter_scrape_duration_seconds`.
fn respond_protobuf(state: &HttpState, gzipped: bool) -> Response<Bytes> {
    let started = Instant::now();
    // Gathered before the store's lock is taken: the exporter's own gauges read the store.
    let own = state.telemetry.gather();
    let mut out = Vec::new();
    let mut encoder = ProtoEncoder::new(&mut out);
    state.store.render_to(&mut encoder, &state.aliases);
    encode_registry(&mut encoder, &own);
    encoder.finish();
    let gzip = if gzipped {
        gzip(&out)
            .inspect_err(|e| tracing::warn!("compressing metrics failed, sending them plain: {e}"))
            .ok()
    } else {
        None
    };
    state
        .telemetry
        .observe_scrape(started.elapsed().as_secs_f64());
    let (body, encoding) = match gzip {
        Some(body) => (body, Some("gzip")),
        None => (out, None),
    };
    let mut r = with_body(
        StatusCode::OK,
        Negotiated::Protobuf.content_type(),
        Bytes::from(body),
    );
    let headers = r.headers_mut();
    if let Some(encoding) = encoding {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding"),
    );
    r
}

/// Builds the scrape response (blocking work: call from a blocking thread).
fn respond(state: &HttpState, negotiated: Negotiated, gzipped: bool) -> Response<Bytes> {
    let format = match negotiated {
        Negotiated::Text(format) => format,
        Negotiated::Protobuf => return respond_protobuf(state, gzipped),
    };
    let gzip = if gzipped {
        render_gzip(state, format)
            .inspect_err(|e| tracing::warn!("compressing metrics failed, sending them plain: {e}"))
            .ok()
    } else {
        None
    };
    let (body, encoding) = match gzip {
        Some(body) => (Bytes::from(body), Some("gzip")),
        None => (render(state, format), None),
    };
    let mut r = with_body(StatusCode::OK, format.content_type(), body);
    let headers = r.headers_mut();
    if let Some(encoding) = encoding {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding"),
    );
    r
}

/// The telemetry path's handler: the format the `Accept` header prefers, gzipped when
/// `Accept-Encoding` allows.
pub(crate) fn metrics(r: Request) -> Reply {
    let format = Negotiated::from_accept(r.header(header::ACCEPT));
    let gzipped = wants_gzip(r.header(header::ACCEPT_ENCODING));
    Reply::Later(Box::pin(scrape(r.state, format, gzipped)))
}

/// The scrape, rendered on a blocking thread so a large store never stalls the runtime.
async fn scrape(state: Arc<HttpState>, format: Negotiated, gzipped: bool) -> Response<Bytes> {
    match tokio::task::spawn_blocking(move || respond(&state, format, gzipped)).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("rendering metrics failed: {e}");
            json(
                StatusCode::INTERNAL_SERVER_ERROR,
                &serde_json::json!({"error": "rendering metrics failed"}),
            )
        }
    }
}
