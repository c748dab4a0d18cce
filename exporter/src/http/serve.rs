//! The connection loop: accept TCP, admit the connection under the HTTP limits
//! ([`super::connections`]: header read and idle timeouts, at most `--web.max-connections`
//! with the longest-waiting connection evicted for a new one), do the TLS handshake when the
//! web config turns TLS on, and serve HTTP/1.1 or HTTP/2 with warp's service, finishing
//! in-flight requests on shutdown. (warp 0.4's own server has no TLS, hence this loop,
//! modelled on its graceful runner.)

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};
use warp::Filter;
use warp::http::{HeaderMap, Method, Request, Uri};

use super::connections::{Connections, within_fd_limit};
use super::{HttpState, dispatch};
use crate::abuse_log::{Abuse, AbuseLog};

/// A request on a TLS connection whose handshake predates a change of the web config's
/// client certificate policy.
#[derive(Debug, thiserror::Error)]
#[error("the web config's client certificate policy changed since this connection's handshake")]
struct PolicyChanged;

/// Time a client has to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause after an accept error that is not about one connection (out of file descriptors),
/// so the loop does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// The one warp filter: method, path and headers to [`dispatch::handle`], which routes by
/// the route table (docs/design-decisions.md says why not a warp filter per route).
fn filter(
    state: Arc<HttpState>,
) -> impl Filter<Extract = (warp::http::Response<Bytes>,), Error = std::convert::Infallible>
+ Clone
+ Send
+ Sync
+ 'static {
    warp::method()
        .and(warp::path::full())
        .and(warp::header::headers_cloned())
        .then(
            move |method: Method, path: warp::path::FullPath, headers: HeaderMap| {
                let state = Arc::clone(&state);
                async move { dispatch::handle(state, method, path.as_str(), headers).await }
            },
        )
}

/// Routes a request target without a path as `/`.
///
/// Every warp path filter panics on such a target (`CONNECT host:port`:
/// `PathAndQuery::from_static("")` in `warp::path`), which killed the connection's task and
/// gave the client an empty reply; routed as `/`, `CONNECT` gets the JSON 405 that any
/// other method gets there.
fn give_a_path(request: &mut Request<Incoming>) {
    if request.uri().path_and_query().is_none() {
        *request.uri_mut() = Uri::from_static("/");
    }
}

