//! An authenticated connection to one peer, and the client side of the message exchange:
//! one request per bidirectional stream, one notification per unidirectional stream, the
//! end of the stream delimiting the message.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use quinn::{ReadError, ReadToEndError, RecvStream, SendStream, WriteError};
use tokio::time::{Instant, timeout_at};

use super::codes::{CloseCode, DisconnectReason, StreamCode};
use super::error::TransportError;
use super::node_id::NodeId;
use super::settings::TransportSettings;

/// Who dialed: decides duplicate tie-breaks and tells the caller which side it is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The peer dialed this node.
    Inbound,
    /// This node dialed the peer.
    Outbound,
}

impl Direction {
    /// A stable lowercase label for logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        }
    }
}

/// What the other side is: a node of the network, or a client such as `dawn-node call`
/// (negotiated by ALPN: [`ALPN`](super::ALPN) or [`CLIENT_ALPN`](super::CLIENT_ALPN)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A peer: admitted to the peer table, counted and gossiped.
    Peer,
    /// A client: served, but not a peer.
    Client,
}

/// A QUIC connection whose peer has proven its [`NodeId`] (see `docs/p2p.md`).
///
/// Cheap to clone (a handle); all clones refer to the same connection.
#[derive(Clone)]
pub struct PeerConnection {
    connection: quinn::Connection,
    node_id: NodeId,
    remote_addr: SocketAddr,
    direction: Direction,
    role: Role,
    max_message_size: usize,
    read_timeout: Duration,
}

impl PeerConnection {
    pub(crate) fn new(
        connection: quinn::Connection,
        node_id: NodeId,
        direction: Direction,
        role: Role,
        settings: &TransportSettings,
    ) -> Self {
        Self {
            remote_addr: connection.remote_address(),
            connection,
            node_id,
            direction,
            role,
            max_message_size: settings.max_message_size,
            read_timeout: settings.read_timeout,
        }
    }

    /// The authenticated id of the peer.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The peer's UDP address at handshake time.
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote_addr
    }

    /// Who dialed.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// Whether the other side is a peer or a client.
    pub fn role(&self) -> Role {
        self.role
    }

    /// An id unique among this endpoint's live connections, to tell two connections to the
    /// same peer apart.
    pub fn stable_id(&self) -> usize {
        self.connection.stable_id()
    }

    /// The current round-trip time estimate.
    pub fn rtt(&self) -> Duration {
        self.connection.rtt()
    }

    /// The largest message this side sends or accepts.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// How long the serving side waits for a whole incoming message.
    pub(crate) fn read_timeout(&self) -> Duration {
        self.read_timeout
    }

    /// The underlying quinn connection, for anything this type does not wrap.
    pub fn quinn(&self) -> &quinn::Connection {
        &self.connection
    }

    /// Closes the connection with `code`; in-flight streams are abandoned.
    pub fn close(&self, code: CloseCode) {
        code.close(&self.connection);
    }

    /// Waits until the connection ends and says why.
    pub async fn closed(&self) -> DisconnectReason {
        DisconnectReason::from(&self.connection.closed().await)
    }

    /// Why the connection ended, or `None` while it is open.
    pub fn close_reason(&self) -> Option<DisconnectReason> {
        self.connection
            .close_reason()
            .map(|e| DisconnectReason::from(&e))
    }

    /// Sends `message` as a request and returns the peer's reply.
    ///
    /// Opens a bidirectional stream, writes the message, finishes the stream and reads the
    /// reply to its end, all within `timeout`. On timeout the stream is reset so the peer
    /// never mistakes a truncated request for a whole one. Other requests on the same
    /// connection are unaffected by this one's failure.
    pub async fn request(
        &self,
        message: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, TransportError> {
        self.check_size(message)?;
        let deadline = Instant::now() + timeout;
        let (mut send, mut recv) = timeout_at(deadline, self.connection.open_bi())
            .await
            .map_err(|_| TransportError::Timeout(timeout))?
            .map_err(TransportError::ConnectionLost)?;
        let exchange = async {
            write_message(&mut send, message).await?;
            read_reply(&mut recv, self.max_message_size).await
        };
        match timeout_at(deadline, exchange).await {
            Ok(result) => result,
            Err(_) => {
                cancel(&mut send, &mut recv);
                Err(TransportError::Timeout(timeout))
            }
        }
    }

    /// Sends `message` one way (no reply), within `timeout`.
    ///
    /// Success means the message was handed to QUIC, which delivers it reliably while the
    /// connection lives; it does not mean the peer has processed it.
    pub async fn notify(&self, message: &[u8], timeout: Duration) -> Result<(), TransportError> {
        self.check_size(message)?;
        let deadline = Instant::now() + timeout;
        let mut send = timeout_at(deadline, self.connection.open_uni())
            .await
            .map_err(|_| TransportError::Timeout(timeout))?
            .map_err(TransportError::ConnectionLost)?;
        match timeout_at(deadline, write_message(&mut send, message)).await {
            Ok(result) => result,
            Err(_) => {
                // Ignore ClosedStream: already finished or reset is what we want.
                let _ = send.reset(StreamCode::Cancelled.varint());
                Err(TransportError::Timeout(timeout))
            }
        }
    }

    fn check_size(&self, message: &[u8]) -> Result<(), TransportError> {
        if message.len() > self.max_message_size {
            return Err(TransportError::MessageTooLarge {
                size: message.len(),
                limit: self.max_message_size,
            });
        }
        Ok(())
    }
}

