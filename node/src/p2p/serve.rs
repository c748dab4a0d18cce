//! The serving side of the message exchange: every incoming stream of a connection is read
//! (size- and time-bounded), handed to a [`Handler`] in its own task, and answered.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use quinn::{ReadToEndError, RecvStream, SendStream};
use tokio::time::timeout;

use super::codes::{DisconnectReason, StreamCode};
use super::connection::{PeerConnection, read_error, write_error};
use super::error::TransportError;
use super::node_id::NodeId;

/// A boxed, sendable future, so [`Handler`] can be used as `Arc<dyn Handler>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the node does with incoming messages (the JSON-RPC layer plugs in here).
///
/// Calls run concurrently, one task per stream; at most
/// [`max_concurrent_streams`](super::TransportSettings::max_concurrent_streams) per
/// connection and direction are in flight, since QUIC grants a peer no more streams.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request from `peer`; the returned bytes are the reply.
    fn request(&self, peer: NodeId, message: Vec<u8>) -> BoxFuture<'_, Vec<u8>>;

    /// Takes one notification from `peer` (no reply). The default drops it.
    fn notification(&self, peer: NodeId, message: Vec<u8>) -> BoxFuture<'_, ()> {
        let _ = (peer, message);
        Box::pin(async {})
    }

    /// Reports an incoming stream that was refused or failed before reaching the handler
    /// (oversized, stalled, aborted), so the caller can count it. The default ignores it.
    fn stream_error(&self, peer: NodeId, error: &TransportError) {
        let _ = (peer, error);
    }
}

/// A [`Handler`] answering requests with a closure; see [`handler_fn`].
pub struct FnHandler<F>(F);

/// Makes a [`Handler`] from `|peer, message| async move { reply }`; notifications are
/// dropped.
pub fn handler_fn<F, Fut>(f: F) -> FnHandler<F>
where
    F: Fn(NodeId, Vec<u8>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<u8>> + Send + 'static,
{
    FnHandler(f)
}

impl<F, Fut> Handler for FnHandler<F>
where
    F: Fn(NodeId, Vec<u8>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<u8>> + Send + 'static,
{
    fn request(&self, peer: NodeId, message: Vec<u8>) -> BoxFuture<'_, Vec<u8>> {
        Box::pin((self.0)(peer, message))
    }
}

/// Serves `connection` until it closes, then returns why it closed.
///
/// Both directions of a connection serve: the dialer may also receive requests.
pub async fn serve(connection: PeerConnection, handler: Arc<dyn Handler>) -> DisconnectReason {
    let quinn = connection.quinn().clone();
    loop {
        tokio::select! {
            stream = quinn.accept_bi() => match stream {
                Ok((send, recv)) => {
                    tokio::spawn(answer(connection.clone(), Arc::clone(&handler), send, recv));
                }
                Err(error) => return DisconnectReason::from(&error),
            },
            stream = quinn.accept_uni() => match stream {
                Ok(recv) => {
                    tokio::spawn(receive(connection.clone(), Arc::clone(&handler), recv));
                }
                Err(error) => return DisconnectReason::from(&error),
            },
        }
    }
}

/// One request stream: read, handle, reply.
async fn answer(
    connection: PeerConnection,
    handler: Arc<dyn Handler>,
    mut send: SendStream,
    mut recv: RecvStream,
) {
    let peer = connection.node_id();
    let limit = connection.max_message_size();
    let message = match read_message(&connection, &mut recv).await {
        Ok(message) => message,
        Err(error) => {
            let code = refusal_code(&error);
            let _ = send.reset(code.varint());
            report(&*handler, &connection, &error);
            return;
        }
    };
    let reply = handler.request(peer, message).await;
    if reply.len() > limit {
        let _ = send.reset(StreamCode::TooLarge.varint());
        let error = TransportError::MessageTooLarge {
            size: reply.len(),
            limit,
        };
        report(&*handler, &connection, &error);
        return;
    }
    if let Err(error) = send.write_all(&reply).await {
        let error = match write_error(error) {
            // The caller's timeout cancelled the stream while this node was still working.
            TransportError::StreamAborted(code)
                if StreamCode::from_code(code) == Some(StreamCode::Cancelled) =>
            {
                TransportError::ReplyAbandoned
            }
            other => other,
        };
        report(&*handler, &connection, &error);
        return;
    }
    // Only fails if the peer already stopped the stream, which write_all reported.
    let _ = send.finish();
}

/// One notification stream: read, handle.
async fn receive(connection: PeerConnection, handler: Arc<dyn Handler>, mut recv: RecvStream) {
    match read_message(&connection, &mut recv).await {
        Ok(message) => handler.notification(connection.node_id(), message).await,
        Err(error) => report(&*handler, &connection, &error),
    }
}

/// Reads one whole message, refusing (and stopping the stream) past the size limit or the
/// read timeout, without buffering more than the limit.
async fn read_message(
    connection: &PeerConnection,
    recv: &mut RecvStream,
) -> Result<Vec<u8>, TransportError> {
    let limit = connection.max_message_size();
    let read_timeout = connection.read_timeout();
    match timeout(read_timeout, recv.read_to_end(limit)).await {
        Ok(Ok(message)) => Ok(message),
        Ok(Err(ReadToEndError::TooLong)) => {
            let _ = recv.stop(StreamCode::TooLarge.varint());
            Err(TransportError::IncomingTooLarge { limit })
        }
        Ok(Err(ReadToEndError::Read(error))) => Err(read_error(error)),
        Err(_) => {
            let _ = recv.stop(StreamCode::Cancelled.varint());
            Err(TransportError::Timeout(read_timeout))
        }
    }
}

fn refusal_code(error: &TransportError) -> StreamCode {
    match error {
        TransportError::IncomingTooLarge { .. } => StreamCode::TooLarge,
        _ => StreamCode::Cancelled,
    }
}

fn report(handler: &dyn Handler, connection: &PeerConnection, error: &TransportError) {
    // A stream cut by the connection ending is the connection's story, told elsewhere.
    if matches!(error, TransportError::ConnectionLost(_)) {
        return;
    }
    if matches!(error, TransportError::ReplyAbandoned) {
        // The caller's business (it logs its own timeout); counted, not shouted about.
        tracing::debug!(
            peer = %connection.node_id().short(),
            "reply not delivered: the caller stopped waiting"
        );
        handler.stream_error(connection.node_id(), error);
        return;
    }
    tracing::warn!(
        peer = %connection.node_id().short(),
        remote = %connection.remote_addr(),
        error = %error,
        "incoming message refused"
    );
    handler.stream_error(connection.node_id(), error);
}