/// Serves HTTP (or HTTPS, per the web config) on `listener` under the state's
/// [`super::HttpLimits`] until `shutdown` resolves, then finishes in-flight requests.
pub(crate) async fn serve_http(
    listener: TcpListener,
    state: Arc<HttpState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let log = Arc::new(AbuseLog::default());
    let limits = super::HttpLimits {
        max_connections: within_fd_limit(state.limits.max_connections),
        ..state.limits
    };
    let conns = Arc::new(Connections::new(
        limits,
        Arc::clone(&state.metrics),
        Arc::clone(&log),
    ));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            // An error means the sender is gone, which also means stopping.
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let housekeeping = tokio::spawn({
        let (conns, log, stopped) = (Arc::clone(&conns), Arc::clone(&log), stopped.clone());
        async move {
            tokio::join!(conns.sweep(stopped()), log.run(stopped()));
        }
    });
    let filter = filter(Arc::clone(&state));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    if !is_connection_error(&e) {
                        log.event(Abuse::HttpAccept, || warn!("HTTP accept failed: {e}"));
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    }
                    continue;
                }
            },
        };
        // At the limit with every connection busy: closed at once (counted and logged).
        let Some(mut slot) = conns.admit(peer) else {
            continue;
        };
        let web = state.web.as_ref().map(|w| w.current());
        let tls = web.as_ref().and_then(|w| w.tls.clone());
        let http2 = web.as_ref().is_none_or(|w| w.config.http2);
        // The client certificate policy this connection's handshake was made under.
        let accepted_under = web
            .as_ref()
            .and_then(|w| w.config.tls.as_ref())
            .map(|t| t.client_auth.clone());
        let live = state.web.clone();
        // Warp's service, with the connection busy while a request is answered.
        let warp = TowerToHyperService::new(warp::service(filter.clone()));
        let conn = slot.handle();
        let service = service_fn(move |mut request: Request<Incoming>| {
            let busy = conn.request();
            // A reload that changed the client certificate policy applies to connections
            // already open too: their next request fails the connection (HTTP/1.1 closes it;
            // Go clients such as Prometheus retry a GET on a new one, whose handshake
            // follows the new policy).
            let stale = match (&accepted_under, &live) {
                (Some(then), Some(live)) => live
                    .current()
                    .config
                    .tls
                    .as_ref()
                    .is_some_and(|now| now.client_auth != *then),
                _ => false,
            };
            let answer = (!stale).then(|| {
                give_a_path(&mut request);
                hyper::service::Service::call(&warp, request)
            });
            async move {
                let Some(answer) = answer else {
                    return Err(PolicyChanged);
                };
                let response = answer.await;
                drop(busy);
                // warp's service never fails.
                response.map_err(|never| match never {})
            }
        });
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let serve = async move {
                let io: Box<dyn Io> = match tls {
                    None => Box::new(tcp),
                    Some(tls) => {
                        let handshake = async {
                            let tcp = refuse_plain_http(tcp).await?;
                            TlsAcceptor::from(tls).accept(tcp).await
                        };
                        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, handshake).await {
                            Ok(Ok(stream)) => Box::new(stream),
                            Ok(Err(e)) => return debug!(%peer, "TLS handshake failed: {e}"),
                            Err(_) => return debug!(%peer, "TLS handshake timed out"),
                        }
                    }
                };
                let builder = auto::Builder::new(TokioExecutor::new());
                let builder = if http2 { builder } else { builder.http1_only() };
                let connection = builder.serve_connection(TokioIo::new(io), service);
                if let Err(e) = watcher.watch(connection.into_owned()).await {
                    debug!(%peer, "HTTP connection ended with an error: {e}");
                }
            };
            tokio::select! {
                () = serve => {}
                why = slot.closed() => debug!(%peer, reason = why.as_str(), "HTTP connection closed by the exporter"),
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    let _ = stop_tx.send(true);
    if let Err(e) = housekeeping.await {
        warn!("the HTTP connection sweeper failed: {e}");
    }
}

/// The first byte of every TLS connection (a handshake record).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Most of a plain HTTP request read before answering it.
const PLAIN_HTTP_HEAD_MAX: usize = 16 * 1024;

/// The answer to plain HTTP on the HTTPS port, so that `curl http://…` says what is wrong
/// instead of failing with an empty reply (Go's servers, and so other exporters, do the same).
const PLAIN_HTTP_BODY: &str = "Client sent an HTTP request to an HTTPS server; use https://\n";

/// Passes on a connection that starts with a TLS handshake; answers one that does not with a
/// plain-text 400 and fails it.
async fn refuse_plain_http(mut tcp: TcpStream) -> std::io::Result<TcpStream> {
    let mut first = [0u8; 1];
    if tcp.peek(&mut first).await? == 0 || first[0] == TLS_HANDSHAKE_RECORD {
        return Ok(tcp);
    }
    // Read the request head first: closing with unread input would reset the connection
    // and lose the answer.
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while head.len() < PLAIN_HTTP_HEAD_MAX && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match tcp.read(&mut buf).await? {
            0 => break,
            n => head.extend_from_slice(&buf[..n]),
        }
    }
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{PLAIN_HTTP_BODY}",
        PLAIN_HTTP_BODY.len()
    );
    tcp.write_all(answer.as_bytes()).await?;
    tcp.shutdown().await?;
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "plain HTTP on the HTTPS port",
    ))
}

/// A connection's byte stream, plain TCP or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Errors that concern one connection (the client went away), not the listener.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
