//! Request/response and notifications over real connections: round trips, size limits,
//! timeouts, stalled streams, and the connection surviving each failure.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::support::{REQUEST_TIMEOUT, echo, endpoint_with, eventually, expect_err, identity};
use crate::p2p::serve::{Serving, serve};
use crate::p2p::{
    BoxFuture, Endpoint, Handler, NodeId, PeerConnection, Sender, StreamCode, TransportError,
    TransportSettings,
};

/// Serves with `handler`, as a peer (no idle timeout).
fn serving(handler: Arc<dyn Handler>) -> Serving {
    Serving {
        handler,
        log: Arc::default(),
        idle: None,
    }
}

/// Two served connections (the dialer's and the acceptor's view) and their endpoints,
/// which must outlive the test body.
struct Pair {
    client: PeerConnection,
    server: PeerConnection,
    _endpoints: (Endpoint, Endpoint),
}

async fn pair(
    server_settings: TransportSettings,
    client_settings: TransportSettings,
    server_handler: Arc<dyn Handler>,
) -> Pair {
    let server_endpoint = endpoint_with(&identity(), server_settings);
    let client_endpoint = endpoint_with(&identity(), client_settings);
    let accepting = server_endpoint.clone();
    let accepted = tokio::spawn(async move {
        let incoming = accepting.accept().await.expect("endpoint open");
        incoming.handshake().await.expect("accept")
    });
    let client = client_endpoint
        .connect(server_endpoint.local_addr(), None)
        .await
        .expect("dial");
    let server = accepted.await.expect("task");
    // Both directions serve: the dialer answers requests too.
    tokio::spawn(serve(server.clone(), serving(server_handler)));
    tokio::spawn(serve(client.clone(), serving(echo())));
    Pair {
        client,
        server,
        _endpoints: (server_endpoint, client_endpoint),
    }
}

/// Where [`Probe`] forwards notifications.
type NoteSender = mpsc::UnboundedSender<(NodeId, Vec<u8>)>;

/// Replies with the request's length; `slow` takes 30 s; `big:N` replies N bytes; records
/// notifications and refused streams.
#[derive(Default)]
struct Probe {
    errors: Mutex<Vec<&'static str>>,
    notes: Mutex<Option<NoteSender>>,
}

impl Probe {
    fn errors(&self) -> Vec<&'static str> {
        self.errors.lock().expect("lock").clone()
    }
}

impl Handler for Probe {
    fn request(&self, _sender: Sender, message: Vec<u8>) -> BoxFuture<'_, Vec<u8>> {
        Box::pin(async move {
            if message == b"slow" {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            let text = String::from_utf8_lossy(&message);
            if let Some(size) = text.strip_prefix("big:").and_then(|n| n.parse().ok()) {
                return vec![b'x'; size];
            }
            message.len().to_string().into_bytes()
        })
    }

    fn notification(&self, from: Sender, message: Vec<u8>) -> BoxFuture<'_, ()> {
        if let Some(sender) = &*self.notes.lock().expect("lock") {
            let _ = sender.send((from.node_id, message));
        }
        Box::pin(async {})
    }

    fn stream_error(&self, _sender: Sender, error: &TransportError) {
        self.errors.lock().expect("lock").push(error.kind());
    }
}

fn limited(max_message_size: usize) -> TransportSettings {
    TransportSettings {
        max_message_size,
        ..TransportSettings::default()
    }
}

#[tokio::test]
async fn requests_round_trip_in_both_directions_and_concurrently() {
    let pair = pair(
        TransportSettings::default(),
        TransportSettings::default(),
        echo(),
    )
    .await;
    let reply = pair
        .client
        .request(b"ping", REQUEST_TIMEOUT)
        .await
        .expect("request");
    assert_eq!(reply, b"echo:ping");
    // The accepting side can call the dialer too.
    let reply = pair
        .server
        .request(b"pong", REQUEST_TIMEOUT)
        .await
        .expect("reverse");
    assert_eq!(reply, b"echo:pong");
    // Empty messages are messages.
    assert_eq!(
        pair.client
            .request(b"", REQUEST_TIMEOUT)
            .await
            .expect("empty"),
        b"echo:"
    );

    let calls = (0..50).map(|i| {
        let client = pair.client.clone();
        async move {
            let message = format!("m{i}").into_bytes();
            let reply = client
                .request(&message, REQUEST_TIMEOUT)
                .await
                .expect("request");
            assert_eq!(reply, [b"echo:".as_slice(), &message].concat());
        }
    });
    let handles: Vec<_> = calls.map(tokio::spawn).collect();
    for handle in handles {
        handle.await.expect("task");
    }
}