impl fmt::Debug for PeerConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerConnection")
            .field("node_id", &self.node_id.short())
            .field("remote_addr", &self.remote_addr)
            .field("direction", &self.direction)
            .field("stable_id", &self.stable_id())
            .finish()
    }
}

async fn write_message(send: &mut SendStream, message: &[u8]) -> Result<(), TransportError> {
    send.write_all(message).await.map_err(write_error)?;
    // Only fails if the stream was already finished or reset, which the write above reports.
    let _ = send.finish();
    Ok(())
}

async fn read_reply(recv: &mut RecvStream, limit: usize) -> Result<Vec<u8>, TransportError> {
    match recv.read_to_end(limit).await {
        Ok(reply) => Ok(reply),
        Err(ReadToEndError::TooLong) => {
            let _ = recv.stop(StreamCode::TooLarge.varint());
            Err(TransportError::ReplyTooLarge { limit })
        }
        Err(ReadToEndError::Read(error)) => Err(read_error(error)),
    }
}

fn cancel(send: &mut SendStream, recv: &mut RecvStream) {
    // Either may already be finished/stopped; that is fine.
    let _ = send.reset(StreamCode::Cancelled.varint());
    let _ = recv.stop(StreamCode::Cancelled.varint());
}

/// Maps a peer's stream abort to our error, recognising our own codes.
fn aborted(code: quinn::VarInt) -> TransportError {
    match StreamCode::from_code(code.into_inner()) {
        Some(StreamCode::TooLarge) => TransportError::RefusedTooLarge,
        _ => TransportError::StreamAborted(code.into_inner()),
    }
}

pub(crate) fn write_error(error: WriteError) -> TransportError {
    match error {
        WriteError::Stopped(code) => aborted(code),
        WriteError::ConnectionLost(error) => TransportError::ConnectionLost(error),
        WriteError::ClosedStream | WriteError::ZeroRttRejected => TransportError::StreamAborted(0),
    }
}

pub(crate) fn read_error(error: ReadError) -> TransportError {
    match error {
        ReadError::Reset(code) => aborted(code),
        ReadError::ConnectionLost(error) => TransportError::ConnectionLost(error),
        ReadError::ClosedStream | ReadError::IllegalOrderedRead | ReadError::ZeroRttRejected => {
            TransportError::StreamAborted(0)
        }
    }
}
