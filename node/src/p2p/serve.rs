//! The serving side of the message exchange: every incoming stream of a connection is read
//! (size- and time-bounded), handed to a [`Handler`] in its own task, and answered. A
//! client's connection is also closed once it has sent nothing for its idle timeout, so an
//! idle client cannot keep its slot by QUIC keep-alives alone.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use quinn::{ReadToEndError, RecvStream, SendStream};
use tokio::time::{Instant, sleep_until, timeout};

use super::codes::{CloseCode, DisconnectReason, StreamCode};
use super::connection::{PeerConnection, read_error, write_error};
use super::error::TransportError;
use super::node_id::NodeId;
use super::noise::Noise;
use super::source::Sender;
use crate::limited_log::LimitedLog;

/// A boxed, sendable future, so [`Handler`] can be used as `Arc<dyn Handler>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the node does with incoming messages (the JSON-RPC layer plugs in here).
///
/// Calls run concurrently, one task per stream; at most
/// [`max_concurrent_streams`](super::TransportSettings::max_concurrent_streams) per
/// connection and direction are in flight, since QUIC grants a peer no more streams.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request from `sender`; the returned bytes are the reply.
    fn request(&self, sender: Sender, message: Vec<u8>) -> BoxFuture<'_, Vec<u8>>;

    /// Takes one notification from `sender` (no reply). The default drops it.
    fn notification(&self, sender: Sender, message: Vec<u8>) -> BoxFuture<'_, ()> {
        let _ = (sender, message);
        Box::pin(async {})
    }

    /// Reports an incoming stream that was refused or failed before reaching the handler
    /// (oversized, stalled, aborted), so the caller can count it. The default ignores it.
    fn stream_error(&self, sender: Sender, error: &TransportError) {
        let _ = (sender, error);
    }

    /// A request to send `peer` before this node closes it for lack of room (refused at
    /// the peer limit, or shed to make room), so it can go elsewhere: the node's peer
    /// exchange puts a sample of its address book here. The node waits for the reply, at
    /// most a couple of seconds, then closes. The default sends nothing.
    fn parting(&self, peer: &NodeId) -> Option<Vec<u8>> {
        let _ = peer;
        None
    }
}

/// A [`Handler`] answering requests with a closure; see [`handler_fn`].
pub struct FnHandler<F>(F);

/// Makes a [`Handler`] from `|sender, message| async move { reply }`; notifications are
/// dropped.
pub fn handler_fn<F, Fut>(f: F) -> FnHandler<F>
where
    F: Fn(Sender, Vec<u8>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<u8>> + Send + 'static,
{
    FnHandler(f)
}

impl<F, Fut> Handler for FnHandler<F>
where
    F: Fn(Sender, Vec<u8>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<u8>> + Send + 'static,
{
    fn request(&self, sender: Sender, message: Vec<u8>) -> BoxFuture<'_, Vec<u8>> {
        Box::pin((self.0)(sender, message))
    }
}

/// What serving a connection needs besides the connection.
#[derive(Clone)]
pub(crate) struct Serving {
    /// What the messages are given to.
    pub(crate) handler: Arc<dyn Handler>,
    /// Where refused streams are logged.
    pub(crate) log: Arc<LimitedLog<Noise>>,
    /// Close the connection with [`CloseCode::ClientIdle`] once no message has been
    /// received or in progress for this long (clients only: peers keep their connection).
    pub(crate) idle: Option<Duration>,
}

/// When the connection last had a message in progress, and how many it has now.
#[derive(Debug)]
struct Activity {
    in_progress: usize,
    since: Instant,
}

/// Shared by the serving loop and its stream tasks.
#[derive(Debug)]
struct Tracker(Mutex<Activity>);

impl Tracker {
    fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(Activity {
            in_progress: 0,
            since: Instant::now(),
        })))
    }

    fn update(&self, f: impl FnOnce(&mut Activity)) {
        // One counter and one time, each update a single step.
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }

    fn begin(&self) {
        self.update(|a| a.in_progress += 1);
    }

    fn end(&self) {
        self.update(|a| {
            a.in_progress = a.in_progress.saturating_sub(1);
            a.since = Instant::now();
        });
    }

    /// When the connection will have been idle for `idle`: never sooner than `idle` from
    /// now while a message is in progress (then it is looked at again).
    fn idle_at(&self, idle: Duration) -> Instant {
        let mut at = Instant::now();
        self.update(|a| {
            if a.in_progress == 0 {
                at = a.since;
            }
        });
        at + idle
    }
}