#[tokio::test]
async fn oversized_request_is_refused_and_the_connection_keeps_serving() {
    let probe = Arc::new(Probe::default());
    let pair = pair(
        limited(1024),
        TransportSettings::default(),
        Arc::clone(&probe) as Arc<dyn Handler>,
    )
    .await;

    let error = expect_err(
        pair.client
            .request(&[7u8; 64 * 1024], REQUEST_TIMEOUT)
            .await,
    );
    assert!(
        matches!(error, TransportError::RefusedTooLarge),
        "{error:?}"
    );
    let seen = Arc::clone(&probe);
    eventually("the server reports the oversized message", move || {
        seen.errors() == ["message_too_large"]
    })
    .await;

    // Exactly at the limit is fine, and the same connection still serves.
    let reply = pair
        .client
        .request(&[7u8; 1024], REQUEST_TIMEOUT)
        .await
        .expect("at limit");
    assert_eq!(reply, b"1024");
    let reply = pair
        .client
        .request(b"ping", REQUEST_TIMEOUT)
        .await
        .expect("after refusal");
    assert_eq!(reply, b"4");
    assert!(pair.client.close_reason().is_none());
}

#[tokio::test]
async fn oversized_messages_are_refused_locally_before_sending() {
    let pair = pair(limited(1024), limited(1024), echo()).await;
    let error = expect_err(pair.client.request(&[0u8; 2048], REQUEST_TIMEOUT).await);
    assert!(
        matches!(
            error,
            TransportError::MessageTooLarge {
                size: 2048,
                limit: 1024
            }
        ),
        "{error:?}"
    );
    let error = expect_err(pair.client.notify(&[0u8; 2048], REQUEST_TIMEOUT).await);
    assert!(
        matches!(error, TransportError::MessageTooLarge { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("1024"), "{error}");
}

#[tokio::test]
async fn oversized_reply_is_refused_by_the_caller() {
    let probe = Arc::new(Probe::default());
    let pair = pair(
        TransportSettings::default(),
        limited(1024),
        Arc::clone(&probe) as Arc<dyn Handler>,
    )
    .await;
    let error = expect_err(pair.client.request(b"big:4096", REQUEST_TIMEOUT).await);
    assert!(
        matches!(error, TransportError::ReplyTooLarge { limit: 1024 }),
        "{error:?}"
    );
    let reply = pair
        .client
        .request(b"big:10", REQUEST_TIMEOUT)
        .await
        .expect("small reply");
    assert_eq!(reply, b"xxxxxxxxxx");
}

#[tokio::test]
async fn a_timed_out_request_is_cancelled_and_others_proceed() {
    let probe = Arc::new(Probe::default());
    let pair = pair(
        TransportSettings::default(),
        TransportSettings::default(),
        Arc::clone(&probe) as Arc<dyn Handler>,
    )
    .await;
    let limit = Duration::from_millis(200);
    let error = expect_err(pair.client.request(b"slow", limit).await);
    assert!(
        matches!(error, TransportError::Timeout(d) if d == limit),
        "{error:?}"
    );
    let reply = pair
        .client
        .request(b"ping", REQUEST_TIMEOUT)
        .await
        .expect("after timeout");
    assert_eq!(reply, b"4");
}

#[tokio::test]
async fn notifications_reach_the_handler_with_the_sender_id() {
    let probe = Arc::new(Probe::default());
    let (sender, mut received) = mpsc::unbounded_channel();
    *probe.notes.lock().expect("lock") = Some(sender);
    let pair = pair(
        TransportSettings::default(),
        TransportSettings::default(),
        Arc::clone(&probe) as Arc<dyn Handler>,
    )
    .await;
    pair.client
        .notify(b"hello", REQUEST_TIMEOUT)
        .await
        .expect("notify");
    let (peer, message) = tokio::time::timeout(REQUEST_TIMEOUT, received.recv())
        .await
        .expect("delivered in time")
        .expect("channel open");
    assert_eq!(peer, pair.server.node_id());
    assert_eq!(message, b"hello");
}

#[tokio::test]
async fn a_stalled_stream_is_cancelled_by_the_read_timeout() {
    let probe = Arc::new(Probe::default());
    let server_settings = TransportSettings {
        read_timeout: Duration::from_millis(200),
        ..TransportSettings::default()
    };
    let pair = pair(
        server_settings,
        TransportSettings::default(),
        Arc::clone(&probe) as Arc<dyn Handler>,
    )
    .await;
    // Start a request and never finish it.
    let (mut send, mut recv) = pair.client.quinn().open_bi().await.expect("open");
    send.write_all(b"par").await.expect("write");
    let stalled = tokio::time::timeout(REQUEST_TIMEOUT, recv.read_to_end(1024))
        .await
        .expect("the server gives up on the stream");
    assert_eq!(
        stalled,
        Err(quinn::ReadToEndError::Read(quinn::ReadError::Reset(
            StreamCode::Cancelled.varint()
        )))
    );
    let seen = Arc::clone(&probe);
    eventually("the server reports the stalled stream", move || {
        seen.errors() == ["timeout"]
    })
    .await;
    let reply = pair
        .client
        .request(b"ping", REQUEST_TIMEOUT)
        .await
        .expect("still serving");
    assert_eq!(reply, b"4");
}
