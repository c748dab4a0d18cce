//! One request through the route table: credentials when the web config asks for them, a
//! JSON 404 or 405 when no route or method fits, else the route's handler; the web config's
//! headers go on every answer, and its `rate_limit` comes first (429).

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use serde_json::json;
use warp::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};

use super::HttpState;
use super::handler::Request;
use super::response::json;
use super::routes::{self, Route};
use crate::web_config::AuthOutcome;

/// Answers one request.
pub(crate) async fn handle(
    state: Arc<HttpState>,
    method: Method,
    path: &str,
    headers: HeaderMap,
) -> Response<Bytes> {
    let route = routes::find(path, &state.telemetry_path);
    let Some(web) = state.web.as_ref().map(|w| w.current()) else {
        return respond(state, route, method, path, headers).await;
    };
    // As exporter-toolkit: the limit comes before credentials and covers every path.
    let limited = web.limiter.as_ref().map(|l| l.take(Instant::now()));
    let mut response = if let Some(Err(retry)) = limited {
        too_many_requests(retry)
    } else if web.config.needs_auth(route.is_some_and(|r| r.health)) {
        let given = headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes);
        match web.auth.check(given).await {
            AuthOutcome::Allowed => respond(state, route, method, path, headers).await,
            refused => unauthorized(refused),
        }
    } else {
        respond(state, route, method, path, headers).await
    };
    for (name, value) in &web.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

/// 429 for `rate_limit`, with `Retry-After` (whole seconds, rounded up) when a token will
/// come.
fn too_many_requests(retry: Option<Duration>) -> Response<Bytes> {
    let mut r = json(
        StatusCode::TOO_MANY_REQUESTS,
        &json!({"error": "too_many_requests", "reason": "Too Many Requests: over the web config's rate_limit"}),
    );
    if let Some(wait) = retry {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    r
}

/// 401 with the challenge that makes browsers and tools ask for basic credentials.
fn unauthorized(outcome: AuthOutcome) -> Response<Bytes> {
    let reason = match outcome {
        AuthOutcome::Missing => "credentials required (HTTP basic authentication)",
        AuthOutcome::Malformed => "the Authorization header is not Basic with base64 user:password",
        AuthOutcome::Rejected | AuthOutcome::Allowed => "wrong user name or password",
    };
    let mut r = json(
        StatusCode::UNAUTHORIZED,
        &json!({"error": "unauthorized", "reason": reason}),
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"dawn-exporter\", charset=\"UTF-8\""),
    );
    r
}

async fn respond(
    state: Arc<HttpState>,
    route: Option<&Route>,
    method: Method,
    path: &str,
    headers: HeaderMap,
) -> Response<Bytes> {
    let Some(route) = route else {
        let available: Vec<&str> = routes::endpoints(&state.telemetry_path)
            .map(|(p, _)| p)
            .collect();
        return json(
            StatusCode::NOT_FOUND,
            &json!({"error": "not found", "path": path, "available_endpoints": available}),
        );
    };
    if !route.methods.contains(&method) {
        return method_not_allowed(route.methods, &method, path);
    }
    let request = Request {
        state,
        headers,
        now: Instant::now(),
    };
    (route.handler)(request).into_response().await
}

/// 405 naming the methods the route answers, in the body and in `Allow`.
fn method_not_allowed(allowed: &[Method], method: &Method, path: &str) -> Response<Bytes> {
    let allowed: Vec<&str> = allowed.iter().map(Method::as_str).collect();
    let mut r = json(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({
            "error": "method not allowed",
            "method": method.as_str(),
            "path": path,
            "allowed_methods": allowed,
        }),
    );
    // Method names are tokens, always a valid header value.
    if let Ok(allow) = HeaderValue::from_str(&allowed.join(", ")) {
        r.headers_mut().insert(header::ALLOW, allow);
    }
    r
}