/// Serves `connection` until it closes, then returns why it closed.
///
/// Both directions of a connection serve: the dialer may also receive requests.
pub(crate) async fn serve(connection: PeerConnection, serving: Serving) -> DisconnectReason {
    let quinn = connection.quinn().clone();
    let tracker = Tracker::new();
    let mut idle_at = serving.idle.map(|idle| tracker.idle_at(idle));
    loop {
        let tracked = |tracker: &Arc<Tracker>| {
            tracker.begin();
            Arc::clone(tracker)
        };
        tokio::select! {
            stream = quinn.accept_bi() => match stream {
                Ok((send, recv)) => {
                    let (connection, serving, tracker) = (connection.clone(), serving.clone(), tracked(&tracker));
                    tokio::spawn(async move {
                        answer(connection, serving, send, recv).await;
                        tracker.end();
                    });
                }
                Err(error) => return DisconnectReason::from(&error),
            },
            stream = quinn.accept_uni() => match stream {
                Ok(recv) => {
                    let (connection, serving, tracker) = (connection.clone(), serving.clone(), tracked(&tracker));
                    tokio::spawn(async move {
                        receive(connection, serving, recv).await;
                        tracker.end();
                    });
                }
                Err(error) => return DisconnectReason::from(&error),
            },
            () = sleep_until(idle_at.unwrap_or_else(Instant::now)), if idle_at.is_some() => {
                let idle = serving.idle.unwrap_or_default();
                let at = tracker.idle_at(idle);
                if at <= Instant::now() {
                    tracing::debug!(client = %connection.node_id().short(), ?idle, "idle client closed");
                    connection.close(CloseCode::ClientIdle);
                    idle_at = None;
                } else {
                    idle_at = Some(at);
                }
            }
        }
    }
}

/// One request stream: read, handle, reply.
async fn answer(
    connection: PeerConnection,
    serving: Serving,
    mut send: SendStream,
    mut recv: RecvStream,
) {
    let sender = sender(&connection);
    let limit = connection.max_message_size();
    let message = match read_message(&connection, &mut recv).await {
        Ok(message) => message,
        Err(error) => {
            let code = refusal_code(&error);
            let _ = send.reset(code.varint());
            report(&serving, &connection, &error);
            return;
        }
    };
    let reply = serving.handler.request(sender, message).await;
    if reply.len() > limit {
        let _ = send.reset(StreamCode::TooLarge.varint());
        let error = TransportError::MessageTooLarge {
            size: reply.len(),
            limit,
        };
        report(&serving, &connection, &error);
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
        report(&serving, &connection, &error);
        return;
    }
    // Only fails if the peer already stopped the stream, which write_all reported.
    let _ = send.finish();
}

/// One notification stream: read, handle.
async fn receive(connection: PeerConnection, serving: Serving, mut recv: RecvStream) {
    match read_message(&connection, &mut recv).await {
        Ok(message) => {
            let sender = sender(&connection);
            serving.handler.notification(sender, message).await;
        }
        Err(error) => report(&serving, &connection, &error),
    }
}

fn sender(connection: &PeerConnection) -> Sender {
    Sender {
        node_id: connection.node_id(),
        remote_addr: connection.remote_addr(),
        role: connection.role(),
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

fn report(serving: &Serving, connection: &PeerConnection, error: &TransportError) {
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
    } else {
        // A sender can repeat this at will: the first in full, then counts.
        serving.log.event(Noise::StreamRefused(error.kind()), || {
            tracing::warn!(
                peer = %connection.node_id().short(),
                remote = %connection.remote_addr(),
                error = %error,
                "incoming message refused"
            );
        });
    }
    serving.handler.stream_error(sender(connection), error);
}
