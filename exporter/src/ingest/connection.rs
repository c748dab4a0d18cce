//! Moves bytes between one client's socket and its [`Session`]: reads into the session,
//! its events to the [`Applier`], its replies out with a write timeout, a timer at the
//! session's deadline, and the admission's notice that the connection must give way. A
//! misbehaving client ends only its own task.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dawn_proto::encode_frame;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedReadHalf;
use tokio::sync::watch;
use tracing::debug;

use super::admission::Ticket;
use super::apply::{Applier, Shared, StoreHandles};
use super::session::{End, Session, SessionLimits};

/// Bytes read from the socket at a time, straight into the session's frame decoder.
const READ_BUFFER: usize = 64 * 1024;

/// Limits of a connection: the session's, and how long a reply may wait for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnectionLimits {
    pub(crate) session: SessionLimits,
    pub(crate) write_timeout: Duration,
}

/// What woke a connection's task.
enum Wake {
    /// The exporter is shutting down.
    Shutdown,
    /// The admission told it to give way to a newer connection.
    Kicked,
    /// A read finished.
    Read(std::io::Result<usize>),
    /// The session's deadline passed.
    Deadline,
}

/// Why replies could not be sent.
enum SendError {
    /// The client did not read within the write timeout.
    Timeout(Duration),
    /// The socket failed.
    Io(std::io::Error),
}

/// One connection's session and the applier of its events. Dropped before it was closed
/// (its task panicked), it still closes the session, so that the store gets its holds back.
struct Client {
    session: Session<StoreHandles>,
    applier: Applier,
}

impl Client {
    fn new(shared: Arc<Shared>, conn: u64, limits: SessionLimits, ticket: Ticket) -> Self {
        Client {
            session: Session::new(conn, limits, Instant::now()),
            applier: Applier::new(shared, conn, ticket),
        }
    }

    /// Applies what the session has to say.
    fn drive(&mut self) {
        self.applier.drain(&mut self.session);
    }

    /// Sends the session's replies.
    async fn send(
        &mut self,
        writer: &mut (impl AsyncWrite + Unpin),
        bytes: &mut Vec<u8>,
        timeout: Duration,
    ) -> Result<(), SendError> {
        bytes.clear();
        for frame in self.session.replies() {
            // Replies are small and built by the exporter; a frame that cannot be encoded
            // is a bug worth a log line, not a reason to drop the client.
            if let Err(e) = encode_frame(&frame, bytes) {
                debug!("cannot encode reply {}: {e}", frame.kind_name());
            }
        }
        if bytes.is_empty() {
            return Ok(());
        }
        match tokio::time::timeout(timeout, writer.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(SendError::Io(e)),
            Err(_) => Err(SendError::Timeout(timeout)),
        }
    }

    /// The admission told this connection to give way to a newer one. A connection still
    /// in its handshake gets one last chance: what the client already sent is read, and a
    /// `Hello` among it makes it a client (with a slot of its own or none) instead. A
    /// connection arriving amid a flood of silent ones is thus not closed before its task
    /// got to read the `Hello` it sent at once.
    ///
    /// A notice given while the connection was pending, read only after its `Hello` gave it
    /// a client slot, has lapsed ([`Ticket::kick_stands`]): it is ignored, not taken for a
    /// client-limit eviction.
    fn give_way(&mut self, reader: &OwnedReadHalf, now: Instant) {
        if !self.applier.kick_stands() {
            return;
        }
        let was_pending = self.session.pending();
        if was_pending {
            // One read: a Hello is far smaller than the buffer.
            match reader.try_read(self.session.read_space(READ_BUFFER)) {
                Ok(0) => self.session.handle_eof(),
                Ok(n) => self.session.handle_read(now, n),
                // Nothing to read now (or an error, which ends the connection below).
                Err(_) => {}
            }
            self.drive();
        }
        if !was_pending || self.session.pending() {
            self.session.evict(now);
        }
    }

    fn close(&mut self) {
        self.session.close(Instant::now());
        self.drive();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // Idempotent: after `serve` closed the session this finds nothing to do.
        self.close();
    }
}

/// Resolves once the exporter shuts down.
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which also means shutting down.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Serves connection number `conn` until it leaves, misbehaves, must give way to a newer
/// one or the exporter shuts down; `ticket` is its place on the socket.
pub(crate) async fn serve(
    stream: UnixStream,
    shared: Arc<Shared>,
    conn: u64,
    limits: ConnectionLimits,
    mut shutdown: watch::Receiver<bool>,
    ticket: Ticket,
) {
    let (mut reader, mut writer) = stream.into_split();
    let kicked = ticket.kicked();
    let mut client = Client::new(shared, conn, limits.session, ticket);
    let mut bytes = Vec::new();

    loop {
        let deadline = tokio::time::Instant::from_std(client.session.deadline());
        // Reading comes before the deadline timer: bytes already there are read, and the
        // session itself refuses bytes that arrive after its deadline. The read goes straight
        // into the session's decoder; a read not finished reads nothing.
        let wake = tokio::select! {
            biased;
            () = stopped(&mut shutdown) => Wake::Shutdown,
            () = kicked.notified() => Wake::Kicked,
            read = reader.read(client.session.read_space(READ_BUFFER)) => Wake::Read(read),
            () = tokio::time::sleep_until(deadline) => Wake::Deadline,
        };
        let now = Instant::now();
        match wake {
            Wake::Shutdown => {
                client.session.abort(End::Shutdown);
                break;
            }
            Wake::Kicked => client.give_way(&reader, now),
            Wake::Deadline => client.session.handle_timeout(now),
            // The client may only have shut down its write side; it is told why if needed.
            Wake::Read(Ok(0)) => client.session.handle_eof(),
            Wake::Read(Ok(n)) => client.session.handle_read(now, n),
            Wake::Read(Err(e)) => client.session.abort(End::Io(format!("read failed: {e}"))),
        }
        client.drive();
        if let Err(e) = client
            .send(&mut writer, &mut bytes, limits.write_timeout)
            .await
        {
            // A session that already ended keeps its own reason.
            match e {
                SendError::Timeout(after) => client.session.handle_write_timeout(after),
                SendError::Io(e) => client.session.abort(End::Io(format!("write failed: {e}"))),
            }
            client.drive();
            break;
        }
        if client.session.ended().is_some() {
            break;
        }
    }
    let _ = writer.shutdown().await;
    client.close();
}
